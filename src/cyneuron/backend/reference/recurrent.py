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

Dropout (Keras 3's ``DropoutRNNCell``): attrs ``dropout`` and ``recurrent_dropout`` (rates in [0, 1],
missing = 0), ``seed`` (int, or None for the network's) and ``gate_masks`` (bool, missing = False).
In training with a rate > 0, one mask per call is drawn and reused at every time step: the input mask
(rows, F) multiplies x before the kernel product, the recurrent mask (rows, units) multiplies h_prev
before the recurrent-kernel product (the ``z h_prev`` of a gru and the cell state stay unmasked; a gru
without reset_after takes ``(r * (h_prev m)) U_h``). With ``gate_masks`` each gate has masks of its own
(Keras' implementation 1, which LSTM and GRU use whenever recurrent_dropout != 0): gate k's columns
of the products see ``x m_k`` and ``h_prev r_k``. A mask element is ``1 / (1 - rate)`` when kept, else
0 (all 0 at rate 1). Key ``rng.stage_key(seed, step, stage)``; input mask element (r, k, f) is kept
when ``rng.uniform(key, (r * mi + k) * F + f) < 1 - dropout`` (mi = gates with gate_masks, else 1),
recurrent element (r, k, j) when ``rng.uniform(key, 2**63 + (r * mr + k) * units + j) <
1 - recurrent_dropout``: disjoint counter ranges, so the two masks are independent.
Inference, or a rate of 0: no mask.
"""

from __future__ import annotations

import numpy as np

from cyneuron.backend.reference import activation as act
from cyneuron.backend.reference import rng
from cyneuron.backend.reference._stage import Forward, check_params
from cyneuron.backend.specs import RECURRENT_ACTIVATIONS

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
        if attrs.get(key) not in RECURRENT_ACTIVATIONS:
            raise ValueError(
                f"{label}: {key} {attrs.get(key)!r} is not supported by the recurrent kernels; "
                f"expected one of {', '.join(RECURRENT_ACTIVATIONS)}"
            )
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
    for key in ("dropout", "recurrent_dropout"):
        rate = attrs.get(key, 0.0)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
            raise ValueError(f"{label}: {key} must be a float in [0, 1], got {rate!r}")
    if not isinstance(attrs.get("gate_masks", False), bool):
        raise ValueError(f"{label}: attr gate_masks must be a bool, got {attrs.get('gate_masks')!r}")
    seed = attrs.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"{label}: seed must be an int or None, got {seed!r}")


RECURRENT_COUNTER = 1 << 63  # the recurrent mask's counters start here (the input mask's at 0)


def masks(spec, rows: int, ctx, dtype):
    """The (input, recurrent) masks of a training pass, each None when unused, else (rows, m, width)
    multipliers (m = gates with ``gate_masks``, else 1): 1 / (1 - rate) where kept, else 0."""
    attrs = spec.attrs
    if not ctx.training:
        return None, None
    steps, features = spec.in_shape
    count = GATES[spec.kind] if attrs.get("gate_masks", False) else 1
    seed = attrs.get("seed")
    key = rng.stage_key(ctx.seed if seed is None else seed, ctx.step, ctx.stage)
    out = []
    for name, width, offset in (("dropout", features, 0), ("recurrent_dropout", attrs["units"], RECURRENT_COUNTER)):
        rate = float(attrs.get(name, 0.0))
        if rate == 0.0:
            out.append(None)
            continue
        counters = np.arange(rows * count * width, dtype=np.uint64) + np.uint64(offset)
        keep = rng.uniform(key, counters).reshape(rows, count, width) < 1.0 - rate
        scale = dtype.type(0) if rate >= 1.0 else dtype.type(1) / dtype.type(1.0 - rate)
        out.append(np.where(keep, scale, dtype.type(0)).astype(dtype))
    return tuple(out)


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
    m_in, m_rec = masks(spec, rows, ctx, x.dtype)
    if m_in is None:
        xs = [seq]
        xw = seq @ kernel
    else:  # x times each mask (broadcast over the time steps), before the kernel product
        xs = [seq * m_in[:, None, k] for k in range(m_in.shape[1])]
        if len(xs) == 1:
            xw = xs[0] @ kernel
        else:
            xw = np.concatenate([xs[k] @ kernel[:, k * u : (k + 1) * u] for k in range(len(xs))], axis=2)
    if b_in is not None:
        xw = xw + b_in

    def masked(h_prev):
        """h_prev as each gate's recurrent product sees it (one entry when the gates share it)."""
        if m_rec is None:
            return [h_prev]
        return [h_prev * m_rec[:, k] for k in range(m_rec.shape[1])]

    def rec(hs, lo, hi):
        """The recurrent product of gates lo..hi-1: columns lo*u .. hi*u of h_prev U."""
        if len(hs) == 1:
            return hs[0] @ recurrent[:, lo * u : hi * u]
        return np.concatenate([hs[k] @ recurrent[:, k * u : (k + 1) * u] for k in range(lo, hi)], axis=1)

    h = np.zeros((rows, u), x.dtype)
    c = np.zeros((rows, u), x.dtype)
    cache, outputs = [], []
    for tx in order:
        h_prev, xt = h, xw[:, tx]
        hs = masked(h_prev)
        if kind == "simple_rnn":
            h = _act(ac, xt + rec(hs, 0, 1))
            cache.append((h_prev, h))
        elif kind == "lstm":
            z = xt + rec(hs, 0, 4)
            i, f = _act(ra, z[:, :u]), _act(ra, z[:, u : 2 * u])
            g, o = _act(ac, z[:, 2 * u : 3 * u]), _act(ra, z[:, 3 * u :])
            c_prev = c
            c = f * c_prev + i * g
            tc = _act(ac, c)
            h = o * tc
            cache.append((h_prev, c_prev, i, f, g, o, tc))
        elif after:
            hu = rec(hs, 0, 3)
            if b_rec is not None:
                hu = hu + b_rec
            z = _act(ra, xt[:, :u] + hu[:, :u])
            r = _act(ra, xt[:, u : 2 * u] + hu[:, u : 2 * u])
            hh = _act(ac, xt[:, 2 * u :] + r * hu[:, 2 * u :])
            h = z * h_prev + (1 - z) * hh
            cache.append((h_prev, z, r, hh, hu[:, 2 * u :]))
        else:
            hu = rec(hs, 0, 2)
            z = _act(ra, xt[:, :u] + hu[:, :u])
            r = _act(ra, xt[:, u : 2 * u] + hu[:, u:])
            rh = r * hs[-1]
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

        def rec_back(hs, dz, lo, hi):
            """Adds rec(hs, lo, hi)'s kernel gradient for dz = dL/d(rec) and returns its dL/dh_prev."""
            if len(hs) == 1:
                d_rec[:, lo * u : hi * u] += hs[0].T @ dz
                back = dz @ recurrent[:, lo * u : hi * u].T
                return back if m_rec is None else back * m_rec[:, 0]
            back = 0
            for k in range(lo, hi):
                dzk = dz[:, (k - lo) * u : (k - lo + 1) * u]
                d_rec[:, k * u : (k + 1) * u] += hs[k].T @ dzk
                back = back + (dzk @ recurrent[:, k * u : (k + 1) * u].T) * m_rec[:, k]
            return back

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
                dh = rec_back(masked(h_prev), dz, 0, 1)
            elif kind == "lstm":
                h_prev, c_prev, i, f, g, o, tc = cache[t]
                do = dh * tc
                dc = dc + _dact(ac, tc, dh * o)
                di, dg, df = dc * g, dc * i, dc * c_prev
                dc = dc * f
                dz = np.concatenate([_dact(ra, i, di), _dact(ra, f, df), _dact(ac, g, dg), _dact(ra, o, do)], axis=1)
                d_in[:, tx] = dz
                dh = rec_back(masked(h_prev), dz, 0, 4)
            elif after:
                h_prev, z, r, hh, hu_h = cache[t]
                dzg, dhh = dh * (h_prev - hh), dh * (1 - z)
                dph = _dact(ac, hh, dhh)
                dpr = _dact(ra, r, dph * hu_h)
                dpz = _dact(ra, z, dzg)
                d_in[:, tx] = np.concatenate([dpz, dpr, dph], axis=1)
                drec = np.concatenate([dpz, dpr, dph * r], axis=1)
                db_rec += drec.sum(axis=0)
                dh = dh * z + rec_back(masked(h_prev), drec, 0, 3)
            else:
                h_prev, z, r, hh, rh = cache[t]
                hs = masked(h_prev)
                dzg, dhh = dh * (h_prev - hh), dh * (1 - z)
                dph = _dact(ac, hh, dhh)
                drh = dph @ recurrent[:, 2 * u :].T
                d_rec[:, 2 * u :] += rh.T @ dph
                dpr = _dact(ra, r, drh * hs[-1])
                dpz = _dact(ra, z, dzg)
                dzr = np.concatenate([dpz, dpr], axis=1)
                d_in[:, tx] = np.concatenate([dzr, dph], axis=1)
                dr_h = drh * r if m_rec is None else drh * r * m_rec[:, -1]
                dh = dh * z + dr_h + rec_back(hs, dzr, 0, 2)
        flat = d_in.reshape(rows * steps, width)
        grads = ()
        if spec.trainable:
            if len(xs) == 1:
                dk = xs[0].reshape(rows * steps, features).T @ flat
            else:
                dk = np.concatenate(
                    [xs[k].reshape(rows * steps, features).T @ flat[:, k * u : (k + 1) * u] for k in range(len(xs))],
                    axis=1,
                )
            grads = (dk, d_rec)
            if bias is not None:
                db = flat.sum(axis=0)
                grads += (np.stack([db, db_rec]) if after else db,)
        dx = None
        if ctx.need_dx:
            if m_in is None:
                dx = (flat @ kernel.T).reshape(rows, steps * features)
            else:
                d_seq = d_in.reshape(rows, steps, width)
                dx = 0
                for k in range(m_in.shape[1]):
                    cols = slice(None) if m_in.shape[1] == 1 else slice(k * u, (k + 1) * u)
                    dx = dx + (d_seq[:, :, cols] @ kernel[:, cols].T) * m_in[:, None, k]
                dx = dx.reshape(rows, steps * features)
        return dx, grads

    return Forward(y, backprop)
