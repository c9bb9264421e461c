"""Recurrent layers, as ``keras.layers.SimpleRNN``, ``LSTM`` and ``GRU`` (Keras 3's arguments and weights).

Each layer is one backend stage (kinds ``simple_rnn``, ``lstm``, ``gru``; see
``cyneuron.backend.reference.recurrent``) that runs the whole time loop, forward and backpropagation
through time, in one compiled call. Inputs are ``(batch, timesteps, features)``; the output is the last
step's ``(batch, units)``, or every step's ``(batch, timesteps, units)`` with ``return_sequences=True``.
Weights have Keras' shapes and gate orders, so ``get_weights``/``set_weights`` move them between
Keras and cyneuron unchanged: ``kernel (features, G)``, ``recurrent_kernel (units, G)``, ``bias`` with
G = units (SimpleRNN), 4 * units (LSTM: i, f, c, o) or 3 * units (GRU: z, r, h; bias ``(2, G)`` with
``reset_after=True``, Keras 3's default).

``dropout`` / ``recurrent_dropout`` follow Keras 3 (``DropoutRNNCell``): a rate is clipped to [0, 1]
(a non-number is a TypeError); in training one mask per batch is drawn and reused at every time step,
the input mask multiplying the inputs before the kernel product and the recurrent mask the previous
output before the recurrent-kernel product. SimpleRNN has one of each; LSTM and GRU one input mask
shared by the gates when ``recurrent_dropout == 0`` (Keras' implementation 2) and one mask per gate
on both sides otherwise (implementation 1), and ignore a rate of exactly 1 (Keras tests
``0 < rate < 1``), where SimpleRNN zeroes everything. The masks come from cyneuron's counter-based
generator keyed by ``seed`` (or the model's) and the step; inference uses none.

Not implemented (refused with ValueError naming the argument): ``return_state=True``,
``stateful=True``, masking; constraints other than None. ``unroll`` is accepted and
changes nothing (the loop is compiled either way).
"""

from __future__ import annotations

import numpy as np

from cyneuron import activations as _activations
from cyneuron import initializers as _initializers
from cyneuron import regularizers as _regularizers
from cyneuron.backend.specs import RECURRENT_ACTIVATIONS, StageSpec
from cyneuron.layers.base import MAX_WIDTH, Layer, _named, unsupported_options
from cyneuron.utils import _init_arguments

__all__ = ["SimpleRNN", "LSTM", "GRU"]


class _UnitForgetBias(_initializers.Initializer):
    """Keras' LSTM bias with ``unit_forget_bias``: ``[init((u,)), ones((u,)), init((2u,))]``."""

    def __init__(self, base: _initializers.Initializer, units: int) -> None:
        self.base = base
        self.units = units

    def __call__(self, shape, dtype=None) -> np.ndarray:
        u = self.units
        parts = [self.base((u,), dtype=dtype), np.ones((u,), dtype=dtype), self.base((2 * u,), dtype=dtype)]
        return np.concatenate(parts)


def _check_units(units) -> int:
    if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
        raise ValueError(f"Received an invalid value for argument `units`, expected a positive integer, got {units}.")
    if units > MAX_WIDTH // 4:
        raise ValueError(f"units: expected at most (2**31 - 1) // 4 (BLAS' 32-bit dimensions), got {units}")
    return int(units)


