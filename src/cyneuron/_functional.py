"""Keras' functional API for models that are one chain of layers: ``Model(inputs, outputs)``.

``Input(shape)`` returns the model's input layer, which stands for its symbolic input; calling a layer on
it (or on a later symbolic value) returns a ``KerasTensor`` recording which layer made it from what. A
``Model(inputs, outputs)`` walks that record from the output back to the input. When it is one chain (no
branch, merge or shared layer) the model is that stack of layers and trains through the same compiled
step as a ``Sequential``; other graphs are refused with an error saying what cyneuron supports.
"""

from __future__ import annotations

import itertools
from typing import Any

from cyneuron.layers.base import Layer, _feature_shape, unique_name
from cyneuron.layers.core import InputLayer
from cyneuron.models import Sequential

__all__ = ["KerasTensor", "Model", "Functional", "symbolic_call"]

_TENSOR_IDS = itertools.count()


class KerasTensor:
    """A symbolic value of shape ``(None, ...)``: what a layer called on ``Input(...)`` returns.

    ``shape``, ``dtype``, ``ndim`` and ``name`` as in Keras; it holds no data. ``_keras_history`` is
    ``(layer, parent)``: the layer that made it and the symbolic value the layer was called on.
    """

    def __init__(self, shape: tuple, dtype: str, layer: Layer, parent: InputLayer | KerasTensor) -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        index = next(_TENSOR_IDS)
        self.name = f"keras_tensor_{index}" if index else "keras_tensor"
        self._keras_history = (layer, parent)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError(
            "A symbolic KerasTensor has no values: it only describes a model's graph. Build a Model(inputs, "
            "outputs) from it and call model.predict(x) on data."
        )


def is_symbolic(value: object) -> bool:
    """Whether ``value`` is a symbolic input (``Input(...)``) or a symbolic value made from one."""
    return isinstance(value, (InputLayer, KerasTensor))


def symbolic_call(layer: Layer, inputs: InputLayer | KerasTensor) -> KerasTensor:
    """``layer(inputs)`` on a symbolic value: checks the layer takes that shape and records the call."""
    shape = tuple(inputs.shape)
    features = _feature_shape(shape[1:], "inputs.shape[1:]")
    if layer.built and layer._build_shape is not None and layer._build_shape != features:
        raise ValueError(
            f"{layer.name}: already built for inputs of shape {(None, *layer._build_shape)}, "
            f"cannot be called on {shape}"
        )
    layer._validate_input(features)
    output = KerasTensor(layer.compute_output_shape(shape), layer.dtype, layer, inputs)
    if getattr(layer, "_first_output", None) is None:  # Keras' layer.output is its first call's
        layer._first_output = output
    return output


