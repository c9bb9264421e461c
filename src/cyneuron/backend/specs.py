"""Names and small value types shared by the backend interface, its checks and the front end."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPSILON = 1e-7

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")
LOSSES = (
    "mean_squared_error",
    "mean_absolute_error",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
)
METRICS = (
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "mean_squared_error",
    "mean_absolute_error",
)
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True)
class Stage:
    """One step of a network's forward pass: an optional dense product, then an activation.

    ``kernel`` ``(in, units)`` and ``bias`` ``(units,)`` are the model's own weight
    arrays: a network reads and updates them in place and never replaces them.
    A stage with ``kernel=None`` is a bare activation (Keras' ``Activation`` layer);
    ``bias=None`` with a kernel is a dense layer built with ``use_bias=False``.
    """

    activation: str
    kernel: np.ndarray | None = None
    bias: np.ndarray | None = None


@dataclass(frozen=True)
class LossSpec:
    """A loss by canonical name, and whether the model's output is logits."""

    name: str
    from_logits: bool = False


@dataclass(frozen=True)
class SGDSpec:
    """SGD hyperparameters, already validated by the front end."""

    learning_rate: float
    momentum: float = 0.0
    nesterov: bool = False
