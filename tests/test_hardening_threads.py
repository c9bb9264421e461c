"""Hardening: threads.

* The compiled kernels release the GIL. Checked without timing: the switch interval is raised to
  100 s, so the main thread (waiting for the GIL) can only run while a worker thread is inside a
  call if that call releases the GIL itself; the main thread then sees the call unfinished.
* Two models trained at once in two threads end with exactly the weights each gets alone.
* One model used from two threads at once: as documented in ``Sequential.fit`` and
  ``NetworkCore`` (cython), a second fit / evaluate raises RuntimeError, a concurrent predict is
  served or refused with RuntimeError, and training is never corrupted (same weights as alone).
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import cyneuron.backend as backend_module
from cyneuron import Input, Sequential, _threads, set_backend
from cyneuron import config as cyneuron_config
from cyneuron.backend.base import LossSpec
from cyneuron.callbacks import Callback
from cyneuron.layers import Dense
from cyneuron.optimizers import SGD
from cyneuron.utils import set_random_seed
from tests.conftest import cython_available
from tests.spec_support import dense_stage, sgd_spec

pytestmark = pytest.mark.skipif(not cython_available(), reason="compiled kernels not built")


@pytest.fixture(autouse=True)
def _cython_backend():
    previous = backend_module._active
    set_backend("cython")
    yield
    backend_module._active = previous


@pytest.fixture(autouse=True)
def _fixed_blas_threads():
    """These tests compare weights bit for bit between fits run alone and fits run concurrently.
    OpenBLAS's last bits depend on its thread count (and, with one thread, on whether another
    thread calls it at the same time), and the BLAS thread policy picks the count from the load and
    from the fits running: fix it at the BLAS's default (what every fit used before the policy), to
    test what these tests are about (no state shared between models, no corruption)."""
    previous = cyneuron_config.get_blas_threads()
    cyneuron_config.set_blas_threads(_threads.usable_cores())
    yield
    cyneuron_config.set_blas_threads(previous)


def big_network(rows=4096, features=256, hidden=512, units=10, dtype=np.float64):
    """A network whose every call does ~10**8-10**9 multiply-adds: far above the GIL-release threshold."""
    rng = np.random.default_rng(0)
    stages = [
        dense_stage("relu", rng.standard_normal((features, hidden)).astype(dtype) * 0.05, np.zeros(hidden, dtype)),
        dense_stage("softmax", rng.standard_normal((hidden, units)).astype(dtype) * 0.05, np.zeros(units, dtype)),
    ]
    net = backend_module.ops().build_network(stages, features, dtype)
    x = rng.standard_normal((rows, features)).astype(dtype)
    labels = rng.integers(0, units, rows).astype(np.int64)
    net.prepare_training(LossSpec("sparse_categorical_crossentropy"), [], sgd_spec(0.01), rows)
    net.bind_training_data(x, labels, np.arange(rows, dtype=np.int64))
    return net, x, labels, stages


def runs_while_other_thread_is_inside(call) -> bool:
    """True when the main thread got to run Python while ``call()`` (in a worker) had not returned."""
    started = threading.Event()
    finished = []
    errors = []

    def worker():
        started.set()
        try:
            call()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finished.append(True)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(100.0)  # the interpreter will not take the GIL from the worker by itself
    try:
        thread = threading.Thread(target=worker)
        thread.start()
        started.wait()
        seen_unfinished = not finished  # runs as soon as the main thread holds the GIL again
        thread.join()
    finally:
        sys.setswitchinterval(previous)
    assert not errors, errors
    return seen_unfinished


def test_network_predict_releases_the_gil():
    net, x, _, _ = big_network()
    net.predict(x, 4096)  # allocate the workspaces outside the measured call
    assert runs_while_other_thread_is_inside(lambda: net.predict(x, 4096))


def test_network_train_batch_releases_the_gil():
    net, _, _, _ = big_network()
    net.train_batch(0, 4096)
    assert runs_while_other_thread_is_inside(lambda: net.train_batch(0, 4096))


def test_network_evaluate_releases_the_gil():
    net, x, labels, _ = big_network()
    net.evaluate(x, labels, 4096)
    assert runs_while_other_thread_is_inside(lambda: net.evaluate(x, labels, 4096))


def test_dense_kernel_releases_the_gil():
    ops = backend_module.ops()
    rng = np.random.default_rng(1)
    x, kernel = rng.standard_normal((2048, 1024)), rng.standard_normal((1024, 1024))
    bias, z, a = np.zeros(1024), np.empty((2048, 1024)), np.empty((2048, 1024))
    ops.dense_forward(x, kernel, bias, "tanh", z, a)
    assert runs_while_other_thread_is_inside(lambda: ops.dense_forward(x, kernel, bias, "tanh", z, a))


def test_one_network_refuses_a_second_caller_while_busy():
    """NetworkCore documents: a call made while another thread is inside a call raises RuntimeError."""
    net, x, labels, stages = big_network()
    net.train_batch(0, 4096)
    before = [s.params[0].copy() for s in stages]
    started = threading.Event()
    outcomes = []

    def worker():
        started.set()
        outcomes.append(net.train_batch(0, 4096))

    previous = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        thread = threading.Thread(target=worker)
        thread.start()
        started.wait()
        inside = not outcomes
        errors = []
        for call in (lambda: net.predict(x, 64), lambda: net.train_batch(0, 64), lambda: net.evaluate(x, labels, 64)):
            try:
                call()
            except RuntimeError as error:
                errors.append(str(error))
        thread.join()
    finally:
        sys.setswitchinterval(previous)
    assert inside, "the worker's train_batch did not release the GIL: nothing concurrent was tested"
    assert len(errors) == 3 and all("another thread" in e for e in errors), errors
    assert outcomes == [True]
    # the refused calls changed nothing: exactly one more step than before
    ref, _, _, ref_stages = big_network()
    ref.train_batch(0, 4096)
    ref.train_batch(0, 4096)
    assert all(np.array_equal(s.params[0], r.params[0]) for s, r in zip(stages, ref_stages))
    assert not all(np.array_equal(s.params[0], b) for s, b in zip(stages, before))


# ============================================================ models in threads
def make_model(seed, features=64, hidden=128):
    set_random_seed(seed)
    model = Sequential([Input((features,)), Dense(hidden, activation="relu"), Dense(10, activation="softmax")])
    model.compile(optimizer=SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def make_data(seed, n=2048, features=64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)).astype(np.float32), rng.integers(0, 10, n)


def train(model, x, y, callbacks=None):
    return model.fit(x, y, epochs=3, batch_size=256, shuffle=False, verbose=0, callbacks=callbacks)


def test_two_models_trained_in_two_threads_match_training_alone():
    data = [make_data(1), make_data(2)]
    alone = []
    for seed, (x, y) in zip((10, 20), data):
        model = make_model(seed)
        history = train(model, x, y)
        alone.append((model.get_weights(), history.history))
    models = [make_model(10), make_model(20)]
    barrier = threading.Barrier(2)
    results: list = [None, None]
    errors = []

    def run(i):
        try:
            barrier.wait()
            results[i] = train(models[i], *data[i]).history
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for model, history, (weights, history_alone) in zip(models, results, alone):
        assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights))
        assert history == history_alone


class Rendezvous(Callback):
    """At one batch of the fit, lets the other thread act while this fit is mid-training."""

    def __init__(self, at_batch, act):
        super().__init__()
        self.at_batch, self.act = at_batch, act

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.at_batch:
            self.act()


@pytest.mark.parametrize("backend_name", ["cython", "numpy"])
def test_second_fit_or_evaluate_on_a_training_model_raises_runtime_error(backend_name):
    set_backend(backend_name)
    x, y = make_data(3, n=1024)
    model = make_model(30)
    seen = {}

    def from_other_thread():
        def attempt():
            for name, call in (
                ("fit", lambda: train(model, x, y)),
                ("evaluate", lambda: model.evaluate(x, y, verbose=0)),
            ):
                try:
                    call()
                    seen[name] = "ran"
                except RuntimeError as error:
                    seen[name] = str(error)

        thread = threading.Thread(target=attempt)
        thread.start()
        thread.join()

    train(model, x, y, callbacks=[Rendezvous(2, from_other_thread)])
    assert "another thread" in seen["fit"], seen
    assert "another thread" in seen["evaluate"], seen
    reference = make_model(30)
    train(reference, x, y, callbacks=[Rendezvous(2, lambda: None)])
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), reference.get_weights()))


def test_predict_from_another_thread_during_fit_is_served_and_never_corrupts_training():
    x, y = make_data(4, n=2048)
    model = make_model(40)
    outputs = {}

    def from_other_thread():
        def attempt():
            outputs["other"] = model.predict(x[:512], batch_size=128, verbose=0)

        thread = threading.Thread(target=attempt)
        thread.start()
        thread.join()
        outputs["same"] = model.predict(x[:512], batch_size=128, verbose=0)

    train(model, x, y, callbacks=[Rendezvous(3, from_other_thread)])
    assert np.array_equal(outputs["other"], outputs["same"])
    reference = make_model(40)
    train(reference, x, y, callbacks=[Rendezvous(3, lambda: None)])
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), reference.get_weights()))


def test_fit_is_not_aborted_by_a_predict_running_in_another_thread():
    x, y = make_data(5, n=1024)
    model = make_model(50)
    big = np.random.default_rng(5).standard_normal((200_000, 64)).astype(np.float32)
    model.predict(big[:8], verbose=0)
    started = threading.Event()
    done = []

    def predict_in_background():
        started.set()
        model.predict(big, batch_size=200_000, verbose=0)
        done.append(True)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        thread = threading.Thread(target=predict_in_background)
        thread.start()
        started.wait()
        overlapping = not done
        try:
            train(model, x, y)
        finally:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    assert overlapping
    reference = make_model(50)
    train(reference, x, y)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), reference.get_weights()))
