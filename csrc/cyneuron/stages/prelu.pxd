# Kind "prelu" (reference/prelu.py): y = x for x > 0, alpha[index_map[j]] * x otherwise; param[0] alpha
# (dims[0] elements), index_map: per-sample element -> its alpha; grad[0] = sum of dy * min(x, 0) per alpha.
from cython cimport floating

from cyneuron.stages.stage cimport StageC


cdef inline void forward(floating* tag, StageC* s, const floating* x, floating* y, Py_ssize_t rows) noexcept nogil:
    cdef Py_ssize_t r, j, n = s.n_in
    cdef const floating* alpha = <const floating*>s.param[0]
    cdef floating v, zero = 0
    for r in range(rows):
        for j in range(n):
            v = x[r * n + j]
            y[r * n + j] = v if v > zero else alpha[s.index_map[j]] * v


cdef inline void backward(floating* tag, StageC* s, const floating* x, const floating* dy, floating* dx,
                          Py_ssize_t rows) noexcept nogil:
    cdef Py_ssize_t r, j, n = s.n_in
    cdef const floating* alpha = <const floating*>s.param[0]
    cdef floating* ga = <floating*>s.grad[0]
    cdef floating v, zero = 0, one = 1
    if s.trainable:
        for j in range(s.dims[0]):
            ga[j] = 0
        for r in range(rows):
            for j in range(n):
                v = x[r * n + j]
                ga[s.index_map[j]] += dy[r * n + j] * (v if v < zero else zero)
    if s.need_dx:
        for r in range(rows):
            for j in range(n):
                dx[r * n + j] = dy[r * n + j] * (one if x[r * n + j] > zero else alpha[s.index_map[j]])
