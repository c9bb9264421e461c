"""Keras 3's metrics in NumPy: per-sample metric functions, weighted means and confusion-matrix counts.

The standalone ``cyneuron.metrics`` objects and the Python-side metrics of ``fit`` compute with
these (formulas and shape rules of ``keras/src/metrics``); the per-sample metrics of the compiled
step (``_losses.pxd``'s ``metric_sum``) are tested against ``numpy_ops``' rows of the same formulas.
"""

from __future__ import annotations

import numpy as np

from cyneuron.backend.reference.losses import same_rank
from cyneuron.backend.specs import EPSILON

NEG_INF = -1e10  # Keras' value for predictions outside the top k


# ------------------------------------------------------------- per-sample functions
def accuracy(y_true: np.ndarray, y_pred: np.ndarray, dtype) -> np.ndarray:
    y_true, y_pred = same_rank(y_true.astype(y_pred.dtype), y_pred)
    return (y_true == y_pred).astype(dtype)


def binary_accuracy(y_true: np.ndarray, y_pred: np.ndarray, threshold: float, dtype) -> np.ndarray:
    y_true, y_pred = same_rank(y_true, y_pred)
    # Keras casts the thresholded prediction to y_true's dtype and compares: a target of 0.7 never matches
    return (y_true == (y_pred > threshold).astype(y_true.dtype)).astype(dtype)


def categorical_accuracy(y_true: np.ndarray, y_pred: np.ndarray, dtype) -> np.ndarray:
    labels = np.argmax(y_true, axis=-1)
    if labels.ndim == y_pred.ndim:  # (never for arrays; kept for Keras' shape rule)
        labels = np.squeeze(labels, -1)
    return (np.argmax(y_pred, axis=-1) == labels).astype(dtype)


def sparse_categorical_accuracy(y_true: np.ndarray, y_pred: np.ndarray, dtype) -> np.ndarray:
    shape = y_true.shape
    reshape = y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1
    if reshape:
        y_true = np.squeeze(y_true, -1)
    matches = (np.argmax(y_pred, axis=-1).astype(y_true.dtype) == y_true).astype(dtype)
    if reshape:
        matches = matches.reshape(shape)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = np.squeeze(matches, -1)
    return matches


def in_top_k(labels: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Whether fewer than k predictions of each row exceed the one at its label (a NaN there ranks last)."""
    at_label = np.take_along_axis(y_pred, labels[:, None], axis=-1)
    at_label = np.where(np.isnan(at_label), -np.inf, at_label)
    return 1 + np.sum(y_pred > at_label, axis=-1) <= k


def top_k_categorical_accuracy(y_true, y_pred, k: int, dtype) -> np.ndarray:
    return sparse_top_k_categorical_accuracy(np.argmax(y_true, axis=-1), y_pred, k, dtype)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int, dtype) -> np.ndarray:
    labels = np.asarray(y_true).astype(np.int64)
    shape = labels.shape
    if y_pred.ndim > 2:
        y_pred = y_pred.reshape(-1, y_pred.shape[-1])
    labels = labels.reshape(-1)
    matches = in_top_k(labels, y_pred, k).astype(dtype)
    return matches.reshape(shape) if len(shape) > 1 else matches


def cosine_similarity(y_true, y_pred, axis: int) -> np.ndarray:
    """+cos over ``axis`` (the metric's sign; the loss is its negative)."""
    y_true, y_pred = same_rank(y_true, y_pred)

    def normalize(x):
        return x * np.minimum(1 / np.sqrt(np.sum(x * x, axis=axis, keepdims=True)), x.dtype.type(1 / EPSILON))

    with np.errstate(divide="ignore"):
        return np.sum(normalize(y_true) * normalize(y_pred), axis=axis)


# ------------------------------------------------------------------ weighted means
def samplewise(values: np.ndarray, sample_weight, mask=None, reduce=np.mean) -> tuple[np.ndarray, np.ndarray | None]:
    """Keras' ``reduce_to_samplewise_values`` (``reduce``: the mean, or for ``Sum`` the sum, over the non-batch
    axes), with the weights' shape rules.

    A ``mask`` (ignored labels) multiplies the weights, and as in Keras only when weights are given."""
    dtype = values.dtype
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=dtype)
        if mask is not None:
            float_mask = mask.astype(dtype)
            float_mask, sample_weight = same_rank(float_mask, sample_weight)
            sample_weight = sample_weight * float_mask
        values, sample_weight = same_rank(values, sample_weight)
        if values.ndim > sample_weight.ndim:
            values = reduce(values, axis=tuple(range(sample_weight.ndim, values.ndim)))
        sample_weight = np.broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        if sample_weight.ndim > 1:
            sample_weight = reduce(sample_weight, axis=tuple(range(1, sample_weight.ndim)))
    if values.ndim > 1:
        values = reduce(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


# ------------------------------------------------------------------ confusion matrices
def evenly_distributed(thresholds) -> bool:
    """Keras' ``is_evenly_distributed_thresholds``: i / (n - 1) for n >= 3 thresholds."""
    n = len(thresholds)
    if n < 3:
        return False
    even = np.arange(n, dtype=np.float32) / (n - 1)
    return bool(np.allclose(thresholds, even, atol=EPSILON))


def filter_top_k(x: np.ndarray, k: int) -> np.ndarray:
    """The top k values of each row kept, the rest NEG_INF (ties: the first ones, as ``top_k``)."""
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    keep = np.zeros(x.shape, dtype=bool)
    np.put_along_axis(keep, order, True, axis=-1)
    return np.where(keep, x, x.dtype.type(NEG_INF))


def confusion_counts(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    thresholds: np.ndarray,
    *,
    evenly: bool,
    sample_weight=None,
    top_k: int | None = None,
    class_id: int | None = None,
    multi_label: bool = False,
    label_weights=None,
) -> dict[str, np.ndarray]:
    """tp, fp, tn, fn per threshold (``(thresholds,)``, or ``(thresholds, labels)`` when ``multi_label``).

    Keras' ``update_confusion_matrix_variables``: a prediction is positive when above the threshold; with
    evenly distributed thresholds Keras buckets the predictions clipped to [0, 1] instead (the same counts
    but at a threshold's rounding), and so does this.
    """
    dtype = np.float32
    y_true = np.asarray(y_true).astype(dtype)
    y_pred = np.asarray(y_pred).astype(dtype)
    y_pred, y_true = same_rank(y_pred, y_true)
    if sample_weight is not None:
        sample_weight = np.expand_dims(np.asarray(sample_weight, dtype=dtype), -1)
        _, sample_weight = same_rank(y_true, sample_weight, expand_rank_1=False)
    if top_k is not None:
        y_pred = filter_top_k(y_pred, top_k)
    if class_id is not None:
        y_true = y_true[..., class_id, None]
        y_pred = y_pred[..., class_id, None]
    weights = np.ones(y_pred.shape, dtype) if sample_weight is None else np.broadcast_to(sample_weight, y_pred.shape)
    if label_weights is not None and not multi_label:
        weights = weights * np.broadcast_to(np.asarray(label_weights, dtype=dtype), y_pred.shape)
    positive = y_true.astype(bool)
    if multi_label:
        preds, labels, w = y_pred.reshape(y_pred.shape[0], -1), positive.reshape(y_pred.shape[0], -1), weights
        w = w.reshape(preds.shape)
    else:
        preds, labels, w = y_pred.reshape(-1, 1), positive.reshape(-1, 1), weights.reshape(-1, 1)
    thresholds = np.asarray(thresholds, dtype=dtype)
    if evenly:
        # bucket i counts predictions in (t_{i-1}, t_i]: tp at threshold j sums the buckets above j
        n = thresholds.shape[0]
        clipped = np.clip(preds, 0, 1)
        bucket = np.ceil(clipped * dtype(n - 1)) - 1
        if thresholds[0] < 0 or thresholds[-1] > 1:
            bucket = np.maximum(bucket, 0)
        bucket = bucket.astype(np.int64)
        above = bucket[None, :, :] >= np.arange(n)[:, None, None]
    else:
        above = preds[None, :, :] > thresholds[:, None, None]
    true_w = np.where(labels, w, 0)[None]
    false_w = np.where(labels, 0, w)[None]
    tp = np.sum(np.where(above, true_w, 0), axis=1)
    fp = np.sum(np.where(above, false_w, 0), axis=1)
    fn = np.sum(np.where(above, 0, true_w), axis=1)
    tn = np.sum(np.where(above, 0, false_w), axis=1)
    if not multi_label:
        tp, fp, tn, fn = tp[:, 0], fp[:, 0], tn[:, 0], fn[:, 0]
    return {"tp": tp.astype(dtype), "fp": fp.astype(dtype), "tn": tn.astype(dtype), "fn": fn.astype(dtype)}


def divide_no_nan(a, b):
    a, b = np.asarray(a), np.asarray(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1), 0).astype(np.result_type(a, b))
