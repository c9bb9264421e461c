"""Confusion-matrix metrics (``Precision``, ``Recall``, ``AUC``, ``F1Score``, ``FBetaScore``,
``TruePositives`` ...): counts per threshold accumulated in NumPy, Keras' formulas for the results.

They are not per-sample means, so ``fit`` / ``evaluate`` update them in Python from each batch's
predictions (see docs/architecture.md, "Metrics")."""

from __future__ import annotations

from enum import Enum

import numpy as np

from cyneuron.backend.reference import metrics as _reference
from cyneuron.backend.specs import EPSILON
from cyneuron.metrics.base import Metric, as_array


class AUCCurve(str, Enum):
    """The curves of ``AUC`` (compare equal to their names)."""

    ROC = "ROC"
    PR = "PR"
    PRGAIN = "PRGAIN"


class AUCSummationMethod(str, Enum):
    """How ``AUC`` sums its Riemann terms (compare equal to their names)."""

    INTERPOLATION = "interpolation"
    MAJORING = "majoring"
    MINORING = "minoring"


def _thresholds(thresholds, default: float) -> list[float]:
    if thresholds is None:
        return [float(default)]
    values = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds]
    bad = [t for t in values if t is None or not 0 <= t <= 1]
    if bad:
        raise ValueError(f"Threshold values must be in [0, 1]. Received: {bad}")
    return [float(t) for t in values]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


class _Counts(Metric):
    """The confusion counts named in ``_kinds`` at ``thresholds`` (one result per threshold)."""

    _kinds: tuple[str, ...] = ()

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None, *, default=0.5) -> None:
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        self.thresholds = _thresholds(thresholds, default if top_k is None else _reference.NEG_INF)
        self._evenly = _reference.evenly_distributed(self.thresholds)
        names = {"tp": "true_positives", "fp": "false_positives", "tn": "true_negatives", "fn": "false_negatives"}
        self._counts = {kind: self.add_variable((len(self.thresholds),), name=names[kind]) for kind in self._kinds}
        for kind, variable in self._counts.items():
            setattr(self, names[kind], variable)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = as_array(y_pred, name="y_pred")
        if self.class_id is not None and y_pred.ndim == 1:
            raise ValueError(
                "When class_id is provided, y_pred must be a 2D array with shape (num_samples, num_classes), "
                f"found shape: {y_pred.shape}"
            )
        counts = _reference.confusion_counts(
            as_array(y_true, name="y_true"),
            y_pred,
            np.array(self.thresholds),
            evenly=self._evenly,
            sample_weight=sample_weight,
            top_k=self.top_k,
            class_id=self.class_id,
        )
        for kind, variable in self._counts.items():
            variable += counts[kind].astype(variable.dtype)

    def _one(self, value):
        value = np.asarray(value, dtype=self._dtype)
        return value[0] if len(self.thresholds) == 1 else value

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }


class _Condition(_Counts):
    def __init__(self, thresholds=None, name=None, dtype=None) -> None:
        super().__init__(thresholds=thresholds, name=name, dtype=dtype)

    def result(self):
        return self._one(self._counts[self._kinds[0]])

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "thresholds": self.init_thresholds}


class TruePositives(_Condition):
    """Weighted count of positives predicted positive (``y_pred > threshold``)."""

    _kinds = ("tp",)


class FalsePositives(_Condition):
    """Weighted count of negatives predicted positive."""

    _kinds = ("fp",)


class TrueNegatives(_Condition):
    """Weighted count of negatives predicted negative."""

    _kinds = ("tn",)


class FalseNegatives(_Condition):
    """Weighted count of positives predicted negative."""

    _kinds = ("fn",)


class Precision(_Counts):
    """``tp / (tp + fp)`` at ``thresholds`` (0.5), optionally over the ``top_k`` predictions or one ``class_id``."""

    _kinds = ("tp", "fp")

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None) -> None:
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self):
        return self._one(_reference.divide_no_nan(self.true_positives, self.true_positives + self.false_positives))


class Recall(_Counts):
    """``tp / (tp + fn)`` at ``thresholds`` (0.5), optionally over the ``top_k`` predictions or one ``class_id``."""

    _kinds = ("tp", "fn")

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None) -> None:
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self):
        return self._one(_reference.divide_no_nan(self.true_positives, self.true_positives + self.false_negatives))


