"""Activation functions, as in ``keras.activations``.

Each function can be passed as ``activation=`` (it is then identified by name and
run inside the backend's fused kernels) and can also be called on an array,
which runs the active backend's kernel::

    cyneuron.activations.relu(np.array([[-1.0, 2.0]]))   # -> [[0., 2.]]

Supported: ``linear`` (also ``None``), ``relu``, ``sigmoid``, ``tanh``, ``softmax``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cyneuron import backend as _backend
from cyneuron import config as _config
from cyneuron.backend.base import ACTIVATIONS

__all__ = ["linear", "relu", "sigmoid", "tanh", "softmax", "get", "serialize", "deserialize"]


def _apply(name: str, x) -> np.ndarray:
    """Run activation ``name`` on any array-like through the backend; returns an array of x's shape."""
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"x: expected a real numeric array, got dtype {array.dtype}")
    dtype = array.dtype if array.dtype in (np.float32, np.float64) else _config._dtype()
    shape = array.shape
    # Kernels work on (batch, units) rows; softmax normalises the last axis, as Keras' default axis=-1.
    rows = np.array(array, dtype=dtype, order="C", copy=True).reshape(-1, shape[-1] if shape else 1)
    out = np.empty_like(rows)
    _backend.ops().activation_forward(name, rows, out)
    return out.reshape(shape)


def linear(x) -> np.ndarray:
    """Identity: ``f(x) = x``; returns a float array of x's shape."""
    return _apply("linear", x)


def relu(x) -> np.ndarray:
    """Rectified linear unit ``max(x, 0)``, element-wise."""
    return _apply("relu", x)


def sigmoid(x) -> np.ndarray:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, element-wise."""
    return _apply("sigmoid", x)


def tanh(x) -> np.ndarray:
    """Hyperbolic tangent, element-wise."""
    return _apply("tanh", x)


def softmax(x, axis: int = -1) -> np.ndarray:
    """Softmax over the last axis: ``exp(x) / sum(exp(x))`` per row."""
    if axis not in (-1, np.ndim(x) - 1):
        raise ValueError(f"axis: only the last axis (-1) is supported, got {axis}")
    return _apply("softmax", x)


_BY_NAME: dict[str, Callable] = {
    "linear": linear,
    "relu": relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
}
_NAME_OF = {function: name for name, function in _BY_NAME.items()}
assert set(_BY_NAME) == set(ACTIVATIONS)


def _valid() -> str:
    return ", ".join(ACTIVATIONS)


def name_of(identifier) -> str:
    """The backend name (``"relu"`` ...) of an activation given by name, function, ``None`` or config dict."""
    if identifier is None:
        return "linear"
    if isinstance(identifier, str):
        key = identifier.strip().lower()
        if key in _BY_NAME:
            return key
        raise ValueError(f"activation: unknown activation {identifier!r}; expected one of {_valid()} (or None)")
    if isinstance(identifier, dict):
        return name_of(identifier.get("config", identifier.get("class_name")))
    try:
        name = _NAME_OF.get(identifier)
    except TypeError:  # unhashable
        name = None
    if name is not None:
        return name
    if callable(identifier):
        raise ValueError(
            f"activation: custom activation functions are not supported ({identifier!r}); "
            f"expected one of {_valid()} (or None)"
        )
    raise TypeError(f"activation: expected a string, an activation function or None, got {type(identifier).__name__}")


def get(identifier) -> Callable:
    """The activation function for a name, function or ``None`` (linear); unknown names raise ValueError."""
    return _BY_NAME[name_of(identifier)]


def serialize(activation) -> str:
    """The name of an activation (``"relu"`` ...), as Keras serializes built-in activations."""
    return name_of(activation)


def deserialize(name) -> Callable:
    """The activation function for a serialized name."""
    return get(name)


# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
