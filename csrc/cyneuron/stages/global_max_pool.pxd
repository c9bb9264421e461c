# Kind "global_max_pool" (reference/global_max_pool.py): units = channels, inner = positions.
# Backward as jnp.max's VJP: tied maxima share the gradient equally, dx = (dy / ties) * (x == max).
from cython cimport floating

from cyneuron.stages.stage cimport StageC


cdef inline void forward(floating* tag, StageC* s, const floating* x, floating* y, Py_ssize_t rows) noexcept nogil:
    cdef Py_ssize_t r, p, c, C = s.units, P = s.inner
    cdef const floating* xr
    cdef floating* yr
    for r in range(rows):
        xr = x + r * P * C
        yr = y + r * C
        for c in range(C):
            yr[c] = xr[c]
        for p in range(1, P):
            for c in range(C):
                if xr[p * C + c] > yr[c]:
                    yr[c] = xr[p * C + c]


cdef inline void backward(floating* tag, StageC* s, const floating* x, const floating* y, const floating* dy,
                          floating* dx, Py_ssize_t rows, floating* share) noexcept nogil:
    """``share``: ``channels`` floating of scratch."""
    cdef Py_ssize_t r, p, c, C = s.units, P = s.inner
    cdef const floating* xr
    cdef const floating* yr
    cdef floating* dxr
    for r in range(rows):
        xr = x + r * P * C
        yr = y + r * C
        dxr = dx + r * P * C
        for c in range(C):
            share[c] = 0
        for p in range(P):
            for c in range(C):
                if xr[p * C + c] == yr[c]:
                    share[c] += 1
        for c in range(C):
            share[c] = dy[r * C + c] / share[c]
        for p in range(P):
            for c in range(C):
                dxr[p * C + c] = share[c] if xr[p * C + c] == yr[c] else <floating>0
