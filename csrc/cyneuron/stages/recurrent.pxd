# Kinds "simple_rnn", "lstm", "gru" (reference/recurrent.py): the whole time loop, forward and
# backpropagation through time, in one nogil call per pass. This module is the loop, the products and
# the workspaces shared by the three kinds; each step's cell math is in simple_rnn.pxd, lstm.pxd and
# gru.pxd, the gate activations in _rnn_act.pxd, the products in _rnn_gemm.pxd, the dropout masks in
# _rnn_dropout.pxd.
#
# dims: [0] T, [1] F, [2] units u, [3] G = gates * u, [4] go_backwards, [5] return_sequences,
# [6] gru reset_after, [7] recurrent_activation code; act = activation code (_core's five).
# param[0] kernel (F, G), param[1] recurrent_kernel (u, G), param[2] bias (G,) / (2, G) or NULL.
#
# The design: the input projection of every time step is one product over rows * T before the
# loop, written into the gate buffer; each step is one product h_prev . U (two for a gru with
# reset_after=False) plus element-wise gate math. Backward stores dL/d(xW) per (sample, time) in
# that same buffer (overwriting the activations once read), so the kernel, recurrent kernel and
# input gradients are again single products over rows * T after the loop; per step only
# dL/dh_prev = dZ . U^T remains. Per-time buffers are indexed by the *input* time (go_backwards
# reads it reversed), the output sequence by the step.
#
# Workspaces (elements of floating, N = rows * T):
#   saved   gates         N * G        (training; inference takes it from scratch_infer)
#   saved2  H_prev        N * u        h_{t-1} of every step
#           lstm          C, AC        N * u each: the cell state c_t and act(c_t)
#           gru after     HR N * u (h_prev U_h + b_rec_h), dHU N * G (dL/d(h_prev U))
#           gru before    RH N * u (r * h_prev), dZR N * 2u, dPH N * u
#   scratch h, c, dh, dc, t1, t2 (rows * u each), hu, dz (rows * G each), U_zr, U_h, dU (u * G each)
#
# Dropout (reference/recurrent.py): f[0] dropout, f[1] recurrent_dropout, flag gate_masks (mi = mr =
# gates, else 1), seed/flag2 as the dropout kind; forward gets the key. Only in training with a rate
# > 0 (otherwise none of this runs). ``masks`` (mask_elems) holds M_in (rows, mi, F) and M_rec
# (rows, mr, u) as multipliers, XB (N * max(F, u): x or H_prev times a mask, rebuilt when needed) and,
# for per-gate input masks, W^T (G, F). Forward: the input projection reads XB = x M_in (per gate:
# one product per column block); each step's recurrent product reads h M_rec (built in dz, unused
# in forward). Backward: dL/dh_prev through the product is (dZ U^T) M_rec, the kernel gradients
# read XB, dx is (dZ W^T) M_in.
from cython cimport floating
from libc.stdint cimport uint64_t
from libc.string cimport memcpy, memset

from cyneuron cimport _core as core
from cyneuron.stages cimport gru, lstm, simple_rnn
from cyneuron.stages._rnn_dropout cimport draw_masks, mask_count, times_mask, xt_g_masked
from cyneuron.stages._rnn_gemm cimport cyn_gemm, gemm_s, step_product, xt_g
from cyneuron.stages.stage cimport KIND_GRU, KIND_LSTM, KIND_SIMPLE_RNN, StageC


cdef inline Py_ssize_t saved2_elems(int kind, bint after, Py_ssize_t n, Py_ssize_t u, Py_ssize_t g) noexcept nogil:
    if kind == KIND_LSTM:
        return 3 * n * u
    if kind == KIND_GRU:
        return 2 * n * u + n * g if after else 5 * n * u
    return n * u


cdef inline Py_ssize_t scratch_elems(Py_ssize_t rows, Py_ssize_t u, Py_ssize_t g) noexcept nogil:
    return rows * (6 * u + 2 * g) + 3 * u * g


