"""Metrics, as in ``keras.metrics``.

In ``compile(metrics=[...])`` a metric is a string (``"accuracy"``, ``"acc"``,
``"binary_accuracy"``, ``"categorical_accuracy"``, ``"sparse_categorical_accuracy"``,
``"mse"``, ``"mean_squared_error"``, ``"mae"``, ``"mean_absolute_error"``, or a
class name), a metric object (``BinaryAccuracy()`` ...) or a metric function.
As in Keras 3, ``"accuracy"`` / ``"acc"`` become binary accuracy when the model
has one output unit, sparse categorical accuracy when the targets are class
labels (one dimension fewer than the predictions, or a last dimension of 1),
and categorical accuracy otherwise. Logs use the string the user gave
(``"acc"`` logs as ``acc``, ``"mse"`` as ``mse``) or the object's ``name``.

Metric objects are also usable on their own, statefully, as in Keras::

    m = BinaryAccuracy(); m.update_state(y_true, y_pred); m.result()

Every value is computed by the active backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from cyneuron import backend as _backend

# keras.metrics re-exports the cross-entropy functions of keras.losses; course scripts import them from here
from cyneuron.losses import (  # noqa: E402
    SPARSE,
    _predictions,
    binary_crossentropy,
    categorical_crossentropy,
    check_targets,
    sparse_categorical_crossentropy,
)

__all__ = [
    "Metric",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "mean_squared_error",
    "mean_absolute_error",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "get",
    "serialize",
    "deserialize",
]


def _targets_for(canonical: str, y_true, pred: np.ndarray) -> np.ndarray:
    # The sparse metric reads labels exactly as the sparse loss does; the others need (batch, units) rows.
    loss_like = SPARSE if canonical == "sparse_categorical_accuracy" else "mean_squared_error"
    return check_targets(loss_like, y_true, pred.shape[1], pred.dtype, pred.shape[0], "y_true")


class Metric:
    """A streaming mean of a per-sample metric: ``update_state`` / ``result`` / ``reset_state``."""

    canonical: str = ""

    def __init__(self, name: str | None = None) -> None:
        self.name = self.canonical if name is None else str(name)
        self._total = 0.0
        self._count = 0

    def update_state(self, y_true, y_pred) -> None:
        """Add a batch: y_pred ``(batch, units)``, y_true as for the matching loss."""
        pred = _predictions(y_pred)
        targets = _targets_for(self.canonical, y_true, pred)
        self._total += _backend.ops().metric_value(self.canonical, targets, pred) * pred.shape[0]
        self._count += pred.shape[0]

    def result(self) -> float:
        """Mean over all samples seen since the last reset (0.0 before any)."""
        return self._total / self._count if self._count else 0.0

    def reset_state(self) -> None:
        self._total = 0.0
        self._count = 0

    def __call__(self, y_true, y_pred) -> float:
        """Update with one batch and return the running result, as Keras metrics do."""
        self.update_state(y_true, y_pred)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> Metric:
        config = dict(config)
        config.pop("dtype", None)
        if config.get("threshold", 0.5) != 0.5:
            raise ValueError(f"{cls.__name__}: only threshold=0.5 is supported, got {config['threshold']!r}")
        config.pop("threshold", None)
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class BinaryAccuracy(Metric):
    """Share of entries where ``y_pred > 0.5`` matches ``y_true == 1``."""

    canonical = "binary_accuracy"

    def __init__(self, name: str = "binary_accuracy") -> None:
        super().__init__(name)


class CategoricalAccuracy(Metric):
    """Share of rows whose arg-max matches the arg-max of the one-hot ``y_true``."""

    canonical = "categorical_accuracy"

    def __init__(self, name: str = "categorical_accuracy") -> None:
        super().__init__(name)


class SparseCategoricalAccuracy(Metric):
    """Share of rows whose arg-max equals the integer label ``y_true``."""

    canonical = "sparse_categorical_accuracy"

    def __init__(self, name: str = "sparse_categorical_accuracy") -> None:
        super().__init__(name)


class MeanSquaredError(Metric):
    """Mean squared error."""

    canonical = "mean_squared_error"

    def __init__(self, name: str = "mean_squared_error") -> None:
        super().__init__(name)


class MeanAbsoluteError(Metric):
    """Mean absolute error."""

    canonical = "mean_absolute_error"

    def __init__(self, name: str = "mean_absolute_error") -> None:
        super().__init__(name)


def _per_sample(canonical: str, y_true, y_pred) -> np.ndarray:
    pred = _predictions(y_pred)
    targets = _targets_for(canonical, y_true, pred)
    ops = _backend.ops()
    # One backend call per row gives each sample's value (a convenience path, not a hot one).
    return np.array(
        [ops.metric_value(canonical, targets[i : i + 1], pred[i : i + 1]) for i in range(pred.shape[0])],
        dtype=pred.dtype,
    )


def binary_accuracy(y_true, y_pred) -> np.ndarray:
    """Per-sample binary accuracy ``(batch,)``."""
    return _per_sample("binary_accuracy", y_true, y_pred)


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """Per-sample categorical accuracy ``(batch,)`` (1.0 or 0.0)."""
    return _per_sample("categorical_accuracy", y_true, y_pred)


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """Per-sample sparse categorical accuracy ``(batch,)`` (1.0 or 0.0)."""
    return _per_sample("sparse_categorical_accuracy", y_true, y_pred)


def mean_squared_error(y_true, y_pred) -> np.ndarray:
    """Per-sample mean squared error ``(batch,)``."""
    return _per_sample("mean_squared_error", y_true, y_pred)


def mean_absolute_error(y_true, y_pred) -> np.ndarray:
    """Per-sample mean absolute error ``(batch,)``."""
    return _per_sample("mean_absolute_error", y_true, y_pred)


_CLASSES = {
    cls.__name__: cls
    for cls in (BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError)
}
_FUNCTIONS: dict[str, Callable] = {
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "mean_squared_error": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
}
_ALIASES = {
    "mse": "mean_squared_error",
    "MSE": "mean_squared_error",
    "mae": "mean_absolute_error",
    "MAE": "mean_absolute_error",
}
_CANONICAL_OF_FUNCTION = {function: name for name, function in _FUNCTIONS.items()}
_AUTO = ("accuracy", "acc")
_CLASS_OF = {cls.canonical: cls for cls in _CLASSES.values()}


def _valid() -> str:
    return ", ".join([*_AUTO, *_FUNCTIONS, *_ALIASES, *_CLASSES])


def _canonical_of_string(identifier: str) -> str:
    name = _ALIASES.get(identifier, identifier)
    if name in _FUNCTIONS:
        return name
    if name in _CLASSES:
        return _CLASSES[name].canonical
    raise ValueError(f"metrics: unknown metric {identifier!r}; expected one of {_valid()}")


def get(identifier):
    """A metric object for a name, class, config dict or instance; functions are returned as they are.

    ``"accuracy"`` / ``"acc"`` cannot be resolved without data: ``compile`` does it. Unknown names raise
    ValueError listing the valid ones.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier.lower() in _AUTO:
            raise ValueError(
                f"metrics: {identifier!r} is resolved by Model.compile from the targets and the output shape; "
                "use BinaryAccuracy, CategoricalAccuracy or SparseCategoricalAccuracy directly"
            )
        return _CLASS_OF[_canonical_of_string(identifier)]()
    if callable(identifier) and identifier in _CANONICAL_OF_FUNCTION:
        return identifier
    if callable(identifier):
        raise ValueError(
            f"metrics: custom metric functions are not supported ({identifier!r}); expected one of {_valid()}"
        )
    raise TypeError(f"metrics: expected a string, a Metric or a metric function, got {type(identifier).__name__}")


