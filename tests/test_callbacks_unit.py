"""Callbacks driven by a scripted training loop, so every logged value is chosen by the test.

``run_fit`` calls the hooks in the order Keras 3's ``fit`` does; the stand-in
model's weights are the epoch number, so restored weights say which epoch they
came from. Real ``fit`` runs are in test_callbacks_fit.py.
"""

from __future__ import annotations

import math
import operator
import os

import numpy as np
import pytest

from cyneuron import callbacks as cb


class FakeOptimizer:
    def __init__(self, learning_rate=0.1):
        self.learning_rate = learning_rate


class FakeModel:
    def __init__(self):
        self.weights = [np.zeros((2, 2)), np.zeros(2)]
        self.stop_training = False
        self.optimizer = FakeOptimizer()
        self.saved = []  # (kind, path, epoch weight) of each save

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [w.copy() for w in weights]

    def save(self, path, overwrite=True):
        self.saved.append(("model", path, float(self.weights[0][0, 0])))
        with open(path, "w") as f:
            f.write("model")

    def save_weights(self, path, overwrite=True):
        self.saved.append(("weights", path, float(self.weights[0][0, 0])))
        with open(path, "w") as f:
            f.write("weights")


def run_fit(model, callbacks, epoch_logs, batches=2, batch_logs=None, validate=False):
    """Keras 3 fit's hook sequence; epoch e trains the weights to the value e + 1."""
    cbl = cb.CallbackList(callbacks, model=model, add_history=True, verbose=0, epochs=len(epoch_logs), steps=batches)
    model.stop_training = False
    cbl.on_train_begin()
    logs = None
    for epoch, scripted in enumerate(epoch_logs):
        cbl.on_epoch_begin(epoch)
        for batch in range(batches):
            cbl.on_train_batch_begin(batch)
            model.weights = [np.full_like(w, epoch + 1) for w in model.weights]
            cbl.on_train_batch_end(batch, dict(batch_logs[epoch][batch]) if batch_logs else {"loss": 1.0})
            if model.stop_training:
                break
        if validate:
            cbl.on_test_begin()
            cbl.on_test_batch_begin(0)
            cbl.on_test_batch_end(0, {"loss": 0.5})
            cbl.on_test_end({"loss": 0.5})
        logs = dict(scripted)
        cbl.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbl.on_train_end(logs)
    return cbl.history


def epoch_of(model):
    """Which epoch's weights the model holds (0 = untrained)."""
    return int(model.weights[0][0, 0])


class Recorder(cb.Callback):
    def __init__(self, log):
        super().__init__()
        self.log = log

    def on_train_begin(self, logs=None):
        self.log.append("train_begin")

    def on_train_end(self, logs=None):
        self.log.append("train_end")

    def on_epoch_begin(self, epoch, logs=None):
        self.log.append(f"epoch_begin {epoch}")

    def on_epoch_end(self, epoch, logs=None):
        self.log.append(f"epoch_end {epoch} {sorted(logs)}")

    def on_train_batch_begin(self, batch, logs=None):
        self.log.append(f"batch_begin {batch}")

    def on_train_batch_end(self, batch, logs=None):
        self.log.append(f"batch_end {batch}")

    def on_test_begin(self, logs=None):
        self.log.append("test_begin")

    def on_test_end(self, logs=None):
        self.log.append("test_end")

    def on_test_batch_begin(self, batch, logs=None):
        self.log.append(f"test_batch_begin {batch}")

    def on_test_batch_end(self, batch, logs=None):
        self.log.append(f"test_batch_end {batch}")

    def on_predict_begin(self, logs=None):
        self.log.append("predict_begin")

    def on_predict_end(self, logs=None):
        self.log.append("predict_end")

    def on_predict_batch_begin(self, batch, logs=None):
        self.log.append(f"predict_batch_begin {batch}")

    def on_predict_batch_end(self, batch, logs=None):
        self.log.append(f"predict_batch_end {batch}")


