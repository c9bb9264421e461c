"""Data that arrives in batches: generators, iterables of batches, ``PyDataset`` and cyneuron's datasets.

``fit`` / ``evaluate`` / ``predict`` take NumPy arrays (handed whole to the backend network) or a
*batch source*: anything that yields ``(x, y)`` or ``(x, y, sample_weight)`` batches, as Keras 3
takes them. ``BatchSource`` turns each into epochs of batches:

* a ``PyDataset`` (``__len__`` / ``__getitem__`` / ``on_epoch_end``): ``len(data)`` batches per epoch;
* a re-iterable object (a list of batches, ``image_dataset_from_directory``'s and
  ``timeseries_dataset_from_array``'s datasets): a fresh pass per epoch;
* a one-shot iterator or generator: ``steps_per_epoch`` batches per epoch, or until it is exhausted
  (then later epochs have no data, and training stops with a warning, as Keras does).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

import numpy as np

__all__ = ["PyDataset", "BatchSource", "is_batch_source"]


class PyDataset:
    """Base class for datasets that build their batches in Python, as ``keras.utils.PyDataset``.

    Subclasses implement ``__len__`` (batches per epoch) and ``__getitem__(index)`` (one batch
    ``(x, y)`` or ``(x, y, sample_weight)``), and may override ``on_epoch_end``. ``workers``,
    ``use_multiprocessing`` and ``max_queue_size`` are accepted for Keras compatibility; batches are
    produced in the training thread.
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10) -> None:
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int):
        raise NotImplementedError

    def on_epoch_end(self) -> None:
        """Called after each epoch (e.g. to reshuffle)."""

    @property
    def num_batches(self) -> int | None:
        return len(self)


def is_batch_source(data) -> bool:
    """Whether ``data`` is handed in batches rather than as one array-like."""
    if data is None or isinstance(data, (np.ndarray, list, tuple, dict, str, bytes)) or np.isscalar(data):
        return False
    if isinstance(data, PyDataset):
        return True
    if hasattr(data, "__array__") or hasattr(data, "__array_interface__"):
        return False
    return hasattr(data, "__iter__") or hasattr(data, "__next__")


def _split(batch, what: str) -> tuple:
    """A batch as (x, y, sample_weight), Keras' three accepted shapes."""
    if type(batch) is tuple and len(batch) == 2:  # the usual (x, y)
        return batch[0], batch[1], None
    if isinstance(batch, tuple) and len(batch) in (1, 2, 3):
        return (*batch, None, None)[:3]
    if isinstance(batch, list) and len(batch) in (2, 3):
        return (*batch, None)[:3]
    return batch, None, None


class BatchSource:
    """Epochs of ``(x, y, sample_weight)`` batches from a batch source (see the module docstring)."""

    def __init__(self, data, steps: int | None = None, name: str = "x", shuffle: bool = False) -> None:
        self._data = data
        self._name = name
        self._steps = steps
        self._pydataset = isinstance(data, PyDataset)
        # As Keras: fit(shuffle=True) visits a PyDataset's batches in a new order each epoch, drawn from
        # Python's global generator (which utils.set_random_seed seeds); other sources come in their order.
        self._shuffle = bool(shuffle) and self._pydataset
        # a generator or iterator is consumed once; a re-iterable object gives a fresh pass per epoch
        self._one_shot = not self._pydataset and (hasattr(data, "__next__") or not hasattr(data, "__iter__"))
        self._iterator: Iterator | None = None
        self._peeked: list = []
        self.exhausted = False

    @property
    def steps(self) -> int | None:
        """Batches per epoch, when known."""
        if self._steps is not None:
            return self._steps
        if self._pydataset:
            return len(self._data)
        try:
            return len(self._data)
        except TypeError:
            return None

    def peek(self) -> tuple:
        """The first batch (it is still yielded by the first epoch)."""
        if self._pydataset:
            # Keras 3.15 looks at the first batch of an order of its own, drawn before the first epoch's:
            # doing the same keeps Python's generator, and so every epoch's order, in step with Keras.
            return _split(self._data[self._order()[0]], self._name)
        if not self._peeked:
            iterator = self._epoch_iterator()
            try:
                self._peeked.append(next(iterator))
            except StopIteration:
                raise ValueError(f"{self._name}: the data yielded no batch") from None
            self._iterator = iterator
        return _split(self._peeked[0], self._name)

    def _order(self) -> list[int]:
        """A PyDataset's batch indices for one pass: shuffled when ``fit(shuffle=True)``."""
        order = list(range(len(self._data)))
        if self._shuffle:
            random.shuffle(order)
        return order

    def _epoch_iterator(self) -> Iterator:
        if self._pydataset:
            return (self._data[i] for i in self._order())
        if self._one_shot:
            if self._iterator is None:
                self._iterator = iter(self._data)
            return self._iterator
        return iter(self._data)

    def epoch(self) -> Iterator[tuple]:
        """One epoch's batches as (x, y, sample_weight)."""
        if self._peeked:
            iterator, self._iterator = self._iterator, (self._iterator if self._one_shot else None)
            first = self._peeked.pop()
            batches = itertools.chain([first], iterator)
        else:
            batches = self._epoch_iterator()
        if self._steps is not None:
            batches = itertools.islice(batches, self._steps)
        count = 0
        for batch in batches:
            count += 1
            yield _split(batch, self._name)
        if count == 0:
            self.exhausted = True
        if self._pydataset:
            self._data.on_epoch_end()