class AUC(Metric):
    """Area under the ROC (or PR, PR-gain) curve by a Riemann sum over ``num_thresholds`` thresholds."""

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str | None = None,
        dtype=None,
        thresholds=None,
        multi_label: bool = False,
        num_labels: int | None = None,
        label_weights=None,
        from_logits: bool = False,
    ) -> None:
        try:
            curve_value = AUCCurve(str(getattr(curve, "value", curve)).upper())
        except ValueError:
            raise ValueError(
                f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC", "PRGAIN"]'
            ) from None
        try:
            summation = AUCSummationMethod(str(getattr(summation_method, "value", summation_method)).lower())
        except ValueError:
            raise ValueError(
                f'Invalid AUC summation method value: "{summation_method}". '
                'Expected values are ["interpolation", "majoring", "minoring"]'
            ) from None
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(_thresholds(thresholds, 0.5))
            self.num_thresholds = len(inner) + 2
            self._evenly = _reference.evenly_distributed(np.array([0.0, *inner, 1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError(
                    f"Argument `num_thresholds` must be an integer > 1. Received: num_thresholds={num_thresholds}"
                )
            self.num_thresholds = num_thresholds
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self._thresholds = np.array([0.0 - EPSILON, *inner, 1.0 + EPSILON])
        self.curve = curve_value
        self.summation_method = summation
        super().__init__(name=name, dtype=dtype)
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, dtype=self._dtype)
        self._from_logits = from_logits
        self._built = False
        if multi_label:
            if num_labels:
                self._build(num_labels)
        else:
            if num_labels:
                raise ValueError("`num_labels` is needed only when `multi_label` is True.")
            self._build(None)

    @property
    def thresholds(self) -> list[float]:
        return list(self._thresholds)

    def _build(self, labels: int | None) -> None:
        shape = (self.num_thresholds,) if labels is None else (self.num_thresholds, labels)
        self._variables.clear()
        self.true_positives = self.add_variable(shape, name="true_positives")
        self.false_positives = self.add_variable(shape, name="false_positives")
        self.true_negatives = self.add_variable(shape, name="true_negatives")
        self.false_negatives = self.add_variable(shape, name="false_negatives")
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        pred = as_array(y_pred, name="y_pred").astype(np.float32)
        if not self._built:
            if pred.ndim != 2:
                raise ValueError(
                    f"`y_pred` must have rank 2 when `multi_label=True`. Found rank {pred.ndim}. "
                    f"Full shape received for `y_pred`: {pred.shape}"
                )
            self._build(pred.shape[1])
        if self._from_logits:
            pred = _sigmoid(pred)
        counts = _reference.confusion_counts(
            as_array(y_true, name="y_true"),
            pred,
            self._thresholds,
            evenly=self._evenly,
            sample_weight=sample_weight,
            multi_label=self.multi_label,
            label_weights=None if self.multi_label else self.label_weights,
        )
        for kind, variable in (
            ("tp", self.true_positives),
            ("fp", self.false_positives),
            ("tn", self.true_negatives),
            ("fn", self.false_negatives),
        ):
            variable += counts[kind].astype(variable.dtype)

    def _by_label(self, terms: np.ndarray):
        if self.multi_label:
            by_label = np.sum(terms, axis=0)
            if self.label_weights is None:
                return self._dtype.type(np.mean(by_label))
            return self._dtype.type(
                _reference.divide_no_nan(np.sum(by_label * self.label_weights), np.sum(self.label_weights))
            )
        return self._dtype.type(np.sum(terms))

    def _interpolate_pr_auc(self):
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        n = self.num_thresholds
        dtp = tp[: n - 1] - tp[1:]
        p = tp + fp
        dp = p[: n - 1] - p[1:]
        slope = _reference.divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[: n - 1] > 0) & (p[1:] > 0), _reference.divide_no_nan(p[: n - 1], np.maximum(p[1:], 0)), 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            increment = _reference.divide_no_nan(
                slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0)
            )
        return self._by_label(increment)

    def result(self):
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        recall = _reference.divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _reference.divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _reference.divide_no_nan(tp, tp + fp)
        else:
            scale = _reference.divide_no_nan(tp + fn, tn + fp)
            recall_gain = np.where(tp == 0, 0.0, 1.0 - scale * _reference.divide_no_nan(fn, tp))
            precision_gain = np.where(tp == 0, 1.0, 1.0 - scale * _reference.divide_no_nan(fp, tp))
            x, y = np.maximum(recall_gain, 0.0), precision_gain
        n = self.num_thresholds
        if self.summation_method == "interpolation":
            heights = (y[: n - 1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[: n - 1], y[1:])
        else:
            heights = np.maximum(y[: n - 1], y[1:])
        return self._by_label((x[: n - 1] - x[1:]) * heights)

    def reset_state(self) -> None:
        if self._built:
            super().reset_state()

    def get_config(self) -> dict:
        config = {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve.value,
            "summation_method": self.summation_method.value,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
            "from_logits": self._from_logits,
        }
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


class FBetaScore(Metric):
    """F-beta score per class (``average=None``), or micro / macro / weighted averaged."""

    def __init__(self, average=None, beta: float = 1.0, threshold=None, name: str = "fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(
                "Invalid `average` argument value. Expected one of: {None, 'micro', 'macro', 'weighted'}. "
                f"Received: average={average}"
            )
        if not isinstance(beta, float):
            raise ValueError(
                f"Invalid `beta` argument value. It should be a Python float. Received: beta={beta} of type "
                f"'{type(beta)}'"
            )
        if beta <= 0.0:
            raise ValueError(f"Invalid `beta` argument value. It should be > 0. Received: beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError(
                    "Invalid `threshold` argument value. It should be a Python float. "
                    f"Received: threshold={threshold} of type '{type(threshold)}'"
                )
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError(
                    "Invalid `threshold` argument value. It should verify 0 < threshold <= 1. "
                    f"Received: threshold={threshold}"
                )
        self.average = average
        self.beta = beta
        self.threshold = threshold
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, y_true_shape, y_pred_shape) -> None:
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise ValueError(
                "FBetaScore expects 2D inputs with shape (batch_size, output_dim). Received input "
                f"shapes: y_pred.shape={y_pred_shape} and y_true.shape={y_true_shape}."
            )
        shape = () if self.average == "micro" else (y_pred_shape[-1],)
        self.true_positives = self.add_variable(shape, name="true_positives")
        self.false_positives = self.add_variable(shape, name="false_positives")
        self.false_negatives = self.add_variable(shape, name="false_negatives")
        self.intermediate_weights = self.add_variable(shape, name="intermediate_weights")
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true = as_array(y_true, self._dtype, "y_true")
        y_pred = as_array(y_pred, self._dtype, "y_pred")
        if not self._built:
            self._build(y_true.shape, y_pred.shape)
        if self.threshold is None:
            top = np.max(y_pred, axis=-1, keepdims=True)
            positive = (y_pred >= top) & (np.abs(y_pred) > 1e-9)
        else:
            positive = y_pred > self.threshold
        y_pred = positive.astype(self._dtype)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=self._dtype)

        def weighted_sum(value):
            if weights is not None:
                value = value * np.expand_dims(weights, 1)
            return np.sum(value, axis=self.axis)

        self.true_positives += weighted_sum(y_pred * y_true)
        self.false_positives += weighted_sum(y_pred * (1 - y_true))
        self.false_negatives += weighted_sum((1 - y_pred) * y_true)
        self.intermediate_weights += weighted_sum(y_true)

    def result(self):
        if not self._built:
            return self._dtype.type(0.0)
        eps = EPSILON
        precision = self.true_positives / (self.true_positives + self.false_positives + eps)
        recall = self.true_positives / (self.true_positives + self.false_negatives + eps)
        beta2 = self.beta**2
        score = precision * recall / (beta2 * precision + recall + eps) * (1 + beta2)
        if self.average == "weighted":
            weights = self.intermediate_weights / (np.sum(self.intermediate_weights) + eps)
            return self._dtype.type(np.sum(score * weights))
        if self.average is not None:
            return self._dtype.type(np.mean(score))
        return np.asarray(score, dtype=self._dtype)

    def reset_state(self) -> None:
        super().reset_state()

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "average": self.average,
            "beta": self.beta,
            "threshold": self.threshold,
        }


