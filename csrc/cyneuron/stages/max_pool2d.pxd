# Kind "max_pool2d" (reference/max_pool2d.py). dims: stages/_window.pxd's layout (dims[5] = C,
# dilation 1). In training ``saved`` receives, per output element, which element of its window won
# (the first maximum in row-major window order: strict ">"), which backward routes the gradient to.
# Inference keeps nothing.
#
# Two paths, chosen by ``tiled(s)`` in both directions:
# * tiled: 2x2 windows, stride 2, no padding before (Keras' default MaxPool2D on any input; "same"
#   padding only adds rows / columns after, which a tiled window never reaches when H, W are even):
#   the windows tile the input without overlap. Forward is branch-free (selects, one pass over the
#   channels per window, vectorisable); ``saved`` holds the winning tap (0..3) as a uint8 per output
#   element. Backward writes every input element exactly once (dy at the winner, 0 elsewhere; the
#   rows / columns no window covers are zeroed), so dx needs no memset and nothing is scattered.
# * general: any window; ``saved`` holds the winner's int32 flat index within its sample; backward
#   zeroes dx and scatter-adds (overlapping windows add their contributions).
from cython cimport floating
from libc.stdint cimport int32_t, uint8_t
from libc.string cimport memset

from cyneuron.stages._window cimport D_C, D_H, D_KH, D_KW, D_LEFT, D_OH, D_OW, D_SH, D_SW, D_TOP, D_W
from cyneuron.stages.stage cimport StageC


cdef inline bint tiled(StageC* s) noexcept nogil:
    return (s.dims[D_KH] == 2 and s.dims[D_KW] == 2 and s.dims[D_SH] == 2 and s.dims[D_SW] == 2
            and s.dims[D_TOP] == 0 and s.dims[D_LEFT] == 0
            and 2 * s.dims[D_OH] <= s.dims[D_H] and 2 * s.dims[D_OW] <= s.dims[D_W])


cdef inline void forward_tiled(floating* tag, StageC* s, const floating* x, floating* y, Py_ssize_t rows,
                               uint8_t* tap) noexcept nogil:
    cdef Py_ssize_t H = s.dims[D_H], W = s.dims[D_W], C = s.dims[D_C]
    cdef Py_ssize_t OH = s.dims[D_OH], OW = s.dims[D_OW]
    cdef Py_ssize_t r, oh, ow, c, n_in = H * W * C, rs = W * C
    cdef const floating* a
    cdef const floating* b
    cdef const floating* d
    cdef const floating* e
    cdef floating* yr = y
    cdef floating m, v
    cdef uint8_t t
    cdef bint gt
    for r in range(rows):
        for oh in range(OH):
            a = x + r * n_in + 2 * oh * rs
            for ow in range(OW):
                b = a + C
                d = a + rs
                e = d + C
                if tap != NULL:
                    for c in range(C):
                        m = a[c]
                        t = 0
                        v = b[c]
                        gt = v > m
                        m = v if gt else m
                        t = 1 if gt else t
                        v = d[c]
                        gt = v > m
                        m = v if gt else m
                        t = 2 if gt else t
                        v = e[c]
                        gt = v > m
                        m = v if gt else m
                        t = 3 if gt else t
                        yr[c] = m
                        tap[c] = t
                    tap += C
                else:
                    for c in range(C):
                        m = a[c]
                        v = b[c]
                        m = v if v > m else m
                        v = d[c]
                        m = v if v > m else m
                        v = e[c]
                        m = v if v > m else m
                        yr[c] = m
                a += 2 * C
                yr += C


