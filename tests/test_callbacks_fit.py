"""Callbacks inside real ``fit`` / ``evaluate`` / ``predict`` calls, on both backends."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cyneuron import callbacks as cb
from cyneuron.layers import Dense
from cyneuron.models import Sequential, load_model
from cyneuron.optimizers import SGD
from cyneuron.utils import set_random_seed


def regression_data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)
    return x, y


def make_model(learning_rate=0.05, momentum=0.0, seed=2):
    set_random_seed(seed)
    model = Sequential([Dense(5, activation="tanh", input_shape=(3,)), Dense(1)])
    model.compile(optimizer=SGD(learning_rate=learning_rate, momentum=momentum), loss="mse", metrics=["mae"])
    return model


class Recorder(cb.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def _add(self, *event):
        self.events.append(event)

    def on_train_begin(self, logs=None):
        self._add("train_begin")

    def on_train_end(self, logs=None):
        self._add("train_end", sorted(logs or {}))

    def on_epoch_begin(self, epoch, logs=None):
        self._add("epoch_begin", epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._add("epoch_end", epoch, sorted(logs))

    def on_train_batch_begin(self, batch, logs=None):
        self._add("batch_begin", batch)

    def on_train_batch_end(self, batch, logs=None):
        self._add("batch_end", batch, sorted(logs))

    def on_test_begin(self, logs=None):
        self._add("test_begin")

    def on_test_end(self, logs=None):
        self._add("test_end", sorted(logs or {}))

    def on_test_batch_begin(self, batch, logs=None):
        self._add("test_batch_begin", batch)

    def on_test_batch_end(self, batch, logs=None):
        self._add("test_batch_end", batch)

    def on_predict_begin(self, logs=None):
        self._add("predict_begin")

    def on_predict_end(self, logs=None):
        self._add("predict_end")

    def on_predict_batch_begin(self, batch, logs=None):
        self._add("predict_batch_begin", batch)

    def on_predict_batch_end(self, batch, logs=None):
        self._add("predict_batch_end", batch)


def test_fit_calls_hooks_in_keras_order(backend):
    x, y = regression_data(n=25)
    model = make_model()
    rec = Recorder()
    history = model.fit(x, y, epochs=2, batch_size=10, validation_data=(x[:8], y[:8]), callbacks=[rec], verbose=0)
    names = [e[0] for e in rec.events]
    per_epoch = ["epoch_begin"] + ["batch_begin", "batch_end"] * 3 + ["test_begin", "test_batch_begin"]
    assert names[: 1 + len(per_epoch)] == ["train_begin", *per_epoch]
    assert names[-1] == "train_end"
    assert names.count("epoch_end") == 2 and names.count("batch_end") == 6
    epoch_ends = [e for e in rec.events if e[0] == "epoch_end"]
    assert epoch_ends[0] == ("epoch_end", 0, ["loss", "mae", "val_loss", "val_mae"])
    assert [e for e in rec.events if e[0] == "batch_end"][0] == ("batch_end", 0, ["loss", "mae"])
    # Validation runs after the last training batch and before on_epoch_end.
    first_end = names.index("epoch_end")
    assert names[first_end - 1] == "test_end" and "test_begin" in names[:first_end]
    assert rec.model is model and rec.params["epochs"] == 2
    assert model.history is history and sorted(history.history) == ["loss", "mae", "val_loss", "val_mae"]


def test_evaluate_and_predict_call_their_hooks(backend):
    x, y = regression_data(n=25)
    model = make_model()
    rec = Recorder()
    model.evaluate(x, y, batch_size=10, callbacks=[rec], verbose=0)
    assert [e[0] for e in rec.events][:2] == ["test_begin", "test_batch_begin"]
    assert rec.events[-1][0] == "test_end"
    assert [e[0] for e in rec.events].count("test_batch_end") == 3
    rec.events.clear()
    model.predict(x, batch_size=10, callbacks=[rec], verbose=0)
    names = [e[0] for e in rec.events]
    assert names[0] == "predict_begin" and names[-1] == "predict_end"
    assert names.count("predict_batch_end") == 3


def test_history_matches_keras_shape(backend):
    x, y = regression_data()
    history = make_model().fit(x, y, epochs=3, batch_size=8, validation_split=0.25, verbose=0)
    assert isinstance(history, cb.History)
    assert history.epoch == [0, 1, 2]
    assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert all(len(v) == 3 and all(isinstance(f, float) for f in v) for v in history.history.values())
    assert history.params["epochs"] == 3


class WeightLog(cb.Callback):
    def __init__(self):
        super().__init__()
        self.logs, self.weights = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.logs.append(dict(logs))
        self.weights.append(self.model.get_weights())


def test_early_stopping_stops_and_restores_the_best_epoch(backend):
    # A learning rate this large makes the loss bounce: improvements then regressions.
    x, y = regression_data()
    model = make_model(learning_rate=0.45, momentum=0.9)
    log = WeightLog()
    es = cb.EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    history = model.fit(x, y, epochs=40, batch_size=40, shuffle=False, callbacks=[log, es], verbose=0)
    losses = history.history["loss"]
    assert len(losses) < 40 and es.stopped_epoch == len(losses) - 1 > 0
    best = int(np.argmin(losses))
    assert es.best_epoch == best and es.best == losses[best]
    assert losses[-1] >= losses[-2] or losses[-1] >= losses[best]
    for have, want in zip(model.get_weights(), log.weights[best], strict=True):
        np.testing.assert_array_equal(have, want)


def test_early_stopping_without_restore_keeps_the_last_weights(backend):
    x, y = regression_data()
    model = make_model(learning_rate=0.45, momentum=0.9)
    log = WeightLog()
    model.fit(x, y, epochs=40, batch_size=40, shuffle=False, callbacks=[log, cb.EarlyStopping("loss")], verbose=0)
    assert len(log.weights) < 40
    for have, want in zip(model.get_weights(), log.weights[-1], strict=True):
        np.testing.assert_array_equal(have, want)


def test_model_checkpoint_keeps_the_best_model(backend, tmp_path):
    x, y = regression_data()
    model = make_model(learning_rate=0.45, momentum=0.9)
    log = WeightLog()
    path = tmp_path / "best.keras"
    ckpt = cb.ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    history = model.fit(
        x, y, epochs=8, batch_size=40, shuffle=False, validation_data=(x, y), callbacks=[log, ckpt], verbose=0
    )
    best = int(np.argmin(history.history["val_loss"]))
    restored = load_model(path)
    for have, want in zip(restored.get_weights(), log.weights[best], strict=True):
        np.testing.assert_array_equal(have, want)
    assert ckpt.best == history.history["val_loss"][best]


def test_model_checkpoint_weights_every_epoch(backend, tmp_path):
    x, y = regression_data()
    model = make_model()
    pattern = str(tmp_path / "w-{epoch:02d}-{loss:.3f}.weights.h5")
    history = model.fit(
        x, y, epochs=3, batch_size=16, callbacks=[cb.ModelCheckpoint(pattern, save_weights_only=True)], verbose=0
    )
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"w-{e + 1:02d}-{loss:.3f}.weights.h5" for e, loss in enumerate(history.history["loss"])]
    other = make_model(seed=9)
    other.load_weights(tmp_path / names[-1])
    for have, want in zip(other.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(have, want)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_terminate_on_nan(backend, capsys):
    x, y = regression_data()
    y = y * 1e30  # the loss overflows float32 at once
    model = make_model(learning_rate=0.5)
    before = model.get_weights()
    with pytest.warns(RuntimeWarning, match="not finite"):  # fit's own divergence report
        history = model.fit(x, y, epochs=5, batch_size=8, callbacks=[cb.TerminateOnNaN()], verbose=0)
    assert model.stop_training
    # cyneuron's fit ends the run inside the diverging epoch, before on_epoch_end.
    assert len(history.history.get("loss", [])) <= 1
    assert "Batch 0: Invalid loss, terminating training" in capsys.readouterr().out
    for have, want in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(have, want)  # the non-finite step was not applied


def test_learning_rate_scheduler_changes_training(backend):
    x, y = regression_data()
    rates = [0.1, 0.05, 0.025]
    scheduled = make_model(learning_rate=0.3, momentum=0.5)
    history = scheduled.fit(
        x,
        y,
        epochs=3,
        batch_size=8,
        shuffle=False,
        callbacks=[cb.LearningRateScheduler(lambda epoch, lr: rates[epoch])],
        verbose=0,
    )
    # logged as Keras logs it: the float32 learning-rate variable's value
    assert history.history["learning_rate"] == [float(np.float32(r)) for r in rates]
    assert scheduled.optimizer.learning_rate == pytest.approx(rates[-1])

    manual = make_model(learning_rate=0.3, momentum=0.5)
    for rate in rates:
        manual.optimizer.learning_rate = rate
        manual.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for have, want in zip(scheduled.get_weights(), manual.get_weights(), strict=True):
        np.testing.assert_array_equal(have, want)


def test_lambda_callback_and_stop_training_from_a_batch_hook(backend):
    x, y = regression_data()
    model = make_model()
    seen = []

    def on_batch_end(batch, logs):
        seen.append((batch, logs["loss"]))
        if len(seen) == 3:
            model.stop_training = True

    history = model.fit(
        x, y, epochs=5, batch_size=8, callbacks=[cb.LambdaCallback(on_train_batch_end=on_batch_end)], verbose=0
    )
    assert [b for b, _ in seen] == [0, 1, 2]
    assert all(math.isfinite(loss) for _, loss in seen)
    assert len(history.epoch) == 1


def test_csv_logger_in_fit(backend, tmp_path):
    x, y = regression_data()
    path = tmp_path / "train.csv"
    history = make_model().fit(x, y, epochs=2, batch_size=8, callbacks=[cb.CSVLogger(path)], verbose=0)
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,loss,mae,val_loss,val_mae"
    assert lines[2].split(",")[0] == "1" and lines[2].split(",")[3:] == ["NA", "NA"]
    assert [float(v) for v in lines[2].split(",")[1:3]] == [history.history["loss"][1], history.history["mae"][1]]


def test_csv_logger_with_validation_every_other_epoch(backend, tmp_path):
    x, y = regression_data()
    path = tmp_path / "train.csv"
    make_model().fit(
        x,
        y,
        epochs=3,
        batch_size=8,
        validation_data=(x, y),
        validation_freq=2,
        callbacks=[cb.CSVLogger(path)],
        verbose=0,
    )
    rows = [line.split(",") for line in path.read_text().splitlines()]
    assert rows[0] == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert rows[1][3:] == ["NA", "NA"] and rows[3][3:] == ["NA", "NA"]
    assert all(float(v) >= 0 for v in rows[2][1:])


def test_reduce_lr_on_plateau_changes_training(backend):
    x, y = regression_data()
    # min_delta this large means no epoch ever improves: the rate halves after every epoch but the first.
    reduced = make_model(learning_rate=0.2, momentum=0.5)
    rlr = cb.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0)
    history = reduced.fit(x, y, epochs=4, batch_size=8, shuffle=False, callbacks=[rlr], verbose=0)
    assert history.history["learning_rate"] == [float(np.float32(r)) for r in (0.2, 0.2, 0.1, 0.05)]
    manual = make_model(learning_rate=0.2, momentum=0.5)
    for rate in [0.2, 0.2, 0.1, 0.05]:
        manual.optimizer.learning_rate = rate
        manual.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for have, want in zip(reduced.get_weights(), manual.get_weights(), strict=True):
        np.testing.assert_array_equal(have, want)


def test_resuming_from_a_checkpoint_matches_uninterrupted_training(backend, tmp_path):
    x, y = regression_data()
    model = make_model(learning_rate=0.05, momentum=0.9)
    pattern = str(tmp_path / "ckpt-{epoch}.keras")
    model.fit(x, y, epochs=4, batch_size=8, shuffle=False, callbacks=[cb.ModelCheckpoint(pattern)], verbose=0)
    resumed = load_model(tmp_path / "ckpt-2.keras")
    resumed.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for have, want in zip(resumed.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(have, want)
    assert same_arrays(resumed.optimizer_state(), model.optimizer_state())


def test_checkpoint_every_few_batches_in_fit(backend, tmp_path):
    x, y = regression_data(n=40)
    model = make_model()
    pattern = str(tmp_path / "e{epoch}-b{batch}.keras")
    model.fit(x, y, epochs=2, batch_size=8, callbacks=[cb.ModelCheckpoint(pattern, save_freq=3)], verbose=0)
    # 5 batches per epoch: saves after batches 3 and 6 (= epoch 2, batch 1) and 9 (= epoch 2, batch 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e1-b3.keras", "e2-b1.keras", "e2-b4.keras"]
    assert load_model(tmp_path / "e2-b4.keras").built


def same_arrays(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
