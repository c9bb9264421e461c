"""Front-end registries: activations, losses, metrics, optimizers, initializers, config, utils."""

from __future__ import annotations

import math

import numpy as np
import pytest

import cyneuron
from cyneuron import activations, config, initializers, losses, metrics, optimizers, utils
from cyneuron.backend.base import LossSpec, OptimizerSpec, ScheduleSpec
from cyneuron.backend.specs import ACTIVATIONS

# ----------------------------------------------------------------------------- activations


@pytest.mark.parametrize("name", [*ACTIVATIONS, *activations.FUNCTIONS_ONLY])
def test_activation_get_by_string_and_object(name):
    function = activations.get(name)
    assert function is getattr(activations, name)
    assert activations.get(function) is function
    assert activations.serialize(function) == name
    assert activations.serialize(name) == name
    assert activations.deserialize(name) is function
    if name in ACTIVATIONS:
        assert activations.name_of(function) == name
        assert activations.name_of(name) == name
    else:  # a function only: refused as a layer activation, by name and by function
        for identifier in (name, function):
            with pytest.raises(ValueError, match="function only"):
                activations.name_of(identifier)


@pytest.mark.parametrize(("alias", "name"), [("swish", "silu"), ("hard_swish", "hard_silu")])
def test_activation_aliases(alias, name):
    assert activations.get(alias) is getattr(activations, name) is getattr(activations, alias)
    assert activations.name_of(alias) == name
    assert activations.serialize(activations.get(alias)) == name


def test_activation_none_is_linear():
    assert activations.get(None) is activations.linear
    assert activations.name_of(None) == "linear"


def test_activation_unknown_names_raise_as_keras():
    # Keras: ValueError "Could not interpret activation function identifier"; names are case-sensitive
    for name in ("typo", "Relu", "RELU", ""):
        with pytest.raises(ValueError, match="Could not interpret activation function identifier"):
            activations.get(name)
        with pytest.raises(ValueError, match="Could not interpret"):
            activations.name_of(name)
    with pytest.raises(ValueError, match="Could not interpret"):
        activations.get(3)
    custom = lambda z: z  # noqa: E731
    assert activations.get(custom) is custom  # Keras returns callables as they are
    with pytest.raises(ValueError, match="custom activation"):
        activations.name_of(custom)  # but a layer cannot run them
    with pytest.raises(TypeError):
        activations.name_of(3)
    with pytest.raises(ValueError, match="cannot be serialized"):
        activations.serialize(custom)


def test_activation_functions_on_arrays(backend):
    z = np.array([[-2.0, 0.0, 3.0], [1.0, -1.0, 0.5]])
    np.testing.assert_allclose(activations.relu(z), np.maximum(z, 0))
    np.testing.assert_allclose(activations.linear(z), z)
    np.testing.assert_allclose(activations.sigmoid(z), 1 / (1 + np.exp(-z)), rtol=1e-12)
    np.testing.assert_allclose(activations.tanh(z), np.tanh(z), rtol=1e-12)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(activations.softmax(z), e / e.sum(axis=1, keepdims=True), rtol=1e-12)
    # any shape, list input, int input
    assert activations.relu([-1, 2]).tolist() == [0.0, 2.0]
    assert activations.relu(np.zeros((2, 3, 4))).shape == (2, 3, 4)
    assert activations.relu(np.float32([[1.0]])).dtype == np.float32


# ----------------------------------------------------------------------------- losses


@pytest.mark.parametrize(
    ("identifier", "canonical"),
    [
        ("mse", "mean_squared_error"),
        ("MSE", "mean_squared_error"),
        ("mean_squared_error", "mean_squared_error"),
        ("MeanSquaredError", "mean_squared_error"),
        ("mae", "mean_absolute_error"),
        ("mean_absolute_error", "mean_absolute_error"),
        ("MeanAbsoluteError", "mean_absolute_error"),
        ("binary_crossentropy", "binary_crossentropy"),
        ("bce", "binary_crossentropy"),
        ("BinaryCrossentropy", "binary_crossentropy"),
        ("categorical_crossentropy", "categorical_crossentropy"),
        ("CategoricalCrossentropy", "categorical_crossentropy"),
        ("sparse_categorical_crossentropy", "sparse_categorical_crossentropy"),
        ("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"),
        (losses.SparseCategoricalCrossentropy(from_logits=True), "sparse_categorical_crossentropy"),
        (losses.MeanSquaredError, "mean_squared_error"),
        (losses.categorical_crossentropy, "categorical_crossentropy"),
    ],
)
def test_loss_identifiers_map_to_specs(identifier, canonical):
    spec = losses.to_spec(identifier)
    assert isinstance(spec, LossSpec)
    assert spec.name == canonical


