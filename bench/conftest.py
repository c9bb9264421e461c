"""Fixtures of the benchmark suites (bench/test_*.py).

These suites measure, they never assert a speed: targets are evaluated by ``report.py``.
Run them with ``python -m pytest bench`` (see bench/README.md).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

common.ensure_cyneuron_importable()


def pytest_configure(config) -> None:
    # Two BLAS threads, as in report.py, whatever the defaults; the OpenBLAS environment is left alone.
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(2)
    except ImportError:
        pass


@pytest.fixture(params=["numpy", "cython"])
def ops(request):
    """A backend's ``Ops`` object (skips cython when the extension or adaptor is missing)."""
    if request.param == "cython":
        reason = common.cython_backend_available()
        if reason:
            pytest.skip(reason)
        from cyneuron.backend.cython_ops import CythonOps

        return CythonOps()
    from cyneuron.backend.numpy_ops import NumpyOps

    return NumpyOps()


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)


_DATA: dict[str, tuple[np.ndarray, np.ndarray]] = {}


@pytest.fixture
def workload_data():
    """``load(name) -> (x, y)``, cached for the session (the mnist-like set takes a moment)."""

    def load(name: str):
        if name not in _DATA:
            _DATA[name] = common.load_data(name)
        return _DATA[name]

    return load


def skip_if_unavailable(method: str) -> None:
    reason = common.method_unavailable(method)
    if reason:
        pytest.skip(reason)
