# Kind "bidirectional" (reference/bidirectional.py): a recurrent kind forward and backward over the same
# input in one stage, each direction the unchanged recurrent kernels (stages/recurrent.pxd) on a StageC
# of its own, then the merge.
#
# ``sub`` points at the two direction StageCs (forward, backward): full recurrent stages with their own
# params, grads, workspaces and outputs (their out_train / out_infer hold each direction's output).
# dims: [0] T, [1] units u, [2] merge mode (MERGE_*), [3] return_sequences.
# scratch (training): dyf, dyb (rows * n_dir each, n_dir = T * u or u), dx2 (rows * n_in).
# The backward direction's output is in reversed time (go_backwards); with return_sequences it is flipped
# back before merging, and its gradient flipped the same way.
from cython cimport floating
from libc.stdint cimport uint64_t
from libc.string cimport memcpy

from cyneuron cimport _rng as rng
from cyneuron.stages cimport recurrent
from cyneuron.stages.stage cimport StageC

cdef enum:
    MERGE_CONCAT = 0
    MERGE_SUM = 1
    MERGE_AVE = 2
    MERGE_MUL = 3
    # the backward direction draws its dropout masks as a stage numbered stage + BACKWARD_STAGE
    BACKWARD_STAGE_SHIFT = 32


cdef inline StageC* direction(StageC* s, int d) noexcept nogil:
    return &(<StageC*>s.sub)[d]


cdef inline uint64_t backward_key(StageC* s, uint64_t net_seed, uint64_t step, uint64_t stage) noexcept nogil:
    """The backward direction's dropout key: its own seed (or the network's), the step, the shifted stage."""
    cdef StageC* b = direction(s, 1)
    return rng.stage_key(b.seed if b.flag2 else net_seed, step, stage + (<uint64_t>1 << BACKWARD_STAGE_SHIFT))


cdef inline Py_ssize_t scratch_elems(StageC* s, Py_ssize_t rows) noexcept nogil:
    return 2 * rows * direction(s, 0).n_out + rows * s.n_in


cdef inline void forward(floating* tag, StageC* s, const floating* x, floating* y, Py_ssize_t rows,
                         bint training, uint64_t key_f, uint64_t key_b) noexcept nogil:
    """y (rows, n_out) = merge(forward(x), flip(backward(x))); training saves what backward needs."""
    cdef StageC* f = direction(s, 0)
    cdef StageC* b = direction(s, 1)
    cdef floating* yf = <floating*>(f.out_train if training else f.out_infer)
    cdef floating* yb = <floating*>(b.out_train if training else b.out_infer)
    cdef Py_ssize_t T = s.dims[0], u = s.dims[1], steps = s.dims[0] if s.dims[3] else 1
    cdef Py_ssize_t r, t, j, n = f.n_out, w = s.n_out // steps
    cdef int mode = <int>s.dims[2]
    cdef const floating* a
    cdef const floating* c
    cdef floating* o
    cdef floating half = 0.5
    recurrent.forward(tag, f, x, yf, rows, training, key_f)
    recurrent.forward(tag, b, x, yb, rows, training, key_b)
    for r in range(rows):
        for t in range(steps):
            a = yf + r * n + t * u
            c = yb + r * n + (steps - 1 - t) * u
            o = y + r * s.n_out + t * w
            if mode == MERGE_CONCAT:
                memcpy(o, a, u * sizeof(floating))
                memcpy(o + u, c, u * sizeof(floating))
            elif mode == MERGE_SUM:
                for j in range(u):
                    o[j] = a[j] + c[j]
            elif mode == MERGE_AVE:
                # (a + c) / 2, as Keras: halving is exact, so this is the same number
                for j in range(u):
                    o[j] = (a[j] + c[j]) * half
            else:
                for j in range(u):
                    o[j] = a[j] * c[j]


cdef inline void backward(floating* tag, StageC* s, const floating* x, const floating* dy, floating* dx,
                          Py_ssize_t rows) noexcept nogil:
    """Each direction's backpropagation through time from its share of dy; dx is their sum (need_dx)."""
    cdef StageC* f = direction(s, 0)
    cdef StageC* b = direction(s, 1)
    cdef const floating* yf = <const floating*>f.out_train
    cdef const floating* yb = <const floating*>b.out_train
    cdef Py_ssize_t T = s.dims[0], u = s.dims[1], steps = s.dims[0] if s.dims[3] else 1
    cdef Py_ssize_t r, t, j, p, n = f.n_out, w = s.n_out // steps
    cdef int mode = <int>s.dims[2]
    cdef floating* dyf = <floating*>s.scratch
    cdef floating* dyb = dyf + rows * n
    cdef floating* dx2 = dyb + rows * n
    cdef const floating* g
    cdef floating* df
    cdef floating* db
    cdef floating half = 0.5
    for r in range(rows):
        for t in range(steps):
            g = dy + r * s.n_out + t * w
            df = dyf + r * n + t * u
            db = dyb + r * n + (steps - 1 - t) * u  # the backward output's step order
            if mode == MERGE_CONCAT:
                memcpy(df, g, u * sizeof(floating))
                memcpy(db, g + u, u * sizeof(floating))
            elif mode == MERGE_SUM:
                memcpy(df, g, u * sizeof(floating))
                memcpy(db, g, u * sizeof(floating))
            elif mode == MERGE_AVE:
                for j in range(u):
                    df[j] = g[j] * half
                    db[j] = g[j] * half
            else:
                for j in range(u):
                    df[j] = g[j] * yb[r * n + (steps - 1 - t) * u + j]
                    db[j] = g[j] * yf[r * n + t * u + j]
    recurrent.backward(tag, f, x, yf, dyf, dx, rows)
    recurrent.backward(tag, b, x, yb, dyb, dx2, rows)
    if s.need_dx:
        for p in range(rows * s.n_in):
            dx[p] = dx[p] + dx2[p]
