"""Saving and loading whole models or their weights: one zip file, JSON and ``.npy`` only.

A model file (``save_model`` / ``model.save``) holds::

    config.json          {"format": "cyneuron.model", "format_version": 2, "cyneuron_version": ...,
                          "dtype": "float32", "model_config": {...}, "compile_config": {...} | null,
                          "weights": [{"shape": [...], "dtype": ..., "path": "dense/kernel"}, ...],
                          "optimizer": [{"shape": [...], "dtype": ..., "path": "dense/kernel/momentum"}, ...],
                          "optimizer_scalars": {"u_product": 0.9, ...},
                          "optimizer_iterations": 123}   (when compiled)
    weights/000.npy ...  the model's weights in Keras order (kernel, bias, gamma, beta, moving_mean ...)
    optimizer/000.npy .. the optimizer's slots, each addressed by ``layer/weight/slot`` (Keras' names)

Version 1 files (cyneuron 0.1: SGD velocities, one per weight, no paths) still load.

A weights file (``save_weights`` / ``model.save_weights``) has the same layout with
``"format": "cyneuron.weights"``, no model or compile config and no optimizer entries.

Unlike Keras 3, which insists on the ``.keras`` and ``.weights.h5`` extensions, any
file name is accepted; the format is recognised from the content, not the name.

Loading treats the file as untrusted input: nothing is unpickled or evaluated
(JSON plus ``.npy`` headers parsed with ``allow_pickle=False``), entry names are only
compared with the exact set this module writes and never used as paths, every
declared size is checked against what the manifest implies before anything is
read or allocated, and every array's dtype and shape must match. Any problem
raises ``ValueError`` naming the file (``OSError`` when it cannot be opened), and
a model is only modified once the whole file has been validated.

Writes are atomic: the archive is written to a temporary file in the target's
folder, flushed to disk, then renamed over the target, so a crash or error in
the middle of a save leaves any previous file intact.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import re
import stat
import sys
import tempfile
import tokenize
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

import numpy as np

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "model_to_bytes", "model_from_bytes"]

MODEL_FORMAT = "cyneuron.model"
WEIGHTS_FORMAT = "cyneuron.weights"
FORMAT_VERSION = 2
# Longest variable path accepted in a manifest.
MAX_PATH_CHARS = 1024

CONFIG_ENTRY = "config.json"
# The manifest of real models is a few kilobytes; anything near this is hostile.
MAX_CONFIG_BYTES = 16 * 1024 * 1024
# An .npy header is 64-byte aligned text of a few dozen bytes; numpy itself refuses
# headers over 10 000 bytes unless told otherwise.
MAX_NPY_HEADER_BYTES = 16 * 1024
# JSON nesting beyond this is no model configuration.
MAX_JSON_DEPTH = 64

_ALLOWED_DTYPES = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8")}
_ENTRY_NAME = re.compile(r"(?:weights|optimizer)/[0-9]{3,}\.npy")
# Keys under which layer configurations carry their input shape.
_SHAPE_KEYS = ("batch_shape", "batch_input_shape", "input_shape", "build_input_shape", "shape")

PathLike = str | os.PathLike
# Names saved in Keras 3's own formats (cyneuron.saving_keras) instead of cyneuron's zip; loading goes by content.
KERAS_SUFFIX = ".keras"
KERAS_WEIGHTS_SUFFIX = ".weights.h5"


# --------------------------------------------------------------------------- public API
def save_model(model: Any, filepath: PathLike, overwrite: bool = True) -> None:
    """Save architecture, weights, compile settings and optimizer state to one zip file.

    ``load_model(filepath)`` returns a model that predicts identically and, when
    the model was compiled, continues training exactly as this one would.

    Args:
        model: a cyneuron model (``Sequential``).
        filepath: ``str`` or ``os.PathLike``; any extension (Keras 3 requires
            ``.keras``; cyneuron does not).
        overwrite: when False and ``filepath`` exists, raise ``FileExistsError``
            instead of replacing it.
    """
    _check_model(model, _SAVE_MODEL_API)
    path = _check_path(filepath, "filepath")
    _check_bool(overwrite, "overwrite")
    if path.endswith(KERAS_SUFFIX):
        from cyneuron import saving_keras

        if saving_keras.available():
            saving_keras.save_keras_model(model, path, overwrite)
            return
        saving_keras.warn_fallback(path)
    manifest, weights, optimizer_state = _model_contents(model)
    _atomic_write(path, overwrite, lambda f: _write_archive(f, manifest, weights, optimizer_state))


def model_to_bytes(model: Any) -> bytes:
    """The bytes ``save_model`` would write (pickling and copying go through this safe format)."""
    _check_model(model, _SAVE_MODEL_API)
    manifest, weights, optimizer_state = _model_contents(model)
    buffer = io.BytesIO()
    _write_archive(buffer, manifest, weights, optimizer_state)
    return buffer.getvalue()


def model_from_bytes(data: bytes, compile: bool = True) -> Any:
    """The model ``model_to_bytes`` encoded, read with every check ``load_model`` applies to a file."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    label = "<model bytes>"
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (*_ZIP_ERRORS, OSError) as exc:
        raise ValueError(f"{label} is not a cyneuron model (not a zip archive, or truncated): {exc}") from exc
    with zf:
        try:
            archive = _read_entries(label, zf, len(data), True)
        except _FileError as exc:
            raise ValueError(f"{label}: {exc}") from exc.__cause__
        except (*_ZIP_ERRORS, OSError) as exc:
            raise ValueError(f"{label} is corrupted: {exc}") from exc
    return _model_from_archive(label, archive, compile)


