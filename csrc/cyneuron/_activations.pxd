# Keras' activations beyond _core's first five (codes 0-4: linear, relu, sigmoid, tanh, softmax),
# as nogil kernels over (rows, units) blocks; the NumPy reference is backend/reference/activation.py,
# formula for formula and in the same order of operations. The codes are the indices of
# specs.KERNEL_ACTIVATIONS. ``f`` holds the activation's arguments in specs.ACTIVATION_PARAMS' order
# (NULL: Keras' defaults, the case of Dense, conv2d and the loss head).
#
# Derivatives: the ones in specs.FUSED_ACTIVATIONS read the output ``a``, and ``z`` only where
# z = a gives the same answer at the default arguments, because the dense and conv2d kinds keep no
# pre-activation and pass their output as both. Softmax-like rows: log_softmax only.
from cython cimport floating
from libc.math cimport erfc, erfcf, expm1, expm1f, fabs, fabsf, log, log1p, log1pf, sqrt, sqrtf

from cyneuron._vecmath cimport cyn_exp, cyn_expf, cyn_log, cyn_logf, cyn_tanh, cyn_tanhf

cdef enum:
    ACT_FIRST_EXTENDED = 5  # codes below are _core's
    ACT_LEAKY_RELU = 5
    ACT_RELU6 = 6
    ACT_ELU = 7
    ACT_SELU = 8
    ACT_CELU = 9
    ACT_GELU = 10
    ACT_SILU = 11
    ACT_SOFTPLUS = 12
    ACT_SOFTSIGN = 13
    ACT_HARD_SIGMOID = 14
    ACT_HARD_SILU = 15
    ACT_EXPONENTIAL = 16
    ACT_MISH = 17
    ACT_LOG_SOFTMAX = 18
    ACT_HARD_TANH = 19
    ACT_SPARSE_PLUS = 20
    ACT_SQUAREPLUS = 21
    ACT_SOFT_SHRINK = 22
    ACT_HARD_SHRINK = 23
    ACT_TANH_SHRINK = 24
    ACT_LOG_SIGMOID = 25
    ACT_SPARSE_SIGMOID = 26
    ACT_RELU_EXT = 27   # relu(x, negative_slope, max_value, threshold): f = those three, has max_value
    ACT_THRESHOLD = 28  # f = threshold, default_value


# ------------------------------------------------------------------ scalar math
# exp, log and tanh are _vecmath's (within 1-2 ulp of libm, inlined and vectorisable); the others libm's.
cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return cyn_expf(x)
    else:
        return cyn_exp(x)


cdef inline floating _expm1(floating x) noexcept nogil:
    if floating is float:
        return expm1f(x)
    else:
        return expm1(x)


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return cyn_logf(x)
    else:
        return cyn_log(x)


cdef inline floating _log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating _tanh(floating x) noexcept nogil:
    if floating is float:
        return cyn_tanhf(x)
    else:
        return cyn_tanh(x)


cdef inline floating _erfc(floating x) noexcept nogil:
    if floating is float:
        return erfcf(x)
    else:
        return erfc(x)


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline floating _abs(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)


cdef inline floating sigmoid(floating z) noexcept nogil:
    # exp(-|z|) never overflows; 1/(1+e) for z >= 0 and e/(1+e) below, so large
    # |z| saturates to exactly 0 or 1 with no inf/inf.
    cdef floating e = _exp(-_abs(z))
    cdef floating zero = 0
    cdef floating num = 1 if z >= zero else e
    return num / (1 + e)


cdef inline floating softplus(floating z) noexcept nogil:
    """log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|))."""
    cdef floating zero = 0
    return (z if z > zero else zero) + _log1p(_exp(-_abs(z)))


cdef inline double _arg(const double* f, int k, double default) noexcept nogil:
    return default if f == NULL else f[k]


# The constants, as the reference's (cast to the working type where used).
cdef inline double _selu_alpha() noexcept nogil:
    return 1.6732632423543772848170429916717


cdef inline double _selu_scale() noexcept nogil:
    return 1.0507009873554804934193349852946


