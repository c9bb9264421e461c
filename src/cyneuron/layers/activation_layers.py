"""Activation layers with arguments, as in ``keras.layers``: ``ReLU``, ``LeakyReLU``, ``ELU``, ``Softmax``,
``PReLU`` (a trainable slope)."""

from __future__ import annotations

import math

import numpy as np

from cyneuron import activations as _activations
from cyneuron import initializers as _initializers
from cyneuron import regularizers as _regularizers
from cyneuron.backend.specs import StageSpec
from cyneuron.layers.base import Layer, _named, unsupported_options
from cyneuron.utils import _float_array

__all__ = ["ReLU", "LeakyReLU", "ELU", "Softmax", "PReLU"]


def _real(value, name: str, *, minimum: float | None = None, message: str = "") -> float:
    """A finite float (at least ``minimum``); ``message`` words the ValueError, as Keras'."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{name}: expected a float, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        raise ValueError(f"{message or f'{name} cannot be a negative value.'} Received: {name}={value}")
    return value


class ElementwiseLayer(Layer):
    """A weightless activation layer: called on data, any shape works (Keras'), through the layer's
    activation function (``_function``); in a model it is an activation stage."""

    def _function(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _call(self, inputs, training: bool) -> np.ndarray:
        x = _float_array(inputs, np.dtype(self.dtype), "inputs")
        if x.ndim >= 2 and not self.built:
            super()._call(x, training)  # builds the layer (shape checks, names) as the first call of any layer
        return self._function(x)


class ReLU(ElementwiseLayer):
    """``max(x, 0)`` with Keras' options: ``f(x) = max_value`` for ``x >= max_value``, ``x`` for
    ``threshold < x < max_value``, ``negative_slope * (x - threshold)`` otherwise."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs) -> None:
        never = "of a ReLU layer cannot be None or a negative value."
        if negative_slope is None:
            raise ValueError(f"negative_slope {never} Received: negative_slope=None")
        if threshold is None:
            raise ValueError(f"threshold {never} Received: threshold=None")
        cap = "max_value of a ReLU layer cannot be a negative value."
        self.max_value = None if max_value is None else _real(max_value, "max_value", minimum=0.0, message=cap)
        self.negative_slope = _real(negative_slope, "negative_slope", minimum=0.0, message=f"negative_slope {never}")
        self.threshold = _real(threshold, "threshold", minimum=0.0, message=f"threshold {never}")
        super().__init__(**kwargs)

    def _function(self, x):
        return _activations.relu(x, self.negative_slope, self.max_value, self.threshold)

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


class LeakyReLU(ElementwiseLayer):
    """``x`` for ``x >= 0``, ``negative_slope * x`` otherwise (default slope 0.3, as Keras)."""

    def __init__(self, negative_slope=0.3, **kwargs) -> None:
        if "alpha" in kwargs:  # Keras' deprecated name
            negative_slope = kwargs.pop("alpha")
        message = "The negative_slope value of a Leaky ReLU layer cannot be None or negative value. Expected a float."
        if negative_slope is None:
            raise ValueError(f"{message} Received: negative_slope=None")
        self.negative_slope = _real(negative_slope, "negative_slope", minimum=0.0, message=message)
        super().__init__(**kwargs)

    def _function(self, x):
        return _activations.leaky_relu(x, self.negative_slope)

    def stage_spec(self) -> StageSpec:
        return self._spec("activation", {"activation": "leaky_relu", "negative_slope": self.negative_slope})

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(ElementwiseLayer):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise."""

    def __init__(self, alpha=1.0, **kwargs) -> None:
        self.alpha = _real(alpha, "alpha", message="alpha of an ELU layer must be finite.")
        super().__init__(**kwargs)

    def _function(self, x):
        return _activations.elu(x, self.alpha)

    def stage_spec(self) -> StageSpec:
        return self._spec("activation", {"activation": "elu", "alpha": self.alpha})

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(ElementwiseLayer):
    """Softmax over ``axis`` (the last axis; other axes are not supported yet)."""

    def __init__(self, axis=-1, **kwargs) -> None:
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"axis: expected an int, got {type(axis).__name__}")
        self.axis = axis
        super().__init__(**kwargs)

    def _validate_input(self, features: tuple[int, ...]) -> None:
        if self.axis not in (-1, len(features)):
            raise ValueError(f"{self.name}: only softmax over the last axis is supported, got axis={self.axis}")

    def _function(self, x):
        return _activations.softmax(x, axis=self.axis)  # on data any axis works; in a model the last

    def stage_spec(self) -> StageSpec:
        return self._spec("activation", {"activation": "softmax"})

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class PReLU(Layer):
    """Parametric ReLU: ``x`` for ``x > 0``, ``alpha * x`` otherwise, ``alpha`` a trainable array of the
    per-sample shape (``alpha_initializer="Zeros"``, as Keras), shared (size 1) along ``shared_axes``
    (1-based input axes, e.g. ``[1, 2]`` for one slope per channel of an image).

    ``alpha_constraint`` is not supported (only None)."""

    def __init__(
        self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None, **kwargs
    ) -> None:
        unsupported_options("PReLU", alpha_constraint=alpha_constraint)
        self.alpha_regularizer = _named(_regularizers.get, alpha_regularizer, "alpha_regularizer")
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
        self.alpha = self.add_weight(
            tuple(shape), self.alpha_initializer, regularizer=self.alpha_regularizer, name="alpha"
        )
        self.built = True

    def stage_spec(self) -> StageSpec:
        return self._spec("prelu", {}, (self.alpha,))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "alpha_initializer": _initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": _regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": None,
            "shared_axes": self.shared_axes,
        }
