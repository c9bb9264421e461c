# Kind "transpose" (reference/transpose.py): y[r, i] = x[r, index_map[i]], a permutation of each
# sample's elements; backward scatters the gradient back through the same map.
from cython cimport floating

from cyneuron.stages.stage cimport StageC


cdef inline void forward(floating* tag, StageC* s, const floating* x, floating* y, Py_ssize_t rows) noexcept nogil:
    cdef Py_ssize_t r, i, n = s.n_in
    cdef const floating* xr
    cdef floating* yr
    for r in range(rows):
        xr = x + r * n
        yr = y + r * n
        for i in range(n):
            yr[i] = xr[s.index_map[i]]


cdef inline void backward(floating* tag, StageC* s, const floating* dy, floating* dx, Py_ssize_t rows) noexcept nogil:
    cdef Py_ssize_t r, i, n = s.n_in
    cdef const floating* dyr
    cdef floating* dxr
    for r in range(rows):
        dyr = dy + r * n
        dxr = dx + r * n
        for i in range(n):
            dxr[s.index_map[i]] = dyr[i]
