"""Names and small value types shared by the backend interface, its checks and the front end."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EPSILON = 1e-7

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")
LOSSES = (
    "mean_squared_error",
    "mean_absolute_error",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "huber",
    "log_cosh",
    "kl_divergence",
    "poisson",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "cosine_similarity",
)
# Keras' loss reductions; None and "none" (no reduction) only outside training
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None, "none")
# The compiled kernels' reduction codes (_losses.pxd's RED_*); "mean" is "sum_over_batch_size"
REDUCTION_CODES = {"sum_over_batch_size": 0, "mean": 0, "sum": 1, "mean_with_sample_weight": 2}
# Metrics computed per sample inside the training step: the accuracies, top-k, cosine similarity (+cos)
# and every loss but cosine similarity by its name (the loss's default options, per-sample mean)
METRICS = (
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "cosine_similarity",
    *(name for name in LOSSES if name != "cosine_similarity"),
)
# metrics reading int class labels (so only with the sparse loss, whose targets they share)
SPARSE_METRICS = ("sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy", "sparse_categorical_crossentropy")
_FIRST_LOSS_METRIC = METRICS.index(LOSSES[0])
METRIC_CODES = {
    name: (index if index < _FIRST_LOSS_METRIC else _FIRST_LOSS_METRIC + LOSSES.index(name))
    for index, name in enumerate(METRICS)
}
# the parameter a metric reads (binary accuracy's threshold, top-k's k) and its default
METRIC_PARAMS = {"binary_accuracy": 0.5, "top_k_categorical_accuracy": 5, "sparse_top_k_categorical_accuracy": 5}
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True)
class StageSpec:
    """One stage of a network: a layer kind with its shapes, attributes and arrays.

    Data flows between stages as C-ordered rows ``(batch, prod(shape))``; ``in_shape`` and
    ``out_shape`` are the per-sample shapes (no batch axis). ``attrs`` are the kind's
    plain-value settings (an activation name, a rate, an epsilon ...), documented by the
    kind's reference module in ``cyneuron.backend.reference``. ``params`` are the trainable
    arrays and ``state`` the non-trainable ones (BatchNormalization's moving statistics),
    both the model's own arrays: a network reads and updates them in place and never
    replaces them. ``trainable=False`` freezes the params (no update; kinds with a mode,
    such as BatchNormalization, then run in inference mode).
    """

    kind: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    params: tuple[np.ndarray, ...] = ()
    state: tuple[np.ndarray, ...] = ()
    trainable: bool = True
    name: str = ""


@dataclass(frozen=True)
class LossSpec:
    """A loss by canonical name, whether the model's output is logits, and Keras' loss options.

    ``reduction``: one of ``REDUCTIONS`` (``backend/reference/losses.py``'s ``reduce``);
    ``label_smoothing`` (binary and categorical cross-entropy, in [0, 1]); ``delta`` (Huber, > 0);
    ``ignore_class`` (sparse categorical cross-entropy: labels equal to it add nothing and are not
    counted by ``sum_over_batch_size``).
    """

    name: str
    from_logits: bool = False
    reduction: str | None = "sum_over_batch_size"
    label_smoothing: float = 0.0
    delta: float = 1.0
    ignore_class: int | None = None


@dataclass(frozen=True)
class MetricSpec:
    """A per-sample metric by name (``METRICS``) and its parameter (``METRIC_PARAMS``; 0.0 when it has none)."""

    name: str
    param: float = 0.0


@dataclass(frozen=True)
class ScheduleSpec:
    """A learning rate as a function of the step count: ``kind`` and its numbers.

    ``kind`` is ``"constant"`` (``values == (learning_rate,)``) or one of Keras' schedules
    (``exponential_decay``, ``piecewise_constant_decay``, ``inverse_time_decay``,
    ``polynomial_decay``, ``cosine_decay``, ``cosine_decay_restarts``); the layout of
    ``values`` per kind is documented in ``cyneuron.backend.reference.optimizers``.
    """

    kind: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer's kind and hyperparameters, already validated by the front end.

    ``hyper`` holds the kind's own numbers (``momentum``, ``beta_1`` ...; booleans as 0.0 / 1.0);
    the common Keras options are fields, 0.0 meaning "off" for the clipping ones.
    """

    kind: str
    learning_rate: ScheduleSpec
    hyper: Mapping[str, float] = field(default_factory=dict)
    weight_decay: float = 0.0
    clipnorm: float = 0.0
    clipvalue: float = 0.0
    global_clipnorm: float = 0.0
