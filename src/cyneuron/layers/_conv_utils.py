"""Argument handling shared by the convolutional and pooling layers (Keras' ``standardize_*`` rules)."""

from __future__ import annotations

import numpy as np

from cyneuron.backend.reference import _window


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
    """None or "channels_last"; "channels_first" is refused (cyneuron computes channels-last only)."""
    if value is None:
        return "channels_last"
    if not isinstance(value, str) or value.lower() not in ("channels_last", "channels_first"):
        raise ValueError(
            f"The `data_format` argument must be one of {{'channels_first', 'channels_last'}}. Received: {value!r}"
        )
    if value.lower() == "channels_first":
        raise ValueError(
            "data_format='channels_first' is not supported by cyneuron: its kernels are channels-last; "
            "transpose the data to (batch, ..., channels) and use data_format='channels_last'"
        )
    return "channels_last"


def output_size(size: int, k: int, s: int, d: int, padding: str, what: str) -> int:
    """One spatial dimension's output size; ValueError (naming the layer) when the window does not fit."""
    try:
        return _window.geometry(size, k, s, d, padding)[0]
    except ValueError as error:
        raise ValueError(f"{what}: {error}") from None
