"""Hardening: hostile model / weights files, beyond the format tests in tests/test_saving_format.py.

Covered here (and not there): real code-execution payloads (a pickle whose unpickling would create
a marker, Python code in an .npy header, Keras-style ``module`` / ``function`` references in the
config, also with ``safe_mode=False``) must never run; forged configuration sizes that slip past the
size guard; non-finite optimizer state that would turn training into NaN; special files (FIFO,
/dev/zero) must not hang the loader; a reader racing with repeated saves only ever sees a whole
file; failures at every stage of a save keep the old file and leave no temporary file.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import textwrap
import threading
import warnings
import zipfile

import numpy as np
import pytest

from cyneuron import Input, Sequential
from cyneuron.layers import Dense
from cyneuron.optimizers import SGD
from cyneuron.saving import load_model, load_weights, save_model
from cyneuron.utils import set_random_seed
from tests import hardening_support as hs


def small_model(dtype="float32", momentum=0.9):
    set_random_seed(1)
    model = Sequential([Input((3,), dtype=dtype), Dense(4, activation="relu", dtype=dtype), Dense(2, dtype=dtype)])
    model.compile(optimizer=SGD(0.01, momentum=momentum), loss="mse")
    return model


def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((16, 3)), rng.standard_normal((16, 2))


@pytest.fixture
def saved(tmp_path):
    model = small_model()
    x, y = data()
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    path = tmp_path / "model.cyn"
    save_model(model, path)
    return model, path


def read_entries(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write_entries(path, entries: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, payload in entries.items():
            zf.writestr(name, payload)


def npy_bytes(array, allow_pickle=False) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


class MakeMarker:
    """Unpickling this calls os.mkdir(marker): proof that something unpickled the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def load_both(path, model_for_weights):
    """load_model and load_weights on the same file; both must raise ValueError."""
    with pytest.raises(ValueError, match=str(path.name)):
        load_model(path)
    with pytest.raises(ValueError, match=str(path.name)):
        load_weights(model_for_weights, path)


# ============================================================ nothing in a file is ever executed
@pytest.mark.parametrize("entry", ["weights/000.npy", "weights/001.npy", "optimizer/000.npy"])
def test_pickle_payload_is_never_unpickled(saved, tmp_path, entry):
    model, path = saved
    marker = tmp_path / "PWNED"
    entries = read_entries(path)
    payload = np.empty(4, dtype=object)
    payload[:] = [MakeMarker(marker)] * 4
    entries[entry] = npy_bytes(payload, allow_pickle=True)
    write_entries(path, entries)
    before = model.get_weights()
    load_both(path, model)
    assert not marker.exists(), "the loader unpickled an entry"
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


def test_bare_pickle_and_pickle_protocol_header_are_never_unpickled(saved, tmp_path):
    model, path = saved
    marker = tmp_path / "PWNED"
    for evil in (pickle.dumps(MakeMarker(marker)), pickle.dumps([MakeMarker(marker)] * 64, protocol=2)):
        entries = read_entries(path)
        entries["weights/000.npy"] = evil
        write_entries(path, entries)
        load_both(path, model)
    assert not marker.exists()


def test_python_code_in_an_npy_header_is_never_evaluated(saved, tmp_path):
    model, path = saved
    marker = tmp_path / "PWNED"
    kernel = model.get_weights()[0]
    genuine = npy_bytes(kernel)
    header_len = int.from_bytes(genuine[8:10], "little")
    body = genuine[10 + header_len :]
    code = f"{{'descr': __import__('os').mkdir({str(marker)!r}), 'fortran_order': False, 'shape': {kernel.shape}, }}"
    header = code.encode("latin1")
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    entries = read_entries(path)
    entries["weights/000.npy"] = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + body
    write_entries(path, entries)
    load_both(path, model)
    assert not marker.exists()


@pytest.mark.parametrize(
    "header_text",
    [
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4, }",  # fuzz/load_model.py: tokenize.TokenError
        "{'descr': '<f4', 'fortran_order': False, 'shape': " + "(" * 3000 + ")" * 3000 + ", }",  # deep nesting
    ],
)
def test_npy_headers_numpy_cannot_tokenize_are_a_value_error(saved, header_text):
    """The fuzzer's third finding: NumPy's .npy header parser raises tokenize.TokenError (no ValueError)
    for an unbalanced bracket, which escaped load_model and load_weights."""
    model, path = saved
    genuine = npy_bytes(model.get_weights()[0])
    body = genuine[10 + int.from_bytes(genuine[8:10], "little") :]
    header = header_text.encode("latin1")
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    entries = read_entries(path)
    entries["weights/000.npy"] = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + body
    write_entries(path, entries)
    load_both(path, model)


