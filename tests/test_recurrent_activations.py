"""The compiled recurrent kernels' own tanh and sigmoid (stages/_rnn_act.pxd, lstm.pxd's fused step)
against NumPy in float64, to a few ulps, over the whole range (saturation, tiny values, the reduction's
breakpoints): one time step through layers whose weights make the gates the inputs themselves."""

from __future__ import annotations

import numpy as np
import pytest

import cyneuron.backend as backend_module
from cyneuron.layers import LSTM, Input, SimpleRNN
from cyneuron.models import Sequential
from tests.conftest import cython_available

pytestmark = pytest.mark.skipif(not cython_available(), reason="the compiled extension is not built")

# relative error allowed against float64 NumPy on the same (rounded) inputs: a few ulps of the dtype
RTOL = {"float32": 4 * 2.0**-23, "float64": 8 * 2.0**-52}
UNITS = 64


def _inputs(dtype) -> np.ndarray:
    """(rows, 1, UNITS) values over [-25, 25]: a dense grid, tiny magnitudes, ln2/2 multiples (the
    reduction's breakpoints for 2|x|) and their neighbours."""
    grid = np.linspace(-25, 25, 40 * UNITS)
    tiny = np.concatenate([np.geomspace(1e-30, 1e-2, 6 * UNITS), -np.geomspace(1e-30, 1e-2, 6 * UNITS)])
    breaks = np.log(2) / 4 * np.arange(-60, 61)
    breaks = np.concatenate([breaks, np.nextafter(breaks, 100), np.nextafter(breaks, -100)])
    values = np.concatenate([grid, tiny, breaks, [0.0, -0.0]]).astype(dtype)
    values = np.concatenate([values, np.zeros(-len(values) % UNITS, dtype)])
    return values.reshape(-1, 1, UNITS)


def _predict(layer, x, weights):
    model = Sequential([Input(x.shape[1:]), layer])
    layer.set_weights(weights)
    return model.predict(x, verbose=0, batch_size=len(x))


@pytest.fixture
def cython_backend():
    previous = backend_module.get_backend()
    backend_module.set_backend("cython")
    yield
    backend_module.set_backend(previous)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tanh_is_within_a_few_ulps(cython_backend, dtype):
    x = _inputs(dtype)
    eye = np.eye(UNITS, dtype=dtype)
    out = _predict(SimpleRNN(UNITS, use_bias=False, dtype=dtype), x, [eye, np.zeros_like(eye)])
    expected = np.tanh(x[:, 0].astype(np.float64))
    np.testing.assert_allclose(out, expected, rtol=RTOL[dtype], atol=0)
    mirrored = _predict(SimpleRNN(UNITS, use_bias=False, dtype=dtype), -x, [eye, np.zeros_like(eye)])
    np.testing.assert_array_equal(mirrored, -out)  # odd exactly: computed from |x|


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lstm_step_sigmoid_and_tanh_are_within_a_few_ulps(cython_backend, dtype):
    """h = o tanh(i g) at the first step, every gate reading x: sigmoid(x) tanh(sigmoid(x) tanh(x))."""
    x = _inputs(dtype)
    eye = np.eye(UNITS, dtype=dtype)
    kernel = np.concatenate([eye] * 4, axis=1)
    out = _predict(LSTM(UNITS, use_bias=False, dtype=dtype), x, [kernel, np.zeros_like(kernel)])
    z = x[:, 0].astype(np.float64)
    s = 1 / (1 + np.exp(-z))
    expected = s * np.tanh(s * np.tanh(z))
    # a few operations each rounded: allow the sum of their ulps
    np.testing.assert_allclose(out, expected, rtol=4 * RTOL[dtype], atol=0)
