# The nogil numeric core (declarations and conventions in _core.pxd).
#
# Small loops are written so that gcc -O3 vectorises them *without* fast-math:
# element-wise loops are branch-free selects, and reductions keep several
# explicit accumulators (gcc may not reassociate one floating-point sum).

from cython cimport floating
from libc.stdint cimport int64_t
from libc.string cimport memcpy
from scipy.linalg.cython_blas cimport dgemm, sgemm

from cyneuron cimport _activations as acts
from cyneuron._activations cimport _exp, _log, _tanh

# Loop or BLAS, per product. A BLAS call has a fixed cost (argument checks,
# packing, ~0.1 us) that a tiny product never repays, while the SSE2 loops
# below cost ~1-2 ns per (row, k) pair plus a little per output column. The
# cost models in _use_loop (ns, fitted on an AMD EPYC with scipy's OpenBLAS)
# pick the cheaper; above _LOOP_CAP multiply-adds BLAS always wins. The mode
# (auto / loops / blas) is the caller's: each network carries its own, so two
# networks in two threads never read a shared setting inside the step.
cdef enum:
    _LOOP_CAP = 65536

cdef int _default_path = PATH_AUTO
_PATH_NAMES = ("auto", "loops", "blas")


cdef int default_path() noexcept:
    return _default_path


def path_code(str path) -> int:
    """The PATH_* code of "auto", "loops" or "blas" (ValueError naming ``path`` otherwise)."""
    if path not in _PATH_NAMES:
        raise ValueError(f"path: expected one of {', '.join(_PATH_NAMES)}, got {path!r}")
    return _PATH_NAMES.index(path)


def path_name(int code) -> str:
    return _PATH_NAMES[code]


def set_product_path(str path):
    """The default product path, "auto" (cost model), "loops" or "blas", of networks built from
    now on and of the per-op kernels; returns the previous default. Built networks keep theirs
    (``NetworkCore.product_path``). Meant for tests and benchmarks."""
    global _default_path
    code = path_code(path)
    previous = _PATH_NAMES[_default_path]
    _default_path = code
    return previous


def get_product_path() -> str:
    """The current default product path (see ``set_product_path``)."""
    return _PATH_NAMES[_default_path]


cdef inline bint _use_loop(int product, Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t n_out,
                           int path) noexcept nogil:
    """product 0: x . w, 1: x.T . g, 2: g . w.T."""
    cdef double pairs = <double>rows * n_in, macs = pairs * n_out, loop
    if path != PATH_AUTO:
        return path == PATH_LOOPS
    if macs > _LOOP_CAP:
        return False
    if product == 0:
        loop = pairs * (1.0 + n_out / 40.0)
    elif product == 1:
        loop = pairs * (1.0 + n_out / 12.0)
    else:
        loop = pairs * (1.3 + n_out / 10.0)
    return loop < 120.0 + macs / 25.0


# What the compiler targeted (show_config): the instruction set the loops were vectorised for.
cdef extern from *:
    """
    #if defined(__AVX512F__)
    #define CYN_ISA "x86-64 + AVX-512F"
    #elif defined(__AVX2__)
    #define CYN_ISA "x86-64 + AVX2"
    #elif defined(__AVX__)
    #define CYN_ISA "x86-64 + AVX"
    #elif defined(__x86_64__) || defined(_M_X64)
    #define CYN_ISA "x86-64 baseline (SSE2)"
    #elif defined(__aarch64__)
    #define CYN_ISA "aarch64 (NEON)"
    #else
    #define CYN_ISA "generic"
    #endif
    #ifdef __FMA__
    #define CYN_FMA 1
    #else
    #define CYN_FMA 0
    #endif
    #ifdef __OPTIMIZE__
    #define CYN_OPTIMIZED 1
    #else
    #define CYN_OPTIMIZED 0
    #endif
    #ifdef __VERSION__
    #define CYN_COMPILER __VERSION__
    #else
    #define CYN_COMPILER "unknown"
    #endif
    """
    const char* CYN_ISA
    const char* CYN_COMPILER
    int CYN_FMA
    int CYN_OPTIMIZED


def build_info() -> dict:
    """How this extension was compiled: the instruction set, FMA contraction support, optimised or not."""
    return {
        "instruction_set": CYN_ISA.decode(),
        "fma": bool(CYN_FMA),
        "optimized": bool(CYN_OPTIMIZED),
        "compiler": CYN_COMPILER.decode(),
    }


