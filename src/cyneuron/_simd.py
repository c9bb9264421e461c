"""Which build of the compiled kernels this process runs, chosen once at import.

setup.py compiles ``_core``, ``_kernels`` and ``_network`` once for baseline x86-64 and, where the
compiler accepts the flags, again as ``<module>_avx2`` (``-mavx2 -mfma``) and ``<module>_avx512``
(AVX-512 F/CD/BW/DQ/VL, 512-bit vectors). All builds compute the same bits (no floating-point
contraction, no reassociation), only the vector width differs. ``select`` takes the widest set the
CPU supports (NumPy's runtime feature detection, which also checks that the OS saves the wide
registers) unless ``CYNEURON_SIMD`` = ``baseline`` | ``avx2`` | ``avx512`` | ``auto`` names one.

``load`` imports the chosen set and installs it under the canonical names (``sys.modules
["cyneuron._core"]`` etc.), before anything else imports them. That is what ties the set together:
a variant ``_kernels``/``_network`` binds to the cdef functions of whatever ``cyneuron._core`` is when
it is imported, and every ``from cyneuron import _kernels`` afterwards gets the active module.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings

ENV_VAR = "CYNEURON_SIMD"
PATHS = ("baseline", "avx2", "avx512")
MODULES = ("_core", "_kernels", "_network")
# NumPy's feature names each path needs (AVX512_SKX: F, CD, BW, DQ and VL together).
_NEEDS = {"baseline": (), "avx2": ("AVX2", "FMA3"), "avx512": ("AVX2", "FMA3", "AVX512_SKX")}

active: str | None = None  # the loaded path; None until load() ran or when nothing compiled is present
reason: str = "not loaded"


def _numpy_features() -> dict:
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # NumPy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:
            return {}
    return dict(__cpu_features__)


def cpu_supports(path: str) -> bool:
    """Whether this CPU (and OS) runs the instructions of ``path``."""
    features = _numpy_features()
    return all(features.get(name, False) for name in _NEEDS[path])


def built(path: str) -> bool:
    """Whether the extension modules of ``path`` are installed next to this package."""
    if path == "baseline":
        return True
    return importlib.util.find_spec(f"cyneuron._network_{path}") is not None


def supported() -> list[str]:
    """The paths this machine can run from this installation, narrowest first."""
    return [path for path in PATHS if built(path) and cpu_supports(path)]


def select(requested: str | None = None) -> tuple[str, str]:
    """(path, why): ``requested`` (default: ``$CYNEURON_SIMD``) when usable, else the widest supported.

    An unknown name raises ValueError naming the variable; a known path the CPU or the build lacks
    falls back to the widest usable one with a RuntimeWarning (a wrong path would die of SIGILL).
    """
    if requested is None:
        requested = os.environ.get(ENV_VAR, "")
    requested = requested.strip().lower()
    if requested not in ("", "auto", *PATHS):
        raise ValueError(f"{ENV_VAR}: unknown SIMD path {requested!r}; expected one of auto, {', '.join(PATHS)}")
    usable = supported()
    if requested in ("", "auto"):
        return usable[-1], "widest path this CPU supports"
    if requested in usable:
        return requested, f"forced by {ENV_VAR}={requested}"
    lack = "this CPU lacks its instructions" if built(requested) else "it was not built"
    warnings.warn(
        f"cyneuron: {ENV_VAR}={requested} ignored ({lack}); using {usable[-1]}", RuntimeWarning, stacklevel=3
    )
    return usable[-1], f"{ENV_VAR}={requested} unusable ({lack})"


def load() -> str | None:
    """Import the selected set under the canonical names (once); the active path, or None without kernels."""
    global active, reason
    if active is not None:
        return active
    path, why = select()
    package = sys.modules["cyneuron"]
    blocked = [m for m in MODULES if f"cyneuron.{m}" in sys.modules and sys.modules[f"cyneuron.{m}"] is None]
    if blocked and path != "baseline":  # sys.modules[name] = None: someone made that import fail on purpose
        path, why = "baseline", f"cyneuron.{blocked[0]} blocked in sys.modules"
    if path != "baseline":
        try:
            for module in MODULES:
                variant = importlib.import_module(f"cyneuron.{module}_{path}")
                sys.modules[f"cyneuron.{module}"] = variant
                setattr(package, module, variant)
        except ImportError as error:  # a broken install: undo, keep the baseline
            for module in MODULES:
                sys.modules.pop(f"cyneuron.{module}", None)
                package.__dict__.pop(module, None)
            path, why = "baseline", f"{path} failed to import ({error})"
    if path == "baseline":
        try:
            importlib.import_module("cyneuron._core")
        except ImportError as error:
            reason = f"compiled kernels not available ({error})"
            return None  # the backend falls back to numpy and says why
    active, reason = path, why
    return active


load()
