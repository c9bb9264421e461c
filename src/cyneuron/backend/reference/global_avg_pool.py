"""Kind ``global_avg_pool``: the mean over every position of each channel (GlobalAveragePooling1D/2D).

in_shape ``(..., C)`` (positions, then channels last), out_shape with ``C`` elements (``(C,)``, or
``keepdims``' ``(1, C)`` / ``(1, 1, C)``); attrs ``channels`` = C. No weights. Sums in float64,
rounded once to the dtype; the backward gives every position ``dy / positions``.
"""

from __future__ import annotations

import math

import numpy as np

from cyneuron.backend.reference._stage import Forward


def check(spec, dtype) -> None:
    label = spec.name or spec.kind
    c = spec.attrs.get("channels")
    if not isinstance(c, int) or isinstance(c, bool) or c < 1:
        raise ValueError(f"{label}: channels must be a positive int, got {c!r}")
    if len(spec.in_shape) < 2 or spec.in_shape[-1] != c:
        raise ValueError(f"{label}: expected a per-sample shape (..., {c}), got {spec.in_shape}")
    if math.prod(spec.out_shape) != c:
        raise ValueError(f"{label}: out_shape {spec.out_shape} must hold {c} values")
    if spec.params or spec.state:
        raise ValueError(f"{label}: a pooling stage has no weights")


def _positions(spec) -> int:
    return math.prod(spec.in_shape) // spec.attrs["channels"]


def forward(spec, x, ctx) -> Forward:
    rows, c, p = x.shape[0], spec.attrs["channels"], _positions(spec)
    x3 = x.reshape(rows, p, c)
    y = (x3.sum(axis=1, dtype=np.float64) / p).astype(x.dtype)

    def backprop(dy):
        share = dy / x.dtype.type(p)
        return np.ascontiguousarray(np.broadcast_to(share[:, None, :], x3.shape)).reshape(rows, -1), ()

    return Forward(y, backprop)
