"""cyneuron: a Keras-style deep-learning micro-framework whose hot paths are typed Cython.

Keras code runs with ``keras`` renamed to ``cyneuron`` in its imports::

    from cyneuron.models import Sequential
    from cyneuron.layers import Dense
    from cyneuron.optimizers import SGD

The compute backend is chosen with ``set_backend("cython" | "numpy")`` (default
from ``CYNEURON_BACKEND``, else the compiled kernels when available).
"""

from __future__ import annotations

import importlib
import sys

from cyneuron import (
    _unavailable,
    activations,
    config,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    regularizers,
    utils,
)
from cyneuron._functional import KerasTensor
from cyneuron._show_config import show_config
from cyneuron.backend import get_backend, set_backend
from cyneuron.layers import Input
from cyneuron.models import Model, Sequential

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "set_backend",
    "get_backend",
    "show_config",
    "Sequential",
    "Model",
    "KerasTensor",
    "Input",
    "activations",
    "callbacks",
    "config",
    "datasets",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "regularizers",
    "saving",
    "utils",
    "wrappers",
    "export",
]

# Imported on first use: they import the model classes themselves (saving) or may pull optional packages
# (wrappers: scikit-learn).
_LAZY = ("callbacks", "saving", "datasets", "wrappers", "export")


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f"cyneuron.{name}")
        globals()[name] = module
        return module
    return _missing(name)


_missing = _unavailable.module_getattr(__name__)
if _unavailable.FINDER not in sys.meta_path:
    sys.meta_path.append(_unavailable.FINDER)
