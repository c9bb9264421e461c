"""Keras 3 callbacks: hooks into ``fit``, ``evaluate`` and ``predict``.

Same names, arguments, defaults and behaviour as ``keras.callbacks``:
``Callback``, ``CallbackList``, ``History``, ``EarlyStopping``,
``ModelCheckpoint``, ``TerminateOnNaN``, ``LambdaCallback``,
``LearningRateScheduler``, ``ReduceLROnPlateau`` and ``CSVLogger``.

Differences from Keras, all deliberate:

* ``ModelCheckpoint`` accepts any file name (Keras 3 insists on ``.keras`` /
  ``.weights.h5``); files are written with ``cyneuron.saving``.
* ``CallbackList.needs_batch_hooks`` (and the test / predict variants) tell the
  training loop whether any callback overrides a per-batch hook, so that ``fit``
  can skip all per-batch Python work when none does.
* ``mode="auto"`` infers the direction from the monitored name alone
  (``"max"`` for accuracies and AUC, ``"min"`` otherwise), since cyneuron's
  metrics are all known by name; Keras asks the model's metric objects and
  raises ValueError for names it cannot place.
* ``LambdaCallback`` rejects keyword arguments that are not hook names (Keras
  stores them silently), and ``CallbackList(add_progbar=True)`` is refused:
  ``fit(verbose=...)`` draws the progress bar itself.

Monitored values are compared as Keras does, through ``floatx`` scalars
(``ops.less`` converts Python floats to float32), and ``best`` starts as None.
"""

from __future__ import annotations

import collections
import csv
import operator
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

__all__ = [
    "Callback",
    "CallbackList",
    "History",
    "EarlyStopping",
    "ModelCheckpoint",
    "TerminateOnNaN",
    "LambdaCallback",
    "LearningRateScheduler",
    "ReduceLROnPlateau",
    "CSVLogger",
]

Logs = dict[str, Any]

_TRAIN_BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end")
_TEST_BATCH_HOOKS = ("on_test_batch_begin", "on_test_batch_end")
_PREDICT_BATCH_HOOKS = ("on_predict_batch_begin", "on_predict_batch_end")
_HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_test_begin",
    "on_test_end",
    "on_predict_begin",
    "on_predict_end",
    *_TRAIN_BATCH_HOOKS,
    *_TEST_BATCH_HOOKS,
    *_PREDICT_BATCH_HOOKS,
)


class Callback:
    """Base class of callbacks: override the ``on_*`` hooks you need.

    Attributes:
        params: dict of training parameters set by ``fit`` (``verbose``,
            ``epochs``, ``steps``), or None.
        model: the model being trained, evaluated or used for prediction.

    ``on_train_batch_begin`` / ``on_train_batch_end`` call the older aliases
    ``on_batch_begin`` / ``on_batch_end``, so overriding either name works.
    ``logs`` of batch hooks hold the running means of the loss and metrics over
    the epoch so far; ``on_epoch_end`` logs hold the epoch's means plus ``val_*``
    entries when validating.
    """

    # Class-level defaults keep subclasses working when they skip super().__init__().
    params: dict | None = None
    _model: Any = None

    def __init__(self) -> None:
        self.params = None
        self._model = None

    def set_params(self, params: dict | None) -> None:
        self.params = params

    def set_model(self, model: Any) -> None:
        self._model = model

    @property
    def model(self) -> Any:
        return self._model

    @model.setter
    def model(self, model: Any) -> None:
        self._model = model

    # Training ---------------------------------------------------------------------
    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Called once at the start of ``fit``."""

    def on_train_end(self, logs: Logs | None = None) -> None:
        """Called once at the end of ``fit``; ``logs`` are the last epoch's."""

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        """Called at the start of epoch ``epoch`` (0-based)."""

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        """Called at the end of epoch ``epoch`` (0-based) with the epoch's results."""

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Alias of ``on_train_batch_begin`` kept for backwards compatibility."""

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Alias of ``on_train_batch_end`` kept for backwards compatibility."""

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Called before training batch ``batch`` (0-based, within the epoch)."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Called after training batch ``batch``; logs hold running means so far."""
        self.on_batch_end(batch, logs=logs)

    # Evaluation -------------------------------------------------------------------
    def on_test_begin(self, logs: Logs | None = None) -> None:
        """Called at the start of ``evaluate`` and of each validation pass."""

    def on_test_end(self, logs: Logs | None = None) -> None:
        """Called at the end of ``evaluate`` and of each validation pass."""

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Called before each evaluation batch."""

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Called after each evaluation batch."""

    # Prediction -------------------------------------------------------------------
    def on_predict_begin(self, logs: Logs | None = None) -> None:
        """Called at the start of ``predict``."""

    def on_predict_end(self, logs: Logs | None = None) -> None:
        """Called at the end of ``predict``."""

    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Called before each prediction batch."""

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Called after each prediction batch."""

    # Which hooks matter -----------------------------------------------------------
    def _overrides(self, hooks: Iterable[str], base: type | None = None) -> bool:
        """Whether any of ``hooks`` differs from ``base``'s (default: ``Callback``'s no-ops)."""
        cls, base = type(self), base or Callback
        for name in hooks:
            if name in vars(self):  # set per instance, as LambdaCallback does
                return True
            if getattr(cls, name) is not getattr(base, name):
                return True
        return False

    def _implements_train_batch_hooks(self) -> bool:
        return self._overrides(_TRAIN_BATCH_HOOKS)

    def _implements_test_batch_hooks(self) -> bool:
        return self._overrides(_TEST_BATCH_HOOKS)

    def _implements_predict_batch_hooks(self) -> bool:
        return self._overrides(_PREDICT_BATCH_HOOKS)


