"""The route of compiled metrics that the step does not compute (``_compile.py``): ``Network.last_batch`` on both
backends, the same values whichever loop runs the epoch (arrays, batch hooks, batch sources), Keras' float32
running sums, and the per-batch path of batch sources (its shortcut for ready arrays keeps every check).

Values against Keras itself: ``bench/oracle/stateful_metrics_vs_keras.py``; every metric class through compile:
``test_losses_metrics.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import cyneuron
from cyneuron import callbacks, layers, metrics
from cyneuron.backend import ops
from cyneuron.backend.base import LossSpec, accumulate
from tests.spec_support import sgd_spec

RNG = np.random.default_rng(11)
X = RNG.normal(size=(40, 3)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.float32)[:, None]
W = RNG.uniform(0.0, 2.0, size=40).astype(np.float32)


def _model():
    cyneuron.utils.set_random_seed(2)
    model = cyneuron.Sequential([layers.Input((3,)), layers.Dense(4, activation="tanh"), layers.Dense(1, "sigmoid")])
    model.compile(
        optimizer="sgd",
        loss="binary_crossentropy",
        metrics=["accuracy", metrics.AUC(name="auc")],
        weighted_metrics=["mse"],
    )
    return model


def test_last_batch_is_the_steps_output_targets_and_weights(backend):
    model = _model()
    stages = model._stage_specs()
    network = ops().build_network(stages, (3,), np.float32)
    network.prepare_training(LossSpec("binary_crossentropy"), (), sgd_spec(0.0), 8)
    order = np.arange(40, dtype=np.int64)[::-1].copy()
    network.bind_training_data(X, Y, order, W)
    with pytest.raises(RuntimeError, match="last_batch"):
        network.last_batch()
    network.train_batch(8, 14)
    y_pred, y_true, weights = network.last_batch()
    rows = order[8:14]
    np.testing.assert_allclose(y_pred, model.predict(X[rows], verbose=0), rtol=1e-6)  # lr 0: no update
    np.testing.assert_array_equal(y_true, Y[rows])
    np.testing.assert_array_equal(weights, W[rows])
    assert not (y_pred.flags.writeable or y_true.flags.writeable or weights.flags.writeable)
    network.train_arrays(X[:3], Y[:3])
    y_pred, y_true, weights = network.last_batch()
    assert y_pred.shape == (3, 1) and weights is None
    np.testing.assert_array_equal(y_true, Y[:3])


class _Batches(callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        pass


def test_every_loop_logs_the_same_metrics(backend):
    """The epoch loop without hooks, with batch hooks, and from a batch source update the Python-side metrics
    from the same batches."""
    runs = []
    for feed in ("arrays", "hooks", "generator"):
        model = _model()
        if feed == "generator":
            batches = ((X[i : i + 8], Y[i : i + 8], W[i : i + 8]) for _ in range(2) for i in range(0, 40, 8))
            history = model.fit(batches, steps_per_epoch=5, epochs=2, shuffle=False, verbose=0)
        else:
            hooks = [_Batches()] if feed == "hooks" else None
            history = model.fit(
                X, Y, sample_weight=W, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=hooks
            )
        runs.append(history.history)
    for other in runs[1:]:
        assert sorted(other) == sorted(runs[0]) == ["accuracy", "auc", "loss", "mse"]
        for key in runs[0]:
            np.testing.assert_allclose(other[key], runs[0][key], rtol=1e-6)


def test_float32_running_sums_round_as_keras_trackers():
    totals = np.zeros(2)
    batches = [np.array([1e8, 1.0]), np.array([3.0, 1e-8])]
    for batch in batches:
        accumulate(totals, batch, np.float32)
    expected = np.float32(np.float32(1e8) + np.float32(3.0)), np.float32(np.float32(1.0) + np.float32(1e-8))
    np.testing.assert_array_equal(totals, np.array(expected, dtype=np.float64))
    exact = np.zeros(2)
    for batch in batches:
        accumulate(exact, batch, np.float64)
    np.testing.assert_array_equal(exact, batches[0] + batches[1])


def test_long_float32_epoch_sums_agree_between_backends():
    """Both backends add every batch's loss to float32 totals the same way (compiled and reference)."""
    values = []
    for name in ("cython", "numpy"):
        previous = cyneuron.backend.get_backend()
        cyneuron.backend.set_backend(name)
        try:
            model = _model()
            x = np.repeat(X, 25, axis=0)
            y = np.repeat(Y, 25, axis=0)
            values.append(model.evaluate(x, y, batch_size=1, verbose=0, return_dict=True))
        finally:
            cyneuron.backend.set_backend(previous)
    for key in values[0]:
        assert values[1][key] == pytest.approx(values[0][key], rel=2e-7)


@pytest.mark.parametrize(
    ("batch", "match"),
    [
        ((np.array([[np.nan, 0.0, 1.0]], np.float32), np.array([[1.0]], np.float32)), "NaN"),
        ((np.ones((1, 3), np.float32), np.array([[np.inf]], np.float32)), "NaN or infinity"),
        ((np.full((1, 3), 3e38, np.float32), np.array([[2.0]], np.float32)), None),  # overflowing sum, finite
        ((np.ones((2, 3), np.float64), np.array([1.0, 0.0])), None),  # converted
        ((np.ones((2, 3), np.float32), np.ones((3, 1), np.float32)), "samples"),
    ],
)
def test_batch_source_batches_keep_their_checks(backend, batch, match):
    model = _model()
    if match is None:
        model.fit(iter([batch]), epochs=1, verbose=0)
    else:
        with pytest.raises(ValueError, match=match):
            model.fit(iter([batch]), epochs=1, verbose=0)


def test_batch_source_labels_are_checked():
    model = cyneuron.Sequential([layers.Input((3,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"class labels must be in \[0, 3\)"):
        model.fit(iter([(X[:4], np.array([0, 1, 3, 2]))]), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"class labels must be in \[0, 3\)"):
        model.fit(iter([(X[:4], np.array([0, -1, 1, 2]))]), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="NaN"):
        model.fit(iter([(np.full((4, 3), np.nan, np.float32), np.array([0, 1, 1, 2]))]), epochs=1, verbose=0)
    model.fit(iter([(X[:4], np.array([0, 1, 1, 2]))]), epochs=1, verbose=0)
