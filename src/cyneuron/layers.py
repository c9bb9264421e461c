"""Layers, as in ``keras.layers``: ``Dense``, ``Activation``, ``Flatten``, ``Input`` / ``InputLayer``.

Layers hold their weights (``kernel`` ``(in, units)``, ``bias`` ``(units,)``, as
Keras) as NumPy arrays owned by the layer. A model's built network reads and
updates these very arrays in place, so ``set_weights`` copies into them and
never replaces them.

Names are unique per process as in Keras (``dense``, ``dense_1``, ...).
Each layer has ``get_config()`` / ``from_config()``; ``deserialize`` rebuilds a
layer from ``{"class_name": ..., "config": ...}``.
"""

from __future__ import annotations

import collections
import math
import re
import threading

import numpy as np

from cyneuron import activations as _activations
from cyneuron import backend as _backend
from cyneuron import config as _config
from cyneuron import initializers as _initializers
from cyneuron.backend.base import Stage
from cyneuron.utils import _as_array, _check_int, _float_array

__all__ = ["Layer", "Dense", "Activation", "Flatten", "InputLayer", "Input", "serialize", "deserialize"]

_UIDS: collections.Counter = collections.Counter()
_UID_LOCK = threading.Lock()

# BLAS takes 32-bit dimensions: a layer (or input) wider than this cannot be computed, so it is refused
# when declared, before 8-16 GB of weights are allocated for it.
MAX_WIDTH = 2**31 - 1


