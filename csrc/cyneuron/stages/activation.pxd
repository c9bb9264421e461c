# Kind "activation" (reference/activation.py): any of Keras' activations, code ``act`` (an index of
# specs.KERNEL_ACTIVATIONS), its arguments in ``f`` (specs.activation_kernel's numbers); softmax and
# log_softmax over rows of ``units`` (the last axis of the per-sample shape).
from cython cimport floating
from libc.string cimport memcpy

from cyneuron cimport _activations as acts
from cyneuron cimport _core as core
from cyneuron.stages.stage cimport StageC


cdef inline void forward(floating* tag, StageC* s, const floating* x, floating* y, Py_ssize_t rows) noexcept nogil:
    cdef Py_ssize_t n = rows * s.n_in
    if s.act < acts.ACT_FIRST_EXTENDED:
        core.activation_forward(s.act, x, y, n // s.units, s.units)
    else:
        acts.forward(s.act, s.f, x, y, n // s.units, s.units)


cdef inline void backward(floating* tag, StageC* s, const floating* x, const floating* y, floating* dy,
                          floating* dx, Py_ssize_t rows) noexcept nogil:
    """dx = dL/dx from dy = dL/dy; with ``s.head`` dy already is dL/dx (the loss head fused it)."""
    cdef Py_ssize_t n = rows * s.n_in
    if s.head:
        memcpy(dx, dy, n * sizeof(floating))
    elif s.act < acts.ACT_FIRST_EXTENDED:
        core.activation_backward(s.act, x, y, dy, dx, n // s.units, s.units)
    else:
        acts.backward(s.act, s.f, x, y, dy, dx, n // s.units, s.units)
