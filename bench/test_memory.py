"""Memory: peak RSS of one training run per method (a fresh process each), and NumPy allocations
per training step after warm-up (an exact counting NumPy memory handler, plus tracemalloc on NumPy's
domain). Values land in ``extra_info`` (``--benchmark-json``) and are printed; targets are judged
by report.py, not asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import common
import pytest
from conftest import skip_if_unavailable

HERE = os.path.dirname(os.path.abspath(__file__))


def _worker(*args: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (common.SRC, env.get("PYTHONPATH")) if p)
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "worker.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("method", common.METHODS)
@pytest.mark.parametrize("workload", ["mnist-like", "wide"])
def test_peak_rss(benchmark, method, workload):
    skip_if_unavailable(method)
    benchmark.group = f"peak RSS of one fit, {workload} (time = whole subprocess)"
    result = benchmark.pedantic(_worker, args=(method, "--memory", workload), rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    print(f"\n{method} {workload}: RSS before fit {result['rss_before_mb']:.1f} MB, peak {result['peak_mb']:.1f} MB")


@pytest.mark.parametrize("method", ["cython", "numpy", "numpy_loop"])
def test_numpy_allocations_per_step(benchmark, method):
    skip_if_unavailable(method)
    benchmark.group = "NumPy allocations per training step (time = whole subprocess)"
    result = benchmark.pedantic(_worker, args=(method, "--alloc", "tiny", "mnist-like"), rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    for workload, entry in result["workloads"].items():
        tb = entry.get("train_batch")
        fit = entry.get("fit", {})
        per_batch = "n/a" if not tb else tb["allocations"] / tb["steps"]
        print(f"\n{method} {workload}: per train_batch {per_batch}, per fit step {fit.get('per_step')}")
