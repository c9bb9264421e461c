"""Saving and loading real cyneuron models, on both backends.

A loaded model must predict identically and, once compiled from the file, keep
training exactly as the model that was saved (same weights after more epochs,
momentum velocities included).
"""

from __future__ import annotations

import contextlib
import json
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cyneuron import config, saving
from cyneuron.layers import Activation, Dense, Flatten
from cyneuron.models import Sequential, load_model
from cyneuron.optimizers import SGD
from cyneuron.utils import set_random_seed


@pytest.fixture(params=["float32", "float64"])
def floatx(request):
    previous = config.floatx()
    config.set_floatx(request.param)
    yield request.param
    config.set_floatx(previous)


def classification_data(n=48, features=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(config.floatx())
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    return x, y % classes


def make_model(momentum=0.9, nesterov=False, seed=1):
    set_random_seed(seed)
    model = Sequential(
        [
            Dense(8, activation="relu", input_shape=(4,)),
            Dense(6, activation="tanh", use_bias=False),
            Activation("linear"),
            Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=SGD(learning_rate=0.1, momentum=momentum, nesterov=nesterov),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def same_weights(a, b):
    return len(a) == len(b) and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def same_optimizer_state(a, b):
    """Same step count, scalars and slots (per trained weight, per slot), exactly."""
    return (
        a["iterations"] == b["iterations"]
        and np.array_equal(a["scalars"], b["scalars"])
        and len(a["slots"]) == len(b["slots"])
        and all(same_weights(x, y) for x, y in zip(a["slots"], b["slots"], strict=True))
    )


def fit(model, x, y, epochs):
    return model.fit(x, y, epochs=epochs, batch_size=10, shuffle=False, verbose=0)


def test_round_trip_predicts_identically(backend, floatx, tmp_path):
    x, y = classification_data()
    model = make_model()
    fit(model, x, y, 2)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = load_model(path)
    assert loaded.built
    assert loaded.get_config() == model.get_config()
    assert loaded.get_compile_config() == model.get_compile_config()
    assert same_weights(loaded.get_weights(), model.get_weights())
    assert loaded.get_weights()[0].dtype == np.dtype(floatx)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


@pytest.mark.parametrize(("momentum", "nesterov"), [(0.0, False), (0.9, False), (0.8, True)])
def test_loaded_model_continues_training_exactly(backend, tmp_path, momentum, nesterov):
    x, y = classification_data()
    model = make_model(momentum=momentum, nesterov=nesterov)
    fit(model, x, y, 2)
    path = tmp_path / "ckpt"
    saving.save_model(model, path)
    loaded = saving.load_model(path)
    assert same_optimizer_state(loaded.optimizer_state(), model.optimizer_state())
    # SGD keeps one velocity ("momentum") per trained weight with momentum, none without
    slots = model.optimizer_state()["slots"]
    assert len(slots) == len(model.get_weights())
    assert all(len(per_weight) == (1 if momentum else 0) for per_weight in slots)

    assert loaded.optimizer.iterations == model.optimizer.iterations == 10
    assert loaded.optimizer.get_config() == model.optimizer.get_config()

    expected = fit(model, x, y, 3)
    got = fit(loaded, x, y, 3)
    assert same_weights(loaded.get_weights(), model.get_weights())
    assert got.history == expected.history
    assert same_optimizer_state(loaded.optimizer_state(), model.optimizer_state())


def test_momentum_state_matters_for_continued_training(backend, tmp_path):
    """Without the saved velocities the next epochs differ: the file's optimizer state is what makes them equal."""
    x, y = classification_data()
    model = make_model(momentum=0.9)
    fit(model, x, y, 2)
    model.save(tmp_path / "m")
    fresh = load_model(tmp_path / "m", compile=False)
    assert fresh.get_compile_config() is None
    fresh.compile_from_config(model.get_compile_config())
    fit(model, x, y, 1)
    fit(fresh, x, y, 1)
    assert not same_weights(fresh.get_weights(), model.get_weights())


def test_model_methods_and_load_model_reexport(backend, tmp_path):
    x, y = classification_data()
    model = make_model()
    fit(model, x, y, 1)
    model.save_weights(tmp_path / "w.weights.h5")
    other = make_model(seed=7)
    assert not same_weights(other.get_weights(), model.get_weights())
    other.load_weights(tmp_path / "w.weights.h5")
    assert same_weights(other.get_weights(), model.get_weights())
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "w.weights.h5", overwrite=False)


def test_load_weights_into_another_architecture_fails_cleanly(backend, tmp_path):
    model = make_model()
    model.save_weights(tmp_path / "w")
    set_random_seed(3)
    other = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(3, activation="softmax")])
    before = other.get_weights()
    with pytest.raises(ValueError, match="w: the file holds 5 weight arrays but the model has 4"):
        other.load_weights(tmp_path / "w")
    assert same_weights(other.get_weights(), before)
    wider = Sequential([Dense(8, input_shape=(5,)), Dense(6, use_bias=False), Dense(3)])
    with pytest.raises(ValueError, match=r"weight 0 has shape \(4, 8\) in the file but \(5, 8\)"):
        wider.load_weights(tmp_path / "w")


