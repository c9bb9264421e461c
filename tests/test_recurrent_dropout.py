"""dropout / recurrent_dropout of SimpleRNN, LSTM and GRU (Keras 3's DropoutRNNCell semantics).

Inference is unaffected; one mask per batch is reused at every time step; the masks come from the
shared counter-based generator, so both backends train identically and a fixed seed reproduces;
LSTM/GRU take per-gate masks when recurrent_dropout != 0 and ignore a rate of exactly 1; rates are
clipped to [0, 1] as Keras does, a non-number is a TypeError.
"""

from __future__ import annotations

import numpy as np
import pytest

import cyneuron.backend as backend_module
from cyneuron import optimizers
from cyneuron.backend.reference import recurrent as reference_recurrent
from cyneuron.backend.reference._stage import Context
from cyneuron.layers import GRU, LSTM, Dense, Input, SimpleRNN
from cyneuron.models import Sequential
from cyneuron.utils import set_random_seed
from tests.conftest import cython_available

LAYERS = {
    "simple_rnn": lambda **kw: SimpleRNN(4, **kw),
    "lstm": lambda **kw: LSTM(4, **kw),
    "gru": lambda **kw: GRU(4, **kw),
    "gru_before": lambda **kw: GRU(4, reset_after=False, **kw),
}
RATES = [(0.3, 0.0), (0.0, 0.4), (0.3, 0.4)]


def _data(n=24, steps=5, features=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, steps, features)).astype("float32")
    return x, rng.integers(0, 2, n)


def _model(layer, steps=5, features=3):
    return Sequential([Input((steps, features)), layer, Dense(2, activation="softmax")])


def _fit(make, backend, seed=0, epochs=2):
    previous = backend_module._active
    backend_module.set_backend(backend)
    try:
        set_random_seed(seed)
        model = _model(make())
        model.compile(optimizer=optimizers.SGD(0.3), loss="sparse_categorical_crossentropy")
        x, y = _data()
        model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, shuffle=False)
        return model.get_weights()
    finally:
        backend_module._active = previous


# ------------------------------------------------------------------------------- inference
@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("rates", RATES)
def test_inference_is_unaffected(kind, rates, backend):
    set_random_seed(1)
    dropped = _model(LAYERS[kind](dropout=rates[0], recurrent_dropout=rates[1]))
    plain = _model(LAYERS[kind]())
    plain.set_weights(dropped.get_weights())
    x, _ = _data()
    np.testing.assert_array_equal(dropped.predict(x, verbose=0), plain.predict(x, verbose=0))
    np.testing.assert_array_equal(dropped(x), plain(x))  # a call is inference unless training=True
    assert not np.allclose(dropped(x, training=True), plain(x))


# ------------------------------------------------------------------------------- training
@pytest.mark.skipif(not cython_available(), reason="compiled kernels not built")
@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("rates", RATES)
def test_masks_identical_across_backends(kind, rates):
    """Training with the same seed gives the same weights on both backends, and not those of no dropout."""

    def make():
        return LAYERS[kind](dropout=rates[0], recurrent_dropout=rates[1])

    ref, cy = _fit(make, "numpy"), _fit(make, "cython")
    for a, b in zip(ref, cy):
        np.testing.assert_allclose(b, a, rtol=2e-5, atol=2e-6)
    plain = _fit(LAYERS[kind], "cython")
    assert max(np.abs(a - b).max() for a, b in zip(cy, plain)) > 1e-3  # far above the backends' rounding


@pytest.mark.parametrize("kind", LAYERS)
def test_a_fixed_seed_reproduces(kind, backend):
    def make(seed):
        return lambda: LAYERS[kind](dropout=0.3, recurrent_dropout=0.3, seed=seed)

    first, again, other = _fit(make(5), backend), _fit(make(5), backend), _fit(make(6), backend)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other))


def test_the_layer_seed_overrides_the_model_seed():
    layer = SimpleRNN(4, dropout=0.5, recurrent_dropout=0.5, seed=3)
    _model(layer)
    spec = layer.stage_spec()
    assert spec.attrs["seed"] == 3

    def masks(network_seed, step=2):
        return reference_recurrent.masks(spec, 6, Context(True, network_seed, step, 0), np.dtype("float32"))

    for m0, m1 in zip(masks(0), masks(9)):  # the layer's seed, the step and the stage only
        np.testing.assert_array_equal(m0, m1)
    assert not np.array_equal(masks(0)[0], masks(0, step=3)[0])  # a new mask every step
    spec.attrs["seed"] = None
    assert not np.array_equal(masks(0)[0], masks(9)[0])


# ------------------------------------------------------------------------------ semantics
def _linear_rnn(**kwargs):
    """SimpleRNN(3, linear, no bias) with identity kernels: h_t = x_t m + (h_{t-1} r)."""
    layer = SimpleRNN(3, activation="linear", use_bias=False, return_sequences=True, **kwargs)
    Sequential([Input((4, 3)), layer])
    layer.set_weights([np.eye(3, dtype="float32"), np.eye(3, dtype="float32")])
    return layer


