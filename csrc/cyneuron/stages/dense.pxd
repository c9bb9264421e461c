# Kind "dense": activation(x @ kernel + bias), the activation fused (reference/dense.py).
# param[0] kernel (n_in, n_out), param[1] bias (n_out) or NULL; act one of _core's five.
from cython cimport floating

from cyneuron cimport _core as core
from cyneuron.stages.stage cimport StageC


cdef inline void forward(floating* tag, StageC* s, const floating* x, floating* y, floating* z,
                         Py_ssize_t rows) noexcept nogil:
    """y (rows, n_out) = act(x @ W + b); ``z`` receives the pre-activation (NULL: computed in place in y)."""
    core.dense_forward(x, <const floating*>s.param[0], <const floating*>s.param[1], s.act,
                       z if z != NULL else y, y, rows, s.n_in, s.n_out, s.path)


cdef inline void backward(floating* tag, StageC* s, const floating* x, const floating* y, floating* dy,
                          floating* dx, Py_ssize_t rows) noexcept nogil:
    """dy (rows, n_out) is dL/dA, or dL/dZ when ``s.head``; it is overwritten with dL/dZ.
    Writes grad[0] = x^T dZ, grad[1] = column sums (trainable), dx = dZ W^T (need_dx)."""
    if not s.head:
        # the activation derivative from A alone (relu: A > 0 exactly when Z > 0)
        core.activation_backward(s.act, y, y, dy, dy, rows, s.n_out)
    if s.trainable:
        core.matmul_xt_g(x, dy, <floating*>s.grad[0], rows, s.n_in, s.n_out, s.path)
        if s.param[1] != NULL:
            core.column_sums(dy, <floating*>s.grad[1], rows, s.n_out)
    if s.need_dx:
        core.matmul_g_wt(dy, <const floating*>s.param[0], dx, rows, s.n_in, s.n_out, s.path)
