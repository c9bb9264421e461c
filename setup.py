"""Build the compiled kernels; everything else is declared in pyproject.toml."""

import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

# -march=native is opt-in: a wheel built with it would crash on older CPUs.
# -ffp-contract=off: no fused multiply-adds behind our back, so results match the NumPy reference
# whether or not the target has FMA.
# -fno-math-errno: sqrt need not set errno (nothing reads it), so the optimizers' loops vectorise.
extra_compile_args = ["-O3", "-ffp-contract=off", "-fno-math-errno"]
extra_link_args: list[str] = []
if os.environ.get("CYNEURON_NATIVE") == "1":
    extra_compile_args.append("-march=native")
# CYNEURON_DEBUG=1: Cython's bounds and wraparound checks on, AddressSanitizer and UBSan compiled in
# (run with the sanitizer runtime preloaded; .ci/run does this for the hardening suite).
debug = os.environ.get("CYNEURON_DEBUG") == "1"
if debug:
    sanitize = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
    extra_compile_args = ["-O1", "-g", "-ffp-contract=off", "-fno-math-errno", *sanitize]
    extra_link_args = sanitize

# csrc/cyneuron/ mirrors the package so that ``from cyneuron cimport _core`` resolves
# at compile time: _core holds the nogil kernels, _kernels their Python entry
# points, _network the fused whole-network training step.
extensions = [
    Extension(
        f"cyneuron.{name}",
        [f"csrc/cyneuron/{name}.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=extra_compile_args,
        extra_link_args=extra_link_args,
    )
    for name in ("_core", "_kernels", "_network")
]

setup(
    ext_modules=cythonize(
        extensions,
        include_path=["csrc"],
        # generated C stays out of the source tree
        build_dir="build/cython-debug" if debug else "build/cython",
        compiler_directives={
            "language_level": 3,
            "boundscheck": debug,
            "wraparound": debug,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
)
