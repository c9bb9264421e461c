"""Keras 3 native files (``.keras``, ``.weights.h5``): the import path of ``cyneuron.saving.keras_format``.

The code lives in the ``cyneuron.saving`` package (``keras_format``, ``keras_config``, ``keras_layout``,
``keras_h5``); this module keeps ``from cyneuron import saving_keras`` working.
"""

from __future__ import annotations

from cyneuron.saving import keras_format as _keras_format
from cyneuron.saving.keras_format import *  # noqa: F403
from cyneuron.saving.keras_format import HDF5_MAGIC, KERAS_ENTRIES, KERAS_VERSION  # noqa: F401
from cyneuron.saving.keras_h5 import import_h5py as _h5py  # noqa: F401

__all__ = _keras_format.__all__
