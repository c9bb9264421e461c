"""The cyneuron file format on its own: round trips, hostile files and atomic writes.

These tests use a small stand-in model implementing the front end's contract
(get_config / from_config / get_weights / set_weights / weight paths / optimizer state), so
that every failure here is the file format's; tests with real models are in
test_saving_models.py.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import pickle
import stat
import struct
import sys
import types
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cyneuron import saving


# ------------------------------------------------------------------------------- stand-in model
class FakeModel:
    """Dense stack with the front end's save/load contract; weights are plain arrays."""

    def __init__(self, sizes=(3, 4, 2), dtype="float32", built=True, seed=0):
        rng = np.random.default_rng(seed)
        self.sizes = list(sizes)
        self.dtype = dtype
        self.built = built
        self._weights = []
        if built:
            for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=False):
                self._weights += [rng.standard_normal((a, b)).astype(dtype), rng.standard_normal(b).astype(dtype)]
        self._compile_config = None
        self._optimizer = None  # {"iterations", "slots", "scalars"} once compiled, as Sequential's
        self.stop_training = False

    def get_config(self):
        layers = []
        for i, units in enumerate(self.sizes[1:]):
            config = {"units": units, "dtype": self.dtype}
            if i == 0 and self.built:
                config["batch_shape"] = [None, self.sizes[0]]
            layers.append({"class_name": "Dense", "config": config})
        return {"name": "fake", "layers": layers, "input_dim": self.sizes[0]}

    @classmethod
    def from_config(cls, config):
        for layer in config["layers"]:
            if layer["class_name"] != "Dense":
                raise ValueError(f"Unknown layer: {layer['class_name']!r}")
        first = config["layers"][0]["config"]
        built = "batch_shape" in first
        sizes = [config["input_dim"]] + [layer["config"]["units"] for layer in config["layers"]]
        return cls(sizes, first["dtype"], built, seed=12345)

    def get_compile_config(self):
        return self._compile_config

    def compile_from_config(self, config):
        self._compile_config = config
        # fresh slots, as compiling a real model with a new optimizer
        slots = [[np.zeros_like(w) for _ in self.optimizer_slot_specs()] for w in self._weights]
        self._optimizer = {"iterations": 0, "slots": slots, "scalars": np.zeros(0)}

    def get_weights(self):
        return [w.copy() for w in self._weights]

    def set_weights(self, weights):
        if len(weights) != len(self._weights) or any(
            np.shape(a) != b.shape for a, b in zip(weights, self._weights, strict=True)
        ):
            raise ValueError("set_weights: wrong count or shapes")
        self._weights = [np.array(w, dtype=self.dtype) for w in weights]

    def weight_paths(self):
        names = [f"dense_{i}" if i else "dense" for i in range(len(self.sizes) - 1)]
        return [f"{name}/{weight}" for name in names for weight in ("kernel", "bias")][: len(self._weights)]

    def trained_weight_paths(self):
        return self.weight_paths()

    def optimizer_slot_specs(self):
        # SGD: one "momentum" slot per weight when it has momentum, none otherwise
        config = (self._compile_config or {}).get("optimizer", {}).get("config", {})
        return (("momentum", 0.0),) if config.get("momentum", 0.0) else ()

    def optimizer_scalar_specs(self):
        return ()

    def optimizer_state(self):
        if self._optimizer is None or not self.built:
            return None
        state = self._optimizer
        return {
            "iterations": state["iterations"],
            "slots": [[v.copy() for v in per_weight] for per_weight in state["slots"]],
            "scalars": state["scalars"].copy(),
        }

    def set_optimizer_state(self, state):
        self._optimizer = {
            "iterations": int(state["iterations"]),
            "slots": [[np.array(v) for v in per_weight] for per_weight in state["slots"]],
            "scalars": np.array(state["scalars"], dtype=np.float64),
        }


@pytest.fixture
def fake_models(monkeypatch):
    """Make ``cyneuron.models.Sequential`` the stand-in while the test runs."""
    module = types.ModuleType("cyneuron.models")
    module.Sequential = FakeModel
    module.model_from_config = FakeModel.from_config
    monkeypatch.setitem(sys.modules, "cyneuron.models", module)
    return module


