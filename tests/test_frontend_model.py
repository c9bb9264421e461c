"""Front-end Sequential model: building, predict, compile, fit, evaluate, weights, summary, errors.

Numbers are checked against hand-written NumPy versions of Keras 3's formulas.
"""

from __future__ import annotations

import math
import re
import threading
import warnings

import numpy as np
import pytest

from cyneuron import callbacks, config, losses, optimizers, utils
from cyneuron.layers import Activation, Dense, Flatten, Input
from cyneuron.models import Sequential, load_model
from cyneuron.optimizers import SGD


def small_model(hidden=5, units=3, inputs=4, hidden_activation="relu", out_activation="softmax"):
    return Sequential(
        [Dense(hidden, input_shape=(inputs,), activation=hidden_activation), Dense(units, activation=out_activation)]
    )


def classification_data(n=40, inputs=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, inputs)).astype(np.float32)
    y = rng.integers(0, classes, n)
    return x, y


# ----------------------------------------------------------------------------- manual Keras math


def _act(name, z):
    if name == "relu":
        return np.maximum(z, 0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return z


def _act_grad(name, z, a, grad):
    if name == "relu":
        return grad * (z > 0)
    if name == "tanh":
        return grad * (1 - a * a)
    if name == "sigmoid":
        return grad * a * (1 - a)
    return grad


def manual_step(weights, x, y, hidden_act, out_act, loss):
    """Loss and gradients (float64) of a 2-layer net, as Keras' mean-over-batch losses define them."""
    w1, b1, w2, b2 = (np.asarray(w, dtype=np.float64) for w in weights)
    x = x.astype(np.float64)
    n = x.shape[0]
    z1 = x @ w1 + b1
    a1 = _act(hidden_act, z1)
    z2 = a1 @ w2 + b2
    p = _act(out_act, z2)
    units = p.shape[1]
    if loss == "sparse_categorical_crossentropy":
        t = np.eye(units)[y]
        value = -np.mean(np.log(p[np.arange(n), y]))
        dz2 = (p - t) / n
    elif loss == "mean_squared_error":
        value = np.mean((p - y) ** 2)
        dz2 = _act_grad(out_act, z2, p, 2 * (p - y) / (n * units))
    else:  # binary cross-entropy after a sigmoid
        value = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        dz2 = (p - y) / (n * units)
    dw2, db2 = a1.T @ dz2, dz2.sum(axis=0)
    dz1 = _act_grad(hidden_act, z1, a1, dz2 @ w2.T)
    dw1, db1 = x.T @ dz1, dz1.sum(axis=0)
    return value, [dw1, db1, dw2, db2]


@pytest.mark.parametrize(
    ("hidden_act", "out_act", "loss", "units"),
    [
        ("relu", "softmax", "sparse_categorical_crossentropy", 3),
        ("tanh", None, "mean_squared_error", 2),
        ("sigmoid", "sigmoid", "binary_crossentropy", 2),
    ],
)
@pytest.mark.parametrize(("momentum", "nesterov"), [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_steps_match_keras_formulas(backend, hidden_act, out_act, loss, units, momentum, nesterov):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    if loss == "sparse_categorical_crossentropy":
        y = rng.integers(0, units, 6)
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, (6, units)).astype(np.float32)
    else:
        y = rng.normal(size=(6, units)).astype(np.float32)
    model = small_model(units=units, hidden_activation=hidden_act, out_activation=out_act)
    lr = 0.1
    model.compile(optimizer=SGD(learning_rate=lr, momentum=momentum, nesterov=nesterov), loss=loss)
    weights = [w.astype(np.float64) for w in model.get_weights()]
    velocities = [np.zeros_like(w) for w in weights]
    history = model.fit(x, y, batch_size=6, epochs=2, shuffle=False, verbose=0)
    expected_losses = []
    for _ in range(2):  # one full-batch step per epoch
        value, grads = manual_step(weights, x, y, hidden_act, out_act, loss)
        expected_losses.append(value)
        for w, g, v in zip(weights, grads, velocities):
            if momentum == 0:
                w -= lr * g
            else:
                v[...] = momentum * v - lr * g
                w += momentum * v - lr * g if nesterov else v
    np.testing.assert_allclose(history.history["loss"], expected_losses, rtol=2e-5)
    for got, want in zip(model.get_weights(), weights):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-6)


def test_last_partial_batch_is_used_and_order_kept_without_shuffle(backend):
    x, y = classification_data(n=10)
    a = small_model()
    b = small_model()
    b.set_weights(a.get_weights())
    for m in (a, b):
        m.compile(optimizer=SGD(0.2), loss="sparse_categorical_crossentropy")
    a.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for start in (0, 4, 8):  # [0:4], [4:8], then the smaller [8:10]
        b.train_on_batch(x[start : start + 4], y[start : start + 4])
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-7)


