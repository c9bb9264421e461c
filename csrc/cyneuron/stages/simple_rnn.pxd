# Kind "simple_rnn" (reference/recurrent.py): one time step's cell math, h_t = act(x_t W + h_{t-1} U + b);
# the time loop, the products and the workspaces are stages/recurrent.pxd's.
from cython cimport floating
from libc.string cimport memcpy

from cyneuron.stages._rnn_act cimport act_block, dact_block


cdef inline void forward_step(floating* gates, Py_ssize_t ldg, Py_ssize_t rows, Py_ssize_t u, int ac,
                              floating* h) noexcept nogil:
    """h (rows, u) = act(gates) for the step's pre-activations (rows, u; row stride ldg), kept in gates."""
    cdef Py_ssize_t r
    cdef floating* g
    for r in range(rows):
        g = gates + r * ldg
        act_block(ac, g, u)
        memcpy(h + r * u, g, u * sizeof(floating))


cdef inline void backward_step(floating* gates, Py_ssize_t ldg, Py_ssize_t rows, Py_ssize_t u, Py_ssize_t G,
                               int ac, const floating* dh, floating* dz) noexcept nogil:
    """dL/dZ of the step from dh (rows, u) and the activations in gates: written over gates and into dz
    (rows, G)."""
    cdef Py_ssize_t r
    cdef floating* g
    cdef floating* d
    for r in range(rows):
        g = gates + r * ldg
        d = dz + r * G
        memcpy(d, dh + r * u, u * sizeof(floating))
        dact_block(ac, g, d, u)
        memcpy(g, d, u * sizeof(floating))