# ------------------------------------------------------------------ scalar math
# (_exp, _log, _tanh: the float/double wrappers in _activations.pxd, over _vecmath.h)
_MATH_FUNCTIONS = ("exp", "log", "tanh")


def math_function(str name, floating[::1] x, floating[::1] out):
    """out[i] = name(x[i]) for name in "exp", "log", "tanh": the kernels' own scalar math (_vecmath.h),
    for the accuracy tests. ``x`` and ``out`` are 1-D, contiguous, of one dtype and one length."""
    cdef Py_ssize_t i, n = x.shape[0]
    if name not in _MATH_FUNCTIONS:
        raise ValueError(f"name: expected one of {', '.join(_MATH_FUNCTIONS)}, got {name!r}")
    if out.shape[0] != n:
        raise ValueError(f"out: expected length {n}, got {out.shape[0]}")
    cdef int code = _MATH_FUNCTIONS.index(name)
    with nogil:
        if code == 0:
            for i in range(n):
                out[i] = _exp(x[i])
        elif code == 1:
            for i in range(n):
                out[i] = _log(x[i])
        else:
            for i in range(n):
                out[i] = _tanh(x[i])


cdef inline floating _sigmoid(floating z) noexcept nogil:
    return acts.sigmoid(z)  # the one formula, shared with the other activations


cdef inline floating _row_max(const floating* z, Py_ssize_t n) noexcept nogil:
    cdef floating m0 = z[0], m1 = z[0], m2 = z[0], m3 = z[0], v
    cdef Py_ssize_t j = 0
    while j + 4 <= n:
        v = z[j]
        m0 = v if v > m0 else m0
        v = z[j + 1]
        m1 = v if v > m1 else m1
        v = z[j + 2]
        m2 = v if v > m2 else m2
        v = z[j + 3]
        m3 = v if v > m3 else m3
        j += 4
    while j < n:
        v = z[j]
        m0 = v if v > m0 else m0
        j += 1
    m0 = m1 if m1 > m0 else m0
    m2 = m3 if m3 > m2 else m2
    return m2 if m2 > m0 else m0


cdef inline double _row_dot(const floating* a, const floating* b, Py_ssize_t n) noexcept nogil:
    cdef floating s0 = 0, s1 = 0, s2 = 0, s3 = 0
    cdef Py_ssize_t j = 0
    while j + 4 <= n:
        s0 = s0 + a[j] * b[j]
        s1 = s1 + a[j + 1] * b[j + 1]
        s2 = s2 + a[j + 2] * b[j + 2]
        s3 = s3 + a[j + 3] * b[j + 3]
        j += 4
    while j < n:
        s0 = s0 + a[j] * b[j]
        j += 1
    return (s0 + s1) + (s2 + s3)


cdef inline double _row_sum(const floating* a, Py_ssize_t n) noexcept nogil:
    cdef double s0 = 0, s1 = 0, s2 = 0, s3 = 0
    cdef Py_ssize_t j = 0
    while j + 4 <= n:
        s0 += a[j]
        s1 += a[j + 1]
        s2 += a[j + 2]
        s3 += a[j + 3]
        j += 4
    while j < n:
        s0 += a[j]
        j += 1
    return (s0 + s1) + (s2 + s3)


# -------------------------------------------------------------------- products
cdef inline void _gemm(char transa, char transb, int m, int n, int k, const floating* a, int lda,
                       const floating* b, int ldb, floating* c, int ldc) noexcept nogil:
    # Column-major BLAS: callers pass row-major operands swapped (C^T = B^T A^T).
    cdef floating one = 1, zero = 0
    if floating is float:
        sgemm(&transa, &transb, &m, &n, &k, &one, <float*>a, &lda, <float*>b, &ldb, &zero, c, &ldc)
    else:
        dgemm(&transa, &transb, &m, &n, &k, &one, <double*>a, &lda, <double*>b, &ldb, &zero, c, &ldc)


