# Kinds "simple_rnn", "lstm", "gru" (reference/recurrent.py): the whole time loop, forward and
# backpropagation through time, in one nogil call per pass.
#
# dims: [0] T, [1] F, [2] units u, [3] G = gates * u, [4] go_backwards, [5] return_sequences,
# [6] gru reset_after, [7] recurrent_activation code; act = activation code (_core's five).
# param[0] kernel (F, G), param[1] recurrent_kernel (u, G), param[2] bias (G,) / (2, G) or NULL.
#
# The design: the input projection of every time step is one product over rows * T before the
# loop, written into the gate buffer; each step is one product h_prev . U (two for a gru with
# reset_after=False) plus element-wise gate math. Backward stores dL/d(xW) per (sample, time) in
# that same buffer (overwriting the activations once read), so the kernel, recurrent kernel and
# input gradients are again single products over rows * T after the loop; per step only
# dL/dh_prev = dZ . U^T remains. Per-time buffers are indexed by the *input* time (go_backwards
# reads it reversed), the output sequence by the step.
#
# Workspaces (elements of floating, N = rows * T):
#   saved   gates         N * G        (training; inference takes it from scratch_infer)
#   saved2  H_prev        N * u        h_{t-1} of every step
#           lstm          C, AC        N * u each: the cell state c_t and act(c_t)
#           gru after     HR N * u (h_prev U_h + b_rec_h), dHU N * G (dL/d(h_prev U))
#           gru before    RH N * u (r * h_prev), dZR N * 2u, dPH N * u
#   scratch h, c, dh, dc, t1, t2 (rows * u each), hu, dz (rows * G each), U_zr, U_h, dU (u * G each)
#
# Dropout (reference/recurrent.py): f[0] dropout, f[1] recurrent_dropout, flag gate_masks (mi = mr =
# gates, else 1), seed/flag2 as the dropout kind; forward gets the key. Only in training with a rate
# > 0 (otherwise none of this runs). ``masks`` (mask_elems) holds M_in (rows, mi, F) and M_rec
# (rows, mr, u) as multipliers, XB (N * max(F, u): x or H_prev times a mask, rebuilt when needed) and,
# for per-gate input masks, W^T (G, F). Forward: the input projection reads XB = x M_in (per gate:
# one product per column block); each step's recurrent product reads h M_rec (built in dz, unused
# in forward). Backward: dL/dh_prev through the product is (dZ U^T) M_rec, the kernel gradients
# read XB, dx is (dZ W^T) M_in.
from cython cimport floating
from libc.math cimport ceil, exp, expf
from libc.stdint cimport uint64_t
from libc.string cimport memcpy, memset

from cyneuron cimport _core as core
from cyneuron cimport _rng as rng
from cyneuron.stages.stage cimport KIND_GRU, KIND_LSTM, KIND_SIMPLE_RNN, StageC


cdef inline Py_ssize_t saved2_elems(int kind, bint after, Py_ssize_t n, Py_ssize_t u, Py_ssize_t g) noexcept nogil:
    if kind == KIND_LSTM:
        return 3 * n * u
    if kind == KIND_GRU:
        return 2 * n * u + n * g if after else 5 * n * u
    return n * u


cdef inline Py_ssize_t scratch_elems(Py_ssize_t rows, Py_ssize_t u, Py_ssize_t g) noexcept nogil:
    return rows * (6 * u + 2 * g) + 3 * u * g


cdef inline Py_ssize_t _mask_count(StageC* s) noexcept nogil:
    """Masks per sample and side: one per gate with gate_masks, else 1."""
    return s.dims[3] // s.dims[2] if s.flag else 1


cdef inline Py_ssize_t mask_elems(StageC* s, Py_ssize_t rows) noexcept nogil:
    """The ``masks`` workspace (elements of floating): 0 when both rates are 0."""
    cdef Py_ssize_t T = s.dims[0], F = s.dims[1], u = s.dims[2], G = s.dims[3], m = _mask_count(s), total = 0
    if s.f[0] > 0:
        total += rows * m * F + (G * F if m > 1 else 0)
    if s.f[1] > 0:
        total += rows * m * u
    if total > 0:
        total += rows * T * (F if F > u else u)
    return total


cdef inline void _draw_masks(floating* m, Py_ssize_t count, double rate, uint64_t key, uint64_t offset) noexcept nogil:
    """m[c] = 1 / (1 - rate) where uniform(key, offset + c) < 1 - rate, else 0 (as reference.masks)."""
    cdef Py_ssize_t c
    cdef floating one = 1, zero = 0, keep_prob = <floating>(1.0 - rate)
    cdef floating scale = zero if rate >= 1 else one / keep_prob
    # uniform < 1 - rate  <=>  top53 < ceil((1 - rate) * 2**53), exactly (stages/dropout.pxd)
    cdef uint64_t threshold = <uint64_t>ceil((1.0 - rate) * 9007199254740992.0)
    for c in range(count):
        m[c] = scale if rng.top53(key, offset + <uint64_t>c) < threshold else zero


cdef inline void _times_mask(const floating* a, const floating* m, Py_ssize_t sm, floating* out, Py_ssize_t rows,
                             Py_ssize_t T, Py_ssize_t w) noexcept nogil:
    """out (rows * T, w) = a (rows * T, w) times sample r's mask row m + r * sm (the same at every step)."""
    cdef Py_ssize_t r, t, j
    cdef const floating* ar
    cdef const floating* mr
    cdef floating* o
    for r in range(rows):
        mr = m + r * sm
        for t in range(T):
            ar = a + (r * T + t) * w
            o = out + (r * T + t) * w
            for j in range(w):
                o[j] = ar[j] * mr[j]


