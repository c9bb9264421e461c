"""Kind ``activation``: one of Keras' activations, element-wise (softmax and log_softmax: over the
last axis of the per-sample shape); no weights. Also every activation's formula for the reference
backend: the dense, conv2d and recurrent kinds and ``NumpyOps`` call ``apply`` / ``backward``.

attrs: ``activation`` — a name of ``specs.ACTIVATIONS`` or ``"threshold"``, plus that activation's
arguments (``specs.ACTIVATION_PARAMS``: ``relu``'s ``negative_slope``, ``max_value`` (None: no cap)
and ``threshold``, ``leaky_relu``'s ``negative_slope``, ``elu``/``celu``'s ``alpha``, ``gelu``'s
``approximate``, ``squareplus``' ``b``, the shrinks' ``threshold``, ``threshold``'s ``threshold`` and
``default_value``); missing ones take Keras' defaults.

Each activation is a forward formula and a derivative. The derivatives of the ones in
``specs.FUSED_ACTIVATIONS`` read the output ``a`` (and ``z`` only where ``z = a`` gives the same
answer at the default arguments): the compiled dense and conv2d kinds keep no pre-activation and
call them with ``z = a``. The others read ``z``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from cyneuron.backend.reference._stage import Forward
from cyneuron.backend.specs import ACTIVATION_PARAMS, ACTIVATIONS, ROW_ACTIVATIONS, activation_kernel

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_GELU_C = math.sqrt(2 / math.pi)  # tanh approximation: tanh(c (x + 0.044715 x^3))
_GELU_K = 0.044715


def sigmoid(z: np.ndarray) -> np.ndarray:
    # exp(-|z|) never overflows, so both branches are safe for any z.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|))."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def sparsemax(z: np.ndarray) -> np.ndarray:
    """Sparsemax over the last axis (Martins et al., 2016): ``max(z - tau, 0)``, tau per row such that
    the row sums to 1 (from the sorted row: the largest k with ``1 + k z_(k) > sum_{j<=k} z_(j)``)."""
    ordered = -np.sort(-z, axis=-1)
    cumulative = np.cumsum(ordered, axis=-1)
    k = np.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    support = (1 + k * ordered > cumulative).sum(axis=-1, keepdims=True)
    tau = (np.take_along_axis(cumulative, support - 1, axis=-1) - 1) / support.astype(z.dtype)
    return np.maximum(z - tau, 0).astype(z.dtype, copy=False)


def _params(name: str, params) -> dict:
    given = params or {}
    return {key: given.get(key, default) for key, default in ACTIVATION_PARAMS.get(name, ())}


def _relu(z, p):
    """Keras' relu(x, negative_slope, max_value, threshold), in Keras' order of operations."""
    t = z.dtype.type
    slope, threshold, cap = t(p["negative_slope"]), t(p["threshold"]), p["max_value"]
    if cap is None and slope == 0 and threshold == 0:
        return np.maximum(z, 0)  # keeps NaN, as the plain relu kernel
    kept = z > threshold
    y = np.where(kept, z, t(0))
    if cap is not None:  # Keras clips to [0, max_value]
        y = np.clip(y, t(0), t(cap))
    if slope != 0:
        y = y - slope * np.where(z < threshold, threshold - z, t(0))
    return y


def _relu_derivative(z, a, p):
    t = z.dtype.type
    slope, threshold, cap = t(p["negative_slope"]), t(p["threshold"]), p["max_value"]
    if cap is None and slope == 0 and threshold == 0:
        return (z > 0).astype(z.dtype)  # at exactly 0 taken as 0, as TensorFlow and PyTorch do
    kept = z > threshold
    d = kept.astype(z.dtype)
    if cap is not None:
        y = np.where(kept, z, t(0))
        d = np.where((y > t(cap)) | (y < 0), t(0), d)
    if slope != 0:
        d = d + np.where(z < threshold, slope, t(0))
    return d


def _gelu(z, p):
    t = z.dtype.type
    if p["approximate"]:
        return z * (t(0.5) * (1 + np.tanh(t(_GELU_C) * (z + t(_GELU_K) * (z * z * z)))))
    # erfc, not 1 + erf: no cancellation for negative z
    return t(0.5) * z * special.erfc(-z * t(math.sqrt(0.5)))


def _gelu_derivative(z, a, p):
    t = z.dtype.type
    if p["approximate"]:
        with np.errstate(over="ignore", invalid="ignore"):
            u = np.tanh(t(_GELU_C) * (z + t(_GELU_K) * (z * z * z)))
            s = 1 - u * u
            # where tanh saturates (s = 0) the second term is 0 even if x^2 overflowed
            second = np.where(s == 0, t(0), t(0.5) * z * s * t(_GELU_C) * (1 + t(3 * _GELU_K) * z * z))
        return t(0.5) * (1 + u) + second
    with np.errstate(over="ignore"):  # z^2 overflows to inf, and exp(-inf) is the 0 wanted
        density = np.exp(-z * z / 2)
    return t(0.5) * special.erfc(-z * t(math.sqrt(0.5))) + z * density / t(math.sqrt(2 * math.pi))


def _mish_derivative(z, a, p):
    u = np.tanh(softplus(z))
    return u + z * (1 - u * u) * sigmoid(z)


def _squareplus(z, p):
    t = z.dtype.type
    with np.errstate(over="ignore"):  # x^2 overflows as in Keras' formula
        return (z + np.sqrt(z * z + t(p["b"]))) / 2


def _squareplus_derivative(z, a, p):
    t = z.dtype.type
    with np.errstate(over="ignore"):
        return (1 + z / np.sqrt(z * z + t(p["b"]))) / 2


def _exp_quiet(z):
    with np.errstate(over="ignore"):  # inf above log(max), as Keras' exp
        return np.exp(z)


def _where(mask, value, z):
    """``value`` where mask, else 0, in z's dtype."""
    return np.where(mask, z.dtype.type(value), z.dtype.type(0))


