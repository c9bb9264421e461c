"""The BLAS thread policy (``cyneuron._threads``), its override and ``cyneuron.show_config()``.

The policy's decisions are tested on fake BLAS controllers and a fake step timer (no timing of
the real machine is asserted); the integration tests check that ``fit`` applies a decision and
puts the BLAS's own setting back, whatever happens inside the fit.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import cyneuron
from cyneuron import _threads, config
from cyneuron.callbacks import Callback
from cyneuron.layers import Dense
from cyneuron.models import Sequential

HAS_THREADPOOLCTL = importlib.util.find_spec("threadpoolctl") is not None
needs_threadpoolctl = pytest.mark.skipif(
    not HAS_THREADPOOLCTL, reason="threadpoolctl not installed (the policy is off)"
)


class FakeController:
    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.calls: list[int] = []

    def get_num_threads(self) -> int:
        return self.threads

    def set_num_threads(self, threads: int) -> None:
        self.calls.append(threads)
        self.threads = threads


class FakeNetwork:
    macs_per_row = 1_000_000


@pytest.fixture
def fake_blas(monkeypatch):
    controllers = [FakeController(2), FakeController(2)]
    monkeypatch.setattr(_threads, "_controllers", controllers)
    monkeypatch.setattr(_threads, "_override", None)
    monkeypatch.setattr(_threads, "_active", 0)
    monkeypatch.setattr(_threads, "_saved", [])
    return controllers


@pytest.fixture(autouse=True)
def _no_override():
    previous = config.get_blas_threads()
    config.set_blas_threads(None)
    yield
    config.set_blas_threads(previous)


# ------------------------------------------------------------------------------------ the override
def test_set_blas_threads_round_trip():
    config.set_blas_threads(3)
    assert config.get_blas_threads() == 3
    assert _threads.choose(10**9, 2) == (3, "set_blas_threads / CYNEURON_BLAS_THREADS")
    config.set_blas_threads(np.int64(1))
    assert config.get_blas_threads() == 1 and type(config.get_blas_threads()) is int
    config.set_blas_threads(None)
    assert config.get_blas_threads() is None


@pytest.mark.parametrize(
    ("value", "error"), [(0, ValueError), (-2, ValueError), (1.5, TypeError), (True, TypeError), ("2", TypeError)]
)
def test_set_blas_threads_rejects(value, error):
    with pytest.raises(error, match="threads"):
        config.set_blas_threads(value)
    assert config.get_blas_threads() is None


@pytest.mark.parametrize(("value", "expected"), [("3", 3), ("auto", None), ("", None), (" 1 ", 1)])
def test_environment_variable(monkeypatch, value, expected):
    monkeypatch.setenv(_threads.ENV_VAR, value)
    assert _threads._parse_env() == expected


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_environment_variable_malformed_warns_and_is_ignored(monkeypatch, value):
    monkeypatch.setenv(_threads.ENV_VAR, value)
    with pytest.warns(UserWarning, match=_threads.ENV_VAR):
        assert _threads._parse_env() is None


# ------------------------------------------------------------------------------------ the decision
def test_small_steps_use_one_thread(monkeypatch):
    monkeypatch.setattr(_threads, "other_running", lambda: pytest.fail("a small step needs no load reading"))
    threads, why = _threads.choose(_threads.PARALLEL_MIN_MACS - 1, 2)
    assert threads == 1 and "small step" in why


@pytest.mark.parametrize(
    ("others", "cores", "cap", "expected"),
    [
        (0, 2, 2, 2),
        (1, 2, 2, 1),
        (5, 2, 2, 1),
        (0, 8, 4, 4),
        (3, 8, 8, 5),
        (None, 4, 2, 2),
        (0, 2, 1, 1),
    ],
)
def test_large_steps_use_the_idle_cores(monkeypatch, others, cores, cap, expected):
    monkeypatch.setattr(_threads, "other_running", lambda: others)
    monkeypatch.setattr(_threads, "usable_cores", lambda: cores)
    assert _threads.choose(10**9, cap)[0] == expected
    assert _threads.choose(None, cap)[0] == expected  # unknown size: treated as large


def test_load_reading_is_sane():
    others = _threads.other_running()
    assert others is None or others >= 0
    assert _threads.usable_cores() >= 1


def test_fit_threads_sets_and_restores(fake_blas, monkeypatch):
    monkeypatch.setattr(_threads, "other_running", lambda: 1)
    monkeypatch.setattr(_threads, "usable_cores", lambda: 2)
    with _threads.FitThreads(FakeNetwork(), 64) as fit:
        assert fit.macs == 64_000_000 and fit.cap == 2
        assert fit.epoch() == (0, False)
        assert [c.threads for c in fake_blas] == [1, 1]
        assert _threads.last_decision["threads"] == 1
        monkeypatch.setattr(_threads, "other_running", lambda: 0)
        fit.epoch()
        assert [c.threads for c in fake_blas] == [2, 2]
        monkeypatch.setattr(_threads, "other_running", lambda: 1)
        fit.epoch()
    assert [c.threads for c in fake_blas] == [2, 2]
    # a medium step (above OpenBLAS's own one-thread threshold, below PARALLEL_MIN_MACS): one thread
    with _threads.FitThreads(type("Medium", (), {"macs_per_row": 10_000})(), 64) as fit:
        fit.epoch()
        assert [c.threads for c in fake_blas] == [1, 1]
    assert [c.threads for c in fake_blas] == [2, 2]


def test_tiny_steps_leave_the_blas_alone(fake_blas, monkeypatch):
    monkeypatch.setattr(_threads, "blas_controllers", lambda: pytest.fail("a tiny fit must not touch the BLAS"))
    with _threads.FitThreads(type("Tiny", (), {"macs_per_row": 10})(), 32) as fit:
        assert fit.epoch() == (0, False)
        assert fit.epoch(lambda a, b: pytest.fail("no timing"), [(0, 1)] * 100) == (0, False)
    assert all(c.calls == [] for c in fake_blas)


def test_concurrent_fits_share_the_setting_and_the_last_restores(fake_blas, monkeypatch):
    monkeypatch.setattr(_threads, "other_running", lambda: 0)
    first, second = _threads.FitThreads(FakeNetwork(), 64), _threads.FitThreads(FakeNetwork(), 64)
    first.start()
    first.epoch()
    assert [c.threads for c in fake_blas] == [2, 2]
    second.start()
    assert second.cap == 2  # the BLAS's own setting, saved by the first fit
    never = lambda a, b: pytest.fail("no timing while another fit runs")  # noqa: E731
    assert second.epoch(never, [(0, 1)] * 100) == (0, False)
    assert [c.threads for c in fake_blas] == [1, 1]
    assert "another fit" in _threads.last_decision["reason"]
    first.restore()
    assert [c.threads for c in fake_blas] == [1, 1]  # the second fit still runs
    second.epoch()
    assert [c.threads for c in fake_blas] == [2, 2]  # alone again
    fake_blas[0].threads = fake_blas[1].threads = 1
    second.restore()
    assert [c.threads for c in fake_blas] == [2, 2] and _threads._active == 0
    second.restore()  # a second restore is harmless
    assert _threads._active == 0


def test_fit_threads_without_a_blas_does_nothing(monkeypatch):
    monkeypatch.setattr(_threads, "blas_controllers", list)
    with _threads.FitThreads(FakeNetwork(), 64) as fit:
        assert fit.epoch(lambda a, b: pytest.fail("no probing without a BLAS"), [(0, 1)] * 100) == (0, False)


def _timed_train(monkeypatch, seconds_by_threads, controller, fail_at=None):
    """A fake step whose duration depends on the controller's thread count (a fake clock)."""
    now = [0.0]
    ran = []
    monkeypatch.setattr(_threads.time, "perf_counter", lambda: now[0])

    def train(start, stop):
        ran.append((start, stop, controller.threads))
        now[0] += seconds_by_threads[controller.threads]
        return fail_at is None or len(ran) - 1 != fail_at

    return train, ran


