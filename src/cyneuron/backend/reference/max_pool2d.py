"""Kind ``max_pool2d``: the maximum of each window, per channel (Keras' MaxPooling2D, 1-D with H = 1).

in_shape ``(H, W, C)``, out_shape ``(OH, OW, C)``; attrs ``pool_size (ph, pw)``, ``strides (sh, sw)``,
``padding`` (``"valid"`` / ``"same"``, ``_window``'s arithmetic; padding never wins). No weights.

Backward routes each window's gradient to one element: the first maximum in the window's row-major
(h, then w) order, as the VJP of JAX's ``lax.reduce_window`` max (select-and-scatter with ``>=``)
does; overlapping windows add their contributions.
"""

from __future__ import annotations

import numpy as np

from cyneuron.backend.reference import _window
from cyneuron.backend.reference._stage import Forward


def check(spec, dtype) -> None:
    _window.check_window(spec, "pool_size", False, None, ("valid", "same"))
    if spec.params or spec.state:
        raise ValueError(f"{spec.name or spec.kind}: a pooling stage has no weights")


def geometry(spec):
    a = spec.attrs
    h, w, _ = spec.in_shape
    k, s, d = tuple(a["pool_size"]), tuple(a["strides"]), (1, 1)
    gh = _window.geometry(h, k[0], s[0], 1, a["padding"])
    gw = _window.geometry(w, k[1], s[1], 1, a["padding"])
    return k, s, d, gh, gw


def windows(spec, x, fill):
    """(taps, padded block, [(tap slices)], the windows stacked on axis 0: (kh*kw, rows, OH, OW, C))."""
    k, s, d, gh, gw = geometry(spec)
    xp = _window.padded(x.reshape(x.shape[0], *spec.in_shape), k, s, d, gh, gw, fill)
    slices = [_window.tap(k, s, d, gh, gw, i, j) for i, j in _window.taps(k)]
    return xp, slices, (k, s, d, gh, gw)


def forward(spec, x, ctx) -> Forward:
    rows = x.shape[0]
    xp, slices, (k, s, d, gh, gw) = windows(spec, x, -np.inf)
    stacked = np.stack([xp[:, hs, ws] for hs, ws in slices])
    first = np.argmax(stacked, axis=0)  # the first maximum in row-major window order
    y = np.max(stacked, axis=0)

    def backprop(dy):
        dy = dy.reshape(y.shape)
        dxp = np.zeros_like(xp)
        for t, (hs, ws) in enumerate(slices):
            dxp[:, hs, ws] += np.where(first == t, dy, dy.dtype.type(0))
        dx = np.ascontiguousarray(_window.unpad(dxp, spec.in_shape, gh, gw)).reshape(rows, -1)
        return dx, ()

    return Forward(np.ascontiguousarray(y).reshape(rows, -1), backprop)
