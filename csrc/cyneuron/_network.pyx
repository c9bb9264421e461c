# The fused whole-network path of the cython backend.
#
# A NetworkCore owns a C description of its stages (StageC, stages/stage.pxd:
# pointers into the model's own weight arrays, which it keeps alive and updates
# in place), the optimizer's per-parameter slots (ParamC, _optim.pxd), and
# workspaces allocated once per batch size. One call to ``train_batch``
# gathers the batch, runs forward, loss, metrics, backward, the finiteness check
# and the commit (optimizer update, stage state, step count) in compiled code
# without the GIL. Each stage kind's forward/backward lives in stages/<kind>.pxd;
# this file dispatches on the kind (one line per kind in each switch).
#
# The float/double choice is made once per call by a branch on
# ``self.st.double``, passing a typed NULL "tag" pointer whose type
# picks the fused specialisation of the whole step.

cimport cython
cimport numpy as cnp
from cython cimport floating
from libc.math cimport fabs
from libc.stdint cimport int64_t, uint64_t, uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from cyneuron cimport _core as core
from cyneuron cimport _losses as losses
from cyneuron cimport _optim as optim
from cyneuron cimport _rng as rng
from cyneuron.stages cimport (
    activation,
    affine,
    avg_pool2d,
    batch_norm,
    bidirectional,
    conv2d,
    dense,
    dropout,
    embedding,
    global_avg_pool,
    global_max_pool,
    max_pool2d,
    prelu,
    recurrent,
    transpose,
)
from cyneuron.stages._window cimport (
    D_C, D_DH, D_DW, D_H, D_KH, D_KW, D_LEFT, D_OC, D_OH, D_OW, D_SH, D_SW, D_TOP, D_W,
)
from cyneuron.stages.stage cimport (
    KIND_ACTIVATION,
    KIND_AFFINE,
    KIND_AVG_POOL2D,
    KIND_BATCH_NORM,
    KIND_BIDIRECTIONAL,
    KIND_CONV2D,
    KIND_DENSE,
    KIND_DROPOUT,
    KIND_EMBEDDING,
    KIND_TRANSPOSE,
    KIND_PRELU,
    KIND_GLOBAL_AVG_POOL,
    KIND_GLOBAL_MAX_POOL,
    KIND_MAX_POOL2D,
    KIND_GRU,
    KIND_LSTM,
    KIND_SIMPLE_RNN,
    StageC,
)

import math
import time

import numpy as np

from cyneuron._core import path_code, path_name

from cyneuron.backend.reference import _window as reference_window
from cyneuron.backend.reference import bidirectional as reference_bidirectional
from cyneuron.backend.specs import KERNEL_ACTIVATIONS, ROW_ACTIVATIONS, activation_kernel
from cyneuron.backend.reference import dropout as reference_dropout
from cyneuron.backend.reference import transpose as reference_transpose
from cyneuron.backend.reference import prelu as reference_prelu
from cyneuron.backend.reference import optimizers as reference_optimizers
from cyneuron.backend.specs import LOSSES, METRIC_CODES, REDUCTION_CODES
from cyneuron.backend.validation import (
    check_folded_training,
    check_loss,
    check_metrics,
    check_network_data,
    check_optimizer,
    check_optimizer_state,
    check_sample_weights,
    check_stages,
    input_indices,
    loss_layout,
)

cdef extern from "Python.h":
    ctypedef struct PyThreadState
    PyThreadState* PyEval_SaveThread()
    void PyEval_RestoreThread(PyThreadState*)

cnp.import_array()


cdef extern from *:
    """
    #if defined(__SSE__) || defined(_M_X64) || defined(_M_AMD64)
    #include <xmmintrin.h>
    /* Flush-to-zero and denormals-are-zero for the optimizer update (MXCSR bits 15 and 6). */
    static inline unsigned int cyn_flush_denormals(void) {
        unsigned int saved = _mm_getcsr();
        _mm_setcsr(saved | 0x8040u);
        return saved;
    }
    static inline void cyn_restore_denormals(unsigned int saved) { _mm_setcsr(saved); }
    #else
    static inline unsigned int cyn_flush_denormals(void) { return 0; }
    static inline void cyn_restore_denormals(unsigned int saved) { (void)saved; }
    #endif
    """
    unsigned int cyn_flush_denormals() noexcept nogil
    void cyn_restore_denormals(unsigned int saved) noexcept nogil


cdef inline PyThreadState* _release_gil(bint release) noexcept:
    # Only for enough work: dropping and re-taking the GIL costs ~0.1 us.
    return PyEval_SaveThread() if release else NULL


cdef inline void _restore_gil(PyThreadState* state) noexcept:
    if state != NULL:
        PyEval_RestoreThread(state)

# Activation codes: the indices of specs.KERNEL_ACTIVATIONS (_core.pxd's first five, then _activations.pxd's).
cdef dict _ACTIVATION_CODES = {name: code for code, name in enumerate(KERNEL_ACTIVATIONS)}
cdef dict _KIND_CODES = {
    "dense": KIND_DENSE, "activation": KIND_ACTIVATION, "dropout": KIND_DROPOUT, "batch_norm": KIND_BATCH_NORM,
    "conv2d": KIND_CONV2D, "max_pool2d": KIND_MAX_POOL2D, "avg_pool2d": KIND_AVG_POOL2D,
    "global_avg_pool": KIND_GLOBAL_AVG_POOL, "global_max_pool": KIND_GLOBAL_MAX_POOL, "affine": KIND_AFFINE,
    "simple_rnn": KIND_SIMPLE_RNN, "lstm": KIND_LSTM, "gru": KIND_GRU, "embedding": KIND_EMBEDDING,
    "transpose": KIND_TRANSPOSE, "bidirectional": KIND_BIDIRECTIONAL, "prelu": KIND_PRELU,
}
cdef dict _MERGE_MODES = {
    "concat": bidirectional.MERGE_CONCAT, "sum": bidirectional.MERGE_SUM, "ave": bidirectional.MERGE_AVE,
    "mul": bidirectional.MERGE_MUL,
}
cdef dict _AFFINE_MODES = {
    "rescale": affine.AFFINE_RESCALE, "normalize": affine.AFFINE_NORMALIZE, "denormalize": affine.AFFINE_DENORMALIZE,
}
# Below this many multiply-adds per step the GIL is kept: releasing and
# re-acquiring it costs ~0.1 us, a sizeable share of a tiny network's step.
cdef Py_ssize_t _NOGIL_MIN_WORK = 50000

# Returned by the step instead of raising inside nogil code.
cdef enum:
    STEP_NONFINITE = 0
    STEP_OK = 1
    STEP_BAD_ORDER = 2
    STEP_BAD_LABEL = 3
    STEP_BAD_INDEX = 4



ctypedef struct NetState:
    bint double
    int n_stages
    int first_trained        # the first stage with parameters to train; n_stages if none
    Py_ssize_t in_dim, out_dim, max_width, itemsize, max_channels
    # x: rows of the float dtype (index_limit 0), or int64 indices in [0, index_limit) (a first embedding
    # stage); x_itemsize is its element size. Pointers typed ``floating*`` to x then address int64 data.
    Py_ssize_t index_limit, x_itemsize
    StageC* stages
    int head_act             # the activation the loss head fuses (ACT_LINEAR: none)
    # the loss reads each sample's output as loss_steps rows of loss_width (out_dim = steps * width): a
    # model output (batch, T..., units) has per-timestep losses, Keras' (batch, T...) per-sample values
    Py_ssize_t loss_steps, loss_width
    # training configuration
    losses.LossC loss
    bint sparse
    int n_metrics
    int* metrics
    double* metric_params     # binary accuracy's threshold, top-k's k
    double* stats
    optim.OptC opt
    optim.ParamC* params     # one per trainable parameter array, in stage order
    int n_params
    bint penalised           # some param has an l1/l2 penalty
    bint active_penalised    # some stage has an activity penalty on its output
    long long iterations
    uint64_t seed
    # training workspace (train_rows rows)
    Py_ssize_t train_rows
    void* x_batch
    void* y_batch
    int64_t* label_batch     # (train_rows * loss_steps,)
    void* w_batch            # the batch's weights, one per loss row (used only when w_data is not NULL)
    void* z_train            # the last dense stage's Z
    void* g0
    void* g1
    void* work_train         # per-channel scratch of normalisation stages
    # bound training data
    Py_ssize_t n
    const void* x_data
    const void* y_data
    const int64_t* label_data  # (n, loss_steps)
    const void* w_data       # sample weights (n, loss_steps) of the dtype; NULL: unweighted
    const int64_t* order
    # inference workspace (infer_rows rows)
    Py_ssize_t infer_rows
    void* z_infer
    void* g_infer            # scratch for the (unused) loss gradient while evaluating
    void* work_infer


cdef inline Py_ssize_t _round_up(Py_ssize_t nbytes) noexcept nogil:
    return (nbytes + 63) & ~(<Py_ssize_t>63)


cdef class _Arena:
    """One malloc'd block carved into 64-byte aligned buffers, freed with the arena."""
    cdef void* raw
    cdef char* base
    cdef Py_ssize_t size, used

    def __cinit__(self, Py_ssize_t nbytes):
        if nbytes < 0:
            raise ValueError(f"nbytes: expected a size >= 0, got {nbytes}")
        self.raw = malloc(nbytes + 64)
        if self.raw == NULL:
            raise MemoryError(f"cyneuron: cannot allocate a {nbytes}-byte workspace")
        self.base = <char*>_round_up(<Py_ssize_t><uintptr_t>self.raw)
        memset(self.base, 0, nbytes)
        self.size = nbytes
        self.used = 0

    cdef void* take(self, Py_ssize_t nbytes):
        cdef void* p = self.base + self.used
        self.used += _round_up(nbytes)
        return p

    def __dealloc__(self):
        free(self.raw)


# ------------------------------------------------------------ compiled passes
cdef inline const floating* _stage_input(floating* tag, NetState* st, int s, const floating* x,
                                         bint training) noexcept nogil:
    if s == 0:
        return x
    return <const floating*>(st.stages[s - 1].out_train if training else st.stages[s - 1].out_infer)


cdef inline uint64_t _dropout_key(NetState* st, int s) noexcept nogil:
    cdef StageC* stage = &st.stages[s]
    return rng.stage_key(stage.seed if stage.flag2 else st.seed, <uint64_t>st.iterations, <uint64_t>s)


