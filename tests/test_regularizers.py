"""Weight regularizers: the standalone objects (Keras' formulas, configs, errors), the penalty in the
compiled step against the NumPy reference (float32 and float64), its gradient against finite
differences, and the layers' arguments through configs and saving."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cyneuron
from cyneuron import layers, regularizers
from cyneuron.backend.reference import regularizers as reference

FEATURES = 5


# ------------------------------------------------------------------ standalone objects
@given(
    st.lists(st.floats(-10, 10, allow_nan=False, width=32), min_size=1, max_size=30),
    st.floats(0, 2, allow_nan=False),
    st.floats(0, 2, allow_nan=False),
)
def test_l1l2_is_keras_formula(values, l1, l2):
    w = np.asarray(values, np.float32)
    expected = np.float32(l1) * np.sum(np.abs(w), dtype=np.float64) + np.float32(l2) * np.sum(
        np.square(w.astype(np.float64))
    )
    assert np.isclose(float(regularizers.L1L2(l1, l2)(w)), expected, rtol=1e-6, atol=1e-30)
    assert regularizers.L1L2(l1, l2)(w).dtype == np.float32


def test_defaults_names_and_configs_follow_keras():
    assert regularizers.L2().get_config() == {"l2": 0.01}
    assert regularizers.L1().get_config() == {"l1": float(np.float32(0.01))}  # Keras keeps a float32 tensor
    assert regularizers.L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.L1L2(l1=None, l2=0.5).get_config() == {"l1": 0.0, "l2": 0.5}
    assert regularizers.OrthogonalRegularizer().get_config() == {"factor": float(np.float32(0.01)), "mode": "rows"}
    assert regularizers.l2 is regularizers.L2 and regularizers.l1_l2 is regularizers.L1L2
    assert isinstance(regularizers.get("l1"), regularizers.L1)
    assert isinstance(regularizers.get("L2"), regularizers.L2)
    assert regularizers.get(None) is None
    reg = regularizers.L1L2(0.1, 0.2)
    assert regularizers.get(reg) is reg
    again = regularizers.deserialize(regularizers.serialize(reg))
    assert isinstance(again, regularizers.L1L2) and again.get_config() == reg.get_config()
    keras_dict = {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.3}, "registered_name": None}
    assert regularizers.get(keras_dict).get_config() == {"l2": 0.3}


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: regularizers.L2(-1.0), "Invalid value for argument l2"),
        (lambda: regularizers.L1(float("nan")), "Invalid value for argument l1"),
        (lambda: regularizers.L1L2(l1=float("inf")), "Invalid value for argument l1"),
        (lambda: regularizers.L2("0.1"), "Invalid value for argument l2"),
        (lambda: regularizers.OrthogonalRegularizer(mode="diagonal"), "mode"),
        (lambda: regularizers.get("l3"), "Could not interpret regularizer identifier"),
        (lambda: regularizers.get(42), "Could not interpret regularizer identifier"),
        (lambda: layers.Dense(2, kernel_regularizer="nope"), "kernel_regularizer"),
        (lambda: layers.Dense(2, kernel_constraint="non_neg"), "kernel_constraint"),
    ],
)
def test_bad_arguments_raise_value_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_orthogonal_regularizer_formula():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 4))
    for mode, rows in (("rows", w), ("columns", w.T)):
        unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        product = np.abs(unit @ unit.T)
        off_diagonal = product.sum() - np.trace(product)
        pairs = len(rows) * (len(rows) - 1) / 2
        expected = np.float32(0.2) * 0.5 * off_diagonal / pairs
        assert np.isclose(regularizers.OrthogonalRegularizer(0.2, mode)(w), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="rank 2"):
        regularizers.OrthogonalRegularizer()(np.ones(3))


# ------------------------------------------------------------------ the penalty's gradient
@pytest.mark.parametrize("l1, l2", [(0.3, 0.0), (0.0, 0.7), (0.2, 0.5)])
def test_penalty_gradient_matches_finite_differences(l1, l2):
    rng = np.random.default_rng(1)
    w = rng.uniform(0.1, 1.0, (4, 3)) * rng.choice([-1.0, 1.0], (4, 3))  # away from the kink at 0
    grad = np.zeros_like(w)
    reference.add_gradient(w, grad, l1, l2)
    numeric = np.zeros_like(w)
    step = 1e-6
    for index in np.ndindex(w.shape):
        plus, minus = w.copy(), w.copy()
        plus[index] += step
        minus[index] -= step
        numeric[index] = (reference.penalty(plus, l1, l2) - reference.penalty(minus, l1, l2)) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_l1_gradient_at_zero_is_jaxs():
    """Keras on JAX differentiates abs as +1 at 0 (so zero-initialised biases move under L1)."""
    grad = np.zeros(3, np.float32)
    reference.add_gradient(np.array([0.0, -0.0, -2.0], np.float32), grad, 0.5, 0.0)
    np.testing.assert_array_equal(grad, [0.5, 0.5, -0.5])


# ------------------------------------------------------------------ in the compiled step
def _model(dtype, seed=3):
    cyneuron.utils.set_random_seed(seed)
    frozen = layers.Dense(3, kernel_regularizer=regularizers.L2(5.0), name="frozen", dtype=dtype)
    frozen.trainable = False
    return cyneuron.Sequential(
        [
            layers.Input((FEATURES,), dtype=dtype),
            layers.Dense(6, activation="tanh", kernel_regularizer="l2", bias_regularizer=regularizers.L1(0.05)),
            layers.BatchNormalization(gamma_regularizer=regularizers.L1L2(0.01, 0.02)),
            layers.PReLU(alpha_regularizer=regularizers.L2(0.3)),
            frozen,
            layers.Dense(2, kernel_regularizer=regularizers.L1L2(l1=0.02, l2=0.01)),
        ]
    )


def _train(backend_name, dtype, optimizer):
    cyneuron.set_backend(backend_name)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, FEATURES)).astype(dtype)
    y = rng.standard_normal((30, 2)).astype(dtype)
    model = _model(dtype)
    model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
    history = model.fit(x, y, batch_size=7, epochs=2, shuffle=False, verbose=0, validation_data=(x[:9], y[:9]))
    evaluated = model.evaluate(x, y, verbose=0)
    on_batch = model.train_on_batch(x[:7], y[:7])
    return model, history.history, evaluated, on_batch


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_compiled_step_agrees_with_the_reference(dtype, optimizer):
    pytest.importorskip("cyneuron._network")
    previous = cyneuron.get_backend()
    try:
        ref = _train("numpy", dtype, optimizer)
        com = _train("cython", dtype, optimizer)
    finally:
        cyneuron.set_backend(previous)
    assert all(w.dtype == dtype for w in com[0].get_weights())
    rtol = 2e-5 if dtype == "float32" else 1e-10
    for a, b in zip(com[0].get_weights(), ref[0].get_weights()):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 0.1)
    for key in ref[1]:
        np.testing.assert_allclose(com[1][key], ref[1][key], rtol=rtol)
    np.testing.assert_allclose(com[2], ref[2], rtol=rtol)
    np.testing.assert_allclose(com[3], ref[3], rtol=rtol)


def test_penalty_joins_the_reported_loss_and_only_trainable_weights_pay(backend):
    x = np.random.default_rng(2).standard_normal((20, FEATURES)).astype("float32")
    y = np.zeros((20, 2), np.float32)
    model = _model("float32")
    model.compile(optimizer="sgd", loss="mse")
    penalties = model.losses
    assert len(penalties) == 5  # Dense kernel + bias, BN gamma, PReLU alpha, last kernel; not the frozen layer
    plain = cyneuron.Sequential(
        [layers.Input((FEATURES,)), *[type(layer).from_config(layer.get_config()) for layer in model.layers]]
    )
    plain.set_weights(model.get_weights())
    for layer in plain.layers:
        for name in ("kernel_regularizer", "bias_regularizer", "gamma_regularizer", "alpha_regularizer"):
            if getattr(layer, name, None) is not None:
                setattr(layer, name, None)
                layer._weight_regularizers.clear()
    plain.compile(optimizer="sgd", loss="mse")
    gap = model.evaluate(x, y, verbose=0) - plain.evaluate(x, y, verbose=0)
    assert np.isclose(gap, sum(float(p) for p in penalties), rtol=1e-5)


def test_l2_penalty_alone_shrinks_weights(backend):
    """With zero targets' gradient removed (inputs 0), only the penalty moves the kernel: w -= lr * 2 * l2 * w."""
    model = cyneuron.Sequential(
        [layers.Input((3,)), layers.Dense(2, use_bias=False, kernel_regularizer=regularizers.L2(0.5))]
    )
    kernel = model.get_weights()[0]
    model.compile(optimizer=cyneuron.optimizers.SGD(0.1), loss="mse")
    model.train_on_batch(np.zeros((4, 3), np.float32), np.zeros((4, 2), np.float32))
    np.testing.assert_allclose(model.get_weights()[0], kernel * (1 - 0.1 * 2 * 0.5), rtol=1e-6)


