# Kind "batch_norm" (reference/batch_norm.py): units = channels, inner = per-sample size after
# the channel axis; f[0] = momentum, f[1] = epsilon; param gamma/beta as present (flag: has gamma,
# flag2: has beta); state[0..1] moving mean/variance; pending[0..1] their next values; ``saved``
# holds the step's per-channel mean then rstd (2 * channels floating). ``trainable`` picks batch
# statistics in training (a frozen layer normalises with the moving ones, as Keras).
from cython cimport floating
from libc.math cimport sqrt

from cyneuron.stages.stage cimport StageC

# floating scratch per channel that forward and backward need (the network allocates it)
cdef enum:
    WORK_PER_CHANNEL = 6


cdef inline Py_ssize_t _channel(StageC* s, Py_ssize_t i) noexcept nogil:
    return (i // s.inner) % s.units


cdef inline void _scale_shift(floating* tag, StageC* s, const floating* mean, const floating* var,
                              floating* inv, floating* shift, floating* rstd) noexcept nogil:
    cdef Py_ssize_t c
    cdef const floating* gamma = <const floating*>s.param[0] if s.flag else NULL
    cdef const floating* beta = <const floating*>s.param[s.n_params - 1] if s.flag2 else NULL
    for c in range(s.units):
        rstd[c] = <floating>1 / <floating>sqrt(<double>(var[c] + <floating>s.f[1]))
        inv[c] = rstd[c] * gamma[c] if gamma != NULL else rstd[c]
        shift[c] = -mean[c] * inv[c]
        if beta != NULL:
            shift[c] = shift[c] + beta[c]


cdef inline void forward(floating* tag, StageC* s, const floating* x, floating* y, Py_ssize_t rows,
                         bint training, floating* work) noexcept nogil:
    """``work``: WORK_PER_CHANNEL * channels floating scratch; in training the mean and rstd are kept
    in ``saved`` for backward and the next moving statistics go to ``pending``."""
    cdef Py_ssize_t i, c, n = rows * s.n_in, C = s.units
    cdef bint batch = training and s.trainable
    cdef floating* mean = work
    cdef floating* var = work + C
    cdef floating* inv = work + 2 * C
    cdef floating* shift = work + 3 * C
    cdef floating* saved = <floating*>s.saved
    cdef floating* mm
    cdef floating* mv
    cdef floating m
    cdef double acc
    if batch:
        # float64 sums rounded once: the reference computes the same
        for c in range(C):
            acc = 0
            i = c * s.inner
            while i < n:  # every block of this channel
                acc += _row_sum(x + i, s.inner)
                i += C * s.inner
            mean[c] = <floating>(acc / <double>(n // C))
        for c in range(C):
            acc = 0
            i = c * s.inner
            while i < n:
                acc += _row_sq(x + i, mean[c], s.inner)
                i += C * s.inner
            var[c] = <floating>(acc / <double>(n // C))
        _scale_shift(tag, s, mean, var, inv, shift, saved + C)
        for c in range(C):
            saved[c] = mean[c]
        m = <floating>s.f[0]
        mm = <floating*>s.pending[0]
        mv = <floating*>s.pending[1]
        for c in range(C):
            mm[c] = (<const floating*>s.state[0])[c] * m + mean[c] * (<floating>1 - m)
            mv[c] = (<const floating*>s.state[1])[c] * m + var[c] * (<floating>1 - m)
    else:
        _scale_shift(tag, s, <const floating*>s.state[0], <const floating*>s.state[1], inv, shift, var)
    for i in range(n):
        c = _channel(s, i)
        y[i] = x[i] * inv[c] + shift[c]


cdef inline double _row_sum(const floating* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t k
    cdef double acc = 0
    for k in range(n):
        acc += x[k]
    return acc


cdef inline double _row_sq(const floating* x, floating mean, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t k
    cdef double acc = 0
    cdef floating d
    for k in range(n):
        d = x[k] - mean
        acc += <double>d * <double>d
    return acc


cdef inline void backward(floating* tag, StageC* s, const floating* x, const floating* dy, floating* dx,
                          Py_ssize_t rows, floating* work) noexcept nogil:
    """Gradients of gamma/beta (when trainable) and dx (need_dx); ``work`` as in ``forward``.

    A trainable layer trained on batch statistics; a frozen one normalised with the moving ones.
    """
    cdef Py_ssize_t i, c, k, n = rows * s.n_in, C = s.units
    cdef floating* mean = work
    cdef floating* rstd = work + C
    cdef floating* inv = work + 2 * C
    cdef floating* sum_dy = work + 3 * C
    cdef floating* sum_dy_xhat = work + 4 * C
    cdef floating xhat, count
    cdef double a_dy, a_dyx
    cdef const floating* saved = <const floating*>s.saved
    if not s.trainable:
        for c in range(C):
            rstd[c] = <floating>1 / <floating>sqrt(<double>((<const floating*>s.state[1])[c] + <floating>s.f[1]))
            inv[c] = rstd[c] * (<const floating*>s.param[0])[c] if s.flag else rstd[c]
        if s.need_dx:
            for i in range(n):
                dx[i] = dy[i] * inv[_channel(s, i)]
        return
    for c in range(C):
        mean[c] = saved[c]
        rstd[c] = saved[C + c]
        inv[c] = rstd[c] * (<const floating*>s.param[0])[c] if s.flag else rstd[c]
    for c in range(C):
        a_dy = 0
        a_dyx = 0
        i = c * s.inner
        while i < n:
            for k in range(s.inner):
                xhat = (x[i + k] - mean[c]) * rstd[c]
                a_dy += dy[i + k]
                a_dyx += <double>dy[i + k] * <double>xhat
            i += C * s.inner
        sum_dy[c] = <floating>a_dy
        sum_dy_xhat[c] = <floating>a_dyx
    if s.flag:
        for c in range(C):
            (<floating*>s.grad[0])[c] = sum_dy_xhat[c]
    if s.flag2:
        for c in range(C):
            (<floating*>s.grad[s.n_params - 1])[c] = sum_dy[c]
    if not s.need_dx:
        return
    count = <floating>(n // C)
    for i in range(n):
        c = _channel(s, i)
        xhat = (x[i] - mean[c]) * rstd[c]
        dx[i] = inv[c] / count * (count * dy[i] - sum_dy[c] - xhat * sum_dy_xhat[c])