cdef bint _forward(floating* tag, NetState* st, const floating* x, Py_ssize_t rows, bint training,
                   floating* z_last, floating* final_out) noexcept nogil:
    """Every stage on x (rows, in_dim). Stages write their output into the training or inference
    workspace; the last writes to ``final_out`` when given. ``z_last`` receives a last dense stage's
    pre-activation (NULL: in place). False when an embedding index was out of range (x changed by
    another thread while the GIL was released): the outputs are then meaningless but nothing was read
    out of bounds."""
    cdef int s, last = st.n_stages - 1
    cdef bint ok = True
    cdef StageC* stage
    cdef const floating* inp = x
    cdef floating* y
    cdef floating* work = <floating*>(st.work_train if training else st.work_infer)
    cdef Py_ssize_t rows_in = rows
    for s in range(st.n_stages):
        stage = &st.stages[s]
        rows = rows_in * stage.fold  # a TimeDistributed stage runs over every (sample, step) row
        y = <floating*>(stage.out_train if training else stage.out_infer)
        if s == last and final_out != NULL:
            y = final_out
        if stage.kind == KIND_DENSE:
            dense.forward(tag, stage, inp, y, z_last if s == last else NULL, rows)
        elif stage.kind == KIND_ACTIVATION:
            activation.forward(tag, stage, inp, y, rows)
        elif stage.kind == KIND_DROPOUT:
            dropout.forward(tag, stage, inp, y, rows, training, _dropout_key(st, s))
        elif stage.kind == KIND_BATCH_NORM:
            batch_norm.forward(tag, stage, inp, y, rows, training, work)
        elif stage.kind == KIND_CONV2D:
            conv2d.forward(tag, stage, inp, y, z_last if s == last else NULL, rows, training)
        elif stage.kind == KIND_MAX_POOL2D:
            max_pool2d.forward(tag, stage, inp, y, rows, training)
        elif stage.kind == KIND_AVG_POOL2D:
            avg_pool2d.forward(tag, stage, inp, y, rows)
        elif stage.kind == KIND_GLOBAL_AVG_POOL:
            global_avg_pool.forward(tag, stage, inp, y, rows, <double*>work)
        elif stage.kind == KIND_GLOBAL_MAX_POOL:
            global_max_pool.forward(tag, stage, inp, y, rows)
        elif stage.kind == KIND_AFFINE:
            affine.forward(tag, stage, inp, y, rows, work)
        elif KIND_SIMPLE_RNN <= stage.kind <= KIND_GRU:
            recurrent.forward(tag, stage, inp, y, rows, training, _dropout_key(st, s) if training else 0)
        elif stage.kind == KIND_EMBEDDING:
            ok = embedding.forward(tag, stage, <const int64_t*>inp, y, rows) and ok
        elif stage.kind == KIND_TRANSPOSE:
            transpose.forward(tag, stage, inp, y, rows)
        elif stage.kind == KIND_BIDIRECTIONAL:
            bidirectional.forward(tag, stage, inp, y, rows, training, _dropout_key(st, s) if training else 0,
                                  bidirectional.backward_key(stage, st.seed, st.iterations, s) if training else 0)
        elif stage.kind == KIND_PRELU:
            prelu.forward(tag, stage, inp, y, rows)
        inp = y
    return ok


cdef void _backward(floating* tag, NetState* st, const floating* x, Py_ssize_t rows) noexcept nogil:
    """From dL/dZ of the last stage (in g0) down to the first stage that trains."""
    cdef int s
    cdef StageC* stage
    cdef floating* g = <floating*>st.g0
    cdef floating* h = <floating*>st.g1
    cdef floating* t
    cdef floating* work = <floating*>st.work_train
    cdef const floating* inp
    cdef Py_ssize_t rows_in = rows
    s = st.n_stages - 1
    while s >= st.first_trained:
        stage = &st.stages[s]
        rows = rows_in * stage.fold
        inp = _stage_input(tag, st, s, x, True)
        if stage.act_l1 != 0 or stage.act_l2 != 0:
            _add_activity_gradient(tag, stage, g, rows_in)
        if stage.kind == KIND_DENSE:
            dense.backward(tag, stage, inp, <const floating*>stage.out_train, g, h, rows)
        elif stage.kind == KIND_ACTIVATION:
            activation.backward(tag, stage, inp, <const floating*>stage.out_train, g, h, rows)
        elif stage.kind == KIND_DROPOUT:
            dropout.backward(tag, stage, g, h, rows)
        elif stage.kind == KIND_BATCH_NORM:
            batch_norm.backward(tag, stage, inp, g, h, rows, work)
        elif stage.kind == KIND_CONV2D:
            conv2d.backward(tag, stage, inp, <const floating*>stage.out_train, g, h, rows)
        elif stage.kind == KIND_MAX_POOL2D:
            max_pool2d.backward(tag, stage, g, h, rows)
        elif stage.kind == KIND_AVG_POOL2D:
            avg_pool2d.backward(tag, stage, g, h, rows)
        elif stage.kind == KIND_GLOBAL_AVG_POOL:
            global_avg_pool.backward(tag, stage, g, h, rows)
        elif stage.kind == KIND_GLOBAL_MAX_POOL:
            global_max_pool.backward(tag, stage, inp, <const floating*>stage.out_train, g, h, rows, work)
        elif stage.kind == KIND_AFFINE:
            affine.backward(tag, stage, g, h, rows, work)
        elif KIND_SIMPLE_RNN <= stage.kind <= KIND_GRU:
            recurrent.backward(tag, stage, inp, <const floating*>stage.out_train, g, h, rows)
        elif stage.kind == KIND_EMBEDDING:
            embedding.backward(tag, stage, <const int64_t*>inp, g, rows)
        elif stage.kind == KIND_TRANSPOSE:
            transpose.backward(tag, stage, g, h, rows)
        elif stage.kind == KIND_BIDIRECTIONAL:
            bidirectional.backward(tag, stage, inp, g, h, rows)
        elif stage.kind == KIND_PRELU:
            prelu.backward(tag, stage, inp, g, h, rows)
        t = g
        g = h
        h = t
        s -= 1


cdef double _penalise(floating* tag, NetState* st, bint gradients) noexcept nogil:
    """The weight penalties' sum at the current weights; with ``gradients``, each penalised param's
    gradient also gets ``l1 * s(w) + 2 * l2 * w``, s(w) = 1 if w >= 0 else -1 (reference/regularizers.py). The factors are
    cast to the dtype before they multiply, as Keras casts them."""
    cdef int k
    cdef Py_ssize_t i
    cdef const floating* w
    cdef floating* g
    cdef floating l1, l2x2, v
    cdef double total = 0.0, abs_sum, square_sum
    for k in range(st.n_params):
        if st.params[k].l1 == 0 and st.params[k].l2 == 0:
            continue
        w = <const floating*>st.params[k].w
        g = <floating*>st.params[k].g
        l1 = <floating>st.params[k].l1
        l2x2 = <floating>(2.0 * st.params[k].l2)
        abs_sum = 0.0
        square_sum = 0.0
        for i in range(st.params[k].n):
            v = w[i]
            abs_sum += fabs(v)
            square_sum += <double>v * v
            if gradients:
                if l1 != 0:
                    g[i] += l1 if v >= 0 else -l1
                g[i] += l2x2 * v
        total += <double>l1 * abs_sum + <double>(<floating>st.params[k].l2) * square_sum
    return total


cdef double _activity_sum(floating* tag, NetState* st, Py_ssize_t rows, bint training) noexcept nogil:
    """The activity penalties of this batch's stage outputs, undivided: ``sum_s l1 * sum|y_s| + l2 * sum y_s**2``
    (Keras adds it divided by the batch size; the loss tracker then weighs it by the batch size)."""
    cdef int s
    cdef Py_ssize_t i, n
    cdef StageC* stage
    cdef const floating* y
    cdef double total = 0.0, abs_sum, square_sum
    cdef floating v
    for s in range(st.n_stages):
        stage = &st.stages[s]
        if stage.act_l1 == 0 and stage.act_l2 == 0:
            continue
        y = <const floating*>(stage.out_train if training else stage.out_infer)
        n = rows * stage.fold * stage.n_out
        abs_sum = 0.0
        square_sum = 0.0
        for i in range(n):
            v = y[i]
            abs_sum += fabs(v)
            square_sum += <double>v * v
        total += <double>(<floating>stage.act_l1) * abs_sum + <double>(<floating>stage.act_l2) * square_sum
    return total


cdef inline void _add_activity_gradient(floating* tag, StageC* stage, floating* g, Py_ssize_t rows) noexcept nogil:
    """dL/dA += (l1 * s(y) + 2 * l2 * y) / rows over the stage's training output (s: as the weight penalty's);
    ``rows``: the batch's samples (a folded stage's output is rows * fold of its rows)."""
    cdef Py_ssize_t i, n = rows * stage.fold * stage.n_out
    cdef const floating* y = <const floating*>stage.out_train
    cdef floating count = <floating>rows
    cdef floating l1 = <floating>stage.act_l1 / count
    cdef floating l2x2 = 2 * (<floating>stage.act_l2 / count)
    cdef floating v
    for i in range(n):
        v = y[i]
        if l1 != 0:
            g[i] += l1 if v >= 0 else -l1
        g[i] += l2x2 * v


cdef bint _step_finite(floating* tag, NetState* st, double loss) noexcept nogil:
    """The loss, every gradient and every pending state value are finite."""
    cdef int k, s
    cdef StageC* stage
    if not (loss - loss == 0):
        return False
    for k in range(st.n_params):
        if not core.all_finite(<const floating*>st.params[k].g, st.params[k].n):
            return False
    for s in range(st.n_stages):
        stage = &st.stages[s]
        if stage.kind == KIND_BATCH_NORM and stage.trainable:
            for k in range(stage.n_state):
                if not core.all_finite(<const floating*>stage.pending[k], stage.units):
                    return False
    return True


cdef void _commit(floating* tag, NetState* st) noexcept nogil:
    """The optimizer update, the stages' new state, the step count: only after a finite step."""
    cdef int s, k
    cdef StageC* stage
    # Slots of units that get no gradient (dead relus) decay into subnormal floats, on which this CPU's
    # arithmetic is ~100x slower; flushed to zero (as XLA's CPU threads do), the update costs the same
    # whatever the slots hold. A subnormal slot moves a weight by < 1e-30, so nothing measurable changes.
    cdef unsigned int csr = cyn_flush_denormals()
    optim.opt_apply(tag, &st.opt, st.params, st.n_params, st.iterations)
    cyn_restore_denormals(csr)
    for s in range(st.n_stages):
        stage = &st.stages[s]
        if stage.kind == KIND_BATCH_NORM and stage.trainable:
            for k in range(stage.n_state):
                memcpy(stage.state[k], stage.pending[k], stage.units * sizeof(floating))
    st.iterations += 1


