"""The losses' common ground: Keras' input rules (dtypes, axes, target shapes), ``Loss`` and the built-in base.

``_values`` is the one place a standalone loss is computed (``backend/reference/losses.py``'s formulas on
arrays of any rank, with Keras' shape rules); ``check_targets`` validates a model's training targets once.
"""

from __future__ import annotations

import numpy as np

from cyneuron import config as _config
from cyneuron.backend.base import LossSpec
from cyneuron.backend.reference import losses as _reference
from cyneuron.backend.validation import check_loss as _check_spec
from cyneuron.layers.base import _snake_case
from cyneuron.utils import _as_array, _float_array

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


