"""The NumPy optimizer reference against hand-computed steps, schedules and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cyneuron.backend.reference import optimizers as ref
from cyneuron.backend.specs import OptimizerSpec, ScheduleSpec

DTYPES = (np.float32, np.float64)
DEFAULT_HYPER = {
    "sgd": {"momentum": 0.0, "nesterov": 0.0},
    "adam": {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": 0.0},
    "rmsprop": {"rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": 0.0},
    "adagrad": {"initial_accumulator_value": 0.1, "epsilon": 1e-7},
    "adadelta": {"rho": 0.95, "epsilon": 1e-7},
    "adamax": {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
    "nadam": {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
    "lion": {"beta_1": 0.9, "beta_2": 0.99},
}


def make(kind, lr=0.1, schedule=None, **options):
    hyper = {**DEFAULT_HYPER[kind], **{k: float(v) for k, v in options.items() if k in DEFAULT_HYPER[kind]}}
    common = {k: v for k, v in options.items() if k not in DEFAULT_HYPER[kind]}
    return OptimizerSpec(kind, schedule or ScheduleSpec("constant", (lr,)), hyper, **common)


def state(spec, params):
    slots = [[np.full(p.shape, value, p.dtype) for _, value in ref.slot_specs(spec)] for p in params]
    scalars = np.array([value for _, value in ref.scalar_specs(spec)], dtype=np.float64)
    return slots, scalars


def one_step(spec, w, g, iterations=0):
    w = np.array(w, dtype=np.float64)
    params = [w]
    slots, scalars = state(spec, params)
    ref.apply(spec, params, [np.array(g, dtype=np.float64)], slots, iterations, scalars)
    return w, slots[0], scalars


# ----------------------------------------------------------------------------- slots and scalars


@pytest.mark.parametrize(
    ("kind", "options", "names"),
    [
        ("sgd", {}, ()),
        ("sgd", {"momentum": 0.9}, ("momentum",)),
        ("adam", {}, ("momentum", "velocity")),
        ("adam", {"amsgrad": 1}, ("momentum", "velocity", "velocity_hat")),
        ("rmsprop", {}, ("velocity",)),
        ("rmsprop", {"momentum": 0.5, "centered": 1}, ("velocity", "momentum", "average_gradient")),
        ("rmsprop", {"centered": 1}, ("velocity", "average_gradient")),
        ("adagrad", {}, ("accumulator",)),
        ("adadelta", {}, ("accumulated_grad", "accumulated_delta_var")),
        ("adamax", {}, ("momentum", "norm")),
        ("nadam", {}, ("momentum", "velocity")),
        ("lion", {}, ("momentum",)),
    ],
)
def test_slot_names(kind, options, names):
    assert tuple(name for name, _ in ref.slot_specs(make(kind, **options))) == names


def test_initial_values_and_scalars():
    assert ref.slot_specs(make("adagrad", initial_accumulator_value=0.25)) == (("accumulator", 0.25),)
    assert ref.scalar_specs(make("nadam")) == (("u_product", 1.0),)
    assert all(ref.scalar_specs(make(kind)) == () for kind in DEFAULT_HYPER if kind != "nadam")


def test_bad_specs():
    with pytest.raises(ValueError, match="kind"):
        ref.slot_specs(OptimizerSpec("ftrl", ScheduleSpec("constant", (0.1,))))
    with pytest.raises(ValueError, match="missing"):
        ref.slot_specs(OptimizerSpec("adam", ScheduleSpec("constant", (0.1,)), {"beta_1": 0.9}))
    with pytest.raises(ValueError, match="schedule kind"):
        ref.learning_rate_at(ScheduleSpec("step", (0.1,)), 0)
    with pytest.raises(ValueError, match="number of values"):
        ref.learning_rate_at(ScheduleSpec("exponential_decay", (0.1, 2.0)), 0)


# ----------------------------------------------------------------------------- hand-computed steps


def test_sgd_steps():
    w, _, _ = one_step(make("sgd", lr=0.1), [1.0, -2.0], [0.5, 1.0])
    np.testing.assert_allclose(w, [0.95, -2.1], rtol=1e-15)
    spec = make("sgd", lr=0.1, momentum=0.9)
    params, grads = [np.array([1.0])], [np.array([1.0])]
    slots, scalars = state(spec, params)
    ref.apply(spec, params, [grads[0].copy()], slots, 0, scalars)  # m = -0.1, w = 0.9
    ref.apply(spec, params, [grads[0].copy()], slots, 1, scalars)  # m = -0.19, w = 0.71
    np.testing.assert_allclose([params[0][0], slots[0][0][0]], [0.71, -0.19], rtol=1e-14)
    w, m, _ = one_step(make("sgd", lr=0.1, momentum=0.9, nesterov=1), [1.0], [1.0])
    np.testing.assert_allclose(w, [1.0 + 0.9 * -0.1 - 0.1], rtol=1e-15)


def test_adam_first_step_is_lr_times_sign():
    # after one step the bias-corrected moments are g and g**2: w -= lr * g / (|g| + eps')
    w, (m, v), _ = one_step(make("adam", lr=0.01, epsilon=0.0), [1.0, 1.0], [3.0, -0.5])
    np.testing.assert_allclose(w, [0.99, 1.01], rtol=1e-12)
    np.testing.assert_allclose(m, [0.3, -0.05], rtol=1e-12)
    np.testing.assert_allclose(v, [0.009, 0.00025], rtol=1e-12)


def test_rmsprop_adagrad_adadelta_adamax_lion_first_step():
    w, (v,), _ = one_step(make("rmsprop", lr=0.01, epsilon=0.0), [1.0], [2.0])
    np.testing.assert_allclose(w, [1.0 - 0.01 * 2.0 / math.sqrt(0.4)], rtol=1e-14)
    w, (acc,), _ = one_step(make("adagrad", lr=0.01), [1.0], [2.0])
    np.testing.assert_allclose(acc, [4.1], rtol=1e-15)
    np.testing.assert_allclose(w, [1.0 - 0.02 / math.sqrt(4.1 + 1e-7)], rtol=1e-14)
    w, (ag, ad), _ = one_step(make("adadelta", lr=1.0, epsilon=1e-6), [0.0], [1.0])
    delta = -math.sqrt(1e-6) / math.sqrt(0.05 + 1e-6)
    np.testing.assert_allclose([w[0], ag[0], ad[0]], [delta, 0.05, 0.05 * delta**2], rtol=1e-13)
    w, (m, u), _ = one_step(make("adamax", lr=0.01, epsilon=0.0), [1.0], [-4.0])
    np.testing.assert_allclose([w[0], m[0], u[0]], [1.01, -0.4, 4.0], rtol=1e-13)
    w, (m,), _ = one_step(make("lion", lr=0.01), [1.0, 1.0, 1.0], [2.0, -1e-9, 0.0])
    np.testing.assert_allclose(w, [0.99, 1.01, 1.0], rtol=1e-15)
    np.testing.assert_allclose(m, [0.02, -1e-11, 0.0], rtol=1e-12)


def test_nadam_first_step_and_u_product():
    w, (m, v), scalars = one_step(make("nadam", lr=0.01, epsilon=0.0), [1.0], [2.0])
    u1 = 0.9 * (1 - 0.5 * 0.96)
    u2 = 0.9 * (1 - 0.5 * 0.96**2)
    m_hat = u2 * 0.2 / (1 - u1 * u2) + (1 - u1) * 2.0 / (1 - u1)
    np.testing.assert_allclose(scalars, [u1], rtol=1e-15)
    np.testing.assert_allclose(w, [1.0 - 0.01 * m_hat / 2.0], rtol=1e-13)


def test_weight_decay_applies_before_the_update():
    w, _, _ = one_step(make("sgd", lr=0.1, weight_decay=0.5), [2.0], [1.0])
    np.testing.assert_allclose(w, [2.0 - 2.0 * 0.5 * 0.1 - 0.1], rtol=1e-15)


def test_clipping():
    spec = make("sgd", lr=1.0, clipnorm=1.0)
    params, grads = [np.zeros(2), np.zeros(1)], [np.array([3.0, 4.0]), np.array([0.5])]
    slots, scalars = state(spec, params)
    ref.apply(spec, params, grads, slots, 0, scalars)
    np.testing.assert_allclose(params[0], [-0.6, -0.8], rtol=1e-15)  # clipped to norm 1
    np.testing.assert_allclose(params[1], [-0.5], rtol=1e-15)  # under the norm: unchanged
    spec = make("sgd", lr=1.0, global_clipnorm=2.6)
    params, grads = [np.zeros(2), np.zeros(1)], [np.array([3.0, 4.0]), np.array([12.0])]
    ref.apply(spec, params, grads, [[], []], 0, np.zeros(0))
    np.testing.assert_allclose(np.concatenate(params), [-0.6, -0.8, -2.4], rtol=1e-14)  # global norm 13
    spec = make("sgd", lr=1.0, clipvalue=0.5)
    params = [np.zeros(3)]
    ref.apply(spec, params, [np.array([-2.0, 0.25, 7.0])], [[]], 0, np.zeros(0))
    np.testing.assert_allclose(params[0], [0.5, -0.25, -0.5])
    params = [np.zeros(2)]
    ref.apply(make("sgd", global_clipnorm=1.0), params, [np.array([0.0, np.inf])], [[]], 0, np.zeros(0))
    assert np.isnan(params[0]).all()  # as Keras: a non-finite global norm poisons every gradient


# ----------------------------------------------------------------------------- schedules


def at(kind, values, steps):
    return [ref.learning_rate_at(ScheduleSpec(kind, tuple(float(v) for v in values)), s) for s in steps]


def test_schedules_hand_computed():
    np.testing.assert_allclose(at("constant", [0.3], [0, 99]), [0.3, 0.3])
    np.testing.assert_allclose(at("exponential_decay", [1.0, 10, 0.5, 0], [0, 5, 20]), [1, 0.5**0.5, 0.25])
    np.testing.assert_allclose(at("exponential_decay", [1.0, 10, 0.5, 1], [9, 10, 25]), [1, 0.5, 0.25])
    np.testing.assert_allclose(at("inverse_time_decay", [1.0, 10, 0.5, 0], [0, 5, 20]), [1, 1 / 1.25, 0.5])
    np.testing.assert_allclose(at("inverse_time_decay", [1.0, 10, 0.5, 1], [9, 10]), [1, 1 / 1.5])
    np.testing.assert_allclose(
        at("piecewise_constant_decay", [2, 5, 1.0, 0.5, 0.1], [0, 2, 3, 5, 6, 100]), [1, 1, 0.5, 0.5, 0.1, 0.1]
    )
    np.testing.assert_allclose(at("piecewise_constant_decay", [2.7, 1.0, 0.5], [2, 3]), [1.0, 0.5])  # truncated
    np.testing.assert_allclose(at("polynomial_decay", [1.0, 10, 0.0, 1.0, 0], [0, 5, 10, 50]), [1, 0.5, 0, 0])
    np.testing.assert_allclose(at("polynomial_decay", [1.0, 10, 0.0, 2.0, 0], [5]), [0.25])
    np.testing.assert_allclose(at("polynomial_decay", [1.0, 10, 0.0, 1.0, 1], [0, 10, 15]), [1, 0, 0.25])
    np.testing.assert_allclose(at("cosine_decay", [1.0, 10, 0.0, 0, 0, 0], [0, 5, 10, 20]), [1, 0.5, 0, 0], atol=1e-15)
    np.testing.assert_allclose(at("cosine_decay", [1.0, 10, 0.2, 0, 0, 0], [10]), [0.2])
    np.testing.assert_allclose(at("cosine_decay", [0.0, 10, 0.0, 1, 1.0, 4], [0, 2, 4, 9, 99]), [0, 0.5, 1, 0.5, 0],
                               atol=1e-15)  # fmt: skip
    np.testing.assert_allclose(at("cosine_decay_restarts", [1.0, 10, 2.0, 1.0, 0.0], [0, 5, 10, 20, 30]),
                               [1, 0.5, 1, 0.5, 1], atol=1e-15)  # fmt: skip
    np.testing.assert_allclose(at("cosine_decay_restarts", [1.0, 10, 1.0, 0.5, 0.0], [5, 10, 20]), [0.5, 0.5, 0.25],
                               atol=1e-15)  # fmt: skip


@given(
    kind=st.sampled_from(["exponential_decay", "inverse_time_decay", "polynomial_decay", "cosine_decay"]),
    steps=st.integers(1, 1000),
    step=st.integers(0, 5000),
)
def test_decaying_schedules_never_increase(kind, steps, step):
    values = {
        "exponential_decay": [0.1, steps, 0.9, 0],
        "inverse_time_decay": [0.1, steps, 0.9, 0],
        "polynomial_decay": [0.1, steps, 0.001, 1.5, 0],
        "cosine_decay": [0.1, steps, 0.05, 0, 0, 0],
    }[kind]
    before, after = at(kind, values, [step, step + 1])
    assert after <= before * (1 + 1e-15) and after > 0


def test_schedule_uses_the_pre_increment_step():
    spec = make("sgd", schedule=ScheduleSpec("piecewise_constant_decay", (0.0, 1.0, 0.5)))
    params = [np.zeros(1)]
    ref.apply(spec, params, [np.ones(1)], [[]], 0, np.zeros(0))  # step 0 <= boundary 0: lr 1
    ref.apply(spec, params, [np.ones(1)], [[]], 1, np.zeros(0))  # lr 0.5
    np.testing.assert_allclose(params[0], [-1.5])


# ----------------------------------------------------------------------------- invariants


ALL_SPECS = [
    make("sgd", momentum=0.9, nesterov=1),
    make("adam", amsgrad=1, weight_decay=0.01),
    make("rmsprop", momentum=0.5, centered=1),
    make("adagrad", clipnorm=1.0),
    make("adadelta", global_clipnorm=1.0),
    make("adamax", clipvalue=0.5),
    make("nadam"),
    make("lion", weight_decay=0.1),
]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.kind)
@given(
    data=st.data(),
    dtype=st.sampled_from(DTYPES),
    shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
)
def test_dtype_and_shape_preserved_and_float32_tracks_float64(spec, data, dtype, shape):
    w64 = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-3, 3)))
    grads = [data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-3, 3))) for _ in range(3)]
    runs = {}
    for dt in (np.float64, dtype):
        params = [w64.astype(dt)]
        slots, scalars = state(spec, params)
        for it, g in enumerate(grads):
            ref.apply(spec, params, [g.astype(dt)], slots, it, scalars)
        assert params[0].dtype == dt and params[0].shape == shape
        assert all(s.dtype == dt and s.shape == shape for s in slots[0])
        runs[np.dtype(dt)] = params[0]
    if spec.kind != "lion":  # sign() of a near-zero float32 may flip
        np.testing.assert_allclose(runs[np.dtype(dtype)], runs[np.dtype(np.float64)], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.kind)
def test_zero_gradients_leave_weights_alone(spec):
    if spec.weight_decay:
        pytest.skip("weight decay moves weights without gradients")
    w = np.array([0.5, -1.5])
    params = [w.copy()]
    slots, scalars = state(spec, params)
    for it in range(3):
        ref.apply(spec, params, [np.zeros(2)], slots, it, scalars)
    np.testing.assert_array_equal(params[0], w)
