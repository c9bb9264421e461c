"""Loss functions, as in ``keras.losses``.

Classes (``MeanSquaredError()``, ``Huber(delta=0.5)``, ``CategoricalCrossentropy(label_smoothing=0.1)``
...) and strings (``"mse"``, ``"huber"``, class names) resolve to a backend ``LossSpec``: in
``compile(loss=...)`` every built-in loss runs inside the compiled training step (its reduction sets
the gradient's scale exactly as in Keras). Called on their own, losses compute in NumPy with Keras 3's
formulas and shape rules (``backend/reference/losses.py``), on arrays of any rank:

* ``loss(y_true, y_pred, sample_weight=None)`` reduces the per-sample losses (``reduction``:
  ``"sum_over_batch_size"`` (default), ``"sum"``, ``"mean"``, ``"mean_with_sample_weight"``, or
  ``None`` / ``"none"`` for the weighted per-sample values), in the loss's ``dtype``;
* the functions (``mean_squared_error(y_true, y_pred)`` ...) return the per-sample losses, the
  class axis reduced, as Keras' loss functions do.

Targets accepted in training (``y_true``), for predictions ``(batch, units)``:

* sparse categorical cross-entropy: integer class labels ``(batch,)`` or
  ``(batch, 1)`` (integral floats are accepted) in ``[0, units)`` (or equal to ``ignore_class``);
* the others: rows ``(batch, units)``, or ``(batch,)`` when ``units == 1``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

import numpy as np

from cyneuron import config as _config
from cyneuron.backend.base import LossSpec
from cyneuron.backend.reference import losses as _reference
from cyneuron.backend.validation import check_loss as _check_spec
from cyneuron.utils import _as_array, _float_array

__all__ = [
    "Loss",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "CosineSimilarity",
    "Huber",
    "LogCosh",
    "KLDivergence",
    "Poisson",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "cosine_similarity",
    "huber",
    "log_cosh",
    "kl_divergence",
    "poisson",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "get",
    "serialize",
    "deserialize",
]

SPARSE = "sparse_categorical_crossentropy"
_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def check_targets(
    loss_name: str,
    y,
    units: int,
    dtype: np.dtype,
    n: int | None = None,
    name: str = "y",
    ignore_class: int | None = None,
) -> np.ndarray:
    """Validate and convert targets once for ``loss_name`` and an output of ``units`` columns.

    Returns int64 labels ``(n,)`` for the sparse loss (each in ``[0, units)`` or equal to ``ignore_class``),
    else a C-contiguous ``(n, units)`` array of ``dtype``. ``n``, when given, is the number of samples ``y``
    must have.
    """
    array = _as_array(y, name)
    if array.ndim == 0:
        raise ValueError(f"{name}: expected one target per sample, got a scalar")
    if n is not None and array.shape[0] != n:
        raise ValueError(f"{name}: has {array.shape[0]} samples but x has {n}; they must match")
    if array.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one sample, got 0")
    if loss_name == SPARSE:
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1:
            hint = (
                " (these look like one-hot rows: use loss='categorical_crossentropy', or pass integer labels)"
                if array.ndim == 2 and array.shape[1] == units
                else ""
            )
            raise ValueError(
                f"{name}: sparse_categorical_crossentropy expects integer class labels of shape (n,) or (n, 1), "
                f"got shape {array.shape}{hint}"
            )
        if array.dtype.kind == "f":
            if not np.all(np.isfinite(array)):
                raise ValueError(f"{name}: contains NaN or infinity")
            if not np.all(array == np.floor(array)):
                raise ValueError(f"{name}: class labels must be whole numbers, got non-integral values")
        labels = np.ascontiguousarray(array, dtype=np.int64)
        kept = labels if ignore_class is None else labels[labels != ignore_class]
        low, high = (kept.min(), kept.max()) if kept.size else (0, 0)
        if low < 0 or high >= units:
            raise ValueError(
                f"{name}: class labels must be in [0, {units}) for a model with {units} outputs, "
                f"got values in [{low}, {high}]"
            )
        return labels
    if array.ndim == 1 and units == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[1] != units:
        if loss_name == "categorical_crossentropy" and array.ndim == 1:
            hint = (
                " (these look like class labels: use loss='sparse_categorical_crossentropy' "
                "or cyneuron.utils.to_categorical(y))"
            )
        elif array.ndim == 2:
            hint = f" (the model has {units} outputs)"
        else:
            hint = ""
        raise ValueError(f"{name}: {loss_name} expects targets of shape (n, {units}), got shape {array.shape}{hint}")
    return _float_array(array, dtype, name)


def _predictions(y_pred, dtype=None) -> np.ndarray:
    """y_pred as ``(batch, units)`` rows (a model's output), for the per-sample metrics."""
    array = _as_array(y_pred, "y_pred")
    if dtype is None:
        dtype = array.dtype if array.dtype in (np.float32, np.float64) else _config._dtype()
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise ValueError(f"y_pred: expected shape (batch, units), got {array.shape}")
    return _float_array(array, dtype, "y_pred")


def bfloat16() -> np.dtype:
    """NumPy's bfloat16 from ml_dtypes (an optional extra, shipped with JAX), for Keras' ``dtype="bfloat16"``."""
    try:
        import ml_dtypes
    except ImportError:
        raise ValueError("dtype: 'bfloat16' needs the ml_dtypes package (pip install ml_dtypes)") from None
    return np.dtype(ml_dtypes.bfloat16)


def _loss_dtype(dtype) -> np.dtype:
    if dtype is None:
        return np.dtype(_config._dtype())
    if hasattr(dtype, "compute_dtype"):  # a dtype policy
        dtype = dtype.compute_dtype
    if str(dtype) == "bfloat16":
        return bfloat16()
    try:
        value = np.dtype(dtype)
    except TypeError:
        raise ValueError(
            f"dtype: expected a float dtype (bfloat16, float16, float32, float64), got {dtype!r}"
        ) from None
    if value not in _FLOATS:
        raise ValueError(f"dtype: expected a float dtype (bfloat16, float16, float32, float64), got {dtype!r}")
    return value


def _float_input(value, dtype: np.dtype, name: str) -> np.ndarray:
    array = _as_array(value, name)
    return array.astype(dtype, copy=False)


def _input_dtype(y_pred) -> np.dtype:
    """The dtype a loss function computes in: y_pred's float dtype, else the default float type."""
    dtype = getattr(y_pred, "dtype", None)
    if dtype is not None and np.dtype(dtype) in _FLOATS:
        return np.dtype(dtype)
    return np.dtype(_config._dtype())


def _check_axis(axis) -> int:
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"`axis` must be of type `int`. Received: axis={axis} of type {type(axis)}")
    return int(axis)


