"""Keras' metric object API: ``Metric`` (``update_state`` / ``result`` / ``reset_state`` / ``variables``),
``Mean``, ``Sum`` and ``MeanMetricWrapper``. State lives in NumPy arrays of the metric's dtype."""

from __future__ import annotations

import re

import numpy as np

from cyneuron import config as _config
from cyneuron.backend.reference import metrics as _reference
from cyneuron.backend.specs import MetricSpec
from cyneuron.layers.base import unique_name


def _snake_case(name: str) -> str:
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def metric_dtype(dtype) -> np.dtype:
    """A metric's dtype: None for the default float type, or a numeric dtype (or a policy's compute dtype)."""
    if dtype is None:
        return np.dtype(_config._dtype())
    if hasattr(dtype, "compute_dtype"):
        dtype = dtype.compute_dtype
    if str(dtype) == "bfloat16":
        from cyneuron.losses import bfloat16

        return bfloat16()
    try:
        value = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype: expected a numeric dtype (float32, float64, int32 ...), got {dtype!r}") from None
    if value.kind not in "biuf" and value.name != "bfloat16":
        raise ValueError(f"dtype: expected a numeric dtype (float32, float64, int32 ...), got {dtype!r}")
    return value


class Variable(np.ndarray):
    """A metric's state array with a ``name`` (and Keras' ``assign`` / ``numpy``)."""

    name: str = ""

    def __array_finalize__(self, obj) -> None:
        self.name = getattr(obj, "name", "")

    def assign(self, value) -> None:
        self[...] = value

    def numpy(self) -> np.ndarray:
        return np.array(self)


def as_array(value, dtype=None, name: str = "y") -> np.ndarray:
    if value is None:
        raise ValueError(f"{name}: expected an array, got None")
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numbers, got dtype {array.dtype}")
    return array if dtype is None else array.astype(dtype, copy=False)


class Metric:
    """Base class of the metrics (``keras.metrics.Metric``).

    Subclasses create their state with ``add_variable`` in ``__init__`` and implement ``update_state`` and
    ``result``; ``reset_state`` zeroes every variable. Calling a metric updates it and returns the result.
    """

    # the compiled step can compute this metric per sample (a MetricSpec); None: updated in Python per batch
    _kernel: MetricSpec | None = None

    def __init__(self, dtype=None, name: str | None = None) -> None:
        # as Keras' auto_name: a metric left unnamed is named after its class, unique in the session
        # (precision, precision_1 ...; utils.clear_session restarts the count)
        self.name = name if name is not None else unique_name(_snake_case(type(self).__name__))
        self._dtype = metric_dtype(dtype)
        self._variables: list[Variable] = []

    @property
    def dtype(self) -> str:
        return self._dtype.name

    @property
    def variables(self) -> list[Variable]:
        """The state arrays (updated in place)."""
        return list(self._variables)

    def add_variable(self, shape=(), initializer="zeros", dtype=None, name: str | None = None) -> Variable:
        if initializer not in ("zeros", None):
            raise ValueError(f"initializer: metric variables start at zeros, got {initializer!r}")
        variable = np.zeros(shape, dtype=metric_dtype(dtype) if dtype is not None else self._dtype).view(Variable)
        variable.name = name or f"variable_{len(self._variables)}"
        self._variables.append(variable)
        return variable

    def add_weight(self, shape=(), initializer="zeros", dtype=None, name: str | None = None) -> Variable:
        return self.add_variable(shape, initializer, dtype, name)

    def reset_state(self) -> None:
        for variable in self._variables:
            variable[...] = 0

    def update_state(self, *args, **kwargs) -> None:
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class Sum(Metric):
    """The (weighted) sum of the values given."""

    def __init__(self, name: str = "sum", dtype=None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), name="total")

    def update_state(self, values, sample_weight=None) -> None:
        values, _ = _reference.samplewise(as_array(values, self._dtype, "values"), sample_weight, reduce=np.sum)
        self.total[...] += np.sum(values)

    def result(self):
        return self._dtype.type(self.total)


class Mean(Metric):
    """The (weighted) mean of the values given: ``total / count``."""

    def __init__(self, name: str = "mean", dtype=None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), name="total")
        self.count = self.add_variable((), name="count")

    def update_state(self, values, sample_weight=None, mask=None) -> None:
        values, weights = _reference.samplewise(as_array(values, self._dtype, "values"), sample_weight, mask)
        self.total[...] += np.sum(values, dtype=self._dtype)
        if weights is not None:
            self.count[...] += np.sum(weights, dtype=self._dtype)
        else:
            self.count[...] += values.shape[0] if values.ndim >= 1 else 1

    def result(self):
        return self._dtype.type(_reference.divide_no_nan(self.total, self.count))


class MeanMetricWrapper(Mean):
    """The mean of a per-sample function ``fn(y_true, y_pred, **kwargs)`` (Keras' ``MeanMetricWrapper``)."""

    def __init__(self, fn, name: str | None = None, dtype=None, **kwargs) -> None:
        super().__init__(name=name if name is not None else getattr(fn, "__name__", "mean"), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        mask = None
        if isinstance(values, tuple):  # (values, mask): a loss with ignore_class
            values, mask = values
        super().update_state(values, sample_weight, mask)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._fn_kwargs}
