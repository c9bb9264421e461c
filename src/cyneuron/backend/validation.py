"""Argument checks shared by both backends' network boundaries.

Each check runs once per public call (never per batch) and raises ValueError
or TypeError naming the argument and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cyneuron.backend.specs import (
    ACTIVATION_PARAMS,
    ACTIVATIONS,
    DTYPES,
    LOSSES,
    METRIC_PARAMS,
    METRICS,
    REDUCTIONS,
    SPARSE_METRICS,
    LossSpec,
    MetricSpec,
    OptimizerSpec,
    ScheduleSpec,
    StageSpec,
)

_INT_MAX = 2**31 - 1  # BLAS takes 32-bit dimensions


def check_activation(name: object) -> str:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation: unknown {name!r}; expected one of {', '.join(ACTIVATIONS)}")
    return name


def check_activation_params(name: object, params: object) -> dict | None:
    """An activation name with its arguments (a mapping, or None for Keras' defaults), validated."""
    if params is None:
        if name == "threshold":
            raise ValueError("params: threshold needs its arguments threshold and default_value")
        check_activation(name)
        return None
    if not isinstance(params, dict):
        raise TypeError(f"params: expected a dict or None, got {type(params).__name__}")
    if name != "threshold":
        check_activation(name)
    from cyneuron.backend.reference.activation import check_params

    known = {key for key, _ in ACTIVATION_PARAMS.get(name, ())}
    unknown = set(params) - known
    if unknown:
        raise ValueError(f"params: {name} takes no argument {sorted(unknown)[0]!r}")
    check_params(name, params, "params")
    return dict(params)


def check_loss(loss: object, *, training: bool = False) -> LossSpec:
    """A known loss with valid options; ``training``: also a reduction to a single value (not None)."""
    if not isinstance(loss, LossSpec):
        raise TypeError(f"loss: expected a LossSpec, got {type(loss).__name__}")
    if loss.name not in LOSSES:
        raise ValueError(f"loss: unknown {loss.name!r}; expected one of {', '.join(LOSSES)}")
    if loss.reduction not in REDUCTIONS:
        raise ValueError(
            f"Invalid value for argument `reduction`. Expected one of {REDUCTIONS}. "
            f"Received: reduction={loss.reduction}"
        )
    if training and loss.reduction in (None, "none"):
        raise ValueError(
            f"reduction: {loss.reduction!r} gives one loss per sample; training needs a single value "
            "('sum_over_batch_size', 'sum', 'mean' or 'mean_with_sample_weight')"
        )
    if not isinstance(loss.from_logits, (bool, np.bool_)):
        raise TypeError(f"from_logits: expected a bool, got {type(loss.from_logits).__name__}")
    smoothing = check_hyperparameter("label_smoothing", loss.label_smoothing)
    if not 0 <= smoothing <= 1:
        raise ValueError(f"label_smoothing: expected a value in [0, 1], got {loss.label_smoothing!r}")
    if check_hyperparameter("delta", loss.delta) <= 0:
        raise ValueError(f"delta: expected a value > 0, got {loss.delta!r}")
    if loss.ignore_class is not None and (
        isinstance(loss.ignore_class, (bool, np.bool_)) or not isinstance(loss.ignore_class, (int, np.integer))
    ):
        raise TypeError(f"ignore_class: expected None or an int, got {type(loss.ignore_class).__name__}")
    if loss.ignore_class is not None and not -(2**62) <= loss.ignore_class < 2**62:
        raise ValueError(f"ignore_class: out of range, got {loss.ignore_class}")
    return loss


def check_metrics(metrics: Sequence, loss: LossSpec | None = None) -> tuple[MetricSpec, ...]:
    """Known metrics (names or ``MetricSpec``s) as ``MetricSpec``s; with a loss, also that each can read the
    loss's targets.

    The sparse loss trains on int labels and every other loss on dense target
    rows, and a network holds one ``y``: so the metrics reading labels (``SPARSE_METRICS``) go
    with ``sparse_categorical_crossentropy``, and only with it.
    """
    if isinstance(metrics, str) or not isinstance(metrics, Sequence):
        raise TypeError(f"metrics: expected a sequence of metric names, got {type(metrics).__name__}")
    specs = []
    for metric in metrics:
        if isinstance(metric, str):
            metric = MetricSpec(metric, float(METRIC_PARAMS.get(metric, 0.0)))
        if not isinstance(metric, MetricSpec):
            raise TypeError(f"metrics: expected metric names or MetricSpecs, got {type(metric).__name__}")
        if metric.name not in METRICS:
            raise ValueError(f"metrics: unknown {metric.name!r}; expected names from {', '.join(METRICS)}")
        param = check_hyperparameter(f"metrics: {metric.name}'s parameter", metric.param)
        if metric.name.endswith("top_k_categorical_accuracy") and (param < 1 or param != int(param)):
            raise ValueError(f"k: expected a positive integer, got {metric.param!r}")
        specs.append(MetricSpec(metric.name, param))
    if loss is not None:
        sparse = loss.name == "sparse_categorical_crossentropy"
        for metric in specs:
            if (metric.name in SPARSE_METRICS) != sparse:
                needs = "dense target rows (batch, units)" if sparse else "int labels (sparse_categorical_crossentropy)"
                raise ValueError(f"metrics: {metric.name!r} needs {needs} but the loss is {loss.name}")
    return tuple(specs)


def check_dtype(dtype: object) -> np.dtype:
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected float32 or float64, got {dtype!r}") from None
    if dtype not in DTYPES:
        raise TypeError(f"dtype: expected float32 or float64, got {dtype}")
    return dtype


def _check_plain_ndarray(name: str, value: object) -> None:
    # Subclasses change the meaning of operators (np.matrix: ``**`` is a matrix power) or hide values
    # (masked arrays), while the compiled kernels read the raw buffer: only plain arrays are accepted.
    if type(value) is not np.ndarray:
        raise TypeError(
            f"{name}: expected a numpy.ndarray, got {type(value).__module__}.{type(value).__name__}"
            + (" (convert it with numpy.asarray)" if isinstance(value, np.ndarray) else "")
        )


def check_positive_int(name: str, value: object) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def check_batch_bounds(start: object, stop: object, n: int, max_rows: int) -> tuple[int, int]:
    """Rows [start, stop) of n bound samples, at most ``max_rows`` of them (the prepared batch size)."""
    for name, value in (("start", start), ("stop", stop)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    if not 0 <= start < stop <= n:
        raise ValueError(f"start, stop: expected 0 <= start < stop <= {n}, got {start}, {stop}")
    if stop - start > max_rows:
        raise ValueError(f"start, stop: batch of {stop - start} rows exceeds the prepared batch size {max_rows}")
    return int(start), int(stop)


def check_array(name: str, value: object, shape: tuple, dtype: np.dtype, *, writeable: bool = False) -> np.ndarray:
    """``value`` must be a C-contiguous ndarray of ``dtype`` and ``shape`` (None = any length)."""
    _check_plain_ndarray(name, value)
    if value.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {dtype}, got {value.dtype}")
    if value.ndim != len(shape) or any(want is not None and got != want for got, want in zip(value.shape, shape)):
        expected = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name}: expected shape {expected}, got {_shape_text(value.shape)}")
    if not value.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous array (use numpy.ascontiguousarray)")
    if writeable and not value.flags.writeable:
        raise ValueError(f"{name}: expected a writeable array")
    return value


def _check_penalties(stage: StageSpec) -> None:
    """``stage.penalties``: empty, or one ``(l1, l2)`` pair of finite floats >= 0 per param; ``stage.activity``
    one such pair."""
    penalties = stage.penalties
    if not isinstance(penalties, tuple):
        raise TypeError(f"penalties: expected a tuple of (l1, l2) pairs, got {type(penalties).__name__}")
    if penalties and len(penalties) != len(stage.params):
        raise ValueError(f"penalties: expected one (l1, l2) pair per param ({len(stage.params)}), got {len(penalties)}")
    for pair in (*penalties, stage.activity):
        if not (isinstance(pair, tuple) and len(pair) == 2) or not all(
            isinstance(v, (float, int)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0 for v in pair
        ):
            raise ValueError(f"penalties: expected (l1, l2) pairs of finite numbers >= 0, got {pair!r}")


def check_stages(stages: Sequence[StageSpec], input_shape: object, dtype: np.dtype) -> list[int]:
    """Flat widths of the input and of every stage's output; checks each stage and that they chain.

    Pure reshapes contribute no stage, so consecutive stages must agree on the number of
    features per sample (``prod`` of the shapes), not on the shapes themselves.
    """
    from cyneuron.backend.reference import KINDS

    dtype = check_dtype(dtype)
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
        input_shape = (int(input_shape),)
    if (
        not isinstance(input_shape, tuple)
        or not input_shape
        or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1 for d in input_shape)
    ):
        raise ValueError(f"input_shape: expected a tuple of positive ints, got {input_shape!r}")
    if isinstance(stages, (str, bytes)) or not isinstance(stages, Sequence):
        raise TypeError(f"stages: expected a sequence of StageSpec, got {type(stages).__name__}")
    if not stages:
        raise ValueError("stages: expected at least one stage")
    widths = [_width("input_shape", input_shape)]
    for index, stage in enumerate(stages):
        if not isinstance(stage, StageSpec):
            raise TypeError(f"stages[{index}]: expected a StageSpec, got {type(stage).__name__}")
        module = KINDS.get(stage.kind)
        if module is None:
            raise ValueError(f"stages[{index}]: unknown kind {stage.kind!r}; expected one of {', '.join(KINDS)}")
        if index > 0 and getattr(module, "INTEGER_INPUT", False):
            raise ValueError(
                f"stages[{index}]: a {stage.kind} stage reads integer indices, so it can only be the first stage"
            )
        fold = stage.fold
        if isinstance(fold, bool) or not isinstance(fold, (int, np.integer)) or fold < 1:
            raise ValueError(f"stages[{index}].fold: expected a positive int, got {fold!r}")
        if fold * _width(f"stages[{index}].in_shape", stage.in_shape) != widths[-1]:
            folded = f"{fold} x {stage.in_shape}" if fold > 1 else f"{stage.in_shape}"
            raise ValueError(
                f"stages[{index}]: in_shape {folded} does not take the previous output's {widths[-1]} features"
            )
        try:
            module.check(stage, dtype)
            _check_penalties(stage)
        except (ValueError, TypeError) as error:
            raise type(error)(f"stages[{index}] ({stage.kind}): {error}") from None
        widths.append(_width(f"stages[{index}].out_shape", stage.out_shape) * int(fold))
        if widths[-1] > _INT_MAX:
            raise ValueError(f"stages[{index}]: {widths[-1]} features per sample, more than {_INT_MAX}")
    return widths


def check_folded_training(stages: Sequence[StageSpec]) -> None:
    """Training-mode passes refuse a trainable batch_norm stage with ``fold`` > 1: Keras 3's TimeDistributed
    calls the layer once per time step, so BatchNormalization takes batch statistics per step and moves its
    averages T times a batch, which folded rows (statistics over batch * T) would not reproduce. Frozen, or
    in inference, it normalises with its moving statistics, exactly as folded."""
    for index, stage in enumerate(stages):
        if stage.kind == "batch_norm" and stage.fold > 1 and stage.trainable:
            raise NotImplementedError(
                f"stages[{index}] ({stage.name or stage.kind}): TimeDistributed(BatchNormalization) trains only "
                "frozen (trainable=False) in cyneuron: Keras 3 runs it once per time step (batch statistics per "
                "step), which cyneuron's folded stage does not; predict works either way"
            )


def loss_layout(output_shape: object, out_dim: int) -> tuple[int, int]:
    """(steps, width): how the loss reads a network's output rows of ``out_dim`` features.

    ``output_shape`` is the model's per-sample output shape (None: ``(out_dim,)``). Keras' losses and
    per-sample metrics reduce the last axis, so a sample is ``steps = prod(output_shape[:-1])`` loss
    rows of ``width = output_shape[-1]``: an output (batch, T, units) has per-sample losses (batch, T).
    """
    if output_shape is None:
        return 1, out_dim
    if isinstance(output_shape, list):
        output_shape = tuple(output_shape)
    if isinstance(output_shape, tuple):
        output_shape = tuple(int(d) if isinstance(d, np.integer) else d for d in output_shape)
    if _width("output_shape", output_shape) != out_dim:
        raise ValueError(f"output_shape: {output_shape} does not hold the network's {out_dim} outputs per sample")
    return out_dim // output_shape[-1], output_shape[-1]


def input_indices(stages: Sequence[StageSpec]) -> int:
    """What a network's x holds, from its (checked) first stage: 0 for rows of the float dtype; V > 0 for
    int64 indices in [0, V) when the first stage's kind reads indices (``INTEGER_INPUT``: ``embedding``,
    attr ``input_dim`` = V). The one place that decides; both networks ask it."""
    from cyneuron.backend.reference import KINDS

    first = stages[0]
    return int(first.attrs["input_dim"]) if getattr(KINDS[first.kind], "INTEGER_INPUT", False) else 0


def _width(name: str, shape: object) -> int:
    if not isinstance(shape, tuple) or not shape or not all(isinstance(d, int) and d >= 1 for d in shape):
        raise ValueError(f"{name}: expected a tuple of positive ints, got {shape!r}")
    width = 1
    for d in shape:
        width *= d
    if width > _INT_MAX:
        raise ValueError(f"{name}: {shape} is {width} features per sample, more than {_INT_MAX}")
    return width


def all_finite(array: np.ndarray) -> bool:
    """No NaN or infinity in a float array (any other dtype: True); one pass, no allocation.

    min and max propagate NaN and expose +-inf, without the boolean mask the size of
    the data that ``np.isfinite(array).all()`` builds (47 MB for a 60,000 x 784 set).
    """
    if array.dtype.kind != "f" or array.size == 0:
        return True
    return bool(np.isfinite(array.min()) and np.isfinite(array.max()))


def _check_finite(name: str, value: np.ndarray) -> None:
    if not all_finite(value):
        raise ValueError(f"{name}: contains NaN or inf")


_NO_ORDER = object()


def check_network_data(
    x,
    y,
    input_dim: int,
    units: int,
    dtype: np.dtype,
    loss: LossSpec | None,
    order=_NO_ORDER,
    *,
    finite_checked: bool = False,
    indices: int = 0,
    steps: int = 1,
) -> tuple:
    """Validate x (n, input_dim), y and order for a network call; returns them as a tuple.

    x holds rows of the dtype, or with ``indices`` > 0 (``input_indices``: the first stage is an
    embedding) int64 indices, each in [0, indices), checked whatever ``finite_checked`` says.
    y is int64 labels (n,) in [0, units) for the sparse loss, else targets
    (n, units) of the dtype; y None (prediction) skips it. With ``steps`` > 1 (``loss_layout``: each
    sample is that many loss rows of ``units // steps``) the labels are (n, steps) in [0, units // steps).
    order, when given, is int64 (n,) with every value in [0, n). ``finite_checked=True`` skips the
    NaN/inf scan of x and y: for a caller that has just made that scan itself.
    """
    x = check_array("x", x, (None, input_dim), np.dtype(np.int64) if indices else dtype)
    n = x.shape[0]
    if y is None and loss is not None:
        raise TypeError("y: expected the targets as a numpy.ndarray, got None")
    if n == 0:
        raise ValueError("x: expected at least one sample, got 0")
    if indices:
        from cyneuron.backend.reference.embedding import check_indices

        check_indices("x", x, indices)
    elif not finite_checked:
        _check_finite("x", x)
    checked = [x]
    if y is not None:
        if loss is not None and loss.name == "sparse_categorical_crossentropy":
            if steps == 1:
                y = check_labels("y", y, n, units, loss.ignore_class)
            else:
                y = check_array("y", y, (n, steps), np.dtype(np.int64))
                check_labels("y", y.reshape(-1), n * steps, units // steps, loss.ignore_class)
        else:
            y = check_array("y", y, (n, units), dtype)
            if not finite_checked:
                _check_finite("y", y)
        checked.append(y)
    if order is not _NO_ORDER:
        order = check_array("order", order, (n,), np.dtype(np.int64))
        if order.min() < 0 or order.max() >= n:
            raise ValueError(f"order: indices must be in [0, {n})")
        checked.append(order)
    return tuple(checked)


# --------------------------------------------------------------- kernel calls
# ``Ops`` runs these before every kernel: the compiled kernels trust their
# arguments, so this is the only guard between a caller's mistake and memory.


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def check_float_array(name: str, value: object, ndim: int) -> np.ndarray:
    """A float32/float64 C-contiguous ndarray of ``ndim`` dims: the argument that fixes a call's dtype."""
    _check_plain_ndarray(name, value)
    if value.dtype not in DTYPES:
        raise TypeError(f"{name}: expected dtype float32 or float64, got {value.dtype}")
    if value.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {_shape_text(value.shape)}")
    if any(s == 0 for s in value.shape[1:]):
        raise ValueError(f"{name}: expected at least one column, got shape {_shape_text(value.shape)}")
    if not value.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous array (use numpy.ascontiguousarray)")
    if any(s > _INT_MAX for s in value.shape):
        raise ValueError(f"{name}: dimensions above {_INT_MAX} are not supported, got {_shape_text(value.shape)}")
    return value


def check_units(name: str, kernel: np.ndarray) -> int:
    """The output width of a (in, units) kernel: 1 to 2**31 - 1 (BLAS takes 32-bit dimensions)."""
    units = kernel.shape[1]
    if not 1 <= units <= _INT_MAX:
        raise ValueError(f"{name}: expected 1 to {_INT_MAX} units, got shape {_shape_text(kernel.shape)}")
    return units


def check_labels(name: str, value: object, rows: int, units: int, ignore_class: int | None = None) -> np.ndarray:
    """int64 class labels (rows,) in [0, units), or equal to ``ignore_class``."""
    check_array(name, value, (rows,), np.dtype(np.int64))
    if not rows:
        return value
    labels = value if ignore_class is None else value[value != ignore_class]
    if labels.size and (labels.min() < 0 or labels.max() >= units):
        raise ValueError(
            f"{name}: class labels must be in [0, {units}), got values in [{labels.min()}, {labels.max()}]"
        )
    return value


def check_sample_weights(name: str, value: object, rows: int, dtype, *, finite_checked: bool = False, steps: int = 1):
    """None, or sample weights (rows,) of the dtype, finite and >= 0 (the scan skipped when ``finite_checked``).

    With ``steps`` > 1 (``loss_layout``) also (rows, steps), one weight per loss row (Keras' temporal
    sample weights); returns them as (rows, steps), a (rows,) weight repeated over its sample's steps.
    """
    if value is None:
        return None
    if steps > 1 and isinstance(value, np.ndarray) and value.ndim == 2:
        value = check_array(name, value, (rows, steps), np.dtype(dtype))
    elif steps > 1:
        value = check_sample_weights(name, value, rows, dtype, finite_checked=finite_checked)
        return np.repeat(value, steps).reshape(rows, steps)
    else:
        value = check_array(name, value, (rows,), np.dtype(dtype))
    if not finite_checked and rows:
        if not all_finite(value):
            raise ValueError(f"{name}: contains NaN or inf")
        if value.min() < 0:
            raise ValueError(f"{name}: sample weights must be >= 0, got {value.min()}")
    return value


def check_no_overlap(out_name: str, out: np.ndarray | None, inputs: dict, *, may_be: tuple = ()) -> None:
    """An output must not share memory with an input, except when it *is* one named in ``may_be``."""
    if out is None:
        return
    for name, other in inputs.items():
        if other is None or (name in may_be and other is out):
            continue
        if np.may_share_memory(out, other):
            allowed = f" (it may be {name} itself)" if name in may_be else ""
            raise ValueError(f"{out_name}: must not overlap {name}{allowed}")


def check_targets(sparse: bool, y_true: object, y_pred: np.ndarray, ignore_class: int | None = None) -> np.ndarray:
    """y_true for a loss or metric on y_pred (batch, units): labels when ``sparse``, else same-shape targets."""
    if y_pred.shape[0] == 0:
        raise ValueError(f"y_pred: expected at least one row, got shape {_shape_text(y_pred.shape)}")
    if sparse:
        return check_labels("y_true", y_true, *y_pred.shape, ignore_class)
    return check_array("y_true", y_true, y_pred.shape, y_pred.dtype)


def check_hyperparameter(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    if not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return float(value)


# ------------------------------------------------------------------- networks


def check_optimizer(optimizer: object) -> OptimizerSpec:
    from cyneuron.backend.reference import optimizers

    if not isinstance(optimizer, OptimizerSpec):
        raise TypeError(f"optimizer: expected an OptimizerSpec, got {type(optimizer).__name__}")
    if not isinstance(optimizer.learning_rate, ScheduleSpec):
        raise TypeError(f"optimizer.learning_rate: expected a ScheduleSpec, got {type(optimizer.learning_rate)}")
    for name in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm"):
        if check_hyperparameter(f"optimizer.{name}", getattr(optimizer, name)) < 0:
            raise ValueError(f"optimizer.{name}: expected a value >= 0")
    for name, value in optimizer.hyper.items():
        check_hyperparameter(f"optimizer.{name}", value)
    for value in optimizer.learning_rate.values:
        check_hyperparameter("optimizer.learning_rate", value)
    optimizers.slot_specs(optimizer)  # an unknown kind raises here
    return optimizer


def check_optimizer_state(state: object, slots: Sequence[Sequence[np.ndarray]], scalars: np.ndarray) -> dict:
    """``{"iterations": int >= 0, "slots": arrays shaped like ``slots``, "scalars": like ``scalars``}``,
    every value checked before any is assigned."""
    if not isinstance(state, dict) or set(state) != {"iterations", "slots", "scalars"}:
        raise TypeError("state: expected a dict with 'iterations', 'slots' and 'scalars'")
    iterations = state["iterations"]
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or not 0 <= iterations < 2**62:
        raise ValueError(f"state['iterations']: expected an int >= 0, got {iterations!r}")
    try:
        given = [list(per_param) for per_param in state["slots"]]
    except TypeError:
        raise TypeError("state['slots']: expected a list (one per parameter) of lists of arrays") from None
    if len(given) != len(slots) or any(len(g) != len(s) for g, s in zip(given, slots)):
        raise ValueError(f"state['slots']: expected {len(slots)} parameters with {[len(s) for s in slots]} slots each")
    values = []
    for index, (targets, arrays) in enumerate(zip(slots, given)):
        values.append(
            [_state_array(f"state['slots'][{index}][{k}]", a, t.shape) for k, (t, a) in enumerate(zip(targets, arrays))]
        )
    scalar_values = _state_array("state['scalars']", state["scalars"], scalars.shape)
    return {"iterations": int(iterations), "slots": values, "scalars": scalar_values}


def _state_array(name: str, value: object, shape: tuple) -> np.ndarray:
    try:
        value = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: expected an array of shape {shape} ({error})") from None
    if value.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {value.shape}")
    if not np.issubdtype(value.dtype, np.floating):
        raise TypeError(f"{name}: expected a floating-point array, got dtype {value.dtype}")
    if not all_finite(value):
        raise ValueError(f"{name}: contains NaN or inf")
    return value
