"""Argument handling shared by the convolutional and pooling layers (Keras' ``standardize_*`` rules)."""

from __future__ import annotations

import numpy as np

from cyneuron.backend.reference import _window
from cyneuron.backend.specs import StageSpec


def standardize_tuple(value, n: int, name: str) -> tuple[int, ...]:
    """An int or n ints, each positive, as a tuple (Keras: ValueError for anything else)."""
    message = f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value!r}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values = (int(value),) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(message) from None
        if len(values) != n or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in values):
            raise ValueError(message)
        values = tuple(int(v) for v in values)
    if any(v <= 0 for v in values):
        raise ValueError(f"The `{name}` argument must be a tuple of {n} integers > 0. Received {name}={value!r}")
    return values


def standardize_padding(value, allow_causal: bool = False) -> str:
    allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    if not isinstance(value, str) or value.lower() not in allowed:
        raise ValueError(f"The `padding` argument must be one of {set(allowed)}. Received: {value!r}")
    return value.lower()


def standardize_data_format(value) -> str:
    """None (Keras' default, channels-last) or ``"channels_last"`` / ``"channels_first"``."""
    if value is None:
        return "channels_last"
    if not isinstance(value, str) or value.lower() not in ("channels_last", "channels_first"):
        raise ValueError(
            f"The `data_format` argument must be one of {{'channels_first', 'channels_last'}}. Received: {value!r}"
        )
    return value.lower()


def to_channels_last(shape: tuple, data_format: str) -> tuple:
    """A per-sample shape ``(C, *spatial)`` as ``(*spatial, C)`` when channels-first (else unchanged)."""
    shape = tuple(shape)
    return (*shape[1:], shape[0]) if data_format == "channels_first" else shape


def from_channels_last(shape: tuple, data_format: str) -> tuple:
    """The inverse of ``to_channels_last``."""
    shape = tuple(shape)
    return (shape[-1], *shape[:-1]) if data_format == "channels_first" else shape


def transpose_stage(in_shape: tuple, perm: tuple, name: str) -> StageSpec:
    """A ``transpose`` stage permuting each sample's axes of ``in_shape`` by ``perm``."""
    in_shape = tuple(in_shape)
    return StageSpec("transpose", in_shape, tuple(in_shape[p] for p in perm), {"perm": tuple(perm)}, name=name)


def channels_first_stages(layer, spec: StageSpec, in_shape: tuple, out_shape: tuple) -> list[StageSpec]:
    """``spec`` (computed channels-last) between the transposes a channels-first layer needs: the kernels
    are channels-last, so the layer converts at its boundary, as Keras' TensorFlow backend does on CPU."""
    stages = [transpose_stage(in_shape, (*range(1, len(in_shape)), 0), f"{layer.name}/to_channels_last"), spec]
    if len(out_shape) > 1:
        rank = len(out_shape)
        last = to_channels_last(out_shape, "channels_first")
        stages.append(transpose_stage(last, (rank - 1, *range(rank - 1)), f"{layer.name}/to_channels_first"))
    return stages


def output_size(size: int, k: int, s: int, d: int, padding: str, what: str) -> int:
    """One spatial dimension's output size; ValueError (naming the layer) when the window does not fit."""
    try:
        return _window.geometry(size, k, s, d, padding)[0]
    except ValueError as error:
        raise ValueError(f"{what}: {error}") from None