def _c(z, value):
    """A constant in z's dtype (float32 arithmetic stays float32)."""
    return z.dtype.type(value)


def _clip(z, lo, hi):
    return np.minimum(np.maximum(z, _c(z, lo)), _c(z, hi))


def _elu(z, alpha):
    return np.where(z > 0, z, _c(z, alpha) * np.expm1(np.minimum(z, 0)))


def _soft_shrink(z, p):
    t = p["threshold"]
    return np.where(z > t, z - _c(z, t), np.where(z < -t, z + _c(z, t), _c(z, 0)))


def _softsign_derivative(z, a, p):
    with np.errstate(over="ignore"):  # (1 + |z|)^2 overflows to inf for huge z: the derivative is 0
        return 1 / np.square(1 + np.abs(z))


def _sparse_plus(z, p):
    with np.errstate(over="ignore"):  # the middle branch, unused outside (-1, 1), overflows for huge z
        middle = (z + 1) ** 2 / 4
    return np.where(z <= -1, _c(z, 0), np.where(z >= 1, z, middle))


def _hard_silu_derivative(z, a, p):
    return _clip(z + 3, 0, 6) / 6 + z * _where((z > -3) & (z < 3), 1 / 6, z)


# name -> (forward(z, params), derivative(z, a, params)); the row-wise ones are in apply/backward.
_ELEMENTWISE = {
    "linear": (lambda z, p: z.copy(), lambda z, a, p: np.ones_like(z)),
    "relu": (_relu, _relu_derivative),
    "sigmoid": (lambda z, p: sigmoid(z), lambda z, a, p: a * (1 - a)),
    "tanh": (lambda z, p: np.tanh(z), lambda z, a, p: 1 - a * a),
    "leaky_relu": (
        lambda z, p: np.where(z >= 0, z, _c(z, p["negative_slope"]) * z),
        lambda z, a, p: np.where(z >= 0, _c(z, 1), _c(z, p["negative_slope"])),
    ),
    "relu6": (lambda z, p: _clip(z, 0, 6), lambda z, a, p: _where((a > 0) & (a < 6), 1, z)),
    "elu": (
        lambda z, p: _elu(z, p["alpha"]),
        lambda z, a, p: np.where(a > 0, _c(z, 1), a + _c(z, p["alpha"])),
    ),
    "selu": (
        lambda z, p: _c(z, SELU_SCALE) * _elu(z, SELU_ALPHA),
        lambda z, a, p: np.where(a > 0, _c(z, SELU_SCALE), a + _c(z, SELU_SCALE * SELU_ALPHA)),
    ),
    "celu": (
        lambda z, p: np.where(z > 0, z, _c(z, p["alpha"]) * np.expm1(np.minimum(z, 0) / _c(z, p["alpha"]))),
        lambda z, a, p: np.where(a > 0, _c(z, 1), a / _c(z, p["alpha"]) + 1),
    ),
    "gelu": (_gelu, _gelu_derivative),
    "silu": (lambda z, p: z * sigmoid(z), lambda z, a, p: sigmoid(z) * (1 + z * (1 - sigmoid(z)))),
    "softplus": (lambda z, p: softplus(z), lambda z, a, p: -np.expm1(-a)),
    "softsign": (lambda z, p: z / (1 + np.abs(z)), _softsign_derivative),
    "hard_sigmoid": (lambda z, p: _clip(z + 3, 0, 6) / 6, lambda z, a, p: _where((a > 0) & (a < 1), 1 / 6, z)),
    "hard_silu": (lambda z, p: z * (_clip(z + 3, 0, 6) / 6), _hard_silu_derivative),
    "exponential": (lambda z, p: _exp_quiet(z), lambda z, a, p: a.copy()),
    "mish": (lambda z, p: z * np.tanh(softplus(z)), _mish_derivative),
    "hard_tanh": (lambda z, p: _clip(z, -1, 1), lambda z, a, p: _where((z >= -1) & (z <= 1), 1, z)),
    "sparse_plus": (
        _sparse_plus,
        lambda z, a, p: np.where(z <= -1, _c(z, 0), np.where(z >= 1, _c(z, 1), (z + 1) / 2)),
    ),
    "squareplus": (_squareplus, _squareplus_derivative),
    "soft_shrink": (_soft_shrink, lambda z, a, p: _where(a != 0, 1, z)),
    "hard_shrink": (
        lambda z, p: np.where(np.abs(z) > p["threshold"], z, _c(z, 0)),
        lambda z, a, p: _where(np.abs(z) > _c(z, p["threshold"]), 1, z),
    ),
    "tanh_shrink": (lambda z, p: z - np.tanh(z), lambda z, a, p: np.square(np.tanh(z))),
    "log_sigmoid": (lambda z, p: -softplus(-z), lambda z, a, p: -np.expm1(a)),
    "sparse_sigmoid": (lambda z, p: _clip(z + 1, 0, 2) / 2, lambda z, a, p: _where((a > 0) & (a < 1), 0.5, z)),
    "threshold": (
        lambda z, p: np.where(z > p["threshold"], z, _c(z, p["default_value"])),
        lambda z, a, p: _where(z > p["threshold"], 1, z),
    ),
}
assert set(_ELEMENTWISE) | set(ROW_ACTIVATIONS) == set(ACTIVATIONS) | {"threshold"}


