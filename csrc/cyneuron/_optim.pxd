# Optimizer steps and learning-rate schedules as nogil inline code: a module that cimports
# this file compiles them in, so the network's training step can update its weights without
# leaving C. The specification is cyneuron/backend/reference/optimizers.py (formulas, order
# of operations, the ScheduleSpec.values layouts and the hyper keys); this file follows it
# operation by operation so that float32 results agree with it to rounding.
#
# Usage: zero an OptC (a cdef-class attribute already is), opt_fill it from an OptimizerSpec
# (again whenever the spec changes; opt_fill frees the previous schedule), set opt.scalars from
# the saved state or the scalar_specs initial values, then per step
#     opt_apply(<float*>NULL, &opt, params, n_params, iterations)
# and opt_free once at the end. A new optimizer is one _step_* function, one enum entry (in the
# reference's OPTIMIZER_KINDS order) and one case in opt_apply.

from cython cimport floating
from libc.math cimport ceil, cos, fabs, floor, fmin, isfinite, log, pow, sqrt, trunc, INFINITY, M_PI, NAN

cdef extern from "math.h" nogil:
    float sqrtf(float x)


cdef inline floating _sqrt(floating x) noexcept nogil:
    # sqrtf for float (the same correctly rounded result as sqrt through double, but it vectorises)
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)
from libc.stdlib cimport free, malloc

# Same order as reference.optimizers.OPTIMIZER_KINDS (opt_fill maps the name by its index).
cdef enum:
    OPT_SGD = 0
    OPT_ADAM = 1
    OPT_RMSPROP = 2
    OPT_ADAGRAD = 3
    OPT_ADADELTA = 4
    OPT_ADAMAX = 5
    OPT_NADAM = 6
    OPT_LION = 7

# Same order as reference.optimizers.SCHEDULE_KINDS.
cdef enum:
    SCHED_CONSTANT = 0
    SCHED_EXPONENTIAL = 1
    SCHED_PIECEWISE = 2
    SCHED_INVERSE_TIME = 3
    SCHED_POLYNOMIAL = 4
    SCHED_COSINE = 5
    SCHED_COSINE_RESTARTS = 6

ctypedef struct ParamC:
    void* w            # the parameter (n elements), updated in place
    void* g            # its gradient (n), may be overwritten (clipping)
    void* slot[4]      # slot arrays (n each), slot_specs order; unused entries NULL
    Py_ssize_t n
    double l1, l2      # the weight penalty (reference/regularizers.py); both 0 = none

ctypedef struct OptC:
    int kind           # OPT_*
    int n_slots        # len(slot_specs(spec))
    double hyper[8]    # spec.hyper in reference.HYPER_KEYS[kind] order, e.g. adam: beta_1, beta_2, epsilon, amsgrad
    int schedule       # SCHED_*
    int n_sched
    double* sched      # ScheduleSpec.values (n_sched); malloc'd by opt_fill, freed by opt_free
    double weight_decay, clipnorm, clipvalue, global_clipnorm   # 0.0 = off
    int n_scalars      # len(scalar_specs(spec))
    double scalars[4]  # scalar state in scalar_specs order (nadam: u_product), advanced by opt_apply


cdef inline int opt_fill(OptC* opt, object spec) except -1:
    """Configure ``opt`` from an OptimizerSpec; validates it, never touches ``opt.scalars``."""
    from cyneuron.backend.reference import optimizers as ref

    if spec.kind not in ref.OPTIMIZER_KINDS:
        raise ValueError(f"optimizer kind: expected one of {', '.join(ref.OPTIMIZER_KINDS)}, got {spec.kind!r}")
    n_slots = len(ref.slot_specs(spec))  # also checks the hyper keys
    n_scalars = len(ref.scalar_specs(spec))
    keys = ref.HYPER_KEYS[spec.kind]
    if len(keys) > 8 or n_slots > 4 or n_scalars > 4:
        raise ValueError(f"{spec.kind}: more hyperparameters, slots or scalars than OptC holds")
    schedule = spec.learning_rate
    ref.check_schedule(schedule)
    values = [float(x) for x in schedule.values]
    cdef double* sched = <double*>malloc(max(len(values), 1) * sizeof(double))
    if sched == NULL:
        raise MemoryError()
    cdef Py_ssize_t i
    for i in range(len(values)):
        sched[i] = values[i]
    # everything validated: commit
    free(opt.sched)
    opt.sched = sched
    opt.n_sched = len(values)
    opt.schedule = ref.SCHEDULE_KINDS.index(schedule.kind)
    opt.kind = ref.OPTIMIZER_KINDS.index(spec.kind)
    opt.n_slots = n_slots
    opt.n_scalars = n_scalars
    for i in range(8):
        opt.hyper[i] = 0.0
    for i in range(len(keys)):
        opt.hyper[i] = float(spec.hyper[keys[i]])
    opt.weight_decay = float(spec.weight_decay)
    opt.clipnorm = float(spec.clipnorm)
    opt.clipvalue = float(spec.clipvalue)
    opt.global_clipnorm = float(spec.global_clipnorm)
    return 0


