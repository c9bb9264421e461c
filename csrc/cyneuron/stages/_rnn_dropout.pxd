# The recurrent kinds' dropout masks (reference/recurrent.py; the layout is in stages/recurrent.pxd):
# drawing them, applying them to rows * T, and the kernel gradient of a masked product.
from cython cimport floating
from libc.math cimport ceil
from libc.stdint cimport uint64_t

from cyneuron cimport _rng as rng
from cyneuron.stages._rnn_gemm cimport xt_g, xt_g_block
from cyneuron.stages.stage cimport StageC


cdef inline Py_ssize_t mask_count(StageC* s) noexcept nogil:
    """Masks per sample and side: one per gate with gate_masks, else 1."""
    return s.dims[3] // s.dims[2] if s.flag else 1


cdef inline void draw_masks(floating* m, Py_ssize_t count, double rate, uint64_t key, uint64_t offset) noexcept nogil:
    """m[c] = 1 / (1 - rate) where uniform(key, offset + c) < 1 - rate, else 0 (as reference.masks)."""
    cdef Py_ssize_t c
    cdef floating one = 1, zero = 0, keep_prob = <floating>(1.0 - rate)
    cdef floating scale = zero if rate >= 1 else one / keep_prob
    # uniform < 1 - rate  <=>  top53 < ceil((1 - rate) * 2**53), exactly (stages/dropout.pxd)
    cdef uint64_t threshold = <uint64_t>ceil((1.0 - rate) * 9007199254740992.0)
    for c in range(count):
        m[c] = scale if rng.top53(key, offset + <uint64_t>c) < threshold else zero


cdef inline void times_mask(const floating* a, const floating* m, Py_ssize_t sm, floating* out, Py_ssize_t rows,
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



cdef inline void xt_g_masked(StageC* s, const floating* a, const floating* m, Py_ssize_t mc, Py_ssize_t w,
                             floating* xb, const floating* g, Py_ssize_t ldg, floating* gw, Py_ssize_t ldw,
                             Py_ssize_t rows, Py_ssize_t blocks) noexcept nogil:
    """The kernel gradient of a masked product: gw (w, blocks * u) = (a M_k).T . g over column block k
    (mc masks per sample: block k reads mask k, or mask 0 when mc == 1)."""
    cdef Py_ssize_t T = s.dims[0], u = s.dims[2], k, n = rows * T
    if mc == 1:
        times_mask(a, m, w, xb, rows, T, w)
        if ldg == blocks * u and ldw == blocks * u:
            xt_g(xb, g, gw, n, w, blocks * u, s.path)
        else:
            xt_g_block(xb, g, ldg, gw, ldw, n, w, blocks * u)
        return
    for k in range(blocks):
        times_mask(a, m + k * w, mc * w, xb, rows, T, w)
        xt_g_block(xb, g + k * u, ldg, gw + k * u, ldw, n, w, u)

