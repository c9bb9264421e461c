"""The one-call predict path (``cyneuron._network.FastPredictor``, ``model_predict`` and the compiled
``ModelLock``): it answers only for inputs that need no conversion and gives exactly the general path's
outputs; every other input goes to the general path, which converts it or raises the same error as before.

Each check compares the public call (``predict`` / ``predict_on_batch`` / ``model(x)``) with the general
path it falls back to (``_predict`` / ``_predict_on_batch`` / ``_call``): same values bit for bit, or the
same exception type and message.
"""

from __future__ import annotations

import functools
import signal
import sys
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cyneuron.backend as backend_module
from cyneuron import Input, Sequential, set_backend
from cyneuron.layers import Conv1D, Conv2D, Dense, Embedding, Flatten, MaxPooling2D
from cyneuron.utils import set_random_seed
from tests.conftest import cython_available

pytestmark = pytest.mark.skipif(not cython_available(), reason="compiled kernels not built")


@pytest.fixture(autouse=True)
def _cython_backend():
    previous = backend_module._active
    set_backend("cython")
    yield
    backend_module._active = previous


def mlp(dtype="float32") -> Sequential:
    set_random_seed(3)
    model = Sequential([Input((10,), dtype=dtype), Dense(32, activation="relu"), Dense(2, activation="softmax")])
    model.predict(np.zeros((1, 10), dtype))  # builds the network and its fast predictor
    return model


def calls(model):
    """(public call, general path) pairs."""
    return [
        (lambda x: model.predict(x), lambda x: model._predict(x, None, 0, None)),
        (model.predict_on_batch, model._predict_on_batch),
        (model, lambda x: model._call(x, False)),
    ]


def outcome(function, x):
    try:
        return "ok", function(x)
    except Exception as error:  # noqa: BLE001 - the exception itself is compared
        return "raised", (type(error), str(error))


def assert_same(model, x):
    for public, general in calls(model):
        got, want = outcome(public, x), outcome(general, x)
        assert got[0] == want[0], (got, want)
        if got[0] == "ok":
            assert type(got[1]) is np.ndarray and got[1].dtype == want[1].dtype
            np.testing.assert_array_equal(got[1], want[1], strict=True)
        else:
            assert got[1] == want[1]


# ------------------------------------------------------------------ inputs it serves
def test_the_fast_path_serves_ready_rows_with_the_general_paths_values():
    model = mlp()
    x = np.random.default_rng(0).standard_normal((1, 10)).astype(np.float32)
    assert model._fast.predict(x) is not None and model._fast.on_batch(x) is not None
    assert_same(model, x)


@given(rows=st.integers(1, 100), seed=st.integers(0, 2**16), dtype=st.sampled_from(["float32", "float64"]))
def test_any_row_count_matches_the_general_path_bit_for_bit(rows, seed, dtype):
    model = cached_mlp(dtype)
    x = (np.random.default_rng(seed).standard_normal((rows, 10)) * 3).astype(dtype)
    assert model._fast.predict(x) is not None
    assert_same(model, x)  # predict in chunks of 32 rows, predict_on_batch in one


@functools.cache
def cached_mlp(dtype: str) -> Sequential:
    return mlp(dtype)  # built once for hypothesis' examples (the autouse fixture chose the cython backend)


def test_each_call_returns_a_fresh_array():
    model = mlp()
    x = np.ones((2, 10), np.float32)
    first, second = model.predict(x), model.predict(x)
    assert first is not second and not np.shares_memory(first, second) and first.flags.owndata
    first[...] = -1
    np.testing.assert_array_equal(model.predict_on_batch(x), second)


def test_rank_3_inputs_and_outputs_take_the_fast_path():
    set_random_seed(0)
    cnn = Sequential(
        [Input((8, 8, 3)), Conv2D(4, 3, padding="same", activation="relu"), MaxPooling2D(2), Flatten(), Dense(2)]
    )
    x = np.random.default_rng(1).standard_normal((3, 8, 8, 3)).astype(np.float32)
    cnn.predict(x)
    assert cnn._fast.predict(x) is not None
    assert_same(cnn, x)
    sequences = Sequential([Input((6, 2)), Conv1D(3, 2, padding="same")])  # outputs (n, 6, 3)
    xs = np.random.default_rng(2).standard_normal((4, 6, 2)).astype(np.float32)
    sequences.predict(xs)
    assert sequences._fast.predict(xs).shape == (4, 6, 3)
    assert_same(sequences, xs)