def test_uncompiled_unbuilt_and_flatten_models(backend, tmp_path):
    unbuilt = Sequential([Dense(4, activation="relu"), Dense(2)])
    unbuilt.save(tmp_path / "unbuilt")
    loaded = load_model(tmp_path / "unbuilt")
    assert not loaded.built
    assert loaded.get_config() == unbuilt.get_config()

    set_random_seed(0)
    images = Sequential([Flatten(input_shape=(3, 2)), Dense(4, activation="sigmoid")])
    images.save(tmp_path / "images")
    loaded = load_model(tmp_path / "images")
    x = np.random.default_rng(0).standard_normal((5, 3, 2)).astype(config.floatx())
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), images.predict(x, verbose=0))
    assert loaded.get_compile_config() is None


def edit_config(path, edit):
    with zipfile.ZipFile(path) as zf:
        entries = [(info.filename, zf.read(info)) for info in zf.infolist()]
    manifest = json.loads(entries[0][1])
    edit(manifest)
    entries[0] = ("config.json", json.dumps(manifest).encode())
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries:
            zf.writestr(name, data)


def test_unknown_layer_in_file(tmp_path):
    path = tmp_path / "m.cyneuron"  # cyneuron's own format (a .keras name writes Keras' when h5py is installed)
    make_model().save(path)
    edit_config(path, lambda m: m["model_config"]["layers"][1].update(class_name="Conv2D"))
    with pytest.raises(ValueError, match=r"m.cyneuron: invalid model configuration: .*Conv2D"):
        load_model(path)


@pytest.mark.parametrize(
    "edit",
    [
        lambda layers: layers[0]["config"].update(units=10**12),
        lambda layers: layers[0]["config"].update(input_shape=[10**6, 10**6]),
    ],
)
def test_forged_giant_layers_are_refused_before_allocation(tmp_path, edit):
    path = tmp_path / "m.cyneuron"
    make_model().save(path)
    edit_config(path, lambda m: edit(m["model_config"]["layers"]))
    with pytest.raises(ValueError, match="m.cyneuron: .*larger than|m.cyneuron: .*units="):
        load_model(path)


def test_loading_does_not_consume_the_global_random_generator(tmp_path):
    make_model().save(tmp_path / "m")
    set_random_seed(5)
    expected = config.random_generator().random(3)
    set_random_seed(5)
    load_model(tmp_path / "m")
    np.testing.assert_array_equal(config.random_generator().random(3), expected)


def test_file_records_dtype_and_versions(tmp_path, floatx):
    make_model().save(tmp_path / "m")
    with zipfile.ZipFile(tmp_path / "m") as zf:
        manifest = json.loads(zf.read("config.json"))
    import cyneuron

    assert manifest["dtype"] == floatx
    assert manifest["cyneuron_version"] == cyneuron.__version__
    assert manifest["compile_config"] is not None


JSON_VALUES = [None, True, 0, -1, 2**64, 1e308, float("nan"), "", "relu", "x" * 300, [], [None, 3], [-3], {}, [[[]]]]
JSON_VALUES += [{"class_name": "Dense"}, {"class_name": "Dense", "config": {}}, "float16", "float64", 3.5]


def json_paths(obj, prefix=()):
    if prefix:
        yield prefix
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from json_paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield from json_paths(value, (*prefix, index))


@pytest.fixture(scope="module")
def saved_manifest(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "base"
    model = make_model()
    fit(model, *classification_data(n=12), 1)
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        entries = [(info.filename, zf.read(info)) for info in zf.infolist()]
    manifest = json.loads(entries[0][1])
    return entries, manifest, sorted(json_paths(manifest), key=repr), model


@given(data=st.data())
def test_any_tampered_config_loads_or_raises_value_error(saved_manifest, tmp_path_factory, data):
    """Replace or delete values anywhere in config.json: loading gives a model or a ValueError, nothing else."""
    entries, manifest, paths, model = saved_manifest
    manifest = json.loads(json.dumps(manifest))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        target = manifest
        try:
            for key in path[:-1]:
                target = target[key]
            if data.draw(st.booleans()) and isinstance(target, dict):
                target.pop(path[-1], None)
            else:
                target[path[-1]] = data.draw(st.sampled_from(JSON_VALUES))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed this path
    file = tmp_path_factory.mktemp("tampered") / "m"
    with zipfile.ZipFile(file, "w") as zf:
        zf.writestr("config.json", json.dumps(manifest))
        for name, blob in entries[1:]:
            zf.writestr(name, blob)
    before = model.get_weights()
    for attempt in (
        lambda: load_model(file),
        lambda: load_model(file, compile=False),
        lambda: model.load_weights(file),
    ):
        with contextlib.suppress(ValueError):
            attempt()
    # The file's arrays are the model's own: whatever load_weights accepted, nothing else changed them.
    assert same_weights(model.get_weights(), before)


def test_version_1_file_still_loads_with_its_velocities(backend, tmp_path):
    """A cyneuron 0.1 file (format 1: no variable paths, one SGD velocity per weight) loads and resumes."""
    x, y = classification_data()
    model = make_model(momentum=0.9)
    fit(model, x, y, 2)
    path = tmp_path / "v2"
    model.save(path)
    old = tmp_path / "v1"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(old, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "config.json":
                manifest = json.loads(data)
                manifest["format_version"] = 1
                for entry in manifest["weights"] + manifest["optimizer"]:
                    entry.pop("path")
                manifest.pop("optimizer_scalars", None)
                data = json.dumps(manifest).encode()
            target.writestr(info, data)
    loaded = load_model(old)
    assert same_weights(loaded.get_weights(), model.get_weights())
    assert same_optimizer_state(loaded.optimizer_state(), model.optimizer_state())
    expected, got = fit(model, x, y, 1), fit(loaded, x, y, 1)
    assert same_weights(loaded.get_weights(), model.get_weights())
    assert got.history == expected.history
