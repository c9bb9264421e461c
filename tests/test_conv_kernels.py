"""Convolution and pooling kinds against brute-force NumPy loops, Keras' output shapes, JAX's tie routing.

Every (padding, stride, dilation, kernel) combination: the conv2d stage (both backends) equals a
direct six-fold loop over output positions and taps, with Keras' "same" arithmetic (padding
``total // 2`` before); the layers' ``compute_output_shape`` matches Keras' formula; malformed specs
and impossible shapes are refused with ValueError.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from cyneuron.backend.numpy_ops import NumpyOps
from cyneuron.backend.specs import StageSpec
from cyneuron.layers import AveragePooling2D, Conv1D, Conv2D, GlobalMaxPooling2D, MaxPooling2D
from tests.conftest import cython_available


def _ops():
    ops = [NumpyOps()]
    if cython_available():
        from cyneuron.backend.cython_ops import CythonOps

        ops.append(CythonOps())
    return ops


def _keras_out(size, k, s, d, padding):
    if padding == "valid":
        return math.floor((size - d * (k - 1) - 1) / s) + 1
    return math.floor((size - 1) / s) + 1


def _keras_pads(size, k, s, d, padding):
    if padding == "valid":
        return 0
    out = _keras_out(size, k, s, d, padding)
    return max((out - 1) * s + (k - 1) * d + 1 - size, 0) // 2


def _brute_conv(x, kernel, bias, strides, padding, dilation):
    rows, h, w, c = x.shape
    kh, kw, _, f = kernel.shape
    oh = _keras_out(h, kh, strides[0], dilation[0], padding)
    ow = _keras_out(w, kw, strides[1], dilation[1], padding)
    top = _keras_pads(h, kh, strides[0], dilation[0], padding)
    left = _keras_pads(w, kw, strides[1], dilation[1], padding)
    out = np.zeros((rows, oh, ow, f))
    for r, a, b, i, j in itertools.product(range(rows), range(oh), range(ow), range(kh), range(kw)):
        ih, iw = a * strides[0] - top + i * dilation[0], b * strides[1] - left + j * dilation[1]
        if 0 <= ih < h and 0 <= iw < w:
            out[r, a, b] += x[r, ih, iw] @ kernel[i, j]
    return out + bias


CASES = [
    (shape, k, s, d, padding)
    for shape in ((7, 6, 2), (5, 5, 1), (4, 9, 3))
    for k in ((1, 1), (2, 2), (3, 3), (2, 3), (4, 1))
    for s, d in (((1, 1), (1, 1)), ((2, 2), (1, 1)), ((1, 3), (1, 1)), ((1, 1), (2, 2)), ((1, 1), (1, 2)))
    for padding in ("valid", "same")
    if padding == "same" or all(n >= (kk - 1) * dd + 1 for n, kk, dd in zip(shape[:2], k, d))
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_conv2d_matches_brute_force_and_keras_shapes(case):
    shape, k, s, d, padding = case
    rng = np.random.default_rng(0)
    f = 3
    layer = (
        Conv2D(f, k, strides=s, padding=padding, dilation_rate=d, dtype="float64")
        if max(s) == 1 or max(d) == 1
        else None
    )
    out_shape = tuple(_keras_out(n, kk, ss, dd, padding) for n, kk, ss, dd in zip(shape[:2], k, s, d)) + (f,)
    if layer is not None:
        assert layer.compute_output_shape((None, *shape)) == (None, *out_shape)
    x = rng.standard_normal((3, *shape))
    kernel = rng.standard_normal((*k, shape[2], f))
    bias = rng.standard_normal(f)
    expected = _brute_conv(x, kernel, bias, s, padding, d)
    attrs = {"kernel_size": k, "strides": s, "padding": padding, "dilation_rate": d, "activation": "linear"}
    spec = StageSpec("conv2d", shape, out_shape, attrs, (kernel, bias))
    for ops in _ops():
        got = ops.build_network([spec], shape, "float64").predict(x.reshape(3, -1), 2)
        np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=1e-12, atol=1e-12)


def _brute_pool(x, size, strides, padding, reduce):
    rows, h, w, c = x.shape
    oh, ow = (_keras_out(n, kk, ss, 1, padding) for n, kk, ss in zip((h, w), size, strides))
    top, left = (_keras_pads(n, kk, ss, 1, padding) for n, kk, ss in zip((h, w), size, strides))
    out = np.zeros((rows, oh, ow, c))
    for a, b in itertools.product(range(oh), range(ow)):
        i0, j0 = a * strides[0] - top, b * strides[1] - left
        window = x[:, max(i0, 0) : i0 + size[0], max(j0, 0) : j0 + size[1]]
        out[:, a, b] = reduce(window.reshape(rows, -1, c), axis=1)
    return out


@pytest.mark.parametrize("kind, reduce", [("max_pool2d", np.max), ("avg_pool2d", np.mean)])
@pytest.mark.parametrize(
    "shape, size, strides, padding",
    [
        ((6, 6, 2), (2, 2), (2, 2), "valid"),
        ((5, 5, 2), (2, 2), (2, 2), "same"),
        ((5, 7, 1), (3, 3), (2, 2), "same"),
        ((5, 7, 1), (3, 2), (1, 3), "same"),
        ((4, 4, 3), (2, 2), (1, 1), "valid"),
        ((1, 9, 2), (1, 4), (1, 3), "same"),
        ((7, 7, 1), (4, 4), (3, 3), "same"),
    ],
)
def test_pooling_matches_brute_force(kind, reduce, shape, size, strides, padding):
    x = np.random.default_rng(1).standard_normal((2, *shape))
    expected = _brute_pool(x, size, strides, padding, reduce)
    spec = StageSpec(kind, shape, expected.shape[1:], {"pool_size": size, "strides": strides, "padding": padding})
    for ops in _ops():
        got = ops.build_network([spec], shape, "float64").predict(x.reshape(2, -1), 2)
        np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=1e-12)


# The gradients JAX gives (keras ops.max_pool / jnp.max under jax.grad, Keras 3.15.1, jax CPU) for
# sum(pool(x)) on this input with ties: a window's first maximum (row-major) for max pooling, an
# equal split for the global maximum.
TIE_INPUT = np.array([[1, 3, 3, 0], [3, 2, 1, 1], [0, 0, 5, 5], [0, 0, 5, 5]], dtype=np.float64)
JAX_TIE_GRADS = {
    ("max_pool2d", (2, 2), (2, 2), "valid"): [[0, 1, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]],
    ("max_pool2d", (2, 2), (1, 1), "valid"): [[0, 2, 1, 0], [1, 0, 0, 0], [1, 0, 4, 0], [0, 0, 0, 0]],
    ("max_pool2d", (3, 3), (2, 2), "same"): [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 4, 0], [0, 0, 0, 0]],
    ("global_max_pool", None, None, None): [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0.25, 0.25], [0, 0, 0.25, 0.25]],
}


@pytest.mark.parametrize("key", list(JAX_TIE_GRADS), ids=str)
def test_tie_routing_matches_jax(key):
    from cyneuron.backend.reference import KINDS, Context
    from cyneuron.backend.specs import LossSpec, OptimizerSpec, ScheduleSpec

    kind, size, strides, padding = key
    if kind == "global_max_pool":
        spec = StageSpec(kind, (4, 4, 1), (1,), {"channels": 1})
    else:
        out = _brute_pool(TIE_INPUT.reshape(1, 4, 4, 1), size, strides, padding, np.max).shape[1:]
        spec = StageSpec(kind, (4, 4, 1), out, {"pool_size": size, "strides": strides, "padding": padding})
    x = TIE_INPUT.reshape(1, -1)
    step = KINDS[kind].forward(spec, x, Context(True))
    dx, _ = step.backprop(np.ones_like(step.y))
    np.testing.assert_array_equal(dx.reshape(4, 4), JAX_TIE_GRADS[key])
    if not cython_available():
        return
    # the compiled stage routes the same way: a trainable dense above (identity kernel, frozen to
    # nothing else) receives exactly x^T dx as its kernel gradient; compare one SGD step
    from cyneuron.backend.cython_ops import CythonOps

    results = []
    for ops in (NumpyOps(), CythonOps()):
        first = StageSpec("dense", (16,), (16,), {"activation": "linear"}, (np.eye(16),))
        net = ops.build_network([first, spec], (16,), "float64")
        sgd = OptimizerSpec("sgd", ScheduleSpec("constant", (1.0,)), {"momentum": 0.0, "nesterov": 0.0})
        net.prepare_training(LossSpec("mean_squared_error"), (), sgd, 1)
        target = step.y + 1.0  # dL/dy = -2/units * 1 per output
        net.bind_training_data(np.ones((1, 16)), np.ascontiguousarray(target), np.zeros(1, np.int64))
        assert net.train_batch(0, 1)
        results.append(first.params[0].copy())
        first.params[0][...] = np.eye(16)
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12)


def test_layer_shapes_and_refusals():
    assert Conv2D(32, (3, 3), padding="same").compute_output_shape((None, 32, 32, 3)) == (None, 32, 32, 32)
    assert MaxPooling2D(pool_size=(2, 2), strides=2).compute_output_shape((None, 32, 32, 32)) == (None, 16, 16, 32)
    assert AveragePooling2D(3, strides=2, padding="same").compute_output_shape((None, 5, 4, 2)) == (None, 3, 2, 2)
    assert Conv1D(4, 3, padding="causal", strides=2).compute_output_shape((None, 9, 2)) == (None, 5, 4)
    assert GlobalMaxPooling2D(keepdims=True).compute_output_shape((None, 3, 3, 2)) == (None, 1, 1, 2)
    with pytest.raises(ValueError):
        Conv2D(2, (5, 5)).compute_output_shape((None, 4, 4, 1))  # kernel bigger than a valid input
    with pytest.raises(ValueError):
        Conv2D(2, 3)._weight_shapes((4, 4))  # not an image
    assert Conv2D(2, 3)._weight_shapes((4, 4, 3)) == [(3, 3, 3, 2), (2,)]
    for make in (
        lambda: Conv2D(0, 3),
        lambda: Conv2D(2, 0),
        lambda: Conv2D(2, (3, 3, 3)),
        lambda: Conv2D(2, 3, padding="causal"),
        lambda: Conv2D(2, 3, strides=2, dilation_rate=2),
        lambda: Conv2D(2, 3, groups=2),
        lambda: MaxPooling2D(0),
        lambda: MaxPooling2D(2, padding="full"),
    ):
        with pytest.raises(ValueError):
            make()


@pytest.mark.parametrize(
    "change",
    [
        {"padding": "full"},
        {"strides": (0, 1)},
        {"kernel_size": (2,)},
        {"dilation_rate": (1, -1)},
        {"activation": "gelu"},  # not fused by the conv2d kind (Conv2D runs it as its own stage)
        {"out_shape": (3, 3, 2)},
        {"in_shape": (5, 5)},
        {"kernel_size": (6, 6)},
    ],
    ids=str,
)
def test_malformed_conv_specs_refused(change):
    rng = np.random.default_rng(0)
    attrs = {
        "kernel_size": (3, 3),
        "strides": (1, 1),
        "padding": "valid",
        "dilation_rate": (1, 1),
        "activation": "relu",
    }
    in_shape, out_shape = (5, 5, 2), (3, 3, 4)
    for key in ("in_shape", "out_shape"):
        if key in change:
            in_shape, out_shape = change.get("in_shape", in_shape), change.get("out_shape", out_shape)
    attrs.update({k: v for k, v in change.items() if k in attrs})
    spec = StageSpec("conv2d", in_shape, out_shape, attrs, (rng.standard_normal((3, 3, 2, 4)), np.zeros(4)))
    for ops in _ops():
        with pytest.raises((ValueError, TypeError)):
            ops.build_network([spec], in_shape, "float64")


@pytest.mark.parametrize("rank", [1, 2])
def test_channels_first_layers_equal_channels_last_on_transposed_data(rank, backend):
    """Keras' channels_first: the same kernel on (C, *spatial) data gives the transposed outputs."""
    from cyneuron.layers import Conv1D, Conv2D, Flatten, GlobalMaxPooling1D, Input, MaxPooling1D, MaxPooling2D
    from cyneuron.models import Sequential

    rng = np.random.default_rng(rank)
    if rank == 2:
        x_last = rng.standard_normal((6, 7, 5, 3)).astype("float32")

        def layers(fmt):
            return [
                Conv2D(4, (3, 2), strides=(2, 1), padding="same", data_format=fmt),
                MaxPooling2D(2, data_format=fmt),
                Flatten(data_format=fmt),
            ]
    else:
        x_last = rng.standard_normal((6, 9, 3)).astype("float32")

        def layers(fmt):
            return [
                Conv1D(4, 3, padding="causal", data_format=fmt),
                MaxPooling1D(2, data_format=fmt),
                GlobalMaxPooling1D(data_format=fmt),
            ]

    x_first = np.moveaxis(x_last, -1, 1)
    last = Sequential([Input(x_last.shape[1:]), *layers("channels_last")])
    first = Sequential([Input(x_first.shape[1:]), *layers("channels_first")])
    first.set_weights(last.get_weights())
    assert first.layers[0].kernel.shape == last.layers[0].kernel.shape
    np.testing.assert_allclose(first.predict(x_first), last.predict(x_last), rtol=1e-6, atol=1e-6)
    assert first.layers[0].output_shape[1] == 4  # channels first
