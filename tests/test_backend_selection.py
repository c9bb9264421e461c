"""Choosing a backend: by name, by environment variable, and the fallback when the extension is missing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import cyneuron.backend as backend_module
from tests.conftest import cython_available


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    import os

    environment = {k: v for k, v in os.environ.items() if k != "CYNEURON_BACKEND"}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=environment, timeout=120
    )


def test_set_backend_switches_and_reports(backend):
    assert backend_module.get_backend() == backend
    assert backend_module.ops().name == backend


def test_unknown_backend_lists_choices():
    with pytest.raises(ValueError, match="cython, numpy"):
        backend_module.set_backend("torch")
    with pytest.raises(ValueError, match="unknown backend"):
        backend_module.set_backend(3)


def test_environment_variable_chooses_backend():
    result = run_python("import cyneuron.backend as b; print(b.get_backend())", CYNEURON_BACKEND="numpy")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "numpy"


def test_environment_variable_rejects_unknown_name():
    result = run_python("import cyneuron.backend as b; b.get_backend()", CYNEURON_BACKEND="fortran")
    assert result.returncode != 0
    assert "CYNEURON_BACKEND" in result.stderr and "cython, numpy" in result.stderr


def test_missing_extension_falls_back_to_numpy_with_one_warning():
    code = """
        import sys, warnings
        sys.modules["cyneuron._kernels"] = None  # makes "import cyneuron._kernels" fail
        import cyneuron.backend as b
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            first, second = b.get_backend(), b.get_backend()
        print(first, second, len(caught), caught[0].message if caught else "")
    """
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    first, second, count, *message = result.stdout.split()
    assert (first, second, count) == ("numpy", "numpy", "1")
    assert "compiled kernels unavailable" in " ".join(message)


@pytest.mark.skipif(not cython_available(), reason="compiled kernels not built")
def test_default_is_cython_when_built():
    result = run_python("import cyneuron.backend as b; print(b.get_backend())")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "cython"