def _model_contents(model: Any) -> tuple[dict, list, list]:
    """The manifest, weights and optimizer slots of a model file, read between two training steps (the
    model's network lock is held throughout, so another thread's fit cannot commit a step half-way)."""
    lock = getattr(model, "_net_lock", None)
    with contextlib.nullcontext() if lock is None else lock:
        return _model_contents_locked(model)


def _model_contents_locked(model: Any) -> tuple[dict, list, list]:
    model_config = model.get_config()
    compile_config = model.get_compile_config()
    weights = _check_arrays(model.get_weights(), "model.get_weights()") if model.built else []
    weight_paths = model.weight_paths() if weights else []
    optimizer_state, optimizer_paths, scalars, iterations = [], [], {}, None
    state = model.optimizer_state() if compile_config is not None and weights else None
    if state is not None:
        slot_names = [name for name, _ in model.optimizer_slot_specs()]
        for weight_path, slots in zip(model.trained_weight_paths(), state["slots"]):
            for slot_name, array in zip(slot_names, slots):
                optimizer_paths.append(f"{weight_path}/{slot_name}")
                optimizer_state.append(array)
        optimizer_state = _check_arrays(optimizer_state, "model.optimizer_state()")
        scalar_names = [name for name, _ in model.optimizer_scalar_specs()]
        scalars = {name: float(value) for name, value in zip(scalar_names, state["scalars"])}
        iterations = int(state["iterations"])
    elif compile_config is not None:
        iterations = getattr(getattr(model, "optimizer", None), "iterations", None)
    dtype = _model_dtype(model, weights)
    manifest = {
        "format": MODEL_FORMAT,
        "format_version": FORMAT_VERSION,
        "cyneuron_version": _cyneuron_version(),
        "dtype": dtype,
        "model_config": model_config,
        "compile_config": compile_config,
        "weights": _describe(weights, weight_paths),
        "optimizer": _describe(optimizer_state, optimizer_paths),
    }
    if scalars:
        manifest["optimizer_scalars"] = scalars
    if isinstance(iterations, (int, np.integer)) and not isinstance(iterations, bool):
        # Keras saves the step counter with the optimizer's variables; so do we.
        manifest["optimizer_iterations"] = int(iterations)
    return manifest, weights, optimizer_state


def load_model(filepath: PathLike, custom_objects: None = None, compile: bool = True, safe_mode: bool = True) -> Any:
    """Load a model written by ``save_model`` / ``model.save``.

    Args:
        filepath: ``str`` or ``os.PathLike`` of the file.
        custom_objects: accepted for Keras compatibility; cyneuron has no custom
            objects, so it must be None or empty.
        compile: when True (default) and the model was saved compiled, compile it
            again with the saved settings and restore the optimizer state, so that
            training continues exactly where it stopped.
        safe_mode: accepted for Keras compatibility; loading is always safe (no
            pickle, no code).

    Returns:
        A ``Sequential`` model, built when the saved model was built.

    Raises:
        OSError: the file cannot be opened (``FileNotFoundError`` when missing).
        ValueError: the file is not a valid cyneuron model file (truncated,
            corrupted, foreign, a weights-only file, unknown layer, wrong shapes...).
    """
    path = _check_path(filepath, "filepath")
    if custom_objects:
        raise ValueError("load_model(custom_objects=...) is not supported: cyneuron models have no custom objects")
    _check_bool(compile, "compile")
    from cyneuron import saving_keras

    if saving_keras.is_keras_archive(path):
        return saving_keras.load_keras_model(path, compile)
    return _model_from_archive(path, _read_archive(path, expect_model=True), compile)


