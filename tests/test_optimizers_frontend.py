"""The optimizer front end: Keras 3's names, defaults, configs, errors and the backend spec."""

from __future__ import annotations

import inspect
import json
import math

import numpy as np
import pytest

from cyneuron import optimizers
from cyneuron.backend.specs import OptimizerSpec, ScheduleSpec
from cyneuron.optimizers import schedules

BASE_KEYS = [
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
]
# Keras 3.15: class -> (default learning rate, own config entries in order)
KERAS_DEFAULTS = {
    "SGD": (0.01, {"momentum": 0.0, "nesterov": False}),
    "Adam": (0.001, {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}),
    "AdamW": (0.001, {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}),
    "RMSprop": (0.001, {"rho": 0.9, "momentum": 0.0, "epsilon": 1e-07, "centered": False}),
    "Adagrad": (0.001, {"initial_accumulator_value": 0.1, "epsilon": 1e-07}),
    "Adadelta": (0.001, {"rho": 0.95, "epsilon": 1e-07}),
    "Adamax": (0.001, {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07}),
    "Nadam": (0.001, {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07}),
    "Lion": (0.001, {"beta_1": 0.9, "beta_2": 0.99}),
}
KERAS_NAMES = {"AdamW": "adam_w", "RMSprop": "rm_sprop"}


def test_registry_covers_keras_set():
    assert set(optimizers.OPTIMIZERS) == set(KERAS_DEFAULTS)
    for name in KERAS_DEFAULTS:
        assert getattr(optimizers, name) is optimizers.OPTIMIZERS[name]


@pytest.mark.parametrize("name", list(KERAS_DEFAULTS))
def test_defaults_and_config_match_keras(name):
    lr, own = KERAS_DEFAULTS[name]
    opt = optimizers.OPTIMIZERS[name]()
    config = opt.get_config()
    assert list(config) == BASE_KEYS + list(own)
    assert config["learning_rate"] == float(np.float32(lr))
    assert opt.learning_rate == np.float32(lr) and isinstance(opt.learning_rate, np.float32)
    assert {k: config[k] for k in own} == own
    assert config["weight_decay"] == (0.004 if name == "AdamW" else None)
    assert config["name"].startswith(KERAS_NAMES.get(name, name.lower()))
    assert (opt.iterations, opt.built) == (0, False)
    json.dumps(optimizers.serialize(opt))


@pytest.mark.parametrize("name", list(KERAS_DEFAULTS))
def test_signature_order_matches_keras(name):
    params = list(inspect.signature(optimizers.OPTIMIZERS[name]).parameters)
    _, own = KERAS_DEFAULTS[name]
    tail = ["clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum", "ema_overwrite_frequency"]
    tail += ["loss_scale_factor", "gradient_accumulation_steps", "name", "kwargs"]
    head = ["learning_rate", "weight_decay", *own] if name == "AdamW" else ["learning_rate", *own, "weight_decay"]
    assert params == head + tail


def test_auto_names_are_unique_like_keras():
    a, b = optimizers.Lion(), optimizers.Lion()
    assert a.name != b.name and b.name.startswith("lion_")
    assert optimizers.Lion(name="mine").name == "mine"


@pytest.mark.parametrize("name", list(KERAS_DEFAULTS))
def test_round_trips(name):
    cls = optimizers.OPTIMIZERS[name]
    opt = cls(learning_rate=0.05, clipnorm=1.0)
    config = opt.get_config()
    assert cls.from_config(config).get_config() == config
    assert optimizers.deserialize(optimizers.serialize(opt)).get_config() == config
    assert optimizers.get(optimizers.serialize(opt)).get_config() == config
    assert isinstance(optimizers.get(name.lower()), cls) and isinstance(optimizers.get(name.upper()), cls)
    assert isinstance(optimizers.get(cls), cls)
    assert optimizers.get(opt) is opt
    assert cls.from_config(config).spec == opt.spec


