"""Activation functions, as in ``keras.activations`` (Keras 3's names, signatures and defaults).

Each function can be passed as ``activation=`` (it is then identified by name and run inside the
backend's compiled kernels) and can also be called on an array, which runs the active backend's
kernel and returns an array of x's shape (float32/float64 kept, other inputs as ``floatx``)::

    cyneuron.activations.relu(np.array([[-1.0, 2.0]]))                 # -> [[0., 2.]]
    cyneuron.activations.gelu(np.array([1.0]), approximate=True)

Element-wise: ``linear``, ``relu``, ``leaky_relu``, ``relu6``, ``elu``, ``selu``, ``celu``,
``gelu``, ``silu`` (alias ``swish``), ``softplus``, ``softsign``, ``sigmoid``, ``tanh``,
``hard_sigmoid``, ``hard_silu`` (alias ``hard_swish``), ``exponential``, ``mish``, ``hard_tanh``,
``sparse_plus``, ``squareplus``, ``soft_shrink``, ``hard_shrink``, ``tanh_shrink``,
``log_sigmoid``, ``sparse_sigmoid``, ``threshold``. Over an axis (an int or a tuple of ints):
``softmax``, ``log_softmax``, ``sparsemax``, ``glu`` (splits the axis in two halves).

As layer activations (``Dense(8, activation="gelu")``, ``Activation("mish")``) every name works with
its default arguments except ``threshold`` (no defaults), ``glu`` (halves the width) and ``sparsemax``
(not compiled): those three are functions only. Softmax and log_softmax in a layer act on the last axis.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cyneuron import backend as _backend
from cyneuron import config as _config
from cyneuron.backend.reference import activation as _reference
from cyneuron.backend.specs import ACTIVATIONS

__all__ = [
    "relu", "leaky_relu", "relu6", "softmax", "celu", "elu", "selu", "softplus", "softsign", "squareplus",
    "soft_shrink", "sparse_plus", "silu", "swish", "gelu", "glu", "tanh", "tanh_shrink", "threshold",
    "sigmoid", "sparse_sigmoid", "exponential", "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh",
    "hard_shrink", "linear", "mish", "log_softmax", "log_sigmoid", "sparsemax",
    "get", "serialize", "deserialize",
]  # fmt: skip


def _rows(x) -> tuple[np.ndarray, tuple[int, ...]]:
    """x as a fresh C-ordered float array and its shape."""
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"x: expected a real numeric array, got dtype {array.dtype}")
    dtype = array.dtype if array.dtype in (np.float32, np.float64) else _config._dtype()
    return np.array(array, dtype=dtype, order="C", copy=True), array.shape


def _apply(name: str, x, params: dict | None = None) -> np.ndarray:
    """Run element-wise activation ``name`` on any array-like through the backend; x's shape."""
    array, shape = _rows(x)
    rows = array.reshape(1, -1) if array.size else array.reshape(0, 1)
    _backend.ops().activation_forward(name, rows, rows, params)
    return rows.reshape(shape)


def _axes(axis, ndim: int) -> tuple[int, ...]:
    """Keras' axis argument (an int or a tuple of ints, negative from the end) as sorted axes."""
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
            raise TypeError(f"axis: expected an int or a tuple of ints, got {axis!r}")
        if not -max(ndim, 1) <= item < max(ndim, 1):
            raise ValueError(f"axis: {axis} is out of range for an input of rank {ndim}")
        out.append(int(item) % max(ndim, 1))
    if not out or len(set(out)) != len(out):
        raise ValueError(f"axis: expected distinct axes, got {axis!r}")
    return tuple(sorted(out))


def _over_axis(name: str, x, axis) -> np.ndarray:
    """A row-wise activation over ``axis``: those axes are moved last and flattened into the rows."""
    array, shape = _rows(x)
    if array.ndim == 0:
        array = array.reshape(1)
    axes = _axes(axis, array.ndim)
    rest = [i for i in range(array.ndim) if i not in axes]
    moved = np.ascontiguousarray(np.transpose(array, rest + list(axes)))
    width = int(np.prod([array.shape[i] for i in axes]))
    if moved.size == 0:
        return np.array(array, copy=True).reshape(shape)
    rows = moved.reshape(-1, width)
    if name == "sparsemax":
        rows = np.ascontiguousarray(_reference.sparsemax(rows))
    else:
        _backend.ops().activation_forward(name, rows, rows)
    back = np.argsort(rest + list(axes))
    return np.ascontiguousarray(np.transpose(rows.reshape(moved.shape), back)).reshape(shape)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0) -> np.ndarray:
    """Keras' relu: ``x`` above ``threshold`` (else 0), clipped to ``[0, max_value]``, then minus
    ``negative_slope * (threshold - x)`` below the threshold. Defaults: ``max(x, 0)``."""
    params = {"negative_slope": negative_slope, "max_value": max_value, "threshold": threshold}
    return _apply("relu", x, params)