cdef inline void opt_free(OptC* opt) noexcept:
    free(opt.sched)
    opt.sched = NULL
    opt.n_sched = 0


cdef inline double _cosine(double step, double decay_steps, double from_lr, double alpha) noexcept nogil:
    cdef double decayed = 0.5 * (1.0 + cos(M_PI * (step / decay_steps)))
    return from_lr * ((1.0 - alpha) * decayed + alpha)


cdef inline double opt_learning_rate(const OptC* opt, long long iterations) noexcept nogil:
    """The learning rate of the step taken after ``iterations`` completed steps (float64)."""
    cdef const double* v = opt.sched
    cdef double step = <double>iterations, p, decay_steps, fraction, i_restart, sum_r, result
    cdef int k, j
    if opt.schedule == SCHED_CONSTANT:
        return v[0]
    if opt.schedule == SCHED_EXPONENTIAL or opt.schedule == SCHED_INVERSE_TIME:
        p = step / v[1]
        if v[3] != 0:
            p = floor(p)
        if opt.schedule == SCHED_EXPONENTIAL:
            return v[0] * pow(v[2], p)
        return v[0] / (1.0 + v[2] * p)
    if opt.schedule == SCHED_PIECEWISE:
        # v = boundaries (k), values (k + 1); Keras sums one indicator per piece
        k = opt.n_sched // 2
        if k == 0:
            return v[0]
        result = 0.0
        if iterations <= trunc(v[0]):
            result += v[k]
        if iterations > trunc(v[k - 1]):
            result += v[2 * k]
        for j in range(k - 1):
            if trunc(v[j]) < iterations <= trunc(v[j + 1]):
                result += v[k + 1 + j]
        return result
    if opt.schedule == SCHED_POLYNOMIAL:
        decay_steps = v[1]
        if v[4] != 0:
            if step != 0:
                decay_steps = decay_steps * ceil(step / decay_steps)
        elif decay_steps < step:
            step = decay_steps
        p = step / decay_steps
        return (v[0] - v[2]) * pow(1.0 - p, v[3]) + v[2]
    if opt.schedule == SCHED_COSINE:
        if v[3] == 0:
            return _cosine(v[1] if v[1] < step else step, v[1], v[0], v[2])
        if v[1] + v[5] < step:
            step = v[1] + v[5]
        if step < v[5]:
            return (v[4] - v[0]) * (step / v[5]) + v[0]
        return _cosine(step - v[5], v[1], v[4], v[2])
    # SCHED_COSINE_RESTARTS: initial, first_decay_steps, t_mul, m_mul, alpha
    fraction = step / v[1]
    if v[2] == 1.0:
        i_restart = floor(fraction)
        fraction = fraction - i_restart
    else:
        i_restart = floor(log(1.0 - fraction * (1.0 - v[2])) / log(v[2]))
        sum_r = (1.0 - pow(v[2], i_restart)) / (1.0 - v[2])
        fraction = (fraction - sum_r) / pow(v[2], i_restart)
    result = 0.5 * pow(v[3], i_restart) * (1.0 + cos(M_PI * fraction))
    return v[0] * ((1.0 - v[4]) * result + v[4])


cdef inline double _sum_squares(const floating* g, Py_ssize_t n) noexcept nogil:
    cdef double total = 0.0
    cdef Py_ssize_t k
    for k in range(n):
        total += <double>g[k] * <double>g[k]
    return total


