"""Embedding end to end: integer inputs through the front end and both networks, index checks
everywhere an index is read, Keras' arguments and configs, saving, and the compiled gradient."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import cyneuron
from cyneuron import layers
from cyneuron.backend.numpy_ops import NumpyOps
from cyneuron.backend.specs import LossSpec, OptimizerSpec, ScheduleSpec
from cyneuron.layers import LSTM, Dense, Embedding, Flatten, Input, Reshape
from cyneuron.models import Sequential, load_model
from cyneuron.utils import set_random_seed
from tests.conftest import cython_available
from tests.stages_support import copy_stack, dense, embedding

V, T = 20, 5


def _model(input_dtype=None, optimizer="adam"):
    set_random_seed(0)
    first = [Input((T,), dtype=input_dtype)] if input_dtype else [Input((T,))]
    model = Sequential([*first, Embedding(V, 4), LSTM(6), Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(n=40, seed=1):
    rng = np.random.default_rng(seed)
    return rng.integers(0, V, (n, T)), rng.integers(0, 3, n)


def _networks():
    ops = [NumpyOps()]
    if cython_available():
        from cyneuron.backend.cython_ops import CythonOps

        ops.append(CythonOps())
    return ops


# ----------------------------------------------------------------- the front end's data checks
@pytest.mark.parametrize("bad", ["too_big", "negative", "fraction", "nan", "inf"])
def test_bad_indices_are_refused_by_every_call(backend, bad):
    model = _model()
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    weights = model.get_weights()
    xb = x.astype(np.float64)
    xb[3, 2] = {"too_big": V, "negative": -1, "fraction": 2.5, "nan": np.nan, "inf": np.inf}[bad]
    calls = {
        "fit": lambda: model.fit(xb, y, epochs=1, verbose=0),
        "predict": lambda: model.predict(xb),
        "predict_on_batch": lambda: model.predict_on_batch(xb),
        "evaluate": lambda: model.evaluate(xb, y, verbose=0),
        "train_on_batch": lambda: model.train_on_batch(xb, y),
        "test_on_batch": lambda: model.test_on_batch(xb, y),
        "call": lambda: model(xb),
        "call_training": lambda: model(xb, training=True),
        "validation_data": lambda: model.fit(x, y, epochs=1, verbose=0, validation_data=(xb, y)),
    }
    refused = r"^(x|validation_data\[0\]): embedding indices (must be in|must be whole)"
    for call in calls.values():
        with pytest.raises(ValueError, match=refused):
            call()
    # out-of-range ints too, in the fast paths (int64 rows of the right shape)
    if bad in ("too_big", "negative"):
        xi = xb.astype(np.int64)
        for call in (lambda: model.predict(xi), lambda: model.predict(xi[3:4]), lambda: model.train_on_batch(xi, y)):
            with pytest.raises(ValueError, match="x.*embedding indices"):
                call()
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "int16", "float32", "float64", "bool"])
def test_integer_valued_inputs_of_any_dtype_give_the_same_outputs(backend, dtype):
    model = _model()
    x, y = _data()
    x = x % 2 if dtype == "bool" else x
    expected = model.predict(x.astype(np.int64))
    np.testing.assert_array_equal(model.predict(x.astype(dtype)), expected)
    np.testing.assert_array_equal(model.predict(x.astype(dtype).tolist()), expected)
    assert np.isfinite(model.evaluate(x.astype(dtype), y, verbose=0)[0])


@pytest.mark.parametrize("input_dtype", ["int32", "int64", "uint8", None])
def test_integer_input_layers_train_and_save(backend, input_dtype, tmp_path):
    model = _model(input_dtype)
    assert model.dtype == "float32" and model.layers[0].embeddings.dtype == np.float32
    x, y = _data()
    model.fit(x.astype(input_dtype or "float32"), y, epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    entry = loaded.get_config()["layers"][0]
    assert entry["class_name"] == "InputLayer" and entry["config"]["dtype"] == (input_dtype or "float32")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    for m in (model, loaded):
        m.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_float64_model_with_integer_input():
    set_random_seed(0)
    model = Sequential([Input((T,), dtype="int32"), Embedding(V, 3, dtype="float64"), Flatten(), Dense(2)])
    assert model.dtype == "float64"
    assert model.predict(_data()[0]).dtype == np.float64


def test_long_sequences_save_and_load(tmp_path):
    """The loader's size guard: an Embedding's rows serve a sequence longer than all the weights."""
    model = Sequential([Input((3000,), dtype="int32"), Embedding(10, 2), LSTM(2), Dense(1)])
    model.save(tmp_path / "m")
    assert load_model(tmp_path / "m").input_shape == (None, 3000)


def test_forged_vocabulary_is_refused_before_building(tmp_path):
    from tests.test_saving_format import edit_manifest

    model = Sequential([Input((T,), dtype="int32"), Embedding(V, 2), Flatten()])
    path = tmp_path / "m.cyn"
    model.save(path)
    edit_manifest(path, lambda m: m["model_config"]["layers"][1]["config"].update(output_dim=10**9))
    with pytest.raises(ValueError, match="builds 20000000000 weight values"):
        load_model(path)


def test_layers_before_an_embedding_may_only_reshape():
    model = Sequential([Input((2, 3)), Reshape((6,)), Embedding(V, 2), Flatten(), Dense(1)])
    assert model.predict(np.ones((1, 2, 3))).shape == (1, 1)
    with pytest.raises(ValueError, match="embedding.*first"):
        Sequential([Input((6,)), Dense(4), Embedding(V, 2)])


def test_embedding_layer_call():
    layer = Embedding(V, 3)
    out = layer(np.array([[1, 2], [3, 1]]))
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[0, 0], layer.embeddings[1])
    np.testing.assert_array_equal(out[1, 1], layer.embeddings[1])
    with pytest.raises(ValueError, match="inputs: embedding indices"):
        layer(np.array([[1, V]]))
    with pytest.raises(ValueError, match="inputs: embedding indices must be whole"):
        layer(np.array([[1.5, 2]]))


# ----------------------------------------------------------------- the networks' own checks
def _stack(dtype=np.float64):
    rng = np.random.default_rng(0)
    return [embedding(rng, dtype, (T,), V, 3), dense(rng, dtype, 3 * T, 3, "softmax")]


SGD = OptimizerSpec("sgd", ScheduleSpec("constant", (1.0,)), {"momentum": 0.0, "nesterov": 0.0})


@pytest.mark.parametrize("ops", _networks(), ids=lambda o: o.name)
def test_network_refuses_indices_changed_after_bind(ops):
    x, y = _data()
    network = ops.build_network(copy_stack(_stack()), (T,), np.float64)
    network.prepare_training(LossSpec("sparse_categorical_crossentropy"), (), SGD, 8)
    x = np.ascontiguousarray(x, dtype=np.int64)
    network.bind_training_data(x, y.astype(np.int64), np.arange(40, dtype=np.int64))
    assert network.train_batch(0, 8)
    for value in (V, -1, 2**62):
        x[5, 1] = value
        with pytest.raises(ValueError, match="x: embedding indices"):
            network.train_batch(0, 8)
        assert network.train_batch(8, 16)  # the other rows still train
        with pytest.raises(ValueError, match="x: embedding indices"):
            network.predict(x, 7)
        with pytest.raises(ValueError, match="x: embedding indices"):
            network.evaluate(x, y.astype(np.int64), 7)
        with pytest.raises(ValueError, match="x: embedding indices"):
            network.train_arrays(x[:8], y[:8].astype(np.int64))
        x[5, 1] = 0
    labels = y.astype(np.int64)
    network.bind_training_data(x, labels, np.arange(40, dtype=np.int64))
    labels[2] = 7
    with pytest.raises(ValueError, match="y"):
        network.train_batch(0, 8)


@pytest.mark.parametrize("ops", _networks(), ids=lambda o: o.name)
def test_network_takes_only_int64_rows(ops):
    network = ops.build_network(copy_stack(_stack()), (T,), np.float64)
    x = _data()[0]
    for bad in (x.astype(np.int32), x.astype(np.float64), np.asfortranarray(x.astype(np.int64))):
        with pytest.raises((TypeError, ValueError), match="x"):
            network.predict(bad, 8)


@pytest.mark.parametrize("ops", _networks(), ids=lambda o: o.name)
def test_compiled_embeddings_gradient_matches_finite_differences(ops):
    """One plain SGD step with learning rate 1 moves the embeddings by minus their gradient: compared
    with central differences of the batch loss (float64; small vocabulary, so indices repeat)."""
    rng = np.random.default_rng(3)
    x = np.ascontiguousarray(rng.integers(0, 4, (6, T)), dtype=np.int64)
    y = rng.integers(0, 3, 6).astype(np.int64)
    stages = [embedding(rng, np.float64, (T,), 4, 3), dense(rng, np.float64, 3 * T, 3, "softmax")]
    loss = LossSpec("sparse_categorical_crossentropy")

    def batch_loss(stack):
        network = NumpyOps().build_network(stack, (T,), np.float64)
        network.prepare_training(loss, (), SGD, 6)
        return float(network.evaluate(x, y, 6)[0])

    table = stages[0].params[0]
    numeric = np.zeros_like(table)
    for index in np.ndindex(table.shape):
        keep = table[index]
        table[index] = keep + 1e-6
        up = batch_loss(stages)
        table[index] = keep - 1e-6
        down = batch_loss(stages)
        table[index] = keep
        numeric[index] = (up - down) / 2e-6
    trained = copy_stack(stages)
    network = ops.build_network(trained, (T,), np.float64)
    network.prepare_training(loss, (), SGD, 6)
    network.bind_training_data(x, y, np.arange(6, dtype=np.int64))
    assert network.train_batch(0, 6)
    analytic = table - trained[0].params[0]
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)
    assert np.count_nonzero(numeric) > 0


# ----------------------------------------------------------------- Keras' arguments and configs
KERAS_CONFIG = {
    "name": "embedding",
    "trainable": True,
    "dtype": {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": "float32"},
        "registered_name": None,
    },
    "input_dim": 10,
    "output_dim": 4,
    "embeddings_initializer": {
        "module": "keras.initializers",
        "class_name": "RandomUniform",
        "config": {"seed": None, "minval": -0.05, "maxval": 0.05},
        "registered_name": None,
    },
    "embeddings_regularizer": None,
    "activity_regularizer": None,
    "embeddings_constraint": None,
    "mask_zero": False,
    "quantization_config": None,
}  # keras.layers.Embedding(10, 4).get_config(), Keras 3.15


def test_keras_config_round_trip():
    layer = layers.deserialize({"module": "keras.layers", "class_name": "Embedding", "config": KERAS_CONFIG})
    assert (layer.input_dim, layer.output_dim, layer.mask_zero) == (10, 4, False)
    init = layer.embeddings_initializer
    assert isinstance(init, cyneuron.initializers.RandomUniform) and (init.minval, init.maxval) == (-0.05, 0.05)
    config = layer.get_config()
    assert set(config) == set(KERAS_CONFIG)
    assert config["dtype"] == "float32" and config["embeddings_initializer"]["class_name"] == "RandomUniform"
    assert layers.deserialize(layers.serialize(layer)).get_config() == {**config, "name": config["name"]}
    default = Embedding(10, 4).get_config()
    assert default["embeddings_initializer"]["config"]["minval"] == -0.05
    assert default["embeddings_initializer"]["config"]["maxval"] == 0.05


def test_uniform_initializer_range_and_weights_argument():
    set_random_seed(0)
    model = Sequential([Input((2,), dtype="int64"), Embedding(300, 50)])
    table = model.layers[0].embeddings
    assert -0.05 <= table.min() < -0.049 and 0.049 < table.max() < 0.05
    given = np.arange(12, dtype=np.float64).reshape(4, 3)
    for weights in (given, [given]):
        model = Sequential([Input((2,), dtype="int64"), Embedding(4, 3, weights=weights), Flatten()])
        np.testing.assert_array_equal(model.layers[0].embeddings, given)
        np.testing.assert_array_equal(model.predict(np.array([[3, 0]])), [[9, 10, 11, 0, 1, 2]])
    with pytest.raises(ValueError, match="weights"):
        Embedding(4, 3, weights=np.zeros((3, 4)))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"input_dim": 0, "output_dim": 2}, ValueError, "input_dim"),
        ({"input_dim": 2.0, "output_dim": 2}, ValueError, "input_dim"),
        ({"input_dim": True, "output_dim": 2}, ValueError, "input_dim"),
        ({"input_dim": 3, "output_dim": -1}, ValueError, "output_dim"),
        ({"input_dim": 3, "output_dim": 2, "mask_zero": True}, ValueError, "mask_zero"),
        ({"input_dim": 3, "output_dim": 2, "mask_zero": "yes"}, TypeError, "mask_zero"),
        ({"input_dim": 3, "output_dim": 2, "embeddings_regularizer": "l3"}, ValueError, "embeddings_regularizer"),
        ({"input_dim": 3, "output_dim": 2, "embeddings_constraint": "non_neg"}, ValueError, "embeddings_constraint"),
        ({"input_dim": 3, "output_dim": 2, "lora_rank": 2}, ValueError, "lora_rank"),
        ({"input_dim": 3, "output_dim": 2, "embeddings_initializer": "nope"}, ValueError, "embeddings_initializer"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        Embedding(**kwargs)


def test_input_length_is_deprecated_and_ignored():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer = Embedding(5, 2, input_length=7)
    assert any("input_length" in str(w.message) for w in caught)
    assert "input_length" not in layer.get_config()