# ------------------------------------------------------------------ element-wise
cdef inline floating value(int act, const double* f, floating x) noexcept nogil:
    """The activation at x (element-wise codes)."""
    cdef floating zero = 0, one = 1, p, q, u
    if act == ACT_LEAKY_RELU:
        p = <floating>_arg(f, 0, 0.2)
        return x if x >= zero else p * x
    if act == ACT_RELU6:
        u = zero if x < zero else x  # selects that keep NaN, as np.maximum / np.minimum
        return <floating>6 if u > <floating>6 else u
    if act == ACT_ELU:
        return x if x > zero else <floating>_arg(f, 0, 1.0) * _expm1(x)
    if act == ACT_SELU:
        return <floating>_selu_scale() * (x if x > zero else <floating>_selu_alpha() * _expm1(x))
    if act == ACT_CELU:
        p = <floating>_arg(f, 0, 1.0)
        return x if x > zero else p * _expm1(x / p)
    if act == ACT_GELU:
        if _arg(f, 0, 0.0) != 0:
            return x * (<floating>0.5 * (one + _tanh(<floating>0.7978845608028654 * (x + <floating>0.044715 * (x * x * x)))))
        # erfc, not 1 + erf: no cancellation for negative x
        return <floating>0.5 * x * _erfc(-x * <floating>0.7071067811865476)
    if act == ACT_SILU:
        return x * sigmoid(x)
    if act == ACT_SOFTPLUS:
        return softplus(x)
    if act == ACT_SOFTSIGN:
        return x / (one + _abs(x))
    if act == ACT_HARD_SIGMOID or act == ACT_HARD_SILU:
        u = x + <floating>3
        u = zero if u < zero else u
        u = (<floating>6 if u > <floating>6 else u) / <floating>6
        return u if act == ACT_HARD_SIGMOID else x * u
    if act == ACT_EXPONENTIAL:
        return _exp(x)
    if act == ACT_MISH:
        return x * _tanh(softplus(x))
    if act == ACT_HARD_TANH:
        u = -one if x < -one else x
        return one if u > one else u
    if act == ACT_SPARSE_PLUS:
        if x <= -one:
            return zero
        if x >= one:
            return x
        u = x + one
        return u * u / <floating>4
    if act == ACT_SQUAREPLUS:
        return (x + _sqrt(x * x + <floating>_arg(f, 0, 4.0))) / <floating>2
    if act == ACT_SOFT_SHRINK:
        p = <floating>_arg(f, 0, 0.5)
        return x - p if x > p else (x + p if x < -p else zero)
    if act == ACT_HARD_SHRINK:
        p = <floating>_arg(f, 0, 0.5)
        return x if _abs(x) > p else zero
    if act == ACT_TANH_SHRINK:
        return x - _tanh(x)
    if act == ACT_LOG_SIGMOID:
        return -softplus(-x)
    if act == ACT_SPARSE_SIGMOID:
        u = x + one
        u = zero if u < zero else u
        return (<floating>2 if u > <floating>2 else u) / <floating>2
    if act == ACT_THRESHOLD:
        return x if x > <floating>f[0] else <floating>f[1]
    # ACT_RELU_EXT, in Keras' order: keep x above the threshold, clip to [0, max_value], then the slope
    p = <floating>f[2]
    u = x if x > p else zero
    if f[3] != 0:
        q = <floating>f[1]
        u = zero if u < zero else (q if u > q else u)
    if f[0] != 0:
        u = u - <floating>f[0] * (p - x if x < p else zero)
    return u


