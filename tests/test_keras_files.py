"""Keras 3 native files (.keras archives, .weights.h5): round trips, hand-built Keras files, refusals.

Interoperability with Keras itself is checked by bench/oracle/keras_files_vs_keras.py.
"""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

import cyneuron  # noqa: E402
from cyneuron import layers as L  # noqa: E402
from cyneuron import saving, saving_keras  # noqa: E402
from cyneuron.models import Sequential  # noqa: E402

RNG = np.random.default_rng(0)


def _train(model, x, y, optimizer="adam"):
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    return model


def _data(shape, n=16):
    return RNG.random((n, *shape), dtype=np.float32), np.eye(3, dtype=np.float32)[RNG.integers(0, 3, n)]


MODELS = {
    "dense": ((6,), lambda: [L.Dense(5, activation="relu"), L.LeakyReLU(), L.ELU(), L.Dense(3), L.Softmax()]),
    "cnn": (
        (8, 8, 2),
        lambda: [
            L.Conv2D(3, 3),
            L.BatchNormalization(),
            L.ReLU(),
            L.MaxPooling2D(),
            L.Flatten(),
            L.Dropout(0.2),
            L.Dense(3, activation="softmax"),
        ],
    ),
    "conv1d": ((6, 3), lambda: [L.Conv1D(4, 2), L.GlobalMaxPooling1D(), L.Dense(3, activation="softmax")]),
    "rnn": (
        (5, 3),
        lambda: [
            L.LSTM(4, return_sequences=True),
            L.GRU(3, return_sequences=True),
            L.SimpleRNN(3),
            L.Dense(3, activation="softmax"),
        ],
    ),
    "sequence": (
        (5, 3),
        lambda: [
            L.LSTM(4, return_sequences=True),
            L.TimeDistributed(L.Dense(3, activation="tanh")),
            L.Dense(2),
            L.Flatten(),
            L.Dense(3, activation="softmax"),
        ],
    ),
    "time_distributed": (
        (3, 6, 6, 1),
        lambda: [
            L.TimeDistributed(L.Conv2D(2, 3, activation="relu")),
            L.TimeDistributed(L.MaxPooling2D()),
            L.TimeDistributed(L.Flatten()),
            L.LSTM(4),
            L.Dense(3, activation="softmax"),
        ],
    ),
    "bidirectional": (
        (5, 3),
        lambda: [
            L.Bidirectional(L.LSTM(4, return_sequences=True)),
            L.Bidirectional(L.GRU(3), merge_mode="mul"),
            L.Dense(3, activation="softmax"),
        ],
    ),
}


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("optimizer", ["adam", "sgd", "nadam", "rmsprop"])
def test_keras_archive_round_trip(tmp_path, kind, optimizer):
    shape, make = MODELS[kind]
    x, y = _data(shape)
    model = _train(Sequential([L.Input(shape), *make()]), x, y, optimizer)
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        assert set(zf.namelist()) == {"metadata.json", "config.json", "model.weights.h5"}
        config = json.loads(zf.read("config.json"))
    assert config["class_name"] == "Sequential" and config["module"] == "keras"
    assert all(entry["module"] == "keras.layers" for entry in config["config"]["layers"])
    assert config["compile_config"]["optimizer"]["module"] == "keras.optimizers"
    loaded = saving.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    state, got = model.optimizer_state(), loaded.optimizer_state()
    assert got["iterations"] == state["iterations"]
    for a, b in zip(state["slots"], got["slots"]):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)
    np.testing.assert_allclose(got["scalars"], state["scalars"], rtol=1e-6)
    # Training continues identically.
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    if kind != "cnn":  # Dropout masks depend on the generator's history
        for a, b in zip(model.get_weights(), loaded.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_weights_h5_round_trip_and_content_detection(tmp_path):
    shape, make = MODELS["rnn"]
    x, _ = _data(shape)
    a, b = Sequential([L.Input(shape), *make()]), Sequential([L.Input(shape), *make()])
    a.save_weights(tmp_path / "w.weights.h5")
    with open(tmp_path / "w.weights.h5", "rb") as f:
        assert f.read(8) == saving_keras.HDF5_MAGIC
    os.replace(tmp_path / "w.weights.h5", tmp_path / "renamed.bin")
    b.load_weights(tmp_path / "renamed.bin")
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    # Weights of a .keras archive load too.
    c = Sequential([L.Input(shape), *make()])
    a.save(tmp_path / "m.keras")
    c.load_weights(tmp_path / "m.keras")
    np.testing.assert_array_equal(a.predict(x), c.predict(x))


def test_keras_archive_detected_by_content_and_native_format_stays(tmp_path):
    shape, make = MODELS["dense"]
    x, y = _data(shape)
    model = _train(Sequential([L.Input(shape), *make()]), x, y)
    model.save(tmp_path / "m.keras")
    os.replace(tmp_path / "m.keras", tmp_path / "model.bin")
    np.testing.assert_array_equal(saving.load_model(tmp_path / "model.bin").predict(x), model.predict(x))
    # Other names keep cyneuron's own format, and a cyneuron file named .keras still loads.
    model.save(tmp_path / "native.zip")
    with zipfile.ZipFile(tmp_path / "native.zip") as zf:
        assert "metadata.json" not in zf.namelist()
    os.replace(tmp_path / "native.zip", tmp_path / "native.keras")
    np.testing.assert_array_equal(saving.load_model(tmp_path / "native.keras").predict(x), model.predict(x))


def test_uncompiled_and_unbuilt(tmp_path):
    model = Sequential([L.Input((4,)), L.Dense(2)])
    model.save(tmp_path / "m.keras")
    loaded = saving.load_model(tmp_path / "m.keras")
    assert not loaded.compiled
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])


