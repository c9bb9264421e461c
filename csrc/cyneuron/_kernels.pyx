# Python entry points to the nogil core, one per ``Ops`` kernel.
#
# These trust their arguments: ``cyneuron.backend.base.Ops`` validates shapes,
# dtypes, contiguity and names first. The float/double specialisation is
# chosen in one place, by Cython's fused dispatch on the first argument (a typed
# memoryview); every other array, already checked to share its dtype, is read
# through its data pointer.

cimport numpy as cnp
from cython cimport floating
from libc.stdint cimport int64_t

from cyneuron cimport _activations as acts
from cyneuron cimport _core as core
from cyneuron cimport _losses as losses

from cyneuron._core import get_product_path, set_product_path  # noqa: F401  (re-exported)

cnp.import_array()


cdef inline void* _data(object array) noexcept:
    """The data pointer of a validated ndarray, NULL for None."""
    if array is None:
        return NULL
    return cnp.PyArray_DATA(<cnp.ndarray>array)


cdef inline floating* _first(const floating[:, ::1] m) noexcept nogil:
    if m.shape[0] == 0 or m.shape[1] == 0:
        return NULL
    return <floating*>&m[0, 0]


def dense_forward(const floating[:, ::1] x, kernel, bias, int act, z, a):
    """z = x @ kernel + bias; a = act(z)."""
    cdef Py_ssize_t rows = x.shape[0], n_in = x.shape[1], n_out = (<cnp.ndarray>z).shape[1]
    cdef const floating* xp = _first(x)
    cdef const floating* w = <const floating*>_data(kernel)
    cdef const floating* b = <const floating*>_data(bias)
    cdef floating* zp = <floating*>_data(z)
    cdef floating* ap = <floating*>_data(a)
    cdef int path = core.default_path()
    with nogil:
        core.dense_forward(xp, w, b, act, zp, ap, rows, n_in, n_out, path)


def dense_backward(const floating[:, ::1] x, kernel, z, a, grad_a, int act, grad_z, grad_kernel, grad_bias, grad_x):
    """Activation derivative, then x.T @ dZ, column sums of dZ and dZ @ kernel.T."""
    cdef Py_ssize_t rows = x.shape[0], n_in = x.shape[1], n_out = (<cnp.ndarray>z).shape[1]
    cdef const floating* xp = _first(x)
    cdef const floating* w = <const floating*>_data(kernel)
    cdef const floating* zp = <const floating*>_data(z)
    cdef const floating* ap = <const floating*>_data(a)
    cdef const floating* gap = <const floating*>_data(grad_a)
    cdef floating* gz = <floating*>_data(grad_z)
    cdef floating* gw = <floating*>_data(grad_kernel)
    cdef floating* gb = <floating*>_data(grad_bias)
    cdef floating* gx = <floating*>_data(grad_x)
    cdef int path = core.default_path()
    with nogil:
        core.activation_backward(act, zp, ap, gap, gz, rows, n_out)
        core.matmul_xt_g(xp, gz, gw, rows, n_in, n_out, path)
        if gb != NULL:
            core.column_sums(gz, gb, rows, n_out)
        if gx != NULL:
            core.matmul_g_wt(gz, w, gx, rows, n_in, n_out, path)


def activation_forward(const floating[:, ::1] z, out, int act, params=None):
    """``params``: the kernel's numbers (float64, at least 4; None: the activation's defaults)."""
    cdef floating* op = <floating*>_data(out)
    cdef const floating* zp = _first(z)
    cdef const double* fp = <const double*>_data(params)
    with nogil:
        if act >= acts.ACT_FIRST_EXTENDED:
            acts.forward(act, fp, zp, op, z.shape[0], z.shape[1])
        else:
            core.activation_forward(act, zp, op, z.shape[0], z.shape[1])


def activation_backward(const floating[:, ::1] z, a, grad_a, out, int act, params=None):
    cdef const floating* zp = _first(z)
    cdef const floating* ap = <const floating*>_data(a)
    cdef const floating* gp = <const floating*>_data(grad_a)
    cdef floating* op = <floating*>_data(out)
    cdef const double* fp = <const double*>_data(params)
    with nogil:
        if act >= acts.ACT_FIRST_EXTENDED:
            acts.backward(act, fp, zp, ap, gp, op, z.shape[0], z.shape[1])
        else:
            core.activation_backward(act, zp, ap, gp, op, z.shape[0], z.shape[1])


def loss_value(const floating[:, ::1] p, y, labels, tuple loss, weights=None):
    """The batch's loss (Keras' reduction of the sample-weighted per-sample losses; y None for the sparse
    loss, labels None otherwise). ``loss``: the ``make_loss`` arguments."""
    cdef losses.LossC L = losses.make_loss(loss)
    cdef const floating* pp = _first(p)
    cdef const floating* yp = <const floating*>_data(y)
    cdef const int64_t* lp = <const int64_t*>_data(labels)
    cdef const floating* wp = <const floating*>_data(weights)
    cdef double value
    with nogil:
        value = losses.loss_value(&L, yp, lp, pp, p.shape[0], p.shape[1], wp)
    return value