# ------------------------------------------------------------ activations over one gate block
# libm's expf/tanhf are scalar calls (~5-20 ns each) and dominated the step (an LSTM(64) on 50 steps
# evaluates ~0.5 M of them per forward pass). These are branch-free arithmetic that gcc vectorises
# without fast-math: exp by Cody-Waite reduction to |r| <= ln2/2, a Taylor polynomial (degree 7 in
# float, 12 in double: below an ulp) and 2**n from the exponent bits; tanh = em / (em + 2) with
# em = expm1(2|x|) (a series below 0.3466, exp - 1 above: no cancellation either way).
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
        float q = 1.0f / 40320.0f;
        q = q * y + 1.0f / 5040.0f;
        q = q * y + 1.0f / 720.0f;
        q = q * y + 1.0f / 120.0f;
        q = q * y + 1.0f / 24.0f;
        q = q * y + 1.0f / 6.0f;
        q = q * y + 0.5f;
        q = q * y + 1.0f;
        float small = q * y;
        float big = cyn_vexpf(y) - 1.0f;
        float em = y < 0.3466f ? small : big;
        float t = em / (em + 2.0f);
        return x < 0.0f ? -t : t;
    }
    static inline double cyn_vtanh(double x) {
        double y = 2.0 * (x < 0.0 ? -x : x);
        y = y > 40.0 ? 40.0 : y;
        double q = 1.0 / 6227020800.0;
        q = q * y + 1.0 / 479001600.0;
        q = q * y + 1.0 / 39916800.0;
        q = q * y + 1.0 / 3628800.0;
        q = q * y + 1.0 / 362880.0;
        q = q * y + 1.0 / 40320.0;
        q = q * y + 1.0 / 5040.0;
        q = q * y + 1.0 / 720.0;
        q = q * y + 1.0 / 120.0;
        q = q * y + 1.0 / 24.0;
        q = q * y + 1.0 / 6.0;
        q = q * y + 0.5;
        q = q * y + 1.0;
        double small = q * y;
        double big = cyn_vexp(y) - 1.0;
        double em = y < 0.3466 ? small : big;
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
    #if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__AVX2__)
    #define CYN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
    #else
    #define CYN_CLONES
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


# ------------------------------------------------------------ the per-step products (float32)
# Each step's h_prev . U (32 x 64 . 64 x 256 in the benchmark) and dZ . U^T are too small for sgemm:
# OpenBLAS packs the whole of U again on every call (its copy routines took ~1/3 of its time) and the
# call has a fixed cost. This kernel reads B (U, or U^T transposed once per pass) in place: column
# panels of 16 * NV floats, row blocks of MR rows accumulated in registers over the whole of K, so a
# panel (K * 64 bytes) stays in L1 across the row blocks. Every output element is the sum over k in
# order from 0 (then stored, or added to C): the same value at every vector width, so the SSE2, AVX2
# and AVX-512 versions (chosen once at run time) agree bitwise. A's elements are at A[i*sai + k*sak].
cdef extern from *:
    """
    #include <stdlib.h>
    /* CYN_GEMM_DEFINE(SUF, ATTR, VW, MR, NV): the kernels for vectors of VW floats (a native register
       of the target ATTR), register blocks of MR rows x NV vectors. */
    #define CYN_GEMM_DEFINE(SUF, ATTR, VW, MR, NV) \\
    typedef float cyn_v_##SUF __attribute__((vector_size(4 * VW))); \\
    static inline __attribute__((always_inline)) ATTR void cyn_mk_##SUF( \\
            const int R, const int nv, Py_ssize_t K, const float* A, Py_ssize_t sai, Py_ssize_t sak, \\
            const float* B, Py_ssize_t ldb, float* C, Py_ssize_t ldc, int add) { \\
        cyn_v_##SUF acc[MR][NV]; \\
        _Pragma("GCC unroll 16") for (int r = 0; r < R; r++) \\
            _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++) acc[r][v] = (cyn_v_##SUF){0}; \\
        for (Py_ssize_t k = 0; k < K; k++) { \\
            cyn_v_##SUF b[NV]; \\
            _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++) memcpy(&b[v], B + k * ldb + VW * v, sizeof b[v]); \\
            _Pragma("GCC unroll 16") for (int r = 0; r < R; r++) { \\
                float a = A[r * sai + k * sak]; \\
                _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++) acc[r][v] = acc[r][v] + a * b[v]; \\
            } \\
        } \\
        _Pragma("GCC unroll 16") for (int r = 0; r < R; r++) \\
            _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++) { \\
                float* c = C + r * ldc + VW * v; \\
                cyn_v_##SUF out = acc[r][v]; \\
                if (add) { cyn_v_##SUF old; memcpy(&old, c, sizeof old); out = old + out; } \\
                memcpy(c, &out, sizeof out); \\
            } \\
    } \\
    static inline __attribute__((always_inline)) ATTR void cyn_rows_##SUF( \\
            const int nv, Py_ssize_t M, Py_ssize_t K, const float* A, Py_ssize_t sai, Py_ssize_t sak, \\
            const float* B, Py_ssize_t ldb, float* C, Py_ssize_t ldc, int add) { \\
        Py_ssize_t i = 0; \\
        for (; i + MR <= M; i += MR) cyn_mk_##SUF(MR, nv, K, A + i * sai, sai, sak, B, ldb, C + i * ldc, ldc, add); \\
        A += i * sai; C += i * ldc; \\
        switch (M - i) { \\
            case 1: cyn_mk_##SUF(1, nv, K, A, sai, sak, B, ldb, C, ldc, add); break; \\
            case 2: if (MR > 2) cyn_mk_##SUF(2, nv, K, A, sai, sak, B, ldb, C, ldc, add); break; \\
            case 3: if (MR > 3) cyn_mk_##SUF(3, nv, K, A, sai, sak, B, ldb, C, ldc, add); break; \\
            case 4: if (MR > 4) cyn_mk_##SUF(4, nv, K, A, sai, sak, B, ldb, C, ldc, add); break; \\
            case 5: if (MR > 5) cyn_mk_##SUF(5, nv, K, A, sai, sak, B, ldb, C, ldc, add); break; \\
            case 6: if (MR > 6) cyn_mk_##SUF(6, nv, K, A, sai, sak, B, ldb, C, ldc, add); break; \\
            case 7: if (MR > 7) cyn_mk_##SUF(7, nv, K, A, sai, sak, B, ldb, C, ldc, add); break; \\
            default: break; \\
        } \\
    } \\
    static ATTR void cyn_gemm_##SUF(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float* A, Py_ssize_t sai, \\
            Py_ssize_t sak, const float* B, Py_ssize_t ldb, float* C, Py_ssize_t ldc, int add) { \\
        Py_ssize_t j = 0; \\
        for (; j + VW * NV <= N; j += VW * NV) cyn_rows_##SUF(NV, M, K, A, sai, sak, B + j, ldb, C + j, ldc, add); \\
        for (; j + VW <= N; j += VW) cyn_rows_##SUF(1, M, K, A, sai, sak, B + j, ldb, C + j, ldc, add); \\
        for (; j < N; j++) \\
            for (Py_ssize_t i = 0; i < M; i++) { \\
                float s = 0.0f; \\
                for (Py_ssize_t k = 0; k < K; k++) s = s + A[i * sai + k * sak] * B[k * ldb + j]; \\
                float* c = C + i * ldc + j; \\
                *c = add ? *c + s : s; \\
            } \\
    }
    /* every output element: s = 0; s = s + a_k * b_k for k = 0 .. K-1; then C = s or C = C + s */
    CYN_GEMM_DEFINE(sse2, , 4, 6, 2)
    #if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    CYN_GEMM_DEFINE(avx2, __attribute__((target("avx2"))), 8, 6, 2)
    CYN_GEMM_DEFINE(avx512, __attribute__((target("avx512f"))), 16, 8, 2)
    #define CYN_HAVE_X86_DISPATCH 1
    #endif
    typedef void (*cyn_gemm_fn)(Py_ssize_t, Py_ssize_t, Py_ssize_t, const float*, Py_ssize_t, Py_ssize_t,
                                const float*, Py_ssize_t, float*, Py_ssize_t, int);
    static cyn_gemm_fn cyn_gemm_impl = NULL;
    /* The widest the CPU (and OS) supports; CYNEURON_RNN_ISA=sse2|avx2|avx512 caps it (tests, benchmarks). */
    static cyn_gemm_fn cyn_gemm_choose(void) {
        cyn_gemm_fn f = cyn_gemm_sse2;
    #ifdef CYN_HAVE_X86_DISPATCH
        const char* cap = getenv("CYNEURON_RNN_ISA");
        int level = 2;
        if (cap != NULL) level = strcmp(cap, "sse2") == 0 ? 0 : strcmp(cap, "avx2") == 0 ? 1 : 2;
        __builtin_cpu_init();
        if (level >= 2 && __builtin_cpu_supports("avx512f")) f = cyn_gemm_avx512;
        else if (level >= 1 && __builtin_cpu_supports("avx2")) f = cyn_gemm_avx2;
    #endif
        return f;
    }
    /* C (M, N) = A . B, or C += A . B with add; B (K, N) row-major with row stride ldb, C with ldc. */
    static void cyn_gemm(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float* A, Py_ssize_t sai, Py_ssize_t sak,
                         const float* B, Py_ssize_t ldb, float* C, Py_ssize_t ldc, int add) {
        cyn_gemm_fn f = cyn_gemm_impl;
        if (f == NULL) cyn_gemm_impl = f = cyn_gemm_choose();
        f(M, N, K, A, sai, sak, B, ldb, C, ldc, add);
    }
    """
    void cyn_gemm(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float* A, Py_ssize_t sai, Py_ssize_t sak,
                  const float* B, Py_ssize_t ldb, float* C, Py_ssize_t ldc, int add) noexcept nogil


cdef inline void _xt_g(const floating* x, const floating* g, floating* gw, Py_ssize_t n, Py_ssize_t n_in,
                       Py_ssize_t n_out, int path) noexcept nogil:
    """gw (n_in, n_out) = x.T . g over x (n, n_in), g (n, n_out): the weight gradients over rows * T.

    float32: cyn_gemm over chunks of 256 rows of g (a chunk of the gates, <= 256 KB, stays in L2 for all
    the row blocks), the first chunk stored and the others added: a fixed order of summation."""
    cdef Py_ssize_t k0 = 0, kc
    if floating is float:
        while k0 < n:
            kc = n - k0 if n - k0 < 256 else 256
            cyn_gemm(n_in, n_out, kc, x + k0 * n_in, 1, n_in, g + k0 * n_out, n_out, gw, n_out, k0 > 0)
            k0 += kc
        if n == 0:
            memset(gw, 0, n_in * n_out * sizeof(floating))
    else:
        core.matmul_xt_g(x, g, gw, n, n_in, n_out, path)


cdef inline void _step_product(const floating* A, Py_ssize_t sai, const floating* B, Py_ssize_t ldb,
                               floating* C, Py_ssize_t ldc, Py_ssize_t M, Py_ssize_t K, Py_ssize_t N,
                               bint add, floating* tmp, int path) noexcept nogil:
    """C (M, N; row stride ldc) = or += A (M, K; row stride sai) . B (K, N; row stride ldb).

    float32: cyn_gemm. float64: _core's products through tmp (M * N, contiguous) when a stride is not the
    dense one (A and B must then be dense)."""
    cdef Py_ssize_t i, j
    cdef floating* cr
    cdef const floating* tr
    if floating is float:
        cyn_gemm(M, N, K, A, sai, 1, B, ldb, C, ldc, add)
    else:
        if not add and ldc == N:
            core.matmul_xw(A, B, C, M, K, N, path)
            return
        core.matmul_xw(A, B, tmp, M, K, N, path)
        for i in range(M):
            cr = C + i * ldc
            tr = tmp + i * N
            if add:
                for j in range(N):
                    cr[j] = cr[j] + tr[j]
            else:
                memcpy(cr, tr, N * sizeof(floating))


cdef inline void _gemm_s(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const floating* A, Py_ssize_t sai, Py_ssize_t sak,
                         const floating* B, Py_ssize_t ldb, floating* C, Py_ssize_t ldc, bint add) noexcept nogil:
    """C (M, N; ldc) = or += A (M, K; strides sai, sak) . B (K, N; ldb), any strides (the dropout paths'
    column blocks). float32: cyn_gemm; float64: a plain loop over k for each row (vectorises over j)."""
    cdef Py_ssize_t i, j, k
    cdef floating a
    cdef floating* cr
    cdef const floating* br
    if floating is float:
        cyn_gemm(M, N, K, A, sai, sak, B, ldb, C, ldc, add)
    else:
        for i in range(M):
            cr = C + i * ldc
            if not add:
                memset(cr, 0, N * sizeof(floating))
            for k in range(K):
                a = A[i * sai + k * sak]
                br = B + k * ldb
                for j in range(N):
                    cr[j] = cr[j] + a * br[j]


cdef inline void _xt_g_block(const floating* x, const floating* g, Py_ssize_t ldg, floating* gw, Py_ssize_t ldw,
                             Py_ssize_t n, Py_ssize_t n_in, Py_ssize_t n_out) noexcept nogil:
    """gw (n_in, n_out; row stride ldw) = x.T . g over x (n, n_in) dense, g (n, n_out; row stride ldg)."""
    cdef Py_ssize_t k0 = 0, kc, p
    while k0 < n:
        kc = n - k0 if n - k0 < 256 else 256
        _gemm_s(n_in, n_out, kc, x + k0 * n_in, 1, n_in, g + k0 * ldg, ldg, gw, ldw, k0 > 0)
        k0 += kc
    if n == 0:
        for p in range(n_in):
            memset(gw + p * ldw, 0, n_out * sizeof(floating))


cdef inline void _xt_g_masked(StageC* s, const floating* a, const floating* m, Py_ssize_t mc, Py_ssize_t w,
                              floating* xb, const floating* g, Py_ssize_t ldg, floating* gw, Py_ssize_t ldw,
                              Py_ssize_t rows, Py_ssize_t blocks) noexcept nogil:
    """The kernel gradient of a masked product: gw (w, blocks * u) = (a M_k).T . g over column block k
    (mc masks per sample: block k reads mask k, or mask 0 when mc == 1)."""
    cdef Py_ssize_t T = s.dims[0], u = s.dims[2], k, n = rows * T
    if mc == 1:
        _times_mask(a, m, w, xb, rows, T, w)
        if ldg == blocks * u and ldw == blocks * u:
            _xt_g(xb, g, gw, n, w, blocks * u, s.path)
        else:
            _xt_g_block(xb, g, ldg, gw, ldw, n, w, blocks * u)
        return
    for k in range(blocks):
        _times_mask(a, m + k * w, mc * w, xb, rows, T, w)
        _xt_g_block(xb, g + k * u, ldg, gw + k * u, ldw, n, w, u)


cdef inline void _act_block(int act, floating* p, Py_ssize_t n) noexcept nogil:
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


cdef inline void _dact_block(int act, const floating* a, floating* g, Py_ssize_t n) noexcept nogil:
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


# ------------------------------------------------------------------------- forward
cdef inline void forward(floating* tag, StageC* s, const floating* x, floating* y, Py_ssize_t rows,
                         bint training, uint64_t key) noexcept nogil:
    """y = the layer's output (rows, T*u or u) for x (rows, T*F); training saves what backward needs
    (and, with a dropout rate > 0, draws the masks from ``key``)."""
    cdef Py_ssize_t T = s.dims[0], F = s.dims[1], u = s.dims[2], G = s.dims[3]
    cdef bint back = s.dims[4] != 0, seq = s.dims[5] != 0, after = s.dims[6] != 0
    cdef int ra = <int>s.dims[7], ac = s.act, kind = s.kind
    cdef Py_ssize_t n = rows * T, r, t, tx, j, p
    cdef const floating* W = <const floating*>s.param[0]
    cdef const floating* U = <const floating*>s.param[1]
    cdef const floating* b = <const floating*>s.param[2] if s.n_params > 2 else NULL
    cdef floating* gates
    cdef floating* work
    cdef floating* Hp = NULL
    cdef floating* X2 = NULL
    cdef floating *h, *c, *dh, *dc, *t1, *t2, *hu, *dz, *Uzr, *Uh
    cdef floating *g, *hr, *cr, *hp
    cdef floating one = 1
    # dropout (training with a rate > 0 only): masks, x times the input mask, h times the recurrent one
    cdef bint drop_in = training and s.f[0] > 0, drop_rec = training and s.f[1] > 0
    cdef Py_ssize_t mc = _mask_count(s), k, hs = u
    cdef floating* Min = NULL
    cdef floating* Mrec = NULL
    cdef floating* XB = NULL
    cdef floating* hm = NULL
    cdef floating* mrow
    cdef const floating* xin = x
    cdef const floating* hin
    if drop_in or drop_rec:
        Min = <floating*>s.masks
        Mrec = Min + (rows * mc * F + (G * F if mc > 1 else 0) if drop_in else 0)
        XB = Mrec + (rows * mc * u if drop_rec else 0)
        if drop_in:
            _draw_masks(Min, rows * mc * F, s.f[0], key, 0)
        if drop_rec:
            _draw_masks(Mrec, rows * mc * u, s.f[1], key, <uint64_t>1 << 63)
    if training:
        gates = <floating*>s.saved
        work = <floating*>s.scratch
        Hp = <floating*>s.saved2
        X2 = Hp + n * u
    else:
        gates = <floating*>s.scratch_infer
        work = gates + n * G
    h = work
    c = h + rows * u
    dh = c + rows * u
    dc = dh + rows * u
    t1 = dc + rows * u
    t2 = t1 + rows * u
    hu = t2 + rows * u
    dz = hu + rows * G
    Uzr = dz + rows * G
    Uh = Uzr + u * G

    # the input projection of every time step: one product over rows * T
    if drop_in and mc > 1:  # one input mask per gate: a product per column block
        if b != NULL:
            for p in range(n):
                memcpy(gates + p * G, b, G * sizeof(floating))
        for k in range(mc):
            _times_mask(x, Min + k * F, mc * F, XB, rows, T, F)
            _gemm_s(n, u, F, XB, F, 1, W + k * u, G, gates + k * u, G, b != NULL)
    else:
        if drop_in:
            _times_mask(x, Min, F, XB, rows, T, F)
            xin = XB
        if floating is float:
            # the bias rows first, then the product added to them (b + xW: the same sum as xW + b)
            if b != NULL:
                for p in range(n):
                    memcpy(gates + p * G, b, G * sizeof(floating))
            cyn_gemm(n, G, F, xin, F, 1, W, G, gates, G, b != NULL)
        else:
            core.matmul_xw(xin, W, gates, n, F, G, s.path)
            if b != NULL:
                for p in range(n):
                    g = gates + p * G
                    for j in range(G):
                        g[j] = g[j] + b[j]
    hin = h
    if drop_rec:
        hm = dz  # h times the recurrent mask(s): (rows, mc * u)
        hs = mc * u
        if mc == 1:
            hin = hm
    memset(h, 0, rows * u * sizeof(floating))
    memset(c, 0, rows * u * sizeof(floating))
    if kind == KIND_GRU and not after:
        for p in range(u):
            memcpy(Uzr + p * 2 * u, U + p * G, 2 * u * sizeof(floating))
            memcpy(Uh + p * u, U + p * G + 2 * u, u * sizeof(floating))

    for t in range(T):
        tx = T - 1 - t if back else t
        if training:
            for r in range(rows):
                memcpy(Hp + (r * T + tx) * u, h + r * u, u * sizeof(floating))
        if drop_rec:
            for r in range(rows):
                for k in range(mc):
                    mrow = Mrec + (r * mc + k) * u
                    hr = hm + (r * mc + k) * u
                    cr = h + r * u
                    for j in range(u):
                        hr[j] = cr[j] * mrow[j]
        # the recurrent product (h_prev = 0 at the first step), added to the step's gate rows in place
        # (row stride T * G) except for a gru with reset_after (its h_prev . U_h stays apart); with
        # per-gate recurrent masks, one product per gate's column block
        if kind == KIND_GRU and after:
            if t > 0 and drop_rec and mc > 1:
                for k in range(3):
                    _gemm_s(rows, u, u, hm + k * u, hs, 1, U + k * u, G, hu + k * u, G, False)
            elif t > 0:
                _step_product(hin, u, U, G, hu, G, rows, u, G, False, hu, s.path)
            else:
                memset(hu, 0, rows * G * sizeof(floating))
        elif t > 0 and drop_rec and mc > 1:
            for k in range(2 if kind == KIND_GRU else mc):
                _gemm_s(rows, u, u, hm + k * u, hs, 1, U + k * u, G, gates + tx * G + k * u, T * G, True)
        elif t > 0:
            if kind == KIND_GRU:
                _step_product(hin, u, Uzr, 2 * u, gates + tx * G, T * G, rows, u, 2 * u, True, hu, s.path)
            else:
                _step_product(hin, u, U, G, gates + tx * G, T * G, rows, u, G, True, hu, s.path)

        if kind == KIND_SIMPLE_RNN:
            for r in range(rows):
                g = gates + (r * T + tx) * G
                _act_block(ac, g, u)
                memcpy(h + r * u, g, u * sizeof(floating))
        elif kind == KIND_LSTM:
            for r in range(rows):
                g = gates + (r * T + tx) * G
                _act_block(ra, g, u)
                _act_block(ra, g + u, u)
                _act_block(ac, g + 2 * u, u)
                _act_block(ra, g + 3 * u, u)
                cr = c + r * u
                for j in range(u):
                    cr[j] = g[u + j] * cr[j] + g[j] * g[2 * u + j]
                if training:
                    memcpy(X2 + (r * T + tx) * u, cr, u * sizeof(floating))
                    hp = X2 + n * u + (r * T + tx) * u  # act(c_t), kept for backward
                else:
                    hp = t1 + r * u
                memcpy(hp, cr, u * sizeof(floating))
                _act_block(ac, hp, u)
                hr = h + r * u
                for j in range(u):
                    hr[j] = g[3 * u + j] * hp[j]
        elif after:
            for r in range(rows):
                g = gates + (r * T + tx) * G
                hr = hu + r * G
                if b != NULL:
                    for j in range(G):
                        hr[j] = hr[j] + b[G + j]
                for j in range(2 * u):
                    g[j] = g[j] + hr[j]
                _act_block(ra, g, u)
                _act_block(ra, g + u, u)
                if training:
                    memcpy(X2 + (r * T + tx) * u, hr + 2 * u, u * sizeof(floating))
                for j in range(u):
                    g[2 * u + j] = g[2 * u + j] + g[u + j] * hr[2 * u + j]
                _act_block(ac, g + 2 * u, u)
                hp = h + r * u
                for j in range(u):
                    hp[j] = g[j] * hp[j] + (one - g[j]) * g[2 * u + j]
        else:
            for r in range(rows):
                g = gates + (r * T + tx) * G
                _act_block(ra, g, u)
                _act_block(ra, g + u, u)
                hp = h + r * u if not drop_rec else hm + (r * mc + mc - 1) * u  # the candidate's h_prev
                cr = t1 + r * u
                for j in range(u):
                    cr[j] = g[u + j] * hp[j]
                if training:
                    memcpy(X2 + (r * T + tx) * u, cr, u * sizeof(floating))
            _step_product(t1, u, Uh, u, gates + tx * G + 2 * u, T * G, rows, u, u, True, hu, s.path)
            for r in range(rows):
                g = gates + (r * T + tx) * G
                _act_block(ac, g + 2 * u, u)
                hp = h + r * u
                for j in range(u):
                    hp[j] = g[j] * hp[j] + (one - g[j]) * g[2 * u + j]
        if seq:
            for r in range(rows):
                memcpy(y + (r * T + t) * u, h + r * u, u * sizeof(floating))
    if not seq:
        memcpy(y, h, rows * u * sizeof(floating))


# ------------------------------------------------------------------------ backward
# One row of an lstm step with sigmoid gates and tanh, the general path's expressions fused (as Cython
# writes them: the literal 1 is a double, so 1 - v*v and what it multiplies are double, then rounded):
# g (4u) the gates' activations in, dL/dZ out (also into d); hp act(c_t); cp c_{t-1} (zeros at the first
# step); dh dL/dh_t; dc dL/dc_t in, dL/dc_{t-1} out. C with restrict so that it vectorises.
cdef extern from *:
    """
    /* one pointer per gate block: gcc (12) does not vectorise the loop over g[j], g[u + j], ... */
    #define CYN_LSTM_BACK(NAME, T) \\
    CYN_CLONES static void NAME##_rows(T* restrict gI, T* restrict gF, T* restrict gG, T* restrict gO, \\
            T* restrict dI, T* restrict dF, T* restrict dG, T* restrict dO, const T* restrict hp, \\
            const T* restrict cp, const T* restrict dh, T* restrict dc, Py_ssize_t u) { \\
        for (Py_ssize_t j = 0; j < u; j++) { \\
            T gi = gI[j], gf = gF[j], gg = gG[j], go = gO[j], a = hp[j], e, dcj, v; \\
            e = dh[j] * go; \\
            e = e * (1.0 - a * a); \\
            dcj = dc[j] + e; \\
            v = dcj * gg; \\
            v = (v * gi) * (1.0 - gi); \\
            dI[j] = v; gI[j] = v; \\
            v = dcj * cp[j]; \\
            v = (v * gf) * (1.0 - gf); \\
            dF[j] = v; gF[j] = v; \\
            v = dcj * gi; \\
            v = v * (1.0 - gg * gg); \\
            dG[j] = v; gG[j] = v; \\
            v = dh[j] * a; \\
            v = (v * go) * (1.0 - go); \\
            dO[j] = v; gO[j] = v; \\
            dc[j] = dcj * gf; \\
        } \\
    } \\
    static inline void NAME(T* g, T* d, const T* hp, const T* cp, const T* dh, T* dc, Py_ssize_t u) { \\
        NAME##_rows(g, g + u, g + 2 * u, g + 3 * u, d, d + u, d + 2 * u, d + 3 * u, hp, cp, dh, dc, u); \\
    }
    /* a gru with reset_after, sigmoid gates and tanh: the general path's expressions (one is a T, the
       literal 1 a double). In: g (3u) activations, hp h_prev, cr h_prev U_h + b, dh. Out: g = dL/dZ_x
       (the input side), d and x3 = dL/d(h_prev U), dh = the direct part of dL/dh_prev. */
    #define CYN_GRU_BACK(NAME, T) \\
    CYN_CLONES static void NAME##_rows(T* restrict gZ, T* restrict gR, T* restrict gH, T* restrict dZ, \\
            T* restrict dR, T* restrict dH, T* restrict xZ, T* restrict xR, T* restrict xH, \\
            const T* restrict hp, const T* restrict cr, T* restrict dh, Py_ssize_t u) { \\
        const T one = 1; \\
        for (Py_ssize_t j = 0; j < u; j++) { \\
            T z = gZ[j], r = gR[j], hh = gH[j], dhj = dh[j], vz, vr, vh; \\
            vz = dhj * (hp[j] - hh); \\
            vh = dhj * (one - z); \\
            dh[j] = dhj * z; \\
            vz = (vz * z) * (1.0 - z); \\
            vh = vh * (1.0 - hh * hh); \\
            vr = vh * cr[j]; \\
            vr = (vr * r) * (1.0 - r); \\
            gZ[j] = vz; gR[j] = vr; gH[j] = vh; \\
            dZ[j] = vz; dR[j] = vr; xZ[j] = vz; xR[j] = vr; \\
            vh = vh * r; \\
            dH[j] = vh; xH[j] = vh; \\
        } \\
    } \\
    static inline void NAME(T* g, T* d, T* x3, const T* hp, const T* cr, T* dh, Py_ssize_t u) { \\
        NAME##_rows(g, g + u, g + 2 * u, d, d + u, d + 2 * u, x3, x3 + u, x3 + 2 * u, hp, cr, dh, u); \\
    }
    #pragma GCC push_options
    #pragma GCC optimize ("no-trapping-math")
    CYN_LSTM_BACK(cyn_lstm_back_f, float)
    CYN_LSTM_BACK(cyn_lstm_back_d, double)
    CYN_GRU_BACK(cyn_gru_back_f, float)
    CYN_GRU_BACK(cyn_gru_back_d, double)
    #pragma GCC pop_options
    """
    void cyn_gru_back_f(float* g, float* d, float* x3, const float* hp, const float* cr, float* dh,
                        Py_ssize_t u) noexcept nogil
    void cyn_gru_back_d(double* g, double* d, double* x3, const double* hp, const double* cr, double* dh,
                        Py_ssize_t u) noexcept nogil
    void cyn_lstm_back_f(float* g, float* d, const float* hp, const float* cp, const float* dh, float* dc,
                         Py_ssize_t u) noexcept nogil
    void cyn_lstm_back_d(double* g, double* d, const double* hp, const double* cp, const double* dh,
                         double* dc, Py_ssize_t u) noexcept nogil


cdef inline void _lstm_step_back(floating* g, floating* d, const floating* hp, const floating* cp,
                                 const floating* dh, floating* dc, Py_ssize_t u) noexcept nogil:
    if floating is float:
        cyn_lstm_back_f(g, d, hp, cp, dh, dc, u)
    else:
        cyn_lstm_back_d(g, d, hp, cp, dh, dc, u)


cdef inline void backward(floating* tag, StageC* s, const floating* x, const floating* y, const floating* dy,
                          floating* dx, Py_ssize_t rows) noexcept nogil:
    """Backpropagation through time from dy (rows, T*u or u): grad[0..2] (trainable), dx (need_dx)."""
    cdef Py_ssize_t T = s.dims[0], F = s.dims[1], u = s.dims[2], G = s.dims[3]
    cdef bint back = s.dims[4] != 0, seq = s.dims[5] != 0, after = s.dims[6] != 0
    cdef int ra = <int>s.dims[7], ac = s.act, kind = s.kind
    cdef Py_ssize_t n = rows * T, r, t, tx, txp, j, p
    cdef const floating* W = <const floating*>s.param[0]
    cdef const floating* U = <const floating*>s.param[1]
    cdef bint has_bias = s.n_params > 2
    cdef floating* gates = <floating*>s.saved
    cdef floating* Hp = <floating*>s.saved2
    cdef floating* X2 = Hp + n * u
    cdef floating* X3 = X2 + n * u
    cdef floating* X4 = NULL
    cdef floating* work = <floating*>s.scratch
    cdef floating *h, *c, *dh, *dc, *t1, *t2, *hu, *dz, *Uzr, *Uh, *dU
    cdef floating *g, *d, *hp, *cr, *cp, *dhr, *e
    cdef floating one = 1, zero = 0, dhj, dcj
    cdef floating* gw
    cdef bint drop_in = s.f[0] > 0, drop_rec = s.f[1] > 0
    cdef Py_ssize_t mc = _mask_count(s), k, blocks
    cdef floating* Min = NULL
    cdef floating* Mrec = NULL
    cdef floating* XB = NULL
    cdef floating* WT = NULL
    cdef floating* mrow
    if drop_in or drop_rec:
        Min = <floating*>s.masks
        WT = Min + rows * mc * F
        Mrec = Min + (rows * mc * F + (G * F if mc > 1 else 0) if drop_in else 0)
        XB = Mrec + (rows * mc * u if drop_rec else 0)
    h = work
    c = h + rows * u
    dh = c + rows * u
    dc = dh + rows * u
    t1 = dc + rows * u
    t2 = t1 + rows * u
    hu = t2 + rows * u
    dz = hu + rows * G
    Uzr = dz + rows * G
    Uh = Uzr + u * G
    dU = Uh + u * G
    cdef floating* Ut = dU  # U^T (G, u) during the loop; a gru without reset_after: U_zr^T (2u, u), U_h^T (u, u)
    cdef floating* UhT = dU + 2 * u * u
    cdef Py_ssize_t K = 2 * u if kind == KIND_GRU and not after else G
    if kind == KIND_GRU and not after:
        X4 = X3 + n * 2 * u
        for p in range(u):
            for j in range(2 * u):
                Ut[j * u + p] = U[p * G + j]
            for j in range(u):
                UhT[j * u + p] = U[p * G + 2 * u + j]
    else:
        for p in range(u):
            for j in range(G):
                Ut[j * u + p] = U[p * G + j]
    memset(dh, 0, rows * u * sizeof(floating))
    memset(dc, 0, rows * u * sizeof(floating))
    memset(c, 0, rows * u * sizeof(floating))

    t = T - 1
    while t >= 0:
        tx = T - 1 - t if back else t
        txp = tx + 1 if back else tx - 1  # the input time of the step before (t > 0)
        if seq:
            for r in range(rows):
                dhr = dh + r * u
                for j in range(u):
                    dhr[j] = dhr[j] + dy[(r * T + t) * u + j]
        elif t == T - 1:
            memcpy(dh, dy, rows * u * sizeof(floating))

        if kind == KIND_SIMPLE_RNN:
            for r in range(rows):
                g = gates + (r * T + tx) * G
                d = dz + r * G
                memcpy(d, dh + r * u, u * sizeof(floating))
                _dact_block(ac, g, d, u)
                memcpy(g, d, u * sizeof(floating))
        elif kind == KIND_LSTM and ra == core.ACT_SIGMOID and ac == core.ACT_TANH:
            # the default activations in one pass per row, the same expressions as the general path
            # below: dL/dZ written over the gates (and into dz for the product)
            for r in range(rows):
                g = gates + (r * T + tx) * G
                d = dz + r * G
                hp = X2 + n * u + (r * T + tx) * u          # act(c_t)
                cp = X2 + (r * T + txp) * u if t > 0 else c + r * u  # c: zeros here
                dhr = dh + r * u
                cr = dc + r * u
                _lstm_step_back(g, d, hp, cp, dhr, cr, u)
        elif kind == KIND_LSTM:
            for r in range(rows):
                g = gates + (r * T + tx) * G
                d = dz + r * G
                cr = X2 + (r * T + tx) * u
                hp = X2 + n * u + (r * T + tx) * u         # act(c_t)
                e = t2 + r * u
                dhr = dh + r * u
                for j in range(u):
                    e[j] = dhr[j] * g[3 * u + j]
                _dact_block(ac, hp, e, u)                  # dL/dc_t through h
                for j in range(u):
                    dcj = dc[r * u + j] + e[j]
                    d[j] = dcj * g[2 * u + j]              # di
                    d[2 * u + j] = dcj * g[j]              # dg
                    d[u + j] = dcj * (X2[(r * T + txp) * u + j] if t > 0 else zero)  # df
                    d[3 * u + j] = dhr[j] * hp[j]          # do
                    dc[r * u + j] = dcj * g[u + j]
                _dact_block(ra, g, d, u)
                _dact_block(ra, g + u, d + u, u)
                _dact_block(ac, g + 2 * u, d + 2 * u, u)
                _dact_block(ra, g + 3 * u, d + 3 * u, u)
                memcpy(g, d, G * sizeof(floating))
        elif after and ra == core.ACT_SIGMOID and ac == core.ACT_TANH:
            for r in range(rows):  # the general path below in one pass per row (the same expressions)
                g = gates + (r * T + tx) * G
                if floating is float:
                    cyn_gru_back_f(g, dz + r * G, X3 + (r * T + tx) * G, Hp + (r * T + tx) * u,
                                   X2 + (r * T + tx) * u, dh + r * u, u)
                else:
                    cyn_gru_back_d(g, dz + r * G, X3 + (r * T + tx) * G, Hp + (r * T + tx) * u,
                                   X2 + (r * T + tx) * u, dh + r * u, u)
        elif after:
            for r in range(rows):
                g = gates + (r * T + tx) * G
                d = dz + r * G
                hp = Hp + (r * T + tx) * u
                dhr = dh + r * u
                cr = X2 + (r * T + tx) * u
                for j in range(u):
                    dhj = dhr[j]
                    d[j] = dhj * (hp[j] - g[2 * u + j])
                    d[2 * u + j] = dhj * (one - g[j])
                    dhr[j] = dhj * g[j]
                _dact_block(ra, g, d, u)                   # dpz
                _dact_block(ac, g + 2 * u, d + 2 * u, u)   # dph
                for j in range(u):
                    d[u + j] = d[2 * u + j] * cr[j]
                _dact_block(ra, g + u, d + u, u)           # dpr
                e = X3 + (r * T + tx) * G                  # dHU row
                for j in range(2 * u):
                    e[j] = d[j]
                for j in range(u):
                    e[2 * u + j] = d[2 * u + j] * g[u + j]
                memcpy(g, d, G * sizeof(floating))
                memcpy(d, e, G * sizeof(floating))
        else:
            for r in range(rows):
                g = gates + (r * T + tx) * G
                d = dz + r * 2 * u
                hp = Hp + (r * T + tx) * u
                dhr = dh + r * u
                e = t1 + r * u
                for j in range(u):
                    dhj = dhr[j]
                    d[j] = dhj * (hp[j] - g[2 * u + j])
                    e[j] = dhj * (one - g[j])
                    dhr[j] = dhj * g[j]
                _dact_block(ra, g, d, u)                   # dpz
                _dact_block(ac, g + 2 * u, e, u)           # dph
                memcpy(X4 + (r * T + tx) * u, e, u * sizeof(floating))
            _step_product(t1, u, UhT, u, t2, u, rows, u, u, False, hu, s.path)  # dL/d(r h_prev)
            for r in range(rows):
                g = gates + (r * T + tx) * G
                d = dz + r * 2 * u
                hp = Hp + (r * T + tx) * u
                dhr = dh + r * u
                e = t2 + r * u
                if drop_rec:  # the candidate's product read h_prev times its mask
                    mrow = Mrec + (r * mc + mc - 1) * u
                    for j in range(u):
                        d[u + j] = e[j] * (hp[j] * mrow[j])
                        dhr[j] = dhr[j] + (e[j] * g[u + j]) * mrow[j]
                else:
                    for j in range(u):
                        d[u + j] = e[j] * hp[j]
                        dhr[j] = dhr[j] + e[j] * g[u + j]
                _dact_block(ra, g + u, d + u, u)           # dpr
                memcpy(X3 + (r * T + tx) * 2 * u, d, 2 * u * sizeof(floating))
                memcpy(g, d, 2 * u * sizeof(floating))
                memcpy(g + 2 * u, t1 + r * u, u * sizeof(floating))

        # dL/dh_prev += dZ . U^T (not needed before the first step); with recurrent dropout
        # (dZ U^T) M_rec, or the sum over the gates' column blocks of (dZ_k U_k^T) M_rec_k
        if t > 0 and drop_rec:
            blocks = K // u if mc > 1 else 1
            for k in range(blocks):
                if mc > 1:
                    _gemm_s(rows, u, u, dz + k * u, K, 1, Ut + k * u * u, u, t2, u, False)
                else:
                    _step_product(dz, K, Ut, u, t2, u, rows, K, u, False, hu, s.path)
                for r in range(rows):
                    mrow = Mrec + (r * mc + k) * u
                    cr = t2 + r * u
                    e = h + r * u  # the sum over the blocks (h is unused in backward)
                    if k == 0:
                        for j in range(u):
                            e[j] = cr[j] * mrow[j]
                    else:
                        for j in range(u):
                            e[j] = e[j] + cr[j] * mrow[j]
            for r in range(rows):
                e = h + r * u
                dhr = dh + r * u
                if kind == KIND_GRU:
                    for j in range(u):
                        dhr[j] = dhr[j] + e[j]
                else:
                    memcpy(dhr, e, u * sizeof(floating))
        elif t > 0:
            _step_product(dz, K, Ut, u, dh, u, rows, K, u, kind == KIND_GRU, t2, s.path)
        t -= 1

    if s.trainable:
        if drop_in:  # the product read x times the input mask(s)
            _xt_g_masked(s, x, Min, mc, F, XB, gates, G, <floating*>s.grad[0], G, rows, G // u)
        else:
            _xt_g(x, gates, <floating*>s.grad[0], n, F, G, s.path)
        gw = <floating*>s.grad[1]
        if kind == KIND_GRU and after:
            if drop_rec:
                _xt_g_masked(s, Hp, Mrec, mc, u, XB, X3, G, gw, G, rows, 3)
            else:
                _xt_g(Hp, X3, gw, n, u, G, s.path)
        elif kind == KIND_GRU:
            if drop_rec:
                _xt_g_masked(s, Hp, Mrec, mc, u, XB, X3, 2 * u, dU, 2 * u, rows, 2)
            else:
                _xt_g(Hp, X3, dU, n, u, 2 * u, s.path)
            _xt_g(X2, X4, dU + u * 2 * u, n, u, u, s.path)
            for p in range(u):
                memcpy(gw + p * G, dU + p * 2 * u, 2 * u * sizeof(floating))
                memcpy(gw + p * G + 2 * u, dU + u * 2 * u + p * u, u * sizeof(floating))
        elif drop_rec:
            _xt_g_masked(s, Hp, Mrec, mc, u, XB, gates, G, gw, G, rows, G // u)
        else:
            _xt_g(Hp, gates, gw, n, u, G, s.path)
        if has_bias:
            core.column_sums(gates, <floating*>s.grad[2], n, G)
            if kind == KIND_GRU and after:
                core.column_sums(X3, <floating*>s.grad[2] + G, n, G)
    if s.need_dx and drop_in and mc > 1:  # dx = the sum over the gates of (dZ_k W_k^T) M_in_k
        for p in range(F):
            for j in range(G):
                WT[j * F + p] = W[p * G + j]
        for k in range(mc):
            _gemm_s(n, F, u, gates + k * u, G, 1, WT + k * u * F, F, XB, F, False)
            for r in range(rows):
                mrow = Min + (r * mc + k) * F
                for t in range(T):
                    e = XB + (r * T + t) * F
                    d = dx + (r * T + t) * F
                    if k == 0:
                        for j in range(F):
                            d[j] = e[j] * mrow[j]
                    else:
                        for j in range(F):
                            d[j] = d[j] + e[j] * mrow[j]
    elif s.need_dx:
        core.matmul_g_wt(gates, W, dx, n, F, G, s.path)
        if drop_in:
            _times_mask(dx, Min, F, dx, rows, T, F)
