# The loss head and the per-sample metrics: nogil kernels over raw row-major pointers, the
# compiled twin of backend/reference/losses.py (the spec: formulas, clipping, Keras' reductions).
# Conventions as _core.pxd: ``rows`` x ``units`` C-contiguous blocks; ``labels`` int64 class
# indices already checked to lie in [0, units), except labels equal to an ``ignore_class``.
#
# A batch's loss is Keras': L = reduce(w_i * m_i * loss_i) with sample weights w (NULL: all 1) and
# the ignore_class mask m; ``loss_value`` returns L, ``output_gradient`` writes dL/dZ and returns L.
from cython cimport floating
from libc.math cimport INFINITY, log, sqrt
from libc.stdint cimport int64_t
from libc.string cimport memset

from cyneuron cimport _core as core
from cyneuron._activations cimport _abs, _exp, _log, _log1p, _sqrt, _tanh
from cyneuron._activations cimport sigmoid as _sigmoid
from cyneuron._activations cimport softplus as _softplus

# codes: the order of backend/specs.py's LOSSES
cdef enum:
    LOSS_MSE = 0
    LOSS_MAE = 1
    LOSS_BCE = 2
    LOSS_CCE = 3
    LOSS_SCCE = 4
    LOSS_MAPE = 5
    LOSS_MSLE = 6
    LOSS_HUBER = 7
    LOSS_LOG_COSH = 8
    LOSS_KLD = 9
    LOSS_POISSON = 10
    LOSS_HINGE = 11
    LOSS_SQUARED_HINGE = 12
    LOSS_CATEGORICAL_HINGE = 13
    LOSS_COSINE = 14

# reductions in training: sum_over_batch_size and mean (divide by the valid rows), sum, and
# mean_with_sample_weight (divide by the sum of the weights)
cdef enum:
    RED_BATCH = 0
    RED_SUM = 1
    RED_WEIGHTED = 2

# metric codes: the order of backend/specs.py's METRICS; loss-valued metrics come after
# METRIC_LOSSES as METRIC_LOSSES + the loss code
cdef enum:
    METRIC_BINARY_ACCURACY = 0
    METRIC_CATEGORICAL_ACCURACY = 1
    METRIC_SPARSE_CATEGORICAL_ACCURACY = 2
    METRIC_ACCURACY = 3
    METRIC_TOP_K = 4
    METRIC_SPARSE_TOP_K = 5
    METRIC_COSINE = 6
    METRIC_LOSSES = 7

ctypedef struct LossC:
    int code
    bint from_logits
    int reduction
    double smoothing         # label smoothing (binary and categorical cross-entropy)
    double delta             # Huber's delta
    bint has_ignore          # the sparse loss ignores labels equal to ignore_class
    int64_t ignore_class

# keras.backend.epsilon() and log(2), as literals (a .pxd-only module has no variables)
cdef extern from *:
    """
    #define CYNEURON_LOSS_EPS 1e-7
    #define CYNEURON_LOSS_LOG2 0.6931471805599453
    """
    const double EPS "CYNEURON_LOSS_EPS"
    const double LOG2 "CYNEURON_LOSS_LOG2"


# ------------------------------------------------------------------ scalar math
# (_exp, _log, _log1p, _abs, _sqrt, _tanh, sigmoid, softplus: the float/double wrappers in _activations.pxd)


cdef inline floating _clip(floating p, floating lo, floating hi) noexcept nogil:
    # NaN falls through both tests and stays NaN, as np.clip.
    return lo if p < lo else (hi if p > hi else p)


cdef inline floating _max(floating a, floating b) noexcept nogil:
    return a if a > b else b


cdef inline floating _sign(floating d) noexcept nogil:
    # NaN stays NaN, as np.sign
    cdef floating zero = 0, one = 1
    if d != d:
        return d
    return (one if d > zero else zero) - (one if d < zero else zero)






cdef inline floating _row_max(const floating* z, Py_ssize_t n) noexcept nogil:
    cdef floating m = z[0]
    cdef Py_ssize_t j
    for j in range(1, n):
        if z[j] > m:
            m = z[j]
    return m