def test_loss_from_logits_reaches_the_spec():
    assert losses.to_spec(losses.BinaryCrossentropy(from_logits=True)) == LossSpec("binary_crossentropy", True)
    assert losses.to_spec("binary_crossentropy").from_logits is False


def test_loss_unknown_and_bad_arguments():
    with pytest.raises(ValueError, match="focal_crossentropy.*mean_squared_error"):
        losses.get("focal_crossentropy")
    with pytest.raises(ValueError, match="custom loss"):
        losses.get(lambda a, b: 0.0)
    with pytest.raises(TypeError, match="from_logits"):
        losses.BinaryCrossentropy(from_logits="yes")
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="avg")


def test_loss_objects_compute_values(backend):
    y_pred = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    labels = np.array([0, 2])
    onehot = np.eye(3)[labels]
    expected = -np.mean(np.log([0.7, 0.6]))  # a loss computes in its dtype (float32 by default), as in Keras
    assert losses.SparseCategoricalCrossentropy()(labels, y_pred) == pytest.approx(expected, rel=1e-6)
    assert losses.CategoricalCrossentropy()(onehot, y_pred) == pytest.approx(expected, rel=1e-6)
    assert losses.MeanSquaredError()(onehot, y_pred) == pytest.approx(np.mean((onehot - y_pred) ** 2))
    assert losses.MeanAbsoluteError()(onehot, y_pred) == pytest.approx(np.mean(np.abs(onehot - y_pred)))
    p = np.array([[0.9], [0.2]])
    t = np.array([1.0, 0.0])  # (n,) targets for a width-1 output, as Keras accepts
    assert losses.BinaryCrossentropy()(t, p) == pytest.approx(-np.mean(np.log([0.9, 0.8])), rel=1e-6)
    per_sample = losses.sparse_categorical_crossentropy(labels, y_pred)
    np.testing.assert_allclose(per_sample, -np.log([0.7, 0.6]), rtol=1e-9)


def test_loss_serialization_round_trip():
    loss = losses.CategoricalCrossentropy(from_logits=True, name="cce")
    config = losses.serialize(loss)
    assert config == {
        "class_name": "CategoricalCrossentropy",
        "config": {
            "name": "cce",
            "reduction": "sum_over_batch_size",
            "from_logits": True,
            "label_smoothing": 0.0,
            "axis": -1,
        },
    }
    again = losses.deserialize(config)
    assert isinstance(again, losses.CategoricalCrossentropy)
    assert again.from_logits and again.name == "cce"
    assert losses.serialize("mse") == "mse"
    assert losses.deserialize("mse") is losses.mean_squared_error
    # Keras' own config keys are accepted, every option kept
    keras_like = {
        "class_name": "BinaryCrossentropy",
        "config": {"from_logits": False, "label_smoothing": 0.1, "axis": -1, "dtype": None, "name": "bce"},
    }
    again = losses.deserialize(keras_like)
    assert again.name == "bce" and again.label_smoothing == 0.1
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.deserialize({"class_name": "BinaryCrossentropy", "config": {"label_smoothing": 1.5}})


# ----------------------------------------------------------------------------- metrics


def _pairs(compiled) -> list[tuple[str, str]]:
    return [(m.name, m.spec.name) for m in compiled]


@pytest.mark.parametrize(
    ("y_shape", "units", "loss", "expected"),
    [
        ((10,), 3, "sparse_categorical_crossentropy", "sparse_categorical_accuracy"),
        ((10, 1), 3, "sparse_categorical_crossentropy", "sparse_categorical_accuracy"),
        ((10, 3), 3, "categorical_crossentropy", "categorical_accuracy"),
        ((10, 1), 1, "binary_crossentropy", "binary_accuracy"),
        ((10,), 1, "binary_crossentropy", "binary_accuracy"),
        ((10, 1), 1, "mean_squared_error", "binary_accuracy"),
        # Keras 3 resolves by shape only: multi-label BCE with width > 1 gets categorical accuracy
        ((10, 4), 4, "binary_crossentropy", "categorical_accuracy"),
    ],
)
def test_accuracy_resolution_follows_keras3(y_shape, units, loss, expected):
    for alias in ("accuracy", "acc", "Accuracy"):
        assert _pairs(metrics.resolve([alias], y_shape, units, loss)) == [(alias, expected)]