def test_epoch_logs_are_sample_means_before_each_update(backend):
    x, y = classification_data(n=10)
    model = small_model()
    model.compile(optimizer=SGD(0.3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = model.get_weights()
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    weights = [w.astype(np.float64) for w in start]
    total = correct = 0.0
    for s in (0, 4, 8):
        xb, yb = x[s : s + 4], y[s : s + 4]
        value, grads = manual_step(weights, xb, yb, "relu", "softmax", "sparse_categorical_crossentropy")
        z = np.maximum(xb @ weights[0] + weights[1], 0) @ weights[2] + weights[3]
        correct += np.sum(np.argmax(z, axis=1) == yb)
        total += value * len(yb)
        for w, g in zip(weights, grads):
            w -= 0.3 * g
    assert history.history["loss"][0] == pytest.approx(total / 10, rel=1e-5)
    assert history.history["accuracy"][0] == pytest.approx(correct / 10)


# ----------------------------------------------------------------------------- building and predict


def test_model_with_input_shape_is_built_at_construction():
    model = Sequential([Dense(32, input_shape=(10,), activation="relu"), Dense(2, activation="softmax")])
    assert model.built
    assert model.count_params() == 352 + 66
    assert model.layers[0].count_params() == 352
    assert model.input_shape == (None, 10) and model.output_shape == (None, 2)
    assert [w.shape for w in model.get_weights()] == [(10, 32), (32,), (32, 2), (2,)]
    assert model.name.startswith("sequential")


@pytest.mark.parametrize(
    "make",
    [
        lambda: Sequential([Input((3,)), Dense(2)]),
        lambda: Sequential([Dense(2, input_dim=3)]),
        lambda: Sequential([Dense(2, input_shape=(3,))]),
    ],
)
def test_ways_to_give_the_input_shape(make):
    model = make()
    assert model.built and model.input_shape == (None, 3)
    assert len(model.layers) == 1  # the Input is not a layer of the stack


def test_model_builds_on_first_data_or_build(backend):
    model = Sequential([Dense(4, activation="relu"), Dense(2)])
    assert not model.built and model.get_weights() == []
    with pytest.raises(ValueError, match="isn't built"):
        model.count_params()
    out = model.predict(np.ones((5, 3)))
    assert model.built and out.shape == (5, 2)
    assert model.layers[0].kernel.shape == (3, 4)
    other = Sequential([Dense(4), Dense(2)])
    other.build((None, 7))
    assert other.count_params() == 7 * 4 + 4 + 4 * 2 + 2
    with pytest.raises(ValueError, match="already been configured to use input shape"):
        other.build((None, 8))


def test_add_and_pop(backend):
    model = Sequential()
    model.add(Input((3,)))
    model.add(Dense(4))
    assert model.built and model.predict(np.ones((1, 3))).shape == (1, 4)
    model.add(Dense(2, activation="softmax"))
    assert model.predict(np.ones((1, 3))).shape == (1, 2)
    removed = model.pop()
    assert removed.units == 2 and model.predict(np.ones((1, 3))).shape == (1, 4)
    with pytest.raises(ValueError, match="already been configured to use input shape"):
        model.add(Input((3,)))
    with pytest.raises(ValueError, match="unique names"):
        model.add(Dense(3, name=model.layers[0].name))
    with pytest.raises(ValueError, match="Only instances of `keras.Layer`"):  # Keras' type and words
        model.add("dense")


def test_predict_returns_model_dtype_and_matches_manual_forward(backend):
    model = small_model()
    x = np.random.default_rng(3).normal(size=(70, 4))  # float64 input, converted once
    out = model.predict(x, batch_size=16)
    assert out.dtype == np.float32 and out.shape == (70, 3)
    w1, b1, w2, b2 = model.get_weights()
    expected = _act("softmax", np.maximum(x.astype(np.float32) @ w1 + b1, 0) @ w2 + b2)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model(x), out, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.predict_on_batch(x), out, rtol=1e-6)
    # one sample at a time through the fast path gives the same rows
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    for i in range(3):
        np.testing.assert_allclose(model.predict(x32[i : i + 1])[0], out[i], rtol=1e-6)
    # nested lists, ints and bools are fine
    assert model.predict([[1, 2, 3, 4]]).shape == (1, 3)
    assert model.predict(np.ones((2, 4), dtype=bool)).shape == (2, 3)


def test_input_rank_adjustment_like_keras(backend):
    model = Sequential([Dense(2, input_shape=(1,))])
    assert model.predict(np.arange(5.0)).shape == (5, 2)  # (n,) for a (None, 1) input


def test_flatten_for_image_input(backend):
    rng = np.random.default_rng(0)
    images = rng.random((12, 4, 4)).astype(np.float32)
    labels = rng.integers(0, 3, 12)
    model = Sequential([Input((4, 4)), Flatten(), Dense(5, activation="relu"), Dense(3, activation="softmax")])
    flat = Sequential([Input((16,)), Dense(5, activation="relu"), Dense(3, activation="softmax")])
    flat.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(images), flat.predict(images.reshape(12, 16)), rtol=1e-6)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(images, labels, epochs=2, batch_size=5, verbose=0)
    assert len(history.history["loss"]) == 2
    assert model.layers[0].output_shape == (None, 16)
    # Dense on (4, 4) acts on the last axis, as Keras; a rank-3 output predicts and trains on per-step targets
    assert Sequential([Input((4, 4)), Dense(2)]).predict(images).shape == (12, 4, 2)
    assert Sequential([Dense(2)]).predict(images).shape == (12, 4, 2)
    rank3 = Sequential([Input((4, 4)), Dense(2)])
    rank3.compile(optimizer="sgd", loss="mse")
    rank3.fit(images, np.zeros((12, 4, 2)), verbose=0)
    with pytest.raises(ValueError, match=r"expects targets of shape \(12, 4, 2\)"):
        rank3.fit(images, np.zeros((12, 8)), verbose=0)


