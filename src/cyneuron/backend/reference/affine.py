"""Kind ``affine``: an element-wise affine map, Keras' preprocessing layers ``Rescaling`` and ``Normalization``.

attrs: ``mode`` and
* ``"rescale"``: ``y = x * scale + offset`` (attrs ``scale``, ``offset``: floats, rounded to the dtype
  first as Keras casts them); no state;
* ``"normalize"``: ``y = (x - mean) / max(sqrt(variance), 1e-7)``; ``"denormalize"`` (``invert=True``):
  ``y = mean + x * max(sqrt(variance), 1e-7)``. state ``(mean, variance)``, each ``(channels,)``;
  element ``i`` of a sample belongs to channel ``(i // inner) % channels`` (attrs ``channels``,
  ``inner``, as ``batch_norm``). 1e-7 is Keras' ``backend.epsilon()``.

No trainable weights; the state is constant (never updated by a step). Backward: ``dy`` times the
factor.
"""

from __future__ import annotations

import math

import numpy as np

from cyneuron.backend.reference._stage import Forward, check_params

MODES = ("rescale", "normalize", "denormalize")
EPSILON = 1e-7


def check(spec, dtype) -> None:
    a, label = spec.attrs, spec.name or "affine"
    if a.get("mode") not in MODES:
        raise ValueError(f"{label}: mode must be one of {MODES}, got {a.get('mode')!r}")
    if spec.in_shape != spec.out_shape or spec.params:
        raise ValueError(f"{label}: in_shape and out_shape must match, and there are no trainable weights")
    if a["mode"] == "rescale":
        for key in ("scale", "offset"):
            value = a.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{label}: {key} must be a finite float, got {value!r}")
        if spec.state:
            raise ValueError(f"{label}: rescale holds no state")
        return
    channels, inner = a.get("channels"), a.get("inner")
    if not isinstance(channels, int) or not isinstance(inner, int) or channels < 1 or inner < 1:
        raise ValueError(f"{label}: channels and inner must be positive ints")
    if math.prod(spec.in_shape) % (channels * inner):
        raise ValueError(f"{label}: channels * inner must divide the sample size")
    check_params(spec, dtype, [(channels,)] * 2, what="state")


def factors(spec, dtype):
    """Per-channel (multiplier, shift) with y = (x - shift) * m (normalize: m = 1 / denominator ...)."""
    mean, variance = spec.state
    return mean, np.maximum(np.sqrt(variance), dtype.type(EPSILON))


def forward(spec, x, ctx) -> Forward:
    a, dtype = spec.attrs, x.dtype
    if a["mode"] == "rescale":
        scale, offset = dtype.type(a["scale"]), dtype.type(a["offset"])
        return Forward(x * scale + offset, lambda dy: (dy * scale, ()))
    mean, denom = factors(spec, dtype)
    xc = x.reshape(-1, a["channels"], a["inner"])
    m, dn = mean[None, :, None], denom[None, :, None]
    if a["mode"] == "normalize":
        y = (xc - m) / dn
        return Forward(y.reshape(x.shape), lambda dy: ((dy.reshape(xc.shape) / dn).reshape(x.shape), ()))
    y = m + xc * dn
    return Forward(y.reshape(x.shape), lambda dy: ((dy.reshape(xc.shape) * dn).reshape(x.shape), ()))