def compiled_model(seed=0, dtype="float32"):
    model = FakeModel(seed=seed, dtype=dtype)
    model.compile_from_config({"optimizer": {"class_name": "SGD", "config": {"learning_rate": 0.1, "momentum": 0.9}}})
    rng = np.random.default_rng(seed + 1)
    velocities = [[rng.standard_normal(w.shape).astype(dtype)] for w in model._weights]
    model.set_optimizer_state({"iterations": 7, "slots": velocities, "scalars": np.zeros(0)})
    return model


def flat_slots(state):
    return [slot for per_weight in state["slots"] for slot in per_weight]


def same_arrays(a, b):
    return len(a) == len(b) and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b, strict=True))


# ------------------------------------------------------------------------------- zip surgery helpers
def read_entries(path):
    with zipfile.ZipFile(path) as zf:
        return [(info.filename, zf.read(info)) for info in zf.infolist()]


def write_entries(path, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in entries:
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, compress_type=compression)


def edit_manifest(path, edit):
    entries = read_entries(path)
    out = []
    for name, data in entries:
        if name == "config.json":
            manifest = json.loads(data)
            edit(manifest)
            data = json.dumps(manifest).encode()
        out.append((name, data))
    write_entries(path, out)


def replace_entry(path, target, data):
    write_entries(path, [(name, data if name == target else old) for name, old in read_entries(path)])


def npy_bytes(array, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def central_directory_offsets(blob):
    """Offsets of every central-directory record in a zip held in ``blob``."""
    offsets, start = [], 0
    while (found := blob.find(b"PK\x01\x02", start)) != -1:
        offsets.append(found)
        start = found + 4
    return offsets


@pytest.fixture
def saved(tmp_path, fake_models):
    model = compiled_model()
    path = tmp_path / "model.cyn"
    saving.save_model(model, path)
    return model, path


@pytest.fixture
def saved_weights(tmp_path):
    model = FakeModel(seed=3)
    path = tmp_path / "weights.bin"
    saving.save_weights(model, path)
    return model, path


# ------------------------------------------------------------------------------- round trips
def test_model_round_trip_restores_config_weights_compile_and_optimizer(saved):
    model, path = saved
    loaded = saving.load_model(path)
    assert isinstance(loaded, FakeModel)
    assert loaded.get_config() == model.get_config()
    assert same_arrays(loaded.get_weights(), model.get_weights())
    assert loaded.get_compile_config() == model.get_compile_config()
    assert same_arrays(flat_slots(loaded.optimizer_state()), flat_slots(model.optimizer_state()))
    assert len(flat_slots(loaded.optimizer_state())) == 4
    assert loaded.optimizer_state()["iterations"] == model.optimizer_state()["iterations"] == 7


def test_model_file_layout_is_plain_json_and_npy(saved):
    _, path = saved
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("config.json"))
        first = np.load(io.BytesIO(zf.read("weights/000.npy")), allow_pickle=False)
        assert all(info.compress_type == zipfile.ZIP_STORED for info in zf.infolist())
    assert names == ["config.json"] + [f"weights/{i:03d}.npy" for i in range(4)] + [
        f"optimizer/{i:03d}.npy" for i in range(4)
    ]
    assert manifest["format"] == "cyneuron.model"
    assert manifest["format_version"] == saving.FORMAT_VERSION == 2
    assert manifest["dtype"] == "float32"
    assert isinstance(manifest["cyneuron_version"], str)
    assert manifest["weights"][0] == {"shape": [3, 4], "dtype": "float32", "path": "dense/kernel"}
    assert [w["path"] for w in manifest["weights"]] == ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]
    assert manifest["optimizer"][0] == {"shape": [3, 4], "dtype": "float32", "path": "dense/kernel/momentum"}
    assert [o["path"] for o in manifest["optimizer"]] == [w["path"] + "/momentum" for w in manifest["weights"]]
    assert manifest["optimizer_iterations"] == 7
    assert "optimizer_scalars" not in manifest  # SGD has none
    assert first.shape == (3, 4)


def test_compile_false_skips_compile_and_optimizer_state(saved):
    _, path = saved
    loaded = saving.load_model(path, compile=False)
    assert loaded.get_compile_config() is None
    assert loaded.optimizer_state() is None


