"""Hardening: divergence and interrupts during ``fit`` on both backends.

* Divergence (learning_rate=1e6): fit stops with a clear message (a RuntimeWarning naming the
  non-finite loss and the learning rate), every weight is finite and equals the weights from
  before the first non-finite step, and the History holds only finite, completed epochs.
* KeyboardInterrupt, raised from ``on_train_batch_end`` or delivered by ``_thread.interrupt_main()``
  from a timer thread: it propagates, the weights are those of the last completed step (checked
  against a replay that records every step), ``model.history`` holds the History so far, and the
  model is still usable (predict / evaluate / fit again, no "used by another thread" error).
"""

from __future__ import annotations

import _thread
import threading
import warnings

import numpy as np
import pytest

import cyneuron.backend as backend_module
from cyneuron import Input, Sequential, set_backend
from cyneuron.callbacks import Callback, LambdaCallback
from cyneuron.layers import Dense
from cyneuron.optimizers import SGD
from cyneuron.utils import set_random_seed
from tests.conftest import cython_available

CYTHON = pytest.mark.skipif(not cython_available(), reason="compiled kernels not built")


@pytest.fixture(autouse=True)
def _restore_backend():
    previous = backend_module._active
    yield
    backend_module._active = previous


def make_model(dtype="float64", learning_rate=0.01, momentum=0.0, units=8, features=4):
    set_random_seed(3)
    model = Sequential(
        [Input((features,), dtype=dtype), Dense(units, activation="tanh", dtype=dtype), Dense(1, dtype=dtype)]
    )
    model.compile(optimizer=SGD(learning_rate, momentum=momentum), loss="mse", metrics=["mae"])
    return model


def regression_data(n=64, features=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features))
    y = x @ rng.standard_normal((features, 1)) + 0.1 * rng.standard_normal((n, 1))
    return x, y


class StepRecorder(Callback):
    """Copies of the weights after every training step (uses the per-batch path)."""

    def __init__(self):
        super().__init__()
        self.steps: list[list[np.ndarray]] = []
        self.losses: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(self.model.get_weights())
        self.losses.append(logs["loss"])


class EpochRecorder(Callback):
    """Weights at each epoch end only: fit keeps its fast path without batch hooks."""

    def __init__(self):
        super().__init__()
        self.epochs: list[list[np.ndarray]] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(self.model.get_weights())


def all_finite(weights) -> bool:
    return all(np.isfinite(w).all() for w in weights)


def same_weights(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


def assert_usable(model, x, y, restart=None):
    """Predict, evaluate and a further fit all work (from the weights ``restart``, when given: weights that
    survived a divergence are finite but may be huge) and give finite numbers."""
    if restart is not None:
        model.set_weights(restart)
        model.compile(optimizer=SGD(0.001), loss="mse", metrics=["mae"])  # fresh (zero) velocities
    assert np.isfinite(model.predict(x, verbose=0)).all()
    assert np.isfinite(model.evaluate(x, y, verbose=0)).all()
    model.optimizer.learning_rate = 0.001
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert all_finite(model.get_weights())


# ======================================================================= divergence
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_divergence_stops_fit_with_weights_from_before_the_bad_step_fast_path(backend, dtype):
    x, y = regression_data()
    model = make_model(dtype, learning_rate=1e6)
    initial = model.get_weights()
    recorder = EpochRecorder()
    with pytest.warns(RuntimeWarning) as caught:
        history = model.fit(x, y, epochs=50, batch_size=64, shuffle=False, verbose=0, callbacks=[recorder])
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert any("not finite" in m and "learning_rate" in m for m in messages), messages
    weights = model.get_weights()
    assert all_finite(weights)
    # one batch per epoch: the last good weights are the last recorded epoch's (or the initial ones)
    expected = recorder.epochs[-1] if recorder.epochs else initial
    assert same_weights(weights, expected)
    assert len(recorder.epochs) < 50, "learning_rate=1e6 never diverged: the test proves nothing"
    assert history is model.history
    # the completed epochs, then the one that stopped (its loss not finite), as a Keras History would hold it
    assert len(history.history["loss"]) == len(recorder.epochs) + 1
    assert np.isfinite(history.history["loss"][:-1]).all() and not np.isfinite(history.history["loss"][-1])
    assert history.epoch == list(range(len(recorder.epochs) + 1))
    assert_usable(model, x, y, restart=initial)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_divergence_mid_epoch_keeps_the_last_finite_step(backend, momentum):
    x, y = regression_data()
    model = make_model(learning_rate=1e6, momentum=momentum)
    initial = model.get_weights()
    recorder = StepRecorder()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0, callbacks=[recorder])
    assert any(issubclass(w.category, RuntimeWarning) and "not finite" in str(w.message) for w in caught)
    weights = model.get_weights()
    assert all_finite(weights)
    losses = np.array(recorder.losses)
    assert not np.isfinite(losses).all(), "never diverged"
    bad = int(np.argmin(np.isfinite(losses)))  # first step whose loss (measured before its update) is not finite
    expected = recorder.steps[bad - 1] if bad else initial
    assert same_weights(weights, expected)
    assert len(recorder.steps) == bad + 1, "training went on after the non-finite step"
    assert_usable(model, x, y, restart=initial)


