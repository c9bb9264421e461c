"""cyneuron's own format, the writing side: one zip of ``config.json`` plus ``.npy`` arrays.

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
Entries are stored uncompressed with a fixed timestamp: identical models give byte-identical files, and
every declared size is checkable against the archive's size on load (``native_read``).
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import zipfile
from collections.abc import Sequence
from typing import IO, Any

import numpy as np

from cyneuron.saving.files import zipinfo

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

ALLOWED_DTYPES = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8")}
ENTRY_NAME = re.compile(r"(?:weights|optimizer)/[0-9]{3,}\.npy")


def model_contents(model: Any) -> tuple[dict, list, list]:
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


def weights_contents(model: Any) -> tuple[dict, list]:
    """The manifest and arrays of a weights file (``save_weights``)."""
    weights = _check_arrays(model.get_weights(), "model.get_weights()")
    manifest = {
        "format": WEIGHTS_FORMAT,
        "format_version": FORMAT_VERSION,
        "cyneuron_version": _cyneuron_version(),
        "dtype": _model_dtype(model, weights),
        "weights": _describe(weights),
        "optimizer": [],
    }
    return manifest, weights


def write_archive(f: IO[bytes], manifest: dict, weights: list, optimizer: list) -> None:
    # allow_nan stays on: Python's json reads its own NaN/Infinity tokens back.
    config_bytes = json.dumps(manifest, indent=2, sort_keys=False).encode("utf-8")
    # Stored (uncompressed): float weights barely compress, and stored entries make
    # every declared size checkable against the archive size on load.
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(zipinfo(CONFIG_ENTRY, len(config_bytes)), config_bytes)
        for prefix, arrays in (("weights", weights), ("optimizer", optimizer)):
            for i, array in enumerate(arrays):
                info = zipinfo(entry_name(prefix, i), array.nbytes + MAX_NPY_HEADER_BYTES)
                with zf.open(info, "w") as entry:
                    _write_npy(entry, array)


def _write_npy(fileobj: IO[bytes], array: np.ndarray) -> None:
    np.lib.format.write_array(fileobj, np.ascontiguousarray(array), allow_pickle=False)


def entry_name(prefix: str, index: int) -> str:
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
        if a.dtype.name not in ALLOWED_DTYPES:
            raise ValueError(f"{what}[{i}] has dtype {a.dtype}; only float32 and float64 can be saved")
        # Always write little-endian so the file reads the same everywhere.
        out.append(a.astype(ALLOWED_DTYPES[a.dtype.name], copy=False))
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
    return name if name in ALLOWED_DTYPES else "float32"


def _cyneuron_version() -> str:
    version = getattr(sys.modules.get("cyneuron"), "__version__", None)
    if isinstance(version, str):
        return version
    try:
        from importlib.metadata import version as dist_version

        return dist_version("cyneuron")
    except Exception:
        return "unknown"