cdef inline floating slope(int act, const double* f, floating z, floating a) noexcept nogil:
    """dA/dZ at input z with output a (element-wise codes)."""
    cdef floating zero = 0, one = 1, half = 0.5, p, q, u, s
    if act == ACT_LEAKY_RELU:
        return one if z >= zero else <floating>_arg(f, 0, 0.2)
    if act == ACT_RELU6:
        return one if (a > zero and a < <floating>6) else zero
    if act == ACT_ELU:
        return one if a > zero else a + <floating>_arg(f, 0, 1.0)
    if act == ACT_SELU:
        return <floating>_selu_scale() if a > zero else a + <floating>(_selu_scale() * _selu_alpha())
    if act == ACT_CELU:
        return one if a > zero else a / <floating>_arg(f, 0, 1.0) + one
    if act == ACT_GELU:
        if _arg(f, 0, 0.0) != 0:
            u = _tanh(<floating>0.7978845608028654 * (z + <floating>0.044715 * (z * z * z)))
            s = one - u * u
            # where tanh saturates the second term is 0, even where z^2 overflowed
            q = zero if s == zero else half * z * s * <floating>0.7978845608028654 * (one + <floating>0.134145 * z * z)
            return half * (one + u) + q
        return half * _erfc(-z * <floating>0.7071067811865476) + z * _exp(-z * z / <floating>2) / <floating>2.5066282746310002
    if act == ACT_SILU:
        s = sigmoid(z)
        return s * (one + z * (one - s))
    if act == ACT_SOFTPLUS:
        return -_expm1(-a)
    if act == ACT_SOFTSIGN:
        u = one + _abs(z)
        return one / (u * u)
    if act == ACT_HARD_SIGMOID:
        return <floating>(1.0 / 6.0) if (a > zero and a < one) else zero
    if act == ACT_HARD_SILU:
        u = z + <floating>3
        u = zero if u < zero else u
        u = (<floating>6 if u > <floating>6 else u) / <floating>6
        return u + z * (<floating>(1.0 / 6.0) if (z > <floating>-3 and z < <floating>3) else zero)
    if act == ACT_EXPONENTIAL:
        return a
    if act == ACT_MISH:
        u = _tanh(softplus(z))
        return u + z * (one - u * u) * sigmoid(z)
    if act == ACT_HARD_TANH:
        return one if (z >= -one and z <= one) else zero
    if act == ACT_SPARSE_PLUS:
        return zero if z <= -one else (one if z >= one else (z + one) / <floating>2)
    if act == ACT_SQUAREPLUS:
        return (one + z / _sqrt(z * z + <floating>_arg(f, 0, 4.0))) / <floating>2
    if act == ACT_SOFT_SHRINK:
        return one if a != zero else zero
    if act == ACT_HARD_SHRINK:
        return one if _abs(z) > <floating>_arg(f, 0, 0.5) else zero
    if act == ACT_TANH_SHRINK:
        u = _tanh(z)
        return u * u
    if act == ACT_LOG_SIGMOID:
        return -_expm1(a)
    if act == ACT_SPARSE_SIGMOID:
        return half if (a > zero and a < one) else zero
    if act == ACT_THRESHOLD:
        return one if z > <floating>f[0] else zero
    # ACT_RELU_EXT
    p = <floating>f[2]
    u = z if z > p else zero
    s = one if z > p else zero
    if f[3] != 0 and (u > <floating>f[1] or u < zero):
        s = zero
    if f[0] != 0 and z < p:
        s = s + <floating>f[0]
    return s