def test_activation_layer_model_matches_fused_activation(backend):
    x, y = classification_data(n=20)
    fused = small_model()
    split = Sequential([Input((4,)), Dense(5), Activation("relu"), Dense(3), Activation("softmax")])
    split.set_weights(fused.get_weights())
    np.testing.assert_allclose(split.predict(x), fused.predict(x), rtol=1e-6)
    for m in (fused, split):
        m.compile(optimizer=SGD(0.1), loss="sparse_categorical_crossentropy")
        m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(fused.get_weights(), split.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_float64_end_to_end(backend):
    previous = config.floatx()
    config.set_floatx("float64")
    try:
        x, y = classification_data()
        model = small_model()
        assert model.dtype == "float64" and model.layers[0].kernel.dtype == np.float64
        model.compile(optimizer=SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, epochs=2, verbose=0)
        assert model.predict(x).dtype == np.float64
        value, grads = manual_step(model.get_weights(), x, y, "relu", "softmax", "sparse_categorical_crossentropy")
        assert model.evaluate(x, y, verbose=0)[0] == pytest.approx(value, rel=1e-12)
    finally:
        config.set_floatx(previous)


# ----------------------------------------------------------------------------- weights


def test_get_set_weights_round_trip_in_place(backend):
    model = small_model()
    x = np.ones((2, 4), np.float32)
    model.predict(x)  # builds and caches the network
    arrays = model.weights
    new = [np.full_like(w, 0.1 * (i + 1)) for i, w in enumerate(model.get_weights())]
    model.set_weights(new)
    assert all(a is b for a, b in zip(model.weights, arrays))  # the network's references stay valid
    for got, want in zip(model.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    expected = _act("softmax", np.maximum(x @ new[0] + new[1], 0) @ new[2] + new[3])
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-6)
    copies = model.get_weights()
    copies[0][...] = 5.0
    assert not np.any(model.layers[0].kernel == 5.0)


def test_set_weights_errors_name_the_entry():
    model = small_model()
    with pytest.raises(ValueError, match="expected 4 arrays, got 2"):
        model.set_weights(model.get_weights()[:2])
    bad = model.get_weights()
    bad[2] = np.zeros((3, 5))
    with pytest.raises(ValueError, match=r"\[2\]: expected shape \(5, 3\), got \(3, 5\)"):
        model.set_weights(bad)
    with pytest.raises(TypeError):
        model.set_weights(np.zeros(3))
    bad[2] = np.array([["a"] * 3] * 5)
    with pytest.raises(TypeError, match=r"\[2\]"):
        model.set_weights(bad)


# ----------------------------------------------------------------------------- compile / fit / evaluate API


def test_fit_returns_history_with_keras_keys(backend):
    x, y = classification_data(n=50)
    model = small_model()
    model.compile(optimizer=SGD(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=8, epochs=3, validation_split=0.2, verbose=0)
    assert model.history is history
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 3 and all(isinstance(e, float) for e in v) for v in history.history.values())
    assert history.epoch == [0, 1, 2]
    assert history.params == {"verbose": 0, "epochs": 3, "steps": 5}  # 40 training samples / 8
    assert model.optimizer.iterations == 15


def test_fit_defaults(backend):
    x, y = classification_data(n=70)
    model = small_model()
    model.compile(loss="sparse_categorical_crossentropy")
    # Keras 3's default optimizer
    assert type(model.optimizer).__name__ == "RMSprop" and model.optimizer.learning_rate == np.float32(0.001)
    history = model.fit(x, y, verbose=0)
    assert history.params["steps"] == 3 and history.params["epochs"] == 1  # batch_size 32, last batch of 6


def test_validation_split_takes_the_last_samples(backend):
    x, y = classification_data(n=10)
    model = small_model()
    model.compile(optimizer=SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=3, epochs=1, validation_split=0.25, shuffle=True, verbose=0)
    # floor(10 * 0.75) = 7 training samples: the validation set is x[7:]
    assert history.params["steps"] == 3
    loss, acc = model.evaluate(x[7:], y[7:], verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(loss, rel=1e-6)
    assert history.history["val_accuracy"][0] == pytest.approx(acc)


def test_validation_data_overrides_split_and_freq(backend):
    x, y = classification_data(n=30)
    xv, yv = classification_data(n=9, seed=5)
    model = small_model()
    model.compile(optimizer=SGD(0.1), loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=4, validation_data=(xv, yv), validation_split=0.5, validation_freq=2, verbose=0)
    assert history.params["steps"] == 1  # all 30 samples train: validation_data wins
    assert len(history.history["loss"]) == 4 and len(history.history["val_loss"]) == 2
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(xv, yv, verbose=0), rel=1e-6)


def test_initial_epoch_and_zero_epochs(backend):
    x, y = classification_data()
    model = small_model()
    model.compile(loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=3, initial_epoch=1, verbose=0)
    assert history.epoch == [1, 2]
    before = model.get_weights()
    history = model.fit(x, y, epochs=0, verbose=0)
    assert history.history == {} and history.epoch == []
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_evaluate_return_forms(backend):
    x, y = classification_data()
    model = small_model()
    model.compile(loss="sparse_categorical_crossentropy")
    loss = model.evaluate(x, y, verbose=0)
    assert isinstance(loss, float)
    value, _ = manual_step(model.get_weights(), x, y, "relu", "softmax", "sparse_categorical_crossentropy")
    assert loss == pytest.approx(value, rel=1e-5)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy", "acc"])
    result = model.evaluate(x, y, batch_size=7, verbose=0)
    assert isinstance(result, list) and len(result) == 3 and result[0] == pytest.approx(loss, rel=1e-6)
    assert result[1] == result[2]
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(logs) == ["acc", "accuracy", "loss"]
    assert model.metrics_names == ["loss", "accuracy", "acc"]


def test_compile_variants_and_metric_names(backend):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 4)).astype(np.float32)
    t = rng.normal(size=(20, 2)).astype(np.float32)
    model = small_model(units=2, out_activation=None)
    model.compile(optimizer=SGD(0.01, momentum=0.5), loss=losses.MeanSquaredError(), metrics=["mae", "mse"])
    history = model.fit(x, t, epochs=1, verbose=0)
    assert list(history.history) == ["loss", "mae", "mse"]
    assert history.history["loss"][0] == pytest.approx(history.history["mse"][0], rel=1e-6)
    onehot = utils.to_categorical(rng.integers(0, 3, 20), 3)
    clf = small_model()
    clf.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    loss, acc = clf.evaluate(x, onehot, verbose=0)
    labels = np.argmax(onehot, axis=1)
    assert acc == pytest.approx(np.mean(np.argmax(clf.predict(x), axis=1) == labels))


