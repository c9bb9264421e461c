"""The layers of issue 10 through the front end: Keras names, defaults, errors, freezing, modes, saving.

Every class registered in ``cyneuron.layers._CLASSES`` is picked up by the config and save/load
round trips through ``LAYER_EXAMPLES`` (a registered class without an example fails).
"""

from __future__ import annotations

import numpy as np
import pytest

import cyneuron
from cyneuron import layers
from cyneuron.layers import (
    ELU,
    GRU,
    LSTM,
    Activation,
    AveragePooling1D,
    AvgPool2D,
    BatchNormalization,
    Bidirectional,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling2D,
    GlobalAvgPool1D,
    GlobalMaxPool1D,
    GlobalMaxPooling2D,
    Input,
    InputLayer,
    LeakyReLU,
    MaxPool2D,
    MaxPooling1D,
    Normalization,
    PReLU,
    ReLU,
    Rescaling,
    Reshape,
    SimpleRNN,
    Softmax,
    TimeDistributed,
)
from cyneuron.models import Sequential, load_model
from cyneuron.utils import set_random_seed


def _indices(vocabulary: int, dtype: str = "int32"):
    """Data for an example whose model takes integer indices: x (n, *shape) in [0, vocabulary)."""

    def make(shape, n, rng):
        return rng.integers(0, vocabulary, (n, *shape)).astype(dtype)

    return make


# A model around each layer class: (input shape, layers) or (input shape, layers, make_x) when the model
# takes other data than float normal rows (make_x(shape, n, rng) -> x)
LAYER_EXAMPLES = {
    "Dense": lambda: ((4,), [Dense(3, activation="relu")]),
    "Activation": lambda: ((4,), [Activation("tanh")]),
    "Flatten": lambda: ((2, 2), [Flatten()]),
    "Reshape": lambda: ((4,), [Reshape((2, 2)), Flatten()]),
    "InputLayer": lambda: ((4,), []),
    "Dropout": lambda: ((4,), [Dropout(0.25, seed=3)]),
    "BatchNormalization": lambda: ((4,), [BatchNormalization(momentum=0.8)]),
    "ReLU": lambda: ((4,), [ReLU(max_value=2.0, negative_slope=0.1, threshold=0.5)]),
    "LeakyReLU": lambda: ((4,), [LeakyReLU(0.2)]),
    "ELU": lambda: ((4,), [ELU(0.5)]),
    "Softmax": lambda: ((4,), [Softmax()]),
    "PReLU": lambda: ((2, 3), [PReLU(alpha_initializer="glorot_uniform", shared_axes=1), Flatten()]),
    "Conv2D": lambda: ((6, 5, 2), [Conv2D(3, (3, 2), strides=(2, 1), padding="same", activation="relu"), Flatten()]),
    "Conv1D": lambda: ((7, 2), [Conv1D(3, 3, padding="causal", dilation_rate=2, activation="tanh"), Flatten()]),
    "MaxPooling2D": lambda: ((5, 5, 2), [MaxPool2D(pool_size=(2, 2), strides=2, padding="same"), Flatten()]),
    "AveragePooling2D": lambda: ((5, 4, 2), [AvgPool2D((3, 3), strides=(2, 1), padding="same"), Flatten()]),
    "MaxPooling1D": lambda: ((7, 2), [MaxPooling1D(2), Flatten()]),
    "AveragePooling1D": lambda: ((7, 2), [AveragePooling1D(3, strides=2, padding="same"), Flatten()]),
    "GlobalAveragePooling2D": lambda: ((3, 3, 2), [GlobalAveragePooling2D()]),
    "GlobalMaxPooling2D": lambda: ((3, 3, 2), [GlobalMaxPooling2D(keepdims=True), Flatten()]),
    "GlobalAveragePooling1D": lambda: ((4, 3), [GlobalAvgPool1D()]),
    "GlobalMaxPooling1D": lambda: ((4, 3), [GlobalMaxPool1D()]),
    "Rescaling": lambda: ((2, 3), [Rescaling(1 / 255, offset=-0.5), Flatten()]),
    "Normalization": lambda: ((4,), [Normalization(mean=[0.5, 0.0, -1.0, 2.0], variance=[1.0, 4.0, 0.25, 0.0])]),
    "SimpleRNN": lambda: ((5, 3), [SimpleRNN(4, return_sequences=True), Flatten()]),
    "LSTM": lambda: ((5, 3), [LSTM(4, go_backwards=True)]),
    "GRU": lambda: ((5, 3), [GRU(4, return_sequences=True, reset_after=False), GRU(3)]),
    "Embedding": lambda: ((6,), [Embedding(12, 3), LSTM(4)], _indices(12)),
    "TimeDistributed": lambda: (
        (3, 6, 5, 2),
        [
            TimeDistributed(Conv2D(3, 3, activation="relu")),
            TimeDistributed(MaxPool2D(2)),
            TimeDistributed(Flatten()),
            LSTM(4),
        ],
    ),
    "Bidirectional": lambda: ((5, 3), [Bidirectional(LSTM(4, return_sequences=True)), Bidirectional(GRU(3), "sum")]),
}