def test_uncompiled_and_unbuilt_models_round_trip(tmp_path, fake_models):
    uncompiled = FakeModel(seed=4)
    saving.save_model(uncompiled, tmp_path / "a")
    loaded = saving.load_model(tmp_path / "a")
    assert loaded.get_compile_config() is None
    assert same_arrays(loaded.get_weights(), uncompiled.get_weights())

    unbuilt = FakeModel(built=False)
    saving.save_model(unbuilt, tmp_path / "b")
    loaded = saving.load_model(tmp_path / "b")
    assert not loaded.built
    assert loaded.get_weights() == []


def test_float64_round_trip(tmp_path, fake_models):
    model = compiled_model(dtype="float64")
    saving.save_model(model, str(tmp_path / "m64"))
    loaded = saving.load_model(str(tmp_path / "m64"))
    assert loaded.get_weights()[0].dtype == np.float64
    assert same_arrays(loaded.get_weights(), model.get_weights())


def test_saving_is_deterministic(tmp_path, fake_models):
    model = compiled_model()
    saving.save_model(model, tmp_path / "one")
    saving.save_model(model, tmp_path / "two")
    assert (tmp_path / "one").read_bytes() == (tmp_path / "two").read_bytes()


def test_weights_round_trip_and_from_model_file(saved, saved_weights):
    source, weights_path = saved_weights
    target = FakeModel(seed=9)
    saving.load_weights(target, weights_path)
    assert same_arrays(target.get_weights(), source.get_weights())
    model, model_path = saved
    saving.load_weights(target, model_path)  # a full model file holds weights too
    assert same_arrays(target.get_weights(), model.get_weights())
    with zipfile.ZipFile(weights_path) as zf:
        assert json.loads(zf.read("config.json"))["format"] == "cyneuron.weights"
        assert not any(name.startswith("optimizer/") for name in zf.namelist())


def test_load_weights_casts_to_the_model_dtype(saved_weights):
    source, path = saved_weights
    target = FakeModel(seed=1, dtype="float64")
    saving.load_weights(target, path)
    assert target.get_weights()[0].dtype == np.float64
    np.testing.assert_array_equal(target.get_weights()[0], source.get_weights()[0].astype(np.float64))


def test_weights_file_is_not_a_model(saved_weights, fake_models):
    _, path = saved_weights
    with pytest.raises(ValueError, match="weights-only file"):
        saving.load_model(path)


def test_unbuilt_model_cannot_save_or_load_weights(saved_weights, tmp_path):
    _, path = saved_weights
    with pytest.raises(ValueError, match="not built"):
        saving.save_weights(FakeModel(built=False), tmp_path / "w")
    with pytest.raises(ValueError, match="not built"):
        saving.load_weights(FakeModel(built=False), path)


def test_load_weights_rejects_another_architecture_and_leaves_model_untouched(saved_weights):
    _, path = saved_weights
    for sizes in [(3, 5, 2), (3, 4, 2, 2), (4, 4, 2)]:
        other = FakeModel(sizes=sizes, seed=2)
        before = other.get_weights()
        with pytest.raises(ValueError, match=str(path.name)):
            saving.load_weights(other, path)
        assert same_arrays(other.get_weights(), before)


def test_paths_str_and_pathlike_with_any_extension(tmp_path, fake_models):
    model = FakeModel()
    # (A .keras name writes Keras' own format when h5py is installed: tests/test_keras_files.py.)
    for name in ["m.cyneuron", "m.weights.h5", "noext", "m.tar.gz"]:
        saving.save_model(model, tmp_path / name)
        saving.load_model(str(tmp_path / name))
    with pytest.raises(TypeError, match="filepath"):
        saving.save_model(model, 42)
    with pytest.raises(ValueError, match="custom_objects"):
        saving.load_model(tmp_path / "noext", custom_objects={"x": object})


# ------------------------------------------------------------------------------- unreadable files
def test_missing_file_and_directory(tmp_path, fake_models):
    with pytest.raises(FileNotFoundError, match="nope"):
        saving.load_model(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="nope"):
        saving.load_weights(FakeModel(), tmp_path / "nope")
    with pytest.raises(IsADirectoryError):
        saving.load_model(tmp_path)
    with pytest.raises(IsADirectoryError):
        saving.save_model(FakeModel(), tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        saving.save_model(FakeModel(), tmp_path / "no" / "such" / "folder" / "m")


@pytest.mark.parametrize("content", [b"", b"hello world", b"\x89HDF\r\n\x1a\n" + bytes(200), b"PK\x03\x04" + bytes(60)])
def test_not_a_zip(tmp_path, fake_models, content):
    path = tmp_path / "junk.keras"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="junk.keras"):
        saving.load_model(path)
    with pytest.raises(ValueError, match="junk.keras"):
        saving.load_weights(FakeModel(), path)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
