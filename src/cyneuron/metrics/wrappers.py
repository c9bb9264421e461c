"""The per-sample metrics: accuracies, top-k, the regression and probabilistic ones, as Keras' classes and
functions. Each is the weighted mean of a per-sample function; ``_kernel`` names the compiled step's metric
when it computes the same thing (the default options), so ``fit`` runs it inside the training step."""

from __future__ import annotations

import numpy as np

from cyneuron import losses as _losses
from cyneuron.backend.reference import metrics as _reference
from cyneuron.backend.specs import MetricSpec
from cyneuron.metrics.base import Mean, MeanMetricWrapper, as_array, metric_dtype


def _float_pred(y_pred) -> np.ndarray:
    array = as_array(y_pred, name="y_pred")
    return array if array.dtype in (np.float32, np.float64) else array.astype(metric_dtype(None))


# ------------------------------------------------------------------ functions
def accuracy(y_true, y_pred) -> np.ndarray:
    """1.0 where ``y_true == y_pred`` element by element, else 0.0."""
    pred = _float_pred(y_pred)
    return _reference.accuracy(as_array(y_true, name="y_true"), pred, metric_dtype(None))


def binary_accuracy(y_true, y_pred, threshold: float = 0.5) -> np.ndarray:
    """1.0 where ``y_pred > threshold`` equals ``y_true`` (element by element)."""
    return _reference.binary_accuracy(
        as_array(y_true, name="y_true"), _float_pred(y_pred), threshold, metric_dtype(None)
    )


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """Per sample, 1.0 where the arg-max of ``y_pred`` is the arg-max of the one-hot ``y_true``."""
    return _reference.categorical_accuracy(as_array(y_true, name="y_true"), _float_pred(y_pred), metric_dtype(None))


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """Per sample, 1.0 where the arg-max of ``y_pred`` is the integer label ``y_true``."""
    return _reference.sparse_categorical_accuracy(
        as_array(y_true, name="y_true"), _float_pred(y_pred), metric_dtype(None)
    )


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k: expected a positive integer, got {k!r}")
    return int(k)


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5) -> np.ndarray:
    """Per sample, 1.0 where the one-hot target's class is among the k highest predictions."""
    return _reference.top_k_categorical_accuracy(
        as_array(y_true, name="y_true"), _float_pred(y_pred), _check_k(k), metric_dtype(None)
    )


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5, from_sorted_ids: bool = False) -> np.ndarray:
    """Per sample, 1.0 where the integer label is among the k highest predictions (or, with
    ``from_sorted_ids``, among the first k ids of ``y_pred``)."""
    k = _check_k(k)
    pred = as_array(y_pred, name="y_pred")
    if from_sorted_ids:
        labels = as_array(y_true, name="y_true").reshape(-1)
        return np.any(labels[:, None] == pred.reshape(labels.shape[0], -1)[:, :k], axis=1).astype(metric_dtype(None))
    return _reference.sparse_top_k_categorical_accuracy(
        as_array(y_true, name="y_true"), _float_pred(pred), k, metric_dtype(None)
    )


# ------------------------------------------------------------------ classes
class _Wrapper(MeanMetricWrapper):
    """A Keras per-sample metric class: ``_config`` lists the options ``get_config`` reports."""

    _config: tuple[str, ...] = ()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, **{key: getattr(self, key) for key in self._config}}


class Accuracy(_Wrapper):
    """How often predictions equal the targets (exactly)."""

    _kernel = MetricSpec("accuracy")

    def __init__(self, name: str = "accuracy", dtype=None) -> None:
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(_Wrapper):
    """How often ``y_pred > threshold`` matches the 0/1 targets."""

    _config = ("threshold",)

    def __init__(self, name: str = "binary_accuracy", dtype=None, threshold: float = 0.5) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)):
            raise TypeError(f"threshold: expected a number, got {type(threshold).__name__}")
        if not 0 <= threshold <= 1:
            raise ValueError(f"threshold: expected a value in [0, 1], got {threshold!r}")
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold
        self._kernel = MetricSpec("binary_accuracy", float(threshold))


class CategoricalAccuracy(_Wrapper):
    """How often the arg-max of the predictions matches the arg-max of one-hot targets."""

    _kernel = MetricSpec("categorical_accuracy")

    def __init__(self, name: str = "categorical_accuracy", dtype=None) -> None:
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(_Wrapper):
    """How often the arg-max of the predictions matches integer labels."""

    _kernel = MetricSpec("sparse_categorical_accuracy")

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype=None) -> None:
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(_Wrapper):
    """How often the one-hot target is among the top ``k`` predictions."""

    _config = ("k",)

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype=None) -> None:
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=_check_k(k))
        self.k = k
        self._kernel = MetricSpec("top_k_categorical_accuracy", float(k))


class SparseTopKCategoricalAccuracy(_Wrapper):
    """How often the integer label is among the top ``k`` predictions."""

    def __init__(
        self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids: bool = False
    ) -> None:
        super().__init__(
            sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=_check_k(k), from_sorted_ids=from_sorted_ids
        )
        self.k = k
        self.from_sorted_ids = from_sorted_ids
        self._kernel = None if from_sorted_ids else MetricSpec("sparse_top_k_categorical_accuracy", float(k))

    def get_config(self) -> dict:
        config = {"name": self.name, "dtype": self.dtype, "k": self.k}
        if self.from_sorted_ids:
            config["from_sorted_ids"] = True
        return config


