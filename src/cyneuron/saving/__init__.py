"""Saving and loading whole models or their weights, as ``keras.saving``.

Two formats, told apart by content, never by name:

* cyneuron's own (``native`` writes it, ``native_read`` reads it): one zip of ``config.json`` plus ``.npy``
  arrays, the optimizer state addressed by ``layer/weight/slot``; any file name.
* Keras 3's (``keras_format``): ``.keras`` archives and ``.weights.h5`` files, written for those suffixes
  when h5py is installed (otherwise cyneuron's format, with a warning) and read whatever the name.

Loading treats a file as untrusted input: no pickle, no eval, every size checked before anything is read
or allocated (``guard``), and a model is only modified once the whole file has been validated; any problem
raises ``ValueError`` naming the file (``OSError`` when it cannot be opened). Writes are atomic (``files``):
a crash or error in the middle of a save leaves any previous file intact.

Modules: ``files`` (paths, atomic writes, regular-file reads), ``guard`` (sizing untrusted configurations,
restoring weights), ``native`` / ``native_read`` (cyneuron's format), ``keras_format`` (Keras' files),
``keras_config`` (Keras' config layout), ``keras_layout`` (Keras' variable paths), ``keras_h5`` (HDF5).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from cyneuron.saving import keras_format, native
from cyneuron.saving.files import atomic_write, check_path
from cyneuron.saving.guard import set_weights
from cyneuron.saving.native import model_contents, weights_contents, write_archive
from cyneuron.saving.native_read import check_against_model, model_from_archive, read_archive, read_bytes

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "model_to_bytes", "model_from_bytes"]

PathLike = str | os.PathLike
# Names saved in Keras 3's own formats instead of cyneuron's zip; loading goes by content.
KERAS_SUFFIX = ".keras"
KERAS_WEIGHTS_SUFFIX = ".weights.h5"
# cyneuron's format version and manifest size limit, for callers.
FORMAT_VERSION = native.FORMAT_VERSION
MAX_CONFIG_BYTES = native.MAX_CONFIG_BYTES


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
    path = check_path(filepath, "filepath")
    _check_bool(overwrite, "overwrite")
    if path.endswith(KERAS_SUFFIX):
        if keras_format.available():
            keras_format.save_keras_model(model, path, overwrite)
            return
        keras_format.warn_fallback(path)
    manifest, weights, optimizer_state = model_contents(model)
    atomic_write(path, overwrite, lambda f: write_archive(f, manifest, weights, optimizer_state))


def model_to_bytes(model: Any) -> bytes:
    """The bytes ``save_model`` would write (pickling and copying go through this safe format)."""
    _check_model(model, _SAVE_MODEL_API)
    manifest, weights, optimizer_state = model_contents(model)
    buffer = io.BytesIO()
    write_archive(buffer, manifest, weights, optimizer_state)
    return buffer.getvalue()


def model_from_bytes(data: bytes, compile: bool = True) -> Any:
    """The model ``model_to_bytes`` encoded, read with every check ``load_model`` applies to a file."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data: expected bytes, got {type(data).__name__}")
    label = "<model bytes>"
    return model_from_archive(label, read_bytes(label, bytes(data), expect_model=True), compile)


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
    path = check_path(filepath, "filepath")
    if custom_objects:
        raise ValueError("load_model(custom_objects=...) is not supported: cyneuron models have no custom objects")
    _check_bool(compile, "compile")
    if keras_format.is_keras_archive(path):
        return keras_format.load_keras_model(path, compile)
    return model_from_archive(path, read_archive(path, expect_model=True), compile)


def save_weights(model: Any, filepath: PathLike, overwrite: bool = True) -> None:
    """Save only the model's weights (Keras order: kernel, bias, ...) to one zip file.

    Keras 3 requires the ``.weights.h5`` extension; cyneuron accepts any name.
    The optimizer state is not saved: use ``save_model`` to resume training exactly.

    Raises:
        ValueError: the model is not built (it has no weights yet).
        FileExistsError: ``overwrite=False`` and the file exists.
    """
    _check_model(model, _WEIGHTS_API)
    path = check_path(filepath, "filepath")
    _check_bool(overwrite, "overwrite")
    if not model.built:
        raise ValueError("save_weights: the model is not built yet, so it has no weights to save")
    if path.endswith(KERAS_WEIGHTS_SUFFIX):
        if keras_format.available():
            keras_format.save_keras_weights(model, path, overwrite)
            return
        keras_format.warn_fallback(path)
    manifest, weights = weights_contents(model)
    atomic_write(path, overwrite, lambda f: write_archive(f, manifest, weights, []))


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
    path = check_path(filepath, "filepath")
    if not model.built:
        raise ValueError(f"load_weights({path}): the model is not built; build it (give an input shape) first")
    _check_bool(skip_mismatch, "skip_mismatch")
    if keras_format.is_hdf5_file(path) or keras_format.is_keras_archive(path):
        keras_format.load_keras_weights(model, path, skip_mismatch)
        return
    if skip_mismatch:
        raise ValueError(
            "skip_mismatch: supported for Keras .weights.h5 / .keras files, whose weights are stored per layer; "
            f"{path} is a cyneuron file"
        )
    archive = read_archive(path, expect_model=False)
    weights = check_against_model(path, model, archive.weights, archive.manifest["dtype"], cast=True)
    set_weights(path, model, weights)


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


# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