def _check_flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _check_rate(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a float, got {type(value).__name__}")
    return min(1.0, max(0.0, float(value)))  # Keras clips the rate to [0, 1] (NaN gives 0)


# Keras' weight regularizer arguments (penalties in the compiled step) and constraint arguments (accepted at
# None only), in its config order; ``activity_regularizer`` goes to ``Layer``.
_REGULARIZERS = ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer")
_CONSTRAINTS = ("kernel_constraint", "recurrent_constraint", "bias_constraint")


class _RNN(Layer):
    """What SimpleRNN, LSTM and GRU share: the sequence options, weights and stage."""

    _KIND = ""
    _GATES = 1

    def __init__(
        self,
        *,
        units,
        activation,
        use_bias,
        kernel_initializer,
        recurrent_initializer,
        bias_initializer,
        dropout,
        recurrent_dropout,
        seed,
        return_sequences,
        return_state,
        go_backwards,
        stateful,
        unroll,
        recurrent_activation=None,
        zero_output_for_mask=False,
        **kwargs,
    ) -> None:
        """Keyword arguments only: subclasses keep Keras' explicit signatures and hand them on with
        ``_init_arguments(locals())``; the regularizers and constraints (only None) arrive in ``kwargs``."""
        unsupported = {key: kwargs.pop(key) for key in _CONSTRAINTS if key in kwargs}
        regularizers = {key: kwargs.pop(key, None) for key in _REGULARIZERS}
        self.units = _check_units(units)
        self.activation = _activations.get(activation)
        self._activation_name = _activations.name_of(activation)
        self.recurrent_activation = _activations.get(recurrent_activation)
        self._recurrent_activation_name = _activations.name_of(recurrent_activation)
        names = (("activation", self._activation_name), ("recurrent_activation", self._recurrent_activation_name))
        for key, name in names:
            if name not in RECURRENT_ACTIVATIONS:
                raise ValueError(
                    f"{key}: {name!r} is not supported by the recurrent kernels; "
                    f"expected one of {', '.join(RECURRENT_ACTIVATIONS)}"
                )
        self.use_bias = _check_flag(use_bias, "use_bias")
        self.kernel_initializer = _named(_initializers.get, kernel_initializer, "kernel_initializer")
        self.recurrent_initializer = _named(_initializers.get, recurrent_initializer, "recurrent_initializer")
        self.bias_initializer = _named(_initializers.get, bias_initializer, "bias_initializer")
        unsupported_options(type(self).__name__, **unsupported)
        for key, value in regularizers.items():
            setattr(self, key, _named(_regularizers.get, value, key))
        self.dropout = _check_rate(dropout, "dropout")
        self.recurrent_dropout = _check_rate(recurrent_dropout, "recurrent_dropout")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"seed: expected an int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self.return_sequences = _check_flag(return_sequences, "return_sequences")
        if _check_flag(return_state, "return_state"):
            raise ValueError(
                "return_state=True is not supported: a Sequential layer has one output (use return_sequences)"
            )
        self.return_state = False
        self.go_backwards = _check_flag(go_backwards, "go_backwards")
        if _check_flag(stateful, "stateful"):
            raise ValueError("stateful=True is not supported: every batch starts from a zero state")
        self.stateful = False
        self.unroll = _check_flag(unroll, "unroll")  # no effect: the time loop is compiled
        if _check_flag(zero_output_for_mask, "zero_output_for_mask"):
            raise ValueError("zero_output_for_mask=True is not supported: there is no masking")
        super().__init__(**kwargs)

    # ---------------------------------------------------------------- shapes
    def _validate_input(self, features: tuple[int, ...]) -> None:
        if len(features) != 2:
            shape = (None, *features)
            raise ValueError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected ndim=3, "
                f"found ndim={len(shape)}. Full shape received: {shape}"
            )

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        if len(shape) != 3:
            raise ValueError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected ndim=3, "
                f"found ndim={len(shape)}. Full shape received: {shape}"
            )
        if self.return_sequences:
            return (shape[0], shape[1], self.units)
        return (shape[0], self.units)

    # --------------------------------------------------------------- weights
    def _bias_shape(self) -> tuple[int, ...]:
        return (self._GATES * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape) -> None:
        shape = tuple(input_shape)
        features = int(shape[-1])
        width = self._GATES * self.units
        self.kernel = self.add_weight(
            (features, width), self.kernel_initializer, regularizer=self.kernel_regularizer, name="kernel"
        )
        self.recurrent_kernel = self.add_weight(
            (self.units, width),
            self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            name="recurrent_kernel",
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                self._bias_shape(), self._bias_initializer(), regularizer=self.bias_regularizer, name="bias"
            )
        self.built = True

    def _dropout_attrs(self) -> dict:
        """The stage's rates and mask layout. LSTM/GRU (Keras' cells): per-gate masks whenever
        recurrent_dropout != 0 (implementation 1), and a mask only for 0 < rate < 1."""
        if self._GATES == 1:
            return {"dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "gate_masks": False}
        return {
            "dropout": self.dropout if self.dropout < 1.0 else 0.0,
            "recurrent_dropout": self.recurrent_dropout if self.recurrent_dropout < 1.0 else 0.0,
            "gate_masks": self.recurrent_dropout != 0.0,
        }

    def _attrs(self) -> dict:
        return {
            "units": self.units,
            "activation": self._activation_name,
            "return_sequences": self.return_sequences,
            "go_backwards": self.go_backwards,
            **self._dropout_attrs(),
            "seed": self.seed,
        }

    def stage_spec(self) -> StageSpec:
        return self._spec(self._KIND, self._attrs(), self.weights)

    # ---------------------------------------------------------------- config
    def _sequence_config(self) -> dict:
        return {
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": False,
        }

    def _cell_config(self) -> dict:
        return {
            "units": self.units,
            "activation": self._activation_name,
        }

    def _weights_config(self) -> dict:
        return {
            "use_bias": self.use_bias,
            "kernel_initializer": _initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": _initializers.serialize(self.recurrent_initializer),
            "bias_initializer": _initializers.serialize(self.bias_initializer),
        }

    def _regularization_config(self) -> dict:
        """The regularizers' and constraints' entries of Keras' config (constraints are always None here)."""
        return {
            **{key: _regularizers.serialize(getattr(self, key)) for key in _REGULARIZERS},
            "activity_regularizer": _regularizers.serialize(self.activity_regularizer),
            **dict.fromkeys(_CONSTRAINTS),
        }

    def _dropout_config(self) -> dict:
        return {"dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout}


class SimpleRNN(_RNN):
    """Fully-connected RNN: ``h_t = activation(x_t @ kernel + bias + h_{t-1} @ recurrent_kernel)``.

    Args as ``keras.layers.SimpleRNN``: ``units``, ``activation="tanh"``, ``use_bias=True``,
    ``kernel_initializer="glorot_uniform"``, ``recurrent_initializer="orthogonal"``,
    ``bias_initializer="zeros"``, ``return_sequences=False``, ``go_backwards=False``, ``unroll``, ``seed``;
    ``dropout``, ``recurrent_dropout``, the L1/L2 regularizers; constraints only None, ``return_state`` and
    ``stateful`` only False.
    """

    _KIND = "simple_rnn"
    _GATES = 1

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        seed=None,
        **kwargs,
    ) -> None:
        super().__init__(**_init_arguments(locals()))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            **self._sequence_config(),
            **self._cell_config(),
            **self._weights_config(),
            **self._regularization_config(),
            **self._dropout_config(),
        }


