"""The constructors' signatures are Keras 3.15's (argument names, order and defaults, as ``inspect`` shows them).

The recurrent and convolution layers and the loss classes hand their arguments to a shared base in one line
(``utils._init_arguments``), so their explicit signatures are the only place Keras' defaults are written;
the strings below were recorded from Keras 3.15.1 (``bench/oracle/signatures_vs_keras.py`` compares live).
"""

from __future__ import annotations

import inspect

import pytest

from cyneuron import layers, losses

KERAS_LAYER_SIGNATURES = {
    "SimpleRNN": (
        "(units, activation='tanh', use_bias=True, kernel_initializer='glorot_uniform',"
        " recurrent_initializer='orthogonal', bias_initializer='zeros', kernel_regularizer=None,"
        " recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,"
        " kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,"
        " recurrent_dropout=0.0, return_sequences=False, return_state=False, go_backwards=False,"
        " stateful=False, unroll=False, seed=None, **kwargs)"
    ),
    "LSTM": (
        "(units, activation='tanh', recurrent_activation='sigmoid', use_bias=True,"
        " kernel_initializer='glorot_uniform', recurrent_initializer='orthogonal',"
        " bias_initializer='zeros', unit_forget_bias=True, kernel_regularizer=None,"
        " recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,"
        " kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,"
        " recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,"
        " go_backwards=False, stateful=False, unroll=False, use_cudnn='auto', **kwargs)"
    ),
    "GRU": (
        "(units, activation='tanh', recurrent_activation='sigmoid', use_bias=True,"
        " kernel_initializer='glorot_uniform', recurrent_initializer='orthogonal',"
        " bias_initializer='zeros', kernel_regularizer=None, recurrent_regularizer=None,"
        " bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,"
        " recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,"
        " return_sequences=False, return_state=False, go_backwards=False, stateful=False, unroll=False,"
        " reset_after=True, use_cudnn='auto', **kwargs)"
    ),
    "Conv1D": (
        "(filters, kernel_size, strides=1, padding='valid', data_format=None, dilation_rate=1, groups=1,"
        " activation=None, use_bias=True, kernel_initializer='glorot_uniform', bias_initializer='zeros',"
        " kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,"
        " kernel_constraint=None, bias_constraint=None, **kwargs)"
    ),
    "Conv2D": (
        "(filters, kernel_size, strides=(1, 1), padding='valid', data_format=None, dilation_rate=(1, 1),"
        " groups=1, activation=None, use_bias=True, kernel_initializer='glorot_uniform',"
        " bias_initializer='zeros', kernel_regularizer=None, bias_regularizer=None,"
        " activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs)"
    ),
}

KERAS_LOSS_SIGNATURES = {
    "MeanSquaredError": "(reduction='sum_over_batch_size', name='mean_squared_error', dtype=None)",
    "MeanAbsoluteError": "(reduction='sum_over_batch_size', name='mean_absolute_error', dtype=None)",
    "MeanAbsolutePercentageError": (
        "(reduction='sum_over_batch_size', name='mean_absolute_percentage_error', dtype=None)"
    ),
    "MeanSquaredLogarithmicError": (
        "(reduction='sum_over_batch_size', name='mean_squared_logarithmic_error', dtype=None)"
    ),
    "CosineSimilarity": "(axis=-1, reduction='sum_over_batch_size', name='cosine_similarity', dtype=None)",
    "Huber": "(delta=1.0, reduction='sum_over_batch_size', name='huber_loss', dtype=None)",
    "LogCosh": "(reduction='sum_over_batch_size', name='log_cosh', dtype=None)",
    "KLDivergence": "(reduction='sum_over_batch_size', name='kl_divergence', dtype=None)",
    "Poisson": "(reduction='sum_over_batch_size', name='poisson', dtype=None)",
    "Hinge": "(reduction='sum_over_batch_size', name='hinge', dtype=None)",
    "SquaredHinge": "(reduction='sum_over_batch_size', name='squared_hinge', dtype=None)",
    "CategoricalHinge": "(reduction='sum_over_batch_size', name='categorical_hinge', dtype=None)",
    "BinaryCrossentropy": (
        "(from_logits=False, label_smoothing=0.0, axis=-1, reduction='sum_over_batch_size',"
        " name='binary_crossentropy', dtype=None)"
    ),
    "CategoricalCrossentropy": (
        "(from_logits=False, label_smoothing=0.0, axis=-1, reduction='sum_over_batch_size',"
        " name='categorical_crossentropy', dtype=None)"
    ),
    "SparseCategoricalCrossentropy": (
        "(from_logits=False, ignore_class=None, reduction='sum_over_batch_size', axis=-1,"
        " name='sparse_categorical_crossentropy', dtype=None)"
    ),
}


