# The nogil numeric core of cyneuron: fused float32/float64 kernels over raw
# row-major pointers. Nothing here touches a Python object or allocates, so a
# network module can ``cimport`` these and run a whole training step without
# the GIL. Shapes are passed explicitly; callers validate them beforehand.
#
# Conventions: ``rows`` is the batch, ``units`` the width of a (rows, units)
# matrix; every pointer addresses a C-contiguous block of that shape. ``labels``
# are int64 class indices already checked to lie in [0, units).

from cython cimport floating
from libc.stdint cimport int64_t

# The first five activations; Keras' others continue the codes in _activations.pxd (every code
# works in activation_forward/backward and dense_forward, at the activation's default arguments).
cdef enum:
    ACT_LINEAR = 0
    ACT_RELU = 1
    ACT_SIGMOID = 2
    ACT_TANH = 3
    ACT_SOFTMAX = 4

# -------------------------------------------------------------- dense products
# How a dense product runs: ``path`` is the caller's setting (a network's, read from
# its StageC; the per-op kernels pass the process default read with the GIL held).
# PATH_AUTO picks a plain loop or scipy's BLAS by the product's shape (_core.pyx's
# cost model, a pure function of the shape); the other two force one of them.
cdef enum:
    PATH_AUTO = 0
    PATH_LOOPS = 1
    PATH_BLAS = 2

cdef void matmul_xw(const floating* x, const floating* w, floating* z,
                    Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t n_out, int path) noexcept nogil
cdef void matmul_xt_g(const floating* x, const floating* g, floating* gw,
                      Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t n_out, int path) noexcept nogil
cdef void matmul_g_wt(const floating* g, const floating* w, floating* gx,
                      Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t n_out, int path) noexcept nogil
cdef void column_sums(const floating* g, floating* out, Py_ssize_t rows, Py_ssize_t units) noexcept nogil

cdef void dense_forward(const floating* x, const floating* w, const floating* b, int act,
                        floating* z, floating* a,
                        Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t n_out, int path) noexcept nogil

# The process default ``path`` of networks built from now on and of the per-op kernels
# (set_product_path): read with the GIL held, never inside a nogil step.
cdef int default_path() noexcept

# ----------------------------------------------------------------- activations
cdef void activation_forward(int act, const floating* z, floating* a,
                             Py_ssize_t rows, Py_ssize_t units) noexcept nogil
# out = dL/dZ from g = dL/dA; relu reads ``z`` (its sign), the others ``a``, except those outside
# specs.FUSED_ACTIVATIONS, which read ``z``. ``out`` may be ``g``; ``z`` may be ``a`` for the fused ones.
cdef void activation_backward(int act, const floating* z, const floating* a, const floating* g,
                              floating* out, Py_ssize_t rows, Py_ssize_t units) noexcept nogil

# Losses and metrics: _losses.pxd.

# ----------------------------------------------------------------------- misc
cdef bint all_finite(const floating* p, Py_ssize_t n) noexcept nogil
