"""The layer base class, as ``keras.layers.Layer``: weights made by ``add_weight`` in ``build``.

A layer owns its weights as NumPy arrays. A model's built network reads and updates these very
arrays in place, so ``set_weights`` copies into them and never replaces them. Each layer kind
describes itself to the backend with ``stage_spec()`` (a ``StageSpec``; None for pure reshapes)
and to files with ``get_config()``.

Names are unique per process as in Keras (``dense``, ``dense_1``, ...).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
import re
import threading

import numpy as np

from cyneuron import backend as _backend
from cyneuron import config as _config
from cyneuron import initializers as _initializers
from cyneuron import regularizers as _regularizers
from cyneuron.backend.specs import FUSED_ACTIVATIONS, StageSpec
from cyneuron.utils import _as_array, _check_bool, _check_int, _float_array

_UIDS: collections.Counter = collections.Counter()
_UID_LOCK = threading.Lock()

# BLAS takes 32-bit dimensions: a layer (or input) wider than this cannot be computed, so it is refused
# when declared, before 8-16 GB of weights are allocated for it.
MAX_WIDTH = 2**31 - 1


def unique_name(prefix: str) -> str:
    """``prefix``, then ``prefix_1``, ``prefix_2`` ... (Keras' per-session automatic names)."""
    with _UID_LOCK:
        count = _UIDS[prefix]
        _UIDS[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def _snake_case(name: str) -> str:
    """Keras' automatic layer names: ``Dense`` -> ``dense``, ``ReLU`` -> ``re_lu``, ``ELU`` -> ``elu``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _check_name(name, default_prefix: str) -> str:
    if name is None:
        return unique_name(default_prefix)
    if not isinstance(name, str) or not name:
        raise TypeError(f"name: expected a non-empty string, got {name!r}")
    return name


def _dtype_name(dtype) -> str | None:
    """A float dtype name from a name, numpy dtype or Keras ``DTypePolicy`` config; None stays None."""
    if dtype is None:
        return None
    if isinstance(dtype, dict):  # Keras 3 serializes {"class_name": "DTypePolicy", "config": {"name": "float32"}}
        dtype = (dtype.get("config") or {}).get("name")
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise TypeError(f"dtype: expected 'float32' or 'float64', got {dtype!r}") from None
    if name not in ("float32", "float64"):
        raise ValueError(f"dtype: expected 'float32' or 'float64', got {name!r}")
    return name


def _feature_shape(shape, name: str) -> tuple[int, ...]:
    """A per-sample shape (no batch axis) of positive ints."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"{name}: expected a tuple of positive ints, got {shape!r}") from None
    if not dims:
        raise ValueError(f"{name}: expected at least one dimension, got {shape!r}")
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise ValueError(f"{name}: every dimension must be a positive int, got {shape!r}")
    dims = tuple(int(d) for d in dims)
    width = math.prod(dims)
    if width > MAX_WIDTH:
        raise ValueError(
            f"{name}: {dims} is {width} features per sample, more than 2**31 - 1 (BLAS' 32-bit dimensions)"
        )
    return dims


def _batch_shape_to_features(batch_shape, name: str) -> tuple[int, ...]:
    try:
        dims = tuple(batch_shape)
    except TypeError:
        raise TypeError(f"{name}: expected a tuple like (None, features), got {batch_shape!r}") from None
    if len(dims) < 2:
        raise ValueError(f"{name}: expected (batch, features...), got {batch_shape!r}")
    batch = dims[0]
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1):
        raise ValueError(f"{name}: the batch size (first entry) must be None or a positive int, got {batch!r}")
    return _feature_shape(dims[1:], name)


def _named(getter, value, argument: str):
    """``getter(value)`` with errors naming the layer argument (``kernel_initializer: unknown ...``)."""
    try:
        return getter(value)
    except (ValueError, TypeError) as error:
        message = str(error)
        prefix = message.split(":", 1)[0]
        detail = message.split(":", 1)[1].strip() if prefix.isidentifier() else message
        raise type(error)(f"{argument}: {detail}") from None


# Keras configs carry options cyneuron does not implement; they are accepted only at these no-op values.
_NEUTRAL_KEYS = {
    "kernel_constraint": None,
    "bias_constraint": None,
    "lora_rank": None,
    "lora_alpha": None,
    "quantization_config": None,
    "sparse": False,
    "ragged": False,
    "optional": False,
    "autocast": True,
}


def unsupported_options(layer: str, **options) -> None:
    """Refuse the options cyneuron accepts only at None (ValueError naming the first one given)."""
    for key, value in options.items():
        if value is not None:
            raise ValueError(f"{layer}: {key}={value!r} is not supported by cyneuron (only None)")


def strip_neutral(cls_name: str, config: dict) -> dict:
    """A Keras layer config with the options cyneuron implements only at their no-op values removed
    (refused with ValueError at any other value)."""
    config = dict(config)
    for key, neutral in _NEUTRAL_KEYS.items():
        if key in config:
            value = config.pop(key)
            if value != neutral:
                raise ValueError(f"{cls_name}: {key}={value!r} is not supported")
    if "batch_input_shape" in config:  # Keras 2 style
        shape = config.pop("batch_input_shape")
        if shape is not None:
            config["input_shape"] = _batch_shape_to_features(shape, f"{cls_name}.batch_input_shape")
    return config


class Layer:
    """Base class: a name, a dtype, trainable flag, an optional input shape, weights once built.

    Subclasses create their weights in ``build(input_shape)`` with ``add_weight`` (Keras' contract),
    give their output shape in ``compute_output_shape`` and their backend stage in ``stage_spec``.
    """

    def __init_subclass__(cls, **kwargs) -> None:
        # As Keras wraps ``build``: a direct ``layer.build(shape)`` checks the shape and records it,
        # exactly as building through a model does.
        super().__init_subclass__(**kwargs)
        if "build" in cls.__dict__:
            cls.build = _recording_build(cls.__dict__["build"])

    def __init__(
        self,
        name: str | None = None,
        dtype=None,
        trainable: bool = True,
        input_shape=None,
        input_dim=None,
        activity_regularizer=None,
        **kwargs,
    ) -> None:
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        self.name = _check_name(name, _snake_case(type(self).__name__))
        # Keras adds its penalty of the layer's output, divided by the batch size, to the loss
        self.activity_regularizer = _named(_regularizers.get, activity_regularizer, "activity_regularizer")
        self._dtype = _dtype_name(dtype)
        self._trainable = _check_bool(trainable, "trainable")
        if input_dim is not None:
            if input_shape is not None:
                raise ValueError("input_dim: give input_shape or input_dim, not both")
            input_dim = _check_int(input_dim, "input_dim", 1)
            if input_dim > MAX_WIDTH:
                raise ValueError(f"input_dim: expected at most 2**31 - 1 (BLAS' 32-bit dimensions), got {input_dim}")
            input_shape = (input_dim,)
        self._input_shape_arg = None if input_shape is None else _feature_shape(input_shape, "input_shape")
        self.built = False
        self._build_shape: tuple[int, ...] | None = None  # per-sample input shape once built
        self._build_dtype: np.dtype | None = None
        self._variables: list[tuple[str, np.ndarray, bool]] = []  # (name, array, trainable) in creation order
        self._weight_regularizers: dict[str, object] = {}  # weight name -> regularizer (add_weight's)
        self._dry_shapes: list | None = None

    # --------------------------------------------------------------- weights
    def add_weight(
        self,
        shape=None,
        initializer=None,
        dtype=None,
        trainable: bool = True,
        autocast: bool = True,
        regularizer=None,
        constraint=None,
        aggregation: str = "none",
        overwrite_with_gradient: bool = False,
        name: str | None = None,
    ) -> np.ndarray:
        """Create a weight array of ``shape`` filled by ``initializer`` (None: ``glorot_uniform``, as Keras'
        default for floats); call it from ``build``. ``regularizer`` (a ``cyneuron.regularizers`` object or
        name) adds its penalty to the training loss while the weight is trainable. ``autocast``,
        ``aggregation`` and ``overwrite_with_gradient`` are accepted at Keras' defaults only; ``constraint``
        only None."""
        if constraint is not None:
            raise ValueError(f"{self.name}: constraint={constraint!r} is not supported by cyneuron (only None)")
        if aggregation not in ("none", "mean", "sum", "only_first_replica") or overwrite_with_gradient:
            raise ValueError(
                f"{self.name}: aggregation={aggregation!r} / overwrite_with_gradient={overwrite_with_gradient!r} "
                "are not supported by cyneuron"
            )
        regularizer = _named(_regularizers.get, regularizer, "regularizer")
        shape = () if shape is None else tuple(int(d) for d in shape)
        dtype = np.dtype(dtype or self._build_dtype or self._dtype or _config.floatx())
        if self._dry_shapes is not None:  # shape inference only (see _weight_shapes): allocate nothing
            self._dry_shapes.append(shape)
            return np.broadcast_to(np.zeros((), dtype), shape)
        # As Keras: no initializer means glorot_uniform for floats
        init = _initializers.get(initializer if initializer is not None else "glorot_uniform")
        array = np.ascontiguousarray(init(shape, dtype=dtype), dtype=dtype)
        name = name or f"variable_{len(self._variables)}"
        self._variables.append((name, array, bool(trainable)))
        if regularizer is not None:
            self._weight_regularizers[name] = regularizer
        return array

    def regularized_weights(self) -> list[tuple[np.ndarray, object]]:
        """``(array, regularizer)`` for every trainable weight with a regularizer, in weight order (wrappers:
        their inner layers'): what ``fit`` penalises and ``losses`` reports."""
        if not self._trainable:
            return []
        return [
            (array, self._weight_regularizers[name])
            for name, array, trainable in self._variables
            if trainable and name in self._weight_regularizers
        ]

    @property
    def losses(self) -> list:
        """The weight penalties of the layer's trainable regularised weights, as Keras' ``layer.losses``
        (NumPy scalars of the weights' dtype)."""
        return [regularizer(array) for array, regularizer in self.regularized_weights()]

    @property
    def weights(self) -> list[np.ndarray]:
        """The layer's weight arrays (the live arrays, not copies), in creation order; empty until built."""
        return [array for _, array, _ in self._variables]

    @property
    def weight_names(self) -> list[str]:
        """The weights' names, as Keras' variable names (``kernel``, ``moving_mean`` ...)."""
        return [name for name, _, _ in self._variables]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        if not self._trainable:
            return []
        return [array for _, array, trainable in self._variables if trainable]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        if not self._trainable:
            return self.weights
        return [array for _, array, trainable in self._variables if not trainable]

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = _check_bool(value, "trainable")

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights, Keras order (e.g. kernel, bias)."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Copy ``weights`` (same count and shapes as ``get_weights()``) into the layer's arrays, in place."""
        _assign(self.weights, weights, f"{self.name}.set_weights(weights)")

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"You tried to call count_params on layer {self.name!r}, but the layer isn't built.")
        return int(sum(w.size for w in self.weights))

    @property
    def dtype(self) -> str:
        """The layer's float type: the built weights' dtype, else the explicit one, else ``floatx()``."""
        weights = self.weights
        if weights:
            return weights[0].dtype.name
        if self._build_dtype is not None:
            return self._build_dtype.name
        return self._dtype or _config.floatx()

    # ---------------------------------------------------------------- shapes
    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """Output shape ``(None, ...)`` for an input shape ``(None, ...)``."""
        return tuple(input_shape)

    @property
    def output_shape(self) -> tuple:
        if self._build_shape is None:
            raise AttributeError(f"The layer {self.name!r} has never been called and thus has no defined output shape.")
        return self.compute_output_shape((None, *self._build_shape))

    @property
    def output(self):
        """The symbolic output of the layer's first call on a symbolic input (Keras' ``layer.output``)."""
        output = getattr(self, "_first_output", None)
        if output is None:
            raise AttributeError(f"The layer {self.name} has never been called and thus has no defined output.")
        return output

    def build(self, input_shape) -> None:
        """Create the weights for inputs of ``input_shape`` ``(None, ...)``; layers with weights override this."""
        if self._dry_shapes is None:
            features = _per_sample_shape(input_shape)
            self._validate_input(features)
            self._build_shape = features
        self.built = True

    def _build(self, features: tuple[int, ...], dtype: np.dtype) -> None:
        """Build for per-sample ``features`` in ``dtype`` (the model calls this); a built layer must match."""
        if self.built and self._build_shape is not None:
            if self._build_shape != features or (self.weights and self.weights[0].dtype != dtype):
                raise ValueError(
                    f"{self.name}: already built for inputs of shape {(None, *self._build_shape)} ({self.dtype}), "
                    f"cannot be reused with {(None, *features)} ({dtype})"
                )
            return
        self._validate_input(features)
        self._build_dtype = np.dtype(dtype)
        if not self.built or not self._variables:
            self.build((None, *features))
        self._build_shape = features
        self.built = True

    def _validate_input(self, features: tuple[int, ...]) -> None:
        """Raise ValueError if this layer cannot take per-sample inputs of ``features``."""

    def _weight_shapes(self, features: tuple[int, ...]) -> list[tuple[int, ...]]:
        """The shapes ``build`` would create for per-sample ``features``, without allocating them; leaves
        the layer unbuilt (the loader's size guard runs this on throwaway layers)."""
        self._validate_input(features)
        shapes: list[tuple[int, ...]] = []
        self._dry_shapes = shapes
        try:
            self.build((None, *features))
        finally:
            self._dry_shapes = None
            self._variables = []
            self.built = False
        return shapes

    def stage_spec(self) -> StageSpec | list[StageSpec] | None:
        """The backend stage(s) this built layer contributes (None for pure reshapes; a list when the layer
        is several stages, e.g. a channels-first convolution between two transposes)."""
        return None

    def _spec(self, kind: str, attrs: dict, params=(), state=()) -> StageSpec:
        shape = self._build_shape
        return StageSpec(
            kind,
            shape,
            tuple(self.compute_output_shape((None, *shape))[1:]),
            attrs,
            tuple(params),
            tuple(state),
            self._trainable,
            self.name,
        )

    def __call__(self, inputs, training: bool = False) -> np.ndarray:
        """Apply the layer to an array ``(batch, ...)`` (building it on first use) through the active backend.

        Called on ``Input(...)`` or on what a layer call returned, it records the call instead and returns
        a symbolic ``KerasTensor``, for ``Model(inputs, outputs)`` (Keras' functional API).
        """
        from cyneuron._functional import is_symbolic, symbolic_call

        if is_symbolic(inputs):
            return symbolic_call(self, inputs)
        return self._call(inputs, training)

    def _call(self, inputs, training: bool) -> np.ndarray:
        """``__call__`` on data: kinds whose inputs are not float rows (Embedding) override this."""
        array = _as_array(inputs, "inputs")
        if array.ndim < 2:
            raise ValueError(f"inputs: expected shape (batch, features...), got {array.shape}")
        if not self.built:
            self._build(_feature_shape(array.shape[1:], "inputs.shape[1:]"), np.dtype(self.dtype))
        if array.shape[1:] != self._build_shape:
            raise ValueError(f"inputs: expected shape {(None, *self._build_shape)}, got {array.shape}")
        x = _float_array(array, np.dtype(self.dtype), "inputs").reshape(array.shape[0], -1)
        stages = stage_list(self.stage_spec())
        out_shape = self.compute_output_shape(array.shape)
        if not stages:
            return x.reshape(out_shape)
        return _run_stages(stages, self._build_shape, x, training, x.dtype).reshape(out_shape)

    # ---------------------------------------------------------------- config
    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self._trainable, "dtype": self.dtype}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = _regularizers.serialize(self.activity_regularizer)
        if self._input_shape_arg is not None:
            config["input_shape"] = list(self._input_shape_arg)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        if not isinstance(config, dict):
            raise TypeError(f"{cls.__name__}.from_config: expected a dict, got {type(config).__name__}")
        return cls(**strip_neutral(cls.__name__, config))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def split_activation(spec: StageSpec) -> list[StageSpec]:
    """A dense/conv2d ``spec`` with its activation fused when the kind can fuse it (its derivative
    follows from the output: ``specs.FUSED_ACTIVATIONS``), else the product with ``"linear"`` and then
    an activation stage on its output, which keeps the pre-activation its derivative needs."""
    name = spec.attrs["activation"]
    if name in FUSED_ACTIVATIONS:
        return [spec]
    product = dataclasses.replace(spec, attrs={**spec.attrs, "activation": "linear"})
    shape = spec.out_shape
    return [product, StageSpec("activation", shape, shape, {"activation": name}, (), (), spec.trainable, spec.name)]