cdef inline void _clip(floating* tag, const OptC* opt, ParamC* params, int n_params) noexcept nogil:
    cdef int i
    cdef Py_ssize_t k
    cdef floating* g
    cdef floating c, lo, norm, den, scale_f
    cdef double total, norm64, scale
    if opt.clipnorm > 0:
        c = <floating>opt.clipnorm
        for i in range(n_params):
            g = <floating*>params[i].g
            norm = <floating>sqrt(_sum_squares(g, params[i].n))
            den = c if c > norm else norm
            for k in range(params[i].n):
                g[k] = (g[k] * c) / den
    elif opt.global_clipnorm > 0:
        total = 0.0
        for i in range(n_params):
            total += _sum_squares(<floating*>params[i].g, params[i].n)
        norm64 = sqrt(total)
        if not isfinite(norm64):
            scale = NAN
        else:
            scale = opt.global_clipnorm * fmin(1.0 / norm64 if norm64 != 0 else INFINITY, 1.0 / opt.global_clipnorm)
        scale_f = <floating>scale
        for i in range(n_params):
            g = <floating*>params[i].g
            for k in range(params[i].n):
                g[k] = g[k] * scale_f
    elif opt.clipvalue > 0:
        c = <floating>opt.clipvalue
        lo = -c
        for i in range(n_params):
            g = <floating*>params[i].g
            for k in range(params[i].n):
                if g[k] > c:
                    g[k] = c
                elif g[k] < lo:
                    g[k] = lo


# ------------------------------------------------------------------ update rules
# One per kind: (w, g, slots) of one parameter, n elements; lr already in the param dtype.
# Constants written f(1 - beta) in the reference are rounded once from double here too;
# those written f(1) - f(beta) are subtracted in the param dtype.

cdef inline floating _max_nan(floating a, floating b) noexcept nogil:
    # np.maximum: NaN wins
    if a != a or a > b:
        return a
    return b


cdef inline void _step_sgd(ParamC* p, const OptC* opt, floating lr) noexcept nogil:
    cdef floating* w = <floating*>p.w
    cdef const floating* g = <const floating*>p.g
    cdef floating* m = <floating*>p.slot[0]
    cdef floating momentum = <floating>opt.hyper[0]
    cdef Py_ssize_t k
    if opt.n_slots == 0:
        for k in range(p.n):
            w[k] = w[k] - g[k] * lr
    elif opt.hyper[1] != 0:  # nesterov
        for k in range(p.n):
            m[k] = m[k] * momentum - g[k] * lr
            w[k] = w[k] + (m[k] * momentum - g[k] * lr)
    else:
        for k in range(p.n):
            m[k] = m[k] * momentum - g[k] * lr
            w[k] = w[k] + m[k]


cdef inline void _step_adam(ParamC* p, const OptC* opt, floating alpha) noexcept nogil:
    """``alpha`` = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t), computed once per step by ``opt_apply``."""
    cdef floating* w = <floating*>p.w
    cdef const floating* g = <const floating*>p.g
    cdef floating* m = <floating*>p.slot[0]
    cdef floating* v = <floating*>p.slot[1]
    cdef floating* v_hat = <floating*>p.slot[2]
    cdef floating c1 = <floating>(1.0 - opt.hyper[0]), c2 = <floating>(1.0 - opt.hyper[1]), eps = <floating>opt.hyper[2]
    cdef floating vk
    cdef bint amsgrad = opt.hyper[3] != 0
    cdef Py_ssize_t k
    for k in range(p.n):
        m[k] = m[k] + (g[k] - m[k]) * c1
        v[k] = v[k] + (g[k] * g[k] - v[k]) * c2
        vk = v[k]
        if amsgrad:
            v_hat[k] = _max_nan(v_hat[k], vk)
            vk = v_hat[k]
        w[k] = w[k] - (m[k] * alpha) / (_sqrt(vk) + eps)