def unique_name(prefix: str) -> str:
    """``prefix``, then ``prefix_1``, ``prefix_2`` ... (Keras' per-session automatic names)."""
    with _UID_LOCK:
        count = _UIDS[prefix]
        _UIDS[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _check_name(name, default_prefix: str) -> str:
    if name is None:
        return unique_name(default_prefix)
    if not isinstance(name, str) or not name:
        raise TypeError(f"name: expected a non-empty string, got {name!r}")
    return name


def _dtype_name(dtype) -> str | None:
    """A float dtype name from a name, numpy dtype or Keras ``DTypePolicy`` config; None stays None."""
    if dtype is None:
        return None
    if isinstance(dtype, dict):  # Keras 3 serializes {"class_name": "DTypePolicy", "config": {"name": "float32"}}
        dtype = (dtype.get("config") or {}).get("name")
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise TypeError(f"dtype: expected 'float32' or 'float64', got {dtype!r}") from None
    if name not in ("float32", "float64"):
        raise ValueError(f"dtype: expected 'float32' or 'float64', got {name!r}")
    return name


def _feature_shape(shape, name: str) -> tuple[int, ...]:
    """A per-sample shape (no batch axis) of positive ints."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"{name}: expected a tuple of positive ints, got {shape!r}") from None
    if not dims:
        raise ValueError(f"{name}: expected at least one dimension, got {shape!r}")
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise ValueError(f"{name}: every dimension must be a positive int, got {shape!r}")
    dims = tuple(int(d) for d in dims)
    width = math.prod(dims)
    if width > MAX_WIDTH:
        raise ValueError(
            f"{name}: {dims} is {width} features per sample, more than 2**31 - 1 (BLAS' 32-bit dimensions)"
        )
    return dims


def _batch_shape_to_features(batch_shape, name: str) -> tuple[int, ...]:
    try:
        dims = tuple(batch_shape)
    except TypeError:
        raise TypeError(f"{name}: expected a tuple like (None, features), got {batch_shape!r}") from None
    if len(dims) < 2:
        raise ValueError(f"{name}: expected (batch, features...), got {batch_shape!r}")
    if dims[0] is not None:
        raise ValueError(f"{name}: a fixed batch size is not supported; use None as the first entry")
    return _feature_shape(dims[1:], name)


def _named(getter, value, argument: str):
    """``getter(value)`` with errors naming the layer argument (``kernel_initializer: unknown ...``)."""
    try:
        return getter(value)
    except (ValueError, TypeError) as error:
        message = str(error)
        prefix = message.split(":", 1)[0]
        detail = message.split(":", 1)[1].strip() if prefix.isidentifier() else message
        raise type(error)(f"{argument}: {detail}") from None


# Keras configs carry options cyneuron does not implement; they are accepted only at these no-op values.
_NEUTRAL_KEYS = {
    "trainable": True,
    "kernel_regularizer": None,
    "bias_regularizer": None,
    "activity_regularizer": None,
    "kernel_constraint": None,
    "bias_constraint": None,
    "lora_rank": None,
    "lora_alpha": None,
    "quantization_config": None,
    "sparse": False,
    "ragged": False,
    "optional": False,
    "autocast": True,
}


def _strip_neutral(cls_name: str, config: dict) -> dict:
    config = dict(config)
    for key, neutral in _NEUTRAL_KEYS.items():
        if key in config:
            value = config.pop(key)
            if value != neutral:
                raise ValueError(f"{cls_name}: {key}={value!r} is not supported")
    if "batch_input_shape" in config:  # Keras 2 style
        shape = config.pop("batch_input_shape")
        if shape is not None:
            config["input_shape"] = _batch_shape_to_features(shape, f"{cls_name}.batch_input_shape")
    return config


class Layer:
    """Base class: a name, an optional explicit dtype, an optional input shape, weights once built."""

    def __init__(self, name: str | None = None, dtype=None, input_shape=None, input_dim=None) -> None:
        self.name = _check_name(name, _snake_case(type(self).__name__))
        self._dtype = _dtype_name(dtype)
        if input_dim is not None:
            if input_shape is not None:
                raise ValueError("input_dim: give input_shape or input_dim, not both")
            input_dim = _check_int(input_dim, "input_dim", 1)
            if input_dim > MAX_WIDTH:
                raise ValueError(f"input_dim: expected at most 2**31 - 1 (BLAS' 32-bit dimensions), got {input_dim}")
            input_shape = (input_dim,)
        self._input_shape_arg = None if input_shape is None else _feature_shape(input_shape, "input_shape")
        self.built = False
        self._build_shape: tuple[int, ...] | None = None  # per-sample input shape once built

    # --------------------------------------------------------------- weights
    @property
    def weights(self) -> list[np.ndarray]:
        """The layer's weight arrays (the live arrays, not copies); empty until built."""
        return []

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        return self.weights

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        return []

    @property
    def trainable(self) -> bool:
        return True

    @trainable.setter
    def trainable(self, value: bool) -> None:
        if not value:
            raise NotImplementedError(f"{self.name}: freezing layers (trainable=False) is not supported by cyneuron")

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights, Keras order (kernel, bias)."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Copy ``weights`` (same count and shapes as ``get_weights()``) into the layer's arrays, in place."""
        _assign(self.weights, weights, f"{self.name}.set_weights(weights)")

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"You tried to call count_params on layer {self.name!r}, but the layer isn't built.")
        return int(sum(w.size for w in self.weights))

    @property
    def dtype(self) -> str:
        """The layer's float type: the built weights' dtype, else the explicit one, else ``floatx()``."""
        weights = self.weights
        if weights:
            return weights[0].dtype.name
        return self._dtype or _config.floatx()

    # ---------------------------------------------------------------- shapes
    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """Output shape ``(None, ...)`` for an input shape ``(None, ...)``."""
        return tuple(input_shape)

    @property
    def output_shape(self) -> tuple:
        if self._build_shape is None:
            raise AttributeError(f"The layer {self.name!r} has never been called and thus has no defined output shape.")
        return self.compute_output_shape((None, *self._build_shape))

    def build(self, input_shape) -> None:
        """Create the weights for inputs of ``input_shape`` ``(None, ...)`` (or the per-sample shape)."""
        try:
            shape = tuple(input_shape)
        except TypeError:
            raise TypeError(f"input_shape: expected a tuple like (None, features), got {input_shape!r}") from None
        if shape and shape[0] is None:
            shape = shape[1:]
        self._build(_feature_shape(shape, "input_shape"), np.dtype(self._dtype or _config.floatx()))

    def _build(self, features: tuple[int, ...], dtype: np.dtype) -> None:
        self._build_shape = features
        self.built = True

    def _stage(self) -> Stage | None:
        """The backend stage this layer contributes (None for pure reshapes)."""
        return None

    # ---------------------------------------------------------------- config
    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": True, "dtype": self.dtype}
        if self._input_shape_arg is not None:
            config["input_shape"] = list(self._input_shape_arg)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        if not isinstance(config, dict):
            raise TypeError(f"{cls.__name__}.from_config: expected a dict, got {type(config).__name__}")
        return cls(**_strip_neutral(cls.__name__, config))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _assign(targets: list[np.ndarray], values, what: str) -> None:
    """Validate everything first, then copy each value into its target array (in place)."""
    if isinstance(values, np.ndarray) or not hasattr(values, "__len__"):
        raise TypeError(f"{what}: expected a list of arrays, got {type(values).__name__}")
    if len(values) != len(targets):
        raise ValueError(f"{what}: expected {len(targets)} arrays, got {len(values)}")
    arrays = []
    for index, (target, value) in enumerate(zip(targets, values)):
        array = _as_array(value, f"{what}[{index}]")
        if array.shape != target.shape:
            raise ValueError(f"{what}[{index}]: expected shape {target.shape}, got {array.shape}")
        arrays.append(_float_array(array, target.dtype, f"{what}[{index}]"))
    for target, array in zip(targets, arrays):
        np.copyto(target, array, casting="unsafe")


