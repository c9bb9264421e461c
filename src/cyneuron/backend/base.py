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
* Loss names (Keras' canonical ones): ``specs.LOSSES``; their formulas, options (label smoothing,
  Huber's delta, ignore_class) and Keras' reductions are ``reference/losses.py``. A loss value is
  the loss's reduction of the (sample-weighted) per-sample losses: by default the mean over the
  batch (Keras' ``sum_over_batch_size``); per-sample losses average over the last axis for the
  element-wise losses and sum over it for the row ones (the categorical ones, KL divergence,
  categorical hinge, cosine similarity). Probabilities are clipped to ``[EPSILON, 1 - EPSILON]``.
  Categorical cross-entropy (sparse or not) on probabilities first divides
  each row by its sum, then clips, as Keras does (for the sparse loss this is
  Keras' JAX/PyTorch-backend formula; its TensorFlow backend clips without
  normalising — the two agree whenever the rows sum to 1, as softmax rows do).
* Fused output gradients: softmax followed by (sparse) categorical
  cross-entropy gives ``dZ = (p - y) / batch`` (exactly ``(p * sum(y) - y) /
  batch``, the same for one-hot or probability rows), and sigmoid followed by binary
  cross-entropy gives ``dZ = (p - y) / (batch * units)``; their loss value is
  computed from the logits ``Z`` (log-sum-exp / softplus), as Keras' TensorFlow
  backend does. Every other pair chains the loss gradient through the activation
  derivative.
* Metrics: ``specs.METRICS`` by name or ``MetricSpec(name, param)``: the accuracies, top-k,
  cosine similarity and every loss by its name (default options). Binary accuracy thresholds
  predictions at ``param`` (0.5); the categorical ones compare arg-max indices (the first maximum
  wins on ties); top-k counts a hit when fewer than k predictions exceed the target's.
* SGD, in place, Keras' formulas (hyperparameters cast to the dtype first): plain ``w -= lr * g``; momentum
  ``v = m * v - lr * g; w += v``; Nesterov ``v = m * v - lr * g;
  w += m * v - lr * g``. Every optimizer's formulas: ``reference/optimizers.py``.
* Networks are built from ``StageSpec``s; each stage kind's semantics are its reference
  module in ``reference/`` (``reference/__init__.py`` lists them).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np

from cyneuron.backend import validation as check
from cyneuron.backend.specs import (  # noqa: F401  (re-exported: the interface's vocabulary)
    ACTIVATIONS,
    DTYPES,
    EPSILON,
    LOSSES,
    METRICS,
    SPARSE_METRICS,
    LossSpec,
    MetricSpec,
    OptimizerSpec,
    ScheduleSpec,
    StageSpec,
)


class Ops(abc.ABC):
    """Kernels of one backend, plus a factory for whole networks.

    The public methods check every argument (array type, one shared float32 or
    float64 dtype, shapes consistent with each other, C-contiguity, writeable
    outputs that overlap no input, known names) and raise TypeError or
    ValueError naming the argument and what was expected; then they call the
    backend's ``_``-prefixed implementation, which may trust its arguments.
    """

    name: str

    # ----------------------------------------------------------------- kernels
    def dense_forward(self, x, kernel, bias, activation, z_out, a_out) -> None:
        """``z_out = x @ kernel + bias``; ``a_out = activation(z_out)``.

        x (batch, in); kernel (in, units); bias (units,) or None;
        z_out, a_out (batch, units). ``a_out`` may be ``z_out`` itself.
        """
        check.check_activation(activation)
        x = check.check_float_array("x", x, 2)
        batch, n_in = x.shape
        kernel = check.check_array("kernel", kernel, (n_in, None), x.dtype)
        units = check.check_units("kernel", kernel)
        if bias is not None:
            check.check_array("bias", bias, (units,), x.dtype)
        check.check_array("z_out", z_out, (batch, units), x.dtype, writeable=True)
        check.check_array("a_out", a_out, (batch, units), x.dtype, writeable=True)
        inputs = {"x": x, "kernel": kernel, "bias": bias}
        check.check_no_overlap("z_out", z_out, inputs)
        check.check_no_overlap("a_out", a_out, {**inputs, "z_out": z_out}, may_be=("z_out",))
        self._dense_forward(x, kernel, bias, activation, z_out, a_out)

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
        check.check_activation(activation)
        x = check.check_float_array("x", x, 2)
        batch, n_in = x.shape
        kernel = check.check_array("kernel", kernel, (n_in, None), x.dtype)
        units = check.check_units("kernel", kernel)
        for name, value in (("z", z), ("a", a), ("grad_a", grad_a)):
            check.check_array(name, value, (batch, units), x.dtype)
        check.check_array("grad_z_out", grad_z_out, (batch, units), x.dtype, writeable=True)
        check.check_array("grad_kernel_out", grad_kernel_out, (n_in, units), x.dtype, writeable=True)
        if grad_bias_out is not None:
            check.check_array("grad_bias_out", grad_bias_out, (units,), x.dtype, writeable=True)
        if grad_x_out is not None:
            check.check_array("grad_x_out", grad_x_out, (batch, n_in), x.dtype, writeable=True)
        seen = {"x": x, "kernel": kernel, "z": z, "a": a, "grad_a": grad_a}
        check.check_no_overlap("grad_z_out", grad_z_out, seen, may_be=("grad_a",))
        for name, out in (
            ("grad_kernel_out", grad_kernel_out),
            ("grad_bias_out", grad_bias_out),
            ("grad_x_out", grad_x_out),
        ):
            seen = {**seen, "grad_z_out": grad_z_out}
            check.check_no_overlap(name, out, seen)
            seen[name] = out
        self._dense_backward(
            x, kernel, z, a, grad_a, activation, grad_z_out, grad_kernel_out, grad_bias_out, grad_x_out
        )

    def activation_forward(self, activation, z, out, params=None) -> None:
        """``out = activation(z)``; z, out (batch, units); out may be z. Softmax and log_softmax act on rows.

        ``params``: the activation's arguments by name (``specs.ACTIVATION_PARAMS``; missing ones take
        Keras' defaults; ``"threshold"`` is only accepted with both of its arguments)."""
        params = check.check_activation_params(activation, params)
        z = check.check_float_array("z", z, 2)
        check.check_array("out", out, z.shape, z.dtype, writeable=True)
        check.check_no_overlap("out", out, {"z": z}, may_be=("z",))
        self._activation_forward(activation, z, out, params)

    def activation_backward(self, activation, z, a, grad_a, out, params=None) -> None:
        """``out = dLoss/dZ`` from grad_a = dLoss/dA; z, a, grad_a, out (batch, units); out may be grad_a.

        ``params`` as in ``activation_forward``."""
        params = check.check_activation_params(activation, params)
        z = check.check_float_array("z", z, 2)
        check.check_array("a", a, z.shape, z.dtype)
        check.check_array("grad_a", grad_a, z.shape, z.dtype)
        check.check_array("out", out, z.shape, z.dtype, writeable=True)
        check.check_no_overlap("out", out, {"z": z, "a": a, "grad_a": grad_a}, may_be=("grad_a",))
        self._activation_backward(activation, z, a, grad_a, out, params)

    def loss_value(self, loss: LossSpec, y_true, y_pred, sample_weight=None) -> float:
        """The batch's loss: ``loss.reduction`` of the per-sample losses times their weights.

        y_pred (batch, units): probabilities, or logits when ``loss.from_logits``.
        y_true (batch, units) of the dtype, or int64 labels (batch,) for the
        sparse loss. ``sample_weight`` (batch,) of the dtype, finite and >= 0: with the default
        reduction the value is ``sum(w_i * loss_i) / batch`` (Keras' ``sum_over_batch_size``: the
        divisor stays the batch size, zero weights included; ignored labels are not counted).
        """
        loss = check.check_loss(loss, training=True)
        y_pred = check.check_float_array("y_pred", y_pred, 2)
        y_true = check.check_targets(loss.name == "sparse_categorical_crossentropy", y_true, y_pred, loss.ignore_class)
        sample_weight = check.check_sample_weights("sample_weight", sample_weight, y_pred.shape[0], y_pred.dtype)
        return self._loss_value(loss, y_true, y_pred, sample_weight)

    def loss_gradient(self, loss: LossSpec, y_true, y_pred, out) -> None:
        """``out = d loss_value / d y_pred`` (unweighted); y_pred, out (batch, units)."""
        loss = check.check_loss(loss, training=True)
        y_pred = check.check_float_array("y_pred", y_pred, 2)
        y_true = check.check_targets(loss.name == "sparse_categorical_crossentropy", y_true, y_pred, loss.ignore_class)
        check.check_array("out", out, y_pred.shape, y_pred.dtype, writeable=True)
        check.check_no_overlap("out", out, {"y_true": y_true, "y_pred": y_pred})
        self._loss_gradient(loss, y_true, y_pred, out)

    def output_gradient(self, loss: LossSpec, activation, y_true, z, a, out, sample_weight=None) -> float:
        """dLoss/dZ of the last stage, fused where the pair allows; returns the loss value.

        z, a, out (batch, units) are that stage's pre-activation, activation and
        the gradient buffer; y_true and ``sample_weight`` as in ``loss_value`` (with
        weights, row i of dLoss/dA, so of dLoss/dZ, is scaled by ``w_i``).
        """
        loss = check.check_loss(loss, training=True)
        check.check_activation(activation)
        z = check.check_float_array("z", z, 2)
        y_true = check.check_targets(loss.name == "sparse_categorical_crossentropy", y_true, z, loss.ignore_class)
        check.check_array("a", a, z.shape, z.dtype)
        check.check_array("out", out, z.shape, z.dtype, writeable=True)
        check.check_no_overlap("out", out, {"y_true": y_true, "z": z, "a": a})
        sample_weight = check.check_sample_weights("sample_weight", sample_weight, z.shape[0], z.dtype)
        return self._output_gradient(loss, activation, y_true, z, a, out, sample_weight)

    def metric_value(self, metric, y_true, y_pred) -> float:
        """Mean over the batch of the per-sample metric (a name or ``MetricSpec``); y_pred (batch, units),
        y_true as in ``loss_value``."""
        (metric,) = check.check_metrics((metric,))
        y_pred = check.check_float_array("y_pred", y_pred, 2)
        y_true = check.check_targets(metric.name in SPARSE_METRICS, y_true, y_pred)
        return self._metric_value(metric, y_true, y_pred)

    def sgd_update(self, param, grad, velocity, learning_rate, momentum, nesterov) -> None:
        """Update ``param`` (and ``velocity`` when momentum > 0) in place; grad and velocity shaped as param."""
        if not isinstance(param, np.ndarray):
            raise TypeError(f"param: expected a numpy.ndarray, got {type(param).__name__}")
        if param.dtype not in DTYPES:
            raise TypeError(f"param: expected dtype float32 or float64, got {param.dtype}")
        check.check_array("param", param, param.shape, param.dtype, writeable=True)
        check.check_array("grad", grad, param.shape, param.dtype)
        learning_rate = check.check_hyperparameter("learning_rate", learning_rate)
        momentum = check.check_hyperparameter("momentum", momentum)
        check.check_no_overlap("param", param, {"grad": grad})
        if momentum != 0:
            check.check_array("velocity", velocity, param.shape, param.dtype, writeable=True)
            check.check_no_overlap("velocity", velocity, {"param": param, "grad": grad})
        else:
            velocity = None
        self._sgd_update(param, grad, velocity, learning_rate, momentum, bool(nesterov))

    # ---------------------------------------------------- the implementations
    # Called only with checked arguments, as documented on the public methods.
    @abc.abstractmethod
    def _dense_forward(self, x, kernel, bias, activation, z_out, a_out) -> None: ...

    @abc.abstractmethod
    def _dense_backward(
        self, x, kernel, z, a, grad_a, activation, grad_z_out, grad_kernel_out, grad_bias_out, grad_x_out
    ) -> None: ...

    @abc.abstractmethod
    def _activation_forward(self, activation, z, out, params=None) -> None: ...

    @abc.abstractmethod
    def _activation_backward(self, activation, z, a, grad_a, out, params=None) -> None: ...

    @abc.abstractmethod
    def _loss_value(self, loss, y_true, y_pred, sample_weight=None) -> float: ...

    @abc.abstractmethod
    def _loss_gradient(self, loss, y_true, y_pred, out) -> None: ...

    @abc.abstractmethod
    def _output_gradient(self, loss, activation, y_true, z, a, out, sample_weight=None) -> float: ...

    @abc.abstractmethod
    def _metric_value(self, metric, y_true, y_pred) -> float: ...

    @abc.abstractmethod
    def _sgd_update(self, param, grad, velocity, learning_rate: float, momentum: float, nesterov: bool) -> None: ...

    # ---------------------------------------------------------------- networks
    @abc.abstractmethod
    def build_network(
        self, stages: Sequence[StageSpec], input_shape: tuple[int, ...], dtype, output_shape=None
    ) -> Network:
        """A runnable network over the given stages (weights shared, not copied); ``input_shape`` per sample.

        ``output_shape``: the model's per-sample output shape as the loss sees it (None: flat rows); the loss
        and the per-sample metrics reduce its last axis (``validation.loss_layout``; see ``Network``).
        """


class Network(abc.ABC):
    """A built stack of stages: prediction, evaluation and training steps.

    Life cycle used by the front end::

        net = ops.build_network(stages, input_shape, dtype)
        net.predict(x, batch_size)                       # any time
        net.prepare_training(loss, metrics, optimizer, batch_size)
        net.bind_training_data(x, y, order, weights)     # once per fit (weights: None or (n,))
        for each epoch:  shuffle ``order`` in place; net.set_optimizer(optimizer)
            net.reset_stats()
            for start in range(0, n, batch_size):
                ok = net.train_batch(start, min(start + batch_size, n))
                net.last_batch()                         # only for metrics updated in Python
        net.evaluate(x, y, batch_size)

    Data is flat rows: x ``(n, prod(input_shape))`` in C order. ``stats`` is a float64 array
    ``(1 + len(metrics),)`` holding, since the last ``reset_stats``, the sum over samples of the
    per-sample loss then of each metric, all measured on the forward pass before that batch's update.

    Outputs of rank >= 3 (``output_shape`` (T..., units) at build): each sample is ``steps = prod(T...)``
    loss rows of ``units``, as Keras' per-sample losses (batch, T...): ``sum_over_batch_size`` divides by
    rows * steps, sparse labels are (n, steps), weights (n,) (repeated over the steps) or (n, steps);
    ``stats[0]`` still adds rows (samples) times the batch's loss, and each metric sum adds, per sample,
    the mean over its steps (so a metric's mean is over every (sample, step), Keras' MeanMetricWrapper).

    Sample weights (Keras 3's semantics): ``weights`` is None (unweighted) or (n,) of the dtype,
    finite and >= 0, one per row. A batch's loss is then the loss's reduction of ``w_i * loss_i``
    (by default ``sum_i w_i * loss_i / rows``, Keras' ``sum_over_batch_size``: the divisor is the
    row count, zero weights included; ``"sum"`` drops the divisor; ``"mean_with_sample_weight"``
    divides by the weights' sum) and so is its gradient; ``stats[0]`` sums rows times each batch's
    loss (so ``stats[0] / samples`` is Keras' logged loss, whose tracker averages the batch losses
    weighted by the batch sizes), while the metric sums stay unweighted (Keras' compiled
    ``metrics=`` ignore sample weights).

    A training step is a transaction: forward (training mode) -> loss -> backward -> finiteness
    check of the loss, every gradient and every stage's new state -> commit (the optimizer update
    over the trainable params, the stages' new non-trainable state, ``iterations += 1``). A refused
    step changes none of these. ``iterations`` (int, settable) is the optimizer's step count and
    feeds bias corrections, schedules and Dropout's draws; ``seed`` (int, settable) keys Dropout
    stages that have no seed of their own.

    Optimizer state is per trainable parameter, in stage order (params of stages with
    ``trainable=True``), each with the slots ``reference.optimizers.slot_specs(optimizer)`` names,
    plus the optimizer's scalars (``scalar_specs``).
    """

    stats: np.ndarray
    iterations: int
    seed: int

    @abc.abstractmethod
    def predict(self, x, batch_size: int) -> np.ndarray:
        """Inference-mode forward pass of x (n, input_dim) in chunks of ``batch_size``; returns (n, units)."""

    def fast_predictor(self, features: tuple[int, ...], out_shape: tuple[int, ...], lock, batch_size: int):
        """An object whose ``predict(x)`` / ``on_batch(x)`` return this network's outputs ``(n, *out_shape)``
        for x ``(n, *features)`` in one call (chunks of ``batch_size`` rows / one chunk), or None, having
        done nothing, when x is not exactly a C-contiguous native-order ndarray of x's dtype with at least
        one row, or when ``lock`` (the model's network lock, ``_inference.new_net_lock()``) is held by another
        thread; values are checked as ``predict`` checks them. None (the default) when the backend has no
        such path: callers use ``predict``."""
        return None

    @abc.abstractmethod
    def prepare_training(
        self, loss: LossSpec, metrics: Sequence[str], optimizer: OptimizerSpec, batch_size: int
    ) -> None:
        """Set loss, metrics and optimizer; training workspaces for batches of up to ``batch_size`` rows."""

    @abc.abstractmethod
    def set_optimizer(self, optimizer: OptimizerSpec) -> None:
        """Change the optimizer's hyperparameters; slots are kept unless the slot layout changes
        (another kind), when they restart at their initial values."""

    @abc.abstractmethod
    def bind_training_data(self, x, y, order, weights=None, *, finite_checked: bool = False) -> None:
        """Hold x (n, input_dim), y (labels (n,) int64 or targets (n, units)), order (n,) int64 and the
        sample weights (None, or (n,) of the dtype; see the class docstring), gathered with the rows.

        ``order`` is a permutation of ``range(n)`` that the caller may shuffle in
        place between batches; batch ``[start, stop)`` uses rows ``order[start:stop]``.
        x, y and weights are scanned for NaN/inf (and weights for negatives) unless ``finite_checked`` says the caller
        just did (the front end validates once per public call; a missed NaN could
        only make ``train_batch`` return False, never touch memory out of bounds).
        """

    @abc.abstractmethod
    def train_batch(self, start: int, stop: int) -> bool:
        """One training step on rows ``order[start:stop]``; adds to ``stats``.

        Returns False, committing nothing, when the loss, a gradient or a new state value is
        not finite (``stats`` still receives that batch's sums, so the caller can report it).
        """

    @abc.abstractmethod
    def train_arrays(self, x, y, weights=None, *, finite_checked: bool = False) -> bool:
        """One training step on the batch x (rows, input_dim), y (and sample weights (rows,) or None) given as
        arrays (batches that arrive from Python: a generator, a dataset); validated here, as
        ``bind_training_data`` would, then as ``train_batch``. Replaces the bound data. Any batch size;
        workspaces grow once to the largest."""

    @abc.abstractmethod
    def last_batch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(y_pred, y_true, weights)`` of the last ``train_batch`` / ``train_arrays`` step (refused or not):
        read-only views, valid until the next training call, of its training-mode output (rows, units), its
        gathered targets (labels (rows,) int64, or (rows, units)) and sample weights ((rows,), or None when
        unweighted). What the front end updates its Python-side metrics from (Keras updates its metrics with
        the training-mode output of each step); RuntimeError when no step ran since the workspaces were made."""

    @abc.abstractmethod
    def reset_stats(self) -> None:
        """Zero ``stats``."""

    @abc.abstractmethod
    def evaluate(self, x, y, batch_size: int, weights=None, *, finite_checked: bool = False) -> np.ndarray:
        """Mean loss then mean of each metric over all of x, y (inference mode): float64 (1 + len(metrics),).

        With sample ``weights`` (n,) the loss entry is ``sum_i w_i * loss_i / n``, the metrics unweighted.

        ``finite_checked`` as in ``bind_training_data``.
        """

    @abc.abstractmethod
    def get_optimizer_state(self) -> dict:
        """Copies: ``{"iterations": int, "slots": [[array per slot] per trainable param],
        "scalars": float64 array}``."""

    @abc.abstractmethod
    def set_optimizer_state(self, state: dict) -> None:
        """Restore a state shaped as ``get_optimizer_state`` returns it (checked before anything changes)."""


def accumulate(totals: np.ndarray, batch_sums: np.ndarray, dtype) -> None:
    """Add a batch's sums to running totals (float64 arrays) as Keras' metric trackers do: in the model's float
    type, so a float32 model's totals round as Keras' float32 trackers' do over a long epoch."""
    if np.dtype(dtype) == np.float32:
        totals[...] = totals.astype(np.float32) + batch_sums.astype(np.float32)
    else:
        totals += batch_sums
