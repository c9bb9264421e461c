"""Build the compiled kernels; everything else is declared in pyproject.toml."""

import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

# -march=native is opt-in: a wheel built with it would crash on older CPUs.
extra_compile_args = ["-O3"]
if os.environ.get("CYNEURON_NATIVE") == "1":
    extra_compile_args.append("-march=native")

extensions = [
    Extension(
        "cyneuron._kernels",
        ["csrc/_kernels.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=extra_compile_args,
    ),
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
)
