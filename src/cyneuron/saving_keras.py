"""Keras 3 native files (``.keras``, ``.weights.h5``): the import path of ``cyneuron.saving.keras_format``.

The code lives in the ``cyneuron.saving`` package (``keras_format``, ``keras_config``, ``keras_layout``,
``keras_h5``); this module keeps ``from cyneuron import saving_keras`` working.
"""

from __future__ import annotations

from cyneuron.saving.keras_format import (
    HDF5_MAGIC,
    KERAS_ENTRIES,
    KERAS_VERSION,
    H5pyMissingError,
    available,
    is_hdf5_file,
    is_keras_archive,
    load_keras_model,
    load_keras_weights,
    save_keras_model,
    save_keras_weights,
    warn_fallback,
)
from cyneuron.saving.keras_h5 import import_h5py as _h5py

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
    "HDF5_MAGIC",
    "KERAS_ENTRIES",
    "KERAS_VERSION",
    "_h5py",
]
