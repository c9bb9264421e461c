"""The NumPy backend: the readable reference every compiled kernel is tested against.

It imports nothing compiled beyond NumPy and favours clarity over speed: it
allocates temporaries freely. Semantics are documented in ``base.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cyneuron.backend.base import (
    LossSpec,
    MetricSpec,
    Network,
    Ops,
    OptimizerSpec,
    ScheduleSpec,
    StageSpec,
    accumulate,
)
from cyneuron.backend.reference import KINDS, Context, Forward, run_stage
from cyneuron.backend.reference import activation as _activation
from cyneuron.backend.reference import losses as reference_losses
from cyneuron.backend.reference import optimizers as reference_optimizers
from cyneuron.backend.reference import regularizers as reference_regularizers
from cyneuron.backend.reference.embedding import check_indices
from cyneuron.backend.specs import ROW_ACTIVATIONS
from cyneuron.backend.validation import (
    check_batch_bounds,
    check_dtype,
    check_folded_training,
    check_labels,
    check_loss,
    check_metrics,
    check_network_data,
    check_optimizer,
    check_optimizer_state,
    check_positive_int,
    check_sample_weights,
    check_stages,
    input_indices,
    loss_layout,
)


def _per_sample_metric(metric: MetricSpec, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-sample metric (batch,) in float64; y_true int labels for ``SPARSE_METRICS``, else (batch, units)."""
    name, units = metric.name, y_pred.shape[1]
    if name in ("sparse_categorical_accuracy", "categorical_accuracy"):
        labels = y_true if name == "sparse_categorical_accuracy" else np.argmax(y_true, axis=1)
        return (np.argmax(y_pred, axis=1) == labels).astype(np.float64)
    if name == "binary_accuracy":
        # Keras compares the target itself with the thresholded prediction: a target of 0.7 never matches.
        return np.mean(y_true == (y_pred > y_pred.dtype.type(metric.param)), axis=1, dtype=np.float64)
    if name == "accuracy":
        return np.mean(y_true == y_pred, axis=1, dtype=np.float64)
    if name in ("top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy"):
        labels = y_true if name.startswith("sparse") else np.argmax(y_true, axis=1)
        inside = (labels >= 0) & (labels < units)  # an ignored label is never in the top k
        at_label = y_pred[np.arange(y_pred.shape[0]), np.where(inside, labels, 0)][:, None]
        at_label = np.where(np.isnan(at_label), -np.inf, at_label)  # NaN at the target ranks last
        above = np.sum(y_pred > at_label, axis=1)
        return (inside & (above < metric.param)).astype(np.float64)
    if name == "cosine_similarity":
        return -reference_losses.per_sample(LossSpec("cosine_similarity"), y_true, y_pred).astype(np.float64)
    # a loss by its name, default options; an ignored label (the sparse loss's ignore_class) adds nothing
    if name == "sparse_categorical_crossentropy":
        inside = (y_true >= 0) & (y_true < units)
        values = reference_losses.per_sample(LossSpec(name), np.where(inside, y_true, 0), y_pred)
        return np.where(inside, values, 0).astype(np.float64)
    return reference_losses.per_sample(LossSpec(name), y_true, y_pred).astype(np.float64)


def _sgd_spec(learning_rate: float, momentum: float, nesterov: bool) -> OptimizerSpec:
    """The ``OptimizerSpec`` of ``Ops.sgd_update``'s arguments (the per-op entry to the optimizer path)."""
    hyper = {"momentum": float(momentum), "nesterov": float(bool(nesterov))}
    return OptimizerSpec("sgd", ScheduleSpec("constant", (float(learning_rate),)), hyper)