# --------------------------------------------------------------------------- hand-built Keras files
def _keras_dense_config(units=3, inputs=4, **extra_layer):
    layer = {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {
            "name": "dense",
            "trainable": True,
            "dtype": {
                "module": "keras",
                "class_name": "DTypePolicy",
                "config": {"name": "float32"},
                "registered_name": None,
                "shared_object_id": 1,
            },
            "units": units,
            "activation": "linear",
            "use_bias": True,
            "kernel_initializer": {
                "module": "keras.initializers",
                "class_name": "GlorotUniform",
                "config": {"seed": None, "input_axes": None, "output_axes": None},
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
            "quantization_config": None,
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, inputs]},
    }
    layer.update(extra_layer)
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "trainable": True,
            "dtype": {
                "module": "keras",
                "class_name": "DTypePolicy",
                "config": {"name": "float32"},
                "registered_name": None,
            },
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {
                        "batch_shape": [None, inputs],
                        "dtype": "float32",
                        "sparse": False,
                        "ragged": False,
                        "name": "input_layer",
                        "optional": False,
                    },
                    "registered_name": None,
                },
                layer,
            ],
            "build_input_shape": [None, inputs],
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, inputs]},
        "compile_config": {
            "optimizer": {
                "module": "keras.optimizers",
                "class_name": "SGD",
                "config": {
                    "name": "SGD",
                    "learning_rate": 0.1,
                    "weight_decay": None,
                    "clipnorm": None,
                    "global_clipnorm": None,
                    "clipvalue": None,
                    "use_ema": False,
                    "ema_momentum": 0.99,
                    "ema_overwrite_frequency": None,
                    "loss_scale_factor": None,
                    "gradient_accumulation_steps": None,
                    "momentum": 0.9,
                    "nesterov": False,
                },
                "registered_name": None,
            },
            "loss": "mean_squared_error",
            "loss_weights": None,
            "metrics": ["mae"],
            "weighted_metrics": None,
            "run_eagerly": False,
            "steps_per_execution": 1,
            "jit_compile": True,
        },
    }


def _h5(build) -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        build(f)
    return buffer.getvalue()


def _dense_h5(kernel, bias, momentum=None, iterations=7):
    def build(f):
        g = f.create_group("layers").create_group("dense").create_group("vars")
        g.attrs["name"] = "dense"
        g.create_dataset("0", data=kernel)
        g.create_dataset("1", data=bias)
        f.create_group("vars").attrs["name"] = "sequential"
        if momentum is not None:
            o = f.create_group("optimizer").create_group("vars")
            o.create_dataset("0", data=np.array(iterations, np.int32))
            o.create_dataset("1", data=np.array(0.1, np.float32))
            o.create_dataset("2", data=momentum[0])
            o.create_dataset("3", data=momentum[1])

    return _h5(build)


def _write_keras(path, config, h5_bytes, metadata=None):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps(metadata or {"keras_version": "3.15.1", "date_saved": "x"}))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", h5_bytes)


def test_hand_built_keras_file(tmp_path):
    kernel = RNG.standard_normal((4, 3)).astype(np.float32)
    bias = RNG.standard_normal(3).astype(np.float32)
    momentum = (RNG.standard_normal((4, 3)).astype(np.float32), RNG.standard_normal(3).astype(np.float32))
    path = tmp_path / "hand.keras"
    _write_keras(path, _keras_dense_config(), _dense_h5(kernel, bias, momentum))
    model = saving.load_model(path)
    x = RNG.random((5, 4), dtype=np.float32)
    np.testing.assert_allclose(model.predict(x), x @ kernel + bias, rtol=1e-6, atol=1e-6)
    state = model.optimizer_state()
    assert state["iterations"] == 7
    np.testing.assert_array_equal(state["slots"][0][0], momentum[0])
    np.testing.assert_array_equal(state["slots"][1][0], momentum[1])
    assert not saving.load_model(path, compile=False).compiled


