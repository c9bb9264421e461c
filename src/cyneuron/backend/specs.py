"""Names and small value types shared by the backend interface, its checks and the front end."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EPSILON = 1e-7

# Keras 3's activations by name, in the compiled kernels' code order (codes 0-4, the first five, are
# _core's own; the rest are csrc/cyneuron/_activations.pxd's). Softmax and log_softmax act on rows
# (the last axis); all others element by element. Each runs with Keras' default arguments here;
# ACTIVATION_PARAMS lists the ones that take arguments (activation stages and the functions pass them).
ACTIVATIONS = (
    "linear", "relu", "sigmoid", "tanh", "softmax",
    "leaky_relu", "relu6", "elu", "selu", "celu", "gelu", "silu", "softplus", "softsign",
    "hard_sigmoid", "hard_silu", "exponential", "mish", "log_softmax", "hard_tanh", "sparse_plus",
    "squareplus", "soft_shrink", "hard_shrink", "tanh_shrink", "log_sigmoid", "sparse_sigmoid",
)  # fmt: skip
# Kernel-only names after them: Keras' relu with any non-default argument, and threshold (no defaults).
KERNEL_ACTIVATIONS = ACTIVATIONS + ("relu_ext", "threshold")
# Row-wise ones: they normalise over the last axis.
ROW_ACTIVATIONS = ("softmax", "log_softmax")
# The ones whose derivative (at Keras' default arguments) follows from the output alone: a dense or
# conv2d stage fuses these (its backward reads only A); a layer with any other activation runs its
# product with "linear" and then an activation stage, which keeps its input.
FUSED_ACTIVATIONS = (
    "linear", "relu", "sigmoid", "tanh", "softmax",
    "leaky_relu", "relu6", "elu", "selu", "celu", "softplus", "hard_sigmoid", "exponential",
    "log_softmax", "soft_shrink", "hard_shrink", "log_sigmoid", "sparse_sigmoid",
)  # fmt: skip
# The recurrent kinds' kernels know the first five only.
RECURRENT_ACTIVATIONS = ACTIVATIONS[:5]
# Arguments (name, Keras default) by activation; in the kernels they are the numbers f[0], f[1], ...
# (booleans 0/1). relu's max_value None means no cap; a relu with any non-default argument runs the
# "relu_ext" kernel with f = (negative_slope, max_value, threshold, has max_value).
ACTIVATION_PARAMS: dict[str, tuple[tuple[str, Any], ...]] = {
    "relu": (("negative_slope", 0.0), ("max_value", None), ("threshold", 0.0)),
    "leaky_relu": (("negative_slope", 0.2),),
    "elu": (("alpha", 1.0),),
    "celu": (("alpha", 1.0),),
    "gelu": (("approximate", False),),
    "squareplus": (("b", 4.0),),
    "soft_shrink": (("threshold", 0.5),),
    "hard_shrink": (("threshold", 0.5),),
    "threshold": (("threshold", None), ("default_value", None)),
}
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
    such as BatchNormalization, then run in inference mode). ``penalties``: empty, or one
    ``(l1, l2)`` weight penalty per param (``reference/regularizers.py``; ``(0, 0)`` for none);
    ``activity``: the ``(l1, l2)`` penalty on the stage's output (its layer's ``activity_regularizer``).

    ``fold`` > 1 makes it a TimeDistributed stage: a sample is ``fold`` consecutive rows of the
    inner per-sample shapes ``in_shape`` / ``out_shape`` (its flat widths are ``fold * prod(shape)``),
    and the kind runs over ``batch * fold`` rows, statistics (BatchNormalization) included.
    """

    kind: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    params: tuple[np.ndarray, ...] = ()
    state: tuple[np.ndarray, ...] = ()
    trainable: bool = True
    name: str = ""
    penalties: tuple[tuple[float, float], ...] = ()
    activity: tuple[float, float] = (0.0, 0.0)
    fold: int = 1


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


def activation_kernel(name: str, params: Mapping[str, Any] | None = None) -> tuple[int, tuple[float, ...]]:
    """The compiled kernel code (an index of KERNEL_ACTIVATIONS) and its numbers for an activation
    and its arguments (missing ones take Keras' defaults); the arguments are already validated."""
    params = dict(params or {})
    values = {key: params.get(key, default) for key, default in ACTIVATION_PARAMS.get(name, ())}
    if name == "relu":
        if values == {"negative_slope": 0.0, "max_value": None, "threshold": 0.0}:
            return KERNEL_ACTIVATIONS.index("relu"), ()
        cap = values["max_value"]
        numbers = (values["negative_slope"], 0.0 if cap is None else cap, values["threshold"], float(cap is not None))
        return KERNEL_ACTIVATIONS.index("relu_ext"), tuple(float(v) for v in numbers)
    return KERNEL_ACTIVATIONS.index(name), tuple(float(v) for v in values.values())