@pytest.mark.parametrize("safe_mode", [True, False])
@pytest.mark.parametrize(
    "where",
    ["activation", "kernel_initializer", "layer"],
)
def test_code_references_in_the_config_are_never_followed(saved, tmp_path, safe_mode, where):
    """Keras configs name modules and functions; a loader that imports / calls them runs attacker code."""
    _, path = saved
    marker = tmp_path / "PWNED"
    evil = {"module": "os", "class_name": "function", "config": "mkdir", "registered_name": "mkdir"}
    evil_obj = {"module": "os", "class_name": "mkdir", "config": {"path": str(marker)}, "registered_name": "mkdir"}
    entries = read_entries(path)
    manifest = json.loads(entries["config.json"])
    dense = next(layer for layer in manifest["model_config"]["layers"] if layer["class_name"] == "Dense")
    if where == "activation":
        dense["config"]["activation"] = evil
    elif where == "kernel_initializer":
        dense["config"]["kernel_initializer"] = evil_obj
    else:
        dense.update(evil_obj)
    entries["config.json"] = json.dumps(manifest).encode()
    write_entries(path, entries)
    with pytest.raises(ValueError, match=path.name):
        load_model(path, safe_mode=safe_mode)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["VICTIM", "../VICTIM", "/ABSOLUTE"])
def test_entry_names_naming_existing_files_never_touch_them(saved, tmp_path, name):
    """Entries named like files next to (or above) the archive are refused and never written."""
    model, path = saved
    victim = tmp_path / "VICTIM"
    victim.write_bytes(b"precious")
    target = str(victim) if name == "/ABSOLUTE" else name
    entries = read_entries(path)
    entries[target] = b"overwritten"
    write_entries(path, entries)
    load_both(path, model)
    assert victim.read_bytes() == b"precious"


# ============================================================ forged sizes
FORGED_INPUT_DIM = """
import json, zipfile, resource
from cyneuron import Sequential
from cyneuron.layers import Dense
from cyneuron.saving import load_model
model = Sequential([Dense(2, input_dim=3)])
model.compile(loss="mse")
model.save({path!r})
with zipfile.ZipFile({path!r}) as zf:
    entries = {{n: zf.read(n) for n in zf.namelist()}}
manifest = json.loads(entries["config.json"])
layers = [entry for entry in manifest["model_config"]["layers"] if entry["class_name"] != "InputLayer"]
layers[0]["config"]["{key}"] = {value}
manifest["model_config"]["layers"] = layers
entries["config.json"] = json.dumps(manifest).encode()
with zipfile.ZipFile({path!r}, "w") as zf:
    for name, payload in entries.items():
        zf.writestr(name, payload)
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
try:
    load_model({path!r})
except ValueError as error:
    # a MemoryError turned into ValueError means the loader tried to allocate the forged size first
    print("CAUSE", type(error.__cause__).__name__, "|", error)
else:
    print("LOADED")
"""


