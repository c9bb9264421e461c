"""Fuzzing the stage boundary and random stacks of every kind (also run under AddressSanitizer in CI).

* Random stacks drawn from every registered kind's examples, trained a few steps on random batch
  sizes: the compiled network agrees with the reference (float64) and never crashes.
* Malformed ``StageSpec``s (wrong shapes, dtypes, layouts, attributes, chains) are refused with
  ValueError or TypeError by both backends before anything runs.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cyneuron.backend.numpy_ops import NumpyOps
from cyneuron.backend.specs import LossSpec, OptimizerSpec, ScheduleSpec, StageSpec
from tests.conftest import cython_available
from tests.stages_support import EXAMPLES, all_stacks, bidirectional, copy_stack, dense, embedding, input_data

pytestmark = pytest.mark.skipif(not cython_available(), reason="compiled kernels not built")

SGD = OptimizerSpec("sgd", ScheduleSpec("constant", (0.01,)), {"momentum": 0.5, "nesterov": 0.0})
STACKS = all_stacks("float64", seed=9)


def _ops():
    from cyneuron.backend.cython_ops import CythonOps

    return [NumpyOps(), CythonOps()]


@given(
    case=st.sampled_from(STACKS),
    n=st.integers(1, 23),
    batch=st.integers(1, 9),
    seed=st.integers(0, 2**63 - 1),
    steps=st.integers(1, 4),
)
def test_random_stacks_agree_and_never_crash(case, n, batch, seed, steps):
    _, _, input_shape, stages = case
    rng = np.random.default_rng(seed % 1000)
    x = input_data(rng, input_shape, stages, n, np.float64, scale=3)
    units = stages[-1].fold * int(np.prod(stages[-1].out_shape))
    y = rng.integers(0, units, n).astype(np.int64)
    order = rng.permutation(n).astype(np.int64)
    results = []
    for ops in _ops():
        stack = copy_stack(stages)
        network = ops.build_network(stack, input_shape, "float64")
        network.prepare_training(LossSpec("sparse_categorical_crossentropy"), (), SGD, batch)
        network.bind_training_data(x, y, order.copy())
        network.seed = seed
        for step in range(steps):
            start = (step * batch) % n
            network.train_batch(start, min(start + batch, n))
        results.append((network.predict(x, 5), [p for s in stack for p in s.params + s.state], network.stats))
    (pred_a, arrays_a, stats_a), (pred_b, arrays_b, stats_b) = results
    np.testing.assert_allclose(pred_b, pred_a, rtol=1e-9, atol=1e-10)
    for a, b in zip(arrays_a, arrays_b):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(stats_b, stats_a, rtol=1e-9, atol=1e-10)


def _base(dtype="float32"):
    rng = np.random.default_rng(0)
    return EXAMPLES["batch_norm"](rng, np.dtype(dtype).type)[0]


def _replace_stage(stages, index, **changes):
    out = list(stages)
    out[index] = dataclasses.replace(out[index], **changes)
    return out


def _malformed():
    input_shape, stages = _base()
    bn = stages[1]
    f32 = np.float32
    cases = {
        "unknown kind": _replace_stage(stages, 1, kind="conv9d"),
        "not a StageSpec": [stages[0], "batch_norm", stages[2]],
        "chain width": _replace_stage(stages, 1, in_shape=(7,), out_shape=(7,)),
        "bn channels": _replace_stage(stages, 1, attrs={**bn.attrs, "channels": 4}),
        "bn inner zero": _replace_stage(stages, 1, attrs={**bn.attrs, "inner": 0}),
        "bn epsilon": _replace_stage(stages, 1, attrs={**bn.attrs, "epsilon": 0.0}),
        "bn momentum nan": _replace_stage(stages, 1, attrs={**bn.attrs, "momentum": float("nan")}),
        "bn missing state": _replace_stage(stages, 1, state=bn.state[:1]),
        "bn state dtype": _replace_stage(stages, 1, state=(bn.state[0].astype(np.float64), bn.state[1])),
        "bn param shape": _replace_stage(stages, 1, params=(np.ones(5, f32), bn.params[1])),
        "bn param readonly": _replace_stage(stages, 1, params=(np.broadcast_to(f32(1), (6,)), bn.params[1])),
        "bn param strided": _replace_stage(stages, 1, params=(np.ones(12, f32)[::2], bn.params[1])),
        "bn param list": _replace_stage(stages, 1, params=([1.0] * 6, bn.params[1])),
        "dense activation": _replace_stage(stages, 0, attrs={"activation": "swish"}),
        "dense kernel shape": _replace_stage(stages, 0, params=(np.ones((4, 5), f32), stages[0].params[1])),
        "dense in/out ranks differ": _replace_stage(stages, 0, in_shape=(2, 2)),
        "dense leading axes differ": _replace_stage(stages, 0, in_shape=(2, 2), out_shape=(3, 2)),
        "dropout rate": [stages[0], StageSpec("dropout", (6,), (6,), {"rate": 1.5, "seed": None}), stages[2]],
        "dropout rate type": [stages[0], StageSpec("dropout", (6,), (6,), {"rate": "0.5", "seed": None}), stages[2]],
        "dropout noise": [
            stages[0],
            StageSpec("dropout", (6,), (6,), {"rate": 0.5, "seed": None, "noise_shape": (3,)}),
            stages[2],
        ],
        "activation name": [stages[0], StageSpec("activation", (6,), (6,), {"activation": "nope"}), stages[2]],
        "activation weights": [
            stages[0],
            StageSpec("activation", (6,), (6,), {"activation": "relu"}, (np.ones(6, f32),)),
            stages[2],
        ],
        "activation shapes": [stages[0], StageSpec("activation", (6,), (3, 2), {"activation": "relu"}), stages[2]],
        "zero width": _replace_stage(stages, 1, in_shape=(0,), out_shape=(0,)),
        "negative dim": _replace_stage(stages, 1, in_shape=(-6,), out_shape=(-6,)),
        "empty": [],
        "embedding not first": [stages[0], embedding(np.random.default_rng(0), f32, (6,), 4, 1), stages[2]],
        "embedding out_shape": [
            dataclasses.replace(embedding(np.random.default_rng(0), f32, (4,), 5, 2), out_shape=(4, 3)),
            dense(np.random.default_rng(0), f32, 12, 2),
        ],
        "embedding matrix shape": [
            dataclasses.replace(embedding(np.random.default_rng(0), f32, (4,), 5, 2), params=(np.ones((4, 2), f32),)),
            dense(np.random.default_rng(0), f32, 8, 2),
        ],
        "embedding input_dim": [
            dataclasses.replace(
                embedding(np.random.default_rng(0), f32, (4,), 5, 2), attrs={"input_dim": 0, "output_dim": 2}
            ),
            dense(np.random.default_rng(0), f32, 8, 2),
        ],
    }
    cases.update(_malformed_bidirectional())
    return input_shape, cases


def _malformed_bidirectional():
    """Bidirectional stacks (first stage, input (3, 2)) that must be refused; the input shape is fixed below."""
    rng = np.random.default_rng(0)
    f32 = np.float32
    good = bidirectional(rng, f32, "lstm", 3, 2, 4)
    head = dense(rng, f32, 8, 2)

    def bad(**changes):
        return [dataclasses.replace(good, **changes), head]

    attrs = good.attrs
    return {
        "bidirectional merge_mode": bad(attrs={**attrs, "merge_mode": None}),
        "bidirectional cell": bad(attrs={**attrs, "cell": "conv2d"}),
        "bidirectional n_forward": bad(attrs={**attrs, "n_forward": 6}),
        "bidirectional units differ": bad(attrs={**attrs, "backward": {**attrs["backward"], "units": 3}}),
        "bidirectional out_shape": bad(out_shape=(4,)),
        "bidirectional params missing": bad(params=good.params[:5]),
        "bidirectional param shape": bad(params=(*good.params[:4], np.ones((4, 4), f32), good.params[5])),
        "bidirectional state": bad(state=(np.ones(2, f32),)),
    }


@pytest.mark.parametrize("name", sorted(_malformed()[1]))
def test_malformed_stages_are_refused(name):
    input_shape, cases = _malformed()
    if name.startswith("bidirectional"):
        input_shape = (3, 2)
    for ops in _ops():
        with pytest.raises((ValueError, TypeError)):
            ops.build_network(cases[name], input_shape, "float32")


@pytest.mark.parametrize("input_shape", [(0,), (-1,), "4", (4.0,), None, (2**31,)])
def test_bad_input_shapes_are_refused(input_shape):
    stages = [dense(np.random.default_rng(0), np.float32, 4, 2)]
    for ops in _ops():
        with pytest.raises((ValueError, TypeError)):
            ops.build_network(stages, input_shape, "float32")


def test_bad_network_settings_are_refused():
    _, stages = _base()
    for ops in _ops():
        network = ops.build_network(copy_stack(stages), (4,), "float32")
        for bad in (-1, 2**62, 1.5, "3", True):
            with pytest.raises((ValueError, TypeError)):
                network.iterations = bad
        with pytest.raises(TypeError):
            network.seed = "x"
        with pytest.raises((ValueError, TypeError)):
            network.set_optimizer(OptimizerSpec("nope", ScheduleSpec("constant", (0.1,))))
        with pytest.raises(TypeError):
            network.set_optimizer_state([np.zeros(3)])
