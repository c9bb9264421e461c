"""Every cython kernel against the NumPy reference on the same inputs.

Shapes come from hypothesis (batch 1, width 1, odd sizes); a few fixed larger
shapes go beyond the BLAS blocking. Each test runs with every product forced
through the plain loops and again through BLAS (the ``product_path`` fixture).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cyneuron.backend.base import LossSpec
from tests.kernels_support import (
    ACTIVATIONS,
    CY,
    DTYPES,
    LOSSES,
    METRICS,
    REF,
    SPARSE_METRICS,
    close,
    predictions_for,
    product_path,  # noqa: F401  (fixture)
    targets_for,
)

dims = st.integers(1, 9)
seeds = st.integers(0, 2**32 - 1)
dtypes = st.sampled_from(DTYPES)


def _dense_inputs(rng, rows, n_in, units, dtype, with_bias=True, scale=1.0):
    x = (rng.normal(size=(rows, n_in)) * scale).astype(dtype)
    kernel = rng.normal(size=(n_in, units)).astype(dtype)
    bias = rng.normal(size=units).astype(dtype) if with_bias else None
    return x, kernel, bias


def _term_scale(x, kernel, bias):
    """Magnitude of the terms summed into x @ kernel + bias."""
    total = np.abs(x).astype(np.float64) @ np.abs(kernel).astype(np.float64)
    if bias is not None:
        total = total + np.abs(bias)
    return float(total.max()) if total.size else 0.0


def _check_dense_forward(rows, n_in, units, dtype, activation, seed, with_bias=True):
    rng = np.random.default_rng(seed)
    x, kernel, bias = _dense_inputs(rng, rows, n_in, units, dtype, with_bias)
    outs = {}
    for ops in (CY, REF):
        z = np.full((rows, units), np.nan, dtype=dtype)
        a = np.full((rows, units), np.nan, dtype=dtype)
        ops.dense_forward(x, kernel, bias, activation, z, a)
        outs[ops.name] = (z, a)
    scale = _term_scale(x, kernel, bias)
    close(outs["cython"][0], outs["numpy"][0], dtype, scale)
    # activations are 1-Lipschitz (softmax in the max norm up to a factor 2): same absolute scale
    close(outs["cython"][1], outs["numpy"][1], dtype, scale if activation in ("linear", "relu") else 1.0, 2.0)


@given(rows=dims, n_in=dims, units=dims, dtype=dtypes, activation=st.sampled_from(ACTIVATIONS), seed=seeds)
@pytest.mark.usefixtures("product_path")
def test_dense_forward(rows, n_in, units, dtype, activation, seed):
    _check_dense_forward(rows, n_in, units, dtype, activation, seed, with_bias=seed % 3 != 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("rows", "n_in", "units"), [(300, 517, 33), (1, 517, 300), (33, 7, 129)])
@pytest.mark.usefixtures("product_path")
def test_dense_forward_large(rows, n_in, units, dtype):
    _check_dense_forward(rows, n_in, units, dtype, "relu", 7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_forward_in_place_linear(dtype):
    rng = np.random.default_rng(3)
    x, kernel, bias = _dense_inputs(rng, 5, 4, 3, dtype)
    z = np.empty((5, 3), dtype)
    CY.dense_forward(x, kernel, bias, "linear", z, z)
    close(z, x @ kernel + bias, dtype, _term_scale(x, kernel, bias))


def _check_dense_backward(rows, n_in, units, dtype, activation, seed, with_bias, with_grad_x):
    rng = np.random.default_rng(seed)
    x, kernel, bias = _dense_inputs(rng, rows, n_in, units, dtype, with_bias)
    z = rng.normal(size=(rows, units)).astype(dtype)
    a = np.empty_like(z)
    REF.activation_forward(activation, z, a)
    grad_a = rng.normal(size=(rows, units)).astype(dtype)
    results = {}
    for ops in (CY, REF):
        gz = np.full_like(z, np.nan)
        gk = np.full_like(kernel, np.nan)
        gb = np.full(units, np.nan, dtype) if with_bias else None
        gx = np.full_like(x, np.nan) if with_grad_x else None
        ops.dense_backward(x, kernel, z, a, grad_a, activation, gz, gk, gb, gx)
        results[ops.name] = (gz, gk, gb, gx)
    cy, ref = results["cython"], results["numpy"]
    gz_scale = float(np.abs(ref[0]).max()) + float(np.abs(grad_a).max())
    close(cy[0], ref[0], dtype, gz_scale, 2.0)
    close(cy[1], ref[1], dtype, _term_scale(x.T, np.abs(ref[0]), None))
    if with_bias:
        close(cy[2], ref[2], dtype, float(np.abs(ref[0]).sum(axis=0).max()))
    if with_grad_x:
        close(cy[3], ref[3], dtype, _term_scale(np.abs(ref[0]), kernel.T, None))


@given(
    rows=dims,
    n_in=dims,
    units=dims,
    dtype=dtypes,
    activation=st.sampled_from(ACTIVATIONS),
    seed=seeds,
    with_bias=st.booleans(),
    with_grad_x=st.booleans(),
)
@pytest.mark.usefixtures("product_path")
def test_dense_backward(rows, n_in, units, dtype, activation, seed, with_bias, with_grad_x):
    _check_dense_backward(rows, n_in, units, dtype, activation, seed, with_bias, with_grad_x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.usefixtures("product_path")
def test_dense_backward_large(dtype):
    _check_dense_backward(300, 517, 33, dtype, "tanh", 11, True, True)


def test_dense_backward_grad_z_may_be_grad_a():
    rng = np.random.default_rng(4)
    x, kernel, _ = _dense_inputs(rng, 6, 3, 4, np.float64)
    z = rng.normal(size=(6, 4))
    grad = rng.normal(size=(6, 4))
    expected_gk = x.T @ grad
    gk = np.empty_like(kernel)
    CY.dense_backward(x, kernel, z, z, grad, "linear", grad, gk, None, None)
    close(gk, expected_gk, np.float64, _term_scale(np.abs(x.T), np.abs(grad), None))


# ------------------------------------------------------------------ activations
def _activation_inputs(rng, rows, units, dtype, extreme):
    z = rng.normal(scale=3.0, size=(rows, units))
    if extreme:
        z[rng.random(size=z.shape) < 0.5] = 1e4
        z[rng.random(size=z.shape) < 0.3] = -1e4
    return z.astype(dtype)


@given(rows=dims, units=dims, dtype=dtypes, activation=st.sampled_from(ACTIVATIONS), seed=seeds, extreme=st.booleans())
def test_activation_forward(rows, units, dtype, activation, seed, extreme):
    z = _activation_inputs(np.random.default_rng(seed), rows, units, dtype, extreme)
    out_cy, out_ref = np.empty_like(z), np.empty_like(z)
    CY.activation_forward(activation, z, out_cy)
    REF.activation_forward(activation, z, out_ref)
    assert np.isfinite(out_cy).all()
    close(out_cy, out_ref, dtype, 1.0 if activation not in ("linear", "relu") else None)
    in_place = z.copy()
    CY.activation_forward(activation, in_place, in_place)
    np.testing.assert_array_equal(in_place, out_cy)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_saturates_without_overflow(dtype):
    z = np.array([[-1e4, -100.0, -0.0, 0.0, 100.0, 1e4]], dtype=dtype)
    out = np.empty_like(z)
    CY.activation_forward("sigmoid", z, out)
    np.testing.assert_array_equal(out[0, [0, 5]], np.array([0.0, 1.0], dtype))
    assert np.isfinite(out).all()
    softmax = np.empty_like(z)
    CY.activation_forward("softmax", z, softmax)
    np.testing.assert_allclose(softmax[0], [0, 0, 0, 0, 0, 1], atol=0)


@given(rows=dims, units=dims, dtype=dtypes, activation=st.sampled_from(ACTIVATIONS), seed=seeds, extreme=st.booleans())
def test_activation_backward(rows, units, dtype, activation, seed, extreme):
    rng = np.random.default_rng(seed)
    z = _activation_inputs(rng, rows, units, dtype, extreme)
    a = np.empty_like(z)
    REF.activation_forward(activation, z, a)
    grad_a = rng.normal(size=z.shape).astype(dtype)
    out_cy, out_ref = np.empty_like(z), np.empty_like(z)
    CY.activation_backward(activation, z, a, grad_a, out_cy)
    REF.activation_backward(activation, z, a, grad_a, out_ref)
    close(out_cy, out_ref, dtype, float(np.abs(grad_a).max()) * 2, 2.0)
    CY.activation_backward(activation, z, a, grad_a, grad_a)  # out may be grad_a
    np.testing.assert_array_equal(grad_a, out_cy)


# ----------------------------------------------------------------------- losses
loss_cases = st.tuples(st.sampled_from(LOSSES), st.booleans())


@st.composite
def loss_specs(draw):
    """A loss with any of Keras' options it takes: reduction, label smoothing, Huber's delta, ignore_class."""
    name, from_logits = draw(loss_cases)
    options = {"reduction": draw(st.sampled_from(["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight"]))}
    if name in ("binary_crossentropy", "categorical_crossentropy"):
        options["label_smoothing"] = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    if name == "huber":
        options["delta"] = draw(st.sampled_from([1.0, 0.3, 2.5]))
    if name == "sparse_categorical_crossentropy":
        options["ignore_class"] = draw(st.sampled_from([None, 0, -1, 255]))
    return LossSpec(name, from_logits, **options)


def _with_ignored(loss, y, seed):
    """Some labels set to the loss's ignore_class (every one, sometimes: the divisor is then 0)."""
    if loss.ignore_class is None:
        return y
    rng = np.random.default_rng(seed + 1)
    y = y.copy()
    y[rng.random(y.shape[0]) < (1.0 if seed % 7 == 0 else 0.3)] = loss.ignore_class
    return y


