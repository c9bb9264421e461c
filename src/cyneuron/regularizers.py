"""Weight regularizers, as in ``keras.regularizers``: ``L1``, ``L2``, ``L1L2`` (also ``l1``, ``l2``,
``l1_l2``) and ``OrthogonalRegularizer``, with Keras 3's defaults, argument checks and configs.

A layer takes them as ``kernel_regularizer=`` / ``bias_regularizer=`` / ``recurrent_regularizer=`` ...
(``Layer.add_weight(regularizer=...)``). During ``fit`` the penalty of every trainable penalised weight
is added to each batch's loss and its gradient to the weight's, inside the compiled step, as Keras adds
``model.losses`` in ``compute_loss`` (``evaluate`` reports the loss with the penalty too).
``OrthogonalRegularizer`` computes standalone (``regularizer(w)``) but is not part of the compiled step
yet: a model using it is refused when it is trained.

Called on an array, a regularizer returns its penalty (a NumPy scalar of the array's float dtype).
"""

from __future__ import annotations

import math

import numpy as np

from cyneuron.backend.reference import regularizers as _reference

__all__ = [
    "Regularizer",
    "L1",
    "L2",
    "L1L2",
    "OrthogonalRegularizer",
    "l1",
    "l2",
    "l1_l2",
    "orthogonal_regularizer",
    "get",
    "serialize",
    "deserialize",
]


def _factor(value, name: str) -> float:
    """Keras' ``validate_float_arg``: a finite number >= 0 (ValueError otherwise)."""
    if (
        not isinstance(value, (float, int, np.floating, np.integer))
        or math.isinf(value)
        or math.isnan(value)
        or value < 0
    ):
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float.Received: {name}={value}")
    return float(value)


def _as_weights(x) -> np.ndarray:
    array = np.asarray(x)
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    return array


class Regularizer:
    """Base class: ``regularizer(w)`` is the penalty of the weights ``w``; ``get_config`` / ``from_config``."""

    def __call__(self, x):
        return 0.0

    def _factors(self) -> tuple[float, float] | None:
        """``(l1, l2)`` when the compiled step can apply this regularizer; None when it cannot."""
        return None

    @classmethod
    def from_config(cls, config: dict) -> Regularizer:
        return cls(**config)

    def get_config(self) -> dict:
        raise NotImplementedError(f"{self} does not implement get_config()")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)``; both factors default to 0 (``None`` means 0)."""

    def __init__(self, l1=0.0, l2=0.0) -> None:
        self.l1 = _factor(0.0 if l1 is None else l1, "l1")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2")

    def __call__(self, x):
        w = _as_weights(x)
        return w.dtype.type(_reference.penalty(w, self.l1, self.l2))

    def _factors(self) -> tuple[float, float]:
        return self.l1, self.l2

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """``l1 * sum(|x|)``, ``l1`` defaulting to 0.01."""

    def __init__(self, l1=0.01) -> None:
        # Keras keeps this factor as a float32 tensor, so its config reads back the float32 value.
        self.l1 = float(np.float32(_factor(0.01 if l1 is None else l1, "l1")))

    def __call__(self, x):
        w = _as_weights(x)
        return w.dtype.type(_reference.penalty(w, self.l1, 0.0))

    def _factors(self) -> tuple[float, float]:
        return self.l1, 0.0

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(x**2)``, ``l2`` defaulting to 0.01."""

    def __init__(self, l2=0.01) -> None:
        self.l2 = _factor(0.01 if l2 is None else l2, "l2")

    def __call__(self, x):
        w = _as_weights(x)
        return w.dtype.type(_reference.penalty(w, 0.0, self.l2))

    def _factors(self) -> tuple[float, float]:
        return 0.0, self.l2

    def get_config(self) -> dict:
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """``factor / 2`` x the mean |dot product| of distinct L2-normalised rows (``mode="rows"``) or
    columns (``"columns"``) of a rank-2 weight. Standalone only for now (see the module docstring)."""

    def __init__(self, factor=0.01, mode="rows") -> None:
        # Keras keeps the factor as a float32 tensor
        self.factor = float(np.float32(_factor(factor, "factor")))
        if mode not in {"rows", "columns"}:
            raise ValueError(
                f'Invalid value for argument `mode`. Expected one of {{"rows", "columns"}}. Received: mode={mode}'
            )
        self.mode = mode

    def __call__(self, inputs):
        w = _as_weights(inputs)
        if w.ndim != 2:
            raise ValueError(f"Inputs to OrthogonalRegularizer must have rank 2. Received: inputs.shape={w.shape}")
        return w.dtype.type(_reference.orthogonal_penalty(w, self.factor, self.mode))

    def get_config(self) -> dict:
        return {"factor": self.factor, "mode": self.mode}


# Keras exports the classes under snake_case names too (``l2(0.01)``, ``l1_l2(l1=..., l2=...)``).
l1 = L1
l2 = L2
l1_l2 = L1L2
orthogonal_regularizer = OrthogonalRegularizer

_CLASSES = {cls.__name__: cls for cls in (Regularizer, L1, L2, L1L2, OrthogonalRegularizer)}
_NAMES = {
    **_CLASSES,
    "l1": L1,
    "l2": L2,
    "l1_l2": L1L2,
    "l1l2": L1L2,
    "orthogonal_regularizer": OrthogonalRegularizer,
    "regularizer": Regularizer,
}


def serialize(regularizer: Regularizer | None) -> dict | None:
    """``{"class_name", "config"}`` of a regularizer (JSON-able); None stays None."""
    if regularizer is None:
        return None
    if not isinstance(regularizer, Regularizer):
        raise TypeError(
            f"regularizer: cannot serialize {type(regularizer).__name__} (custom regularizers are not supported)"
        )
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}


def deserialize(config, custom_objects=None) -> Regularizer:
    """Inverse of ``serialize``; also accepts Keras' ``{"module", "class_name", "config", ...}`` dicts."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret regularizer identifier: {config}")
    cls = _NAMES.get(config["class_name"])
    if cls is None:
        raise ValueError(f"Could not interpret regularizer identifier: {config['class_name']}")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier) -> Regularizer | None:
    """A regularizer from None, a name (``"l2"``: ``L2()``), a config dict, a class or an instance."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier)
        if cls is None:
            raise ValueError(f"Could not interpret regularizer identifier: {identifier}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    if isinstance(identifier, Regularizer):
        return identifier
    raise ValueError(f"Could not interpret regularizer identifier: {identifier}")


# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