def leaky_relu(x, negative_slope=0.2) -> np.ndarray:
    """``x`` for ``x >= 0``, ``negative_slope * x`` below."""
    return _apply("leaky_relu", x, {"negative_slope": negative_slope})


def relu6(x) -> np.ndarray:
    """``min(max(x, 0), 6)``."""
    return _apply("relu6", x)


def softmax(x, axis=-1) -> np.ndarray:
    """``exp(x) / sum(exp(x))`` over ``axis`` (an int or a tuple of ints)."""
    return _over_axis("softmax", x, axis)


def log_softmax(x, axis=-1) -> np.ndarray:
    """``x - log(sum(exp(x)))`` over ``axis`` (an int or a tuple of ints)."""
    return _over_axis("log_softmax", x, axis)


def sparsemax(x, axis=-1) -> np.ndarray:
    """The Euclidean projection of x onto the probability simplex over ``axis`` (Martins et al., 2016):
    ``max(x - tau, 0)`` with tau making each row sum to 1. Runs the NumPy reference (not compiled)."""
    return _over_axis("sparsemax", x, axis)


def glu(x, axis=-1) -> np.ndarray:
    """Gated linear unit: x split in halves ``a, b`` along ``axis``; returns ``a * sigmoid(b)``."""
    array, _ = _rows(x)
    (dim,) = _axes(axis, array.ndim)
    if array.shape[dim] % 2:
        raise ValueError(f"x: glu splits axis {axis} in two halves; its size {array.shape[dim]} is odd")
    a, b = np.split(array, 2, axis=dim)
    return a * sigmoid(b)


def elu(x, alpha=1.0) -> np.ndarray:
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise."""
    return _apply("elu", x, {"alpha": alpha})


def selu(x) -> np.ndarray:
    """``scale * elu(x, alpha)`` with Klambauer et al.'s ``alpha = 1.67326324``, ``scale = 1.05070098``."""
    return _apply("selu", x)


def celu(x, alpha=1.0) -> np.ndarray:
    """``x`` for ``x > 0``, ``alpha * (exp(x / alpha) - 1)`` otherwise."""
    return _apply("celu", x, {"alpha": alpha})


def gelu(x, approximate=False) -> np.ndarray:
    """``x * Phi(x)`` (``0.5 x (1 + erf(x / sqrt 2))``); ``approximate=True``: the tanh approximation."""
    return _apply("gelu", x, {"approximate": approximate})


def silu(x) -> np.ndarray:
    """``x * sigmoid(x)`` (also ``swish``)."""
    return _apply("silu", x)


def softplus(x) -> np.ndarray:
    """``log(exp(x) + 1)``, without overflow."""
    return _apply("softplus", x)


def softsign(x) -> np.ndarray:
    """``x / (abs(x) + 1)``."""
    return _apply("softsign", x)


def sigmoid(x) -> np.ndarray:
    """Logistic sigmoid ``1 / (1 + exp(-x))``."""
    return _apply("sigmoid", x)


def tanh(x) -> np.ndarray:
    """Hyperbolic tangent."""
    return _apply("tanh", x)


def linear(x) -> np.ndarray:
    """Identity: ``f(x) = x``; returns a float array of x's shape."""
    return _apply("linear", x)


def exponential(x) -> np.ndarray:
    """``exp(x)``."""
    return _apply("exponential", x)


def hard_sigmoid(x) -> np.ndarray:
    """``relu6(x + 3) / 6``: 0 below -3, 1 above 3, ``x / 6 + 0.5`` between."""
    return _apply("hard_sigmoid", x)


def hard_silu(x) -> np.ndarray:
    """``x * hard_sigmoid(x)`` (also ``hard_swish``)."""
    return _apply("hard_silu", x)


def hard_tanh(x) -> np.ndarray:
    """``x`` clipped to ``[-1, 1]``."""
    return _apply("hard_tanh", x)


def mish(x) -> np.ndarray:
    """``x * tanh(softplus(x))``."""
    return _apply("mish", x)


def sparse_plus(x) -> np.ndarray:
    """0 for ``x <= -1``, ``(x + 1)^2 / 4`` for ``-1 < x < 1``, ``x`` above."""
    return _apply("sparse_plus", x)


def squareplus(x, b=4) -> np.ndarray:
    """``(x + sqrt(x^2 + b)) / 2``."""
    return _apply("squareplus", x, {"b": b})