def _refused(tmp_path, config, h5_bytes, match, name="bad.keras"):
    path = tmp_path / name
    _write_keras(path, config, h5_bytes)
    with pytest.raises(ValueError, match=match):
        saving.load_model(path)


def _good():
    return _dense_h5(np.zeros((4, 3), np.float32), np.zeros(3, np.float32))


def test_refuses_custom_and_unsupported_classes(tmp_path):
    config = _keras_dense_config()
    config["config"]["layers"][1]["registered_name"] = "my_package>MyDense"
    _refused(tmp_path, config, _good(), "MyDense")
    config = _keras_dense_config()
    config["config"]["layers"][1]["module"] = "my_package.layers"
    _refused(tmp_path, config, _good(), "my_package")
    config = _keras_dense_config()
    config["config"]["layers"][1]["class_name"] = "LayerNormalization"
    _refused(tmp_path, config, _good(), "LayerNormalization")
    config = _keras_dense_config()
    config["config"]["layers"][1]["class_name"] = "Lambda"
    _refused(tmp_path, config, _good(), "Lambda")
    config = _keras_dense_config()
    config["class_name"] = "Functional"
    _refused(tmp_path, config, _good(), "unsupported functional model")  # no input_layers: not a chain
    config = _keras_dense_config()
    config["compile_config"]["optimizer"]["class_name"] = "Ftrl"
    _refused(tmp_path, config, _good(), "Ftrl")
    config = _keras_dense_config()
    config["compile_config"]["loss"] = {
        "module": "builtins",
        "class_name": "function",
        "config": "my_loss",
        "registered_name": "function",
    }
    _refused(tmp_path, config, _good(), "function")


def test_refuses_forged_sizes_before_allocating(tmp_path):
    _refused(tmp_path, _keras_dense_config(units=10**12), _good(), "units")
    _refused(tmp_path, _keras_dense_config(inputs=10**11), _good(), "weight values|input shape")


def test_refuses_wrong_datasets(tmp_path):
    _refused(tmp_path, _keras_dense_config(), _dense_h5(np.zeros((5, 3), np.float32), np.zeros(3, np.float32)), "shape")
    _refused(tmp_path, _keras_dense_config(), _dense_h5(np.zeros((4, 3), np.int32), np.zeros(3, np.float32)), "dtype")

    def strings(f):
        g = f.create_group("layers").create_group("dense").create_group("vars")
        g.create_dataset("0", data=np.zeros((4, 3), np.float32))
        g.create_dataset("1", data=np.array([b"a", b"b", b"c"], dtype=object), dtype=h5py.string_dtype())

    _refused(tmp_path, _keras_dense_config(), _h5(strings), "dtype")

    def extra(f):
        g = f.create_group("layers").create_group("dense").create_group("vars")
        g.create_dataset("0", data=np.zeros((4, 3), np.float32))
        g.create_dataset("1", data=np.zeros(3, np.float32))
        f.create_group("layers/other/vars").create_dataset("0", data=np.zeros(3, np.float32))

    _refused(tmp_path, _keras_dense_config(), _h5(extra), "no layer")


def test_refuses_links_virtual_and_external(tmp_path):
    def external_link(f):
        g = f.create_group("layers").create_group("dense").create_group("vars")
        g["0"] = h5py.ExternalLink("/etc/passwd", "/x")
        g.create_dataset("1", data=np.zeros(3, np.float32))

    _refused(tmp_path, _keras_dense_config(), _h5(external_link), "ExternalLink")

    def soft_link(f):
        g = f.create_group("layers").create_group("dense").create_group("vars")
        g.create_dataset("1", data=np.zeros(3, np.float32))
        g["0"] = h5py.SoftLink("/layers/dense/vars/1")

    _refused(tmp_path, _keras_dense_config(), _h5(soft_link), "SoftLink")

    def virtual(f):
        g = f.create_group("layers").create_group("dense").create_group("vars")
        layout = h5py.VirtualLayout(shape=(4, 3), dtype="f4")
        layout[:] = h5py.VirtualSource("elsewhere.h5", "data", shape=(4, 3))
        g.create_virtual_dataset("0", layout, fillvalue=0)
        g.create_dataset("1", data=np.zeros(3, np.float32))

    _refused(tmp_path, _keras_dense_config(), _h5(virtual), "virtual")

    def external_storage(f):
        g = f.create_group("layers").create_group("dense").create_group("vars")
        g.create_dataset("0", shape=(4, 3), dtype="f4", external=[(str(tmp_path / "raw.bin"), 0, 48)])
        g.create_dataset("1", data=np.zeros(3, np.float32))

    _refused(tmp_path, _keras_dense_config(), _h5(external_storage), "external")