def apply(name: str, z: np.ndarray, params=None) -> np.ndarray:
    """``name``'s output for z (any shape; softmax and log_softmax over the last axis), z's dtype."""
    if name == "softmax":
        return np.exp(log_softmax(z))
    if name == "log_softmax":
        return log_softmax(z)
    return _ELEMENTWISE[name][0](z, _params(name, params)).astype(z.dtype, copy=False)


def backward(name: str, z: np.ndarray, a: np.ndarray, g: np.ndarray, params=None) -> np.ndarray:
    """dL/dZ from g = dL/dA, z the input and a = apply(name, z)."""
    if name == "softmax":
        return a * (g - np.sum(g * a, axis=-1, keepdims=True))
    if name == "log_softmax":
        return g - np.exp(a) * np.sum(g, axis=-1, keepdims=True)
    return (g * _ELEMENTWISE[name][1](z, a, _params(name, params))).astype(z.dtype, copy=False)


def check_params(name: str, params, where: str) -> None:
    """ValueError/TypeError naming the argument when an activation's arguments are not plain numbers."""
    for key, default in ACTIVATION_PARAMS.get(name, ()):
        if key not in params:
            if default is None and not (name == "relu" and key == "max_value"):
                raise ValueError(f"{where}: {name} needs the argument {key}")
            continue
        value = params[key]
        if key == "approximate":
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{where}: approximate must be a bool, got {type(value).__name__}")
            continue
        if value is None and key == "max_value":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{where}: {key} must be a number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError(f"{where}: {key} must be finite, got {value}")
    if name == "celu" and params.get("alpha", 1.0) == 0:
        raise ValueError(f"{where}: celu's alpha cannot be 0")


def check(spec, dtype) -> None:
    name = spec.attrs.get("activation")
    where = spec.name or "activation"
    if name not in ACTIVATIONS and name != "threshold":
        raise ValueError(f"{where}: unknown activation {name!r}")
    if spec.in_shape != spec.out_shape:
        raise ValueError(f"{where}: in_shape and out_shape must match")
    if spec.params or spec.state:
        raise ValueError(f"{where}: an activation has no weights")
    check_params(name, spec.attrs, where)


def forward(spec, x: np.ndarray, ctx) -> Forward:
    name = spec.attrs["activation"]
    params = {key: spec.attrs[key] for key, _ in ACTIVATION_PARAMS.get(name, ()) if key in spec.attrs}
    row_wise = name in ROW_ACTIVATIONS
    shaped = (lambda t: t.reshape(-1, spec.in_shape[-1])) if row_wise else (lambda t: t)
    a = apply(name, shaped(x), params).reshape(x.shape)

    def backprop_from_pre(dz):
        return dz, ()

    def backprop(dy):
        return backward(name, shaped(x), shaped(a), shaped(dy), params).reshape(x.shape), ()

    # the loss head fuses the first five (no arguments) on 1-D samples, as the compiled network
    fusable = activation_kernel(name, params)[0] < 5 and len(spec.in_shape) == 1
    return Forward(a, backprop, head=(name, x, backprop_from_pre) if fusable else None)
