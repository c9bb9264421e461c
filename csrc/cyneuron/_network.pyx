# The fused whole-network path of the cython backend.
#
# A NetworkCore owns a C description of its stages (pointers into the model's
# own kernel/bias arrays, which it keeps alive and updates in place), SGD
# velocities, and workspaces allocated once per batch size. One call to
# ``train_batch`` gathers the batch, runs forward, loss, metrics, backward, the
# finiteness check and the SGD update in compiled code without the GIL.
#
# The float/double choice is made once per call by a branch on
# ``self.st.double``, passing a typed NULL "tag" pointer whose type
# picks the fused specialisation of the whole step.

cimport numpy as cnp
from cython cimport floating
from libc.stdint cimport int64_t, uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from cyneuron cimport _core as core

import numpy as np

from cyneuron.backend.validation import (
    check_loss,
    check_metrics,
    check_network_data,
    check_optimizer,
    check_optimizer_state,
    stage_widths,
)

cdef extern from "Python.h":
    ctypedef struct PyThreadState
    PyThreadState* PyEval_SaveThread()
    void PyEval_RestoreThread(PyThreadState*)

cnp.import_array()


cdef inline PyThreadState* _release_gil(bint release) noexcept:
    # Only for enough work: dropping and re-taking the GIL costs ~0.1 us.
    return PyEval_SaveThread() if release else NULL


cdef inline void _restore_gil(PyThreadState* state) noexcept:
    if state != NULL:
        PyEval_RestoreThread(state)