def _values(spec: LossSpec, y_true, y_pred, axis: int = -1, dtype=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-sample losses of any-rank inputs and the mask of kept values (None: all), as Keras computes them."""
    dtype = _input_dtype(y_pred) if dtype is None else dtype
    p = _float_input(y_pred, dtype, "y_pred")
    if spec.name == SPARSE:
        y = _as_array(y_true, "y_true")
        if y.ndim == p.ndim and y.shape[axis] == 1:
            y = np.squeeze(y, axis=axis)
        mask = None
        if spec.ignore_class is not None:
            mask = y != spec.ignore_class
            y = np.where(mask, y, 0)
        labels = y.astype(np.int64)
        if labels.shape != p.shape[:-1]:
            raise ValueError(
                "Arguments `target` and `output` must have the same shape up until the last dimension: "
                f"target.shape={labels.shape}, output.shape={p.shape}"
            )
        if axis % p.ndim != p.ndim - 1:
            raise ValueError(f"axis: sparse categorical cross-entropy reads classes on the last axis, got axis={axis}")
        classes = p.shape[axis]
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise ValueError(
                f"y_true: class labels must be in [0, {classes}), got values in [{labels.min()}, {labels.max()}]"
            )
        values = _reference.per_sample(spec, labels, p, axis)
        if mask is not None:
            values = np.where(mask, values, 0).astype(dtype)
        return values, mask
    y = _float_input(y_true, dtype, "y_true")
    y, p = _reference.same_rank(y, p)
    if spec.name in ("binary_crossentropy", "categorical_crossentropy") and y.shape != p.shape:
        raise ValueError(
            f"Arguments `target` and `output` must have the same shape. Received: target.shape={y.shape}, "
            f"output.shape={p.shape}"
        )
    try:
        np.broadcast_shapes(y.shape, p.shape)
    except ValueError:
        raise ValueError(f"y_true: shape {y.shape} does not match y_pred's {p.shape}") from None
    return _reference.per_sample(spec, y, p, axis).astype(dtype, copy=False), None


class Loss:
    """Base class of the losses (Keras' ``keras.losses.Loss``).

    Subclasses implement ``call(y_true, y_pred)`` returning the per-sample losses; ``__call__`` applies the
    sample weights and the ``reduction``. Only the built-in losses train inside the compiled step.
    """

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size", dtype=None):
        self.name = name if name is not None else _snake_case(type(self).__name__)
        self.reduction = _check_reduction(reduction)
        self._dtype = _loss_dtype(dtype)

    @property
    def dtype(self) -> str:
        """The dtype of the loss's computations (the default float type unless given)."""
        return self._dtype.name

    def call(self, y_true, y_pred) -> np.ndarray:
        """The per-sample losses (subclasses override this)."""
        raise NotImplementedError

    def _call_masked(self, y_true, y_pred) -> tuple[np.ndarray, np.ndarray | None]:
        return np.asarray(self.call(y_true, y_pred), dtype=self._dtype), None

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The reduced loss (a NumPy scalar of the loss's dtype; the per-sample array for reduction None)."""
        values, mask = self._call_masked(y_true, y_pred)
        if sample_weight is not None:
            sample_weight = _float_input(sample_weight, self._dtype, "sample_weight")
        result = _reference.reduce(values, sample_weight, mask, self.reduction)
        return result.astype(self._dtype, copy=False) if np.ndim(result) else self._dtype.type(result)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        config = dict(config)
        config.pop("fn", None)  # Keras' LossFunctionWrapper configs carry their function
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


def _snake_case(name: str) -> str:
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _check_reduction(reduction):
    allowed = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")
    if reduction not in allowed:
        raise ValueError(
            f"Invalid value for argument `reduction`. Expected one of {set(allowed)}. Received: reduction={reduction}"
        )
    return reduction


class _Builtin(Loss):
    """A built-in loss: a canonical name and its Keras options, so it can train inside the compiled step."""

    canonical: str = ""
    _options: tuple[str, ...] = ()  # the constructor arguments get_config reports beyond name and reduction

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None, **options) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = options.pop("from_logits", False)
        if not isinstance(self.from_logits, (bool, np.bool_)):
            raise TypeError(f"from_logits: expected a bool, got {type(self.from_logits).__name__}")
        self.from_logits = bool(self.from_logits)
        self.label_smoothing = options.pop("label_smoothing", 0.0)
        self.delta = options.pop("delta", 1.0)
        self.ignore_class = options.pop("ignore_class", None)
        self.axis = _check_axis(options.pop("axis", -1))
        # the options' own checks (types, ranges) are the backend's, once
        _check_spec(self._spec(self.reduction))

    def _spec(self, reduction) -> LossSpec:
        return LossSpec(
            self.canonical, self.from_logits, reduction, self.label_smoothing, self.delta, self.ignore_class
        )

    @property
    def spec(self) -> LossSpec:
        """The backend's description of this loss, for training (the class axis must be the last)."""
        if self.axis not in (-1, 1):
            raise ValueError(
                f"axis: {type(self).__name__}(axis={self.axis}) in training; the model's outputs are (batch, units), "
                "so the class axis is -1"
            )
        return self._spec(self.reduction)

    def call(self, y_true, y_pred) -> np.ndarray:
        return self._call_masked(y_true, y_pred)[0]

    def _call_masked(self, y_true, y_pred):
        return _values(self._spec(None), y_true, y_pred, self.axis, self._dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({key: getattr(self, key) for key in self._options})
        return config


class MeanSquaredError(_Builtin):
    """Mean of ``(y_true - y_pred)**2`` over the last axis."""

    canonical = "mean_squared_error"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "mean_squared_error",
        dtype=None,
    ) -> None:
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class MeanAbsoluteError(_Builtin):
    """Mean of ``|y_true - y_pred|`` over the last axis."""

    canonical = "mean_absolute_error"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "mean_absolute_error",
        dtype=None,
    ) -> None:
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class MeanAbsolutePercentageError(_Builtin):
    """``100 * mean(|(y_true - y_pred) / max(|y_true|, 1e-7)|)`` over the last axis."""

    canonical = "mean_absolute_percentage_error"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "mean_absolute_percentage_error",
        dtype=None,
    ) -> None:
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(_Builtin):
    """Mean of ``(log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))**2`` over the last axis."""

    canonical = "mean_squared_logarithmic_error"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "mean_squared_logarithmic_error",
        dtype=None,
    ) -> None:
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class CosineSimilarity(_Builtin):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred))`` over ``axis`` (-1: most similar).

    As in Keras, ``get_config`` holds only ``name`` and ``reduction`` (``axis`` is not saved)."""

    canonical = "cosine_similarity"

    def __init__(
        self,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "cosine_similarity",
        dtype=None,
    ) -> None:
        super().__init__(reduction=reduction, name=name, dtype=dtype, axis=axis)


class Huber(_Builtin):
    """Mean of ``0.5 * e**2`` where ``|e| <= delta``, else ``delta * |e| - 0.5 * delta**2``.

    As in Keras, ``get_config`` holds only ``name`` and ``reduction`` (``delta`` is not saved)."""

    canonical = "huber"

    def __init__(
        self,
        delta: float = 1.0,
        reduction: str | None = "sum_over_batch_size",
        name: str = "huber_loss",
        dtype=None,
    ) -> None:
        super().__init__(reduction=reduction, name=name, dtype=dtype, delta=delta)


class LogCosh(_Builtin):
    """Mean of ``log(cosh(y_pred - y_true))`` over the last axis."""

    canonical = "log_cosh"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "log_cosh",
        dtype=None,
    ) -> None:
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class KLDivergence(_Builtin):
    """``sum(y_true * log(y_true / y_pred))`` over the last axis, both clipped to ``[1e-7, 1]``."""

    canonical = "kl_divergence"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "kl_divergence",
        dtype=None,
    ) -> None:
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class Poisson(_Builtin):
    """Mean of ``y_pred - y_true * log(y_pred + 1e-7)`` over the last axis."""

    canonical = "poisson"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "poisson",
        dtype=None,
    ) -> None:
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class Hinge(_Builtin):
    """Mean of ``max(1 - y_true * y_pred, 0)``; 0/1 targets become -1/1 (when every target is 0 or 1)."""

    canonical = "hinge"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "hinge",
        dtype=None,
    ) -> None:
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class SquaredHinge(_Builtin):
    """Mean of ``max(1 - y_true * y_pred, 0)**2`` (targets as ``Hinge``)."""

    canonical = "squared_hinge"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "squared_hinge",
        dtype=None,
    ) -> None:
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class CategoricalHinge(_Builtin):
    """``max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`` per sample."""

    canonical = "categorical_hinge"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_hinge",
        dtype=None,
    ) -> None:
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class BinaryCrossentropy(_Builtin):
    """Binary cross-entropy, mean over ``axis``; targets smoothed towards 0.5 by ``label_smoothing``."""

    canonical = "binary_crossentropy"
    _options = ("from_logits", "label_smoothing", "axis")

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "binary_crossentropy",
        dtype=None,
    ) -> None:
        super().__init__(
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class CategoricalCrossentropy(_Builtin):
    """Cross-entropy of one-hot (or probability) rows over ``axis``; targets smoothed towards 1 / classes."""

    canonical = "categorical_crossentropy"
    _options = ("from_logits", "label_smoothing", "axis")

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_crossentropy",
        dtype=None,
    ) -> None:
        super().__init__(
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class SparseCategoricalCrossentropy(_Builtin):
    """Cross-entropy of integer class labels against predictions over ``axis``; labels equal to
    ``ignore_class`` add nothing and are not counted by ``sum_over_batch_size``."""

    canonical = SPARSE
    _options = ("from_logits", "ignore_class")

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        axis: int = -1,
        name: str = "sparse_categorical_crossentropy",
        dtype=None,
    ) -> None:
        super().__init__(
            reduction=reduction, name=name, dtype=dtype, from_logits=from_logits, ignore_class=ignore_class, axis=axis
        )


# ------------------------------------------------------------------ functions
def mean_squared_error(y_true, y_pred) -> np.ndarray:
    """Per-sample mean squared error (the last axis reduced)."""
    return _values(LossSpec("mean_squared_error"), y_true, y_pred)[0]


def mean_absolute_error(y_true, y_pred) -> np.ndarray:
    """Per-sample mean absolute error."""
    return _values(LossSpec("mean_absolute_error"), y_true, y_pred)[0]


def mean_absolute_percentage_error(y_true, y_pred) -> np.ndarray:
    """Per-sample mean absolute percentage error."""
    return _values(LossSpec("mean_absolute_percentage_error"), y_true, y_pred)[0]


def mean_squared_logarithmic_error(y_true, y_pred) -> np.ndarray:
    """Per-sample mean squared logarithmic error."""
    return _values(LossSpec("mean_squared_logarithmic_error"), y_true, y_pred)[0]


def cosine_similarity(y_true, y_pred, axis: int = -1) -> np.ndarray:
    """Per-sample negative cosine similarity over ``axis``."""
    return _values(LossSpec("cosine_similarity"), y_true, y_pred, _check_axis(axis))[0]


def huber(y_true, y_pred, delta: float = 1.0) -> np.ndarray:
    """Per-sample Huber loss."""
    spec = _check_spec(LossSpec("huber", delta=delta))
    return _values(spec, y_true, y_pred)[0]


def log_cosh(y_true, y_pred) -> np.ndarray:
    """Per-sample log-cosh error."""
    return _values(LossSpec("log_cosh"), y_true, y_pred)[0]


def kl_divergence(y_true, y_pred) -> np.ndarray:
    """Per-sample Kullback-Leibler divergence."""
    return _values(LossSpec("kl_divergence"), y_true, y_pred)[0]


def poisson(y_true, y_pred) -> np.ndarray:
    """Per-sample Poisson loss."""
    return _values(LossSpec("poisson"), y_true, y_pred)[0]


def hinge(y_true, y_pred) -> np.ndarray:
    """Per-sample hinge loss."""
    return _values(LossSpec("hinge"), y_true, y_pred)[0]


def squared_hinge(y_true, y_pred) -> np.ndarray:
    """Per-sample squared hinge loss."""
    return _values(LossSpec("squared_hinge"), y_true, y_pred)[0]


def categorical_hinge(y_true, y_pred) -> np.ndarray:
    """Per-sample categorical hinge loss."""
    return _values(LossSpec("categorical_hinge"), y_true, y_pred)[0]


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1):
    """Per-sample binary cross-entropy (mean over ``axis``)."""
    spec = _check_spec(LossSpec("binary_crossentropy", bool(from_logits), label_smoothing=label_smoothing))
    return _values(spec, y_true, y_pred, _check_axis(axis))[0]


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1):
    """Per-sample categorical cross-entropy (sum over ``axis``)."""
    spec = _check_spec(LossSpec("categorical_crossentropy", bool(from_logits), label_smoothing=label_smoothing))
    return _values(spec, y_true, y_pred, _check_axis(axis))[0]


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False, ignore_class=None, axis: int = -1):
    """Per-sample sparse categorical cross-entropy (0 where the label is ``ignore_class``)."""
    spec = _check_spec(LossSpec(SPARSE, bool(from_logits), ignore_class=ignore_class))
    return _values(spec, y_true, y_pred, _check_axis(axis))[0]


_CLASSES = {
    cls.__name__: cls
    for cls in (
        MeanSquaredError,
        MeanAbsoluteError,
        MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError,
        CosineSimilarity,
        Huber,
        LogCosh,
        KLDivergence,
        Poisson,
        Hinge,
        SquaredHinge,
        CategoricalHinge,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
    )
}
_FUNCTIONS: dict[str, Callable] = {
    function.__name__: function
    for function in (
        mean_squared_error,
        mean_absolute_error,
        mean_absolute_percentage_error,
        mean_squared_logarithmic_error,
        cosine_similarity,
        huber,
        log_cosh,
        kl_divergence,
        poisson,
        hinge,
        squared_hinge,
        categorical_hinge,
        binary_crossentropy,
        categorical_crossentropy,
        sparse_categorical_crossentropy,
    )
}
# Keras' short and legacy names
_ALIASES = {
    "mse": "mean_squared_error",
    "MSE": "mean_squared_error",
    "mae": "mean_absolute_error",
    "MAE": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "MAPE": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "MSLE": "mean_squared_logarithmic_error",
    "bce": "binary_crossentropy",
    "BCE": "binary_crossentropy",
    "kld": "kl_divergence",
    "KLD": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
    "logcosh": "log_cosh",
}
_CANONICAL_OF_FUNCTION = {function: name for name, function in _FUNCTIONS.items()}


def _valid() -> str:
    return ", ".join([*_FUNCTIONS, *_ALIASES, *_CLASSES])


def get(identifier):
    """The loss for a name, class, config dict, ``Loss`` instance or loss function (Keras' ``losses.get``).

    Names of functions (``"mse"``, ``"categorical_crossentropy"``) give the function; class names
    (``"MeanSquaredError"``) and classes give a new instance. Unknown names raise ValueError listing valid ones.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        name = _ALIASES.get(identifier, identifier)
        if name in _FUNCTIONS:
            return _FUNCTIONS[name]
        if name in _CLASSES:
            return _CLASSES[name]()
        raise ValueError(f"Could not interpret loss identifier: {identifier!r} (loss: expected one of {_valid()})")
    if callable(identifier) and identifier in _CANONICAL_OF_FUNCTION:
        return identifier
    if callable(identifier):
        raise ValueError(f"loss: custom loss functions are not supported ({identifier!r}); expected one of {_valid()}")
    raise TypeError(f"loss: expected a string, a Loss or a loss function, got {type(identifier).__name__}")


def to_spec(identifier) -> LossSpec:
    """The backend ``LossSpec`` of any loss identifier accepted by ``get`` (a built-in loss: training runs it)."""
    loss = get(identifier)
    if loss is None:
        raise ValueError("loss: no loss given")
    if isinstance(loss, _Builtin):
        spec = loss.spec
        _check_spec(spec, training=True)
        return spec
    if isinstance(loss, Loss):
        raise ValueError(
            f"loss: {type(loss).__name__} is a custom Loss; training runs only the built-in losses "
            f"({', '.join(_CLASSES)})"
        )
    return LossSpec(_CANONICAL_OF_FUNCTION[loss], False)


def serialize(loss):
    """A JSON-able form: the name for strings and functions, ``{"class_name", "config"}`` for ``Loss`` objects."""
    if isinstance(loss, str):
        return loss
    if isinstance(loss, Loss):
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    if callable(loss) and loss in _CANONICAL_OF_FUNCTION:
        return _CANONICAL_OF_FUNCTION[loss]
    raise ValueError(f"loss: cannot serialize {loss!r}")


def deserialize(config):
    """Inverse of ``serialize``; also accepts Keras' ``{"module", "class_name", "config", ...}`` dicts."""
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"loss: expected a name or a dict with 'class_name' and 'config', got {config!r}")
    name = config["class_name"]
    if name in _CLASSES:
        return _CLASSES[name].from_config(config.get("config") or {})
    if name in _FUNCTIONS or name in _ALIASES:  # Keras serializes loss functions as {"class_name": "function", ...}
        return get(name)
    if name == "function" and isinstance(config.get("config"), str):
        return get(config["config"])
    raise ValueError(f"loss: unknown loss class {name!r}; expected one of {', '.join(_CLASSES)}")


# Keras' module name for its losses (``from keras.src.losses import losses``): this module holds them.
losses = sys.modules[__name__]

# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