class NumpyOps(Ops):
    """Pure-NumPy kernels; ``base.Ops`` checks the arguments and documents each method."""

    name = "numpy"

    def _dense_forward(self, x, kernel, bias, activation, z_out, a_out) -> None:
        z = x @ kernel
        if bias is not None:
            z = z + bias
        z_out[...] = z
        self._activation_forward(activation, z_out, a_out)

    def _dense_backward(
        self, x, kernel, z, a, grad_a, activation, grad_z_out, grad_kernel_out, grad_bias_out, grad_x_out
    ) -> None:
        self._activation_backward(activation, z, a, grad_a, grad_z_out)
        grad_kernel_out[...] = x.T @ grad_z_out
        if grad_bias_out is not None:
            grad_bias_out[...] = grad_z_out.sum(axis=0)
        if grad_x_out is not None:
            grad_x_out[...] = grad_z_out @ kernel.T

    def _activation_forward(self, activation, z, out, params=None) -> None:
        out[...] = _activation.apply(activation, z, params)

    def _activation_backward(self, activation, z, a, grad_a, out, params=None) -> None:
        out[...] = _activation.backward(activation, z, a, grad_a, params)

    def _loss_value(self, loss: LossSpec, y_true, y_pred, sample_weight=None) -> float:
        return reference_losses.batch_value(loss, y_true, y_pred, sample_weight)

    def _loss_gradient(self, loss: LossSpec, y_true, y_pred, out) -> None:
        out[...] = reference_losses.batch_gradient(loss, y_true, y_pred)

    def _output_gradient(self, loss: LossSpec, activation, y_true, z, a, out, sample_weight=None) -> float:
        # The loss's row factors (w_i m_i / divisor) scale row i of dLoss/dA, so (the activations act row by
        # row) of dLoss/dZ. The reference runs the chain rule as Keras does, for every pair: the loss of the
        # (clipped) probabilities, then the activation's backward; the compiled kernels fuse softmax /
        # sigmoid + cross-entropy in closed form, with the same clipping.
        grad_a = reference_losses.batch_gradient(loss, y_true, a, sample_weight)
        self._activation_backward(activation, z, a, grad_a, out)
        return reference_losses.batch_value(loss, y_true, a, sample_weight)

    def _metric_value(self, metric, y_true, y_pred) -> float:
        return float(np.mean(_per_sample_metric(metric, y_true, y_pred)))

    def _sgd_update(self, param, grad, velocity, learning_rate, momentum, nesterov) -> None:
        slots = [[velocity]] if momentum != 0 else [[]]
        reference_optimizers.apply(
            _sgd_spec(learning_rate, momentum, nesterov), [param], [grad.copy()], slots, 0, np.zeros(0)
        )

    def build_network(self, stages: Sequence[StageSpec], input_shape, dtype, output_shape=None) -> NumpyNetwork:
        return NumpyNetwork(self, stages, input_shape, dtype, output_shape)


def _stage_penalties(stage: StageSpec) -> tuple:
    return stage.penalties or ((0.0, 0.0),) * len(stage.params)