# ------------------------------------------------------------------ blocks
cdef inline void _values(int act, const double* f, const floating* z, floating* a, Py_ssize_t n) noexcept nogil:
    """a[j] = value(act, f, z[j]): one loop per code, the code a constant in each, so that the compiler
    folds value()'s dispatch out of the loop (and vectorises the simple ones)."""
    cdef Py_ssize_t j
    if act == ACT_LEAKY_RELU:
        for j in range(n):
            a[j] = value(ACT_LEAKY_RELU, f, z[j])
    elif act == ACT_RELU6:
        for j in range(n):
            a[j] = value(ACT_RELU6, f, z[j])
    elif act == ACT_ELU:
        for j in range(n):
            a[j] = value(ACT_ELU, f, z[j])
    elif act == ACT_SELU:
        for j in range(n):
            a[j] = value(ACT_SELU, f, z[j])
    elif act == ACT_CELU:
        for j in range(n):
            a[j] = value(ACT_CELU, f, z[j])
    elif act == ACT_GELU:
        for j in range(n):
            a[j] = value(ACT_GELU, f, z[j])
    elif act == ACT_SILU:
        for j in range(n):
            a[j] = value(ACT_SILU, f, z[j])
    elif act == ACT_SOFTPLUS:
        for j in range(n):
            a[j] = value(ACT_SOFTPLUS, f, z[j])
    elif act == ACT_SOFTSIGN:
        for j in range(n):
            a[j] = value(ACT_SOFTSIGN, f, z[j])
    elif act == ACT_HARD_SIGMOID:
        for j in range(n):
            a[j] = value(ACT_HARD_SIGMOID, f, z[j])
    elif act == ACT_HARD_SILU:
        for j in range(n):
            a[j] = value(ACT_HARD_SILU, f, z[j])
    elif act == ACT_EXPONENTIAL:
        for j in range(n):
            a[j] = value(ACT_EXPONENTIAL, f, z[j])
    elif act == ACT_MISH:
        for j in range(n):
            a[j] = value(ACT_MISH, f, z[j])
    elif act == ACT_HARD_TANH:
        for j in range(n):
            a[j] = value(ACT_HARD_TANH, f, z[j])
    elif act == ACT_SPARSE_PLUS:
        for j in range(n):
            a[j] = value(ACT_SPARSE_PLUS, f, z[j])
    elif act == ACT_SQUAREPLUS:
        for j in range(n):
            a[j] = value(ACT_SQUAREPLUS, f, z[j])
    elif act == ACT_SOFT_SHRINK:
        for j in range(n):
            a[j] = value(ACT_SOFT_SHRINK, f, z[j])
    elif act == ACT_HARD_SHRINK:
        for j in range(n):
            a[j] = value(ACT_HARD_SHRINK, f, z[j])
    elif act == ACT_TANH_SHRINK:
        for j in range(n):
            a[j] = value(ACT_TANH_SHRINK, f, z[j])
    elif act == ACT_LOG_SIGMOID:
        for j in range(n):
            a[j] = value(ACT_LOG_SIGMOID, f, z[j])
    elif act == ACT_SPARSE_SIGMOID:
        for j in range(n):
            a[j] = value(ACT_SPARSE_SIGMOID, f, z[j])
    elif act == ACT_THRESHOLD:
        for j in range(n):
            a[j] = value(ACT_THRESHOLD, f, z[j])
    elif act == ACT_RELU_EXT:
        for j in range(n):
            a[j] = value(ACT_RELU_EXT, f, z[j])