def test_orthogonal_regularizer_is_refused_in_training(backend):
    model = cyneuron.Sequential(
        [layers.Input((3,)), layers.Dense(4, kernel_regularizer=regularizers.OrthogonalRegularizer())]
    )
    model.compile(optimizer="sgd", loss="mse")
    assert np.isfinite(float(model.losses[0]))
    with pytest.raises(ValueError, match="OrthogonalRegularizer"):
        model.fit(np.ones((4, 3), np.float32), np.ones((4, 4), np.float32), verbose=0)
    model.predict(np.ones((2, 3), np.float32), verbose=0)  # inference is unaffected


# ------------------------------------------------------------------ configs and files
def test_regularizers_survive_configs_json_and_files(tmp_path):
    model = _model("float32")
    model.compile(optimizer="adam", loss="mse")
    again = cyneuron.models.model_from_json(model.to_json())
    dense = again.layers[0]
    assert isinstance(dense.kernel_regularizer, regularizers.L2)
    assert dense.bias_regularizer.get_config() == {"l1": float(np.float32(0.05))}
    assert json.loads(model.to_json())["config"]["layers"][1]["config"]["kernel_regularizer"]["class_name"] == "L2"
    path = tmp_path / "m.cyneuron"
    model.save(path)
    loaded = cyneuron.models.load_model(path)
    assert [type(r).__name__ for _, r in loaded.layers[-1].regularized_weights()] == ["L1L2"]
    np.testing.assert_allclose([float(v) for v in loaded.losses], [float(v) for v in model.losses])


