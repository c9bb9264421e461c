# Kind "global_avg_pool" (reference/global_avg_pool.py): units = channels, inner = positions.
# y[c] = (float64 sum over positions) / positions, rounded once; dx = dy / positions.
from cython cimport floating

from cyneuron.stages.stage cimport StageC


cdef inline void forward(floating* tag, StageC* s, const floating* x, floating* y, Py_ssize_t rows,
                         double* acc) noexcept nogil:
    """``acc``: ``channels`` doubles of scratch."""
    cdef Py_ssize_t r, p, c, C = s.units, P = s.inner
    cdef const floating* xr
    for r in range(rows):
        for c in range(C):
            acc[c] = 0
        xr = x + r * P * C
        for p in range(P):
            for c in range(C):
                acc[c] += xr[p * C + c]
        for c in range(C):
            y[r * C + c] = <floating>(acc[c] / <double>P)


cdef inline void backward(floating* tag, StageC* s, const floating* dy, floating* dx, Py_ssize_t rows) noexcept nogil:
    cdef Py_ssize_t r, p, c, C = s.units, P = s.inner
    cdef floating* dxr
    cdef const floating* g
    for r in range(rows):
        dxr = dx + r * P * C
        g = dy + r * C
        for p in range(P):
            for c in range(C):
                dxr[p * C + c] = g[c] / <floating>P