cdef inline void backward_tiled(floating* tag, StageC* s, const floating* dy, floating* dx, Py_ssize_t rows) noexcept nogil:
    cdef Py_ssize_t H = s.dims[D_H], W = s.dims[D_W], C = s.dims[D_C]
    cdef Py_ssize_t OH = s.dims[D_OH], OW = s.dims[D_OW]
    cdef Py_ssize_t r, oh, ow, c, n_in = H * W * C, rs = W * C, tail = (W - 2 * OW) * C
    cdef const uint8_t* tap = <const uint8_t*>s.saved
    cdef const floating* g = dy
    cdef floating* a
    cdef floating* b
    cdef floating* d
    cdef floating* e
    cdef floating v
    cdef uint8_t t
    for r in range(rows):
        for oh in range(OH):
            a = dx + r * n_in + 2 * oh * rs
            for ow in range(OW):
                b = a + C
                d = a + rs
                e = d + C
                for c in range(C):
                    v = g[c]
                    t = tap[c]
                    a[c] = v if t == 0 else 0
                    b[c] = v if t == 1 else 0
                    d[c] = v if t == 2 else 0
                    e[c] = v if t == 3 else 0
                a += 2 * C
                g += C
                tap += C
            if tail:  # the columns after the last window, in both rows of this window row
                memset(a, 0, tail * sizeof(floating))
                memset(a + rs, 0, tail * sizeof(floating))
        if H > 2 * OH:  # the rows after the last window
            memset(dx + r * n_in + 2 * OH * rs, 0, (H - 2 * OH) * rs * sizeof(floating))


cdef inline void forward(floating* tag, StageC* s, const floating* x, floating* y, Py_ssize_t rows,
                         bint training) noexcept nogil:
    cdef Py_ssize_t H = s.dims[D_H], W = s.dims[D_W], C = s.dims[D_C]
    cdef Py_ssize_t OH = s.dims[D_OH], OW = s.dims[D_OW], KH = s.dims[D_KH], KW = s.dims[D_KW]
    cdef Py_ssize_t r, oh, ow, i, j, c, ih, iw, i0, i1, j0, j1, base, n_in = H * W * C
    cdef const floating* xr
    cdef const floating* src
    cdef floating* yr = y
    cdef int32_t* arg = <int32_t*>s.saved
    cdef bint keep = training and arg != NULL
    if tiled(s):
        forward_tiled(tag, s, x, y, rows, <uint8_t*>s.saved if keep else NULL)
        return
    for r in range(rows):
        xr = x + r * n_in
        for oh in range(OH):
            i0 = oh * s.dims[D_SH] - s.dims[D_TOP]
            i1 = i0 + KH
            if i0 < 0:
                i0 = 0
            if i1 > H:
                i1 = H
            for ow in range(OW):
                j0 = ow * s.dims[D_SW] - s.dims[D_LEFT]
                j1 = j0 + KW
                if j0 < 0:
                    j0 = 0
                if j1 > W:
                    j1 = W
                # the first in-range tap initialises; later ones win only when strictly greater
                base = (i0 * W + j0) * C
                for c in range(C):
                    yr[c] = xr[base + c]
                    if keep:
                        arg[c] = <int32_t>(base + c)
                for ih in range(i0, i1):
                    for iw in range(j0, j1):
                        base = (ih * W + iw) * C
                        src = xr + base
                        if keep:
                            for c in range(C):
                                if src[c] > yr[c]:
                                    yr[c] = src[c]
                                    arg[c] = <int32_t>(base + c)
                        else:
                            for c in range(C):
                                if src[c] > yr[c]:
                                    yr[c] = src[c]
                yr += C
                if keep:
                    arg += C


cdef inline void backward(floating* tag, StageC* s, const floating* dy, floating* dx, Py_ssize_t rows) noexcept nogil:
    cdef Py_ssize_t r, k, n_in = s.n_in, n_out = s.n_out
    cdef const int32_t* arg = <const int32_t*>s.saved
    cdef floating* dxr
    if tiled(s):
        backward_tiled(tag, s, dy, dx, rows)
        return
    memset(dx, 0, rows * n_in * sizeof(floating))
    for r in range(rows):
        dxr = dx + r * n_in
        for k in range(n_out):
            dxr[arg[r * n_out + k]] += dy[r * n_out + k]
