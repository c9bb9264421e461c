"""Layers on sequences through the front end: Dense on rank >= 3 inputs (the last axis), and the
sequence wrappers (TimeDistributed, Bidirectional) against NumPy formulas of Keras' semantics."""

from __future__ import annotations

import numpy as np
import pytest

from cyneuron.layers import (
    GRU,
    LSTM,
    BatchNormalization,
    Bidirectional,
    Conv1D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling1D,
    Input,
    SimpleRNN,
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


def test_rank_3_model_output_trains_on_per_step_targets():
    model = Sequential([Input((5, 3)), LSTM(4, return_sequences=True), Dense(2)])
    x = _x((5, 3))
    assert model.predict(x, verbose=0).shape == (6, 5, 2)
    model.compile("adam", "mse")
    model.fit(x, np.zeros((6, 5, 2)), verbose=0)
    # the loss is the mean over every (sample, step, unit), as Keras'
    np.testing.assert_allclose(model.evaluate(x, np.zeros((6, 5, 2)), verbose=0), np.mean(model.predict(x) ** 2), 1e-5)


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
def test_time_distributed_wraps_whole_sample_layers(inner):
    # each step's sample (5, 3) runs through the layer: the folded stage (tests/test_per_step_training.py)
    layer = inner()
    model = Sequential([Input((4, 5, 3)), TimeDistributed(layer), Flatten()])
    out = layer.compute_output_shape((None, 5, 3))[1:]
    assert model.predict(_x((4, 5, 3)), verbose=0).shape == (6, 4 * int(np.prod(out)))


def test_time_distributed_needs_a_time_axis_and_a_layer():
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        TimeDistributed(Dense(2)).build((None, 3))
    with pytest.raises(ValueError, match="Layer"):
        TimeDistributed("dense")


# ------------------------------------------------------------------ Bidirectional
def _constant_rnn(cls, units, k, r, b, **kwargs):
    from cyneuron import initializers

    return cls(
        units,
        kernel_initializer=initializers.Constant(k),
        recurrent_initializer=initializers.Constant(r),
        bias_initializer=initializers.Constant(b),
        **kwargs,
    )


def test_bidirectional_keras_numbers(backend):
    # keras/src/layers/rnn/bidirectional_test.py::test_correctness
    sequence = np.arange(24).reshape((2, 3, 4)).astype("float32")
    forward = _constant_rnn(SimpleRNN, 2, 0.01, 0.02, 0.03)
    concat = [[0.39687276, 0.39687276, 0.10004295, 0.10004295], [0.7237238, 0.7237238, 0.53391594, 0.53391594]]
    np.testing.assert_allclose(Bidirectional(forward)(sequence), concat, rtol=1e-5, atol=1e-5)
    ave = [[0.24845785, 0.24845785], [0.6288199, 0.6288199]]
    np.testing.assert_allclose(Bidirectional(forward, merge_mode="ave")(sequence), ave, rtol=1e-5, atol=1e-5)
    first, second = Bidirectional(forward, merge_mode=None)(sequence)
    np.testing.assert_allclose(first, np.array(concat)[:, :2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(second, np.array(concat)[:, 2:], rtol=1e-5, atol=1e-5)
    backward = _constant_rnn(SimpleRNN, 2, 0.03, 0.02, 0.01, go_backwards=True)
    mul = Bidirectional(forward, backward_layer=backward, merge_mode="mul")(sequence)
    np.testing.assert_allclose(mul, [[0.08374989, 0.08374989], [0.6740834, 0.6740834]], rtol=1e-5, atol=1e-5)
    gru = _constant_rnn(GRU, 2, 0.01, 0.02, 0.03, return_sequences=True)
    expected = [
        [[0.20937867, 0.20937867], [0.34462988, 0.34462988], [0.40290534, 0.40290534]],
        [[0.59829646, 0.59829646], [0.6734641, 0.6734641], [0.6479671, 0.6479671]],
    ]
    np.testing.assert_allclose(Bidirectional(gru, merge_mode="sum")(sequence), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_is_two_layers_merged(backend, merge_mode, return_sequences):
    # the same numbers as the forward layer and a go_backwards copy run apart (flipped back in time)
    layer = Bidirectional(LSTM(3, return_sequences=return_sequences), merge_mode=merge_mode)
    x = _x((5, 2))
    out = layer(x)
    forward = LSTM(3, return_sequences=return_sequences)
    backward = LSTM(3, return_sequences=return_sequences, go_backwards=True)
    a = Sequential([Input((5, 2)), forward, Flatten()])
    b = Sequential([Input((5, 2)), backward, Flatten()])
    weights = layer.get_weights()
    forward.set_weights(weights[:3])
    backward.set_weights(weights[3:])
    yf, yb = a.predict(x, verbose=0), b.predict(x, verbose=0)
    if return_sequences:
        yf, yb = yf.reshape(6, 5, 3), yb.reshape(6, 5, 3)[:, ::-1]
    expected = {
        "concat": np.concatenate([yf, yb], axis=-1),
        "sum": yf + yb,
        "ave": (yf + yb) / 2,
        "mul": yf * yb,
    }[merge_mode]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_bidirectional_names_weights_and_config():
    layer = Bidirectional(GRU(4, name="enc", return_sequences=True), merge_mode="sum")
    assert layer.forward_layer.name == "forward_enc" and layer.backward_layer.name == "backward_enc"
    assert layer.backward_layer.go_backwards and not layer.forward_layer.go_backwards
    model = Sequential([Input((6, 3)), layer, Flatten()])
    assert [w.shape for w in layer.get_weights()] == [(3, 12), (4, 12), (2, 12)] * 2
    assert layer.weight_names[0] == "forward_enc/kernel" and layer.weight_names[3] == "backward_enc/kernel"
    assert model.layers[0].output_shape == (None, 6, 4)
    config = layer.get_config()
    assert config["merge_mode"] == "sum" and config["layer"]["config"]["name"] == "forward_enc"
    assert config["backward_layer"]["config"]["go_backwards"] is True
    copy = Bidirectional.from_config(config)
    assert copy.forward_layer.name == "forward_enc" and copy.backward_layer.name == "backward_enc"
    # Keras records zero_output_for_mask=return_sequences for its wrapped layers; no masks, no effect
    config["layer"]["config"]["zero_output_for_mask"] = True
    assert Bidirectional.from_config(config).merge_mode == "sum"


def test_bidirectional_weights_argument_and_trainable():
    source = Bidirectional(SimpleRNN(2))
    Sequential([Input((3, 4)), source])
    layer = Bidirectional(SimpleRNN(2), weights=source.get_weights())
    Sequential([Input((3, 4)), layer])
    for a, b in zip(layer.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(layer.trainable_weights) == 6
    layer.trainable = False
    assert layer.trainable_weights == [] and not layer.forward_layer.trainable


def test_bidirectional_trains_with_dropout(backend):
    set_random_seed(0)
    model = Sequential(
        [
            Input((6, 3)),
            Bidirectional(LSTM(5, dropout=0.2, recurrent_dropout=0.2, return_sequences=True)),
            Bidirectional(GRU(3)),
            Dense(1),
        ]
    )
    model.compile("adam", "mse")
    x = _x((6, 3), n=64).astype("float32")
    y = np.sin(x.sum(axis=(1, 2)))[:, None] * 0.5
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0).history["loss"]
    assert np.all(np.isfinite(history)) and history[-1] < history[0]


def test_bidirectional_refusals():
    with pytest.raises(ValueError, match="merge mode"):
        Bidirectional(LSTM(2), merge_mode="max")
    with pytest.raises(ValueError, match="Layer"):
        Bidirectional("lstm")
    with pytest.raises(NotImplementedError, match="SimpleRNN, LSTM or GRU"):
        Bidirectional(Dense(2))
    with pytest.raises(ValueError, match="go_backwards"):
        Bidirectional(LSTM(2), backward_layer=LSTM(2))
    with pytest.raises(ValueError, match="return_sequences"):
        Bidirectional(LSTM(2), backward_layer=LSTM(2, go_backwards=True, return_sequences=True))
    with pytest.raises(ValueError, match="merge_mode=None"):
        Sequential([Input((3, 2)), Bidirectional(LSTM(2), merge_mode=None)])


def test_time_distributed_mask_is_checked_as_keras():
    # keras/src/layers/rnn/time_distributed_test.py: the mask's batch and time axes must match the input's
    layer = TimeDistributed(Dense(5, activation="softmax"))
    x = np.zeros((4, 5, 3))
    assert layer(x, mask=np.ones((4, 5), dtype=bool)).shape == (4, 5, 5)
    assert layer(x, mask=np.ones((4, 5, 2), dtype=bool)).shape == (4, 5, 5)
    for bad in (np.ones((4, 6), dtype=bool), np.ones((5, 5), dtype=bool), np.ones((4, 6, 2), dtype=bool)):
        with pytest.raises(ValueError, match="The `mask` passed to the `TimeDistributed` layer has a shape"):
            layer(x, mask=bad)
    with pytest.raises(ValueError, match="at least 2D"):
        layer(x, mask=np.ones(4, dtype=bool))
