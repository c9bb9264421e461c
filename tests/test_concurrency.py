"""Concurrency without surprises: re-entrant calls from callbacks, the per-thread random generators,
consistent snapshots of a model another thread trains, and a stress test of mixed calls in 4 threads.

* A callback of a model's own ``fit`` / ``evaluate`` may call ``evaluate``, ``test_on_batch``, ``predict``,
  ``get_weights``, ``save`` (all safe: they change nothing the running loop uses); ``fit``,
  ``train_on_batch``, ``compile``, ``add`` and ``pop`` raise a RuntimeError naming the call.
* ``set_random_seed`` seeds the calling thread's generator: the same seed and calls give the same weights
  in a thread whatever other threads build or train meanwhile (``cyneuron.config`` documents the model).
* ``get_weights`` and ``save`` from another thread wait for the step in progress: every snapshot is a
  state between two steps of the trainer (compared with the states recorded by the trainer itself).
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np
import pytest

from cyneuron import Input, Sequential, config
from cyneuron.callbacks import Callback, LambdaCallback
from cyneuron.layers import BatchNormalization, Dense, Dropout
from cyneuron.saving import model_from_bytes, model_to_bytes
from cyneuron.utils import set_random_seed
from tests.conftest import BACKEND_PARAMS


def make_model(kind=0, features=8, units=3):
    hidden = [Dense(16, activation="relu"), Dropout(0.3)] if kind == 0 else [Dense(12), BatchNormalization()]
    model = Sequential([Input((features,)), *hidden, Dense(units, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def make_data(seed, n=128, features=8, units=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    return x, rng.integers(0, units, n)


def digest(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def run_in_threads(targets) -> None:
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        return run

    threads = [threading.Thread(target=wrap(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


# ============================================================ re-entrant calls from callbacks
class CallAt(Callback):
    """Make ``call(model)`` from a batch hook (train or test) and record what happened."""

    def __init__(self, call, hook="on_train_batch_end"):
        super().__init__()
        self.call, self.outcome = call, None
        setattr(self, hook, self._run)

    def _run(self, batch, logs=None):
        if batch == 1 and self.outcome is None:
            try:
                self.outcome = ("ran", self.call(self.model))
            except RuntimeError as error:
                self.outcome = ("refused", str(error))


REFUSED_IN_FIT = {
    "fit": lambda m: m.fit(*make_data(1), epochs=1, verbose=0),
    "train_on_batch": lambda m: m.train_on_batch(*make_data(1, n=8)),
    "compile": lambda m: m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy"),
    "add": lambda m: m.add(Dense(3)),
    "pop": lambda m: m.pop(),
}
SERVED_IN_FIT = {
    "evaluate": lambda m: m.evaluate(*make_data(2), verbose=0),
    "test_on_batch": lambda m: m.test_on_batch(*make_data(2, n=8)),
    "predict": lambda m: m.predict(make_data(2)[0], verbose=0),
    "get_weights": lambda m: m.get_weights(),
    "save": lambda m: model_to_bytes(m),
}


@pytest.mark.parametrize("backend", BACKEND_PARAMS, indirect=True)
@pytest.mark.parametrize("name", sorted(REFUSED_IN_FIT) + sorted(SERVED_IN_FIT))
def test_calls_from_a_callback_of_the_models_own_fit(backend, name):
    x, y = make_data(0)
    set_random_seed(1)
    reference = make_model()
    expected = reference.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[CallAt(lambda m: None)])
    set_random_seed(1)
    model = make_model()
    cb = CallAt(REFUSED_IN_FIT.get(name) or SERVED_IN_FIT[name])
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[cb])
    if name in REFUSED_IN_FIT:
        assert cb.outcome[0] == "refused", cb.outcome
        assert cb.outcome[1].startswith(f"{name}:") and "fit()" in cb.outcome[1], cb.outcome
    else:
        assert cb.outcome[0] == "ran", cb.outcome
    # whatever was tried, the outer fit is exactly the one without it (its logged running means too)
    assert history.history == expected.history
    assert digest(model.get_weights()) == digest(reference.get_weights())
    assert model.optimizer.iterations == reference.optimizer.iterations
    assert len(model.layers) == len(reference.layers)


@pytest.mark.parametrize("name", ["fit", "train_on_batch", "compile"])
def test_training_calls_from_a_callback_of_evaluate_are_refused(name):
    x, y = make_data(0)
    set_random_seed(1)
    model = make_model()
    model.fit(x, y, epochs=1, verbose=0)
    before = digest(model.get_weights())
    cb = CallAt(REFUSED_IN_FIT[name], hook="on_test_batch_end")
    model.evaluate(x, y, batch_size=16, verbose=0, callbacks=[cb])
    assert cb.outcome[0] == "refused" and cb.outcome[1].startswith(f"{name}:") and "evaluate()" in cb.outcome[1]
    assert digest(model.get_weights()) == before


def test_evaluate_and_predict_from_a_callback_of_evaluate_are_served():
    x, y = make_data(0)
    set_random_seed(1)
    model = make_model()
    model.fit(x, y, epochs=1, verbose=0)
    expected = model.evaluate(x, y, batch_size=16, verbose=0)
    for name in ("evaluate", "predict"):
        cb = CallAt(SERVED_IN_FIT[name], hook="on_test_batch_end")
        assert model.evaluate(x, y, batch_size=16, verbose=0, callbacks=[cb]) == expected
        assert cb.outcome[0] == "ran"


# ============================================================ the random-generator model
def seeded_run(seed, backend_name="cython"):
    """Build and train two models from one seed (initializers, shuffles, Dropout masks all drawn)."""
    set_random_seed(seed)
    x, y = make_data(seed)
    out = []
    for kind in (0, 1):
        model = make_model(kind)
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        model.train_on_batch(x[:16], y[:16])
        out.append(digest(model.get_weights()))
    return out


def test_single_thread_draws_what_a_seeded_numpy_generator_draws():
    set_random_seed(123)
    assert np.array_equal(
        config.random_generator().integers(2**63, size=4), np.random.default_rng(123).integers(2**63, size=4)
    )


def test_a_seeded_thread_is_reproducible_while_other_threads_build_and_train():
    alone = {seed: seeded_run(seed) for seed in (1, 2, 3)}
    results = {}

    def seeded(seed):
        def run():
            for _ in range(2):
                results.setdefault(seed, []).append(seeded_run(seed))

        return run

    def unseeded_noise():
        x, y = make_data(9)
        for _ in range(3):
            make_model(0).fit(x, y, epochs=1, batch_size=8, verbose=0)

    run_in_threads([seeded(1), seeded(2), seeded(3), unseeded_noise, unseeded_noise])
    for seed, runs in results.items():
        assert runs == [alone[seed]] * 2, seed


def test_an_unseeded_thread_does_not_draw_the_seeding_threads_numbers():
    set_random_seed(5)
    mine = config.random_generator().integers(2**63, size=4)
    theirs = []
    run_in_threads([lambda: theirs.append(config.random_generator().integers(2**63, size=4))])
    assert not np.array_equal(mine, theirs[0])


# ============================================================ consistent snapshots
class Recorder(Callback):
    """The trainer's own view after each step: (weights digest, iterations)."""

    def __init__(self):
        super().__init__()
        self.states = set()

    def on_train_batch_end(self, batch, logs=None):
        self.states.add((digest(self.model.get_weights()), int(self.model.optimizer.iterations)))