def test_every_layer_class_has_an_example():
    assert set(LAYER_EXAMPLES) == set(layers._CLASSES)


def _model(name: str) -> Sequential:
    shape, stack = LAYER_EXAMPLES[name]()[:2]
    return Sequential([Input(shape), *stack, Dense(2, activation="softmax")])


def _data(shape, n=32, seed=0, make_x=None):
    rng = np.random.default_rng(seed)
    x = make_x(shape, n, rng) if make_x is not None else rng.standard_normal((n, *shape)).astype("float32")
    return x, rng.integers(0, 2, n)


def _example_data(name: str, n=32, seed=0):
    example = LAYER_EXAMPLES[name]()
    return _data(example[0], n, seed, example[2] if len(example) > 2 else None)


@pytest.mark.parametrize("name", sorted(LAYER_EXAMPLES))
def test_config_round_trip(name):
    model = _model(name)
    clone = Sequential.from_config(model.get_config())
    assert [type(a) for a in clone.layers] == [type(b) for b in model.layers]
    for a, b in zip(clone.layers, model.layers):
        ca, cb = a.get_config(), b.get_config()
        ca.pop("name"), cb.pop("name")
        assert ca == cb


@pytest.mark.parametrize("name", sorted(LAYER_EXAMPLES))
def test_save_load_continues_training_identically(name, tmp_path, backend):
    set_random_seed(1)
    model = _model(name)
    model.compile(optimizer=cyneuron.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy")
    x, y = _example_data(name)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    for m in (model, loaded):
        m.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 12
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_keras_defaults():
    bn = BatchNormalization()
    assert (bn.axis, bn.momentum, bn.epsilon, bn.center, bn.scale) == (-1, 0.99, 1e-3, True, True)
    assert Dropout(0.5).noise_shape is None and Dropout(0.5).seed is None
    relu = ReLU()
    assert (relu.max_value, relu.negative_slope, relu.threshold) == (None, 0.0, 0.0)
    assert LeakyReLU().negative_slope == 0.3
    assert ELU().alpha == 1.0
    assert Softmax().axis == -1
    assert [ReLU().name.split("_")[:2], LeakyReLU().name.split("_")[:3]] == [["re", "lu"], ["leaky", "re", "lu"]]


@pytest.mark.parametrize(
    "make, error",
    [
        (lambda: Dropout(1.5), ValueError),
        (lambda: Dropout(-0.1), ValueError),
        (lambda: Dropout("a"), TypeError),
        (lambda: Dropout(0.5, noise_shape="abc"), ValueError),
        (lambda: Dropout(0.5, noise_shape=(None, 0)), ValueError),
        (lambda: ReLU(max_value=-1.0), ValueError),
        (lambda: ReLU(negative_slope=-0.5), ValueError),
        (lambda: ReLU(threshold=None), ValueError),
        (lambda: LeakyReLU(negative_slope=-1), ValueError),
        (lambda: BatchNormalization(epsilon=0), ValueError),
        (lambda: BatchNormalization(renorm=True), ValueError),
        (lambda: BatchNormalization(center="yes"), TypeError),
        (lambda: Dense(3, trainable="no"), TypeError),
    ],
)
def test_bad_arguments(make, error):
    with pytest.raises(error):
        make()


def test_bad_axis_and_noise_shape_refused_when_built():
    with pytest.raises(ValueError, match="axis"):
        Sequential([Input((4,)), BatchNormalization(axis=3)])
    with pytest.raises(ValueError, match="noise_shape"):
        Sequential([Input((2, 3)), Dropout(0.5, noise_shape=(None, 2))])
    with pytest.raises(ValueError, match="noise_shape"):
        Sequential([Input((2, 3)), Dropout(0.5, noise_shape=(None, 3, 1))])


def test_batch_norm_weights_in_keras_order_and_trainability():
    model = Sequential([Input((3,)), BatchNormalization()])
    bn = model.layers[0]
    assert bn.weight_names == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w is v for w, v in zip(bn.trainable_weights, (bn.gamma, bn.beta))] == [True, True]
    assert len(bn.non_trainable_weights) == 2
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    bn.trainable = False
    assert bn.trainable_weights == [] and len(bn.non_trainable_weights) == 4


