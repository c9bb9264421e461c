"""Activation layers with arguments, as in ``keras.layers``: ``ReLU``, ``LeakyReLU``, ``ELU``, ``Softmax``,
``PReLU`` (a trainable slope)."""

from __future__ import annotations

import math

from cyneuron import initializers as _initializers
from cyneuron.backend.specs import StageSpec
from cyneuron.layers.base import Layer, _named

__all__ = ["ReLU", "LeakyReLU", "ELU", "Softmax", "PReLU"]


def _real(value, name: str, *, minimum: float | None = None, layer: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{name}: expected a float, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        raise ValueError(f"{name} of a {layer} layer cannot be a negative value. Received: {name}={value}")
    return value


class ReLU(Layer):
    """``max(x, 0)`` with Keras' options: ``f(x) = max_value`` for ``x >= max_value``, ``x`` for
    ``threshold < x < max_value``, ``negative_slope * (x - threshold)`` otherwise."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs) -> None:
        if negative_slope is None:
            raise ValueError("negative_slope of a ReLU layer cannot be None or a negative value.")
        if threshold is None:
            raise ValueError("threshold of a ReLU layer cannot be None or a negative value.")
        self.max_value = None if max_value is None else _real(max_value, "max_value", minimum=0.0, layer="ReLU")
        self.negative_slope = _real(negative_slope, "negative_slope", minimum=0.0, layer="ReLU")
        self.threshold = _real(threshold, "threshold", minimum=0.0, layer="ReLU")
        super().__init__(**kwargs)

    def stage_spec(self) -> StageSpec:
        attrs = {
            "activation": "relu",
            "negative_slope": self.negative_slope,
            "max_value": self.max_value,
            "threshold": self.threshold,
        }
        return self._spec("activation", attrs)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class LeakyReLU(Layer):
    """``x`` for ``x >= 0``, ``negative_slope * x`` otherwise (default slope 0.3, as Keras)."""

    def __init__(self, negative_slope=0.3, **kwargs) -> None:
        if "alpha" in kwargs:  # Keras' deprecated name
            negative_slope = kwargs.pop("alpha")
        if negative_slope is None:
            raise ValueError("The negative_slope value of a Leaky ReLU layer cannot be None or negative value.")
        self.negative_slope = _real(negative_slope, "negative_slope", minimum=0.0, layer="Leaky ReLU")
        super().__init__(**kwargs)

    def stage_spec(self) -> StageSpec:
        return self._spec("activation", {"activation": "leaky_relu", "negative_slope": self.negative_slope})

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(Layer):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise."""

    def __init__(self, alpha=1.0, **kwargs) -> None:
        self.alpha = _real(alpha, "alpha", layer="ELU")
        super().__init__(**kwargs)

    def stage_spec(self) -> StageSpec:
        return self._spec("activation", {"activation": "elu", "alpha": self.alpha})

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(Layer):
    """Softmax over ``axis`` (the last axis; other axes are not supported yet)."""

    def __init__(self, axis=-1, **kwargs) -> None:
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"axis: expected an int, got {type(axis).__name__}")
        self.axis = axis
        super().__init__(**kwargs)

    def _validate_input(self, features: tuple[int, ...]) -> None:
        if self.axis not in (-1, len(features)):
            raise ValueError(f"{self.name}: only softmax over the last axis is supported, got axis={self.axis}")

    def stage_spec(self) -> StageSpec:
        return self._spec("activation", {"activation": "softmax"})

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class PReLU(Layer):
    """Parametric ReLU: ``x`` for ``x > 0``, ``alpha * x`` otherwise, ``alpha`` a trainable array of the
    per-sample shape (``alpha_initializer="Zeros"``, as Keras), shared (size 1) along ``shared_axes``
    (1-based input axes, e.g. ``[1, 2]`` for one slope per channel of an image).

    ``alpha_regularizer`` and ``alpha_constraint`` are not supported (only None)."""

    def __init__(
        self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None, **kwargs
    ) -> None:
        for key, value in (("alpha_regularizer", alpha_regularizer), ("alpha_constraint", alpha_constraint)):
            if value is not None:
                raise ValueError(f"{key}: not supported by cyneuron (only None)")
        self.alpha_initializer = _named(_initializers.get, alpha_initializer, "alpha_initializer")
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [shared_axes]
            for axis in axes:
                if isinstance(axis, bool) or not isinstance(axis, int) or axis < 1:
                    raise ValueError(f"shared_axes: expected input axes >= 1 (0 is the batch), got {shared_axes!r}")
            self.shared_axes = axes
        super().__init__(**kwargs)
        self.alpha = None

    def _validate_input(self, features: tuple[int, ...]) -> None:
        if self.shared_axes and max(self.shared_axes) > len(features):
            rank = len(features) + 1
            raise ValueError(f"{self.name}: shared_axes {self.shared_axes} out of range for inputs of rank {rank}")

    def build(self, input_shape) -> None:
        shape = list(tuple(input_shape)[1:])
        for axis in self.shared_axes or ():
            shape[axis - 1] = 1
        self.alpha = self.add_weight(tuple(shape), self.alpha_initializer, name="alpha")
        self.built = True

    def stage_spec(self) -> StageSpec:
        return self._spec("prelu", {}, (self.alpha,))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "alpha_initializer": _initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": None,
            "alpha_constraint": None,
            "shared_axes": self.shared_axes,
        }
