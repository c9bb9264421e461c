"""Shared fixtures: every backend-dependent test runs on both backends."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

import cyneuron.backend as backend_module

# "ci" keeps the suite inside its time budget; "dev" searches harder for local runs:
#   HYPOTHESIS_PROFILE=dev python -m pytest
settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def cython_available() -> bool:
    try:
        import cyneuron._kernels  # noqa: F401
    except ImportError:
        return False
    return True


BACKEND_PARAMS = [
    pytest.param("numpy"),
    pytest.param(
        "cython",
        marks=pytest.mark.skipif(
            not cython_available() and not os.environ.get("CYNEURON_REQUIRE_CYTHON"),
            reason="compiled kernels not built",
        ),
    ),
]


@pytest.fixture(params=BACKEND_PARAMS)
def backend(request):
    """Activate one backend for the test and restore the previous choice afterwards."""
    previous = backend_module._active
    backend_module.set_backend(request.param)
    yield request.param
    backend_module._active = previous