cdef double _loss_and_metrics(floating* tag, NetState* st, const floating* x, const floating* y,
                              const int64_t* labels, const floating* w, Py_ssize_t rows, bint training,
                              floating* grad, double* sums, double extra) noexcept nogil:
    """Loss gradient (w.r.t. the last stage's pre-activation when the head fuses it) into ``grad`` (a
    scratch buffer when only evaluating), and adds the loss then metric sums to ``sums``; returns the loss sum.
    ``w``: the rows' sample weights (NULL: unweighted); they weight the loss, not the metrics (Keras' ``metrics=``).
    ``sums[0]`` adds rows times the batch's loss (Keras' loss tracker weighs each batch by its size); ``extra``
    (the weight and activity penalties, Keras' ``model.losses``) joins the batch's loss first.
    ``labels`` and ``w`` hold one entry per loss row (rows * loss_steps)."""
    cdef int last = st.n_stages - 1, k
    cdef StageC* stage = &st.stages[last]
    cdef const floating* a = <const floating*>(stage.out_train if training else stage.out_infer)
    cdef const floating* z = a
    cdef double loss
    cdef Py_ssize_t n = rows * st.loss_steps
    if stage.kind == KIND_DENSE or (stage.kind == KIND_CONV2D and stage.head):
        z = <const floating*>(st.z_train if training else st.z_infer)
    elif stage.head:
        z = _stage_input(tag, st, last, x, training)
    loss = losses.output_gradient(&st.loss, st.head_act, y, labels, z, a, grad, n, st.loss_width, w)
    loss += extra
    _accumulate(tag, sums, loss * rows)
    for k in range(st.n_metrics):
        # a metric is the mean over every (sample, step) row, as Keras' MeanMetricWrapper: per sample, its steps' mean
        _accumulate(tag, sums + 1 + k,
                    losses.metric_sum(st.metrics[k], st.metric_params[k], y, labels, a, n, st.loss_width)
                    / st.loss_steps)
    return loss


cdef inline void _accumulate(floating* tag, double* total, double batch_sum) noexcept nogil:
    """Add a batch's sum to a running total as Keras' metric trackers do: in the model's float type (float32
    totals drift over a long epoch, up to ~1e-5 relative after 1e4 batches, and Keras' logs show that drift)."""
    if floating is float:
        total[0] = <float>(<float>total[0] + <float>batch_sum)
    else:
        total[0] += batch_sum


cdef inline bint _gather_indices(const int64_t* src, int64_t* dst, Py_ssize_t n, Py_ssize_t limit) noexcept nogil:
    """Copy n indices, each checked to lie in [0, limit)."""
    cdef Py_ssize_t j
    cdef int64_t k
    for j in range(n):
        k = src[j]
        if k < 0 or k >= limit:
            return False
        dst[j] = k
    return True