def test_one_input_mask_per_sample_reused_at_every_step():
    set_random_seed(0)
    layer = _linear_rnn(dropout=0.25)
    x = np.zeros((300, 4, 3), dtype="float32")
    x[:, 1] = 1  # input at step 1 only; with no recurrent mask, h_t = m for every t >= 1
    h = layer(x, training=True)
    np.testing.assert_array_equal(h[:, 0], 0)
    for t in (2, 3):
        np.testing.assert_array_equal(h[:, t], h[:, 1])
    kept = h[:, 1] != 0
    np.testing.assert_allclose(h[:, 1][kept], np.float32(1) / np.float32(0.75))
    assert 0.7 < kept.mean() < 0.8
    assert len({tuple(row) for row in kept}) > 1  # masks differ between samples


def test_one_recurrent_mask_per_sample_reused_at_every_step():
    set_random_seed(0)
    layer = _linear_rnn(recurrent_dropout=0.5)
    x = np.zeros((300, 4, 3), dtype="float32")
    x[:, 0] = 1  # h_0 = 1, h_1 = r, h_2 = r * r, h_3 = r * r * r: the same r each step
    h = layer(x, training=True)
    r = h[:, 1]
    np.testing.assert_array_equal(h[:, 2], r * r)
    np.testing.assert_array_equal(h[:, 3], r * r * r)
    assert set(np.unique(r)) == {0.0, 2.0}


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_lstm_gru_mask_layout_follows_keras_implementation(cls):
    """Keras: recurrent_dropout != 0 switches to implementation 1 (one mask per gate, both sides)."""
    shared = cls(3, dropout=0.3)
    gated = cls(3, dropout=0.3, recurrent_dropout=0.2)
    for layer in (shared, gated):
        _model(layer, features=2)
    assert shared.stage_spec().attrs["gate_masks"] is False
    assert gated.stage_spec().attrs["gate_masks"] is True
    spec = gated.stage_spec()
    m_in, m_rec = reference_recurrent.masks(spec, 5, Context(True, seed=1), np.dtype("float32"))
    gates = 4 if cls is LSTM else 3
    assert m_in.shape == (5, gates, 2) and m_rec.shape == (5, gates, 3)
    assert SimpleRNN(3, recurrent_dropout=0.2).get_config()["recurrent_dropout"] == 0.2


def test_rate_one_as_keras():
    """SimpleRNN drops everything; LSTM/GRU apply a mask only for 0 < rate < 1."""
    set_random_seed(0)
    x = np.random.default_rng(0).standard_normal((6, 4, 3)).astype("float32")
    layer = _linear_rnn(dropout=1.0)
    np.testing.assert_array_equal(layer(x, training=True), 0)
    for layer in (LSTM(3, dropout=1.0, recurrent_dropout=1.0), GRU(3, dropout=1.0)):
        Sequential([Input((4, 3)), layer])
        np.testing.assert_allclose(layer(x, training=True), layer(x), rtol=1e-6, atol=1e-7)


def test_no_masks_at_zero_rates():
    layer = LSTM(3)
    _model(layer)
    spec = layer.stage_spec()
    assert reference_recurrent.masks(spec, 4, Context(True), np.dtype("float32")) == (None, None)
    dropped = LSTM(3, dropout=0.5)
    _model(dropped)
    assert reference_recurrent.masks(dropped.stage_spec(), 4, Context(False), np.dtype("float32")) == (None, None)


# --------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_rates_are_clipped_and_checked_as_keras(cls):
    assert cls(2, dropout=1.5).dropout == 1.0 and cls(2, recurrent_dropout=-0.5).recurrent_dropout == 0.0
    assert cls(2, dropout=0.25).get_config()["dropout"] == 0.25
    assert cls.from_config(cls(2, dropout=0.2, recurrent_dropout=0.1).get_config()).recurrent_dropout == 0.1
    for bad in ("0.2", None, [0.1]):
        with pytest.raises(TypeError, match="dropout"):
            cls(2, dropout=bad)
        with pytest.raises(TypeError, match="recurrent_dropout"):
            cls(2, recurrent_dropout=bad)
    with pytest.raises(ValueError, match="seed"):
        cls(2, dropout=0.5, seed="x")


def test_the_stage_checks_its_rates():
    layer = GRU(3, dropout=0.5)
    _model(layer)
    spec = layer.stage_spec()
    for key, value in (("dropout", 1.5), ("recurrent_dropout", -0.1), ("dropout", "0.5"), ("gate_masks", 1)):
        spec.attrs[key] = value
        with pytest.raises(ValueError, match=key):
            reference_recurrent.check(spec, np.dtype("float32"))
        spec.attrs.update(dropout=0.5, recurrent_dropout=0.0, gate_masks=False)
