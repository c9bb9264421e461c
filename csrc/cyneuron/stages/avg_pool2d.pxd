# Kind "avg_pool2d" (reference/avg_pool2d.py). dims as max_pool2d; a window's sum (taps in
# row-major order) divided by its number of in-image elements; backward spreads dy / count.
from cython cimport floating
from libc.string cimport memset

from cyneuron.stages._window cimport D_C, D_H, D_KH, D_KW, D_LEFT, D_OH, D_OW, D_SH, D_SW, D_TOP, D_W
from cyneuron.stages.stage cimport StageC


cdef inline void forward(floating* tag, StageC* s, const floating* x, floating* y, Py_ssize_t rows) noexcept nogil:
    cdef Py_ssize_t H = s.dims[D_H], W = s.dims[D_W], C = s.dims[D_C]
    cdef Py_ssize_t OH = s.dims[D_OH], OW = s.dims[D_OW], KH = s.dims[D_KH], KW = s.dims[D_KW]
    cdef Py_ssize_t r, oh, ow, c, ih, iw, i0, i1, j0, j1, n_in = H * W * C
    cdef const floating* xr
    cdef const floating* src
    cdef floating* yr = y
    cdef floating count
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
                for c in range(C):
                    yr[c] = 0
                for ih in range(i0, i1):
                    for iw in range(j0, j1):
                        src = xr + (ih * W + iw) * C
                        for c in range(C):
                            yr[c] = yr[c] + src[c]
                count = <floating>((i1 - i0) * (j1 - j0))
                for c in range(C):
                    yr[c] = yr[c] / count
                yr += C


cdef inline void backward(floating* tag, StageC* s, const floating* dy, floating* dx, Py_ssize_t rows) noexcept nogil:
    cdef Py_ssize_t H = s.dims[D_H], W = s.dims[D_W], C = s.dims[D_C]
    cdef Py_ssize_t OH = s.dims[D_OH], OW = s.dims[D_OW], KH = s.dims[D_KH], KW = s.dims[D_KW]
    cdef Py_ssize_t r, oh, ow, c, ih, iw, i0, i1, j0, j1, n_in = H * W * C
    cdef floating* xr
    cdef floating* dst
    cdef const floating* g = dy
    cdef floating count
    memset(dx, 0, rows * n_in * sizeof(floating))
    for r in range(rows):
        xr = dx + r * n_in
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
                count = <floating>((i1 - i0) * (j1 - j0))
                for ih in range(i0, i1):
                    for iw in range(j0, j1):
                        dst = xr + (ih * W + iw) * C
                        for c in range(C):
                            dst[c] = dst[c] + g[c] / count
                g += C