cdef int _train_step(floating* tag, NetState* st, Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    cdef Py_ssize_t rows = stop - start, r, idx, j, n_in = st.in_dim, n_out = st.out_dim, steps = st.loss_steps
    cdef int64_t label
    cdef const floating* xs = <const floating*>st.x_data
    cdef const floating* ys = <const floating*>st.y_data
    cdef floating* xb = <floating*>st.x_batch
    cdef floating* yb = <floating*>st.y_batch
    cdef const floating* ws = <const floating*>st.w_data
    cdef floating* wb = NULL
    cdef double loss, penalty

    # gather rows order[start:stop]
    for r in range(rows):
        idx = st.order[start + r]
        if idx < 0 or idx >= st.n:
            return STEP_BAD_ORDER
        if st.index_limit:
            # embedding indices address rows of the embeddings, and the caller may change x after bind
            if not _gather_indices(<const int64_t*>st.x_data + idx * n_in, <int64_t*>st.x_batch + r * n_in,
                                   n_in, st.index_limit):
                return STEP_BAD_INDEX
        else:
            memcpy(xb + r * n_in, xs + idx * n_in, n_in * sizeof(floating))
        if st.sparse:
            # the caller may change its label array after bind: a label indexes rows, so check it
            for j in range(steps):
                label = st.label_data[idx * steps + j]
                if (label < 0 or label >= st.loss_width) and not (st.loss.has_ignore and label == st.loss.ignore_class):
                    return STEP_BAD_LABEL
                st.label_batch[r * steps + j] = label
        else:
            memcpy(yb + r * n_out, ys + idx * n_out, n_out * sizeof(floating))
    if ws != NULL:
        # the sample weights ride with their rows (order already checked above)
        wb = <floating*>st.w_batch
        for r in range(rows):
            memcpy(wb + r * steps, ws + st.order[start + r] * steps, steps * sizeof(floating))

    if not _forward(tag, st, xb, rows, True, <floating*>st.z_train, NULL):
        return STEP_BAD_INDEX  # not reached: the gather checked the private copy
    penalty = 0.0
    if st.active_penalised:
        penalty += _activity_sum(tag, st, rows, True) / rows
    if st.penalised:
        penalty += _penalise(tag, st, False)
    loss = _loss_and_metrics(tag, st, xb, yb, st.label_batch, wb, rows, True, <floating*>st.g0, st.stats, penalty)
    _backward(tag, st, xb, rows)
    if st.penalised:
        _penalise(tag, st, True)  # the weight penalties' gradients join the backward's
    if not _step_finite(tag, st, loss):
        return STEP_NONFINITE
    _commit(tag, st)
    return STEP_OK


cdef inline const floating* _x_rows(floating* tag, NetState* st, const floating* x, Py_ssize_t start) noexcept nogil:
    """Row ``start`` of x, whose elements are the dtype's or int64 indices (``x_itemsize`` bytes)."""
    return <const floating*>(<const char*>x + start * st.in_dim * st.x_itemsize)


cdef bint _predict(floating* tag, NetState* st, const floating* x, Py_ssize_t n, Py_ssize_t chunk,
                   floating* out) noexcept nogil:
    """False when an embedding index was out of range (see ``_forward``)."""
    cdef Py_ssize_t start, rows
    cdef bint ok = True
    start = 0
    while start < n:
        rows = chunk if n - start > chunk else n - start
        ok = _forward(tag, st, _x_rows(tag, st, x, start), rows, False, NULL, out + start * st.out_dim) and ok
        start += rows
    return ok


cdef bint _evaluate(floating* tag, NetState* st, const floating* x, const floating* y, const int64_t* labels,
                    const floating* w, Py_ssize_t n, Py_ssize_t chunk, double* sums) noexcept nogil:
    """False when an embedding index was out of range (see ``_forward``). Each batch's loss includes the
    weight penalties and its activity penalties, as Keras' test step's does."""
    cdef Py_ssize_t start, rows
    cdef const floating* xr
    cdef floating* grad = <floating*>st.g_infer
    cdef bint ok = True
    cdef double weight_penalty = _penalise(tag, st, False) if st.penalised else 0.0, extra
    start = 0
    while start < n:
        rows = chunk if n - start > chunk else n - start
        xr = _x_rows(tag, st, x, start)
        ok = _forward(tag, st, xr, rows, False, <floating*>st.z_infer, NULL) and ok
        extra = weight_penalty
        if st.active_penalised:
            extra += _activity_sum(tag, st, rows, False) / rows
        _loss_and_metrics(tag, st, xr, y + start * st.out_dim if y != NULL else NULL,
                          labels + start * st.loss_steps if labels != NULL else NULL,
                          w + start * st.loss_steps if w != NULL else NULL, rows, False, grad, sums, extra)
        start += rows
    return ok


# ------------------------------------------------------------ the Python class
cdef inline bint _plain(cnp.ndarray a, int ndim, int typenum, Py_ssize_t rows, Py_ssize_t width):
    """``a`` has ``ndim`` dims of ``typenum``, ``rows`` rows (any when -1) and ``width`` columns (when 2-D),
    and is C-contiguous, aligned and in native byte order."""
    if cnp.PyArray_NDIM(a) != ndim or cnp.PyArray_TYPE(a) != typenum:
        return False
    if rows >= 0 and cnp.PyArray_DIM(a, 0) != rows:
        return False
    if ndim == 2 and cnp.PyArray_DIM(a, 1) != width:
        return False
    return cnp.PyArray_ISCARRAY_RO(a) and cnp.PyArray_ISNOTSWAPPED(a)


cdef inline Py_ssize_t _positive(object value, str name) except -1:
    if type(value) is int and value >= 1:
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1:
        return int(value)
    raise ValueError(f"{name}: expected a positive integer, got {value!r}")


cdef int _path_code(object value) except -1:
    if not isinstance(value, str):
        raise TypeError(f"product_path: expected a str, got {type(value).__name__}")
    try:
        return path_code(value)
    except ValueError:
        raise ValueError(f"product_path: expected one of auto, loops, blas, got {value!r}") from None


cdef object _index(object value, str name):
    """An integer row index (int or NumPy integer, not bool)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")


cdef class NetworkCore:
    """The cython backend's ``Network``: a fused compiled training step over shared weights.

    See ``cyneuron.backend.base.Network`` for the life cycle and the meaning of
    each method. Weights are the model's own kernel/bias arrays, read and
    updated in place; workspaces are allocated by ``prepare_training`` (per
    batch size) and by the first ``predict``/``evaluate`` of a given chunk size,
    then reused.

    Thread safety: one network runs one call at a time. A call made while
    another thread is inside a call on the same network (the compiled part
    runs without the GIL) raises ``RuntimeError`` at once rather than
    blocking; distinct networks may be used from distinct threads freely.
    """

    cdef NetState st
    cdef readonly object stats
    cdef readonly object dtype
    cdef int _typenum
    cdef int _x_typenum           # x's element type: the dtype's, or int64 (a first embedding stage)
    cdef tuple _stages
    cdef list _keep               # arrays the StageC pointers address (noise maps)
    cdef list _params             # the trainable arrays, ParamC order
    cdef list _slots              # per param, its slot arrays
    cdef tuple _slot_layout
    cdef object _loss
    cdef tuple _metrics
    cdef _Arena _train_arena
    cdef _Arena _infer_arena
    cdef tuple _bound
    cdef object _identity         # 0, 1, 2, ...: the order of batches handed in as arrays
    cdef Py_ssize_t _batch_size
    cdef Py_ssize_t _macs_per_row
    cdef bint _busy
    cdef int _path                # PATH_* of every stage's products (product_path)
    cdef Py_ssize_t _last_rows    # rows of the last training step in the workspace (0: none)

    def __cinit__(self):
        self.st.stages = NULL
        self.st.metrics = NULL
        self.st.metric_params = NULL
        self.st.params = NULL
        self.st.opt.sched = NULL

    def __init__(self, stages, input_shape, dtype, product_path=None, output_shape=None):
        cdef int s, k
        cdef StageC* stage
        cdef Py_ssize_t macs
        if self.st.stages != NULL:
            raise RuntimeError("a NetworkCore is initialised once; build a new one instead")
        widths = check_stages(stages, input_shape, dtype)  # validates first, naming the bad argument
        path = core.default_path() if product_path is None else _path_code(product_path)
        stages = tuple(stages)
        self.dtype = np.dtype(dtype)
        self._typenum = cnp.NPY_DOUBLE if self.dtype == np.float64 else cnp.NPY_FLOAT
        self.st.double = self.dtype == np.float64
        self.st.itemsize = self.dtype.itemsize
        self.st.index_limit = input_indices(stages)
        self.st.x_itemsize = 8 if self.st.index_limit else self.st.itemsize
        self._x_typenum = cnp.NPY_INT64 if self.st.index_limit else self._typenum
        self._stages = stages
        self._keep = []
        self.st.n_stages = len(stages)
        self.st.in_dim = widths[0]
        self.st.out_dim = widths[len(widths) - 1]
        self.st.loss_steps, self.st.loss_width = loss_layout(output_shape, self.st.out_dim)
        self.st.max_width = max(widths)
        self.st.max_channels = 1
        self.st.stages = <StageC*>malloc(len(stages) * sizeof(StageC))
        if self.st.stages == NULL:
            raise MemoryError("cyneuron: cannot allocate the network description")
        memset(self.st.stages, 0, len(stages) * sizeof(StageC))
        self.st.first_trained = next(
            (i for i, spec in enumerate(stages) if spec.trainable and spec.params), len(stages)
        )
        self._macs_per_row = 0
        self._params = []
        penalties = []
        self.st.active_penalised = False
        for s, spec in enumerate(stages):
            stage = &self.st.stages[s]
            stage.kind = _KIND_CODES[spec.kind]
            # a folded (TimeDistributed) stage sees rows * fold rows of its inner per-sample shapes
            stage.fold = spec.fold
            stage.n_in = widths[s] // spec.fold
            stage.n_out = widths[s + 1] // spec.fold
            stage.trainable = bool(spec.trainable)
            stage.need_dx = s > self.st.first_trained
            stage.act_l1, stage.act_l2 = spec.activity
            stage.path = path
            # a bidirectional stage's params belong to its two direction stages (_describe)
            own_params = () if spec.kind == "bidirectional" else spec.params
            if len(own_params) > 4 or len(spec.state) > 4:
                raise ValueError(f"stages[{s}]: a stage holds at most 4 parameter and 4 state arrays")
            stage.n_params = len(own_params)
            for k, array in enumerate(own_params):
                stage.param[k] = cnp.PyArray_DATA(<cnp.ndarray>array)
            stage.n_state = len(spec.state)
            for k, array in enumerate(spec.state):
                stage.state[k] = cnp.PyArray_DATA(<cnp.ndarray>array)
            if stage.trainable:
                self._params.extend(spec.params)
                penalties.extend(spec.penalties or [(0.0, 0.0)] * len(spec.params))
            macs = self._macs_per_row
            self._describe(stage, spec, s == len(stages) - 1)
            self._macs_per_row = macs + (self._macs_per_row - macs) * spec.fold
            if stage.act_l1 != 0 or stage.act_l2 != 0:
                # the penalty's gradient joins dL/dA of the output, so a last stage's head is not fused
                stage.head = False
                self.st.active_penalised = True
        self._path = path
        self.st.head_act = core.ACT_LINEAR
        stage = &self.st.stages[len(stages) - 1]
        if stage.head and stage.act in (_ACTIVATION_CODES["softmax"], _ACTIVATION_CODES["log_softmax"]) and (
                stage.n_out != self.st.loss_width):
            stage.head = False  # a row activation fuses with the loss only when its row is the loss's row
        if stage.head:
            self.st.head_act = stage.act
        self.st.n_params = len(self._params)
        self.st.params = <optim.ParamC*>malloc(max(1, len(self._params)) * sizeof(optim.ParamC))
        if self.st.params == NULL:
            raise MemoryError("cyneuron: cannot allocate the parameter table")
        memset(self.st.params, 0, max(1, len(self._params)) * sizeof(optim.ParamC))
        self.st.penalised = False
        for k, array in enumerate(self._params):
            self.st.params[k].w = cnp.PyArray_DATA(<cnp.ndarray>array)
            self.st.params[k].n = array.size
            self.st.params[k].l1, self.st.params[k].l2 = penalties[k]
            self.st.penalised = self.st.penalised or penalties[k][0] != 0 or penalties[k][1] != 0
        self._slots = [[] for _ in self._params]
        self._slot_layout = None
        self.st.iterations = 0
        self.st.seed = 0
        self._metrics = ()
        self.stats = np.zeros(1)
        self.st.stats = <double*>cnp.PyArray_DATA(<cnp.ndarray>self.stats)

    cdef _describe(self, StageC* stage, spec, bint last):
        """The kind's fields of ``stage`` (one branch per kind)."""
        attrs = spec.attrs
        if stage.kind == KIND_DENSE:
            stage.act = _ACTIVATION_CODES[attrs["activation"]]
            stage.dims[1] = spec.in_shape[len(spec.in_shape) - 1]
            stage.dims[2] = spec.out_shape[len(spec.out_shape) - 1]
            stage.dims[0] = stage.n_in // stage.dims[1]
            # the loss head fuses softmax / log_softmax only when it spans the whole row (a single position)
            stage.head = last and (attrs["activation"] not in ROW_ACTIVATIONS or stage.dims[0] == 1)
            self._macs_per_row += stage.n_in * stage.dims[2]
        elif stage.kind == KIND_ACTIVATION:
            code, numbers = activation_kernel(attrs["activation"], attrs)
            stage.act = code
            for k, number in enumerate(numbers):
                stage.f[k] = number
            stage.units = spec.in_shape[len(spec.in_shape) - 1] if attrs["activation"] in ROW_ACTIVATIONS else stage.n_in
            # the loss head fuses the first five (no arguments) on 1-D samples
            stage.head = last and stage.act <= core.ACT_SOFTMAX and len(spec.in_shape) == 1
            self._macs_per_row += stage.n_in
        elif stage.kind == KIND_DROPOUT:
            stage.f[0] = attrs["rate"]
            stage.flag = bool(attrs.get("noise_batch", True))
            stage.flag2 = attrs.get("seed") is not None
            stage.seed = (attrs["seed"] & 0xFFFFFFFFFFFFFFFF) if stage.flag2 else 0
            stage.noise_width = stage.n_in
            if attrs.get("noise_shape") is not None:
                noise_map = np.ascontiguousarray(reference_dropout.mask_counters(spec, 1)[0], dtype=np.int64)
                self._keep.append(noise_map)
                stage.noise_map = <const int64_t*>cnp.PyArray_DATA(<cnp.ndarray>noise_map)
                stage.noise_width = math.prod(attrs["noise_shape"])
            self._macs_per_row += stage.n_in
        elif stage.kind == KIND_BATCH_NORM:
            stage.units = attrs["channels"]
            stage.inner = attrs["inner"]
            stage.f[0] = attrs["momentum"]
            stage.f[1] = attrs["epsilon"]
            stage.flag = bool(attrs["scale"])
            stage.flag2 = bool(attrs["center"])
            self.st.max_channels = max(self.st.max_channels, stage.units)
            self._macs_per_row += 4 * stage.n_in
        elif stage.kind == KIND_CONV2D or stage.kind == KIND_MAX_POOL2D or stage.kind == KIND_AVG_POOL2D:
            self._describe_window(stage, spec, last)
        elif stage.kind == KIND_GLOBAL_AVG_POOL or stage.kind == KIND_GLOBAL_MAX_POOL:
            stage.units = attrs["channels"]
            stage.inner = stage.n_in // stage.units
            self.st.max_channels = max(self.st.max_channels, stage.units)
            self._macs_per_row += 2 * stage.n_in
        elif stage.kind == KIND_AFFINE:
            stage.dims[0] = _AFFINE_MODES[attrs["mode"]]
            if attrs["mode"] == "rescale":
                stage.f[0] = attrs["scale"]
                stage.f[1] = attrs["offset"]
                stage.units = 1
                stage.inner = 1
            else:
                stage.units = attrs["channels"]
                stage.inner = attrs["inner"]
            self.st.max_channels = max(self.st.max_channels, stage.units)
            self._macs_per_row += 2 * stage.n_in

        elif KIND_SIMPLE_RNN <= stage.kind <= KIND_GRU:
            steps, features = spec.in_shape
            units = attrs["units"]
            stage.dims[0] = steps
            stage.dims[1] = features
            stage.dims[2] = units
            stage.dims[3] = {"simple_rnn": 1, "lstm": 4, "gru": 3}[spec.kind] * units
            stage.dims[4] = bool(attrs["go_backwards"])
            stage.dims[5] = bool(attrs["return_sequences"])
            stage.dims[6] = bool(attrs.get("reset_after", False))
            stage.dims[7] = _ACTIVATION_CODES[attrs.get("recurrent_activation", "linear")]
            stage.act = _ACTIVATION_CODES[attrs["activation"]]
            stage.f[0] = attrs.get("dropout", 0.0)
            stage.f[1] = attrs.get("recurrent_dropout", 0.0)
            stage.flag = bool(attrs.get("gate_masks", False))
            stage.flag2 = attrs.get("seed") is not None
            stage.seed = (attrs["seed"] & 0xFFFFFFFFFFFFFFFF) if stage.flag2 else 0
            self._macs_per_row += steps * (features + units) * stage.dims[3]
        elif stage.kind == KIND_EMBEDDING:
            stage.dims[0] = attrs["input_dim"]
            stage.dims[1] = attrs["output_dim"]
            stage.dims[2] = stage.n_in
            self._macs_per_row += stage.n_out
        elif stage.kind == KIND_BIDIRECTIONAL:
            self._describe_bidirectional(stage, spec)
        elif stage.kind == KIND_TRANSPOSE:
            index_map = reference_transpose.index_map(spec)
            self._keep.append(index_map)
            stage.index_map = <const int64_t*>cnp.PyArray_DATA(<cnp.ndarray>index_map)
            self._macs_per_row += stage.n_in
        elif stage.kind == KIND_PRELU:
            index_map = reference_prelu.alpha_map(spec)
            self._keep.append(index_map)
            stage.index_map = <const int64_t*>cnp.PyArray_DATA(<cnp.ndarray>index_map)
            stage.dims[0] = spec.params[0].size
            self._macs_per_row += 2 * stage.n_in

    cdef _describe_bidirectional(self, StageC* stage, spec):
        """Two direction stages, each described as its recurrent kind, in memory the network keeps."""
        cdef int d, k
        cdef StageC* sub
        memory = np.zeros(2 * sizeof(StageC), dtype=np.uint8)
        self._keep.append(memory)
        stage.sub = cnp.PyArray_DATA(<cnp.ndarray>memory)
        for d, sub_spec in enumerate(reference_bidirectional.directions(spec)):
            sub = bidirectional.direction(stage, d)
            sub.kind = _KIND_CODES[sub_spec.kind]
            sub.n_in = stage.n_in
            sub.n_out = math.prod(sub_spec.out_shape)
            sub.trainable = stage.trainable
            sub.need_dx = stage.need_dx
            sub.path = stage.path
            sub.n_params = len(sub_spec.params)
            for k, array in enumerate(sub_spec.params):
                sub.param[k] = cnp.PyArray_DATA(<cnp.ndarray>array)
            self._describe(sub, sub_spec, False)
        stage.dims[0] = spec.in_shape[0]
        stage.dims[1] = spec.attrs["forward"]["units"]
        stage.dims[2] = _MERGE_MODES[spec.attrs["merge_mode"]]
        stage.dims[3] = bool(spec.attrs["forward"]["return_sequences"])
        # the forward direction's dropout key is the stage's own (_dropout_key)
        stage.flag2 = bidirectional.direction(stage, 0).flag2
        stage.seed = bidirectional.direction(stage, 0).seed
        self._macs_per_row += 2 * stage.n_out

    cdef _describe_window(self, StageC* stage, spec, bint last):
        """conv2d and the 2-D pooling kinds: stages/_window.pxd's dims."""
        attrs = spec.attrs
        conv = stage.kind == KIND_CONV2D
        k = tuple(attrs["kernel_size" if conv else "pool_size"])
        strides = tuple(attrs["strides"])
        dilation = tuple(attrs.get("dilation_rate", (1, 1))) if conv else (1, 1)
        padding = attrs["padding"]
        h, w, c = spec.in_shape
        oh, top = reference_window.geometry(h, k[0], strides[0], dilation[0], "valid" if padding == "causal" else padding)
        ow, left = reference_window.geometry(w, k[1], strides[1], dilation[1], padding)
        for index, value in (
            (D_H, h), (D_W, w), (D_C, c), (D_OH, oh), (D_OW, ow), (D_OC, spec.out_shape[2]),
            (D_KH, k[0]), (D_KW, k[1]), (D_SH, strides[0]), (D_SW, strides[1]),
            (D_DH, dilation[0]), (D_DW, dilation[1]), (D_TOP, top), (D_LEFT, left),
        ):
            stage.dims[index] = value
        if conv:
            stage.act = _ACTIVATION_CODES[attrs["activation"]]
            # the loss head fuses softmax / log_softmax only when it spans the whole row (a single position)
            stage.head = last and (attrs["activation"] not in ROW_ACTIVATIONS or oh * ow == 1)
            stage.flag = k == (1, 1) and strides == (1, 1) and top == 0 and left == 0
            self._macs_per_row += oh * ow * k[0] * k[1] * c * spec.out_shape[2] + 2 * stage.n_in
        else:
            self._macs_per_row += k[0] * k[1] * stage.n_out + stage.n_in

    def __dealloc__(self):
        free(self.st.stages)
        free(self.st.metrics)
        free(self.st.metric_params)
        free(self.st.params)
        optim.opt_free(&self.st.opt)

    # ------------------------------------------------------------- locking
    cdef inline int _enter(self) except -1:
        # Check-and-set under the GIL, so two threads cannot both get in.
        if self._busy:
            raise RuntimeError("this cyneuron network is being used by another thread")
        self._busy = True
        return 0

    # ---------------------------------------------------------- workspaces
    cdef Py_ssize_t _stage_infer_bytes(self, StageC* stage, Py_ssize_t rows, bint take, _Arena arena):
        """The inference workspace a stage needs beyond its output (one branch per kind); with ``take``,
        carves it from ``arena`` and points the stage at it."""
        cdef Py_ssize_t nbytes = 0
        cdef int d
        cdef StageC* sub
        if stage.kind == KIND_CONV2D and not stage.flag:
            nbytes = rows * conv2d.positions(stage) * conv2d.col_width(stage) * self.st.itemsize
            if take:
                stage.saved2 = arena.take(nbytes)
        elif KIND_SIMPLE_RNN <= stage.kind <= KIND_GRU:
            nbytes = rows * stage.dims[0] * stage.dims[3] + recurrent.scratch_elems(rows, stage.dims[2], stage.dims[3])
            nbytes *= self.st.itemsize
            if take:
                stage.scratch_infer = arena.take(nbytes)
        elif stage.kind == KIND_BIDIRECTIONAL:
            # each direction's output and inference workspace
            for d in range(2):
                sub = bidirectional.direction(stage, d)
                nbytes += _round_up(rows * sub.n_out * self.st.itemsize)
                if take:
                    sub.out_infer = arena.take(rows * sub.n_out * self.st.itemsize)
                nbytes += self._stage_infer_bytes(sub, rows, take, arena)
        return _round_up(nbytes)

    cdef _alloc_infer(self, Py_ssize_t rows):
        cdef int s
        cdef Py_ssize_t item = self.st.itemsize, nbytes = 0
        cdef Py_ssize_t work = batch_norm.WORK_BYTES_PER_CHANNEL * self.st.max_channels
        cdef StageC* stage
        for s in range(self.st.n_stages):
            stage = &self.st.stages[s]
            nbytes += _round_up(rows * stage.fold * stage.n_out * item)
            nbytes += self._stage_infer_bytes(stage, rows * stage.fold, False, None)
        nbytes += 2 * _round_up(rows * self.st.out_dim * item) + _round_up(work)
        arena = _Arena(nbytes)
        for s in range(self.st.n_stages):
            stage = &self.st.stages[s]
            stage.out_infer = arena.take(rows * stage.fold * stage.n_out * item)
            self._stage_infer_bytes(stage, rows * stage.fold, True, arena)
        self.st.z_infer = arena.take(rows * self.st.out_dim * item)
        self.st.g_infer = arena.take(rows * self.st.out_dim * item)
        self.st.work_infer = arena.take(work)
        self._infer_arena = arena
        self.st.infer_rows = rows

    cdef Py_ssize_t _stage_train_bytes(self, StageC* stage, Py_ssize_t rows, bint take, _Arena arena):
        """The training workspace a stage needs beyond its output (one branch per kind); with ``take``,
        carves it from ``arena`` and points the stage at it."""
        cdef Py_ssize_t item = self.st.itemsize, total = 0, k
        cdef list sizes = []
        cdef int d
        cdef StageC* sub
        if stage.kind == KIND_DENSE and stage.trainable:
            sizes = [("grad", stage.dims[1] * stage.dims[2] * item), ("grad", stage.dims[2] * item)]
        elif stage.kind == KIND_DROPOUT:
            sizes = [("saved", rows * stage.n_in)]
        elif stage.kind == KIND_BATCH_NORM:
            sizes = [("saved", 2 * stage.units * item), ("pending", stage.units * item), ("pending", stage.units * item)]
            if stage.trainable:
                sizes += [("grad", stage.units * item)] * stage.n_params
        elif stage.kind == KIND_CONV2D:
            cols = rows * conv2d.positions(stage) * conv2d.col_width(stage) * item
            if not stage.flag:
                sizes = [("saved", cols)] + ([("scratch", cols)] if stage.need_dx else [])
            if stage.trainable:
                sizes += [("grad", conv2d.col_width(stage) * stage.dims[D_OC] * item)]
                sizes += [("grad", stage.dims[D_OC] * item)] * (stage.n_params - 1)
        elif stage.kind == KIND_MAX_POOL2D:
            sizes = [("saved", rows * stage.n_out * 4)]  # int32 winners
        elif KIND_SIMPLE_RNN <= stage.kind <= KIND_GRU:
            n, u, g = rows * stage.dims[0], stage.dims[2], stage.dims[3]
            sizes = [
                ("saved", n * g * item),
                ("saved2", recurrent.saved2_elems(stage.kind, stage.dims[6] != 0, n, u, g) * item),
                ("scratch", recurrent.scratch_elems(rows, u, g) * item),
            ]
            if recurrent.mask_elems(stage, rows) > 0:
                sizes += [("masks", recurrent.mask_elems(stage, rows) * item)]
            if stage.trainable:
                sizes += [("grad", stage.dims[1] * g * item), ("grad", u * g * item)]
                if stage.n_params > 2:
                    sizes += [("grad", (2 if stage.dims[6] else 1) * g * item)]
        elif stage.kind == KIND_EMBEDDING and stage.trainable:
            sizes = [("grad", stage.dims[0] * stage.dims[1] * item)]
        elif stage.kind == KIND_BIDIRECTIONAL:
            sizes = [("scratch", bidirectional.scratch_elems(stage, rows) * item)]
        elif stage.kind == KIND_PRELU and stage.trainable:
            sizes = [("grad", stage.dims[0] * item)]
        grads = pendings = 0
        for what, nbytes in sizes:
            total += _round_up(nbytes)
            if not take:
                continue
            if what == "grad":
                stage.grad[grads] = arena.take(nbytes)
                grads += 1
            elif what == "pending":
                stage.pending[pendings] = arena.take(nbytes)
                pendings += 1
            elif what == "saved2":
                stage.saved2 = arena.take(nbytes)
            elif what == "scratch":
                stage.scratch = arena.take(nbytes)
            elif what == "masks":
                stage.masks = arena.take(nbytes)
            else:
                stage.saved = arena.take(nbytes)
        if stage.kind == KIND_BIDIRECTIONAL:
            # each direction's output and training workspace (its grads: _alloc_train's ParamC table)
            for d in range(2):
                sub = bidirectional.direction(stage, d)
                total += _round_up(rows * sub.n_out * item)
                if take:
                    sub.out_train = arena.take(rows * sub.n_out * item)
                total += self._stage_train_bytes(sub, rows, take, arena)
        return total

    cdef _alloc_train(self, Py_ssize_t rows):
        cdef int s, k, p, d
        cdef StageC* stage
        cdef Py_ssize_t item = self.st.itemsize, nbytes = 0
        cdef Py_ssize_t work = batch_norm.WORK_BYTES_PER_CHANNEL * self.st.max_channels
        nbytes += _round_up(rows * self.st.in_dim * self.st.x_itemsize)
        cdef Py_ssize_t steps = self.st.loss_steps
        nbytes += _round_up(rows * self.st.out_dim * item) + _round_up(rows * steps * 8) + _round_up(rows * steps * item)
        nbytes += _round_up(rows * self.st.out_dim * item)
        nbytes += 2 * _round_up(rows * self.st.max_width * item) + _round_up(work)
        for s in range(self.st.n_stages):
            stage = &self.st.stages[s]
            nbytes += _round_up(rows * stage.fold * stage.n_out * item)
            nbytes += self._stage_train_bytes(stage, rows * stage.fold, False, None)
        arena = _Arena(nbytes)
        self.st.x_batch = arena.take(rows * self.st.in_dim * self.st.x_itemsize)
        self.st.y_batch = arena.take(rows * self.st.out_dim * item)
        self.st.label_batch = <int64_t*>arena.take(rows * steps * 8)
        self.st.w_batch = arena.take(rows * steps * item)
        self.st.z_train = arena.take(rows * self.st.out_dim * item)
        self.st.g0 = arena.take(rows * self.st.max_width * item)
        self.st.g1 = arena.take(rows * self.st.max_width * item)
        self.st.work_train = arena.take(work)
        p = 0
        for s in range(self.st.n_stages):
            stage = &self.st.stages[s]
            stage.out_train = arena.take(rows * stage.fold * stage.n_out * item)
            self._stage_train_bytes(stage, rows * stage.fold, True, arena)
            if stage.trainable and stage.kind == KIND_BIDIRECTIONAL:
                for d in range(2):
                    for k in range(bidirectional.direction(stage, d).n_params):
                        self.st.params[p].g = bidirectional.direction(stage, d).grad[k]
                        p += 1
            elif stage.trainable:
                for k in range(stage.n_params):
                    self.st.params[p].g = stage.grad[k]
                    p += 1
        self._train_arena = arena
        self.st.train_rows = rows
        self._last_rows = 0

    # ------------------------------------------------------------ predict
    def predict(self, x, batch_size):
        """Forward pass of x (n, input_dim) in chunks of ``batch_size``; returns a new (n, units) array."""
        cdef cnp.npy_intp dims[2]
        if not (cnp.PyArray_CheckExact(x) and cnp.PyArray_NDIM(<cnp.ndarray>x) == 2
                and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>x)
                and cnp.PyArray_TYPE(<cnp.ndarray>x) == self._x_typenum
                and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>x)
                and cnp.PyArray_DIM(<cnp.ndarray>x, 1) == self.st.in_dim
                and cnp.PyArray_DIM(<cnp.ndarray>x, 0) > 0):
            # slow path: raises the boundary's error for anything the fast path refuses
            x = check_network_data(
                x, None, self.st.in_dim, self.st.out_dim, self.dtype, None, indices=self.st.index_limit
            )[0]
        dims[0] = cnp.PyArray_DIM(<cnp.ndarray>x, 0)
        dims[1] = self.st.out_dim
        return self._predict_rows(<cnp.ndarray>x, _positive(batch_size, "batch_size"), 2, dims)

    def fast_predictor(self, features, out_shape, lock, batch_size):
        """A ``FastPredictor`` for a model whose samples are ``features``-shaped and whose outputs are
        ``out_shape``-shaped, guarded by ``lock`` (see ``base.Network.fast_predictor``)."""
        return FastPredictor(self, features, out_shape, lock, batch_size)

    cdef object _predict_rows(self, cnp.ndarray xa, Py_ssize_t chunk, int out_nd, cnp.npy_intp* out_dims):
        """The forward pass of checked rows ``xa`` (C-contiguous, x's type, ``in_dim`` elements per row, at
        least one row) into a new array of ``out_nd`` dims ``out_dims`` (``out_dims[0]`` rows of ``out_dim``
        elements in all). NaN / infinity in x and out-of-range embedding indices raise ValueError."""
        cdef Py_ssize_t n = cnp.PyArray_DIM(xa, 0)
        cdef cnp.ndarray out
        cdef bint ok, in_range = True, big
        cdef PyThreadState* gil_state
        self._enter()
        try:
            if chunk > n:
                chunk = n
            if chunk > self.st.infer_rows:
                self._alloc_infer(chunk)
            out = cnp.PyArray_EMPTY(out_nd, out_dims, self._typenum, 0)
            big = n * self._macs_per_row >= _NOGIL_MIN_WORK
            # index rows have no NaN; each index is checked where the embedding reads it
            if self.st.double:
                gil_state = _release_gil(big)
                ok = self.st.index_limit != 0 or core.all_finite(<const double*>cnp.PyArray_DATA(xa), n * self.st.in_dim)
                if ok:
                    in_range = _predict(<double*>NULL, &self.st, <const double*>cnp.PyArray_DATA(xa), n, chunk,
                                        <double*>cnp.PyArray_DATA(out))
                _restore_gil(gil_state)
            else:
                gil_state = _release_gil(big)
                ok = self.st.index_limit != 0 or core.all_finite(<const float*>cnp.PyArray_DATA(xa), n * self.st.in_dim)
                if ok:
                    in_range = _predict(<float*>NULL, &self.st, <const float*>cnp.PyArray_DATA(xa), n, chunk,
                                        <float*>cnp.PyArray_DATA(out))
                _restore_gil(gil_state)
            if not ok:
                raise ValueError("x: contains NaN or inf")
            if not in_range:
                raise self._bad_index_error()
            return out
        finally:
            self._busy = False

    cdef _bad_index_error(self):
        return ValueError(
            f"x: embedding indices must be in [0, {self.st.index_limit}), got an index outside that range"
        )

    # ------------------------------------------------------------ training
    def prepare_training(self, loss, metrics, optimizer, batch_size):
        """Set loss, metrics and SGD for batches of up to ``batch_size`` rows.

        The training workspace is allocated by ``bind_training_data``, for
        ``min(batch_size, n)`` rows, so a batch size beyond the data costs nothing.
        """
        cdef Py_ssize_t rows = _positive(batch_size, "batch_size")
        cdef int k
        cdef int* codes
        cdef double* params
        loss = check_loss(loss, training=True)
        metrics = check_metrics(metrics, loss)
        check_folded_training(self._stages)
        sparse = loss.name == "sparse_categorical_crossentropy"
        self._enter()
        try:
            self._set_optimizer(optimizer)
            self._batch_size = rows
            self._train_arena = None
            self.st.train_rows = 0
            self._last_rows = 0
            codes = <int*>malloc((len(metrics) + 1) * sizeof(int))
            params = <double*>malloc((len(metrics) + 1) * sizeof(double))
            if codes == NULL or params == NULL:
                free(codes)
                free(params)
                raise MemoryError()
            free(self.st.metrics)
            free(self.st.metric_params)
            self.st.metrics = codes
            self.st.metric_params = params
            for k, metric in enumerate(metrics):
                self.st.metrics[k] = METRIC_CODES[metric.name]
                self.st.metric_params[k] = metric.param
            self.st.n_metrics = len(metrics)
            self._metrics = metrics
            self._loss = loss
            self.st.loss = losses.make_loss((
                LOSSES.index(loss.name), bool(loss.from_logits), REDUCTION_CODES[loss.reduction],
                float(loss.label_smoothing), float(loss.delta), loss.ignore_class if sparse else None,
            ))
            self.st.sparse = sparse
            self.stats = np.zeros(1 + len(metrics))
            self.st.stats = <double*>cnp.PyArray_DATA(<cnp.ndarray>self.stats)
            # data bound for another loss may not fit this one
            self._bound = None
            self.st.w_data = NULL
        finally:
            self._busy = False

    cdef _set_optimizer(self, optimizer):
        cdef int k, j
        optimizer = check_optimizer(optimizer)
        slot_specs = reference_optimizers.slot_specs(optimizer)
        scalar_specs = reference_optimizers.scalar_specs(optimizer)
        layout = (slot_specs, scalar_specs)
        if len(slot_specs) > 4 or len(scalar_specs) > 4:
            raise ValueError("optimizer: at most 4 slots and 4 scalars per optimizer")
        optim.opt_free(&self.st.opt)
        optim.opt_fill(&self.st.opt, optimizer)
        if layout != self._slot_layout:
            # another kind (or one needing other slots) starts from the slots' initial values
            self._slots = [[np.full_like(p, value) for _, value in slot_specs] for p in self._params]
            for k in range(self.st.n_params):
                for j in range(4):
                    self.st.params[k].slot[j] = NULL
                for j, array in enumerate(self._slots[k]):
                    self.st.params[k].slot[j] = cnp.PyArray_DATA(<cnp.ndarray>array)
            self.st.opt.n_scalars = len(scalar_specs)
            for j, (_, value) in enumerate(scalar_specs):
                self.st.opt.scalars[j] = value
            self._slot_layout = layout

    def set_optimizer(self, optimizer):
        """Change the optimizer's hyperparameters; slots are kept unless the slot layout changes."""
        self._enter()
        try:
            self._set_optimizer(optimizer)
        finally:
            self._busy = False

    property iterations:
        """The optimizer's step count (bias corrections, schedules, Dropout draws)."""

        def __get__(self):
            return self.st.iterations

        def __set__(self, value):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < 2**62:
                raise ValueError(f"iterations: expected an int >= 0, got {value!r}")
            if self._busy:
                raise RuntimeError("this cyneuron network is being used by another thread")
            self.st.iterations = int(value)

    property macs_per_row:
        """Multiply-adds of one sample's forward pass (the BLAS thread policy sizes a fit's products by it)."""

        def __get__(self):
            return self._macs_per_row

    property product_path:
        """How this network's dense products run: "auto" (loop or BLAS by each product's shape),
        "loops" or "blas". Chosen at build (``product_path=``, default: the process default of
        ``cyneuron._core.set_product_path``); the step reads it from the network's own stages."""

        def __get__(self):
            return path_name(self._path)

        def __set__(self, value):
            cdef int s, code = _path_code(value)
            if self._busy:
                raise RuntimeError("this cyneuron network is being used by another thread")
            for s in range(self.st.n_stages):
                self.st.stages[s].path = code
                if self.st.stages[s].kind == KIND_BIDIRECTIONAL:
                    bidirectional.direction(&self.st.stages[s], 0).path = code
                    bidirectional.direction(&self.st.stages[s], 1).path = code
            self._path = code

    property seed:
        """The key of Dropout stages without a seed of their own."""

        def __get__(self):
            return self.st.seed

        def __set__(self, value):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"seed: expected an int, got {type(value).__name__}")
            if self._busy:
                raise RuntimeError("this cyneuron network is being used by another thread")
            self.st.seed = int(value) & 0xFFFFFFFFFFFFFFFF

    def bind_training_data(self, x, y, order, weights=None, *, finite_checked=False):
        """Hold x (n, input_dim), y (labels (n,) int64 or targets (n, units)), order (n,) int64 and the
        sample weights (None or (n,) of the dtype); with a per-step loss (``output_shape``), labels
        (n, steps) and weights (n,) or (n, steps) (``validation.check_network_data``)."""
        self._require_training()
        x, y, order = check_network_data(
            x, y, self.st.in_dim, self.st.out_dim, self.dtype, self._loss, order, finite_checked=finite_checked,
            indices=self.st.index_limit, steps=self.st.loss_steps,
        )
        weights = check_sample_weights("weights", weights, x.shape[0], self.dtype, finite_checked=finite_checked,
                                       steps=self.st.loss_steps)
        self._enter()
        try:
            rows = min(self._batch_size, x.shape[0])
            if rows > self.st.train_rows:
                self._alloc_train(rows)
            self._bound = (x, y, order, weights)
            self.st.w_data = cnp.PyArray_DATA(<cnp.ndarray>weights) if weights is not None else NULL
            self.st.n = x.shape[0]
            self.st.x_data = cnp.PyArray_DATA(<cnp.ndarray>x)
            self.st.order = <const int64_t*>cnp.PyArray_DATA(<cnp.ndarray>order)
            if self.st.sparse:
                self.st.label_data = <const int64_t*>cnp.PyArray_DATA(<cnp.ndarray>y)
                self.st.y_data = NULL
            else:
                self.st.y_data = cnp.PyArray_DATA(<cnp.ndarray>y)
                self.st.label_data = NULL
        finally:
            self._busy = False

    def train_batch(self, start, stop):
        """One SGD step on rows ``order[start:stop]``; adds to ``stats``; False if not finite."""
        cdef int result
        cdef bint big
        cdef PyThreadState* gil_state
        cdef Py_ssize_t first, last
        if type(start) is not int or type(stop) is not int:
            start, stop = _index(start, "start"), _index(stop, "stop")
        try:
            first = start
            last = stop
        except OverflowError:
            first, last = -1, -1  # out of range: reported below
        if self._busy:
            raise RuntimeError("this cyneuron network is being used by another thread")
        if self._bound is None:
            raise RuntimeError("train_batch before bind_training_data")
        if first < 0 or last > self.st.n or first >= last:
            raise ValueError(f"start, stop: expected 0 <= start < stop <= {self.st.n}, got {start}, {stop}")
        if last - first > self.st.train_rows:
            raise ValueError(
                f"start, stop: batch of {last - first} rows exceeds the prepared batch size {self.st.train_rows}"
            )
        self._busy = True
        big = (last - first) * self._macs_per_row >= _NOGIL_MIN_WORK // 3
        if self.st.double:
            gil_state = _release_gil(big)
            result = _train_step(<double*>NULL, &self.st, first, last)
            _restore_gil(gil_state)
        else:
            gil_state = _release_gil(big)
            result = _train_step(<float*>NULL, &self.st, first, last)
            _restore_gil(gil_state)
        self._busy = False
        self._last_rows = last - first if result == STEP_OK or result == STEP_NONFINITE else 0
        if result == STEP_BAD_ORDER:
            raise ValueError(f"order: indices must be in [0, {self.st.n})")
        if result == STEP_BAD_LABEL:
            raise ValueError(f"y: class labels must be in [0, {self.st.loss_width}) (changed after bind_training_data?)")
        if result == STEP_BAD_INDEX:
            raise ValueError(
                f"x: embedding indices must be in [0, {self.st.index_limit}) (changed after bind_training_data?)"
            )
        return result == STEP_OK

    def train_arrays(self, x, y, weights=None, *, finite_checked=False):
        """One training step on the batch x (rows, in_dim), y: the bound data become this batch (identity
        order), so the step is ``train_batch`` on it; workspaces grow once to the largest batch seen."""
        cdef Py_ssize_t rows
        self._require_training()
        if finite_checked and self._plain_batch(x, y, weights):
            rows = cnp.PyArray_DIM(<cnp.ndarray>x, 0)
        else:
            x, y = check_network_data(
                x, y, self.st.in_dim, self.st.out_dim, self.dtype, self._loss, finite_checked=finite_checked,
                indices=self.st.index_limit, steps=self.st.loss_steps,
            )
            rows = x.shape[0]
            weights = check_sample_weights("weights", weights, rows, self.dtype, finite_checked=finite_checked,
                                           steps=self.st.loss_steps)
        if self._identity is None or self._identity.shape[0] < rows:
            self._identity = np.arange(max(rows, self._batch_size), dtype=np.int64)
        self._enter()
        try:
            if rows > self.st.train_rows:
                self._alloc_train(rows)
            self._bound = (x, y, self._identity, weights)
            self.st.w_data = cnp.PyArray_DATA(<cnp.ndarray>weights) if weights is not None else NULL
            self.st.n = rows
            self.st.x_data = cnp.PyArray_DATA(<cnp.ndarray>x)
            self.st.order = <const int64_t*>cnp.PyArray_DATA(<cnp.ndarray>self._identity)
            if self.st.sparse:
                self.st.label_data = <const int64_t*>cnp.PyArray_DATA(<cnp.ndarray>y)
                self.st.y_data = NULL
            else:
                self.st.y_data = cnp.PyArray_DATA(<cnp.ndarray>y)
                self.st.label_data = NULL
        finally:
            self._busy = False
        return self.train_batch(0, rows)

    def last_batch(self):
        """(y_pred, y_true, weights) of the last training step: read-only views of the workspace (valid until
        the next training call) holding its training-mode output (rows, units), its gathered targets (labels
        (rows,) int64 or (rows, units)) and sample weights ((rows,), None when unweighted). With per-step losses
        (``output_shape``) they are loss rows: rows * steps of the output's last axis, as the loss reads them."""
        cdef cnp.npy_intp dims[2]
        if self._last_rows == 0:
            raise RuntimeError("last_batch: no training step since the workspace was allocated")
        dims[0] = self._last_rows * self.st.loss_steps
        dims[1] = self.st.loss_width
        y_pred = self._view(self.st.stages[self.st.n_stages - 1].out_train, 2, dims, self._typenum)
        if self.st.sparse:
            y_true = self._view(self.st.label_batch, 1, dims, cnp.NPY_INT64)
        else:
            y_true = self._view(self.st.y_batch, 2, dims, self._typenum)
        weights = self._view(self.st.w_batch, 1, dims, self._typenum) if self.st.w_data != NULL else None
        return y_pred, y_true, weights

    cdef object _view(self, void* data, int nd, cnp.npy_intp* dims, int typenum):
        # the array keeps the arena alive, so a later reallocation cannot leave it dangling
        cdef cnp.ndarray array = cnp.PyArray_SimpleNewFromData(nd, dims, typenum, data)
        cnp.set_array_base(array, self._train_arena)
        cnp.PyArray_CLEARFLAGS(array, cnp.NPY_ARRAY_WRITEABLE)
        return array

    cdef bint _plain_batch(self, x, y, weights):
        """Whether x, y (and weights) are the C-contiguous, aligned, native ndarrays of the types and shapes the
        step reads, so a caller that validated their values (``finite_checked``) skips the generic checks of a
        per-batch call; labels and embedding indices are still checked one by one by the step's gather."""
        cdef Py_ssize_t rows
        if self.st.loss_steps != 1:  # per-step labels and weights: the generic checks
            return False
        if type(x) is not np.ndarray or type(y) is not np.ndarray:
            return False
        if not _plain(<cnp.ndarray>x, 2, self._x_typenum, -1, self.st.in_dim):
            return False
        rows = cnp.PyArray_DIM(<cnp.ndarray>x, 0)
        if rows == 0:
            return False
        if self.st.sparse:
            if not _plain(<cnp.ndarray>y, 1, cnp.NPY_INT64, rows, 0):
                return False
        elif not _plain(<cnp.ndarray>y, 2, self._typenum, rows, self.st.out_dim):
            return False
        if weights is None:
            return True
        return type(weights) is np.ndarray and _plain(<cnp.ndarray>weights, 1, self._typenum, rows, 0)

    def reset_stats(self):
        """Zero ``stats``."""
        self.stats[...] = 0

    def evaluate(self, x, y, batch_size, weights=None, *, finite_checked=False):
        """Mean loss then mean of each metric over all of x, y: float64 (1 + len(metrics),); the loss
        weighted by the sample ``weights`` (None or (n,) of the dtype) as ``base.Network`` says."""
        cdef Py_ssize_t n, chunk
        cdef cnp.ndarray xa, ya, sums
        cdef const void* yp = NULL
        cdef const void* wp = NULL
        cdef const int64_t* lp = NULL
        cdef bint big, in_range = True
        cdef PyThreadState* gil_state
        self._require_training()
        xa, ya = check_network_data(
            x, y, self.st.in_dim, self.st.out_dim, self.dtype, self._loss, finite_checked=finite_checked,
            indices=self.st.index_limit, steps=self.st.loss_steps,
        )
        chunk = _positive(batch_size, "batch_size")
        n = cnp.PyArray_DIM(xa, 0)
        weights = check_sample_weights("weights", weights, n, self.dtype, finite_checked=finite_checked,
                                       steps=self.st.loss_steps)
        if weights is not None:
            wp = cnp.PyArray_DATA(<cnp.ndarray>weights)
        if self.st.sparse:
            # labels index rows inside the kernel: a private copy, which no other thread can change mid-call
            ya = ya.copy()
            lp = <const int64_t*>cnp.PyArray_DATA(ya)
        else:
            yp = cnp.PyArray_DATA(ya)
        sums = np.zeros(1 + len(self._metrics))
        self._enter()
        try:
            if chunk > n:
                chunk = n
            if chunk > self.st.infer_rows:
                self._alloc_infer(chunk)
            big = n * self._macs_per_row >= _NOGIL_MIN_WORK
            if self.st.double:
                gil_state = _release_gil(big)
                in_range = _evaluate(<double*>NULL, &self.st, <const double*>cnp.PyArray_DATA(xa),
                                     <const double*>yp, lp, <const double*>wp, n, chunk,
                                     <double*>cnp.PyArray_DATA(sums))
                _restore_gil(gil_state)
            else:
                gil_state = _release_gil(big)
                in_range = _evaluate(<float*>NULL, &self.st, <const float*>cnp.PyArray_DATA(xa),
                                     <const float*>yp, lp, <const float*>wp, n, chunk,
                                     <double*>cnp.PyArray_DATA(sums))
                _restore_gil(gil_state)
        finally:
            self._busy = False
        if not in_range:
            raise self._bad_index_error()
        return sums / n

    # ----------------------------------------------------- optimizer state
    def get_optimizer_state(self):
        """``{"iterations", "slots" (copies, per trainable param), "scalars"}``; see ``base.Network``."""
        return {
            "iterations": int(self.st.iterations),
            "slots": [[a.copy() for a in slots] for slots in self._slots],
            "scalars": np.array([self.st.opt.scalars[j] for j in range(self.st.opt.n_scalars)], dtype=np.float64),
        }

    def set_optimizer_state(self, state):
        """Restore a state shaped as ``get_optimizer_state`` returns it (checked first)."""
        cdef int j
        scalars = np.array([self.st.opt.scalars[j] for j in range(self.st.opt.n_scalars)], dtype=np.float64)
        values = check_optimizer_state(state, self._slots, scalars)
        self._enter()
        try:
            for targets, arrays in zip(self._slots, values["slots"]):
                for target, value in zip(targets, arrays):
                    target[...] = value
            for j in range(self.st.opt.n_scalars):
                self.st.opt.scalars[j] = float(values["scalars"][j])
            self.st.iterations = values["iterations"]
        finally:
            self._busy = False

    cdef _require_training(self):
        if self._loss is None:
            raise RuntimeError("prepare_training must be called first")