def test_truncated_file(saved, fraction):
    _, path = saved
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ValueError, match=path.name):
        saving.load_model(path)


def test_truncated_by_one_byte(saved):
    _, path = saved
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match=path.name):
        saving.load_model(path)


def test_foreign_zip_files(tmp_path, fake_models):
    path = tmp_path / "foreign.zip"
    write_entries(path, [("hello.txt", b"hi")])
    with pytest.raises(ValueError, match="unexpected entry 'hello.txt'"):
        saving.load_model(path)
    write_entries(path, [])
    with pytest.raises(ValueError, match="no config.json"):
        saving.load_model(path)
    for manifest, message in [
        (b"[1, 2]", "not a JSON object"),
        (b"not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (json.dumps({"format": "keras"}).encode(), "not a cyneuron file"),
        (json.dumps({"format": "cyneuron.model"}).encode(), "format_version"),
        (b"[" * 100000 + b"]" * 100000, "JSON"),
    ]:
        write_entries(path, [("config.json", manifest)])
        with pytest.raises(ValueError, match=message):
            saving.load_model(path)


def test_newer_format_version_asks_to_upgrade(saved):
    _, path = saved
    edit_manifest(path, lambda m: m.update(format_version=99))
    with pytest.raises(ValueError, match="upgrade cyneuron"):
        saving.load_model(path)


def test_bad_crc_is_reported_and_model_untouched(saved):
    model, path = saved
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("weights/003.npy")
    # Local header: 30 fixed bytes + name + extra field; then the entry's data.
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    data_start = info.header_offset + 30 + name_len + extra_len
    data[data_start + info.file_size - 1] ^= 0x55  # last byte of the last array
    path.write_bytes(bytes(data))
    target = FakeModel(seed=7)
    before = target.get_weights()
    with pytest.raises(ValueError, match="corrupted.*CRC"):
        saving.load_weights(target, path)
    assert same_arrays(target.get_weights(), before)


# ------------------------------------------------------------------------------- hostile entries
@pytest.mark.parametrize(
    "name", ["../x", "../../etc/passwd", "/abs/weights/000.npy", "weights\\000.npy", "weights/../../x.npy", "weights/"]
)
def test_entry_names_outside_the_format_are_refused(saved, name):
    _, path = saved
    before = sorted(os.listdir(path.parent))
    entries = read_entries(path) + [(name, b"x")]
    write_entries(path, entries)
    with pytest.raises(ValueError, match="unexpected entry"):
        saving.load_model(path)
    assert sorted(os.listdir(path.parent)) == before


def test_renamed_weight_entry_is_refused(saved):
    _, path = saved
    entries = [("weights/../weights/000.npy" if n == "weights/000.npy" else n, d) for n, d in read_entries(path)]
    write_entries(path, entries)
    with pytest.raises(ValueError, match="unexpected entry"):
        saving.load_model(path)


def test_missing_and_extra_entries(saved):
    _, path = saved
    entries = read_entries(path)
    write_entries(path, [(n, d) for n, d in entries if n != "weights/002.npy"])
    with pytest.raises(ValueError, match="missing entries weights/002.npy"):
        saving.load_model(path)
    write_entries(path, entries + [("weights/004.npy", entries[1][1])])
    with pytest.raises(ValueError, match="unexpected entries weights/004.npy"):
        saving.load_model(path)
    write_entries(path, [(n, d) for n, d in entries if not n.startswith("optimizer/")])
    with pytest.raises(ValueError, match="missing entries optimizer/000.npy"):
        saving.load_model(path)


def test_duplicate_entry(saved):
    _, path = saved
    entries = read_entries(path)
    with pytest.warns(UserWarning, match="Duplicate name"):
        write_entries(path, entries + [entries[1]])
    with pytest.raises(ValueError, match="duplicate entry"):
        saving.load_model(path)


def test_wrong_shape_in_npy_entry(saved):
    _, path = saved
    replace_entry(path, "weights/000.npy", npy_bytes(np.zeros((4, 3), np.float32)))
    with pytest.raises(ValueError, match=r"shape \(4, 3\), expected \(3, 4\)"):
        saving.load_model(path)


def test_manifest_shape_not_matching_the_model(saved):
    _, path = saved
    replace_entry(path, "weights/001.npy", npy_bytes(np.zeros(5, np.float32)))
    edit_manifest(path, lambda m: m["weights"][1].update(shape=[5]))
    edit_manifest(path, lambda m: m["optimizer"][1].update(shape=[5]))
    replace_entry(path, "optimizer/001.npy", npy_bytes(np.zeros(5, np.float32)))
    with pytest.raises(ValueError, match=r"weight 1 has shape \(5,\) in the file but \(4,\) in the model"):
        saving.load_model(path)


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.float16, ">f4", np.complex64])
def test_wrong_dtype_in_npy_entry(saved, dtype):
    _, path = saved
    replace_entry(path, "weights/001.npy", npy_bytes(np.zeros(4, dtype)))
    with pytest.raises(ValueError, match="dtype"):
        saving.load_model(path)