@pytest.mark.skipif(hs.SANITIZED, reason="needs an address-space limit, which AddressSanitizer cannot run under")
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("input_dim", 10**9),
        ("input_shape", [10**9]),
        ("batch_input_shape", [None, 10**9]),
    ],
)
def test_forged_input_size_is_refused_before_any_allocation(tmp_path, key, value):
    code = FORGED_INPUT_DIM.format(path=str(tmp_path / "m.cyn"), key=key, value=value, limit=hs.WORKER_MEMORY_LIMIT)
    result = hs.run_python(textwrap.dedent(code), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("CAUSE"), result.stdout
    assert "CAUSE MemoryError" not in result.stdout, result.stdout


# ============================================================ non-finite state from a file
@pytest.mark.parametrize("what", ["optimizer", "weights"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_arrays_in_a_file_never_make_training_silently_nan(backend, saved, what, value):
    """A file whose velocities (or weights) hold NaN/inf: load_model refuses it, or training on it does not
    end with non-finite weights behind a report saying the weights are from before the bad step."""
    model, path = saved
    entries = read_entries(path)
    name = f"{what}/000.npy"
    array = np.load(io.BytesIO(entries[name]))
    array.flat[0] = value
    entries[name] = npy_bytes(array)
    write_entries(path, entries)
    try:
        loaded = load_model(path)
    except ValueError as error:
        assert path.name in str(error) and ("finite" in str(error) or "NaN" in str(error))
        return
    if what == "weights":
        return  # user data: loaded as is, like Keras (the weights were never produced by training)
    x, y = data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        loaded.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    weights = loaded.get_weights()
    assert all(np.isfinite(w).all() for w in weights), "training turned the weights non-finite"


def test_set_optimizer_state_with_nan_never_makes_training_silently_nan(backend):
    model = small_model()
    x, y = data()
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    state = model.optimizer_state()
    state["slots"] = [[np.full_like(v, np.nan) for v in slots] for slots in state["slots"]]
    assert any(state["slots"])  # momentum: there are velocities to poison
    try:
        model.set_optimizer_state(state)
    except ValueError as error:
        assert "state" in str(error)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert all(np.isfinite(w).all() for w in model.get_weights())


# ============================================================ special files
@pytest.mark.parametrize("kind", ["dev_zero", "dev_urandom", "fifo"])
def test_special_files_fail_fast(tmp_path, kind):
    if kind == "fifo":
        target = tmp_path / "pipe"
        os.mkfifo(target)
    else:
        target = "/dev/zero" if kind == "dev_zero" else "/dev/urandom"
    code = f"""
from cyneuron.saving import load_model
try:
    load_model({str(target)!r})
except (ValueError, OSError) as error:
    print("REFUSED", type(error).__name__)
"""
    try:
        # a hang reads forever; the margin is for a busy machine's interpreter start-up and imports
        result = hs.run_python(code, timeout=60, memory_limit=2**29)
    except Exception as error:  # subprocess.TimeoutExpired: the loader hung
        pytest.fail(f"load_model({target}) hung: {error}")
    assert result.stdout.startswith("REFUSED"), result.stdout + result.stderr[-1500:]


@pytest.mark.parametrize("head", [b"\x89HDF\r\n\x1a\n", b"PK\x03\x04"], ids=["hdf5", "zip"])
def test_a_huge_keras_weights_file_is_refused_before_reading(tmp_path, head):
    """load_weights read a whole .weights.h5 / .keras file into memory before comparing its size with what
    the model can hold: an 8 GB (sparse) file must be refused unread, within a 1 GB address space."""
    pytest.importorskip("h5py")
    target = tmp_path / "huge.weights.h5"
    with open(target, "wb") as f:
        f.write(head)
        f.truncate(8 << 30)
    code = f"""
from cyneuron import Sequential
from cyneuron.layers import Dense
from cyneuron.saving import load_weights
model = Sequential([Dense(2)])
model.build((None, 3))
try:
    load_weights(model, {str(target)!r})
except ValueError as error:
    print("REFUSED", error)
"""
    result = hs.run_python(code, timeout=60, memory_limit=2**30)
    # (The zip one is no zip without its central directory: cyneuron's own reader refuses it from the end.)
    assert result.stdout.startswith("REFUSED"), result.stdout + result.stderr[-1500:]


_ZEROS = bytes(64 << 20)


class _SparseWriter(io.FileIO):
    """Writes of ``_ZEROS`` become holes: a multi-gigabyte zip entry costs no disk and no time."""

    def write(self, data):
        if data is _ZEROS:
            self.seek(len(data), os.SEEK_CUR)
            return len(data)
        return super().write(data)


def test_a_keras_file_with_a_huge_weights_entry_is_refused_before_reading(tmp_path):
    """load_model read a whole .keras file into memory before any size check: a genuine configuration with
    a 1.5 GB (sparse) weights entry must be refused unread, within a 1 GB address space."""
    pytest.importorskip("h5py")
    genuine = tmp_path / "genuine.keras"
    save_model(small_model(), genuine)
    entries = read_entries(genuine)
    target = tmp_path / "huge.keras"
    with _SparseWriter(target, "w") as raw, zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", entries["metadata.json"])
        zf.writestr("config.json", entries["config.json"])
        with zf.open("model.weights.h5", "w") as entry:
            entry.write(entries["model.weights.h5"])
            for _ in range(24):
                entry.write(_ZEROS)
    assert target.stat().st_size > 1.5e9
    code = f"""
from cyneuron.saving import load_model
try:
    load_model({str(target)!r})
except ValueError as error:
    print("REFUSED", error)
"""
    result = hs.run_python(code, timeout=60, memory_limit=2**30)
    assert result.stdout.startswith("REFUSED") and "far more" in result.stdout, result.stdout + result.stderr[-1500:]


# ============================================================ atomic replacement
def test_reader_racing_with_repeated_saves_always_sees_a_whole_file(tmp_path):
    path = tmp_path / "model.cyn"
    models = [small_model(momentum=0.0), small_model(momentum=0.9)]
    x, y = data()
    models[1].fit(x, y, epochs=1, verbose=0)
    save_model(models[0], path)
    expected = [m.get_weights() for m in models]
    stop = threading.Event()
    problems = []
    loads = [0]

    def reader():
        while not stop.is_set():
            try:
                weights = load_model(path).get_weights()
            except Exception as error:  # noqa: BLE001 - any failure is the finding
                problems.append(repr(error))
                return
            loads[0] += 1
            if not any(all(np.array_equal(a, b) for a, b in zip(weights, e)) for e in expected):
                problems.append("a load returned weights of neither saved model")
                return

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(40):
            save_model(models[i % 2], path)
    finally:
        stop.set()
        thread.join(30)
    assert not problems, problems
    assert loads[0] > 0
    assert sorted(os.listdir(tmp_path)) == ["model.cyn"]


@pytest.mark.parametrize("stage", ["fsync", "chmod", "mkstemp_write"])
@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_failure_at_any_stage_of_a_save_keeps_the_old_file(saved, monkeypatch, stage, error):
    model, path = saved
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise error

    if stage == "fsync":
        monkeypatch.setattr(os, "fsync", fail)
    elif stage == "chmod":
        monkeypatch.setattr(os, "chmod", fail)
    else:
        original = zipfile.ZipFile.writestr

        def write_then_fail(self, *args, **kwargs):
            original(self, *args, **kwargs)
            raise error

        monkeypatch.setattr(zipfile.ZipFile, "writestr", write_then_fail)
    with pytest.raises(type(error)):
        save_model(small_model(momentum=0.5), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == [path.name], "a temporary file was left behind"
    load_model(path)


def test_save_keeps_working_after_a_failed_save(saved, monkeypatch):
    """No lock, handle or temp name leaks from a failed save into the next one."""
    model, path = saved

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    for _ in range(3):
        with pytest.raises(OSError):
            save_model(model, path)
    monkeypatch.undo()
    save_model(model, path)
    loaded = load_model(path)
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), model.get_weights()))


# ============================================================ malformed arguments of the file API
ARGUMENT_CASES = [
    # (id, call(model, path, folder), expected exception, name the message must contain)
    ("load_model-None", lambda m, p, d: load_model(None), TypeError, "filepath"),
    ("load_model-int", lambda m, p, d: load_model(3), TypeError, "filepath"),
    ("load_model-bytes", lambda m, p, d: load_model(os.fsencode(p)), TypeError, "filepath"),
    ("load_model-empty", lambda m, p, d: load_model(""), ValueError, "filepath"),
    ("load_model-folder", lambda m, p, d: load_model(d), IsADirectoryError, "directory"),
    ("load_model-missing", lambda m, p, d: load_model(d / "missing.cyn"), FileNotFoundError, "missing.cyn"),
    ("load_model-compile", lambda m, p, d: load_model(p, compile="yes"), TypeError, "compile"),
    ("load_model-custom_objects", lambda m, p, d: load_model(p, custom_objects={"a": 1}), ValueError, "custom_objects"),
    ("load_model-nul", lambda m, p, d: load_model(str(p) + "\0.cyn"), ValueError, "filepath"),
    ("load_weights-model-int", lambda m, p, d: load_weights(3, p), TypeError, "model"),
    ("load_weights-filepath", lambda m, p, d: load_weights(m, None), TypeError, "filepath"),
    ("save_model-filepath", lambda m, p, d: save_model(m, None), TypeError, "filepath"),
    ("save_model-overwrite", lambda m, p, d: save_model(m, p, overwrite="no"), TypeError, "overwrite"),
    ("save_model-folder", lambda m, p, d: save_model(m, d), IsADirectoryError, "directory"),
    ("save_model-no-folder", lambda m, p, d: save_model(m, d / "nope" / "x.cyn"), FileNotFoundError, "nope"),
    ("save_model-model-int", lambda m, p, d: save_model(3, p), TypeError, "model"),
]


@pytest.mark.parametrize(
    ("ident", "call", "error", "name"),
    [case if isinstance(case, type(pytest.param(0))) else pytest.param(*case, id=case[0]) for case in ARGUMENT_CASES],
)
def test_file_api_rejects_malformed_arguments_by_name(saved, tmp_path, ident, call, error, name):
    model, path = saved
    before = path.read_bytes()
    with pytest.raises(error) as caught:
        call(model, path, tmp_path)
    assert name in str(caught.value)
    assert path.read_bytes() == before
