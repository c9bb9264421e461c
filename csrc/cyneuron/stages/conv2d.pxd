# Kind "conv2d" (reference/conv2d.py): im2col + one product over the whole batch.
# dims: stages/_window.pxd's layout (dims[5] = F); act one of specs.FUSED_ACTIVATIONS (softmax, log_softmax over F);
# param[0] kernel (kh, kw, C, F) = a (kh*kw*C, F) matrix, param[1] bias (F) or NULL.
# flag: "direct" (1x1 kernel, unit strides, no padding): the input already is the column matrix.
# Workspaces: saved = training columns (train_rows * OH*OW, kh*kw*C), scratch = their gradient
# (need_dx and not direct), saved2 = inference columns (infer_rows * ...).
from cython cimport floating
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from cyneuron cimport _core as core
from cyneuron.stages._window cimport (
    D_C, D_DH, D_DW, D_H, D_KH, D_KW, D_LEFT, D_OC, D_OH, D_OW, D_SH, D_SW, D_TOP, D_W,
)
from cyneuron.stages.stage cimport StageC


# The kernel gradient K' = cols.T @ dZ (K = rows*OH*OW, up to 65 536, against a tiny (kh*kw*C, F)
# result): OpenBLAS packs both operands per K block for a few hundred multiply-adds per element, and
# spends more in packing and edge kernels than in arithmetic. When the CPU has AVX2 + FMA and F is a
# multiple of 8 (float32), a register-blocked kernel instead (zmm tiles of 32 / 16 filters where the
# CPU has AVX-512F): per block of 64-256 rows (dZ's block in L1, the columns' in L2) and per
# tile of 6 column-matrix columns x 16 (or 8) filters, 12 (or 6) ymm accumulators start at zero and
# take one fused multiply-add per row, then the block's sums are added to the result (two-level
# summation, as a BLAS K-blocked loop: rounding error of the same order as BLAS). Returns 0 (the
# caller uses BLAS) otherwise.
cdef extern from *:
    """
    #include <string.h>
    #if defined(__GNUC__) && defined(__x86_64__)
    #include <immintrin.h>
    #define CYN_XTG_RB_BYTES 16384
    #define CYN_XTG_IB 6
    /* the accumulators are named variables (an array indexed in a loop with a variable bound ends
       up on the stack); rows past n_in are clamped to the last one, computed and not stored */
    #define CYN_XTG_ROW(k) const float* x##k = x + (i0 + k < n_in ? i0 + k : n_in - 1);
    #define CYN_XTG_FMA2(k) { __m256 b = _mm256_broadcast_ss(x##k + r * n_in);                  \
        a##k##0 = _mm256_fmadd_ps(b, g0, a##k##0); a##k##1 = _mm256_fmadd_ps(b, g1, a##k##1); }
    #define CYN_XTG_FMA1(k) a##k##0 = _mm256_fmadd_ps(_mm256_broadcast_ss(x##k + r * n_in), g0, a##k##0);
    #define CYN_XTG_ADD(o, v) _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), v))
    #define CYN_XTG_ST2(k) if (i0 + k < n_in) { float* o = gw + (i0 + k) * n_out + f0;              \
        CYN_XTG_ADD(o, a##k##0); CYN_XTG_ADD(o + 8, a##k##1); }
    #define CYN_XTG_ST1(k) if (i0 + k < n_in) CYN_XTG_ADD(gw + (i0 + k) * n_out + f0, a##k##0);
    __attribute__((target("avx2,fma")))
    static void cyn_xtg_tile16(const float* restrict x, const float* restrict g, float* restrict gw,
                               Py_ssize_t nr, Py_ssize_t n_in, Py_ssize_t n_out, Py_ssize_t i0, Py_ssize_t f0) {
        CYN_XTG_ROW(0) CYN_XTG_ROW(1) CYN_XTG_ROW(2) CYN_XTG_ROW(3) CYN_XTG_ROW(4) CYN_XTG_ROW(5)
        __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
        __m256 a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
        const float* gr = g + f0;
        for (Py_ssize_t r = 0; r < nr; r++, gr += n_out) {
            __m256 g0 = _mm256_loadu_ps(gr), g1 = _mm256_loadu_ps(gr + 8);
            CYN_XTG_FMA2(0) CYN_XTG_FMA2(1) CYN_XTG_FMA2(2) CYN_XTG_FMA2(3) CYN_XTG_FMA2(4) CYN_XTG_FMA2(5)
        }
        CYN_XTG_ST2(0) CYN_XTG_ST2(1) CYN_XTG_ST2(2) CYN_XTG_ST2(3) CYN_XTG_ST2(4) CYN_XTG_ST2(5)
    }
    __attribute__((target("avx2,fma")))
    static void cyn_xtg_tile8(const float* restrict x, const float* restrict g, float* restrict gw,
                              Py_ssize_t nr, Py_ssize_t n_in, Py_ssize_t n_out, Py_ssize_t i0, Py_ssize_t f0) {
        CYN_XTG_ROW(0) CYN_XTG_ROW(1) CYN_XTG_ROW(2) CYN_XTG_ROW(3) CYN_XTG_ROW(4) CYN_XTG_ROW(5)
        __m256 a00 = _mm256_setzero_ps(), a10 = a00, a20 = a00, a30 = a00, a40 = a00, a50 = a00;
        const float* gr = g + f0;
        for (Py_ssize_t r = 0; r < nr; r++, gr += n_out) {
            __m256 g0 = _mm256_loadu_ps(gr);
            CYN_XTG_FMA1(0) CYN_XTG_FMA1(1) CYN_XTG_FMA1(2) CYN_XTG_FMA1(3) CYN_XTG_FMA1(4) CYN_XTG_FMA1(5)
        }
        CYN_XTG_ST1(0) CYN_XTG_ST1(1) CYN_XTG_ST1(2) CYN_XTG_ST1(3) CYN_XTG_ST1(4) CYN_XTG_ST1(5)
    }
    #define CYN_XTG_ZFMA2(k) { __m512 b = _mm512_set1_ps(x##k[r * n_in]);                     \
        a##k##0 = _mm512_fmadd_ps(b, g0, a##k##0); a##k##1 = _mm512_fmadd_ps(b, g1, a##k##1); }
    #define CYN_XTG_ZFMA1(k) a##k##0 = _mm512_fmadd_ps(_mm512_set1_ps(x##k[r * n_in]), g0, a##k##0);
    #define CYN_XTG_ZADD(o, v) _mm512_storeu_ps(o, _mm512_add_ps(_mm512_loadu_ps(o), v))
    #define CYN_XTG_ZST2(k) if (i0 + k < n_in) { float* o = gw + (i0 + k) * n_out + f0;             \
        CYN_XTG_ZADD(o, a##k##0); CYN_XTG_ZADD(o + 16, a##k##1); }
    #define CYN_XTG_ZST1(k) if (i0 + k < n_in) CYN_XTG_ZADD(gw + (i0 + k) * n_out + f0, a##k##0);
    __attribute__((target("avx512f")))
    static void cyn_xtg_tile32z(const float* restrict x, const float* restrict g, float* restrict gw,
                                Py_ssize_t nr, Py_ssize_t n_in, Py_ssize_t n_out, Py_ssize_t i0, Py_ssize_t f0) {
        CYN_XTG_ROW(0) CYN_XTG_ROW(1) CYN_XTG_ROW(2) CYN_XTG_ROW(3) CYN_XTG_ROW(4) CYN_XTG_ROW(5)
        __m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
        __m512 a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
        const float* gr = g + f0;
        for (Py_ssize_t r = 0; r < nr; r++, gr += n_out) {
            __m512 g0 = _mm512_loadu_ps(gr), g1 = _mm512_loadu_ps(gr + 16);
            CYN_XTG_ZFMA2(0) CYN_XTG_ZFMA2(1) CYN_XTG_ZFMA2(2) CYN_XTG_ZFMA2(3) CYN_XTG_ZFMA2(4) CYN_XTG_ZFMA2(5)
        }
        CYN_XTG_ZST2(0) CYN_XTG_ZST2(1) CYN_XTG_ZST2(2) CYN_XTG_ZST2(3) CYN_XTG_ZST2(4) CYN_XTG_ZST2(5)
    }
    __attribute__((target("avx512f")))
    static void cyn_xtg_tile16z(const float* restrict x, const float* restrict g, float* restrict gw,
                                Py_ssize_t nr, Py_ssize_t n_in, Py_ssize_t n_out, Py_ssize_t i0, Py_ssize_t f0) {
        CYN_XTG_ROW(0) CYN_XTG_ROW(1) CYN_XTG_ROW(2) CYN_XTG_ROW(3) CYN_XTG_ROW(4) CYN_XTG_ROW(5)
        __m512 a00 = _mm512_setzero_ps(), a10 = a00, a20 = a00, a30 = a00, a40 = a00, a50 = a00;
        const float* gr = g + f0;
        for (Py_ssize_t r = 0; r < nr; r++, gr += n_out) {
            __m512 g0 = _mm512_loadu_ps(gr);
            CYN_XTG_ZFMA1(0) CYN_XTG_ZFMA1(1) CYN_XTG_ZFMA1(2) CYN_XTG_ZFMA1(3) CYN_XTG_ZFMA1(4) CYN_XTG_ZFMA1(5)
        }
        CYN_XTG_ZST1(0) CYN_XTG_ZST1(1) CYN_XTG_ZST1(2) CYN_XTG_ZST1(3) CYN_XTG_ZST1(4) CYN_XTG_ZST1(5)
    }
    static int cyn_xtg_f(const float* x, const float* g, float* gw, float* gb, Py_ssize_t rows,
                         Py_ssize_t n_in, Py_ssize_t n_out) {
        static int ok = -1, z = 0;
        if (ok < 0) {
            ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
            z = ok && __builtin_cpu_supports("avx512f");
        }
        if (!ok || n_out % 8 != 0 || n_in < 1 || rows < 1)
            return 0;
        memset(gw, 0, (size_t)(n_in * n_out) * sizeof(float));
        if (gb)
            memset(gb, 0, (size_t)n_out * sizeof(float));
        /* row blocks: dZ's block (rb x n_out) stays in L1 across the tiles */
        Py_ssize_t rb = CYN_XTG_RB_BYTES / ((Py_ssize_t)sizeof(float) * n_out);
        rb = rb < 64 ? 64 : rb > 256 ? 256 : rb;
        for (Py_ssize_t r0 = 0; r0 < rows; r0 += rb) {
            Py_ssize_t nr = rows - r0 < rb ? rows - r0 : rb;
            const float* xc = x + r0 * n_in;
            const float* gc = g + r0 * n_out;
            for (Py_ssize_t i0 = 0; i0 < n_in; i0 += CYN_XTG_IB) {
                Py_ssize_t f0 = 0;
                if (z) {
                    for (; f0 + 32 <= n_out; f0 += 32)
                        cyn_xtg_tile32z(xc, gc, gw, nr, n_in, n_out, i0, f0);
                    if (f0 + 16 <= n_out) {
                        cyn_xtg_tile16z(xc, gc, gw, nr, n_in, n_out, i0, f0);
                        f0 += 16;
                    }
                }
                for (; f0 + 16 <= n_out; f0 += 16)
                    cyn_xtg_tile16(xc, gc, gw, nr, n_in, n_out, i0, f0);
                if (f0 < n_out)
                    cyn_xtg_tile8(xc, gc, gw, nr, n_in, n_out, i0, f0);
            }
            if (gb)  /* the bias gradient: this block's column sums (dZ's block is in L1), then added */
                for (Py_ssize_t j0 = 0; j0 < n_out; j0 += 8) {
                    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                    for (Py_ssize_t r = 0; r < nr; r++)
                        for (int j = 0; j < 8; j++)
                            acc[j] += gc[r * n_out + j0 + j];
                    for (int j = 0; j < 8; j++)
                        gb[j0 + j] += acc[j];
                }
        }
        return 1;
    }
    /* z (rows, n_out) = x (rows, n_in) . w (n_in, n_out) [+ b]: tiles of 6 rows x 32 / 16 (zmm) or
       16 / 8 (ymm) columns, the k loop sequential from zero, then + b (the order of a BLAS K loop
       followed by dense_forward's bias pass); rows past the end are clamped, computed, not stored */
    #define CYN_XW_ROW(k) const float* x##k = x + (r0 + k < rows ? r0 + k : rows - 1) * n_in;
    #define CYN_XW_TILE(NAME, TGT, V, LD, ST, SET1, FMA, ZERO, ADD, L)                               \
    __attribute__((target(TGT)))                                                                     \
    static void NAME(const float* restrict x, const float* restrict w, const float* restrict b,      \
                     float* restrict z, Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t n_out,          \
                     Py_ssize_t r0, Py_ssize_t f0, int two) {                                        \
        CYN_XW_ROW(0) CYN_XW_ROW(1) CYN_XW_ROW(2) CYN_XW_ROW(3) CYN_XW_ROW(4) CYN_XW_ROW(5)          \
        V c00 = ZERO(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;                      \
        V c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;                         \
        const float* wr = w + f0;                                                                    \
        if (two) {                                                                                   \
            for (Py_ssize_t k = 0; k < n_in; k++, wr += n_out) {                                     \
                V w0 = LD(wr), w1 = LD(wr + L), t;                                                   \
                t = SET1(x0[k]); c00 = FMA(t, w0, c00); c01 = FMA(t, w1, c01);                       \
                t = SET1(x1[k]); c10 = FMA(t, w0, c10); c11 = FMA(t, w1, c11);                       \
                t = SET1(x2[k]); c20 = FMA(t, w0, c20); c21 = FMA(t, w1, c21);                       \
                t = SET1(x3[k]); c30 = FMA(t, w0, c30); c31 = FMA(t, w1, c31);                       \
                t = SET1(x4[k]); c40 = FMA(t, w0, c40); c41 = FMA(t, w1, c41);                       \
                t = SET1(x5[k]); c50 = FMA(t, w0, c50); c51 = FMA(t, w1, c51);                       \
            }                                                                                        \
        } else {                                                                                     \
            for (Py_ssize_t k = 0; k < n_in; k++, wr += n_out) {                                     \
                V w0 = LD(wr);                                                                       \
                c00 = FMA(SET1(x0[k]), w0, c00); c10 = FMA(SET1(x1[k]), w0, c10);                    \
                c20 = FMA(SET1(x2[k]), w0, c20); c30 = FMA(SET1(x3[k]), w0, c30);                    \
                c40 = FMA(SET1(x4[k]), w0, c40); c50 = FMA(SET1(x5[k]), w0, c50);                    \
            }                                                                                        \
        }                                                                                            \
        V b0 = ZERO(), b1 = ZERO();                                                                  \
        if (b) { b0 = LD(b + f0); if (two) b1 = LD(b + f0 + L); }                                    \
        V cs[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};      \
        for (int i = 0; i < 6 && r0 + i < rows; i++) {                                               \
            float* o = z + (r0 + i) * n_out + f0;                                                    \
            ST(o, b ? ADD(cs[i][0], b0) : cs[i][0]);                                                 \
            if (two) ST(o + L, b ? ADD(cs[i][1], b1) : cs[i][1]);                                    \
        }                                                                                            \
    }
    CYN_XW_TILE(cyn_xw_tile_z, "avx512f", __m512, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps,
                _mm512_fmadd_ps, _mm512_setzero_ps, _mm512_add_ps, 16)
    CYN_XW_TILE(cyn_xw_tile_y, "avx2,fma", __m256, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps,
                _mm256_fmadd_ps, _mm256_setzero_ps, _mm256_add_ps, 8)
    static int cyn_xw_f(const float* x, const float* w, const float* b, float* z, Py_ssize_t rows,
                        Py_ssize_t n_in, Py_ssize_t n_out) {
        static int ok = -1, zz = 0;
        if (ok < 0) {
            ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
            zz = ok && __builtin_cpu_supports("avx512f");
        }
        if (!ok || n_out % 8 != 0 || n_in < 1 || rows < 1)
            return 0;
        for (Py_ssize_t r0 = 0; r0 < rows; r0 += 6) {
            Py_ssize_t f0 = 0;
            if (zz) {
                for (; f0 + 32 <= n_out; f0 += 32)
                    cyn_xw_tile_z(x, w, b, z, rows, n_in, n_out, r0, f0, 1);
                if (f0 + 16 <= n_out) {
                    cyn_xw_tile_z(x, w, b, z, rows, n_in, n_out, r0, f0, 0);
                    f0 += 16;
                }
            }
            for (; f0 + 16 <= n_out; f0 += 16)
                cyn_xw_tile_y(x, w, b, z, rows, n_in, n_out, r0, f0, 1);
            if (f0 < n_out)
                cyn_xw_tile_y(x, w, b, z, rows, n_in, n_out, r0, f0, 0);
        }
        return 1;
    }
    #else
    static int cyn_xtg_f(const float* x, const float* g, float* gw, float* gb, Py_ssize_t rows,
                         Py_ssize_t n_in, Py_ssize_t n_out) { return 0; }
    static int cyn_xw_f(const float* x, const float* w, const float* b, float* z, Py_ssize_t rows,
                        Py_ssize_t n_in, Py_ssize_t n_out) { return 0; }
    #endif
    """
    int cyn_xtg_f(const float* x, const float* g, float* gw, float* gb, Py_ssize_t rows,
                  Py_ssize_t n_in, Py_ssize_t n_out) noexcept nogil
    int cyn_xw_f(const float* x, const float* w, const float* b, float* z, Py_ssize_t rows,
                 Py_ssize_t n_in, Py_ssize_t n_out) noexcept nogil