@pytest.mark.parametrize("dtype", ["int32", "float16", "object", None, 3])
def test_manifest_dtype_must_be_float32_or_float64(saved, dtype):
    _, path = saved
    edit_manifest(path, lambda m: m.update(dtype=dtype))
    with pytest.raises(ValueError, match="dtype"):
        saving.load_model(path)


@pytest.mark.parametrize("shape", [[-1, 4], [3.0, 4], "34", [True], None, [2**62, 2**62]])
def test_manifest_shapes_are_validated(saved, shape):
    _, path = saved
    edit_manifest(path, lambda m: m["weights"][0].update(shape=shape))
    with pytest.raises(ValueError, match=r"shape|declares"):
        saving.load_model(path)


def test_object_npy_entry_is_refused_without_unpickling(saved, monkeypatch):
    _, path = saved
    payload = np.array([{"a": 1}, None, 3, 4], dtype=object)
    replace_entry(path, "weights/001.npy", npy_bytes(payload, allow_pickle=True))

    def no_unpickling(*args, **kwargs):
        raise AssertionError("something tried to unpickle")

    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    with pytest.raises(ValueError, match="dtype object"):
        saving.load_model(path)


def test_npy_entry_hiding_a_pickle_is_refused(saved):
    """A raw pickle (not .npy at all) under a weight's name."""
    _, path = saved
    evil = pickle.dumps(np.zeros((3, 4), np.float32))
    evil = evil + bytes(max(0, 48 - len(evil)))
    replace_entry(path, "weights/000.npy", evil)
    with pytest.raises(ValueError, match="not a valid .npy|declares"):
        saving.load_model(path)


def test_npz_inside_entry_is_refused(saved):
    _, path = saved
    buf = io.BytesIO()
    np.savez(buf, a=np.zeros((3, 4), np.float32))
    replace_entry(path, "weights/000.npy", buf.getvalue())
    with pytest.raises(ValueError, match="not a valid .npy|declares"):
        saving.load_model(path)


def test_fortran_order_entry_is_read_correctly(saved):
    model, path = saved
    kernel = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4))
    replace_entry(path, "weights/000.npy", npy_bytes(kernel))
    loaded = saving.load_model(path)
    np.testing.assert_array_equal(loaded.get_weights()[0], kernel)
    assert loaded.get_weights()[0].flags.c_contiguous


def test_entry_declaring_a_huge_size(saved):
    _, path = saved
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    target = names.index("weights/002.npy")
    record = central_directory_offsets(bytes(data))[target]
    # Central-directory record: compressed size at +20, uncompressed size at +24.
    data[record + 20 : record + 28] = struct.pack("<II", 0xFFFF0000, 0xFFFF0000)
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="declares more data than the file holds"):
        saving.load_model(path)


def test_entry_declaring_inconsistent_sizes(saved):
    _, path = saved
    data = bytearray(path.read_bytes())
    record = central_directory_offsets(bytes(data))[1]
    data[record + 24 : record + 28] = struct.pack("<I", 10**9)  # uncompressed only
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="inconsistent sizes"):
        saving.load_model(path)


def test_manifest_shape_larger_than_the_entry(saved_weights):
    """A forged manifest claiming a giant array is refused before anything is allocated."""
    _, path = saved_weights
    edit_manifest(path, lambda m: m["weights"][0].update(shape=[100000, 100000]))
    with pytest.raises(ValueError, match="declares .* bytes but an array of shape"):
        saving.load_weights(FakeModel(), path)