cdef dict _ACTIVATION_CODES = {
    "linear": core.ACT_LINEAR, "relu": core.ACT_RELU, "sigmoid": core.ACT_SIGMOID,
    "tanh": core.ACT_TANH, "softmax": core.ACT_SOFTMAX,
}
cdef dict _LOSS_CODES = {
    "mean_squared_error": core.LOSS_MSE, "mean_absolute_error": core.LOSS_MAE,
    "binary_crossentropy": core.LOSS_BCE, "categorical_crossentropy": core.LOSS_CCE,
    "sparse_categorical_crossentropy": core.LOSS_SCCE,
}
cdef dict _METRIC_CODES = {
    "binary_accuracy": core.METRIC_BINARY_ACCURACY, "categorical_accuracy": core.METRIC_CATEGORICAL_ACCURACY,
    "sparse_categorical_accuracy": core.METRIC_SPARSE_CATEGORICAL_ACCURACY,
    "mean_squared_error": core.METRIC_MSE, "mean_absolute_error": core.METRIC_MAE,
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


ctypedef struct StageC:
    int act
    bint dense
    Py_ssize_t n_in, n_out
    void* w          # kernel (n_in, n_out), the model's array
    void* b          # bias (n_out,) or NULL
    void* vw         # SGD velocities, same shapes
    void* vb
    void* gw         # gradient workspaces, same shapes
    void* gb
    void* a_train    # (train_rows, n_out): Z then, in place, A (hidden stages)
    void* a_infer    # (infer_rows, n_out)


ctypedef struct NetState:
    bint double
    int n_stages
    int first_dense          # index of the first stage with a kernel, n_stages if none
    Py_ssize_t in_dim, out_dim, max_width, itemsize
    StageC* stages
    # training configuration
    int loss
    bint from_logits
    bint sparse
    int n_metrics
    int* metrics
    double lr, momentum
    bint nesterov
    double* stats
    # training workspace (train_rows rows)
    Py_ssize_t train_rows
    void* x_batch
    void* y_batch
    int64_t* label_batch
    void* z_train            # the last dense stage's Z
    void* g0
    void* g1
    # bound training data
    Py_ssize_t n
    const void* x_data
    const void* y_data
    const int64_t* label_data
    const int64_t* order
    # inference workspace (infer_rows rows)
    Py_ssize_t infer_rows
    void* z_infer
    void* g_infer            # scratch for the (unused) loss gradient while evaluating


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
cdef void _forward(floating* tag, NetState* st, const floating* x, Py_ssize_t rows, bint training,
                   floating* z_last, floating* final_out) noexcept nogil:
    """Every stage on x (rows, in_dim). Hidden stages write their output into the
    training or inference workspace; the last writes to ``final_out`` when given.
    ``z_last`` receives the last dense stage's pre-activation (NULL: in place)."""
    cdef int s, last = st.n_stages - 1
    cdef StageC* stage
    cdef const floating* inp = x
    cdef floating* a
    cdef floating* z
    for s in range(st.n_stages):
        stage = &st.stages[s]
        a = <floating*>(stage.a_train if training else stage.a_infer)
        z = a
        if s == last:
            if final_out != NULL:
                a = final_out
                z = a
            if z_last != NULL:
                z = z_last
        if stage.dense:
            core.dense_forward(inp, <const floating*>stage.w, <const floating*>stage.b, stage.act,
                               z, a, rows, stage.n_in, stage.n_out)
        else:
            core.activation_forward(stage.act, inp, a, rows, stage.n_out)
        inp = a


cdef inline const floating* _stage_input(floating* tag, NetState* st, int s, const floating* x,
                                         bint training) noexcept nogil:
    if s == 0:
        return x
    return <const floating*>(st.stages[s - 1].a_train if training else st.stages[s - 1].a_infer)


cdef double _loss_and_metrics(floating* tag, NetState* st, const floating* x, const floating* y,
                              const int64_t* labels, Py_ssize_t rows, bint training, floating* grad,
                              double* sums) noexcept nogil:
    """Loss gradient into ``grad`` (a scratch buffer when only evaluating), and
    adds the loss then metric sums to ``sums``; returns the loss sum."""
    cdef int last = st.n_stages - 1, k
    cdef StageC* stage = &st.stages[last]
    cdef const floating* a = <const floating*>(stage.a_train if training else stage.a_infer)
    cdef const floating* z
    cdef double loss
    if stage.dense:
        z = <const floating*>(st.z_train if training else st.z_infer)
    else:
        z = _stage_input(tag, st, last, x, training)
    loss = core.output_gradient(st.loss, st.from_logits, stage.act, y, labels, z, a, grad, rows, stage.n_out)
    sums[0] += loss
    for k in range(st.n_metrics):
        sums[1 + k] += core.metric_sum(st.metrics[k], y, labels, a, rows, stage.n_out)
    return loss


cdef int _train_step(floating* tag, NetState* st, Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    cdef Py_ssize_t rows = stop - start, r, idx, width, n_in = st.in_dim, n_out = st.out_dim
    cdef int s, last = st.n_stages - 1
    cdef StageC* stage
    cdef const floating* xs = <const floating*>st.x_data
    cdef const floating* ys = <const floating*>st.y_data
    cdef floating* xb = <floating*>st.x_batch
    cdef floating* yb = <floating*>st.y_batch
    cdef floating* g = <floating*>st.g0
    cdef floating* h = <floating*>st.g1
    cdef floating* t
    cdef double loss
    cdef bint finite

    # gather rows order[start:stop]
    for r in range(rows):
        idx = st.order[start + r]
        if idx < 0 or idx >= st.n:
            return STEP_BAD_ORDER
        memcpy(xb + r * n_in, xs + idx * n_in, n_in * sizeof(floating))
        if st.sparse:
            # the caller may change its label array after bind: a label indexes rows, so check it
            if st.label_data[idx] < 0 or st.label_data[idx] >= n_out:
                return STEP_BAD_LABEL
            st.label_batch[r] = st.label_data[idx]
        else:
            memcpy(yb + r * n_out, ys + idx * n_out, n_out * sizeof(floating))

    _forward(tag, st, xb, rows, True, <floating*>st.z_train, NULL)
    loss = _loss_and_metrics(tag, st, xb, yb, st.label_batch, rows, True, g, st.stats)

    # backward: g holds dL/dZ of stage s (for a bare activation Z is its input)
    s = last
    while s >= st.first_dense:
        stage = &st.stages[s]
        if stage.dense:
            core.matmul_xt_g(_stage_input(tag, st, s, xb, True), g, <floating*>stage.gw, rows, stage.n_in, stage.n_out)
            if stage.b != NULL:
                core.column_sums(g, <floating*>stage.gb, rows, stage.n_out)
            if s == st.first_dense:
                break
            core.matmul_g_wt(g, <const floating*>stage.w, h, rows, stage.n_in, stage.n_out)
            t = g
            g = h
            h = t
        # g is now dL/dA of stage s-1: through its activation (relu reads the sign of A)
        stage = &st.stages[s - 1]
        core.activation_backward(stage.act, <const floating*>stage.a_train, <const floating*>stage.a_train,
                                 g, g, rows, stage.n_out)
        s -= 1

    finite = loss - loss == 0
    s = 0
    while finite and s < st.n_stages:
        stage = &st.stages[s]
        if stage.dense:
            finite = core.all_finite(<const floating*>stage.gw, stage.n_in * stage.n_out)
            if finite and stage.b != NULL:
                finite = core.all_finite(<const floating*>stage.gb, stage.n_out)
        s += 1
    if not finite:
        return STEP_NONFINITE

    for s in range(st.n_stages):
        stage = &st.stages[s]
        if stage.dense:
            core.sgd_update(<floating*>stage.w, <const floating*>stage.gw, <floating*>stage.vw,
                            stage.n_in * stage.n_out, <floating>st.lr, <floating>st.momentum, st.nesterov)
            if stage.b != NULL:
                core.sgd_update(<floating*>stage.b, <const floating*>stage.gb, <floating*>stage.vb,
                                stage.n_out, <floating>st.lr, <floating>st.momentum, st.nesterov)
    return STEP_OK


cdef void _predict(floating* tag, NetState* st, const floating* x, Py_ssize_t n, Py_ssize_t chunk,
                   floating* out) noexcept nogil:
    cdef Py_ssize_t start, rows
    start = 0
    while start < n:
        rows = chunk if n - start > chunk else n - start
        _forward(tag, st, x + start * st.in_dim, rows, False, NULL, out + start * st.out_dim)
        start += rows


cdef void _evaluate(floating* tag, NetState* st, const floating* x, const floating* y, const int64_t* labels,
                    Py_ssize_t n, Py_ssize_t chunk, double* sums) noexcept nogil:
    cdef Py_ssize_t start, rows
    cdef const floating* xr
    cdef floating* grad = <floating*>st.g_infer
    start = 0
    while start < n:
        rows = chunk if n - start > chunk else n - start
        xr = x + start * st.in_dim
        _forward(tag, st, xr, rows, False, <floating*>st.z_infer, NULL)
        _loss_and_metrics(tag, st, xr, y + start * st.out_dim if y != NULL else NULL,
                          labels + start if labels != NULL else NULL, rows, False, grad, sums)
        start += rows


# ------------------------------------------------------------ the Python class
cdef inline Py_ssize_t _positive(object value, str name) except -1:
    if type(value) is int and value >= 1:
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1:
        return int(value)
    raise ValueError(f"{name}: expected a positive integer, got {value!r}")


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
    cdef tuple _stages
    cdef list _velocities
    cdef object _loss
    cdef tuple _metrics
    cdef _Arena _train_arena
    cdef _Arena _infer_arena
    cdef tuple _bound
    cdef Py_ssize_t _batch_size
    cdef Py_ssize_t _macs_per_row
    cdef bint _busy

    def __cinit__(self):
        self.st.stages = NULL
        self.st.metrics = NULL

    def __init__(self, stages, input_dim, dtype):
        cdef int s
        cdef StageC* stage
        if self.st.stages != NULL:
            raise RuntimeError("a NetworkCore is initialised once; build a new one instead")
        widths = stage_widths(stages, input_dim, dtype)  # validates first, naming the bad argument
        stages = tuple(stages)
        self.dtype = np.dtype(dtype)
        self._typenum = cnp.NPY_DOUBLE if self.dtype == np.float64 else cnp.NPY_FLOAT
        self.st.double = self.dtype == np.float64
        self.st.itemsize = self.dtype.itemsize
        self._stages = stages
        self.st.n_stages = len(stages)
        self.st.in_dim = widths[0]
        self.st.out_dim = widths[len(widths) - 1]
        self.st.max_width = max(widths)
        self.st.stages = <StageC*>malloc(len(stages) * sizeof(StageC))
        if self.st.stages == NULL:
            raise MemoryError("cyneuron: cannot allocate the network description")
        memset(self.st.stages, 0, len(stages) * sizeof(StageC))
        self.st.first_dense = len(stages)
        self._velocities = []
        self._macs_per_row = 0
        for s, spec in enumerate(stages):
            stage = &self.st.stages[s]
            stage.act = _ACTIVATION_CODES[spec.activation]
            stage.n_in = widths[s]
            stage.n_out = widths[s + 1]
            stage.dense = spec.kernel is not None
            if not stage.dense:
                continue
            if self.st.first_dense == len(stages):
                self.st.first_dense = s
            self._macs_per_row += stage.n_in * stage.n_out
            stage.w = cnp.PyArray_DATA(<cnp.ndarray>spec.kernel)
            velocity = np.zeros_like(spec.kernel)
            stage.vw = cnp.PyArray_DATA(<cnp.ndarray>velocity)
            self._velocities.append(velocity)
            if spec.bias is not None:
                stage.b = cnp.PyArray_DATA(<cnp.ndarray>spec.bias)
                velocity = np.zeros_like(spec.bias)
                stage.vb = cnp.PyArray_DATA(<cnp.ndarray>velocity)
                self._velocities.append(velocity)
        self._metrics = ()
        self.stats = np.zeros(1)
        self.st.stats = <double*>cnp.PyArray_DATA(<cnp.ndarray>self.stats)

    def __dealloc__(self):
        free(self.st.stages)
        free(self.st.metrics)

    # ------------------------------------------------------------- locking
    cdef inline int _enter(self) except -1:
        # Check-and-set under the GIL, so two threads cannot both get in.
        if self._busy:
            raise RuntimeError("this cyneuron network is being used by another thread")
        self._busy = True
        return 0

    # ---------------------------------------------------------- workspaces
    cdef _alloc_infer(self, Py_ssize_t rows):
        cdef int s
        cdef Py_ssize_t item = self.st.itemsize, nbytes = 0
        for s in range(self.st.n_stages):
            nbytes += _round_up(rows * self.st.stages[s].n_out * item)
        nbytes += 2 * _round_up(rows * self.st.out_dim * item)
        arena = _Arena(nbytes)
        for s in range(self.st.n_stages):
            self.st.stages[s].a_infer = arena.take(rows * self.st.stages[s].n_out * item)
        self.st.z_infer = arena.take(rows * self.st.out_dim * item)
        self.st.g_infer = arena.take(rows * self.st.out_dim * item)
        self._infer_arena = arena
        self.st.infer_rows = rows

    cdef _alloc_train(self, Py_ssize_t rows):
        cdef int s
        cdef StageC* stage
        cdef Py_ssize_t item = self.st.itemsize, nbytes = 0
        nbytes += _round_up(rows * self.st.in_dim * item)
        nbytes += _round_up(rows * self.st.out_dim * item) + _round_up(rows * 8)
        nbytes += _round_up(rows * self.st.out_dim * item)
        nbytes += 2 * _round_up(rows * self.st.max_width * item)
        for s in range(self.st.n_stages):
            stage = &self.st.stages[s]
            nbytes += _round_up(rows * stage.n_out * item)
            if stage.dense:
                nbytes += _round_up(stage.n_in * stage.n_out * item) + _round_up(stage.n_out * item)
        arena = _Arena(nbytes)
        self.st.x_batch = arena.take(rows * self.st.in_dim * item)
        self.st.y_batch = arena.take(rows * self.st.out_dim * item)
        self.st.label_batch = <int64_t*>arena.take(rows * 8)
        self.st.z_train = arena.take(rows * self.st.out_dim * item)
        self.st.g0 = arena.take(rows * self.st.max_width * item)
        self.st.g1 = arena.take(rows * self.st.max_width * item)
        for s in range(self.st.n_stages):
            stage = &self.st.stages[s]
            stage.a_train = arena.take(rows * stage.n_out * item)
            if stage.dense:
                stage.gw = arena.take(stage.n_in * stage.n_out * item)
                stage.gb = arena.take(stage.n_out * item)
        self._train_arena = arena
        self.st.train_rows = rows

    # ------------------------------------------------------------ predict
    def predict(self, x, batch_size):
        """Forward pass of x (n, input_dim) in chunks of ``batch_size``; returns a new (n, units) array."""
        cdef Py_ssize_t n, chunk
        cdef cnp.npy_intp dims[2]
        cdef cnp.ndarray xa, out
        cdef bint ok, big
        cdef PyThreadState* gil_state
        if not (cnp.PyArray_CheckExact(x) and cnp.PyArray_NDIM(<cnp.ndarray>x) == 2
                and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>x)
                and cnp.PyArray_TYPE(<cnp.ndarray>x) == self._typenum
                and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>x)
                and cnp.PyArray_DIM(<cnp.ndarray>x, 1) == self.st.in_dim
                and cnp.PyArray_DIM(<cnp.ndarray>x, 0) > 0):
            # slow path: raises the boundary's error for anything the fast path refuses
            x = check_network_data(x, None, self.st.in_dim, self.st.out_dim, self.dtype, None)[0]
        xa = <cnp.ndarray>x
        chunk = _positive(batch_size, "batch_size")
        n = cnp.PyArray_DIM(xa, 0)
        self._enter()
        try:
            if chunk > n:
                chunk = n
            if chunk > self.st.infer_rows:
                self._alloc_infer(chunk)
            dims[0] = n
            dims[1] = self.st.out_dim
            out = cnp.PyArray_EMPTY(2, dims, self._typenum, 0)
            big = n * self._macs_per_row >= _NOGIL_MIN_WORK
            if self.st.double:
                gil_state = _release_gil(big)
                ok = core.all_finite(<const double*>cnp.PyArray_DATA(xa), n * self.st.in_dim)
                if ok:
                    _predict(<double*>NULL, &self.st, <const double*>cnp.PyArray_DATA(xa), n, chunk,
                             <double*>cnp.PyArray_DATA(out))
                _restore_gil(gil_state)
            else:
                gil_state = _release_gil(big)
                ok = core.all_finite(<const float*>cnp.PyArray_DATA(xa), n * self.st.in_dim)
                if ok:
                    _predict(<float*>NULL, &self.st, <const float*>cnp.PyArray_DATA(xa), n, chunk,
                             <float*>cnp.PyArray_DATA(out))
                _restore_gil(gil_state)
            if not ok:
                raise ValueError("x: contains NaN or inf")
            return out
        finally:
            self._busy = False

    # ------------------------------------------------------------ training
    def prepare_training(self, loss, metrics, optimizer, batch_size):
        """Set loss, metrics and SGD for batches of up to ``batch_size`` rows.

        The training workspace is allocated by ``bind_training_data``, for
        ``min(batch_size, n)`` rows, so a batch size beyond the data costs nothing.
        """
        cdef Py_ssize_t rows = _positive(batch_size, "batch_size")
        cdef int k
        cdef int* codes
        loss = check_loss(loss)
        metrics = check_metrics(metrics, loss)
        sparse = loss.name == "sparse_categorical_crossentropy"
        self._enter()
        try:
            self._set_optimizer(optimizer)
            self._batch_size = rows
            self._train_arena = None
            self.st.train_rows = 0
            codes = <int*>malloc((len(metrics) + 1) * sizeof(int))
            if codes == NULL:
                raise MemoryError()
            free(self.st.metrics)
            self.st.metrics = codes
            for k, name in enumerate(metrics):
                self.st.metrics[k] = _METRIC_CODES[name]
            self.st.n_metrics = len(metrics)
            self._metrics = metrics
            self._loss = loss
            self.st.loss = _LOSS_CODES[loss.name]
            self.st.from_logits = bool(loss.from_logits)
            self.st.sparse = sparse
            self.stats = np.zeros(1 + len(metrics))
            self.st.stats = <double*>cnp.PyArray_DATA(<cnp.ndarray>self.stats)
            # data bound for another loss may not fit this one
            self._bound = None
        finally:
            self._busy = False

    cdef _set_optimizer(self, optimizer):
        optimizer = check_optimizer(optimizer)
        lr = float(optimizer.learning_rate)
        momentum = float(optimizer.momentum)
        nesterov = bool(optimizer.nesterov)
        self.st.lr = lr
        self.st.momentum = momentum
        self.st.nesterov = nesterov

    def set_optimizer(self, optimizer):
        """Change the SGD hyperparameters; velocities are kept."""
        self._enter()
        try:
            self._set_optimizer(optimizer)
        finally:
            self._busy = False

    def bind_training_data(self, x, y, order, *, finite_checked=False):
        """Hold x (n, input_dim), y (labels (n,) int64 or targets (n, units)) and order (n,) int64."""
        self._require_training()
        x, y, order = check_network_data(
            x, y, self.st.in_dim, self.st.out_dim, self.dtype, self._loss, order, finite_checked=finite_checked
        )
        self._enter()
        try:
            rows = min(self._batch_size, x.shape[0])
            if rows > self.st.train_rows:
                self._alloc_train(rows)
            self._bound = (x, y, order)
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
        if result == STEP_BAD_ORDER:
            raise ValueError(f"order: indices must be in [0, {self.st.n})")
        if result == STEP_BAD_LABEL:
            raise ValueError(f"y: class labels must be in [0, {self.st.out_dim}) (changed after bind_training_data?)")
        return result == STEP_OK

    def reset_stats(self):
        """Zero ``stats``."""
        self.stats[...] = 0

    def evaluate(self, x, y, batch_size, *, finite_checked=False):
        """Mean loss then mean of each metric over all of x, y: float64 (1 + len(metrics),)."""
        cdef Py_ssize_t n, chunk
        cdef cnp.ndarray xa, ya, sums
        cdef const void* yp = NULL
        cdef const int64_t* lp = NULL
        cdef bint big
        cdef PyThreadState* gil_state
        self._require_training()
        xa, ya = check_network_data(
            x, y, self.st.in_dim, self.st.out_dim, self.dtype, self._loss, finite_checked=finite_checked
        )
        chunk = _positive(batch_size, "batch_size")
        n = cnp.PyArray_DIM(xa, 0)
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
                _evaluate(<double*>NULL, &self.st, <const double*>cnp.PyArray_DATA(xa), <const double*>yp, lp,
                          n, chunk, <double*>cnp.PyArray_DATA(sums))
                _restore_gil(gil_state)
            else:
                gil_state = _release_gil(big)
                _evaluate(<float*>NULL, &self.st, <const float*>cnp.PyArray_DATA(xa), <const float*>yp, lp,
                          n, chunk, <double*>cnp.PyArray_DATA(sums))
                _restore_gil(gil_state)
        finally:
            self._busy = False
        return sums / n

    # ----------------------------------------------------- optimizer state
    def get_optimizer_state(self):
        """Copies of the SGD velocities, one per parameter array (kernel, bias per stage)."""
        return [v.copy() for v in self._velocities]

    def set_optimizer_state(self, state):
        """Restore velocities saved by ``get_optimizer_state``."""
        values = check_optimizer_state(state, self._velocities)
        self._enter()
        try:
            for velocity, value in zip(self._velocities, values):
                velocity[...] = value
        finally:
            self._busy = False

    cdef _require_training(self):
        if self._loss is None:
            raise RuntimeError("prepare_training must be called first")
