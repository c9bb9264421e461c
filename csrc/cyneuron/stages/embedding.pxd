# Kind "embedding": each int64 index picks a row of the embeddings matrix (reference/embedding.py).
# param[0] embeddings (V, D); dims[0] = V (input_dim), dims[1] = D (output_dim), dims[2] = T indices per
# sample. Always the first stage: its input is the network's int64 x, its backward produces no dx.
from cython cimport floating
from libc.stdint cimport int64_t
from libc.string cimport memcpy, memset

from cyneuron.stages.stage cimport StageC


cdef inline bint forward(floating* tag, StageC* s, const int64_t* x, floating* y, Py_ssize_t rows) noexcept nogil:
    """y (rows, T * D): row x[i] of the embeddings for each of the rows * T indices. An index outside
    [0, V) (the caller changed x while the call ran without the GIL) gets a zero row and makes the
    result False: never a read out of bounds."""
    cdef Py_ssize_t i, k, v = s.dims[0], d = s.dims[1], n = rows * s.dims[2]
    cdef const floating* emb = <const floating*>s.param[0]
    cdef bint ok = True
    for i in range(n):
        k = x[i]
        if k < 0 or k >= v:
            memset(y + i * d, 0, d * sizeof(floating))
            ok = False
        else:
            memcpy(y + i * d, emb + k * d, d * sizeof(floating))
    return ok


cdef inline void backward(floating* tag, StageC* s, const int64_t* x, const floating* dy,
                          Py_ssize_t rows) noexcept nogil:
    """grad[0] (V, D) = zeros plus, at each picked row, the sum of its occurrences' dy rows (in order).
    x is the training gather's private copy, every index already checked."""
    cdef Py_ssize_t i, j, k, v = s.dims[0], d = s.dims[1], n = rows * s.dims[2]
    cdef floating* g = <floating*>s.grad[0]
    cdef floating* row
    cdef const floating* src
    if not s.trainable:
        return
    memset(g, 0, v * d * sizeof(floating))
    for i in range(n):
        k = x[i]
        if k < 0 or k >= v:
            continue
        row = g + k * d
        src = dy + i * d
        for j in range(d):
            row[j] += src[j]
