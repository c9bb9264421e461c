"""``BackupAndRestore``: a fit killed at any moment resumes, with the same call, from its last backup.

What a backup holds (one file, ``latest.cyneuron`` in ``backup_dir``, a zip of two entries):

* ``model.cyneuron``: the model in ``cyneuron.saving``'s format (architecture, weights including
  BatchNormalization's moving statistics, compile settings with the current learning rate, and the
  optimizer state: slots, scalars, ``iterations``), read back with every check ``load_model`` applies;
* ``backup.json``: where the fit was (``epoch``, batches done in it, the running loss/metric sums of those
  batches), the fit's seed and its number of shuffles so far (the shuffle generator's state and the epoch's
  permutation are replayed from these and checked), the thread's random generator as it was just after the
  fit drew its seed, and the History of the epochs completed so far.

The Dropout masks are a function of the fit's seed and the optimizer's step count, so they follow. The
state of other callbacks (``EarlyStopping``'s patience, ``ReduceLROnPlateau``'s counters) is not backed up,
as in Keras; the learning rate they set is (it is part of the model file).

Writes are atomic (a temporary file, fsync, rename) and the file is written complete or not at all, so a
kill during a backup leaves the previous one. With ``double_checkpoint`` the previous backup is kept as
``latest.cyneuron.bkp`` and used when the latest cannot be read (corrupted or truncated by something
else than this callback). A backup that cannot be read is never loaded: the fit falls back to the previous
one or starts from the beginning, with a warning. ``training_metadata.json`` mirrors Keras' metadata
(``{"epoch": ..., "batch": ...}``) for people reading the folder; restoring never reads it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import warnings
import zipfile
from typing import Any

import numpy as np

from cyneuron.callbacks.base import _TRAIN_BATCH_HOOKS, Callback, Logs

_FORMAT = "cyneuron.backup"
_VERSION = 1
_MODEL_ENTRY = "model.cyneuron"
_STATE_ENTRY = "backup.json"


class _Unreadable(Exception):
    """A backup file that is missing pieces, corrupted or foreign (never loaded)."""


class BackupAndRestore(Callback):
    """Back up the training state so that a fit interrupted at any moment (an exception, a kill) resumes.

    Call ``fit`` again with the same arguments and callback (in the same or a new process, after
    ``set_random_seed`` and the same model building): it restores the last backup and runs only what is
    left. With array inputs the final weights, optimizer state and every logged value are bit-for-bit those
    of an uninterrupted run, on either backend, including when resuming in the middle of an epoch (integer
    ``save_freq``: the epoch continues after the backed-up batch, in the same shuffled order). The resumed
    fit's ``History`` holds the epochs it ran (as in Keras); ``previous_history`` holds the earlier ones.
    Batch sources (generators, datasets) cannot be replayed: a fit over one resumes at the start of the epoch
    the backup was made in, as Keras does.

    Args:
        backup_dir: folder for the backup; it belongs to this callback (``delete_checkpoint`` removes it).
        save_freq: ``"epoch"`` (a backup at each epoch end), or an int N: a backup every N training batches;
            ``False`` never backs up.
        double_checkpoint: keep the previous backup too, to fall back on when the latest is unreadable.
        delete_checkpoint: remove ``backup_dir`` when the fit completes.

    Raises:
        ValueError: empty ``backup_dir``; ``save_freq`` neither ``"epoch"`` nor an int >= 1 (or False).
    """

    def __init__(
        self,
        backup_dir: str | os.PathLike,
        save_freq: str | int = "epoch",
        double_checkpoint: bool = False,
        delete_checkpoint: bool = True,
    ) -> None:
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        if not isinstance(backup_dir, (str, os.PathLike)):
            raise TypeError(f"backup_dir must be a str or os.PathLike, got {type(backup_dir).__name__}")
        if save_freq != "epoch" and (
            not isinstance(save_freq, (int, np.integer)) or (save_freq is not False and save_freq < 1)
        ):
            raise ValueError(
                "Invalid value for argument `save_freq`. "
                f"Received: save_freq={save_freq}. "
                "Expected either 'epoch' or an integer value."
            )
        self.save_freq = save_freq if save_freq in ("epoch", False) else int(save_freq)
        self.double_checkpoint = bool(double_checkpoint)
        self.delete_checkpoint = bool(delete_checkpoint)
        self.backup_dir = os.fsdecode(os.fspath(backup_dir))
        self._weights_path = os.path.join(self.backup_dir, "latest.cyneuron")
        self._training_metadata_path = os.path.join(self.backup_dir, "training_metadata.json")
        self._prev_weights_path = f"{self._weights_path}.bkp"
        self._prev_training_metadata_path = f"{self._training_metadata_path}.bkp"
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0
        self.previous_history: dict[str, list] = {}
        self._history: dict[str, list] = {}
        self._rng_state: dict | None = None

    def _implements_train_batch_hooks(self) -> bool:
        # Epoch backups leave fit's hook-free fast path in place.
        return self._batch_saving() or self._overrides(_TRAIN_BATCH_HOOKS, BackupAndRestore)

    def _batch_saving(self) -> bool:
        return isinstance(self.save_freq, int) and self.save_freq is not False

    # ------------------------------------------------------------------ restoring
    def on_train_begin(self, logs: Logs | None = None) -> None:
        from cyneuron import config

        self.previous_history, self._history = {}, {}
        # The fit has just drawn its seed: this is the generator state an uninterrupted run continues from.
        self._rng_state = config.random_generator().bit_generator.state
        for path in (self._weights_path, self._prev_weights_path):
            try:
                backup = _read_backup(path)
            except FileNotFoundError:
                continue
            except _Unreadable as exc:
                warnings.warn(f"BackupAndRestore: ignoring the unreadable backup {path}: {exc}", stacklevel=2)
                if path == self._weights_path and os.path.exists(self._prev_weights_path):
                    # so that the next backup does not copy it over the good previous one
                    os.remove(path)
                continue
            self._restore(path, *backup)
            return

    def _restore(self, path: str, state: dict, loaded: Any) -> None:
        """Check that the backup fits this model and fit (ValueError, nothing changed), then restore it."""
        from cyneuron import config

        model, position = self.model, state["position"]
        progress = getattr(model, "_fit_progress", None)
        problem = _mismatch(model, loaded)
        if problem is None and progress is not None and progress.resumable:
            if position["samples"] != progress.order.shape[0]:
                problem = (
                    f"it was made by a fit on {position['samples']} samples, this one has {progress.order.shape[0]}"
                )
            elif position["skip"] and len(position["stats"]) != progress.network.stats.shape[0]:
                problem = "it was made with other metrics compiled"
        if problem is not None:
            raise ValueError(
                f"BackupAndRestore: the backup {path} does not belong to this fit: {problem}; resume with the same "
                f"model and fit call, or give this fit another backup_dir (or delete {self.backup_dir})"
            )
        model.set_weights(loaded.get_weights())
        model.set_optimizer_state(loaded.optimizer_state())
        if not _is_schedule(model.optimizer) and not _is_schedule(loaded.optimizer):
            model.optimizer.learning_rate = float(loaded.optimizer.learning_rate)
        self._current_epoch = state["epoch"]
        self._last_batch_seen = state["batch"]
        self.previous_history = {key: list(values) for key, values in state["history"].items()}
        self._history = {key: list(values) for key, values in state["history"].items()}
        self._rng_state = state["rng_state"]
        config.random_generator().bit_generator.state = self._rng_state
        if progress is None:
            return
        progress.resume = {
            "seed": position["seed"],
            "shuffles": position["shuffles"],
            "epoch": position["epoch"],
            # a batch source cannot skip batches: its epoch starts again (Keras' behaviour for every input)
            "skip": position["skip"] if progress.resumable else 0,
            "stats": np.asarray(position["stats"], dtype=np.float64),
        }

    # ------------------------------------------------------------------ backing up
    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._current_epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self._should_save_on_batch(batch):
            self._save_model(skip=batch + 1)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        for key, value in (logs or {}).items():
            self._history.setdefault(key, []).append(value)
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.save_freq == "epoch":
            self._save_model(skip=0)

    def _should_save_on_batch(self, batch: int) -> bool:
        if not self._batch_saving():
            return False
        # A batch index that did not grow means a new epoch started.
        added = batch + 1 if batch <= self._last_batch_seen else batch - self._last_batch_seen
        self._batches_seen_since_last_saving += added
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _save_model(self, skip: int) -> None:
        """Write a backup; ``skip`` = batches done in epoch ``_current_epoch`` (0 at an epoch end)."""
        from cyneuron import saving

        progress = getattr(self.model, "_fit_progress", None)
        if progress is None:
            raise RuntimeError("BackupAndRestore: backups are made during fit() only")
        position = {
            "epoch": self._current_epoch,
            "skip": skip,
            "seed": progress.seed,
            "shuffles": progress.shuffles,
            "samples": int(progress.order.shape[0]),
            "stats": [float(v) for v in progress.network.stats] if skip else [],
        }
        state = {
            "format": _FORMAT,
            "format_version": _VERSION,
            "epoch": self._current_epoch,
            "batch": self._last_batch_seen,
            "position": position,
            "rng_state": self._rng_state,
            "history": self._history,
        }
        model_bytes = saving.model_to_bytes(self.model)
        state["model_sha256"] = hashlib.sha256(model_bytes).hexdigest()
        state_bytes = json.dumps(state, default=_plain).encode("utf-8")
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint:
            for latest, previous in (
                (self._weights_path, self._prev_weights_path),
                (self._training_metadata_path, self._prev_training_metadata_path),
            ):
                if os.path.exists(latest):
                    with open(latest, "rb") as f:
                        self._write(previous, f.read(), durable=latest == self._weights_path)
        self._write(self._weights_path, _backup_bytes(state_bytes, model_bytes))
        keras_metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
        self._write(self._training_metadata_path, json.dumps(keras_metadata).encode("utf-8"), durable=False)

    def _write(self, path: str, data: bytes, durable: bool = True) -> None:
        """Atomically replace ``path`` with ``data``: a temporary file renamed over it, and with ``durable``
        (the backups, not the informational metadata) fsync of the file and the folder, ~2 x 4-8 ms here."""
        from cyneuron.saving.files import atomic_write

        if durable:
            atomic_write(path, True, lambda f: f.write(data))
            return
        tmp = f"{path}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.delete_checkpoint and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)


def _mismatch(model: Any, loaded: Any) -> str | None:
    """Why the backed-up model ``loaded`` cannot be restored into ``model`` (None when it can)."""
    mine, theirs = model.get_weights(), loaded.get_weights()
    if [(w.shape, w.dtype) for w in mine] != [(w.shape, w.dtype) for w in theirs]:
        return "its weights have other shapes or dtypes"
    if model.optimizer is None or loaded.optimizer is None or type(model.optimizer) is not type(loaded.optimizer):
        return "it was trained with another optimizer"
    slots = [[a.shape for a in arrays] for arrays in model.optimizer_state()["slots"]]
    if slots != [[a.shape for a in arrays] for arrays in loaded.optimizer_state()["slots"]]:
        return "its optimizer state has another layout (other trainable layers)"
    return None


def _plain(value: Any) -> Any:
    """JSON for what callbacks may have put in the logs: NumPy scalars and arrays as numbers and lists,
    anything else as its ``str`` (the History is informational; the weights are in the model file)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _is_schedule(optimizer: Any) -> bool:
    from cyneuron.optimizers import schedules

    return isinstance(optimizer._learning_rate, schedules.LearningRateSchedule)


