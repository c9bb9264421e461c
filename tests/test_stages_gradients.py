"""Every registered stage kind's backward pass against central finite differences (float64).

For each example stack of ``tests/stages_support.EXAMPLES``, in training mode (BatchNormalization
on batch statistics, Dropout under the fixed mask its seed and step give), the gradients of
``sum(c * output)`` with respect to every trainable parameter and to the input agree with central
differences. A frozen stage must report no parameter gradient.
"""

from __future__ import annotations

import numpy as np
import pytest

from cyneuron.backend.reference import Context, run_stage
from tests.stages_support import TIED, all_stacks, input_data

EPS = 1e-6


def _forward(stages, x):
    trace = []
    for index, stage in enumerate(stages):
        step = run_stage(stage, x, Context(True, seed=11, step=3, stage=index, need_dx=True))
        trace.append(step)
        x = step.y
    return trace


def _objective(stages, x, c) -> float:
    return float(np.sum(c * _forward(stages, x)[-1].y))


def _numeric(f, array: np.ndarray) -> np.ndarray:
    grad = np.zeros_like(array)
    flat, out = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + EPS
        up = f()
        flat[i] = keep - EPS
        down = f()
        flat[i] = keep
        out[i] = (up - down) / (2 * EPS)
    return grad


def _relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-8))


@pytest.mark.parametrize("case", all_stacks("float64", seed=5), ids=lambda c: f"{c[0]}-{c[1]}")
def test_backward_matches_finite_differences(case):
    kind, index, input_shape, stages = case
    if (kind, index) in TIED:
        pytest.skip("exact ties on purpose (max pooling's routing): not differentiable there")
    rng = np.random.default_rng(index + 100)
    x = input_data(rng, input_shape, stages, 6, np.float64)
    trace = _forward(stages, x)
    c = rng.standard_normal(trace[-1].y.shape)

    grad, grads = c, []
    for step in reversed(trace):
        grad, stage_grads = step.backprop(grad)
        grads.insert(0, stage_grads)

    if x.dtype.kind == "i":  # integer indices (a first embedding) have no gradient
        assert grad is None
    else:
        np.testing.assert_array_less(_relative_error(grad, _numeric(lambda: _objective(stages, x, c), x)), 1e-6)
    for stage, stage_grads in zip(stages, grads):
        if not stage.trainable:
            assert stage_grads == ()
            continue
        assert len(stage_grads) == len(stage.params)
        for param, analytic in zip(stage.params, stage_grads):
            numeric = _numeric(lambda: _objective(stages, x, c), param)
            assert _relative_error(analytic, numeric) < 1e-6, (stage.kind, param.shape)