def _model_from_archive(path: str, archive: _Archive, compile: bool) -> Any:
    """Build, fill and compile the model an archive describes; ``path`` names the source in errors."""
    manifest = archive.manifest
    _guard_model_size(path, manifest["model_config"], archive.weights)

    from cyneuron.models import model_from_config

    try:
        # Building runs the initializers, whose values are overwritten anyway: keep them from
        # consuming the global generator, so loading never changes later shuffles or inits.
        with _global_rng_preserved():
            model = model_from_config(manifest["model_config"])
    except MemoryError as exc:
        raise ValueError(f"{path}: the model configuration asks for more memory than available") from exc
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"{path}: invalid model configuration: {exc}") from exc

    if archive.weights or model.built:
        if not model.built:
            raise ValueError(f"{path}: the file holds weights but its model configuration has no input shape")
        _check_against_model(path, model, archive.weights, manifest["dtype"])
        _set_weights(path, model, archive.weights)
    if compile and manifest["compile_config"] is not None:
        try:
            model.compile_from_config(manifest["compile_config"])
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path}: invalid compile configuration: {exc}") from exc
        for i, slot in enumerate(archive.optimizer):
            # Resuming from NaN / inf slots would turn every weight non-finite on the first step.
            if not np.isfinite(slot).all():
                name = _entry_name("optimizer", i)
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


def save_weights(model: Any, filepath: PathLike, overwrite: bool = True) -> None:
    """Save only the model's weights (Keras order: kernel, bias, ...) to one zip file.

    Keras 3 requires the ``.weights.h5`` extension; cyneuron accepts any name.
    The optimizer state is not saved: use ``save_model`` to resume training exactly.

    Raises:
        ValueError: the model is not built (it has no weights yet).
        FileExistsError: ``overwrite=False`` and the file exists.
    """
    _check_model(model, _WEIGHTS_API)
    path = _check_path(filepath, "filepath")
    _check_bool(overwrite, "overwrite")
    if not model.built:
        raise ValueError("save_weights: the model is not built yet, so it has no weights to save")
    if path.endswith(KERAS_WEIGHTS_SUFFIX):
        from cyneuron import saving_keras

        if saving_keras.available():
            saving_keras.save_keras_weights(model, path, overwrite)
            return
        saving_keras.warn_fallback(path)
    weights = _check_arrays(model.get_weights(), "model.get_weights()")
    manifest = {
        "format": WEIGHTS_FORMAT,
        "format_version": FORMAT_VERSION,
        "cyneuron_version": _cyneuron_version(),
        "dtype": _model_dtype(model, weights),
        "weights": _describe(weights),
        "optimizer": [],
    }
    _atomic_write(path, overwrite, lambda f: _write_archive(f, manifest, weights, []))


def load_weights(model: Any, filepath: PathLike, skip_mismatch: bool = False) -> None:
    """Load weights written by ``save_weights`` (or the weights of a ``save_model`` file).

    The model must be built with the same architecture and dtype. The file is
    validated completely before any weight changes; on error the model is untouched.
    ``skip_mismatch=True`` (Keras ``.weights.h5`` / ``.keras`` files) leaves the layers whose weights
    differ in shape from the file's as they are, with a warning, as Keras does.

    Raises:
        OSError: the file cannot be opened.
        ValueError: invalid file, unbuilt model, or weights that do not match the model.
    """
    _check_model(model, _WEIGHTS_API)
    path = _check_path(filepath, "filepath")
    if not model.built:
        raise ValueError(f"load_weights({path}): the model is not built; build it (give an input shape) first")
    from cyneuron import saving_keras

    _check_bool(skip_mismatch, "skip_mismatch")
    if saving_keras.is_hdf5_file(path) or saving_keras.is_keras_archive(path):
        saving_keras.load_keras_weights(model, path, skip_mismatch)
        return
    if skip_mismatch:
        raise ValueError(
            "skip_mismatch: supported for Keras .weights.h5 / .keras files, whose weights are stored per layer; "
            f"{path} is a cyneuron file"
        )
    archive = _read_archive(path, expect_model=False)
    weights = _check_against_model(path, model, archive.weights, archive.manifest["dtype"], cast=True)
    _set_weights(path, model, weights)