cdef inline Py_ssize_t mask_elems(StageC* s, Py_ssize_t rows) noexcept nogil:
    """The ``masks`` workspace (elements of floating): 0 when both rates are 0."""
    cdef Py_ssize_t T = s.dims[0], F = s.dims[1], u = s.dims[2], G = s.dims[3], m = mask_count(s), total = 0
    if s.f[0] > 0:
        total += rows * m * F + (G * F if m > 1 else 0)
    if s.f[1] > 0:
        total += rows * m * u
    if total > 0:
        total += rows * T * (F if F > u else u)
    return total


# ------------------------------------------------------------------------- forward
cdef inline void forward(floating* tag, StageC* s, const floating* x, floating* y, Py_ssize_t rows,
                         bint training, uint64_t key) noexcept nogil:
    """y = the layer's output (rows, T*u or u) for x (rows, T*F); training saves what backward needs
    (and, with a dropout rate > 0, draws the masks from ``key``)."""
    cdef Py_ssize_t T = s.dims[0], F = s.dims[1], u = s.dims[2], G = s.dims[3]
    cdef bint back = s.dims[4] != 0, seq = s.dims[5] != 0, after = s.dims[6] != 0
    cdef int ra = <int>s.dims[7], ac = s.act, kind = s.kind
    cdef Py_ssize_t n = rows * T, r, t, tx, j, p
    cdef const floating* W = <const floating*>s.param[0]
    cdef const floating* U = <const floating*>s.param[1]
    cdef const floating* b = <const floating*>s.param[2] if s.n_params > 2 else NULL
    cdef floating* gates
    cdef floating* work
    cdef floating* Hp = NULL
    cdef floating* X2 = NULL
    cdef floating *h, *c, *dh, *dc, *t1, *t2, *hu, *dz, *Uzr, *Uh
    cdef floating *g, *hr, *cr
    # dropout (training with a rate > 0 only): masks, x times the input mask, h times the recurrent one
    cdef bint drop_in = training and s.f[0] > 0, drop_rec = training and s.f[1] > 0
    cdef Py_ssize_t mc = mask_count(s), k, hs = u
    cdef floating* Min = NULL
    cdef floating* Mrec = NULL
    cdef floating* XB = NULL
    cdef floating* hm = NULL
    cdef floating* mrow
    cdef const floating* xin = x
    cdef const floating* hin
    if drop_in or drop_rec:
        Min = <floating*>s.masks
        Mrec = Min + (rows * mc * F + (G * F if mc > 1 else 0) if drop_in else 0)
        XB = Mrec + (rows * mc * u if drop_rec else 0)
        if drop_in:
            draw_masks(Min, rows * mc * F, s.f[0], key, 0)
        if drop_rec:
            draw_masks(Mrec, rows * mc * u, s.f[1], key, <uint64_t>1 << 63)
    if training:
        gates = <floating*>s.saved
        work = <floating*>s.scratch
        Hp = <floating*>s.saved2
        X2 = Hp + n * u
    else:
        gates = <floating*>s.scratch_infer
        work = gates + n * G
    h = work
    c = h + rows * u
    dh = c + rows * u
    dc = dh + rows * u
    t1 = dc + rows * u
    t2 = t1 + rows * u
    hu = t2 + rows * u
    dz = hu + rows * G
    Uzr = dz + rows * G
    Uh = Uzr + u * G

    # the input projection of every time step: one product over rows * T
    if drop_in and mc > 1:  # one input mask per gate: a product per column block
        if b != NULL:
            for p in range(n):
                memcpy(gates + p * G, b, G * sizeof(floating))
        for k in range(mc):
            times_mask(x, Min + k * F, mc * F, XB, rows, T, F)
            gemm_s(n, u, F, XB, F, 1, W + k * u, G, gates + k * u, G, b != NULL)
    else:
        if drop_in:
            times_mask(x, Min, F, XB, rows, T, F)
            xin = XB
        if floating is float:
            # the bias rows first, then the product added to them (b + xW: the same sum as xW + b)
            if b != NULL:
                for p in range(n):
                    memcpy(gates + p * G, b, G * sizeof(floating))
            cyn_gemm(n, G, F, xin, F, 1, W, G, gates, G, b != NULL)
        else:
            core.matmul_xw(xin, W, gates, n, F, G, s.path)
            if b != NULL:
                for p in range(n):
                    g = gates + p * G
                    for j in range(G):
                        g[j] = g[j] + b[j]
    hin = h
    if drop_rec:
        hm = dz  # h times the recurrent mask(s): (rows, mc * u)
        hs = mc * u
        if mc == 1:
            hin = hm
    memset(h, 0, rows * u * sizeof(floating))
    memset(c, 0, rows * u * sizeof(floating))
    if kind == KIND_GRU and not after:
        for p in range(u):
            memcpy(Uzr + p * 2 * u, U + p * G, 2 * u * sizeof(floating))
            memcpy(Uh + p * u, U + p * G + 2 * u, u * sizeof(floating))

    for t in range(T):
        tx = T - 1 - t if back else t
        if training:
            for r in range(rows):
                memcpy(Hp + (r * T + tx) * u, h + r * u, u * sizeof(floating))
        if drop_rec:
            for r in range(rows):
                for k in range(mc):
                    mrow = Mrec + (r * mc + k) * u
                    hr = hm + (r * mc + k) * u
                    cr = h + r * u
                    for j in range(u):
                        hr[j] = cr[j] * mrow[j]
        # the recurrent product (h_prev = 0 at the first step), added to the step's gate rows in place
        # (row stride T * G) except for a gru with reset_after (its h_prev . U_h stays apart); with
        # per-gate recurrent masks, one product per gate's column block
        if kind == KIND_GRU and after:
            if t > 0 and drop_rec and mc > 1:
                for k in range(3):
                    gemm_s(rows, u, u, hm + k * u, hs, 1, U + k * u, G, hu + k * u, G, False)
            elif t > 0:
                step_product(hin, u, U, G, hu, G, rows, u, G, False, hu, s.path)
            else:
                memset(hu, 0, rows * G * sizeof(floating))
        elif t > 0 and drop_rec and mc > 1:
            for k in range(2 if kind == KIND_GRU else mc):
                gemm_s(rows, u, u, hm + k * u, hs, 1, U + k * u, G, gates + tx * G + k * u, T * G, True)
        elif t > 0:
            if kind == KIND_GRU:
                step_product(hin, u, Uzr, 2 * u, gates + tx * G, T * G, rows, u, 2 * u, True, hu, s.path)
            else:
                step_product(hin, u, U, G, gates + tx * G, T * G, rows, u, G, True, hu, s.path)

        g = gates + tx * G
        if kind == KIND_SIMPLE_RNN:
            simple_rnn.forward_step(g, T * G, rows, u, ac, h)
        elif kind == KIND_LSTM:
            if training:
                lstm.forward_step(g, T * G, rows, u, ra, ac, c, h, X2 + tx * u, X2 + n * u + tx * u, T * u)
            else:
                lstm.forward_step(g, T * G, rows, u, ra, ac, c, h, t2, t1, u)
        elif after:
            gru.forward_step_after(g, T * G, rows, u, G, ra, ac, hu, b + G if b != NULL else NULL, h,
                                   X2 + tx * u if training else NULL, T * u)
        else:
            gru.forward_step_before(g, T * G, rows, u, ra, ac, h, h if not drop_rec else hm + (mc - 1) * u,
                                    u if not drop_rec else mc * u, Uh, t1, hu,
                                    X2 + tx * u if training else NULL, T * u, s.path)
        if seq:
            for r in range(rows):
                memcpy(y + (r * T + t) * u, h + r * u, u * sizeof(floating))
    if not seq:
        memcpy(y, h, rows * u * sizeof(floating))