def test_keras_config_dicts_are_accepted():
    keras_dict = {
        "module": "keras.optimizers",
        "class_name": "Adam",
        "config": {
            "name": "adam_2",
            "learning_rate": {
                "module": "keras.optimizers.schedules",
                "class_name": "ExponentialDecay",
                "config": {
                    "initial_learning_rate": 0.1,
                    "decay_steps": 10,
                    "decay_rate": 0.5,
                    "staircase": False,
                    "name": "ExponentialDecay",
                },
                "registered_name": None,
            },
            "weight_decay": None,
            "clipnorm": None,
            "global_clipnorm": None,
            "clipvalue": None,
            "use_ema": False,
            "ema_momentum": 0.99,
            "ema_overwrite_frequency": None,
            "loss_scale_factor": None,
            "gradient_accumulation_steps": None,
            "beta_1": 0.9,
            "beta_2": 0.999,
            "epsilon": 1e-07,
            "amsgrad": False,
        },
        "registered_name": None,
    }
    opt = optimizers.deserialize(keras_dict)
    assert isinstance(opt, optimizers.Adam) and opt.name == "adam_2"
    assert isinstance(opt._learning_rate, schedules.ExponentialDecay)
    assert optimizers.serialize(opt) == keras_dict
    assert optimizers.deserialize({"class_name": "sgd", "config": {}}).get_config()["momentum"] == 0.0


def test_spec():
    spec = optimizers.RMSprop(0.01, momentum=0.5, centered=True, clipvalue=0.3).spec
    assert spec == OptimizerSpec(
        "rmsprop",
        ScheduleSpec("constant", (float(np.float32(0.01)),)),
        {"rho": 0.9, "momentum": 0.5, "epsilon": 1e-7, "centered": 1.0},
        clipvalue=0.3,
    )
    adamw = optimizers.AdamW(amsgrad=True).spec
    assert adamw.kind == "adam" and adamw.weight_decay == 0.004 and adamw.hyper["amsgrad"] == 1.0
    opt = optimizers.Nadam()
    assert opt.slot_specs() == (("momentum", 0.0), ("velocity", 0.0))
    assert opt.scalar_specs() == (("u_product", 1.0),)


def test_hyperparameter_changes_bump_version():
    opt = optimizers.SGD(0.1)
    for attr, value in [("learning_rate", 0.05), ("momentum", 0.9), ("nesterov", True), ("clipnorm", 2.0)]:
        version = opt._version
        setattr(opt, attr, value)
        assert opt._version > version
    assert opt.learning_rate == np.float32(0.05) and opt.spec.hyper == {"momentum": 0.9, "nesterov": 1.0}
    assert opt.spec.clipnorm == 2.0 and opt.slot_specs() == (("momentum", 0.0),)
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = 0.0
    with pytest.raises(ValueError, match="momentum"):
        opt.momentum = 1.5
    assert opt.learning_rate == np.float32(0.05) and opt.momentum == 0.9


def test_schedule_learning_rate():
    schedule = schedules.PiecewiseConstantDecay([2], [0.1, 0.01])
    opt = optimizers.SGD(schedule)
    assert opt.learning_rate == np.float32(0.1)
    opt.iterations = 3
    assert opt.learning_rate == np.float32(0.01)
    assert opt.spec.learning_rate == ScheduleSpec("piecewise_constant_decay", (2.0, 0.1, 0.01))
    assert opt.get_config()["learning_rate"]["class_name"] == "PiecewiseConstantDecay"
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.1
    version = opt._version
    opt.learning_rate = schedules.ExponentialDecay(0.1, 5, 0.5)
    assert opt._version > version
    float_opt = optimizers.SGD(0.1)
    float_opt.learning_rate = schedule
    assert float_opt.spec.learning_rate.kind == "piecewise_constant_decay"


