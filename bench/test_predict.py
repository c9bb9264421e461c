"""Prediction latency through the public ``predict`` on the notes' 10 -> 32 -> 2 model.

One sample per call in a loop, and one batch of 1,000; torch under ``torch.no_grad()``, onnxruntime on
cyneuron's ONNX export; cyneuron's ``predict_on_batch`` and ``model(x)`` on one sample too.
"""

from __future__ import annotations

import common
import pytest
from conftest import skip_if_unavailable


@pytest.mark.parametrize("method", common.PREDICT_METHODS)
@pytest.mark.parametrize("kind", ["one", "on_batch", "call", "batch"])
def test_predict(benchmark, method, kind):
    skip_if_unavailable(method)
    if kind not in ("one", "batch", *common.PREDICT_ONE_CALLS.get(method, ())):
        pytest.skip(f"{method} has no {kind} call")
    predictor = common.Predictor(method)
    call = getattr(predictor, kind)
    call()
    benchmark.group = "predict 10→32→2: " + ("1,000 samples" if kind == "batch" else "1 sample")
    benchmark.extra_info["method"] = method
    benchmark(call)
