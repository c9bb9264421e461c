"""Global settings, as in ``keras.config``: the default float type and the fuzz factor.

Also holds the process-wide random generator that un-seeded initializers and
``fit``'s shuffling draw from; ``cyneuron.utils.set_random_seed`` resets it.
"""

from __future__ import annotations

import numpy as np

from cyneuron.backend.base import DTYPES, EPSILON

_FLOATX = "float32"
_RNG = np.random.default_rng()


def floatx() -> str:
    """The default float type of new models: ``"float32"`` (default) or ``"float64"``."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Set the default float type used by models built from now on.

    Args:
        value: ``"float32"`` or ``"float64"`` (the only types the kernels support).

    Raises:
        ValueError: for any other value.
    """
    global _FLOATX
    names = [dtype.name for dtype in DTYPES]
    if not isinstance(value, str) or value not in names:
        raise ValueError(f"set_floatx(value): unknown float type {value!r}; expected one of {', '.join(names)}")
    _FLOATX = value


def epsilon() -> float:
    """The fuzz factor used to clip probabilities in the cross-entropy losses (``1e-7``, as Keras)."""
    return EPSILON


def random_generator() -> np.random.Generator:
    """The process-wide generator behind un-seeded initializers and ``fit(shuffle=True)``."""
    return _RNG


def _reseed(seed: int) -> None:
    global _RNG
    _RNG = np.random.default_rng(seed)


def _dtype() -> np.dtype:
    return np.dtype(_FLOATX)


# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
