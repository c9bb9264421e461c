"""Stochastic gradient descent, with optional (Nesterov) momentum: Keras 3's ``SGD``."""

from __future__ import annotations

from typing import ClassVar

from cyneuron.optimizers.base import Hyper, Optimizer, check_bool, unit_interval


class SGD(Optimizer):
    """Gradient descent: ``w -= lr * g``; with momentum ``m = momentum * m - lr * g; w += m``;
    Nesterov ``w += momentum * m - lr * g`` after the same velocity update.

    Args:
        learning_rate: finite float > 0 or a ``LearningRateSchedule`` (default 0.01).
        momentum: float in [0, 1] (0 keeps no momentum slot) (default 0.0).
        nesterov: bool, Nesterov momentum (default False).
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            as ``Optimizer`` (Keras' common arguments).
    """

    kind: ClassVar[str] = "sgd"
    _own: ClassVar[tuple[str, ...]] = (
        "momentum",
        "nesterov",
    )

    momentum = Hyper(unit_interval)
    nesterov = Hyper(check_bool)

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
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
        self.momentum = momentum
        self.nesterov = nesterov
