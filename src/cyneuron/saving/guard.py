"""What a loaded file may make cyneuron allocate or change, checked before it does (both formats).

A model configuration is untrusted: ``from_config`` allocates every weight before they can be compared
with the file's, so a forged ``units=10**12`` is refused here first, by the sizes the file itself holds.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

# JSON nesting beyond this is no model configuration.
MAX_JSON_DEPTH = 64
# Keys under which layer configurations carry their input shape.
_SHAPE_KEYS = ("batch_shape", "batch_input_shape", "input_shape", "build_input_shape", "shape")


def guard_model_size(path: str, model_config: dict, weights: list) -> None:
    """Refuse configurations whose layers would allocate more than the file's weights.

    ``Sequential.from_config`` allocates every weight before they can be compared
    with the file's, so a forged ``units=10**12`` or ``input_dim=10**9`` must be
    caught here. Every size-bearing key is checked: in a genuine file every layer
    with ``units`` owns a kernel of at least ``units`` elements, and the input
    (``input_dim`` or an input shape) feeds such a kernel, so none of them can
    exceed the number of saved weight values. Then the layer stack is walked as
    ``from_config`` builds it, and the weights it would create (``fan_in * units``
    plus ``units`` per Dense) must not exceed the saved ones either. A file
    without weights must describe an unbuilt model (no input shape).
    """
    elements = sum(int(w.size) for w in weights)
    units = _ints(_find_values(model_config, ("units",)))
    shapes = [shape for shape in _find_values(model_config, _SHAPE_KEYS) if _is_shape(shape)]
    # A layer's input_dim (only layers take one; Sequential's own config has none).
    shapes += [[d] for d in _ints(_find_values(model_config.get("layers"), ("input_dim",)))]
    if units and (weights or shapes):
        for u in units:
            if u > elements:
                raise ValueError(f"{path}: a layer declares units={u} but the file holds only {elements} weight values")
        # Convolution and pooling layers shrink the data before any kernel sees it (a 3x3 kernel
        # serves any image size), and an Embedding's rows serve sequences of any length (a recurrent
        # layer after it too): there only the dry-run count below bounds what loading builds.
        windowed = any(
            isinstance(name, str) and ("Conv" in name or "Pool" in name or name == "Embedding")
            for name in _find_values(model_config.get("layers"), ("class_name",))
        )
        for shape in [] if windowed else shapes:
            if math.prod(d for d in shape if d is not None) > elements:
                raise ValueError(
                    f"{path}: input shape {shape} is larger than the {elements} weight values the file holds"
                )
    implied = built_weight_count(model_config)
    if implied > elements:
        raise ValueError(
            f"{path}: the model configuration builds {implied} weight values, larger than the {elements} the file holds"
        )


def _ints(values: list) -> list[int]:
    return [v for v in values if isinstance(v, int) and not isinstance(v, bool)]


def _is_shape(value: object) -> bool:
    return isinstance(value, list) and all((isinstance(d, int) and not isinstance(d, bool)) or d is None for d in value)


def built_weight_count(model_config: dict) -> int:
    """Weight values ``Sequential.from_config(model_config)`` creates, from each layer's own shape
    inference (``Layer._weight_shapes``: ``build`` run without allocating), walking the stack in order.

    The input shape is the largest any input key of the first layer (or ``build_input_shape``)
    declares, so the count never underestimates. A configuration that fails to deserialize or
    to chain builds nothing here; ``from_config`` then reports the error.
    """
    from cyneuron.layers import InputLayer
    from cyneuron.layers import deserialize as deserialize_layer

    entries = model_config.get("layers")
    if not isinstance(entries, list) or not entries:
        return 0
    try:
        with global_rng_preserved():  # initializers may draw their seeds when constructed
            layers = [deserialize_layer(entry) for entry in entries]
    except Exception:
        return 0
    shapes = [layer._input_shape_arg for layer in layers[:1] if layer._input_shape_arg is not None]
    build_shape = model_config.get("build_input_shape")
    if isinstance(build_shape, list) and len(build_shape) > 1 and _is_shape(build_shape[1:]) and all(build_shape[1:]):
        shapes.append(tuple(build_shape[1:]))
    if not shapes:
        return 0  # no input shape: the model is not built, nothing is allocated
    features = max(shapes, key=math.prod)
    total = 0
    for layer in layers:
        if isinstance(layer, InputLayer):
            continue
        try:
            # A Normalization's given mean / variance come from the config (already read, so bounded by
            # its size); Keras files hold no variables for them.
            if getattr(layer, "input_mean", None) is None:
                total += sum(math.prod(shape) for shape in layer._weight_shapes(features))
            features = tuple(layer.compute_output_shape((None, *features))[1:])
        except Exception:
            break
    return total


def _find_values(obj: object, keys: Sequence[str]) -> list:
    """Every value stored under one of ``keys`` anywhere in a JSON document."""
    found, stack = [], [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in keys:
                    found.append(value)
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


@contextlib.contextmanager
def global_rng_preserved() -> Iterator[None]:
    """Keeps ``config.random_generator()``'s state: building a loaded model runs initializers whose values the
    file's weights replace, so loading never changes later shuffles or initial values."""
    try:
        from cyneuron import config
    except ImportError:  # the stand-alone format tests have no front end
        yield
        return
    rng = config.random_generator()
    state = rng.bit_generator.state
    try:
        yield
    finally:
        rng.bit_generator.state = state


def json_depth(obj: object) -> int:
    depth, stack = 0, [(obj, 1)]
    while stack:
        item, level = stack.pop()
        depth = max(depth, level)
        if depth > MAX_JSON_DEPTH:
            return depth
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return depth


def set_weights(path: str, model: Any, weights: list) -> None:
    """``model.set_weights`` (which refuses NaN / inf), with the file named in its error."""
    try:
        model.set_weights(weights)
    except ValueError as exc:
        raise ValueError(f"{path}: weights (entries weights/*.npy): {exc}") from exc
