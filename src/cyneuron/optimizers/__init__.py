"""Optimizers, as in ``keras.optimizers``: SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Lion.

Each follows Keras 3's update rule, defaults and config exactly; the backend applies them
(``cyneuron.backend.reference.optimizers`` is the specification). ``schedules`` holds the
learning-rate schedules. The slots (momentum, velocity ...) live in the model's built network.
"""

from __future__ import annotations

from cyneuron.optimizers import schedules
from cyneuron.optimizers.adadelta import Adadelta
from cyneuron.optimizers.adagrad import Adagrad
from cyneuron.optimizers.adam import Adam, AdamW
from cyneuron.optimizers.adamax import Adamax
from cyneuron.optimizers.base import Optimizer
from cyneuron.optimizers.lion import Lion
from cyneuron.optimizers.nadam import Nadam
from cyneuron.optimizers.rmsprop import RMSprop
from cyneuron.optimizers.sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Adamax",
    "Nadam",
    "Lion",
    "OPTIMIZERS",
    "schedules",
    "get",
    "serialize",
    "deserialize",
]

# Every front-end optimizer by class name; the tests iterate over it, so a new one is picked up.
OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.__name__: cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Lion)
}
# Keras looks names up lower-cased: "sgd", "adamw", "rmsprop" ...
_BY_LOWER = {name.lower(): cls for name, cls in OPTIMIZERS.items()}


def get(identifier) -> Optimizer:
    """An optimizer from a name (``"adam"``, case-insensitive: a new default instance), a config dict,
    an instance (returned as is) or a class (instantiated with its defaults)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer) and identifier is not Optimizer:
        return identifier()
    if isinstance(identifier, str):
        cls = _BY_LOWER.get(identifier.strip().lower())
        if cls is None:
            raise ValueError(
                f"optimizer: unknown optimizer {identifier!r}; expected one of: {', '.join(sorted(_BY_LOWER))}"
            )
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise TypeError(
        f"optimizer: expected an optimizer name, config dict or Optimizer instance, got {type(identifier).__name__}"
    )


def serialize(optimizer: Optimizer) -> dict:
    """Keras' form: ``{"module": "keras.optimizers", "class_name", "config", "registered_name": None}``."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"serialize: expected an Optimizer, got {type(optimizer).__name__}")
    return {
        "module": "keras.optimizers",
        "class_name": type(optimizer).__name__,
        "config": optimizer.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict, custom_objects: dict | None = None) -> Optimizer:
    """Inverse of ``serialize``; accepts Keras' dicts and ``{"class_name", "config"}`` (class name case-insensitive)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"optimizer: expected a dict with 'class_name' and 'config', got {config!r}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name)
    if cls is None and isinstance(name, str):
        cls = _BY_LOWER.get(name.lower())
    if cls is None:
        raise ValueError(f"optimizer: unknown optimizer class {name!r}; expected one of: {', '.join(OPTIMIZERS)}")
    return cls.from_config(dict(config.get("config") or {}), custom_objects=custom_objects)


# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
