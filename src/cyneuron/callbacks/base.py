"""The callback protocol: ``Callback``, ``History``, ``CallbackList`` and ``LambdaCallback``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

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
