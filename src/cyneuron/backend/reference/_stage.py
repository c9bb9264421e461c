"""What every reference stage returns, and the context a pass hands it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# backprop(dy) -> (dx or None, grads aligned with spec.params, or () when the stage is frozen)
Backprop = Callable[[np.ndarray], tuple]


@dataclass(frozen=True)
class Context:
    training: bool
    seed: int = 0
    step: int = 0
    stage: int = 0
    need_dx: bool = True


@dataclass(frozen=True)
class Forward:
    """A stage's output and how to go back through it.

    ``head`` is set by stages whose last operation is one of the activations the loss head
    can fuse (dense, bare activations): ``(activation, pre_activation, backprop_from_pre)``.
    ``new_state`` holds the values the stage's non-trainable state takes if the step commits.
    """

    y: np.ndarray
    backprop: Backprop
    head: tuple | None = None
    new_state: tuple[np.ndarray, ...] | None = None


def check_params(spec, dtype, shapes: list[tuple[int, ...]], what: str = "params") -> None:
    arrays = spec.params if what == "params" else spec.state
    if len(arrays) != len(shapes):
        raise ValueError(f"{spec.name or spec.kind}: expected {len(shapes)} {what} arrays, got {len(arrays)}")
    for index, (array, shape) in enumerate(zip(arrays, shapes)):
        label = f"{spec.name or spec.kind}.{what}[{index}]"
        if type(array) is not np.ndarray:
            raise TypeError(f"{label}: expected a numpy.ndarray, got {type(array).__name__}")
        if array.dtype != dtype:
            raise TypeError(f"{label}: expected dtype {dtype}, got {array.dtype}")
        if array.shape != tuple(shape):
            raise ValueError(f"{label}: expected shape {tuple(shape)}, got {array.shape}")
        if not array.flags.c_contiguous or not array.flags.writeable:
            raise ValueError(f"{label}: expected a C-contiguous, writeable array")