cdef inline void _row_times_matrix(const floating* xr, const floating* w, floating* zr,
                                   Py_ssize_t n_in, Py_ssize_t n_out) noexcept nogil:
    # zr (n_out,) = xr (n_in,) . w (n_in, n_out): axpys over contiguous rows of w,
    # four at a time so zr is loaded and stored a quarter as often.
    cdef Py_ssize_t j, p = 0
    cdef floating a0, a1, a2, a3
    cdef const floating* w0
    cdef const floating* w1
    cdef const floating* w2
    cdef const floating* w3
    for j in range(n_out):
        zr[j] = 0
    while p + 4 <= n_in:
        a0 = xr[p]
        a1 = xr[p + 1]
        a2 = xr[p + 2]
        a3 = xr[p + 3]
        w0 = w + p * n_out
        w1 = w0 + n_out
        w2 = w1 + n_out
        w3 = w2 + n_out
        for j in range(n_out):
            zr[j] = zr[j] + (a0 * w0[j] + a1 * w1[j]) + (a2 * w2[j] + a3 * w3[j])
        p += 4
    while p < n_in:
        a0 = xr[p]
        w0 = w + p * n_out
        for j in range(n_out):
            zr[j] = zr[j] + a0 * w0[j]
        p += 1


cdef void matmul_xw(const floating* x, const floating* w, floating* z,
                    Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t n_out, int path) noexcept nogil:
    """z (rows, n_out) = x (rows, n_in) . w (n_in, n_out)."""
    cdef Py_ssize_t i
    if _use_loop(0, rows, n_in, n_out, path):
        for i in range(rows):
            _row_times_matrix(x + i * n_in, w, z + i * n_out, n_in, n_out)
    else:
        _gemm(c'N', c'N', <int>n_out, <int>rows, <int>n_in, w, <int>n_out, x, <int>n_in, z, <int>n_out)


cdef void matmul_xt_g(const floating* x, const floating* g, floating* gw,
                      Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t n_out, int path) noexcept nogil:
    """gw (n_in, n_out) = x.T . g with x (rows, n_in), g (rows, n_out)."""
    cdef Py_ssize_t i, p, j
    cdef floating a0, a1, a2, a3
    cdef floating* out
    cdef const floating* g0
    cdef const floating* g1
    cdef const floating* g2
    cdef const floating* g3
    if _use_loop(1, rows, n_in, n_out, path):
        for p in range(n_in):
            out = gw + p * n_out
            for j in range(n_out):
                out[j] = 0
            i = 0
            while i + 4 <= rows:
                a0 = x[i * n_in + p]
                a1 = x[(i + 1) * n_in + p]
                a2 = x[(i + 2) * n_in + p]
                a3 = x[(i + 3) * n_in + p]
                g0 = g + i * n_out
                g1 = g0 + n_out
                g2 = g1 + n_out
                g3 = g2 + n_out
                for j in range(n_out):
                    out[j] = out[j] + (a0 * g0[j] + a1 * g1[j]) + (a2 * g2[j] + a3 * g3[j])
                i += 4
            while i < rows:
                a0 = x[i * n_in + p]
                g0 = g + i * n_out
                for j in range(n_out):
                    out[j] = out[j] + a0 * g0[j]
                i += 1
    else:
        _gemm(c'N', c'T', <int>n_out, <int>n_in, <int>rows, g, <int>n_out, x, <int>n_in, gw, <int>n_out)


cdef void matmul_g_wt(const floating* g, const floating* w, floating* gx,
                      Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t n_out, int path) noexcept nogil:
    """gx (rows, n_in) = g (rows, n_out) . w.T with w (n_in, n_out)."""
    cdef Py_ssize_t i, p
    cdef const floating* gr
    if _use_loop(2, rows, n_in, n_out, path):
        for i in range(rows):
            gr = g + i * n_out
            for p in range(n_in):
                gx[i * n_in + p] = <floating>_row_dot(gr, w + p * n_out, n_out)
    else:
        _gemm(c'T', c'N', <int>n_in, <int>rows, <int>n_out, w, <int>n_out, g, <int>n_out, gx, <int>n_in)


cdef void column_sums(const floating* g, floating* out, Py_ssize_t rows, Py_ssize_t units) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef const floating* gr
    for j in range(units):
        out[j] = 0
    for i in range(rows):
        gr = g + i * units
        for j in range(units):
            out[j] = out[j] + gr[j]


