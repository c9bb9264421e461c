"""Backend selection: ``set_backend("cython" | "numpy")``, ``get_backend()``, ``ops()``.

The default comes from the ``CYNEURON_BACKEND`` environment variable, else
``cython``; when the compiled extension cannot be imported the numpy backend is
used instead, with one warning saying why.
"""

from __future__ import annotations

import os
import warnings

from cyneuron.backend.base import Ops

BACKENDS = ("cython", "numpy")

_active: Ops | None = None


def _load(name: str) -> Ops:
    if name == "numpy":
        from cyneuron.backend.numpy_ops import NumpyOps

        return NumpyOps()
    from cyneuron.backend.cython_ops import CythonOps

    return CythonOps()


def _check_name(name: object, source: str) -> str:
    if not isinstance(name, str) or name.strip().lower() not in BACKENDS:
        raise ValueError(f"{source}: unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
    return name.strip().lower()


def set_backend(name: str) -> None:
    """Make ``name`` ("cython" or "numpy") the active backend.

    Raises ValueError for an unknown name and ImportError when "cython" is
    asked for explicitly but the compiled extension is missing. Models built
    before the switch keep the backend they were built with.
    """
    global _active
    _active = _load(_check_name(name, "set_backend(name)"))


def get_backend() -> str:
    """The active backend's name: "cython" or "numpy"."""
    return ops().name


def ops() -> Ops:
    """The active backend's ``Ops``, chosen on first use."""
    global _active
    if _active is None:
        requested = os.environ.get("CYNEURON_BACKEND")
        if requested:
            _active = _load(_check_name(requested, "CYNEURON_BACKEND"))
        else:
            try:
                _active = _load("cython")
            except ImportError as error:
                warnings.warn(
                    f"cyneuron: compiled kernels unavailable ({error}); using the slower numpy backend. "
                    "Reinstall with a C compiler present (pip install .) to build them.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                _active = _load("numpy")
    return _active


def clear_session(free_memory: bool = True) -> None:
    """As ``keras.backend.clear_session``: reset automatic layer names (see ``cyneuron.utils.clear_session``)."""
    from cyneuron.utils import clear_session as _clear_session

    _clear_session(free_memory)


# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