def _weights(rows, dtype, seed):
    if seed % 3 == 0:
        return None
    w = np.random.default_rng(seed + 2).uniform(0.0, 2.0, size=rows).astype(dtype)
    w[::4] = 0
    return w


def _loss_inputs(loss, from_logits, rows, units, dtype, seed):
    rng = np.random.default_rng(seed)
    return targets_for(loss, rng, rows, units, dtype), predictions_for(loss, from_logits, rng, rows, units, dtype)


@given(rows=dims, units=dims, dtype=dtypes, loss=loss_specs(), seed=seeds)
def test_loss_value_and_gradient(rows, units, dtype, loss, seed):
    y, p = _loss_inputs(loss.name, loss.from_logits, rows, units, dtype, seed)
    y = _with_ignored(loss, y, seed)
    w = _weights(rows, dtype, seed)
    value_cy, value_ref = CY.loss_value(loss, y, p, w), REF.loss_value(loss, y, p, w)
    assert isinstance(value_cy, float)
    close(value_cy, value_ref, dtype, max(abs(value_ref), 1.0), 4.0)
    g_cy, g_ref = np.empty_like(p), np.empty_like(p)
    CY.loss_gradient(loss, y, p, g_cy)
    REF.loss_gradient(loss, y, p, g_ref)
    # a gradient that cancels to 0 (cosine similarity of one column) is rounding noise on both sides
    close(g_cy, g_ref, dtype, max(float(np.max(np.abs(g_ref))), 1e-3), 4.0)


