# Kind "lstm" (reference/recurrent.py): one time step's cell math, forward and backward, over the rows of
# a batch. Gates [i, f, g, o] (Keras' order); c_t = f c_{t-1} + i g, h_t = o act(c_t). The time loop,
# the products and the workspaces are stages/recurrent.pxd's.
from cython cimport floating
from libc.string cimport memcpy

from cyneuron cimport _core as core
from cyneuron.stages._rnn_act cimport act_block, dact_block


# One row of an lstm step with sigmoid gates and tanh, the general path's expressions fused (as Cython
# writes them: the literal 1 is a double, so 1 - v*v and what it multiplies are double, then rounded):
# g (4u) the gates' activations in, dL/dZ out (also into d); hp act(c_t); cp c_{t-1} (zeros at the first
# step); dh dL/dh_t; dc dL/dc_t in, dL/dc_{t-1} out. C with restrict so that it vectorises.
cdef extern from *:
    """
    #ifndef CYN_CLONES
    #if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__AVX2__)
    #define CYN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
    #else
    #define CYN_CLONES
    #endif
    #endif
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
    /* forward, sigmoid gates and tanh: the general path's expressions (_rnn_act's functions, the same
       products and sums) in one pass over the row: the activations back into the gates, c_t into c and
       cs, tanh(c_t) into acs, h_t into h. */
    #define CYN_LSTM_FWD(NAME, T, SIG, TANH) \\
    CYN_CLONES static void NAME##_rows(T* restrict gI, T* restrict gF, T* restrict gG, T* restrict gO, \\
            T* restrict c, T* restrict cs, T* restrict acs, T* restrict h, Py_ssize_t u) { \\
        for (Py_ssize_t j = 0; j < u; j++) { \\
            T i = SIG(gI[j]), f = SIG(gF[j]), g = TANH(gG[j]), o = SIG(gO[j]), cj, a; \\
            gI[j] = i; gF[j] = f; gG[j] = g; gO[j] = o; \\
            cj = f * c[j] + i * g; \\
            c[j] = cj; cs[j] = cj; \\
            a = TANH(cj); \\
            acs[j] = a; h[j] = o * a; \\
        } \\
    } \\
    static inline void NAME(T* g, T* c, T* cs, T* acs, T* h, Py_ssize_t u) { \\
        NAME##_rows(g, g + u, g + 2 * u, g + 3 * u, c, cs, acs, h, u); \\
    }
    #pragma GCC push_options
    #pragma GCC optimize ("no-trapping-math")
    CYN_LSTM_BACK(cyn_lstm_back_f, float)
    CYN_LSTM_BACK(cyn_lstm_back_d, double)
    CYN_LSTM_FWD(cyn_lstm_fwd_f, float, cyn_vsigmoidf, cyn_vtanhf)
    CYN_LSTM_FWD(cyn_lstm_fwd_d, double, cyn_vsigmoid, cyn_vtanh)
    #pragma GCC pop_options
    """
    void cyn_lstm_fwd_f(float* g, float* c, float* cs, float* acs, float* h, Py_ssize_t u) noexcept nogil
    void cyn_lstm_fwd_d(double* g, double* c, double* cs, double* acs, double* h, Py_ssize_t u) noexcept nogil
    void cyn_lstm_back_f(float* g, float* d, const float* hp, const float* cp, const float* dh, float* dc,
                         Py_ssize_t u) noexcept nogil
    void cyn_lstm_back_d(double* g, double* d, const double* hp, const double* cp, const double* dh,
                         double* dc, Py_ssize_t u) noexcept nogil


