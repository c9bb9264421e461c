"""SimpleRNN, LSTM, GRU through the front end: Keras' weight shapes and gate orders, go_backwards,
return_sequences, stacking, errors, the loader's dry run; the Orthogonal initializer."""

from __future__ import annotations

import numpy as np
import pytest

import cyneuron.backend as backend_module
from cyneuron import initializers
from cyneuron.layers import GRU, LSTM, Dense, Flatten, Input, SimpleRNN
from cyneuron.models import Sequential
from cyneuron.utils import set_random_seed
from tests.conftest import cython_available


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _model(layer, shape=(5, 3)):
    """A model around one layer; sequences are flattened (a cyneuron model's output is 2-D)."""
    model = Sequential([Input(shape), layer, Flatten()])
    return model


def _x(shape=(5, 3), n=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, *shape))


@pytest.mark.parametrize(
    "layer, shapes",
    [
        (lambda: SimpleRNN(4), [(3, 4), (4, 4), (4,)]),
        (lambda: LSTM(4), [(3, 16), (4, 16), (16,)]),
        (lambda: GRU(4), [(3, 12), (4, 12), (2, 12)]),
        (lambda: GRU(4, reset_after=False), [(3, 12), (4, 12), (12,)]),
        (lambda: LSTM(4, use_bias=False), [(3, 16), (4, 16)]),
    ],
)
def test_weight_shapes_and_names_as_keras(layer, shapes):
    layer = layer()
    _model(layer)
    assert [w.shape for w in layer.get_weights()] == shapes
    assert layer.weight_names == ["kernel", "recurrent_kernel", "bias"][: len(shapes)]
    # the dry run the loader uses allocates nothing and leaves a fresh layer unbuilt
    fresh = type(layer).from_config(layer.get_config())
    assert fresh._weight_shapes((5, 3)) == shapes
    assert not fresh.built and fresh.weights == []


def test_lstm_unit_forget_bias_and_orthogonal_recurrent_kernel():
    layer = LSTM(3)
    _model(layer)
    np.testing.assert_array_equal(layer.bias, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    u = layer.recurrent_kernel
    np.testing.assert_allclose(u @ u.T, np.eye(3), atol=1e-5)  # (3, 12): orthonormal rows
    plain = LSTM(3, unit_forget_bias=False)
    _model(plain)
    assert not plain.bias.any()


@pytest.mark.parametrize("return_sequences", [False, True])
def test_output_shapes(return_sequences):
    for cls in (SimpleRNN, LSTM, GRU):
        layer = cls(6, return_sequences=return_sequences)
        model = Sequential([Input((5, 3)), layer, Flatten()])  # a model's output is 2-D (a cyneuron limit)
        expected = (None, 5, 6) if return_sequences else (None, 6)
        assert layer.output_shape == expected
        assert layer.compute_output_shape((None, 5, 3)) == expected
        assert model.predict(_x(), verbose=0).shape == (4, int(np.prod(expected[1:])))


def _lstm_numpy(x, kernel, recurrent, bias, backwards=False):
    u = recurrent.shape[0]
    h = np.zeros((x.shape[0], u))
    c = np.zeros_like(h)
    outs = []
    steps = range(x.shape[1] - 1, -1, -1) if backwards else range(x.shape[1])
    for t in steps:
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = (
            _sigmoid(z[:, :u]),
            _sigmoid(z[:, u : 2 * u]),
            np.tanh(z[:, 2 * u : 3 * u]),
            _sigmoid(z[:, 3 * u :]),
        )
        c = f * c + i * g
        h = o * np.tanh(c)
        outs.append(h)
    return np.stack(outs, axis=1)


def _gru_numpy(x, kernel, recurrent, bias, reset_after):
    u = recurrent.shape[0]
    h = np.zeros((x.shape[0], u))
    outs = []
    for t in range(x.shape[1]):
        b_in, b_rec = (bias[0], bias[1]) if reset_after else (bias, np.zeros_like(bias))
        xz = x[:, t] @ kernel + b_in
        hu = h @ recurrent + b_rec
        z = _sigmoid(xz[:, :u] + hu[:, :u])
        r = _sigmoid(xz[:, u : 2 * u] + hu[:, u : 2 * u])
        if reset_after:
            hh = np.tanh(xz[:, 2 * u :] + r * hu[:, 2 * u :])
        else:
            hh = np.tanh(xz[:, 2 * u :] + (r * h) @ recurrent[:, 2 * u :])
        h = z * h + (1 - z) * hh
        outs.append(h)
    return np.stack(outs, axis=1)


def _random_weights(layer, seed=1):
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.standard_normal(w.shape) * 0.5 for w in layer.get_weights()])
    return layer.get_weights()


