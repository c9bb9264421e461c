"""Loss functions, as in ``keras.losses``.

Classes (``MeanSquaredError()``, ``SparseCategoricalCrossentropy(from_logits=True)``
...) and strings (``"mse"``, ``"sparse_categorical_crossentropy"``, class names)
all resolve to a backend ``LossSpec``; the value is always computed by the
active backend. A loss object is callable: ``loss(y_true, y_pred)`` returns the
batch mean as a Python float (Keras' ``sum_over_batch_size`` reduction). The
functions (``mean_squared_error(y_true, y_pred)`` ...) return the per-sample
losses ``(batch,)``, as Keras' loss functions do.

Targets accepted (``y_true``), for predictions ``(batch, units)``:

* sparse categorical cross-entropy: integer class labels ``(batch,)`` or
  ``(batch, 1)`` (integral floats are accepted) in ``[0, units)``;
* categorical cross-entropy: rows ``(batch, units)`` (one-hot or probabilities);
* the others: ``(batch, units)``, or ``(batch,)`` when ``units == 1``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cyneuron import backend as _backend
from cyneuron import config as _config
from cyneuron.backend.base import LossSpec
from cyneuron.utils import _as_array, _float_array

__all__ = [
    "Loss",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "get",
    "serialize",
    "deserialize",
]

SPARSE = "sparse_categorical_crossentropy"


def check_targets(loss_name: str, y, units: int, dtype: np.dtype, n: int | None = None, name: str = "y") -> np.ndarray:
    """Validate and convert targets once for ``loss_name`` and an output of ``units`` columns.

    Returns int64 labels ``(n,)`` for the sparse loss, else a C-contiguous ``(n, units)`` array of ``dtype``.
    ``n``, when given, is the number of samples ``y`` must have.
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
        low, high = labels.min(), labels.max()
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
    array = _as_array(y_pred, "y_pred")
    if dtype is None:
        dtype = array.dtype if array.dtype in (np.float32, np.float64) else _config._dtype()
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise ValueError(f"y_pred: expected shape (batch, units), got {array.shape}")
    return _float_array(array, dtype, "y_pred")


_NEUTRAL = {"label_smoothing": 0.0, "axis": -1, "ignore_class": None}


def _only_neutral(owner: str, **values) -> None:
    """Keras options cyneuron does not implement are accepted only at their no-op values."""
    for key, value in values.items():
        if value != _NEUTRAL[key]:
            raise ValueError(f"{owner}: {key}={value!r} is not supported (only {_NEUTRAL[key]!r})")


class Loss:
    """Base class of the built-in losses: a canonical name plus ``from_logits``."""

    canonical: str = ""
    _has_logits = False

    def __init__(self, name: str | None = None, reduction: str = "sum_over_batch_size", from_logits: bool = False):
        if reduction != "sum_over_batch_size":
            raise ValueError(
                f"reduction: only 'sum_over_batch_size' (the Keras default) is supported, got {reduction!r}"
            )
        if not isinstance(from_logits, (bool, np.bool_)):
            raise TypeError(f"from_logits: expected a bool, got {type(from_logits).__name__}")
        self.name = self.canonical if name is None else str(name)
        self.reduction = reduction
        self.from_logits = bool(from_logits)

    @property
    def spec(self) -> LossSpec:
        """The backend's description of this loss."""
        return LossSpec(self.canonical, self.from_logits)

    def __call__(self, y_true, y_pred) -> float:
        """Mean over the batch of the per-sample loss; y_pred ``(batch, units)``."""
        pred = _predictions(y_pred)
        targets = check_targets(self.canonical, y_true, pred.shape[1], pred.dtype, pred.shape[0], "y_true")
        return _backend.ops().loss_value(self.spec, targets, pred)

    def get_config(self) -> dict:
        config = {"name": self.name, "reduction": self.reduction}
        if self._has_logits:
            config["from_logits"] = self.from_logits
        return config

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        config = dict(config)
        config.pop("dtype", None)  # Keras' loss configs carry it; the model's dtype is used
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class MeanSquaredError(Loss):
    """Mean of ``(y_true - y_pred)**2`` over the last axis, averaged over the batch."""

    canonical = "mean_squared_error"

    def __init__(self, reduction: str = "sum_over_batch_size", name: str = "mean_squared_error") -> None:
        super().__init__(name=name, reduction=reduction)


