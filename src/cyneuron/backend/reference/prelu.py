"""Kind ``prelu``: ``x`` for ``x > 0``, ``alpha * x`` otherwise, with a trainable ``alpha`` (Keras' PReLU).

in_shape == out_shape (per sample); params ``(alpha,)``, ``alpha`` of the per-sample shape with 1 on
the shared axes (broadcast over them), as Keras'. No attrs. ``dL/dalpha = sum(dL/dy * min(x, 0))``
over the batch and the shared positions.
"""

from __future__ import annotations

import numpy as np

from cyneuron.backend.reference._stage import Forward, check_params


def check(spec, dtype) -> None:
    name = spec.name or "prelu"
    if spec.in_shape != spec.out_shape:
        raise ValueError(f"{name}: in_shape and out_shape must match")
    if len(spec.params) != 1 or spec.state:
        raise ValueError(f"{name}: a prelu has one parameter array (alpha) and no state")
    shape = getattr(spec.params[0], "shape", None)
    if shape is None or len(shape) != len(spec.in_shape) or any(a not in (1, n) for a, n in zip(shape, spec.in_shape)):
        raise ValueError(f"{name}: alpha must have the per-sample shape {spec.in_shape} with 1 on shared axes")
    check_params(spec, dtype, [shape])


def alpha_map(spec) -> np.ndarray:
    """For every per-sample element (flat) the flat index of its alpha."""
    alpha = spec.params[0]
    flat = np.arange(alpha.size, dtype=np.int64).reshape(alpha.shape)
    return np.ascontiguousarray(np.broadcast_to(flat, spec.in_shape).reshape(-1))


def forward(spec, x, ctx) -> Forward:
    index = alpha_map(spec)
    alpha = spec.params[0].reshape(-1)[index]
    y = np.where(x > 0, x, alpha * x)

    def backprop(dy):
        grads = ()
        if spec.trainable:
            per_element = (dy * np.minimum(x, 0)).sum(axis=0)
            summed = np.bincount(index, weights=per_element, minlength=spec.params[0].size)
            grads = (summed.astype(x.dtype).reshape(spec.params[0].shape),)
        dx = dy * np.where(x > 0, x.dtype.type(1), alpha) if ctx.need_dx else None
        return dx, grads

    return Forward(y, backprop)
