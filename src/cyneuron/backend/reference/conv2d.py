"""Kind ``conv2d``: ``activation(conv(x, kernel) + bias)`` over channels-last images, the activation fused.

in_shape ``(H, W, C)``, out_shape ``(OH, OW, F)``; params ``(kernel (kh, kw, C, F), bias (F,))`` or
``(kernel,)`` without bias (Keras' layout). attrs: ``kernel_size (kh, kw)``, ``strides (sh, sw)``,
``dilation_rate (dh, dw)``, ``padding`` (``"valid"``, ``"same"``, or ``"causal"``: Conv1D's, along W;
the arithmetic is ``_window``'s) and ``activation`` (one of ``specs.FUSED_ACTIVATIONS``; softmax and
log_softmax over the filters).

As cross-correlation (Keras/XLA): ``z[oh, ow, f] = b[f] + sum_{i, j, c} x[oh*sh - top + i*dh,
ow*sw - left + j*dw, c] * kernel[i, j, c, f]``, out-of-range positions reading 0. Computed as
im2col: every sample's windows as rows of a ``(rows * OH * OW, kh * kw * C)`` matrix (columns in
the kernel's (i, j, c) order) times the kernel as a ``(kh * kw * C, F)`` matrix; the backward is
the two transposed products and a scatter-add of the column gradient back to the image (col2im).
"""

from __future__ import annotations

import math

import numpy as np

from cyneuron.backend.reference import _window
from cyneuron.backend.reference import activation as act
from cyneuron.backend.reference._stage import Forward, check_params
from cyneuron.backend.specs import FUSED_ACTIVATIONS, ROW_ACTIVATIONS


def check(spec, dtype) -> None:
    if spec.attrs.get("activation") not in FUSED_ACTIVATIONS:
        raise ValueError(
            f"{spec.name or 'conv2d'}: activation {spec.attrs.get('activation')!r} cannot be fused; "
            f"expected one of {', '.join(FUSED_ACTIVATIONS)} (others run as their own activation stage)"
        )
    if len(spec.out_shape) != 3:
        raise ValueError(f"{spec.name or 'conv2d'}: expected per-sample shapes (H, W, C), got {spec.out_shape}")
    k, _, _, _, _ = _window.check_window(spec, "kernel_size", True, spec.out_shape[2])
    c, f = spec.in_shape[2], spec.out_shape[2]
    shapes = [(k[0], k[1], c, f), (f,)][: max(1, len(spec.params))]
    check_params(spec, dtype, shapes)


def geometry(spec):
    a = spec.attrs
    h, w, _ = spec.in_shape
    k, s, d = tuple(a["kernel_size"]), tuple(a["strides"]), tuple(a.get("dilation_rate", (1, 1)))
    padding = a["padding"]
    gh = _window.geometry(h, k[0], s[0], d[0], "valid" if padding == "causal" else padding)
    gw = _window.geometry(w, k[1], s[1], d[1], padding)
    return k, s, d, gh, gw


def im2col(spec, x: np.ndarray) -> np.ndarray:
    """x (rows, H*W*C) -> (rows * OH * OW, kh * kw * C)."""
    k, s, d, gh, gw = geometry(spec)
    rows = x.shape[0]
    xp = _window.padded(x.reshape(rows, *spec.in_shape), k, s, d, gh, gw, 0)
    cols = np.stack([xp[:, hs, ws] for hs, ws in (_window.tap(k, s, d, gh, gw, i, j) for i, j in _window.taps(k))], 3)
    return cols.reshape(rows * gh[0] * gw[0], -1)  # (rows, OH, OW, kh*kw, C) -> rows of (i, j, c)


def col2im(spec, dcols: np.ndarray, rows: int) -> np.ndarray:
    """The transpose of ``im2col``: every column entry added back to the image element it read."""
    k, s, d, gh, gw = geometry(spec)
    c = spec.in_shape[2]
    dc = dcols.reshape(rows, gh[0], gw[0], k[0] * k[1], c)
    shape = (rows, *spec.in_shape)
    dxp = _window.padded(np.zeros(shape, dcols.dtype), k, s, d, gh, gw, 0)
    for t, (i, j) in enumerate(_window.taps(k)):
        hs, ws = _window.tap(k, s, d, gh, gw, i, j)
        dxp[:, hs, ws] += dc[:, :, :, t]
    return np.ascontiguousarray(_window.unpad(dxp, spec.in_shape, gh, gw)).reshape(rows, -1)


def forward(spec, x, ctx) -> Forward:
    rows = x.shape[0]
    f = spec.out_shape[2]
    kernel = spec.params[0].reshape(-1, f)
    bias = spec.params[1] if len(spec.params) > 1 else None
    cols = im2col(spec, x)
    z = cols @ kernel
    if bias is not None:
        z = z + bias
    name = spec.attrs["activation"]
    a = act.apply(name, z)  # softmax over the last axis: the filters of one position

    def backprop_from_pre(dz):
        dz = dz.reshape(-1, f)
        grads = ()
        if spec.trainable:
            gk = (cols.T @ dz).reshape(spec.params[0].shape)
            grads = (gk,) if bias is None else (gk, dz.sum(axis=0))
        dx = col2im(spec, dz @ kernel.T, rows) if ctx.need_dx else None
        return dx, grads

    def backprop(dy):
        return backprop_from_pre(act.backward(name, z, a, dy.reshape(-1, f)))

    positions = math.prod(spec.out_shape[:2])
    # the loss head fuses a row-wise activation only when it spans the whole output row (one position)
    head = (name, z.reshape(rows, -1), backprop_from_pre) if name not in ROW_ACTIVATIONS or positions == 1 else None
    return Forward(a.reshape(rows, -1), backprop, head=head)
