"""Kind ``transpose``: permute each sample's axes (``channels_first`` layers convert at their boundary).

attrs: ``perm``, a permutation of ``range(len(in_shape))``; ``out_shape[i] == in_shape[perm[i]]``.
Backward applies the inverse permutation to the gradient. No weights.
"""

from __future__ import annotations

import numpy as np

from cyneuron.backend.reference._stage import Forward


def check(spec, dtype) -> None:
    perm = spec.attrs.get("perm")
    name = spec.name or "transpose"
    if not isinstance(perm, tuple) or sorted(perm) != list(range(len(spec.in_shape))):
        raise ValueError(f"{name}: perm must be a permutation of the {len(spec.in_shape)} per-sample axes, got {perm}")
    if tuple(spec.in_shape[p] for p in perm) != tuple(spec.out_shape):
        raise ValueError(f"{name}: out_shape {spec.out_shape} is not in_shape {spec.in_shape} permuted by {perm}")
    if spec.params or spec.state:
        raise ValueError(f"{name}: a transpose has no weights")


def index_map(spec) -> np.ndarray:
    """For every output element (flat, per sample) the flat index of the input element it copies."""
    flat = np.arange(int(np.prod(spec.in_shape)), dtype=np.int64).reshape(spec.in_shape)
    return np.ascontiguousarray(flat.transpose(spec.attrs["perm"]).reshape(-1))


def forward(spec, x, ctx) -> Forward:
    source = index_map(spec)
    y = x[:, source]

    def backprop(dy):
        dx = np.empty_like(dy)
        dx[:, source] = dy
        return dx, ()

    return Forward(y, backprop)
