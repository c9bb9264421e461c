"""Kind ``batch_norm``: Keras' BatchNormalization over one axis of the per-sample shape.

attrs: ``channels`` (size of the normalised axis), ``inner`` (product of the per-sample dims after
it), ``momentum``, ``epsilon``, ``center``, ``scale``. Element ``i`` of a sample belongs to channel
``(i // inner) % channels``. params: ``(gamma, beta)`` (each ``(channels,)``, either absent when
``scale`` / ``center`` is off); state: ``(moving_mean, moving_variance)``.

Training (trainable): batch mean and biased variance over every axis but the channel's, outputs
``x * inv + (beta - mean * inv)`` with ``inv = gamma / sqrt(var + epsilon)`` (Keras' order), and new
moving statistics ``moving * momentum + batch * (1 - momentum)``. Inference or frozen: the moving
statistics, the same formula.
"""

from __future__ import annotations

import math

import numpy as np

from cyneuron.backend.reference._stage import Forward, check_params


def _split(spec):
    gamma = spec.params[0] if spec.attrs["scale"] else None
    beta = spec.params[-1] if spec.attrs["center"] else None
    return gamma, beta


def check(spec, dtype) -> None:
    a = spec.attrs
    channels, inner = a.get("channels"), a.get("inner")
    if spec.in_shape != spec.out_shape:
        raise ValueError(f"{spec.name or 'batch_norm'}: in_shape and out_shape must match")
    if not isinstance(channels, int) or not isinstance(inner, int) or channels < 1 or inner < 1:
        raise ValueError(f"{spec.name or 'batch_norm'}: channels and inner must be positive ints")
    if math.prod(spec.in_shape) % (channels * inner):
        raise ValueError(f"{spec.name or 'batch_norm'}: channels * inner must divide the sample size")
    if not (math.isfinite(a["momentum"]) and math.isfinite(a["epsilon"]) and a["epsilon"] > 0):
        raise ValueError(f"{spec.name or 'batch_norm'}: momentum and epsilon must be finite, epsilon > 0")
    check_params(spec, dtype, [(channels,)] * (int(bool(a["scale"])) + int(bool(a["center"]))))
    check_params(spec, dtype, [(channels,)] * 2, what="state")


def _by_channel(spec, x: np.ndarray) -> np.ndarray:
    """(rows, prod(in_shape)) -> (rows * outer, channels, inner): the channel on axis 1."""
    return x.reshape(-1, spec.attrs["channels"], spec.attrs["inner"])


def forward(spec, x, ctx) -> Forward:
    a = spec.attrs
    dtype = x.dtype.type
    gamma, beta = _split(spec)
    moving_mean, moving_var = spec.state
    xc = _by_channel(spec, x)
    batch_stats = ctx.training and spec.trainable
    if batch_stats:
        # float64 sums, rounded once to the dtype: the compiled kernel sums the same way
        mean = xc.mean(axis=(0, 2), dtype=np.float64).astype(x.dtype)
        centred = (xc - mean[None, :, None]).astype(np.float64)
        var = (centred * centred).mean(axis=(0, 2)).astype(x.dtype)
    else:
        mean, var = moving_mean, moving_var
    rstd = dtype(1) / np.sqrt(var + dtype(a["epsilon"]))
    inv = rstd * gamma if gamma is not None else rstd
    shift = -mean * inv
    if beta is not None:
        shift = shift + beta
    y = (xc * inv[None, :, None] + shift[None, :, None]).reshape(x.shape)

    new_state = None
    if batch_stats:
        m = dtype(a["momentum"])
        new_state = (moving_mean * m + mean * (dtype(1) - m), moving_var * m + var * (dtype(1) - m))

    def backprop(dy):
        dyc = _by_channel(spec, dy)
        xhat = (xc - mean[None, :, None]) * rstd[None, :, None]
        sum_dy = dyc.sum(axis=(0, 2), dtype=np.float64).astype(x.dtype)
        sum_dy_xhat = (dyc.astype(np.float64) * xhat).sum(axis=(0, 2)).astype(x.dtype)
        grads = []
        if spec.trainable:
            if gamma is not None:
                grads.append(sum_dy_xhat)
            if beta is not None:
                grads.append(sum_dy)
        dx = None
        if ctx.need_dx:
            if batch_stats:
                count = dtype(xc.shape[0] * xc.shape[2])
                sum_dy = sum_dy[None, :, None]
                sum_dy_xhat = sum_dy_xhat[None, :, None]
                dx = inv[None, :, None] / count * (count * dyc - sum_dy - xhat * sum_dy_xhat)
            else:
                dx = dyc * inv[None, :, None]
            dx = dx.reshape(x.shape)
        return dx, tuple(grads)

    return Forward(y, backprop, new_state=new_state)