def test_divergence_in_train_on_batch_leaves_finite_weights(backend):
    x, y = regression_data()
    model = make_model(learning_rate=1e6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(50):
            model.train_on_batch(x, y)
    assert any("not finite" in str(w.message) for w in caught)
    assert all_finite(model.get_weights())


def test_non_finite_data_never_reaches_training(backend):
    x, y = regression_data()
    model = make_model()
    before = model.get_weights()
    for bad_x, bad_y, name in ((np.where(x > 1.5, np.nan, x), y, "x"), (x, np.where(y > 1, np.inf, y), "y")):
        with pytest.raises(ValueError, match=rf"^{name}\b.*(NaN|inf)"):
            model.fit(bad_x, bad_y, epochs=1, verbose=0)
    assert same_weights(model.get_weights(), before)


# ======================================================================= interrupts
class InterruptAt(Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = 0
        self.weights_at_interrupt = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            self.weights_at_interrupt = self.model.get_weights()
            raise KeyboardInterrupt


@pytest.mark.parametrize(("epoch", "batch"), [(0, 0), (1, 3), (2, 7)])
def test_keyboard_interrupt_from_a_callback(backend, epoch, batch):
    x, y = regression_data()
    model = make_model(momentum=0.9)
    interrupt = InterruptAt(epoch, batch)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=5, batch_size=8, shuffle=False, verbose=0, callbacks=[interrupt])
    assert interrupt.weights_at_interrupt is not None
    assert same_weights(model.get_weights(), interrupt.weights_at_interrupt)
    assert model.history is not None
    assert len(model.history.history.get("loss", [])) == epoch  # the completed epochs only
    # the interrupted run equals an uninterrupted one stopped at the same step
    replay = make_model(momentum=0.9)
    recorder = StepRecorder()
    replay.fit(x, y, epochs=epoch + 1, batch_size=8, shuffle=False, verbose=0, callbacks=[recorder])
    assert same_weights(model.get_weights(), recorder.steps[epoch * 8 + batch])
    assert_usable(model, x, y)


def test_keyboard_interrupt_from_a_lambda_callback_in_evaluate_and_predict_leaves_model_usable(backend):
    x, y = regression_data()
    model = make_model()

    def stop(batch, logs=None):
        raise KeyboardInterrupt

    for call in (
        lambda: model.evaluate(x, y, batch_size=8, verbose=0, callbacks=[LambdaCallback(on_test_batch_end=stop)]),
        lambda: model.predict(x, batch_size=8, verbose=0, callbacks=[LambdaCallback(on_predict_batch_end=stop)]),
    ):
        with pytest.raises(KeyboardInterrupt):
            call()
        assert_usable(model, x, y)


@pytest.mark.parametrize("backend_name", ["numpy", pytest.param("cython", marks=CYTHON)])
def test_keyboard_interrupt_from_a_timer_thread(backend_name):
    """``_thread.interrupt_main()`` while fit runs without hooks (the fast path).

    The numpy network's step is Python code, so there the signal can land between two weight updates;
    test_interrupt_between_two_weight_updates_numpy makes that moment certain.
    """
    set_backend(backend_name)
    x, y = regression_data(n=32)
    model = make_model(learning_rate=1e-3)
    started = threading.Event()

    class Started(Callback):
        def on_train_begin(self, logs=None):
            started.set()

    def interrupt():
        started.wait(30)
        _thread.interrupt_main()

    timer = threading.Timer(0.05, interrupt)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            model.fit(x, y, epochs=10**7, batch_size=8, shuffle=False, verbose=0, callbacks=[Started()])
    finally:
        timer.cancel()
        timer.join()
    weights = model.get_weights()
    assert all_finite(weights)
    completed = len(model.history.history.get("loss", []))

    # Replay: the interrupted weights must be the weights after some whole step k, and the History
    # must hold exactly the epochs completed before step k.
    replay = make_model(learning_rate=1e-3)
    match = {}

    class Find(Callback):
        def __init__(self):
            super().__init__()
            self.step = 0

        def on_train_batch_end(self, batch, logs=None):
            self.step += 1
            if same_weights(self.model.get_weights(), weights):
                match["step"] = self.step
                self.model.stop_training = True

    replay.fit(x, y, epochs=completed + 1, batch_size=8, shuffle=False, verbose=0, callbacks=[Find()])
    steps_per_epoch = 4
    if completed == 0 and "step" not in match:
        assert same_weights(weights, make_model(learning_rate=1e-3).get_weights())
    else:
        assert "step" in match, "the interrupted weights are not the weights of any completed step"
        # between the last step of an epoch and its on_epoch_end the History may lag by that epoch
        assert completed * steps_per_epoch <= match["step"] <= (completed + 1) * steps_per_epoch
    assert_usable(model, x, y)


def test_interrupt_between_two_weight_updates_numpy(monkeypatch):
    """A signal delivered right after the first parameter update of a step (made certain by a patched
    optimizer update calling interrupt_main): the weights must be all-before or all-after that step."""
    from cyneuron.backend import numpy_ops

    set_backend("numpy")
    x, y = regression_data()
    model = make_model(momentum=0.9)
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)  # a few clean steps first
    before = model.get_weights()
    velocities_before = model.optimizer_state()
    # the network's step applies the optimizer through reference.optimizers.apply
    original = numpy_ops.reference_optimizers.apply
    calls = []

    def update_first_param_then_signal(spec, params, grads, slots, iterations, scalars):
        original(spec, params[:1], grads[:1], slots[:1], iterations, scalars)
        calls.append(1)
        if len(calls) == 1:
            _thread.interrupt_main()  # raised at the next bytecode of the main thread
        original(spec, params[1:], grads[1:], slots[1:], iterations, scalars)

    monkeypatch.setattr(numpy_ops.reference_optimizers, "apply", update_first_param_then_signal)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    monkeypatch.setattr(numpy_ops.reference_optimizers, "apply", original)
    assert calls == [1]  # interrupted inside the first step's update
    replay = make_model(momentum=0.9)
    recorder = StepRecorder()
    replay.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    replay.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0, callbacks=[recorder])
    after_one_step = recorder.steps[0]
    weights = model.get_weights()
    assert same_weights(weights, before) or same_weights(weights, after_one_step), "torn update"
    if same_weights(weights, before):  # rolled back: the velocities and step count too
        state = model.optimizer_state()
        assert state["iterations"] == velocities_before["iterations"]
        for now, then in zip(state["slots"], velocities_before["slots"], strict=True):
            assert same_weights(now, then)