class Dense(Layer):
    """Densely-connected layer: ``output = activation(input @ kernel + bias)``.

    Args:
        units: positive int, the output width.
        activation: ``None`` (linear), a name (``"relu"``, ``"sigmoid"``, ``"tanh"``, ``"softmax"``,
            ``"linear"``) or a function from ``cyneuron.activations``.
        use_bias: whether the layer has a bias vector.
        kernel_initializer, bias_initializer: initializer names or objects
            (defaults ``"glorot_uniform"`` and ``"zeros"``, as Keras).
        input_shape / input_dim: the per-sample input shape ``(features,)`` when this is the first layer.
        name: the layer's name (default ``dense``, ``dense_1``, ...).
        dtype: ``"float32"`` or ``"float64"`` (default ``cyneuron.config.floatx()``).

    Input ``(batch, in)``, output ``(batch, units)``; ``kernel`` ``(in, units)``, ``bias`` ``(units,)``.
    Inputs of rank > 2 need a ``Flatten`` layer first.
    """

    def __init__(
        self,
        units: int,
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        input_shape=None,
        input_dim=None,
        name: str | None = None,
        dtype=None,
    ) -> None:
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"units: expected a positive integer, got {units!r}")
        if units > MAX_WIDTH:
            raise ValueError(f"units: expected at most 2**31 - 1 (BLAS' 32-bit dimensions), got {units}")
        if not isinstance(use_bias, (bool, np.bool_)):
            raise TypeError(f"use_bias: expected a bool, got {type(use_bias).__name__}")
        self.units = int(units)
        self.activation = _activations.get(activation)
        self._activation_name = _activations.name_of(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _named(_initializers.get, kernel_initializer, "kernel_initializer")
        self.bias_initializer = _named(_initializers.get, bias_initializer, "bias_initializer")
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, input_dim=input_dim)
        self.kernel: np.ndarray | None = None
        self.bias: np.ndarray | None = None

    @property
    def weights(self) -> list[np.ndarray]:
        if self.kernel is None:
            return []
        return [self.kernel] if self.bias is None else [self.kernel, self.bias]

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*tuple(input_shape)[:-1], self.units)

    def _build(self, features: tuple[int, ...], dtype: np.dtype) -> None:
        if len(features) != 1:
            raise ValueError(
                f"{self.name}: Dense takes inputs of shape (batch, features), got per-sample shape {features}; "
                "add a Flatten() layer before it"
            )
        fan_in = features[0]
        if self.kernel is not None:
            if self.kernel.shape[0] != fan_in or self.kernel.dtype != dtype:
                raise ValueError(
                    f"{self.name}: already built for inputs of width {self.kernel.shape[0]} ({self.kernel.dtype}), "
                    f"cannot be reused with width {fan_in} ({dtype})"
                )
        else:
            self.kernel = np.ascontiguousarray(self.kernel_initializer((fan_in, self.units), dtype=dtype))
            if self.use_bias:
                self.bias = np.ascontiguousarray(self.bias_initializer((self.units,), dtype=dtype))
        super()._build(features, dtype)

    def _stage(self) -> Stage:
        return Stage(self._activation_name, self.kernel, self.bias)

    def __call__(self, inputs) -> np.ndarray:
        """Apply the layer to an array ``(batch, in)`` (building it on first use); returns ``(batch, units)``."""
        array = _as_array(inputs, "inputs")
        if array.ndim != 2:
            raise ValueError(f"inputs: Dense expects shape (batch, features), got {array.shape}")
        if not self.built:
            self.build((None, array.shape[1]))
        dtype = self.kernel.dtype
        x = _float_array(array, dtype, "inputs")
        if x.shape[1] != self.kernel.shape[0]:
            raise ValueError(f"inputs: expected {self.kernel.shape[0]} features, got {x.shape[1]}")
        z = np.empty((x.shape[0], self.units), dtype=dtype)
        a = np.empty_like(z)
        _backend.ops().dense_forward(x, self.kernel, self.bias, self._activation_name, z, a)
        return a

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self._activation_name,
            "use_bias": self.use_bias,
            "kernel_initializer": _initializers.serialize(self.kernel_initializer),
            "bias_initializer": _initializers.serialize(self.bias_initializer),
        }