cdef inline void product_forward(floating* tag, const floating* cols, const floating* k, const floating* b, int act,
                                 floating* z, floating* y, Py_ssize_t m, Py_ssize_t kk, Py_ssize_t f) noexcept nogil:
    """z = cols . k + b, y = act(z) (y may be z): the register-blocked product where it applies
    (its bias pass and order as dense_forward's), else dense_forward."""
    if floating is float:
        if cyn_xw_f(cols, k, b, z, m, kk, f):
            core.activation_forward(act, z, y, m, f)
            return
    core.dense_forward(cols, k, b, act, z, y, m, kk, f)


cdef inline void input_gradient(floating* tag, const floating* dz, const floating* k, const floating* kt,
                                floating* dcols, Py_ssize_t m, Py_ssize_t kk, Py_ssize_t f) noexcept nogil:
    """dcols (m, kk) = dz (m, f) . k.T: the register-blocked product on kt = k.T where it applies."""
    if floating is float:
        if kt != NULL and cyn_xw_f(dz, kt, NULL, dcols, m, f, kk):
            return
    core.matmul_g_wt(dz, k, dcols, m, kk, f)


cdef inline void kernel_gradient(floating* tag, const floating* cols, const floating* dz, floating* gw,
                                 floating* gb, Py_ssize_t m, Py_ssize_t kk, Py_ssize_t f) noexcept nogil:
    """gw = cols.T . dz and (gb not NULL) gb = dz's column sums: the register-blocked kernel does both
    in one pass over dz where it applies, else BLAS and column_sums."""
    if floating is float:
        if cyn_xtg_f(cols, dz, gw, gb, m, kk, f):
            return
    core.matmul_xt_g(cols, dz, gw, m, kk, f)
    if gb != NULL:
        core.column_sums(dz, gb, m, f)


