"""Global settings, as in ``keras.config``: the default float type and the fuzz factor.

Also holds the random generators that un-seeded initializers, ``fit``'s shuffling and Dropout seeds draw
from. The model is **one generator per thread**: ``cyneuron.utils.set_random_seed(seed)`` gives the
calling thread its own generator, seeded with ``seed``, that no other thread draws from. So in a thread
that calls ``set_random_seed``, the same seed and the same sequence of calls (building, fitting,
``train_on_batch``) give the same weights whatever other threads build or train at the same time, and a
single-threaded program draws exactly what it did before threads were considered. A thread that never
called ``set_random_seed`` draws from one process-wide generator shared by all such threads (also reseeded,
with a stream of its own, by every ``set_random_seed``): reproducible only while a single thread draws from
it. Draws happen in the thread that makes them: a model whose weights are created lazily (by its first
``fit`` or ``predict``) draws them from the generator of the thread making that call.
"""

from __future__ import annotations

import threading

import numpy as np

from cyneuron.backend.base import DTYPES, EPSILON

_FLOATX = "float32"
_SHARED = np.random.default_rng()  # threads that never called set_random_seed (NumPy's Generator locks its draws)
_LOCAL = threading.local()  # .rng: the generator of a thread that called set_random_seed


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


def backend() -> str:
    """The active compute backend's name, ``"cython"`` or ``"numpy"`` (``keras.config.backend()``'s place;
    ``cyneuron.set_backend`` chooses it)."""
    from cyneuron.backend import get_backend

    return get_backend()


def random_generator() -> np.random.Generator:
    """The calling thread's generator behind un-seeded initializers, ``fit(shuffle=True)`` and Dropout seeds:
    its own after ``set_random_seed``, else the one shared by un-seeded threads (see the module docstring)."""
    rng = getattr(_LOCAL, "rng", None)
    return _SHARED if rng is None else rng


def _reseed(seed: int) -> None:
    global _SHARED
    _LOCAL.rng = np.random.default_rng(seed)
    # A distinct stream, so an un-seeded thread does not draw the same numbers as the seeding thread.
    _SHARED = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))


def _dtype() -> np.dtype:
    return np.dtype(_FLOATX)


# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
