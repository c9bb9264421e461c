"""Keras 3 callbacks: hooks into ``fit``, ``evaluate`` and ``predict``.

Same names, arguments, defaults and behaviour as ``keras.callbacks``:
``Callback``, ``CallbackList``, ``History``, ``EarlyStopping``,
``ModelCheckpoint``, ``TerminateOnNaN``, ``LambdaCallback``,
``LearningRateScheduler``, ``ReduceLROnPlateau``, ``CSVLogger`` and ``BackupAndRestore``.

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

Modules: ``base`` (the protocol, ``History``, ``CallbackList``, ``LambdaCallback``), ``monitoring``
(early stopping, learning-rate callbacks, ``TerminateOnNaN``), ``checkpoint`` (``ModelCheckpoint``), ``backup``
(``BackupAndRestore``), ``csv_logger`` (``CSVLogger``). Every public name is importable from ``cyneuron.callbacks``.
"""

from cyneuron.callbacks.backup import BackupAndRestore
from cyneuron.callbacks.base import Callback, CallbackList, History, LambdaCallback
from cyneuron.callbacks.checkpoint import ModelCheckpoint
from cyneuron.callbacks.csv_logger import CSVLogger
from cyneuron.callbacks.monitoring import EarlyStopping, LearningRateScheduler, ReduceLROnPlateau, TerminateOnNaN

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
    "BackupAndRestore",
]


# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
