"""Models, as in ``keras.models``: ``Sequential`` (and ``load_model``).

The model validates and converts user data once per call, then hands whole
arrays to the backend's built ``Network`` (see ``cyneuron.backend.base``),
which does every computation: prediction, training steps, losses and metrics.
The training loop does a minimum of Python work per batch: one
``train_batch`` call, plus logs only when a callback or a live progress bar
needs them.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Sequence

import numpy as np

from cyneuron import backend as _backend
from cyneuron import config as _config
from cyneuron import losses as _losses
from cyneuron import optimizers as _optimizers
from cyneuron._compile import CompileMixin
from cyneuron._inference import InferenceMixin, new_net_lock
from cyneuron._summary import summary_text
from cyneuron._training import _DEFAULT_BATCH_SIZE, TrainingMixin
from cyneuron.backend.specs import StageSpec
from cyneuron.layers import InputLayer, Layer, _feature_shape, unique_name
from cyneuron.layers import deserialize as _deserialize_layer
from cyneuron.layers import serialize as _serialize_layer
from cyneuron.layers.base import stage_list
from cyneuron.utils import _as_array, _float_array, _index_array

__all__ = ["Sequential", "Model", "load_model", "model_from_json", "clone_model"]


def model_from_json(json_string: str, custom_objects=None) -> Sequential:
    """A new (unbuilt or freshly initialised) model from ``model.to_json()``'s output, as Keras'."""
    import json

    if custom_objects:
        raise ValueError("custom_objects: cyneuron models have no custom objects")
    if not isinstance(json_string, (str, bytes)):
        raise TypeError(f"json_string: expected a str, got {type(json_string).__name__}")
    try:
        config = json.loads(json_string)
    except json.JSONDecodeError as error:
        raise ValueError(f"json_string: not valid JSON ({error})") from None
    if not isinstance(config, dict) or config.get("class_name") not in ("Sequential", "Functional"):
        raise ValueError("json_string: expected a Sequential or functional model's JSON (from model.to_json())")
    return model_from_config(config.get("config") or {})


def model_from_config(config: dict) -> Sequential:
    """A new model from a model's ``get_config()``: a functional ``Model`` when the config names its input
    and output layers (as Keras' functional configs do), else a ``Sequential``."""
    if isinstance(config, dict) and "input_layers" in config:
        return Model.from_config(config)
    return Sequential.from_config(config)


def clone_model(model: Sequential) -> Sequential:
    """A new model with the same architecture and freshly initialised weights, as ``keras.models.clone_model``."""
    if not isinstance(model, Sequential):
        raise TypeError(f"model: expected a cyneuron Sequential model, got {type(model).__name__}")
    return model_from_config(model.get_config())


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Load a model saved with ``model.save`` / ``cyneuron.saving.save_model`` (see ``cyneuron.saving``)."""
    from cyneuron.saving import load_model as _load_model

    return _load_model(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


class Sequential(CompileMixin, InferenceMixin, TrainingMixin):
    """A linear stack of layers, as ``keras.Sequential``.

    Args:
        layers: optional list of layers; an ``Input(shape)`` may come first.
        name: the model's name (default ``sequential``, ``sequential_1``, ...).

    The model is built (its weights created) as soon as its input shape is
    known: from ``Input(shape)``, from the first layer's ``input_shape`` /
    ``input_dim``, from ``build((None, features))``, or from the first data
    given to ``fit`` / ``predict`` / ``evaluate``.
    """

    _keras_class_name = "Sequential"  # the class a Keras config of this model names

    def __init__(self, layers: Sequence[Layer] | None = None, name: str | None = None) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name: expected a non-empty string, got {name!r}")
        self.name = name if name is not None else unique_name("sequential")
        self._layers: list[Layer] = []
        self._input_layer: InputLayer | None = None
        self._features: tuple[int, ...] | None = None  # per-sample input shape
        self.built = False
        self._dtype: np.dtype | None = None
        # x: rows of the float dtype, or (a first Embedding) int64 indices in [0, _indices); _x_dtype is x's type
        self._indices = 0
        self._x_dtype: np.dtype | None = None
        self._input_dim = 0
        self._fast_dim = -1  # input width when x can go straight to the network (rank-1 input), else -1
        self._units = 0
        self._loss_steps = 1
        self._out_shape: tuple[int, ...] = ()
        self._network = None
        self._fast = None  # the network's fast_predictor (predict's one-call path) or None
        self._network_trainable: tuple[bool, ...] = ()
        self._network_params: list[np.ndarray] = []
        self._trainable = True
        self._prepared: tuple | None = None
        # compile state
        self.optimizer: _optimizers.Optimizer | None = None
        self.loss = None
        self._loss_spec = None
        self._metric_ids: list = []
        self._weighted_ids: list = []
        self._set_compiled_metrics([])  # resolved per fit / evaluate from the targets' shape (see _compile.py)
        self._metrics_key = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        # Guards fit/evaluate: a second thread gets a clear error instead of interleaving with the first.
        self._lock = threading.RLock()
        # Guards the backend network, whose calls cannot overlap, and the training state it updates. Training /
        # evaluation hold it only inside network calls (never while callbacks run) and wait for it, so a predict
        # running in another thread delays a training step instead of aborting it; predict never waits: it is
        # refused while a step runs. get_weights / set_weights / saving wait for it, so they see the state
        # between two steps, never a torn one. Re-entrant: a callback's save nests the model's own reads.
        self._net_lock = new_net_lock()  # an RLock; compiled when it can be (the fast predict takes it)
        self._build_lock = threading.Lock()
        self._calls: list[str] = []  # fit / evaluate / train_on_batch in progress (a callback may nest them)
        self._calls_thread: int | None = None  # the thread making them
        if layers is not None:
            if isinstance(layers, Layer) or not hasattr(layers, "__iter__"):
                raise TypeError(f"layers: expected a list of layers, got {type(layers).__name__}")
            for layer in layers:
                self.add(layer)

    # ================================================================ structure
    @property
    def layers(self) -> list[Layer]:
        """The model's layers (without the input layer)."""
        return list(self._layers)

    def add(self, layer: Layer) -> None:
        """Append a layer; an ``Input`` is only accepted first. Builds it when the input shape is known."""
        self._refuse_during_calls("add")
        if isinstance(layer, InputLayer):
            if self._input_layer is not None:
                raise ValueError(
                    f"Sequential model '{self.name}' has already been configured to use input shape "
                    f"{self._input_layer.batch_shape}. You cannot add a different Input layer to it."
                )
            if self._layers:
                raise ValueError("add(layer): an Input can only be the first layer of a Sequential model")
            self._input_layer = layer
            self._set_features(layer._input_shape_arg)
            return
        if not isinstance(layer, Layer):
            raise ValueError(
                "Only instances of `keras.Layer` can be added to a Sequential model. "
                f"Received: {layer!r} (of type {type(layer)}) as a layer"
            )
        if any(existing is layer for existing in self._layers):
            raise ValueError(f"add(layer): layer {layer.name!r} is already in the model")
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(
                f"All layers added to a Sequential model should have unique names. Name '{layer.name}' is already "
                "the name of a layer in this model. Update the `name` argument to pass a unique name."
            )
        first = not self._layers and self._input_layer is None
        self._layers.append(layer)
        try:
            if first and layer._input_shape_arg is not None:
                self._set_features(layer._input_shape_arg)
            elif self._features is not None:
                self._build_layers()
        except Exception:
            self._layers.pop()
            raise
        self._invalidate()

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        self._refuse_during_calls("pop")
        if not self._layers:
            raise TypeError("pop(): there are no layers in the model")
        layer = self._layers.pop()
        self._invalidate()
        if self._features is not None:
            self._build_layers()
        return layer

    def _invalidate(self) -> None:
        with self._build_lock:
            self._fast = None  # first: a predict in another thread must not reach a network being dropped
            self._network = None
            self._prepared = None

    def _set_features(self, features: tuple[int, ...]) -> None:
        self._features = features
        try:
            self._build_layers()
        except Exception:
            self._features = None
            raise

    def _model_dtype(self) -> np.dtype:
        wanted: dict[str, str] = {}
        for layer in ([self._input_layer] if self._input_layer is not None else []) + self._layers:
            if layer.weights:
                wanted[layer.name] = layer.weights[0].dtype.name
            elif layer._dtype is not None:
                wanted[layer.name] = layer._dtype
        names = set(wanted.values())
        if len(names) > 1:
            raise ValueError(f"layers: all layers must use one dtype, got {wanted}")
        return np.dtype(names.pop() if names else _config.floatx())

    def _build_layers(self) -> None:
        """Create the weights of every layer for the known input shape; checks the stack fits together."""
        features = self._features
        dtype = self._model_dtype()
        shape: tuple = (None, *features)
        for layer in self._layers:
            layer._build(tuple(shape[1:]), dtype)
            shape = layer.compute_output_shape(shape)
        self._dtype = dtype
        self._input_dim = math.prod(features)
        self._indices = self._check_integer_input()
        self._x_dtype = np.dtype(np.int64) if self._indices else dtype
        self._out_shape = tuple(shape[1:])
        self._units = shape[-1] if len(shape) == 2 else 0  # 0: outputs of rank > 2 (predictions reshaped)
        # the loss sees each sample as loss_steps rows of the last axis (Keras' per-sample losses (batch, T...))
        self._loss_steps = math.prod(self._out_shape[:-1])
        self._fast_dim = features[0] if len(features) == 1 and self._units else -1
        self.built = True

    def _check_integer_input(self) -> int:
        """The input's kind, as the network will derive it from its first stage (``input_indices``): 0 for
        floats, else the vocabulary of the first layer with computation, an Embedding; an Embedding anywhere
        after that is refused now (it takes integer indices), naming the layer."""
        from cyneuron.backend.validation import input_indices

        specs = self._stage_specs()
        for spec in specs[1:]:
            if input_indices([spec]):
                raise ValueError(
                    f"{spec.name}: an {spec.kind} layer takes integer indices, so it must be the model's first "
                    "layer with computation (only Flatten / Reshape may come before it)"
                )
        return input_indices(specs)

    def build(self, input_shape=None) -> None:
        """Build for inputs of ``input_shape`` ``(None, features...)`` (as ``keras.Model.build``)."""
        if input_shape is None:
            if self._features is None:
                raise ValueError("build(input_shape): the model has no input shape; pass e.g. (None, 10)")
            return
        try:
            shape = tuple(input_shape)
        except TypeError:
            raise TypeError(f"input_shape: expected a tuple like (None, features), got {input_shape!r}") from None
        if len(shape) < 2:
            raise ValueError(f"input_shape: expected (batch, features...), got {input_shape!r}")
        features = _feature_shape(shape[1:], "input_shape")
        if not self._layers and self._features is None:
            raise ValueError(
                f"Sequential model {self.name} cannot be built because it has no layers. Call `model.add(layer)`."
            )
        if self._features is not None:
            if features != self._features:
                raise ValueError(
                    f"Sequential model '{self.name}' has already been configured to use input shape "
                    f"{(None, *self._features)}. You cannot build it with input_shape {shape}"
                )
            return
        self._set_features(features)
        self._invalidate()

    def _get_network(self):
        """The built backend network (made on first use and cached)."""
        network = self._network
        if network is not None:
            return network
        if self._features is None:
            raise ValueError(
                "The model has no input shape yet: give one with Input(shape=...), input_shape=..., "
                "model.build((None, features)), or call it on data first"
            )
        if not self._layers:
            raise ValueError("The model has no layers; add some with model.add(...)")
        with self._build_lock:
            if self._network is None:
                self._network = _backend.ops().build_network(
                    self._stage_specs(), self._features, self._dtype, output_shape=self._out_shape
                )
                self._network_trainable = self._trainable_key()
                self._network_params = self._trained_params()
                self._prepared = None
                self._fast = self._network.fast_predictor(
                    self._features, self._out_shape, self._net_lock, _DEFAULT_BATCH_SIZE
                )
            return self._network

    def _stage_specs(self) -> list[StageSpec]:
        stages = []
        for layer in self._layers:
            stages.extend(stage_list(layer.stage_spec()))
            activity = _activity_factors(layer)
            if activity is not None:
                if not stages:
                    raise ValueError(f"{layer.name}: an activity_regularizer on a first layer without weights")
                # a reshape's output is its input's data: its penalty joins the last stage's so far
                l1, l2 = stages[-1].activity
                stages[-1] = dataclasses.replace(stages[-1], activity=(l1 + activity[0], l2 + activity[1]))
        stages = _with_penalties(stages, self._layers)
        if not stages:  # only reshapes: the network still has to copy its input through
            width = (self._input_dim,)
            stages = [StageSpec("activation", width, width, {"activation": "linear"})]
        return stages

    def _trainable_key(self) -> tuple[bool, ...]:
        return tuple(layer.trainable for layer in self._layers)

    def _refresh_trainable(self) -> None:
        """Rebuild the network when a layer was frozen or unfrozen since it was built (Keras picks the
        trainable weights up when training starts); optimizer slots follow their weights."""
        network = self._network
        if network is None or self._network_trainable == self._trainable_key():
            return
        carried = None
        if self._prepared is not None:
            with self._net_lock:
                carried = (network.get_optimizer_state(), self._network_params)
        self._invalidate()
        network = self._get_network()
        if carried is not None and self.optimizer is not None:
            (state, old_params), new_params = carried, self._trained_params()
            with self._net_lock:
                network.set_optimizer(self.optimizer.spec)
                fresh = network.get_optimizer_state()
                by_param = {id(p): slots for p, slots in zip(old_params, state["slots"])}
                fresh["slots"] = [by_param.get(id(p), slots) for p, slots in zip(new_params, fresh["slots"])]
                fresh["iterations"], fresh["scalars"] = state["iterations"], state["scalars"]
                network.set_optimizer_state(fresh)

    def _trained_params(self) -> list[np.ndarray]:
        """The arrays the network updates, in its optimizer-state order."""
        return [p for stage in self._stage_specs() if stage.trainable for p in stage.params]

    # ------------------------------------------------------------------- info
    @property
    def dtype(self) -> str:
        """The model's float type (``"float32"`` / ``"float64"``)."""
        return self._dtype.name if self._dtype is not None else self._model_dtype().name

    @property
    def input_shape(self) -> tuple:
        if self._features is None:
            raise AttributeError(f"Sequential model '{self.name}' has no defined input shape yet.")
        return (None, *self._features)

    @property
    def output_shape(self) -> tuple:
        if not self.built:
            raise AttributeError(f"Sequential model '{self.name}' has no defined output shape yet.")
        return self._layers[-1].output_shape if self._layers else self.input_shape

    @property
    def inputs(self) -> list:
        """``[the symbolic input]`` once the input shape is known (as Keras' Sequential)."""
        return [self._symbolic_graph()[0]]

    @property
    def outputs(self) -> list:
        """``[the symbolic output]``: the last layer's ``output``."""
        return [self._symbolic_graph()[1]]

    def _symbolic_graph(self) -> tuple:
        """(input layer, output) of the model's layers called in turn on its input, made once per structure."""
        if self._features is None:
            raise AttributeError(f"Sequential model '{self.name}' has no defined inputs yet.")
        from cyneuron._functional import symbolic_call

        key = (self._features, tuple(id(layer) for layer in self._layers))
        cached = getattr(self, "_graph", None)
        if cached is None or cached[0] != key:
            source = self._input_layer or InputLayer(shape=self._features, dtype=self.dtype, name="input_layer")
            node = source
            for layer in self._layers:
                node = symbolic_call(layer, node)
            self._graph = cached = (key, source, node)
        return cached[1], cached[2]

    @property
    def weights(self) -> list[np.ndarray]:
        """All weight arrays (live, not copies), Keras order: kernel, bias of each layer."""
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        return [w for layer in self._layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        return [w for layer in self._layers for w in layer.non_trainable_weights]

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Freeze (False) or unfreeze every layer, as Keras' ``model.trainable``."""
        from cyneuron.utils import _check_bool

        value = _check_bool(value, "trainable")
        for layer in self._layers:
            layer.trainable = value
        self._trainable = value

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or by index (as ``keras.Model.get_layer``)."""
        if index is not None:
            if name is not None:
                raise ValueError("get_layer: give name or index, not both")
            layers = self.layers
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"index: the model has {len(layers)} layers, got {index}")
            return layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"name: no layer named {name!r}; layers are {[layer.name for layer in self._layers]}")

    def count_params(self) -> int:
        """Number of weights (scalars)."""
        if not self.built:
            raise ValueError(f"You tried to call count_params on model {self.name!r}, but the model isn't built.")
        return int(sum(w.size for w in self.weights))

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all weights, Keras order ``[W0, b0, W1, b1, ...]`` with ``W`` ``(in, units)``.

        While another thread trains the model this waits for the step in progress (for a fit without
        per-batch callbacks, the epoch in progress) and returns the weights between two steps.
        """
        with self._net_lock:
            return [w.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Copy ``weights`` (as ``get_weights()`` returns them) into the model, in place.

        Raises:
            ValueError: wrong number of arrays, or an array of the wrong shape (named by its index).
        """
        from cyneuron.layers import _assign

        with self._net_lock:  # never in the middle of another thread's step
            _assign(self.weights, weights, "set_weights(weights)")

    # ================================================================ data
    def _prepare_x(self, x, name: str = "x", check_finite: bool = True) -> np.ndarray:
        """Validate and convert inputs once: a C-contiguous ``(n, input_dim)`` array of the model dtype, or
        of int64 indices (each checked) when the first layer is an Embedding.

        ``check_finite=False`` leaves the NaN / infinity check to the network (``predict`` does, to stay cheap).
        """
        array = _as_array(x, name)
        if array.ndim < 2 and self._features is None:
            raise ValueError(f"{name}: expected shape (samples, features...), got {array.shape}")
        if array.ndim == 0:
            raise ValueError(f"{name}: expected shape (samples, features...), got a scalar")
        if self._features is None:
            self._set_features(_feature_shape(array.shape[1:], f"{name}.shape[1:]"))
            self._invalidate()
        expected = self._features
        got = array.shape[1:]
        if got != expected:
            # As Keras' functional models: a missing or extra trailing axis of size 1 is adjusted.
            if len(got) + 1 == len(expected) and expected[-1] == 1 and got == expected[:-1]:
                array = array.reshape(*array.shape, 1)
            elif len(got) == len(expected) + 1 and got[-1] == 1 and got[:-1] == expected:
                array = array.reshape(array.shape[:-1])
            else:
                want = "(n, " + ", ".join(str(d) for d in expected) + ")"
                hint = ""
                if len(expected) == 1 and array.ndim == 1:
                    hint = f"; for a single sample use {name}.reshape(1, -1)"
                elif len(expected) == 1 and array.ndim > 2 and math.prod(got) == expected[0]:
                    hint = "; add a Flatten() layer first, or reshape the data"
                elif len(expected) == 1 and array.ndim > 2:
                    hint = "; images need a Flatten() layer before the first Dense"
                raise ValueError(
                    f"{name}: expected shape {want} (the model's input shape is {(None, *expected)}), "
                    f"got {array.shape}{hint}"
                )
        if array.shape[0] == 0:
            raise ValueError(f"{name}: expected at least one sample, got 0")
        if array.ndim != 2:
            array = array.reshape(array.shape[0], -1)
        if self._indices:
            return _index_array(array, self._indices, name)
        if not check_finite:
            return np.ascontiguousarray(array, dtype=self._dtype)
        return _float_array(array, self._dtype, name)

    def _prepare_xy(self, x, y, x_name: str = "x", y_name: str = "y") -> tuple[np.ndarray, np.ndarray, tuple]:
        x_array = self._prepare_x(x, x_name)
        if y is None:
            raise ValueError(f"{y_name}: targets are required")
        self._get_network()  # checks the model can run before the targets are checked
        y_array = _as_array(y, y_name)
        if self._units == 0:
            return x_array, self._step_targets(y_array, x_array.shape[0], y_name), y_array.shape
        targets = _losses.check_targets(
            self._loss_spec.name,
            y_array,
            self._units,
            self._dtype,
            x_array.shape[0],
            y_name,
            ignore_class=self._loss_spec.ignore_class,
        )
        return x_array, targets, y_array.shape

    def _step_targets(self, y: np.ndarray, n: int, name: str) -> np.ndarray:
        """Targets for an output (batch, T..., units) of rank >= 3: labels (n, steps) for the sparse loss (y of
        shape (n, T...) or (n, T..., 1)), else (n, steps * units) from y (n, T..., units) (or (n, T...) when
        units is 1: Keras' squeeze_or_expand_to_same_rank); the loss reads the last axis as its rows."""
        lead, units = self._out_shape[:-1], self._out_shape[-1]
        if y.ndim == 0:
            raise ValueError(f"{name}: expected one target per sample, got a scalar")
        if y.shape[0] != n:
            raise ValueError(f"{name}: has {y.shape[0]} samples but x has {n}; they must match")
        loss = self._loss_spec.name
        sparse = loss == "sparse_categorical_crossentropy"
        accepted = [(*lead, 1), lead] if sparse else [self._out_shape] + ([lead] if units == 1 else [])
        if y.shape[1:] not in accepted:
            want = " or ".join(str((n, *shape)) for shape in accepted)
            raise ValueError(
                f"{name}: {loss} expects targets of shape {want} for the model's output shape "
                f"{(None, *self._out_shape)}, got shape {y.shape}"
            )
        rows = y.reshape(n * self._loss_steps, *(() if sparse else (units,)))
        targets = _losses.check_targets(
            loss, rows, units, self._dtype, name=name, ignore_class=self._loss_spec.ignore_class
        )
        return targets.reshape(n, -1)

    @property
    def losses(self) -> list:
        """The weight penalties of every trainable regularised weight, as Keras' ``model.losses``."""
        return [penalty for layer in self._layers for penalty in layer.losses]

    def _acquire(self, method: str) -> None:
        if not self._lock.acquire(blocking=False):
            raise RuntimeError(
                f"{method}: this model is being trained or evaluated by another thread; "
                "use one model per thread (or wait for the other call to finish)"
            )
        if self._calls and method in ("fit", "train_on_batch"):
            # a callback of this model's own fit: a nested training call would replace the outer fit's data
            outer = self._calls[-1]
            self._lock.release()
            raise RuntimeError(
                f"{method}: called from inside this model's own {outer}() (e.g. from a callback); training the "
                f"same model from its own training loop is not supported: use another model, or call {method} "
                f"after {outer}() returns"
            )
        self._calls.append(method)
        self._calls_thread = threading.get_ident()

    def _refuse_during_calls(self, method: str) -> None:
        """``compile`` / ``add`` / ``pop`` would replace what a running fit or evaluate is using."""
        if self._calls:
            raise RuntimeError(
                f"{method}: not allowed while this model's {self._calls[-1]}() runs (from one of its callbacks or "
                f"another thread); call {method} before or after it"
            )

    def _release(self) -> None:
        self._calls.pop()
        self._lock.release()

    # ================================================================ pickling
    def __reduce__(self):
        """Pickling and ``copy.deepcopy`` go through the safe model file format, as bytes (Keras pickles
        through its ``.keras`` format the same way): weights, config, compile state, optimizer state."""
        from cyneuron.saving import model_to_bytes

        if self._calls:
            raise RuntimeError(
                f"cannot pickle or copy model {self.name!r} during its {self._calls[-1]}(); do it before or after"
            )
        if not self._lock.acquire(blocking=False):
            raise RuntimeError(f"cannot pickle or copy model {self.name!r} while another thread trains it")
        try:
            return (_model_from_bytes, (model_to_bytes(self),))
        finally:
            self._lock.release()

    def to_json(self, **kwargs) -> str:
        """The model's architecture as a JSON string, as ``keras.Model.to_json`` (``json.dumps`` keyword
        arguments pass through); ``cyneuron.models.model_from_json`` reads it back."""
        import json

        config = {"module": "keras", "class_name": self._keras_class_name, "config": self.get_config()}
        return json.dumps({**config, "registered_name": None}, **kwargs)

    def compute_output_shape(self, input_shape) -> tuple:
        """The output shape ``(None, ...)`` for inputs of ``input_shape`` ``(None, ...)``."""
        shape = tuple(input_shape)
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def optimizer_state(self) -> dict | None:
        """The optimizer's state: ``{"iterations": int, "slots": [[array per slot] per trained weight],
        "scalars": float64 array}`` (copies; weights in ``trained_weight_paths()`` order, slots named by
        ``optimizer.slot_specs``); None when not compiled or not built."""
        if not self.compiled or not self.built:
            return None
        self._refresh_trainable()
        network = self._get_network()
        with self._net_lock:
            if self._prepared is None or self._prepared[0] is not network:
                network.set_optimizer(self.optimizer.spec)
            state = network.get_optimizer_state()
        state["iterations"] = int(self.optimizer.iterations)
        return state

    def set_optimizer_state(self, state: dict) -> None:
        """Restore a state shaped as ``optimizer_state()`` returns it."""
        if not self.compiled:
            raise ValueError("set_optimizer_state: compile the model first")
        if not self.built:
            raise ValueError("set_optimizer_state: the model is not built")
        self._refresh_trainable()
        network = self._get_network()
        with self._net_lock:
            if self._prepared is None or self._prepared[0] is not network:
                network.set_optimizer(self.optimizer.spec)
            network.set_optimizer_state(state)
        self.optimizer.iterations = int(state["iterations"])
        self.optimizer.built = True

    def weight_paths(self) -> list[str]:
        """``layer/weight`` paths of ``get_weights()``'s arrays (Keras' variable paths)."""
        return [f"{layer.name}/{name}" for layer in self._layers for name in layer.weight_names]

    def optimizer_slot_specs(self) -> tuple[tuple[str, float], ...]:
        """The optimizer's per-weight slots: (Keras variable name, initial value)."""
        from cyneuron.backend.reference import optimizers as reference_optimizers

        return reference_optimizers.slot_specs(self.optimizer.spec)

    def optimizer_scalar_specs(self) -> tuple[tuple[str, float], ...]:
        """The optimizer's scalar state beyond the step count: (name, initial value)."""
        from cyneuron.backend.reference import optimizers as reference_optimizers

        return reference_optimizers.scalar_specs(self.optimizer.spec)

    def trained_weight_paths(self) -> list[str]:
        """``layer/weight`` paths of the weights the optimizer updates, in ``optimizer_state()`` order."""
        return [
            f"{layer.name}/{name}"
            for layer in self._layers
            if layer.trainable
            for name, array in zip(layer.weight_names, layer.weights)
            if any(array is w for w in layer.trainable_weights)
        ]

    # ================================================================ summary
    def summary(self, print_fn=None) -> None:
        """Print a table of the layers like Keras 3's ``model.summary()``.

        ``print_fn``, when given, receives the whole text instead of it being printed.
        """
        text = summary_text(self)
        if print_fn is not None:
            print_fn(text)
        else:
            print(text)

    # ================================================================ config / saving
    def get_config(self) -> dict:
        """JSON-able architecture: ``{"name": ..., "layers": [{"class_name": ..., "config": ...}, ...]}``.

        When the input shape is known the first entry is an ``InputLayer``, so a model rebuilt from the
        config is built (with the same dtype).
        """
        entries = []
        if self._input_layer is not None:
            entries.append(_serialize_layer(self._input_layer))
        elif self._features is not None:
            entries.append(
                {
                    "class_name": "InputLayer",
                    "config": {"batch_shape": [None, *self._features], "dtype": self.dtype, "name": "input_layer"},
                }
            )
        for layer in self._layers:
            entry = _serialize_layer(layer)
            entry["config"].pop("input_shape", None)
            entries.append(entry)
        return {"name": self.name, "layers": entries}

    @classmethod
    def from_config(cls, config: dict) -> Sequential:
        """A new model from ``get_config()``'s output (Keras 3 Sequential configs are accepted too)."""
        if not isinstance(config, dict):
            raise TypeError(f"config: expected a dict, got {type(config).__name__}")
        entries = config.get("layers")
        if not isinstance(entries, list):
            raise ValueError("config: expected a 'layers' list")
        layers = [_deserialize_layer(entry) for entry in entries]
        model = cls(name=config.get("name"))
        build_shape = config.get("build_input_shape")
        if build_shape is not None and not any(isinstance(layer, InputLayer) for layer in layers[:1]):
            layers.insert(0, InputLayer(batch_shape=build_shape))
        for layer in layers:
            model.add(layer)
        return model

    def save(self, filepath, overwrite: bool = True) -> None:
        """Save architecture, weights, compile settings and optimizer state (see ``cyneuron.saving``)."""
        from cyneuron.saving import save_model

        save_model(self, filepath, overwrite=overwrite)

    def export(self, filepath, format: str = "tf_saved_model", verbose=None, input_signature=None, **kwargs) -> None:
        """Export the inference pass as an artifact (Keras 3's call); cyneuron writes ``format="onnx"`` only
        (``cyneuron.export.onnx``, needs the ``onnx`` extra). ``opset_version`` may be passed for ONNX."""
        from cyneuron.export import export_model

        export_model(self, filepath, format, verbose, input_signature, **kwargs)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Save the weights only (see ``cyneuron.saving``)."""
        from cyneuron.saving import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch: bool = False, **kwargs) -> None:
        """Load weights saved by ``save_weights`` (or ``save``, or Keras) into this built model; see
        ``cyneuron.saving.load_weights`` for ``skip_mismatch``."""
        from cyneuron.saving import load_weights

        if kwargs:
            raise ValueError(f"Invalid keyword arguments: {kwargs}")
        load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def __repr__(self) -> str:
        return f"<Sequential name={self.name}, built={self.built}>"


def _model_from_bytes(data: bytes) -> Sequential:
    """Unpickling: the model ``Sequential.__reduce__`` encoded (the safe file format, never pickle inside)."""
    from cyneuron.saving import model_from_bytes

    return model_from_bytes(data)


# Model(inputs, outputs) builds on Sequential, so it is defined after it.
from cyneuron._functional import Model  # noqa: E402

# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)


def _activity_factors(layer) -> tuple[float, float] | None:
    """``(l1, l2)`` of the layer's activity_regularizer (None: none, or one the step cannot apply)."""
    regularizer = getattr(layer, "activity_regularizer", None)
    pair = regularizer._factors() if regularizer is not None else None
    return (float(pair[0]), float(pair[1])) if pair is not None and any(pair) else None


def _with_penalties(stages: list[StageSpec], layers) -> list[StageSpec]:
    """``stages`` with each param's ``(l1, l2)`` from its layer's regularizer (params are matched by their
    memory: a stage may hold a reshaped view of a weight, e.g. Conv1D's kernel)."""
    factors = {}
    for layer in layers:
        for array, regularizer in layer.regularized_weights():
            pair = regularizer._factors()
            if pair is not None and any(pair):
                factors[(array.__array_interface__["data"][0], array.size)] = (float(pair[0]), float(pair[1]))
    if not factors:
        return stages
    out = []
    for stage in stages:
        pairs = tuple(factors.get((p.__array_interface__["data"][0], p.size), (0.0, 0.0)) for p in stage.params)
        out.append(dataclasses.replace(stage, penalties=pairs) if any(any(p) for p in pairs) else stage)
    return out