def stage_list(specs) -> list[StageSpec]:
    """A layer's ``stage_spec()`` as a list: None (a pure reshape), one stage, or several."""
    if specs is None:
        return []
    return [specs] if isinstance(specs, StageSpec) else list(specs)


def _recording_build(build):
    @functools.wraps(build)
    def wrapper(self, input_shape) -> None:
        if self._dry_shapes is not None:  # shape inference only
            build(self, input_shape)
            return
        features = _per_sample_shape(input_shape)
        self._validate_input(features)
        build(self, input_shape)
        self._build_shape = features
        self.built = True

    return wrapper


def _per_sample_shape(input_shape) -> tuple[int, ...]:
    """``(None, d1, ...)`` or ``(d1, ...)`` -> ``(d1, ...)``, checked."""
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise TypeError(f"input_shape: expected a tuple like (None, features), got {input_shape!r}") from None
    if shape and shape[0] is None:
        shape = shape[1:]
    return _feature_shape(shape, "input_shape")


def _run_stages(stages, input_shape, x: np.ndarray, training: bool, dtype: np.dtype) -> np.ndarray:
    """A forward pass of flat rows x (of ``dtype``, or int64 indices for a first embedding stage) through
    stages of ``dtype``: inference on the active backend; training mode (batch statistics, dropout,
    moving-statistic updates) through the reference network."""
    if training:
        from cyneuron.backend.numpy_ops import NumpyOps

        network = NumpyOps().build_network(stages, input_shape, dtype)
        network.seed = int(_config.random_generator().integers(2**63))
        return network.forward_training(x)
    return _backend.ops().build_network(stages, input_shape, dtype).predict(x, max(1, x.shape[0]))


def _assign(targets: list[np.ndarray], values, what: str) -> None:
    """Validate everything first, then copy each value into its target array (in place)."""
    if isinstance(values, np.ndarray) or not hasattr(values, "__len__"):
        raise TypeError(f"{what}: expected a list of arrays, got {type(values).__name__}")
    if len(values) != len(targets):
        raise ValueError(f"{what}: expected {len(targets)} arrays, got {len(values)}")
    arrays = []
    for index, (target, value) in enumerate(zip(targets, values)):
        array = _as_array(value, f"{what}[{index}]")
        if array.shape != target.shape:
            raise ValueError(f"{what}[{index}]: expected shape {target.shape}, got {array.shape}")
        arrays.append(_float_array(array, target.dtype, f"{what}[{index}]"))
    for target, array in zip(targets, arrays):
        np.copyto(target, array, casting="unsafe")
