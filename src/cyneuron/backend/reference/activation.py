"""Kind ``activation``: an element-wise (or, for softmax, last-axis) function; no weights.

attrs: ``activation`` — one of ``linear relu sigmoid tanh softmax`` (the ones Dense fuses too),
``relu_ext`` (Keras' ``relu(x, negative_slope, max_value, threshold)``, attrs ``negative_slope``,
``max_value`` (None: no cap), ``threshold``), ``leaky_relu`` (attr ``negative_slope``) or ``elu``
(attr ``alpha``). Softmax runs over the last axis of the per-sample shape.
"""

from __future__ import annotations

import math

import numpy as np

from cyneuron.backend.reference._stage import Forward
from cyneuron.backend.specs import ACTIVATIONS

EXTENDED = ("relu_ext", "leaky_relu", "elu")


def sigmoid(z: np.ndarray) -> np.ndarray:
    # exp(-|z|) never overflows, so both branches are safe for any z.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def apply(name: str, z: np.ndarray) -> np.ndarray:
    """One of the five fusable activations; softmax row-wise over the last axis."""
    if name == "linear":
        return z.copy()
    if name == "relu":
        return np.maximum(z, 0)
    if name == "sigmoid":
        return sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    return np.exp(log_softmax(z))


def backward(name: str, z: np.ndarray, a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """dL/dZ from g = dL/dA for a fusable activation (relu reads z, the others a)."""
    if name == "linear":
        return g.copy()
    if name == "relu":
        # The derivative at exactly 0 is taken as 0, as TensorFlow and PyTorch do.
        return g * (z > 0)
    if name == "sigmoid":
        return g * a * (1 - a)
    if name == "tanh":
        return g * (1 - a * a)
    return a * (g - np.sum(g * a, axis=-1, keepdims=True))


def _extended(attrs, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Output and derivative (same shape as x) of an extended activation."""
    dtype = x.dtype.type
    name = attrs["activation"]
    if name == "leaky_relu":
        slope = dtype(attrs["negative_slope"])
        return np.where(x >= 0, x, slope * x), np.where(x >= 0, dtype(1), slope)
    if name == "elu":
        alpha = dtype(attrs["alpha"])
        negative = alpha * np.expm1(np.minimum(x, 0))
        return np.where(x > 0, x, negative), np.where(x > 0, dtype(1), negative + alpha)
    # Keras' relu(x, negative_slope, max_value, threshold)
    slope, threshold, cap = dtype(attrs["negative_slope"]), dtype(attrs["threshold"]), attrs["max_value"]
    kept = x > threshold if threshold != 0 else x > 0
    y = np.where(kept, x, dtype(0))
    grad = kept.astype(x.dtype)
    if cap is not None:  # Keras clips to [0, max_value]
        outside = (y > dtype(cap)) | (y < 0)
        y = np.clip(y, dtype(0), dtype(cap))
        grad = np.where(outside, dtype(0), grad)
    if slope != 0:
        below = x < threshold
        y = y - slope * np.where(below, threshold - x, dtype(0))
        grad = grad + np.where(below, slope, dtype(0))
    return y.astype(x.dtype, copy=False), grad.astype(x.dtype, copy=False)


def check(spec, dtype) -> None:
    name = spec.attrs.get("activation")
    if name not in ACTIVATIONS and name not in EXTENDED:
        raise ValueError(f"{spec.name or 'activation'}: unknown activation {name!r}")
    if spec.in_shape != spec.out_shape:
        raise ValueError(f"{spec.name or 'activation'}: in_shape and out_shape must match")
    if spec.params or spec.state:
        raise ValueError(f"{spec.name or 'activation'}: an activation has no weights")
    for key in ("negative_slope", "threshold", "alpha"):
        if key in spec.attrs and not math.isfinite(spec.attrs[key]):
            raise ValueError(f"{spec.name or 'activation'}: {key} must be finite")


def forward(spec, x: np.ndarray, ctx) -> Forward:
    name = spec.attrs["activation"]
    if name in EXTENDED:
        y, derivative = _extended(spec.attrs, x)
        return Forward(y, lambda dy: (dy * derivative, ()))
    rows = x.reshape(-1, spec.in_shape[-1]) if name == "softmax" else x
    a = apply(name, rows).reshape(x.shape)

    def backprop_from_pre(dz):
        return dz, ()

    def backprop(dy):
        shaped = (lambda t: t.reshape(-1, spec.in_shape[-1])) if name == "softmax" else (lambda t: t)
        return backward(name, shaped(x), shaped(a), shaped(dy)).reshape(x.shape), ()

    head = (name, x, backprop_from_pre) if len(spec.in_shape) == 1 else None
    return Forward(a, backprop, head=head)
