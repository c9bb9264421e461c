"""A seeded fit with ``BackupAndRestore``, run as a subprocess by ``tests/test_backup_restore.py``.

Usage: ``python backup_worker.py BACKEND BACKUP_DIR OUT SAVE_FREQ DOUBLE`` (``SAVE_FREQ`` "none" runs without the
callback: the uninterrupted reference). The fit's result (weights, optimizer state, the whole History: the
epochs of earlier, killed runs from ``previous_history`` then this run's) goes to ``OUT`` (``.npz``).

``CYNEURON_TEST_STOP_AT=MARK:K`` makes the K-th occurrence of MARK print ``STOPPED`` and sleep, so that the
parent's SIGKILL lands exactly there. Marks: ``H`` half-way through writing a backup's temporary file,
``F`` inside the fsync of a complete temporary file (not renamed yet), ``R`` just after a rename (between the
backup and its metadata file, or between the previous copy and the new backup), ``B`` at the end of a batch.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from cyneuron import Input, Sequential, set_backend
from cyneuron.callbacks import BackupAndRestore, Callback
from cyneuron.layers import BatchNormalization, Dense, Dropout
from cyneuron.optimizers import Adam
from cyneuron.saving.files import atomic_write
from cyneuron.utils import set_random_seed

EPOCHS, BATCH = 5, 8


def make_data():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((90, 6)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] ** 2 > 0.5).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)


def make_model():
    model = Sequential(
        [Input((6,)), Dense(16, activation="relu"), BatchNormalization(), Dropout(0.25), Dense(3, activation="softmax")]
    )
    model.compile(optimizer=Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class Stopper:
    def __init__(self, spec: str) -> None:
        mark, _, count = spec.partition(":")
        self.mark, self.left = (mark, int(count)) if spec else ("", 0)

    def __call__(self, mark: str) -> None:
        if mark != self.mark:
            return
        self.left -= 1
        if self.left == 0:
            print("STOPPED", flush=True)
            time.sleep(30)  # the parent kills this process now


STOP = Stopper(os.environ.get("CYNEURON_TEST_STOP_AT", ""))


class MarkedBackup(BackupAndRestore):
    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        resume = self.model._fit_progress.resume
        if resume is not None:
            print(f"RESUMED {resume['epoch']} {resume['skip']}", flush=True)

    def _write(self, path: str, data: bytes, durable: bool = True) -> None:
        if not durable:  # the informational metadata
            super()._write(path, data, durable)
            STOP("R")
            return

        def write(f):
            f.write(data[: len(data) // 2])
            f.flush()
            STOP("H")
            f.write(data[len(data) // 2 :])

        atomic_write(path, True, write)
        STOP("R")


class BatchMark(Callback):
    def on_train_batch_end(self, batch, logs=None):
        STOP("B")


def main() -> None:
    backend, backup_dir, out, save_freq, double = sys.argv[1:6]
    set_backend(backend)
    fsync = os.fsync

    def marked_fsync(fd):
        STOP("F")
        fsync(fd)

    os.fsync = marked_fsync
    set_random_seed(11)
    x, y = make_data()
    model = make_model()
    callbacks, backup = [BatchMark()], None
    if save_freq != "none":
        freq = save_freq if save_freq == "epoch" else int(save_freq)
        backup = MarkedBackup(backup_dir, save_freq=freq, double_checkpoint=double == "1")
        callbacks.insert(0, backup)
    history = model.fit(
        x, y, batch_size=BATCH, epochs=EPOCHS, validation_split=0.2, verbose=0, callbacks=callbacks
    ).history
    earlier = backup.previous_history if backup is not None else {}
    full = {key: earlier.get(key, []) + values for key, values in history.items()}
    state = model.optimizer_state()
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    arrays.update({f"s{i}_{j}": s for i, slots in enumerate(state["slots"]) for j, s in enumerate(slots)})
    arrays["scalars"] = state["scalars"]
    arrays["iterations"] = np.array(state["iterations"])
    arrays["history"] = np.frombuffer(json.dumps(full).encode(), dtype=np.uint8)
    with open(out + ".tmp", "wb") as f:
        np.savez(f, **arrays)
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
