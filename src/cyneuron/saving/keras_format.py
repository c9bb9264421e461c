"""Keras 3 native files: ``.keras`` archives and ``.weights.h5`` weight files, written and read.

A ``.keras`` file is a zip holding::

    metadata.json      {"keras_version": ..., "date_saved": ...}
    config.json        the model serialized as Keras does (``keras_config``): {"module": "keras",
                       "class_name": "Sequential", "config": {..., "layers": [{"module": "keras.layers",
                       "class_name": ..., "config": ..., "registered_name": null, "build_config":
                       {"input_shape": [...]}}, ...]}, "build_config": ..., "compile_config": ...}
    model.weights.h5   HDF5: the layers' and the optimizer's variables (``keras_layout``)

A ``.weights.h5`` file is that HDF5 file on its own.

Reading treats the file as untrusted, as cyneuron's own format does: no pickle, no eval; the configuration
is parsed as JSON and only classes cyneuron has are built; the model the configuration describes is sized
by a dry run against the weights the HDF5 file declares before anything is allocated (``guard``); the HDF5
file is walked and checked before any dataset is read (``keras_h5``). Any problem is a ValueError naming
the file.

h5py is imported lazily: ``pip install "cyneuron[keras]"``.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import stat
import zipfile
from typing import Any

from cyneuron.saving.files import ZIP_ERRORS, FileFormatError, atomic_write, read_entry, read_regular, zipinfo
from cyneuron.saving.guard import built_weight_count, global_rng_preserved, guard_model_size, set_weights
from cyneuron.saving.keras_config import keras_model_config, model_config_from_keras
from cyneuron.saving.keras_h5 import (
    H5_OVERHEAD,
    H5_OVERHEAD_PER_DATASET,
    H5File,
    H5pyMissingError,
    available,
    h5_layer_elements,
    import_h5py,
    read_layer_weights,
    restore_optimizer,
    weights_h5_bytes,
)
from cyneuron.saving.keras_layout import has_schedule
from cyneuron.saving.native import CONFIG_ENTRY, MAX_CONFIG_BYTES

__all__ = [
    "is_keras_archive",
    "is_hdf5_file",
    "save_keras_model",
    "load_keras_model",
    "save_keras_weights",
    "load_keras_weights",
    "available",
    "warn_fallback",
    "H5pyMissingError",
]

METADATA_ENTRY = "metadata.json"
WEIGHTS_ENTRY = "model.weights.h5"
KERAS_ENTRIES = frozenset((METADATA_ENTRY, CONFIG_ENTRY, WEIGHTS_ENTRY))
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# The Keras version whose layout this module writes (and whose files it was checked against).
KERAS_VERSION = "3.15.1"
MAX_METADATA_BYTES = 1024 * 1024

def warn_fallback(path: str) -> None:
    """Saving to a Keras name without h5py: cyneuron's own format is written instead, with this warning."""
    import warnings

    warnings.warn(
        f"{path}: h5py is not installed, so this file is written in cyneuron's own format, which Keras cannot "
        'open; pip install "cyneuron[keras]" to write Keras 3 files',
        RuntimeWarning,
        stacklevel=4,
    )


# --------------------------------------------------------------------------- sniffing
def is_keras_archive(path: str) -> bool:
    """True when ``path`` is a zip whose entries are Keras' (``metadata.json``, ``config.json``,
    ``model.weights.h5``), whatever its name."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                return False
            f.seek(0)
            with zipfile.ZipFile(f) as zf:
                names = set(zf.namelist())
    except (OSError, *ZIP_ERRORS):
        return False
    return names >= KERAS_ENTRIES


def is_hdf5_file(path: str) -> bool:
    """True when ``path`` starts with the HDF5 signature (what ``save_weights`` writes for ``.weights.h5``)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as f:
            return f.read(len(HDF5_MAGIC)) == HDF5_MAGIC
    except OSError:
        return False


