"""Helpers shared by the kernel tests (test_kernels_*, test_gradients, test_network_parity)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from cyneuron.backend.numpy_ops import NumpyOps
from cyneuron.backend.specs import ACTIVATIONS, LOSSES, METRICS, SPARSE_METRICS  # noqa: F401  (re-exported to the kernel tests)

try:
    from cyneuron import _kernels
    from cyneuron.backend.cython_ops import CythonOps
except ImportError:  # pragma: no cover - exercised only without a build
    if os.environ.get("CYNEURON_REQUIRE_CYTHON"):
        raise
    pytest.skip("compiled kernels not built", allow_module_level=True)

REF = NumpyOps()
CY = CythonOps()

DTYPES = (np.float32, np.float64)
# float32 and float64 relative tolerances of the brief; absolute terms are scaled
# by the magnitude of what was summed (see close()).
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def close(actual, expected, dtype, scale=None, rtol_factor=1.0):
    """assert_allclose at the dtype's rtol; ``scale`` (the magnitude of the summed terms) sets atol.

    A sum of terms of magnitude S carries rounding error of order eps * S whatever its
    result, so near-zero results are compared absolutely against rtol * S.
    """
    rtol = RTOL[np.dtype(dtype)] * rtol_factor
    expected = np.asarray(expected)
    if scale is None:
        scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(scale, 1e-30))


@pytest.fixture(params=["loops", "blas"], scope="module")
def product_path(request):
    """Run a test once with every product in the plain loops and once through BLAS."""
    previous = _kernels.set_product_path(request.param)
    yield request.param
    _kernels.set_product_path(previous)


ONE_HOT_LOSSES = ("categorical_crossentropy", "categorical_hinge")
BINARY_LOSSES = ("binary_crossentropy", "hinge", "squared_hinge")
# losses whose predictions are probabilities (clipped to [EPSILON, 1 - EPSILON] or [EPSILON, 1])
PROBABILITY_LOSSES = (
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "kl_divergence",
)
POSITIVE_LOSSES = ("poisson", "mean_squared_logarithmic_error")


def targets_for(loss: str, rng: np.random.Generator, rows: int, units: int, dtype):
    """Plausible y_true for a loss: labels, one-hot rows, 0/1 targets, distributions, counts or real values."""
    if loss == "sparse_categorical_crossentropy":
        return rng.integers(0, units, size=rows).astype(np.int64)
    if loss in ONE_HOT_LOSSES:
        return np.eye(units, dtype=dtype)[rng.integers(0, units, size=rows)]
    if loss in BINARY_LOSSES:
        return rng.integers(0, 2, size=(rows, units)).astype(dtype)
    if loss == "kl_divergence":
        e = rng.random(size=(rows, units))
        return (e / e.sum(axis=1, keepdims=True)).astype(dtype)
    if loss == "poisson":
        return rng.poisson(2.0, size=(rows, units)).astype(dtype)
    if loss == "mean_squared_logarithmic_error":
        return rng.uniform(0.0, 3.0, size=(rows, units)).astype(dtype)
    return rng.normal(size=(rows, units)).astype(dtype)


def predictions_for(loss: str, from_logits: bool, rng: np.random.Generator, rows: int, units: int, dtype):
    """y_pred in the loss's domain: logits, probabilities (some at the clip edges), positive or real values."""
    if loss in POSITIVE_LOSSES:
        return rng.uniform(0.05, 3.0, size=(rows, units)).astype(dtype)
    if from_logits or loss not in PROBABILITY_LOSSES:
        return rng.normal(scale=3.0, size=(rows, units)).astype(dtype)
    p = rng.uniform(0.0, 1.0, size=(rows, units))
    # exercise the clipping: exact 0 and 1 and values inside [0, EPSILON]
    edges = rng.random(size=(rows, units))
    p[edges < 0.05] = 0.0
    p[(edges >= 0.05) & (edges < 0.1)] = 1.0
    p[(edges >= 0.1) & (edges < 0.12)] = 3e-8
    if loss != "binary_crossentropy":
        p[:, 0] += 0.01  # every row has a positive sum
    return p.astype(dtype)