def test_keras_file_round_trip_keeps_regularizers(tmp_path):
    pytest.importorskip("h5py")
    model = _model("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = cyneuron.models.load_model(path)
    assert isinstance(loaded.layers[2].alpha_regularizer, regularizers.L2)
    assert loaded.layers[1].gamma_regularizer.get_config() == {"l1": 0.01, "l2": 0.02}


# ------------------------------------------------------------------ activity regularizers
def _activity_model(dtype, head="softmax"):
    cyneuron.utils.set_random_seed(5)
    return cyneuron.Sequential(
        [
            layers.Input((FEATURES,), dtype=dtype),
            layers.Dense(6, activation="relu", activity_regularizer=regularizers.L1(0.01)),
            layers.Dense(4, activity_regularizer=regularizers.L1L2(0.001, 0.01)),
            layers.Flatten(activity_regularizer=regularizers.L2(0.02)),  # joins the previous stage's penalty
            layers.Dense(3, activation=head, activity_regularizer=regularizers.L2(0.1)),  # the head is not fused
        ]
    )


def _activity_run(backend_name, dtype):
    cyneuron.set_backend(backend_name)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((26, FEATURES)).astype(dtype)
    y = np.eye(3, dtype=dtype)[rng.integers(0, 3, 26)]
    model = _activity_model(dtype)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return model, history.history, model.evaluate(x, y, verbose=0, batch_size=5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activity_penalty_compiled_agrees_with_the_reference(dtype):
    pytest.importorskip("cyneuron._network")
    previous = cyneuron.get_backend()
    try:
        ref = _activity_run("numpy", dtype)
        com = _activity_run("cython", dtype)
    finally:
        cyneuron.set_backend(previous)
    rtol = 2e-5 if dtype == "float32" else 1e-10
    for a, b in zip(com[0].get_weights(), ref[0].get_weights()):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 0.1)
    np.testing.assert_allclose(com[1]["loss"], ref[1]["loss"], rtol=rtol)
    np.testing.assert_allclose(com[2], ref[2], rtol=rtol)


def test_activity_penalty_is_the_outputs_penalty_over_the_batch(backend):
    """Keras adds reg(output) / batch size per batch; over an evaluation that is reg(all outputs) / n."""
    model = cyneuron.Sequential([layers.Input((3,)), layers.Dense(2, activity_regularizer=regularizers.L1L2(0.2, 0.3))])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).standard_normal((10, 3)).astype("float32")
    y = np.zeros((10, 2), np.float32)
    out = model.predict(x, verbose=0).astype(np.float64)
    expected = np.mean(out**2) + (0.2 * np.abs(out).sum() + 0.3 * (out**2).sum()) / 10
    assert np.isclose(model.evaluate(x, y, verbose=0, batch_size=3), expected, rtol=1e-5)
    assert model.get_config()["layers"][1]["config"]["activity_regularizer"]["class_name"] == "L1L2"


def test_activity_regularizers_inside_wrappers_add_nothing_as_in_keras(backend):
    """Keras 3.15 adds no activity loss for the layers inside TimeDistributed or Bidirectional (their calls
    record none); the wrapper's own activity_regularizer applies to its output."""
    x = np.random.default_rng(1).standard_normal((6, 4, 3)).astype("float32")
    y = np.zeros((6, 4, 2), np.float32)

    def model(inner_activity, outer_activity):
        m = cyneuron.Sequential(
            [
                layers.Input((4, 3)),
                layers.TimeDistributed(
                    layers.Dense(2, activity_regularizer=inner_activity), activity_regularizer=outer_activity
                ),
            ]
        )
        m.compile(optimizer="sgd", loss="mse")
        return m

    inner, outer, plain = model("l2", None), model(None, "l2"), model(None, None)
    outer.set_weights(inner.get_weights())
    plain.set_weights(inner.get_weights())
    out = plain.predict(x, verbose=0).astype(np.float64)
    assert np.isclose(inner.evaluate(x, y, verbose=0), plain.evaluate(x, y, verbose=0), rtol=1e-7)
    expected = float(plain.evaluate(x, y, verbose=0)) + 0.01 * np.sum(out**2) / 6
    assert np.isclose(outer.evaluate(x, y, verbose=0), expected, rtol=1e-5)
