"""Kind ``dropout``: in training, zero each element with probability ``rate`` and scale the rest by 1/(1 - rate).

attrs: ``rate`` in [0, 1], ``seed`` (int, or None for the network's), ``noise_shape`` (None, or the
per-sample shape of the mask with 1 where it broadcasts) and ``noise_batch`` (False when the mask
is shared by every sample: Keras' noise_shape with a batch entry of 1). Inference: the identity.
Element ``(r, i)`` is kept when ``rng.uniform(key, counter) < 1 - rate`` with ``counter`` the flat
index of its mask element in ``(rows if noise_batch else 1, *noise_shape)``.
"""

from __future__ import annotations

import math

import numpy as np

from cyneuron.backend.reference import rng
from cyneuron.backend.reference._stage import Forward


def check(spec, dtype) -> None:
    rate = spec.attrs.get("rate")
    if not isinstance(rate, float) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"{spec.name or 'dropout'}: rate must be a float in [0, 1], got {rate!r}")
    if spec.in_shape != spec.out_shape or spec.params or spec.state:
        raise ValueError(f"{spec.name or 'dropout'}: shapes must match and there are no weights")
    noise = spec.attrs.get("noise_shape")
    if noise is not None and (
        len(noise) != len(spec.in_shape) or any(n not in (1, d) for n, d in zip(noise, spec.in_shape))
    ):
        raise ValueError(f"{spec.name or 'dropout'}: noise_shape {noise} does not broadcast to {spec.in_shape}")


def mask_counters(spec, rows: int) -> np.ndarray:
    """For every element of a (rows, prod(in_shape)) batch, the counter of its mask element."""
    noise = spec.attrs.get("noise_shape") or spec.in_shape
    width = math.prod(noise)
    per_sample = np.arange(width, dtype=np.int64).reshape(noise)
    per_sample = np.broadcast_to(per_sample, spec.in_shape).reshape(-1)
    sample = np.arange(rows, dtype=np.int64) if spec.attrs.get("noise_batch", True) else np.zeros(rows, np.int64)
    return sample[:, None] * width + per_sample[None, :]


def keep_mask(spec, rows: int, ctx) -> np.ndarray:
    seed = spec.attrs.get("seed")
    key = rng.stage_key(ctx.seed if seed is None else seed, ctx.step, ctx.stage)
    return rng.uniform(key, mask_counters(spec, rows)) < 1.0 - spec.attrs["rate"]


def forward(spec, x, ctx) -> Forward:
    rate = spec.attrs["rate"]
    if not ctx.training or rate == 0.0:
        return Forward(x.copy(), lambda dy: (dy.copy(), ()))
    if rate >= 1.0:  # everything dropped (Keras' where(mask, x / 0, 0) gives zeros too)
        return Forward(np.zeros_like(x), lambda dy: (np.zeros_like(dy), ()))
    keep = keep_mask(spec, x.shape[0], ctx)
    keep_prob = x.dtype.type(1.0 - rate)
    y = np.where(keep, x / keep_prob, x.dtype.type(0))
    return Forward(y, lambda dy: (np.where(keep, dy / keep_prob, dy.dtype.type(0)), ()))
