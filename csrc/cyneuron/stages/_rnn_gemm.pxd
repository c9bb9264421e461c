# The recurrent kinds' products (stages/recurrent.pxd and the cells): each step's small product, the
# weight gradients over rows * T, and products with any strides (the dropout paths' column blocks).
from cython cimport floating
from libc.string cimport memcpy, memset

from cyneuron cimport _core as core


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
    #include <string.h>
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


cdef inline void xt_g(const floating* x, const floating* g, floating* gw, Py_ssize_t n, Py_ssize_t n_in,
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


cdef inline void step_product(const floating* A, Py_ssize_t sai, const floating* B, Py_ssize_t ldb,
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


cdef inline void gemm_s(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const floating* A, Py_ssize_t sai, Py_ssize_t sak,
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


cdef inline void xt_g_block(const floating* x, const floating* g, Py_ssize_t ldg, floating* gw, Py_ssize_t ldw,
                            Py_ssize_t n, Py_ssize_t n_in, Py_ssize_t n_out) noexcept nogil:
    """gw (n_in, n_out; row stride ldw) = x.T . g over x (n, n_in) dense, g (n, n_out; row stride ldg)."""
    cdef Py_ssize_t k0 = 0, kc, p
    while k0 < n:
        kc = n - k0 if n - k0 < 256 else 256
        gemm_s(n_in, n_out, kc, x + k0 * n_in, 1, n_in, g + k0 * ldg, ldg, gw, ldw, k0 > 0)
        k0 += kc
    if n == 0:
        for p in range(n_in):
            memset(gw + p * ldw, 0, n_out * sizeof(floating))

