"""Keras 3's losses in NumPy: per-sample values, their gradients and Keras' reductions.

The readable spec of the compiled loss head (``csrc/cyneuron/_losses.pxd``) and the engine of the
standalone ``cyneuron.losses`` calls. Formulas are Keras 3's (``keras/src/losses/losses.py`` on its
JAX backend); ``EPSILON`` is ``keras.backend.epsilon()``.

Per-sample losses reduce the class axis: the mean over it for the element-wise losses (``MEAN``),
the sum for the row losses. Options come from the ``LossSpec``: ``label_smoothing`` (binary and
categorical cross-entropy), ``delta`` (Huber), ``ignore_class`` (sparse categorical cross-entropy:
ignored labels give 0 and a mask), ``reduction`` (``reduce``).
"""

from __future__ import annotations

import numpy as np

from cyneuron.backend.specs import EPSILON, LossSpec

SPARSE = "sparse_categorical_crossentropy"
# element-wise losses averaged over the class axis
MEAN = (
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "huber",
    "log_cosh",
    "poisson",
    "hinge",
    "squared_hinge",
    "binary_crossentropy",
)
LOG2 = float(np.log(2.0))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _log_softmax(z: np.ndarray, axis: int) -> np.ndarray:
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def smoothed(loss: LossSpec, y: np.ndarray) -> np.ndarray:
    """The targets after Keras' label smoothing (towards 0.5, or 1 / classes for the categorical loss)."""
    ls = loss.label_smoothing
    if not ls:
        return y
    if loss.name == "binary_crossentropy":
        return y * (1 - ls) + 0.5 * ls
    return y * (1 - ls) + ls / y.shape[-1]


def hinge_targets(y: np.ndarray) -> np.ndarray:
    """Keras' hinge losses map 0/1 targets to -1/1, but only when every target of the call is 0 or 1."""
    if np.all((y == 0) | (y == 1)):
        return 2 * y - 1
    return y


