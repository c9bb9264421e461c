"""``timeseries_dataset_from_array``, as ``keras.utils.timeseries_dataset_from_array``."""

from __future__ import annotations

import numpy as np

__all__ = ["timeseries_dataset_from_array", "TimeseriesDataset"]


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    return int(value)


class TimeseriesDataset:
    """Batches of sliding windows ``(batch, sequence_length, *features)`` and their targets.

    Re-iterable: each ``iter()`` is one pass (one epoch) in the same order. ``fit``, ``evaluate`` and
    ``predict`` take it as ``x`` (with ``y`` None). ``len()`` is the number of batches.
    """

    def __init__(self, data: np.ndarray, targets, starts: np.ndarray, length: int, rate: int, batch_size) -> None:
        self._data = data
        self._targets = targets
        self._starts = starts
        self._offsets = np.arange(0, length * rate, rate)
        self._batch_size = batch_size

    def __len__(self) -> int:
        if self._batch_size is None:
            return len(self._starts)
        return -(-len(self._starts) // self._batch_size)

    def _window(self, starts: np.ndarray):
        x = self._data[starts[:, None] + self._offsets[None, :]]
        if self._targets is None:
            return x
        return x, self._targets[starts]

    def __iter__(self):
        if self._batch_size is None:
            for start in self._starts:
                item = self._window(np.array([start]))
                yield tuple(part[0] for part in item) if isinstance(item, tuple) else item[0]
            return
        for first in range(0, len(self._starts), self._batch_size):
            yield self._window(self._starts[first : first + self._batch_size])

    def as_arrays(self):
        """All windows (and targets) as arrays, in the dataset's order."""
        return self._window(self._starts)


def timeseries_dataset_from_array(
    data,
    targets,
    sequence_length,
    sequence_stride=1,
    sampling_rate=1,
    batch_size=128,
    shuffle=False,
    seed=None,
    start_index=None,
    end_index=None,
) -> TimeseriesDataset:
    """Sliding windows over ``data`` (timesteps first), with Keras' semantics.

    Window ``i`` is ``data[start_index + p_i : start_index + p_i + sequence_length * sampling_rate :
    sampling_rate]`` for ``p_i`` in ``range(0, num_seqs, sequence_stride)``, with ``num_seqs = end_index -
    start_index - (sequence_length - 1) * sampling_rate`` (at most ``len(targets)``); its target is
    ``targets[start_index + p_i]``. ``shuffle`` permutes the windows with ``numpy.random.RandomState(seed)``
    as Keras does (the same order for every epoch).

    Returns:
        A ``TimeseriesDataset`` of ``(x, y)`` batches (only ``x`` when ``targets`` is None).
    """
    data = np.asarray(data)
    if data.ndim == 0 or len(data) == 0:
        raise ValueError(f"data: expected an array with at least one timestep, got shape {data.shape}")
    sequence_length = _positive_int(sequence_length, "sequence_length")
    sequence_stride = _positive_int(sequence_stride, "sequence_stride")
    sampling_rate = _positive_int(sampling_rate, "sampling_rate")
    if sequence_length <= 0:
        raise ValueError(f"`sequence_length` must be higher than 0. Received: sequence_length={sequence_length}")
    if start_index:
        start_index = _positive_int(start_index, "start_index")
        if start_index < 0:
            raise ValueError(f"`start_index` must be 0 or greater. Received: start_index={start_index}")
        if start_index >= len(data):
            raise ValueError(
                f"`start_index` must be lower than the length of the data. Received: start_index={start_index}, "
                f"for data of length {len(data)}"
            )
    if end_index:
        end_index = _positive_int(end_index, "end_index")
        if start_index and end_index <= start_index:
            raise ValueError(
                f"`end_index` must be higher than `start_index`. Received: start_index={start_index}, and "
                f"end_index={end_index} "
            )
        if end_index >= len(data):
            raise ValueError(
                f"`end_index` must be lower than the length of the data. Received: end_index={end_index}, for "
                f"data of length {len(data)}"
            )
        if end_index <= 0:
            raise ValueError(f"`end_index` must be higher than 0. Received: end_index={end_index}")
    if sampling_rate <= 0:
        raise ValueError(f"`sampling_rate` must be higher than 0. Received: sampling_rate={sampling_rate}")
    if sampling_rate >= len(data):
        raise ValueError(
            f"`sampling_rate` must be lower than the length of the data. Received: sampling_rate={sampling_rate}, "
            f"for data of length {len(data)}"
        )
    if sequence_stride <= 0:
        raise ValueError(f"`sequence_stride` must be higher than 0. Received: sequence_stride={sequence_stride}")
    if sequence_stride >= len(data):
        raise ValueError(
            f"`sequence_stride` must be lower than the length of the data. Received: "
            f"sequence_stride={sequence_stride}, for data of length {len(data)}"
        )
    if batch_size is not None:
        batch_size = _positive_int(batch_size, "batch_size")
        if batch_size < 1:
            raise ValueError(f"batch_size: expected a positive int or None, got {batch_size}")
    start_index = start_index or 0
    end_index = end_index or len(data)
    num_seqs = end_index - start_index - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        num_seqs = min(num_seqs, len(targets) - start_index if len(targets) > start_index else 0)
        num_seqs = min(num_seqs, len(targets))
    if num_seqs <= 0:
        raise ValueError(
            f"data: {end_index - start_index} timesteps are too few for windows of sequence_length="
            f"{sequence_length} with sampling_rate={sampling_rate}"
        )
    starts = np.arange(0, num_seqs, sequence_stride)
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)  # noqa: NPY002 (Keras draws the seed from NumPy's global RNG)
        np.random.RandomState(seed).shuffle(starts)  # noqa: NPY002 (Keras' exact permutation)
    starts = starts + start_index
    return TimeseriesDataset(data, targets, starts, sequence_length, sampling_rate, batch_size)
