"""The ``Optimizer`` base class: Keras 3's common arguments, validation, config and the backend spec.

An optimizer here is configuration only: the update rules run in the backend
(``cyneuron.backend.reference.optimizers`` documents them; the compiled network applies them),
which reads ``optimizer.spec``. The slots (momentum, velocity ...) live in the model's built
network. Hyperparameters may be changed while training, by user code or callbacks such as
``LearningRateScheduler``: every change bumps ``_version``, which ``fit`` watches to hand the
new spec to the network.

Supported of Keras' common arguments: ``weight_decay``, ``clipnorm``, ``clipvalue``,
``global_clipnorm`` and ``name``. ``use_ema``, ``ema_overwrite_frequency``,
``loss_scale_factor`` and ``gradient_accumulation_steps`` are accepted at their neutral
values only (``False`` / ``None``; ``ema_momentum`` is then unused and any value in [0, 1]
is kept for the config), and raise ValueError otherwise.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from typing import Any, ClassVar

import numpy as np

from cyneuron import config as _config
from cyneuron.backend.reference import optimizers as _reference
from cyneuron.backend.specs import OptimizerSpec, ScheduleSpec
from cyneuron.optimizers import schedules as _schedules

__all__ = ["Optimizer"]

# Keras' iteration counter is an int32 variable on JAX (int64 on TensorFlow).
_ITERATION_BYTES = 4

_name_counts: Counter[str] = Counter()


def _auto_name(class_name: str) -> str:
    """Keras' default names: snake_case of the class, then ``_1``, ``_2`` ... for later instances."""
    base = re.sub(r"([a-z])([A-Z])", r"\1_\2", re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)).lower()
    _name_counts[base] += 1
    count = _name_counts[base]
    return base if count == 1 else f"{base}_{count - 1}"


# ----------------------------------------------------------------------------- validation


def _is_number(value: Any) -> bool:
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))