class History(Callback):
    """Records each epoch's logs; ``fit`` returns this object.

    Attributes:
        history: dict mapping each log key (``"loss"``, ``"val_loss"``, metric
            names...) to the list of its per-epoch values.
        epoch: list of the epoch indices recorded during the last ``fit``.
        params: the training parameters of the last ``fit``.

    As in Keras 3, ``on_train_begin`` resets ``epoch`` only: one instance reused
    across several ``fit`` calls keeps appending to ``history`` (``fit`` makes a
    fresh ``History`` each call unless one is passed in).
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        # Keep model.history pointing at the latest state, as Keras does.
        if self.model is not None:
            self.model.history = self


class CallbackList(Callback):
    """Calls a list of callbacks in order, as one callback.

    Args (Keras 3's order and defaults):
        callbacks: a list (or a single) ``Callback``.
        add_history: append a ``History`` when the list has none (``history``
            then returns it and ``model.history`` points to it). ``fit`` passes True.
        add_progbar: must be False: cyneuron's ``fit(verbose=...)`` draws the
            progress bar itself.
        model: the model the callbacks act on; ``set_model`` can give it later.
        **params: when given, passed to every callback with ``set_params``.

    Every hook passes the same ``logs`` dict to each callback in turn, so a
    callback that adds keys (``LearningRateScheduler`` adds ``learning_rate``)
    is seen by the ones after it, the ``History`` last of all.
    """

    def __init__(
        self,
        callbacks: Iterable[Callback] | Callback | None = None,
        add_history: bool = False,
        add_progbar: bool = False,
        model: Any = None,
        **params: Any,
    ) -> None:
        super().__init__()
        if add_progbar:
            raise ValueError("CallbackList(add_progbar=True) is not supported: fit(verbose=...) shows progress")
        if callbacks is None:
            items: list[Callback] = []
        elif isinstance(callbacks, CallbackList):
            items = list(callbacks.callbacks)
        elif isinstance(callbacks, Callback):
            items = [callbacks]
        else:
            try:
                items = list(callbacks)
            except TypeError:
                raise TypeError(
                    f"callbacks must be a list of Callback instances, got {type(callbacks).__name__}"
                ) from None
        for i, cb in enumerate(items):
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"callbacks[{i}] must be a cyneuron.callbacks.Callback instance, got {type(cb).__name__}"
                )
        self.callbacks: list[Callback] = items
        self._history: History | None = next((cb for cb in items if isinstance(cb, History)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        self.set_model(model)
        self.set_params(params)

    # Container ----------------------------------------------------------------------
    def append(self, callback: Callback) -> None:
        if not isinstance(callback, Callback):
            raise TypeError(f"callback must be a Callback instance, got {type(callback).__name__}")
        self.callbacks.append(callback)
        if self._model is not None:
            callback.set_model(self._model)
        if self.params:
            callback.set_params(self.params)

    def __iter__(self) -> Iterator[Callback]:
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    @property
    def history(self) -> History | None:
        """The list's ``History`` callback (None when there is none)."""
        return self._history

    def set_params(self, params: dict | None) -> None:
        self.params = params
        if params:
            for cb in self.callbacks:
                cb.set_params(params)

    def set_model(self, model: Any) -> None:
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for cb in self.callbacks:
            cb.set_model(model)

    @property
    def needs_batch_hooks(self) -> bool:
        """True when some callback overrides a training-batch hook (else fit may skip them)."""
        return any(cb._implements_train_batch_hooks() for cb in self.callbacks)

    @property
    def needs_test_batch_hooks(self) -> bool:
        """True when some callback overrides an evaluation-batch hook."""
        return any(cb._implements_test_batch_hooks() for cb in self.callbacks)

    @property
    def needs_predict_batch_hooks(self) -> bool:
        """True when some callback overrides a prediction-batch hook."""
        return any(cb._implements_predict_batch_hooks() for cb in self.callbacks)

    def _implements_train_batch_hooks(self) -> bool:
        return self.needs_batch_hooks

    def _implements_test_batch_hooks(self) -> bool:
        return self.needs_test_batch_hooks

    def _implements_predict_batch_hooks(self) -> bool:
        return self.needs_predict_batch_hooks

    # Fan-out --------------------------------------------------------------------------
    def on_train_begin(self, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_batch_begin(batch, logs=logs)

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_batch_end(batch, logs=logs)

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_train_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_train_batch_end(batch, logs=logs)

    def on_test_begin(self, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_test_begin(logs)

    def on_test_end(self, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_test_end(logs)

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_test_batch_begin(batch, logs=logs)

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_test_batch_end(batch, logs=logs)

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_predict_begin(logs)

    def on_predict_end(self, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_predict_end(logs)

    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_predict_batch_begin(batch, logs=logs)

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_predict_batch_end(batch, logs=logs)


# ------------------------------------------------------------------------------ monitoring
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


class ModelCheckpoint(Callback):
    """Save the model (or its weights) at the end of every epoch or every ``save_freq`` batches.

    Args:
        filepath: ``str`` or ``os.PathLike``; may contain ``str.format`` fields
            filled with ``epoch`` (1-based), ``batch`` (1-based, batch saving
            only) and the log keys, e.g. ``"ckpt-{epoch:02d}-{val_loss:.2f}.keras"``.
            Any extension is accepted (Keras 3 requires ``.keras`` /
            ``.weights.h5``). Missing folders are created.
        monitor: log key compared when ``save_best_only``.
        verbose: 1 prints a message on each save decision.
        save_best_only: only save when the monitored value improves on the best
            so far (always save when it is missing from the logs, with a warning).
        save_weights_only: ``model.save_weights`` instead of ``model.save``.
        mode: ``"auto"``, ``"min"`` or ``"max"``, as for ``EarlyStopping``.
        save_freq: ``"epoch"`` or a number of training batches.
        initial_value_threshold: initial "best" value for ``save_best_only``.
    """

    def __init__(
        self,
        filepath: str | os.PathLike,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(filepath, (str, os.PathLike)):
            raise TypeError(f"filepath must be a str or os.PathLike, got {type(filepath).__name__}")
        self.filepath = os.fsdecode(os.fspath(filepath))
        self.monitor = _check_monitor(monitor)
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, (int, np.integer)) or save_freq <= 0
        ):
            raise ValueError(
                f"Unrecognized save_freq: {save_freq!r}. Expected save_freq are 'epoch' or integer values > 0"
            )
        self.save_freq = save_freq if save_freq == "epoch" else int(save_freq)
        self.mode = _check_mode(mode, "ModelCheckpoint")
        self.monitor_op = _monitor_op(self.monitor, self.mode)
        # None until the first monitored value, which then always counts as an improvement.
        self.best: Any = initial_value_threshold
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen: int | None = None
        self._current_epoch = 0

    def _implements_train_batch_hooks(self) -> bool:
        # The batch hook only matters when saving every few batches (or in a subclass).
        return self.save_freq != "epoch" or self._overrides(_TRAIN_BATCH_HOOKS, ModelCheckpoint)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._current_epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self._should_save_on_batch(batch):
            self._save_model(epoch=self._current_epoch, batch=batch, logs=logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            self._save_model(epoch=epoch, batch=None, logs=logs)

    def _should_save_on_batch(self, batch: int) -> bool:
        if self.save_freq == "epoch":
            return False
        # A batch index that did not grow means a new epoch started.
        if self._last_batch_seen is None or batch <= self._last_batch_seen:
            added = batch + 1
        else:
            added = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += added
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _should_save_model(self, epoch: int, logs: Logs, filepath: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        if isinstance(current, np.ndarray) and current.ndim > 0:
            warnings.warn(
                f"Can save best model only when `monitor` is a scalar value. Received: {current}. "
                "Falling back to `save_best_only=False`.",
                stacklevel=3,
            )
            return True
        best_str = "None" if self.best is None else f"{self.best:.5f}"
        if _improves(self.monitor_op, current, self.best):
            if self.verbose > 0:
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_str} to {current:.5f}, "
                    f"saving model to {filepath}"
                )
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_str}")
        return False

    def _save_model(self, epoch: int, batch: int | None, logs: Logs | None) -> None:
        logs = logs or {}
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save_model(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise OSError(
                f"Please specify a non-directory filepath for ModelCheckpoint. "
                f"Filepath used is an existing directory: {filepath}"
            )
        folder = os.path.dirname(filepath)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")

    def _get_file_path(self, epoch: int, batch: int | None, logs: Logs) -> str:
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as exc:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {exc}') from exc


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


class LambdaCallback(Callback):
    """A callback made of plain functions, called with the hooks' positional arguments.

    ``on_epoch_begin`` / ``on_epoch_end`` receive ``(epoch, logs)``,
    ``on_train_begin`` / ``on_train_end`` receive ``(logs)``, the batch hooks
    ``(batch, logs)``; any other hook (``on_test_end=...``, ``on_batch_end=...``)
    can be given as a keyword argument.
    """

    def __init__(
        self,
        on_epoch_begin: Callable | None = None,
        on_epoch_end: Callable | None = None,
        on_train_begin: Callable | None = None,
        on_train_end: Callable | None = None,
        on_train_batch_begin: Callable | None = None,
        on_train_batch_end: Callable | None = None,
        **kwargs: Callable,
    ) -> None:
        super().__init__()
        hooks = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
        }
        for name in kwargs:
            if name not in _HOOKS:
                raise TypeError(f"LambdaCallback got an unknown hook {name!r}; expected one of {', '.join(_HOOKS)}")
        hooks.update(kwargs)
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
            setattr(self, name, fn)


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


class CSVLogger(Callback):
    """Stream each epoch's logs to a CSV file: an ``epoch`` column (0-based) then the sorted log keys.

    The columns are fixed by the first epoch's logs; as in Keras 3, when those
    hold no ``val_`` keys a ``val_`` column is added for each key (written as
    ``NA`` until validation runs). Lines end with ``"\\r\\n"`` like Keras' output.

    Args:
        filename: ``str`` or ``os.PathLike`` of the CSV file.
        separator: the field delimiter.
        append: append to an existing file (its header is kept) instead of overwriting it.
    """

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(f"filename must be a str or os.PathLike, got {type(filename).__name__}")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"separator must be a one-character str, got {separator!r}")
        self.sep = separator
        self.filename = os.fsdecode(os.fspath(filename))
        self.append = bool(append)
        self.writer: csv.DictWriter | None = None
        self.keys: list[str] | None = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, encoding="utf-8", newline="") as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        # newline="" lets the csv module write its own "\r\n" line ends, as Keras does.
        self.csv_file = open(self.filename, mode, encoding="utf-8", newline="")  # noqa: SIM115
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}

        def handle_value(value: Any) -> Any:
            if isinstance(value, str):
                return value
            if isinstance(value, collections.abc.Iterable) and not (isinstance(value, np.ndarray) and value.ndim == 0):
                return f'"[{", ".join(map(str, value))}]"'
            return value

        if self.keys is None:
            self.keys = sorted(logs.keys())
            # As Keras 3: without validation keys in the first epoch, reserve val_ columns
            # (filled with "NA") in case validation runs later (validation_freq > 1).
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys.extend([f"val_{key}" for key in self.keys])
        if self.writer is None:
            separator = self.sep

            class CustomDialect(csv.excel):
                delimiter = separator

            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch", *self.keys], dialect=CustomDialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, handle_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
