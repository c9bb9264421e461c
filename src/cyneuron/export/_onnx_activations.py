"""Keras' activations as ONNX ops, one table entry per name (``ACTIVATIONS``).

``ACTIVATIONS[name](graph, x, attrs, axis) -> y``: ``x`` a tensor name, ``attrs`` the stage's attrs (an
activation stage's arguments: ``negative_slope``, ``alpha`` ...; a missing one takes Keras' default),
``axis`` the tensor axis a row-wise activation (softmax, log_softmax) runs over: the last per-sample
axis, which is 1 for an NCHW tensor. Each entry is the reference's formula
(``cyneuron.backend.reference.activation``) in its order of operations, with constants in the graph's
dtype (attributes such as LeakyRelu's ``alpha`` are float32 in ONNX, so the formulas use tensors).

ONNX has no expm1 or log1p: elu, selu, celu, softplus, mish and log_sigmoid compute ``exp(x) - 1`` and
``log(1 + exp(x))``, which keep the absolute error at one ulp of 1 (their relative error grows where the
value is tiny); gelu's exact form uses ``1 + erf`` (the reference's erfc has no ONNX op), the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from cyneuron.export._onnx_graph import Graph

__all__ = ["ACTIVATIONS", "ROW_WISE", "activate"]

# the ones over the last per-sample axis (``axis``); every other one is element-wise
ROW_WISE = ("softmax", "log_softmax")

Activation = Callable[[Graph, str, Mapping[str, Any], int], str]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_GELU_C = math.sqrt(2 / math.pi)
_GELU_K = 0.044715


def _clip(g: Graph, x: str, lo: float, hi: float) -> str:
    return g.op("Clip", [x, g.scalar(lo), g.scalar(hi)])


def _expm1_neg(g: Graph, x: str) -> str:
    """exp(min(x, 0)) - 1."""
    return g.op("Sub", [g.op("Exp", [g.op("Min", [x, g.scalar(0)])]), g.scalar(1)])


def _softplus(g: Graph, x: str) -> str:
    """max(x, 0) + log(1 + exp(-|x|)): never overflows."""
    tail = g.op("Log", [g.op("Add", [g.scalar(1), g.op("Exp", [g.op("Neg", [g.op("Abs", [x])])])])])
    return g.op("Add", [g.op("Relu", [x]), tail])


def _sigmoid(g: Graph, x: str) -> str:
    return g.op("Sigmoid", [x])


def _relu(g: Graph, x: str, attrs, axis: int) -> str:
    # Keras' relu(x, negative_slope, max_value, threshold); with the defaults, max(x, 0)
    slope, threshold, cap = attrs.get("negative_slope", 0.0), attrs.get("threshold", 0.0), attrs.get("max_value")
    if slope == 0 and threshold == 0 and cap is None:
        return g.op("Relu", [x])
    zero = g.scalar(0)
    y = g.op("Where", [g.op("Greater", [x, g.scalar(threshold)]), x, zero])
    if cap is not None:
        y = g.op("Clip", [y, zero, g.scalar(cap)])
    if slope != 0:
        below = g.op("Relu", [g.op("Sub", [g.scalar(threshold), x])])  # threshold - x where x < threshold, else 0
        y = g.op("Sub", [y, g.op("Mul", [g.scalar(slope), below])])
    return y


def _leaky_relu(g: Graph, x: str, attrs, axis: int) -> str:
    negative = g.op("Mul", [g.scalar(attrs.get("negative_slope", 0.2)), x])
    return g.op("Where", [g.op("GreaterOrEqual", [x, g.scalar(0)]), x, negative])


def _elu_with(g: Graph, x: str, alpha: float) -> str:
    negative = g.op("Mul", [g.scalar(alpha), _expm1_neg(g, x)])
    return g.op("Where", [g.op("Greater", [x, g.scalar(0)]), x, negative])


def _celu(g: Graph, x: str, attrs, axis: int) -> str:
    alpha = attrs.get("alpha", 1.0)
    scaled = g.op("Div", [g.op("Min", [x, g.scalar(0)]), g.scalar(alpha)])
    negative = g.op("Mul", [g.scalar(alpha), g.op("Sub", [g.op("Exp", [scaled]), g.scalar(1)])])
    return g.op("Where", [g.op("Greater", [x, g.scalar(0)]), x, negative])


def _gelu(g: Graph, x: str, attrs, axis: int) -> str:
    if attrs.get("approximate", False):  # x * (0.5 * (1 + tanh(c (x + k x^3))))
        cube = g.op("Mul", [g.op("Mul", [x, x]), x])
        inner = g.op("Mul", [g.scalar(_GELU_C), g.op("Add", [x, g.op("Mul", [g.scalar(_GELU_K), cube])])])
        half = g.op("Mul", [g.scalar(0.5), g.op("Add", [g.scalar(1), g.op("Tanh", [inner])])])
        return g.op("Mul", [x, half])
    # 0.5 x (1 + erf(x / sqrt 2))
    erf = g.op("Erf", [g.op("Mul", [x, g.scalar(math.sqrt(0.5))])])
    return g.op("Mul", [g.op("Mul", [g.scalar(0.5), x]), g.op("Add", [g.scalar(1), erf])])


def _hard_sigmoid(g: Graph, x: str) -> str:
    return g.op("Div", [_clip(g, g.op("Add", [x, g.scalar(3)]), 0, 6), g.scalar(6)])


def _sparse_plus(g: Graph, x: str, attrs, axis: int) -> str:
    shifted = g.op("Add", [x, g.scalar(1)])
    middle = g.op("Div", [g.op("Mul", [shifted, shifted]), g.scalar(4)])
    upper = g.op("Where", [g.op("GreaterOrEqual", [x, g.scalar(1)]), x, middle])
    return g.op("Where", [g.op("LessOrEqual", [x, g.scalar(-1)]), g.scalar(0), upper])


def _squareplus(g: Graph, x: str, attrs, axis: int) -> str:
    root = g.op("Sqrt", [g.op("Add", [g.op("Mul", [x, x]), g.scalar(attrs.get("b", 4.0))])])
    return g.op("Div", [g.op("Add", [x, root]), g.scalar(2)])


def _soft_shrink(g: Graph, x: str, attrs, axis: int) -> str:
    t = attrs.get("threshold", 0.5)
    low = g.op("Where", [g.op("Less", [x, g.scalar(-t)]), g.op("Add", [x, g.scalar(t)]), g.scalar(0)])
    return g.op("Where", [g.op("Greater", [x, g.scalar(t)]), g.op("Sub", [x, g.scalar(t)]), low])


def _hard_shrink(g: Graph, x: str, attrs, axis: int) -> str:
    kept = g.op("Greater", [g.op("Abs", [x]), g.scalar(attrs.get("threshold", 0.5))])
    return g.op("Where", [kept, x, g.scalar(0)])


def _threshold(g: Graph, x: str, attrs, axis: int) -> str:
    kept = g.op("Greater", [x, g.scalar(attrs["threshold"])])
    return g.op("Where", [kept, x, g.scalar(attrs["default_value"])])


ACTIVATIONS: dict[str, Activation] = {
    "linear": lambda g, x, attrs, axis: x,
    "relu": _relu,
    "relu_ext": _relu,  # the compiled kernels' name for relu with arguments
    "sigmoid": lambda g, x, attrs, axis: _sigmoid(g, x),
    "tanh": lambda g, x, attrs, axis: g.op("Tanh", [x]),
    "softmax": lambda g, x, attrs, axis: g.op("Softmax", [x], axis=axis),
    "log_softmax": lambda g, x, attrs, axis: g.op("LogSoftmax", [x], axis=axis),
    "leaky_relu": _leaky_relu,
    "relu6": lambda g, x, attrs, axis: _clip(g, x, 0, 6),
    "elu": lambda g, x, attrs, axis: _elu_with(g, x, attrs.get("alpha", 1.0)),
    "selu": lambda g, x, attrs, axis: g.op("Mul", [g.scalar(SELU_SCALE), _elu_with(g, x, SELU_ALPHA)]),
    "celu": _celu,
    "gelu": _gelu,
    "silu": lambda g, x, attrs, axis: g.op("Mul", [x, _sigmoid(g, x)]),
    "softplus": lambda g, x, attrs, axis: _softplus(g, x),
    "softsign": lambda g, x, attrs, axis: g.op("Div", [x, g.op("Add", [g.scalar(1), g.op("Abs", [x])])]),
    "hard_sigmoid": lambda g, x, attrs, axis: _hard_sigmoid(g, x),
    "hard_silu": lambda g, x, attrs, axis: g.op("Mul", [x, _hard_sigmoid(g, x)]),
    "exponential": lambda g, x, attrs, axis: g.op("Exp", [x]),
    "mish": lambda g, x, attrs, axis: g.op("Mul", [x, g.op("Tanh", [_softplus(g, x)])]),
    "hard_tanh": lambda g, x, attrs, axis: _clip(g, x, -1, 1),
    "sparse_plus": _sparse_plus,
    "squareplus": _squareplus,
    "soft_shrink": _soft_shrink,
    "hard_shrink": _hard_shrink,
    "tanh_shrink": lambda g, x, attrs, axis: g.op("Sub", [x, g.op("Tanh", [x])]),
    "log_sigmoid": lambda g, x, attrs, axis: g.op("Neg", [_softplus(g, g.op("Neg", [x]))]),
    "sparse_sigmoid": lambda g, x, attrs, axis: g.op(
        "Div", [_clip(g, g.op("Add", [x, g.scalar(1)]), 0, 2), g.scalar(2)]
    ),
    "threshold": _threshold,
}


def activate(g: Graph, name: str, x: str, attrs: Mapping[str, Any], axis: int, where: str) -> str:
    """``name`` applied to ``x``; NotImplementedError naming it when it has no entry."""
    try:
        convert = ACTIVATIONS[name]
    except KeyError:
        raise NotImplementedError(
            f"{where}: activation {name!r} has no ONNX converter yet (cyneuron.export._onnx_activations.ACTIVATIONS)"
        ) from None
    return convert(g, x, attrs, axis)
