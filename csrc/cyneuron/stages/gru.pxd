# Kind "gru" (reference/recurrent.py): one time step's cell math, forward and backward, over the rows of a
# batch. Gates [z, r, h] (Keras' order); h_t = z h_{t-1} + (1 - z) hh. reset_after (the default): the
# recurrent product h_{t-1} U (+ its bias) stays apart and r multiplies its candidate block; otherwise
# the candidate's product reads r h_{t-1} (a second product per step, U_h). The time loop, the other
# products and the workspaces are stages/recurrent.pxd's.
from cython cimport floating
from libc.string cimport memcpy

from cyneuron cimport _core as core
from cyneuron.stages._rnn_act cimport act_block, dact_block
from cyneuron.stages._rnn_gemm cimport step_product


cdef extern from *:
    """
    #ifndef CYN_CLONES
    #if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__AVX2__)
    #define CYN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
    #else
    #define CYN_CLONES
    #endif
    #endif
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
    CYN_GRU_BACK(cyn_gru_back_f, float)
    CYN_GRU_BACK(cyn_gru_back_d, double)
    #pragma GCC pop_options
    """
    void cyn_gru_back_f(float* g, float* d, float* x3, const float* hp, const float* cr, float* dh,
                        Py_ssize_t u) noexcept nogil
    void cyn_gru_back_d(double* g, double* d, double* x3, const double* hp, const double* cr, double* dh,
                        Py_ssize_t u) noexcept nogil


cdef inline void forward_step_after(floating* gates, Py_ssize_t ldg, Py_ssize_t rows, Py_ssize_t u,
                                    Py_ssize_t G, int ra, int ac, floating* hu, const floating* b_rec,
                                    floating* h, floating* hrs, Py_ssize_t lds) noexcept nogil:
    """reset_after: gates (rows, 3u; row stride ldg) x W + b in, activations out; hu (rows, G) h_{t-1} U
    in, plus b_rec (the recurrent bias, G, or NULL) out; h (rows, u) h_{t-1} in, h_t out. The candidate
    block of hu goes to hrs (row stride lds) unless hrs is NULL (inference)."""
    cdef Py_ssize_t r, j
    cdef floating *g, *hr, *hp
    cdef floating one = 1
    for r in range(rows):
        g = gates + r * ldg
        hr = hu + r * G
        if b_rec != NULL:
            for j in range(G):
                hr[j] = hr[j] + b_rec[j]
        for j in range(2 * u):
            g[j] = g[j] + hr[j]
        act_block(ra, g, u)
        act_block(ra, g + u, u)
        if hrs != NULL:
            memcpy(hrs + r * lds, hr + 2 * u, u * sizeof(floating))
        for j in range(u):
            g[2 * u + j] = g[2 * u + j] + g[u + j] * hr[2 * u + j]
        act_block(ac, g + 2 * u, u)
        hp = h + r * u
        for j in range(u):
            hp[j] = g[j] * hp[j] + (one - g[j]) * g[2 * u + j]


cdef inline void forward_step_before(floating* gates, Py_ssize_t ldg, Py_ssize_t rows, Py_ssize_t u, int ra,
                                     int ac, floating* h, const floating* hc, Py_ssize_t ldc,
                                     const floating* Uh, floating* t1, floating* tmp, floating* rhs,
                                     Py_ssize_t lds, int path) noexcept nogil:
    """reset_after=False: gates (rows, 3u; row stride ldg) with z, r already holding x W + b + h_{t-1} U_zr
    in, activations out; hc (row stride ldc) the h_{t-1} the candidate's product reads (h, or h times its
    recurrent mask); h (rows, u) h_{t-1} in, h_t out. r h_{t-1} is built in t1 (rows, u) and goes to rhs
    (row stride lds) unless rhs is NULL; tmp is float64's product scratch (rows, u)."""
    cdef Py_ssize_t r, j
    cdef floating *g, *cr, *hp
    cdef const floating* hr
    cdef floating one = 1
    for r in range(rows):
        g = gates + r * ldg
        act_block(ra, g, u)
        act_block(ra, g + u, u)
        hr = hc + r * ldc
        cr = t1 + r * u
        for j in range(u):
            cr[j] = g[u + j] * hr[j]
        if rhs != NULL:
            memcpy(rhs + r * lds, cr, u * sizeof(floating))
    step_product(t1, u, Uh, u, gates + 2 * u, ldg, rows, u, u, True, tmp, path)
    for r in range(rows):
        g = gates + r * ldg
        act_block(ac, g + 2 * u, u)
        hp = h + r * u
        for j in range(u):
            hp[j] = g[j] * hp[j] + (one - g[j]) * g[2 * u + j]


