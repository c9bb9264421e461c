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


# ------------------------------------------------------------------------------- BLAS threads
def set_blas_threads(threads: int | None) -> None:
    """Fix the number of BLAS threads ``fit`` uses, or ``None`` for the automatic policy.

    The automatic policy (``cyneuron._threads``; the README's "Threads" section) picks 1 thread
    for small training steps and, for large ones, as many threads as there are idle cores when the
    fit (and each epoch) starts. The environment variable ``CYNEURON_BLAS_THREADS`` sets the same
    override at import. Needs threadpoolctl; without it the BLAS keeps its own setting.

    Args:
        threads: a positive int, or None.

    Raises:
        TypeError: ``threads`` is not an int or None.
        ValueError: ``threads`` < 1.
    """
    from cyneuron import _threads

    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
            raise TypeError(f"set_blas_threads(threads): expected a positive int or None, got {type(threads).__name__}")
        if threads < 1:
            raise ValueError(f"set_blas_threads(threads): expected a positive int or None, got {threads}")
        threads = int(threads)
    _threads.set_override(threads)


def get_blas_threads() -> int | None:
    """The override set by ``set_blas_threads`` / ``CYNEURON_BLAS_THREADS`` (None: the automatic policy)."""
    from cyneuron import _threads

    return _threads.get_override()
