"""Adagrad: Keras 3's ``Adagrad``."""

from __future__ import annotations

from typing import ClassVar

from cyneuron.optimizers.base import Hyper, Optimizer, non_negative


class Adagrad(Optimizer):
    """Adagrad: per-element learning rates scaled by the accumulated squared gradients.

    Args:
        learning_rate: finite float > 0 or a ``LearningRateSchedule`` (default 0.001).
        initial_accumulator_value: float >= 0, the accumulators' start (default 0.1).
        epsilon: float >= 0 (default 1e-7).
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            as ``Optimizer`` (Keras' common arguments).
    """

    kind: ClassVar[str] = "adagrad"
    _own: ClassVar[tuple[str, ...]] = (
        "initial_accumulator_value",
        "epsilon",
    )

    initial_accumulator_value = Hyper(non_negative)
    epsilon = Hyper(non_negative)

    def __init__(
        self,
        learning_rate: float = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon
