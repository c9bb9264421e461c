"""Kinds ``simple_rnn``, ``lstm`` and ``gru``: Keras 3's recurrent layers over a whole sequence.

in_shape ``(T, F)`` (a sample is T time steps of F features, flattened C-order), out_shape
``(T, units)`` with ``return_sequences`` else ``(units,)``. The initial state is zero.

attrs: ``units``; ``activation`` (one of the five); ``recurrent_activation`` (lstm, gru);
``return_sequences``, ``go_backwards`` (bools; Keras' semantics: the input is read from the last
step to the first and the output sequence stays in that reversed order); ``reset_after`` (gru).

params, Keras' layouts, gates side by side in the columns (G = gates * units):
``kernel (F, G)``, ``recurrent_kernel (units, G)`` and, unless ``use_bias=False``, ``bias``:
``(G,)``, or ``(2, G)`` for a gru with ``reset_after`` (input bias, recurrent bias).
Gate orders: lstm i, f, c, o; gru z, r, h; simple_rnn has one "gate" (G = units).

* simple_rnn: ``h = act(x W + b + h_prev U)``
* lstm: ``z = x W + b + h_prev U``; ``i, f, o = ract(z_i, z_f, z_o)``; ``c = f c_prev + i act(z_c)``;
  ``h = o act(c)``
* gru, reset_after: ``xz = x W + b_in``, ``hu = h_prev U + b_rec``; ``z = ract(xz_z + hu_z)``,
  ``r = ract(xz_r + hu_r)``, ``hh = act(xz_h + r hu_h)``; ``h = z h_prev + (1 - z) hh``
* gru, reset_before: as above with ``hu_zr = h_prev U_zr`` and ``hh = act(xz_h + (r h_prev) U_h)``

Dropout is not part of these kinds (the layers refuse non-zero rates).
"""

from __future__ import annotations

import numpy as np

from cyneuron.backend.reference import activation as act
from cyneuron.backend.reference._stage import Forward, check_params
from cyneuron.backend.specs import ACTIVATIONS

GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


def check(spec, dtype) -> None:
    label = spec.name or spec.kind
    attrs = spec.attrs
    if len(spec.in_shape) != 2:
        raise ValueError(f"{label}: expected a per-sample (timesteps, features) shape, got {spec.in_shape}")
    steps, features = spec.in_shape
    units = attrs.get("units")
    if isinstance(units, bool) or not isinstance(units, int) or units < 1:
        raise ValueError(f"{label}: units must be a positive int, got {units!r}")
    for key in ("return_sequences", "go_backwards") + (("reset_after",) if spec.kind == "gru" else ()):
        if not isinstance(attrs.get(key), bool):
            raise ValueError(f"{label}: attr {key} must be a bool, got {attrs.get(key)!r}")
    names = ("activation",) + (("recurrent_activation",) if spec.kind != "simple_rnn" else ())
    for key in names:
        if attrs.get(key) not in ACTIVATIONS:
            raise ValueError(f"{label}: unknown {key} {attrs.get(key)!r}")
    expected = (steps, units) if attrs["return_sequences"] else (units,)
    if tuple(spec.out_shape) != expected:
        raise ValueError(f"{label}: expected out_shape {expected}, got {spec.out_shape}")
    if spec.state:
        raise ValueError(f"{label}: a recurrent stage has no state arrays")
    width = GATES[spec.kind] * units
    bias = (2, width) if spec.kind == "gru" and attrs["reset_after"] else (width,)
    if len(spec.params) not in (2, 3):
        raise ValueError(f"{label}: expected 2 or 3 params arrays, got {len(spec.params)}")
    check_params(spec, dtype, [(features, width), (units, width), bias][: len(spec.params)])


def _act(name, z):
    return act.apply(name, z)


def _dact(name, a, g):
    # every one of the five has its derivative in terms of its output (relu: a > 0 exactly when z > 0)
    return act.backward(name, a, a, g)


def forward(spec, x, ctx) -> Forward:
    steps, features = spec.in_shape
    attrs = spec.attrs
    u = attrs["units"]
    kind = spec.kind
    ac = attrs["activation"]
    ra = attrs.get("recurrent_activation", "linear")
    after = kind == "gru" and attrs["reset_after"]
    kernel, recurrent = spec.params[0], spec.params[1]
    bias = spec.params[2] if len(spec.params) == 3 else None
    b_in = None if bias is None else (bias[0] if after else bias)
    b_rec = bias[1] if after and bias is not None else None
    rows = x.shape[0]
    seq = x.reshape(rows, steps, features)
    order = list(range(steps - 1, -1, -1)) if attrs["go_backwards"] else list(range(steps))
    xw = seq @ kernel
    if b_in is not None:
        xw = xw + b_in
    h = np.zeros((rows, u), x.dtype)
    c = np.zeros((rows, u), x.dtype)
    cache, outputs = [], []
    for tx in order:
        h_prev, xt = h, xw[:, tx]
        if kind == "simple_rnn":
            h = _act(ac, xt + h_prev @ recurrent)
            cache.append((h_prev, h))
        elif kind == "lstm":
            z = xt + h_prev @ recurrent
            i, f = _act(ra, z[:, :u]), _act(ra, z[:, u : 2 * u])
            g, o = _act(ac, z[:, 2 * u : 3 * u]), _act(ra, z[:, 3 * u :])
            c_prev = c
            c = f * c_prev + i * g
            tc = _act(ac, c)
            h = o * tc
            cache.append((h_prev, c_prev, i, f, g, o, tc))
        elif after:
            hu = h_prev @ recurrent
            if b_rec is not None:
                hu = hu + b_rec
            z = _act(ra, xt[:, :u] + hu[:, :u])
            r = _act(ra, xt[:, u : 2 * u] + hu[:, u : 2 * u])
            hh = _act(ac, xt[:, 2 * u :] + r * hu[:, 2 * u :])
            h = z * h_prev + (1 - z) * hh
            cache.append((h_prev, z, r, hh, hu[:, 2 * u :]))
        else:
            hu = h_prev @ recurrent[:, : 2 * u]
            z = _act(ra, xt[:, :u] + hu[:, :u])
            r = _act(ra, xt[:, u : 2 * u] + hu[:, u:])
            rh = r * h_prev
            hh = _act(ac, xt[:, 2 * u :] + rh @ recurrent[:, 2 * u :])
            h = z * h_prev + (1 - z) * hh
            cache.append((h_prev, z, r, hh, rh))
        outputs.append(h)
    y = np.stack(outputs, axis=1).reshape(rows, steps * u) if attrs["return_sequences"] else h.copy()

    def backprop(dy):
        dy = dy.reshape(rows, steps, u) if attrs["return_sequences"] else dy
        width = recurrent.shape[1]
        d_in = np.zeros((rows, steps, width), x.dtype)  # dL/d(x W) at each input time index
        d_rec = np.zeros_like(recurrent)
        db_rec = np.zeros(width, x.dtype)
        dh = np.zeros((rows, u), x.dtype)
        dc = np.zeros((rows, u), x.dtype)
        for t in range(steps - 1, -1, -1):
            tx = order[t]
            if attrs["return_sequences"]:
                dh = dh + dy[:, t]
            elif t == steps - 1:
                dh = dh + dy
            if kind == "simple_rnn":
                h_prev, a = cache[t]
                dz = _dact(ac, a, dh)
                d_in[:, tx] = dz
                d_rec += h_prev.T @ dz
                dh = dz @ recurrent.T
            elif kind == "lstm":
                h_prev, c_prev, i, f, g, o, tc = cache[t]
                do = dh * tc
                dc = dc + _dact(ac, tc, dh * o)
                di, dg, df = dc * g, dc * i, dc * c_prev
                dc = dc * f
                dz = np.concatenate([_dact(ra, i, di), _dact(ra, f, df), _dact(ac, g, dg), _dact(ra, o, do)], axis=1)
                d_in[:, tx] = dz
                d_rec += h_prev.T @ dz
                dh = dz @ recurrent.T
            elif after:
                h_prev, z, r, hh, hu_h = cache[t]
                dzg, dhh = dh * (h_prev - hh), dh * (1 - z)
                dph = _dact(ac, hh, dhh)
                dpr = _dact(ra, r, dph * hu_h)
                dpz = _dact(ra, z, dzg)
                d_in[:, tx] = np.concatenate([dpz, dpr, dph], axis=1)
                drec = np.concatenate([dpz, dpr, dph * r], axis=1)
                d_rec += h_prev.T @ drec
                db_rec += drec.sum(axis=0)
                dh = dh * z + drec @ recurrent.T
            else:
                h_prev, z, r, hh, rh = cache[t]
                dzg, dhh = dh * (h_prev - hh), dh * (1 - z)
                dph = _dact(ac, hh, dhh)
                drh = dph @ recurrent[:, 2 * u :].T
                d_rec[:, 2 * u :] += rh.T @ dph
                dpr = _dact(ra, r, drh * h_prev)
                dpz = _dact(ra, z, dzg)
                dzr = np.concatenate([dpz, dpr], axis=1)
                d_in[:, tx] = np.concatenate([dzr, dph], axis=1)
                d_rec[:, : 2 * u] += h_prev.T @ dzr
                dh = dh * z + drh * r + dzr @ recurrent[:, : 2 * u].T
        flat = d_in.reshape(rows * steps, width)
        grads = ()
        if spec.trainable:
            grads = (seq.reshape(rows * steps, features).T @ flat, d_rec)
            if bias is not None:
                db = flat.sum(axis=0)
                grads += (np.stack([db, db_rec]) if after else db,)
        dx = (flat @ kernel.T).reshape(rows, steps * features) if ctx.need_dx else None
        return dx, grads

    return Forward(y, backprop)
