"""Callbacks that watch the logs: ``EarlyStopping``, ``ReduceLROnPlateau``, ``LearningRateScheduler``,
``TerminateOnNaN``, and the monitoring helpers ``ModelCheckpoint`` shares."""

from __future__ import annotations

import operator
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from cyneuron.callbacks.base import Callback, Logs


def _check_mode(mode: object, owner: str) -> str:
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{owner} mode {mode!r} is unknown, fallback to auto mode.", stacklevel=3)
        return "auto"
    return mode  # type: ignore[return-value]


def _monitor_op(monitor: str, mode: str) -> Callable[[Any, Any], bool]:
    """``operator.lt`` when smaller is better, ``operator.gt`` when larger is."""
    if mode == "min":
        return operator.lt
    if mode == "max":
        return operator.gt
    name = monitor.removeprefix("val_")
    if name != "loss" and ("acc" in name or "auc" in name):
        return operator.gt
    return operator.lt


def _floatx() -> np.dtype:
    try:
        from cyneuron import config

        return np.dtype(config.floatx())
    except ImportError:
        return np.dtype(np.float32)


def _improves(op: Callable[[Any, Any], Any], value: Any, reference: Any) -> bool:
    """``op(value, reference)`` compared as Keras does: Python numbers become ``floatx`` scalars first.

    Keras 3 compares with ``ops.less`` / ``ops.greater``, which turn Python floats
    into float32 tensors, so for example ``0.7 + 0.1 < 0.8`` is False there.
    """
    if reference is None:
        return True
    dtype = _floatx()

    def scalar(v: Any) -> np.ndarray:
        return np.asarray(v, dtype=dtype) if isinstance(v, (int, float)) else np.asarray(v)

    return bool(op(scalar(value), scalar(reference)))


def _check_monitor(monitor: object) -> str:
    if not isinstance(monitor, str) or not monitor:
        raise TypeError(f"monitor must be a non-empty str such as 'val_loss', got {monitor!r}")
    return monitor


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


class EarlyStopping(Callback):
    """Stop training when a monitored quantity has stopped improving (Keras 3 semantics).

    At the end of each epoch (from ``start_from_epoch`` on) the monitored value
    is compared with the best so far: it improves when it beats the best by more
    than ``min_delta``. After ``patience`` epochs without improvement (and never
    at epoch 0) ``model.stop_training`` is set.

    Args:
        monitor: log key to watch, e.g. ``"val_loss"`` (default), ``"loss"``,
            ``"val_accuracy"``. When it is missing from the logs a warning is
            issued and the epoch is ignored.
        min_delta: minimum absolute change that counts as an improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 prints when stopping and when restoring weights.
        mode: ``"auto"``, ``"min"`` or ``"max"``; ``"auto"`` maximises names
            containing ``acc`` or ``auc`` and minimises everything else.
        baseline: when set, the patience counter only restarts on epochs that
            also beat the baseline, so training stops after ``patience`` epochs
            if the model never reaches it.
        restore_best_weights: restore, when training ends (stopped early or
            not), the weights of the epoch with the best monitored value.
        start_from_epoch: epochs of warm-up during which nothing is monitored.

    Attributes:
        stopped_epoch: the epoch at which training was stopped (0 if it was not).
        best: the best monitored value so far (None before the first monitored epoch).
        best_epoch, best_weights, wait: the rest of the tracking state.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__()
        self.monitor = _check_monitor(monitor)
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float, np.number)):
            raise TypeError(f"min_delta must be a number, got {min_delta!r}")
        self.patience = _check_count(patience, "patience")
        self.start_from_epoch = _check_count(start_from_epoch, "start_from_epoch")
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = bool(restore_best_weights)
        self.mode = _check_mode(mode, "EarlyStopping")
        self.monitor_op = _monitor_op(self.monitor, self.mode)
        # Negative in "min" mode so that improvement is always op(current - min_delta, best).
        self.min_delta = abs(float(min_delta)) * (-1 if self.monitor_op is operator.lt else 1)
        self.wait = 0
        self.stopped_epoch = 0
        self.best: Any = None  # None until the first monitored epoch, which always improves on it
        self.best_weights: list[np.ndarray] | None = None
        self.best_epoch = 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        # Allow instances to be re-used across fit calls.
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Until something improves, the first monitored weights are the best known.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs: Logs | None) -> Any:
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs.keys())}",
                stacklevel=2,
            )
        return value

    def _is_improvement(self, value: Any, reference: Any) -> bool:
        return reference is None or _improves(self.monitor_op, value - self.min_delta, reference)


class TerminateOnNaN(Callback):
    """Stop training when a batch's loss is NaN or infinite.

    Args:
        raise_error: when True, raise ``RuntimeError`` immediately instead of
            setting ``model.stop_training`` (which lets ``on_train_end`` run).
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = bool(raise_error)

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or np.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. Terminating training immediately."
            )
        print(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at the start of every epoch.

    Args:
        schedule: ``schedule(epoch, lr) -> new_lr`` with a 0-based epoch and the
            current learning rate (the one-argument form ``schedule(epoch)`` is
            also accepted). It must return a float.
        verbose: 1 prints each update.

    At each epoch end the current rate is added to the logs as ``learning_rate``
    (so it appears in ``History.history``).
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"schedule must be callable, got {type(schedule).__name__}")
        self.schedule = schedule
        self.verbose = verbose

    def _optimizer(self) -> Any:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None or not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        return optimizer

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        optimizer = self._optimizer()
        try:
            learning_rate = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:  # the older one-argument schedule(epoch)
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (float, np.float32, np.float64)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {learning_rate}")
        optimizer.learning_rate = learning_rate
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self._optimizer().learning_rate)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when the monitored quantity stops improving.

    Args:
        monitor: log key to watch (default ``"val_loss"``); a warning is issued
            when it is missing.
        factor: the multiplier, ``new_lr = lr * factor`` (must be < 1).
        patience: epochs without improvement before reducing.
        verbose: 1 prints each reduction.
        mode: ``"auto"``, ``"min"`` or ``"max"``, as for ``EarlyStopping``.
        min_delta: minimum change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the learning rate never goes below this.

    Each epoch end adds the current rate to the logs as ``learning_rate``.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if kwargs:
            # Keras 3 silently accepts (and ignores) Keras 2 leftovers such as epsilon=.
            warnings.warn(f"ReduceLROnPlateau ignores the arguments {sorted(kwargs)}", stacklevel=2)
        self.monitor = _check_monitor(monitor)
        if isinstance(factor, bool) or not isinstance(factor, (int, float, np.number)):
            raise TypeError(f"factor must be a number, got {factor!r}")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float, np.number)):
            raise TypeError(f"min_delta must be a number, got {min_delta!r}")
        self.factor = factor
        self.min_lr = min_lr
        self.patience = _check_count(patience, "patience")
        self.cooldown = _check_count(cooldown, "cooldown")
        self.verbose = verbose
        self.mode = _check_mode(mode, "ReduceLROnPlateau")
        self.monitor_op = _monitor_op(self.monitor, self.mode)
        self.min_delta = abs(float(min_delta)) * (-1 if self.monitor_op is operator.lt else 1)
        self.best: Any = None
        self.cooldown_counter = 0
        self.wait = 0

    def _optimizer(self) -> Any:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None or not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        return optimizer

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        optimizer = self._optimizer()
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs.keys())}.",
                stacklevel=2,
            )
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.best is None or _improves(self.monitor_op, current - self.min_delta, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(optimizer.learning_rate)
                # Keras compares with min_lr as a float32.
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0