# ----------------------------------------------------------------- activations
cdef inline void _activate_row(int act, const floating* z, floating* a, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating m, v
    cdef double s
    if act == ACT_RELU:
        m = 0  # a typed zero: a bare 0 literal compares in double and blocks vectorisation
        for j in range(n):
            v = z[j]
            # "v < 0 ? 0 : v" keeps NaN (as np.maximum) and compiles to a select.
            a[j] = m if v < m else v
    elif act == ACT_SIGMOID:
        for j in range(n):
            a[j] = _sigmoid(z[j])
    elif act == ACT_TANH:
        for j in range(n):
            a[j] = _tanh(z[j])
    elif act >= acts.ACT_FIRST_EXTENDED:
        acts.forward(act, <const double*>NULL, z, a, 1, n)
    elif act == ACT_SOFTMAX:
        m = _row_max(z, n)
        for j in range(n):
            a[j] = _exp(z[j] - m)
        s = _row_sum(a, n)
        m = <floating>s
        for j in range(n):
            a[j] = a[j] / m
    elif a != z:
        memcpy(a, z, n * sizeof(floating))


cdef void activation_forward(int act, const floating* z, floating* a,
                             Py_ssize_t rows, Py_ssize_t units) noexcept nogil:
    cdef Py_ssize_t i
    if act >= acts.ACT_FIRST_EXTENDED:  # Keras' other activations, at their default arguments
        acts.forward(act, <const double*>NULL, z, a, rows, units)
        return
    if act == ACT_LINEAR:
        if a != z:
            memcpy(a, z, rows * units * sizeof(floating))
        return
    if act == ACT_SOFTMAX:
        for i in range(rows):
            _activate_row(act, z + i * units, a + i * units, units)
    else:
        _activate_row(act, z, a, rows * units)


cdef void dense_forward(const floating* x, const floating* w, const floating* b, int act,
                        floating* z, floating* a,
                        Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t n_out, int path) noexcept nogil:
    """z = x . w + b; a = act(z) (a may be z), bias and activation in one pass over z."""
    cdef Py_ssize_t i, j
    cdef floating* zr
    matmul_xw(x, w, z, rows, n_in, n_out, path)
    for i in range(rows):
        zr = z + i * n_out
        if b != NULL:
            for j in range(n_out):
                zr[j] = zr[j] + b[j]
        _activate_row(act, zr, a + i * n_out, n_out)


cdef void activation_backward(int act, const floating* z, const floating* a, const floating* g,
                              floating* out, Py_ssize_t rows, Py_ssize_t units) noexcept nogil:
    cdef Py_ssize_t i, j, n = rows * units
    cdef floating s, v, zero = 0, one = 1
    cdef const floating* ar
    cdef const floating* gr
    cdef floating* outr
    if act >= acts.ACT_FIRST_EXTENDED:
        acts.backward(act, <const double*>NULL, z, a, g, out, rows, units)
    elif act == ACT_LINEAR:
        if out != g:
            memcpy(out, g, n * sizeof(floating))
    elif act == ACT_RELU:
        # Multiply by a 0/1 mask rather than select, so a NaN or inf gradient stays
        # non-finite as in NumPy; the mask is a float select (a bool-to-float cast
        # would keep gcc from vectorising the loop).
        for j in range(n):
            out[j] = g[j] * (one if z[j] > zero else zero)
    elif act == ACT_SIGMOID:
        for j in range(n):
            v = a[j]
            out[j] = g[j] * v * (1 - v)
    elif act == ACT_TANH:
        for j in range(n):
            v = a[j]
            out[j] = g[j] * (1 - v * v)
    else:
        for i in range(rows):
            ar = a + i * units
            gr = g + i * units
            outr = out + i * units
            s = <floating>_row_dot(gr, ar, units)
            for j in range(units):
                outr[j] = ar[j] * (gr[j] - s)


# ----------------------------------------------------------------------- misc
cdef bint all_finite(const floating* p, Py_ssize_t n) noexcept nogil:
    # x - x is 0 for every finite x and NaN for inf or NaN. Eight independent
    # accumulators let gcc vectorise the sum without reassociating it.
    cdef floating s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0
    cdef Py_ssize_t i = 0
    while i + 8 <= n:
        s0 = s0 + (p[i] - p[i])
        s1 = s1 + (p[i + 1] - p[i + 1])
        s2 = s2 + (p[i + 2] - p[i + 2])
        s3 = s3 + (p[i + 3] - p[i + 3])
        s4 = s4 + (p[i + 4] - p[i + 4])
        s5 = s5 + (p[i + 5] - p[i + 5])
        s6 = s6 + (p[i + 6] - p[i + 6])
        s7 = s7 + (p[i + 7] - p[i + 7])
        i += 8
    while i < n:
        s0 = s0 + (p[i] - p[i])
        i += 1
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)) == 0