def soft_shrink(x, threshold=0.5) -> np.ndarray:
    """``x - threshold`` above ``threshold``, ``x + threshold`` below ``-threshold``, 0 between."""
    return _apply("soft_shrink", x, {"threshold": threshold})


def hard_shrink(x, threshold=0.5) -> np.ndarray:
    """``x`` where ``|x| > threshold``, 0 elsewhere."""
    return _apply("hard_shrink", x, {"threshold": threshold})


def tanh_shrink(x) -> np.ndarray:
    """``x - tanh(x)``."""
    return _apply("tanh_shrink", x)


def log_sigmoid(x) -> np.ndarray:
    """``log(sigmoid(x)) = -softplus(-x)``."""
    return _apply("log_sigmoid", x)


def sparse_sigmoid(x) -> np.ndarray:
    """0 for ``x <= -1``, ``(x + 1) / 2`` for ``-1 < x < 1``, 1 above."""
    return _apply("sparse_sigmoid", x)


def threshold(x, threshold, default_value) -> np.ndarray:
    """``x`` where ``x > threshold``, ``default_value`` elsewhere."""
    return _apply("threshold", x, {"threshold": threshold, "default_value": default_value})


swish = silu
hard_swish = hard_silu

# Keras' ALL_OBJECTS_DICT: every function by its name, and the two aliases.
_BY_NAME: dict[str, Callable] = {
    function.__name__: function
    for function in (
        relu, leaky_relu, relu6, softmax, celu, elu, selu, softplus, softsign, squareplus, soft_shrink,
        sparse_plus, silu, gelu, glu, tanh, tanh_shrink, threshold, sigmoid, sparse_sigmoid, exponential,
        hard_sigmoid, hard_silu, hard_tanh, hard_shrink, linear, mish, log_softmax, log_sigmoid, sparsemax,
    )
}  # fmt: skip
_BY_NAME["swish"] = silu
_BY_NAME["hard_swish"] = hard_silu
# Functions only: no compiled layer kernel (threshold has no defaults, glu halves the width).
FUNCTIONS_ONLY = ("threshold", "glu", "sparsemax")
assert set(_BY_NAME) - {"swish", "hard_swish"} == set(ACTIVATIONS) | set(FUNCTIONS_ONLY)


def _function_name(function) -> str | None:
    try:
        return function.__name__ if _BY_NAME.get(function.__name__) is function else None
    except AttributeError:
        return None


def name_of(identifier) -> str:
    """The canonical backend name (``"relu"``, ``"silu"`` ...) of a layer activation given by name,
    function, ``None`` (linear) or config dict; ValueError for unknown ones and for functions only."""
    if identifier is None:
        return "linear"
    if isinstance(identifier, dict):
        return name_of(identifier.get("config", identifier.get("class_name")))
    if isinstance(identifier, str):
        function = _BY_NAME.get(identifier)
        if function is None:
            raise ValueError(f"Could not interpret activation function identifier: {identifier}")
        name = function.__name__
    elif callable(identifier):
        name = _function_name(identifier)
        if name is None:
            raise ValueError(
                f"activation: custom activation functions are not supported ({identifier!r}); "
                "expected a name or a function of cyneuron.activations (or None)"
            )
    else:
        raise TypeError(
            f"activation: expected a string, an activation function or None, got {type(identifier).__name__}"
        )
    if name in FUNCTIONS_ONLY:
        raise ValueError(
            f"activation: {name} is a function only (cyneuron.activations.{name}); "
            f"as a layer activation use one of {', '.join(ACTIVATIONS)}"
        )
    return name


def get(identifier) -> Callable:
    """The activation function for a name (Keras' names and aliases), function, config dict or
    ``None`` (linear); unknown names raise ValueError, as Keras'."""
    if identifier is None:
        return linear
    if isinstance(identifier, dict):
        return get(identifier.get("config", identifier.get("class_name")))
    if isinstance(identifier, str):
        function = _BY_NAME.get(identifier)
        if function is None:
            raise ValueError(f"Could not interpret activation function identifier: {identifier}")
        return function
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret activation function identifier: {identifier}")


def serialize(activation) -> str:
    """The name of a built-in activation (``"relu"`` ...), as Keras serializes them."""
    if isinstance(activation, str):
        return get(activation).__name__
    name = _function_name(activation)
    if name is None:
        raise ValueError(
            f"Unknown activation function '{activation}' cannot be serialized: "
            "expected a function of cyneuron.activations"
        )
    return name


def deserialize(config, custom_objects=None) -> Callable:
    """The activation function for a serialized name (or config dict); ``custom_objects`` maps extra names."""
    if isinstance(config, str) and custom_objects and config in custom_objects:
        return custom_objects[config]
    return get(config)


# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