def _loss_metric(class_name: str, function, default_name: str, doc: str):
    """A metric class that averages a loss function with its default options (Keras' regression,
    probabilistic and hinge metrics)."""

    def __init__(self, name: str = default_name, dtype=None) -> None:
        _Wrapper.__init__(self, function, name=name, dtype=dtype)

    return type(
        class_name,
        (_Wrapper,),
        {"__init__": __init__, "__doc__": doc, "__module__": __name__, "_kernel": MetricSpec(function.__name__)},
    )


MeanSquaredError = _loss_metric(
    "MeanSquaredError", _losses.mean_squared_error, "mean_squared_error", "Mean of the squared errors."
)
MeanAbsoluteError = _loss_metric(
    "MeanAbsoluteError", _losses.mean_absolute_error, "mean_absolute_error", "Mean of the absolute errors."
)
MeanAbsolutePercentageError = _loss_metric(
    "MeanAbsolutePercentageError",
    _losses.mean_absolute_percentage_error,
    "mean_absolute_percentage_error",
    "Mean absolute percentage error.",
)
MeanSquaredLogarithmicError = _loss_metric(
    "MeanSquaredLogarithmicError",
    _losses.mean_squared_logarithmic_error,
    "mean_squared_logarithmic_error",
    "Mean squared logarithmic error.",
)
LogCoshError = _loss_metric("LogCoshError", _losses.log_cosh, "logcosh", "Mean log-cosh error.")
KLDivergence = _loss_metric("KLDivergence", _losses.kl_divergence, "kl_divergence", "Mean KL divergence.")
Poisson = _loss_metric("Poisson", _losses.poisson, "poisson", "Mean Poisson loss.")
Hinge = _loss_metric("Hinge", _losses.hinge, "hinge", "Mean hinge loss.")
SquaredHinge = _loss_metric("SquaredHinge", _losses.squared_hinge, "squared_hinge", "Mean squared hinge loss.")
CategoricalHinge = _loss_metric(
    "CategoricalHinge", _losses.categorical_hinge, "categorical_hinge", "Mean categorical hinge loss."
)


def _cosine(y_true, y_pred, axis=-1):
    pred = _float_pred(y_pred)
    return _reference.cosine_similarity(as_array(y_true, pred.dtype, "y_true"), pred, axis)


class CosineSimilarity(_Wrapper):
    """Mean cosine similarity between targets and predictions (+1: same direction)."""

    _kernel = MetricSpec("cosine_similarity")

    def __init__(self, name: str = "cosine_similarity", dtype=None, axis: int = -1) -> None:
        super().__init__(_cosine, name=name, dtype=dtype, axis=axis)
        self.axis = axis
        if axis not in (-1,):
            self._kernel = None


class RootMeanSquaredError(Mean):
    """``sqrt`` of the (weighted) mean of the squared errors over every element."""

    def __init__(self, name: str = "root_mean_squared_error", dtype=None) -> None:
        super().__init__(name=name, dtype=dtype)

    # the compiled step sums per-sample MSE; fit takes the square root of the epoch's mean
    _kernel = MetricSpec("mean_squared_error")
    _kernel_sqrt = True

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        pred = _float_pred(y_pred)
        y, pred = _losses._reference.same_rank(as_array(y_true, pred.dtype, "y_true"), pred)
        super().update_state(np.square(y - pred), sample_weight)

    def result(self):
        return self._dtype.type(np.sqrt(super().result()))


class BinaryCrossentropy(_Wrapper):
    """Mean binary cross-entropy."""

    _config = ("from_logits", "label_smoothing")

    def __init__(self, name: str = "binary_crossentropy", dtype=None, from_logits: bool = False, label_smoothing=0):
        super().__init__(
            _losses.binary_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
        )
        self.from_logits, self.label_smoothing = from_logits, label_smoothing
        self._kernel = None if from_logits or label_smoothing else MetricSpec("binary_crossentropy")


class CategoricalCrossentropy(_Wrapper):
    """Mean categorical cross-entropy."""

    _config = ("from_logits", "label_smoothing", "axis")

    def __init__(
        self, name: str = "categorical_crossentropy", dtype=None, from_logits: bool = False, label_smoothing=0, axis=-1
    ):
        super().__init__(
            _losses.categorical_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis
        self._kernel = None if from_logits or label_smoothing or axis != -1 else MetricSpec("categorical_crossentropy")


class SparseCategoricalCrossentropy(_Wrapper):
    """Mean sparse categorical cross-entropy (ignored labels weigh 0)."""

    _config = ("from_logits", "ignore_class", "axis")

    def __init__(
        self,
        name: str = "sparse_categorical_crossentropy",
        dtype=None,
        from_logits: bool = False,
        ignore_class=None,
        axis: int = -1,
    ):
        super().__init__(self._values, name=name, dtype=dtype)
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis
        self._kernel = (
            None
            if from_logits or ignore_class is not None or axis != -1
            else MetricSpec("sparse_categorical_crossentropy")
        )

    def _values(self, y_true, y_pred):
        spec = _losses.LossSpec(_losses.SPARSE, bool(self.from_logits), ignore_class=self.ignore_class)
        return _losses._values(spec, y_true, y_pred, self.axis)