def test_metric_names_follow_what_the_user_gave():
    pairs = _pairs(
        metrics.resolve(
            ["mse", "mean_absolute_error", metrics.MeanSquaredError(), metrics.mean_absolute_error, "MAE"],
            (5, 2),
            2,
            "mean_squared_error",
        )
    )
    assert pairs == [
        ("mse", "mean_squared_error"),
        ("mean_absolute_error", "mean_absolute_error"),
        ("mean_squared_error", "mean_squared_error"),
        ("mean_absolute_error_1", "mean_absolute_error"),
        ("MAE", "mean_absolute_error"),
    ]
    assert _pairs(metrics.resolve([metrics.BinaryAccuracy(name="ba")], (4, 1), 1, "binary_crossentropy")) == [
        ("ba", "binary_accuracy")
    ]


def test_metric_incompatible_with_loss_targets():
    with pytest.raises(ValueError, match="needs integer class labels"):
        metrics.resolve(["sparse_categorical_accuracy"], (4, 3), 3, "categorical_crossentropy")
    with pytest.raises(ValueError, match="class labels"):
        metrics.resolve(["mse"], (4,), 3, "sparse_categorical_crossentropy")


def test_metric_identifier_validation():
    assert metrics.check_identifiers(None) == []
    assert metrics.check_identifiers(("accuracy", "mse")) == ["accuracy", "mse"]
    with pytest.raises(ValueError, match=r"metrics\[1\]: Could not interpret metric identifier: roc_auc.*accuracy"):
        metrics.check_identifiers(["accuracy", "roc_auc"])
    with pytest.raises(TypeError, match="wrap it in a list"):
        metrics.check_identifiers("accuracy")
    assert isinstance(metrics.get("accuracy"), metrics.Accuracy)  # as keras.metrics.get; compile resolves it


def test_metric_objects_are_stateful(backend):
    m = metrics.SparseCategoricalAccuracy()
    m.update_state([0, 1], [[0.9, 0.1], [0.8, 0.2]])
    assert m.result() == pytest.approx(0.5)
    m.update_state([1, 1], [[0.1, 0.9], [0.3, 0.7]])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    assert m.result() == 0.0
    b = metrics.BinaryAccuracy()
    assert b([[1.0], [0.0], [1.0]], [[0.7], [0.6], [0.2]]) == pytest.approx(1 / 3)
    c = metrics.CategoricalAccuracy()
    assert c(np.eye(2), [[0.6, 0.4], [0.3, 0.7]]) == 1.0
    np.testing.assert_allclose(metrics.mean_squared_error([[1.0, 2.0]], [[0.0, 0.0]]), [2.5])


def test_metric_serialization():
    assert metrics.serialize("accuracy") == "accuracy"
    config = metrics.serialize(metrics.BinaryAccuracy(name="b"))
    assert config == {"class_name": "BinaryAccuracy", "config": {"name": "b", "dtype": "float32", "threshold": 0.5}}
    assert metrics.deserialize(config).name == "b"
    assert metrics.serialize(metrics.categorical_accuracy) == "categorical_accuracy"


# ----------------------------------------------------------------------------- optimizers