# ------------------------------------------------------------------------------ Callback / CallbackList
def test_hooks_are_called_in_order_for_every_callback():
    log = []
    run_fit(FakeModel(), [Recorder(log), Recorder(log)], [{"loss": 1.0, "val_loss": 2.0}] * 2, validate=True)
    per_epoch = lambda e: [  # noqa: E731
        f"epoch_begin {e}",
        "batch_begin 0",
        "batch_end 0",
        "batch_begin 1",
        "batch_end 1",
        "test_begin",
        "test_batch_begin 0",
        "test_batch_end 0",
        "test_end",
        f"epoch_end {e} ['loss', 'val_loss']",
    ]
    expected = ["train_begin"] + per_epoch(0) + per_epoch(1) + ["train_end"]
    assert log == [event for event in expected for _ in range(2)]


def test_predict_hooks_fan_out():
    log = []
    cbl = cb.CallbackList([Recorder(log)], add_history=False)
    cbl.on_predict_begin()
    cbl.on_predict_batch_begin(0)
    cbl.on_predict_batch_end(0, {"outputs": None})
    cbl.on_predict_end()
    assert log == ["predict_begin", "predict_batch_begin 0", "predict_batch_end 0", "predict_end"]


def test_train_batch_hooks_call_the_old_aliases():
    calls = []

    class Old(cb.Callback):
        def on_batch_begin(self, batch, logs=None):
            calls.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            calls.append(("end", batch, logs["loss"]))

    run_fit(FakeModel(), [Old()], [{"loss": 1.0}], batches=2)
    assert calls == [("begin", 0), ("end", 0, 1.0), ("begin", 1), ("end", 1, 1.0)]


def test_callback_base_attributes():
    c = cb.Callback()
    assert c.model is None and c.params is None
    model = FakeModel()
    c.set_model(model)
    c.set_params({"epochs": 3})
    assert c.model is model and c.params == {"epochs": 3}
    for hook in ["on_train_begin", "on_train_end", "on_test_begin", "on_predict_end"]:
        getattr(c, hook)()
    c.on_epoch_end(0, {"loss": 1.0})
    c.on_train_batch_end(0)

    class NoSuperInit(cb.Callback):
        def __init__(self):
            pass

    n = NoSuperInit()
    assert n.model is None and n.params is None


def test_callback_list_history_model_and_params():
    model = FakeModel()
    mine = cb.History()
    cbl = cb.CallbackList([mine], model=model, add_history=True, epochs=3, verbose=0, steps=2)
    assert cbl.history is mine and cbl.callbacks == [mine]
    assert model.history is mine
    assert mine.model is model and mine.params == {"epochs": 3, "verbose": 0, "steps": 2}

    other = Recorder([])
    cbl = cb.CallbackList([other], True, False, model)  # Keras' positional order
    assert isinstance(cbl.history, cb.History) and cbl.callbacks[-1] is cbl.history
    assert model.history is cbl.history and cbl.callbacks[0] is other
    assert cb.CallbackList([other]).history is None  # Keras' default: no History
    assert len(cb.CallbackList()) == 0
    assert len(cb.CallbackList(add_history=True)) == 1
    assert cb.CallbackList(other).callbacks[0] is other

    late = cb.CallbackList([], add_history=False)
    late.set_model(model)
    late.set_params({"epochs": 1})
    extra = Recorder([])
    late.append(extra)
    assert extra.model is model and extra.params == {"epochs": 1}
    assert list(late) == [extra]


def test_callback_list_rejects_non_callbacks():
    with pytest.raises(TypeError, match=r"callbacks\[1\]"):
        cb.CallbackList([cb.History(), lambda: None])
    with pytest.raises(TypeError, match="callbacks must be"):
        cb.CallbackList(3)
    with pytest.raises(ValueError, match="add_progbar"):
        cb.CallbackList([], add_progbar=True)