cdef inline void forward_step(floating* gates, Py_ssize_t ldg, Py_ssize_t rows, Py_ssize_t u, int ra, int ac,
                              floating* c, floating* h, floating* cs, floating* acs, Py_ssize_t lds) noexcept nogil:
    """One step: gates (rows, 4u; row stride ldg) pre-activations in, activations out; c (rows, u) c_{t-1}
    in, c_t out; h (rows, u) = h_t; act(c_t) to acs and c_t to cs (row stride lds each; in inference
    scratch rows: nothing reads them)."""
    cdef Py_ssize_t r, j
    cdef floating *g, *cr, *hp, *hr
    if ra == core.ACT_SIGMOID and ac == core.ACT_TANH:
        for r in range(rows):  # the general path below in one pass per row (the same expressions)
            if floating is float:
                cyn_lstm_fwd_f(gates + r * ldg, c + r * u, cs + r * lds, acs + r * lds, h + r * u, u)
            else:
                cyn_lstm_fwd_d(gates + r * ldg, c + r * u, cs + r * lds, acs + r * lds, h + r * u, u)
        return
    for r in range(rows):
        g = gates + r * ldg
        act_block(ra, g, u)
        act_block(ra, g + u, u)
        act_block(ac, g + 2 * u, u)
        act_block(ra, g + 3 * u, u)
        cr = c + r * u
        for j in range(u):
            cr[j] = g[u + j] * cr[j] + g[j] * g[2 * u + j]
        memcpy(cs + r * lds, cr, u * sizeof(floating))
        hp = acs + r * lds
        memcpy(hp, cr, u * sizeof(floating))
        act_block(ac, hp, u)
        hr = h + r * u
        for j in range(u):
            hr[j] = g[3 * u + j] * hp[j]


cdef inline void backward_step(floating* gates, Py_ssize_t ldg, Py_ssize_t rows, Py_ssize_t u, Py_ssize_t G,
                               int ra, int ac, const floating* acs, const floating* cps, Py_ssize_t lds,
                               const floating* zeros, const floating* dh, floating* dc, floating* dz,
                               floating* e) noexcept nogil:
    """One step back: gates (rows, 4u; row stride ldg) activations in, dL/dZ out (also into dz, rows x G);
    acs act(c_t), cps c_{t-1} (row stride lds; NULL at the first step: zeros, rows x u, instead); dh
    dL/dh_t; dc dL/dc_t in, dL/dc_{t-1} out; e scratch (rows, u)."""
    cdef Py_ssize_t r, j
    cdef floating *g, *d, *er
    cdef const floating* hp
    cdef const floating* cp
    cdef const floating* dhr
    cdef floating zero = 0, dcj
    if ra == core.ACT_SIGMOID and ac == core.ACT_TANH:
        # the default activations in one pass per row, the same expressions as the general path below
        for r in range(rows):
            cp = cps + r * lds if cps != NULL else zeros + r * u
            if floating is float:
                cyn_lstm_back_f(gates + r * ldg, dz + r * G, acs + r * lds, cp, dh + r * u, dc + r * u, u)
            else:
                cyn_lstm_back_d(gates + r * ldg, dz + r * G, acs + r * lds, cp, dh + r * u, dc + r * u, u)
        return
    for r in range(rows):
        g = gates + r * ldg
        d = dz + r * G
        hp = acs + r * lds
        er = e + r * u
        dhr = dh + r * u
        for j in range(u):
            er[j] = dhr[j] * g[3 * u + j]
        dact_block(ac, hp, er, u)                  # dL/dc_t through h
        for j in range(u):
            dcj = dc[r * u + j] + er[j]
            d[j] = dcj * g[2 * u + j]              # di
            d[2 * u + j] = dcj * g[j]              # dg
            d[u + j] = dcj * (cps[r * lds + j] if cps != NULL else zero)  # df
            d[3 * u + j] = dhr[j] * hp[j]          # do
            dc[r * u + j] = dcj * g[u + j]
        dact_block(ra, g, d, u)
        dact_block(ra, g + u, d + u, u)
        dact_block(ac, g + 2 * u, d + 2 * u, u)
        dact_block(ra, g + 3 * u, d + 3 * u, u)
        memcpy(g, d, G * sizeof(floating))
