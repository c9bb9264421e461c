"""Training on outputs of rank >= 3 (per-step targets) and TimeDistributed over any layer.

Keras' semantics: the per-sample loss of an output (batch, T, units) is (batch, T) (the loss reduces the
last axis), ``sum_over_batch_size`` divides by batch * T, a weight (batch, 1) weighs every step of its
sample and temporal weights (batch, T) each step, the logged loss weighs batches by their sample count
and a metric averages over every (sample, step). The networks are checked against ``reference.losses
.reduce`` (Keras' reduction on arrays of any rank) and the model against its own predictions.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cyneuron
from cyneuron.backend.base import LossSpec, MetricSpec
from cyneuron.backend.reference import losses as reference_losses
from cyneuron.layers import (
    GRU,
    LSTM,
    BatchNormalization,
    Bidirectional,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    MaxPooling2D,
    TimeDistributed,
)
from cyneuron.models import Sequential
from tests.kernels_support import CY, REF
from tests.spec_support import sgd_spec
from tests.stages_support import copy_stack, seq_dense

LOSS_ACTIVATION = {
    "mean_squared_error": "linear",
    "mean_absolute_error": "tanh",
    "categorical_crossentropy": "softmax",
    "sparse_categorical_crossentropy": "softmax",
    "binary_crossentropy": "sigmoid",
    "kl_divergence": "softmax",
    "cosine_similarity": "tanh",
    "huber": "linear",
}


def _targets(rng, loss: str, n: int, steps: int, units: int) -> np.ndarray:
    if loss == "sparse_categorical_crossentropy":
        return rng.integers(0, units, (n, steps)).astype(np.int64)
    if loss in ("categorical_crossentropy", "kl_divergence"):
        return np.eye(units)[rng.integers(0, units, (n, steps))].reshape(n, steps * units)
    if loss == "binary_crossentropy":
        return rng.integers(0, 2, (n, steps * units)).astype(np.float64)
    return rng.standard_normal((n, steps * units))


@settings(max_examples=25, deadline=None)
@given(
    steps=st.integers(1, 4),
    units=st.integers(1, 4),
    n=st.integers(1, 9),
    loss=st.sampled_from(sorted(LOSS_ACTIVATION)),
    weights=st.sampled_from([None, "sample", "temporal"]),
    reduction=st.sampled_from(["sum_over_batch_size", "sum", "mean_with_sample_weight"]),
    seed=st.integers(0, 2**16),
)
def test_network_loss_over_steps_is_keras_reduction(steps, units, n, loss, weights, reduction, seed):
    """Both networks' evaluate: the loss is Keras' reduction of the (n, T) per-sample losses, the metric the
    mean over every (sample, step), for weights (n,) repeated over the steps and (n, T)."""
    if loss == "sparse_categorical_crossentropy" and units == 1:
        units = 2
    rng = np.random.default_rng(seed)
    stages = [seq_dense(rng, np.float64, (steps, 3), units, LOSS_ACTIVATION[loss])]
    x = rng.standard_normal((n, steps * 3))
    y = _targets(rng, loss, n, steps, units)
    w = {None: None, "sample": rng.random(n), "temporal": rng.random((n, steps))}[weights]
    if steps == 1:  # one loss row per sample: the network takes plain (n,) labels and weights
        y = y.reshape(n) if loss.startswith("sparse") else y
        w = None if w is None else w.reshape(n)
    spec = LossSpec(loss, reduction=reduction)
    metric = "sparse_categorical_accuracy" if loss.startswith("sparse") else "mean_squared_error"
    for ops in (REF, CY):
        network = ops.build_network(copy_stack(stages), (steps, 3), np.float64, output_shape=(steps, units))
        network.prepare_training(spec, (MetricSpec(metric),), sgd_spec(0.1), n)
        got = network.evaluate(x, y, n, w)
        p = network.predict(x, n).reshape(n, steps, units)
        yt = y.reshape(n, steps) if loss.startswith("sparse") else y.reshape(n, steps, units)
        values = reference_losses.per_sample(LossSpec(loss), yt, p)  # (n, T)
        wt = None if w is None else (w.reshape(n, steps) if weights == "temporal" else np.repeat(w[:, None], steps, 1))
        expected = reference_losses.reduce(values, wt, None, reduction)
        np.testing.assert_allclose(got[0], expected, rtol=1e-10, atol=1e-12)
        if loss.startswith("sparse"):
            m = (np.argmax(p, axis=-1) == yt).mean()
        else:
            m = reference_losses.per_sample(LossSpec("mean_squared_error"), yt, p).mean()
        np.testing.assert_allclose(got[1], m, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_steps_agree_between_backends_with_temporal_weights(dtype):
    rng = np.random.default_rng(3)
    stages = [seq_dense(rng, np.dtype(dtype).type, (4, 3), 5, "tanh"), seq_dense(rng, np.dtype(dtype).type, (4, 5), 3)]
    x = rng.standard_normal((10, 12)).astype(dtype)
    y = rng.integers(0, 3, (10, 4)).astype(np.int64)
    w = rng.random((10, 4)).astype(dtype)
    results = []
    for ops in (REF, CY):
        stack = copy_stack(stages)
        network = ops.build_network(stack, (4, 3), dtype, output_shape=(4, 3))
        loss = LossSpec("sparse_categorical_crossentropy", from_logits=True)
        network.prepare_training(loss, (MetricSpec("sparse_categorical_accuracy"),), sgd_spec(0.1, 0.9), 4)
        network.bind_training_data(x, y, np.arange(10, dtype=np.int64)[::-1].copy(), w)
        for start, stop in ((0, 4), (4, 8), (8, 10)):
            assert network.train_batch(start, stop)
        results.append((network.stats.copy(), [p for s in stack for p in s.params]))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(results[1][0], results[0][0], **tol)
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(b, a, **tol)


def test_network_refuses_labels_and_weights_of_the_wrong_shape():
    rng = np.random.default_rng(0)
    stages = [seq_dense(rng, np.float64, (4, 3), 3, "softmax")]
    for ops in (REF, CY):
        network = ops.build_network(copy_stack(stages), (4, 3), np.float64, output_shape=(4, 3))
        network.prepare_training(LossSpec("sparse_categorical_crossentropy"), (), sgd_spec(0.1), 4)
        x = rng.standard_normal((5, 12))
        with pytest.raises(ValueError, match="y"):
            network.evaluate(x, np.zeros(5, np.int64), 5)
        with pytest.raises(ValueError, match=r"y: class labels must be in \[0, 3\)"):
            network.evaluate(x, np.full((5, 4), 3, np.int64), 5)
        with pytest.raises(ValueError, match="weights"):
            network.evaluate(x, np.zeros((5, 4), np.int64), 5, np.ones((5, 3)))
        with pytest.raises(ValueError, match="output_shape"):
            ops.build_network(copy_stack(stages), (4, 3), np.float64, output_shape=(5, 3))


# --------------------------------------------------------------------------------------------- the model
def _sequence_model(units=3, activation="softmax", wrap=False):
    head = Dense(units, activation=activation)
    return Sequential([Input((5, 2)), LSTM(4, return_sequences=True), TimeDistributed(head) if wrap else head])


def _data(n=12, steps=5, units=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, steps, 2)).astype("float32")
    labels = rng.integers(0, units, (n, steps))
    return x, labels


@pytest.mark.parametrize("wrap", [False, True])
def test_fit_on_per_step_targets_and_evaluate_matches_predictions(wrap):
    cyneuron.utils.set_random_seed(0)
    model = _sequence_model(wrap=wrap)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    x, labels = _data()
    y = np.eye(3, dtype="float32")[labels]
    history = model.fit(x, y, epochs=3, batch_size=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, accuracy = model.evaluate(x, y, verbose=0)
    p = model.predict(x, verbose=0)
    assert p.shape == (12, 5, 3)
    expected = -np.mean(np.sum(y * np.log(np.clip(p, 1e-7, 1 - 1e-7)), axis=-1))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(accuracy, np.mean(np.argmax(p, -1) == labels), rtol=1e-6)


def test_sparse_labels_with_and_without_the_trailing_axis_agree():
    x, labels = _data()
    values = []
    for y in (labels, labels[..., None]):
        cyneuron.utils.set_random_seed(0)
        model = _sequence_model()
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
        values.append((history.history, model.evaluate(x, y, verbose=0), model.train_on_batch(x, y)))
    assert values[0] == values[1]


def test_sample_weight_shapes_follow_keras():
    x, labels = _data()
    cyneuron.utils.set_random_seed(0)
    model = _sequence_model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    w = np.random.default_rng(1).random(12).astype("float32")
    per_sample = model.evaluate(x, labels, sample_weight=w[:, None], verbose=0)
    temporal = model.evaluate(x, labels, sample_weight=np.repeat(w[:, None], 5, axis=1), verbose=0)
    np.testing.assert_allclose(per_sample, temporal, rtol=1e-6)
    assert model.evaluate(x, labels, sample_weight=np.zeros((12, 5)), verbose=0) == 0.0
    # Keras multiplies (n, T) losses by (n,) weights without expanding them: refused
    with pytest.raises(ValueError, match="Incompatible shapes for broadcasting"):
        model.evaluate(x, labels, sample_weight=w, verbose=0)
    with pytest.raises(ValueError, match="sample_weight"):
        model.fit(x, labels, sample_weight=np.ones((12, 4)), verbose=0)


def test_class_weight_with_per_step_targets_raises_as_keras():
    x, labels = _data()
    model = _sequence_model()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(TypeError, match="only 0-dimensional arrays can be converted to Python scalars"):
        model.fit(x, np.eye(3)[labels], class_weight={0: 1.0, 1: 2.0}, verbose=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="Incompatible shapes for broadcasting"):
        model.fit(x, labels, class_weight={0: 1.0, 1: 2.0}, verbose=0)
    with pytest.raises(TypeError, match="only 0-dimensional arrays"):
        model.train_on_batch(x, labels[..., None], class_weight={0: 1.0})


def test_targets_of_the_wrong_shape_are_refused_naming_y():
    x, labels = _data()
    model = _sequence_model()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"y: mean_squared_error expects targets of shape \(12, 5, 3\)"):
        model.fit(x, np.zeros((12, 15)), verbose=0)
    with pytest.raises(ValueError, match="y: has 11 samples but x has 12"):
        model.fit(x, np.zeros((11, 5, 3)), verbose=0)
    one = Sequential([Input((5, 2)), LSTM(4, return_sequences=True), Dense(1)])
    one.compile(optimizer="sgd", loss="mse")
    # (n, T) for a (n, T, 1) output: Keras expands it to the same rank
    assert np.isfinite(one.evaluate(x, np.zeros((12, 5)), verbose=0))


# ---------------------------------------------------------------------------------- TimeDistributed(any)
def _per_step(model: Sequential, inner_model: Sequential, x: np.ndarray) -> np.ndarray:
    return np.stack([inner_model.predict(x[:, t], verbose=0) for t in range(x.shape[1])], axis=1)


@pytest.mark.parametrize(
    "make, inner_shape",
    [
        (lambda: Conv2D(3, 3, padding="same", activation="relu"), (5, 4, 2)),
        (lambda: MaxPooling2D(2), (5, 4, 2)),
        (lambda: GlobalAveragePooling2D(), (5, 4, 2)),
        (lambda: LSTM(3, return_sequences=True), (4, 2)),
        (lambda: Bidirectional(GRU(2)), (4, 2)),
        (lambda: BatchNormalization(), (4, 2)),
        (lambda: Dropout(0.5), (4, 2)),
    ],
)
def test_time_distributed_applies_the_layer_to_every_step(make, inner_shape):
    cyneuron.utils.set_random_seed(0)
    model = Sequential([Input((3, *inner_shape)), TimeDistributed(make())])
    inner = Sequential([Input(inner_shape), make()])
    inner.set_weights(model.get_weights())
    x = np.random.default_rng(0).standard_normal((6, 3, *inner_shape)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), _per_step(model, inner, x), rtol=1e-6, atol=1e-6)


def test_time_distributed_embedding_and_nested_wrappers():
    model = Sequential([Input((3, 4), dtype="int32"), TimeDistributed(Embedding(9, 2)), TimeDistributed(Flatten())])
    x = np.random.default_rng(0).integers(0, 9, (5, 3, 4))
    table = model.get_weights()[0]
    np.testing.assert_allclose(model.predict(x, verbose=0), table[x].reshape(5, 3, 8))
    nested = Sequential([Input((2, 3, 4)), TimeDistributed(TimeDistributed(Dense(2)))])
    kernel, bias = nested.get_weights()
    xs = np.random.default_rng(1).standard_normal((4, 2, 3, 4)).astype("float32")
    np.testing.assert_allclose(nested.predict(xs, verbose=0), xs @ kernel + bias, rtol=1e-5, atol=1e-6)


def test_time_distributed_conv_lstm_trains_in_both_backends():
    x = np.random.default_rng(0).standard_normal((16, 3, 6, 6, 1)).astype("float32")
    y = np.sin(x.sum(axis=(1, 2, 3, 4)))[:, None]
    results = []
    for backend in ("numpy", "cython"):
        with _backend(backend):
            cyneuron.utils.set_random_seed(0)
            model = Sequential(
                [
                    Input((3, 6, 6, 1)),
                    TimeDistributed(Conv2D(2, 3, activation="relu")),
                    TimeDistributed(MaxPooling2D(2)),
                    TimeDistributed(Flatten()),
                    LSTM(3),
                    Dense(1),
                ]
            )
            model.compile(optimizer="adam", loss="mse")
            history = model.fit(x, y, epochs=2, batch_size=5, shuffle=False, verbose=0)
            results.append((history.history["loss"], model.get_weights()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5)
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)


class _backend:
    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self):
        self.saved = cyneuron.backend.get_backend()
        cyneuron.backend.set_backend(self.name)

    def __exit__(self, *exc):
        cyneuron.backend.set_backend(self.saved)


def test_time_distributed_batch_norm_trains_only_frozen():
    x = np.random.default_rng(0).standard_normal((8, 3, 4)).astype("float32")
    y = np.zeros((8, 3, 4), "float32")
    model = Sequential([Input((3, 4)), TimeDistributed(BatchNormalization())])
    model.compile(optimizer="sgd", loss="mse")
    assert model.predict(x, verbose=0).shape == (8, 3, 4)
    with pytest.raises(NotImplementedError, match="once per time step"):
        model.fit(x, y, verbose=0)
    model.layers[0].trainable = False
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, verbose=0)
    moving_mean, moving_var = model.get_weights()[2:]
    expected = (x - moving_mean) / np.sqrt(moving_var + 1e-3) * model.get_weights()[0] + model.get_weights()[1]
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