def test_summary_counts_trainable_and_non_trainable():
    model = Sequential([Input((3,)), Dense(4), BatchNormalization(), Dense(2)])
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    # dense 16 + gamma/beta 8 + dense_1 10 trainable; moving statistics 8
    assert "Trainable params: 34 " in text and "Non-trainable params: 8 " in text and "Total params: 42 " in text
    model.layers[0].trainable = False
    lines.clear()
    model.summary(print_fn=lines.append)
    assert "Trainable params: 18 " in lines[0] and "Non-trainable params: 24 " in lines[0]


def test_frozen_layer_keeps_its_weights_while_others_train(backend):
    set_random_seed(0)
    model = Sequential([Input((4,)), Dense(5, activation="relu"), BatchNormalization(), Dense(2, activation="softmax")])
    model.layers[0].trainable = False
    model.layers[1].trainable = False
    frozen = [w.copy() for w in model.layers[0].weights + model.layers[1].weights]
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = _data((4,))
    head = model.layers[2].kernel.copy()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for before, after in zip(frozen, model.layers[0].weights + model.layers[1].weights):
        np.testing.assert_array_equal(before, after)  # moving statistics too: a frozen BN is in inference mode
    assert not np.array_equal(head, model.layers[2].kernel)
    # unfreezing takes effect at the next fit, as in Keras
    model.layers[0].trainable = True
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert not np.array_equal(frozen[0], model.layers[0].kernel)


def test_model_trainable_freezes_every_layer(backend):
    model = Sequential([Input((4,)), Dense(3), Dense(2, activation="softmax")])
    model.trainable = False
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 4
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    before = model.get_weights()
    x, y = _data((4,))
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_training_mode_call(backend):
    set_random_seed(0)
    model = Sequential([Input((6,)), Dropout(0.5), BatchNormalization(momentum=0.5)])
    x = np.random.default_rng(0).standard_normal((50, 6)).astype("float32") * 3 + 1
    np.testing.assert_allclose(model(x), model.predict(x))
    out = model(x, training=True)
    # dropout zeros about half; batch statistics normalise each column of the dropped input
    bn = model.layers[1]
    assert not np.allclose(bn.moving_mean, 0)  # moving statistics moved (Keras' eager training call)
    assert abs(float(np.mean(out))) < 1e-5 and 0.5 < float(np.std(out)) < 1.5
    with pytest.raises(TypeError):
        model(x, training="yes")


def test_dropout_rate_scales_kept_inputs():
    set_random_seed(0)
    layer = Dropout(0.25)
    x = np.ones((400, 50), dtype="float32")
    y = layer(x, training=True)
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    assert 0.72 < kept.mean() < 0.78
    np.testing.assert_array_equal(layer(x), x)
    assert np.all(Dropout(1.0)(x, training=True) == 0)


def test_dropout_noise_shape_shares_the_mask():
    layer = Dropout(0.5, noise_shape=(None, 1, 4), seed=9)
    x = np.ones((8, 3, 4), dtype="float32")
    y = layer(x, training=True)
    assert y.shape == (8, 3, 4)
    assert np.all(y == y[:, :1, :])  # one draw shared along the axis of size 1


def test_dropout_masks_reproducible_under_set_random_seed(backend):
    def run():
        set_random_seed(42)
        model = Sequential([Input((4,)), Dense(8), Dropout(0.5), Dense(2, activation="softmax")])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        x, y = _data((4,))
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        return model.get_weights()

    for a, b in zip(run(), run()):
        np.testing.assert_array_equal(a, b)


def test_softmax_on_image_shaped_input_runs_over_the_last_axis():
    model = Sequential([Input((2, 3)), Softmax(), Flatten()])
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype("float32")
    out = model.predict(x).reshape(4, 2, 3)
    np.testing.assert_allclose(out.sum(axis=-1), 1, rtol=1e-6)


def test_reshape_checks_the_size():
    with pytest.raises(ValueError, match="total size"):
        Sequential([Input((4,)), Reshape((3, 2))])
    model = Sequential([Input((6,)), Reshape((-1, 2))])
    assert model.output_shape == (None, 3, 2)


def test_input_layer_is_registered():
    assert layers._CLASSES["InputLayer"] is InputLayer


@pytest.mark.parametrize("name", sorted(cyneuron.optimizers.OPTIMIZERS))
def test_every_optimizer_resumes_identically_after_save_and_load(name, tmp_path, backend):
    set_random_seed(2)
    model = Sequential([Input((4,)), Dense(6, activation="relu"), BatchNormalization(), Dense(2, activation="softmax")])
    model.compile(optimizer=cyneuron.optimizers.get(name.lower()), loss="sparse_categorical_crossentropy")
    x, y = _data((4,))
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert type(loaded.optimizer) is type(model.optimizer)
    for m in (model, loaded):
        m.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    state_a, state_b = model.optimizer_state(), loaded.optimizer_state()
    assert state_a["iterations"] == state_b["iterations"] == 12
    np.testing.assert_array_equal(state_a["scalars"], state_b["scalars"])