def test_corrupt_files_are_value_errors(tmp_path):
    path = tmp_path / "m.keras"
    Sequential([L.Input((4,)), L.Dense(3)]).save(path)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated.keras"):
        saving.load_model(truncated)
    _refused(tmp_path, _keras_dense_config(), b"\x89HDF\r\n\x1a\n" + b"\0" * 200, "bad.keras")
    _refused(tmp_path, _keras_dense_config(), _good()[:300], "bad.keras")
    path2 = tmp_path / "c.keras"
    with zipfile.ZipFile(path2, "w") as zf:
        zf.writestr("metadata.json", "{}")
        zf.writestr("config.json", "{not json")
        zf.writestr("model.weights.h5", _good())
    with pytest.raises(ValueError, match="c.keras.*JSON"):
        saving.load_model(path2)
    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\xff" * 100)
    with pytest.raises(ValueError, match="w.weights.h5"):
        Sequential([L.Input((4,)), L.Dense(3)]).load_weights(weights)


def test_load_weights_mismatch_leaves_model_untouched(tmp_path):
    a = Sequential([L.Input((4,)), L.Dense(3), L.Dense(2)])
    a.save_weights(tmp_path / "a.weights.h5")
    b = Sequential([L.Input((4,)), L.Dense(3), L.Dense(5)])
    before = b.get_weights()
    with pytest.raises(ValueError, match="shape"):
        b.load_weights(tmp_path / "a.weights.h5")
    for u, v in zip(before, b.get_weights()):
        np.testing.assert_array_equal(u, v)


def test_h5py_missing_message(monkeypatch, tmp_path):
    import builtins

    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == "h5py":
            raise ImportError("no h5py")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match=r"cyneuron\[keras\]"):
        saving_keras._h5py()
    # Without h5py a Keras file is still refused with a ValueError naming it (and an ImportError).
    path = tmp_path / "w.weights.h5"
    path.write_bytes(saving_keras.HDF5_MAGIC + bytes(100))
    with pytest.raises(ValueError, match="w.weights.h5.*h5py"):
        Sequential([L.Input((4,)), L.Dense(3)]).load_weights(path)
    # ... and saving to a Keras name falls back to cyneuron's own format, with a warning.
    model = Sequential([L.Input((4,)), L.Dense(3)])
    with pytest.warns(RuntimeWarning, match="h5py"):
        model.save(tmp_path / "m.keras")
    np.testing.assert_array_equal(saving.load_model(tmp_path / "m.keras").get_weights()[0], model.get_weights()[0])


def test_cyneuron_saving_imports_unchanged():
    assert cyneuron.saving.load_model is saving.load_model
    assert callable(saving.save_weights) and callable(saving.model_to_bytes)


def test_load_weights_skip_mismatch_keeps_the_layers_that_differ(tmp_path):
    # The Keras saving guide's transfer step: the same body, a new 5-unit head.
    from cyneuron.layers import Dense, Input
    from cyneuron.models import Sequential

    source = Sequential([Input((6,)), Dense(4, activation="relu", name="body"), Dense(10, name="head")])
    source.save_weights(tmp_path / "pretrained.weights.h5")
    target = Sequential([Input((6,)), Dense(4, activation="relu", name="body"), Dense(5, name="head")])
    head_before = [w.copy() for w in target.layers[1].get_weights()]
    with pytest.raises(ValueError):
        target.load_weights(tmp_path / "pretrained.weights.h5")
    with pytest.warns(UserWarning, match="skip_mismatch.*head"):
        target.load_weights(tmp_path / "pretrained.weights.h5", skip_mismatch=True)
    for a, b in zip(target.layers[0].get_weights(), source.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(target.layers[1].get_weights(), head_before):
        np.testing.assert_array_equal(a, b)
    target.save(tmp_path / "m.cyneuron")
    with pytest.raises(ValueError, match="skip_mismatch"):
        target.load_weights(tmp_path / "m.cyneuron", skip_mismatch=True)


def test_a_normalization_with_a_given_mean_has_no_variables_in_keras_files(tmp_path):
    # Keras keeps Normalization(mean=..., variance=...) in the config only; its files hold no variables.
    model = Sequential([L.Input((3,)), L.Normalization(mean=[1, 2, 3], variance=[1, 4, 9]), L.Dense(2)])
    x = np.ones((2, 3), np.float32)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as f:
        assert len(f["layers/normalization/vars"]) == 0
    loaded = cyneuron.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x))
    model.save_weights(tmp_path / "m.weights.h5")
    model.load_weights(tmp_path / "m.weights.h5")