# ------------------------------------------------------------ the model's one-call predict
cdef extern from "pythread.h":
    ctypedef void* PyThread_type_lock
    ctypedef enum PyLockStatus:
        PY_LOCK_FAILURE
        PY_LOCK_ACQUIRED
        PY_LOCK_INTR
    PyThread_type_lock PyThread_allocate_lock()
    void PyThread_free_lock(PyThread_type_lock)
    int PyThread_acquire_lock(PyThread_type_lock, int waitflag) noexcept
    PyLockStatus PyThread_acquire_lock_timed(PyThread_type_lock, long long microseconds, int intr_flag) noexcept nogil
    void PyThread_release_lock(PyThread_type_lock) noexcept
    unsigned long PyThread_get_thread_ident() noexcept

cdef extern from "Python.h":
    int PyErr_CheckSignals() except -1


@cython.auto_pickle(False)
cdef class ModelLock:
    """A model's network lock: re-entrant, with ``threading.RLock``'s ``acquire(blocking=True, timeout=-1)``,
    ``release()`` and ``with``; a blocking wait can be interrupted (Ctrl-C) as RLock's.

    Owner and count change only under the GIL, so ``try_acquire`` (compiled callers: the model's one-call
    predict) is one non-blocking OS-lock attempt, without RLock's argument parsing and clock reads.
    """

    cdef PyThread_type_lock _lock
    cdef unsigned long _owner
    cdef Py_ssize_t _count

    def __cinit__(self):
        self._lock = PyThread_allocate_lock()
        if self._lock == NULL:
            raise MemoryError("cyneuron: cannot allocate a lock")

    def __dealloc__(self):
        if self._lock != NULL:
            if self._count:
                PyThread_release_lock(self._lock)
            PyThread_free_lock(self._lock)

    cdef inline bint try_acquire(self) noexcept:
        cdef unsigned long me = PyThread_get_thread_ident()
        if self._count and self._owner == me:
            self._count += 1
            return True
        if not PyThread_acquire_lock(self._lock, 0):
            return False
        self._owner = me
        self._count = 1
        return True

    cdef inline void release_owned(self) noexcept:
        """The calling thread holds the lock (a ``try_acquire`` that returned True)."""
        self._count -= 1
        if self._count == 0:
            self._owner = 0
            PyThread_release_lock(self._lock)

    def acquire(self, blocking=True, timeout=-1):
        """As ``threading.RLock.acquire``: True once held (again, by its owner), False on a failed
        non-blocking attempt or when ``timeout`` seconds passed."""
        cdef PyLockStatus status
        cdef long long wait
        cdef double seconds = timeout
        if not blocking and seconds != -1:
            raise ValueError("can't specify a timeout for a non-blocking call")
        if seconds < 0 and seconds != -1:
            raise ValueError("timeout value must be a non-negative number")
        if self.try_acquire():
            return True
        if not blocking:
            return False
        deadline = None if seconds == -1 else time.monotonic() + seconds
        while True:
            wait = -1 if deadline is None else max(0, <long long>((deadline - time.monotonic()) * 1e6))
            with nogil:
                status = PyThread_acquire_lock_timed(self._lock, wait, 1)
            if status != PY_LOCK_INTR:
                break
            PyErr_CheckSignals()  # a signal handler's exception (KeyboardInterrupt) propagates
        if status != PY_LOCK_ACQUIRED:
            return False
        self._owner = PyThread_get_thread_ident()
        self._count = 1
        return True

    def release(self):
        """As ``threading.RLock.release``: RuntimeError unless the calling thread holds the lock."""
        if self._count == 0 or self._owner != PyThread_get_thread_ident():
            raise RuntimeError("cannot release un-acquired lock")
        self.release_owned()

    def __enter__(self):
        # the uncontended case without a Python-level call (fit takes the lock per step with callbacks)
        return True if self.try_acquire() else self.acquire()

    def __exit__(self, exc_type, exc, tb):
        if self._count == 0 or self._owner != PyThread_get_thread_ident():
            raise RuntimeError("cannot release un-acquired lock")
        self.release_owned()

    def _is_owned(self):
        return self._count > 0 and self._owner == PyThread_get_thread_ident()

    def __repr__(self):
        state = f"locked, count={self._count}" if self._count else "unlocked"
        return f"<cyneuron ModelLock {state}>"


