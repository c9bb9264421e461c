"""The fused softmax / sigmoid + cross-entropy head keeps Keras' semantics when the output saturates: Keras'
losses take probabilities clipped to [1e-7, 1 - 1e-7], so a saturated wrong answer costs -log(1e-7) and,
the clip passing no gradient, moves nothing."""

from __future__ import annotations

import numpy as np
import pytest

from cyneuron.layers import Dense, Input
from cyneuron.models import Sequential
from cyneuron.optimizers import SGD

CLIPPED = float(-np.log(np.float32(1e-7)))  # 16.118...: p clipped up to 1e-7
CLIPPED_HIGH = float(-np.log(1 - (np.float32(1) - np.float32(1e-7))))  # 15.942...: p clipped down to 1 - 1e-7


def _saturated(activation: str, units: int, loss: str) -> Sequential:
    model = Sequential([Input((2,)), Dense(units, activation=activation, use_bias=False)])
    kernel = np.zeros((2, units), np.float32)
    kernel[0, 0] = 60.0  # x = (1, 0): the first output takes (nearly) everything
    model.set_weights([kernel])
    model.compile(optimizer=SGD(0.5), loss=loss)
    return model


@pytest.mark.parametrize(
    ("activation", "units", "loss", "y"),
    [
        ("softmax", 3, "sparse_categorical_crossentropy", np.array([2])),
        ("softmax", 3, "categorical_crossentropy", np.array([[0.0, 0.0, 1.0]])),
        ("sigmoid", 1, "binary_crossentropy", np.array([[0.0]])),
    ],
)
def test_a_saturated_wrong_output_costs_the_clipped_loss_and_moves_nothing(backend, activation, units, loss, y):
    model = _saturated(activation, units, loss)
    before = [w.copy() for w in model.get_weights()]
    value = model.train_on_batch(np.array([[1.0, 0.0]], np.float32), y)
    value = float(np.ravel(value)[0])
    assert value == pytest.approx(CLIPPED_HIGH if loss == "binary_crossentropy" else CLIPPED, rel=1e-5)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_an_unsaturated_row_still_trains_beside_a_saturated_one(backend):
    model = _saturated("softmax", 3, "sparse_categorical_crossentropy")
    before = model.get_weights()[0].copy()
    x = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)  # row 2 has all-zero logits: p = 1/3 each
    value = float(np.ravel(model.train_on_batch(x, np.array([2, 2])))[0])
    assert value == pytest.approx((CLIPPED + np.log(3.0)) / 2, rel=1e-5)
    after = model.get_weights()[0]
    np.testing.assert_array_equal(after[0], before[0])  # x[:, 0] only feeds the saturated row
    assert not np.array_equal(after[1], before[1])
