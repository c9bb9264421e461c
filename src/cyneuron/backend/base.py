"""The backend interface: every number cyneuron computes goes through an ``Ops``.

Two implementations exist: ``numpy_ops.NumpyOps`` (the readable reference, pure
NumPy) and ``cython_ops.CythonOps`` (a thin adaptor over ``cyneuron._kernels``).
Both must give the same numbers; the tests check it kernel by kernel.

Conventions shared by every implementation:

* Arrays are C-contiguous, writeable, float32 or float64 ("the dtype"); every
  array passed to one call has the same dtype. Integer class labels are int64.
* Dense weights follow Keras: ``kernel`` is ``(in, units)``, ``bias`` ``(units,)``.
* Kernels write into ``*_out`` buffers that the caller owns; they never allocate
  the result (the NumPy reference may allocate temporaries internally).
* Activation names: ``linear relu sigmoid tanh softmax`` (softmax is row-wise).
* Loss names (Keras' canonical ones): ``mean_squared_error mean_absolute_error
  binary_crossentropy categorical_crossentropy sparse_categorical_crossentropy``.
  A loss value is the mean over the batch of the per-sample loss, as Keras'
  ``sum_over_batch_size`` reduction; per-sample losses average over the last
  axis for MSE, MAE and binary cross-entropy and sum over it for the
  categorical ones. Probabilities are clipped to ``[EPSILON, 1 - EPSILON]``.
  Categorical cross-entropy on probabilities first divides each row by its sum,
  as Keras does.
* Fused output gradients: softmax followed by (sparse) categorical
  cross-entropy gives ``dZ = (p - y) / batch`` (exactly ``(p * sum(y) - y) /
  batch``, the same for one-hot or probability rows), and sigmoid followed by binary
  cross-entropy gives ``dZ = (p - y) / (batch * units)``; their loss value is
  computed from the logits ``Z`` (log-sum-exp / softplus), as Keras' TensorFlow
  backend does. Every other pair chains the loss gradient through the activation
  derivative.
* Metric names: ``binary_accuracy categorical_accuracy
  sparse_categorical_accuracy mean_squared_error mean_absolute_error``.
  Binary accuracy thresholds predictions at 0.5; the categorical ones compare
  arg-max indices (the first maximum wins on ties).
* SGD, in place, Keras' formulas (hyperparameters cast to the dtype first): plain ``w -= lr * g``; momentum
  ``v = m * v - lr * g; w += v``; Nesterov ``v = m * v - lr * g;
  w += m * v - lr * g``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
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


class Ops(abc.ABC):
    """Kernels of one backend, plus a factory for whole networks."""

    name: str

    # ----------------------------------------------------------------- kernels
    @abc.abstractmethod
    def dense_forward(self, x, kernel, bias, activation, z_out, a_out) -> None:
        """``z_out = x @ kernel + bias``; ``a_out = activation(z_out)``.

        x (batch, in); kernel (in, units); bias (units,) or None;
        z_out, a_out (batch, units). ``a_out`` may be ``z_out`` itself for
        ``linear``.
        """

    @abc.abstractmethod
    def dense_backward(
        self, x, kernel, z, a, grad_a, activation, grad_z_out, grad_kernel_out, grad_bias_out, grad_x_out
    ) -> None:
        """Back-propagate through one dense stage.

        x (batch, in); kernel (in, units); z, a, grad_a (batch, units) where
        grad_a is dLoss/dA. Writes grad_z_out (batch, units) = dLoss/dZ through
        the activation derivative (pass ``activation="linear"`` to hand in dZ
        directly; grad_z_out may then be grad_a itself), grad_kernel_out
        (in, units) = x.T @ dZ, grad_bias_out (units,) = column sums of dZ (None
        when there is no bias) and grad_x_out (batch, in) = dZ @ kernel.T (None
        to skip it, as for the first layer).
        """

    @abc.abstractmethod
    def activation_forward(self, activation, z, out) -> None:
        """``out = activation(z)``; z, out (batch, units); out may be z."""

    @abc.abstractmethod
    def activation_backward(self, activation, z, a, grad_a, out) -> None:
        """``out = dLoss/dZ`` from grad_a = dLoss/dA; z, a, grad_a, out (batch, units)."""

    @abc.abstractmethod
    def loss_value(self, loss: LossSpec, y_true, y_pred) -> float:
        """Mean over the batch of the per-sample loss.

        y_pred (batch, units): probabilities, or logits when ``loss.from_logits``.
        y_true (batch, units) of the dtype, or int64 labels (batch,) for the
        sparse loss.
        """

    @abc.abstractmethod
    def loss_gradient(self, loss: LossSpec, y_true, y_pred, out) -> None:
        """``out = d loss_value / d y_pred``; y_pred, out (batch, units)."""

    @abc.abstractmethod
    def output_gradient(self, loss: LossSpec, activation, y_true, z, a, out) -> float:
        """dLoss/dZ of the last stage, fused where the pair allows; returns the loss value.

        z, a, out (batch, units) are that stage's pre-activation, activation and
        the gradient buffer; y_true as in ``loss_value``.
        """

    @abc.abstractmethod
    def metric_value(self, metric: str, y_true, y_pred) -> float:
        """Mean over the batch of the per-sample metric; y_pred (batch, units), y_true as in ``loss_value``."""

    @abc.abstractmethod
    def sgd_update(self, param, grad, velocity, learning_rate, momentum, nesterov) -> None:
        """Update ``param`` (and ``velocity`` when momentum > 0) in place; same shapes."""

    # ---------------------------------------------------------------- networks
    @abc.abstractmethod
    def build_network(self, stages: Sequence[Stage], input_dim: int, dtype) -> Network:
        """A runnable network over the given stages (weights shared, not copied)."""


class Network(abc.ABC):
    """A built stack of stages: prediction, evaluation and training steps.

    Life cycle used by the front end::

        net = ops.build_network(stages, input_dim, dtype)
        net.predict(x, batch_size)                       # any time
        net.prepare_training(loss, metrics, sgd, batch_size)
        net.bind_training_data(x, y, order)              # once per fit
        for each epoch:  shuffle ``order`` in place; net.set_optimizer(sgd)
            net.reset_stats()
            for start in range(0, n, batch_size):
                ok = net.train_batch(start, min(start + batch_size, n))
        net.evaluate(x, y, batch_size)

    ``stats`` is a float64 array ``(1 + len(metrics),)`` holding, since the last
    ``reset_stats``, the sum over samples of the per-sample loss then of each
    metric, all measured on the forward pass before that batch's update.
    """

    stats: np.ndarray

    @abc.abstractmethod
    def predict(self, x, batch_size: int) -> np.ndarray:
        """Forward pass of x (n, input_dim) in chunks of ``batch_size``; returns (n, units)."""

    @abc.abstractmethod
    def prepare_training(self, loss: LossSpec, metrics: Sequence[str], optimizer: SGDSpec, batch_size: int) -> None:
        """Allocate training workspaces for batches of up to ``batch_size`` rows."""

    @abc.abstractmethod
    def set_optimizer(self, optimizer: SGDSpec) -> None:
        """Change the SGD hyperparameters; velocities are kept."""

    @abc.abstractmethod
    def bind_training_data(self, x, y, order) -> None:
        """Hold x (n, input_dim), y (labels (n,) int64 or targets (n, units)) and order (n,) int64.

        ``order`` is a permutation of ``range(n)`` that the caller may shuffle in
        place between batches; batch ``[start, stop)`` uses rows ``order[start:stop]``.
        """

    @abc.abstractmethod
    def train_batch(self, start: int, stop: int) -> bool:
        """One SGD step on rows ``order[start:stop]``; adds to ``stats``.

        Returns False, leaving weights and velocities untouched, when the loss or
        any gradient is not finite (``stats`` still receives that batch's sums,
        so the caller can report the non-finite loss).
        """

    @abc.abstractmethod
    def reset_stats(self) -> None:
        """Zero ``stats``."""

    @abc.abstractmethod
    def evaluate(self, x, y, batch_size: int) -> np.ndarray:
        """Mean loss then mean of each metric over all of x, y: float64 (1 + len(metrics),)."""

    @abc.abstractmethod
    def get_optimizer_state(self) -> list[np.ndarray]:
        """Copies of the SGD velocities, one per parameter array (kernel, bias per stage)."""

    @abc.abstractmethod
    def set_optimizer_state(self, state: Sequence[np.ndarray]) -> None:
        """Restore velocities saved by ``get_optimizer_state``."""
