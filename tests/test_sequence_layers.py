"""Layers on sequences through the front end: Dense on rank >= 3 inputs (the last axis), and the
sequence wrappers (TimeDistributed, Bidirectional) against NumPy formulas of Keras' semantics."""

from __future__ import annotations

import numpy as np
import pytest

from cyneuron.layers import LSTM, Dense, Flatten, GlobalAveragePooling1D, Input
from cyneuron.models import Sequential
from cyneuron.utils import set_random_seed


def _x(shape, n=6, seed=0):
    return np.random.default_rng(seed).standard_normal((n, *shape))


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("activation", ["linear", "softmax", "relu"])
def test_dense_applies_to_the_last_axis(backend, activation):
    model = Sequential([Input((4, 3, 2)), Dense(5, activation=activation), Flatten()])
    kernel, bias = model.layers[0].get_weights()
    bias = np.random.default_rng(1).standard_normal(5)
    model.layers[0].set_weights([kernel, bias])
    x = _x((4, 3, 2))
    z = x @ kernel + bias
    expected = {"linear": z, "softmax": _softmax(z), "relu": np.maximum(z, 0)}[activation]
    assert model.layers[0].output_shape == (None, 4, 3, 5)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected.reshape(6, -1), rtol=1e-5, atol=1e-6)


def test_lstm_sequences_into_dense_trains(backend):
    set_random_seed(0)
    model = Sequential(
        [Input((6, 3)), LSTM(8, return_sequences=True), Dense(4, activation="tanh"), GlobalAveragePooling1D(), Dense(1)]
    )
    model.compile("adam", "mse")
    x = _x((6, 3), n=64).astype("float32")
    y = np.sin(x.sum(axis=(1, 2)))[:, None] * 0.5
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0).history["loss"]
    assert history[-1] < history[0]
    assert model.layers[1].kernel.shape == (8, 4)


def test_rank_3_model_output_is_refused_clearly():
    # per-timestep targets need the loss head to treat (batch, T, units): not there yet
    model = Sequential([Input((5, 3)), LSTM(4, return_sequences=True), Dense(2)])
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match="not 2-D"):
        model.fit(_x((5, 3)), np.zeros((6, 5, 2)), verbose=0)
