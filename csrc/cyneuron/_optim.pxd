# Interim: SGD only, with the interface of the full optimizer module.
from cython cimport floating

from cyneuron cimport _core as core

ctypedef struct ParamC:
    void* w
    void* g
    void* slot[4]
    Py_ssize_t n

ctypedef struct OptC:
    int kind
    int n_slots
    double hyper[8]
    int schedule
    int n_sched
    double* sched
    double weight_decay, clipnorm, clipvalue, global_clipnorm
    int n_scalars
    double scalars[4]


cdef inline int opt_fill(OptC* opt, object spec) except -1:
    opt.kind = 0
    opt.hyper[0] = float(spec.hyper.get("momentum", 0.0))
    opt.hyper[1] = float(spec.hyper.get("nesterov", 0.0))
    opt.hyper[2] = float(spec.learning_rate.values[0])
    opt.n_slots = 1 if opt.hyper[0] > 0 else 0
    return 0


cdef inline void opt_free(OptC* opt) noexcept:
    opt.sched = NULL


cdef inline void opt_apply(floating* tag, OptC* opt, ParamC* params, int n_params, long long iterations) noexcept nogil:
    cdef int k
    for k in range(n_params):
        core.sgd_update(<floating*>params[k].w, <const floating*>params[k].g, <floating*>params[k].slot[0],
                        params[k].n, <floating>opt.hyper[2], <floating>opt.hyper[0], opt.hyper[1] != 0)