def test_integer_index_models_check_every_index():
    set_random_seed(0)
    model = Sequential([Input((3,), dtype="int64"), Embedding(5, 2), Flatten(), Dense(1)])
    x = np.array([[0, 4, 2]], np.int64)
    model.predict(x)
    assert model._fast.predict(x) is not None
    assert_same(model, x)
    for bad in ([[0, 5, 1]], [[-1, 0, 0]]):
        for public, _ in calls(model):
            with pytest.raises(ValueError, match=r"embedding indices must be in \[0, 5\)"):
                public(np.array(bad, np.int64))
    assert_same(model, np.array([[0, 4, 2]], np.int32))  # converted by the general path


# ------------------------------------------------------------------ inputs it leaves to the general path
def bad_inputs():
    x = np.random.default_rng(0).standard_normal((4, 10)).astype(np.float32)
    wide = np.random.default_rng(1).standard_normal((4, 20)).astype(np.float32)
    unaligned = np.frombuffer(b"\0" + x.tobytes(), np.float32, offset=1).reshape(4, 10)

    class Sub(np.ndarray):
        pass

    read_only = x.copy()
    read_only.flags.writeable = False
    return {
        "NaN": np.where(np.arange(40).reshape(4, 10) == 7, np.nan, x).astype(np.float32),
        "inf": np.full((1, 10), np.inf, np.float32),
        "-inf in the last row": np.vstack([x, np.full((1, 10), -np.inf, np.float32)]),
        "float64 rows": x.astype(np.float64),
        "float16 rows": x.astype(np.float16),
        "int rows": np.arange(20).reshape(2, 10),
        "bool rows": np.ones((2, 10), bool),
        "byte-swapped": x.astype(">f4"),
        "Fortran order": np.asfortranarray(x),
        "strided rows": wide[:, ::2],
        "every other row": np.vstack([x, x])[::2],
        "unaligned": unaligned,
        "read-only": read_only,
        "a subclass": x.view(Sub),
        "a list": x.tolist(),
        "zero rows": np.zeros((0, 10), np.float32),
        "one sample as a vector": x[0],
        "a scalar": np.float32(1),
        "too few features": x[:, :9].copy(),
        "too many features": np.zeros((2, 11), np.float32),
        "rank 3": np.zeros((2, 10, 1), np.float32),
        "rank 3, wrong": np.zeros((2, 5, 2), np.float32),
        "complex": x.astype(np.complex64),
        "strings": np.array([["a"] * 10]),
        "objects": np.array([[object()] * 10], dtype=object),
        "None": None,
    }


@pytest.mark.parametrize("name", list(bad_inputs()) if cython_available() else [])
def test_other_inputs_get_the_general_paths_answer(name):
    model = mlp()
    x = bad_inputs()[name]
    served = name in ("NaN", "inf", "-inf in the last row", "read-only", "unaligned")
    if isinstance(x, np.ndarray) and not served:
        assert model._fast.predict(x) is None and model._fast.on_batch(x) is None
    assert_same(model, x)


def test_non_finite_values_raise_the_same_value_error_everywhere():
    model = mlp()
    for value in (np.nan, np.inf, -np.inf):
        x = np.zeros((3, 10), np.float32)
        x[2, 9] = value
        for public, _ in calls(model):
            with pytest.raises(ValueError, match="x: contains NaN or inf"):
                public(x)


def test_options_and_training_mode_take_the_general_path():
    model = mlp()
    x = np.ones((1, 10), np.float32)
    want = model.predict(x)
    np.testing.assert_array_equal(model.predict(x, batch_size=1), want)
    np.testing.assert_array_equal(model.predict(x, verbose=0, callbacks=[]), want)
    np.testing.assert_array_equal(model(x, training=True), want)  # no dropout or batch statistics here
    with pytest.raises(ValueError, match="batch_size"):
        model.predict(x, batch_size=0)
    with pytest.raises(TypeError, match="training"):
        model(x, training="yes")


def test_a_changed_model_gets_a_new_fast_predictor():
    model = mlp()
    old = model._fast
    model.add(Dense(3))
    assert model._fast is None
    out = model.predict(np.ones((1, 10), np.float32))
    assert out.shape == (1, 3) and model._fast is not None and model._fast is not old


def test_the_numpy_backend_has_no_fast_predictor():
    set_backend("numpy")
    model = mlp()
    assert model._fast is None
    x = np.ones((2, 10), np.float32)
    assert model.predict(x).shape == (2, 2)
    with pytest.raises(ValueError, match="x: contains NaN or inf"):
        model.predict_on_batch(np.full((1, 10), np.nan, np.float32))


