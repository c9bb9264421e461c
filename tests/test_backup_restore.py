"""``callbacks.BackupAndRestore``: Keras 3's arguments and semantics, exact resumption, unreadable backups.

The kill tests run ``tests/backup_worker.py`` (a seeded fit) in a subprocess, SIGKILL it at points drawn
from a seeded schedule (half-way through writing a backup's temporary file, inside its fsync, between two
renames, at a batch end), restart it until it completes, and compare its final weights, optimizer state and
History with an uninterrupted run's, bit for bit.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

import cyneuron
from cyneuron import Input, Sequential
from cyneuron.callbacks import BackupAndRestore, Callback, CallbackList
from cyneuron.layers import Dense, Dropout
from cyneuron.utils import set_random_seed
from tests.conftest import BACKEND_PARAMS

WORKER = Path(__file__).with_name("backup_worker.py")


def make_model(seed=3):
    set_random_seed(seed)
    model = Sequential([Input((4,)), Dense(8, activation="tanh"), Dropout(0.2), Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


def make_data(n=30):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    return x, x @ np.array([1.0, -2.0, 0.5, 0.0], np.float32)[:, None]


class Interrupt(Callback):
    """Raise after the ``at``-th training batch or the ``epoch_at``-th epoch end (as Keras' test does)."""

    def __init__(self, at=None, epoch_at=None):
        super().__init__()
        self.at, self.epoch_at, self.batches, self.epochs = at, epoch_at, 0, 0

    def on_batch_end(self, batch, logs=None):
        self.batches += 1
        if self.batches == self.at:
            raise RuntimeError("StepsInterruption")

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1
        if self.epochs == self.epoch_at:
            raise RuntimeError("EpochInterruption")


def fit(model, callbacks=(), epochs=5, **kwargs):
    x, y = make_data()
    return model.fit(x, y, batch_size=4, epochs=epochs, verbose=0, callbacks=list(callbacks), **kwargs)


def same_state(a, b) -> bool:
    sa, sb = a.optimizer_state(), b.optimizer_state()
    return (
        all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))
        and sa["iterations"] == sb["iterations"]
        and np.array_equal(sa["scalars"], sb["scalars"])
        and all(np.array_equal(u, v) for x, y in zip(sa["slots"], sb["slots"]) for u, v in zip(x, y))
    )


# ============================================================ arguments (Keras' messages)
def test_invalid_save_freq_raises_value_error():
    for bad in ("batch", 0.15, 0, -3, None):
        with pytest.raises(ValueError, match="Invalid value"):
            BackupAndRestore(backup_dir="backup_dir", save_freq=bad)


@pytest.mark.parametrize("empty", ["", None])
def test_empty_backup_dir_raises_value_error(empty):
    with pytest.raises(ValueError, match="Empty `backup_dir` argument passed"):
        BackupAndRestore(backup_dir=empty, save_freq="epoch")


def test_defaults_and_paths(tmp_path):
    cb = BackupAndRestore(tmp_path / "b")
    assert (cb.save_freq, cb.double_checkpoint, cb.delete_checkpoint) == ("epoch", False, True)
    assert cb.backup_dir == str(tmp_path / "b")
    assert cb._prev_weights_path == cb._weights_path + ".bkp"
    # epoch backups keep fit's hook-free fast path; batch backups need the batch hook
    assert not CallbackList([cb]).needs_batch_hooks
    assert CallbackList([BackupAndRestore(tmp_path, save_freq=2)]).needs_batch_hooks
    assert not CallbackList([BackupAndRestore(tmp_path, save_freq=False)]).needs_batch_hooks
    assert "BackupAndRestore" in cyneuron.callbacks.__all__