# ======================================================================= errors raised inside fit
@pytest.mark.parametrize(
    ("schedule", "error", "name"),
    [
        (lambda epoch, lr: float("nan") if epoch == 2 else lr, ValueError, "learning_rate"),
        (lambda epoch, lr: -1.0 if epoch == 2 else lr, ValueError, "learning_rate"),
        (lambda epoch, lr: "fast" if epoch == 2 else lr, ValueError, "schedule"),  # Keras' own message
    ],
)
def test_bad_learning_rate_from_a_scheduler_stops_fit_cleanly(backend, schedule, error, name):
    """A schedule returning NaN / a negative / a str: a named error, not NaN weights; the model stays usable."""
    from cyneuron.callbacks import LearningRateScheduler

    x, y = regression_data()
    model = make_model(momentum=0.9)
    recorder = EpochRecorder()
    with pytest.raises(error, match=name):
        model.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[LearningRateScheduler(schedule), recorder])
    assert len(recorder.epochs) == 2
    assert same_weights(model.get_weights(), recorder.epochs[-1])  # nothing ran after the bad schedule
    assert len(model.history.history["loss"]) == 2
    assert model.optimizer.learning_rate == 0.01
    assert_usable(model, x, y)


@pytest.mark.parametrize("hook", ["on_train_begin", "on_epoch_begin", "on_train_batch_begin", "on_epoch_end"])
def test_exception_from_a_callback_leaves_the_model_usable(backend, hook):
    x, y = regression_data()
    model = make_model()

    class Boom(Callback):
        pass

    def boom(self, *args, **kwargs):
        raise OSError("disk on fire")

    setattr(Boom, hook, boom)
    with pytest.raises(OSError, match="disk on fire"):
        model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[Boom()])
    assert all_finite(model.get_weights())
    assert_usable(model, x, y)  # in particular the training lock was released