cdef inline Py_ssize_t col_width(StageC* s) noexcept nogil:
    return s.dims[D_KH] * s.dims[D_KW] * s.dims[D_C]


cdef inline Py_ssize_t positions(StageC* s) noexcept nogil:
    return s.dims[D_OH] * s.dims[D_OW]


cdef inline void add_run(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    """dst[0:n] += src[0:n] (dst and src never overlap: output and column buffers)."""
    cdef Py_ssize_t q
    for q in range(n):
        dst[q] = dst[q] + src[q]


cdef inline void tap_run(StageC* s, Py_ssize_t ow, Py_ssize_t* j0, Py_ssize_t* j1) noexcept nogil:
    """The kernel columns [j0, j1) of output column ``ow`` that read inside the image (dilation 1:
    they read consecutive input columns, a contiguous run of (j1 - j0) * C elements in NHWC)."""
    cdef Py_ssize_t iw0 = ow * s.dims[D_SW] - s.dims[D_LEFT], KW = s.dims[D_KW], W = s.dims[D_W]
    j0[0] = -iw0 if iw0 < 0 else 0
    j1[0] = W - iw0 if iw0 + KW > W else KW
    if j1[0] < j0[0]:
        j1[0] = j0[0]


cdef inline void im2col(floating* tag, StageC* s, const floating* x, floating* cols, Py_ssize_t rows) noexcept nogil:
    """cols (rows * OH * OW, kh * kw * C): each output position's window, zeros for padding."""
    cdef Py_ssize_t H = s.dims[D_H], W = s.dims[D_W], C = s.dims[D_C]
    cdef Py_ssize_t OH = s.dims[D_OH], OW = s.dims[D_OW], KH = s.dims[D_KH], KW = s.dims[D_KW]
    cdef Py_ssize_t r, oh, ow, i, j, c, ih, iw, j0, j1, q, n_in = H * W * C, run = KW * C
    cdef const floating* xr
    cdef const floating* src
    cdef floating* dst = cols
    if s.dims[D_DW] == 1:
        # per kernel row: zeros for the taps left of the image, one contiguous copy, zeros after
        for r in range(rows):
            xr = x + r * n_in
            for oh in range(OH):
                for ow in range(OW):
                    tap_run(s, ow, &j0, &j1)
                    iw = ow * s.dims[D_SW] - s.dims[D_LEFT] + j0
                    for i in range(KH):
                        ih = oh * s.dims[D_SH] - s.dims[D_TOP] + i * s.dims[D_DH]
                        if ih < 0 or ih >= H or j1 == j0:
                            memset(dst, 0, run * sizeof(floating))
                        else:
                            if j0 > 0:
                                memset(dst, 0, j0 * C * sizeof(floating))
                            memcpy(dst + j0 * C, xr + (ih * W + iw) * C, (j1 - j0) * C * sizeof(floating))
                            if j1 < KW:
                                memset(dst + j1 * C, 0, (KW - j1) * C * sizeof(floating))
                        dst += run
        return
    for r in range(rows):
        xr = x + r * n_in
        for oh in range(OH):
            for ow in range(OW):
                for i in range(KH):
                    ih = oh * s.dims[D_SH] - s.dims[D_TOP] + i * s.dims[D_DH]
                    if ih < 0 or ih >= H:
                        memset(dst, 0, KW * C * sizeof(floating))
                        dst += KW * C
                        continue
                    for j in range(KW):
                        iw = ow * s.dims[D_SW] - s.dims[D_LEFT] + j * s.dims[D_DW]
                        if iw < 0 or iw >= W:
                            for c in range(C):
                                dst[c] = 0
                        else:
                            src = xr + (ih * W + iw) * C
                            for c in range(C):
                                dst[c] = src[c]
                        dst += C


cdef inline void col2im(floating* tag, StageC* s, const floating* dcols, floating* dx, Py_ssize_t rows) noexcept nogil:
    """dx (rows, H*W*C) = the scatter-add of dcols back to the elements each column entry read."""
    cdef Py_ssize_t H = s.dims[D_H], W = s.dims[D_W], C = s.dims[D_C]
    cdef Py_ssize_t OH = s.dims[D_OH], OW = s.dims[D_OW], KH = s.dims[D_KH], KW = s.dims[D_KW]
    cdef Py_ssize_t r, oh, ow, i, j, c, ih, iw, j0, j1, q, n, n_in = H * W * C, run = KW * C
    cdef floating* xr
    cdef floating* dst
    cdef const floating* src = dcols
    memset(dx, 0, rows * n_in * sizeof(floating))
    if s.dims[D_DW] == 1:
        # per kernel row: one contiguous run added (taps in the same order as the general loop)
        for r in range(rows):
            xr = dx + r * n_in
            for oh in range(OH):
                for ow in range(OW):
                    tap_run(s, ow, &j0, &j1)
                    iw = ow * s.dims[D_SW] - s.dims[D_LEFT] + j0
                    n = (j1 - j0) * C
                    for i in range(KH):
                        ih = oh * s.dims[D_SH] - s.dims[D_TOP] + i * s.dims[D_DH]
                        if ih >= 0 and ih < H and n > 0:
                            add_run(xr + (ih * W + iw) * C, src + j0 * C, n)
                        src += run
        return
    for r in range(rows):
        xr = dx + r * n_in
        for oh in range(OH):
            for ow in range(OW):
                for i in range(KH):
                    ih = oh * s.dims[D_SH] - s.dims[D_TOP] + i * s.dims[D_DH]
                    if ih < 0 or ih >= H:
                        src += KW * C
                        continue
                    for j in range(KW):
                        iw = ow * s.dims[D_SW] - s.dims[D_LEFT] + j * s.dims[D_DW]
                        if iw >= 0 and iw < W:
                            dst = xr + (ih * W + iw) * C
                            for c in range(C):
                                dst[c] = dst[c] + src[c]
                        src += C


# im2col and its product run a few samples at a time, so the column block the product packs (and the
# pre-activation block the epilogue passes over) is still in L2 when read; likewise the column
# gradient's product and col2im in backward. Only the row split changes: each output row's values
# are computed exactly as by one whole-batch product.
cdef enum:
    CHUNK_BYTES = 256 * 1024


cdef inline Py_ssize_t chunk_rows(StageC* s, Py_ssize_t rows, Py_ssize_t itemsize) noexcept nogil:
    cdef Py_ssize_t per_row = positions(s) * col_width(s) * itemsize, n
    n = CHUNK_BYTES // per_row if per_row > 0 else rows
    if n < 1:
        n = 1
    return n if n < rows else rows


cdef inline void forward(floating* tag, StageC* s, const floating* x, floating* y, floating* z,
                         Py_ssize_t rows, bint training) noexcept nogil:
    """y (rows, OH*OW*F) = act(im2col(x) @ K + b); ``z`` receives the pre-activation (NULL: in place)."""
    cdef floating* cols = <floating*>(s.saved if training else s.saved2)
    cdef Py_ssize_t p = positions(s), kk = col_width(s), f = s.dims[D_OC]
    cdef Py_ssize_t n_in = s.dims[D_H] * s.dims[D_W] * s.dims[D_C], r0, n, step
    cdef floating* zz = z if z != NULL else y
    if s.flag:
        product_forward(tag, x, <const floating*>s.param[0], <const floating*>s.param[1], s.act, zz, y,
                        rows * p, kk, f)
        return
    step = chunk_rows(s, rows, sizeof(floating))
    r0 = 0
    while r0 < rows:
        n = step if r0 + step <= rows else rows - r0
        im2col(tag, s, x + r0 * n_in, cols + r0 * p * kk, n)
        product_forward(tag, cols + r0 * p * kk, <const floating*>s.param[0], <const floating*>s.param[1], s.act,
                        zz + r0 * p * f, y + r0 * p * f, n * p, kk, f)
        r0 += n


cdef inline void backward(floating* tag, StageC* s, const floating* x, const floating* y, floating* dy,
                          floating* dx, Py_ssize_t rows) noexcept nogil:
    """dy is dL/dA (dL/dZ when ``s.head``), overwritten with dL/dZ; kernel/bias gradients from the
    forward's columns (trainable), dx through the column gradient and col2im (need_dx), a few samples
    at a time through the front of ``scratch``."""
    cdef Py_ssize_t p = positions(s), m = rows * p, kk = col_width(s), f = s.dims[D_OC]
    cdef Py_ssize_t n_in = s.dims[D_H] * s.dims[D_W] * s.dims[D_C], r0, n, step, i, j
    cdef const floating* cols = <const floating*>s.saved
    cdef floating* kt
    if s.flag:
        cols = x
    if not s.head:
        core.activation_backward(s.act, y, y, dy, dy, m, f)
    if s.trainable:
        kernel_gradient(tag, cols, dy, <floating*>s.grad[0], <floating*>s.grad[1] if s.param[1] != NULL else NULL,
                        m, kk, f)
    if s.need_dx:
        kt = NULL
        if floating is float:  # K.T (F, kh*kw*C) for the register-blocked product dZ . K.T
            kt = <floating*>malloc(kk * f * sizeof(floating))
            if kt != NULL:
                for i in range(kk):
                    for j in range(f):
                        kt[j * kk + i] = (<const floating*>s.param[0])[i * f + j]
        if s.flag:
            input_gradient(tag, dy, <const floating*>s.param[0], kt, dx, m, kk, f)
        else:
            step = chunk_rows(s, rows, sizeof(floating))
            r0 = 0
            while r0 < rows:
                n = step if r0 + step <= rows else rows - r0
                input_gradient(tag, dy + r0 * p * f, <const floating*>s.param[0], kt, <floating*>s.scratch, n * p, kk, f)
                col2im(tag, s, <const floating*>s.scratch, dx + r0 * n_in, n)
                r0 += n
        free(kt)
