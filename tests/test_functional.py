"""Keras' functional API for chains of layers: ``Model(inputs, outputs)`` behaves as the Sequential of the
same layers, for every registered layer class, and graphs cyneuron cannot run are refused clearly."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import cyneuron
from cyneuron import KerasTensor, Model
from cyneuron._functional import Functional
from cyneuron.layers import Dense, Dropout, Input
from cyneuron.models import Sequential, clone_model, load_model, model_from_json
from cyneuron.utils import set_random_seed
from tests.test_layers_frontend import LAYER_EXAMPLES, _example_data


def _functional(name: str) -> Model:
    shape, stack = LAYER_EXAMPLES[name]()[:2]
    inputs = Input(shape)
    node = inputs
    for layer in [*stack, Dense(2, activation="softmax")]:
        node = layer(node)
    return Model(inputs, node)


def _as_sequential(model: Model) -> Sequential:
    twin = Sequential.from_config({k: v for k, v in model.get_config().items() if k in ("layers", "name")})
    twin.set_weights(model.get_weights())
    return twin


@pytest.mark.parametrize("name", sorted(set(LAYER_EXAMPLES) - {"InputLayer"}))
def test_a_chain_trains_and_predicts_as_its_sequential(name):
    set_random_seed(0)
    model = _functional(name)
    twin = _as_sequential(model)
    x, y = _example_data(name)
    np.testing.assert_array_equal(model.predict(x, verbose=0), twin.predict(x, verbose=0))
    for m in (model, twin):
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    set_random_seed(1)
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    set_random_seed(1)
    twin_history = twin.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    assert history == twin_history
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_the_keras_guide_model():
    inputs = cyneuron.Input(shape=(784,), name="digits")
    x = Dense(64, activation="relu", name="dense_1")(inputs)
    assert isinstance(x, KerasTensor) and x.shape == (None, 64) and x.dtype == "float32" and x.ndim == 2
    outputs = Dense(10, activation="softmax", name="predictions")(Dense(64, activation="relu", name="dense_2")(x))
    model = cyneuron.Model(inputs=inputs, outputs=outputs)
    assert model.name.startswith("functional")
    assert [layer.name for layer in model.layers] == ["digits", "dense_1", "dense_2", "predictions"]
    assert model.get_layer(index=0).name == "digits"
    assert model.inputs == [inputs] and model.input is inputs
    assert model.outputs == [outputs] and model.output is outputs
    assert model.input_shape == (None, 784) and model.output_shape == (None, 10)
    assert model.count_params() == 784 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["sparse_categorical_accuracy"])
    rng = np.random.default_rng(0)
    x_train, y_train = rng.random((64, 784), dtype=np.float32), rng.integers(0, 10, 64)
    history = model.fit(x_train, y_train, batch_size=16, epochs=2, validation_split=0.25, verbose=0)
    metric = "sparse_categorical_accuracy"
    assert set(history.history) == {"loss", metric, "val_loss", f"val_{metric}"}
    assert model.predict(x_train[:3], verbose=0).shape == (3, 10)


def test_every_sequential_is_a_model_as_in_keras():
    assert isinstance(Sequential([Dense(1)]), Model)
    assert issubclass(Sequential, Model)
    assert not isinstance(object(), Model)


def _trained() -> Model:
    set_random_seed(3)
    inputs = Input((5,), name="features")
    outputs = Dense(2, activation="softmax")(Dropout(0.2)(Dense(8, activation="relu")(inputs)))
    model = Model(inputs, outputs, name="chain")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.standard_normal((40, 5)), rng.integers(0, 2, 40), epochs=1, verbose=0)
    return model


def _check_equal(model: Model, other) -> None:
    assert type(other) is Functional and other.name == model.name
    assert [layer.name for layer in other.layers] == [layer.name for layer in model.layers]
    x = np.random.default_rng(1).standard_normal((6, 5)).astype("float32")
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("how", ["pickle", "deepcopy", "json", "clone", "cyneuron file", "keras file"])
def test_round_trips_keep_a_functional_model_functional(how, tmp_path):
    model = _trained()
    if how == "pickle":
        _check_equal(model, pickle.loads(pickle.dumps(model)))
    elif how == "deepcopy":
        _check_equal(model, copy.deepcopy(model))
    elif how == "json":
        rebuilt = model_from_json(model.to_json())
        assert type(rebuilt) is Functional and '"class_name": "Functional"' in model.to_json()
    elif how == "clone":
        assert type(clone_model(model)) is Functional
    elif how == "cyneuron file":
        model.save(tmp_path / "m.cyneuron")
        _check_equal(model, load_model(tmp_path / "m.cyneuron"))
    else:
        pytest.importorskip("h5py")
        model.save(tmp_path / "m.keras")
        loaded = load_model(tmp_path / "m.keras")
        _check_equal(model, loaded)
        assert loaded.optimizer_state()["iterations"] == model.optimizer_state()["iterations"]


def test_keras_functional_configs_that_are_not_chains_are_refused(tmp_path):
    pytest.importorskip("h5py")
    import json
    import zipfile

    model = _trained()
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(entries["config.json"])
    assert config["class_name"] == "Functional"
    # The last layer now reads the input layer: a branch, not a chain.
    node = config["config"]["layers"][-1]["inbound_nodes"][0]["args"][0]["config"]
    node["keras_history"][0] = "features"
    entries["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "branch.keras", "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match="unsupported functional model.*chains of layers"):
        load_model(tmp_path / "branch.keras")


def test_graphs_cyneuron_cannot_run_are_refused():
    inputs = Input((3,))
    shared = Dense(3)
    with pytest.raises(NotImplementedError, match="shared layers"):
        Model(inputs, shared(shared(inputs)))
    with pytest.raises(ValueError, match="not connected"):
        Model(inputs, Dense(2)(Input((3,))))
    with pytest.raises(NotImplementedError, match="one input and one output"):
        Model([inputs, Input((3,))], Dense(2)(inputs))
    with pytest.raises(TypeError, match="outputs"):
        Model(inputs, np.ones((2, 3)))
    with pytest.raises(ValueError, match="inputs and outputs"):
        Model(inputs=inputs)
    with pytest.raises(ValueError, match="Unrecognized keyword"):
        Model(inputs, Dense(2)(inputs), bogus=1)
    with pytest.raises(NotImplementedError, match="Subclassed models"):
        Model()

    class Custom(Model):
        def call(self, x):
            return x

    with pytest.raises(NotImplementedError, match="Subclassed models"):
        Custom()
    built = Dense(2)
    built(np.ones((1, 3), np.float32))
    with pytest.raises(ValueError, match="already built"):
        built(Input((5,)))


def test_a_functional_graph_is_fixed_and_symbolic_values_hold_no_data():
    inputs = Input((3,))
    output = Dense(2)(inputs)
    model = Model(inputs, output)
    with pytest.raises(AttributeError, match="no attribute 'add'"):
        model.add(Dense(1))
    with pytest.raises(AttributeError, match="no attribute 'pop'"):
        model.pop()
    with pytest.raises(TypeError, match="no values"):
        np.asarray(output)


def test_sequential_speaks_keras_about_its_graph_and_its_errors():
    # As keras/src/models/sequential_test.py: test_functional_properties, test_hasattr, test_errors
    model = Sequential(name="seq")
    assert not any(hasattr(model, name) for name in ("input_shape", "output_shape", "inputs", "outputs"))
    inputs = Input(shape=(2,), batch_size=3)
    model.add(inputs)
    model.add(Dense(4))
    assert model.inputs == [inputs]
    assert model.outputs == [model.layers[-1].output]
    assert model.input_shape == (None, 2) and model.output_shape == (None, 4)
    with pytest.raises(ValueError, match="already been configured"):
        model.add(Input(shape=(2,), batch_size=3))
    with pytest.raises(ValueError, match="already been configured"):
        model.build((3, 4))
    model.build((3, 2))
    named = Sequential([Dense(2, name="dense")])
    with pytest.raises(ValueError, match="should have unique names"):
        named.add(Dense(2, name="dense"))
    with pytest.raises(ValueError, match="Only instances of"):
        Sequential().add({})
    with pytest.raises(ValueError, match="no layers"):
        Sequential()(np.ones((3, 2)))
    with pytest.raises(AttributeError, match="never been called"):
        Dense(3).output  # noqa: B018
    with pytest.raises(NotImplementedError, match="model used as a layer"):
        model(Input((2,)))


def test_a_feature_extractor_from_a_sequential_predicts_its_intermediate_maps():
    # The Keras Sequential guide's feature extraction: a Model over part of a Sequential's chain.
    from cyneuron.layers import Conv2D

    model = Sequential([Input((12, 12, 3)), Conv2D(4, 3, activation="relu"), Conv2D(5, 3, name="mid"), Conv2D(2, 3)])
    extractor = Model(inputs=model.inputs, outputs=model.get_layer(name="mid").output)
    x = np.random.default_rng(0).random((3, 12, 12, 3), dtype=np.float32)
    features = extractor.predict(x, verbose=0)
    assert features.shape == (3, 8, 8, 5) == (3, *extractor.output_shape[1:])
    np.testing.assert_array_equal(extractor(x), features)
    np.testing.assert_array_equal(extractor.predict_on_batch(x), features)
    assert model.predict(x, batch_size=2, verbose=0).shape == (3, 6, 6, 2)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((3, 6, 6, 2)), verbose=0)  # per-position targets, as Keras
    np.testing.assert_allclose(model.evaluate(x, np.zeros((3, 6, 6, 2)), verbose=0), np.mean(model(x) ** 2), 1e-5)