def test_learning_rate_change_is_picked_up(backend):
    x, y = classification_data()
    a, b = small_model(), small_model()
    b.set_weights(a.get_weights())
    opt_a = SGD(0.5)
    a.compile(optimizer=opt_a, loss="sparse_categorical_crossentropy")
    b.compile(optimizer=SGD(0.5), loss="sparse_categorical_crossentropy")
    schedule = callbacks.LearningRateScheduler(lambda epoch, lr: 0.5 if epoch == 0 else 0.05)
    a.fit(x, y, batch_size=40, epochs=2, shuffle=False, verbose=0, callbacks=[schedule])
    b.fit(x, y, batch_size=40, epochs=1, shuffle=False, verbose=0)
    b.optimizer.learning_rate = 0.05
    b.fit(x, y, batch_size=40, epochs=1, shuffle=False, verbose=0)
    assert opt_a.learning_rate == 0.05
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-7)


def test_recompiling_with_a_new_optimizer_resets_velocities(backend):
    x, y = classification_data()
    model = small_model()
    model.compile(optimizer=SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    trained = model.optimizer_state()
    assert trained["iterations"] > 0
    assert any(np.any(v != 0) for slots in trained["slots"] for v in slots)
    model.compile(optimizer=SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy")
    fresh = model.optimizer_state()
    assert fresh["iterations"] == 0  # the new optimizer's count
    assert len(fresh["slots"]) == len(model.get_weights()) and all(len(slots) == 1 for slots in fresh["slots"])
    assert all(np.all(v == 0) for slots in fresh["slots"] for v in slots)


def test_batch_callbacks_see_running_averages(backend):
    x, y = classification_data(n=20)
    seen = []

    class Recorder(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append((batch, dict(logs)))

    model = small_model()
    model.compile(optimizer=SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=6, epochs=1, verbose=0, callbacks=[Recorder()])
    assert [b for b, _ in seen] == [0, 1, 2, 3]
    assert seen[-1][1] == pytest.approx({k: v[0] for k, v in history.history.items()})
    assert list(seen[0][1]) == ["accuracy", "loss"]


def test_stop_training_from_callbacks(backend):
    x, y = classification_data()

    class StopAtBatch(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    model = small_model()
    model.compile(loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=5, epochs=5, verbose=0, callbacks=[StopAtBatch()])
    assert history.epoch == [0] and model.optimizer.iterations == 2
    stopper = callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[stopper])
    assert len(history.epoch) == 2


# ----------------------------------------------------------------------------- errors


def compiled():
    model = small_model()
    model.compile(optimizer=SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


X, Y = classification_data(n=10)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda m: m.fit(X, Y[:9]), ValueError, "y: has 9 samples but x has 10"),
        (lambda m: m.fit(np.ones((10, 5)), Y), ValueError, r"x: expected shape \(n, 4\)"),
        (lambda m: m.fit(np.where(X > 1, np.nan, X), Y), ValueError, "x: contains NaN"),
        (lambda m: m.fit(np.where(X > 1, np.inf, X), Y), ValueError, "x: contains NaN or infinity"),
        (lambda m: m.fit(X, Y + 3), ValueError, r"labels must be in \[0, 3\)"),
        (lambda m: m.fit(X, Y - 1), ValueError, r"labels must be in \[0, 3\)"),
        (lambda m: m.fit(X, Y + 0.5), ValueError, "whole numbers"),
        (lambda m: m.fit(X, np.eye(3)[Y]), ValueError, "one-hot"),
        (lambda m: m.fit(X[:0], Y[:0]), ValueError, "at least one sample"),
        (lambda m: m.fit(X, Y, batch_size=0), ValueError, "batch_size"),
        (lambda m: m.fit(X, Y, batch_size=2.0), TypeError, "batch_size"),
        (lambda m: m.fit(X, Y, batch_size=True), TypeError, "batch_size"),
        (lambda m: m.fit(X, Y, epochs=-1), ValueError, "epochs"),
        (lambda m: m.fit(X, Y, epochs=1.5), TypeError, "epochs"),
        (lambda m: m.fit(X, Y, validation_split=1.0), ValueError, "validation_split"),
        (lambda m: m.fit(X, Y, validation_split=-0.1), ValueError, "validation_split"),
        (lambda m: m.fit(X[:1], Y[:1], validation_split=0.5), ValueError, "not enough"),
        (lambda m: m.fit(X, Y, verbose=3), ValueError, "verbose"),
        (lambda m: m.fit(X, Y, shuffle="batch"), TypeError, "shuffle"),
        (lambda m: m.fit(X, Y, sample_weight=np.ones(len(X) + 1)), ValueError, "sample_weight"),
        (lambda m: m.fit(X, Y, sample_weight=-np.ones(len(X))), ValueError, "sample_weight"),
        (lambda m: m.fit(X, Y, sample_weight=np.full(len(X), np.nan)), ValueError, "sample_weight"),
        (lambda m: m.fit(X, Y, sample_weight=np.array(["a"] * len(X))), TypeError, "sample_weight"),
        (lambda m: m.fit(X, Y, sample_weight=np.ones((len(X), 2))), ValueError, "sample_weight"),
        (lambda m: m.fit(X, Y, class_weight=[1.0, 2.0]), TypeError, "class_weight"),
        (lambda m: m.fit(X, Y, class_weight={0: -1.0}), ValueError, "class_weight"),
        (lambda m: m.fit(X, Y, class_weight={"a": 1.0}), TypeError, "class_weight"),
        (lambda m: m.fit(X, Y, class_weight={0: 1.0}, sample_weight=np.ones(len(X))), ValueError, "class_weight"),
        (lambda m: m.fit(X, Y, validation_data=(X, Y, np.ones(2))), ValueError, r"validation_data\[2\]"),
        (lambda m: m.evaluate(X, Y, sample_weight=np.ones(2)), ValueError, "sample_weight"),
        (lambda m: m.train_on_batch(X, Y, sample_weight=-np.ones(len(X))), ValueError, "sample_weight"),
        (lambda m: m.train_on_batch(X, Y, class_weight={0: np.inf}), ValueError, "class_weight"),
        (lambda m: m.test_on_batch(X, Y, sample_weight=np.ones(2)), ValueError, "sample_weight"),
        (lambda m: m.fit(X, None), ValueError, "y: targets are required"),
        (lambda m: m.fit(X, Y, validation_data=(X,)), ValueError, "validation_data"),
        (lambda m: m.fit(X, Y, validation_data=(X, Y + 5)), ValueError, r"validation_data\[1\]"),
        (lambda m: m.predict(np.array([["a"] * 4])), TypeError, "x: expected real numbers"),
        (lambda m: m.predict(np.ones((2, 4), complex)), TypeError, "complex"),
        (lambda m: m.predict(np.ones((2, 4), object)), TypeError, "object"),
        (lambda m: m.predict([[1, 2, 3, 4], [1, 2]]), ValueError, "could not convert"),
        (lambda m: m.predict(np.ones(4)), ValueError, "reshape"),
        (lambda m: m.predict(np.ones((2, 4)), batch_size=-2), ValueError, "batch_size"),
        (lambda m: m.evaluate(X, np.where(Y > 0, np.nan, 0.0)), ValueError, "y: contains NaN"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(compiled())


def test_fit_evaluate_need_compile_and_loss():
    model = small_model()
    with pytest.raises(ValueError, match="compile"):
        model.fit(X, Y)
    with pytest.raises(ValueError, match="compile"):
        model.evaluate(X, Y)
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="loss"):
        model.fit(X, Y)


def test_unknown_names_at_compile_list_valid_ones():
    model = small_model()
    with pytest.raises(ValueError, match="focal_crossentropy.*sparse_categorical_crossentropy"):
        model.compile(loss="focal_crossentropy")
    with pytest.raises(ValueError, match="adam.*sgd"):
        model.compile(optimizer="adamx", loss="mse")
    with pytest.raises(ValueError, match="roc_auc.*accuracy"):
        model.compile(loss="mse", metrics=["roc_auc"])


def test_categorical_targets_checked_against_output_width():
    model = small_model()
    model.compile(loss="categorical_crossentropy")
    with pytest.raises(ValueError, match=r"shape \(n, 3\), got shape \(10, 4\)"):
        model.fit(X, np.eye(4)[Y % 4])
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        model.fit(X, Y)


def test_predict_without_input_shape_or_data():
    model = Sequential([Dense(2)])
    with pytest.raises(ValueError, match="x: expected an array, got None"):
        model.predict(None)
    with pytest.raises(ValueError, match="no input shape"):
        model.optimizer_state() or model._get_network()
    with pytest.raises(ValueError, match="no layers"):
        Sequential([Input((3,))]).predict(np.ones((1, 3)))


# ----------------------------------------------------------------------------- reproducibility, divergence


def _seeded_run(seed, backend_name):
    utils.set_random_seed(seed)
    x, y = classification_data(n=60)
    model = small_model()
    model.compile(optimizer=SGD(0.1, momentum=0.5), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=7, epochs=3, shuffle=True, verbose=0)
    return model.get_weights()


def test_set_random_seed_makes_training_reproducible(backend):
    first = _seeded_run(123, backend)
    second = _seeded_run(123, backend)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    other = _seeded_run(124, backend)
    assert not np.array_equal(first[0], other[0])


def test_shuffle_changes_the_order_but_not_without_it(backend):
    x, y = classification_data(n=60)

    def run(shuffle, seed):
        utils.set_random_seed(seed)
        model = small_model()
        model.set_weights([np.full_like(w, 0.1) + 0.01 * i for i, w in enumerate(model.get_weights())])
        model.compile(optimizer=SGD(0.2), loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=7, epochs=2, shuffle=shuffle, verbose=0)
        return model.get_weights()[0]

    np.testing.assert_array_equal(run(False, 1), run(False, 2))
    assert not np.allclose(run(True, 1), run(True, 2))


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_divergence_stops_and_keeps_finite_weights(backend, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32) * 10
    t = rng.normal(size=(64, 2)).astype(np.float32) * 10
    model = small_model(units=2, out_activation=None)
    model.compile(optimizer=SGD(learning_rate=1e6), loss="mse")
    with pytest.warns(RuntimeWarning, match="not finite"):
        history = model.fit(x, t, batch_size=8, epochs=5, verbose=2)
    out = capsys.readouterr().out
    assert "Training stopped" in out and "learning_rate" in out
    assert len(history.epoch) < 5
    assert model.stop_training
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_divergence_keeps_the_weights_of_the_last_good_step(backend):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(48, 4)).astype(np.float32) * 10
    t = rng.normal(size=(48, 2)).astype(np.float32) * 10
    good = []

    class Record(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if np.isfinite(logs["loss"]):
                good.append(self.model.get_weights())

    model = small_model(units=2, out_activation=None)
    model.compile(optimizer=SGD(learning_rate=1e5), loss="mse")
    with pytest.warns(RuntimeWarning):
        model.fit(x, t, batch_size=4, epochs=4, verbose=0, callbacks=[Record()])
    assert good
    for a, b in zip(model.get_weights(), good[-1]):
        np.testing.assert_array_equal(a, b)


def test_terminate_on_nan_sees_the_nan_loss(backend, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype(np.float32) * 10
    t = rng.normal(size=(32, 2)).astype(np.float32) * 10
    model = small_model(units=2, out_activation=None)
    model.compile(optimizer=SGD(learning_rate=1e6), loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(x, t, batch_size=4, epochs=3, verbose=0, callbacks=[callbacks.TerminateOnNaN()])
    assert "Invalid loss, terminating training" in capsys.readouterr().out


def test_keyboard_interrupt_keeps_a_usable_model(backend):
    x, y = classification_data(n=30)

    class Interrupt(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.params and self.model.history.epoch and batch == 1:
                raise KeyboardInterrupt

    model = small_model()
    model.compile(optimizer=SGD(0.1), loss="sparse_categorical_crossentropy")
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=5, epochs=4, verbose=0, callbacks=[Interrupt()])
    assert model.history.epoch == [0]
    assert len(model.history.history["loss"]) == 1
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert model.predict(x).shape == (30, 3)
    assert len(model.fit(x, y, epochs=1, verbose=0).epoch) == 1  # still trainable


def test_concurrent_fit_from_another_thread_is_refused(backend):
    x, y = classification_data(n=30)
    started, release = threading.Event(), threading.Event()
    errors = []

    class Pause(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0 and not started.is_set():
                started.set()
                release.wait(timeout=30)

    model = small_model()
    model.compile(optimizer=SGD(0.1), loss="sparse_categorical_crossentropy")
    worker = threading.Thread(
        target=lambda: errors.append(model.fit(x, y, batch_size=5, epochs=2, verbose=0, callbacks=[Pause()]))
    )
    worker.start()
    assert started.wait(timeout=30)
    try:
        with pytest.raises(RuntimeError, match="another thread"):
            model.fit(x, y, verbose=0)
        with pytest.raises(RuntimeError, match="another thread"):
            model.evaluate(x, y, verbose=0)
        try:  # the network either serves a prediction between batches or refuses it clearly
            assert model.predict(x).shape == (30, 3)
        except RuntimeError as error:
            assert "thread" in str(error)
    finally:
        release.set()
        worker.join(timeout=60)
    assert len(errors) == 1 and errors[0].epoch == [0, 1]


# ----------------------------------------------------------------------------- summary


def test_summary_layout(capsys):
    model = Sequential(
        [Dense(32, input_shape=(10,), activation="relu"), Dense(2, activation="softmax")], name="sequential"
    )
    model.layers[0].name, model.layers[1].name = "dense", "dense_1"
    model.summary()
    expected = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 32)             │           352 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 2)              │            66 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 418 (1.63 KB)
 Trainable params: 418 (1.63 KB)
 Non-trainable params: 0 (0.00 B)
"""
    assert capsys.readouterr().out == expected


def test_summary_after_fit_and_unbuilt(backend, capsys):
    x, y = classification_data()
    model = small_model()
    model.compile(optimizer=SGD(0.1), loss="sparse_categorical_crossentropy")
    model.fit(x, y, verbose=0)
    model.summary()
    out = capsys.readouterr().out
    # 43 weights + Keras' 2 optimizer variables (on JAX: an int32 step counter and a float32 learning rate)
    assert " Total params: 45 (180.00 B)" in out
    assert " Optimizer params: 2 (8.00 B)" in out
    Sequential([Flatten(), Dense(3)]).summary()
    out = capsys.readouterr().out
    assert re.search(r"│ dense\S* \(Dense\)\s+│ \?\s+│\s+0 \(unbuilt\) │", out)
    assert " Total params: 0 (0.00 B)" in out
    texts = []
    Sequential([Input((28, 28)), Flatten(), Dense(128)]).summary(print_fn=texts.append)
    assert "(None, 784)" in texts[0] and "100,480" in texts[0] and "392.50 KB" in texts[0]


# ----------------------------------------------------------------------------- config, saving


def test_config_round_trip_and_saving(backend, tmp_path):
    x, y = classification_data()
    model = small_model()
    model.compile(optimizer=SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    config_dict = model.get_config()
    assert config_dict["layers"][0]["class_name"] == "InputLayer"
    assert config_dict["layers"][0]["config"]["batch_shape"] == [None, 4]
    rebuilt = Sequential.from_config(config_dict)
    assert rebuilt.built and [w.shape for w in rebuilt.get_weights()] == [w.shape for w in model.get_weights()]
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    assert model.get_compile_config() == {
        "optimizer": optimizers.serialize(model.optimizer),
        "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"],
    }
    path = tmp_path / "model.cyn"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-6)
    loaded_state, state = loaded.optimizer_state(), model.optimizer_state()
    assert loaded_state["iterations"] == state["iterations"] > 0
    assert len(loaded_state["slots"]) == len(state["slots"]) == len(model.get_weights())
    for a, b in zip(loaded_state["slots"], state["slots"], strict=True):
        assert len(a) == len(b) == 1
        np.testing.assert_array_equal(a[0], b[0])
    model.fit(x, y, epochs=1, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    weights_path = tmp_path / "w.cyn"
    model.save_weights(weights_path)
    fresh = small_model()
    fresh.load_weights(weights_path)
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_optimizer_state_contract():
    model = small_model()
    assert model.optimizer_state() is None  # not compiled
    model.compile(optimizer=SGD(0.1, momentum=0.9), loss="mse")
    state = model.optimizer_state()
    assert set(state) == {"iterations", "slots", "scalars"} and state["iterations"] == 0
    assert [[s.shape for s in slots] for slots in state["slots"]] == [[w.shape] for w in model.get_weights()]
    assert [name for name, _ in model.optimizer_slot_specs()] == ["momentum"]
    assert (
        model.trained_weight_paths()
        == model.weight_paths()
        == [f"{layer.name}/{weight}" for layer in model.layers for weight in ("kernel", "bias")]
    )
    ones = [[np.ones_like(s) for s in slots] for slots in state["slots"]]
    model.set_optimizer_state({**state, "iterations": 4, "slots": ones})
    again = model.optimizer_state()
    assert again["iterations"] == model.optimizer.iterations == 4
    assert all(np.all(s == 1) for slots in again["slots"] for s in slots)
    with pytest.raises(TypeError, match="state"):
        model.set_optimizer_state([np.ones_like(w) for w in model.get_weights()])
    plain = small_model()
    plain.compile(optimizer=SGD(0.1), loss="mse")
    assert plain.optimizer_state()["slots"] == [[] for _ in plain.get_weights()]  # no momentum: no slots
    assert Sequential([Dense(2)]).get_compile_config() is None


def test_steps_match_ceil(backend):
    x, y = classification_data(n=33)
    model = small_model()
    model.compile(loss="sparse_categorical_crossentropy")
    for batch_size in (1, 10, 32, 33, 100):
        assert model.fit(x, y, batch_size=batch_size, verbose=0).params["steps"] == math.ceil(33 / batch_size)


def test_notes_snippet_runs_verbatim(backend, capsys):
    utils.set_random_seed(0)
    rng = np.random.default_rng(7)
    scaled_train_samples = rng.random((420, 10))
    train_labels = (scaled_train_samples[:, :5].sum(axis=1) > 2.5).astype(np.int64)
    # --- the snippet, with keras renamed to cyneuron ---
    from cyneuron.layers import Dense
    from cyneuron.models import Sequential
    from cyneuron.optimizers import SGD

    model = Sequential([Dense(32, input_shape=(10,), activation="relu"), Dense(2, activation="softmax")])
    model.compile(optimizer=SGD(learning_rate=0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x=scaled_train_samples, y=train_labels, batch_size=10, epochs=20, shuffle=True, verbose=2)
    # ---
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 40 and lines[0] == "Epoch 1/20" and lines[1].startswith("42/42 - ")
    assert model.history.history["accuracy"][-1] > model.history.history["accuracy"][0]
