"""Layers, as in ``keras.layers``.

Each layer kind is one class; ``_CLASSES`` registers them for ``deserialize`` (and for the tests,
which pick every registered kind up). A layer with computation describes itself to the backend as
a ``StageSpec`` (its ``stage_spec()``), whose semantics live in ``cyneuron.backend.reference``.
"""

from __future__ import annotations

from cyneuron.layers.activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from cyneuron.layers.base import (
    _NEUTRAL_KEYS,
    _UID_LOCK,
    _UIDS,
    MAX_WIDTH,
    Layer,
    _assign,
    _feature_shape,
    strip_neutral,
    unique_name,
)
from cyneuron.layers.convolutional import Conv1D, Conv2D, Convolution1D, Convolution2D
from cyneuron.layers.core import Activation, Dense, Flatten, Input, InputLayer, Reshape
from cyneuron.layers.dropout import Dropout
from cyneuron.layers.embedding import Embedding
from cyneuron.layers.normalization import BatchNormalization
from cyneuron.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AvgPool1D,
    AvgPool2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPool1D,
    MaxPool2D,
    MaxPooling1D,
    MaxPooling2D,
)
from cyneuron.layers.preprocessing import Normalization, Rescaling
from cyneuron.layers.recurrent import GRU, LSTM, SimpleRNN
from cyneuron.layers.rnn_wrappers import Bidirectional, TimeDistributed

__all__ = [
    "Layer",
    "Dense",
    "Activation",
    "Flatten",
    "Reshape",
    "InputLayer",
    "Input",
    "Dropout",
    "BatchNormalization",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softmax",
    "PReLU",
    "Conv1D",
    "Conv2D",
    "Convolution1D",
    "Convolution2D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPool1D",
    "MaxPool2D",
    "AveragePooling1D",
    "AveragePooling2D",
    "AvgPool1D",
    "AvgPool2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "Rescaling",
    "Normalization",
    "SimpleRNN",
    "LSTM",
    "GRU",
    "Embedding",
    "TimeDistributed",
    "Bidirectional",
    "serialize",
    "deserialize",
]

_CLASSES = {
    cls.__name__: cls
    for cls in (
        Dense,
        Activation,
        Flatten,
        Reshape,
        InputLayer,
        Dropout,
        BatchNormalization,
        ReLU,
        LeakyReLU,
        ELU,
        Softmax,
        PReLU,
        Conv1D,
        Conv2D,
        MaxPooling1D,
        MaxPooling2D,
        AveragePooling1D,
        AveragePooling2D,
        GlobalAveragePooling1D,
        GlobalAveragePooling2D,
        GlobalMaxPooling1D,
        GlobalMaxPooling2D,
        Rescaling,
        Normalization,
        SimpleRNN,
        LSTM,
        GRU,
        Embedding,
        TimeDistributed,
        Bidirectional,
    )
}

# Keras' other names for the same classes (a layer serializes under its class' own name)
_ALIASES = {
    "Convolution1D": "Conv1D",
    "Convolution2D": "Conv2D",
    "MaxPool1D": "MaxPooling1D",
    "MaxPool2D": "MaxPooling2D",
    "AvgPool1D": "AveragePooling1D",
    "AvgPool2D": "AveragePooling2D",
    "GlobalAvgPool1D": "GlobalAveragePooling1D",
    "GlobalAvgPool2D": "GlobalAveragePooling2D",
    "GlobalMaxPool1D": "GlobalMaxPooling1D",
    "GlobalMaxPool2D": "GlobalMaxPooling2D",
}


def serialize(layer: Layer) -> dict:
    """``{"class_name": ..., "config": ...}`` of a layer (JSON-able)."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict) -> Layer:
    """A new layer from ``{"class_name": ..., "config": ...}``; unknown class names raise ValueError."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"layer: expected a dict with 'class_name' and 'config', got {config!r}")
    name = config["class_name"]
    cls = _CLASSES.get(_ALIASES.get(name, name))
    if cls is None:
        raise ValueError(f"layer: unknown layer class {name!r}; expected one of {', '.join(_CLASSES)}")
    return cls.from_config(config.get("config") or {})


# referenced by other modules
_ = (_NEUTRAL_KEYS, _UID_LOCK, _UIDS, MAX_WIDTH, _assign, _feature_shape, strip_neutral, unique_name)


# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