class LSTM(_RNN):
    """Long Short-Term Memory (Hochreiter 1997), Keras 3's formulation and weight layout (gates i, f, c, o):
    ``i, f, o = recurrent_activation(...)``, ``c_t = f * c_{t-1} + i * activation(...)``,
    ``h_t = o * activation(c_t)``.

    Args as ``keras.layers.LSTM`` (``recurrent_activation="sigmoid"``, ``unit_forget_bias=True``: the forget
    gate's bias starts at 1); see ``SimpleRNN`` for what is not supported. ``use_cudnn`` is accepted
    ("auto", True, False) and changes nothing.
    """

    _KIND = "lstm"
    _GATES = 4

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        use_cudnn="auto",
        **kwargs,
    ) -> None:
        arguments = _init_arguments(locals())
        self.unit_forget_bias = _check_flag(arguments.pop("unit_forget_bias"), "unit_forget_bias")
        self.use_cudnn = _check_cudnn(arguments.pop("use_cudnn"))
        super().__init__(**arguments)

    def _bias_initializer(self):
        if self.unit_forget_bias:
            return _UnitForgetBias(self.bias_initializer, self.units)
        return self.bias_initializer

    def _attrs(self) -> dict:
        return {**super()._attrs(), "recurrent_activation": self._recurrent_activation_name}

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            **self._sequence_config(),
            **self._cell_config(),
            "recurrent_activation": self._recurrent_activation_name,
            **self._weights_config(),
            "unit_forget_bias": self.unit_forget_bias,
            **self._regularization_config(),
            **self._dropout_config(),
            "seed": self.seed,
        }


class GRU(_RNN):
    """Gated Recurrent Unit (Cho et al. 2014), Keras 3's formulation and weight layout (gates z, r, h):
    ``h_t = z * h_{t-1} + (1 - z) * activation(x_h + r * (h_{t-1} @ U_h + b_rh))`` with ``reset_after=True``
    (Keras 3's default, bias ``(2, 3 * units)``: input and recurrent biases), or
    ``activation(x_h + (r * h_{t-1}) @ U_h)`` with ``reset_after=False`` (bias ``(3 * units,)``).

    Args as ``keras.layers.GRU``; see ``SimpleRNN`` for what is not supported.
    """

    _KIND = "gru"
    _GATES = 3

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        reset_after=True,
        use_cudnn="auto",
        **kwargs,
    ) -> None:
        arguments = _init_arguments(locals())
        self.reset_after = _check_flag(arguments.pop("reset_after"), "reset_after")
        self.use_cudnn = _check_cudnn(arguments.pop("use_cudnn"))
        super().__init__(**arguments)

    def _bias_shape(self) -> tuple[int, ...]:
        width = 3 * self.units
        return (2, width) if self.reset_after else (width,)

    def _attrs(self) -> dict:
        return {
            **super()._attrs(),
            "recurrent_activation": self._recurrent_activation_name,
            "reset_after": self.reset_after,
        }

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            **self._sequence_config(),
            **self._cell_config(),
            "recurrent_activation": self._recurrent_activation_name,
            **self._weights_config(),
            **self._regularization_config(),
            **self._dropout_config(),
            "reset_after": self.reset_after,
            "seed": self.seed,
        }


def _check_cudnn(use_cudnn):
    if (
        use_cudnn not in ("auto", True, False)
        or isinstance(use_cudnn, (int, float))
        and not isinstance(use_cudnn, bool)
    ):
        raise ValueError(
            "Invalid valid received for argument `use_cudnn`. Expected one of {'auto', True, False}. "
            f"Received: use_cudnn={use_cudnn}"
        )
    return use_cudnn