def test_sgd_defaults_and_config():
    sgd = optimizers.SGD()
    assert (sgd.learning_rate, sgd.momentum, sgd.nesterov) == (np.float32(0.01), 0.0, False)
    assert sgd.name.split("_")[0] == "sgd"  # Keras' automatic names: sgd, sgd_1, ...
    lr = float(np.float32(0.01))
    assert sgd.spec == OptimizerSpec("sgd", ScheduleSpec("constant", (lr,)), {"momentum": 0.0, "nesterov": 0.0})
    config = sgd.get_config()
    # Keras 3's keys, in its order, with the float32 learning rate as Keras serialises it
    assert list(config) == [
        "name",
        "learning_rate",
        "weight_decay",
        "clipnorm",
        "global_clipnorm",
        "clipvalue",
        "use_ema",
        "ema_momentum",
        "ema_overwrite_frequency",
        "loss_scale_factor",
        "gradient_accumulation_steps",
        "momentum",
        "nesterov",
    ]
    assert config["learning_rate"] == lr and config["momentum"] == 0.0 and config["nesterov"] is False
    again = optimizers.SGD.from_config({**config, "momentum": 0.9})
    assert again.momentum == 0.9
    assert isinstance(optimizers.get("sgd"), optimizers.SGD)
    assert isinstance(optimizers.get("SGD"), optimizers.SGD)
    assert optimizers.get(sgd) is sgd
    assert optimizers.deserialize(optimizers.serialize(sgd)).get_config() == config
    clipped = optimizers.SGD.from_config({**config, "clipnorm": 1.0})
    assert clipped.spec.clipnorm == 1.0
    with pytest.raises(ValueError, match="use_ema"):
        optimizers.SGD.from_config({**config, "use_ema": True})


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"learning_rate": 0}, ValueError, "learning_rate"),
        ({"learning_rate": -0.1}, ValueError, "learning_rate"),
        ({"learning_rate": float("inf")}, ValueError, "learning_rate"),
        ({"learning_rate": float("nan")}, ValueError, "learning_rate"),
        ({"learning_rate": "0.1"}, TypeError, "learning_rate"),
        ({"momentum": -0.1}, ValueError, "momentum"),
        ({"momentum": 1.5}, ValueError, "momentum"),  # Keras allows [0, 1]
        ({"momentum": float("nan")}, ValueError, "momentum"),
        ({"nesterov": 1}, TypeError, "nesterov"),
    ],
)
def test_sgd_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        optimizers.SGD(**kwargs)


def test_sgd_learning_rate_is_mutable_and_validated():
    sgd = optimizers.SGD(0.1)
    version = sgd._version
    sgd.learning_rate = 0.05
    # kept as a float32, as Keras' learning-rate variable
    assert sgd.learning_rate == np.float32(0.05)
    assert sgd.spec.learning_rate == ScheduleSpec("constant", (float(np.float32(0.05)),))
    assert sgd._version > version
    with pytest.raises(ValueError):
        sgd.learning_rate = 0.0
    assert sgd.learning_rate == np.float32(0.05)


def test_unknown_optimizer_lists_valid():
    with pytest.raises(ValueError, match="adam.*sgd"):
        optimizers.get("adamx")


# ----------------------------------------------------------------------------- initializers


def test_glorot_uniform_formula_and_statistics():
    fan_in, fan_out = 300, 200
    values = initializers.GlorotUniform(seed=1)((fan_in, fan_out))
    limit = math.sqrt(6 / (fan_in + fan_out))
    assert values.dtype == np.float32 and values.shape == (fan_in, fan_out)
    assert values.min() >= -limit and values.max() <= limit
    assert values.min() < -0.95 * limit and values.max() > 0.95 * limit
    assert values.std() == pytest.approx(limit / math.sqrt(3), rel=0.02)
    assert abs(values.mean()) < 0.01 * limit


@pytest.mark.parametrize(
    ("cls", "scale_of"),
    [
        (initializers.GlorotNormal, lambda fi, fo: 2 / (fi + fo)),
        (initializers.HeNormal, lambda fi, fo: 2 / fi),
        (initializers.LecunNormal, lambda fi, fo: 1 / fi),
    ],
)
def test_truncated_normal_initializers(cls, scale_of):
    fan_in, fan_out = 400, 250
    values = cls(seed=3)((fan_in, fan_out), dtype="float64")
    stddev = math.sqrt(scale_of(fan_in, fan_out)) / 0.87962566103423978  # Keras' pre-truncation stddev
    assert values.dtype == np.float64
    assert np.abs(values).max() <= 2 * stddev
    # truncating a normal at 2 sigma leaves 0.8796 sigma: the result has the intended variance
    assert values.std() == pytest.approx(math.sqrt(scale_of(fan_in, fan_out)), rel=0.02)