def test_every_callback_sees_the_same_logs_dict():
    class AddKey(cb.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["extra"] = epoch * 10

    history = run_fit(FakeModel(), [AddKey()], [{"loss": 1.0}, {"loss": 0.5}])
    assert history.history == {"loss": [1.0, 0.5], "extra": [0, 10]}


def test_needs_batch_hooks():
    def needs(*callbacks):
        return cb.CallbackList(list(callbacks)).needs_batch_hooks

    class EpochOnly(cb.Callback):
        def on_epoch_end(self, epoch, logs=None):
            pass

    class OldBatch(cb.Callback):
        def on_batch_end(self, batch, logs=None):
            pass

    class NewBatch(cb.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            pass

    class TestBatch(cb.Callback):
        def on_test_batch_end(self, batch, logs=None):
            pass

    quiet = [
        cb.History(),
        cb.EarlyStopping(),
        cb.ModelCheckpoint("x"),
        cb.LearningRateScheduler(lambda e, lr: lr),
        cb.CSVLogger("x.csv"),
        cb.LambdaCallback(on_epoch_end=print),
        EpochOnly(),
        TestBatch(),
    ]
    assert not needs()
    assert not needs(*quiet)
    for busy in [
        cb.TerminateOnNaN(),
        cb.ModelCheckpoint("x", save_freq=3),
        cb.LambdaCallback(on_train_batch_end=print),
        cb.LambdaCallback(on_batch_begin=print),
        type("MyCheckpoint", (cb.ModelCheckpoint,), {"on_batch_end": lambda self, batch, logs=None: None})("x"),
        OldBatch(),
        NewBatch(),
    ]:
        assert needs(*quiet, busy)
    assert cb.CallbackList([TestBatch()]).needs_test_batch_hooks
    assert not cb.CallbackList([NewBatch()]).needs_test_batch_hooks
    assert cb.CallbackList([cb.LambdaCallback(on_predict_batch_end=print)]).needs_predict_batch_hooks
    assert not cb.CallbackList(quiet).needs_predict_batch_hooks


# ------------------------------------------------------------------------------ History
def test_history_records_epoch_logs():
    model = FakeModel()
    logs = [{"loss": 1.0, "accuracy": 0.5}, {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.25}]
    history = run_fit(model, [], logs)
    assert history.history == {"loss": [1.0, 0.5], "accuracy": [0.5, 0.75], "val_loss": [0.25]}
    assert history.epoch == [0, 1]
    assert history.params == {"verbose": 0, "epochs": 2, "steps": 2}
    assert model.history is history


def test_history_reused_resets_epochs_only_like_keras():
    history = cb.History()
    run_fit(FakeModel(), [history], [{"loss": 1.0}, {"loss": 0.5}])
    run_fit(FakeModel(), [history], [{"loss": 0.25}])
    assert history.epoch == [0]
    assert history.history == {"loss": [1.0, 0.5, 0.25]}


# ------------------------------------------------------------------------------ EarlyStopping
def val_losses(*values):
    return [{"loss": 1.0, "val_loss": v} for v in values]


@pytest.mark.parametrize(
    ("values", "patience", "stopped"),
    [
        ((1.0, 0.5, 0.6, 0.7, 0.4, 0.3), 2, 3),
        ((1.0, 0.5, 0.6, 0.7, 0.4, 0.3), 3, None),
        ((1.0, 1.0, 1.0), 0, 1),  # equal is no improvement
        ((1.0, 2.0), 0, 1),
        ((5.0, 4.0, 3.0, 2.0), 0, None),
        ((1.0, 2.0, 3.0, 4.0, 5.0), 3, 3),
    ],
)
def test_early_stopping_patience(values, patience, stopped):
    model = FakeModel()
    es = cb.EarlyStopping(patience=patience)
    history = run_fit(model, [es], val_losses(*values))
    ran = len(values) if stopped is None else stopped + 1
    assert len(history.epoch) == ran
    assert es.stopped_epoch == (stopped or 0)
    assert model.stop_training == (stopped is not None)
    assert epoch_of(model) == ran  # weights of the last epoch: nothing restored


def test_early_stopping_never_stops_at_epoch_zero():
    es = cb.EarlyStopping(monitor="loss", patience=0, baseline=0.0)
    history = run_fit(FakeModel(), [es], [{"loss": 1.0}, {"loss": 1.0}])
    assert es.stopped_epoch == 1 and len(history.epoch) == 2


def test_early_stopping_restores_best_weights_when_stopping():
    model = FakeModel()
    es = cb.EarlyStopping(patience=2, restore_best_weights=True)
    run_fit(model, [es], val_losses(1.0, 0.5, 0.6, 0.7, 0.1))
    assert es.stopped_epoch == 3 and es.best_epoch == 1 and es.best == 0.5
    assert epoch_of(model) == 2  # the weights at the end of epoch 1


def test_early_stopping_restores_best_weights_also_when_all_epochs_ran():
    """Keras 3 restores in on_train_end, whether or not it stopped training itself."""
    model = FakeModel()
    es = cb.EarlyStopping(patience=10, restore_best_weights=True)
    run_fit(model, [es], val_losses(1.0, 0.2, 0.6, 0.7))
    assert es.stopped_epoch == 0
    assert epoch_of(model) == 2


def test_early_stopping_restores_when_another_callback_stops():
    class StopAt(cb.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                self.model.stop_training = True

    model = FakeModel()
    run_fit(model, [cb.EarlyStopping(patience=10, restore_best_weights=True), StopAt()], val_losses(3, 1, 2, 0))
    assert epoch_of(model) == 2


def test_early_stopping_min_delta():
    es = cb.EarlyStopping(monitor="loss", min_delta=0.1, patience=1)
    history = run_fit(FakeModel(), [es], [{"loss": v} for v in (1.0, 0.95, 0.85, 0.8)])
    assert es.stopped_epoch == 1 and len(history.epoch) == 2
    es = cb.EarlyStopping(monitor="loss", min_delta=-0.1, patience=1)  # the sign is ignored, as in Keras
    run_fit(FakeModel(), [es], [{"loss": v} for v in (1.0, 0.95)])
    assert es.stopped_epoch == 1
    es = cb.EarlyStopping(monitor="loss", min_delta=0.1, patience=1)
    history = run_fit(FakeModel(), [es], [{"loss": v} for v in (1.0, 0.85, 0.7, 0.55)])
    assert es.stopped_epoch == 0 and len(history.epoch) == 4


@pytest.mark.parametrize(
    ("monitor", "mode", "op"),
    [
        ("val_loss", "auto", operator.lt),
        ("loss", "auto", operator.lt),
        ("val_accuracy", "auto", operator.gt),
        ("accuracy", "auto", operator.gt),
        ("val_binary_accuracy", "auto", operator.gt),
        ("sparse_categorical_accuracy", "auto", operator.gt),
        ("val_acc", "auto", operator.gt),
        ("val_auc", "auto", operator.gt),
        ("val_mean_squared_error", "auto", operator.lt),
        ("mae", "auto", operator.lt),
        ("val_accuracy", "min", operator.lt),
        ("val_loss", "max", operator.gt),
    ],
)
def test_early_stopping_and_checkpoint_modes(monitor, mode, op):
    assert cb.EarlyStopping(monitor=monitor, mode=mode).monitor_op is op
    assert cb.ModelCheckpoint("x", monitor=monitor, mode=mode).monitor_op is op


def test_unknown_mode_warns_and_falls_back_to_auto():
    with pytest.warns(UserWarning, match="mode 'bigger' is unknown"):
        es = cb.EarlyStopping(monitor="val_accuracy", mode="bigger")
    assert es.mode == "auto" and es.monitor_op is operator.gt
    with pytest.warns(UserWarning, match="mode 'x' is unknown"):
        cb.ModelCheckpoint("f", mode="x")


def test_early_stopping_max_mode_on_accuracy():
    model = FakeModel()
    es = cb.EarlyStopping(monitor="val_accuracy", patience=1, restore_best_weights=True)
    logs = [{"val_accuracy": v} for v in (0.5, 0.9, 0.8, 0.95)]
    run_fit(model, [es], logs)
    assert es.stopped_epoch == 2 and es.best == 0.9 and epoch_of(model) == 2


def test_early_stopping_baseline():
    es = cb.EarlyStopping(monitor="loss", baseline=0.5, patience=2)
    history = run_fit(FakeModel(), [es], [{"loss": 0.9}] * 5)
    assert es.stopped_epoch == 1 and len(history.epoch) == 2
    # Improvements that stay above the baseline never reset the wait counter, but
    # an improving epoch never stops training either (as in Keras' code).
    es = cb.EarlyStopping(monitor="loss", baseline=0.5, patience=1)
    run_fit(FakeModel(), [es], [{"loss": v} for v in (0.9, 0.8, 0.7, 0.7)])
    assert es.stopped_epoch == 3 and es.wait == 4
    es = cb.EarlyStopping(monitor="loss", baseline=0.5, patience=1)
    history = run_fit(FakeModel(), [es], [{"loss": v} for v in (0.4, 0.3, 0.3)])
    assert es.stopped_epoch == 2


def test_early_stopping_compares_in_floatx_like_keras():
    """Keras compares through float32 tensors: 0.7 + 0.1 is not below 0.8 there, though it is in float64."""
    assert 0.7 + 0.1 < 0.8
    es = cb.EarlyStopping(monitor="loss", min_delta=0.1, patience=0)
    run_fit(FakeModel(), [es], [{"loss": 0.8}, {"loss": 0.7}])
    assert es.stopped_epoch == 1 and es.best == 0.8


def test_early_stopping_first_value_is_the_best_even_if_nan():
    """As in Keras 3, ``best`` starts as None, so the first monitored value always improves on it."""
    es = cb.EarlyStopping(monitor="loss", patience=1)
    assert es.best is None
    run_fit(FakeModel(), [es], [{"loss": math.nan}, {"loss": 1.0}, {"loss": 0.5}])
    assert es.stopped_epoch == 1 and math.isnan(es.best)


def test_early_stopping_start_from_epoch():
    model = FakeModel()
    es = cb.EarlyStopping(patience=0, start_from_epoch=3, restore_best_weights=True)
    history = run_fit(model, [es], val_losses(0.1, 1.0, 2.0, 3.0, 4.0, 5.0))
    assert es.stopped_epoch == 4 and len(history.epoch) == 5
    assert es.best == 3.0 and epoch_of(model) == 4


def test_early_stopping_missing_monitor_warns_and_does_nothing():
    es = cb.EarlyStopping(monitor="val_loss", patience=0)
    with pytest.warns(UserWarning, match=r"`val_loss` which is not available. Available metrics are: loss"):
        history = run_fit(FakeModel(), [es], [{"loss": v} for v in (1.0, 2.0, 3.0)])
    assert len(history.epoch) == 3 and es.stopped_epoch == 0


def test_early_stopping_can_be_reused():
    model = FakeModel()
    es = cb.EarlyStopping(patience=1, restore_best_weights=True)
    run_fit(model, [es], val_losses(0.1, 0.2, 0.3))
    assert es.stopped_epoch == 1
    run_fit(model, [es], val_losses(5.0, 4.0, 3.0))
    assert es.stopped_epoch == 0 and es.best == 3.0 and epoch_of(model) == 3


def test_early_stopping_verbose_messages(capsys):
    run_fit(FakeModel(), [cb.EarlyStopping(patience=1, verbose=1, restore_best_weights=True)], val_losses(1, 0.5, 2, 3))
    out = capsys.readouterr().out
    assert "Epoch 3: early stopping" in out
    assert "Restoring model weights from the end of the best epoch: 2." in out


def test_early_stopping_argument_checks():
    with pytest.raises(ValueError, match="patience"):
        cb.EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="start_from_epoch"):
        cb.EarlyStopping(start_from_epoch=1.5)
    with pytest.raises(TypeError, match="monitor"):
        cb.EarlyStopping(monitor=None)
    with pytest.raises(TypeError, match="min_delta"):
        cb.EarlyStopping(min_delta="0.1")


# ------------------------------------------------------------------------------ ModelCheckpoint
def test_checkpoint_every_epoch_formats_the_path(tmp_path):
    model = FakeModel()
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}.keras")
    run_fit(model, [cb.ModelCheckpoint(pattern)], val_losses(0.5, 0.25))
    assert model.saved == [
        ("model", str(tmp_path / "ckpt-01-0.50.keras"), 1.0),
        ("model", str(tmp_path / "ckpt-02-0.25.keras"), 2.0),
    ]


def test_checkpoint_save_best_only(tmp_path):
    model = FakeModel()
    path = tmp_path / "best.weights.h5"
    ckpt = cb.ModelCheckpoint(path, save_best_only=True, save_weights_only=True)
    run_fit(model, [ckpt], val_losses(1.0, 0.5, 0.7, 0.4, 0.4))
    assert [(kind, weight) for kind, _, weight in model.saved] == [("weights", 1.0), ("weights", 2.0), ("weights", 4.0)]
    assert ckpt.best == 0.4 and path.read_text() == "weights"


def test_checkpoint_max_mode_and_initial_threshold(tmp_path):
    model = FakeModel()
    ckpt = cb.ModelCheckpoint(
        str(tmp_path / "m{epoch}"), monitor="val_accuracy", save_best_only=True, initial_value_threshold=0.6
    )
    run_fit(model, [ckpt], [{"val_accuracy": v} for v in (0.5, 0.7, 0.65, 0.9)])
    assert [os.path.basename(p) for _, p, _ in model.saved] == ["m2", "m4"]


def test_checkpoint_missing_monitor_warns_and_saves(tmp_path):
    model = FakeModel()
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available"):
        run_fit(model, [cb.ModelCheckpoint(str(tmp_path / "m"), save_best_only=True)], [{"loss": 1.0}])
    assert len(model.saved) == 1


def test_checkpoint_every_n_batches(tmp_path):
    model = FakeModel()
    ckpt = cb.ModelCheckpoint(str(tmp_path / "e{epoch}b{batch}"), save_freq=3)
    run_fit(model, [ckpt], [{"loss": 1.0}] * 3, batches=2)
    # batches seen: e1b1 e1b2 | e2b1 (3 -> save) e2b2 | e3b1 e3b2 (3 -> save)
    assert [os.path.basename(p) for _, p, _ in model.saved] == ["e2b1", "e3b2"]


def test_checkpoint_creates_folders_and_refuses_directories(tmp_path):
    model = FakeModel()
    run_fit(model, [cb.ModelCheckpoint(str(tmp_path / "a" / "b" / "{epoch}.keras"))], [{"loss": 1.0}])
    assert (tmp_path / "a" / "b" / "1.keras").exists()
    (tmp_path / "dir").mkdir()
    with pytest.raises(OSError, match="non-directory filepath"):
        run_fit(model, [cb.ModelCheckpoint(str(tmp_path / "dir"))], [{"loss": 1.0}])


def test_checkpoint_bad_arguments_and_format_keys(tmp_path):
    with pytest.raises(ValueError, match="save_freq"):
        cb.ModelCheckpoint("x", save_freq="batch")
    with pytest.raises(ValueError, match="save_freq"):
        cb.ModelCheckpoint("x", save_freq=0)
    with pytest.raises(TypeError, match="filepath"):
        cb.ModelCheckpoint(None)
    with pytest.raises(KeyError, match="Failed to format this callback filepath"):
        run_fit(FakeModel(), [cb.ModelCheckpoint(str(tmp_path / "{val_acc}"))], [{"loss": 1.0}])


def test_checkpoint_verbose(tmp_path, capsys):
    run_fit(FakeModel(), [cb.ModelCheckpoint(str(tmp_path / "m"), save_best_only=True, verbose=1)], val_losses(1, 2))
    out = capsys.readouterr().out
    assert "Epoch 1: val_loss improved from None to 1.00000, saving model to" in out
    assert "Epoch 2: val_loss did not improve from 1.00000" in out


# ------------------------------------------------------------------------------ TerminateOnNaN
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float32("nan")])
def test_terminate_on_nan_stops_training(bad, capsys):
    model = FakeModel()
    batch_logs = [[{"loss": 1.0}, {"loss": 1.0}], [{"loss": 1.0}, {"loss": bad}], [{"loss": 1.0}] * 2]
    history = run_fit(model, [cb.TerminateOnNaN()], [{"loss": 1.0}] * 3, batch_logs=batch_logs)
    assert model.stop_training and len(history.epoch) == 2
    assert "Batch 1: Invalid loss, terminating training" in capsys.readouterr().out