cdef inline void backward_step_after(floating* gates, Py_ssize_t ldg, Py_ssize_t rows, Py_ssize_t u,
                                     Py_ssize_t G, int ra, int ac, const floating* hps, const floating* hrs,
                                     Py_ssize_t lds, floating* dhus, Py_ssize_t ldd, floating* dh,
                                     floating* dz) noexcept nogil:
    """reset_after, one step back: gates (rows, 3u; ldg) activations in, dL/dZ of the input side out;
    hps h_{t-1} and hrs the candidate block of h_{t-1} U + b (row stride lds); dz (rows, G) and dhus
    (row stride ldd) = dL/d(h_{t-1} U); dh: dL/dh_t in, the direct part of dL/dh_{t-1} out."""
    cdef Py_ssize_t r, j
    cdef floating *g, *d, *dhr, *e
    cdef const floating* hp
    cdef const floating* cr
    cdef floating one = 1, dhj
    if ra == core.ACT_SIGMOID and ac == core.ACT_TANH:
        for r in range(rows):  # the general path below in one pass per row (the same expressions)
            if floating is float:
                cyn_gru_back_f(gates + r * ldg, dz + r * G, dhus + r * ldd, hps + r * lds, hrs + r * lds,
                               dh + r * u, u)
            else:
                cyn_gru_back_d(gates + r * ldg, dz + r * G, dhus + r * ldd, hps + r * lds, hrs + r * lds,
                               dh + r * u, u)
        return
    for r in range(rows):
        g = gates + r * ldg
        d = dz + r * G
        hp = hps + r * lds
        dhr = dh + r * u
        cr = hrs + r * lds
        for j in range(u):
            dhj = dhr[j]
            d[j] = dhj * (hp[j] - g[2 * u + j])
            d[2 * u + j] = dhj * (one - g[j])
            dhr[j] = dhj * g[j]
        dact_block(ra, g, d, u)                   # dpz
        dact_block(ac, g + 2 * u, d + 2 * u, u)   # dph
        for j in range(u):
            d[u + j] = d[2 * u + j] * cr[j]
        dact_block(ra, g + u, d + u, u)           # dpr
        e = dhus + r * ldd                        # dHU row
        for j in range(2 * u):
            e[j] = d[j]
        for j in range(u):
            e[2 * u + j] = d[2 * u + j] * g[u + j]
        memcpy(g, d, G * sizeof(floating))
        memcpy(d, e, G * sizeof(floating))


cdef inline void backward_step_before(floating* gates, Py_ssize_t ldg, Py_ssize_t rows, Py_ssize_t u, int ra,
                                      int ac, const floating* hps, Py_ssize_t lds, floating* dzrs,
                                      Py_ssize_t ldz, floating* dphs, const floating* mrec, Py_ssize_t ldm,
                                      const floating* UhT, floating* dh, floating* dz, floating* t1,
                                      floating* t2, floating* tmp, int path) noexcept nogil:
    """reset_after=False, one step back: gates (rows, 3u; ldg) activations in, dL/dZ out; hps h_{t-1} (row
    stride lds); dz (rows, 2u) and dzrs (row stride ldz) = dL/dZ of z, r (the U_zr product's gradient);
    dphs (row stride lds) = dL/dZ of the candidate (U_h's); mrec the candidate's recurrent mask rows
    (row stride ldm) or NULL; dh: dL/dh_t in, the direct part of dL/dh_{t-1} out; t1, t2 scratch (rows, u);
    tmp float64's product scratch."""
    cdef Py_ssize_t r, j
    cdef floating *g, *d, *dhr, *e
    cdef const floating* hp
    cdef const floating* mrow
    cdef floating one = 1, dhj
    for r in range(rows):
        g = gates + r * ldg
        d = dz + r * 2 * u
        hp = hps + r * lds
        dhr = dh + r * u
        e = t1 + r * u
        for j in range(u):
            dhj = dhr[j]
            d[j] = dhj * (hp[j] - g[2 * u + j])
            e[j] = dhj * (one - g[j])
            dhr[j] = dhj * g[j]
        dact_block(ra, g, d, u)                   # dpz
        dact_block(ac, g + 2 * u, e, u)           # dph
        memcpy(dphs + r * lds, e, u * sizeof(floating))
    step_product(t1, u, UhT, u, t2, u, rows, u, u, False, tmp, path)  # dL/d(r h_prev)
    for r in range(rows):
        g = gates + r * ldg
        d = dz + r * 2 * u
        hp = hps + r * lds
        dhr = dh + r * u
        e = t2 + r * u
        if mrec != NULL:  # the candidate's product read h_prev times its mask
            mrow = mrec + r * ldm
            for j in range(u):
                d[u + j] = e[j] * (hp[j] * mrow[j])
                dhr[j] = dhr[j] + (e[j] * g[u + j]) * mrow[j]
        else:
            for j in range(u):
                d[u + j] = e[j] * hp[j]
                dhr[j] = dhr[j] + e[j] * g[u + j]
        dact_block(ra, g + u, d + u, u)           # dpr
        memcpy(dzrs + r * ldz, d, 2 * u * sizeof(floating))
        memcpy(g, d, 2 * u * sizeof(floating))
        memcpy(g + 2 * u, t1 + r * u, u * sizeof(floating))
