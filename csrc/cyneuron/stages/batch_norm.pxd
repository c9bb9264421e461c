# Kind "batch_norm" (reference/batch_norm.py): units = channels, inner = per-sample size after
# the channel axis; f[0] = momentum, f[1] = epsilon; param gamma/beta as present (flag: has gamma,
# flag2: has beta); state[0..1] moving mean/variance; pending[0..1] their next values; ``saved``
# holds the step's per-channel mean then rstd (2 * channels floating). ``trainable`` picks batch
# statistics in training (a frozen layer normalises with the moving ones, as Keras).
from cython cimport floating
from libc.math cimport sqrt

from cyneuron.stages.stage cimport StageC

# scratch per channel that forward and backward need (the network allocates it): 6 floating values,
# then 2 double accumulators (at a multiple of 8 bytes)
cdef enum:
    WORK_BYTES_PER_CHANNEL = 64


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
    """``work``: WORK_BYTES_PER_CHANNEL * channels bytes of scratch; in training the mean and rstd are kept
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
    cdef double* acc = <double*>(<char*>work + 6 * C * sizeof(floating))
    cdef Py_ssize_t count
    if batch:
        # float64 sums rounded once: the reference computes the same
        count = n // C
        _sums(x, NULL, acc, n, C, s.inner)
        for c in range(C):
            mean[c] = <floating>(acc[c] / <double>count)
        _sums(x, mean, acc, n, C, s.inner)
        for c in range(C):
            var[c] = <floating>(acc[c] / <double>count)
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
    _affine(x, y, inv, shift, n, C, s.inner)


cdef inline void _affine(const floating* x, floating* y, const floating* scale, const floating* shift,
                         Py_ssize_t n, Py_ssize_t C, Py_ssize_t inner) noexcept nogil:
    """y = x * scale[c] + shift[c] over blocks (outer, C, inner): no per-element channel division."""
    cdef Py_ssize_t b, c, k, i = 0
    cdef floating a, d
    for b in range(n // (C * inner)):
        for c in range(C):
            a = scale[c]
            d = shift[c]
            for k in range(inner):
                y[i + k] = x[i + k] * a + d
            i += inner


cdef inline void _sums(const floating* x, const floating* mean, double* acc, Py_ssize_t n, Py_ssize_t C,
                       Py_ssize_t inner) noexcept nogil:
    """Per channel, in block order, float64 sums of x (``mean`` NULL) or of (x - mean)^2."""
    cdef Py_ssize_t b, c, k, i = 0
    cdef floating d
    for c in range(C):
        acc[c] = 0
    for b in range(n // (C * inner)):
        for c in range(C):
            if mean == NULL:
                for k in range(inner):
                    acc[c] += x[i + k]
            else:
                for k in range(inner):
                    d = x[i + k] - mean[c]
                    acc[c] += <double>d * <double>d
            i += inner


cdef inline void _grad_sums(const floating* x, const floating* dy, const floating* mean, const floating* rstd,
                            double* acc_dy, double* acc_dyx, Py_ssize_t n, Py_ssize_t C,
                            Py_ssize_t inner) noexcept nogil:
    """Per channel float64 sums of dy and of dy * xhat, xhat = (x - mean) * rstd."""
    cdef Py_ssize_t b, c, k, i = 0
    cdef floating xhat
    for c in range(C):
        acc_dy[c] = 0
        acc_dyx[c] = 0
    for b in range(n // (C * inner)):
        for c in range(C):
            for k in range(inner):
                xhat = (x[i + k] - mean[c]) * rstd[c]
                acc_dy[c] += dy[i + k]
                acc_dyx[c] += <double>dy[i + k] * <double>xhat
            i += inner


cdef inline void backward(floating* tag, StageC* s, const floating* x, const floating* dy, floating* dx,
                          Py_ssize_t rows, floating* work) noexcept nogil:
    """Gradients of gamma/beta (when trainable) and dx (need_dx); ``work`` as in ``forward``.

    A trainable layer trained on batch statistics; a frozen one normalised with the moving ones.
    """
    cdef Py_ssize_t i, b, c, k, n = rows * s.n_in, C = s.units
    cdef floating* mean = work
    cdef floating* rstd = work + C
    cdef floating* inv = work + 2 * C
    cdef floating* sum_dy = work + 3 * C
    cdef floating* sum_dy_xhat = work + 4 * C
    cdef floating xhat, count
    cdef double* acc = <double*>(<char*>work + 6 * C * sizeof(floating))
    cdef const floating* saved = <const floating*>s.saved
    if not s.trainable:
        for c in range(C):
            rstd[c] = <floating>1 / <floating>sqrt(<double>((<const floating*>s.state[1])[c] + <floating>s.f[1]))
            inv[c] = rstd[c] * (<const floating*>s.param[0])[c] if s.flag else rstd[c]
            sum_dy[c] = 0
        if s.need_dx:
            _affine(dy, dx, inv, sum_dy, n, C, s.inner)  # dx = dy * inv (+ 0)
        return
    for c in range(C):
        mean[c] = saved[c]
        rstd[c] = saved[C + c]
        inv[c] = rstd[c] * (<const floating*>s.param[0])[c] if s.flag else rstd[c]
    _grad_sums(x, dy, mean, rstd, acc, acc + C, n, C, s.inner)
    for c in range(C):
        sum_dy[c] = <floating>acc[c]
        sum_dy_xhat[c] = <floating>acc[C + c]
    if s.flag:
        for c in range(C):
            (<floating*>s.grad[0])[c] = sum_dy_xhat[c]
    if s.flag2:
        for c in range(C):
            (<floating*>s.grad[s.n_params - 1])[c] = sum_dy[c]
    if not s.need_dx:
        return
    count = <floating>(n // C)
    i = 0
    for b in range(n // (C * s.inner)):
        for c in range(C):
            for k in range(s.inner):
                xhat = (x[i] - mean[c]) * rstd[c]
                dx[i] = inv[c] / count * (count * dy[i] - sum_dy[c] - xhat * sum_dy_xhat[c])
                i += 1
