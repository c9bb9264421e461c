"""cyneuron's own format, the reading side: a file validated whole, then a model built and filled from it.

Loading treats the file as untrusted input: nothing is unpickled or evaluated (JSON plus ``.npy`` headers
parsed with ``allow_pickle=False``), entry names are only compared with the exact set ``native`` writes and
never used as paths, every declared size is checked against what the manifest implies before anything is
read or allocated, and every array's dtype and shape must match. Any problem raises ``ValueError`` naming
the file (``OSError`` when it cannot be opened), and a model is only modified once the whole file has been
validated.
"""

from __future__ import annotations

import io
import json
import math
import tokenize
import zipfile
from typing import IO, Any

import numpy as np

from cyneuron.saving.files import ZIP_ERRORS, FileFormatError, open_regular, read_entry
from cyneuron.saving.guard import MAX_JSON_DEPTH, global_rng_preserved, guard_model_size, json_depth, set_weights
from cyneuron.saving.native import (
    ALLOWED_DTYPES,
    CONFIG_ENTRY,
    ENTRY_NAME,
    FORMAT_VERSION,
    MAX_CONFIG_BYTES,
    MAX_NPY_HEADER_BYTES,
    MAX_PATH_CHARS,
    MODEL_FORMAT,
    WEIGHTS_FORMAT,
    entry_name,
)


class Archive:
    """A validated file: its manifest (specs parsed) and its weight and optimizer arrays, in entry order."""

    __slots__ = ("manifest", "weights", "optimizer")

    def __init__(self, manifest: dict, weights: list, optimizer: list) -> None:
        self.manifest = manifest
        self.weights = weights
        self.optimizer = optimizer


def read_archive(path: str, expect_model: bool) -> Archive:
    """Open, validate and read the whole file; ValueError naming ``path`` on any problem."""
    with open_regular(path, "cyneuron file") as (raw, size):
        return _read_zip(path, raw, size, expect_model)


def read_bytes(label: str, data: bytes, expect_model: bool) -> Archive:
    """``read_archive`` for a file's bytes in memory (``label`` names them in errors)."""
    return _read_zip(label, io.BytesIO(data), len(data), expect_model)


def _read_zip(path: str, raw: IO[bytes], archive_size: int, expect_model: bool) -> Archive:
    try:
        zf = zipfile.ZipFile(raw)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path} is not a cyneuron file (not a zip archive, or truncated): {exc}") from exc
    except (*ZIP_ERRORS, OSError) as exc:
        raise ValueError(f"{path} is not a readable zip archive: {exc}") from exc
    with zf:
        try:
            return _read_entries(path, zf, archive_size, expect_model)
        except FileFormatError as exc:
            raise ValueError(f"{path}: {exc}") from exc.__cause__
        except (*ZIP_ERRORS, OSError) as exc:
            raise ValueError(f"{path} is corrupted: {exc}") from exc


