"""Weight penalties (Keras' ``L1``, ``L2``, ``L1L2`` and ``OrthogonalRegularizer``): the readable spec of
what the compiled step adds to a batch's loss and to each penalised parameter's gradient.

A penalised parameter ``w`` carries ``(l1, l2)``: its penalty is ``l1 * sum|w| + l2 * sum w**2`` and its
gradient ``l1 * s(w) + 2 * l2 * w`` with ``s(w) = 1 if w >= 0 else -1`` (JAX's derivative of
``abs``, which Keras on JAX differentiates: 1 at 0, so a zero-initialised bias moves). The factors are
cast to w's dtype before they multiply, as Keras casts them, and the penalty is added to the loss
once per batch (it is not weighted by sample weights), in training and in evaluation, as Keras'
``compute_loss`` adds ``model.losses``.
"""

from __future__ import annotations

import numpy as np


def penalty(w: np.ndarray, l1: float, l2: float) -> float:
    """``l1 * sum|w| + l2 * sum(w**2)`` of an array of any shape (a Python float, summed in float64)."""
    dtype = w.dtype.type
    total = 0.0
    if l1:
        total += float(dtype(l1)) * float(np.sum(np.abs(w), dtype=np.float64))
    if l2:
        total += float(dtype(l2)) * float(np.sum(np.square(w, dtype=np.float64)))
    return total


def add_gradient(w: np.ndarray, grad: np.ndarray, l1: float, l2: float) -> None:
    """``grad += l1 * s(w) + 2 * l2 * w``, in place (grad has w's shape and dtype; s as above)."""
    dtype = w.dtype.type
    if l1:
        grad += dtype(l1) * np.where(w >= 0, dtype(1), dtype(-1))
    if l2:
        grad += dtype(2 * l2) * w


def orthogonal_penalty(w: np.ndarray, factor: float, mode: str) -> float:
    """Keras' ``OrthogonalRegularizer`` of a rank-2 ``w``: ``factor / 2`` times the mean absolute dot
    product between distinct L2-normalised rows (``mode="rows"``) or columns (``"columns"``)."""
    x = w if mode == "rows" else w.T
    x = x.astype(np.float64)
    with np.errstate(divide="ignore"):
        inverse_norms = np.minimum(1.0 / np.sqrt(np.sum(x * x, axis=1, keepdims=True)), 1e7)  # Keras' epsilon 1e-7
    unit = x * inverse_norms
    product = unit @ unit.T
    np.fill_diagonal(product, 0.0)
    size = x.shape[0]
    pairs = size * (size - 1.0) / 2.0
    return float(factor * 0.5 * np.sum(np.abs(product)) / pairs) if pairs else 0.0
