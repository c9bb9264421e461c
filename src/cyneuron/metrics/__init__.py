"""Metrics, as in ``keras.metrics``: Keras' metric object API and its metric classes and functions.

A metric object accumulates state with ``update_state(y_true, y_pred, sample_weight=None)``, reports
``result()``, restarts with ``reset_state()`` and exposes its state arrays as ``variables``; calling it
updates and returns the result. Standalone, every metric computes in NumPy with Keras' formulas
(``backend/reference/metrics.py``).

In ``compile(metrics=[...])`` a metric is a string (``"accuracy"``, ``"acc"``, ``"mse"``, a function or
class name in either case convention: ``"binary_accuracy"``, ``"AUC"``, ``"auc"`` ...), a metric object or
class, or a metric function. As in Keras 3, ``"accuracy"`` / ``"acc"`` become binary accuracy when the
model has one output unit, sparse categorical accuracy when the targets are class labels (one dimension
fewer than the predictions, or a last dimension of 1), and categorical accuracy otherwise. Logs use the
string the user gave (``"acc"`` logs as ``acc``) or the object's ``name``.

The per-sample metrics (accuracies, top-k, the loss-valued ones with default options, cosine similarity,
RMSE) run inside the compiled training step. The others (``Precision``, ``Recall``, ``AUC``, ``F1Score``,
the "X at Y" metrics, ``R2Score``, per-sample metrics with non-default options, metric functions) and every
``weighted_metrics=`` entry are updated in Python once per batch from the step's output (``Compiled.obj``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple

from cyneuron.backend.specs import SPARSE_METRICS, MetricSpec
from cyneuron.losses import (
    SPARSE,
    binary_crossentropy,
    categorical_crossentropy,
    categorical_hinge,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)
from cyneuron.metrics.base import Mean, MeanMetricWrapper, Metric, Sum, _snake_case
from cyneuron.metrics.confusion import (
    AUC,
    AUCCurve,
    AUCSummationMethod,
    F1Score,
    FalseNegatives,
    FalsePositives,
    FBetaScore,
    Precision,
    PrecisionAtRecall,
    Recall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    TrueNegatives,
    TruePositives,
)
from cyneuron.metrics.regression import R2Score
from cyneuron.metrics.wrappers import (
    Accuracy,
    BinaryAccuracy,
    BinaryCrossentropy,
    CategoricalAccuracy,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    KLDivergence,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    RootMeanSquaredError,
    SparseCategoricalAccuracy,
    SparseCategoricalCrossentropy,
    SparseTopKCategoricalAccuracy,
    SquaredHinge,
    TopKCategoricalAccuracy,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)

_CLASS_LIST = (
    Mean,
    Sum,
    MeanMetricWrapper,
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    MeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    RootMeanSquaredError,
    CosineSimilarity,
    LogCoshError,
    KLDivergence,
    Poisson,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
    TruePositives,
    FalsePositives,
    TrueNegatives,
    FalseNegatives,
    Precision,
    Recall,
    AUC,
    FBetaScore,
    F1Score,
    PrecisionAtRecall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    R2Score,
)
_FUNCTION_LIST = (
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    top_k_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    mean_squared_error,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_logarithmic_error,
    log_cosh,
    huber,
    kl_divergence,
    poisson,
    binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
    hinge,
    squared_hinge,
    categorical_hinge,
)

__all__ = [
    "Metric",
    *(cls.__name__ for cls in _CLASS_LIST if cls is not Metric),
    *(function.__name__ for function in _FUNCTION_LIST),
    "AUCCurve",
    "AUCSummationMethod",
    "get",
    "serialize",
    "deserialize",
]

_CLASSES = {cls.__name__: cls for cls in _CLASS_LIST}
_FUNCTIONS: dict[str, Callable] = {function.__name__: function for function in _FUNCTION_LIST}
# Keras' metrics.get: class names, their snake_case (which wins over a function of the same name), aliases
_BY_NAME: dict[str, object] = {**_FUNCTIONS, **_CLASSES}
_BY_NAME.update({_snake_case(cls.__name__): cls for cls in _CLASS_LIST})
_BY_NAME.update(
    {
        "bce": BinaryCrossentropy,
        "BCE": BinaryCrossentropy,
        "mse": MeanSquaredError,
        "MSE": MeanSquaredError,
        "mae": MeanAbsoluteError,
        "MAE": MeanAbsoluteError,
        "mape": MeanAbsolutePercentageError,
        "MAPE": MeanAbsolutePercentageError,
        "msle": MeanSquaredLogarithmicError,
        "MSLE": MeanSquaredLogarithmicError,
    }
)
_FUNCTION_METRIC = {
    accuracy: Accuracy,
    binary_accuracy: BinaryAccuracy,
    categorical_accuracy: CategoricalAccuracy,
    sparse_categorical_accuracy: SparseCategoricalAccuracy,
    top_k_categorical_accuracy: TopKCategoricalAccuracy,
    sparse_top_k_categorical_accuracy: SparseTopKCategoricalAccuracy,
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError,
    log_cosh: LogCoshError,
    kl_divergence: KLDivergence,
    poisson: Poisson,
    binary_crossentropy: BinaryCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    hinge: Hinge,
    squared_hinge: SquaredHinge,
    categorical_hinge: CategoricalHinge,
}
_AUTO = ("accuracy", "acc")


def _valid() -> str:
    return ", ".join(["accuracy", "acc", *sorted(_BY_NAME, key=str.lower)])


def get(identifier):
    """A metric for a name, class, config dict or instance (Keras' ``metrics.get``): names give a new
    instance of the class they name (``"mse"``, ``"auc"``, ``"Precision"``) or the function
    (``"huber"``); functions and instances are returned as they are. Unknown names raise ValueError."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        obj = _BY_NAME.get(identifier)
        if obj is None:
            raise ValueError(
                f"Could not interpret metric identifier: {identifier} (metrics: expected one of {_valid()})"
            )
    else:
        obj = identifier
    if isinstance(obj, type) and issubclass(obj, Metric):
        return obj()
    if isinstance(obj, Metric) or callable(obj):
        return obj
    raise ValueError(f"Could not interpret metric identifier: {identifier}")


class Compiled(NamedTuple):
    """A metric of ``compile(metrics=..., weighted_metrics=...)``: its log name and how it is computed: by the
    compiled step (``spec``; the epoch's value is ``sqrt`` of the mean for RMSE), or, when ``spec`` is None, by
    the metric object ``obj`` updated in Python once per batch (with the batch's sample weights when
    ``weighted``)."""

    name: str
    spec: MetricSpec | None
    sqrt: bool = False
    obj: Metric | None = None
    weighted: bool = False
    given: str = ""  # the name before de-duplication (Keras orders evaluate's list by these)


def _object(item, y_shape: tuple[int, ...], units: int):
    """The metric object of a compile entry, ``"accuracy"`` resolved as Keras' ``get_metric`` does; a function
    without a metric class of its own is wrapped in ``MeanMetricWrapper`` (as Keras does)."""
    if isinstance(item, str) and item.lower() in _AUTO:
        y_rank, y_last = len(y_shape), (y_shape[-1] if y_shape else 1)
        if units == 1:
            return BinaryAccuracy(name=item)
        if y_rank < 2 or (y_last == 1 and units > 1):
            return SparseCategoricalAccuracy(name=item)
        return CategoricalAccuracy(name=item)
    obj = get(item)
    if not isinstance(obj, Metric):
        metric_class = _FUNCTION_METRIC.get(obj)
        obj = metric_class() if metric_class is not None else MeanMetricWrapper(obj, name=obj.__name__)
    return obj


def check_identifiers(metrics, argument: str = "metrics") -> list:
    """Validate ``compile(metrics=...)`` (or ``weighted_metrics=``) eagerly (unknown names fail at compile
    time); returns a list."""
    if metrics is None:
        return []
    if isinstance(metrics, (str, Metric)) or callable(metrics):
        raise TypeError(
            f"{argument}: expected a list of metrics, got {metrics!r} (wrap it in a list: [{metrics!r}])"
        )
    if isinstance(metrics, dict):
        raise TypeError(
            f"{argument}: a dict of metrics per output is not supported (Sequential models have one output)"
        )
    try:
        items = list(metrics)
    except TypeError:
        raise TypeError(f"{argument}: expected a list, got {type(metrics).__name__}") from None
    for index, item in enumerate(items):
        if item is None or (isinstance(item, str) and item.lower() in _AUTO):
            continue
        try:
            _check_identifier(item)
        except (ValueError, TypeError) as error:
            raise type(error)(f"{argument}[{index}]: {str(error).removeprefix('metrics: ')}") from None
    return items


def _check_identifier(item) -> None:
    """Raise as ``get`` would, without making the metric (which would take an automatic name, as Keras' do)."""
    if isinstance(item, str):
        if item not in _BY_NAME:
            raise ValueError(f"Could not interpret metric identifier: {item} (metrics: expected one of {_valid()})")
    elif isinstance(item, dict):
        _object(item, (1, 2), 2)
    elif isinstance(item, type) and not issubclass(item, Metric):
        raise ValueError(f"Could not interpret metric identifier: {item} (a class that is not a Metric)")
    elif not (isinstance(item, Metric) or callable(item)):
        raise ValueError(f"Could not interpret metric identifier: {item}")


def _unique(name: str, seen: dict[str, int]) -> str:
    if name in seen:
        seen[name] += 1
        return f"{name}_{seen[name] - 1}"
    seen[name] = 1
    return name


def resolve(
    metrics: Sequence, y_shape: tuple[int, ...], units: int, loss_name: str, weighted_metrics: Sequence = ()
) -> list[Compiled]:
    """The compiled metrics given the targets' shape as the user gave it: ``metrics`` then ``weighted_metrics``.

    Follows Keras 3's ``compile_utils`` (``get_metric`` for ``"accuracy"``; names: the string given, else the
    object's name, de-duplicated with ``_1``, ``_2`` suffixes; a weighted metric whose name is taken becomes
    ``weighted_<name>``, then ``weighted_<name>_1`` ...). A per-sample metric with the compiled step's options
    (``Metric._kernel``) in ``metrics`` runs inside the step, and is rejected when its targets cannot be the
    loss's (class labels for the sparse loss, ``(n, units)`` rows otherwise); every other entry is updated in
    Python (``Compiled.obj``), ``weighted_metrics`` with the sample (or class) weights of each batch.
    """
    resolved: list[Compiled] = []
    seen: dict[str, int] = {"loss": 1}  # the loss is logged as "loss": a metric of that name becomes "loss_1"
    for weighted, entries in ((False, metrics), (True, weighted_metrics or ())):
        for index, item in enumerate(entries):
            if item is None:
                continue
            obj = _object(item, y_shape, units)
            name = given = item if isinstance(item, str) else obj.name
            if isinstance(item, str) and item.lower() not in _AUTO:
                obj.name = item  # as Keras' get_metric: the metric is named by the string given
            spec = None if weighted else obj._kernel
            if spec is not None:
                _check_targets(spec, name, index, units, loss_name)
            name = _unique(f"weighted_{name}", seen) if weighted and name in seen else _unique(name, seen)
            sqrt = spec is not None and bool(getattr(obj, "_kernel_sqrt", False))
            resolved.append(Compiled(name, spec, sqrt, None if spec is not None else obj, weighted, given))
    return resolved


def _check_targets(spec: MetricSpec, name: str, index: int, units: int, loss_name: str) -> None:
    wants_labels = spec.name in SPARSE_METRICS
    if wants_labels == (loss_name == SPARSE):
        return
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


def serialize(metric):
    """A JSON-able form: strings as given, function names, ``{"class_name", "config"}`` for metric objects."""
    if isinstance(metric, str) or metric is None:
        return metric
    if isinstance(metric, Metric):
        return {"class_name": type(metric).__name__, "config": metric.get_config()}
    if callable(metric) and getattr(metric, "__name__", None) in _FUNCTIONS:
        return metric.__name__
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


# Keras' module names for its metrics (``from keras.src.metrics import accuracy_metrics`` ...): this package
# holds them all, so code written against those modules finds its classes and functions here.
accuracy_metrics = regression_metrics = probabilistic_metrics = hinge_metrics = sys.modules[__name__]
confusion_metrics = f_score_metrics = reduction_metrics = metrics_utils = sys.modules[__name__]

# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