def _read_entries(path: str, zf: zipfile.ZipFile, archive_size: int, expect_model: bool) -> Archive:
    infos = zf.infolist()
    by_name: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        if name != CONFIG_ENTRY and not ENTRY_NAME.fullmatch(name):
            raise FileFormatError(f"unexpected entry {name!r} (not a cyneuron file, or tampered with)")
        if name in by_name:
            raise FileFormatError(f"duplicate entry {name!r}")
        if info.flag_bits & 0x1:
            raise FileFormatError(f"entry {name!r} is encrypted")
        # Arrays are written uncompressed, which bounds what they can make us allocate by
        # the file's own size (no zip bombs); only the small, capped config may be deflated.
        allowed = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) if name == CONFIG_ENTRY else (zipfile.ZIP_STORED,)
        if info.compress_type not in allowed:
            raise FileFormatError(f"entry {name!r} uses an unsupported compression method ({info.compress_type})")
        if info.compress_size > archive_size:
            raise FileFormatError(f"entry {name!r} declares more data than the file holds")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise FileFormatError(f"entry {name!r} declares inconsistent sizes")
        by_name[name] = info
    if sum(info.compress_size for info in infos) > archive_size:
        raise FileFormatError("entries declare more data than the file holds")
    if CONFIG_ENTRY not in by_name:
        raise FileFormatError(f"no {CONFIG_ENTRY} (not a cyneuron file)")

    manifest = _parse_manifest(zf, by_name[CONFIG_ENTRY], expect_model)
    weight_specs, optimizer_specs = manifest["weights"], manifest["optimizer"]
    expected = {CONFIG_ENTRY}
    expected.update(entry_name("weights", i) for i in range(len(weight_specs)))
    expected.update(entry_name("optimizer", i) for i in range(len(optimizer_specs)))
    missing = sorted(expected - by_name.keys())
    if missing:
        raise FileFormatError(f"missing entries {', '.join(missing)} (truncated or tampered with)")
    extra = sorted(by_name.keys() - expected)
    if extra:
        raise FileFormatError(f"unexpected entries {', '.join(extra)}")

    # Check every declared size before reading a single array.
    total = 0
    for prefix, specs in (("weights", weight_specs), ("optimizer", optimizer_specs)):
        for i, (shape, dtype) in enumerate(specs):
            name = entry_name(prefix, i)
            nbytes = math.prod(shape) * dtype.itemsize
            info = by_name[name]
            if not nbytes <= info.file_size <= nbytes + MAX_NPY_HEADER_BYTES:
                raise FileFormatError(
                    f"entry {name!r} declares {info.file_size} bytes but an array of shape {tuple(shape)} "
                    f"and dtype {dtype.name} needs {nbytes} plus a header"
                )
            total += info.file_size
    if total > archive_size:
        raise FileFormatError("entries declare more data than the file holds")

    weights = [_read_npy(zf, by_name[entry_name("weights", i)], s, d) for i, (s, d) in enumerate(weight_specs)]
    optimizer = [_read_npy(zf, by_name[entry_name("optimizer", i)], s, d) for i, (s, d) in enumerate(optimizer_specs)]
    return Archive(manifest, weights, optimizer)


