"""Keras' loss classes, each with Keras' explicit constructor signature (names, order and defaults, visible
to ``inspect``); the arithmetic is ``base._values``' and, in training, the compiled loss head's."""

from __future__ import annotations

from cyneuron.losses.base import SPARSE, _Builtin
from cyneuron.utils import _init_arguments


class MeanSquaredError(_Builtin):
    """Mean of ``(y_true - y_pred)**2`` over the last axis."""

    canonical = "mean_squared_error"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "mean_squared_error",
        dtype=None,
    ) -> None:
        super().__init__(**_init_arguments(locals()))


class MeanAbsoluteError(_Builtin):
    """Mean of ``|y_true - y_pred|`` over the last axis."""

    canonical = "mean_absolute_error"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "mean_absolute_error",
        dtype=None,
    ) -> None:
        super().__init__(**_init_arguments(locals()))


class MeanAbsolutePercentageError(_Builtin):
    """``100 * mean(|(y_true - y_pred) / max(|y_true|, 1e-7)|)`` over the last axis."""

    canonical = "mean_absolute_percentage_error"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "mean_absolute_percentage_error",
        dtype=None,
    ) -> None:
        super().__init__(**_init_arguments(locals()))


class MeanSquaredLogarithmicError(_Builtin):
    """Mean of ``(log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))**2`` over the last axis."""

    canonical = "mean_squared_logarithmic_error"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "mean_squared_logarithmic_error",
        dtype=None,
    ) -> None:
        super().__init__(**_init_arguments(locals()))


class CosineSimilarity(_Builtin):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred))`` over ``axis`` (-1: most similar).

    As in Keras, ``get_config`` holds only ``name`` and ``reduction`` (``axis`` is not saved)."""

    canonical = "cosine_similarity"

    def __init__(
        self,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "cosine_similarity",
        dtype=None,
    ) -> None:
        super().__init__(**_init_arguments(locals()))


class Huber(_Builtin):
    """Mean of ``0.5 * e**2`` where ``|e| <= delta``, else ``delta * |e| - 0.5 * delta**2``.

    As in Keras, ``get_config`` holds only ``name`` and ``reduction`` (``delta`` is not saved)."""

    canonical = "huber"

    def __init__(
        self,
        delta: float = 1.0,
        reduction: str | None = "sum_over_batch_size",
        name: str = "huber_loss",
        dtype=None,
    ) -> None:
        super().__init__(**_init_arguments(locals()))


class LogCosh(_Builtin):
    """Mean of ``log(cosh(y_pred - y_true))`` over the last axis."""

    canonical = "log_cosh"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "log_cosh",
        dtype=None,
    ) -> None:
        super().__init__(**_init_arguments(locals()))


class KLDivergence(_Builtin):
    """``sum(y_true * log(y_true / y_pred))`` over the last axis, both clipped to ``[1e-7, 1]``."""

    canonical = "kl_divergence"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "kl_divergence",
        dtype=None,
    ) -> None:
        super().__init__(**_init_arguments(locals()))


class Poisson(_Builtin):
    """Mean of ``y_pred - y_true * log(y_pred + 1e-7)`` over the last axis."""

    canonical = "poisson"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "poisson",
        dtype=None,
    ) -> None:
        super().__init__(**_init_arguments(locals()))


class Hinge(_Builtin):
    """Mean of ``max(1 - y_true * y_pred, 0)``; 0/1 targets become -1/1 (when every target is 0 or 1)."""

    canonical = "hinge"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "hinge",
        dtype=None,
    ) -> None:
        super().__init__(**_init_arguments(locals()))


class SquaredHinge(_Builtin):
    """Mean of ``max(1 - y_true * y_pred, 0)**2`` (targets as ``Hinge``)."""

    canonical = "squared_hinge"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "squared_hinge",
        dtype=None,
    ) -> None:
        super().__init__(**_init_arguments(locals()))


class CategoricalHinge(_Builtin):
    """``max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`` per sample."""

    canonical = "categorical_hinge"

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_hinge",
        dtype=None,
    ) -> None:
        super().__init__(**_init_arguments(locals()))


class BinaryCrossentropy(_Builtin):
    """Binary cross-entropy, mean over ``axis``; targets smoothed towards 0.5 by ``label_smoothing``."""

    canonical = "binary_crossentropy"
    _options = ("from_logits", "label_smoothing", "axis")

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "binary_crossentropy",
        dtype=None,
    ) -> None:
        super().__init__(**_init_arguments(locals()))


class CategoricalCrossentropy(_Builtin):
    """Cross-entropy of one-hot (or probability) rows over ``axis``; targets smoothed towards 1 / classes."""

    canonical = "categorical_crossentropy"
    _options = ("from_logits", "label_smoothing", "axis")

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_crossentropy",
        dtype=None,
    ) -> None:
        super().__init__(**_init_arguments(locals()))


class SparseCategoricalCrossentropy(_Builtin):
    """Cross-entropy of integer class labels against predictions over ``axis``; labels equal to
    ``ignore_class`` add nothing and are not counted by ``sum_over_batch_size``."""

    canonical = SPARSE
    _options = ("from_logits", "ignore_class")

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        axis: int = -1,
        name: str = "sparse_categorical_crossentropy",
        dtype=None,
    ) -> None:
        super().__init__(**_init_arguments(locals()))