def test_he_uniform_and_random_initializers():
    values = initializers.HeUniform(seed=0)((500, 100))
    limit = math.sqrt(6 / 500)
    assert np.abs(values).max() <= limit and values.std() == pytest.approx(limit / math.sqrt(3), rel=0.02)
    normal = initializers.get("random_normal")((300, 300))
    assert normal.std() == pytest.approx(0.05, rel=0.02) and abs(normal.mean()) < 0.002
    uniform = initializers.get("random_uniform")((300, 300))
    assert uniform.min() >= -0.05 and uniform.max() <= 0.05
    assert np.all(initializers.get("zeros")((3, 2)) == 0)
    assert np.all(initializers.get("ones")((4,)) == 1)
    assert np.all(initializers.Constant(2.5)((2,)) == 2.5)


def test_initializer_instances_repeat_their_values_like_keras():
    seeded = initializers.GlorotUniform(seed=7)
    np.testing.assert_array_equal(seeded((4, 3)), seeded((4, 3)))
    np.testing.assert_array_equal(seeded((4, 3)), initializers.GlorotUniform(seed=7)((4, 3)))
    unseeded = initializers.GlorotUniform()
    np.testing.assert_array_equal(unseeded((4, 3)), unseeded((4, 3)))
    assert not np.array_equal(initializers.GlorotUniform()((4, 3)), initializers.GlorotUniform()((4, 3)))


def test_initializer_registry_and_config():
    for name, cls in [
        ("glorot_uniform", initializers.GlorotUniform),
        ("glorot_normal", initializers.GlorotNormal),
        ("he_uniform", initializers.HeUniform),
        ("he_normal", initializers.HeNormal),
        ("zeros", initializers.Zeros),
        ("ones", initializers.Ones),
        ("random_normal", initializers.RandomNormal),
        ("random_uniform", initializers.RandomUniform),
        ("GlorotUniform", initializers.GlorotUniform),
    ]:
        assert type(initializers.get(name)) is cls
    init = initializers.RandomNormal(mean=1.0, stddev=2.0, seed=5)
    config = initializers.serialize(init)
    assert config == {"class_name": "RandomNormal", "config": {"mean": 1.0, "stddev": 2.0, "seed": 5}}
    np.testing.assert_array_equal(initializers.deserialize(config)((3,)), init((3,)))
    with pytest.raises(ValueError, match="no_such_init.*glorot_uniform"):
        initializers.get("no_such_init")
    assert type(initializers.get("identity")) is initializers.Identity
    assert type(initializers.get("orthogonal")) is initializers.Orthogonal
    with pytest.raises(ValueError, match="dtype"):
        initializers.Zeros()((2,), dtype="int32")


# ----------------------------------------------------------------------------- config and utils


@pytest.fixture
def restore_floatx():
    previous = config.floatx()
    yield
    config.set_floatx(previous)


def test_floatx(restore_floatx):
    assert config.floatx() == "float32"
    assert config.epsilon() == 1e-7
    config.set_floatx("float64")
    assert config.floatx() == "float64"
    assert initializers.GlorotUniform()((2, 2)).dtype == np.float64
    with pytest.raises(ValueError, match="float16"):
        config.set_floatx("float16")


def test_to_categorical_matches_keras():
    out = utils.to_categorical([0, 2, 1])
    np.testing.assert_array_equal(out, np.eye(3)[[0, 2, 1]])
    assert out.dtype == np.float64
    assert utils.to_categorical(np.array([[1], [0]]), num_classes=4).shape == (2, 4)
    assert utils.to_categorical(np.array([[1, 0], [0, 1]])).shape == (2, 2, 2)
    with pytest.raises(ValueError, match="labels must be in"):
        utils.to_categorical([0, 3], num_classes=3)
    with pytest.raises(ValueError, match="non-integral"):
        utils.to_categorical([0.5])


def test_set_random_seed_validation():
    with pytest.raises(TypeError):
        utils.set_random_seed(1.5)
    with pytest.raises(ValueError):
        utils.set_random_seed(-1)


def test_package_exports():
    assert cyneuron.__version__ == "0.1.0"
    assert cyneuron.get_backend() in ("numpy", "cython")
    assert callable(cyneuron.set_backend)
    # the other helpers' modules load lazily as attributes, as keras.callbacks does
    assert cyneuron.callbacks.History is not None
    assert callable(cyneuron.saving.load_model)
    assert cyneuron.models.Sequential is cyneuron.Sequential
