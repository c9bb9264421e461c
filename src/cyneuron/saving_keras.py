"""Keras 3 native files: ``.keras`` archives and ``.weights.h5`` weight files.

A ``.keras`` file is a zip holding::

    metadata.json      {"keras_version": ..., "date_saved": ...}
    config.json        the model serialized as Keras does: {"module": "keras", "class_name": "Sequential",
                       "config": {..., "layers": [{"module": "keras.layers", "class_name": ..., "config": ...,
                       "registered_name": null, "build_config": {"input_shape": [...]}}, ...]},
                       "build_config": ..., "compile_config": ...}
    model.weights.h5   HDF5: ``layers/<layer>/vars/<i>`` (recurrent layers: ``layers/<layer>/cell/vars/<i>``;
                       wrappers nest their layers': ``<layer>/layer/...`` for TimeDistributed,
                       ``<layer>/forward_layer/...`` and ``<layer>/backward_layer/...`` for Bidirectional),
                       and ``optimizer/vars/<i>``: iterations, learning_rate (unless a schedule), then the
                       slots, in Keras' order (each ``add_optimizer_variables`` call interleaves its names
                       per trained variable; the calls follow each other)

A ``.weights.h5`` file is that HDF5 file on its own.

Reading treats the file as untrusted, as ``cyneuron.saving`` does: no pickle, no eval; the configuration
is parsed as JSON and only classes cyneuron has are built (anything else: ValueError naming the class);
the model the configuration describes is sized by a dry run against the weights the HDF5 file declares
before anything is allocated; every HDF5 object must be a hard-linked group or a contiguous/chunked
numeric dataset stored in the file (no external or soft links, virtual datasets, external storage, object,
string or compound dtypes), and every dataset's shape and dtype is checked against the model before it is
read. Any problem is a ValueError naming the file.

h5py is imported lazily: ``pip install "cyneuron[keras]"``.
"""

from __future__ import annotations

import datetime
import io
import json
import math
import os
import stat
import warnings
import zipfile
from typing import Any

import numpy as np

from cyneuron import saving as _saving

__all__ = [
    "is_keras_archive",
    "is_hdf5_file",
    "save_keras_model",
    "load_keras_model",
    "save_keras_weights",
    "load_keras_weights",
]

METADATA_ENTRY = "metadata.json"
CONFIG_ENTRY = "config.json"
WEIGHTS_ENTRY = "model.weights.h5"
KERAS_ENTRIES = frozenset((METADATA_ENTRY, CONFIG_ENTRY, WEIGHTS_ENTRY))
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# The Keras version whose layout this module writes (and whose files it was checked against).
KERAS_VERSION = "3.15.1"
MAX_METADATA_BYTES = 1024 * 1024
# HDF5 bookkeeping (superblock, object headers, B-trees) on top of the raw data, per dataset and overall.
_H5_OVERHEAD_PER_DATASET = 64 * 1024
_H5_OVERHEAD = 4 * 1024 * 1024
_MAX_H5_OBJECTS = 100_000

_RECURRENT = ("SimpleRNN", "LSTM", "GRU")
# Wrapper layers: (HDF5 group name, wrapped layer) pairs, in weight order.
_WRAPPERS = {
    "TimeDistributed": lambda layer: [("layer", layer.layer)],
    "Bidirectional": lambda layer: [("forward_layer", layer.forward_layer), ("backward_layer", layer.backward_layer)],
}
# Modules under which Keras serializes the built-in objects cyneuron implements.
_KERAS_MODULES = frozenset(
    (
        "keras",
        "keras.layers",
        "keras.initializers",
        "keras.optimizers",
        "keras.optimizers.schedules",
        "keras.losses",
        "keras.metrics",
        "keras.activations",
        "keras.regularizers",
        "keras.constraints",
    )
)
# Optimizer slots in Keras' variable order: one tuple per ``add_optimizer_variables`` call.
_SLOT_GROUPS = {
    "sgd": (("momentum",),),
    "adam": (("momentum", "velocity"), ("velocity_hat",)),
    "rmsprop": (("velocity",), ("momentum",), ("average_gradient",)),
    "adagrad": (("accumulator",),),
    "adadelta": (("accumulated_grad", "accumulated_delta_var"),),
    "adamax": (("momentum", "norm"),),
    "nadam": (("momentum", "velocity"),),
    "lion": (("momentum",),),
}


class H5pyMissingError(ImportError, ValueError):
    """Reading a Keras file without h5py. An ImportError (the fix is an install), and a ValueError like every
    other file cyneuron cannot read, so ``except ValueError`` around ``load_model`` keeps working."""


def _h5py(path: str | None = None):
    try:
        import h5py
    except ImportError as exc:
        where = f"{path}: " if path else ""
        raise H5pyMissingError(
            f'{where}Keras files (.keras, .weights.h5) need h5py: pip install "cyneuron[keras]" (or pip install h5py)'
        ) from exc
    return h5py


def available() -> bool:
    """True when h5py can be imported (Keras files can be written and read)."""
    try:
        import h5py  # noqa: F401
    except ImportError:
        return False
    return True


def warn_fallback(path: str) -> None:
    """Saving to a Keras name without h5py: cyneuron's own format is written instead, with this warning."""
    import warnings

    warnings.warn(
        f"{path}: h5py is not installed, so this file is written in cyneuron's own format, which Keras cannot "
        'open; pip install "cyneuron[keras]" to write Keras 3 files',
        RuntimeWarning,
        stacklevel=4,
    )


