"""``Dropout``, as ``keras.layers.Dropout``: random zeros in training, the identity in inference."""

from __future__ import annotations

import math

import numpy as np

from cyneuron.backend.specs import StageSpec
from cyneuron.layers.base import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """Sets each input element to 0 with probability ``rate`` while training, scaling the others by
    ``1 / (1 - rate)`` so the expected sum is unchanged; does nothing in inference.

    Args:
        rate: float in [0, 1], the fraction of the inputs to drop.
        noise_shape: the mask's shape ``(batch, d1, ...)``, with 1 on axes where one draw is shared
            (None entries take the input's size); None: one draw per element.
        seed: int for reproducible masks; None draws it from ``cyneuron.utils.set_random_seed``'s generator.

    The masks come from a counter-based generator shared by both backends: the same seed gives the
    same masks on the cython and numpy backends (not the same as Keras' JAX generator).
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)):
            raise TypeError(f"rate: expected a float, got {type(rate).__name__}")
        if not 0 <= rate <= 1:
            raise ValueError(
                f"Invalid value received for argument `rate`. Expected a float value between 0 and 1. "
                f"Received: rate={rate}"
            )
        self.rate = float(rate)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"seed: expected an int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self.noise_shape = self._check_noise_shape(noise_shape)
        super().__init__(**kwargs)

    @staticmethod
    def _check_noise_shape(noise_shape):
        if noise_shape is None:
            return None
        if isinstance(noise_shape, str):
            raise ValueError(f"Invalid value received for argument `noise_shape`. Received: noise_shape={noise_shape}")
        try:
            dims = tuple(noise_shape)
        except TypeError:
            raise ValueError(
                f"Invalid value received for argument `noise_shape`. Expected an iterable of integers. "
                f"Received: noise_shape={noise_shape}"
            ) from None
        for index, dim in enumerate(dims):
            if dim is not None and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim <= 0):
                raise ValueError(
                    f"Invalid value received for argument `noise_shape`. Expected all dimensions to be positive "
                    f"integers or None. Received element at index {index}: {dim}"
                )
        return tuple(None if d is None else int(d) for d in dims)

    def _mask_shape(self, features: tuple[int, ...]) -> tuple[tuple[int, ...] | None, bool]:
        if self.noise_shape is None:
            return None, True
        if len(self.noise_shape) != len(features) + 1:
            raise ValueError(
                f"{self.name}: noise_shape {self.noise_shape} must have one entry per input axis (batch included), "
                f"the input is {(None, *features)}"
            )
        dims = tuple(f if n is None else n for n, f in zip(self.noise_shape[1:], features))
        for n, f in zip(dims, features):
            if n not in (1, f):
                raise ValueError(f"{self.name}: noise_shape {self.noise_shape} does not broadcast to {features}")
        return dims, self.noise_shape[0] != 1

    def _validate_input(self, features: tuple[int, ...]) -> None:
        self._mask_shape(features)

    def stage_spec(self) -> StageSpec:
        noise, per_sample = self._mask_shape(self._build_shape)
        if noise is not None and math.prod(noise) == math.prod(self._build_shape) and per_sample:
            noise = None
        attrs = {"rate": self.rate, "seed": self.seed, "noise_shape": noise, "noise_batch": per_sample}
        return self._spec("dropout", attrs)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rate": self.rate,
            "seed": self.seed,
            "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
        }