def test_compressed_array_entries_are_refused(saved):
    """Deflated arrays could be zip bombs; cyneuron never writes them."""
    _, path = saved
    entries = read_entries(path)
    entries[1] = ("weights/000.npy", entries[1][1])
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries:
            zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED if name == "weights/000.npy" else None)
    with pytest.raises(ValueError, match="unsupported compression"):
        saving.load_model(path)


def test_deflate_bomb_config_is_refused(saved):
    _, path = saved
    entries = read_entries(path)
    manifest = json.loads(entries[0][1])
    manifest["padding"] = " " * (saving.MAX_CONFIG_BYTES + 10)
    entries[0] = ("config.json", json.dumps(manifest).encode())
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries:
            zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED if name == "config.json" else None)
    assert path.stat().st_size < saving.MAX_CONFIG_BYTES // 100
    with pytest.raises(ValueError, match="config.json declares"):
        saving.load_model(path)


def test_encrypted_flag_is_refused(saved):
    _, path = saved
    data = bytearray(path.read_bytes())
    record = central_directory_offsets(bytes(data))[0]
    data[record + 8] |= 0x1  # general-purpose flags, bit 0: encrypted
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="encrypted"):
        saving.load_model(path)


def test_unknown_layer_is_a_clear_error(saved):
    _, path = saved
    edit_manifest(path, lambda m: m["model_config"]["layers"][1].update(class_name="Lambda"))
    with pytest.raises(ValueError, match=f"{path.name}: invalid model configuration: Unknown layer: 'Lambda'"):
        saving.load_model(path)


def test_forged_huge_layer_is_refused_before_building(saved, fake_models, monkeypatch):
    _, path = saved

    def must_not_build(config):
        raise AssertionError("the model was built from a forged config")

    monkeypatch.setattr(FakeModel, "from_config", must_not_build)
    edit_manifest(path, lambda m: m["model_config"]["layers"][0]["config"].update(units=10**12))
    with pytest.raises(ValueError, match="units=1000000000000"):
        saving.load_model(path)
    saving.save_model(compiled_model(), path)
    edit_manifest(path, lambda m: m["model_config"]["layers"][0]["config"].update(batch_shape=[None, 10**12]))
    with pytest.raises(ValueError, match="input shape"):
        saving.load_model(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(model_config=None), "model_config"),
        (lambda m: m.update(compile_config=[1]), "compile_config"),
        (lambda m: m.update(weights={"a": 1}), "must be a list"),
        (lambda m: m.update(compile_config=None), "optimizer state without a compile configuration"),
        (lambda m: m["weights"].__setitem__(0, [3, 4]), "must be an object"),
        (lambda m: m["optimizer"][0].update(dtype="float64"), "dtype"),
        (lambda m: m.update(optimizer_iterations=-1), "optimizer_iterations"),
        (lambda m: m.update(optimizer_iterations="7"), "optimizer_iterations"),
        (lambda m: m.update(optimizer_iterations=True), "optimizer_iterations"),
    ],
)
def test_manifest_structure_is_validated(saved, edit, message):
    _, path = saved
    edit_manifest(path, edit)
    with pytest.raises(ValueError, match=message):
        saving.load_model(path)


def test_weights_file_with_optimizer_entries_is_refused(saved_weights):
    model, path = saved_weights
    entries = read_entries(path)
    manifest = json.loads(entries[0][1])
    manifest["optimizer"] = manifest["weights"]
    entries[0] = ("config.json", json.dumps(manifest).encode())
    entries += [(n.replace("weights/", "optimizer/"), d) for n, d in entries[1:]]
    write_entries(path, entries)
    with pytest.raises(ValueError, match="cannot hold optimizer state"):
        saving.load_weights(FakeModel(), path)


@given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_any_single_byte_corruption_loads_exactly_or_fails_cleanly(tmp_path_factory, position, flip):
    folder = tmp_path_factory.mktemp("fuzz")
    source = FakeModel(seed=5)
    path = folder / "w.bin"
    saving.save_weights(source, path)
    data = bytearray(path.read_bytes())
    data[position % len(data)] ^= flip
    path.write_bytes(bytes(data))
    target = FakeModel(seed=6)
    before = target.get_weights()
    try:
        saving.load_weights(target, path)
    except ValueError as exc:
        assert "w.bin" in str(exc)
        assert same_arrays(target.get_weights(), before)
    else:
        # Only bytes that do not matter (timestamps, attributes...) may change silently.
        assert same_arrays(target.get_weights(), source.get_weights())


