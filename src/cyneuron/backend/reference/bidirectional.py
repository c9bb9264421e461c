"""Kind ``bidirectional``: Keras' Bidirectional wrapper over a recurrent kind, both directions in one stage.

attrs: ``cell`` (``simple_rnn``, ``lstm`` or ``gru``), ``forward`` and ``backward`` (each direction's
recurrent attrs, as ``reference/recurrent.py`` documents; the backward one normally has
``go_backwards=True``), ``merge_mode`` (``concat``, ``sum``, ``ave``, ``mul``) and ``n_forward`` (how
many of ``params`` are the forward direction's: its ``kernel, recurrent_kernel[, bias]``, then the
backward direction's). Both directions have the same units u and ``return_sequences``.

in_shape ``(T, F)``; out_shape ``(T, u')`` with ``return_sequences`` else ``(u',)``, u' = 2u for
``concat`` (forward's units first), else u. Each direction is the recurrent kind on the same input
(``directions`` gives their specs). With ``return_sequences`` the backward output, which
``go_backwards`` leaves in reversed time, is flipped back in time before merging (Keras'
``ops.flip(y_rev, axis=1)``); without, the two last outputs merge.

Dropout: each direction draws its own masks, the forward one as the stage itself and the backward one
as a stage numbered ``stage + BACKWARD_STAGE`` (same seed and step), so the two are independent.
"""

from __future__ import annotations

import numpy as np

from cyneuron.backend.reference import recurrent
from cyneuron.backend.reference._stage import Context, Forward
from cyneuron.backend.specs import StageSpec

MERGE_MODES = ("concat", "sum", "ave", "mul")
BACKWARD_STAGE = 1 << 32  # the backward direction's stage number offset for its dropout key


def directions(spec) -> tuple[StageSpec, StageSpec]:
    """The forward and backward recurrent stages (the spec's own arrays)."""
    attrs = spec.attrs
    n = attrs["n_forward"]
    out = []
    for key, params in (("forward", spec.params[:n]), ("backward", spec.params[n:])):
        sub = attrs[key]
        units = sub["units"]
        shape = (spec.in_shape[0], units) if sub["return_sequences"] else (units,)
        out.append(
            StageSpec(attrs["cell"], spec.in_shape, shape, sub, tuple(params), (), spec.trainable, f"{spec.name}/{key}")
        )
    return out[0], out[1]


def check(spec, dtype) -> None:
    label = spec.name or "bidirectional"
    attrs = spec.attrs
    if attrs.get("cell") not in recurrent.GATES:
        raise ValueError(f"{label}: attr cell must be one of {sorted(recurrent.GATES)}, got {attrs.get('cell')!r}")
    if attrs.get("merge_mode") not in MERGE_MODES:
        raise ValueError(f"{label}: merge_mode must be one of {MERGE_MODES}, got {attrs.get('merge_mode')!r}")
    for key in ("forward", "backward"):
        if not isinstance(attrs.get(key), dict):
            raise ValueError(f"{label}: attr {key} must be a dict of recurrent attrs")
    n = attrs.get("n_forward")
    if isinstance(n, bool) or not isinstance(n, int) or not 0 < n < len(spec.params):
        raise ValueError(f"{label}: n_forward must split the {len(spec.params)} params, got {n!r}")
    if spec.state:
        raise ValueError(f"{label}: a bidirectional stage has no state arrays")
    forward, backward = directions(spec)
    recurrent.check(forward, dtype)
    recurrent.check(backward, dtype)
    fa, ba = attrs["forward"], attrs["backward"]
    if fa["units"] != ba["units"] or fa["return_sequences"] != ba["return_sequences"]:
        raise ValueError(f"{label}: both directions need the same units and return_sequences")
    if len(forward.params) != len(backward.params):
        raise ValueError(f"{label}: both directions need the same params (use_bias)")
    units = fa["units"] * (2 if attrs["merge_mode"] == "concat" else 1)
    expected = (spec.in_shape[0], units) if fa["return_sequences"] else (units,)
    if tuple(spec.out_shape) != expected:
        raise ValueError(f"{label}: expected out_shape {expected}, got {spec.out_shape}")


def _steps(y, rows, seq, steps, units):
    """(rows, steps', units) views of a direction's output (steps' = 1 without return_sequences)."""
    return y.reshape(rows, steps if seq else 1, units)


def forward(spec, x, ctx) -> Forward:
    f_spec, b_spec = directions(spec)
    mode = spec.attrs["merge_mode"]
    rows, steps, units = x.shape[0], spec.in_shape[0], spec.attrs["forward"]["units"]
    seq = spec.attrs["forward"]["return_sequences"]
    back_ctx = Context(ctx.training, ctx.seed, ctx.step, ctx.stage + BACKWARD_STAGE, ctx.need_dx)
    f_pass = recurrent.forward(f_spec, x, ctx)
    b_pass = recurrent.forward(b_spec, x, back_ctx)
    yf = _steps(f_pass.y, rows, seq, steps, units)
    yb = _steps(b_pass.y, rows, seq, steps, units)[:, ::-1]  # back in input time (a no-op for one step)
    if mode == "concat":
        y = np.concatenate([yf, yb], axis=2)
    elif mode == "sum":
        y = yf + yb
    elif mode == "ave":
        y = (yf + yb) / yf.dtype.type(2)
    else:
        y = yf * yb

    def backprop(dy):
        dy = dy.reshape(rows, -1, y.shape[2])
        if mode == "concat":
            dyf, dyb = dy[:, :, :units], dy[:, :, units:]
        elif mode == "sum":
            dyf, dyb = dy, dy
        elif mode == "ave":
            dyf = dyb = dy / dy.dtype.type(2)
        else:
            dyf, dyb = dy * yb, dy * yf
        dxf, gf = f_pass.backprop(np.ascontiguousarray(dyf).reshape(rows, -1))
        dxb, gb = b_pass.backprop(np.ascontiguousarray(dyb[:, ::-1]).reshape(rows, -1))
        dx = None if dxf is None else dxf + dxb
        return dx, (*gf, *gb)

    return Forward(y.reshape(rows, -1), backprop)
