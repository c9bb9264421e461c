"""End to end through the public ``fit``: every workload x cython, numpy backend, NumPy loop, torch, JAX (the
convolution and recurrent workloads: cyneuron and torch only).

Each round is one full ``fit`` of the workload from the same initial weights (reset untimed);
``extra_info`` carries µs/step and samples/s. report.py does the careful, noise-filtered version.
"""

from __future__ import annotations

import common
import pytest
from conftest import skip_if_unavailable

ROUNDS = {"tiny": 10, "digits": 5, "mnist-like": 3, "wide": 2, "cnn": 3, "lstm": 3}


@pytest.mark.parametrize("method", common.METHODS)
@pytest.mark.parametrize("workload", list(common.WORKLOADS))
def test_fit(benchmark, workload_data, workload, method):
    skip_if_unavailable(method)
    if not common.is_mlp(workload) and method not in common.LAYER_METHODS:
        pytest.skip(f"{method} is written for the MLP workloads only")
    w = common.WORKLOADS[workload]
    x, y = workload_data(workload)
    trainer = common.make_trainer(method, w, x, y)
    trainer.fit(epochs=1)  # warm-up: thread pools, workspaces

    benchmark.group = f"fit {workload}: {w.describe()}"
    benchmark.extra_info.update(method=method, steps=w.steps, samples=w.samples * w.epochs)
    benchmark.pedantic(trainer.fit, setup=trainer.reset, rounds=ROUNDS[workload], iterations=1, warmup_rounds=0)
    if benchmark.stats is None:  # --benchmark-disable: ran once, nothing timed
        return
    median = benchmark.stats.stats.median
    benchmark.extra_info["us_per_step"] = 1e6 * median / w.steps
    benchmark.extra_info["samples_per_s"] = w.samples * w.epochs / median
    benchmark.extra_info["gflops"] = w.flops_per_step * w.steps / median / 1e9