class MeanAbsoluteError(Loss):
    """Mean of ``|y_true - y_pred|`` over the last axis, averaged over the batch."""

    canonical = "mean_absolute_error"

    def __init__(self, reduction: str = "sum_over_batch_size", name: str = "mean_absolute_error") -> None:
        super().__init__(name=name, reduction=reduction)


class _DenseCrossentropy(Loss):
    """The constructor Keras gives its binary and categorical cross-entropies."""

    _has_logits = True

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str = "sum_over_batch_size",
        name: str | None = None,
    ) -> None:
        _only_neutral(type(self).__name__, label_smoothing=label_smoothing, axis=axis)
        super().__init__(name=name, reduction=reduction, from_logits=from_logits)


class BinaryCrossentropy(_DenseCrossentropy):
    """Binary cross-entropy, mean over the last axis; ``from_logits=True`` when y_pred are logits."""

    canonical = "binary_crossentropy"


class CategoricalCrossentropy(_DenseCrossentropy):
    """Cross-entropy of one-hot (or probability) rows ``(batch, units)``."""

    canonical = "categorical_crossentropy"


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy of integer class labels ``(batch,)`` against ``(batch, units)`` predictions."""

    canonical = SPARSE
    _has_logits = True

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str = "sum_over_batch_size",
        name: str = "sparse_categorical_crossentropy",
    ) -> None:
        _only_neutral(type(self).__name__, ignore_class=ignore_class)
        super().__init__(name=name, reduction=reduction, from_logits=from_logits)


def _per_sample(canonical: str, y_true, y_pred, from_logits: bool) -> np.ndarray:
    pred = _predictions(y_pred)
    targets = check_targets(canonical, y_true, pred.shape[1], pred.dtype, pred.shape[0], "y_true")
    ops = _backend.ops()
    spec = LossSpec(canonical, bool(from_logits))
    # One backend call per row: each is exactly that sample's loss (a convenience path, not a hot one).
    out = np.empty(pred.shape[0], dtype=pred.dtype)
    for i in range(pred.shape[0]):
        out[i] = ops.loss_value(spec, targets[i : i + 1], pred[i : i + 1])
    return out


def mean_squared_error(y_true, y_pred) -> np.ndarray:
    """Per-sample mean squared error ``(batch,)``."""
    return _per_sample("mean_squared_error", y_true, y_pred, False)


def mean_absolute_error(y_true, y_pred) -> np.ndarray:
    """Per-sample mean absolute error ``(batch,)``."""
    return _per_sample("mean_absolute_error", y_true, y_pred, False)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False) -> np.ndarray:
    """Per-sample binary cross-entropy ``(batch,)``."""
    return _per_sample("binary_crossentropy", y_true, y_pred, from_logits)


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False) -> np.ndarray:
    """Per-sample categorical cross-entropy ``(batch,)``."""
    return _per_sample("categorical_crossentropy", y_true, y_pred, from_logits)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False) -> np.ndarray:
    """Per-sample sparse categorical cross-entropy ``(batch,)``."""
    return _per_sample(SPARSE, y_true, y_pred, from_logits)


_CLASSES = {
    cls.__name__: cls
    for cls in (
        MeanSquaredError,
        MeanAbsoluteError,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
    )
}
_FUNCTIONS: dict[str, Callable] = {
    "mean_squared_error": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    SPARSE: sparse_categorical_crossentropy,
}
_ALIASES = {
    "mse": "mean_squared_error",
    "MSE": "mean_squared_error",
    "mae": "mean_absolute_error",
    "MAE": "mean_absolute_error",
    "bce": "binary_crossentropy",
    "BCE": "binary_crossentropy",
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
        raise ValueError(f"loss: unknown loss {identifier!r}; expected one of {_valid()}")
    if callable(identifier) and identifier in _CANONICAL_OF_FUNCTION:
        return identifier
    if callable(identifier):
        raise ValueError(f"loss: custom loss functions are not supported ({identifier!r}); expected one of {_valid()}")
    raise TypeError(f"loss: expected a string, a Loss or a loss function, got {type(identifier).__name__}")


def to_spec(identifier) -> LossSpec:
    """The backend ``LossSpec`` of any loss identifier accepted by ``get``."""
    loss = get(identifier)
    if loss is None:
        raise ValueError("loss: no loss given")
    if isinstance(loss, Loss):
        return loss.spec
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


# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