def _elementwise(loss: LossSpec, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    name, eps = loss.name, p.dtype.type(EPSILON)
    if name == "mean_squared_error":
        return np.square(y - p)
    if name == "mean_absolute_error":
        return np.abs(y - p)
    if name == "mean_absolute_percentage_error":
        return 100 * np.abs((y - p) / np.maximum(np.abs(y), eps))
    if name == "mean_squared_logarithmic_error":
        return np.square(np.log(np.maximum(p, eps) + 1) - np.log(np.maximum(y, eps) + 1))
    if name == "huber":
        delta = p.dtype.type(loss.delta)
        e = p - y
        return np.where(np.abs(e) <= delta, 0.5 * e * e, delta * np.abs(e) - 0.5 * delta * delta)
    if name == "log_cosh":
        x = p - y
        return x + _softplus(-2 * x) - p.dtype.type(LOG2)
    if name == "poisson":
        return p - y * np.log(p + eps)
    if name in ("hinge", "squared_hinge"):
        margin = np.maximum(1 - y * p, 0)
        return margin if name == "hinge" else margin * margin
    # binary cross-entropy
    if loss.from_logits:
        return _softplus(p) - p * y
    q = np.clip(p, eps, 1 - eps)
    return -(y * np.log(q) + (1 - y) * np.log(1 - q))


def _elementwise_gradient(loss: LossSpec, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    name, eps = loss.name, p.dtype.type(EPSILON)
    if name == "mean_squared_error":
        return 2 * (p - y)
    if name == "mean_absolute_error":
        return np.sign(p - y)
    if name == "mean_absolute_percentage_error":
        return 100 * np.sign(p - y) / np.maximum(np.abs(y), eps)
    if name == "mean_squared_logarithmic_error":
        q = np.maximum(p, eps) + 1
        return 2 * (np.log(q) - np.log(np.maximum(y, eps) + 1)) / q * (p > eps)
    if name == "huber":
        delta = p.dtype.type(loss.delta)
        e = p - y
        return np.where(np.abs(e) <= delta, e, delta * np.sign(e))
    if name == "log_cosh":
        return np.tanh(p - y)
    if name == "poisson":
        return 1 - y / (p + eps)
    if name in ("hinge", "squared_hinge"):
        margin = np.maximum(1 - y * p, 0)
        return -y * (margin > 0) if name == "hinge" else -2 * y * margin
    if loss.from_logits:
        return _sigmoid(p) - y
    q = np.clip(p, eps, 1 - eps)
    return ((p >= eps) & (p <= 1 - eps)) * (-y / q + (1 - y) / (1 - q))


def prepare_targets(loss: LossSpec, y: np.ndarray) -> np.ndarray:
    """Dense targets as the loss reads them: smoothed, or mapped to -1/1 for the hinge losses."""
    if loss.name in ("hinge", "squared_hinge"):
        return hinge_targets(y)
    return smoothed(loss, y)


def per_sample(loss: LossSpec, y: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Per-sample losses: ``p`` without its class axis ``axis``.

    ``y``: dense targets of p's shape (``prepare_targets`` applied here), or for the sparse loss int labels
    of p's shape without the class axis (ignored labels must already be replaced by a valid class).
    """
    eps = p.dtype.type(EPSILON)
    name = loss.name
    if name == SPARSE:
        logp = _log_softmax(p, axis) if loss.from_logits else None
        if logp is None:
            q = np.clip(p / np.sum(p, axis=axis, keepdims=True), eps, 1 - eps)
            logp = np.log(q)
        picked = np.take_along_axis(logp, np.expand_dims(y, axis), axis=axis)
        return -np.squeeze(picked, axis=axis)
    y = prepare_targets(loss, y)
    if name in MEAN:
        return np.mean(_elementwise(loss, y, p), axis=axis)
    if name == "categorical_crossentropy":
        if loss.from_logits:
            return -np.sum(y * _log_softmax(p, axis), axis=axis)
        q = np.clip(p / np.sum(p, axis=axis, keepdims=True), eps, 1 - eps)
        return -np.sum(y * np.log(q), axis=axis)
    if name == "kl_divergence":
        yc, pc = np.clip(y, eps, 1), np.clip(p, eps, 1)
        return np.sum(yc * np.log(yc / pc), axis=axis)
    if name == "categorical_hinge":
        pos = np.sum(y * p, axis=axis)
        neg = np.max((1 - y) * p, axis=axis)
        return np.maximum(neg - pos + 1, 0)
    if name == "cosine_similarity":
        return -np.sum(_normalize(y, axis) * _normalize(p, axis), axis=axis)
    raise ValueError(f"loss: unknown {name!r}")


def _normalize(x: np.ndarray, axis: int) -> np.ndarray:
    """x / max(||x||, EPSILON) along ``axis`` (Keras' ``ops.normalize``)."""
    inverse = np.minimum(1 / np.sqrt(np.sum(x * x, axis=axis, keepdims=True)), x.dtype.type(1 / EPSILON))
    return x * inverse


def gradient(loss: LossSpec, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """d per_sample_i / d p_i row by row: p (rows, units); y as for ``per_sample`` with the class axis last."""
    units = p.shape[1]
    eps = p.dtype.type(EPSILON)
    name = loss.name
    if name == SPARSE:
        y = np.eye(units, dtype=p.dtype)[y]
        name = "categorical_crossentropy"
    else:
        y = prepare_targets(loss, y)
    if name in MEAN:
        return _elementwise_gradient(loss, y, p) / units
    if name == "categorical_crossentropy":
        if loss.from_logits:
            return np.exp(_log_softmax(p, -1)) * y.sum(axis=1, keepdims=True) - y
        # L = -sum_j y_j log(clip(q_j)), q = p / sum(p): through the clip and the row normalisation
        total = p.sum(axis=1, keepdims=True)
        q = p / total
        grad_q = ((q >= eps) & (q <= 1 - eps)) * (-y / np.clip(q, eps, 1 - eps))
        return (grad_q - np.sum(grad_q * q, axis=1, keepdims=True)) / total
    if name == "kl_divergence":
        return -np.clip(y, eps, 1) / np.clip(p, eps, 1) * ((p >= eps) & (p <= 1))
    if name == "categorical_hinge":
        masked = (1 - y) * p
        top = np.argmax(masked, axis=1)
        grad = -y.copy()
        rows = np.arange(p.shape[0])
        grad[rows, top] += 1 - y[rows, top]
        active = (np.max(masked, axis=1) - np.sum(y * p, axis=1) + 1) > 0
        return grad * active[:, None]
    if name == "cosine_similarity":
        y_hat = _normalize(y, -1)
        square = np.sum(p * p, axis=1, keepdims=True)
        inverse = 1 / np.sqrt(square)
        clamped = inverse > 1 / EPSILON
        dot = np.sum(y_hat * p, axis=1, keepdims=True)
        inverse = np.where(clamped, p.dtype.type(1 / EPSILON), inverse)
        return np.where(clamped, -y_hat * inverse, -y_hat * inverse + dot * p * inverse**3)
    raise ValueError(f"loss: unknown {name!r}")


# ----------------------------------------------------------------- reductions
def same_rank(x1: np.ndarray, x2: np.ndarray, expand_rank_1: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Keras' ``squeeze_or_expand_to_same_rank``: fix a rank difference of one in a last axis of size 1."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = np.expand_dims(x2, -1)
        else:
            x1 = np.squeeze(x1, -1)
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = np.expand_dims(x1, -1)
        else:
            x2 = np.squeeze(x2, -1)
    return x1, x2


def _divide_no_nan(a, b):
    return a / b if b != 0 else a * 0


def reduce(values: np.ndarray, sample_weight=None, mask=None, reduction="sum_over_batch_size") -> np.ndarray:
    """Keras' ``reduce_weighted_values``: weights (and a mask) times the per-sample losses, then reduced.

    ``sum`` sums; ``sum_over_batch_size`` and ``mean`` divide by the number of values (with a mask: of valid
    ones, the masked-out weighing 0); ``mean_with_sample_weight`` by the sum of the weights; ``None`` /
    ``"none"`` return the weighted values.
    """
    dtype = values.dtype
    weight = None if sample_weight is None else np.asarray(sample_weight, dtype=dtype)
    if mask is not None:
        if reduction in ("mean", "sum_over_batch_size"):
            valid = np.sum(mask, dtype=dtype)
            float_mask = np.where(mask, _divide_no_nan(dtype.type(mask.size), valid), 0).astype(dtype)
        else:
            float_mask = mask.astype(dtype)
        if weight is not None:
            float_mask, weight = same_rank(float_mask, weight)
            weight = weight * float_mask
        else:
            weight = float_mask
    if weight is not None:
        values, weight = same_rank(values, weight)
        values = (values * weight).astype(dtype)
    if reduction in (None, "none") or values.shape in ((), (0,)):
        return values
    total = np.sum(values, dtype=dtype)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and weight is not None:
        divisor = np.sum(weight, dtype=dtype)
    else:
        divisor = dtype.type(values.size)
    return dtype.type(_divide_no_nan(total, divisor))


# ------------------------------------------------------------- training batches
def _labels_and_mask(loss: LossSpec, y: np.ndarray):
    """Sparse labels with ignored ones replaced by class 0, and the mask of the kept rows (None: all)."""
    if loss.name != SPARSE or loss.ignore_class is None:
        return y, None
    mask = y != loss.ignore_class
    return np.where(mask, y, 0), mask


def _weights_and_divisor(loss: LossSpec, rows: int, weights, mask, dtype) -> tuple[np.ndarray, float]:
    """Each row's weight w_i * m_i and the divisor of the batch's sum (the training reductions of ``reduce``)."""
    w = np.ones(rows, dtype=dtype) if weights is None else np.asarray(weights, dtype=dtype)
    kept = np.ones(rows, dtype=bool) if mask is None else mask
    w = np.where(kept, w, 0).astype(dtype)
    if loss.reduction == "sum":
        return w, 1.0
    if loss.reduction == "mean_with_sample_weight" and (weights is not None or mask is not None):
        return w, float(np.sum(w, dtype=np.float64))
    return w, float(np.sum(kept)) if mask is not None else float(rows)


def batch_value(loss: LossSpec, y: np.ndarray, p: np.ndarray, weights=None) -> float:
    """A training batch's loss: p (rows, units), y labels (rows,) or targets (rows, units)."""
    labels, mask = _labels_and_mask(loss, y)
    values = per_sample(loss, labels, p)
    if mask is not None:
        values = np.where(mask, values, 0)  # ignored rows add nothing, whatever their (unused) value
    w, divisor = _weights_and_divisor(loss, p.shape[0], weights, mask, p.dtype)
    # the per-sample losses in the dtype, times their weights, summed in float64 (the compiled head's order)
    values = values.astype(np.float64)
    total = float(np.sum(values * w if weights is not None or mask is not None else values))
    return total / divisor if divisor != 0 else 0.0


def batch_gradient(loss: LossSpec, y: np.ndarray, p: np.ndarray, weights=None) -> np.ndarray:
    """d batch_value / d p (rows, units)."""
    labels, mask = _labels_and_mask(loss, y)
    w, divisor = _weights_and_divisor(loss, p.shape[0], weights, mask, p.dtype)
    scales = (w / divisor if divisor != 0 else np.zeros_like(w)).astype(p.dtype)
    return np.where(scales[:, None] != 0, gradient(loss, labels, p) * scales[:, None], 0).astype(p.dtype)
