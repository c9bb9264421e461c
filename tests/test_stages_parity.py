"""Every registered stage kind: the compiled network against the NumPy reference network.

Driven by ``reference.KINDS`` and ``tests/stages_support.EXAMPLES``: a new kind is picked up here
(and fails until it has examples). Several SGD-with-momentum steps with a fixed Dropout seed, then
weights, non-trainable state, running stats, step count, predictions and evaluation must agree:
float32 to 1e-5 relative (1e-6 absolute), float64 to 1e-12.
"""

from __future__ import annotations

import numpy as np
import pytest

from cyneuron.backend.numpy_ops import NumpyOps
from cyneuron.backend.reference import KINDS
from cyneuron.backend.specs import LossSpec, OptimizerSpec, ScheduleSpec
from tests.conftest import cython_available
from tests.stages_support import EXAMPLES, all_stacks, copy_stack, input_data

pytestmark = pytest.mark.skipif(not cython_available(), reason="compiled kernels not built")

TOLERANCE = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-12, atol=1e-13)}
SGD = OptimizerSpec("sgd", ScheduleSpec("constant", (0.05,)), {"momentum": 0.9, "nesterov": 0.0})


def test_every_kind_has_examples():
    assert set(EXAMPLES) == set(KINDS)


def _train(ops, input_shape, stages, dtype, x, y):
    network = ops.build_network(stages, input_shape, dtype)
    loss = LossSpec("categorical_crossentropy" if y.ndim == 2 else "sparse_categorical_crossentropy")
    network.prepare_training(loss, (), SGD, 8)
    order = np.arange(x.shape[0], dtype=np.int64)
    network.bind_training_data(x, y, order)
    network.seed = 2024
    for start in (0, 8, 16, 0, 8):
        assert network.train_batch(start, min(start + 8, x.shape[0]))
    return network


def _data(rng, input_shape, units, dtype, n=21, stages=None):
    if stages is not None:
        x = input_data(rng, input_shape, stages, n, dtype)
    else:
        x = rng.standard_normal((n, int(np.prod(input_shape)))).astype(dtype)
    y = np.eye(units, dtype=dtype)[rng.integers(0, units, n)]
    return x, y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", all_stacks("float32"), ids=lambda c: f"{c[0]}-{c[1]}")
def test_compiled_network_matches_reference(case, dtype):
    from cyneuron.backend.cython_ops import CythonOps

    kind, index, input_shape, _ = case
    stages = [s for k, i, _, s in all_stacks(dtype) if (k, i) == (kind, index)][0]
    units = stages[-1].fold * int(np.prod(stages[-1].out_shape))
    x, y = _data(np.random.default_rng(index), input_shape, units, dtype, stages=stages)
    ref_stages, cy_stages = copy_stack(stages), copy_stack(stages)
    ref = _train(NumpyOps(), input_shape, ref_stages, dtype, x, y)
    cy = _train(CythonOps(), input_shape, cy_stages, dtype, x, y)
    tol = TOLERANCE[dtype]
    for a, b in zip(ref_stages, cy_stages):
        for pa, pb in zip(a.params + a.state, b.params + b.state):
            np.testing.assert_allclose(pb, pa, **tol)
    np.testing.assert_allclose(cy.stats, ref.stats, **tol)
    assert cy.iterations == ref.iterations == 5
    np.testing.assert_allclose(cy.predict(x, 5), ref.predict(x, 5), **tol)
    np.testing.assert_allclose(cy.evaluate(x, y, 7), ref.evaluate(x, y, 7), **tol)
    state_ref, state_cy = ref.get_optimizer_state(), cy.get_optimizer_state()
    for slots_ref, slots_cy in zip(state_ref["slots"], state_cy["slots"]):
        for a, b in zip(slots_ref, slots_cy):
            np.testing.assert_allclose(b, a, **tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_masks_identical_in_both_backends(dtype):
    """The counter-based generator gives bit-identical masks: the training outputs agree exactly."""
    from cyneuron.backend.cython_ops import CythonOps

    kind, index, input_shape, stages = [c for c in all_stacks(dtype) if c[0] == "dropout"][0]
    x, y = _data(np.random.default_rng(3), input_shape, 3, dtype)
    ref = _train(NumpyOps(), input_shape, copy_stack(stages), dtype, x, y)
    cy = _train(CythonOps(), input_shape, copy_stack(stages), dtype, x, y)
    # identical accuracy sums require identical masks; the loss sums agree to rounding
    np.testing.assert_allclose(cy.stats, ref.stats, **TOLERANCE[dtype])


def _optimizer_cases():
    from cyneuron import optimizers

    cases = [(name, {}) for name in sorted(optimizers.OPTIMIZERS)]
    cases += [
        ("Adam", {"amsgrad": True, "clipnorm": 0.5, "weight_decay": 0.01}),
        ("RMSprop", {"momentum": 0.5, "centered": True, "clipvalue": 0.01}),
        ("SGD", {"momentum": 0.9, "nesterov": True, "global_clipnorm": 0.1}),
        ("Nadam", {"weight_decay": 0.1}),
    ]
    return cases


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, kwargs", _optimizer_cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_optimizer_in_the_compiled_step_matches_reference(name, kwargs, dtype):
    """Each registered optimizer through the whole fused step (not just its kernel), with a schedule."""
    from cyneuron import optimizers
    from cyneuron.backend.cython_ops import CythonOps

    schedule = optimizers.schedules.ExponentialDecay(0.01, decay_steps=2, decay_rate=0.7)
    spec = optimizers.OPTIMIZERS[name](learning_rate=schedule, **kwargs).spec
    _, _, input_shape, stages = [c for c in all_stacks(dtype) if c[0] == "batch_norm"][0]
    x, y = _data(np.random.default_rng(4), input_shape, 3, dtype)
    results = []
    for ops in (NumpyOps(), CythonOps()):
        stack = copy_stack(stages)
        network = ops.build_network(stack, input_shape, dtype)
        network.prepare_training(LossSpec("categorical_crossentropy"), (), spec, 8)
        network.bind_training_data(x, y, np.arange(x.shape[0], dtype=np.int64))
        for start in (0, 8, 16, 0, 8, 16):
            assert network.train_batch(start, min(start + 8, x.shape[0]))
        results.append((stack, network.get_optimizer_state()))
    (ref_stack, ref_state), (cy_stack, cy_state) = results
    tol = TOLERANCE[dtype]
    for a, b in zip(ref_stack, cy_stack):
        for pa, pb in zip(a.params + a.state, b.params + b.state):
            np.testing.assert_allclose(pb, pa, **tol)
    assert cy_state["iterations"] == ref_state["iterations"] == 6
    np.testing.assert_allclose(cy_state["scalars"], ref_state["scalars"], **tol)
    for slots_ref, slots_cy in zip(ref_state["slots"], cy_state["slots"]):
        for a, b in zip(slots_ref, slots_cy):
            np.testing.assert_allclose(b, a, **tol)