class F1Score(FBetaScore):
    """F1 score (``FBetaScore`` with beta 1)."""

    def __init__(self, average=None, threshold=None, name: str = "f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config


class _SensitivitySpecificity(Metric):
    """Confusion counts at ``num_thresholds`` evenly spaced thresholds in [0, 1] (one threshold, 0.5, when
    ``num_thresholds`` is 1); a subclass reports the best value of one rate where another meets ``value``."""

    def __init__(self, value, num_thresholds: int = 200, class_id=None, name=None, dtype=None) -> None:
        super().__init__(name=name, dtype=dtype)
        if num_thresholds <= 0:
            raise ValueError(
                f"Argument `num_thresholds` must be an integer > 0. Received: num_thresholds={num_thresholds}"
            )
        self.value = value
        self.class_id = class_id
        if num_thresholds == 1:
            self.thresholds, self._evenly = [0.5], False
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.thresholds, self._evenly = [0.0, *inner, 1.0], True
        size = (len(self.thresholds),)
        self.true_positives = self.add_variable(size, name="true_positives")
        self.false_positives = self.add_variable(size, name="false_positives")
        self.true_negatives = self.add_variable(size, name="true_negatives")
        self.false_negatives = self.add_variable(size, name="false_negatives")

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        counts = _reference.confusion_counts(
            as_array(y_true, name="y_true"),
            as_array(y_pred, name="y_pred"),
            np.array(self.thresholds),
            evenly=self._evenly,
            sample_weight=sample_weight,
            class_id=self.class_id,
        )
        self.true_positives += counts["tp"].astype(self._dtype)
        self.false_positives += counts["fp"].astype(self._dtype)
        self.true_negatives += counts["tn"].astype(self._dtype)
        self.false_negatives += counts["fn"].astype(self._dtype)

    def _rates(self) -> dict[str, np.ndarray]:
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        recall = _reference.divide_no_nan(tp, tp + fn)  # = sensitivity
        return {
            "recall": recall,
            "sensitivity": recall,
            "precision": _reference.divide_no_nan(tp, tp + fp),
            "specificity": _reference.divide_no_nan(tn, tn + fp),
        }

    def _best(self, constrained: str, dependent: str):
        """The largest ``dependent`` rate over the thresholds where ``constrained`` >= value (0 when none)."""
        rates = self._rates()
        feasible = rates[constrained] >= self.value
        return self._dtype.type(np.max(np.where(feasible, rates[dependent], 0), initial=0))

    def get_config(self) -> dict:
        return {**super().get_config(), "class_id": self.class_id}


def _check_rate(value, name: str) -> None:
    if value < 0 or value > 1:
        raise ValueError(f"Argument `{name}` must be in the range [0, 1]. Received: {name}={value}")


class SensitivityAtSpecificity(_SensitivitySpecificity):
    """The best sensitivity (recall) over the thresholds whose specificity is >= ``specificity``."""

    def __init__(self, specificity, num_thresholds: int = 200, class_id=None, name=None, dtype=None) -> None:
        _check_rate(specificity, "specificity")
        self.specificity, self.num_thresholds = specificity, num_thresholds
        super().__init__(specificity, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._best("specificity", "sensitivity")

    def get_config(self) -> dict:
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "specificity": self.specificity}


class SpecificityAtSensitivity(_SensitivitySpecificity):
    """The best specificity over the thresholds whose sensitivity (recall) is >= ``sensitivity``."""

    def __init__(self, sensitivity, num_thresholds: int = 200, class_id=None, name=None, dtype=None) -> None:
        _check_rate(sensitivity, "sensitivity")
        self.sensitivity, self.num_thresholds = sensitivity, num_thresholds
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._best("sensitivity", "specificity")

    def get_config(self) -> dict:
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "sensitivity": self.sensitivity}


class PrecisionAtRecall(_SensitivitySpecificity):
    """The best precision over the thresholds whose recall is >= ``recall``."""

    def __init__(self, recall, num_thresholds: int = 200, class_id=None, name=None, dtype=None) -> None:
        _check_rate(recall, "recall")
        self.recall, self.num_thresholds = recall, num_thresholds
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._best("recall", "precision")

    def get_config(self) -> dict:
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "recall": self.recall}


class RecallAtPrecision(_SensitivitySpecificity):
    """The best recall over the thresholds whose precision is >= ``precision``."""

    def __init__(self, precision, num_thresholds: int = 200, class_id=None, name=None, dtype=None) -> None:
        _check_rate(precision, "precision")
        self.precision, self.num_thresholds = precision, num_thresholds
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._best("precision", "recall")

    def get_config(self) -> dict:
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "precision": self.precision}