@given(rows=dims, units=dims, dtype=dtypes, loss=loss_specs(), activation=st.sampled_from(ACTIVATIONS), seed=seeds)
def test_output_gradient(rows, units, dtype, loss, activation, seed):
    rng = np.random.default_rng(seed)
    y = _with_ignored(loss, targets_for(loss.name, rng, rows, units, dtype), seed)
    w = _weights(rows, dtype, seed)
    z = rng.normal(scale=2.0, size=(rows, units)).astype(dtype)
    a = np.empty_like(z)
    REF.activation_forward(activation, z, a)
    out_cy, out_ref = np.empty_like(z), np.empty_like(z)
    value_cy = CY.output_gradient(loss, activation, y, z, a, out_cy, w)
    value_ref = REF.output_gradient(loss, activation, y, z, a, out_ref, w)
    close(value_cy, value_ref, dtype, max(abs(value_ref), 1.0), 4.0)
    close(out_cy, out_ref, dtype, None, 4.0)


@given(rows=dims, units=dims, dtype=dtypes, metric=st.sampled_from(METRICS), seed=seeds, ties=st.booleans())
def test_metric_value(rows, units, dtype, metric, seed, ties):
    rng = np.random.default_rng(seed)
    if metric in SPARSE_METRICS:
        y = rng.integers(0, units, size=rows).astype(np.int64)
    elif metric == "binary_accuracy":
        y = rng.integers(0, 2, size=(rows, units)).astype(dtype)
    else:
        y = rng.normal(size=(rows, units)).astype(dtype)
    # integer-valued predictions force ties in arg-max; 0.5 exactly tests the threshold
    p = rng.integers(0, 3, size=(rows, units)) * 0.25 if ties else rng.random(size=(rows, units))
    p = p.astype(dtype)
    if metric in LOSSES and metric not in ("mean_squared_error", "mean_absolute_error", "cosine_similarity"):
        # the loss-valued metrics read targets and predictions in the loss's domain
        y = targets_for(metric, rng, rows, units, dtype)
        p = predictions_for(metric, False, rng, rows, units, dtype)
    value_ref = REF.metric_value(metric, y, p)
    close(CY.metric_value(metric, y, p), value_ref, dtype, max(abs(value_ref), 1.0), 4.0)


# -------------------------------------------------------------------------- SGD
@given(
    shape=st.sampled_from([(1,), (7,), (3, 5), (1, 1), (17, 9)]),
    dtype=dtypes,
    momentum=st.sampled_from([0.0, 0.5, 0.9]),
    nesterov=st.booleans(),
    seed=seeds,
)
def test_sgd_update(shape, dtype, momentum, nesterov, seed):
    rng = np.random.default_rng(seed)
    param = rng.normal(size=shape).astype(dtype)
    grad = rng.normal(size=shape).astype(dtype)
    velocity = rng.normal(size=shape).astype(dtype)
    p_cy, v_cy = param.copy(), velocity.copy()
    p_ref, v_ref = param.copy(), velocity.copy()
    CY.sgd_update(p_cy, grad, v_cy, 0.01, momentum, nesterov)
    REF.sgd_update(p_ref, grad, v_ref, 0.01, momentum, nesterov)
    close(p_cy, p_ref, dtype, float(np.abs(param).max()) + 1.0)
    close(v_cy, v_ref, dtype, float(np.abs(velocity).max()) + 1.0)
