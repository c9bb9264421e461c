# Kind "max_pool2d" (reference/max_pool2d.py). dims: stages/_window.pxd's layout (dims[5] = C,
# dilation 1). In training ``saved`` receives, per output element, the flat index within its
# sample of the element that won (the first maximum in row-major window order: strict ">"), which
# backward routes the gradient to. Inference keeps nothing.
from cython cimport floating
from libc.stdint cimport int32_t
from libc.string cimport memset

from cyneuron.stages._window cimport D_C, D_H, D_KH, D_KW, D_LEFT, D_OH, D_OW, D_SH, D_SW, D_TOP, D_W
from cyneuron.stages.stage cimport StageC


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
    memset(dx, 0, rows * n_in * sizeof(floating))
    for r in range(rows):
        dxr = dx + r * n_in
        for k in range(n_out):
            dxr[arg[r * n_out + k]] += dy[r * n_out + k]