# --------------------------------------------------------------------------- sniffing
def is_keras_archive(path: str) -> bool:
    """True when ``path`` is a zip whose entries are Keras' (``metadata.json``, ``config.json``,
    ``model.weights.h5``), whatever its name."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                return False
            f.seek(0)
            with zipfile.ZipFile(f) as zf:
                names = set(zf.namelist())
    except (OSError, *_saving._ZIP_ERRORS):
        return False
    return names >= KERAS_ENTRIES


def is_hdf5_file(path: str) -> bool:
    """True when ``path`` starts with the HDF5 signature (what ``save_weights`` writes for ``.weights.h5``)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as f:
            return f.read(len(HDF5_MAGIC)) == HDF5_MAGIC
    except OSError:
        return False


# --------------------------------------------------------------------------- writing
def save_keras_model(model: Any, path: str, overwrite: bool = True) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` archive (atomically)."""
    h5py = _h5py()
    config = _keras_model_config(model)
    metadata = {"keras_version": KERAS_VERSION, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    weights_bytes = _weights_h5_bytes(h5py, model, with_optimizer=config.get("compile_config") is not None)
    config_bytes = json.dumps(config).encode("utf-8")
    metadata_bytes = json.dumps(metadata).encode("utf-8")

    def write(f) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(_saving._zipinfo(METADATA_ENTRY, len(metadata_bytes)), metadata_bytes)
            zf.writestr(_saving._zipinfo(CONFIG_ENTRY, len(config_bytes)), config_bytes)
            zf.writestr(_saving._zipinfo(WEIGHTS_ENTRY, len(weights_bytes)), weights_bytes)

    _saving._atomic_write(path, overwrite, write)


def save_keras_weights(model: Any, path: str, overwrite: bool = True) -> None:
    """Write the model's weights as Keras' ``.weights.h5`` (no optimizer state, as Keras' ``save_weights``)."""
    h5py = _h5py()
    if not model.built:
        raise ValueError("save_weights: the model is not built yet, so it has no weights to save")
    data = _weights_h5_bytes(h5py, model, with_optimizer=False)
    _saving._atomic_write(path, overwrite, lambda f: f.write(data))


def _layer_entries(model: Any) -> list[tuple[Any, str]]:
    """(layer, container name) in Keras' ``layers/<name>`` order: Keras names each entry after its class in
    snake case (not the layer's name, which varies between instances), numbered from the second on."""
    used: dict[str, int] = {}
    out = []
    for layer in model.layers:
        name = _snake(type(layer).__name__)
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        out.append((layer, name))
    return out


def _leaf_groups(layer: Any, base: str) -> list[tuple[str, Any]]:
    """(HDF5 vars group, layer holding the variables) under ``base`` (``layers/<name>``), in weight order:
    a recurrent layer's are in ``cell/vars``; a wrapper's in its wrapped layers' groups (``layer`` for
    TimeDistributed, ``forward_layer`` then ``backward_layer`` for Bidirectional), as Keras nests them."""
    kind = type(layer).__name__
    if kind in _WRAPPERS:
        return [group for attr, sub in _WRAPPERS[kind](layer) for group in _leaf_groups(sub, f"{base}/{attr}")]
    return [(f"{base}/cell/vars" if kind in _RECURRENT else f"{base}/vars", layer)]


def _write_layer(group: Any, layer: Any) -> None:
    """``layer``'s groups and datasets under ``group``, Keras' layout (see ``_leaf_groups``)."""
    own = group.create_group("vars")
    own.attrs["name"] = layer.name
    kind = type(layer).__name__
    if kind in _WRAPPERS:
        for attr, sub in _WRAPPERS[kind](layer):
            _write_layer(group.create_group(attr), sub)
        return
    target = own
    if kind in _RECURRENT:
        target = group.create_group("cell").create_group("vars")
        target.attrs["name"] = f"{_snake(kind)}_cell"
    for i, array in enumerate(_layer_arrays(layer)):
        target.create_dataset(str(i), data=_little_endian(array))


def _layer_arrays(layer: Any) -> list[np.ndarray]:
    """The layer's variables as Keras stores them (cyneuron's weights plus Keras-only state)."""
    arrays = [np.asarray(w) for w in layer.weights]
    if type(layer).__name__ == "Normalization" and arrays:
        if layer.input_mean is not None:
            return []  # Keras keeps a given mean / variance in the config, with no variables
        arrays.append(np.array(0, dtype=np.int64))  # Keras' adapt() sample count; unused once adapted
    return arrays


def _weights_h5_bytes(h5py, model: Any, with_optimizer: bool) -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        layers = f.create_group("layers")
        for layer, name in _layer_entries(model):
            _write_layer(layers.create_group(name), layer)
        root_vars = f.create_group("vars")
        root_vars.attrs["name"] = model.name
        if with_optimizer and model.built:
            variables = _optimizer_variables(model)
            if variables is not None:
                group = f.create_group("optimizer").create_group("vars")
                group.attrs["name"] = str(model.optimizer.get_config().get("name", "optimizer"))
                for i, array in enumerate(variables):
                    group.create_dataset(str(i), data=_little_endian(array))
    return buffer.getvalue()


def _little_endian(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)  # not ascontiguousarray, which turns scalars into shape (1,)
    return np.array(array, dtype=array.dtype.newbyteorder("<"), order="C")


def _optimizer_kind(model: Any) -> str:
    return model.optimizer.spec.kind


def _has_schedule(compile_config: dict | None) -> bool:
    optimizer = (compile_config or {}).get("optimizer")
    lr = optimizer.get("config", {}).get("learning_rate") if isinstance(optimizer, dict) else None
    return isinstance(lr, dict)


def _slot_order(model: Any) -> list[tuple[str, int]]:
    """(slot name, trained-weight index) in Keras' optimizer variable order."""
    names = [name for name, _ in model.optimizer_slot_specs()]
    count = len(model.trained_weight_paths())
    order = []
    for group in _SLOT_GROUPS.get(_optimizer_kind(model), ()):
        present = [name for name in group if name in names]
        for i in range(count):
            order.extend((name, i) for name in present)
    if sorted({name for name, _ in order}) != sorted(names):
        raise ValueError(f"optimizer {_optimizer_kind(model)!r}: slots {names} have no Keras layout")
    return order


def _optimizer_variables(model: Any) -> list[np.ndarray] | None:
    state = model.optimizer_state()
    if state is None:
        return None
    dtype = model.get_weights()[0].dtype if model.get_weights() else np.dtype("float32")
    names = [name for name, _ in model.optimizer_slot_specs()]
    out = [np.array(int(state["iterations"]), dtype=np.int64)]
    if not _has_schedule(model.get_compile_config()):
        out.append(np.array(model.optimizer.get_config()["learning_rate"], dtype=dtype))
    by_path = dict(zip(model.weight_paths(), model.get_weights()))
    shapes = [by_path[p].shape for p in model.trained_weight_paths()]
    for name, i in _slot_order(model):
        # Slots are stored in the kernels' layout (Conv1D's has a leading 1); Keras' has the weight's shape.
        out.append(np.asarray(state["slots"][i][names.index(name)]).reshape(shapes[i]))
    for _, value in zip(model.optimizer_scalar_specs(), state["scalars"]):
        out.append(np.array(value, dtype=dtype))
    return out


def _keras_model_config(model: Any) -> dict:
    cfg = model.get_config()
    dtype = model.dtype
    entries = cfg["layers"]
    layers_out = []
    features = None
    layer_iter = iter(model._layers)  # the layers after the input layer
    for entry in entries:
        if entry["class_name"] == "InputLayer":
            config = dict(entry["config"])
            layers_out.append(
                {"module": "keras.layers", "class_name": "InputLayer", "config": config, "registered_name": None}
            )
            features = tuple(config["batch_shape"][1:])
            continue
        layer = next(layer_iter)
        config = _with_modules(dict(entry["config"]), "keras.layers")
        if isinstance(config.get("dtype"), str):
            config["dtype"] = _dtype_policy(config["dtype"])
        item = {"module": "keras.layers", "class_name": entry["class_name"], "config": config, "registered_name": None}
        if features is not None:
            item["build_config"] = {"input_shape": [None, *features]}
            features = tuple(layer.compute_output_shape((None, *features))[1:])
        layers_out.append(item)
    inner = {
        "name": model.name,
        "trainable": bool(model.trainable),
        "dtype": _dtype_policy(dtype),
        "layers": layers_out,
    }
    out = {"module": "keras", "class_name": "Sequential", "config": inner, "registered_name": None}
    if model.built:
        shape = [None, *model.input_shape[1:]]
        inner["build_input_shape"] = shape
        out["build_config"] = {"input_shape": shape}
    if model._keras_class_name == "Functional":
        out = _as_functional(model, out)
    compile_config = model.get_compile_config()
    if compile_config is not None:
        compile_config = dict(compile_config)
        compile_config.setdefault("loss_weights", None)
        compile_config.setdefault("weighted_metrics", None)
        compile_config.setdefault("run_eagerly", False)
        compile_config.setdefault("steps_per_execution", 1)
        compile_config.setdefault("jit_compile", True)
        compile_config["optimizer"] = _with_modules(compile_config["optimizer"], "keras.optimizers")
        if compile_config.get("loss") is not None:
            compile_config["loss"] = _with_modules(compile_config["loss"], "keras.losses")
        if compile_config.get("metrics") is not None:
            compile_config["metrics"] = _with_modules(compile_config["metrics"], "keras.metrics")
        out["compile_config"] = compile_config
    return out


def _as_functional(model: Any, sequential: dict) -> dict:
    """A functional model's Keras config from the Sequential layout of the same chain: each layer entry
    names the one it is called on (``inbound_nodes``), and the config names its input and output layer."""
    inner = dict(sequential["config"])
    inner.pop("build_input_shape", None)
    layers = []
    previous = None
    shape = [None, *model.input_shape[1:]]
    for entry, layer in zip(inner["layers"], model.layers):
        entry = dict(entry, name=layer.name)
        if previous is None:
            entry["inbound_nodes"] = []
        else:
            history = {"shape": shape, "dtype": model.dtype, "keras_history": [previous, 0, 0]}
            entry["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__", "config": history}], "kwargs": {}}]
            shape = [None, *layer.compute_output_shape(tuple(shape))[1:]]
        layers.append(entry)
        previous = layer.name
    inner["layers"] = layers
    inner["input_layers"] = [model.layers[0].name, 0, 0]
    inner["output_layers"] = [previous, 0, 0]
    out = {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": inner,
        "registered_name": "Functional",
        "build_config": {"input_shape": None},
    }
    if "compile_config" in sequential:
        out["compile_config"] = sequential["compile_config"]
    return out


def _changes_call(key: str, value: Any) -> bool:
    return not ((key == "mask" and value is None) or (key == "training" and value in (None, True, False)))


def _chain_from_functional(path: str, inner: dict) -> dict:
    """The Sequential layout of a Keras functional config that is one chain of layers (each called once,
    on the layer before it, from one input to one output); other graphs are refused, naming why."""

    def refuse(why: str) -> ValueError:
        return ValueError(f"{path}: unsupported functional model: {why}; cyneuron loads chains of layers only")

    def endpoint(value: Any, what: str) -> str:
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
            value = value[0]
        if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)):
            raise refuse(f"{what} is not one layer")
        return value[0]

    entries = inner["layers"]
    first = endpoint(inner.get("input_layers"), "input_layers")
    last = endpoint(inner.get("output_layers"), "output_layers")
    previous = None
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: layer {i} of the configuration is not an object")
        nodes = entry.get("inbound_nodes")
        if previous is None:
            if entry.get("class_name") != "InputLayer" or entry.get("name") != first or nodes:
                raise refuse("the first layer is not its one InputLayer")
        else:
            try:
                (node,) = nodes
                (arg,) = node["args"]
                source = arg["config"]["keras_history"][0]
            except (TypeError, ValueError, KeyError, IndexError):
                raise refuse(f"layer {entry.get('name')!r} is not called on exactly one tensor") from None
            if source != previous:
                raise refuse(f"layer {entry.get('name')!r} is not called on the layer before it")
            # Keras records a call's keyword arguments: Softmax's mask=None, Dropout's training=False (which
            # fit and predict override, as Keras' functional call does); anything else changes the layer.
            kwargs = node.get("kwargs") or {}
            if not isinstance(kwargs, dict) or any(_changes_call(k, v) for k, v in kwargs.items()):
                raise refuse(f"layer {entry.get('name')!r} is called with arguments {kwargs!r}")
        previous = entry.get("name")
    if previous != last:
        raise refuse("its output is not its last layer")
    chain = dict(inner, layers=[{k: v for k, v in e.items() if k not in ("name", "inbound_nodes")} for e in entries])
    chain["input_layers"] = [[first, 0, 0]]
    chain["output_layers"] = [[last, 0, 0]]
    return chain


def _dtype_policy(name: str) -> dict:
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


def _with_modules(obj: Any, module: str, key: str = "") -> Any:
    """``obj`` with every nested ``{"class_name", "config"}`` object given Keras' module / registered_name."""
    if isinstance(obj, list):
        return [_with_modules(v, module, key) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "class_name" in obj and "config" in obj:
        own = obj.get("module") or _module_for(key, module)
        config = obj["config"]
        if isinstance(config, dict):
            config = {k: _with_modules(v, own, k) for k, v in config.items()}
        return {
            **obj,
            "module": own,
            "class_name": obj["class_name"],
            "config": config,
            "registered_name": obj.get("registered_name"),
        }
    return {k: _with_modules(v, module, k) for k, v in obj.items()}


def _module_for(key: str, default: str) -> str:
    if key.endswith("_initializer"):
        return "keras.initializers"
    if key.endswith("_regularizer"):
        return "keras.regularizers"
    if key.endswith("_constraint"):
        return "keras.constraints"
    if key == "learning_rate":
        return "keras.optimizers.schedules"
    return default


def _snake(name: str) -> str:
    from cyneuron.layers.base import _snake_case

    return _snake_case(name)


# --------------------------------------------------------------------------- reading: configuration
def _plain_config(path: str, obj: Any, where: str = "config") -> Any:
    """A Keras config with Keras-only wrapping removed (module, registered_name, shared ids, DTypePolicy
    objects, neutral new keys); ValueError naming any class that is not one of Keras' built-ins."""
    if isinstance(obj, list):
        return [_plain_config(path, v, where) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "class_name" in obj:
        class_name = obj.get("class_name")
        module = obj.get("module")
        registered = obj.get("registered_name")
        if not isinstance(class_name, str):
            raise ValueError(f"{path}: invalid class_name {class_name!r} in {where}")
        if module is not None and module not in _KERAS_MODULES:
            raise ValueError(
                f"{path}: unsupported class {class_name!r} from module {module!r} in {where} "
                "(custom objects are not supported)"
            )
        if registered is not None and registered != class_name:
            functions = ("keras.losses", "keras.metrics", "keras.activations")
            if class_name == "function" and module in functions and isinstance(obj.get("config"), str):
                return obj["config"]
            raise ValueError(f"{path}: unsupported class {registered!r} in {where} (custom objects are not supported)")
        if class_name in ("DTypePolicy", "FloatDTypePolicy"):
            name = (obj.get("config") or {}).get("name")
            if not isinstance(name, str):
                raise ValueError(f"{path}: invalid dtype policy in {where}")
            return name
        if class_name == "__lambda__" or class_name == "Lambda":
            raise ValueError(f"{path}: unsupported class {class_name!r} in {where} (code is never loaded)")
        config = obj.get("config")
        if isinstance(config, dict):
            config = {
                k: _plain_config(path, v, f"{class_name}.{k}")
                for k, v in config.items()
                if k not in ("shared_object_id",) and not (k in _NEUTRAL_NEW_KEYS and v in _NEUTRAL_NEW_KEYS[k])
            }
        out = {"class_name": class_name, "config": config}
        return out
    return {k: _plain_config(path, v, where) for k, v in obj.items() if k != "shared_object_id"}


# Keys recent Keras versions add at values meaning "as before".
_NEUTRAL_NEW_KEYS = {
    "input_axes": (None,),
    "output_axes": (None,),
    "quantization_config": (None,),
    "optional": (False,),
}


def _model_config_from_keras(path: str, config: Any) -> tuple[dict, dict | None]:
    if not isinstance(config, dict):
        raise ValueError(f"{path}: {CONFIG_ENTRY} is not a JSON object")
    class_name = config.get("class_name")
    modules = {
        "Sequential": (None, "keras", "keras.models", "keras.src.models.sequential"),
        "Functional": (None, "keras", "keras.models", "keras.src.models.functional"),
    }
    if class_name not in modules:
        raise ValueError(
            f"{path}: unsupported model class {class_name!r}; cyneuron loads Keras Sequential models and "
            "functional models that are a chain of layers"
        )
    if config.get("module") not in modules[class_name]:
        raise ValueError(f"{path}: unsupported model class {class_name!r} from module {config.get('module')!r}")
    if config.get("registered_name") not in (None, class_name):
        raise ValueError(f"{path}: unsupported model class {config.get('registered_name')!r}")
    inner = config.get("config")
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        raise ValueError(f"{path}: the {class_name} configuration has no 'layers' list")
    if _saving._json_depth(inner) > _saving.MAX_JSON_DEPTH:
        raise ValueError(f"{path}: the model configuration is nested too deeply")
    if class_name == "Functional":
        inner = _chain_from_functional(path, inner)
    layers = []
    for i, entry in enumerate(inner["layers"]):
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: layer {i} of the configuration is not an object")
        layers.append(_plain_config(path, entry, f"layer {i}"))
    model_config = {"name": inner.get("name"), "layers": layers}
    if "input_layers" in inner:  # a functional chain: models.model_from_config builds a Model
        model_config["input_layers"] = inner["input_layers"]
        model_config["output_layers"] = inner["output_layers"]
    build_shape = inner.get("build_input_shape")
    if build_shape is None and isinstance(config.get("build_config"), dict):
        build_shape = config["build_config"].get("input_shape")
    if build_shape is not None:
        model_config["build_input_shape"] = build_shape
    compile_config = config.get("compile_config")
    if compile_config is not None:
        if not isinstance(compile_config, dict):
            raise ValueError(f"{path}: compile_config must be a JSON object or null")
        compile_config = {
            k: _plain_config(path, v, f"compile_config.{k}")
            for k, v in compile_config.items()
            if k not in ("run_eagerly", "jit_compile")
        }
        optimizer = compile_config.get("optimizer")
        if isinstance(optimizer, dict) and isinstance(optimizer.get("config"), dict):
            opt_cfg = optimizer["config"]
            # Keras' optimizer base options at their defaults carry no behaviour.
            for key, neutral in (("use_ema", False), ("ema_momentum", 0.99), ("ema_overwrite_frequency", None)):
                if opt_cfg.get(key, neutral) == neutral:
                    opt_cfg.pop(key, None)
    return model_config, compile_config


# --------------------------------------------------------------------------- reading: files
def _read_regular(path: str, what: str, limit: int | None = None) -> bytes:
    """The whole file (regular files only; FIFOs and devices refused); over ``limit`` bytes refused unread."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(2, f"No such {what}", path) from None
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{path} is a directory, not a {what}")
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path} is not a regular file (a device, FIFO or socket)")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path} is not a regular file (a device, FIFO or socket)")
        if limit is not None and st.st_size > limit:
            raise ValueError(f"{path}: {st.st_size} bytes is far more than a {what} for this model can hold")
        data = f.read(st.st_size + 1)
    return data


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, path: str) -> bytes:
    if info.flag_bits & 0x1:
        raise ValueError(f"{path}: entry {info.filename!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"{path}: entry {info.filename!r} uses an unsupported compression method")
    if info.file_size > limit:
        raise ValueError(f"{path}: entry {info.filename!r} declares {info.file_size} bytes (limit {limit})")
    with zf.open(info) as entry:
        data = entry.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path}: entry {info.filename!r} is larger than {limit} bytes")
    return data


def _open_keras_zip(path: str, data: bytes) -> tuple[dict, dict | None, bytes]:
    """(config.json, metadata.json, model.weights.h5 bytes) of a ``.keras`` archive, size-checked."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (*_saving._ZIP_ERRORS, OSError) as exc:
        raise ValueError(f"{path} is not a Keras file (not a zip archive, or truncated): {exc}") from exc
    try:
        with zf:
            infos = {}
            for info in zf.infolist():
                if info.filename in infos:
                    raise ValueError(f"{path}: duplicate entry {info.filename!r}")
                infos[info.filename] = info
            missing = sorted(KERAS_ENTRIES - infos.keys())
            if missing:
                raise ValueError(f"{path}: not a Keras file (missing {', '.join(missing)})")
            extra = sorted(set(infos) - KERAS_ENTRIES)
            if extra:
                # Keras writes assets/ for layers with files (e.g. lookup tables), none of which cyneuron has.
                raise ValueError(
                    f"{path}: unsupported entries {', '.join(extra[:5])} (assets of layers cyneuron lacks)"
                )
            config_bytes = _read_entry(zf, infos[CONFIG_ENTRY], _saving.MAX_CONFIG_BYTES, path)
            metadata_bytes = _read_entry(zf, infos[METADATA_ENTRY], MAX_METADATA_BYTES, path)
            # Stored or deflated, the HDF5 file can be no larger than the (already read) archive times the
            # deflate ratio limit; its datasets are capped again against the model below.
            h5_limit = max(len(data) * 64, _H5_OVERHEAD)
            h5_bytes = _read_entry(zf, infos[WEIGHTS_ENTRY], h5_limit, path)
    except (*_saving._ZIP_ERRORS, OSError) as exc:
        raise ValueError(f"{path} is corrupted: {exc}") from exc
    config = _parse_json(path, config_bytes, CONFIG_ENTRY)
    metadata = _parse_json(path, metadata_bytes, METADATA_ENTRY)
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: {METADATA_ENTRY} is not a JSON object")
    version = metadata.get("keras_version")
    if isinstance(version, str) and not version.startswith("3."):
        raise ValueError(f"{path}: written by Keras {version}; only Keras 3 files are supported")
    return config, metadata, h5_bytes


def _parse_json(path: str, data: bytes, name: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: {name} is not valid JSON: {exc}") from exc


class _Shape:
    """Stands for an array in ``saving._guard_model_size`` (which only counts elements)."""

    __slots__ = ("shape", "size")

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.size = math.prod(shape)


# What h5py raises for a damaged file: HDF5's errors (OSError, RuntimeError, KeyError, ValueError...), and
# from its file-object driver (which serves HDF5's reads from the bytes in memory) offsets a forged superblock
# makes too large for a C ssize_t (OverflowError) or of the wrong type.
_H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, OverflowError)


class _H5:
    """A validated view of an HDF5 weights file: every dataset path -> h5py dataset (not yet read)."""

    def __init__(self, path: str, h5py, data: bytes) -> None:
        self.path = path
        self._h5py = h5py
        try:
            self.file = h5py.File(io.BytesIO(data), "r")
        except _H5_ERRORS as exc:
            raise ValueError(f"{path}: not a valid HDF5 weights file: {exc}") from exc
        self.datasets: dict[str, Any] = {}
        self.groups: set[str] = set()
        try:
            self._walk()
        except BaseException:
            self.file.close()
            raise

    def close(self) -> None:
        self.file.close()

    def _walk(self) -> None:
        h5py, path = self._h5py, self.path
        stack = [("", self.file)]
        count = 0
        while stack:
            prefix, group = stack.pop()
            try:
                names = list(group.keys())
            except _H5_ERRORS as exc:
                raise ValueError(f"{path}: corrupted HDF5 group {prefix or '/'!r}: {exc}") from exc
            for name in names:
                count += 1
                if count > _MAX_H5_OBJECTS:
                    raise ValueError(f"{path}: the HDF5 file holds more than {_MAX_H5_OBJECTS} objects")
                full = f"{prefix}/{name}" if prefix else name
                try:
                    link = group.get(name, getlink=True)
                except _H5_ERRORS as exc:
                    raise ValueError(f"{path}: corrupted HDF5 link {full!r}: {exc}") from exc
                if not isinstance(link, h5py.HardLink):
                    raise ValueError(f"{path}: HDF5 object {full!r} is a {type(link).__name__} (only hard links)")
                try:
                    obj = group[name]
                    # What the checks read of a dataset comes from its object header, which may be damaged too.
                    is_dataset = isinstance(obj, h5py.Dataset)
                    header = (obj.is_virtual, obj.external, obj.dtype, obj.shape) if is_dataset else ()
                except _H5_ERRORS as exc:
                    raise ValueError(f"{path}: corrupted HDF5 object {full!r}: {exc}") from exc
                if isinstance(obj, h5py.Group):
                    self.groups.add(full)
                    stack.append((full, obj))
                elif isinstance(obj, h5py.Dataset):
                    self._check_dataset(full, *header)
                    self.datasets[full] = obj
                else:
                    raise ValueError(f"{path}: HDF5 object {full!r} is a {type(obj).__name__}")

    def _check_dataset(self, name: str, virtual: bool, external: Any, dtype: np.dtype, shape: Any) -> None:
        path = self.path
        if virtual:
            raise ValueError(f"{path}: HDF5 dataset {name!r} is a virtual dataset (refused)")
        if external:
            raise ValueError(f"{path}: HDF5 dataset {name!r} stores its data in external files (refused)")
        if dtype.kind not in "fiu" or dtype.fields is not None or dtype.subdtype is not None or dtype.itemsize > 8:
            raise ValueError(f"{path}: HDF5 dataset {name!r} has unsupported dtype {dtype} (numbers only)")
        if shape is None or len(shape) > 32:
            raise ValueError(f"{path}: HDF5 dataset {name!r} has an unsupported shape {shape}")

    def vars_in(self, group: str) -> list[str]:
        """The datasets of ``group`` (named 0, 1, ...), in index order; ValueError for other names."""
        prefix = group + "/"
        names = [k[len(prefix) :] for k in self.datasets if k.startswith(prefix) and "/" not in k[len(prefix) :]]
        if sorted(names, key=lambda n: (len(n), n)) != [str(i) for i in range(len(names))]:
            raise ValueError(f"{self.path}: HDF5 group {group!r} holds datasets {sorted(names)[:5]}, not 0, 1, ...")
        return [f"{prefix}{i}" for i in range(len(names))]

    def read(self, name: str, shape: tuple[int, ...], kinds: str = "f") -> np.ndarray:
        ds = self.datasets.get(name)
        if ds is None:
            raise ValueError(f"{self.path}: missing HDF5 dataset {name!r}")
        if tuple(ds.shape) != tuple(shape):
            raise ValueError(f"{self.path}: HDF5 dataset {name!r} has shape {ds.shape}, expected {tuple(shape)}")
        if ds.dtype.kind not in kinds:
            raise ValueError(f"{self.path}: HDF5 dataset {name!r} has dtype {ds.dtype}, expected kind {kinds!r}")
        try:
            array = ds[()]
        except _H5_ERRORS as exc:
            raise ValueError(f"{self.path}: HDF5 dataset {name!r} cannot be read (corrupted): {exc}") from exc
        array = np.asarray(array)
        if tuple(array.shape) != tuple(shape):
            raise ValueError(f"{self.path}: HDF5 dataset {name!r} read with shape {array.shape}")
        return array.astype(array.dtype.newbyteorder("="), copy=False)


def _expected_layer_vars(model: Any) -> list[tuple[str, Any, list[tuple[int, ...]]]]:
    """(vars group, layer, Keras variable shapes) for every layer of a built model."""
    out = []
    for layer, name in _layer_entries(model):
        for group, leaf in _leaf_groups(layer, f"layers/{name}"):
            out.append((group, leaf, [tuple(a.shape) for a in _layer_arrays(leaf)]))
    return out


def _read_layer_weights(h5: _H5, model: Any, skip_mismatch: bool = False) -> list[np.ndarray]:
    """The model's weights (``get_weights()`` order, model dtype) from ``layers/...``, everything checked.

    ``skip_mismatch``: a layer whose variables in the file differ in number or shape keeps its current
    weights (with a warning naming it), as Keras' ``load_weights(skip_mismatch=True)``.
    """
    weights = []
    expected_groups = set()
    skipped = []
    for group, layer, shapes in _expected_layer_vars(model):
        expected_groups.add(group)
        names = h5.vars_in(group) if shapes else []
        if skip_mismatch and (
            len(names) != len(shapes) or any(tuple(h5.datasets[n].shape) != s for n, s in zip(names, shapes))
        ):
            skipped.append(layer.name)
            weights.extend(np.array(w, copy=True) for w in layer.weights)
            continue
        if len(names) != len(shapes):
            raise ValueError(
                f"{h5.path}: layer {layer.name!r} expects {len(shapes)} variables but {group!r} holds {len(names)}"
            )
        n_weights = len(layer.weights)
        if not shapes:  # weights Keras does not store (a Normalization's given mean): from the config
            weights.extend(np.array(w, copy=True) for w in layer.weights)
        for i, (name, shape) in enumerate(zip(names, shapes)):
            array = h5.read(name, shape, "f" if i < n_weights else "iu")
            if i < n_weights:
                weights.append(array.astype(layer.weights[i].dtype, copy=False))
    if skipped:
        warnings.warn(
            f"{h5.path}: skipped loading the weights of {len(skipped)} layer(s) whose shapes differ from the "
            f"file's (skip_mismatch=True): {skipped}",
            stacklevel=4,
        )
    extra = [k for k in h5.datasets if k.startswith("layers/") and k.rsplit("/", 1)[0] not in expected_groups]
    if extra:
        raise ValueError(f"{h5.path}: HDF5 datasets {extra[:5]} belong to no layer of the model")
    return weights


def _h5_layer_elements(h5: _H5) -> list[_Shape]:
    return [_Shape(tuple(ds.shape)) for k, ds in h5.datasets.items() if k.startswith("layers/")]


def load_keras_model(path: str, compile: bool = True) -> Any:
    """A cyneuron model from a Keras 3 ``.keras`` archive (Sequential of layers cyneuron has)."""
    h5py = _h5py(path)
    data = _read_regular(path, "Keras file", _keras_file_limit(path))
    config, _metadata, h5_bytes = _open_keras_zip(path, data)
    model_config, compile_config = _model_config_from_keras(path, config)
    h5 = _H5(path, h5py, h5_bytes)
    try:
        return _build_model(path, h5, model_config, compile_config, compile)
    finally:
        h5.close()


def _keras_file_limit(path: str) -> int:
    """The most bytes a ``.keras`` file can hold for the model its ``config.json`` describes (its weights,
    four optimizer slots each, in float64, plus HDF5 bookkeeping and the capped JSON entries), read from the
    archive on disk before the whole file is: a forged multi-gigabyte weights entry is refused unread."""
    try:
        with zipfile.ZipFile(path) as zf:
            config_bytes = _read_entry(zf, zf.getinfo(CONFIG_ENTRY), _saving.MAX_CONFIG_BYTES, path)
    except (*_saving._ZIP_ERRORS, KeyError, OSError) as exc:
        raise ValueError(f"{path} is not a readable Keras file: {exc}") from exc
    model_config, _ = _model_config_from_keras(path, _parse_json(path, config_bytes, CONFIG_ENTRY))
    # 0 for a configuration that does not deserialize: such a file only gets as far as its error message
    # (_build_model's), and only when it is small.
    values = _saving._built_weight_count(model_config)
    datasets = 4 * len(model_config["layers"]) + 64
    return 5 * 8 * values + _H5_OVERHEAD + _H5_OVERHEAD_PER_DATASET * datasets + 2 * _saving.MAX_CONFIG_BYTES


def _build_model(path: str, h5: _H5, model_config: dict, compile_config: dict | None, compile: bool) -> Any:
    from cyneuron.models import model_from_config

    shapes = _h5_layer_elements(h5)
    # Every layer weight must be declared in the file, whose size bounds them: refuses forged configs
    # (units=10**9 ...) before from_config allocates anything.
    _saving._guard_model_size(path, model_config, shapes)
    try:
        with _saving._global_rng_preserved():
            model = model_from_config(model_config)
    except MemoryError as exc:
        raise ValueError(f"{path}: the model configuration asks for more memory than available") from exc
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"{path}: invalid or unsupported model configuration: {exc}") from exc
    if model.built:
        weights = _read_layer_weights(h5, model)
        _saving._set_weights(path, model, weights)
    elif any(k.startswith("layers/") for k in h5.datasets):
        raise ValueError(f"{path}: the file holds weights but its model configuration has no input shape")
    if compile and compile_config is not None:
        try:
            model.compile_from_config(compile_config)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path}: invalid or unsupported compile configuration: {exc}") from exc
        if model.built and "optimizer/vars" in h5.groups:
            _restore_optimizer(path, h5, model, _has_schedule(compile_config))
    return model


def _restore_optimizer(path: str, h5: _H5, model: Any, schedule: bool) -> None:
    names = h5.vars_in("optimizer/vars")
    state = model.optimizer_state()
    slot_names = [name for name, _ in model.optimizer_slot_specs()]
    scalar_names = [name for name, _ in model.optimizer_scalar_specs()]
    order = _slot_order(model)
    trained = model.trained_weight_paths()
    by_path = dict(zip(model.weight_paths(), model.get_weights()))
    head = 1 if schedule else 2
    expected = head + len(order) + len(scalar_names)
    if len(names) <= 2 and len(names) != expected:
        return  # the optimizer was never built in Keras (no step taken): nothing to restore
    if len(names) != expected:
        raise ValueError(
            f"{path}: the optimizer state holds {len(names)} variables but the {_optimizer_kind(model)} optimizer "
            f"of this model has {expected}"
        )
    iterations = h5.read(names[0], (), "iu")
    iterations = int(iterations)
    if not 0 <= iterations < 2**62:
        raise ValueError(f"{path}: optimizer iterations {iterations} out of range")
    slots = [list(s) for s in state["slots"]]
    for k, (name, i) in enumerate(order):
        shape = tuple(by_path[trained[i]].shape)
        array = h5.read(names[head + k], shape, "f")
        if not np.isfinite(array).all():
            raise ValueError(f"{path}: optimizer variable {names[head + k]!r} contains NaN or infinity")
        j = slot_names.index(name)
        slots[i][j] = array.astype(slots[i][j].dtype, copy=False).reshape(slots[i][j].shape)
    scalars = []
    for k, _name in enumerate(scalar_names):
        value = float(h5.read(names[head + len(order) + k], (), "f"))
        if not math.isfinite(value):
            raise ValueError(f"{path}: optimizer scalar {_name!r} is not finite")
        scalars.append(value)
    state["slots"] = slots
    state["iterations"] = iterations
    if scalar_names:
        state["scalars"] = np.array(scalars, dtype=np.float64)
    try:
        model.set_optimizer_state(state)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: invalid optimizer state: {exc}") from exc


def load_keras_weights(model: Any, path: str, skip_mismatch: bool = False) -> None:
    """Load a Keras ``.weights.h5`` (or the weights of a ``.keras`` archive) into a built model."""
    h5py = _h5py(path)
    if not model.built:
        raise ValueError(f"load_weights({path}): the model is not built; build it (give an input shape) first")
    # A weights file for this model is its weights plus HDF5 bookkeeping: refuse much larger ones unread
    # (a .keras archive also holds its capped JSON entries).
    need = sum(int(w.nbytes) * 5 for w in model.get_weights())  # weights plus up to 4 optimizer slots each
    limit = need + _H5_OVERHEAD + _H5_OVERHEAD_PER_DATASET * (len(model.get_weights()) + 64)
    data = _read_regular(path, "Keras weights file", limit + _saving.MAX_CONFIG_BYTES + MAX_METADATA_BYTES)
    if data[:4] == b"PK\x03\x04":
        _config, _metadata, data = _open_keras_zip(path, data)
    if len(data) > limit:
        raise ValueError(f"{path}: {len(data)} bytes is far more than this model's weights ({need // 5} bytes)")
    if data[: len(HDF5_MAGIC)] != HDF5_MAGIC:
        raise ValueError(f"{path} is not an HDF5 weights file")
    h5 = _H5(path, h5py, data)
    try:
        weights = _read_layer_weights(h5, model, skip_mismatch)
    finally:
        h5.close()
    _saving._set_weights(path, model, weights)
