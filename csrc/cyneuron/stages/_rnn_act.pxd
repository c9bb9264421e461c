# The recurrent kinds' gate activations over one block (stages/recurrent.pxd and the cells: lstm.pxd,
# gru.pxd, simple_rnn.pxd): vectorised exp / tanh / sigmoid and the activations' derivatives.
from cython cimport floating
from libc.math cimport exp, expf

from cyneuron cimport _core as core


# ------------------------------------------------------------ activations over one gate block
# libm's expf/tanhf are scalar calls (~5-20 ns each) and dominated the step (an LSTM(64) on 50 steps
# evaluates ~0.5 M of them per forward pass). These are branch-free arithmetic that gcc vectorises
# without fast-math: exp by Cody-Waite reduction to |r| <= ln2/2, a Taylor polynomial (degree 7 in
# float, 12 in double: below an ulp) and 2**n from the exponent bits; tanh = em / (em + 2) with
# em = expm1(2|x|) = 2**n (e**r - 1) + (2**n - 1) from the same reduction (e**r - 1 a series without
# its constant term: exact at n = 0, so no cancellation near 0; one polynomial, not exp's and a series
# below 0.3466 as before: half the time of that version, at most 3.1 ulp (float) / 2.7 ulp (double)
# from tanh against 3.1 / 6.5 ulp, measured over [-20, 20]).
cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* gcc if-converts the selects below (and so vectorises the block loops) only when comparisons are
       assumed not to trap; no value changes (this is not fast-math: no reassociation, no contraction). */
    #pragma GCC push_options
    #pragma GCC optimize ("no-trapping-math")
    static inline float cyn_vexpf(float x) {
        x = x < -87.0f ? -87.0f : x;
        x = x > 88.0f ? 88.0f : x;
        float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
        float r = x - n * 0.693145751953125f;
        r = r - n * 1.42860682030941723212e-6f;
        float p = 1.0f / 5040.0f;
        p = p * r + 1.0f / 720.0f;
        p = p * r + 1.0f / 120.0f;
        p = p * r + 1.0f / 24.0f;
        p = p * r + 1.0f / 6.0f;
        p = p * r + 0.5f;
        p = p * r + 1.0f;
        p = p * r + 1.0f;
        int32_t e = ((int32_t)n + 127) << 23;
        float scale;
        memcpy(&scale, &e, sizeof scale);
        return p * scale;
    }
    static inline double cyn_vexp(double x) {
        x = x < -708.0 ? -708.0 : x;
        x = x > 709.0 ? 709.0 : x;
        double n = (x * 1.44269504088896338700 + 6755399441055744.0) - 6755399441055744.0;
        double r = x - n * 6.93147180369123816490e-01;
        r = r - n * 1.90821492927058770002e-10;
        double p = 1.0 / 479001600.0;
        p = p * r + 1.0 / 39916800.0;
        p = p * r + 1.0 / 3628800.0;
        p = p * r + 1.0 / 362880.0;
        p = p * r + 1.0 / 40320.0;
        p = p * r + 1.0 / 5040.0;
        p = p * r + 1.0 / 720.0;
        p = p * r + 1.0 / 120.0;
        p = p * r + 1.0 / 24.0;
        p = p * r + 1.0 / 6.0;
        p = p * r + 0.5;
        p = p * r + 1.0;
        p = p * r + 1.0;
        int64_t e = ((int64_t)(int32_t)n + 1023) << 52;
        double scale;
        memcpy(&scale, &e, sizeof scale);
        return p * scale;
    }
    static inline float cyn_vtanhf(float x) {
        float y = 2.0f * (x < 0.0f ? -x : x);
        y = y > 18.0f ? 18.0f : y;
        float n = (y * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
        float r = y - n * 0.693145751953125f;
        r = r - n * 1.42860682030941723212e-6f;
        float q = 1.0f / 5040.0f;
        q = q * r + 1.0f / 720.0f;
        q = q * r + 1.0f / 120.0f;
        q = q * r + 1.0f / 24.0f;
        q = q * r + 1.0f / 6.0f;
        q = q * r + 0.5f;
        q = q * r + 1.0f;
        float p = q * r;
        int32_t e = ((int32_t)n + 127) << 23;
        float scale;
        memcpy(&scale, &e, sizeof scale);
        float em = scale * p + (scale - 1.0f);
        float t = em / (em + 2.0f);
        return x < 0.0f ? -t : t;
    }
    static inline double cyn_vtanh(double x) {
        double y = 2.0 * (x < 0.0 ? -x : x);
        y = y > 40.0 ? 40.0 : y;
        double n = (y * 1.44269504088896338700 + 6755399441055744.0) - 6755399441055744.0;
        double r = y - n * 6.93147180369123816490e-01;
        r = r - n * 1.90821492927058770002e-10;
        double q = 1.0 / 87178291200.0;
        q = q * r + 1.0 / 6227020800.0;
        q = q * r + 1.0 / 479001600.0;
        q = q * r + 1.0 / 39916800.0;
        q = q * r + 1.0 / 3628800.0;
        q = q * r + 1.0 / 362880.0;
        q = q * r + 1.0 / 40320.0;
        q = q * r + 1.0 / 5040.0;
        q = q * r + 1.0 / 720.0;
        q = q * r + 1.0 / 120.0;
        q = q * r + 1.0 / 24.0;
        q = q * r + 1.0 / 6.0;
        q = q * r + 0.5;
        q = q * r + 1.0;
        double p = q * r;
        int64_t e = ((int64_t)(int32_t)n + 1023) << 52;
        double scale;
        memcpy(&scale, &e, sizeof scale);
        double em = scale * p + (scale - 1.0);
        double t = em / (em + 2.0);
        return x < 0.0 ? -t : t;
    }
    static inline float cyn_vsigmoidf(float z) {
        float e = cyn_vexpf(z >= 0.0f ? -z : z);
        return (z >= 0.0f ? 1.0f : e) / (1.0f + e);
    }
    static inline double cyn_vsigmoid(double z) {
        double e = cyn_vexp(z >= 0.0 ? -z : z);
        return (z >= 0.0 ? 1.0 : e) / (1.0 + e);
    }
    /* One source, three instruction sets chosen at load time (ifunc): the wider vectors change no
       value (the same IEEE operations per element, no fused multiply-add: -ffp-contract=off). */
    #ifndef CYN_CLONES
    #if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__AVX2__)
    #define CYN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
    #else
    #define CYN_CLONES
    #endif
    #endif
    CYN_CLONES static void cyn_tanh_block_f(float* p, Py_ssize_t n) { for (Py_ssize_t j = 0; j < n; j++) p[j] = cyn_vtanhf(p[j]); }
    CYN_CLONES static void cyn_tanh_block_d(double* p, Py_ssize_t n) { for (Py_ssize_t j = 0; j < n; j++) p[j] = cyn_vtanh(p[j]); }
    CYN_CLONES static void cyn_sigmoid_block_f(float* p, Py_ssize_t n) { for (Py_ssize_t j = 0; j < n; j++) p[j] = cyn_vsigmoidf(p[j]); }
    CYN_CLONES static void cyn_sigmoid_block_d(double* p, Py_ssize_t n) { for (Py_ssize_t j = 0; j < n; j++) p[j] = cyn_vsigmoid(p[j]); }
    #pragma GCC pop_options
    """
    void cyn_tanh_block_f(float* p, Py_ssize_t n) noexcept nogil
    void cyn_tanh_block_d(double* p, Py_ssize_t n) noexcept nogil
    void cyn_sigmoid_block_f(float* p, Py_ssize_t n) noexcept nogil
    void cyn_sigmoid_block_d(double* p, Py_ssize_t n) noexcept nogil



cdef inline void act_block(int act, floating* p, Py_ssize_t n) noexcept nogil:
    """p (n,) = act(p) in place; softmax over the block."""
    cdef Py_ssize_t j
    cdef floating m, v, zero = 0
    cdef double s
    if act == core.ACT_TANH:
        if floating is float:
            cyn_tanh_block_f(p, n)
        else:
            cyn_tanh_block_d(p, n)
    elif act == core.ACT_SIGMOID:
        if floating is float:
            cyn_sigmoid_block_f(p, n)
        else:
            cyn_sigmoid_block_d(p, n)
    elif act == core.ACT_RELU:
        for j in range(n):
            v = p[j]
            p[j] = zero if v < zero else v
    elif act == core.ACT_SOFTMAX:
        m = p[0]
        for j in range(1, n):
            if p[j] > m:
                m = p[j]
        s = 0
        for j in range(n):
            if floating is float:
                p[j] = expf(p[j] - m)
            else:
                p[j] = exp(p[j] - m)
            s += p[j]
        m = <floating>s
        for j in range(n):
            p[j] = p[j] / m


cdef inline void dact_block(int act, const floating* a, floating* g, Py_ssize_t n) noexcept nogil:
    """g (n,) = dL/dZ from g = dL/dA and the activation's output a, in place."""
    cdef Py_ssize_t j
    cdef floating v, zero = 0, one = 1
    cdef double s
    if act == core.ACT_TANH:
        for j in range(n):
            v = a[j]
            g[j] = g[j] * (1 - v * v)
    elif act == core.ACT_SIGMOID:
        for j in range(n):
            v = a[j]
            g[j] = g[j] * v * (1 - v)
    elif act == core.ACT_RELU:
        for j in range(n):
            g[j] = g[j] * (one if a[j] > zero else zero)
    elif act == core.ACT_SOFTMAX:
        s = 0
        for j in range(n):
            s += g[j] * a[j]
        v = <floating>s
        for j in range(n):
            g[j] = a[j] * (g[j] - v)

