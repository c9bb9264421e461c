"""Layer wrappers over sequences, as ``keras.layers.TimeDistributed`` and ``keras.layers.Bidirectional``.

``TimeDistributed(layer)`` applies ``layer`` to every time step of ``(batch, T, ...)`` inputs with the
same weights, as Keras does by folding time into the batch: rows of ``(batch, T, *inner)`` are already
``batch * T`` rows of ``inner``, so the wrapped layer's stages run with ``StageSpec.fold`` multiplied by
T (the network runs a folded stage over ``rows * fold`` rows; no data moves). Any inner layer works,
including convolutions, pooling, recurrent layers and BatchNormalization, whose statistics are then over
``batch * T`` rows, exactly Keras'.

``Bidirectional(layer)`` runs a SimpleRNN/LSTM/GRU forward and a copy built from its config with
``go_backwards=True`` backward over the same input, in one compiled stage (kind ``bidirectional``, see
``cyneuron.backend.reference.bidirectional``), and merges their outputs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from cyneuron.backend.specs import StageSpec
from cyneuron.layers.base import Layer, stage_list, strip_neutral

__all__ = ["TimeDistributed", "Bidirectional"]


class _Wrapper(Layer):
    """A layer holding another one, whose weights are its own (Keras' ``Wrapper``)."""

    def _adopt(self, *inner: Layer) -> None:
        """Make the inner layers' variables this layer's (the same arrays, in the inner layers' order)."""
        self._variables = [item for layer in inner for item in layer._variables]

    def regularized_weights(self) -> list:
        if not self._trainable:
            return []
        return [pair for layer in self._inner() for pair in layer.regularized_weights()]

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        # as Keras: setting a layer's trainable sets its sublayers'
        Layer.trainable.fset(self, value)
        for layer in self._inner():
            layer.trainable = value

    def _inner(self) -> list[Layer]:
        return []


def _check_layer(layer, wrapper: str, what: str = "layer") -> None:
    if not isinstance(layer, Layer):
        raise ValueError(f"Please initialize `{wrapper}` layer with a `keras.layers.Layer` instance. Received: {layer}")
    if what == "layer" and type(layer).__name__ == "InputLayer":
        raise ValueError(f"{wrapper}: cannot wrap an InputLayer")


class TimeDistributed(_Wrapper):
    """Applies ``layer`` to every temporal slice (axis 1) of its input, with one set of weights.

    Input ``(batch, T, *inner)``, output ``(batch, T, *layer_output)``; the weights are the wrapped
    layer's (``TimeDistributed(Dense(4))`` has the Dense's ``kernel (in, 4)`` and ``bias (4,)``). Keras'
    config ``{"layer": {"class_name", "config"}}``. ``Dropout`` inside draws every time step's mask
    apart (its ``noise_shape`` applies per (sample, step) row), as Keras' folded call does.

    Any inner layer: its stages run over the ``batch * T`` rows (``StageSpec.fold``).
    """

    def __init__(self, layer, **kwargs) -> None:
        """``kwargs``: the base layer's (``name``, ``dtype``, ``trainable`` ...), as Keras' signature."""
        _check_layer(layer, "TimeDistributed")
        self.layer = layer
        super().__init__(**kwargs)
        if not kwargs.get("trainable", True):
            layer.trainable = False

    def _inner(self) -> list[Layer]:
        return [self.layer]

    def __call__(self, inputs, training: bool = False, mask=None):
        """As ``Layer.__call__``; ``mask`` ``(batch, T, ...)`` is checked against the input as Keras does and
        otherwise unused: none of the supported inner layers reads a mask (Keras passes it only to those)."""
        if mask is not None:
            self._check_mask(inputs, mask)
        return super().__call__(inputs, training)

    @staticmethod
    def _check_mask(inputs, mask) -> None:
        mask_shape = tuple(np.shape(mask))
        input_shape = tuple(getattr(inputs, "shape", np.shape(inputs)))
        if len(mask_shape) < 2:
            raise ValueError(
                "The `mask` passed to the `TimeDistributed` layer must be at least 2D (e.g., `(batch_size, "
                f"timesteps)`), but it has {len(mask_shape)} dimension(s) with shape {mask_shape}."
            )
        for axis in (0, 1):
            if input_shape[axis] is not None and mask_shape[axis] is not None and input_shape[axis] != mask_shape[axis]:
                raise ValueError(
                    f"The `mask` passed to the `TimeDistributed` layer has a shape {mask_shape} that is incompatible "
                    f"with the input shape {input_shape}. The first two dimensions of the mask (batch size and "
                    f"timesteps) must match the input's first two dimensions. Expected mask shape prefix: "
                    f"({input_shape[0]}, {input_shape[1]})."
                )

    def _child_shape(self, features: tuple[int, ...]) -> tuple[int, ...]:
        if len(features) < 2:
            raise ValueError(
                "`TimeDistributed` Layer should be passed an `input_shape` with at least 3 dimensions, "
                f"received: {(None, *features)}"
            )
        return tuple(features[1:])

    def _validate_input(self, features: tuple[int, ...]) -> None:
        self.layer._validate_input(self._child_shape(features))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        inner = self.layer.compute_output_shape((shape[0], *self._child_shape(shape[1:])))
        return (inner[0], shape[1], *inner[1:])

    def build(self, input_shape) -> None:
        features = tuple(input_shape)[1:]
        child = self._child_shape(features)
        if self._dry_shapes is not None:  # shape inference only (Layer._weight_shapes)
            self._dry_shapes.extend(self.layer._weight_shapes(child))
            return
        self.layer._build(child, self._build_dtype or np.dtype(self.dtype))
        self._adopt(self.layer)
        self.built = True

    def stage_spec(self) -> list[StageSpec]:
        steps = self._build_shape[0]
        return [
            dataclasses.replace(
                spec, fold=spec.fold * steps, trainable=spec.trainable and self._trainable, name=self.name
            )
            for spec in stage_list(self.layer.stage_spec())
        ]

    def get_config(self) -> dict:
        from cyneuron.layers import serialize

        return {**super().get_config(), "layer": serialize(self.layer)}

    @classmethod
    def from_config(cls, config: dict) -> TimeDistributed:
        from cyneuron.layers import deserialize

        if not isinstance(config, dict) or "layer" not in config:
            raise ValueError("TimeDistributed.from_config: expected a config with a 'layer' entry")
        config = strip_neutral(cls.__name__, config)
        return cls(deserialize(config.pop("layer")), **config)


_MERGE_MODES = ("sum", "mul", "ave", "concat", None)


def _remove_prefix(name: str, prefix: str) -> str:
    return name[len(prefix) :] if name.startswith(prefix) else name


class Bidirectional(_Wrapper):
    """Runs a recurrent layer forward and a copy of it backward over the sequence, and merges the two.

    Args as ``keras.layers.Bidirectional``: ``layer`` a SimpleRNN, LSTM or GRU; ``merge_mode`` one of
    ``"concat"`` (default: forward's then backward's units on the last axis), ``"sum"``, ``"ave"``,
    ``"mul"`` (``None``: the two outputs apart, only when the layer is called on data directly; a
    model's layer has one output, so building one refuses it with ValueError);
    ``weights`` (forward's then backward's, set when built); ``backward_layer`` (default: ``layer``'s
    config with ``go_backwards=True``, named ``backward_<name>``; the forward copy is ``forward_<name>``).
    With ``return_sequences`` the backward layer's output (in reversed time, as ``go_backwards`` gives
    it) is flipped back before merging, as Keras does. Weights are forward's then backward's, Keras'
    ``get_weights()`` order. Both directions must be the same class with the same units.
    """

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs) -> None:
        from cyneuron.layers import deserialize, serialize
        from cyneuron.layers.recurrent import _RNN

        _check_layer(layer, "Bidirectional")
        if backward_layer is not None and not isinstance(backward_layer, Layer):
            raise ValueError(f"`backward_layer` need to be a `keras.layers.Layer` instance. Received: {backward_layer}")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(
                f"Invalid merge mode. Received: {merge_mode}. "
                'Merge mode should be one of {"sum", "mul", "ave", "concat", None}'
            )
        for what, candidate in (("layer", layer), ("backward_layer", backward_layer)):
            if candidate is not None and not isinstance(candidate, _RNN):
                raise NotImplementedError(
                    f"Bidirectional({what}={type(candidate).__name__}) is not supported by cyneuron: "
                    "the wrapped layers must be SimpleRNN, LSTM or GRU"
                )
        super().__init__(**kwargs)
        config = serialize(layer)
        config["config"]["name"] = f"forward_{_remove_prefix(layer.name, 'forward_')}"
        self.forward_layer = deserialize(config)
        if backward_layer is None:
            config = serialize(layer)
            config["config"]["go_backwards"] = True
            config["config"]["name"] = f"backward_{_remove_prefix(layer.name, 'backward_')}"
            self.backward_layer = deserialize(config)
        else:
            self.backward_layer = backward_layer
        self._verify_layer_config()
        self.merge_mode = merge_mode
        self._initial_weights = list(weights) if weights else None
        self.stateful = False
        self.return_sequences = layer.return_sequences
        self.return_state = False
        if not self._trainable:
            self.forward_layer.trainable = self.backward_layer.trainable = False

    def _inner(self) -> list[Layer]:
        return [self.forward_layer, self.backward_layer]

    def _verify_layer_config(self) -> None:
        forward, backward = self.forward_layer, self.backward_layer
        if forward.go_backwards == backward.go_backwards:
            raise ValueError(
                "Forward layer and backward layer should have different `go_backwards` value. Received: "
                f"forward_layer.go_backwards {forward.go_backwards}, backward_layer.go_backwards="
                f"{backward.go_backwards}"
            )
        for attribute in ("stateful", "return_sequences", "return_state"):
            a, b = getattr(forward, attribute), getattr(backward, attribute)
            if a != b:
                raise ValueError(
                    "Forward layer and backward layer are expected to have the same value for attribute "
                    f'"{attribute}", got "{a}" for forward layer and "{b}" for backward layer'
                )
        if type(forward) is not type(backward) or forward.units != backward.units:
            raise NotImplementedError(
                "Bidirectional: cyneuron needs the forward and backward layers to be the same class with the "
                f"same units, got {type(forward).__name__}({forward.units}) and "
                f"{type(backward).__name__}({backward.units})"
            )

    def _validate_input(self, features: tuple[int, ...]) -> None:
        if self.merge_mode is None:
            raise ValueError(
                f"{self.name}: merge_mode=None gives two outputs (forward, backward), which a layer of a cyneuron "
                'model cannot pass on; use "concat", "sum", "ave" or "mul" (calling the layer on data directly '
                "returns the two)"
            )
        self.forward_layer._validate_input(features)

    def compute_output_shape(self, input_shape: tuple):
        shape = list(self.forward_layer.compute_output_shape(input_shape))
        if self.merge_mode is None:
            return [tuple(shape), tuple(shape)]
        if self.merge_mode == "concat":
            shape[-1] *= 2
        return tuple(shape)

    def _call(self, inputs, training: bool):
        if self.merge_mode is not None:
            return super()._call(inputs, training)
        # the two outputs apart, the backward one flipped back in time as when merging
        y = self.forward_layer._call(inputs, training)
        y_rev = self.backward_layer._call(inputs, training)
        self._adopt(self.forward_layer, self.backward_layer)
        self._build_shape = self.forward_layer._build_shape
        self.built = True
        return y, (y_rev[:, ::-1] if self.return_sequences else y_rev)

    def build(self, input_shape) -> None:
        features = tuple(input_shape)[1:]
        if self._dry_shapes is not None:  # shape inference only (Layer._weight_shapes)
            for layer in self._inner():
                self._dry_shapes.extend(layer._weight_shapes(features))
            return
        dtype = self._build_dtype or np.dtype(self.dtype)
        for layer in self._inner():
            layer._build(features, dtype)
        self._adopt(self.forward_layer, self.backward_layer)
        if self._initial_weights is not None:
            weights, self._initial_weights = self._initial_weights, None
            self.set_weights(weights)
        self.built = True

    @property
    def weight_names(self) -> list[str]:
        """``<direction layer>/<variable>`` (``forward_lstm/kernel`` ...): unique within the layer."""
        return [f"{layer.name}/{name}" for layer in self._inner() for name in layer.weight_names]

    def stage_spec(self) -> StageSpec:
        forward = self.forward_layer.stage_spec()
        backward = self.backward_layer.stage_spec()
        attrs = {
            "cell": forward.kind,
            "merge_mode": self.merge_mode,
            "forward": dict(forward.attrs),
            "backward": dict(backward.attrs),
            "n_forward": len(forward.params),
        }
        trainable = self._trainable and forward.trainable and backward.trainable
        spec = self._spec("bidirectional", attrs, (*forward.params, *backward.params))
        return dataclasses.replace(spec, trainable=trainable)

    def get_config(self) -> dict:
        from cyneuron.layers import serialize

        config = {**super().get_config(), "merge_mode": self.merge_mode}
        config["layer"] = serialize(self.forward_layer)
        config["backward_layer"] = serialize(self.backward_layer)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Bidirectional:
        from cyneuron.layers import deserialize

        if not isinstance(config, dict) or "layer" not in config:
            raise ValueError("Bidirectional.from_config: expected a config with a 'layer' entry")
        config = strip_neutral(cls.__name__, config)
        layer = deserialize(_no_mask_output(config.pop("layer")))
        backward = config.pop("backward_layer", None)
        if backward is not None:
            config["backward_layer"] = deserialize(_no_mask_output(backward))
        return cls(layer, **config)


def _no_mask_output(layer_config):
    """Keras' Bidirectional sets its layers' ``zero_output_for_mask`` to ``return_sequences``; without masks
    it changes nothing, so it is dropped before the layer is made."""
    if isinstance(layer_config, dict) and isinstance(layer_config.get("config"), dict):
        inner = dict(layer_config["config"])
        inner.pop("zero_output_for_mask", None)
        return {**layer_config, "config": inner}
    return layer_config