def loss_gradient(const floating[:, ::1] p, y, labels, out, tuple loss, weights=None):
    cdef losses.LossC L = losses.make_loss(loss)
    cdef const floating* pp = _first(p)
    cdef const floating* yp = <const floating*>_data(y)
    cdef const int64_t* lp = <const int64_t*>_data(labels)
    cdef floating* op = <floating*>_data(out)
    cdef const floating* wp = <const floating*>_data(weights)
    with nogil:
        losses.loss_gradient(&L, yp, lp, pp, op, p.shape[0], p.shape[1], wp)


def output_gradient(const floating[:, ::1] z, a, y, labels, out, tuple loss, int act, weights=None):
    """Writes dLoss/dZ into out; returns the batch's loss."""
    cdef losses.LossC L = losses.make_loss(loss)
    cdef const floating* zp = _first(z)
    cdef const floating* ap = <const floating*>_data(a)
    cdef const floating* yp = <const floating*>_data(y)
    cdef const int64_t* lp = <const int64_t*>_data(labels)
    cdef floating* op = <floating*>_data(out)
    cdef const floating* wp = <const floating*>_data(weights)
    cdef double value
    with nogil:
        value = losses.output_gradient(&L, act, yp, lp, zp, ap, op, z.shape[0], z.shape[1], wp)
    return value


def metric_value(const floating[:, ::1] p, y, labels, int metric, double param):
    cdef const floating* pp = _first(p)
    cdef const floating* yp = <const floating*>_data(y)
    cdef const int64_t* lp = <const int64_t*>_data(labels)
    cdef double total
    with nogil:
        total = losses.metric_sum(metric, param, yp, lp, pp, p.shape[0], p.shape[1])
    return total / p.shape[0]


# ------------------------------------------------------------------ optimizers (tests' entry points)

from libc.stdlib cimport free, malloc

from cyneuron cimport _optim as optim


def optimizer_apply(spec, list params, list grads, list slots, long long iterations, scalars):
    """One ``_optim.opt_apply`` step in place, argument for argument like ``reference.optimizers.apply``.

    Checks what the nogil code trusts: one dtype (float32 or float64) for every array, C order,
    writeable, equal sizes per parameter, ``len(slots[i])`` matching the spec's slots and
    ``scalars`` a writeable float64 array of the spec's scalar count.
    """
    import numpy as np

    cdef optim.OptC opt
    cdef optim.ParamC* pc = NULL
    cdef Py_ssize_t i, j, n_params = len(params)
    cdef int n
    cdef cnp.ndarray arr
    if len(grads) != n_params or len(slots) != n_params:
        raise ValueError("optimizer_apply: params, grads and slots must have the same length")
    opt.sched = NULL
    optim.opt_fill(&opt, spec)
    try:
        scalars_arr = np.asarray(scalars)
        if scalars_arr.dtype != np.float64 or scalars_arr.ndim != 1 or scalars_arr.shape[0] != opt.n_scalars:
            raise ValueError(f"optimizer_apply: scalars must be a float64 vector of length {opt.n_scalars}")
        if not scalars_arr.flags.writeable:
            raise ValueError("optimizer_apply: scalars must be writeable")
        dtype = np.asarray(params[0]).dtype if n_params else np.dtype(np.float64)
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"optimizer_apply: expected float32 or float64 arrays, got {dtype}")
        pc = <optim.ParamC*>malloc(max(n_params, 1) * sizeof(optim.ParamC))
        if pc == NULL:
            raise MemoryError()
        for i in range(n_params):
            if len(slots[i]) != opt.n_slots:
                raise ValueError(f"optimizer_apply: param {i} has {len(slots[i])} slots, the spec needs {opt.n_slots}")
            arrays = [params[i], grads[i], *slots[i]]
            for a in arrays:
                if not isinstance(a, np.ndarray) or a.dtype != dtype:
                    raise TypeError(f"optimizer_apply: param {i}: every array must be a {dtype} ndarray")
                if not a.flags.c_contiguous or not a.flags.writeable:
                    raise ValueError(f"optimizer_apply: param {i}: arrays must be C-contiguous and writeable")
                if a.size != params[i].size:
                    raise ValueError(f"optimizer_apply: param {i}: arrays must have equal sizes")
            pc[i].n = params[i].size
            pc[i].w = cnp.PyArray_DATA(<cnp.ndarray>params[i])
            pc[i].g = cnp.PyArray_DATA(<cnp.ndarray>grads[i])
            for j in range(4):
                pc[i].slot[j] = NULL
            for j in range(opt.n_slots):
                pc[i].slot[j] = cnp.PyArray_DATA(<cnp.ndarray>slots[i][j])
        for j in range(opt.n_scalars):
            opt.scalars[j] = scalars_arr[j]
        n = <int>n_params
        if dtype == np.dtype(np.float32):
            with nogil:
                optim.opt_apply(<float*>NULL, &opt, pc, n, iterations)
        else:
            with nogil:
                optim.opt_apply(<double*>NULL, &opt, pc, n, iterations)
        for j in range(opt.n_scalars):
            scalars_arr[j] = opt.scalars[j]
    finally:
        free(pc)
        optim.opt_free(&opt)


def optimizer_learning_rate(spec, long long iterations):
    """``_optim.opt_learning_rate`` for an OptimizerSpec (a float)."""
    cdef optim.OptC opt
    cdef double lr
    opt.sched = NULL
    optim.opt_fill(&opt, spec)
    lr = optim.opt_learning_rate(&opt, iterations)
    optim.opt_free(&opt)
    return lr
