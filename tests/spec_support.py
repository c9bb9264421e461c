"""Builders of the backend IR (``StageSpec``, ``OptimizerSpec``) for tests written against the old
``Stage(activation, kernel, bias)`` / ``SGDSpec(lr, momentum, nesterov)`` vocabulary."""

from __future__ import annotations

import numpy as np

from cyneuron.backend.specs import OptimizerSpec, ScheduleSpec, StageSpec


def dense_stage(activation: str, kernel: np.ndarray, bias: np.ndarray | None = None, **fields) -> StageSpec:
    """A dense stage over ``kernel`` (in, units) and optional ``bias`` (the old ``Stage(act, k, b)``)."""
    n_in, units = kernel.shape
    params = (kernel,) if bias is None else (kernel, bias)
    return StageSpec("dense", (n_in,), (units,), {"activation": activation}, params, **fields)


def activation_stage(activation: str, width: int) -> StageSpec:
    """A bare activation stage on ``width`` features (the old ``Stage(act)``)."""
    return StageSpec("activation", (width,), (width,), {"activation": activation})


def sgd_spec(learning_rate: float, momentum: float = 0.0, nesterov: bool = False) -> OptimizerSpec:
    """The backend spec of ``SGD(learning_rate, momentum, nesterov)`` (the old ``SGDSpec``)."""
    hyper = {"momentum": float(momentum), "nesterov": float(bool(nesterov))}
    return OptimizerSpec("sgd", ScheduleSpec("constant", (float(learning_rate),)), hyper)


def kernel_of(stage: StageSpec) -> np.ndarray:
    return stage.params[0]


def bias_of(stage: StageSpec) -> np.ndarray | None:
    return stage.params[1] if len(stage.params) > 1 else None
