"""Keras' loss functions: per-sample losses (the class axis reduced) of arrays of any rank."""

from __future__ import annotations

import numpy as np

from cyneuron.backend.base import LossSpec
from cyneuron.backend.validation import check_loss as _check_spec
from cyneuron.losses.base import SPARSE, _check_axis, _values


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