cdef enum:
    _FAST_MAX_DIMS = 8


@cython.auto_pickle(False)
cdef class FastPredictor:
    """A model's ``predict`` / ``predict_on_batch`` for inputs that need no conversion, in one compiled call.

    ``predict(x)`` / ``on_batch(x)`` return the outputs ``(n, *out_shape)`` of ``x`` ``(n, *features)`` when
    x is exactly an ndarray of the network's x type (native byte order, C-contiguous) with at least one
    row; values are checked as in ``NetworkCore.predict`` (NaN / infinity, embedding indices: ValueError).
    They return None, having done nothing, for any other x or when ``lock`` is held by another thread: the
    caller then takes its general path, which converts or refuses x and waits for, or refuses, the holder.
    ``predict`` runs chunks of ``batch_size`` rows (as ``NetworkCore.predict``), ``on_batch`` one chunk.
    """

    cdef NetworkCore net
    cdef ModelLock lock
    cdef int _x_nd
    cdef int _out_nd
    cdef Py_ssize_t _chunk
    cdef cnp.npy_intp _x_dims[_FAST_MAX_DIMS]
    cdef cnp.npy_intp _out_dims[_FAST_MAX_DIMS]

    def __init__(self, NetworkCore net, features, out_shape, ModelLock lock, batch_size):
        cdef int k
        features, out_shape = tuple(features), tuple(out_shape)
        if not 1 + len(features) <= _FAST_MAX_DIMS or not 1 + len(out_shape) <= _FAST_MAX_DIMS:
            raise ValueError(f"features, out_shape: at most {_FAST_MAX_DIMS - 1} axes each")
        if math.prod(features) != net.st.in_dim or math.prod(out_shape) != net.st.out_dim:
            raise ValueError(
                f"features, out_shape: {features} and {out_shape} do not match the network's "
                f"{net.st.in_dim} inputs and {net.st.out_dim} outputs per sample"
            )
        self.net = net
        self.lock = lock
        self._chunk = _positive(batch_size, "batch_size")
        self._x_nd = 1 + len(features)
        self._out_nd = 1 + len(out_shape)
        for k in range(len(features)):
            self._x_dims[1 + k] = features[k]
        for k in range(len(out_shape)):
            self._out_dims[1 + k] = out_shape[k]

    def predict(self, x):
        """Outputs of x in chunks of ``batch_size`` rows, or None (see the class)."""
        return self._run(x, self._chunk)

    def on_batch(self, x):
        """Outputs of x in one chunk, or None (see the class)."""
        return self._run(x, 0)

    cdef object _run(self, object x, Py_ssize_t chunk):
        cdef int k
        cdef cnp.ndarray xa
        cdef cnp.npy_intp out_dims[_FAST_MAX_DIMS]
        if not cnp.PyArray_CheckExact(x):
            return None
        xa = <cnp.ndarray>x
        if not (cnp.PyArray_NDIM(xa) == self._x_nd
                and cnp.PyArray_TYPE(xa) == self.net._x_typenum
                and cnp.PyArray_ISNOTSWAPPED(xa)
                and cnp.PyArray_IS_C_CONTIGUOUS(xa)
                and cnp.PyArray_DIM(xa, 0) > 0):
            return None
        for k in range(1, self._x_nd):
            if cnp.PyArray_DIM(xa, k) != self._x_dims[k]:
                return None
        if not self.lock.try_acquire():
            return None
        try:
            out_dims[0] = cnp.PyArray_DIM(xa, 0)
            for k in range(1, self._out_nd):
                out_dims[k] = self._out_dims[k]
            return self.net._predict_rows(xa, chunk if chunk else out_dims[0], self._out_nd, out_dims)
        finally:
            self.lock.release_owned()