cdef inline void _step_rmsprop(ParamC* p, const OptC* opt, floating lr) noexcept nogil:
    cdef floating* w = <floating*>p.w
    cdef const floating* g = <const floating*>p.g
    cdef floating* velocity = <floating*>p.slot[0]
    cdef bint has_momentum = opt.hyper[1] > 0, centered = opt.hyper[3] != 0
    cdef floating* m = <floating*>p.slot[1]
    cdef floating* average = <floating*>p.slot[opt.n_slots - 1]
    cdef floating rho = <floating>opt.hyper[0], one_minus_rho = <floating>(1.0 - opt.hyper[0])
    cdef floating momentum = <floating>opt.hyper[1], eps = <floating>opt.hyper[2]
    cdef floating denominator, increment
    cdef Py_ssize_t k
    for k in range(p.n):
        velocity[k] = rho * velocity[k] + one_minus_rho * (g[k] * g[k])
        if centered:
            average[k] = rho * average[k] + one_minus_rho * g[k]
            denominator = (velocity[k] - average[k] * average[k]) + eps
        else:
            denominator = velocity[k] + eps
        increment = (lr * g[k]) / _sqrt(denominator)
        if has_momentum:
            m[k] = momentum * m[k] + increment
            w[k] = w[k] - m[k]
        else:
            w[k] = w[k] - increment


cdef inline void _step_adagrad(ParamC* p, const OptC* opt, floating lr) noexcept nogil:
    cdef floating* w = <floating*>p.w
    cdef const floating* g = <const floating*>p.g
    cdef floating* acc = <floating*>p.slot[0]
    cdef floating eps = <floating>opt.hyper[1]
    cdef Py_ssize_t k
    for k in range(p.n):
        acc[k] = acc[k] + g[k] * g[k]
        w[k] = w[k] - (lr * g[k]) / _sqrt(acc[k] + eps)


cdef inline void _step_adadelta(ParamC* p, const OptC* opt, floating lr) noexcept nogil:
    cdef floating* w = <floating*>p.w
    cdef const floating* g = <const floating*>p.g
    cdef floating* acc_grad = <floating*>p.slot[0]
    cdef floating* acc_delta = <floating*>p.slot[1]
    cdef floating rho = <floating>opt.hyper[0], one_minus_rho = <floating>(1.0 - opt.hyper[0])
    cdef floating eps = <floating>opt.hyper[1], delta
    cdef Py_ssize_t k
    for k in range(p.n):
        acc_grad[k] = rho * acc_grad[k] + one_minus_rho * (g[k] * g[k])
        delta = -((_sqrt(acc_delta[k] + eps) * g[k]) / _sqrt(acc_grad[k] + eps))
        acc_delta[k] = rho * acc_delta[k] + one_minus_rho * (delta * delta)
        w[k] = w[k] + lr * delta


cdef inline void _step_adamax(ParamC* p, const OptC* opt, floating lr, floating correction) noexcept nogil:
    """``correction`` = 1 - beta_1^t, computed once per step."""
    cdef floating* w = <floating*>p.w
    cdef const floating* g = <const floating*>p.g
    cdef floating* m = <floating*>p.slot[0]
    cdef floating* u = <floating*>p.slot[1]
    cdef floating c1 = <floating>(1.0 - opt.hyper[0]), b2 = <floating>opt.hyper[1], eps = <floating>opt.hyper[2]
    cdef Py_ssize_t k
    for k in range(p.n):
        m[k] = m[k] + (g[k] - m[k]) * c1
        u[k] = _max_nan(b2 * u[k], <floating>fabs(g[k]))
        w[k] = w[k] - (lr * m[k]) / (correction * (u[k] + eps))


cdef inline void _step_nadam(ParamC* p, const OptC* opt, floating lr, const double* c) noexcept nogil:
    """``c``: the step's constants u_t_1, 1 - u_product * u_t_1, 1 - u_t, 1 - u_product, 1 - beta_2^t
    (u_product already advanced for this step), computed once per step."""
    cdef floating* w = <floating*>p.w
    cdef const floating* g = <const floating*>p.g
    cdef floating* m = <floating*>p.slot[0]
    cdef floating* v = <floating*>p.slot[1]
    cdef floating one = 1
    cdef floating c1 = one - <floating>opt.hyper[0], c2 = one - <floating>opt.hyper[1], eps = <floating>opt.hyper[2]
    cdef floating a = <floating>c[0], d1 = <floating>c[1]
    cdef floating b = <floating>c[2], d2 = <floating>c[3]
    cdef floating d3 = <floating>c[4]
    cdef floating m_hat
    cdef Py_ssize_t k
    for k in range(p.n):
        m[k] = m[k] + (g[k] - m[k]) * c1
        v[k] = v[k] + (g[k] * g[k] - v[k]) * c2
        m_hat = (a * m[k]) / d1 + (b * g[k]) / d2
        w[k] = w[k] - (m_hat * lr) / (_sqrt(v[k] / d3) + eps)