def test_the_fast_predictor_checks_its_arguments():
    from cyneuron._network import FastPredictor, ModelLock

    model = mlp()
    network = model._get_network()
    with pytest.raises(ValueError, match="features, out_shape"):
        FastPredictor(network, (11,), (2,), ModelLock(), 32)
    with pytest.raises(ValueError, match="features, out_shape"):
        FastPredictor(network, (10,), (3,), ModelLock(), 32)
    with pytest.raises(ValueError, match="batch_size"):
        FastPredictor(network, (10,), (2,), ModelLock(), 0)
    with pytest.raises(TypeError):
        FastPredictor(network, (10,), (2,), threading.RLock(), 32)


# ------------------------------------------------------------------ the lock
def test_predict_waits_for_a_reader_in_another_thread():
    model = mlp()
    x = np.ones((1, 10), np.float32)
    want = model.predict(x)
    held, done = threading.Event(), threading.Event()

    def reader():
        with model._net_lock:  # as get_weights / a save
            held.set()
            done.wait(5)

    thread = threading.Thread(target=reader)
    thread.start()
    held.wait(5)
    assert model._fast.predict(x) is None  # another thread holds the lock: the general path waits
    timer = threading.Timer(0.05, done.set)
    timer.start()
    np.testing.assert_array_equal(model.predict(x), want)
    thread.join()
    timer.join()


def test_predict_is_refused_while_another_thread_trains():
    model = mlp()
    model._calls, model._calls_thread = ["fit"], -1  # as fit running in another thread, holding the lock
    thread = threading.Thread(target=model._net_lock.acquire)
    thread.start()
    thread.join()
    try:
        for public, _ in calls(model):
            with pytest.raises(RuntimeError, match="being used by another thread"):
                public(np.ones((1, 10), np.float32))
    finally:
        model._calls = []


def test_the_owner_of_the_lock_predicts_through_the_fast_path():
    model = mlp()
    x = np.ones((1, 10), np.float32)
    with model._net_lock, model._net_lock:  # e.g. a callback inside a save
        assert model._fast.predict(x) is not None
        model.predict(x)
    assert model._net_lock.acquire(False)  # released as often as taken
    model._net_lock.release()


def test_model_lock_behaves_as_an_rlock():
    from cyneuron._network import ModelLock

    lock = ModelLock()
    with pytest.raises(RuntimeError, match="un-acquired"):
        lock.release()
    assert lock.acquire() and lock.acquire(False) and lock.acquire(True, 1.0)
    assert lock._is_owned() and "count=3" in repr(lock)
    results = []
    other = threading.Thread(target=lambda: results.extend([lock.acquire(False), lock.acquire(timeout=0.01)]))
    other.start()
    other.join()
    assert results == [False, False]

    def release_elsewhere():
        try:
            lock.release()
        except RuntimeError as error:
            results.append(str(error))

    other = threading.Thread(target=release_elsewhere)
    other.start()
    other.join()
    assert results[-1] == "cannot release un-acquired lock"
    for _ in range(3):
        lock.release()
    assert not lock._is_owned() and "unlocked" in repr(lock)
    with pytest.raises(ValueError, match="non-blocking"):
        lock.acquire(False, 1)
    with pytest.raises(ValueError, match="non-negative"):
        lock.acquire(True, -2)
    got = []
    other = threading.Thread(target=lambda: got.append(lock.acquire(timeout=5)) or lock.release())
    other.start()
    other.join()
    assert got == [True]
    with pytest.raises(TypeError):
        __import__("pickle").dumps(lock)


@pytest.mark.skipif(sys.platform == "win32" or not hasattr(signal, "setitimer"), reason="needs POSIX timers")
def test_a_blocked_acquire_can_be_interrupted():
    from cyneuron._network import ModelLock

    lock, held, done = ModelLock(), threading.Event(), threading.Event()

    def holder():
        with lock:
            held.set()
            done.wait(10)

    class Interrupted(Exception):
        pass

    def handler(signum, frame):
        raise Interrupted

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    previous = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(Interrupted):
            lock.acquire()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        done.set()
        thread.join()
    assert lock.acquire(False)
    lock.release()


def test_without_the_extension_the_pure_python_methods_predict():
    from tests.test_backend_selection import run_python

    code = """
        import sys, threading, warnings
        sys.modules["cyneuron._kernels"] = sys.modules["cyneuron._network"] = None  # "import" them fails
        warnings.simplefilter("ignore")
        import numpy as np
        from cyneuron import Input, Sequential
        from cyneuron.layers import Dense
        model = Sequential([Input((3,)), Dense(2)])
        x = np.ones((2, 3), np.float32)
        out = model.predict(x) + model.predict_on_batch(x) + model(x)
        try:
            model.predict(np.full((1, 3), np.nan, np.float32))
        except ValueError as error:
            print(error)
        print(type(model._net_lock) is type(threading.RLock()), type(Sequential.predict).__name__, out.shape)
    """
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["x: contains NaN or inf", "True function (2, 2)"]