def _set_weights(path, model: Any, weights: list) -> None:
    """``model.set_weights`` (which refuses NaN / inf), with the file named in its error."""
    try:
        model.set_weights(weights)
    except ValueError as exc:
        raise ValueError(f"{path}: weights (entries weights/*.npy): {exc}") from exc


# --------------------------------------------------------------------------- writing
def _write_archive(f: IO[bytes], manifest: dict, weights: list, optimizer: list) -> None:
    # allow_nan stays on: Python's json reads its own NaN/Infinity tokens back.
    config_bytes = json.dumps(manifest, indent=2, sort_keys=False).encode("utf-8")
    # Stored (uncompressed): float weights barely compress, and stored entries make
    # every declared size checkable against the archive size on load.
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(_zipinfo(CONFIG_ENTRY, len(config_bytes)), config_bytes)
        for prefix, arrays in (("weights", weights), ("optimizer", optimizer)):
            for i, array in enumerate(arrays):
                info = _zipinfo(_entry_name(prefix, i), array.nbytes + MAX_NPY_HEADER_BYTES)
                with zf.open(info, "w") as entry:
                    _write_npy(entry, array)


def _write_npy(fileobj: IO[bytes], array: np.ndarray) -> None:
    np.lib.format.write_array(fileobj, np.ascontiguousarray(array), allow_pickle=False)


def _zipinfo(name: str, size_hint: int) -> zipfile.ZipInfo:
    # A fixed timestamp makes identical models give byte-identical files.
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    # zipfile picks the zip64 layout from this hint when the entry is streamed.
    info.file_size = size_hint
    return info


def _atomic_write(path: str, overwrite: bool, write: Callable[[IO[bytes]], None]) -> None:
    """Write via ``write(fileobj)`` to a temporary sibling of ``path``, fsync, then rename over ``path``."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a directory; give a file path")
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"{path} already exists and overwrite=False")
    if os.path.islink(path):
        # Replace the file the link points to, keeping the link (as writing through it would).
        path = os.path.realpath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {path}: folder {folder} does not exist")
    mode = _new_file_mode(path)
    # A short prefix keeps the temporary name within file-name length limits.
    prefix = "." + os.path.basename(path)[:64] + "."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, path)
        else:
            _rename_no_clobber(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


def _rename_no_clobber(tmp: str, path: str) -> None:
    # A hard link fails atomically when the target exists, closing the race
    # between the existence check and the rename.
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{path} already exists and overwrite=False") from None
    except OSError:
        # File systems without hard links: best effort.
        if os.path.lexists(path):
            raise FileExistsError(f"{path} already exists and overwrite=False") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _new_file_mode(path: str) -> int:
    # mkstemp creates files readable by the owner only; give the result the mode a
    # plain open() would (or keep the mode of the file being replaced).
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _fsync_folder(folder: str) -> None:
    # Makes the rename itself durable; not possible on every platform.
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- reading
class _Archive:
    __slots__ = ("manifest", "weights", "optimizer")

    def __init__(self, manifest: dict, weights: list, optimizer: list) -> None:
        self.manifest = manifest
        self.weights = weights
        self.optimizer = optimizer


# Everything a damaged zip can make zipfile / zlib raise while reading.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


def _read_archive(path: str, expect_model: bool) -> _Archive:
    """Open, validate and read the whole file; ValueError naming ``path`` on any problem."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "No such cyneuron file", path) from None
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{path} is a directory, not a cyneuron file")
    if not stat.S_ISREG(mode):
        # open() blocks forever on a FIFO without writer, and zipfile reads an endless device such as
        # /dev/zero into memory looking for the end of the archive.
        raise ValueError(f"{path} is not a regular file (a device, FIFO or socket), so not a cyneuron file")
    try:
        # O_NONBLOCK: should the path be replaced by a FIFO after the check, opening it still returns at once,
        # and the check on the open file below refuses it.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "No such cyneuron file", path) from None
    try:
        raw = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with raw:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise ValueError(f"{path} is not a regular file (a device, FIFO or socket), so not a cyneuron file")
        archive_size = opened.st_size
        try:
            zf = zipfile.ZipFile(raw)
        except zipfile.BadZipFile as exc:
            raise ValueError(f"{path} is not a cyneuron file (not a zip archive, or truncated): {exc}") from exc
        except (*_ZIP_ERRORS, OSError) as exc:
            raise ValueError(f"{path} is not a readable zip archive: {exc}") from exc
        with zf:
            try:
                return _read_entries(path, zf, archive_size, expect_model)
            except _FileError as exc:
                raise ValueError(f"{path}: {exc}") from exc.__cause__
            except (*_ZIP_ERRORS, OSError) as exc:
                raise ValueError(f"{path} is corrupted: {exc}") from exc


