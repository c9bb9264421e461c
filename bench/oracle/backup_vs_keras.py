"""Keras oracle for ``callbacks.BackupAndRestore``: the same interruption protocols through both.

Run under the Keras venv (not part of the test suite):

    KERAS_BACKEND=jax /work/kvenv/bin/python bench/oracle/backup_vs_keras.py

For each scenario (Keras' own test protocols: interrupt a fit with an exception at a batch or an epoch
end, optionally corrupt the latest backup, fit again with the same callback) it prints what each library
shows: the callback's ``_current_epoch`` / ``_last_batch_seen`` after the interruption and after the
resumed fit, the resumed History's epochs, which backup files exist, whether ``backup_dir`` was removed;
then the exceptions raised for invalid arguments. A line ends in ``same`` or ``DIFFERENT``.

Deliberate difference, not visible in these observables: after a batch-level backup Keras restarts the
interrupted epoch from its first batch (it restores the epoch only); cyneuron continues after the backed-up
batch with the same shuffle order. Both show the interrupted epoch in the resumed History.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import cyneuron  # noqa: E402
from cyneuron import callbacks as cy_callbacks  # noqa: E402


def interrupting(base, steps_int, epoch_int):
    class Interrupting(base):
        def __init__(self):
            super().__init__()
            self.batches, self.epochs = 0, 0

        def on_epoch_end(self, epoch, logs=None):
            self.epochs += 1
            if epoch_int is not None and self.epochs == epoch_int:
                raise RuntimeError("EpochInterruption")

        def on_batch_end(self, batch, logs=None):
            self.batches += 1
            if steps_int is not None and self.batches == steps_int:
                raise RuntimeError("StepsInterruption")

    return Interrupting()


def keras_model():
    model = keras.Sequential([keras.layers.Input((3,)), keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer="sgd", metrics=["mse"])
    return model


def cyneuron_model():
    model = cyneuron.Sequential([cyneuron.Input((3,)), cyneuron.layers.Dense(1)])
    model.compile(loss="mse", optimizer="sgd", metrics=["mse"])
    return model


def scenario(lib, save_freq, steps_int, epoch_int, double, corrupt, epochs_first, epochs_second):
    make, module = (keras_model, keras.callbacks) if lib == "keras" else (cyneuron_model, cy_callbacks)
    folder = tempfile.mkdtemp()
    backup_dir = os.path.join(folder, "subdir")
    rng = np.random.default_rng(0)
    x, y = rng.random((10, 3)).astype(np.float32), rng.random((10, 1)).astype(np.float32)
    model = make()
    cb = module.BackupAndRestore(backup_dir, save_freq=save_freq, double_checkpoint=double)
    seen = {}
    try:
        model.fit(
            x,
            y,
            batch_size=4,
            epochs=epochs_first,
            verbose=0,
            callbacks=[cb, interrupting(module.Callback, steps_int, epoch_int)],
        )
        seen["interrupted"] = False
    except RuntimeError:
        seen["interrupted"] = True
    seen["after interruption"] = (cb._current_epoch, cb._last_batch_seen)
    seen["files"] = sorted(
        name
        for name, path in (
            ("weights", cb._weights_path),
            ("metadata", cb._training_metadata_path),
            ("prev weights", cb._prev_weights_path),
            ("prev metadata", cb._prev_training_metadata_path),
        )
        if os.path.exists(path)
    )
    if corrupt:
        with open(cb._weights_path, "w") as f:
            f.write("0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = model.fit(x, y, batch_size=4, epochs=epochs_second, verbose=0, callbacks=[cb])
    seen["resumed epochs"] = list(history.epoch)
    seen["after resume"] = cb._current_epoch
    seen["dir removed"] = not os.path.exists(backup_dir)
    shutil.rmtree(folder, ignore_errors=True)
    return seen


SCENARIOS = {
    "step backup, interrupted at batch 2": dict(
        save_freq=1, steps_int=2, epoch_int=None, double=False, corrupt=False, epochs_first=2, epochs_second=5
    ),
    "every 2 batches, interrupted at batch 7": dict(
        save_freq=2, steps_int=7, epoch_int=None, double=False, corrupt=False, epochs_first=4, epochs_second=4
    ),
    "epoch backup, interrupted at epoch 2": dict(
        save_freq="epoch", steps_int=None, epoch_int=2, double=False, corrupt=False, epochs_first=6, epochs_second=5
    ),
    "double checkpoint, latest corrupted": dict(
        save_freq="epoch", steps_int=None, epoch_int=2, double=True, corrupt=True, epochs_first=6, epochs_second=5
    ),
    "not interrupted": dict(
        save_freq="epoch", steps_int=None, epoch_int=None, double=False, corrupt=False, epochs_first=2, epochs_second=2
    ),
}


def errors(module):
    out = []
    for kwargs in (
        {"backup_dir": "", "save_freq": "epoch"},
        {"backup_dir": None, "save_freq": "epoch"},
        {"backup_dir": "d", "save_freq": "batch"},
        {"backup_dir": "d", "save_freq": 0.15},
    ):
        try:
            module.BackupAndRestore(**kwargs)
            out.append("accepted")
        except Exception as exc:  # noqa: BLE001 - reported
            out.append(f"{type(exc).__name__}: {str(exc)[:60]}")
    return out


def main() -> None:
    different = 0
    for name, kwargs in SCENARIOS.items():
        k, c = scenario("keras", **kwargs), scenario("cyneuron", **kwargs)
        for key in k:
            verdict = "same" if k[key] == c[key] else "DIFFERENT"
            different += verdict != "same"
            print(f"{name:42s} {key:20s} keras={k[key]!s:40s} cyneuron={c[key]!s:40s} {verdict}")
    for k, c in zip(errors(keras.callbacks), errors(cy_callbacks)):
        verdict = "same" if k == c else "DIFFERENT"
        different += verdict != "same"
        print(f"{'invalid arguments':42s} keras={k:70s} cyneuron={c:70s} {verdict}")
    print(f"{different} difference(s)")


if __name__ == "__main__":
    main()