# --------------------------------------------------------------------------- writing
def save_keras_model(model: Any, path: str, overwrite: bool = True) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` archive (atomically)."""
    h5py = import_h5py()
    config = keras_model_config(model)
    metadata = {"keras_version": KERAS_VERSION, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    weights_bytes = weights_h5_bytes(h5py, model, with_optimizer=config.get("compile_config") is not None)
    config_bytes = json.dumps(config).encode("utf-8")
    metadata_bytes = json.dumps(metadata).encode("utf-8")

    def write(f) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(zipinfo(METADATA_ENTRY, len(metadata_bytes)), metadata_bytes)
            zf.writestr(zipinfo(CONFIG_ENTRY, len(config_bytes)), config_bytes)
            zf.writestr(zipinfo(WEIGHTS_ENTRY, len(weights_bytes)), weights_bytes)

    atomic_write(path, overwrite, write)


def save_keras_weights(model: Any, path: str, overwrite: bool = True) -> None:
    """Write the model's weights as Keras' ``.weights.h5`` (no optimizer state, as Keras' ``save_weights``)."""
    h5py = import_h5py()
    if not model.built:
        raise ValueError("save_weights: the model is not built yet, so it has no weights to save")
    data = weights_h5_bytes(h5py, model, with_optimizer=False)
    atomic_write(path, overwrite, lambda f: f.write(data))


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, path: str) -> bytes:
    if info.flag_bits & 0x1:
        raise ValueError(f"{path}: entry {info.filename!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"{path}: entry {info.filename!r} uses an unsupported compression method")
    try:
        return read_entry(zf, info, limit)
    except FileFormatError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _open_keras_zip(path: str, data: bytes) -> tuple[dict, dict | None, bytes]:
    """(config.json, metadata.json, model.weights.h5 bytes) of a ``.keras`` archive, size-checked."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (*ZIP_ERRORS, OSError) as exc:
        raise ValueError(f"{path} is not a Keras file (not a zip archive, or truncated): {exc}") from exc
    try:
        with zf:
            infos = {}
            for info in zf.infolist():
                if info.filename in infos:
                    raise ValueError(f"{path}: duplicate entry {info.filename!r}")
                infos[info.filename] = info
            missing = sorted(KERAS_ENTRIES - infos.keys())
            if missing:
                raise ValueError(f"{path}: not a Keras file (missing {', '.join(missing)})")
            extra = sorted(set(infos) - KERAS_ENTRIES)
            if extra:
                # Keras writes assets/ for layers with files (e.g. lookup tables), none of which cyneuron has.
                raise ValueError(
                    f"{path}: unsupported entries {', '.join(extra[:5])} (assets of layers cyneuron lacks)"
                )
            config_bytes = _read_entry(zf, infos[CONFIG_ENTRY], MAX_CONFIG_BYTES, path)
            metadata_bytes = _read_entry(zf, infos[METADATA_ENTRY], MAX_METADATA_BYTES, path)
            # Stored or deflated, the HDF5 file can be no larger than the (already read) archive times the
            # deflate ratio limit; its datasets are capped again against the model below.
            h5_limit = max(len(data) * 64, H5_OVERHEAD)
            h5_bytes = _read_entry(zf, infos[WEIGHTS_ENTRY], h5_limit, path)
    except (*ZIP_ERRORS, OSError) as exc:
        raise ValueError(f"{path} is corrupted: {exc}") from exc
    config = _parse_json(path, config_bytes, CONFIG_ENTRY)
    metadata = _parse_json(path, metadata_bytes, METADATA_ENTRY)
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: {METADATA_ENTRY} is not a JSON object")
    version = metadata.get("keras_version")
    if isinstance(version, str) and not version.startswith("3."):
        raise ValueError(f"{path}: written by Keras {version}; only Keras 3 files are supported")
    return config, metadata, h5_bytes


def _parse_json(path: str, data: bytes, name: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: {name} is not valid JSON: {exc}") from exc

def load_keras_model(path: str, compile: bool = True) -> Any:
    """A cyneuron model from a Keras 3 ``.keras`` archive (Sequential of layers cyneuron has)."""
    h5py = import_h5py(path)
    data = read_regular(path, "Keras file", _keras_file_limit(path))
    config, _metadata, h5_bytes = _open_keras_zip(path, data)
    model_config, compile_config = model_config_from_keras(path, config)
    h5 = H5File(path, h5py, h5_bytes)
    try:
        return _build_model(path, h5, model_config, compile_config, compile)
    finally:
        h5.close()


def _keras_file_limit(path: str) -> int:
    """The most bytes a ``.keras`` file can hold for the model its ``config.json`` describes (its weights,
    four optimizer slots each, in float64, plus HDF5 bookkeeping and the capped JSON entries), read from the
    archive on disk before the whole file is: a forged multi-gigabyte weights entry is refused unread."""
    try:
        with zipfile.ZipFile(path) as zf:
            config_bytes = _read_entry(zf, zf.getinfo(CONFIG_ENTRY), MAX_CONFIG_BYTES, path)
    except (*ZIP_ERRORS, KeyError, OSError) as exc:
        raise ValueError(f"{path} is not a readable Keras file: {exc}") from exc
    model_config, _ = model_config_from_keras(path, _parse_json(path, config_bytes, CONFIG_ENTRY))
    # 0 for a configuration that does not deserialize: such a file only gets as far as its error message
    # (_build_model's), and only when it is small.
    values = built_weight_count(model_config)
    datasets = 4 * len(model_config["layers"]) + 64
    return 5 * 8 * values + H5_OVERHEAD + H5_OVERHEAD_PER_DATASET * datasets + 2 * MAX_CONFIG_BYTES


def _build_model(path: str, h5: H5File, model_config: dict, compile_config: dict | None, compile: bool) -> Any:
    from cyneuron.models import model_from_config

    shapes = h5_layer_elements(h5)
    # Every layer weight must be declared in the file, whose size bounds them: refuses forged configs
    # (units=10**9 ...) before from_config allocates anything.
    guard_model_size(path, model_config, shapes)
    try:
        with global_rng_preserved():
            model = model_from_config(model_config)
    except MemoryError as exc:
        raise ValueError(f"{path}: the model configuration asks for more memory than available") from exc
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"{path}: invalid or unsupported model configuration: {exc}") from exc
    if model.built:
        weights = read_layer_weights(h5, model)
        set_weights(path, model, weights)
    elif any(k.startswith("layers/") for k in h5.datasets):
        raise ValueError(f"{path}: the file holds weights but its model configuration has no input shape")
    if compile and compile_config is not None:
        try:
            model.compile_from_config(compile_config)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path}: invalid or unsupported compile configuration: {exc}") from exc
        if model.built and "optimizer/vars" in h5.groups:
            restore_optimizer(path, h5, model, has_schedule(compile_config))
    return model

def load_keras_weights(model: Any, path: str, skip_mismatch: bool = False) -> None:
    """Load a Keras ``.weights.h5`` (or the weights of a ``.keras`` archive) into a built model."""
    h5py = import_h5py(path)
    if not model.built:
        raise ValueError(f"load_weights({path}): the model is not built; build it (give an input shape) first")
    # A weights file for this model is its weights plus HDF5 bookkeeping: refuse much larger ones unread
    # (a .keras archive also holds its capped JSON entries).
    need = sum(int(w.nbytes) * 5 for w in model.get_weights())  # weights plus up to 4 optimizer slots each
    limit = need + H5_OVERHEAD + H5_OVERHEAD_PER_DATASET * (len(model.get_weights()) + 64)
    data = read_regular(path, "Keras weights file", limit + MAX_CONFIG_BYTES + MAX_METADATA_BYTES)
    if data[:4] == b"PK\x03\x04":
        _config, _metadata, data = _open_keras_zip(path, data)
    if len(data) > limit:
        raise ValueError(f"{path}: {len(data)} bytes is far more than this model's weights ({need // 5} bytes)")
    if data[: len(HDF5_MAGIC)] != HDF5_MAGIC:
        raise ValueError(f"{path} is not an HDF5 weights file")
    h5 = H5File(path, h5py, data)
    try:
        weights = read_layer_weights(h5, model, skip_mismatch)
    finally:
        h5.close()
    set_weights(path, model, weights)