cdef inline void _slopes(int act, const double* f, const floating* z, const floating* a, const floating* g,
                          floating* out, Py_ssize_t n) noexcept nogil:
    """out[j] = g[j] * slope(act, f, z[j], a[j]), one loop per code as in _values; a product, not a select,
    so a NaN or inf gradient stays non-finite as in NumPy."""
    cdef Py_ssize_t j
    if act == ACT_LEAKY_RELU:
        for j in range(n):
            out[j] = g[j] * slope(ACT_LEAKY_RELU, f, z[j], a[j])
    elif act == ACT_RELU6:
        for j in range(n):
            out[j] = g[j] * slope(ACT_RELU6, f, z[j], a[j])
    elif act == ACT_ELU:
        for j in range(n):
            out[j] = g[j] * slope(ACT_ELU, f, z[j], a[j])
    elif act == ACT_SELU:
        for j in range(n):
            out[j] = g[j] * slope(ACT_SELU, f, z[j], a[j])
    elif act == ACT_CELU:
        for j in range(n):
            out[j] = g[j] * slope(ACT_CELU, f, z[j], a[j])
    elif act == ACT_GELU:
        for j in range(n):
            out[j] = g[j] * slope(ACT_GELU, f, z[j], a[j])
    elif act == ACT_SILU:
        for j in range(n):
            out[j] = g[j] * slope(ACT_SILU, f, z[j], a[j])
    elif act == ACT_SOFTPLUS:
        for j in range(n):
            out[j] = g[j] * slope(ACT_SOFTPLUS, f, z[j], a[j])
    elif act == ACT_SOFTSIGN:
        for j in range(n):
            out[j] = g[j] * slope(ACT_SOFTSIGN, f, z[j], a[j])
    elif act == ACT_HARD_SIGMOID:
        for j in range(n):
            out[j] = g[j] * slope(ACT_HARD_SIGMOID, f, z[j], a[j])
    elif act == ACT_HARD_SILU:
        for j in range(n):
            out[j] = g[j] * slope(ACT_HARD_SILU, f, z[j], a[j])
    elif act == ACT_EXPONENTIAL:
        for j in range(n):
            out[j] = g[j] * slope(ACT_EXPONENTIAL, f, z[j], a[j])
    elif act == ACT_MISH:
        for j in range(n):
            out[j] = g[j] * slope(ACT_MISH, f, z[j], a[j])
    elif act == ACT_HARD_TANH:
        for j in range(n):
            out[j] = g[j] * slope(ACT_HARD_TANH, f, z[j], a[j])
    elif act == ACT_SPARSE_PLUS:
        for j in range(n):
            out[j] = g[j] * slope(ACT_SPARSE_PLUS, f, z[j], a[j])
    elif act == ACT_SQUAREPLUS:
        for j in range(n):
            out[j] = g[j] * slope(ACT_SQUAREPLUS, f, z[j], a[j])
    elif act == ACT_SOFT_SHRINK:
        for j in range(n):
            out[j] = g[j] * slope(ACT_SOFT_SHRINK, f, z[j], a[j])
    elif act == ACT_HARD_SHRINK:
        for j in range(n):
            out[j] = g[j] * slope(ACT_HARD_SHRINK, f, z[j], a[j])
    elif act == ACT_TANH_SHRINK:
        for j in range(n):
            out[j] = g[j] * slope(ACT_TANH_SHRINK, f, z[j], a[j])
    elif act == ACT_LOG_SIGMOID:
        for j in range(n):
            out[j] = g[j] * slope(ACT_LOG_SIGMOID, f, z[j], a[j])
    elif act == ACT_SPARSE_SIGMOID:
        for j in range(n):
            out[j] = g[j] * slope(ACT_SPARSE_SIGMOID, f, z[j], a[j])
    elif act == ACT_THRESHOLD:
        for j in range(n):
            out[j] = g[j] * slope(ACT_THRESHOLD, f, z[j], a[j])
    elif act == ACT_RELU_EXT:
        for j in range(n):
            out[j] = g[j] * slope(ACT_RELU_EXT, f, z[j], a[j])


cdef inline void forward(int act, const double* f, const floating* z, floating* a,
                         Py_ssize_t rows, Py_ssize_t units) noexcept nogil:
    """a = act(z) over (rows, units); a may be z. log_softmax normalises each row."""
    cdef Py_ssize_t i, j, n = rows * units
    cdef floating m, v
    cdef double s
    cdef const floating* zr
    cdef floating* ar
    if act == ACT_LOG_SOFTMAX:
        for i in range(rows):
            zr = z + i * units
            ar = a + i * units
            m = zr[0]
            for j in range(1, units):
                v = zr[j]
                m = v if v > m else m
            s = 0
            for j in range(units):
                s += _exp(zr[j] - m)
            v = <floating>cyn_log(s)
            for j in range(units):
                ar[j] = (zr[j] - m) - v
        return
    _values(act, f, z, a, n)


cdef inline void backward(int act, const double* f, const floating* z, const floating* a, const floating* g,
                          floating* out, Py_ssize_t rows, Py_ssize_t units) noexcept nogil:
    """out = dL/dZ from g = dL/dA; out may be g. log_softmax: g - exp(a) * rowsum(g)."""
    cdef Py_ssize_t i, j, n = rows * units
    cdef double s
    cdef floating t
    if act == ACT_LOG_SOFTMAX:
        for i in range(rows):
            s = 0
            for j in range(units):
                s += g[i * units + j]
            t = <floating>s
            for j in range(units):
                out[i * units + j] = g[i * units + j] - _exp(a[i * units + j]) * t
        return
    _slopes(act, f, z, a, g, out, n)
