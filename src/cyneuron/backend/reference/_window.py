"""Sliding-window geometry shared by the convolution and pooling kinds (Keras' arithmetic).

Per spatial dimension of ``size`` with a window of ``k`` taps spaced ``d`` apart (effective extent
``(k - 1) * d + 1``) moved by ``s``:

* ``"valid"``: no padding, ``out = (size - extent) // s + 1``;
* ``"same"``: ``out = ceil(size / s)``, ``total = max((out - 1) * s + extent - size, 0)`` padded,
  ``total // 2`` before and the rest after (XLA's SAME, which Keras' JAX backend uses; odd totals
  pad one more after, also for even kernels);
* ``"causal"`` (Conv1D): ``extent - 1`` before, nothing after, then valid.

Output position ``o`` covers input positions ``o * s - pad_before + t * d`` for taps ``t < k``;
those outside ``[0, size)`` are padding.
"""

from __future__ import annotations

import math

import numpy as np

PADDINGS = ("valid", "same", "causal")


def geometry(size: int, k: int, s: int, d: int, padding: str) -> tuple[int, int]:
    """(out, pad_before) for one spatial dimension; ValueError when the window does not fit."""
    extent = (k - 1) * d + 1
    if padding == "valid":
        out, before = (size - extent) // s + 1 if size >= extent else 0, 0
    elif padding == "same":
        out = -(-size // s)
        before = max((out - 1) * s + extent - size, 0) // 2
    elif padding == "causal":
        before = extent - 1
        out = (size + before - extent) // s + 1
    else:
        raise ValueError(f"padding: expected one of {PADDINGS}, got {padding!r}")
    if out < 1:
        raise ValueError(
            f"Computed output size would be zero or negative: input size {size}, window {k} "
            f"(dilation {d}, extent {extent}), stride {s}, padding {padding!r}"
        )
    return out, before


def _pair(value, name: str) -> tuple[int, int]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name}: expected a pair of positive ints, got {value!r}")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}: expected a pair of positive ints, got {value!r}")
    return int(value[0]), int(value[1])


def check_window(spec, window_key: str, dilation: bool, channels_out: int | None, paddings=PADDINGS):
    """Checks a windowed kind's attrs and shapes; returns (k, s, d, (oh, th), (ow, tw))."""
    label = spec.name or spec.kind
    if len(spec.in_shape) != 3 or len(spec.out_shape) != 3:
        raise ValueError(f"{label}: expected per-sample shapes (H, W, C), got {spec.in_shape} -> {spec.out_shape}")
    k = _pair(spec.attrs.get(window_key), window_key)
    s = _pair(spec.attrs.get("strides"), "strides")
    d = _pair(spec.attrs.get("dilation_rate", (1, 1)), "dilation_rate") if dilation else (1, 1)
    padding = spec.attrs.get("padding")
    if padding not in paddings:
        raise ValueError(f"{label}: padding must be one of {paddings}, got {padding!r}")
    h, w, c = spec.in_shape
    gh = geometry(h, k[0], s[0], d[0], "valid" if padding == "causal" else padding)
    gw = geometry(w, k[1], s[1], d[1], padding)
    expected = (gh[0], gw[0], c if channels_out is None else channels_out)
    if tuple(spec.out_shape) != expected:
        raise ValueError(f"{label}: out_shape {spec.out_shape} does not match the window arithmetic's {expected}")
    return k, s, d, gh, gw


def padded(x4: np.ndarray, k, s, d, gh, gw, fill) -> np.ndarray:
    """x (rows, H, W, C) inside a ``fill``-padded block large enough for every window."""
    rows, h, w, c = x4.shape
    extra_h = max((gh[0] - 1) * s[0] + (k[0] - 1) * d[0] + 1 - h - gh[1], 0)
    extra_w = max((gw[0] - 1) * s[1] + (k[1] - 1) * d[1] + 1 - w - gw[1], 0)
    out = np.full((rows, gh[1] + h + extra_h, gw[1] + w + extra_w, c), fill, dtype=x4.dtype)
    out[:, gh[1] : gh[1] + h, gw[1] : gw[1] + w] = x4
    return out


def tap(k, s, d, gh, gw, i: int, j: int) -> tuple[slice, slice]:
    """The padded block's positions that tap (i, j) reads for every output position."""
    return (
        slice(i * d[0], i * d[0] + (gh[0] - 1) * s[0] + 1, s[0]),
        slice(j * d[1], j * d[1] + (gw[0] - 1) * s[1] + 1, s[1]),
    )


def unpad(xp: np.ndarray, shape, gh, gw) -> np.ndarray:
    h, w, _ = shape
    return xp[:, gh[1] : gh[1] + h, gw[1] : gw[1] + w]


def taps(k) -> list[tuple[int, int]]:
    """Every tap of a window, row-major (the order of the kernel's and the columns' axes)."""
    return [(i, j) for i in range(k[0]) for j in range(k[1])]


__all__ = ["PADDINGS", "geometry", "check_window", "padded", "tap", "unpad", "taps", "math"]