@pytest.mark.parametrize(("timings", "expected"), [({1: 3e-4, 2: 1e-4}, 2), ({1: 3e-4, 2: 2e-3}, 1)])
def test_probe_keeps_the_faster_thread_count(fake_blas, monkeypatch, timings, expected):
    monkeypatch.setattr(_threads, "other_running", lambda: 0)
    bounds = [(k * 10, k * 10 + 10) for k in range(40)]
    train, ran = _timed_train(monkeypatch, timings, fake_blas[0])
    with _threads.FitThreads(FakeNetwork(), 64) as fit:
        done, failed = fit.epoch(train, bounds)
        assert (done, failed) == (2 * _threads.PROBE_STEPS, False)
        assert [r[:2] for r in ran] == bounds[:done]  # the epoch's first steps, in order, each once
        assert [r[2] for r in ran] == [1, 2] * _threads.PROBE_STEPS
        assert [c.threads for c in fake_blas] == [expected, expected]
        assert "timed" in _threads.last_decision["reason"]


def test_probe_stops_at_a_failed_step(fake_blas, monkeypatch):
    monkeypatch.setattr(_threads, "other_running", lambda: 0)
    train, ran = _timed_train(monkeypatch, {1: 1e-4, 2: 1e-4}, fake_blas[0], fail_at=3)
    with _threads.FitThreads(FakeNetwork(), 64) as fit:
        assert fit.epoch(train, [(k, k + 1) for k in range(40)]) == (3, True)
        assert len(ran) == 4


