"""The compiled optimizer step (``_optim.pxd`` via ``_kernels.optimizer_apply``) against the NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

from cyneuron import optimizers
from cyneuron.backend.reference import optimizers as ref
from cyneuron.backend.specs import OptimizerSpec, ScheduleSpec
from tests.kernels_support import DTYPES, RTOL, _kernels

SHAPES = [(3, 4), (4,), (2, 1, 3)]
STEPS = 6

CASES = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"clipnorm": 0.5}),
    ("Adam", {"amsgrad": True, "global_clipnorm": 1.0}),
    ("AdamW", {"clipvalue": 0.2}),
    ("AdamW", {"amsgrad": True, "weight_decay": 0.1}),
    ("RMSprop", {"weight_decay": 0.02}),
    ("RMSprop", {"momentum": 0.9}),
    ("RMSprop", {"centered": True, "clipnorm": 1.0}),
    ("RMSprop", {"momentum": 0.5, "centered": True, "global_clipnorm": 0.3}),
    ("Adagrad", {"initial_accumulator_value": 0.3, "clipvalue": 0.1}),
    ("Adadelta", {"learning_rate": 1.0, "weight_decay": 0.01}),
    ("Adamax", {"global_clipnorm": 2.0}),
    ("Nadam", {"clipnorm": 0.1, "weight_decay": 0.05}),
    ("Lion", {"beta_1": 0.5, "clipvalue": 0.3}),
]

SCHEDULES = [
    optimizers.schedules.ExponentialDecay(0.1, 3, 0.5),
    optimizers.schedules.ExponentialDecay(0.1, 3, 0.5, staircase=True),
    optimizers.schedules.PiecewiseConstantDecay([1, 3.5, 4], [0.1, 0.05, 0.02, 0.01]),
    optimizers.schedules.InverseTimeDecay(0.1, 2, 0.3, staircase=True),
    optimizers.schedules.PolynomialDecay(0.1, 4, power=2.0),
    optimizers.schedules.PolynomialDecay(0.1, 3, cycle=True),
    optimizers.schedules.CosineDecay(0.1, 5, alpha=0.1),
    optimizers.schedules.CosineDecay(0.01, 3, warmup_target=0.1, warmup_steps=2),
    optimizers.schedules.CosineDecayRestarts(0.1, 2),
    optimizers.schedules.CosineDecayRestarts(0.1, 2, t_mul=1.0, m_mul=0.5, alpha=0.1),
]


def run_both(spec: OptimizerSpec, dtype, seed: int = 0, steps: int = STEPS):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=s).astype(dtype) for s in SHAPES]
    runs = []
    for step_fn in (ref.apply, _kernels.optimizer_apply):
        params = [w.copy() for w in weights]
        slots = [[np.full(w.shape, v, dtype) for _, v in ref.slot_specs(spec)] for w in params]
        scalars = np.array([v for _, v in ref.scalar_specs(spec)], dtype=np.float64)
        grad_rng = np.random.default_rng(seed + 1)
        for it in range(steps):
            grads = [grad_rng.normal(size=s).astype(dtype) for s in SHAPES]
            step_fn(spec, params, grads, slots, it, scalars)
        runs.append((params, slots, scalars))
    return runs


def assert_same(runs, dtype):
    (p_ref, s_ref, c_ref), (p_cy, s_cy, c_cy) = runs
    rtol = RTOL[np.dtype(dtype)]
    for a, b in zip(p_cy, p_ref):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * float(np.max(np.abs(b))))
    for slots_a, slots_b in zip(s_cy, s_ref):
        for a, b in zip(slots_a, slots_b):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(float(np.max(np.abs(b))), 1e-30))
    np.testing.assert_allclose(c_cy, c_ref, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{'-'.join(k)}" for n, k in CASES])
def test_option_combinations(name, kwargs, dtype):
    spec = optimizers.OPTIMIZERS[name](**kwargs).spec
    assert_same(run_both(spec, dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("clip", [{}, {"clipnorm": 0.7}, {"global_clipnorm": 0.7}, {"clipvalue": 0.4}])
@pytest.mark.parametrize("name", list(optimizers.OPTIMIZERS))
def test_every_registered_optimizer(name, clip, dtype):
    """Defaults of each front-end optimizer, with each clipping mode and weight decay."""
    spec = optimizers.OPTIMIZERS[name](weight_decay=0.01, **clip).spec
    assert_same(run_both(spec, dtype, seed=len(name)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.spec.kind)
def test_schedules_drive_the_step(schedule, dtype):
    spec = optimizers.Adam(schedule, weight_decay=0.1).spec
    assert_same(run_both(spec, dtype, steps=8), dtype)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.spec.kind)
def test_learning_rate_matches_reference(schedule):
    spec = optimizers.SGD(schedule).spec
    for step in [*range(40), 100, 1001, 10**6]:
        expected = ref.learning_rate_at(spec.learning_rate, step)
        np.testing.assert_allclose(_kernels.optimizer_learning_rate(spec, step), expected, rtol=1e-14, atol=1e-300)


def test_enum_orders_match_the_reference():
    # _optim.pxd maps kinds by their index in these tuples; its enums list them in this order.
    assert ref.OPTIMIZER_KINDS == ("sgd", "adam", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "lion")
    assert ref.SCHEDULE_KINDS == (
        "constant",
        "exponential_decay",
        "piecewise_constant_decay",
        "inverse_time_decay",
        "polynomial_decay",
        "cosine_decay",
        "cosine_decay_restarts",
    )


def test_empty_parameter_list_and_empty_arrays():
    spec = optimizers.Nadam().spec
    scalars = np.ones(1)
    _kernels.optimizer_apply(spec, [], [], [], 0, scalars)
    assert scalars[0] < 1.0  # u_product still advances once per step
    w = np.zeros(0, np.float32)
    _kernels.optimizer_apply(spec, [w], [w.copy()], [[w.copy(), w.copy()]], 0, np.ones(1))


def _args(dtype=np.float64, n=3):
    w = np.zeros(n, dtype)
    return [w], [np.ones(n, dtype)], [[np.zeros(n, dtype)]]


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda p, g, s: s[0].append(np.zeros(3)), ValueError, "slots"),
        (lambda p, g, s: g.__setitem__(0, np.ones(3, np.float32)), TypeError, "float64"),
        (lambda p, g, s: g.__setitem__(0, np.ones(4)), ValueError, "sizes"),
        (lambda p, g, s: g.__setitem__(0, np.ones((3, 2))[:, 0]), ValueError, "contiguous"),
        (lambda p, g, s: p[0].setflags(write=False), ValueError, "writeable"),
        (lambda p, g, s: g.append(np.ones(3)), ValueError, "same length"),
    ],
)
def test_optimizer_apply_validates(mutate, error, match):
    spec = optimizers.SGD(momentum=0.5).spec
    params, grads, slots = _args()
    mutate(params, grads, slots)
    with pytest.raises(error, match=match):
        _kernels.optimizer_apply(spec, params, grads, slots, 0, np.zeros(0))


def test_optimizer_apply_rejects_bad_specs_and_dtypes():
    params, grads, slots = _args(np.int64)
    with pytest.raises(TypeError, match="float32 or float64"):
        _kernels.optimizer_apply(optimizers.SGD(momentum=0.5).spec, params, grads, slots, 0, np.zeros(0))
    params, grads, slots = _args()
    with pytest.raises(ValueError, match="scalars"):
        _kernels.optimizer_apply(optimizers.SGD(momentum=0.5).spec, params, grads, slots, 0, np.zeros(1))
    with pytest.raises(ValueError, match="kind"):
        _kernels.optimizer_learning_rate(OptimizerSpec("ftrl", ScheduleSpec("constant", (0.1,))), 0)
    with pytest.raises(ValueError, match="schedule kind"):
        _kernels.optimizer_learning_rate(
            OptimizerSpec("sgd", ScheduleSpec("step", (0.1,)), {"momentum": 0, "nesterov": 0}), 0
        )