class Activation(Layer):
    """Applies an activation function (``"relu"``, ``"softmax"`` ...) to its input; no weights."""

    def __init__(self, activation, name: str | None = None, dtype=None, input_shape=None, input_dim=None) -> None:
        self.activation = _activations.get(activation)
        self._activation_name = _activations.name_of(activation)
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, input_dim=input_dim)

    def _stage(self) -> Stage:
        return Stage(self._activation_name)

    def __call__(self, inputs) -> np.ndarray:
        return self.activation(inputs)

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": self._activation_name}


class Flatten(Layer):
    """Flattens each sample to one dimension: ``(batch, d1, d2, ...)`` -> ``(batch, d1 * d2 * ...)``.

    Needed before the first ``Dense`` for image-shaped input; on 2-D data it changes nothing.
    """

    def __init__(
        self, data_format: str | None = None, name: str | None = None, dtype=None, input_shape=None, input_dim=None
    ) -> None:
        if data_format not in (None, "channels_last"):
            raise ValueError(f"data_format: only 'channels_last' is supported, got {data_format!r}")
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, input_dim=input_dim)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        return (shape[0], math.prod(shape[1:]))

    def __call__(self, inputs) -> np.ndarray:
        array = np.asarray(inputs)
        if array.ndim < 1:
            raise ValueError("inputs: expected at least one dimension (the batch)")
        return array.reshape(array.shape[0], -1)


class InputLayer(Layer):
    """The input of a ``Sequential`` model: its per-sample ``shape`` (and dtype). ``Input(shape)`` makes one."""

    def __init__(self, shape=None, dtype=None, batch_shape=None, name: str | None = None, input_shape=None) -> None:
        given = [s is not None for s in (shape, batch_shape, input_shape)]
        if sum(given) != 1:
            raise ValueError("shape: give exactly one of shape or batch_shape, e.g. Input(shape=(10,))")
        if batch_shape is not None:
            features = _batch_shape_to_features(batch_shape, "batch_shape")
        else:
            features = _feature_shape(shape if shape is not None else input_shape, "shape")
        super().__init__(name=name if name is not None else unique_name("input_layer"), dtype=dtype)
        self.shape = (None, *features)
        self._input_shape_arg = features
        self._build_shape = features
        self.built = True

    def get_config(self) -> dict:
        return {"batch_shape": list(self.shape), "dtype": self.dtype, "name": self.name}


def Input(shape=None, dtype=None, batch_shape=None, name: str | None = None) -> InputLayer:  # noqa: N802 (Keras name)
    """Declare a model's per-sample input shape: ``Sequential([Input(shape=(10,)), Dense(2)])``."""
    return InputLayer(shape=shape, dtype=dtype, batch_shape=batch_shape, name=name)


_CLASSES = {cls.__name__: cls for cls in (Dense, Activation, Flatten, InputLayer)}


def serialize(layer: Layer) -> dict:
    """``{"class_name": ..., "config": ...}`` of a layer (JSON-able)."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict) -> Layer:
    """A new layer from ``{"class_name": ..., "config": ...}``; unknown class names raise ValueError."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"layer: expected a dict with 'class_name' and 'config', got {config!r}")
    name = config["class_name"]
    cls = _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"layer: unknown layer class {name!r}; expected one of {', '.join(_CLASSES)}")
    return cls.from_config(config.get("config") or {})
