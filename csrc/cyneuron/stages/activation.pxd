# Kind "activation" (reference/activation.py): one of _core's five (softmax over rows of
# ``units``), or an extended one: ACT_RELU_EXT (f = negative_slope, max_value, threshold;
# flag = has max_value), ACT_LEAKY_RELU (f[0] = negative_slope), ACT_ELU (f[0] = alpha).
from cython cimport floating
from libc.math cimport exp, expm1
from libc.string cimport memcpy

from cyneuron cimport _core as core
from cyneuron.stages.stage cimport StageC

cdef enum:
    ACT_RELU_EXT = 16
    ACT_LEAKY_RELU = 17
    ACT_ELU = 18


cdef inline floating _extended(StageC* s, floating x, floating* grad) noexcept nogil:
    """The extended activation at x, its derivative into ``grad``; the reference's operation order."""
    cdef floating y, d, slope, thr, cap, neg, alpha
    if s.act == ACT_LEAKY_RELU:
        slope = <floating>s.f[0]
        if x >= 0:
            grad[0] = 1
            return x
        grad[0] = slope
        return slope * x
    if s.act == ACT_ELU:
        alpha = <floating>s.f[0]
        if x > 0:
            grad[0] = 1
            return x
        neg = alpha * <floating>expm1(<double>x)
        grad[0] = neg + alpha
        return neg
    slope = <floating>s.f[0]
    cap = <floating>s.f[1]
    thr = <floating>s.f[2]
    if x > thr:
        y = x
        d = 1
    else:
        y = 0
        d = 0
    if s.flag and (y > cap or y < 0):
        y = cap if y > cap else 0
        d = 0
    if slope != 0 and x < thr:
        y = y - slope * (thr - x)
        d = d + slope
    grad[0] = d
    return y


cdef inline void forward(floating* tag, StageC* s, const floating* x, floating* y, Py_ssize_t rows) noexcept nogil:
    cdef Py_ssize_t i, n = rows * s.n_in
    cdef floating d
    if s.act < ACT_RELU_EXT:
        core.activation_forward(s.act, x, y, n // s.units, s.units)
        return
    for i in range(n):
        y[i] = _extended(s, x[i], &d)


cdef inline void backward(floating* tag, StageC* s, const floating* x, const floating* y, floating* dy,
                          floating* dx, Py_ssize_t rows) noexcept nogil:
    """dx = dL/dx from dy = dL/dy; with ``s.head`` dy already is dL/dx (the loss head fused it)."""
    cdef Py_ssize_t i, n = rows * s.n_in
    cdef floating d
    if s.head:
        memcpy(dx, dy, n * sizeof(floating))
    elif s.act < ACT_RELU_EXT:
        core.activation_backward(s.act, x, y, dy, dx, n // s.units, s.units)
    else:
        for i in range(n):
            _extended(s, x[i], &d)
            dx[i] = dy[i] * d