@given(length=st.integers(min_value=0))
def test_any_truncation_fails_cleanly(tmp_path_factory, length):
    folder = tmp_path_factory.mktemp("trunc")
    path = folder / "w.bin"
    saving.save_weights(FakeModel(seed=5), path)
    data = path.read_bytes()
    path.write_bytes(data[: length % len(data)])
    with pytest.raises(ValueError, match="w.bin"):
        saving.load_weights(FakeModel(seed=6), path)


# ------------------------------------------------------------------------------- atomic writes
def test_overwrite_false_refuses_and_keeps_the_file(saved):
    model, path = saved
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match=path.name):
        saving.save_model(FakeModel(seed=8), path, overwrite=False)
    with pytest.raises(FileExistsError, match=path.name):
        saving.save_weights(FakeModel(seed=8), path, overwrite=False)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]
    fresh = path.parent / "fresh"
    saving.save_weights(model, fresh, overwrite=False)
    assert fresh.exists()


def test_overwrite_replaces_atomically(saved):
    _, path = saved
    other = compiled_model(seed=11)
    inode_before = path.stat().st_ino
    saving.save_model(other, path)
    assert same_arrays(saving.load_model(path).get_weights(), other.get_weights())
    assert path.stat().st_ino != inode_before  # a new file renamed into place, not rewritten in place
    assert os.listdir(path.parent) == [path.name]


@pytest.mark.parametrize("exception", [OSError("disk full"), KeyboardInterrupt()])
@pytest.mark.parametrize("fail_at", [0, 3])
def test_failure_in_the_middle_of_a_write_keeps_the_old_file(saved, monkeypatch, exception, fail_at):
    _, path = saved
    before = path.read_bytes()
    calls = []
    real_write_array = np.lib.format.write_array

    def failing_write_array(fp, array, *args, **kwargs):
        if len(calls) == fail_at:
            raise exception
        calls.append(1)
        return real_write_array(fp, array, *args, **kwargs)

    with monkeypatch.context() as patch, pytest.raises(type(exception)):
        patch.setattr(np.lib.format, "write_array", failing_write_array)
        saving.save_model(compiled_model(seed=12), path)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]  # no temporary file left behind
    saving.load_model(path)


def test_failure_while_renaming_keeps_the_old_file(saved, monkeypatch):
    _, path = saved
    before = path.read_bytes()

    def failing_replace(src, dst):
        raise PermissionError("no")

    with monkeypatch.context() as patch, pytest.raises(PermissionError):
        patch.setattr(os, "replace", failing_replace)
        saving.save_weights(FakeModel(seed=1), path)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]


def test_new_files_get_normal_permissions_and_replaced_files_keep_theirs(tmp_path):
    model = FakeModel()
    path = tmp_path / "w"
    old = os.umask(0o022)
    try:
        saving.save_weights(model, path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o600)
    saving.save_weights(model, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_pathlib_and_relative_paths(tmp_path, monkeypatch, fake_models):
    monkeypatch.chdir(tmp_path)
    saving.save_model(FakeModel(), "relative.bin")
    saving.load_model(pathlib.Path("relative.bin"))
    assert os.listdir(tmp_path) == ["relative.bin"]


def test_saving_through_a_symlink_keeps_the_link(tmp_path):
    target = tmp_path / "real.bin"
    link = tmp_path / "latest.bin"
    saving.save_weights(FakeModel(seed=1), target)
    link.symlink_to(target.name)
    model = FakeModel(seed=2)
    saving.save_weights(model, link)
    assert link.is_symlink()
    loaded = FakeModel(seed=3)
    saving.load_weights(loaded, target)
    assert same_arrays(loaded.get_weights(), model.get_weights())
    assert sorted(os.listdir(tmp_path)) == ["latest.bin", "real.bin"]


def test_very_long_file_names(tmp_path):
    path = tmp_path / ("w" * 250)
    saving.save_weights(FakeModel(), path)
    saving.save_weights(FakeModel(), path)
    assert os.listdir(tmp_path) == [path.name]
