"""Convolution layers, as ``keras.layers.Conv2D`` and ``Conv1D`` (channels-last; Keras' kernel layout).

Both compute on the backend's ``conv2d`` stage kind (``cyneuron.backend.reference.conv2d``); a
Conv1D is a conv2d over images of height 1, its kernel ``(k, C, F)`` seen as ``(1, k, C, F)``.
"""

from __future__ import annotations

import numpy as np

from cyneuron import activations as _activations
from cyneuron import initializers as _initializers
from cyneuron import regularizers as _regularizers
from cyneuron.backend.specs import StageSpec
from cyneuron.layers._conv_utils import (
    channels_first_stages,
    from_channels_last,
    output_size,
    standardize_data_format,
    standardize_padding,
    standardize_tuple,
    to_channels_last,
)
from cyneuron.layers.base import MAX_WIDTH, Layer, _named, split_activation, unsupported_options
from cyneuron.utils import _init_arguments

__all__ = ["Conv1D", "Conv2D", "Convolution1D", "Convolution2D"]


# Keras' weight regularizer arguments (penalties in the compiled step) and constraint arguments (accepted at
# None only), in its config order; ``activity_regularizer`` goes to ``Layer``.
_REGULARIZERS = ("kernel_regularizer", "bias_regularizer")
_CONSTRAINTS = ("kernel_constraint", "bias_constraint")


class _Conv(Layer):
    rank = 2

    def __init__(
        self,
        *,
        filters,
        kernel_size,
        strides,
        padding,
        data_format,
        dilation_rate,
        groups,
        activation,
        use_bias,
        kernel_initializer,
        bias_initializer,
        **kwargs,
    ) -> None:
        """Keyword arguments only: Conv1D and Conv2D keep Keras' explicit signatures (their defaults differ)
        and hand them on with ``_init_arguments(locals())``; the regularizers and constraints (only
        None) arrive in ``kwargs``."""
        unsupported_options(type(self).__name__, **{key: kwargs.pop(key, None) for key in _CONSTRAINTS})
        for key in _REGULARIZERS:
            setattr(self, key, _named(_regularizers.get, kwargs.pop(key, None), key))
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)):
            raise TypeError(f"filters: expected a positive int, got {filters!r}")
        if filters <= 0:
            raise ValueError(
                f"Invalid value for argument `filters`. Expected a strictly positive value. Received filters={filters}."
            )
        if filters > MAX_WIDTH:
            raise ValueError(f"filters: expected at most 2**31 - 1, got {filters}")
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups <= 0:
            raise ValueError(f"The number of groups must be a positive integer. Received: groups={groups}.")
        if filters % groups:
            raise ValueError(
                "The number of filters must be evenly divisible by the number of groups. "
                f"Received: groups={groups}, filters={filters}."
            )
        if groups != 1:
            raise ValueError(f"groups={groups}: grouped convolutions are not implemented by cyneuron (only groups=1)")
        rank = self.rank
        self.filters = int(filters)
        self.groups = 1
        self.kernel_size = standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = standardize_tuple(strides, rank, "strides")
        self.dilation_rate = standardize_tuple(dilation_rate, rank, "dilation_rate")
        self.padding = standardize_padding(padding, allow_causal=rank == 1)
        self.data_format = standardize_data_format(data_format)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}"
            )
        if not isinstance(use_bias, (bool, np.bool_)):
            raise TypeError(f"use_bias: expected a bool, got {type(use_bias).__name__}")
        self.activation = _activations.get(activation)
        self._activation_name = _activations.name_of(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _named(_initializers.get, kernel_initializer, "kernel_initializer")
        self.bias_initializer = _named(_initializers.get, bias_initializer, "bias_initializer")
        super().__init__(**kwargs)
        self.kernel: np.ndarray | None = None
        self.bias: np.ndarray | None = None

    # per-sample shapes: (H, W, C) for 2-D, (L, C) for 1-D
    def _spatial_out(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(
            output_size(n, k, s, d, self.padding, self.name)
            for n, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)
        )

    def _validate_input(self, features: tuple[int, ...]) -> None:
        if len(features) != self.rank + 1:
            raise ValueError(
                f"{self.name}: {type(self).__name__} takes inputs of shape (batch, {self._dims_doc}), "
                f"got per-sample shape {features}"
            )
        self._spatial_out(to_channels_last(features, self.data_format)[:-1])

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        self._validate_input(tuple(shape[1:]))
        last = to_channels_last(shape[1:], self.data_format)
        return (shape[0], *from_channels_last((*self._spatial_out(last[:-1]), self.filters), self.data_format))

    def build(self, input_shape) -> None:
        channels = int(to_channels_last(tuple(input_shape)[1:], self.data_format)[-1])
        shape = (*self.kernel_size, channels, self.filters)
        self.kernel = self.add_weight(
            shape, self.kernel_initializer, regularizer=self.kernel_regularizer, name="kernel"
        )
        if self.use_bias:
            self.bias = self.add_weight(
                (self.filters,), self.bias_initializer, regularizer=self.bias_regularizer, name="bias"
            )
        self.built = True

    def stage_spec(self) -> StageSpec | list[StageSpec]:
        cf_in = self._build_shape
        cf_out = tuple(self.compute_output_shape((None, *cf_in))[1:])
        features = to_channels_last(cf_in, self.data_format)
        out = to_channels_last(cf_out, self.data_format)
        pad = self.padding
        if self.rank == 1:  # a conv2d over height-1 images: views of the same arrays
            in_shape, out = (1, *features), (1, *out)
            k, s, d = (1, *self.kernel_size), (1, *self.strides), (1, *self.dilation_rate)
            params = [self.kernel.reshape(1, *self.kernel.shape)]
        else:
            in_shape, k, s, d = features, self.kernel_size, self.strides, self.dilation_rate
            params = [self.kernel]
        if self.bias is not None:
            params.append(self.bias)
        attrs = {
            "kernel_size": k,
            "strides": s,
            "padding": pad,
            "dilation_rate": d,
            "activation": self._activation_name,
        }
        spec, *activation = split_activation(
            StageSpec("conv2d", in_shape, out, attrs, tuple(params), (), self._trainable, self.name)
        )
        if self.data_format == "channels_first":
            # the stage's (1, L, C) rows of Conv1D are the same flat data as the transposes' (L, C)
            stages = channels_first_stages(self, spec, cf_in, cf_out)
            return stages[:2] + activation + stages[2:]
        return [spec, *activation]

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
            "activation": self._activation_name,
            "use_bias": self.use_bias,
            "kernel_initializer": _initializers.serialize(self.kernel_initializer),
            "bias_initializer": _initializers.serialize(self.bias_initializer),
            **{key: _regularizers.serialize(getattr(self, key)) for key in _REGULARIZERS},
            "activity_regularizer": _regularizers.serialize(self.activity_regularizer),
            **dict.fromkeys(_CONSTRAINTS),
        }


