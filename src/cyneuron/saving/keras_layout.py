"""Where each variable lives in a Keras 3 weights file (``model.weights.h5`` / ``.weights.h5``).

``layers/<layer>/vars/<i>`` (recurrent layers: ``layers/<layer>/cell/vars/<i>``; wrappers nest their layers':
``<layer>/layer/...`` for TimeDistributed, ``<layer>/forward_layer/...`` and ``<layer>/backward_layer/...``
for Bidirectional), and ``optimizer/vars/<i>``: iterations, learning_rate (unless a schedule), then the
slots, in Keras' order (each ``add_optimizer_variables`` call interleaves its names per trained variable;
the calls follow each other). The writer (``write_layer``) and the reader (``expected_layer_vars``) both
follow this one description.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_RECURRENT = ("SimpleRNN", "LSTM", "GRU")
# Wrapper layers: (HDF5 group name, wrapped layer) pairs, in weight order.
_WRAPPERS = {
    "TimeDistributed": lambda layer: [("layer", layer.layer)],
    "Bidirectional": lambda layer: [("forward_layer", layer.forward_layer), ("backward_layer", layer.backward_layer)],
}

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


def layer_entries(model: Any) -> list[tuple[Any, str]]:
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


def leaf_groups(layer: Any, base: str) -> list[tuple[str, Any]]:
    """(HDF5 vars group, layer holding the variables) under ``base`` (``layers/<name>``), in weight order:
    a recurrent layer's are in ``cell/vars``; a wrapper's in its wrapped layers' groups (``layer`` for
    TimeDistributed, ``forward_layer`` then ``backward_layer`` for Bidirectional), as Keras nests them."""
    kind = type(layer).__name__
    if kind in _WRAPPERS:
        return [group for attr, sub in _WRAPPERS[kind](layer) for group in leaf_groups(sub, f"{base}/{attr}")]
    return [(f"{base}/cell/vars" if kind in _RECURRENT else f"{base}/vars", layer)]


def write_layer(group: Any, layer: Any) -> None:
    """``layer``'s groups and datasets under ``group``, Keras' layout (see ``leaf_groups``)."""
    own = group.create_group("vars")
    own.attrs["name"] = layer.name
    kind = type(layer).__name__
    if kind in _WRAPPERS:
        for attr, sub in _WRAPPERS[kind](layer):
            write_layer(group.create_group(attr), sub)
        return
    target = own
    if kind in _RECURRENT:
        target = group.create_group("cell").create_group("vars")
        target.attrs["name"] = f"{_snake(kind)}_cell"
    for i, array in enumerate(layer_arrays(layer)):
        target.create_dataset(str(i), data=little_endian(array))


def layer_arrays(layer: Any) -> list[np.ndarray]:
    """The layer's variables as Keras stores them (cyneuron's weights plus Keras-only state)."""
    arrays = [np.asarray(w) for w in layer.weights]
    if type(layer).__name__ == "Normalization" and arrays:
        if layer.input_mean is not None:
            return []  # Keras keeps a given mean / variance in the config, with no variables
        arrays.append(np.array(0, dtype=np.int64))  # Keras' adapt() sample count; unused once adapted
    return arrays


def little_endian(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)  # not ascontiguousarray, which turns scalars into shape (1,)
    return np.array(array, dtype=array.dtype.newbyteorder("<"), order="C")


def optimizer_kind(model: Any) -> str:
    return model.optimizer.spec.kind


def has_schedule(compile_config: dict | None) -> bool:
    optimizer = (compile_config or {}).get("optimizer")
    lr = optimizer.get("config", {}).get("learning_rate") if isinstance(optimizer, dict) else None
    return isinstance(lr, dict)


def slot_order(model: Any) -> list[tuple[str, int]]:
    """(slot name, trained-weight index) in Keras' optimizer variable order."""
    names = [name for name, _ in model.optimizer_slot_specs()]
    count = len(model.trained_weight_paths())
    order = []
    for group in _SLOT_GROUPS.get(optimizer_kind(model), ()):
        present = [name for name in group if name in names]
        for i in range(count):
            order.extend((name, i) for name in present)
    if sorted({name for name, _ in order}) != sorted(names):
        raise ValueError(f"optimizer {optimizer_kind(model)!r}: slots {names} have no Keras layout")
    return order


def optimizer_variables(model: Any) -> list[np.ndarray] | None:
    state = model.optimizer_state()
    if state is None:
        return None
    dtype = model.get_weights()[0].dtype if model.get_weights() else np.dtype("float32")
    names = [name for name, _ in model.optimizer_slot_specs()]
    out = [np.array(int(state["iterations"]), dtype=np.int64)]
    if not has_schedule(model.get_compile_config()):
        out.append(np.array(model.optimizer.get_config()["learning_rate"], dtype=dtype))
    by_path = dict(zip(model.weight_paths(), model.get_weights()))
    shapes = [by_path[p].shape for p in model.trained_weight_paths()]
    for name, i in slot_order(model):
        # Slots are stored in the kernels' layout (Conv1D's has a leading 1); Keras' has the weight's shape.
        out.append(np.asarray(state["slots"][i][names.index(name)]).reshape(shapes[i]))
    for _, value in zip(model.optimizer_scalar_specs(), state["scalars"]):
        out.append(np.array(value, dtype=dtype))
    return out


def expected_layer_vars(model: Any) -> list[tuple[str, Any, list[tuple[int, ...]]]]:
    """(vars group, layer, Keras variable shapes) for every layer of a built model."""
    out = []
    for layer, name in layer_entries(model):
        for group, leaf in leaf_groups(layer, f"layers/{name}"):
            out.append((group, leaf, [tuple(a.shape) for a in layer_arrays(leaf)]))
    return out


def _snake(name: str) -> str:
    from cyneuron.layers.base import _snake_case

    return _snake_case(name)

