"""Kernel level: each ``Ops`` kernel, cython vs numpy backend, float32 and float64, tiny to large.

Groups pair the two backends on the same kernel, shape and dtype, so the table reads as a comparison.
"""

from __future__ import annotations

import numpy as np
import pytest

from cyneuron.backend.base import ACTIVATIONS, LossSpec

# (batch, in, units): tiny (the notes' first layer) to large.
SHAPES = {
    "tiny-10x1x16": (10, 1, 16),
    "small-32x64x32": (32, 64, 32),
    "medium-128x784x128": (128, 784, 128),
    "large-256x1024x1024": (256, 1024, 1024),
}
SHAPE_IDS = list(SHAPES)


def _arrays(shape_id: str, dtype, seed: int = 0):
    batch, fan_in, units = SHAPES[shape_id]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, fan_in)).astype(dtype)
    kernel = (rng.standard_normal((fan_in, units)) / np.sqrt(fan_in)).astype(dtype)
    bias = rng.standard_normal(units).astype(dtype)
    return x, kernel, bias


def _group(benchmark, kernel: str, shape_id: str, dtype, ops) -> None:
    benchmark.group = f"{kernel} {shape_id} {np.dtype(dtype).name}"
    benchmark.extra_info["backend"] = ops.name


@pytest.mark.parametrize("shape_id", SHAPE_IDS)
def test_dense_forward(benchmark, ops, dtype, shape_id):
    x, kernel, bias = _arrays(shape_id, dtype)
    z = np.empty((x.shape[0], kernel.shape[1]), dtype=dtype)
    a = np.empty_like(z)
    _group(benchmark, "dense_forward relu", shape_id, dtype, ops)
    benchmark(ops.dense_forward, x, kernel, bias, "relu", z, a)


@pytest.mark.parametrize("shape_id", SHAPE_IDS)
def test_dense_backward(benchmark, ops, dtype, shape_id):
    x, kernel, bias = _arrays(shape_id, dtype)
    batch, units = x.shape[0], kernel.shape[1]
    z = np.empty((batch, units), dtype=dtype)
    a = np.empty_like(z)
    ops.dense_forward(x, kernel, bias, "relu", z, a)
    grad_a = np.random.default_rng(1).standard_normal((batch, units)).astype(dtype)
    grad_z = np.empty_like(z)
    grad_kernel = np.empty_like(kernel)
    grad_bias = np.empty_like(bias)
    grad_x = np.empty_like(x)
    _group(benchmark, "dense_backward relu", shape_id, dtype, ops)
    benchmark(ops.dense_backward, x, kernel, z, a, grad_a, "relu", grad_z, grad_kernel, grad_bias, grad_x)


@pytest.mark.parametrize("shape_id", SHAPE_IDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_forward(benchmark, ops, dtype, shape_id, activation):
    batch, _, units = SHAPES[shape_id]
    z = np.random.default_rng(2).standard_normal((batch, units)).astype(dtype)
    out = np.empty_like(z)
    _group(benchmark, f"activation_forward {activation}", shape_id, dtype, ops)
    benchmark(ops.activation_forward, activation, z, out)


@pytest.mark.parametrize("shape_id", SHAPE_IDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_backward(benchmark, ops, dtype, shape_id, activation):
    batch, _, units = SHAPES[shape_id]
    rng = np.random.default_rng(3)
    z = rng.standard_normal((batch, units)).astype(dtype)
    a = np.empty_like(z)
    ops.activation_forward(activation, z, a)
    grad_a = rng.standard_normal((batch, units)).astype(dtype)
    out = np.empty_like(z)
    _group(benchmark, f"activation_backward {activation}", shape_id, dtype, ops)
    benchmark(ops.activation_backward, activation, z, a, grad_a, out)


@pytest.mark.parametrize("shape_id", SHAPE_IDS)
def test_output_gradient_softmax_sparse_ce(benchmark, ops, dtype, shape_id):
    """The fused last-layer gradient every classification step runs (plus the loss value)."""
    batch, _, units = SHAPES[shape_id]
    rng = np.random.default_rng(4)
    z = rng.standard_normal((batch, units)).astype(dtype)
    a = np.empty_like(z)
    ops.activation_forward("softmax", z, a)
    labels = rng.integers(0, units, batch).astype(np.int64)
    out = np.empty_like(z)
    loss = LossSpec("sparse_categorical_crossentropy")
    _group(benchmark, "output_gradient softmax+sparse_ce", shape_id, dtype, ops)
    benchmark(ops.output_gradient, loss, "softmax", labels, z, a, out)


@pytest.mark.parametrize("shape_id", SHAPE_IDS)
@pytest.mark.parametrize("loss_name", ["mean_squared_error", "binary_crossentropy"])
def test_loss_gradient(benchmark, ops, dtype, shape_id, loss_name):
    batch, _, units = SHAPES[shape_id]
    rng = np.random.default_rng(5)
    y_pred = rng.uniform(0.01, 0.99, (batch, units)).astype(dtype)
    y_true = (rng.random((batch, units)) < 0.5).astype(dtype)
    out = np.empty_like(y_pred)
    _group(benchmark, f"loss_gradient {loss_name}", shape_id, dtype, ops)
    benchmark(ops.loss_gradient, LossSpec(loss_name), y_true, y_pred, out)


@pytest.mark.parametrize("shape_id", SHAPE_IDS)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_update(benchmark, ops, dtype, shape_id, momentum):
    """One parameter update of the layer's kernel (in, units); the weights drift, which is harmless."""
    _, kernel, _ = _arrays(shape_id, dtype)
    grad = np.random.default_rng(6).standard_normal(kernel.shape).astype(dtype) * dtype.type(1e-6)
    velocity = np.zeros_like(kernel)
    _group(benchmark, f"sgd_update momentum={momentum}", shape_id, dtype, ops)
    benchmark(ops.sgd_update, kernel, grad, velocity, 0.01, momentum, False)
