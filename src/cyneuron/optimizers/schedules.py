"""Learning-rate schedules, as in ``keras.optimizers.schedules``.

A schedule maps the optimizer's step count (the steps completed before the update) to a
learning rate. Each built-in schedule describes itself to the backend as a ``ScheduleSpec``
(``spec``), evaluated by ``cyneuron.backend.reference.optimizers.learning_rate_at`` here and
by the compiled network during training; arbitrary Python subclasses cannot run there, so an
optimizer accepts only schedules with a ``spec``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cyneuron.backend.reference.optimizers import learning_rate_at
from cyneuron.backend.specs import ScheduleSpec

__all__ = [
    "LearningRateSchedule",
    "ExponentialDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "InverseTimeDecay",
    "CosineDecay",
    "CosineDecayRestarts",
    "serialize",
    "deserialize",
]


def _number(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return value


def _steps(name: str, value: Any) -> float:
    _number(name, value)
    if value <= 0:
        raise ValueError(f"Argument `{name}` must be > 0. Received: {name}={value}")
    return value


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__} {value!r}")
    return bool(value)


class LearningRateSchedule:
    """Base class: ``schedule(step)`` is the learning rate after ``step`` completed steps."""

    @property
    def spec(self) -> ScheduleSpec:
        """The backend's description of the schedule."""
        raise TypeError(
            f"{type(self).__name__}: only cyneuron's built-in schedules can drive training "
            "(the compiled training step cannot call Python)"
        )

    def __call__(self, step) -> np.float32:
        # Keras evaluates schedules in float32 (the dtype of its initial learning rate tensor).
        return np.float32(learning_rate_at(self.spec, step))

    def get_config(self) -> dict:
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `get_config()` in order to be serializable."
        )

    @classmethod
    def from_config(cls, config: dict) -> LearningRateSchedule:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({args})"


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``, the exponent floored if ``staircase``."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "ExponentialDecay",
    ):
        self.initial_learning_rate = _number("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _steps("decay_steps", decay_steps)
        self.decay_rate = _number("decay_rate", decay_rate)
        self.staircase = _flag("staircase", staircase)
        self.name = name

    @property
    def spec(self) -> ScheduleSpec:
        values = (self.initial_learning_rate, self.decay_steps, self.decay_rate, self.staircase)
        return ScheduleSpec("exponential_decay", tuple(float(v) for v in values))

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` up to and including step ``boundaries[0]``, ``values[1]`` up to ``boundaries[1]`` ...

    Boundaries compare with the integer step after truncation, as Keras casts them to it.
    """

    def __init__(self, boundaries: list, values: list, name: str = "PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries} of length {len(boundaries)}, "
                f"and values={values} of length {len(values)}."
            )
        for i, b in enumerate(boundaries):
            _number(f"boundaries[{i}]", b)
        for i, v in enumerate(values):
            _number(f"values[{i}]", v)
        self.boundaries = boundaries
        self.values = values
        self.name = name

    @property
    def spec(self) -> ScheduleSpec:
        return ScheduleSpec("piecewise_constant_decay", tuple(float(v) for v in [*self.boundaries, *self.values]))

    def get_config(self) -> dict:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """From ``initial_learning_rate`` to ``end_learning_rate`` as ``(1 - step / decay_steps) ** power``.

    With ``cycle`` the horizon grows to the next multiple of ``decay_steps`` instead of
    holding ``end_learning_rate`` after ``decay_steps``.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
        name: str = "PolynomialDecay",
    ):
        self.initial_learning_rate = _number("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _steps("decay_steps", decay_steps)
        self.end_learning_rate = _number("end_learning_rate", end_learning_rate)
        self.power = _number("power", power)
        self.cycle = _flag("cycle", cycle)
        self.name = name

    @property
    def spec(self) -> ScheduleSpec:
        values = (self.initial_learning_rate, self.decay_steps, self.end_learning_rate, self.power, self.cycle)
        return ScheduleSpec("polynomial_decay", tuple(float(v) for v in values))

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``, the ratio floored if ``staircase``."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "InverseTimeDecay",
    ):
        self.initial_learning_rate = _number("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _steps("decay_steps", decay_steps)
        self.decay_rate = _number("decay_rate", decay_rate)
        self.staircase = _flag("staircase", staircase)
        self.name = name

    @property
    def spec(self) -> ScheduleSpec:
        values = (self.initial_learning_rate, self.decay_steps, self.decay_rate, self.staircase)
        return ScheduleSpec("inverse_time_decay", tuple(float(v) for v in values))

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class CosineDecay(LearningRateSchedule):
    """Cosine decay to ``alpha`` times the start over ``decay_steps``, after an optional linear warmup.

    With ``warmup_target`` set, the rate first rises linearly from ``initial_learning_rate`` to
    ``warmup_target`` over ``warmup_steps``, then decays from ``warmup_target``.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        alpha: float = 0.0,
        name: str = "CosineDecay",
        warmup_target: float | None = None,
        warmup_steps: int = 0,
    ):
        self.initial_learning_rate = _number("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _steps("decay_steps", decay_steps)
        self.alpha = _number("alpha", alpha)
        self.name = name
        self.warmup_target = None if warmup_target is None else _number("warmup_target", warmup_target)
        self.warmup_steps = _number("warmup_steps", warmup_steps)
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps: expected a number >= 0, got {warmup_steps!r}")

    @property
    def spec(self) -> ScheduleSpec:
        has_warmup = self.warmup_target is not None
        values = (
            self.initial_learning_rate,
            self.decay_steps,
            self.alpha,
            has_warmup,
            self.warmup_target if has_warmup else 0.0,
            self.warmup_steps,
        )
        return ScheduleSpec("cosine_decay", tuple(float(v) for v in values))

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """SGDR: cosine decays restarted after ``first_decay_steps``, then ``t_mul`` times longer each period.

    Each restart begins at ``m_mul`` times the previous period's starting rate.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        first_decay_steps: int,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
        name: str = "SGDRDecay",
    ):
        self.initial_learning_rate = _number("initial_learning_rate", initial_learning_rate)
        self.first_decay_steps = _steps("first_decay_steps", first_decay_steps)
        self._t_mul = _number("t_mul", t_mul)
        if t_mul <= 0:
            raise ValueError(f"t_mul: expected a number > 0, got {t_mul!r}")
        self._m_mul = _number("m_mul", m_mul)
        self.alpha = _number("alpha", alpha)
        self.name = name

    @property
    def spec(self) -> ScheduleSpec:
        values = (self.initial_learning_rate, self.first_decay_steps, self._t_mul, self._m_mul, self.alpha)
        return ScheduleSpec("cosine_decay_restarts", tuple(float(v) for v in values))

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self._t_mul,
            "m_mul": self._m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


_CLASSES: dict[str, type[LearningRateSchedule]] = {
    cls.__name__: cls
    for cls in (
        ExponentialDecay,
        PiecewiseConstantDecay,
        PolynomialDecay,
        InverseTimeDecay,
        CosineDecay,
        CosineDecayRestarts,
    )
}


def serialize(learning_rate_schedule: LearningRateSchedule) -> dict:
    """Keras' form: ``{"module", "class_name", "config", "registered_name"}`` (JSON-able)."""
    if not isinstance(learning_rate_schedule, LearningRateSchedule):
        raise TypeError(f"serialize: expected a LearningRateSchedule, got {type(learning_rate_schedule).__name__}")
    return {
        "module": "keras.optimizers.schedules",
        "class_name": type(learning_rate_schedule).__name__,
        "config": learning_rate_schedule.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict, custom_objects: dict | None = None) -> LearningRateSchedule:
    """Inverse of ``serialize``; accepts Keras' dicts and ``{"class_name", "config"}``."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"schedule: expected a dict with 'class_name' and 'config', got {config!r}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"schedule: unknown schedule class {name!r}; expected one of: {', '.join(_CLASSES)}")
    return cls.from_config(dict(config.get("config") or {}))


# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