def _single(value: Any, argument: str, kinds: tuple[type, ...]) -> Any:
    """The one symbolic value in ``value`` (itself, a one-entry list/tuple or dict), checked."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise NotImplementedError(
                f"{argument}: cyneuron's functional models have one input and one output, got {len(value)}; "
                "models with several are not available in cyneuron"
            )
        value = value[0]
    if not isinstance(value, kinds):
        names = " or ".join(kind.__name__ for kind in kinds)
        raise TypeError(f"{argument}: expected a {names} (from Input(...) and layer calls), got {type(value).__name__}")
    return value


def _chain(inputs: InputLayer, outputs: InputLayer | KerasTensor) -> list[Layer]:
    """The layers from ``inputs`` to ``outputs``, in call order."""
    layers: list[Layer] = []
    node = outputs
    while isinstance(node, KerasTensor):
        layer, node = node._keras_history
        layers.append(layer)
    if node is not inputs:
        raise ValueError("outputs: the output is not connected to `inputs` (it was computed from another Input)")
    layers.reverse()
    for index, layer in enumerate(layers):
        if any(other is layer for other in layers[:index]):
            raise NotImplementedError(
                f"outputs: layer {layer.name!r} is called twice; shared layers are not available in cyneuron"
            )
    return layers


class _ModelType(type):
    # Keras' Sequential is a subclass of Model; here Model(inputs, outputs) builds on Sequential's stack, so
    # isinstance/issubclass are told what Keras code expects: every Sequential is a Model.
    def __instancecheck__(cls, instance: object) -> bool:
        if cls is Model:
            return isinstance(instance, Sequential)
        return super().__instancecheck__(instance)

    def __subclasscheck__(cls, subclass: type) -> bool:
        if cls is Model:
            return issubclass(subclass, Sequential)
        return super().__subclasscheck__(subclass)


class Model(Sequential, metaclass=_ModelType):
    """A model from Keras' functional API, ``Model(inputs, outputs)``, for a chain of layers::

        inputs = Input(shape=(784,))
        x = Dense(64, activation="relu")(inputs)
        outputs = Dense(10, activation="softmax")(x)
        model = Model(inputs=inputs, outputs=outputs)

    It compiles, trains, predicts, saves and loads as a ``Sequential`` of the same layers (and
    ``isinstance(Sequential(...), Model)`` holds, as in Keras). Graphs with branches, merges, several
    inputs or outputs, shared layers, and subclassed models (a ``call`` method) are not available.

    Args:
        inputs: the ``Input(...)`` the graph starts from (or a one-entry list/dict of it).
        outputs: the symbolic output (or a one-entry list/dict of it).
        name: the model's name (default ``functional``, ``functional_1``, ...).
        trainable: whether the model's layers train.
    """

    def __new__(cls, *args, **kwargs):
        # As Keras: Model(inputs, outputs) makes a Functional (a subclass of Model).
        return super().__new__(Functional if cls is Model else cls)

    def __init__(self, inputs=None, outputs=None, name: str | None = None, trainable: bool = True, **kwargs) -> None:
        if type(self) is not Functional or (inputs is None and outputs is None and not kwargs):
            raise NotImplementedError(
                "Subclassed models (a keras.Model subclass with a call() method) are not available in cyneuron; "
                "build the model with Sequential([...]) or Model(inputs, outputs)"
            )
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments passed to Model: {kwargs}")
        if inputs is None or outputs is None:
            raise ValueError("Model(inputs, outputs): both inputs and outputs are required")
        input_layer = _single(inputs, "inputs", (InputLayer,))
        output = _single(outputs, "outputs", (InputLayer, KerasTensor))
        layers = _chain(input_layer, output)
        super().__init__([input_layer, *layers], name=name if name is not None else unique_name("functional"))
        self._symbolic_inputs = input_layer
        self._symbolic_output = output
        if trainable is not True:
            self.trainable = trainable

    _keras_class_name = "Functional"

    # Keras' functional models list their input layer first; Sequential's does not.
    @property
    def layers(self) -> list[Layer]:
        return [self._input_layer, *self._layers]

    @property
    def inputs(self) -> list:
        return [self._symbolic_inputs]

    @property
    def outputs(self) -> list:
        return [self._symbolic_output]

    @property
    def input(self):
        return self._symbolic_inputs

    @property
    def output(self):
        return self._symbolic_output

    def add(self, layer: Layer) -> None:
        if getattr(self, "_symbolic_inputs", None) is not None:
            raise AttributeError("'Functional' object has no attribute 'add': a functional model's graph is fixed")
        super().add(layer)

    def pop(self) -> Layer:
        raise AttributeError("'Functional' object has no attribute 'pop': a functional model's graph is fixed")

    def get_config(self) -> dict:
        """Sequential's layout (the input layer first, then each layer) naming the input and output layers,
        as Keras' functional configs do; ``models.model_from_config`` tells the two apart by them."""
        config = super().get_config()
        last = self._layers[-1].name if self._layers else self._input_layer.name
        config["input_layers"] = [[self._input_layer.name, 0, 0]]
        config["output_layers"] = [[last, 0, 0]]
        return config

    @classmethod
    def from_config(cls, config: dict) -> Model:
        """A functional model from ``get_config()``'s layout (Sequential's list of layers)."""
        stack = Sequential.from_config(config)
        if stack._input_layer is None:
            raise ValueError("config: a functional model's configuration starts with its InputLayer")
        node = stack._input_layer
        for layer in stack._layers:
            node = symbolic_call(layer, node)
        return cls(stack._input_layer, node, name=stack.name)

    def __repr__(self) -> str:
        return f"<Functional name={self.name}, built={self.built}>"


class Functional(Model):
    """What ``Model(inputs, outputs)`` returns, as in Keras (``type(model).__name__ == "Functional"``)."""