def check_identifiers(metrics) -> list:
    """Validate ``compile(metrics=...)`` eagerly (unknown names fail at compile time); returns a list."""
    if metrics is None:
        return []
    if isinstance(metrics, (str, Metric)) or callable(metrics):
        raise TypeError(f"metrics: expected a list of metrics, got {metrics!r} (wrap it in a list: [{metrics!r}])")
    if isinstance(metrics, dict):
        raise TypeError("metrics: a dict of metrics per output is not supported (Sequential models have one output)")
    try:
        items = list(metrics)
    except TypeError:
        raise TypeError(f"metrics: expected a list, got {type(metrics).__name__}") from None
    for index, item in enumerate(items):
        if item is None:
            continue
        if isinstance(item, str) and item.lower() in _AUTO:
            continue
        try:
            get(item)
        except (ValueError, TypeError) as error:
            raise type(error)(f"metrics[{index}]: {str(error).removeprefix('metrics: ')}") from None
    return items


def resolve(metrics: Sequence, y_shape: tuple[int, ...], units: int, loss_name: str) -> list[tuple[str, str]]:
    """``(log name, backend metric name)`` pairs for compiled metrics, given the targets' shape as the user gave it.

    Follows Keras 3's ``compile_utils.get_metric`` for ``"accuracy"``, uses Keras' naming (the string given, else
    the object's name, de-duplicated with ``_1``, ``_2`` suffixes), and rejects metrics whose targets cannot be the
    same array as the loss's (class labels for the sparse loss, ``(n, units)`` rows otherwise).
    """
    resolved: list[tuple[str, str]] = []
    seen: dict[str, int] = {"loss": 1}  # the loss is logged as "loss": a metric of that name becomes "loss_1"
    for index, item in enumerate(metrics):
        if item is None:
            continue
        if isinstance(item, str) and item.lower() in _AUTO:
            y_rank, y_last = len(y_shape), (y_shape[-1] if y_shape else 1)
            if units == 1:
                canonical = "binary_accuracy"
            elif y_rank < 2 or (y_last == 1 and units > 1):
                canonical = "sparse_categorical_accuracy"
            else:
                canonical = "categorical_accuracy"
            name = item
        elif isinstance(item, str):
            canonical, name = _canonical_of_string(item), item
        else:
            obj = get(item)
            if isinstance(obj, Metric):
                canonical, name = obj.canonical, obj.name
            else:
                canonical = _CANONICAL_OF_FUNCTION[obj]
                name = obj.__name__
        wants_labels = canonical == "sparse_categorical_accuracy"
        if wants_labels != (loss_name == SPARSE):
            if wants_labels:
                raise ValueError(
                    f"metrics[{index}]: {name!r} needs integer class labels, but with loss {loss_name!r} the targets "
                    f"are rows of shape (n, {units}); use 'categorical_accuracy' or 'accuracy'"
                )
            raise ValueError(
                f"metrics[{index}]: {name!r} needs targets of shape (n, {units}), but with "
                f"sparse_categorical_crossentropy the targets are class labels; use 'sparse_categorical_accuracy' "
                "or 'accuracy'"
            )
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name] - 1}"
        else:
            seen[name] = 1
        resolved.append((name, canonical))
    return resolved


def serialize(metric):
    """A JSON-able form: strings as given, function names, ``{"class_name", "config"}`` for metric objects."""
    if isinstance(metric, str) or metric is None:
        return metric
    if isinstance(metric, Metric):
        return {"class_name": type(metric).__name__, "config": metric.get_config()}
    if callable(metric) and metric in _CANONICAL_OF_FUNCTION:
        return _CANONICAL_OF_FUNCTION[metric]
    raise ValueError(f"metrics: cannot serialize {metric!r}")


def deserialize(config):
    """Inverse of ``serialize``: strings stay strings (``compile`` resolves them), dicts become metric objects."""
    if isinstance(config, str) or config is None:
        return config
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"metrics: expected a name or a dict with 'class_name' and 'config', got {config!r}")
    name = config["class_name"]
    if name not in _CLASSES:
        raise ValueError(f"metrics: unknown metric class {name!r}; expected one of {', '.join(_CLASSES)}")
    return _CLASSES[name].from_config(config.get("config") or {})


# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