def test_terminate_on_nan_ignores_finite_and_missing_losses():
    model = FakeModel()
    t = cb.TerminateOnNaN()
    t.set_model(model)
    t.on_train_batch_end(0, {"loss": 1e30})
    t.on_train_batch_end(1, {"accuracy": math.nan})
    t.on_train_batch_end(2, None)
    assert not model.stop_training


def test_terminate_on_nan_raise_error():
    t = cb.TerminateOnNaN(raise_error=True)
    t.set_model(FakeModel())
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 4"):
        t.on_train_batch_end(4, {"loss": math.nan})


# ------------------------------------------------------------------------------ LambdaCallback
def test_lambda_callback_calls_the_functions_with_hook_arguments():
    log = []
    lam = cb.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: log.append(("eb", epoch)),
        on_epoch_end=lambda epoch, logs: log.append(("ee", epoch, logs["loss"])),
        on_train_begin=lambda logs: log.append(("tb",)),
        on_train_end=lambda logs: log.append(("te", logs["loss"])),
        on_train_batch_begin=lambda batch, logs: log.append(("bb", batch)),
        on_train_batch_end=lambda batch, logs: log.append(("be", batch)),
        on_test_end=lambda logs: log.append(("test_end",)),
    )
    run_fit(FakeModel(), [lam], [{"loss": 2.0}], batches=1, validate=True)
    assert log == [("tb",), ("eb", 0), ("bb", 0), ("be", 0), ("test_end",), ("ee", 0, 2.0), ("te", 2.0)]