cdef inline void _step_lion(ParamC* p, const OptC* opt, floating lr) noexcept nogil:
    cdef floating* w = <floating*>p.w
    cdef const floating* g = <const floating*>p.g
    cdef floating* m = <floating*>p.slot[0]
    cdef floating one = 1, zero = 0
    cdef floating b1 = <floating>opt.hyper[0], b2 = <floating>opt.hyper[1]
    cdef floating c1 = one - b1, c2 = one - b2, x, sign
    cdef Py_ssize_t k
    for k in range(p.n):
        x = m[k] * b1 + g[k] * c1
        # np.sign: -1, 0, 1, NaN stays NaN
        sign = one if x > zero else (-one if x < zero else x)
        w[k] = w[k] - lr * sign
        m[k] = m[k] * b2 + g[k] * c2


cdef inline void opt_apply(floating* tag, OptC* opt, ParamC* params, int n_params, long long iterations) noexcept nogil:
    """One optimizer step over all params: clipping, learning rate, weight decay, update.

    ``tag`` is a typed NULL choosing float or double; every array of every ParamC must be of that
    type. ``iterations`` counts the steps completed before this one; opt.scalars advance in place.
    """
    cdef double lr64 = opt_learning_rate(opt, iterations)
    cdef double t = <double>iterations + 1.0
    cdef floating lr = <floating>lr64, wd = <floating>opt.weight_decay
    cdef floating* w
    cdef ParamC* p
    cdef int i
    cdef Py_ssize_t k
    cdef double c[5]
    cdef double u_t, u_t_1
    cdef floating alpha = 0
    _clip(tag, opt, params, n_params)
    # the per-step constants (bias corrections) in double, once per step
    if opt.kind == OPT_ADAM:
        alpha = <floating>(<double>lr * sqrt(1.0 - pow(opt.hyper[1], t)) / (1.0 - pow(opt.hyper[0], t)))
    elif opt.kind == OPT_ADAMAX:
        alpha = <floating>(1.0 - pow(opt.hyper[0], t))
    elif opt.kind == OPT_NADAM:
        u_t = opt.hyper[0] * (1.0 - 0.5 * pow(0.96, t))
        u_t_1 = opt.hyper[0] * (1.0 - 0.5 * pow(0.96, t + 1.0))
        opt.scalars[0] = opt.scalars[0] * u_t  # u_product, once per step before any update
        c[0] = u_t_1
        c[1] = 1.0 - opt.scalars[0] * u_t_1
        c[2] = 1.0 - u_t
        c[3] = 1.0 - opt.scalars[0]
        c[4] = 1.0 - pow(opt.hyper[1], t)
    for i in range(n_params):
        p = &params[i]
        if opt.weight_decay != 0:
            w = <floating*>p.w
            for k in range(p.n):
                w[k] = w[k] - (w[k] * wd) * lr
        if opt.kind == OPT_SGD:
            _step_sgd(p, opt, lr)
        elif opt.kind == OPT_ADAM:
            _step_adam(p, opt, alpha)
        elif opt.kind == OPT_RMSPROP:
            _step_rmsprop(p, opt, lr)
        elif opt.kind == OPT_ADAGRAD:
            _step_adagrad(p, opt, lr)
        elif opt.kind == OPT_ADADELTA:
            _step_adadelta(p, opt, lr)
        elif opt.kind == OPT_ADAMAX:
            _step_adamax(p, opt, lr, alpha)
        elif opt.kind == OPT_NADAM:
            _step_nadam(p, opt, lr, c)
        elif opt.kind == OPT_LION:
            _step_lion(p, opt, lr)
