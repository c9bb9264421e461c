# Kind "max_pool2d" (reference/max_pool2d.py). dims: stages/_window.pxd's layout (dims[5] = C,
# dilation 1). In training ``saved`` receives, per output element, which element of its window won
# (the first maximum in row-major window order: strict ">"), which backward routes the gradient to.
# Inference keeps nothing.
#
# Two paths, chosen by ``tiled(s)`` in both directions:
# * tiled: 2x2 windows, stride 2, no padding before (Keras' default MaxPool2D on any input; "same"
#   padding only adds rows / columns after, which a tiled window never reaches when H, W are even):
#   the windows tile the input without overlap. Forward is branch-free (selects, one pass over the
#   channels per window, vectorisable); ``saved`` holds the winning tap (0..3) as a uint8 per output
#   element. Backward writes every input element exactly once (dy at the winner, 0 elsewhere; the
#   rows / columns no window covers are zeroed), so dx needs no memset and nothing is scattered.
# * general: any window; ``saved`` holds the winner's int32 flat index within its sample; backward
#   zeroes dx and scatter-adds (overlapping windows add their contributions).
from cython cimport floating
from libc.stdint cimport int32_t, uint8_t
from libc.string cimport memset

from cyneuron.stages._window cimport D_C, D_H, D_KH, D_KW, D_LEFT, D_OH, D_OW, D_SH, D_SW, D_TOP, D_W
from cyneuron.stages.stage cimport StageC


