"""Prediction latency through the public ``predict`` on the notes' 10 -> 32 -> 2 model.

One sample per call in a loop, and one batch of 1,000; torch under ``torch.no_grad()``.
"""

from __future__ import annotations

import common
import pytest
from conftest import skip_if_unavailable


@pytest.mark.parametrize("method", common.METHODS)
@pytest.mark.parametrize("kind", ["one", "batch"])
def test_predict(benchmark, method, kind):
    skip_if_unavailable(method)
    predictor = common.Predictor(method)
    call = predictor.one if kind == "one" else predictor.batch
    call()
    benchmark.group = "predict 10→32→2: " + ("1 sample" if kind == "one" else "1,000 samples")
    benchmark.extra_info["method"] = method
    benchmark(call)