# The model's predict entry points (``_inference.InferenceMixin`` takes them when this module loads): the
# fast predictor's one call when it applies, else the model's general path (pure Python).
def model_predict(self, x, batch_size=None, verbose=0, callbacks=None):
    """Outputs for inputs ``x`` ``(n, features...)``: an array ``(n, *output_shape[1:])`` of the model dtype.

    Args:
        x: array-like of any real dtype (converted once to the model dtype).
        batch_size: rows per forward pass (default 32).
        verbose: 0 (default), 1 or 2 / "auto" for a progress bar.
        callbacks: optional callbacks receiving the predict hooks.
    """
    fast = self._fast
    if type(fast) is FastPredictor and batch_size is None and callbacks is None and verbose == 0:
        out = (<FastPredictor>fast)._run(x, (<FastPredictor>fast)._chunk)
        if out is not None:
            return out
    return self._predict(x, batch_size, verbose, callbacks)


def model_predict_on_batch(self, x):
    """Outputs for one batch ``x`` (as ``keras.Model.predict_on_batch``)."""
    fast = self._fast
    if type(fast) is FastPredictor:
        out = (<FastPredictor>fast)._run(x, 0)
        if out is not None:
            return out
    return self._predict_on_batch(x)


def model_call(self, x, training=False):
    """``model(x)``: the outputs for ``x``, an array ``(n, *output_shape[1:])`` (``model.predict(x)``).

    ``training=True`` runs the layers in training mode, as Keras does: Dropout drops, and
    BatchNormalization normalises with the batch's statistics and updates its moving ones.
    """
    fast = self._fast
    if training is False and type(fast) is FastPredictor:
        out = (<FastPredictor>fast)._run(x, (<FastPredictor>fast)._chunk)
        if out is not None:
            return out
    return self._call(x, training)
