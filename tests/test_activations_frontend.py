"""Keras' activations through the front end: the functions (Keras' signatures, values, arguments,
axes, extremes), every layer activation inside Dense / Conv2D / Activation (both backends agree,
configs and files round-trip), and the argument kernels on both backends.

Driven by ``specs.ACTIVATIONS`` and ``specs.ACTIVATION_PARAMS``: a new activation is picked up here.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

import cyneuron
from cyneuron import activations
from cyneuron import backend as backend_module
from cyneuron.backend.specs import ACTIVATION_PARAMS, ACTIVATIONS, FUSED_ACTIVATIONS
from cyneuron.layers import Activation, Conv2D, Dense, Input
from cyneuron.models import Sequential, load_model
from cyneuron.utils import set_random_seed

# Keras 3.15's signatures: argument names and defaults
KERAS_SIGNATURES = {
    "relu": "(x, negative_slope=0.0, max_value=None, threshold=0.0)",
    "leaky_relu": "(x, negative_slope=0.2)",
    "softmax": "(x, axis=-1)",
    "log_softmax": "(x, axis=-1)",
    "sparsemax": "(x, axis=-1)",
    "glu": "(x, axis=-1)",
    "elu": "(x, alpha=1.0)",
    "celu": "(x, alpha=1.0)",
    "gelu": "(x, approximate=False)",
    "squareplus": "(x, b=4)",
    "soft_shrink": "(x, threshold=0.5)",
    "hard_shrink": "(x, threshold=0.5)",
    "threshold": "(x, threshold, default_value)",
}

# Some arguments per activation that takes them (the others run at their defaults)
ARGUMENTS = {
    "relu": [
        {"negative_slope": 0.5}, {"max_value": 5.0}, {"threshold": 5.0},
        {"negative_slope": 0.5, "max_value": 5.0, "threshold": 5.0},
    ],
    "leaky_relu": [{"negative_slope": 0.0}, {"negative_slope": 0.7}],
    "elu": [{"alpha": 0.5}],
    "celu": [{"alpha": 0.5}],
    "gelu": [{"approximate": True}],
    "squareplus": [{"b": 1.0}],
    "soft_shrink": [{"threshold": 1.0}],
    "hard_shrink": [{"threshold": 1.0}],
    "threshold": [{"threshold": 0.3, "default_value": -1.0}],
}  # fmt: skip


def test_every_activation_with_arguments_has_argument_examples():
    assert set(ARGUMENTS) == set(ACTIVATION_PARAMS)


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) | set(activations.FUNCTIONS_ONLY)))
def test_signatures_are_keras(name):
    signature = str(inspect.signature(getattr(activations, name))).split(" ->")[0]
    assert signature == KERAS_SIGNATURES.get(name, "(x)")


# ------------------------------------------------------------------ values, as Keras' activations_test
X = np.array([-10, -5, 0.0, 5, 10])


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"negative_slope": 0.5}, [-5.0, -2.5, 0.0, 5.0, 10.0]),
        ({"max_value": 5.0}, [0.0, 0.0, 0.0, 5.0, 5.0]),
        ({"threshold": 5.0}, [-0.0, -0.0, 0.0, 0.0, 10.0]),
        ({"threshold": 5.0, "max_value": 5.0}, [0.0, 0.0, 0.0, 0.0, 5.0]),
        ({"negative_slope": 0.5, "max_value": 5.0, "threshold": 5.0}, [-7.5, -5.0, -2.5, 0.0, 5.0]),
    ],
)
def test_relu_arguments_as_keras(kwargs, expected, backend):
    np.testing.assert_allclose(activations.relu(X, **kwargs), expected, rtol=1e-5)


def _softmax_ref(values):
    e = np.exp(values - np.max(values))
    return e / np.sum(e)


def test_softmax_and_log_softmax_axes(backend):
    rng = np.random.default_rng(0)
    x = rng.random((2, 3, 4, 5))
    for axis in ((2, 3), (1, 2, 3), -1, 1, (0,)):
        axes = axis if isinstance(axis, tuple) else (axis,)
        moved = np.moveaxis(x, axes, tuple(range(-len(axes), 0)))
        lead = moved.shape[: moved.ndim - len(axes)]
        rows = moved.reshape(*lead, -1)
        expected = np.apply_along_axis(_softmax_ref, -1, rows).reshape(moved.shape)
        expected = np.moveaxis(expected, tuple(range(-len(axes), 0)), axes)
        np.testing.assert_allclose(activations.softmax(x, axis=axis), expected, rtol=1e-10)
        np.testing.assert_allclose(activations.log_softmax(x, axis=axis), np.log(expected), rtol=1e-10)
    np.testing.assert_allclose(activations.softmax(x[0, 0, 0]), _softmax_ref(x[0, 0, 0]), rtol=1e-12)  # 1-D
    with pytest.raises(ValueError, match="axis"):
        activations.softmax(x, axis=4)
    with pytest.raises(TypeError, match="axis"):
        activations.softmax(x, axis=1.0)


def test_sparsemax_glu_threshold_as_keras(backend):
    x = np.linspace(1, 12, num=12).reshape(-1, 2)
    expected = np.zeros_like(x)
    expected[:, -1] = 1.0
    np.testing.assert_allclose(activations.sparsemax(x), expected)
    expected = np.zeros_like(x)
    expected[-1, :] = 1.0
    np.testing.assert_allclose(activations.sparsemax(x, axis=-2), expected)
    np.testing.assert_allclose(activations.sparsemax(np.linspace(1, 12, 12).reshape(-1, 1, 3), axis=-2), 1.0)
    z = np.array([[0.3, 0.1, 0.35, -2.0]])
    out = activations.sparsemax(z)
    np.testing.assert_allclose(out.sum(), 1.0)
    np.testing.assert_allclose(out, [[0.3 + 1 / 12, 0.1 + 1 / 12, 0.35 + 1 / 12, 0.0]], rtol=1e-12)

    y = np.random.default_rng(1).random((2, 4))
    a, b = np.split(y, 2, axis=-1)
    np.testing.assert_allclose(activations.glu(y), a / (1 + np.exp(-b)), rtol=1e-12)
    a, b = np.split(y, 2, axis=0)
    np.testing.assert_allclose(activations.glu(y, axis=-2), a / (1 + np.exp(-b)), rtol=1e-12)
    with pytest.raises(ValueError, match="odd"):
        activations.glu(np.ones((2, 3)))

    np.testing.assert_allclose(activations.threshold(y, 0.5, -1.0), np.where(y > 0.5, y, -1.0))
    with pytest.raises(TypeError):
        activations.threshold(y)  # no defaults, as Keras


def test_sparsemax_projects_onto_the_simplex():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((50, 6))
    p = activations.sparsemax(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    assert (p >= 0).all()
    # the projection: p = max(z - tau, 0) with one tau per row, and it is the nearest point of the simplex
    for row, q in zip(z, p):
        support = q > 0
        tau = (row[support] - q[support]).mean()
        np.testing.assert_allclose(q, np.maximum(row - tau, 0), atol=1e-12)


# Independent float64 formulas (mostly those of Keras' activations_test)
def _erf(v):
    from scipy.special import erf

    return erf(v)


SELU = (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)
FORMULAS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softmax": lambda x: np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "relu6": lambda x: np.minimum(np.maximum(x, 0), 6),
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
    "selu": lambda x: SELU[1] * np.where(x > 0, x, SELU[0] * (np.exp(x) - 1)),
    "celu": lambda x: np.maximum(x, 0.0) + np.expm1(np.minimum(x, 0.0)),
    "gelu": lambda x: x * 0.5 * (1 + _erf(x / np.sqrt(2))),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "softplus": lambda x: np.log(1 + np.exp(x)),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1),
    "hard_silu": lambda x: x * np.minimum(np.maximum(0.0, x + 3.0), 6.0) / 6,
    "exponential": np.exp,
    "mish": lambda x: x * np.tanh(np.log(1 + np.exp(x))),
    "log_softmax": lambda x: x - np.log(np.exp(x).sum(axis=-1, keepdims=True)),
    "hard_tanh": lambda x: np.clip(x, -1.0, 1.0),
    "sparse_plus": lambda x: np.where(x <= -1, 0, np.where(x < 1, (x + 1) ** 2 / 4, x)),
    "squareplus": lambda x: (x + np.sqrt(x**2 + 4)) / 2,
    "soft_shrink": lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0.0)),
    "hard_shrink": lambda x: np.where(np.abs(x) > 0.5, x, 0.0),
    "tanh_shrink": lambda x: x - np.tanh(x),
    "log_sigmoid": lambda x: -np.log(1 + np.exp(-x)),
    "sparse_sigmoid": lambda x: np.where(x <= -1, 0, np.where(x >= 1, 1, 0.5 * (x + 1))),
}


def test_every_activation_has_a_formula():
    assert set(FORMULAS) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_values_match_independent_formulas(name, backend):
    x = np.random.default_rng(5).uniform(-6, 6, (3, 4, 7))
    np.testing.assert_allclose(getattr(activations, name)(x), FORMULAS[name](x), rtol=1e-10, atol=1e-12)
    x32 = x.astype(np.float32)
    y32 = getattr(activations, name)(x32)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, FORMULAS[name](x32.astype(np.float64)), rtol=1e-5, atol=1e-6)


EXTREMES = np.array([[-1e30, -1e4, -100.0, -30.0, -1e-30, 0.0, 1e-30, 30.0, 100.0, 1e4, 1e30]])
# where Keras itself overflows (exp, x^2 ...) the values are infinite there too
OVERFLOWS = {"exponential", "squareplus", "gelu"}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_extremes_give_no_warnings(name, dtype, backend):
    x = EXTREMES.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = getattr(activations, name)(x)
        g = np.empty_like(x)
        backend_module.ops().activation_backward(name, x, y, np.ones_like(x), g)
    assert y.dtype == x.dtype and y.shape == x.shape
    if name not in OVERFLOWS:
        assert np.isfinite(y).all() or name in ("linear", "relu", "leaky_relu", "elu", "selu", "celu")
    assert not np.isnan(y[:, 1:-1]).any()  # finite inputs never give NaN
    assert not np.isnan(g[:, 1:-1]).any()


def test_saturating_values(backend):
    x = np.array([[-1e4, -100.0, 100.0, 1e4]])  # float64: the subnormal results are exact enough to compare
    np.testing.assert_allclose(activations.sigmoid(x), [[0, 3.720076e-44, 1, 1]], rtol=1e-5, atol=0)
    np.testing.assert_allclose(activations.softplus(x), [[0, 3.720076e-44, 100, 1e4]], rtol=1e-5)
    np.testing.assert_allclose(activations.log_sigmoid(x), [[-1e4, -100, -3.720076e-44, 0]], rtol=1e-5)
    np.testing.assert_allclose(activations.silu(x), [[-0.0, -3.720076e-42, 100, 1e4]], rtol=1e-5)
    np.testing.assert_allclose(activations.mish(x), [[-0.0, -3.720076e-42, 100, 1e4]], rtol=1e-5)


@pytest.mark.parametrize("name", sorted(ARGUMENTS))
def test_argument_kernels_agree_on_both_backends(name):
    pytest.importorskip("cyneuron._kernels")
    from cyneuron.backend.cython_ops import CythonOps
    from cyneuron.backend.numpy_ops import NumpyOps

    rng = np.random.default_rng(7)
    for dtype, rtol in ((np.float32, 1e-5), (np.float64, 1e-12)):
        z = (rng.standard_normal((4, 9)) * 3).astype(dtype)
        g = rng.standard_normal((4, 9)).astype(dtype)
        for params in ARGUMENTS[name]:
            results = []
            for ops in (NumpyOps(), CythonOps()):
                a, d = np.empty_like(z), np.empty_like(z)
                ops.activation_forward(name, z, a, params)
                ops.activation_backward(name, z, a, g, d, params)
                results.append((a, d))
            for ref, cy in zip(*results):
                np.testing.assert_allclose(cy, ref, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", sorted(ARGUMENTS))
def test_argument_derivatives_match_finite_differences(name, backend):
    rng = np.random.default_rng(11)
    z = rng.uniform(0.2, 2.5, (3, 5)) * rng.choice([-1.0, 1.0], (3, 5))
    ops = backend_module.ops()
    for params in ARGUMENTS[name]:
        # keep every point away from this activation's kinks (thresholds, caps)
        kinks = [0.0] + [abs(v) for v in params.values() if isinstance(v, float)]
        zz = z.copy()
        for k in kinks:
            zz = np.where(np.abs(np.abs(zz) - k) < 1e-3, zz + 0.01, zz)
        a, d = np.empty_like(zz), np.empty_like(zz)
        ops.activation_forward(name, zz, a, params)
        ops.activation_backward(name, zz, a, np.ones_like(zz), d, params)
        up, down = np.empty_like(zz), np.empty_like(zz)
        ops.activation_forward(name, zz + 1e-6, up, params)
        ops.activation_forward(name, zz - 1e-6, down, params)
        np.testing.assert_allclose(d, (up - down) / 2e-6, rtol=1e-5, atol=1e-7)


def test_bad_arguments_are_refused(backend):
    with pytest.raises(TypeError, match="negative_slope"):
        activations.relu(X, negative_slope="a")
    with pytest.raises(ValueError, match="alpha"):
        activations.elu(X, alpha=float("nan"))
    with pytest.raises(TypeError, match="approximate"):
        activations.gelu(X, approximate=1)
    with pytest.raises(ValueError, match="takes no argument"):
        backend_module.ops().activation_forward("selu", np.ones((1, 2)), np.empty((1, 2)), {"alpha": 1.0})
    with pytest.raises(ValueError, match="threshold needs"):
        backend_module.ops().activation_forward("threshold", np.ones((1, 2)), np.empty((1, 2)))
    with pytest.raises(TypeError, match="real numeric"):
        activations.gelu(np.array(["a"]))


# ------------------------------------------------------------------ in layers
def _model(name: str, dtype="float64") -> Sequential:
    return Sequential(
        [
            Input((5,)),
            Dense(6, activation=name, dtype=dtype),
            Activation(name, dtype=dtype),
            Dense(3, activation="softmax", dtype=dtype),
        ]
    )


def _fit(name, backend_name, x, y):
    backend_module.set_backend(backend_name)
    set_random_seed(4)
    model = _model(name)
    model.compile(optimizer=cyneuron.optimizers.SGD(0.05), loss="categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    return model


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_layers_train_alike_on_both_backends(name):
    pytest.importorskip("cyneuron._kernels")
    previous = backend_module._active
    rng = np.random.default_rng(2)
    x = rng.standard_normal((24, 5)) * 0.3  # small: exponential twice over stays finite
    y = np.eye(3)[rng.integers(0, 3, 24)]
    try:
        ref, cy = _fit(name, "numpy", x, y), _fit(name, "cython", x, y)
    finally:
        backend_module._active = previous
    for a, b in zip(cy.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cy.predict(x, verbose=0), ref.predict(x, verbose=0), rtol=1e-9, atol=1e-12)
    fused = name in FUSED_ACTIVATIONS
    assert len(cy.layers[0].stage_spec()) == (1 if fused else 2)  # fused, or its own stage after the product


@pytest.mark.parametrize("name", ["gelu", "elu", "mish", "log_softmax"])
def test_conv2d_with_activation_matches_its_function(name, backend):
    rng = np.random.default_rng(0)
    for data_format in ("channels_last", "channels_first"):
        shape = (5, 5, 2) if data_format == "channels_last" else (2, 5, 5)
        layer = Conv2D(3, 3, activation=name, data_format=data_format, dtype="float64")
        linear = Conv2D(3, 3, data_format=data_format, dtype="float64")
        x = rng.standard_normal((2, *shape))
        y = layer(x)
        linear.build((None, *shape))
        linear.set_weights(layer.get_weights())
        axis = -1 if data_format == "channels_last" else 1
        expected = getattr(activations, name)(linear(x), axis=axis) if name == "log_softmax" else None
        if expected is None:
            expected = getattr(activations, name)(linear(x))
        np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_configs_and_files_round_trip(name, tmp_path):
    set_random_seed(0)
    model = _model(name, "float32")
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x = np.random.default_rng(0).standard_normal((8, 5)).astype("float32")
    assert model.layers[0].get_config()["activation"] == name
    assert model.layers[1].get_config()["activation"] == name
    clone = Sequential.from_config(model.get_config())
    assert [layer.get_config()["activation"] for layer in clone.layers] == [name, name, "softmax"]
    model.save(tmp_path / "m")
    np.testing.assert_array_equal(load_model(tmp_path / "m").predict(x, verbose=0), model.predict(x, verbose=0))
    pytest.importorskip("h5py")
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert [layer.get_config()["activation"] for layer in loaded.layers] == [name, name, "softmax"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize(("alias", "name"), [("swish", "silu"), ("hard_swish", "hard_silu"), (None, "linear")])
def test_layers_take_aliases_and_serialize_canonical_names(alias, name):
    layer = Dense(2, activation=alias)
    assert layer.get_config()["activation"] == name
    assert Activation(alias).get_config()["activation"] == name
    assert Dense(2, activation=activations.get(alias)).get_config()["activation"] == name


@pytest.mark.parametrize("name", activations.FUNCTIONS_ONLY)
def test_functions_only_are_refused_by_layers(name):
    for make in (lambda: Dense(2, activation=name), lambda: Activation(getattr(activations, name))):
        with pytest.raises(ValueError, match="function only"):
            make()


def test_recurrent_layers_refuse_activations_their_kernels_lack():
    from cyneuron.layers import LSTM, SimpleRNN

    with pytest.raises(ValueError, match="recurrent kernels"):
        SimpleRNN(3, activation="gelu")
    with pytest.raises(ValueError, match="recurrent kernels"):
        LSTM(3, recurrent_activation="hard_sigmoid")


def test_activation_layers_take_data_of_any_shape_as_keras(backend):
    from cyneuron.layers import ELU, LeakyReLU, ReLU, Softmax

    x = np.array([-10, -5, 0.0, 5, 10])
    np.testing.assert_allclose(ReLU(max_value=10, negative_slope=0.5)(x), [-5.0, -2.5, 0.0, 5.0, 10.0])
    np.testing.assert_allclose(ReLU(max_value=8, threshold=5)(np.array([6.0, 7.0, 0.0, 5, 10])), [6, 7, 0, 0, 8])
    np.testing.assert_allclose(LeakyReLU(negative_slope=0.5)(x), [-5.0, -2.5, 0.0, 5.0, 10.0])
    np.testing.assert_allclose(ELU(alpha=1.0)(np.array([-1.0])), [np.expm1(-1.0)], rtol=1e-6)
    grid = np.random.default_rng(0).standard_normal((2, 3, 4))
    np.testing.assert_allclose(Activation("gelu")(grid), activations.gelu(grid.astype("float32")), rtol=1e-6)
    np.testing.assert_allclose(Softmax(axis=1)(grid[0]), activations.softmax(grid[0], axis=1), rtol=1e-6)
    np.testing.assert_allclose(Softmax()(grid), activations.softmax(grid), rtol=1e-6)
    layer = ReLU()
    layer(grid)
    assert layer.built
    assert layer(np.ones((3, 5))).shape == (3, 5)  # weightless: other shapes still work on data


def test_activation_layer_errors_are_keras_words():
    from cyneuron.layers import LeakyReLU, ReLU

    with pytest.raises(ValueError, match="max_value of a ReLU layer cannot be a negative value"):
        ReLU(max_value=-10)
    with pytest.raises(ValueError, match="negative_slope of a ReLU layer cannot be None or a negative value"):
        ReLU(negative_slope=-10)
    with pytest.raises(ValueError, match="threshold of a ReLU layer cannot be None or a negative value"):
        ReLU(threshold=None)
    with pytest.raises(ValueError, match="The negative_slope value of a Leaky ReLU layer cannot be None or negative"):
        LeakyReLU(negative_slope=-1)
