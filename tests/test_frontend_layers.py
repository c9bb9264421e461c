"""Front-end layers: construction, naming, building, weights, direct calls, config round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cyneuron import activations, initializers, layers
from cyneuron.layers import Activation, Dense, Flatten, Input, InputLayer


def test_dense_defaults_match_keras():
    dense = Dense(4)
    assert dense.units == 4
    assert dense.activation is activations.linear
    assert dense.use_bias is True
    assert isinstance(dense.kernel_initializer, initializers.GlorotUniform)
    assert isinstance(dense.bias_initializer, initializers.Zeros)
    assert not dense.built and dense.kernel is None and dense.bias is None
    assert dense.get_weights() == [] and dense.trainable_weights == []


def test_clear_session_resets_names():
    from cyneuron.utils import clear_session

    clear_session()
    assert [Dense(1).name, Dense(1).name, Flatten().name] == ["dense", "dense_1", "flatten"]


def test_automatic_names_are_unique_like_keras():
    first, second = Dense(1), Dense(1)
    assert first.name.startswith("dense") and second.name.startswith("dense_")
    assert first.name != second.name
    assert Flatten().name.startswith("flatten")
    assert Activation("relu").name.startswith("activation")
    assert Dense(2, name="head").name == "head"


def test_dense_build_creates_keras_shaped_weights():
    dense = Dense(5, activation="relu", input_shape=(3,))
    dense.build((None, 3))
    assert dense.built
    assert dense.kernel.shape == (3, 5) and dense.bias.shape == (5,)
    assert dense.kernel.dtype == np.float32 and dense.kernel.flags.c_contiguous
    assert np.all(dense.bias == 0)
    assert dense.count_params() == 20
    assert dense.output_shape == (None, 5)
    assert [w.shape for w in dense.get_weights()] == [(3, 5), (5,)]
    assert dense.trainable_weights[0] is dense.kernel  # live arrays, not copies
    assert dense.get_weights()[0] is not dense.kernel


def test_dense_without_bias():
    dense = Dense(2, use_bias=False)
    dense.build((None, 4))
    assert dense.bias is None and len(dense.get_weights()) == 1 and dense.count_params() == 8


def test_dense_set_weights_copies_in_place():
    dense = Dense(2)
    dense.build((None, 3))
    kernel, bias = dense.kernel, dense.bias
    new = [np.arange(6.0).reshape(3, 2), np.array([1.0, -1.0])]
    dense.set_weights(new)
    assert dense.kernel is kernel and dense.bias is bias
    np.testing.assert_array_equal(dense.kernel, new[0])
    with pytest.raises(ValueError, match=r"\[0\]: expected shape \(3, 2\), got \(2, 3\)"):
        dense.set_weights([np.zeros((2, 3)), np.zeros(2)])
    with pytest.raises(ValueError, match="expected 2 arrays, got 1"):
        dense.set_weights([np.zeros((3, 2))])
    np.testing.assert_array_equal(dense.kernel, new[0])  # nothing changed by the failed calls


def test_dense_call_on_arrays(backend):
    dense = Dense(2, activation="relu", kernel_initializer="ones", bias_initializer="ones")
    out = dense(np.array([[1.0, -2.0, 0.5], [-3.0, 0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.5, 0.5], [0.0, 0.0]])
    assert dense.kernel.shape == (3, 2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"units": 0}, ValueError, "units"),
        ({"units": 2.5}, ValueError, "units"),
        ({"units": True}, ValueError, "units"),
        ({"units": 2, "activation": "gelus"}, ValueError, "gelus"),
        ({"units": 2, "activation": "glu"}, ValueError, "glu"),  # a function only: it halves the width
        ({"units": 2, "kernel_initializer": "bogus"}, ValueError, "bogus"),
        ({"units": 2, "use_bias": "no"}, TypeError, "use_bias"),
        ({"units": 2, "dtype": "int32"}, ValueError, "dtype"),
        ({"units": 2, "input_shape": (0,)}, ValueError, "input_shape"),
        ({"units": 2, "input_dim": 3, "input_shape": (3,)}, ValueError, "input_dim"),
    ],
)
def test_dense_argument_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        Dense(**kwargs)


def test_dense_on_rank3_input_acts_on_the_last_axis():
    dense = Dense(2)
    dense.build((None, 3, 4))
    assert dense.kernel.shape == (4, 2)
    assert dense.compute_output_shape((None, 3, 4)) == (None, 3, 2)


def test_flatten_and_activation_layers(backend):
    flatten = Flatten()
    assert flatten(np.zeros((2, 3, 4))).shape == (2, 12)
    assert flatten.compute_output_shape((None, 3, 4)) == (None, 12)
    act = Activation("softmax")
    np.testing.assert_allclose(act(np.zeros((1, 4))), np.full((1, 4), 0.25))
    assert act.get_weights() == []


def test_input_layer():
    inp = Input(shape=(28, 28))
    assert isinstance(inp, InputLayer)
    assert inp.shape == (None, 28, 28)
    assert Input(batch_shape=(None, 5)).shape == (None, 5)
    fixed = Input(batch_shape=(32, 5))  # as Keras: recorded (config, messages), not enforced
    assert fixed.shape == (None, 5) and fixed.batch_shape == (32, 5) and fixed.get_config()["batch_shape"] == [32, 5]
    assert Input(shape=(5,), batch_size=32).batch_shape == (32, 5)
    with pytest.raises(ValueError, match="batch size"):
        Input(batch_shape=(0, 5))
    with pytest.raises(ValueError):
        Input()


@pytest.mark.parametrize(
    "layer",
    [
        Dense(3, activation="tanh", use_bias=False, kernel_initializer=initializers.HeNormal(seed=2), name="d"),
        Activation("sigmoid", name="act"),
        Flatten(name="flat"),
        InputLayer(shape=(4, 2), name="inp", dtype="float64"),
    ],
    ids=["dense", "activation", "flatten", "input"],
)
def test_layer_config_round_trip(layer):
    entry = layers.serialize(layer)
    entry = json.loads(json.dumps(entry))  # must be JSON-able
    again = layers.deserialize(entry)
    assert type(again) is type(layer)
    assert again.get_config() == layer.get_config()


def test_dense_config_contents():
    config = Dense(4, activation="relu", name="hidden").get_config()
    assert config["units"] == 4 and config["activation"] == "relu" and config["use_bias"] is True
    assert config["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert config["bias_initializer"] == {"class_name": "Zeros", "config": {}}
    assert config["name"] == "hidden" and config["dtype"] == "float32"


def test_deserialize_accepts_keras_configs_and_rejects_unknown():
    keras_dense = {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {
            "name": "dense",
            "trainable": True,
            "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}},
            "units": 2,
            "activation": "softmax",
            "use_bias": True,
            "kernel_initializer": {
                "module": "keras.initializers",
                "class_name": "GlorotUniform",
                "config": {"seed": None},
                "registered_name": None,
            },
            "bias_initializer": {
                "module": "keras.initializers",
                "class_name": "Zeros",
                "config": {},
                "registered_name": None,
            },
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        },
        "registered_name": None,
    }
    dense = layers.deserialize(keras_dense)
    assert dense.units == 2 and dense.activation is activations.softmax
    with pytest.raises(ValueError, match="Conv3D.*Dense"):
        layers.deserialize({"class_name": "Conv3D", "config": {}})
    with pytest.raises(ValueError, match="kernel_constraint"):
        layers.deserialize({"class_name": "Dense", "config": {"units": 2, "kernel_constraint": "non_neg"}})


def test_freezing_keeps_the_frozen_layers_weights_through_fit(backend):
    """trainable=False (now supported) freezes a layer: fit leaves its weights untouched, trains the rest."""
    from cyneuron import Sequential
    from cyneuron.optimizers import SGD

    dense = Dense(2)
    dense.trainable = True
    assert dense.trainable is True
    frozen, head = Dense(4, activation="tanh", input_shape=(3,)), Dense(2)
    frozen.trainable = False
    assert frozen.trainable is False and frozen.get_config()["trainable"] is False
    model = Sequential([frozen, head])
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 2
    model.compile(optimizer=SGD(0.1, momentum=0.9), loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 3)), rng.normal(size=(32, 2))
    frozen_before, head_before = frozen.get_weights(), head.get_weights()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    for before, after in zip(frozen_before, frozen.get_weights(), strict=True):
        np.testing.assert_array_equal(after, before)
    assert all(not np.array_equal(b, a) for b, a in zip(head_before, head.get_weights(), strict=True))
    # unfreezing trains it again
    frozen.trainable = True
    model.compile(optimizer=SGD(0.1), loss="mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert all(not np.array_equal(b, a) for b, a in zip(frozen_before, frozen.get_weights(), strict=True))
