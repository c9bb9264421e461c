"""Adamax (Adam with the infinity norm): Keras 3's ``Adamax``."""

from __future__ import annotations

from typing import ClassVar

from cyneuron.optimizers.base import Hyper, Optimizer, non_negative, unit_interval, unit_interval_open


class Adamax(Optimizer):
    """Adamax: Adam's first moment over an exponentially weighted infinity norm.

    Args:
        learning_rate: finite float > 0 or a ``LearningRateSchedule`` (default 0.001).
        beta_1: float in [0, 1), first-moment decay (default 0.9).
        beta_2: float in [0, 1], infinity-norm decay (default 0.999).
        epsilon: float >= 0 (default 1e-7).
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            as ``Optimizer`` (Keras' common arguments).
    """

    kind: ClassVar[str] = "adamax"
    _own: ClassVar[tuple[str, ...]] = (
        "beta_1",
        "beta_2",
        "epsilon",
    )

    beta_1 = Hyper(unit_interval_open)
    beta_2 = Hyper(unit_interval)
    epsilon = Hyper(non_negative)

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
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
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