def signature_text(obj) -> str:
    """``inspect.signature`` as ``name=default`` items (defaults by ``repr``), ``**kwargs`` kept, no annotations."""
    items = []
    for parameter in inspect.signature(obj).parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            items.append(f"**{parameter.name}")
        elif parameter.default is parameter.empty:
            items.append(parameter.name)
        else:
            items.append(f"{parameter.name}={parameter.default!r}")
    return f"({', '.join(items)})"


@pytest.mark.parametrize("name", sorted(KERAS_LAYER_SIGNATURES))
def test_layer_signatures_are_keras(name):
    assert signature_text(getattr(layers, name)) == KERAS_LAYER_SIGNATURES[name]


def test_every_loss_class_has_a_recorded_signature():
    assert set(KERAS_LOSS_SIGNATURES) == set(losses._CLASSES)


@pytest.mark.parametrize("name", sorted(KERAS_LOSS_SIGNATURES))
def test_loss_signatures_are_keras(name):
    assert signature_text(getattr(losses, name)) == KERAS_LOSS_SIGNATURES[name]


@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU", "Conv1D", "Conv2D"])
def test_layers_hand_every_argument_on(name):
    """Each explicit argument reaches the layer: a non-default value shows in its config, or as an attribute where
    Keras' config leaves it out (SimpleRNN's seed), so the one-line hand-on drops nothing."""
    cls = getattr(layers, name)
    recurrent = name in ("SimpleRNN", "LSTM", "GRU")
    base = {"units": 3} if recurrent else {"filters": 2, "kernel_size": 3}
    changed = {"use_bias": False, "kernel_initializer": "ones", "bias_initializer": "ones", "activation": "relu"}
    if recurrent:
        changed.update(dropout=0.25, recurrent_dropout=0.5, return_sequences=True, go_backwards=True, seed=7)
        changed["recurrent_initializer"] = "zeros"
        if name != "SimpleRNN":
            changed["recurrent_activation"] = "tanh"
        changed.update({"LSTM": {"unit_forget_bias": False}, "GRU": {"reset_after": False}}.get(name, {}))
    else:
        changed.update(strides=2, padding="same", dilation_rate=1)
    layer = cls(**base, **changed, name="probe")
    config = layer.get_config()
    for key, value in changed.items():
        shown = config[key] if key in config else getattr(layer, key)
        if key.endswith("_initializer"):
            shown = shown["class_name"].lower()
        elif key == "strides":
            value = (value,) * (1 if name == "Conv1D" or recurrent else 2)
        elif key == "dilation_rate":
            value = (value,) * (1 if name == "Conv1D" else 2)
        assert shown == value, key
    assert config["name"] == "probe"


@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU", "Conv1D", "Conv2D"])
def test_regularizers_arrive_and_constraints_are_refused_naming_them(name):
    base = {"units": 3} if name in ("SimpleRNN", "LSTM", "GRU") else {"filters": 2, "kernel_size": 3}
    layer = getattr(layers, name)(**base, kernel_regularizer="l2", activity_regularizer="l1")
    assert layer.get_config()["kernel_regularizer"]["class_name"] == "L2"
    assert layer.get_config()["activity_regularizer"]["class_name"] == "L1"
    with pytest.raises(ValueError, match="kernel_regularizer"):
        getattr(layers, name)(**base, kernel_regularizer="l3")
    with pytest.raises(ValueError, match="kernel_constraint"):
        getattr(layers, name)(**base, kernel_constraint="non_neg")
    with pytest.raises(ValueError, match="Unrecognized keyword arguments passed to"):  # Keras' error
        getattr(layers, name)(**base, not_an_argument=1)