def _parse_manifest(zf: zipfile.ZipFile, info: zipfile.ZipInfo, expect_model: bool) -> dict:
    data = read_entry(zf, info, MAX_CONFIG_BYTES)
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise FileFormatError(f"{CONFIG_ENTRY} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise FileFormatError(f"{CONFIG_ENTRY} is not a JSON object (not a cyneuron file)")
    fmt = manifest.get("format")
    if fmt not in (MODEL_FORMAT, WEIGHTS_FORMAT):
        raise FileFormatError(f"not a cyneuron file (format {fmt!r})")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise FileFormatError(f"invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise FileFormatError(
            f"written in format version {version} by cyneuron {manifest.get('cyneuron_version')!r}; "
            f"this cyneuron reads up to version {FORMAT_VERSION}: upgrade cyneuron"
        )
    if expect_model and fmt != MODEL_FORMAT:
        raise FileFormatError("is a weights-only file (from save_weights): load it with model.load_weights()")
    dtype_name = manifest.get("dtype")
    if not isinstance(dtype_name, str) or dtype_name not in ALLOWED_DTYPES:
        raise FileFormatError(f"dtype must be 'float32' or 'float64', got {dtype_name!r}")
    raw_optimizer = manifest.get("optimizer", [])
    manifest["weights"] = _parse_specs(manifest.get("weights"), "weights", dtype_name)
    manifest["optimizer"] = _parse_specs(raw_optimizer, "optimizer", dtype_name)
    if fmt == MODEL_FORMAT:
        if not isinstance(manifest.get("model_config"), dict):
            raise FileFormatError("model_config is missing or not a JSON object")
        if json_depth(manifest["model_config"]) > MAX_JSON_DEPTH:
            raise FileFormatError("model_config is nested too deeply")
        compile_config = manifest.get("compile_config")
        if compile_config is not None and not isinstance(compile_config, dict):
            raise FileFormatError("compile_config must be a JSON object or null")
        iterations = manifest.get("optimizer_iterations")
        if iterations is not None and (
            not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 0
        ):
            raise FileFormatError(f"optimizer_iterations must be an integer >= 0, got {iterations!r}")
        if manifest["optimizer"]:
            if compile_config is None:
                raise FileFormatError("optimizer state without a compile configuration")
            if version == 1 and [s for s, _ in manifest["optimizer"]] != [s for s, _ in manifest["weights"]]:
                raise FileFormatError("optimizer state must hold one array per weight, with the weight's shape")
        if version >= 2:
            manifest["optimizer_paths"] = _parse_paths(raw_optimizer)
            scalars = manifest.get("optimizer_scalars", {})
            if not isinstance(scalars, dict) or not all(
                isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for k, v in scalars.items()
            ):
                raise FileFormatError("optimizer_scalars must map names to finite numbers")
    elif manifest["optimizer"]:
        raise FileFormatError("a weights file cannot hold optimizer state")
    return manifest


def _parse_paths(specs: list) -> list[str]:
    """The optimizer entries' variable paths: unique strings of printable characters."""
    paths = [spec.get("path") for spec in specs]
    for i, value in enumerate(paths):
        if not isinstance(value, str) or not value or len(value) > MAX_PATH_CHARS or not value.isprintable():
            raise FileFormatError(f"optimizer[{i}] has an invalid path {value!r}")
    if len(set(paths)) != len(paths):
        raise FileFormatError("optimizer entries have duplicate paths")
    return paths


def _parse_specs(specs: object, what: str, dtype_name: str) -> list[tuple[list[int], np.dtype]]:
    if not isinstance(specs, list):
        raise FileFormatError(f"{what!r} in {CONFIG_ENTRY} must be a list")
    parsed = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise FileFormatError(f"{what}[{i}] in {CONFIG_ENTRY} must be an object")
        shape = spec.get("shape")
        if not (
            isinstance(shape, list)
            and len(shape) <= 32
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ):
            raise FileFormatError(f"{what}[{i}] has an invalid shape {shape!r}")
        if spec.get("dtype") != dtype_name:
            raise FileFormatError(f"{what}[{i}] has dtype {spec.get('dtype')!r}, expected the model's {dtype_name!r}")
        parsed.append((shape, ALLOWED_DTYPES[dtype_name]))
    return parsed


def _read_npy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, shape: list[int], dtype: np.dtype) -> np.ndarray:
    name = info.filename
    # Reading to the end makes zipfile verify the CRC; the declared size was capped above.
    with zf.open(info) as entry:
        data = entry.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise FileFormatError(f"entry {name!r} is truncated")
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(stream, max_header_size=MAX_NPY_HEADER_BYTES)
        elif version in ((2, 0), (3, 0)):
            header = np.lib.format.read_array_header_2_0(stream, max_header_size=MAX_NPY_HEADER_BYTES)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        file_shape, fortran_order, file_dtype = header
    # NumPy's header parser tokenizes the header text: unbalanced brackets raise tokenize.TokenError, deep
    # nesting RecursionError (neither a ValueError).
    except (ValueError, TypeError, SyntaxError, EOFError, tokenize.TokenError, RecursionError) as exc:
        raise FileFormatError(f"entry {name!r} is not a valid .npy array: {exc}") from exc
    # Object arrays (which would need pickle) and every other dtype stop here.
    if file_dtype != dtype:
        raise FileFormatError(f"entry {name!r} has dtype {file_dtype}, expected {dtype.name} (little-endian)")
    if list(file_shape) != list(shape):
        raise FileFormatError(f"entry {name!r} has shape {tuple(file_shape)}, expected {tuple(shape)}")
    payload = memoryview(data)[stream.tell() :]
    nbytes = math.prod(shape) * dtype.itemsize
    if len(payload) != nbytes:
        raise FileFormatError(f"entry {name!r} holds {len(payload)} data bytes, expected {nbytes}")
    array = np.frombuffer(payload, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    return np.array(array, dtype=dtype, order="C", copy=True)


def check_against_model(path: str, model: Any, weights: list, dtype_name: str, cast: bool = False) -> list:
    """The file's weights checked against the model's (count, shapes, dtype unless ``cast``)."""
    current = model.get_weights()
    if len(current) != len(weights):
        raise ValueError(f"{path}: the file holds {len(weights)} weight arrays but the model has {len(current)}")
    for i, (have, got) in enumerate(zip(current, weights, strict=True)):
        if have.shape != got.shape:
            raise ValueError(f"{path}: weight {i} has shape {got.shape} in the file but {have.shape} in the model")
        if have.dtype != got.dtype and not cast:
            raise ValueError(
                f"{path}: the file holds {dtype_name} weights but the model uses {have.dtype.name}; "
                "build the model with the file's dtype"
            )
    # Like Keras, load_weights casts to the model's dtype.
    return [got.astype(have.dtype, copy=False) for have, got in zip(current, weights, strict=True)]


def model_from_archive(path: str, archive: Archive, compile: bool) -> Any:
    """Build, fill and compile the model an archive describes; ``path`` names the source in errors."""
    manifest = archive.manifest
    guard_model_size(path, manifest["model_config"], archive.weights)

    from cyneuron.models import model_from_config

    try:
        # Building runs the initializers, whose values are overwritten anyway: keep them from
        # consuming the global generator, so loading never changes later shuffles or inits.
        with global_rng_preserved():
            model = model_from_config(manifest["model_config"])
    except MemoryError as exc:
        raise ValueError(f"{path}: the model configuration asks for more memory than available") from exc
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"{path}: invalid model configuration: {exc}") from exc

    if archive.weights or model.built:
        if not model.built:
            raise ValueError(f"{path}: the file holds weights but its model configuration has no input shape")
        check_against_model(path, model, archive.weights, manifest["dtype"])
        set_weights(path, model, archive.weights)
    if compile and manifest["compile_config"] is not None:
        try:
            model.compile_from_config(manifest["compile_config"])
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path}: invalid compile configuration: {exc}") from exc
        for i, slot in enumerate(archive.optimizer):
            # Resuming from NaN / inf slots would turn every weight non-finite on the first step.
            if not np.isfinite(slot).all():
                name = entry_name("optimizer", i)
                raise ValueError(f"{path}: entry {name!r} (optimizer state) contains NaN or infinity")
        if model.built:
            state = _optimizer_state_from_file(path, model, manifest, archive.optimizer)
            try:
                model.set_optimizer_state(state)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}: invalid optimizer state (entries optimizer/*.npy): {exc}") from exc
        elif manifest.get("optimizer_iterations") is not None:
            model.optimizer.iterations = manifest["optimizer_iterations"]
    return model


def _optimizer_state_from_file(path: str, model: Any, manifest: dict, arrays: list) -> dict:
    """The model's ``optimizer_state()`` layout filled from the file: slots matched by path (format 2),
    or version 1's SGD velocities (one per weight, used when the SGD has momentum)."""
    state = model.optimizer_state()
    state["iterations"] = manifest.get("optimizer_iterations") or 0
    slot_names = [name for name, _ in model.optimizer_slot_specs()]
    if manifest["format_version"] == 1:
        if arrays and slot_names == ["momentum"]:
            state["slots"] = [[velocity] for velocity in arrays]
        return state
    by_path = dict(zip(manifest["optimizer_paths"], arrays))
    wanted = [f"{weight}/{slot}" for weight in model.trained_weight_paths() for slot in slot_names]
    if set(wanted) != set(by_path):
        missing, extra = sorted(set(wanted) - set(by_path)), sorted(set(by_path) - set(wanted))
        raise ValueError(
            f"{path}: the optimizer state does not fit the model's optimizer (missing {missing[:5]}, "
            f"unexpected {extra[:5]})"
        )
    state["slots"] = [[by_path[f"{weight}/{slot}"] for slot in slot_names] for weight in model.trained_weight_paths()]
    scalars = manifest.get("optimizer_scalars") or {}
    names = [name for name, _ in model.optimizer_scalar_specs()]
    if set(scalars) != set(names):
        raise ValueError(f"{path}: optimizer_scalars {sorted(scalars)} do not fit the optimizer's {names}")
    state["scalars"] = np.array([scalars[name] for name in names], dtype=np.float64)
    return state