# ------------------------------------------------------------------------ backward
cdef inline void backward(floating* tag, StageC* s, const floating* x, const floating* y, const floating* dy,
                          floating* dx, Py_ssize_t rows) noexcept nogil:
    """Backpropagation through time from dy (rows, T*u or u): grad[0..2] (trainable), dx (need_dx)."""
    cdef Py_ssize_t T = s.dims[0], F = s.dims[1], u = s.dims[2], G = s.dims[3]
    cdef bint back = s.dims[4] != 0, seq = s.dims[5] != 0, after = s.dims[6] != 0
    cdef int ra = <int>s.dims[7], ac = s.act, kind = s.kind
    cdef Py_ssize_t n = rows * T, r, t, tx, txp, j, p
    cdef const floating* W = <const floating*>s.param[0]
    cdef const floating* U = <const floating*>s.param[1]
    cdef bint has_bias = s.n_params > 2
    cdef floating* gates = <floating*>s.saved
    cdef floating* Hp = <floating*>s.saved2
    cdef floating* X2 = Hp + n * u
    cdef floating* X3 = X2 + n * u
    cdef floating* X4 = NULL
    cdef floating* work = <floating*>s.scratch
    cdef floating *h, *c, *dh, *dc, *t1, *t2, *hu, *dz, *Uzr, *Uh, *dU
    cdef floating *g, *d, *cr, *dhr, *e
    cdef floating* gw
    cdef bint drop_in = s.f[0] > 0, drop_rec = s.f[1] > 0
    cdef Py_ssize_t mc = mask_count(s), k, blocks
    cdef floating* Min = NULL
    cdef floating* Mrec = NULL
    cdef floating* XB = NULL
    cdef floating* WT = NULL
    cdef floating* mrow
    if drop_in or drop_rec:
        Min = <floating*>s.masks
        WT = Min + rows * mc * F
        Mrec = Min + (rows * mc * F + (G * F if mc > 1 else 0) if drop_in else 0)
        XB = Mrec + (rows * mc * u if drop_rec else 0)
    h = work
    c = h + rows * u
    dh = c + rows * u
    dc = dh + rows * u
    t1 = dc + rows * u
    t2 = t1 + rows * u
    hu = t2 + rows * u
    dz = hu + rows * G
    Uzr = dz + rows * G
    Uh = Uzr + u * G
    dU = Uh + u * G
    cdef floating* Ut = dU  # U^T (G, u) during the loop; a gru without reset_after: U_zr^T (2u, u), U_h^T (u, u)
    cdef floating* UhT = dU + 2 * u * u
    cdef Py_ssize_t K = 2 * u if kind == KIND_GRU and not after else G
    if kind == KIND_GRU and not after:
        X4 = X3 + n * 2 * u
        for p in range(u):
            for j in range(2 * u):
                Ut[j * u + p] = U[p * G + j]
            for j in range(u):
                UhT[j * u + p] = U[p * G + 2 * u + j]
    else:
        for p in range(u):
            for j in range(G):
                Ut[j * u + p] = U[p * G + j]
    memset(dh, 0, rows * u * sizeof(floating))
    memset(dc, 0, rows * u * sizeof(floating))
    memset(c, 0, rows * u * sizeof(floating))

    t = T - 1
    while t >= 0:
        tx = T - 1 - t if back else t
        txp = tx + 1 if back else tx - 1  # the input time of the step before (t > 0)
        if seq:
            for r in range(rows):
                dhr = dh + r * u
                for j in range(u):
                    dhr[j] = dhr[j] + dy[(r * T + t) * u + j]
        elif t == T - 1:
            memcpy(dh, dy, rows * u * sizeof(floating))

        g = gates + tx * G
        if kind == KIND_SIMPLE_RNN:
            simple_rnn.backward_step(g, T * G, rows, u, G, ac, dh, dz)
        elif kind == KIND_LSTM:
            lstm.backward_step(g, T * G, rows, u, G, ra, ac, X2 + n * u + tx * u,
                               X2 + txp * u if t > 0 else NULL, T * u, c, dh, dc, dz, t2)
        elif after:
            gru.backward_step_after(g, T * G, rows, u, G, ra, ac, Hp + tx * u, X2 + tx * u, T * u,
                                    X3 + tx * G, T * G, dh, dz)
        else:
            gru.backward_step_before(g, T * G, rows, u, ra, ac, Hp + tx * u, T * u, X3 + tx * 2 * u, T * 2 * u,
                                     X4 + tx * u, Mrec + (mc - 1) * u if drop_rec else NULL, mc * u, UhT,
                                     dh, dz, t1, t2, hu, s.path)

        # dL/dh_prev += dZ . U^T (not needed before the first step); with recurrent dropout
        # (dZ U^T) M_rec, or the sum over the gates' column blocks of (dZ_k U_k^T) M_rec_k
        if t > 0 and drop_rec:
            blocks = K // u if mc > 1 else 1
            for k in range(blocks):
                if mc > 1:
                    gemm_s(rows, u, u, dz + k * u, K, 1, Ut + k * u * u, u, t2, u, False)
                else:
                    step_product(dz, K, Ut, u, t2, u, rows, K, u, False, hu, s.path)
                for r in range(rows):
                    mrow = Mrec + (r * mc + k) * u
                    cr = t2 + r * u
                    e = h + r * u  # the sum over the blocks (h is unused in backward)
                    if k == 0:
                        for j in range(u):
                            e[j] = cr[j] * mrow[j]
                    else:
                        for j in range(u):
                            e[j] = e[j] + cr[j] * mrow[j]
            for r in range(rows):
                e = h + r * u
                dhr = dh + r * u
                if kind == KIND_GRU:
                    for j in range(u):
                        dhr[j] = dhr[j] + e[j]
                else:
                    memcpy(dhr, e, u * sizeof(floating))
        elif t > 0:
            step_product(dz, K, Ut, u, dh, u, rows, K, u, kind == KIND_GRU, t2, s.path)
        t -= 1

    if s.trainable:
        if drop_in:  # the product read x times the input mask(s)
            xt_g_masked(s, x, Min, mc, F, XB, gates, G, <floating*>s.grad[0], G, rows, G // u)
        else:
            xt_g(x, gates, <floating*>s.grad[0], n, F, G, s.path)
        gw = <floating*>s.grad[1]
        if kind == KIND_GRU and after:
            if drop_rec:
                xt_g_masked(s, Hp, Mrec, mc, u, XB, X3, G, gw, G, rows, 3)
            else:
                xt_g(Hp, X3, gw, n, u, G, s.path)
        elif kind == KIND_GRU:
            if drop_rec:
                xt_g_masked(s, Hp, Mrec, mc, u, XB, X3, 2 * u, dU, 2 * u, rows, 2)
            else:
                xt_g(Hp, X3, dU, n, u, 2 * u, s.path)
            xt_g(X2, X4, dU + u * 2 * u, n, u, u, s.path)
            for p in range(u):
                memcpy(gw + p * G, dU + p * 2 * u, 2 * u * sizeof(floating))
                memcpy(gw + p * G + 2 * u, dU + u * 2 * u + p * u, u * sizeof(floating))
        elif drop_rec:
            xt_g_masked(s, Hp, Mrec, mc, u, XB, gates, G, gw, G, rows, G // u)
        else:
            xt_g(Hp, gates, gw, n, u, G, s.path)
        if has_bias:
            core.column_sums(gates, <floating*>s.grad[2], n, G)
            if kind == KIND_GRU and after:
                core.column_sums(X3, <floating*>s.grad[2] + G, n, G)
    if s.need_dx and drop_in and mc > 1:  # dx = the sum over the gates of (dZ_k W_k^T) M_in_k
        for p in range(F):
            for j in range(G):
                WT[j * F + p] = W[p * G + j]
        for k in range(mc):
            gemm_s(n, F, u, gates + k * u, G, 1, WT + k * u * F, F, XB, F, False)
            for r in range(rows):
                mrow = Min + (r * mc + k) * F
                for t in range(T):
                    e = XB + (r * T + t) * F
                    d = dx + (r * T + t) * F
                    if k == 0:
                        for j in range(F):
                            d[j] = e[j] * mrow[j]
                    else:
                        for j in range(F):
                            d[j] = d[j] + e[j] * mrow[j]
    elif s.need_dx:
        core.matmul_g_wt(gates, W, dx, n, F, G, s.path)
        if drop_in:
            times_mask(dx, Min, F, dx, rows, T, F)
