"""RMSprop: Keras 3's ``RMSprop``."""

from __future__ import annotations

from typing import ClassVar

from cyneuron.optimizers.base import Hyper, Optimizer, check_bool, non_negative, unit_interval


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running root mean square; optionally centered and with momentum.

    Args:
        learning_rate: finite float > 0 or a ``LearningRateSchedule`` (default 0.001).
        rho: float in [0, 1], decay of the running mean square (default 0.9).
        momentum: float in [0, 1] (0 keeps no momentum slot) (default 0.0).
        epsilon: float >= 0 (default 1e-7).
        centered: bool, normalise by the variance estimate instead (default False).
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            as ``Optimizer`` (Keras' common arguments).
    """

    kind: ClassVar[str] = "rmsprop"
    _own: ClassVar[tuple[str, ...]] = (
        "rho",
        "momentum",
        "epsilon",
        "centered",
    )

    rho = Hyper(unit_interval)
    momentum = Hyper(unit_interval)
    epsilon = Hyper(non_negative)
    centered = Hyper(check_bool)

    def __init__(
        self,
        learning_rate: float = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
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
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered
