"""Sample and class weights as ``fit`` / ``evaluate`` / ``train_on_batch`` take them (Keras 3's rules), checked
once per call and turned into per-row weights of the model's dtype."""

from __future__ import annotations

import math

import numpy as np


def _sample_weights(value, n: int, dtype, name: str = "sample_weight", steps: int = 1) -> np.ndarray | None:
    """Per-sample weights as Keras 3 takes them: (n,) or (n, 1), numeric, finite and >= 0; returned as a
    C-contiguous (n,) array of the model's dtype (None stays None). With per-step losses (an output of
    rank >= 3, ``steps`` loss rows per sample) as Keras 3: (n, 1) weighs all of a sample's steps, (n, T...) or
    (n, T..., 1) each step (returned (n, steps)), and (n,) is refused as Keras' broadcasting refuses it."""
    if value is None:
        return None
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{name}: could not convert to an array ({error})") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numeric sample weights, got dtype {array.dtype}")
    if steps > 1 and array.ndim == 1 and array.shape == (n,):
        # Keras 3 multiplies the per-step losses (n, T...) by the weights without expanding them
        raise ValueError(
            f"Incompatible shapes for broadcasting: shapes=[({n}, {steps}), ({n},)] ({name}: with an "
            f"output of rank >= 3 give one weight per step, ({n}, T...), or ({n}, 1) for all steps)"
        )
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]  # with per-step losses: one weight for all the sample's steps, as Keras broadcasts it
    elif steps > 1 and array.ndim >= 2 and array.shape[0] == n and math.prod(array.shape[1:]) == steps:
        array = array.reshape(n, steps)  # temporal weights (n, T...) or (n, T..., 1)
    if array.shape not in ((n,), (n, steps)):
        raise ValueError(f"{name}: expected shape ({n},) or ({n}, 1) (one weight per sample), got {array.shape}")
    out = np.ascontiguousarray(array, dtype=dtype)
    if not np.isfinite(out).all():
        raise ValueError(f"{name}: contains NaN or infinity")
    if n and out.min() < 0:
        raise ValueError(f"{name}: sample weights must be >= 0, got {out.min()}")
    return out


def _check_class_weight(class_weight) -> dict | None:
    """``class_weight`` as a dict {int class: finite weight >= 0}."""
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight: expected a dict {{class index: weight}}, got {type(class_weight).__name__}")
    checked = {}
    for key, value in class_weight.items():
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)):
            raise TypeError(f"class_weight: keys must be int class indices, got {key!r}")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"class_weight: weights must be numbers, got {value!r} for class {key}")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"class_weight: weights must be finite and >= 0, got {value!r} for class {key}")
        checked[int(key)] = float(value)
    return checked


def _class_weight_rows(class_weight: dict, targets: np.ndarray, dtype, y_shape: tuple) -> np.ndarray:
    """Per-sample weights from class weights, as Keras 3: the class of a row is its int label, the arg-max of
    a one-hot / probability row, or the rounded value of a (n, 1) target; classes not listed weigh 1.
    Per-step targets (``y_shape`` the caller's) are refused as Keras refuses them."""
    if len(y_shape) >= 3:
        # Keras' class_weight_to_sample_weights takes one class per sample: int() of a row of classes
        raise TypeError("only 0-dimensional arrays can be converted to Python scalars")
    if targets.ndim == 2 and targets.dtype == np.int64:  # labels (n, T) of a per-step sparse loss
        raise ValueError(f"Incompatible shapes for broadcasting: shapes=[{tuple(y_shape)}, ({y_shape[0]},)]")
    labels = targets
    if labels.ndim > 1:
        labels = np.argmax(labels, axis=-1) if labels.shape[-1] != 1 else labels[:, 0]
    labels = np.round(labels).astype(np.int64)
    classes, inverse = np.unique(labels, return_inverse=True)
    table = np.array([class_weight.get(int(c), 1.0) for c in classes], dtype=dtype)
    return np.ascontiguousarray(table[inverse.reshape(-1)], dtype=dtype)


def _no_both(sample_weight, class_weight) -> None:
    if sample_weight is not None and class_weight is not None:
        raise ValueError("class_weight, sample_weight: cannot be given at the same time (as in Keras)")