@pytest.mark.parametrize("backend", BACKEND_PARAMS, indirect=True)
def test_get_weights_and_save_from_another_thread_see_states_between_steps(backend):
    set_random_seed(4)
    model = Sequential([Input((64,)), Dense(256, activation="relu"), Dense(256, activation="relu"), Dense(4)])
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((512, 64)).astype(np.float32), rng.standard_normal((512, 4)).astype(np.float32)
    initial = (digest(model.get_weights()), 0)
    recorder, done, snapshots = Recorder(), threading.Event(), []

    def train():
        try:
            model.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[recorder])
        finally:
            done.set()

    def read():
        while not done.is_set():
            snapshots.append((digest(model.get_weights()), None))
            loaded = model_from_bytes(model_to_bytes(model))
            snapshots.append((digest(loaded.get_weights()), int(loaded.optimizer.iterations)))

    run_in_threads([train, read])
    states = recorder.states | {initial}
    weights_only = {w for w, _ in states}
    assert len(snapshots) > 2
    for weights, iterations in snapshots:
        if iterations is None:
            assert weights in weights_only
        else:
            assert (weights, iterations) in states


# ============================================================ stress: 4 threads x mixed calls
ITERATIONS = 3


def thread_script(seed, log, states=None, live=None, neighbours=(), reads=None):
    """One thread's fixed sequence of calls on its own two models; ``log`` receives every result.

    Reference run: ``states[(seed, i)]`` receives every state of model i between two steps the other
    threads can see (its start, each epoch end, after each train_on_batch). Concurrent run: the models are
    published in ``live`` and, between its own calls, the thread reads its ``neighbours``' live models
    (get_weights and a save, while their owners train them) into ``reads``.
    """
    set_random_seed(seed)
    x, y = make_data(seed)
    xv, yv = make_data(seed + 100, n=40)
    models = [make_model(kind) for kind in (0, 1)]

    def record(i):
        if states is not None:
            model = models[i]
            states.setdefault((seed, i), set()).add((digest(model.get_weights()), int(model.optimizer.iterations)))

    for i, model in enumerate(models):
        record(i)
        if live is not None:
            live[(seed, i)] = model
    for _ in range(ITERATIONS):
        for i, model in enumerate(models):
            # on_epoch_end is not a batch hook: the fit keeps its hook-free path either way
            callbacks = [LambdaCallback(on_epoch_end=lambda epoch, logs, i=i: record(i))] if states is not None else []
            log.append(("fit", model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=callbacks).history))
            log.append(("predict", digest([model.predict(xv, verbose=0)])))
            log.append(("evaluate", model.evaluate(xv, yv, verbose=0)))
            log.append(("weights", digest(model.get_weights())))
            copy = model_from_bytes(model_to_bytes(model))
            log.append(("saved", digest(copy.get_weights()), int(copy.optimizer.iterations)))
            log.append(("train_on_batch", model.train_on_batch(x[:16], y[:16])))
            record(i)
            for key in neighbours:
                other = live.get(key)
                if other is None:  # its thread has not built it yet
                    continue
                reads.append((key, digest(other.get_weights()), None))
                loaded = model_from_bytes(model_to_bytes(other))
                reads.append((key, digest(loaded.get_weights()), int(loaded.optimizer.iterations)))


@pytest.mark.parametrize("backend", BACKEND_PARAMS, indirect=True)
def test_stress_four_threads_mixed_calls_match_a_single_threaded_run(backend):
    seeds = (11, 22, 33, 44)
    reference, states = {seed: [] for seed in seeds}, {}
    for seed in seeds:
        thread_script(seed, reference[seed], states=states)

    logs, live, reads = {seed: [] for seed in seeds}, {}, []
    start = threading.Barrier(len(seeds))

    def script(seed):
        def run():
            start.wait()
            following = seeds[(seeds.index(seed) + 1) % len(seeds)]
            thread_script(seed, logs[seed], live=live, neighbours=[(following, 0), (following, 1)], reads=reads)

        return run

    run_in_threads([script(seed) for seed in seeds])
    for seed in seeds:
        assert logs[seed] == reference[seed], f"thread {seed}: results differ from its single-threaded run"
    assert reads
    for key, weights, iterations in reads:
        if iterations is None:
            assert weights in {w for w, _ in states[key]}, f"a torn get_weights of {key}"
        else:
            assert (weights, iterations) in states[key], f"a torn save of {key}"
