"""Preprocessing layers usable as a model's first layer, as ``keras.layers.Rescaling`` and ``Normalization``.

Both compute on the ``affine`` stage kind (``cyneuron.backend.reference.affine``): Rescaling's
``scale`` / ``offset`` are plain numbers; Normalization's per-index ``mean`` / ``variance`` are
non-trainable weights (so they save and load), set by ``adapt(data)`` or the constructor.
"""

from __future__ import annotations

import math

import numpy as np

from cyneuron.backend.specs import StageSpec
from cyneuron.layers.base import Layer
from cyneuron.utils import _check_bool

__all__ = ["Rescaling", "Normalization"]


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(
            f"{name}: expected a number, got {type(value).__name__} (per-channel arrays are not supported by cyneuron)"
        )
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    return float(value)


class Rescaling(Layer):
    """``outputs = inputs * scale + offset`` (e.g. ``Rescaling(1 / 255)`` for [0, 255] images)."""

    def __init__(self, scale, offset=0.0, **kwargs) -> None:
        self.scale = _number(scale, "scale")
        self.offset = _number(offset, "offset")
        super().__init__(**kwargs)

    def stage_spec(self) -> StageSpec:
        return self._spec("affine", {"mode": "rescale", "scale": self.scale, "offset": self.offset})

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class Normalization(Layer):
    """``(inputs - mean) / max(sqrt(variance), 1e-7)`` per index of ``axis`` (``invert``: the inverse map).

    Args: ``axis=-1`` (an int, a one-element tuple, or None for one global mean and variance; several
    axes are not supported), ``mean=None`` / ``variance=None`` (given together: numbers or arrays
    broadcast to the axis' size), ``invert=False``. ``adapt(data)`` computes them as Keras does: for
    an array ``np.mean`` / ``np.var`` over every other axis; for an iterable of batches Keras'
    running combination of per-batch means and variances.

    Weights (non-trainable): ``mean``, ``variance``, each ``(size of axis,)`` (``()`` for ``axis=None``).
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs) -> None:
        if axis is None:
            axes = ()
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            axes = (int(axis),)
        else:
            try:
                axes = tuple(int(a) for a in axis)
            except (TypeError, ValueError):
                raise TypeError(f"axis: expected an int, a tuple of ints or None, got {axis!r}") from None
        if len(axes) > 1:
            raise ValueError(f"axis={axis!r}: normalising over several kept axes is not supported by cyneuron")
        self.axis = axes
        if (mean is None) != (variance is None):
            raise ValueError(
                "When setting values directly, both `mean` and `variance` must be set. "
                f"Received: mean={mean} and variance={variance}"
            )
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError(
                    "When setting values directly, `mean` and `variance` must have the same shape. "
                    f"Received: mean shape {np.shape(mean)} and variance shape {np.shape(variance)}"
                )
            if len(np.shape(mean)) > len(axes):
                raise ValueError(
                    f"The rank of `mean` must be less than or equal to the number of axes ({len(axes)}). "
                    f"Received: mean shape {np.shape(mean)} for axis {axes}"
                )
            for name, value in (("mean", mean), ("variance", variance)):
                array = np.asarray(value, dtype=np.float64)
                if not np.all(np.isfinite(array)):
                    raise ValueError(f"{name}: expected finite values")
        self.input_mean = mean
        self.input_variance = variance
        self.invert = _check_bool(invert, "invert")
        super().__init__(**kwargs)
        self.mean = self.variance = None

    def _kept(self, features: tuple[int, ...]) -> int | None:
        """The kept axis as an index into the per-sample shape (None: axis=None)."""
        if not self.axis:
            return None
        ndim = len(features) + 1
        axis = self.axis[0]
        if not -ndim <= axis < ndim:
            raise ValueError(
                f"All `axis` values must be in the range [-ndim, ndim). Received inputs with ndim={ndim}, "
                f"while axis={self.axis}"
            )
        axis = axis + ndim if axis < 0 else axis
        if axis == 0:
            raise ValueError(f"{self.name}: axis {self.axis[0]} is the batch axis; cyneuron keeps a per-sample axis")
        return axis - 1

    def _validate_input(self, features: tuple[int, ...]) -> None:
        kept = self._kept(features)
        if self.input_mean is not None:
            size = 1 if kept is None else features[kept]
            try:
                np.broadcast_to(np.asarray(self.input_mean, dtype=np.float64), (size,) if kept is not None else ())
            except ValueError:
                raise ValueError(
                    f"{self.name}: mean of shape {np.shape(self.input_mean)} does not broadcast to ({size},)"
                ) from None

    def build(self, input_shape) -> None:
        features = tuple(input_shape)[1:]
        kept = self._kept(features)
        shape = () if kept is None else (features[kept],)
        self.mean = self.add_weight(shape, "zeros", trainable=False, name="mean")
        self.variance = self.add_weight(shape, "ones", trainable=False, name="variance")
        if self.input_mean is not None and self._dry_shapes is None:
            self.mean[...] = np.broadcast_to(np.asarray(self.input_mean, dtype=np.float64), shape)
            self.variance[...] = np.broadcast_to(np.asarray(self.input_variance, dtype=np.float64), shape)
        self.built = True

    def adapt(self, data) -> None:
        """Set ``mean`` and ``variance`` from ``data`` (an array ``(n, ...)`` or an iterable of such batches)."""
        if isinstance(data, np.ndarray) or (hasattr(data, "__array__") and not hasattr(data, "__next__")):
            batches, whole = None, np.asarray(data)
            first = whole
        else:
            try:
                iterator = iter(data)
            except TypeError:
                raise TypeError(f"Unsupported data type: {type(data)}") from None
            batches = [np.asarray(b[0] if isinstance(b, tuple) else b) for b in iterator]
            if not batches:
                raise ValueError("adapt() received an empty iterable (no batches).")
            first = batches[0]
        if first.ndim < 2 or not np.issubdtype(first.dtype, np.number):
            raise ValueError(f"data: expected numeric batches of shape (n, features...), got {first.shape}")
        features = tuple(int(d) for d in first.shape[1:])
        if not self.built:
            self._build(features, np.dtype(self.dtype))
        elif features != self._build_shape:
            raise ValueError(
                f"The layer was built with input_shape={(None, *self._build_shape)}, but adapt() is being called "
                f"with data with an incompatible shape, data.shape={first.shape}"
            )
        kept = self._kept(features)
        reduce = tuple(a for a in range(first.ndim) if kept is None or a != kept + 1)
        if batches is None:
            total_mean, total_var = np.mean(whole, axis=reduce), np.var(whole, axis=reduce)
        else:
            total_mean = total_var = 0.0
            count = 0
            for batch in batches:
                if tuple(batch.shape[1:]) != features:
                    raise ValueError(f"adapt() yielded a batch with incompatible shape {batch.shape}")
                batch = batch.astype(self.dtype)
                mean, var = np.mean(batch, axis=reduce), np.var(batch, axis=reduce)
                n = math.prod(batch.shape[a] for a in reduce)
                count += n
                weight = float(n) / count
                new_mean = total_mean * (1.0 - weight) + mean * weight
                total_var = (total_var + (total_mean - new_mean) ** 2) * (1.0 - weight) + (
                    var + (mean - new_mean) ** 2
                ) * weight
                total_mean = new_mean
        if not (np.all(np.isfinite(total_mean)) and np.all(np.isfinite(total_var))):
            raise ValueError("data: contains NaN or inf")
        self.mean[...] = total_mean
        self.variance[...] = total_var

    def stage_spec(self) -> StageSpec:
        features = self._build_shape
        kept = self._kept(features)
        if kept is None:
            channels, inner = 1, math.prod(features)
        else:
            channels, inner = features[kept], math.prod(features[kept + 1 :])
        attrs = {"mode": "denormalize" if self.invert else "normalize", "channels": channels, "inner": inner}
        return self._spec("affine", attrs, (), (self.mean.reshape(channels), self.variance.reshape(channels)))

    def get_config(self) -> dict:
        def plain(value):
            return None if value is None else np.asarray(value, dtype=np.float64).tolist()

        return {
            **super().get_config(),
            "axis": self.axis,
            "invert": self.invert,
            "mean": plain(self.input_mean),
            "variance": plain(self.input_variance),
        }