def test_lambda_callback_partial_and_alias_hooks():
    log = []
    lam = cb.LambdaCallback(on_batch_end=lambda batch, logs: log.append(batch))
    run_fit(FakeModel(), [lam], [{"loss": 1.0}], batches=3)
    assert log == [0, 1, 2]
    with pytest.raises(TypeError, match="unknown hook 'on_epoch_finish'"):
        cb.LambdaCallback(on_epoch_finish=print)
    with pytest.raises(TypeError, match="on_epoch_end must be callable"):
        cb.LambdaCallback(on_epoch_end=3)


# ------------------------------------------------------------------------------ LearningRateScheduler
def test_learning_rate_scheduler_sets_rate_each_epoch_and_logs_it():
    model = FakeModel()
    seen = []

    def schedule(epoch, lr):
        seen.append((epoch, lr))
        return lr if epoch < 1 else lr * 0.5

    history = run_fit(model, [cb.LearningRateScheduler(schedule)], [{"loss": 1.0}] * 3)
    assert seen == [(0, 0.1), (1, 0.1), (2, 0.05)]
    assert model.optimizer.learning_rate == 0.025
    assert history.history["learning_rate"] == [0.1, 0.05, 0.025]


def test_learning_rate_scheduler_one_argument_schedule_and_checks(capsys):
    model = FakeModel()
    run_fit(model, [cb.LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1), verbose=1)], [{"loss": 1.0}] * 2)
    assert model.optimizer.learning_rate == 0.02
    assert "Epoch 2: LearningRateScheduler setting learning rate to 0.02." in capsys.readouterr().out
    with pytest.raises(ValueError, match="should be a float"):
        run_fit(FakeModel(), [cb.LearningRateScheduler(lambda epoch, lr: 1)], [{"loss": 1.0}])
    model = FakeModel()
    model.optimizer = None
    with pytest.raises(ValueError, match="learning_rate"):
        run_fit(model, [cb.LearningRateScheduler(lambda epoch, lr: lr)], [{"loss": 1.0}])
    with pytest.raises(TypeError, match="schedule"):
        cb.LearningRateScheduler(0.1)