cdef inline double _row_sum(const floating* z, Py_ssize_t n) noexcept nogil:
    cdef double s = 0
    cdef Py_ssize_t j
    for j in range(n):
        s += z[j]
    return s


cdef inline Py_ssize_t _argmax(const floating* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j, best = 0
    for j in range(1, n):
        if p[j] > p[best]:
            best = j
    return best


# ------------------------------------------------------------------ targets
cdef inline floating target(const LossC* L, floating y, Py_ssize_t n, bint to_signs) noexcept nogil:
    """y as the loss reads it: label-smoothed, or 0/1 mapped to -1/1 for the hinge losses."""
    if L.code == LOSS_HINGE or L.code == LOSS_SQUARED_HINGE:
        return 2 * y - 1 if to_signs else y
    if L.smoothing != 0:
        if L.code == LOSS_BCE:
            return y * <floating>(1 - L.smoothing) + <floating>(0.5 * L.smoothing)
        if L.code == LOSS_CCE:
            return y * <floating>(1 - L.smoothing) + <floating>L.smoothing / <floating>n
    return y


cdef inline bint to_signs(const LossC* L, const floating* y, Py_ssize_t count) noexcept nogil:
    """Keras' hinge losses map targets to -1/1 only when every target of the batch is 0 or 1."""
    cdef Py_ssize_t j
    if L.code != LOSS_HINGE and L.code != LOSS_SQUARED_HINGE:
        return False
    for j in range(count):
        if y[j] != 0 and y[j] != 1:
            return False
    return True


cdef inline bint valid_row(const LossC* L, const int64_t* labels, Py_ssize_t i) noexcept nogil:
    return not (L.has_ignore and labels[i] == L.ignore_class)


# ------------------------------------------------------------------ per-sample values
cdef inline double _element(const LossC* L, floating y, floating p) noexcept nogil:
    """The element-wise losses (each averaged over the row by the caller)."""
    cdef floating eps = <floating>EPS, d, q, zero = 0, half = <floating>0.5, delta
    cdef int c = L.code
    if c == LOSS_MSE:
        d = p - y
        return d * d
    if c == LOSS_MAE:
        return _abs(p - y)
    if c == LOSS_MAPE:
        return 100 * _abs((y - p) / _max(_abs(y), eps))
    if c == LOSS_MSLE:
        d = _log(_max(p, eps) + 1) - _log(_max(y, eps) + 1)
        return d * d
    if c == LOSS_HUBER:
        delta = <floating>L.delta
        d = p - y
        if _abs(d) <= delta:
            return half * d * d
        return delta * _abs(d) - half * delta * delta
    if c == LOSS_LOG_COSH:
        d = p - y
        return d + _softplus(-2 * d) - <floating>LOG2
    if c == LOSS_POISSON:
        return p - y * _log(p + eps)
    if c == LOSS_HINGE or c == LOSS_SQUARED_HINGE:
        d = _max(1 - y * p, zero)
        return d if c == LOSS_HINGE else d * d
    # binary cross-entropy
    if L.from_logits:
        return _softplus(p) - p * y
    q = _clip(p, eps, 1 - eps)
    return -(y * _log(q) + (1 - y) * _log(1 - q))


cdef inline double row_loss(const LossC* L, const floating* y, Py_ssize_t label, const floating* p,
                            Py_ssize_t n, bint signs) noexcept nogil:
    """The per-sample loss of one row (``label`` read only by the sparse loss)."""
    cdef Py_ssize_t j
    cdef floating eps = <floating>EPS, m, t, q, yc, total, pos, neg, zero = 0
    cdef double s = 0, yy = 0, pp = 0
    cdef int c = L.code
    if c <= LOSS_BCE or (LOSS_MAPE <= c <= LOSS_SQUARED_HINGE and c != LOSS_KLD):
        for j in range(n):
            s += _element(L, target(L, y[j], n, signs), p[j])
        return s / n
    if c == LOSS_CCE or c == LOSS_SCCE:
        if L.from_logits:
            # log-softmax: z_j - m - log(sum exp(z - m))
            m = _row_max(p, n)
            for j in range(n):
                s += _exp(p[j] - m)
            q = <floating>log(s)
            if c == LOSS_SCCE:
                return q - (p[label] - m)
            s = 0
            for j in range(n):
                s += target(L, y[j], n, signs) * (q - (p[j] - m))
            return s
        total = <floating>_row_sum(p, n)
        if c == LOSS_SCCE:
            return -_log(_clip(p[label] / total, eps, 1 - eps))
        for j in range(n):
            s += target(L, y[j], n, signs) * _log(_clip(p[j] / total, eps, 1 - eps))
        return -s
    if c == LOSS_KLD:
        for j in range(n):
            yc = _clip(y[j], eps, <floating>1)
            s += yc * _log(yc / _clip(p[j], eps, <floating>1))
        return s
    if c == LOSS_CATEGORICAL_HINGE:
        pos = 0
        neg = (1 - y[0]) * p[0]
        for j in range(n):
            pos = pos + y[j] * p[j]
            t = (1 - y[j]) * p[j]
            neg = t if t > neg else neg
        return _max(neg - pos + 1, zero)
    # cosine similarity: -sum(y / max(|y|, eps) * p / max(|p|, eps))
    for j in range(n):
        yy += y[j] * y[j]
        pp += p[j] * p[j]
        s += y[j] * p[j]
    return -s * _inverse_norm(yy) * _inverse_norm(pp)


cdef inline double _inverse_norm(double square) noexcept nogil:
    cdef double inverse = 1 / sqrt(square) if square > 0 else 1 / EPS
    return inverse if inverse < 1 / EPS else 1 / EPS


cdef inline void row_gradient(const LossC* L, const floating* y, Py_ssize_t label, const floating* p,
                              floating* out, Py_ssize_t n, bint signs, floating scale) noexcept nogil:
    """out = scale * d row_loss / d p for one row."""
    cdef Py_ssize_t j, top
    cdef floating eps = <floating>EPS, d, q, t, total, s, m, delta, zero = 0, one = 1, per = scale / <floating>n
    cdef double yy = 0, pp = 0, dot = 0, iy, ip
    cdef int c = L.code
    if c == LOSS_MSE:
        for j in range(n):
            out[j] = 2 * (p[j] - y[j]) * per
    elif c == LOSS_MAE:
        for j in range(n):
            out[j] = _sign(p[j] - y[j]) * per
    elif c == LOSS_MAPE:
        for j in range(n):
            out[j] = 100 * _sign(p[j] - y[j]) / _max(_abs(y[j]), eps) * per
    elif c == LOSS_MSLE:
        for j in range(n):
            q = _max(p[j], eps) + 1
            d = _log(q) - _log(_max(y[j], eps) + 1)
            out[j] = (2 * d / q * per) if p[j] > eps else zero
    elif c == LOSS_HUBER:
        delta = <floating>L.delta
        for j in range(n):
            d = p[j] - y[j]
            out[j] = (d if _abs(d) <= delta else delta * _sign(d)) * per
    elif c == LOSS_LOG_COSH:
        for j in range(n):
            out[j] = _tanh(p[j] - y[j]) * per
    elif c == LOSS_POISSON:
        for j in range(n):
            out[j] = (1 - y[j] / (p[j] + eps)) * per
    elif c == LOSS_HINGE or c == LOSS_SQUARED_HINGE:
        for j in range(n):
            t = target(L, y[j], n, signs)
            d = _max(1 - t * p[j], zero)
            if c == LOSS_HINGE:
                out[j] = (-t * per) if d > zero else zero
            else:
                out[j] = -2 * t * d * per
    elif c == LOSS_BCE:
        for j in range(n):
            t = target(L, y[j], n, signs)
            if L.from_logits:
                out[j] = (_sigmoid(p[j]) - t) * per
            else:
                d = p[j]
                q = _clip(d, eps, 1 - eps)
                out[j] = <floating>((d >= eps) & (d <= 1 - eps)) * (-t / q + (1 - t) / (1 - q)) * per
    elif c == LOSS_CCE or c == LOSS_SCCE:
        if L.from_logits:
            # (softmax(z) * sum(y) - y) * scale
            m = _row_max(p, n)
            for j in range(n):
                out[j] = _exp(p[j] - m)
            s = <floating>_row_sum(out, n)
            if c == LOSS_SCCE:
                for j in range(n):
                    out[j] = (out[j] / s - (j == label)) * scale
            else:
                total = 0
                for j in range(n):
                    total = total + target(L, y[j], n, signs)
                for j in range(n):
                    out[j] = (out[j] / s * total - target(L, y[j], n, signs)) * scale
            return
        # L = -sum_j y_j log(clip(q_j)), q = p / sum(p): through the clip and the row normalisation
        total = <floating>_row_sum(p, n)
        s = 0
        for j in range(n):
            q = p[j] / total
            t = <floating>(j == label) if c == LOSS_SCCE else target(L, y[j], n, signs)
            d = <floating>((q >= eps) & (q <= 1 - eps)) * (-t / _clip(q, eps, 1 - eps))
            out[j] = d
            s = s + d * q
        for j in range(n):
            out[j] = (out[j] - s) / total * scale
    elif c == LOSS_KLD:
        for j in range(n):
            d = p[j]
            out[j] = (-_clip(y[j], eps, one) / _clip(d, eps, one) * scale) if (d >= eps and d <= one) else zero
    elif c == LOSS_CATEGORICAL_HINGE:
        top = 0
        s = 0
        m = (1 - y[0]) * p[0]
        for j in range(n):
            s = s + y[j] * p[j]
            t = (1 - y[j]) * p[j]
            if t > m:
                m = t
                top = j
        if m - s + 1 > zero:
            for j in range(n):
                out[j] = -y[j] * scale
            out[top] = out[top] + (1 - y[top]) * scale
        else:
            for j in range(n):
                out[j] = 0
    else:
        # cosine: -(y . p) iy ip; d/dp_j = -iy (y_j ip - (y . p) p_j ip^3) while |p| > eps
        for j in range(n):
            yy += y[j] * y[j]
            pp += p[j] * p[j]
            dot += y[j] * p[j]
        iy = _inverse_norm(yy)
        ip = _inverse_norm(pp)
        for j in range(n):
            if pp > 0 and 1 / sqrt(pp) < 1 / EPS:
                out[j] = <floating>(-iy * (y[j] * ip - dot * p[j] * ip * ip * ip)) * scale
            else:
                out[j] = <floating>(-iy * y[j] * ip) * scale


# ------------------------------------------------------------------ batches
cdef inline double weighted_sum(const LossC* L, const floating* y, const int64_t* labels, const floating* p,
                                Py_ssize_t rows, Py_ssize_t units, const floating* w, bint signs,
                                double* divisor) noexcept nogil:
    """sum_i w_i m_i loss_i, and the reduction's divisor."""
    cdef Py_ssize_t i, label = 0
    cdef double total = 0, weights = 0, valid = 0, wi, v
    for i in range(rows):
        if L.code == LOSS_SCCE:
            label = labels[i]
            if not valid_row(L, labels, i):
                continue
        valid += 1
        wi = <double>w[i] if w != NULL else 1.0
        weights += wi
        # Keras: the per-sample loss in the dtype times the weight (w * 0 stays 0 only when finite)
        v = <floating>row_loss(L, y + i * units if y != NULL else NULL, label, p + i * units, units, signs)
        total += v * wi if w != NULL else v
    if L.reduction == RED_SUM:
        divisor[0] = 1
    elif L.reduction == RED_WEIGHTED and (w != NULL or L.has_ignore):
        divisor[0] = weights
    else:
        divisor[0] = valid if L.has_ignore else <double>rows
    return total


cdef inline double loss_value(const LossC* L, const floating* y, const int64_t* labels, const floating* p,
                              Py_ssize_t rows, Py_ssize_t units, const floating* w) noexcept nogil:
    """The batch's loss L (Keras' reduction of the weighted per-sample losses; 0 when its divisor is 0)."""
    cdef double divisor, total
    cdef bint signs = y != NULL and to_signs(L, y, rows * units)
    total = weighted_sum(L, y, labels, p, rows, units, w, signs, &divisor)
    return total / divisor if divisor != 0 else 0.0


cdef inline void loss_gradient(const LossC* L, const floating* y, const int64_t* labels, const floating* p,
                               floating* out, Py_ssize_t rows, Py_ssize_t units,
                               const floating* w) noexcept nogil:
    """out = dL/dp (rows, units)."""
    cdef Py_ssize_t i, label = 0
    cdef double divisor
    cdef bint signs = y != NULL and to_signs(L, y, rows * units)
    cdef floating scale
    weighted_sum(L, y, labels, p, rows, units, w, signs, &divisor)
    for i in range(rows):
        if L.code == LOSS_SCCE:
            label = labels[i]
            if not valid_row(L, labels, i):
                label = 0
        if (L.code == LOSS_SCCE and not valid_row(L, labels, i)) or divisor == 0:
            scale = 0
        else:
            scale = <floating>((<double>w[i] if w != NULL else 1.0) / divisor)
        if scale == 0:
            memset(out + i * units, 0, units * sizeof(floating))
            continue
        row_gradient(L, y + i * units if y != NULL else NULL, label, p + i * units, out + i * units, units,
                     signs, scale)


cdef inline double output_gradient(const LossC* L, int act, const floating* y, const int64_t* labels,
                                   const floating* z, const floating* a, floating* out,
                                   Py_ssize_t rows, Py_ssize_t units, const floating* w) noexcept nogil:
    """dL/dZ of the last stage into ``out``; returns L. Softmax + (sparse) categorical and sigmoid + binary
    cross-entropy fuse the chain rule in closed form, with Keras' semantics (its losses take probabilities
    clipped to [eps, 1 - eps], q = p / sum(p) for the categorical ones): L from the clipped probabilities,
    and a clipped probability passes no gradient. Softmax: dZ_i = (a_i * sum_{k in U} y_k - y_i [i in U])
    * scale, U the unclipped classes (a * sum(y) - y when none is clipped); sigmoid: (a - y) / units * scale
    where a is unclipped, else 0."""
    cdef Py_ssize_t i, j
    cdef double divisor, total
    cdef floating scale, sum_y, q, t, row_total, eps = <floating>EPS, one = 1
    cdef const floating* ar
    cdef const floating* yr
    cdef floating* outr
    cdef bint fused = not L.from_logits and (
        (act == core.ACT_SOFTMAX and (L.code == LOSS_CCE or L.code == LOSS_SCCE))
        or (act == core.ACT_SIGMOID and L.code == LOSS_BCE))
    if not fused:
        loss_gradient(L, y, labels, a, out, rows, units, w)
        core.activation_backward(act, z, a, out, out, rows, units)
        return loss_value(L, y, labels, a, rows, units, w)
    total = weighted_sum(L, y, labels, a, rows, units, w, False, &divisor)
    for i in range(rows):
        ar = a + i * units
        outr = out + i * units
        if (L.code == LOSS_SCCE and not valid_row(L, labels, i)) or divisor == 0:
            scale = 0
        else:
            scale = <floating>((<double>w[i] if w != NULL else 1.0) / divisor)
        if L.code == LOSS_SCCE:
            q = ar[labels[i]] / <floating>_row_sum(ar, units) if scale != 0 else 0
            if scale == 0 or q < eps or q > one - eps:
                memset(outr, 0, units * sizeof(floating))
                continue
            for j in range(units):
                outr[j] = ar[j] * scale
            outr[labels[i]] = (ar[labels[i]] - 1) * scale
        elif L.code == LOSS_CCE:
            yr = y + i * units
            row_total = <floating>_row_sum(ar, units)
            sum_y = 0
            for j in range(units):
                q = ar[j] / row_total
                if eps <= q <= one - eps:
                    sum_y = sum_y + target(L, yr[j], units, False)
            for j in range(units):
                q = ar[j] / row_total
                t = target(L, yr[j], units, False) if eps <= q <= one - eps else 0
                outr[j] = (ar[j] * sum_y - t) * scale
        else:
            yr = y + i * units
            for j in range(units):
                if eps <= ar[j] <= one - eps:
                    outr[j] = (ar[j] - target(L, yr[j], units, False)) / <floating>units * scale
                else:
                    outr[j] = 0
    return total / divisor if divisor != 0 else 0.0


# ------------------------------------------------------------------ metrics
cdef inline double metric_sum(int metric, double param, const floating* y, const int64_t* labels,
                              const floating* p, Py_ssize_t rows, Py_ssize_t units) noexcept nogil:
    """Sum over the rows of the per-sample metric; ``param``: binary accuracy's threshold, top-k's k."""
    cdef Py_ssize_t i, j, hits, target_index, above
    cdef double total = 0
    cdef floating threshold = <floating>param, v
    cdef const floating* pr
    cdef const floating* yr
    cdef LossC L
    cdef bint signs = False
    if metric >= METRIC_LOSSES:
        L.code = metric - METRIC_LOSSES
        L.from_logits = False
        L.reduction = RED_SUM
        L.smoothing = 0
        L.delta = 1
        L.has_ignore = False
        L.ignore_class = 0
        signs = y != NULL and to_signs(&L, y, rows * units)
    for i in range(rows):
        pr = p + i * units
        yr = y + i * units if y != NULL else NULL
        if metric >= METRIC_LOSSES:
            if labels != NULL and (labels[i] < 0 or labels[i] >= units):
                continue  # an ignored label (the sparse loss's ignore_class) adds nothing
            total += <floating>row_loss(&L, yr, labels[i] if labels != NULL else 0, pr, units, signs)
        elif metric == METRIC_SPARSE_CATEGORICAL_ACCURACY:
            total += _argmax(pr, units) == labels[i]
        elif metric == METRIC_CATEGORICAL_ACCURACY:
            total += _argmax(pr, units) == _argmax(yr, units)
        elif metric == METRIC_BINARY_ACCURACY or metric == METRIC_ACCURACY:
            hits = 0
            for j in range(units):
                if metric == METRIC_ACCURACY:
                    hits += yr[j] == pr[j]
                else:
                    # Keras compares the target itself with the thresholded prediction (0.7 never matches)
                    hits += yr[j] == <floating>(pr[j] > threshold)
            total += <double>hits / units
        elif metric == METRIC_TOP_K or metric == METRIC_SPARSE_TOP_K:
            target_index = labels[i] if metric == METRIC_SPARSE_TOP_K else _argmax(yr, units)
            if target_index < 0 or target_index >= units:
                continue  # an ignored label (the sparse loss's ignore_class) is never in the top k
            v = pr[target_index]
            if v != v:
                v = -INFINITY  # NaN at the target ranks below every other prediction (Keras' in_top_k)
            above = 0
            for j in range(units):
                above += pr[j] > v
            total += above < <Py_ssize_t>param
        else:
            # cosine similarity (the metric: +cos)
            total -= <floating>row_loss_cosine(yr, pr, units)
    return total


cdef inline double row_loss_cosine(const floating* y, const floating* p, Py_ssize_t n) noexcept nogil:
    cdef LossC L
    L.code = LOSS_COSINE
    return row_loss(&L, y, 0, p, n, False)


# ------------------------------------------------------------------ from Python
cdef inline LossC make_loss(tuple codes):
    """The LossC of ``(code, from_logits, reduction, smoothing, delta, ignore_class or None)``."""
    cdef LossC L
    L.code = codes[0]
    L.from_logits = codes[1]
    L.reduction = codes[2]
    L.smoothing = codes[3]
    L.delta = codes[4]
    L.has_ignore = codes[5] is not None
    L.ignore_class = codes[5] if codes[5] is not None else 0
    return L