def _backup_bytes(state_bytes: bytes, model_bytes: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in ((_STATE_ENTRY, state_bytes), (_MODEL_ENTRY, model_bytes)):
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def _read_backup(path: str) -> tuple[dict, Any]:
    """The state and model of a backup file; FileNotFoundError when absent, ``_Unreadable`` when bad."""
    from cyneuron import saving

    with open(path, "rb") as f:
        data = f.read()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if sorted(zf.namelist()) != sorted((_STATE_ENTRY, _MODEL_ENTRY)):
                raise _Unreadable(f"unexpected entries {zf.namelist()}")
            if any(info.file_size > len(data) for info in zf.infolist()):
                raise _Unreadable("an entry declares more bytes than the file holds")
            state_bytes, model_bytes = zf.read(_STATE_ENTRY), zf.read(_MODEL_ENTRY)  # CRC-checked
        state = json.loads(state_bytes)
        _check_state(state)
        if hashlib.sha256(model_bytes).hexdigest() != state["model_sha256"]:
            raise _Unreadable("the model entry does not match its checksum")
        model = saving.model_from_bytes(model_bytes)
    except _Unreadable:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, TypeError, KeyError, EOFError, OSError) as exc:
        raise _Unreadable(str(exc) or type(exc).__name__) from exc
    return state, model