class _FileError(Exception):
    """A validation failure; the caller prefixes the file's path."""


def _read_entries(path: str, zf: zipfile.ZipFile, archive_size: int, expect_model: bool) -> _Archive:
    infos = zf.infolist()
    by_name: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        if name != CONFIG_ENTRY and not _ENTRY_NAME.fullmatch(name):
            raise _FileError(f"unexpected entry {name!r} (not a cyneuron file, or tampered with)")
        if name in by_name:
            raise _FileError(f"duplicate entry {name!r}")
        if info.flag_bits & 0x1:
            raise _FileError(f"entry {name!r} is encrypted")
        # Arrays are written uncompressed, which bounds what they can make us allocate by
        # the file's own size (no zip bombs); only the small, capped config may be deflated.
        allowed = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) if name == CONFIG_ENTRY else (zipfile.ZIP_STORED,)
        if info.compress_type not in allowed:
            raise _FileError(f"entry {name!r} uses an unsupported compression method ({info.compress_type})")
        if info.compress_size > archive_size:
            raise _FileError(f"entry {name!r} declares more data than the file holds")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise _FileError(f"entry {name!r} declares inconsistent sizes")
        by_name[name] = info
    if sum(info.compress_size for info in infos) > archive_size:
        raise _FileError("entries declare more data than the file holds")
    if CONFIG_ENTRY not in by_name:
        raise _FileError(f"no {CONFIG_ENTRY} (not a cyneuron file)")

    manifest = _parse_manifest(zf, by_name[CONFIG_ENTRY], expect_model)
    weight_specs, optimizer_specs = manifest["weights"], manifest["optimizer"]
    expected = {CONFIG_ENTRY}
    expected.update(_entry_name("weights", i) for i in range(len(weight_specs)))
    expected.update(_entry_name("optimizer", i) for i in range(len(optimizer_specs)))
    missing = sorted(expected - by_name.keys())
    if missing:
        raise _FileError(f"missing entries {', '.join(missing)} (truncated or tampered with)")
    extra = sorted(by_name.keys() - expected)
    if extra:
        raise _FileError(f"unexpected entries {', '.join(extra)}")

    # Check every declared size before reading a single array.
    total = 0
    for prefix, specs in (("weights", weight_specs), ("optimizer", optimizer_specs)):
        for i, (shape, dtype) in enumerate(specs):
            name = _entry_name(prefix, i)
            nbytes = math.prod(shape) * dtype.itemsize
            info = by_name[name]
            if not nbytes <= info.file_size <= nbytes + MAX_NPY_HEADER_BYTES:
                raise _FileError(
                    f"entry {name!r} declares {info.file_size} bytes but an array of shape {tuple(shape)} "
                    f"and dtype {dtype.name} needs {nbytes} plus a header"
                )
            total += info.file_size
    if total > archive_size:
        raise _FileError("entries declare more data than the file holds")

    weights = [_read_npy(zf, by_name[_entry_name("weights", i)], s, d) for i, (s, d) in enumerate(weight_specs)]
    optimizer = [_read_npy(zf, by_name[_entry_name("optimizer", i)], s, d) for i, (s, d) in enumerate(optimizer_specs)]
    return _Archive(manifest, weights, optimizer)


