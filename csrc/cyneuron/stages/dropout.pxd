# Kind "dropout" (reference/dropout.py): f[0] = rate; flag = one mask per sample (else shared);
# noise_map/noise_width describe a broadcast mask; ``saved`` holds the keep mask (rows * n_in bytes).
from cython cimport floating
from libc.math cimport ceil
from libc.stdint cimport uint64_t
from libc.string cimport memcpy, memset

from cyneuron cimport _rng as rng
from cyneuron.stages.stage cimport StageC


cdef inline void forward(floating* tag, StageC* s, const floating* x, floating* y, Py_ssize_t rows,
                         bint training, uint64_t key) noexcept nogil:
    cdef Py_ssize_t r, i, n = s.n_in
    cdef uint64_t base
    cdef unsigned char* keep = <unsigned char*>s.saved
    cdef unsigned char* keep_row
    cdef const floating* x_row
    cdef floating* y_row
    cdef floating scale = <floating>(1.0 - s.f[0])
    # uniform(key, c) < 1 - rate  <=>  top53(c) < ceil((1 - rate) * 2**53), exactly (both sides are
    # integers times 2**-53): the same masks as the reference, with an integer comparison
    cdef uint64_t threshold = <uint64_t>ceil((1.0 - s.f[0]) * 9007199254740992.0)
    if not training or s.f[0] == 0:
        memcpy(y, x, rows * n * sizeof(floating))
        return
    if s.f[0] >= 1:
        memset(y, 0, rows * n * sizeof(floating))
        memset(keep, 0, rows * n)
        return
    for r in range(rows):
        base = <uint64_t>(r if s.flag else 0) * <uint64_t>s.noise_width
        keep_row = keep + r * n
        if s.noise_map == NULL:
            for i in range(n):
                keep_row[i] = rng.top53(key, base + <uint64_t>i) < threshold
        else:
            for i in range(n):
                keep_row[i] = rng.top53(key, base + <uint64_t>s.noise_map[i]) < threshold
        x_row = x + r * n
        y_row = y + r * n
        for i in range(n):
            y_row[i] = x_row[i] / scale if keep_row[i] else 0


cdef inline void backward(floating* tag, StageC* s, const floating* dy, floating* dx, Py_ssize_t rows) noexcept nogil:
    cdef Py_ssize_t i, n = rows * s.n_in
    cdef const unsigned char* keep = <const unsigned char*>s.saved
    cdef floating scale = <floating>(1.0 - s.f[0])
    if s.f[0] == 0:
        memcpy(dx, dy, n * sizeof(floating))
        return
    if s.f[0] >= 1:
        memset(dx, 0, n * sizeof(floating))
        return
    for i in range(n):
        dx[i] = dy[i] / scale if keep[i] else 0