def test_custom_schedules_are_rejected():
    class Halving(schedules.LearningRateSchedule):
        def __call__(self, step):
            return 0.1 / (step + 1)

    with pytest.raises(TypeError, match="built-in schedules"):
        optimizers.SGD(Halving())
    with pytest.raises(TypeError, match="learning_rate"):
        optimizers.SGD(lambda: 0.1)


def test_optimizer_variable_count_matches_keras_summary():
    # Keras 3.15 on JAX, Dense(3->4) + Dense(4->2): 26 trainable weights in 4 arrays
    sizes = [12, 4, 8, 2]
    assert optimizers.SGD().optimizer_variable_count(sizes, 4) == (2, 8)
    assert optimizers.SGD(momentum=0.9).optimizer_variable_count(sizes, 4) == (28, 112)
    assert optimizers.Adam().optimizer_variable_count(sizes, 4) == (54, 216)
    assert optimizers.Adam(amsgrad=True).optimizer_variable_count(sizes, 4) == (80, 320)
    assert optimizers.Nadam().optimizer_variable_count(sizes, 4) == (55, 220)
    schedule = schedules.ExponentialDecay(0.1, 10, 0.5)
    assert optimizers.Adam(schedule).optimizer_variable_count(sizes, 4) == (53, 212)


@pytest.mark.parametrize(
    ("cls", "kwargs", "error", "match"),
    [
        (optimizers.SGD, {"learning_rate": 0}, ValueError, "learning_rate"),
        (optimizers.SGD, {"learning_rate": -0.1}, ValueError, "learning_rate"),
        (optimizers.SGD, {"learning_rate": math.nan}, ValueError, "learning_rate"),
        (optimizers.SGD, {"learning_rate": math.inf}, ValueError, "learning_rate"),
        (optimizers.SGD, {"learning_rate": "0.1"}, TypeError, "learning_rate"),
        (optimizers.SGD, {"momentum": -0.1}, ValueError, "momentum"),
        (optimizers.SGD, {"momentum": 1.01}, ValueError, "momentum"),
        (optimizers.SGD, {"momentum": math.nan}, ValueError, "momentum"),
        (optimizers.SGD, {"nesterov": 1}, TypeError, "nesterov"),
        (optimizers.Adam, {"beta_1": 1.0}, ValueError, "beta_1"),
        (optimizers.Adam, {"epsilon": -1e-7}, ValueError, "epsilon"),
        (optimizers.Adam, {"amsgrad": "yes"}, TypeError, "amsgrad"),
        (optimizers.RMSprop, {"rho": 1.5}, ValueError, "rho"),
        (optimizers.Adagrad, {"initial_accumulator_value": -1.0}, ValueError, "initial_accumulator_value"),
        (optimizers.Lion, {"beta_1": 0.0}, ValueError, "beta_1"),
        (optimizers.AdamW, {"weight_decay": None}, ValueError, "weight_decay"),
        (optimizers.Adam, {"weight_decay": -0.1}, ValueError, "weight_decay"),
        (optimizers.Adam, {"clipnorm": 1.0, "global_clipnorm": 1.0}, ValueError, "Only one of"),
        (optimizers.Adam, {"clipnorm": 1.0, "clipvalue": 1.0}, ValueError, "Only one of"),
        (optimizers.Adam, {"clipvalue": -1.0}, ValueError, "clipvalue"),
        (optimizers.Adam, {"use_ema": True}, ValueError, "use_ema"),
        (optimizers.Adam, {"ema_overwrite_frequency": 5}, ValueError, "ema_overwrite_frequency"),
        (optimizers.Adam, {"loss_scale_factor": 128.0}, ValueError, "loss_scale_factor"),
        (optimizers.Adam, {"gradient_accumulation_steps": 4}, ValueError, "gradient_accumulation_steps"),
        (optimizers.Adam, {"bogus": 1}, ValueError, "not recognized"),
        (optimizers.Adam, {"name": 3}, TypeError, "name"),
    ],
)
def test_validation(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(**kwargs)


def test_decay_is_ignored_with_a_warning():
    with pytest.warns(UserWarning, match="decay"):
        optimizers.SGD(decay=0.1)


def test_get_errors():
    with pytest.raises(ValueError, match="adadelta.*sgd"):
        optimizers.get("ftrl")
    with pytest.raises(TypeError, match="optimizer"):
        optimizers.get(3)
    with pytest.raises(ValueError, match="unknown optimizer class"):
        optimizers.deserialize({"class_name": "Ftrl", "config": {}})
    with pytest.raises(ValueError, match="class_name"):
        optimizers.deserialize({"config": {}})


# ----------------------------------------------------------------------------- schedules

SCHEDULE_CONFIGS = {
    "ExponentialDecay": ({"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}, "ExponentialDecay"),
    "PiecewiseConstantDecay": ({"boundaries": [10, 20], "values": [0.1, 0.05, 0.01]}, "PiecewiseConstant"),
    "PolynomialDecay": ({"initial_learning_rate": 0.1, "decay_steps": 10}, "PolynomialDecay"),
    "InverseTimeDecay": ({"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}, "InverseTimeDecay"),
    "CosineDecay": ({"initial_learning_rate": 0.1, "decay_steps": 10}, "CosineDecay"),
    "CosineDecayRestarts": ({"initial_learning_rate": 0.1, "first_decay_steps": 10}, "SGDRDecay"),
}
SCHEDULE_KEYS = {
    "ExponentialDecay": ["initial_learning_rate", "decay_steps", "decay_rate", "staircase", "name"],
    "PiecewiseConstantDecay": ["boundaries", "values", "name"],
    "PolynomialDecay": ["initial_learning_rate", "decay_steps", "end_learning_rate", "power", "cycle", "name"],
    "InverseTimeDecay": ["initial_learning_rate", "decay_steps", "decay_rate", "staircase", "name"],
    "CosineDecay": ["initial_learning_rate", "decay_steps", "alpha", "name", "warmup_target", "warmup_steps"],
    "CosineDecayRestarts": ["initial_learning_rate", "first_decay_steps", "t_mul", "m_mul", "alpha", "name"],
}


@pytest.mark.parametrize("name", list(SCHEDULE_CONFIGS))
def test_schedule_configs(name):
    kwargs, default_name = SCHEDULE_CONFIGS[name]
    schedule = getattr(schedules, name)(**kwargs)
    config = schedule.get_config()
    assert list(config) == SCHEDULE_KEYS[name] and config["name"] == default_name
    again = schedules.deserialize(schedules.serialize(schedule))
    assert type(again) is type(schedule) and again.get_config() == config and again.spec == schedule.spec
    assert schedules.serialize(schedule)["module"] == "keras.optimizers.schedules"
    assert isinstance(schedule(0), np.float32)
    assert schedule(0) == pytest.approx(0.1, rel=1e-7)


@pytest.mark.parametrize(
    ("factory", "error", "match"),
    [
        (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), ValueError, "decay_steps"),
        (lambda: schedules.PolynomialDecay(0.1, -1), ValueError, "decay_steps"),
        (lambda: schedules.InverseTimeDecay(0.1, 0, 0.5), ValueError, "decay_steps"),
        (lambda: schedules.CosineDecay(0.1, 0), ValueError, "decay_steps"),
        (lambda: schedules.CosineDecayRestarts(0.1, 0), ValueError, "first_decay_steps"),
        (lambda: schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2]), ValueError, "length of boundaries"),
        (lambda: schedules.ExponentialDecay("0.1", 10, 0.5), TypeError, "initial_learning_rate"),
        (lambda: schedules.ExponentialDecay(0.1, 10, 0.5, staircase=1), TypeError, "staircase"),
        (lambda: schedules.deserialize({"class_name": "Nope", "config": {}}), ValueError, "unknown schedule"),
    ],
)
def test_schedule_validation(factory, error, match):
    with pytest.raises(error, match=match):
        factory()
