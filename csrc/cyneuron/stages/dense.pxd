# Kind "dense": activation(x @ kernel + bias), the activation fused (reference/dense.py).
# param[0] kernel (in, units), param[1] bias (units) or NULL; act one of specs.FUSED_ACTIVATIONS (their
# derivative follows from the output, which is all backward keeps; Dense runs the others as an activation stage).
# dims: [0] L = positions per sample (the product of the leading axes; 1 for (batch, in) data),
# [1] in, [2] units: a sample's row of n_in = L * in values is L rows of ``in`` (C order), so the
# stage is the same product over rows * L rows.
from cython cimport floating

from cyneuron cimport _core as core
from cyneuron.stages.stage cimport StageC


cdef inline void forward(floating* tag, StageC* s, const floating* x, floating* y, floating* z,
                         Py_ssize_t rows) noexcept nogil:
    """y (rows, n_out) = act(x @ W + b); ``z`` receives the pre-activation (NULL: computed in place in y)."""
    core.dense_forward(x, <const floating*>s.param[0], <const floating*>s.param[1], s.act,
                       z if z != NULL else y, y, rows * s.dims[0], s.dims[1], s.dims[2])


cdef inline void backward(floating* tag, StageC* s, const floating* x, const floating* y, floating* dy,
                          floating* dx, Py_ssize_t rows) noexcept nogil:
    """dy (rows, n_out) is dL/dA, or dL/dZ when ``s.head``; it is overwritten with dL/dZ.
    Writes grad[0] = x^T dZ, grad[1] = column sums (trainable), dx = dZ W^T (need_dx)."""
    cdef Py_ssize_t n = rows * s.dims[0], n_in = s.dims[1], units = s.dims[2]
    if not s.head:
        # the activation derivative from A alone (relu: A > 0 exactly when Z > 0)
        core.activation_backward(s.act, y, y, dy, dy, n, units)
    if s.trainable:
        core.matmul_xt_g(x, dy, <floating*>s.grad[0], n, n_in, units)
        if s.param[1] != NULL:
            core.column_sums(dy, <floating*>s.grad[1], n, units)
    if s.need_dx:
        core.matmul_g_wt(dy, <const floating*>s.param[0], dx, n, n_in, units)