# The tiled path's per-window channel loops, in C for ``restrict`` (the four corners, the output and
# the taps never alias) so gcc vectorises them: forward's selects are if-converted only when
# comparisons are assumed not to trap (no value changes: not fast-math); backward selects with
# integer masks on the bits (gcc 12 does not vectorise a float select on an integer compare), which
# gives dy's bits exactly at the winner and +0 elsewhere.
cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #pragma GCC push_options
    #pragma GCC optimize ("no-trapping-math")
    #if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
    #define CYN_MP2_CLONES __attribute__((target_clones("avx2", "default"), noinline))
    #else
    #define CYN_MP2_CLONES
    #endif
    #define CYN_MP2(T, U, S)                                                                         \
    CYN_MP2_CLONES static void cyn_mp2_fwd_##S(const T* restrict a, const T* restrict b, const T* restrict d, \
            const T* restrict e, T* restrict y, uint8_t* restrict tap, Py_ssize_t n) {               \
        for (Py_ssize_t i = 0; i < n; i++) {                                                         \
            T m = a[i], v; int t = 0, gt;                                                            \
            v = b[i]; gt = v > m; m = gt ? v : m; t = gt ? 1 : t;                                    \
            v = d[i]; gt = v > m; m = gt ? v : m; t = gt ? 2 : t;                                    \
            v = e[i]; gt = v > m; m = gt ? v : m; t = gt ? 3 : t;                                    \
            y[i] = m; tap[i] = (uint8_t)t;                                                           \
        }                                                                                            \
    }                                                                                                \
    CYN_MP2_CLONES static void cyn_mp2_max_##S(const T* restrict a, const T* restrict b, const T* restrict d, \
            const T* restrict e, T* restrict y, Py_ssize_t n) {                                      \
        for (Py_ssize_t i = 0; i < n; i++) {                                                         \
            T m = a[i], v;                                                                           \
            v = b[i]; m = v > m ? v : m;                                                             \
            v = d[i]; m = v > m ? v : m;                                                             \
            v = e[i]; m = v > m ? v : m;                                                             \
            y[i] = m;                                                                                \
        }                                                                                            \
    }                                                                                                \
    CYN_MP2_CLONES static void cyn_mp2_bwd_##S(const T* restrict g, const uint8_t* restrict tap, T* restrict a,\
            T* restrict b, T* restrict d, T* restrict e, Py_ssize_t n) {                             \
        for (Py_ssize_t i = 0; i < n; i++) {                                                         \
            U v, t = tap[i];                                                                         \
            memcpy(&v, g + i, sizeof v);                                                             \
            U v0 = v & -(U)(t == 0), v1 = v & -(U)(t == 1), v2 = v & -(U)(t == 2), v3 = v & -(U)(t == 3);\
            memcpy(a + i, &v0, sizeof v); memcpy(b + i, &v1, sizeof v);                              \
            memcpy(d + i, &v2, sizeof v); memcpy(e + i, &v3, sizeof v);                              \
        }                                                                                            \
    }
    CYN_MP2(float, int32_t, f)
    CYN_MP2(double, int64_t, d)
    #undef CYN_MP2
    #pragma GCC pop_options
    """
    void cyn_mp2_fwd_f(const float* a, const float* b, const float* d, const float* e, float* y,
                       uint8_t* tap, Py_ssize_t n) noexcept nogil
    void cyn_mp2_fwd_d(const double* a, const double* b, const double* d, const double* e, double* y,
                       uint8_t* tap, Py_ssize_t n) noexcept nogil
    void cyn_mp2_max_f(const float* a, const float* b, const float* d, const float* e, float* y,
                       Py_ssize_t n) noexcept nogil
    void cyn_mp2_max_d(const double* a, const double* b, const double* d, const double* e, double* y,
                       Py_ssize_t n) noexcept nogil
    void cyn_mp2_bwd_f(const float* g, const uint8_t* tap, float* a, float* b, float* d, float* e,
                       Py_ssize_t n) noexcept nogil
    void cyn_mp2_bwd_d(const double* g, const uint8_t* tap, double* a, double* b, double* d, double* e,
                       Py_ssize_t n) noexcept nogil


cdef inline bint tiled(StageC* s) noexcept nogil:
    return (s.dims[D_KH] == 2 and s.dims[D_KW] == 2 and s.dims[D_SH] == 2 and s.dims[D_SW] == 2
            and s.dims[D_TOP] == 0 and s.dims[D_LEFT] == 0
            and 2 * s.dims[D_OH] <= s.dims[D_H] and 2 * s.dims[D_OW] <= s.dims[D_W])


cdef inline void forward_tiled(floating* tag, StageC* s, const floating* x, floating* y, Py_ssize_t rows,
                               uint8_t* tap) noexcept nogil:
    cdef Py_ssize_t H = s.dims[D_H], W = s.dims[D_W], C = s.dims[D_C]
    cdef Py_ssize_t OH = s.dims[D_OH], OW = s.dims[D_OW]
    cdef Py_ssize_t r, oh, ow, n_in = H * W * C, rs = W * C
    cdef const floating* a
    cdef floating* yr = y
    for r in range(rows):
        for oh in range(OH):
            a = x + r * n_in + 2 * oh * rs
            for ow in range(OW):
                if tap != NULL:
                    if floating is float:
                        cyn_mp2_fwd_f(a, a + C, a + rs, a + rs + C, yr, tap, C)
                    else:
                        cyn_mp2_fwd_d(a, a + C, a + rs, a + rs + C, yr, tap, C)
                    tap += C
                else:
                    if floating is float:
                        cyn_mp2_max_f(a, a + C, a + rs, a + rs + C, yr, C)
                    else:
                        cyn_mp2_max_d(a, a + C, a + rs, a + rs + C, yr, C)
                a += 2 * C
                yr += C


cdef inline void backward_tiled(floating* tag, StageC* s, const floating* dy, floating* dx, Py_ssize_t rows) noexcept nogil:
    cdef Py_ssize_t H = s.dims[D_H], W = s.dims[D_W], C = s.dims[D_C]
    cdef Py_ssize_t OH = s.dims[D_OH], OW = s.dims[D_OW]
    cdef Py_ssize_t r, oh, ow, n_in = H * W * C, rs = W * C, tail = (W - 2 * OW) * C
    cdef const uint8_t* tap = <const uint8_t*>s.saved
    cdef const floating* g = dy
    cdef floating* a
    for r in range(rows):
        for oh in range(OH):
            a = dx + r * n_in + 2 * oh * rs
            for ow in range(OW):
                if floating is float:
                    cyn_mp2_bwd_f(g, tap, a, a + C, a + rs, a + rs + C, C)
                else:
                    cyn_mp2_bwd_d(g, tap, a, a + C, a + rs, a + rs + C, C)
                a += 2 * C
                g += C
                tap += C
            if tail:  # the columns after the last window, in both rows of this window row
                memset(a, 0, tail * sizeof(floating))
                memset(a + rs, 0, tail * sizeof(floating))
        if H > 2 * OH:  # the rows after the last window
            memset(dx + r * n_in + 2 * OH * rs, 0, (H - 2 * OH) * rs * sizeof(floating))


cdef inline void forward(floating* tag, StageC* s, const floating* x, floating* y, Py_ssize_t rows,
                         bint training) noexcept nogil:
    cdef Py_ssize_t H = s.dims[D_H], W = s.dims[D_W], C = s.dims[D_C]
    cdef Py_ssize_t OH = s.dims[D_OH], OW = s.dims[D_OW], KH = s.dims[D_KH], KW = s.dims[D_KW]
    cdef Py_ssize_t r, oh, ow, i, j, c, ih, iw, i0, i1, j0, j1, base, n_in = H * W * C
    cdef const floating* xr
    cdef const floating* src
    cdef floating* yr = y
    cdef int32_t* arg = <int32_t*>s.saved
    cdef bint keep = training and arg != NULL
    if tiled(s):
        forward_tiled(tag, s, x, y, rows, <uint8_t*>s.saved if keep else NULL)
        return
    for r in range(rows):
        xr = x + r * n_in
        for oh in range(OH):
            i0 = oh * s.dims[D_SH] - s.dims[D_TOP]
            i1 = i0 + KH
            if i0 < 0:
                i0 = 0
            if i1 > H:
                i1 = H
            for ow in range(OW):
                j0 = ow * s.dims[D_SW] - s.dims[D_LEFT]
                j1 = j0 + KW
                if j0 < 0:
                    j0 = 0
                if j1 > W:
                    j1 = W
                # the first in-range tap initialises; later ones win only when strictly greater
                base = (i0 * W + j0) * C
                for c in range(C):
                    yr[c] = xr[base + c]
                    if keep:
                        arg[c] = <int32_t>(base + c)
                for ih in range(i0, i1):
                    for iw in range(j0, j1):
                        base = (ih * W + iw) * C
                        src = xr + base
                        if keep:
                            for c in range(C):
                                if src[c] > yr[c]:
                                    yr[c] = src[c]
                                    arg[c] = <int32_t>(base + c)
                        else:
                            for c in range(C):
                                if src[c] > yr[c]:
                                    yr[c] = src[c]
                yr += C
                if keep:
                    arg += C


cdef inline void backward(floating* tag, StageC* s, const floating* dy, floating* dx, Py_ssize_t rows) noexcept nogil:
    cdef Py_ssize_t r, k, n_in = s.n_in, n_out = s.n_out
    cdef const int32_t* arg = <const int32_t*>s.saved
    cdef floating* dxr
    if tiled(s):
        backward_tiled(tag, s, dy, dx, rows)
        return
    memset(dx, 0, rows * n_in * sizeof(floating))
    for r in range(rows):
        dxr = dx + r * n_in
        for k in range(n_out):
            dxr[arg[r * n_out + k]] += dy[r * n_out + k]