def check_float(
    name: str, value: Any, low: float = -math.inf, high: float = math.inf, *, open_low=False, open_high=False
):
    """``value`` as a finite float in the interval, else TypeError / ValueError naming ``name``."""
    if not _is_number(value):
        raise TypeError(f"{name}: expected a float, got {type(value).__name__} {value!r}")
    value = float(value)
    below = value <= low if open_low else value < low
    above = value >= high if open_high else value > high
    if not math.isfinite(value) or below or above:
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        raise ValueError(f"{name}: expected a finite float in {interval}, got {value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _optional(check):
    def optional(name: str, value: Any):
        return None if value is None else check(name, value)

    return optional


def unit_interval(name: str, value: Any) -> float:
    return check_float(name, value, 0.0, 1.0)


def unit_interval_open(name: str, value: Any) -> float:
    """[0, 1): a decay rate whose bias correction ``1 - beta**t`` must not vanish."""
    return check_float(name, value, 0.0, 1.0, open_high=True)


def non_negative(name: str, value: Any) -> float:
    return check_float(name, value, 0.0)


_optional_non_negative = _optional(non_negative)


class Hyper:
    """A validated hyperparameter attribute; setting it bumps the optimizer's ``_version``."""

    def __init__(self, check):
        self.check = check

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return obj._hyper[self.name]

    def __set__(self, obj, value) -> None:
        obj._hyper[self.name] = self.check(self.name, value)
        obj._version += 1


# ----------------------------------------------------------------------------- the base class


class Optimizer:
    """Base class of cyneuron optimizers, with Keras 3's common arguments.

    Subclasses set ``kind`` (the ``OptimizerSpec.kind``) and ``_own`` (their hyperparameter
    names, in Keras' config order, each a ``Hyper`` attribute and an ``OptimizerSpec.hyper``
    key), and call ``super().__init__`` first.

    Attributes:
        iterations: training steps taken (the model advances it).
        built: True once a model has trained with it (Keras builds its variables then).
    """

    kind: ClassVar[str] = ""
    _own: ClassVar[tuple[str, ...]] = ()

    weight_decay = Hyper(_optional_non_negative)
    clipnorm = Hyper(_optional_non_negative)
    clipvalue = Hyper(_optional_non_negative)
    global_clipnorm = Hyper(_optional_non_negative)

    def __init__(
        self,
        learning_rate: float | _schedules.LearningRateSchedule,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs,
    ):
        self._hyper: dict[str, Any] = {}
        self._version = 0
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.", stacklevel=2)
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        if name is None:
            name = _auto_name(type(self).__name__)
        if not isinstance(name, str):
            raise TypeError(f"name: expected a string, got {type(name).__name__}")
        self.name = name
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        if sum(value is not None for value in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}"
            )
        # Accepted at their neutral values only (see the module docstring).
        self.use_ema = check_bool("use_ema", use_ema)
        if self.use_ema:
            raise ValueError("use_ema=True is not supported (no weight moving average); use use_ema=False")
        self.ema_momentum = unit_interval("ema_momentum", ema_momentum)
        for arg, value in (
            ("ema_overwrite_frequency", ema_overwrite_frequency),
            ("loss_scale_factor", loss_scale_factor),
            ("gradient_accumulation_steps", gradient_accumulation_steps),
        ):
            if value is not None:
                raise ValueError(f"{arg}={value!r} is not supported; use {arg}=None")
        self.ema_overwrite_frequency = None
        self.loss_scale_factor = None
        self.gradient_accumulation_steps = None
        # Keras keeps a float learning rate in a floatx variable, so it reads back rounded.
        self._lr_dtype = np.dtype(_config.floatx())
        self._learning_rate: np.floating | _schedules.LearningRateSchedule = self._check_learning_rate(learning_rate)
        self.iterations = 0
        self.built = False

    # ------------------------------------------------------------------ learning rate

    def _check_learning_rate(self, value):
        if isinstance(value, _schedules.LearningRateSchedule):
            value.spec  # noqa: B018  (raises TypeError for schedules the backend cannot run)
            return value
        if not _is_number(value):
            raise TypeError(
                f"learning_rate: expected a float or a LearningRateSchedule, got {type(value).__name__} {value!r}"
            )
        value = float(value)
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"learning_rate: expected a finite float > 0, got {value!r}")
        return self._lr_dtype.type(value)

    @property
    def learning_rate(self) -> np.floating:
        """The current learning rate (a floatx scalar): the schedule's value at ``iterations`` for a schedule."""
        if isinstance(self._learning_rate, _schedules.LearningRateSchedule):
            return self._lr_dtype.type(self._learning_rate(self.iterations))
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float | _schedules.LearningRateSchedule) -> None:
        if isinstance(self._learning_rate, _schedules.LearningRateSchedule) and not isinstance(
            value, _schedules.LearningRateSchedule
        ):
            raise TypeError(
                "This optimizer was created with a `LearningRateSchedule` object as its `learning_rate` "
                "constructor argument, hence its learning rate is not settable. If you need the learning rate "
                "to be settable, you should instantiate the optimizer with a float `learning_rate` argument."
            )
        self._learning_rate = self._check_learning_rate(value)
        self._version += 1

    # ------------------------------------------------------------------ backend view

    @property
    def spec(self) -> OptimizerSpec:
        """The backend's description of the current hyperparameters."""
        if isinstance(self._learning_rate, _schedules.LearningRateSchedule):
            schedule = self._learning_rate.spec
        else:
            schedule = ScheduleSpec("constant", (float(self._learning_rate),))
        hyper = {key: float(self._hyper[key]) for key in _reference.HYPER_KEYS[self.kind]}
        return OptimizerSpec(
            kind=self.kind,
            learning_rate=schedule,
            hyper=hyper,
            weight_decay=self.weight_decay or 0.0,
            clipnorm=self.clipnorm or 0.0,
            clipvalue=self.clipvalue or 0.0,
            global_clipnorm=self.global_clipnorm or 0.0,
        )

    def slot_specs(self) -> tuple[tuple[str, float], ...]:
        """Per-weight slots ``(Keras' variable name, initial value)`` for the current hyperparameters."""
        return _reference.slot_specs(self.spec)

    def scalar_specs(self) -> tuple[tuple[str, float], ...]:
        """Per-optimizer scalar state beyond ``iterations`` ``(name, initial value)`` (Nadam's u_product)."""
        return _reference.scalar_specs(self.spec)

    def optimizer_variable_count(self, weight_sizes: list[int], itemsize: int) -> tuple[int, int]:
        """``(count, bytes)`` of Keras' optimizer variables over trainable weights of these sizes.

        What ``model.summary()`` prints on its "Optimizer params" line (Keras on JAX): the int32
        iteration counter, the floatx learning-rate variable unless the learning rate is a
        schedule, the slots (``itemsize`` bytes per element) and the scalar state.
        """
        slots = len(self.slot_specs())
        scalars = len(self.scalar_specs())
        total = sum(int(size) for size in weight_sizes)
        count = 1 + slots * total + scalars
        size = _ITERATION_BYTES + (slots * total + scalars) * int(itemsize)
        if not isinstance(self._learning_rate, _schedules.LearningRateSchedule):
            count += 1
            size += self._lr_dtype.itemsize
        return count, size

    # ------------------------------------------------------------------ config

    def get_config(self) -> dict:
        """Keras 3's config keys, in its order; a schedule serializes as its ``serialize`` dict."""
        if isinstance(self._learning_rate, _schedules.LearningRateSchedule):
            learning_rate: Any = _schedules.serialize(self._learning_rate)
        else:
            learning_rate = float(self._learning_rate)
        config = {
            "name": self.name,
            "learning_rate": learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }
        config.update({key: self._hyper[key] for key in self._own})
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Optimizer:
        """Inverse of ``get_config``; also takes Keras' own optimizer configs."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = _schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items() if value is not None)
        return f"{type(self).__name__}({args})"
