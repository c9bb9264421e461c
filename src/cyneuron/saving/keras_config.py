"""A model's configuration in Keras 3's layout (``config.json`` of a ``.keras`` archive), both ways.

Writing adds what Keras' deserializer expects (each object's ``module`` and ``registered_name``,
``DTypePolicy`` objects, each layer's ``build_config``, a ``Functional`` layout with ``inbound_nodes`` for a
functional chain). Reading removes it again, building only classes cyneuron has: anything from another
module, a registered custom object or a lambda is a ValueError naming the class, and a functional graph
that is not one chain of layers is refused naming why.
"""

from __future__ import annotations

from typing import Any

from cyneuron.saving.guard import MAX_JSON_DEPTH, json_depth
from cyneuron.saving.native import CONFIG_ENTRY

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

def keras_model_config(model: Any) -> dict:
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


def model_config_from_keras(path: str, config: Any) -> tuple[dict, dict | None]:
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
    if json_depth(inner) > MAX_JSON_DEPTH:
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

