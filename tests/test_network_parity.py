"""The cython ``Network`` against the NumPy reference ``Network``.

Same weights, data and shuffled orders: predict, evaluate, several epochs of
``train_batch`` (weights, velocities, stats, return values) must agree within
float rounding, for a few architectures, losses, metrics and SGD settings, and
with every product forced through loops or BLAS.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np
import pytest

from cyneuron.backend.base import LOSSES, LossSpec, MetricSpec, Network, StageSpec
from tests.kernels_support import CY, DTYPES, REF, close, product_path, targets_for  # noqa: F401
from tests.spec_support import activation_stage, dense_stage, sgd_spec


class SGDSpec(NamedTuple):
    """The SGD settings of a case (handed to the networks as ``sgd_spec(*settings)``)."""

    learning_rate: float
    momentum: float = 0.0
    nesterov: bool = False


def _params(stages: list[StageSpec]) -> list[np.ndarray]:
    return [p for s in stages for p in s.params]


def _slots(state: dict) -> list[np.ndarray]:
    return [slot for per_param in state["slots"] for slot in per_param]


# (input_dim, [(units, activation, kind)]) with kind "dense", "nobias" or "bare" (Activation layer)
ARCHITECTURES = {
    "1-16-32-2": (1, [(16, "relu", "dense"), (32, "relu", "dense"), (2, "softmax", "dense")]),
    "bare-stages": (5, [(7, "tanh", "dense"), (7, "relu", "bare"), (3, "linear", "nobias"), (3, "softmax", "bare")]),
    "sigmoid-out": (4, [(6, "sigmoid", "dense"), (3, "sigmoid", "dense")]),
    "regression": (6, [(9, "relu", "dense"), (2, "linear", "dense")]),
    "leading-bare": (3, [(3, "tanh", "bare"), (4, "linear", "nobias")]),
    "wide": (40, [(70, "relu", "dense"), (10, "softmax", "dense")]),
}

CASES = [
    ("1-16-32-2", LossSpec("sparse_categorical_crossentropy"), ["sparse_categorical_accuracy"], SGDSpec(0.1)),
    (
        "1-16-32-2",
        LossSpec("categorical_crossentropy"),
        ["categorical_accuracy", "mean_squared_error"],
        SGDSpec(0.1, 0.9),
    ),
    ("bare-stages", LossSpec("categorical_crossentropy"), ["categorical_accuracy"], SGDSpec(0.05, 0.9, True)),
    ("sigmoid-out", LossSpec("binary_crossentropy"), ["binary_accuracy", "mean_absolute_error"], SGDSpec(0.1, 0.5)),
    ("sigmoid-out", LossSpec("binary_crossentropy", from_logits=True), ["binary_accuracy"], SGDSpec(0.1)),
    ("regression", LossSpec("mean_squared_error"), ["mean_absolute_error"], SGDSpec(0.01)),
    ("regression", LossSpec("mean_absolute_error"), [], SGDSpec(0.01, 0.9, True)),
    ("regression", LossSpec("categorical_crossentropy", from_logits=True), ["categorical_accuracy"], SGDSpec(0.05)),
    (
        "leading-bare",
        LossSpec("sparse_categorical_crossentropy", from_logits=True),
        ["sparse_categorical_accuracy"],
        SGDSpec(0.05, 0.8),
    ),
    ("wide", LossSpec("sparse_categorical_crossentropy"), ["sparse_categorical_accuracy"], SGDSpec(0.05, 0.9)),
]

# every other loss of the registry trains too, on an architecture whose outputs are in its domain
_COVERED = {case[1].name for case in CASES}
_ARCHITECTURE_OF = {"kl_divergence": "1-16-32-2", "categorical_hinge": "wide", "poisson": "sigmoid-out",
                    "mean_squared_logarithmic_error": "sigmoid-out"}
CASES += [
    (_ARCHITECTURE_OF.get(name, "regression"), LossSpec(name), ["mean_squared_error"], SGDSpec(0.02, 0.5))
    for name in LOSSES
    if name not in _COVERED
]
# Keras' loss options and the metrics with parameters
CASES += [
    ("sigmoid-out", LossSpec("binary_crossentropy", label_smoothing=0.2, reduction="sum"),
     ["binary_crossentropy", MetricSpec("binary_accuracy", 0.3)], SGDSpec(0.02)),
    ("1-16-32-2", LossSpec("categorical_crossentropy", label_smoothing=0.1, reduction="mean_with_sample_weight"),
     ["top_k_categorical_accuracy", "kl_divergence"], SGDSpec(0.1)),
    ("wide", LossSpec("sparse_categorical_crossentropy", ignore_class=3),
     [MetricSpec("sparse_top_k_categorical_accuracy", 2)], SGDSpec(0.05)),
    ("leading-bare", LossSpec("sparse_categorical_crossentropy", True, ignore_class=-1, reduction="sum"),
     ["sparse_categorical_crossentropy"], SGDSpec(0.01)),
    ("regression", LossSpec("huber", delta=0.3, reduction="mean"), ["cosine_similarity", "accuracy"], SGDSpec(0.05)),
]


def _stages(name: str, dtype, seed: int = 0) -> tuple[list[StageSpec], int]:
    input_dim, layers = ARCHITECTURES[name]
    rng = np.random.default_rng(seed)
    stages, width = [], input_dim
    for units, activation, kind in layers:
        if kind == "bare":
            stages.append(activation_stage(activation, width))
            continue
        kernel = (rng.normal(size=(width, units)) / np.sqrt(width)).astype(dtype)
        bias = (rng.normal(size=units) * 0.1).astype(dtype) if kind == "dense" else None
        stages.append(dense_stage(activation, kernel, bias))
        width = units
    return stages, input_dim


def _data(name: str, loss: LossSpec, dtype, n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    stages, input_dim = _stages(name, dtype)
    units = stages[-1].out_shape[0]
    x = rng.normal(size=(n, input_dim)).astype(dtype)
    y = targets_for(loss.name, rng, n, units, dtype)
    if loss.ignore_class is not None:
        y[rng.random(n) < 0.3] = loss.ignore_class
    return x, y


def _run(ops, case, dtype, n=37, batch_size=8, epochs=3):
    name, loss, metrics, sgd = case
    stages, input_dim = _stages(name, dtype)
    x, y = _data(name, loss, dtype, n)
    net = ops.build_network(stages, input_dim, dtype)
    predicted = net.predict(x, 5)
    net.prepare_training(loss, metrics, sgd_spec(*sgd), batch_size)
    order = np.arange(n, dtype=np.int64)
    net.bind_training_data(x, y, order)
    shuffler = np.random.default_rng(7)
    flags, stats = [], []
    for epoch in range(epochs):
        shuffler.shuffle(order)  # in place, between epochs, as the front end does
        net.set_optimizer(sgd_spec(sgd.learning_rate * (0.9**epoch), sgd.momentum, sgd.nesterov))
        net.reset_stats()
        for start in range(0, n, batch_size):
            flags.append(net.train_batch(start, min(start + batch_size, n)))
        stats.append(net.stats.copy())
    return {
        "predict": predicted,
        "stats": np.array(stats),
        "evaluate": net.evaluate(x, y, 6),
        "weights": [p.copy() for p in _params(stages)],
        "velocities": _slots(net.get_optimizer_state()),
        "iterations": net.iterations,
        "flags": flags,
        "after": net.predict(x, 64),
    }


def _case_id(case) -> str:
    name, loss, metrics, sgd = case
    options = "".join(
        f"-{value}" for value, neutral in ((loss.reduction, "sum_over_batch_size"), (loss.label_smoothing, 0.0),
                                           (loss.delta, 1.0), (loss.ignore_class, None)) if value != neutral
    )
    return (f"{name}-{loss.name}{'-logits' if loss.from_logits else ''}{options}"
            f"-m{sgd.momentum}{'n' if sgd.nesterov else ''}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=_case_id)
@pytest.mark.usefixtures("product_path")
def test_network_matches_reference(case, dtype):
    cy, ref = _run(CY, case, dtype), _run(REF, case, dtype)
    assert cy["flags"] == ref["flags"] and all(ref["flags"])
    assert cy["iterations"] == ref["iterations"] == len(ref["flags"])
    # SGD keeps one velocity per param with momentum, none without
    assert len(cy["velocities"]) == len(ref["velocities"]) == (len(ref["weights"]) if case[3].momentum else 0)
    # a few SGD steps compound rounding: allow it to grow with the number of steps taken
    steps = 20.0 if dtype == np.float32 else 100.0
    close(cy["predict"], ref["predict"], dtype, 1.0, 2.0)
    for got, want in zip(cy["weights"], ref["weights"]):
        close(got, want, dtype, 1.0, steps)
    for got, want in zip(cy["velocities"], ref["velocities"]):
        close(got, want, dtype, 1.0, steps)
    close(cy["stats"], ref["stats"], dtype, float(np.abs(ref["stats"]).max()) + 1.0, steps)
    close(cy["evaluate"], ref["evaluate"], dtype, float(np.abs(ref["evaluate"]).max()) + 1.0, steps)
    close(cy["after"], ref["after"], dtype, 1.0, steps)


def test_network_is_a_network():
    stages, input_dim = _stages("regression", np.float32)
    assert isinstance(CY.build_network(stages, input_dim, np.float32), Network)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's overflow warnings from the reference
@pytest.mark.parametrize("dtype", DTYPES)
def test_non_finite_step_returns_false_and_leaves_weights(dtype):
    huge = np.finfo(dtype).max / 4
    results = {}
    for ops in (CY, REF):
        stages, input_dim = _stages("regression", dtype)
        stages[-1].params[0][...] = huge  # the output overflows to inf
        net = ops.build_network(stages, input_dim, dtype)
        x, y = _data("regression", LossSpec("mean_squared_error"), dtype, 12)
        net.prepare_training(LossSpec("mean_squared_error"), ["mean_absolute_error"], sgd_spec(0.1, 0.9), 4)
        state = net.get_optimizer_state()
        velocities = [[np.full_like(v, 0.25) for v in per_param] for per_param in state["slots"]]
        net.set_optimizer_state({**state, "iterations": 5, "slots": velocities})
        net.bind_training_data(x, y, np.arange(12, dtype=np.int64))
        before = [p.copy() for p in _params(stages)]
        assert net.train_batch(0, 4) is False
        after = _params(stages)
        for b, a in zip(before, after):
            np.testing.assert_array_equal(a, b)
        kept = net.get_optimizer_state()
        assert kept["iterations"] == net.iterations == 5  # a refused step is not counted
        assert len(_slots(kept)) == len(_slots({"slots": velocities})) == len(after)
        for v, w in zip(_slots(kept), _slots({"slots": velocities})):
            np.testing.assert_array_equal(v, w)
        assert not np.isfinite(net.stats[0])  # the batch's loss is still reported
        results[ops.name] = net.stats.copy()
    np.testing.assert_array_equal(np.isfinite(results["cython"]), np.isfinite(results["numpy"]))


@pytest.mark.parametrize("ops", [REF, CY], ids=["numpy", "cython"])
def test_finite_checked_only_skips_the_scan(ops):
    """Data with NaN: refused by default; with finite_checked=True (a caller's promise broken) the step
    is computed, found non-finite and not applied: never memory trouble, never silent NaN weights."""
    stages, input_dim = _stages("regression", np.float64)
    net = ops.build_network(stages, input_dim, np.float64)
    loss = LossSpec("mean_squared_error")
    x, y = _data("regression", loss, np.float64, 8)
    x[3, 0] = np.nan
    order = np.arange(8, dtype=np.int64)
    net.prepare_training(loss, [], sgd_spec(0.01), 8)
    with pytest.raises(ValueError, match="x: contains NaN"):
        net.bind_training_data(x, y, order)
    with pytest.raises(ValueError, match="x: contains NaN"):
        net.evaluate(x, y, 4)
    before = [w.copy() for w in _params(stages)]
    net.bind_training_data(x, y, order, finite_checked=True)
    assert net.train_batch(0, 8) is False
    after = _params(stages)
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert not np.isfinite(net.evaluate(x, y, 4, finite_checked=True)[0])


def test_predict_rejects_non_finite_input():
    stages, input_dim = _stages("regression", np.float64)
    net = CY.build_network(stages, input_dim, np.float64)
    x = np.zeros((3, input_dim))
    x[1, 2] = np.nan
    with pytest.raises(ValueError, match="x"):
        net.predict(x, 2)
    x[1, 2] = np.inf
    with pytest.raises(ValueError, match="x"):
        net.predict(x, 8)
    x[1, 2] = 0.0
    assert net.predict(x, 8).shape == (3, 2)


def test_predict_returns_a_new_array_each_call():
    stages, input_dim = _stages("regression", np.float32)
    net = CY.build_network(stages, input_dim, np.float32)
    x = np.random.default_rng(0).normal(size=(4, input_dim)).astype(np.float32)
    first, second = net.predict(x, 3), net.predict(x, 3)
    assert first is not second and not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, second)


def test_weights_are_shared_with_the_stages():
    stages, input_dim = _stages("regression", np.float64)
    net = CY.build_network(stages, input_dim, np.float64)
    x = np.ones((2, input_dim))
    before = net.predict(x, 2)
    stages[-1].params[1][...] += 1.0  # the model's own arrays are read, not copies
    np.testing.assert_allclose(net.predict(x, 2), before + 1.0)


def test_concurrent_use_never_corrupts():
    """Two threads hammer one network: each call either completes or raises RuntimeError."""
    stages, input_dim = _stages("wide", np.float64)
    net = CY.build_network(stages, input_dim, np.float64)
    loss = LossSpec("sparse_categorical_crossentropy")
    x, y = _data("wide", loss, np.float64, 256)
    net.prepare_training(loss, [], sgd_spec(0.01), 256)
    net.bind_training_data(x, y, np.arange(256, dtype=np.int64))
    expected_shape = (256, 10)
    errors: list[BaseException] = []

    def train():
        for _ in range(40):
            try:
                assert net.train_batch(0, 256)
            except RuntimeError as error:
                assert "another thread" in str(error)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

    def predict():
        for _ in range(40):
            try:
                out = net.predict(x, 256)
                assert out.shape == expected_shape and np.isfinite(out).all()
            except RuntimeError as error:
                assert "another thread" in str(error)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

    threads = [threading.Thread(target=train), threading.Thread(target=predict)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