class NumpyNetwork(Network):
    """Reference network: a loop over the stages' reference modules (``cyneuron.backend.reference``)."""

    def __init__(self, ops: NumpyOps, stages: Sequence[StageSpec], input_shape, dtype, output_shape=None) -> None:
        self._ops = ops
        self._widths = check_stages(stages, input_shape, dtype)
        # each sample's output is ``steps`` loss rows of ``width`` (Keras' losses reduce the last axis)
        self._steps, self._width = loss_layout(output_shape, self._widths[-1])
        self._stages = tuple(stages)
        self._modules = tuple(KINDS[stage.kind] for stage in self._stages)
        self._dtype = check_dtype(dtype)
        self._input_dim = self._widths[0]
        self._indices = input_indices(self._stages)  # > 0: x is int64 indices below it (a first embedding)
        self._params = [p for stage in self._stages if stage.trainable for p in stage.params]
        # (param, l1, l2) of every penalised trainable param, in _params order
        self._penalised = [
            (k, l1, l2)
            for k, (l1, l2) in enumerate(
                pair for stage in self._stages if stage.trainable for pair in _stage_penalties(stage)
            )
            if l1 or l2
        ]
        # backward stops at the first stage with something to train: nothing before it needs a gradient
        self._first_trained = next(
            (i for i, stage in enumerate(self._stages) if stage.trainable and stage.params), len(self._stages)
        )
        self._loss: LossSpec | None = None
        self._metrics: tuple[MetricSpec, ...] = ()
        self._optimizer: OptimizerSpec | None = None
        self._slot_layout: tuple = ()
        self._slots: list[list[np.ndarray]] = [[] for _ in self._params]
        self._scalars = np.zeros(0)
        self._iterations = 0
        self._seed = 0
        self._batch_size = 0
        self._data: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._weights: np.ndarray | None = None  # the bound sample weights (None: unweighted)
        self.stats = np.zeros(1)
        self._last: tuple | None = None  # (y_pred, y_true, weights) of the last training step

    @property
    def iterations(self) -> int:
        return self._iterations

    @iterations.setter
    def iterations(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < 2**62:
            raise ValueError(f"iterations: expected an int >= 0, got {value!r}")
        self._iterations = int(value)

    @property
    def seed(self) -> int:
        return self._seed

    @seed.setter
    def seed(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"seed: expected an int, got {type(value).__name__}")
        self._seed = int(value) & (2**64 - 1)

    # ------------------------------------------------------------- forward
    def _forward(self, x: np.ndarray, training: bool) -> list[Forward]:
        """Every stage's ``Forward`` on x (rows, input_dim), in order."""
        trace = []
        for index, (stage, module) in enumerate(zip(self._stages, self._modules)):
            ctx = Context(training, self.seed, self.iterations, index, need_dx=index > self._first_trained)
            step = run_stage(stage, x, ctx, module)
            trace.append(step)
            x = step.y
        return trace

    def _head(self, trace: list[Forward]):
        """(activation, pre-activation, output, backprop from the pre-activation) of the last stage."""
        last = trace[-1]
        if last.head is not None and not any(self._stages[-1].activity):
            name, z, backprop = last.head
            # a row activation fuses with the loss only when its row is the loss's row (the compiled rule)
            if name not in ROW_ACTIVATIONS or math.prod(self._stages[-1].out_shape) == self._width:
                return name, z, last.y, backprop
        return "linear", last.y, last.y, last.backprop

    def _loss_rows(self, y: np.ndarray, a: np.ndarray, z: np.ndarray, w: np.ndarray | None) -> tuple:
        """Targets (or labels), output, pre-activation and weights as loss rows (rows * steps, width)."""
        if self._steps == 1:
            return y, a, z, w
        rows = (-1, self._width)
        y = y.reshape(-1) if self._loss.name == "sparse_categorical_crossentropy" else y.reshape(rows)
        return y, a.reshape(rows), z.reshape(rows), None if w is None else w.reshape(-1)

    def predict(self, x, batch_size: int) -> np.ndarray:
        x = check_network_data(x, None, self._input_dim, self._widths[-1], self._dtype, None, indices=self._indices)[0]
        batch_size = check_positive_int("batch_size", batch_size)
        out = np.empty((x.shape[0], self._widths[-1]), dtype=self._dtype)
        for start in range(0, x.shape[0], batch_size):
            out[start : start + batch_size] = self._forward(x[start : start + batch_size], False)[-1].y
        return out

    def forward_training(self, x) -> np.ndarray:
        """One training-mode pass over all of x (batch statistics, dropout); commits the stages' new state
        (moving statistics) as a Keras layer called with ``training=True`` does; no gradient, no update."""
        x = check_network_data(x, None, self._input_dim, self._widths[-1], self._dtype, None, indices=self._indices)[0]
        check_folded_training(self._stages)
        trace = self._forward(x, True)
        self._commit_state(trace)
        return trace[-1].y

    def _commit_state(self, trace: list[Forward]) -> None:
        for stage, step in zip(self._stages, trace):
            if step.new_state is not None:
                for array, value in zip(stage.state, step.new_state):
                    array[...] = value

    # ------------------------------------------------------------ training
    def prepare_training(
        self, loss: LossSpec, metrics: Sequence[str], optimizer: OptimizerSpec, batch_size: int
    ) -> None:
        check_loss(loss, training=True)
        check_folded_training(self._stages)
        self._batch_size = check_positive_int("batch_size", batch_size)
        self._data, self._weights = None, None  # data bound for another loss may not fit this one
        self._loss = loss
        self._metrics = check_metrics(metrics, loss)
        self.set_optimizer(optimizer)
        self.stats = np.zeros(1 + len(self._metrics))
        self._last = None

    def set_optimizer(self, optimizer: OptimizerSpec) -> None:
        optimizer = check_optimizer(optimizer)
        layout = (reference_optimizers.slot_specs(optimizer), reference_optimizers.scalar_specs(optimizer))
        if layout != self._slot_layout:
            # another optimizer kind (or one that needs other slots) starts from the slots' initial values
            slot_specs, scalar_specs = layout
            self._slots = [[np.full_like(p, value) for _, value in slot_specs] for p in self._params]
            self._scalars = np.array([value for _, value in scalar_specs], dtype=np.float64)
            self._slot_layout = layout
        self._optimizer = optimizer

    def bind_training_data(self, x, y, order, weights=None, *, finite_checked: bool = False) -> None:
        self._require_training()
        data = check_network_data(
            x,
            y,
            self._input_dim,
            self._widths[-1],
            self._dtype,
            self._loss,
            order,
            finite_checked=finite_checked,
            indices=self._indices,
            steps=self._steps,
        )
        weights = check_sample_weights(
            "weights", weights, data[0].shape[0], self._dtype, finite_checked=finite_checked, steps=self._steps
        )
        self._data, self._weights = data, weights

    def last_batch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        if self._last is None:
            raise RuntimeError("last_batch: no training step since prepare_training")
        return self._last

    def reset_stats(self) -> None:
        self.stats[...] = 0

    def _batch_stats(self, y: np.ndarray, a: np.ndarray, loss_value: float) -> np.ndarray:
        """Samples x the loss, then each metric summed over the loss rows per step (y, a: loss rows)."""
        sums = [loss_value * a.shape[0] / self._steps]
        sums += [float(np.sum(_per_sample_metric(m, y, a))) / self._steps for m in self._metrics]
        return np.array(sums)

    def train_batch(self, start: int, stop: int) -> bool:
        if self._data is None:
            raise RuntimeError("train_batch before bind_training_data")
        x, y, order = self._data
        start, stop = check_batch_bounds(start, stop, x.shape[0], self._batch_size)
        rows = order[start:stop]
        # the caller shuffles ``order`` in place between batches: a bad index must not wrap around
        if rows.min() < 0 or rows.max() >= x.shape[0]:
            raise ValueError(f"order: indices must be in [0, {x.shape[0]})")
        xb, yb = x[rows], y[rows]
        # the caller may change x and y after bind: embedding indices and labels address rows
        if self._indices:
            check_indices("x", xb, self._indices)
        if self._loss.name == "sparse_categorical_crossentropy":
            check_labels("y", yb.reshape(-1), yb.size, self._width, self._loss.ignore_class)
        return self._step(xb, yb, None if self._weights is None else self._weights[rows])

    def train_arrays(self, x, y, weights=None, *, finite_checked: bool = False) -> bool:
        self._require_training()
        x, y = check_network_data(
            x,
            y,
            self._input_dim,
            self._widths[-1],
            self._dtype,
            self._loss,
            finite_checked=finite_checked,
            indices=self._indices,
            steps=self._steps,
        )
        weights = check_sample_weights(
            "weights", weights, x.shape[0], self._dtype, finite_checked=finite_checked, steps=self._steps
        )
        return self._step(x, y, weights)

    def _step(self, xb: np.ndarray, yb: np.ndarray, wb: np.ndarray | None = None) -> bool:
        trace = self._forward(xb, True)
        activation, z, a, backprop = self._head(trace)
        shape = z.shape
        yb, a, z, wb = self._loss_rows(yb, a, z, wb)
        grad = np.empty_like(z)
        loss = self._ops._output_gradient(self._loss, activation, yb, z, a, grad, wb)
        # the weight and activity penalties join the batch's loss (Keras' compute_loss adds model.losses)
        loss += self._activity_sum(trace) / xb.shape[0] + (self._penalty() if self._penalised else 0.0)
        accumulate(self.stats, self._batch_stats(yb, a, loss), self._dtype)
        self._last = tuple(None if v is None else _read_only(v) for v in (a, yb, wb))
        grad = grad.reshape(shape)

        grads: list[np.ndarray] = []
        for index in range(len(self._stages) - 1, self._first_trained - 1, -1):
            l1, l2 = self._stages[index].activity
            if l1 or l2:
                # (l1 * s(y) + 2 * l2 * y) / rows: the gradient of Keras' activity loss, reg(y) / batch size
                rows = trace[index].y.shape[0]
                dtype = grad.dtype.type
                reference_regularizers.add_gradient(
                    trace[index].y, grad, float(dtype(dtype(l1) / dtype(rows))), float(dtype(dtype(l2) / dtype(rows)))
                )
            grad, stage_grads = backprop(grad)
            grads[:0] = stage_grads
            if index > self._first_trained:
                backprop = trace[index - 1].backprop
        for k, l1, l2 in self._penalised:  # the weight penalties' gradients, before the optimizer sees them
            reference_regularizers.add_gradient(self._params[k], grads[k], l1, l2)

        pending = [value for step in trace if step.new_state is not None for value in step.new_state]
        if not (np.isfinite(loss) and all(np.isfinite(g).all() for g in grads + pending)):
            return False
        # A KeyboardInterrupt mid-commit must not leave a half-applied step.
        arrays = [
            *self._params,
            *(s for slots in self._slots for s in slots),
            self._scalars,
            *(a for stage in self._stages for a in stage.state),
        ]
        saved = [array.copy() for array in arrays]
        try:
            reference_optimizers.apply(
                self._optimizer, self._params, grads, self._slots, self.iterations, self._scalars
            )
            self._commit_state(trace)
            self.iterations += 1
        except BaseException:
            for array, copy in zip(arrays, saved):
                array[...] = copy
            raise
        return True

    def evaluate(self, x, y, batch_size: int, weights=None, *, finite_checked: bool = False) -> np.ndarray:
        self._require_training()
        x, y = check_network_data(
            x,
            y,
            self._input_dim,
            self._widths[-1],
            self._dtype,
            self._loss,
            finite_checked=finite_checked,
            indices=self._indices,
            steps=self._steps,
        )
        weights = check_sample_weights(
            "weights", weights, x.shape[0], self._dtype, finite_checked=finite_checked, steps=self._steps
        )
        batch_size = check_positive_int("batch_size", batch_size)
        totals = np.zeros(1 + len(self._metrics))
        weight_penalty = self._penalty() if self._penalised else 0.0
        for start in range(0, x.shape[0], batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            wb = None if weights is None else weights[start : start + batch_size]
            trace = self._forward(xb, False)
            activation, z, a, _ = self._head(trace)
            yb, a, z, wb = self._loss_rows(yb, a, z, wb)
            loss = self._ops._output_gradient(self._loss, activation, yb, z, a, np.empty_like(z), wb)
            loss += self._activity_sum(trace) / xb.shape[0] + weight_penalty
            accumulate(totals, self._batch_stats(yb, a, loss), self._dtype)
        return totals / x.shape[0]

    def _activity_sum(self, trace: list[Forward]) -> float:
        """The batch's activity penalties, undivided (Keras adds them divided by the batch size, and its loss
        tracker weighs the batch by its size)."""
        return sum(
            reference_regularizers.penalty(step.y, *stage.activity)
            for stage, step in zip(self._stages, trace)
            if any(stage.activity)
        )

    def _penalty(self) -> float:
        """The sum of the weight penalties at the current weights."""
        return sum(reference_regularizers.penalty(self._params[k], l1, l2) for k, l1, l2 in self._penalised)

    def get_optimizer_state(self) -> dict:
        return {
            "iterations": self.iterations,
            "slots": [[s.copy() for s in slots] for slots in self._slots],
            "scalars": self._scalars.copy(),
        }

    def set_optimizer_state(self, state: dict) -> None:
        values = check_optimizer_state(state, self._slots, self._scalars)
        for targets, arrays in zip(self._slots, values["slots"]):
            for target, value in zip(targets, arrays):
                target[...] = value
        self._scalars[...] = values["scalars"]
        self.iterations = values["iterations"]

    def _require_training(self) -> None:
        if self._loss is None:
            raise RuntimeError("prepare_training must be called first")


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view
