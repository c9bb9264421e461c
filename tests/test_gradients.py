"""Analytic gradients against central finite differences (float64), and SGD against its formulas.

Every activation x loss pair (and each cross-entropy ``from_logits``) is
checked twice: dLoss/dZ from ``output_gradient``, and dLoss/d(kernel, bias, x)
through ``dense_backward``, both by the loss-gradient-then-activation route and
by the fused ``output_gradient`` route. Inputs keep away from the kinks (relu
at 0, MAE at y) and inside the clipping range, where the derivative exists.
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest

from cyneuron.backend.base import LossSpec
from tests.kernels_support import (
    ACTIVATIONS,
    CY,
    DTYPES,
    LOSSES,
    POSITIVE_LOSSES,
    PROBABILITY_LOSSES,
    REF,
    close,
    targets_for,
)

# every loss (the cross-entropies also on logits), then each option of Keras' losses once per activation
VARIANTS = [
    LossSpec("binary_crossentropy", label_smoothing=0.2),
    LossSpec("categorical_crossentropy", label_smoothing=0.1),
    LossSpec("categorical_crossentropy", True, label_smoothing=0.3),
    LossSpec("sparse_categorical_crossentropy", True, ignore_class=1),
    LossSpec("sparse_categorical_crossentropy", ignore_class=-1),
    LossSpec("huber", delta=0.4),
    LossSpec("mean_squared_error", reduction="sum"),
    LossSpec("categorical_crossentropy", reduction="mean_with_sample_weight"),
    LossSpec("log_cosh", reduction="mean"),
]
# activations whose outputs are never positive: no domain for the losses of positive predictions (Poisson)
_NEGATIVE_OUTPUTS = ("log_softmax", "log_sigmoid")
CASES = [
    (activation, LossSpec(loss, from_logits))
    for activation, loss in itertools.product(ACTIVATIONS, LOSSES)
    for from_logits in ((False, True) if "crossentropy" in loss else (False,))
    if not (loss == "poisson" and activation in _NEGATIVE_OUTPUTS)
] + [(activation, loss) for activation, loss in itertools.product(ACTIVATIONS, VARIANTS)]
OPS = [pytest.param(CY, id="cython"), pytest.param(REF, id="numpy")]


def _probability_domain(activation: str, loss: LossSpec) -> bool:
    """Whether act(z) must be a probability (in (0, 1), rows with a positive sum) for this pair."""
    probabilities = loss.name in PROBABILITY_LOSSES and not loss.from_logits
    # Poisson reads log(act(z)): the positive draws keep act(z) > 0 for every activation that can be negative
    return (probabilities and activation not in ("sigmoid", "softmax")) or (
        loss.name in POSITIVE_LOSSES and activation not in ("sigmoid", "softmax", "relu")
    ) or (loss.name == "cosine_similarity" and activation == "relu")  # one live unit: a constant cosine


# Where act(z) is positive for the probability-domain draws: the shrinks zero |z| <= 0.5.
_PROBABILITY_SHIFT = {"soft_shrink": 0.7, "hard_shrink": 0.5}


def _case_id(case) -> str:
    activation, loss = case
    options = "".join(
        f"-{key}={getattr(loss, key)}"
        for key, neutral in (("reduction", "sum_over_batch_size"), ("label_smoothing", 0.0), ("delta", 1.0),
                             ("ignore_class", None))
        if getattr(loss, key) != neutral
    )
    return f"{activation}-{loss.name}{'-logits' if loss.from_logits else ''}{options}"


def _relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    return float(np.linalg.norm(analytic - numeric) / max(np.linalg.norm(numeric), 1e-12))


def _numeric_gradient(f, value: np.ndarray) -> np.ndarray:
    grad = np.zeros_like(value)
    flat, out = value.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        h = 1e-6 * max(1.0, abs(flat[i]))
        keep = flat[i]
        flat[i] = keep + h
        up = f()
        flat[i] = keep - h
        down = f()
        flat[i] = keep
        out[i] = (up - down) / (2 * h)
    return grad


def _loss_of(ops, activation, loss, y, z):
    a = np.empty_like(z)
    ops.activation_forward(activation, z, a)
    return ops.loss_value(loss, y, a)


def _targets(loss: LossSpec, rng, rows, units, a):
    y = targets_for(loss.name, rng, rows, units, np.float64)
    if loss.name in ("mean_absolute_error", "mean_absolute_percentage_error", "huber"):
        # keep |a - y| away from the kinks of |.| (and of Huber at delta)
        y = np.where(np.abs(np.abs(a - y) - (loss.delta if loss.name == "huber" else 0)) < 1e-3, y + 0.5, y)
    if loss.ignore_class is not None:
        y[0] = loss.ignore_class  # one ignored row: no loss, no gradient, not counted
    return y


@pytest.mark.parametrize("ops", OPS)
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_output_gradient_matches_finite_differences(ops, case):
    activation, loss = case
    rng = np.random.default_rng(zlib.crc32(_case_id(case).encode()))
    rows, units = 4, 3
    if _probability_domain(activation, loss):
        z = rng.uniform(0.15, 0.85, size=(rows, units)) + _PROBABILITY_SHIFT.get(activation, 0.0)
    else:
        z = rng.uniform(0.3, 2.0, size=(rows, units)) * rng.choice([-1.0, 1.0], size=(rows, units))
    a = np.empty_like(z)
    ops.activation_forward(activation, z, a)
    y = _targets(loss, rng, rows, units, a)
    analytic = np.empty_like(z)
    value = ops.output_gradient(loss, activation, y, z, a, analytic)
    assert value == pytest.approx(_loss_of(ops, activation, loss, y, z), rel=1e-12)
    numeric = _numeric_gradient(lambda: _loss_of(ops, activation, loss, y, z), z)
    assert _relative_error(analytic, numeric) < 1e-6


@pytest.mark.parametrize("ops", OPS)
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_dense_backward_matches_finite_differences(ops, case):
    activation, loss = case
    rng = np.random.default_rng(zlib.crc32(("dense" + _case_id(case)).encode()))
    rows, n_in, units = 5, 4, 3
    x = rng.normal(size=(rows, n_in))
    kernel = rng.normal(scale=0.05, size=(n_in, units))
    if _probability_domain(activation, loss):
        bias = np.full(units, 0.5 + _PROBABILITY_SHIFT.get(activation, 0.0))
    else:
        bias = rng.uniform(0.6, 1.5, size=units) * rng.choice([-1.0, 1.0], size=units)
    z, a = np.empty((rows, units)), np.empty((rows, units))
    ops.dense_forward(x, kernel, bias, activation, z, a)
    y = _targets(loss, rng, rows, units, a)

    def total_loss():
        zz, aa = np.empty((rows, units)), np.empty((rows, units))
        ops.dense_forward(x, kernel, bias, activation, zz, aa)
        return ops.loss_value(loss, y, aa)

    numeric = [_numeric_gradient(total_loss, p) for p in (kernel, bias, x)]

    # route 1: dLoss/dA, then the activation derivative inside dense_backward
    grad_a = np.empty_like(a)
    ops.loss_gradient(loss, y, a, grad_a)
    grads = [np.empty_like(kernel), np.empty_like(bias), np.empty_like(x)]
    ops.dense_backward(x, kernel, z, a, grad_a, activation, np.empty_like(z), *grads)
    for analytic, expected in zip(grads, numeric):
        assert _relative_error(analytic, expected) < 1e-6

    # route 2: the (possibly fused) output gradient handed in as dZ
    grad_z = np.empty_like(z)
    ops.output_gradient(loss, activation, y, z, a, grad_z)
    fused = [np.empty_like(kernel), np.empty_like(bias), np.empty_like(x)]
    ops.dense_backward(x, kernel, z, a, grad_z, "linear", grad_z, *fused)
    for analytic, expected in zip(fused, numeric):
        assert _relative_error(analytic, expected) < 1e-6


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_backward_matches_finite_differences(activation):
    rng = np.random.default_rng(5)
    z = rng.uniform(0.2, 2.0, size=(3, 4)) * rng.choice([-1.0, 1.0], size=(3, 4))
    weights = rng.normal(size=z.shape)

    def weighted():
        a = np.empty_like(z)
        CY.activation_forward(activation, z, a)
        return float(np.sum(weights * a))

    a = np.empty_like(z)
    CY.activation_forward(activation, z, a)
    analytic = np.empty_like(z)
    CY.activation_backward(activation, z, a, weights, analytic)
    assert _relative_error(analytic, _numeric_gradient(weighted, z)) < 1e-6


# -------------------------------------------------------------------------- SGD
def _formula(param, grad, velocity, lr, momentum, nesterov):
    """Keras' SGD, hyperparameters cast to the dtype first."""
    t = param.dtype.type
    lr, m = t(lr), t(momentum)
    if momentum == 0:
        return param - lr * grad, velocity
    v = m * velocity - lr * grad
    if nesterov:
        return param + (m * v - lr * grad), v
    return param + v, v


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("momentum", "nesterov"), [(0.0, False), (0.0, True), (0.9, False), (0.9, True), (0.37, False), (0.37, True)]
)
@pytest.mark.parametrize("shape", [(5,), (4, 3), (1, 1)])
def test_sgd_update_equals_keras_formulas(dtype, momentum, nesterov, shape):
    rng = np.random.default_rng(1)
    param = rng.normal(size=shape).astype(dtype)
    velocity = rng.normal(size=shape).astype(dtype)
    lr = 0.0123
    for _ in range(3):  # several steps: the velocity carries over
        grad = rng.normal(size=shape).astype(dtype)
        expected_param, expected_velocity = _formula(param, grad, velocity, lr, momentum, nesterov)
        before_velocity = velocity.copy()
        CY.sgd_update(param, grad, velocity, lr, momentum, nesterov)
        close(param, expected_param, dtype, float(np.abs(expected_param).max()) + 1.0)
        if momentum == 0:
            np.testing.assert_array_equal(velocity, before_velocity)  # plain SGD leaves it alone
        else:
            close(velocity, expected_velocity, dtype, float(np.abs(expected_velocity).max()) + 1.0)
        param, velocity = param.copy(), velocity.copy()


def test_sgd_update_plain_accepts_no_velocity():
    param = np.ones(3)
    CY.sgd_update(param, np.full(3, 2.0), None, 0.5, 0.0, False)
    np.testing.assert_array_equal(param, np.zeros(3))