# ============================================================ resuming after an exception
@pytest.mark.parametrize("backend", BACKEND_PARAMS, indirect=True)
@pytest.mark.parametrize("save_freq", ["epoch", 1, 3])
def test_resumed_fit_equals_an_uninterrupted_one(tmp_path, backend, save_freq):
    reference = make_model()
    full = fit(reference, validation_split=0.2).history
    model = make_model()
    cb = BackupAndRestore(tmp_path / "b", save_freq=save_freq)
    with pytest.raises(RuntimeError, match="StepsInterruption"):
        fit(model, [cb, Interrupt(at=17)], validation_split=0.2)  # 6 batches per epoch: epoch 2, batch 4
    assert (tmp_path / "b").is_dir()
    assert cb._current_epoch == 2 and cb._last_batch_seen == (0 if save_freq == "epoch" else 4)
    history = fit(model, [cb], validation_split=0.2)
    assert same_state(model, reference)
    # As Keras: the resumed fit's History holds the epochs it ran (epoch 2 was resumed mid-way with an
    # integer save_freq, re-run with "epoch"); every value equals the uninterrupted run's.
    assert history.epoch == [2, 3, 4]
    assert history.history == {key: values[2:] for key, values in full.items()}
    assert {key: values[:2] for key, values in full.items()} == cb.previous_history
    assert cb._current_epoch == 5
    assert not (tmp_path / "b").exists()  # delete_checkpoint


def test_resume_after_an_epoch_interruption_in_a_new_process_state(tmp_path):
    """Keras' docstring example: interrupted at epoch 4 of 10, the second fit runs the 6 others."""
    cb = BackupAndRestore(tmp_path / "b")
    model = make_model()
    with pytest.raises(RuntimeError):
        fit(model, [cb, Interrupt(epoch_at=4)], epochs=10)
    # a fresh model and callback (as in a restarted process) pick the backup up
    again = make_model()
    history = fit(again, [BackupAndRestore(tmp_path / "b")], epochs=10)
    assert len(history.history["loss"]) == 6
    reference = make_model()
    fit(reference, epochs=10)
    assert same_state(again, reference)


def test_delete_checkpoint_false_keeps_the_backup(tmp_path):
    cb = BackupAndRestore(tmp_path / "b", delete_checkpoint=False)
    model = make_model()
    fit(model, [cb], epochs=2)
    assert os.path.exists(cb._weights_path)
    assert json.loads(Path(cb._training_metadata_path).read_text()) == {"epoch": 2, "batch": 0}
    # a completed backup: the same call again has nothing left to run
    history = fit(model, [cb], epochs=2)
    assert history.epoch == []


def test_no_backup_starts_clean_and_save_freq_false_writes_nothing(tmp_path):
    model = make_model()
    fit(model, [BackupAndRestore(tmp_path / "b", save_freq=False, delete_checkpoint=False)], epochs=2)
    assert not (tmp_path / "b").exists()
    reference = make_model()
    fit(reference, epochs=2)
    assert same_state(model, reference)


