"""Layers on sequences through the front end: Dense on rank >= 3 inputs (the last axis), and the
sequence wrappers (TimeDistributed, Bidirectional) against NumPy formulas of Keras' semantics."""

from __future__ import annotations

import numpy as np
import pytest

from cyneuron.layers import (
    LSTM,
    BatchNormalization,
    Conv1D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling1D,
    Input,
    TimeDistributed,
)
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


# ------------------------------------------------------------------ TimeDistributed
def test_time_distributed_dense_keras_numbers():
    # keras/src/layers/rnn/time_distributed_test.py::test_correctness
    from cyneuron import initializers

    sequence = np.arange(24).reshape((3, 2, 4)).astype("float32")
    layer = TimeDistributed(Dense(1, kernel_initializer=initializers.Constant(0.01), use_bias=False))
    expected = [[[0.06], [0.22]], [[0.38], [0.53999996]], [[0.7], [0.86]]]
    np.testing.assert_allclose(layer(sequence), expected, rtol=1e-6)
    assert layer.compute_output_shape((None, 2, 4)) == (None, 2, 1)
    assert len(layer.trainable_weights) == 1


def test_time_distributed_has_the_inner_weights_and_config():
    inner = Dense(4, activation="tanh")
    layer = TimeDistributed(inner)
    model = Sequential([Input((5, 3)), layer, Flatten()])
    assert layer.weights[0] is inner.kernel and [w.shape for w in layer.get_weights()] == [(3, 4), (4,)]
    config = layer.get_config()
    assert config["layer"]["class_name"] == "Dense" and config["layer"]["config"]["units"] == 4
    copy = TimeDistributed.from_config(config)
    assert isinstance(copy.layer, Dense) and copy.layer.units == 4
    x = _x((5, 3))
    np.testing.assert_allclose(
        model.predict(x, verbose=0), np.tanh(x @ inner.kernel + inner.bias).reshape(6, -1), rtol=1e-5, atol=1e-6
    )
    layer.trainable = False
    assert not inner.trainable and layer.trainable_weights == []


def test_time_distributed_dropout_draws_each_step_apart():
    layer = TimeDistributed(Dropout(0.5, noise_shape=(None, 1), seed=3))
    x = np.ones((64, 6, 8), dtype="float32")
    y = layer(x, training=True)
    # the noise shape is per step: one draw per (sample, step), shared by the step's features
    assert np.all(y == y[:, :, :1])
    assert not np.all(y[:, :1] == y)
    np.testing.assert_array_equal(layer(x), x)


@pytest.mark.parametrize(
    "inner", [lambda: Conv1D(2, 2), lambda: LSTM(2), lambda: BatchNormalization(), lambda: GlobalAveragePooling1D()]
)
def test_time_distributed_refuses_whole_sample_layers(inner):
    with pytest.raises(NotImplementedError, match="TimeDistributed"):
        Sequential([Input((4, 5, 3)), TimeDistributed(inner()), Flatten()]).predict(_x((4, 5, 3)))


def test_time_distributed_needs_a_time_axis_and_a_layer():
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        TimeDistributed(Dense(2)).build((None, 3))
    with pytest.raises(ValueError, match="Layer"):
        TimeDistributed("dense")
