"""Optimizers, as in ``keras.optimizers``: stochastic gradient descent.

``SGD`` follows Keras 3's update rules exactly (the backend applies them):
plain ``w -= lr * g``; momentum ``v = m * v - lr * g; w += v``; Nesterov
``v = m * v - lr * g; w += m * v - lr * g``. The velocities live in the model's
built network; ``model.optimizer_state()`` exposes them.

``learning_rate`` (and ``momentum`` / ``nesterov``) may be changed while
training, by user code or callbacks such as ``LearningRateScheduler``: ``fit``
hands the new values to the network at the start of the next epoch (and right
after any batch callback that changed them).
"""

from __future__ import annotations

import math

import numpy as np

from cyneuron.backend.specs import OptimizerSpec, ScheduleSpec

__all__ = ["Optimizer", "SGD", "get", "serialize", "deserialize"]


def _check_learning_rate(value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"learning_rate: expected a float, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"learning_rate: expected a finite float > 0, got {value}")
    return value


def _check_momentum(value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"momentum: expected a float, got {type(value).__name__}")
    value = float(value)
    if not (0.0 <= value < 1.0):
        raise ValueError(f"momentum: expected a float in [0, 1), got {value}")
    return value


def _check_nesterov(value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"nesterov: expected a bool, got {type(value).__name__} {value!r}")
    return bool(value)


class Optimizer:
    """Base class of cyneuron optimizers."""

    name: str

    def get_config(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict) -> Optimizer:
        return cls(**config)


class SGD(Optimizer):
    """Gradient descent, with optional (Nesterov) momentum — Keras 3's ``SGD``.

    Args:
        learning_rate: finite float > 0 (default 0.01).
        momentum: float in ``[0, 1)`` (default 0.0).
        nesterov: bool (default False).
        name: the optimizer's name.

    ``iterations`` counts the training steps taken with this optimizer.
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False, name: str = "SGD"):
        self._learning_rate = _check_learning_rate(learning_rate)
        self._momentum = _check_momentum(momentum)
        self._nesterov = _check_nesterov(nesterov)
        if not isinstance(name, str):
            raise TypeError(f"name: expected a string, got {type(name).__name__}")
        self.name = name
        self.iterations = 0
        # Bumped on every hyperparameter change so fit can tell whether the network needs the new values.
        self._version = 0
        # True once a model has trained with it (Keras builds the optimizer's variables then).
        self.built = False

    @property
    def learning_rate(self) -> float:
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self._learning_rate = _check_learning_rate(value)
        self._version += 1

    @property
    def momentum(self) -> float:
        return self._momentum

    @momentum.setter
    def momentum(self, value: float) -> None:
        self._momentum = _check_momentum(value)
        self._version += 1

    @property
    def nesterov(self) -> bool:
        return self._nesterov

    @nesterov.setter
    def nesterov(self, value: bool) -> None:
        self._nesterov = _check_nesterov(value)
        self._version += 1

    @property
    def spec(self) -> OptimizerSpec:
        """The backend's description of the current hyperparameters."""
        hyper = {"momentum": self._momentum, "nesterov": float(self._nesterov)}
        return OptimizerSpec("sgd", ScheduleSpec("constant", (self._learning_rate,)), hyper)

    def optimizer_variable_count(self, weight_sizes: list[int], itemsize: int) -> tuple[int, int]:
        """(count, bytes) of Keras' "Optimizer params": the iteration counter (int64), the learning
        rate, and one momentum per weight when momentum > 0."""
        count, nbytes = 2, 8 + itemsize
        if self._momentum != 0:
            count += sum(weight_sizes)
            nbytes += sum(weight_sizes) * itemsize
        return count, nbytes

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "learning_rate": self._learning_rate,
            "momentum": self._momentum,
            "nesterov": self._nesterov,
        }

    @classmethod
    def from_config(cls, config: dict) -> SGD:
        config = dict(config)
        # Keras 3 configs list many options cyneuron does not implement; accept them at their no-op values only.
        for key, neutral in (
            ("weight_decay", None),
            ("clipnorm", None),
            ("global_clipnorm", None),
            ("clipvalue", None),
            ("use_ema", False),
            ("ema_momentum", None),
            ("ema_overwrite_frequency", None),
            ("loss_scale_factor", None),
            ("gradient_accumulation_steps", None),
        ):
            if key in config:
                value = config.pop(key)
                if value != neutral and not (key == "ema_momentum" and not config.get("use_ema", False)):
                    raise ValueError(f"SGD: {key}={value!r} is not supported")
        if isinstance(config.get("learning_rate"), dict):
            raise ValueError("SGD: learning-rate schedules are not supported; use a float")
        return cls(**config)

    def __repr__(self) -> str:
        return (
            f"SGD(learning_rate={self._learning_rate!r}, momentum={self._momentum!r}, "
            f"nesterov={self._nesterov!r}, name={self.name!r})"
        )


_CLASSES = {"SGD": SGD}


def get(identifier) -> Optimizer:
    """An optimizer from ``"sgd"`` (a new ``SGD()``), a config dict, or an instance (returned as is)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, str):
        if identifier.strip().lower() == "sgd":
            return SGD()
        raise ValueError(f"optimizer: unknown optimizer {identifier!r}; expected one of: sgd (or an SGD instance)")
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise TypeError(f"optimizer: expected 'sgd' or an SGD instance, got {type(identifier).__name__}")


def serialize(optimizer: Optimizer) -> dict:
    """``{"class_name": "SGD", "config": {...}}`` (JSON-able)."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict) -> Optimizer:
    """Inverse of ``serialize``; also accepts Keras' ``{"module", "class_name", "config", ...}`` dicts."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"optimizer: expected a dict with 'class_name' and 'config', got {config!r}")
    name = config["class_name"]
    cls = _CLASSES.get(name) or (SGD if isinstance(name, str) and name.lower() == "sgd" else None)
    if cls is None:
        raise ValueError(f"optimizer: unknown optimizer class {name!r}; expected one of: SGD")
    return cls.from_config(config.get("config") or {})
