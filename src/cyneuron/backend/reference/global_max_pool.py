"""Kind ``global_max_pool``: the maximum over every position of each channel (GlobalMaxPooling1D/2D).

Shapes and attrs as ``global_avg_pool``. Backward as the VJP of ``jnp.max`` (Keras' JAX backend):
the gradient is split equally between tied maxima, ``dx = (dy / ties) * (x == max)``.
"""

from __future__ import annotations

from cyneuron.backend.reference import global_avg_pool
from cyneuron.backend.reference._stage import Forward

check = global_avg_pool.check


def forward(spec, x, ctx) -> Forward:
    rows, c = x.shape[0], spec.attrs["channels"]
    x3 = x.reshape(rows, -1, c)
    y = x3.max(axis=1)
    hit = x3 == y[:, None, :]
    ties = hit.sum(axis=1).astype(x.dtype)

    def backprop(dy):
        return ((dy / ties)[:, None, :] * hit).reshape(rows, -1), ()

    return Forward(y, backprop)
