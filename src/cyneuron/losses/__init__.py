"""Loss functions, as in ``keras.losses``.

Classes (``MeanSquaredError()``, ``Huber(delta=0.5)``, ``CategoricalCrossentropy(label_smoothing=0.1)``
...) and strings (``"mse"``, ``"huber"``, class names) resolve to a backend ``LossSpec``: in
``compile(loss=...)`` every built-in loss runs inside the compiled training step (its reduction sets
the gradient's scale exactly as in Keras). Called on their own, losses compute in NumPy with Keras 3's
formulas and shape rules (``backend/reference/losses.py``), on arrays of any rank:

* ``loss(y_true, y_pred, sample_weight=None)`` reduces the per-sample losses (``reduction``:
  ``"sum_over_batch_size"`` (default), ``"sum"``, ``"mean"``, ``"mean_with_sample_weight"``, or
  ``None`` / ``"none"`` for the weighted per-sample values), in the loss's ``dtype``;
* the functions (``mean_squared_error(y_true, y_pred)`` ...) return the per-sample losses, the
  class axis reduced, as Keras' loss functions do.

Targets accepted in training (``y_true``), for predictions ``(batch, units)``:

* sparse categorical cross-entropy: integer class labels ``(batch,)`` or
  ``(batch, 1)`` (integral floats are accepted) in ``[0, units)`` (or equal to ``ignore_class``);
* the others: rows ``(batch, units)``, or ``(batch,)`` when ``units == 1``.

Modules: ``base`` (input rules, ``Loss``, the built-in base, ``check_targets``), ``classes`` (Keras' loss
classes), ``functions`` (Keras' loss functions); this module resolves identifiers (``get``, ``to_spec``,
``serialize``, ``deserialize``) through its registries.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from cyneuron.backend.base import LossSpec
from cyneuron.backend.validation import check_loss as _check_spec

# Beyond Loss and _Builtin, re-exported for the model (check_targets), the metrics (SPARSE, bfloat16, _values,
# _reference) and the scikit-learn wrappers (SPARSE).
from cyneuron.losses.base import SPARSE, Loss, _Builtin, _reference, _values, bfloat16, check_targets  # noqa: F401
from cyneuron.losses.classes import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    Huber,
    KLDivergence,
    LogCosh,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    SparseCategoricalCrossentropy,
    SquaredHinge,
)
from cyneuron.losses.functions import (
    binary_crossentropy,
    categorical_crossentropy,
    categorical_hinge,
    cosine_similarity,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)

__all__ = [
    "Loss",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "CosineSimilarity",
    "Huber",
    "LogCosh",
    "KLDivergence",
    "Poisson",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "cosine_similarity",
    "huber",
    "log_cosh",
    "kl_divergence",
    "poisson",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "get",
    "serialize",
    "deserialize",
]


_CLASSES = {
    cls.__name__: cls
    for cls in (
        MeanSquaredError,
        MeanAbsoluteError,
        MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError,
        CosineSimilarity,
        Huber,
        LogCosh,
        KLDivergence,
        Poisson,
        Hinge,
        SquaredHinge,
        CategoricalHinge,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
    )
}
_FUNCTIONS: dict[str, Callable] = {
    function.__name__: function
    for function in (
        mean_squared_error,
        mean_absolute_error,
        mean_absolute_percentage_error,
        mean_squared_logarithmic_error,
        cosine_similarity,
        huber,
        log_cosh,
        kl_divergence,
        poisson,
        hinge,
        squared_hinge,
        categorical_hinge,
        binary_crossentropy,
        categorical_crossentropy,
        sparse_categorical_crossentropy,
    )
}
# Keras' short and legacy names
_ALIASES = {
    "mse": "mean_squared_error",
    "MSE": "mean_squared_error",
    "mae": "mean_absolute_error",
    "MAE": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "MAPE": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "MSLE": "mean_squared_logarithmic_error",
    "bce": "binary_crossentropy",
    "BCE": "binary_crossentropy",
    "kld": "kl_divergence",
    "KLD": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
    "logcosh": "log_cosh",
}
_CANONICAL_OF_FUNCTION = {function: name for name, function in _FUNCTIONS.items()}


def _valid() -> str:
    return ", ".join([*_FUNCTIONS, *_ALIASES, *_CLASSES])


def get(identifier):
    """The loss for a name, class, config dict, ``Loss`` instance or loss function (Keras' ``losses.get``).

    Names of functions (``"mse"``, ``"categorical_crossentropy"``) give the function; class names
    (``"MeanSquaredError"``) and classes give a new instance. Unknown names raise ValueError listing valid ones.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        name = _ALIASES.get(identifier, identifier)
        if name in _FUNCTIONS:
            return _FUNCTIONS[name]
        if name in _CLASSES:
            return _CLASSES[name]()
        raise ValueError(f"Could not interpret loss identifier: {identifier!r} (loss: expected one of {_valid()})")
    if callable(identifier) and identifier in _CANONICAL_OF_FUNCTION:
        return identifier
    if callable(identifier):
        raise ValueError(f"loss: custom loss functions are not supported ({identifier!r}); expected one of {_valid()}")
    raise TypeError(f"loss: expected a string, a Loss or a loss function, got {type(identifier).__name__}")


def to_spec(identifier) -> LossSpec:
    """The backend ``LossSpec`` of any loss identifier accepted by ``get`` (a built-in loss: training runs it)."""
    loss = get(identifier)
    if loss is None:
        raise ValueError("loss: no loss given")
    if isinstance(loss, _Builtin):
        spec = loss.spec
        _check_spec(spec, training=True)
        return spec
    if isinstance(loss, Loss):
        raise ValueError(
            f"loss: {type(loss).__name__} is a custom Loss; training runs only the built-in losses "
            f"({', '.join(_CLASSES)})"
        )
    return LossSpec(_CANONICAL_OF_FUNCTION[loss], False)


def serialize(loss):
    """A JSON-able form: the name for strings and functions, ``{"class_name", "config"}`` for ``Loss`` objects."""
    if isinstance(loss, str):
        return loss
    if isinstance(loss, Loss):
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    if callable(loss) and loss in _CANONICAL_OF_FUNCTION:
        return _CANONICAL_OF_FUNCTION[loss]
    raise ValueError(f"loss: cannot serialize {loss!r}")


def deserialize(config):
    """Inverse of ``serialize``; also accepts Keras' ``{"module", "class_name", "config", ...}`` dicts."""
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"loss: expected a name or a dict with 'class_name' and 'config', got {config!r}")
    name = config["class_name"]
    if name in _CLASSES:
        return _CLASSES[name].from_config(config.get("config") or {})
    if name in _FUNCTIONS or name in _ALIASES:  # Keras serializes loss functions as {"class_name": "function", ...}
        return get(name)
    if name == "function" and isinstance(config.get("config"), str):
        return get(config["config"])
    raise ValueError(f"loss: unknown loss class {name!r}; expected one of {', '.join(_CLASSES)}")


# Keras' module name for its losses (``from keras.src.losses import losses``): this module holds them.
losses = sys.modules[__name__]

# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