def _check_state(state: object) -> None:
    """Raise ``_Unreadable`` unless ``state`` has every field a resume reads, with the right types."""
    if not isinstance(state, dict) or state.get("format") != _FORMAT or state.get("format_version") != _VERSION:
        raise _Unreadable("not a cyneuron backup (format/format_version)")
    position = state.get("position")
    ints = ("epoch", "skip", "seed", "shuffles", "samples")
    if not isinstance(position, dict) or not all(_is_count(position.get(key)) for key in ints):
        raise _Unreadable("invalid position")
    stats = position.get("stats")
    if not isinstance(stats, list) or not all(isinstance(v, (int, float)) for v in stats):
        raise _Unreadable("invalid stats")
    if not (_is_count(state.get("epoch")) and _is_count(state.get("batch"))):
        raise _Unreadable("invalid epoch/batch")
    history = state.get("history")
    if not isinstance(history, dict) or not all(isinstance(v, list) for v in history.values()):
        raise _Unreadable("invalid history")
    if not isinstance(state.get("model_sha256"), str):
        raise _Unreadable("missing model checksum")
    try:
        np.random.default_rng().bit_generator.state = state.get("rng_state")
    except (TypeError, ValueError, KeyError) as exc:
        raise _Unreadable("invalid random generator state") from exc


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
