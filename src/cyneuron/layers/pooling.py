"""Pooling layers, as ``keras.layers``: ``MaxPooling1D/2D``, ``AveragePooling1D/2D``, ``GlobalAveragePooling1D/2D``,
``GlobalMaxPooling1D/2D`` and their ``*Pool*`` aliases (channels-last).

The 2-D windows compute on the ``max_pool2d`` / ``avg_pool2d`` stage kinds (1-D ones on images of
height 1); the global ones on ``global_avg_pool`` / ``global_max_pool``. Backward routes gradients as
Keras' JAX backend does: a window's to its first maximum (row-major), a global maximum's split
between ties.
"""

from __future__ import annotations

import math

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
from cyneuron.layers.base import Layer
from cyneuron.utils import _check_bool

__all__ = [
    "MaxPooling1D",
    "MaxPooling2D",
    "AveragePooling1D",
    "AveragePooling2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "MaxPool1D",
    "MaxPool2D",
    "AvgPool1D",
    "AvgPool2D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
]


class _Pooling(Layer):
    rank = 2
    kind = "max_pool2d"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs) -> None:
        self.pool_size = standardize_tuple(pool_size, self.rank, "pool_size")
        self.strides = self.pool_size if strides is None else standardize_tuple(strides, self.rank, "strides")
        self.padding = standardize_padding(padding)
        self.data_format = standardize_data_format(data_format)
        super().__init__(name=name, **kwargs)

    def _spatial_out(self, spatial):
        return tuple(
            output_size(n, k, s, 1, self.padding, self.name) for n, k, s in zip(spatial, self.pool_size, self.strides)
        )

    def _validate_input(self, features: tuple[int, ...]) -> None:
        if len(features) != self.rank + 1:
            raise ValueError(
                f"{self.name}: {type(self).__name__} takes inputs of {self.rank + 2} dimensions "
                f"(batch, {'steps' if self.rank == 1 else 'height, width'}, channels), got per-sample shape {features}"
            )
        self._spatial_out(to_channels_last(features, self.data_format)[:-1])

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        self._validate_input(tuple(shape[1:]))
        last = to_channels_last(shape[1:], self.data_format)
        return (shape[0], *from_channels_last((*self._spatial_out(last[:-1]), last[-1]), self.data_format))

    def stage_spec(self) -> StageSpec | list[StageSpec]:
        cf_in = self._build_shape
        cf_out = tuple(self.compute_output_shape((None, *cf_in))[1:])
        features, out = to_channels_last(cf_in, self.data_format), to_channels_last(cf_out, self.data_format)
        k, s = self.pool_size, self.strides
        if self.rank == 1:
            features, out, k, s = (1, *features), (1, *out), (1, *k), (1, *s)
        attrs = {"pool_size": k, "strides": s, "padding": self.padding}
        spec = StageSpec(self.kind, features, out, attrs, (), (), self._trainable, self.name)
        if self.data_format == "channels_first":
            return channels_first_stages(self, spec, cf_in, cf_out)
        return spec

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "padding": self.padding,
            "strides": self.strides,
            "data_format": self.data_format,
        }


class MaxPooling2D(_Pooling):
    """Max pooling over ``pool_size`` windows moved by ``strides`` (default ``pool_size``), ``padding``
    ``"valid"`` or ``"same"``: ``(batch, H, W, C)`` -> ``(batch, OH, OW, C)``."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling2D(_Pooling):
    """Average pooling, as ``MaxPooling2D``; with ``"same"`` each window is divided by its number of
    in-image elements (Keras)."""

    kind = "avg_pool2d"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class MaxPooling1D(_Pooling):
    """Max pooling over steps: ``(batch, steps, C)`` -> ``(batch, out_steps, C)``."""

    rank = 1

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling1D(_Pooling):
    """Average pooling over steps, as ``MaxPooling1D``."""

    rank = 1
    kind = "avg_pool2d"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class _GlobalPooling(Layer):
    rank = 2
    kind = "global_avg_pool"

    def __init__(self, data_format=None, keepdims=False, **kwargs) -> None:
        self.data_format = standardize_data_format(data_format)
        self.keepdims = _check_bool(keepdims, "keepdims")
        super().__init__(**kwargs)

    def _validate_input(self, features: tuple[int, ...]) -> None:
        if len(features) != self.rank + 1:
            raise ValueError(
                f"{self.name}: {type(self).__name__} takes inputs of {self.rank + 2} dimensions, "
                f"got per-sample shape {features}"
            )

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        self._validate_input(tuple(shape[1:]))
        channels = to_channels_last(shape[1:], self.data_format)[-1]
        if self.keepdims:
            return (shape[0], *from_channels_last((*([1] * self.rank), channels), self.data_format))
        return (shape[0], channels)

    def stage_spec(self) -> StageSpec | list[StageSpec]:
        cf_in = self._build_shape
        cf_out = tuple(self.compute_output_shape((None, *cf_in))[1:])
        features = to_channels_last(cf_in, self.data_format)
        out = to_channels_last(cf_out, self.data_format)
        spec = StageSpec(self.kind, features, out, {"channels": features[-1]}, (), (), self._trainable, self.name)
        if self.data_format == "channels_first":
            return channels_first_stages(self, spec, cf_in, cf_out)
        return spec

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling):
    """The mean over height and width of each channel: ``(batch, H, W, C)`` -> ``(batch, C)``
    (``keepdims``: ``(batch, 1, 1, C)``)."""


class GlobalMaxPooling2D(_GlobalPooling):
    """The maximum over height and width of each channel; ties share the gradient (``jnp.max``'s VJP)."""

    kind = "global_max_pool"


class GlobalAveragePooling1D(_GlobalPooling):
    """The mean over steps of each channel: ``(batch, steps, C)`` -> ``(batch, C)``."""

    rank = 1


class GlobalMaxPooling1D(_GlobalPooling):
    """The maximum over steps of each channel."""

    rank = 1
    kind = "global_max_pool"


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
MaxPool1D = MaxPooling1D
AvgPool1D = AveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D

_ = math