@pytest.mark.parametrize("backwards", [False, True])
def test_lstm_gate_order_i_f_c_o(backend, backwards):
    layer = LSTM(3, return_sequences=True, go_backwards=backwards, dtype="float64")
    model = _model(layer)
    weights = _random_weights(layer)
    x = _x()
    expected = _lstm_numpy(x, *weights, backwards).reshape(4, -1)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-10)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_gate_order_z_r_h(backend, reset_after):
    layer = GRU(3, return_sequences=True, reset_after=reset_after, dtype="float64")
    model = _model(layer)
    weights = _random_weights(layer)
    x = _x()
    expected = _gru_numpy(x, *weights, reset_after).reshape(4, -1)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-10)


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_go_backwards_reads_the_reversed_sequence_and_keeps_the_output_reversed(backend, cls):
    forward = cls(3, return_sequences=True, dtype="float64")
    backward = cls(3, return_sequences=True, go_backwards=True, dtype="float64")
    m_forward, m_backward = _model(forward), _model(backward)
    backward.set_weights(_random_weights(forward))
    x = _x()
    np.testing.assert_allclose(
        m_backward.predict(x, verbose=0), m_forward.predict(x[:, ::-1].copy(), verbose=0), rtol=1e-12
    )
    last = cls(3, go_backwards=True, dtype="float64")
    m_last = _model(last)
    last.set_weights(forward.get_weights())
    sequence = m_backward.predict(x, verbose=0).reshape(4, 5, 3)
    np.testing.assert_allclose(m_last.predict(x, verbose=0), sequence[:, -1], rtol=1e-12)


@pytest.mark.skipif(not cython_available(), reason="compiled kernels not built")
def test_stacked_lstm_trains_on_both_backends_alike():
    results = []
    previous = backend_module._active
    try:
        for name in ("numpy", "cython"):
            backend_module.set_backend(name)
            set_random_seed(3)
            model = Sequential([Input((8, 1)), LSTM(6, return_sequences=True), LSTM(5), Dense(1)])
            model.compile(optimizer="adam", loss="mse")
            x = np.linspace(-1, 1, 8 * 40).reshape(40, 8, 1).astype("float32")
            y = x.sum(axis=(1, 2))[:, None] * 0.1
            history = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
            results.append((history.history["loss"], model.get_weights()))
    finally:
        backend_module._active = previous
    (loss_a, w_a), (loss_b, w_b) = results
    assert loss_a[-1] < loss_a[0]
    np.testing.assert_allclose(loss_b, loss_a, rtol=1e-5)
    for a, b in zip(w_a, w_b):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)


def test_sequences_feed_flatten_and_dense(backend):
    model = Sequential([Input((4, 2)), GRU(3, return_sequences=True), Flatten(), Dense(2, activation="softmax")])
    assert model.output_shape == (None, 2)
    np.testing.assert_allclose(model.predict(_x((4, 2)), verbose=0).sum(axis=1), 1, rtol=1e-6)


# ------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_a_2d_input_is_refused_with_keras_message(cls):
    with pytest.raises(ValueError, match="expected ndim=3, found ndim=2"):
        Sequential([Input((3,)), cls(2)])
    with pytest.raises(ValueError, match="expected ndim=3, found ndim=4"):
        cls(2)._weight_shapes((2, 3, 4))


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: LSTM(0), ValueError, "expected a positive integer, got 0"),
        (lambda: GRU(-2), ValueError, "expected a positive integer"),
        (lambda: SimpleRNN(3, dropout="0.2"), TypeError, "dropout"),
        (lambda: LSTM(3, recurrent_dropout=None), TypeError, "recurrent_dropout"),
        (lambda: GRU(3, return_state=True), ValueError, "return_state"),
        (lambda: LSTM(3, stateful=True), ValueError, "stateful"),
        (lambda: LSTM(3, activation="nope"), ValueError, "Could not interpret activation"),
        (lambda: GRU(3, recurrent_activation="hard_sigmoid"), ValueError, "not supported by the recurrent kernels"),
        (lambda: SimpleRNN(3, kernel_regularizer="l3"), ValueError, "kernel_regularizer"),
        (lambda: LSTM(3, recurrent_constraint="non_neg"), ValueError, "recurrent_constraint"),
        (lambda: LSTM(3, use_cudnn="yes"), ValueError, "use_cudnn"),
        (lambda: GRU(3, reset_after=1), TypeError, "reset_after"),
        (lambda: LSTM(3, recurrent_initializer="nope"), ValueError, "recurrent_initializer"),
    ],
)
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_zero_rates_and_unroll_are_accepted():
    layer = LSTM(3, dropout=0.0, recurrent_dropout=0, unroll=True, seed=4, use_cudnn=False)
    assert layer.get_config()["unroll"] is True and layer.get_config()["seed"] == 4


def test_keras_style_config_loads():
    config = LSTM(4, return_sequences=True).get_config()
    config["dtype"] = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float64"}}
    layer = LSTM.from_config(config)
    _model(layer)
    assert layer.return_sequences and layer.dtype == "float64"


# ------------------------------------------------------------------------------- Orthogonal
@pytest.mark.parametrize("shape", [(5, 5), (3, 7), (7, 3), (2, 3, 4)])
def test_orthogonal_is_orthonormal(shape):
    q = initializers.Orthogonal(gain=2.0, seed=1)(shape, dtype="float64")
    assert q.shape == shape
    flat = q.reshape(-1, shape[-1]) / 2.0
    small = min(flat.shape)
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)


def test_orthogonal_registry_config_and_errors():
    assert isinstance(initializers.get("orthogonal"), initializers.Orthogonal)
    assert isinstance(initializers.get("OrthogonalInitializer"), initializers.Orthogonal)
    init = initializers.Orthogonal(seed=5)
    assert init.get_config() == {"seed": 5, "gain": 1.0}
    np.testing.assert_array_equal(init((4, 4)), initializers.deserialize(initializers.serialize(init))((4, 4)))
    np.testing.assert_array_equal(init((4, 4)), init((4, 4)))
    with pytest.raises(ValueError, match="at least two-dimensional"):
        init((4,))
