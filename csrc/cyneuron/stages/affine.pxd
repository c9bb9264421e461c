# Kind "affine" (reference/affine.py): Rescaling and Normalization. dims[0] = mode (AFFINE_*);
# rescale: f[0] = scale, f[1] = offset; (de)normalize: units = channels, inner as batch_norm,
# state[0..1] = mean, variance (constant). The per-channel denominator max(sqrt(var), 1e-7)
# goes to ``work`` (channels floating, the network's per-channel scratch).
from cython cimport floating
from libc.math cimport sqrt

from cyneuron.stages.stage cimport StageC

cdef enum:
    AFFINE_RESCALE = 0
    AFFINE_NORMALIZE = 1
    AFFINE_DENORMALIZE = 2


cdef inline void _denominators(floating* tag, StageC* s, floating* work) noexcept nogil:
    cdef Py_ssize_t c
    cdef const floating* var = <const floating*>s.state[1]
    cdef floating d, eps = <floating>1e-7
    for c in range(s.units):
        d = <floating>sqrt(<double>var[c])
        work[c] = d if d > eps else eps


cdef inline void forward(floating* tag, StageC* s, const floating* x, floating* y, Py_ssize_t rows,
                         floating* work) noexcept nogil:
    cdef Py_ssize_t i, c, n = rows * s.n_in
    cdef floating scale = <floating>s.f[0], offset = <floating>s.f[1]
    cdef const floating* mean = <const floating*>s.state[0]
    if s.dims[0] == AFFINE_RESCALE:
        for i in range(n):
            y[i] = x[i] * scale + offset
        return
    _denominators(tag, s, work)
    if s.dims[0] == AFFINE_NORMALIZE:
        for i in range(n):
            c = (i // s.inner) % s.units
            y[i] = (x[i] - mean[c]) / work[c]
    else:
        for i in range(n):
            c = (i // s.inner) % s.units
            y[i] = mean[c] + x[i] * work[c]


cdef inline void backward(floating* tag, StageC* s, const floating* dy, floating* dx, Py_ssize_t rows,
                          floating* work) noexcept nogil:
    cdef Py_ssize_t i, c, n = rows * s.n_in
    cdef floating scale = <floating>s.f[0]
    if s.dims[0] == AFFINE_RESCALE:
        for i in range(n):
            dx[i] = dy[i] * scale
        return
    _denominators(tag, s, work)
    if s.dims[0] == AFFINE_NORMALIZE:
        for i in range(n):
            dx[i] = dy[i] / work[(i // s.inner) % s.units]
    else:
        for i in range(n):
            dx[i] = dy[i] * work[(i // s.inner) % s.units]
