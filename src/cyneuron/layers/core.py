"""Core layers, as in ``keras.layers``: ``Dense``, ``Activation``, ``Flatten``, ``Reshape``, ``Input``."""

from __future__ import annotations

import math

import numpy as np

from cyneuron import activations as _activations
from cyneuron import initializers as _initializers
from cyneuron import regularizers as _regularizers
from cyneuron.backend.specs import StageSpec
from cyneuron.layers._conv_utils import transpose_stage
from cyneuron.layers.activation_layers import ElementwiseLayer
from cyneuron.layers.base import (
    MAX_WIDTH,
    Layer,
    _batch_shape_to_features,
    _feature_shape,
    _named,
    split_activation,
    unique_name,
    unsupported_options,
)

__all__ = ["Dense", "Activation", "Flatten", "Reshape", "InputLayer", "Input"]


class Dense(Layer):
    """Densely-connected layer: ``output = activation(input @ kernel + bias)``.

    Args:
        units: positive int, the output width.
        activation: ``None`` (linear), a name of Keras' activations (``"relu"``, ``"gelu"``,
            ``"softmax"`` ...) or a function from ``cyneuron.activations``.
        use_bias: whether the layer has a bias vector.
        kernel_initializer, bias_initializer: initializer names or objects
            (defaults ``"glorot_uniform"`` and ``"zeros"``, as Keras).
        input_shape / input_dim: the per-sample input shape ``(features,)`` when this is the first layer.
        name: the layer's name (default ``dense``, ``dense_1``, ...).
        dtype: ``"float32"`` or ``"float64"`` (default ``cyneuron.config.floatx()``).
        trainable: False freezes the layer's weights.

    Input ``(batch, ..., in)``, output ``(batch, ..., units)``: as Keras, the kernel applies to the last
    axis, the same product at every position of the leading axes (e.g. each time step of an
    ``LSTM(return_sequences=True)``; softmax runs over the last axis). ``kernel`` ``(in, units)``,
    ``bias`` ``(units,)``.
    """

    def __init__(
        self,
        units: int,
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        lora_rank=None,
        lora_alpha=None,
        quantization_config=None,
        **kwargs,
    ) -> None:
        unsupported_options(
            "Dense",
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            lora_rank=lora_rank,
            lora_alpha=lora_alpha,
            quantization_config=quantization_config,
        )
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
        self.kernel_regularizer = _named(_regularizers.get, kernel_regularizer, "kernel_regularizer")
        self.bias_regularizer = _named(_regularizers.get, bias_regularizer, "bias_regularizer")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.kernel: np.ndarray | None = None
        self.bias: np.ndarray | None = None

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*tuple(input_shape)[:-1], self.units)

    def build(self, input_shape) -> None:
        fan_in = int(tuple(input_shape)[-1])
        self.kernel = self.add_weight(
            (fan_in, self.units), self.kernel_initializer, regularizer=self.kernel_regularizer, name="kernel"
        )
        if self.use_bias:
            self.bias = self.add_weight(
                (self.units,), self.bias_initializer, regularizer=self.bias_regularizer, name="bias"
            )
        self.built = True

    def stage_spec(self) -> list[StageSpec]:
        return split_activation(self._spec("dense", {"activation": self._activation_name}, self.weights))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self._activation_name,
            "use_bias": self.use_bias,
            "kernel_initializer": _initializers.serialize(self.kernel_initializer),
            "bias_initializer": _initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": _regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": None,
            "bias_constraint": None,
        }


class Activation(ElementwiseLayer):
    """Applies an activation function (``"relu"``, ``"softmax"`` ...) to its input; no weights.

    Softmax runs over the last axis, as Keras' ``activations.softmax``.
    """

    def __init__(
        self,
        activation,
        **kwargs,
    ) -> None:
        self.activation = _activations.get(activation)
        self._activation_name = _activations.name_of(activation)
        super().__init__(**kwargs)

    def _function(self, x):
        return _activations.get(self._activation_name)(x)

    def stage_spec(self) -> StageSpec:
        return self._spec("activation", {"activation": self._activation_name})

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": self._activation_name}