def test_probe_skips_short_epochs_small_steps_and_overrides(fake_blas, monkeypatch):
    def never(start, stop):
        pytest.fail("should not probe")

    monkeypatch.setattr(_threads, "other_running", lambda: 0)
    with _threads.FitThreads(FakeNetwork(), 64) as fit:
        assert fit.epoch(never, [(0, 1)] * (4 * _threads.PROBE_STEPS - 1)) == (0, False)
    with _threads.FitThreads(type("Medium", (), {"macs_per_row": 10_000})(), 64) as fit:
        assert fit.epoch(never, [(0, 1)] * 100) == (0, False)
    monkeypatch.setattr(_threads, "_override", 2)
    with _threads.FitThreads(FakeNetwork(), 64) as fit:
        assert fit.epoch(never, [(0, 1)] * 100) == (0, False)
        assert [c.threads for c in fake_blas] == [2, 2] and _threads.last_decision["threads"] == 2


# ------------------------------------------------------------------------------------ through fit
def _model(n_in=256, hidden=128):
    model = Sequential([Dense(hidden, activation="relu", input_shape=(n_in,)), Dense(10, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


def _blas_threads():
    from threadpoolctl import threadpool_info

    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


@needs_threadpoolctl
@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_fit_applies_a_decision_and_restores_the_blas(backend):
    from threadpoolctl import threadpool_limits

    from tests.conftest import cython_available

    if backend == "cython" and not cython_available():
        pytest.skip("compiled kernels not built")
    import cyneuron.backend as backend_module

    previous = backend_module._active
    cyneuron.set_backend(backend)
    try:
        rng = np.random.default_rng(0)
        x, y = rng.random((64 * 20, 256), dtype=np.float32), rng.integers(0, 10, 64 * 20)
        model = _model()
        with threadpool_limits(2, user_api="blas"):
            before = _blas_threads()
            _threads.last_decision.clear()
            model.fit(x, y, batch_size=64, epochs=2, verbose=0)
            assert _threads.last_decision["threads"] in (1, 2)
            # the cython network counts its products' multiply-adds; the numpy one does not (treated as large)
            expected = 64 * (256 * 128 + 128 * 10) if backend == "cython" else None
            assert _threads.last_decision["macs_per_step"] == expected
            assert _blas_threads() == before

            class Boom(Callback):
                def on_epoch_end(self, epoch, logs=None):
                    raise KeyboardInterrupt

            with pytest.raises(KeyboardInterrupt):
                model.fit(x, y, batch_size=64, epochs=2, verbose=0, callbacks=[Boom()])
            assert _blas_threads() == before
            config.set_blas_threads(1)
            model.fit(x, y, batch_size=64, verbose=0)
            assert _threads.last_decision["threads"] == 1
            assert _blas_threads() == before
    finally:
        backend_module._active = previous


# ------------------------------------------------------------------------------------ show_config
def test_show_config_prints_and_returns_the_facts():
    printed = []
    info = cyneuron.show_config(print_fn=printed.append)
    assert set(info) >= {"backend", "build", "product_path", "cpu", "blas", "threads"}
    assert info["backend"] == cyneuron.get_backend()
    assert info["cpu"]["usable_cores"] >= 1
    text = printed[0]
    assert f"cyneuron backend: {info['backend']}" in text and "BLAS threads in fit: auto" in text
    if isinstance(info["build"], dict):
        assert info["build"]["optimized"] in (True, False)
        assert info["build"]["instruction_set"] in text
        assert info["product_path"] in ("auto", "loops", "blas")
    if HAS_THREADPOOLCTL:
        assert info["blas"] and all(lib["user_api"] == "blas" for lib in info["blas"])
        assert all(str(lib["num_threads"]) in text for lib in info["blas"])
    else:
        assert "threadpoolctl not installed" in info["blas"]
    assert cyneuron.show_config(print_fn=None) == cyneuron.show_config(print_fn=lambda _: None)


def test_show_config_reports_the_override():
    config.set_blas_threads(1)
    printed = []
    info = cyneuron.show_config(print_fn=printed.append)
    assert info["threads"]["policy"].startswith("fixed at 1")
    assert "fixed at 1" in printed[0]
