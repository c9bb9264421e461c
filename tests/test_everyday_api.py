"""Everyday Keras calls: compile's full signature, to_json / model_from_json, clone_model,
compute_output_shape, Input(batch_size=), backend.clear_session."""

from __future__ import annotations

import json

import numpy as np
import pytest

import cyneuron
from cyneuron.layers import Conv2D, Dense, Flatten, Input
from cyneuron.models import Sequential, clone_model, model_from_json


def _model():
    return Sequential([Input(shape=(4, 4, 1), batch_size=8), Conv2D(2, 3), Flatten(), Dense(3, activation="softmax")])


def test_compile_takes_keras_arguments():
    model = _model()
    model.compile("adam", "sparse_categorical_crossentropy", None, ["accuracy"], None, True, 4, False, True)
    assert type(model.optimizer).__name__ == "Adam" and model.metrics_names == ["loss"]
    model.compile(loss="mse")
    assert type(model.optimizer).__name__ == "RMSprop"  # Keras' default
    with pytest.raises(ValueError, match="loss_weights"):
        model.compile(loss="mse", loss_weights=[0.5])
    with pytest.raises(ValueError, match="weighted_metrics"):
        model.compile(loss="mse", weighted_metrics="mae")  # as Keras: a list, tuple or dict
    with pytest.raises(ValueError, match="steps_per_execution"):
        model.compile(loss="mse", steps_per_execution=0)
    with pytest.raises(TypeError, match="run_eagerly"):
        model.compile(loss="mse", run_eagerly="yes")
    with pytest.raises(ValueError, match="jit_compile"):
        model.compile(loss="mse", jit_compile="xla")


def test_json_round_trip_and_clone():
    model = _model()
    text = model.to_json(indent=1)
    assert json.loads(text)["class_name"] == "Sequential"
    again = model_from_json(text)
    assert again.get_config()["layers"][1:] != [] and again.output_shape == model.output_shape
    clone = clone_model(model)
    assert [type(layer) for layer in clone.layers] == [type(layer) for layer in model.layers]
    assert not np.array_equal(clone.layers[0].kernel, model.layers[0].kernel)  # fresh weights, as Keras
    with pytest.raises(ValueError):
        model_from_json("{not json")
    with pytest.raises(ValueError):
        model_from_json(json.dumps({"class_name": "Functional"}))
    with pytest.raises(TypeError):
        clone_model("model")


def test_compute_output_shape_and_input_batch_size():
    model = _model()
    assert model.compute_output_shape((None, 4, 4, 1)) == (None, 3)
    x = np.zeros((5, 4, 4, 1), dtype="float32")  # the declared batch size is not enforced
    assert model.predict(x).shape == (5, 3)
    with pytest.raises(ValueError, match="batch_size"):
        Input(shape=(3,), batch_size=0)
    with pytest.raises(ValueError, match="sparse"):
        Input(shape=(3,), sparse=True)


def test_backend_clear_session_resets_names():
    cyneuron.backend.clear_session()
    assert Dense(2).name == "dense"
    assert Dense(2).name == "dense_1"


def test_train_on_batch_reports_each_batch_as_keras_3_15(backend):
    """Per call, not a running mean across calls (Keras 3.15: the same as test_on_batch on that batch)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3)).astype("float32")
    y = rng.integers(0, 2, 8)
    model = Sequential([Input((3,)), Dense(2, activation="softmax")])
    model.compile(
        optimizer=cyneuron.optimizers.SGD(1e-30), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    for part in (slice(0, 4), slice(4, 8)):
        np.testing.assert_allclose(model.train_on_batch(x[part], y[part]), model.test_on_batch(x[part], y[part]))


def test_initializers_keras_adds():
    # keras.initializers: get(None), Constant(array) broadcast, Identity(gain) for 2-D shapes only
    from cyneuron import initializers

    assert initializers.get(None) is None
    np.testing.assert_array_equal(initializers.Constant(np.arange(3))((2, 3)), [[0, 1, 2], [0, 1, 2]])
    restored = initializers.deserialize(initializers.serialize(initializers.Constant([1.0, 2.0])))
    np.testing.assert_array_equal(restored((2,)), [1.0, 2.0])
    np.testing.assert_array_equal(initializers.get("identity")((2, 3)), np.eye(2, 3))
    assert initializers.Identity(gain=2.0).get_config() == {"gain": 2.0}
    np.testing.assert_array_equal(initializers.IdentityInitializer(2.0)((2, 2)), 2 * np.eye(2))
    with pytest.raises(ValueError, match="2D matrices"):
        initializers.Identity()((2, 2, 2))
    with pytest.raises(ValueError, match="broadcast"):
        initializers.Constant([1.0, 2.0])((3,))
    layer = cyneuron.layers.Dense(2, kernel_initializer=None)  # Keras: glorot_uniform then
    Sequential([Input((3,)), layer])
    assert layer.kernel.shape == (3, 2) and layer.get_config()["kernel_initializer"] is None