class Flatten(Layer):
    """Flattens each sample to one dimension: ``(batch, d1, d2, ...)`` -> ``(batch, d1 * d2 * ...)``.

    Needed before the first ``Dense`` for image-shaped input; on 2-D data it changes nothing.
    """

    def __init__(
        self,
        data_format: str | None = None,
        **kwargs,
    ) -> None:
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(
                f"The `data_format` argument must be one of {{'channels_first', 'channels_last'}}. "
                f"Received: {data_format!r}"
            )
        self.data_format = data_format or "channels_last"
        super().__init__(**kwargs)

    def stage_spec(self) -> StageSpec | None:
        """Nothing for channels-last data (a reshape); channels-first data move their channels last first."""
        shape = self._build_shape
        if self.data_format != "channels_first" or len(shape) < 2:
            return None
        return transpose_stage(shape, (*range(1, len(shape)), 0), self.name)

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        return (shape[0], math.prod(shape[1:]))


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (one entry may be -1), as ``keras.layers.Reshape``."""

    def __init__(
        self,
        target_shape,
        **kwargs,
    ) -> None:
        try:
            target = tuple(int(d) for d in target_shape)
        except (TypeError, ValueError):
            raise TypeError(f"target_shape: expected a tuple of ints, got {target_shape!r}") from None
        if not target or sum(d == -1 for d in target) > 1 or any(d < 1 and d != -1 for d in target):
            raise ValueError(f"target_shape: expected positive ints and at most one -1, got {target_shape!r}")
        self.target_shape = target
        super().__init__(**kwargs)

    def _resolved(self, features: tuple) -> tuple[int, ...]:
        size = math.prod(features)
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if size % known:
                raise ValueError(f"{self.name}: cannot reshape {features} ({size} values) to {self.target_shape}")
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if known != size:
            raise ValueError(
                f"{self.name}: total size of the new array must be unchanged, input_shape = {list(features)}, "
                f"output_shape = {list(self.target_shape)}"
            )
        return self.target_shape

    def _validate_input(self, features: tuple[int, ...]) -> None:
        self._resolved(features)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], *self._resolved(tuple(input_shape[1:])))

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


_INTEGER_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def _integer_dtype_name(dtype) -> str | None:
    """The name of an integer dtype (``"int32"``, ``np.int64`` ..., or Keras' DTypePolicy config of one),
    else None."""
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name")
    if dtype is None:
        return None
    try:
        name = np.dtype(dtype).name
    except TypeError:
        return None
    return name if name in _INTEGER_DTYPES else None


class InputLayer(Layer):
    """The input of a ``Sequential`` model: its per-sample ``shape`` (and dtype). ``Input(shape)`` makes one.

    ``dtype`` is a float type (the model's, as any layer's) or an integer type (``"int32"``, ``"int64"``,
    ``"uint8"`` ...), which declares integer inputs, such as an ``Embedding``'s indices: the model's float
    type then comes from its other layers.
    """

    def __init__(
        self,
        shape=None,
        batch_size=None,
        dtype=None,
        sparse=None,
        ragged=None,
        batch_shape=None,
        input_tensor=None,
        optional=False,
        name: str | None = None,
        **kwargs,
    ) -> None:
        input_shape = kwargs.pop("input_shape", None)  # Keras 2's name
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments passed to InputLayer: {kwargs}")
        for key, value, neutral in (
            ("sparse", sparse, (None, False)),
            ("ragged", ragged, (None, False)),
            ("input_tensor", input_tensor, (None,)),
            ("optional", optional, (False,)),
        ):
            if not any(value is v for v in neutral):
                raise ValueError(f"InputLayer: {key}={value!r} is not supported by cyneuron")
        given = [s is not None for s in (shape, batch_shape, input_shape)]
        if sum(given) != 1:
            raise ValueError("shape: give exactly one of shape or batch_shape, e.g. Input(shape=(10,))")
        _check_batch_size(batch_size)
        if batch_shape is not None:
            if batch_size is not None:
                raise ValueError("batch_size: give batch_size or batch_shape, not both")
            features = _batch_shape_to_features(batch_shape, "batch_shape")
            batch_size = batch_shape[0]
        else:
            features = _feature_shape(shape if shape is not None else input_shape, "shape")
        # Keras records the declared batch size (config, error messages); any batch size runs here.
        self.batch_shape = (batch_size, *features)
        self._integer_dtype = _integer_dtype_name(dtype)
        if self._integer_dtype is not None:
            dtype = None  # integer inputs: no float type is asked of the model
        super().__init__(name=name if name is not None else unique_name("input_layer"), dtype=dtype)
        self.shape = (None, *features)
        self._input_shape_arg = features
        self._build_shape = features
        self.built = True

    @property
    def dtype(self) -> str:
        return self._integer_dtype or super().dtype

    @property
    def output(self):
        """The symbolic input this layer stands for (``Input(...)`` returns the layer itself)."""
        return self

    def get_config(self) -> dict:
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "name": self.name}


def Input(  # noqa: N802 (Keras name)
    shape=None,
    batch_size=None,
    dtype=None,
    sparse=None,
    ragged=None,
    batch_shape=None,
    name: str | None = None,
    tensor=None,
    optional=False,
) -> InputLayer:
    """Declare a model's per-sample input shape: ``Sequential([Input(shape=(10,)), Dense(2)])``.

    Keras 3's arguments; ``batch_size`` is accepted and not enforced (any batch size runs);
    ``sparse``, ``ragged``, ``tensor`` and ``optional`` only at their neutral values.
    """
    return InputLayer(
        shape=shape,
        batch_size=batch_size,
        dtype=dtype,
        sparse=sparse,
        ragged=ragged,
        batch_shape=batch_shape,
        input_tensor=tensor,
        optional=optional,
        name=name,
    )


def _check_batch_size(batch_size) -> None:
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size: expected a positive int or None, got {batch_size!r}")