class Conv2D(_Conv):
    """2-D convolution: ``activation(conv2d(inputs, kernel) + bias)``, as ``keras.layers.Conv2D``.

    Args (Keras' order and defaults): ``filters``, ``kernel_size`` (int or pair), ``strides=(1, 1)``,
    ``padding="valid"`` (or ``"same"``: Keras' arithmetic, extra padding after for odd totals),
    ``data_format=None`` (channels-last; ``"channels_first"`` transposes at the layer's boundary),
    ``dilation_rate=(1, 1)``,
    ``groups=1`` (other values raise ValueError), ``activation=None``, ``use_bias=True``,
    ``kernel_initializer="glorot_uniform"``, ``bias_initializer="zeros"``; the L1/L2 regularizers; constraints
    only None.

    Input ``(batch, H, W, C)``, output ``(batch, OH, OW, filters)``; ``kernel`` ``(kh, kw, C, filters)``.
    """

    rank = 2
    _dims_doc = "height, width, channels"

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1),
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ) -> None:
        super().__init__(**_init_arguments(locals()))


class Conv1D(_Conv):
    """1-D convolution, as ``keras.layers.Conv1D``: as ``Conv2D`` over ``(batch, steps, channels)``,
    ``padding`` also ``"causal"`` (left padding by ``dilation_rate * (kernel_size - 1)``);
    ``kernel`` ``(kernel_size, channels, filters)``."""

    rank = 1
    _dims_doc = "steps, channels"

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ) -> None:
        super().__init__(**_init_arguments(locals()))


Convolution2D = Conv2D
Convolution1D = Conv1D