# ------------------------------------------------------------------------------ ReduceLROnPlateau
def test_reduce_lr_on_plateau_patience_and_logs():
    model = FakeModel()
    rlr = cb.ReduceLROnPlateau(factor=0.5, patience=2)
    history = run_fit(model, [rlr], val_losses(1.0, 1.0, 1.0, 1.0, 1.0))
    # The rate is logged before that epoch's reduction.
    assert history.history["learning_rate"] == [0.1, 0.1, 0.1, 0.05, 0.05]
    assert model.optimizer.learning_rate == 0.025


def test_reduce_lr_on_plateau_cooldown_and_floor():
    model = FakeModel()
    rlr = cb.ReduceLROnPlateau(monitor="loss", factor=0.1, patience=0, cooldown=2, min_lr=0.0005)
    run_fit(model, [rlr], [{"loss": 1.0}] * 5)
    # e1 -> 0.01 (cooldown 2); e2 cooling down; e3 -> 0.001; e4 cooling down
    assert model.optimizer.learning_rate == pytest.approx(0.001)
    run_fit(model, [rlr], [{"loss": 1.0}] * 4)
    assert model.optimizer.learning_rate == 0.0005  # clamped to min_lr, then never below it


def test_reduce_lr_on_plateau_min_delta():
    model = FakeModel()
    rlr = cb.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=0.01)
    run_fit(model, [rlr], [{"loss": v} for v in (1.0, 0.995, 0.98)])
    assert model.optimizer.learning_rate == 0.05 and rlr.best == 0.98


