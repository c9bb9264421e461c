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

from cyneuron import activations, config, initializers, layers, losses, metrics, models, optimizers, utils
from cyneuron._show_config import show_config
from cyneuron.backend import get_backend, set_backend
from cyneuron.layers import Input
from cyneuron.models import Sequential

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "set_backend",
    "get_backend",
    "show_config",
    "Sequential",
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
    "saving",
    "utils",
]

# Imported on first use: they import the model classes themselves (saving) or may pull optional packages.
_LAZY = ("callbacks", "saving", "datasets")


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f"cyneuron.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'cyneuron' has no attribute {name!r}")