def _parse_manifest(zf: zipfile.ZipFile, info: zipfile.ZipInfo, expect_model: bool) -> dict:
    if info.file_size > MAX_CONFIG_BYTES:
        raise _FileError(f"{CONFIG_ENTRY} declares {info.file_size} bytes (limit {MAX_CONFIG_BYTES})")
    with zf.open(info) as entry:
        data = entry.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise _FileError(f"{CONFIG_ENTRY} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _FileError(f"{CONFIG_ENTRY} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise _FileError(f"{CONFIG_ENTRY} is not a JSON object (not a cyneuron file)")
    fmt = manifest.get("format")
    if fmt not in (MODEL_FORMAT, WEIGHTS_FORMAT):
        raise _FileError(f"not a cyneuron file (format {fmt!r})")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _FileError(f"invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise _FileError(
            f"written in format version {version} by cyneuron {manifest.get('cyneuron_version')!r}; "
            f"this cyneuron reads up to version {FORMAT_VERSION}: upgrade cyneuron"
        )
    if expect_model and fmt != MODEL_FORMAT:
        raise _FileError("is a weights-only file (from save_weights): load it with model.load_weights()")
    dtype_name = manifest.get("dtype")
    if not isinstance(dtype_name, str) or dtype_name not in _ALLOWED_DTYPES:
        raise _FileError(f"dtype must be 'float32' or 'float64', got {dtype_name!r}")
    raw_optimizer = manifest.get("optimizer", [])
    manifest["weights"] = _parse_specs(manifest.get("weights"), "weights", dtype_name)
    manifest["optimizer"] = _parse_specs(raw_optimizer, "optimizer", dtype_name)
    if fmt == MODEL_FORMAT:
        if not isinstance(manifest.get("model_config"), dict):
            raise _FileError("model_config is missing or not a JSON object")
        if _json_depth(manifest["model_config"]) > MAX_JSON_DEPTH:
            raise _FileError("model_config is nested too deeply")
        compile_config = manifest.get("compile_config")
        if compile_config is not None and not isinstance(compile_config, dict):
            raise _FileError("compile_config must be a JSON object or null")
        iterations = manifest.get("optimizer_iterations")
        if iterations is not None and (
            not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 0
        ):
            raise _FileError(f"optimizer_iterations must be an integer >= 0, got {iterations!r}")
        if manifest["optimizer"]:
            if compile_config is None:
                raise _FileError("optimizer state without a compile configuration")
            if version == 1 and [s for s, _ in manifest["optimizer"]] != [s for s, _ in manifest["weights"]]:
                raise _FileError("optimizer state must hold one array per weight, with the weight's shape")
        if version >= 2:
            manifest["optimizer_paths"] = _parse_paths(raw_optimizer)
            scalars = manifest.get("optimizer_scalars", {})
            if not isinstance(scalars, dict) or not all(
                isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for k, v in scalars.items()
            ):
                raise _FileError("optimizer_scalars must map names to finite numbers")
    elif manifest["optimizer"]:
        raise _FileError("a weights file cannot hold optimizer state")
    return manifest


def _parse_paths(specs: list) -> list[str]:
    """The optimizer entries' variable paths: unique strings of printable characters."""
    paths = [spec.get("path") for spec in specs]
    for i, value in enumerate(paths):
        if not isinstance(value, str) or not value or len(value) > MAX_PATH_CHARS or not value.isprintable():
            raise _FileError(f"optimizer[{i}] has an invalid path {value!r}")
    if len(set(paths)) != len(paths):
        raise _FileError("optimizer entries have duplicate paths")
    return paths


def _parse_specs(specs: object, what: str, dtype_name: str) -> list[tuple[list[int], np.dtype]]:
    if not isinstance(specs, list):
        raise _FileError(f"{what!r} in {CONFIG_ENTRY} must be a list")
    parsed = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise _FileError(f"{what}[{i}] in {CONFIG_ENTRY} must be an object")
        shape = spec.get("shape")
        if not (
            isinstance(shape, list)
            and len(shape) <= 32
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ):
            raise _FileError(f"{what}[{i}] has an invalid shape {shape!r}")
        if spec.get("dtype") != dtype_name:
            raise _FileError(f"{what}[{i}] has dtype {spec.get('dtype')!r}, expected the model's {dtype_name!r}")
        parsed.append((shape, _ALLOWED_DTYPES[dtype_name]))
    return parsed


def _read_npy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, shape: list[int], dtype: np.dtype) -> np.ndarray:
    name = info.filename
    # Reading to the end makes zipfile verify the CRC; the declared size was capped above.
    with zf.open(info) as entry:
        data = entry.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise _FileError(f"entry {name!r} is truncated")
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
        raise _FileError(f"entry {name!r} is not a valid .npy array: {exc}") from exc
    # Object arrays (which would need pickle) and every other dtype stop here.
    if file_dtype != dtype:
        raise _FileError(f"entry {name!r} has dtype {file_dtype}, expected {dtype.name} (little-endian)")
    if list(file_shape) != list(shape):
        raise _FileError(f"entry {name!r} has shape {tuple(file_shape)}, expected {tuple(shape)}")
    payload = memoryview(data)[stream.tell() :]
    nbytes = math.prod(shape) * dtype.itemsize
    if len(payload) != nbytes:
        raise _FileError(f"entry {name!r} holds {len(payload)} data bytes, expected {nbytes}")
    array = np.frombuffer(payload, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    return np.array(array, dtype=dtype, order="C", copy=True)


def _check_against_model(path: str, model: Any, weights: list, dtype_name: str, cast: bool = False) -> list:
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


def _guard_model_size(path: str, model_config: dict, weights: list) -> None:
    """Refuse configurations whose layers would allocate more than the file's weights.

    ``Sequential.from_config`` allocates every weight before they can be compared
    with the file's, so a forged ``units=10**12`` or ``input_dim=10**9`` must be
    caught here. Every size-bearing key is checked: in a genuine file every layer
    with ``units`` owns a kernel of at least ``units`` elements, and the input
    (``input_dim`` or an input shape) feeds such a kernel, so none of them can
    exceed the number of saved weight values. Then the layer stack is walked as
    ``from_config`` builds it, and the weights it would create (``fan_in * units``
    plus ``units`` per Dense) must not exceed the saved ones either. A file
    without weights must describe an unbuilt model (no input shape).
    """
    elements = sum(int(w.size) for w in weights)
    units = _ints(_find_values(model_config, ("units",)))
    shapes = [shape for shape in _find_values(model_config, _SHAPE_KEYS) if _is_shape(shape)]
    # A layer's input_dim (only layers take one; Sequential's own config has none).
    shapes += [[d] for d in _ints(_find_values(model_config.get("layers"), ("input_dim",)))]
    if units and (weights or shapes):
        for u in units:
            if u > elements:
                raise ValueError(f"{path}: a layer declares units={u} but the file holds only {elements} weight values")
        # Convolution and pooling layers shrink the data before any kernel sees it (a 3x3 kernel
        # serves any image size), and an Embedding's rows serve sequences of any length (a recurrent
        # layer after it too): there only the dry-run count below bounds what loading builds.
        windowed = any(
            isinstance(name, str) and ("Conv" in name or "Pool" in name or name == "Embedding")
            for name in _find_values(model_config.get("layers"), ("class_name",))
        )
        for shape in [] if windowed else shapes:
            if math.prod(d for d in shape if d is not None) > elements:
                raise ValueError(
                    f"{path}: input shape {shape} is larger than the {elements} weight values the file holds"
                )
    implied = _built_weight_count(model_config)
    if implied > elements:
        raise ValueError(
            f"{path}: the model configuration builds {implied} weight values, larger than the {elements} the file holds"
        )


def _ints(values: list) -> list[int]:
    return [v for v in values if isinstance(v, int) and not isinstance(v, bool)]


def _is_shape(value: object) -> bool:
    return isinstance(value, list) and all((isinstance(d, int) and not isinstance(d, bool)) or d is None for d in value)


def _built_weight_count(model_config: dict) -> int:
    """Weight values ``Sequential.from_config(model_config)`` creates, from each layer's own shape
    inference (``Layer._weight_shapes``: ``build`` run without allocating), walking the stack in order.

    The input shape is the largest any input key of the first layer (or ``build_input_shape``)
    declares, so the count never underestimates. A configuration that fails to deserialize or
    to chain builds nothing here; ``from_config`` then reports the error.
    """
    from cyneuron.layers import InputLayer
    from cyneuron.layers import deserialize as deserialize_layer

    entries = model_config.get("layers")
    if not isinstance(entries, list) or not entries:
        return 0
    try:
        with _global_rng_preserved():  # initializers may draw their seeds when constructed
            layers = [deserialize_layer(entry) for entry in entries]
    except Exception:
        return 0
    shapes = [layer._input_shape_arg for layer in layers[:1] if layer._input_shape_arg is not None]
    build_shape = model_config.get("build_input_shape")
    if isinstance(build_shape, list) and len(build_shape) > 1 and _is_shape(build_shape[1:]) and all(build_shape[1:]):
        shapes.append(tuple(build_shape[1:]))
    if not shapes:
        return 0  # no input shape: the model is not built, nothing is allocated
    features = max(shapes, key=math.prod)
    total = 0
    for layer in layers:
        if isinstance(layer, InputLayer):
            continue
        try:
            # A Normalization's given mean / variance come from the config (already read, so bounded by
            # its size); Keras files hold no variables for them.
            if getattr(layer, "input_mean", None) is None:
                total += sum(math.prod(shape) for shape in layer._weight_shapes(features))
            features = tuple(layer.compute_output_shape((None, *features))[1:])
        except Exception:
            break
    return total


def _find_values(obj: object, keys: Sequence[str]) -> list:
    """Every value stored under one of ``keys`` anywhere in a JSON document."""
    found, stack = [], [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in keys:
                    found.append(value)
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


# --------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def _global_rng_preserved() -> Iterator[None]:
    try:
        from cyneuron import config
    except ImportError:  # the stand-alone format tests have no front end
        yield
        return
    rng = config.random_generator()
    state = rng.bit_generator.state
    try:
        yield
    finally:
        rng.bit_generator.state = state


def _entry_name(prefix: str, index: int) -> str:
    return f"{prefix}/{index:03d}.npy"


def _describe(arrays: Sequence[np.ndarray], paths: Sequence[str] = ()) -> list[dict]:
    specs = [{"shape": [int(d) for d in a.shape], "dtype": a.dtype.name} for a in arrays]
    for spec, variable_path in zip(specs, paths):
        spec["path"] = variable_path
    return specs


def _check_arrays(arrays: Sequence[np.ndarray], what: str) -> list[np.ndarray]:
    out = []
    for i, a in enumerate(arrays):
        a = np.asarray(a)
        if a.dtype.name not in _ALLOWED_DTYPES:
            raise ValueError(f"{what}[{i}] has dtype {a.dtype}; only float32 and float64 can be saved")
        # Always write little-endian so the file reads the same everywhere.
        out.append(a.astype(_ALLOWED_DTYPES[a.dtype.name], copy=False))
    names = {a.dtype.name for a in out}
    if len(names) > 1:
        raise ValueError(f"{what} mixes dtypes {sorted(names)}")
    return out


def _model_dtype(model: Any, weights: list[np.ndarray]) -> str:
    if weights:
        return weights[0].dtype.name
    dtype = getattr(model, "dtype", None)
    try:
        name = np.dtype(dtype).name if dtype is not None else "float32"
    except TypeError:
        name = "float32"
    return name if name in _ALLOWED_DTYPES else "float32"


def _cyneuron_version() -> str:
    version = getattr(sys.modules.get("cyneuron"), "__version__", None)
    if isinstance(version, str):
        return version
    try:
        from importlib.metadata import version as dist_version

        return dist_version("cyneuron")
    except Exception:
        return "unknown"


def _check_path(filepath: object, name: str) -> str:
    if not isinstance(filepath, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(filepath).__name__}")
    path = os.fspath(filepath)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path:
        raise ValueError(f"{name} must not be empty")
    if "\0" in path:
        raise ValueError(f"{name} must not contain a null byte, got {path!r}")
    return path


# What each entry point uses of the model: checked up front, so a wrong object is a TypeError naming
# ``model`` rather than an AttributeError from deep inside.
_SAVE_MODEL_API = (
    "built",
    "get_config",
    "get_compile_config",
    "get_weights",
    "weight_paths",
    "optimizer_state",
    "trained_weight_paths",
    "optimizer_slot_specs",
    "optimizer_scalar_specs",
)
_WEIGHTS_API = ("built", "get_weights", "set_weights")


def _check_model(model: object, needs: Sequence[str]) -> None:
    missing = [attribute for attribute in needs if not hasattr(model, attribute)]
    if missing:
        raise TypeError(
            f"model: expected a cyneuron model (e.g. Sequential), got {type(model).__name__} "
            f"(it has no {', '.join(missing)})"
        )


def _check_bool(value: object, name: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")


def _json_depth(obj: object) -> int:
    depth, stack = 0, [(obj, 1)]
    while stack:
        item, level = stack.pop()
        depth = max(depth, level)
        if depth > MAX_JSON_DEPTH:
            return depth
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return depth


# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