def test_reduce_lr_on_plateau_max_mode_missing_monitor_and_arguments():
    model = FakeModel()
    rlr = cb.ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1)
    run_fit(model, [rlr], [{"val_accuracy": v} for v in (0.5, 0.6, 0.55, 0.7)])
    assert model.optimizer.learning_rate == 0.05
    with pytest.warns(UserWarning, match="`val_loss` which is not available"):
        run_fit(FakeModel(), [cb.ReduceLROnPlateau(patience=0)], [{"loss": 1.0}])
    with pytest.raises(ValueError, match="factor >= 1.0"):
        cb.ReduceLROnPlateau(factor=1.0)
    with pytest.raises(ValueError, match="cooldown"):
        cb.ReduceLROnPlateau(cooldown=-1)
    with pytest.warns(UserWarning, match="ignores the arguments"):
        cb.ReduceLROnPlateau(epsilon=1e-4)


def test_reduce_lr_on_plateau_verbose(capsys):
    run_fit(FakeModel(), [cb.ReduceLROnPlateau(monitor="loss", patience=0, verbose=1)], [{"loss": 1.0}] * 2)
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.01" in capsys.readouterr().out


# ------------------------------------------------------------------------------ CSVLogger
def test_csv_logger_writes_and_appends(tmp_path):
    path = tmp_path / "log.csv"
    logs = [{"loss": 1.0, "val_loss": 2.0, "accuracy": 0.5}, {"loss": 0.5, "val_loss": 1.5, "accuracy": 0.75}]
    run_fit(FakeModel(), [cb.CSVLogger(path)], logs)
    assert path.read_bytes() == b"epoch,accuracy,loss,val_loss\r\n0,0.5,1.0,2.0\r\n1,0.75,0.5,1.5\r\n"
    run_fit(FakeModel(), [cb.CSVLogger(str(path), append=True)], logs[:1])
    assert path.read_bytes().endswith(b"1,0.75,0.5,1.5\r\n0,0.5,1.0,2.0\r\n")
    assert path.read_bytes().count(b"epoch") == 1


def test_csv_logger_reserves_validation_columns_and_formats_values(tmp_path):
    """Like Keras 3: val_ columns for every key when the first epoch has none; lists quoted."""
    path = tmp_path / "log.csv"
    logs = [{"loss": 1.0, "v": [1, 2]}, {"loss": 0.5, "v": np.array([3.0]), "val_loss": 0.25, "val_v": "x;y"}]
    run_fit(FakeModel(), [cb.CSVLogger(path, separator=";")], logs)
    assert path.read_bytes() == (
        b'epoch;loss;v;val_loss;val_v\r\n0;1.0;"""[1, 2]""";NA;NA\r\n1;0.5;"""[3.0]""";0.25;"x;y"\r\n'
    )


def test_csv_logger_append_to_empty_file_writes_header(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("")
    run_fit(FakeModel(), [cb.CSVLogger(path, append=True)], [{"loss": 1.0}])
    assert path.read_bytes() == b"epoch,loss,val_loss\r\n0,1.0,NA\r\n"
    with pytest.raises(ValueError, match="separator"):
        cb.CSVLogger(path, separator="::")