# ============================================================ unreadable backups
def corrupt(path: str, how: str) -> None:
    data = Path(path).read_bytes()
    if how == "garbage":
        Path(path).write_text("0")
    elif how == "truncated":
        Path(path).write_bytes(data[: len(data) // 2])
    else:  # one flipped byte inside the model entry
        flipped = bytearray(data)
        flipped[len(data) // 2] ^= 0xFF
        Path(path).write_bytes(bytes(flipped))


@pytest.mark.parametrize("how", ["garbage", "truncated", "flipped"])
def test_corrupt_latest_falls_back_to_the_previous_backup(tmp_path, how):
    cb = BackupAndRestore(tmp_path / "b", double_checkpoint=True)
    model = make_model()
    with pytest.raises(RuntimeError):
        fit(model, [cb, Interrupt(epoch_at=3)])
    for path in (cb._weights_path, cb._training_metadata_path, cb._prev_weights_path):
        assert os.path.exists(path)
    corrupt(cb._weights_path, how)
    with pytest.warns(UserWarning, match="unreadable backup"):
        history = fit(model, [cb])
    assert history.epoch == [2, 3, 4]  # the previous backup is the end of epoch 1
    reference = make_model()
    fit(reference)
    assert same_state(model, reference)


@pytest.mark.parametrize("how", ["garbage", "truncated", "flipped"])
def test_corrupt_backup_without_a_previous_one_starts_clean(tmp_path, how):
    cb = BackupAndRestore(tmp_path / "b")
    with pytest.raises(RuntimeError):
        fit(make_model(), [cb, Interrupt(epoch_at=2)])
    corrupt(cb._weights_path, how)
    model = make_model()  # as a restarted process would
    with pytest.warns(UserWarning, match="unreadable backup"):
        history = fit(model, [cb])
    assert history.epoch == [0, 1, 2, 3, 4]
    reference = make_model()
    fit(reference)
    assert same_state(model, reference)


def test_backup_of_another_model_is_refused_naming_the_folder(tmp_path):
    cb = BackupAndRestore(tmp_path / "b")
    with pytest.raises(RuntimeError):
        fit(make_model(), [cb, Interrupt(epoch_at=1)])
    other = Sequential([Input((4,)), Dense(3), Dense(1)])
    other.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="does not belong to this fit: its weights"):
        fit(other, [cb])


def test_batch_source_resumes_at_the_start_of_the_backed_up_epoch(tmp_path):
    from cyneuron.utils import PyDataset

    x, y = make_data(32)

    class Batches(PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[i * 8 : (i + 1) * 8], y[i * 8 : (i + 1) * 8]

    cb = BackupAndRestore(tmp_path / "b", save_freq=2)
    model = make_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError):
            model.fit(Batches(), epochs=3, verbose=0, callbacks=[cb, Interrupt(at=7)])
        history = model.fit(Batches(), epochs=3, verbose=0, callbacks=[cb])
    assert history.epoch == [1, 2]


# ============================================================ killed processes
def run_worker(backend, workdir: Path, save_freq: str, double: bool, stop_at: str = "") -> tuple[bool, list[str]]:
    """Run the worker once; with ``stop_at`` SIGKILL it where it stops. Returns (killed, its RESUMED lines)."""
    env = dict(os.environ, CYNEURON_TEST_STOP_AT=stop_at)
    src = str(Path(cyneuron.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    args = [sys.executable, str(WORKER), backend, str(workdir / "backup"), str(workdir / "out.npz"), save_freq]
    proc = subprocess.Popen([*args, "1" if double else "0"], stdout=subprocess.PIPE, env=env)
    lines, killed = [], False
    try:
        for raw in proc.stdout:
            line = raw.decode().strip()
            if line == "STOPPED":
                proc.send_signal(signal.SIGKILL)
                killed = True
                break
            lines.append(line)
    finally:
        proc.stdout.close()
        code = proc.wait(timeout=60)
    assert killed or code == 0, f"worker exited with {code}"
    return killed, lines


def load_result(path: Path) -> dict:
    with np.load(path) as data:
        result = {key: data[key] for key in data.files}
    result["history"] = json.loads(result["history"].tobytes())
    return result


_REFERENCES: dict = {}


def reference_result(backend, tmp_path_factory) -> dict:
    if backend not in _REFERENCES:
        workdir = tmp_path_factory.mktemp(f"reference-{backend}")
        killed, _ = run_worker(backend, workdir, "none", False)
        assert not killed
        _REFERENCES[backend] = load_result(workdir / "out.npz")
    return _REFERENCES[backend]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
@pytest.mark.parametrize(
    ("backend_name", "save_freq", "double", "seed"),
    [("cython", "3", True, 1), ("numpy", "4", False, 2)],
)
def test_fit_killed_at_random_points_resumes_bit_for_bit(
    request, tmp_path, tmp_path_factory, backend_name, save_freq, double, seed
):
    if backend_name == "cython":
        from tests.conftest import cython_available

        if not cython_available():
            pytest.skip("compiled kernels not built")
    # A kill loses no written page (only a power cut would): tmpfs keeps the many fsyncs from dominating.
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        tmp_path = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="cyneuron-backup-"))
        request.addfinalizer(lambda: shutil.rmtree(tmp_path, ignore_errors=True))
    schedule_rng = random.Random(seed)
    marks = ["H", "F", "R", "B"]
    # every mark at least once, then random ones; counts small enough that each lands before the fit ends
    schedule = [f"{mark}:{schedule_rng.randint(1, 4)}" for mark in schedule_rng.sample(marks, len(marks))]
    schedule.append(f"{schedule_rng.choice(marks)}:{schedule_rng.randint(1, 6)}")
    kills, resumed = 0, []
    for stop_at in schedule:
        killed, lines = run_worker(backend_name, tmp_path, save_freq, double, stop_at)
        kills += killed
        resumed += [line for line in lines if line.startswith("RESUMED")]
        assert killed, f"the fit ended before {stop_at}: the schedule does not exercise what it says"
    killed, lines = run_worker(backend_name, tmp_path, save_freq, double)
    resumed += [line for line in lines if line.startswith("RESUMED")]
    assert not killed and kills == len(schedule)
    assert resumed, "no run resumed from a backup"
    if save_freq != "epoch":
        assert any(line.split()[2] != "0" for line in resumed), f"no run resumed mid-epoch: {resumed}"
    result, reference = load_result(tmp_path / "out.npz"), reference_result(backend_name, tmp_path_factory)
    assert result.keys() == reference.keys()
    for key in reference:
        if key == "history":
            assert result[key] == reference[key]
        else:
            assert np.array_equal(result[key], reference[key]), key
    assert not (tmp_path / "backup").exists()


# ============================================================ the step count seen between steps
def test_batch_hooks_and_mid_epoch_saves_see_the_current_step_count(tmp_path):
    """optimizer.iterations is in step with the weights after every batch (it used to lag until the epoch
    end, so a ModelCheckpoint(save_freq=N) file resumed with stale bias corrections and schedules)."""
    from cyneuron.callbacks import ModelCheckpoint
    from cyneuron.saving import load_model

    seen = []

    class Steps(Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(int(self.model.optimizer.iterations))

    model = make_model()
    checkpoint = ModelCheckpoint(str(tmp_path / "ckpt-{epoch}-{batch}.cyneuron"), save_freq=4)
    fit(model, [Steps(), checkpoint], epochs=2)  # 8 batches per epoch
    assert seen == list(range(1, 17))
    for epoch, batch in ((1, 4), (1, 8), (2, 4)):
        loaded = load_model(tmp_path / f"ckpt-{epoch}-{batch}.cyneuron")
        assert loaded.optimizer.iterations == (epoch - 1) * 8 + batch


def test_logs_holding_numpy_values_are_backed_up(tmp_path):
    class AddsNumpy(Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["np_scalar"] = np.float32(0.5)
            logs["np_array"] = np.arange(2)

    cb = BackupAndRestore(tmp_path / "b")
    with pytest.raises(RuntimeError):
        fit(make_model(), [AddsNumpy(), cb, Interrupt(epoch_at=2)])
    fit(make_model(), [AddsNumpy(), cb])
    assert cb.previous_history["np_scalar"] == [0.5, 0.5]
    assert cb.previous_history["np_array"] == [[0, 1], [0, 1]]


def test_backup_of_a_fit_on_other_data_is_refused_and_changes_nothing(tmp_path):
    cb = BackupAndRestore(tmp_path / "b")
    with pytest.raises(RuntimeError):
        fit(make_model(), [cb, Interrupt(epoch_at=1)])
    model = make_model()
    before = model.get_weights()
    x, y = make_data(20)
    with pytest.raises(ValueError, match="made by a fit on 30 samples, this one has 20"):
        model.fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[cb])
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_after_falling_back_the_good_previous_backup_survives_the_next_interruption(tmp_path):
    cb = BackupAndRestore(tmp_path / "b", double_checkpoint=True)
    with pytest.raises(RuntimeError):
        fit(make_model(), [cb, Interrupt(epoch_at=3)])
    corrupt(cb._weights_path, "garbage")
    model = make_model()
    with pytest.warns(UserWarning, match="unreadable backup"), pytest.raises(RuntimeError):
        fit(model, [cb, Interrupt(at=1)])  # stopped before its first backup
    assert not os.path.exists(cb._weights_path) and os.path.exists(cb._prev_weights_path)
    model = make_model()
    history = fit(model, [cb])
    assert history.epoch == [2, 3, 4]
    reference = make_model()
    fit(reference)
    assert same_state(model, reference)
