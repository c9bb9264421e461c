"""Kind ``avg_pool2d``: the mean of each window, per channel (Keras' AveragePooling2D, 1-D with H = 1).

Shapes and attrs as ``max_pool2d``. With ``"same"`` padding a window's sum is divided by the number
of its elements inside the image (Keras' JAX backend divides by a pooled window of ones); the
backward spreads ``dy / count`` over those elements. Sums run over the taps in row-major order.
"""

from __future__ import annotations

import numpy as np

from cyneuron.backend.reference import _window, max_pool2d
from cyneuron.backend.reference._stage import Forward

check = max_pool2d.check


def forward(spec, x, ctx) -> Forward:
    rows = x.shape[0]
    xp, slices, (k, s, d, gh, gw) = max_pool2d.windows(spec, x, 0)
    ones = _window.padded(np.ones((1, *spec.in_shape), x.dtype), k, s, d, gh, gw, 0)
    total = np.zeros((rows, gh[0], gw[0], spec.in_shape[2]), x.dtype)
    count = np.zeros((1, gh[0], gw[0], spec.in_shape[2]), x.dtype)
    for hs, ws in slices:
        total += xp[:, hs, ws]
        count += ones[:, hs, ws]
    y = total / count

    def backprop(dy):
        share = dy.reshape(y.shape) / count
        dxp = np.zeros_like(xp)
        for hs, ws in slices:
            dxp[:, hs, ws] += share
        return np.ascontiguousarray(_window.unpad(dxp, spec.in_shape, gh, gw)).reshape(rows, -1), ()

    return Forward(y.reshape(rows, -1), backprop)
