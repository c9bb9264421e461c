"""Utilities, as in ``keras.utils``: ``set_random_seed``, ``to_categorical``, ``clear_session``, the datasets
(``image_dataset_from_directory``, ``timeseries_dataset_from_array``, ``PyDataset``) and the image helpers
(``load_img``, ``img_to_array``, ``array_to_img``).

Also the front end's shared input checks (private): they validate and convert
user data once per public call, and name the offending argument.
"""

from __future__ import annotations

import random as _random

import numpy as np

from cyneuron import config as _config
from cyneuron._data import PyDataset
from cyneuron._image_utils import array_to_img, image_dataset_from_directory, img_to_array, load_img
from cyneuron._timeseries import timeseries_dataset_from_array
from cyneuron.backend.validation import all_finite

__all__ = [
    "set_random_seed",
    "to_categorical",
    "clear_session",
    "PyDataset",
    "image_dataset_from_directory",
    "timeseries_dataset_from_array",
    "load_img",
    "img_to_array",
    "array_to_img",
]


def set_random_seed(seed: int) -> None:
    """Seed every random source cyneuron uses: initializers, ``fit``'s shuffling, Python's and NumPy's global RNGs.

    With the same seed, data and backend, building and fitting a model gives identical weights. cyneuron's
    own generator is per thread (see ``cyneuron.config``): this call gives the calling thread a generator of
    its own, so a thread that seeds gets the same weights even while other threads build or train models.
    Python's ``random`` and NumPy's legacy global generator are process-wide (cyneuron only draws the
    dataset utilities' default shuffle seeds from NumPy's, as Keras does).

    Raises:
        TypeError / ValueError: seed is not a non-negative int.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed}")
    seed = int(seed)
    _random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (users' legacy global RNG, as keras.utils.set_random_seed)
    _config._reseed(seed)


def clear_session(free_memory: bool = True) -> None:
    """Reset automatic names, as ``keras.utils.clear_session``: the next layers are ``dense``, ``dense_1`` ...

    With ``free_memory`` (default), also run the garbage collector.
    """
    from cyneuron import layers

    with layers._UID_LOCK:
        layers._UIDS.clear()
    if free_memory:
        import gc

        gc.collect()


def to_categorical(y, num_classes: int | None = None) -> np.ndarray:
    """One-hot encode integer class labels, as ``keras.utils.to_categorical``.

    Args:
        y: labels of any shape ``(...)``; a trailing axis of size 1 is dropped first.
        num_classes: number of classes; defaults to ``max(y) + 1``.

    Returns:
        float64 array of shape ``(..., num_classes)`` (Keras' NumPy result type).
    """
    labels = np.asarray(y)
    if labels.dtype.kind not in "biuf":
        raise TypeError(f"y: expected integer class labels, got dtype {labels.dtype}")
    if labels.dtype.kind == "f" and not (np.all(np.isfinite(labels)) and np.all(labels == np.round(labels))):
        raise ValueError("y: expected integer class labels, got non-integral values")
    labels = labels.astype(np.int64)
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    flat = labels.reshape(-1)
    if num_classes is None:
        if flat.size == 0:
            raise ValueError("y: cannot infer num_classes from empty labels; pass num_classes")
        num_classes = int(flat.max()) + 1
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes: expected a positive int, got {num_classes!r}")
    num_classes = int(num_classes)
    if flat.size and (flat.min() < 0 or flat.max() >= num_classes):
        raise ValueError(f"y: labels must be in [0, {num_classes}), got values in [{flat.min()}, {flat.max()}]")
    out = np.zeros((flat.size, num_classes))
    out[np.arange(flat.size), flat] = 1.0
    return out.reshape(shape + (num_classes,))


# ----------------------------------------------------------------------------- private input checks


def _check_numeric(array: np.ndarray, name: str) -> None:
    if array.dtype.kind not in "biuf":
        kind = {"c": "complex", "O": "object", "U": "string", "S": "bytes"}.get(array.dtype.kind, str(array.dtype))
        raise TypeError(f"{name}: expected real numbers (bool, int or float), got {kind} data (dtype {array.dtype})")


def _as_array(value, name: str) -> np.ndarray:
    """``np.asarray`` that reports ragged lists and non-numeric data against ``name``."""
    if value is None:
        raise ValueError(f"{name}: expected an array, got None")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{name}: could not convert to an array ({error})") from None
    _check_numeric(array, name)
    return array


def _float_array(value, dtype: np.dtype, name: str) -> np.ndarray:
    """Convert once to a C-contiguous ``dtype`` array, rejecting non-numeric and non-finite data."""
    array = _as_array(value, name)
    out = np.ascontiguousarray(array, dtype=dtype)
    # One pass over the converted data; the input is read again only to word the error.
    if not all_finite(out):
        if out is not array and all_finite(array):
            raise ValueError(f"{name}: values overflow {dtype} (infinite after conversion)")
        raise ValueError(f"{name}: contains NaN or infinity")
    return out


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return int(value)


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _init_arguments(names: dict) -> dict:
    """A constructor's arguments as keywords, from its ``locals()`` taken before it binds any other name
    (``self`` and ``super()``'s cell dropped, ``**kwargs`` merged in): a Keras class keeps its explicit
    signature, which ``inspect`` shows, and hands it to a shared base in one line."""
    arguments = {key: value for key, value in names.items() if key not in ("self", "__class__", "kwargs")}
    return {**arguments, **names.get("kwargs", {})}


def _index_array(value, input_dim: int, name: str) -> np.ndarray:
    """Embedding indices as a C-contiguous int64 array: integers (or bools), or floats that are whole
    numbers (as Keras casts them), each in [0, input_dim). Anything else is a ValueError naming ``name``."""
    array = _as_array(value, name)
    if array.dtype.kind == "f":
        if not all_finite(array):
            raise ValueError(f"{name}: embedding indices must be whole numbers, got NaN or infinity")
        if array.size and not np.array_equal(array, np.trunc(array)):
            raise ValueError(f"{name}: embedding indices must be whole numbers, got non-integer values")
    if array.size:
        low, high = array.min(), array.max()
        if low < 0 or high >= input_dim:
            raise ValueError(f"{name}: embedding indices must be in [0, {input_dim}), got values in [{low}, {high}]")
    return np.ascontiguousarray(array, dtype=np.int64)


# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
