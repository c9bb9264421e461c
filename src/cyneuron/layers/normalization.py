"""``BatchNormalization``, as ``keras.layers.BatchNormalization``."""

from __future__ import annotations

import math

import numpy as np

from cyneuron import initializers as _initializers
from cyneuron import regularizers as _regularizers
from cyneuron.backend.specs import StageSpec
from cyneuron.layers.base import Layer, _named, unsupported_options
from cyneuron.utils import _check_bool

__all__ = ["BatchNormalization"]


class BatchNormalization(Layer):
    """Normalises each channel (``axis``) to zero mean and unit variance, then scales by ``gamma`` and
    shifts by ``beta``.

    In training (``fit``, ``model(x, training=True)``) it uses the batch's mean and (biased) variance
    and moves ``moving_mean`` / ``moving_variance`` towards them by ``1 - momentum``; in inference,
    and whenever the layer is frozen (``trainable=False``, as in Keras), it uses the moving statistics.

    Weights, Keras order: ``gamma`` (if ``scale``), ``beta`` (if ``center``), then the non-trainable
    ``moving_mean`` and ``moving_variance``, each ``(channels,)``.
    """

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        renorm=False,
        renorm_clipping=None,
        renorm_momentum=0.99,
        synchronized=False,
        **kwargs,
    ) -> None:
        unsupported_options(
            "BatchNormalization",
            beta_constraint=beta_constraint,
            gamma_constraint=gamma_constraint,
            renorm_clipping=renorm_clipping,
        )
        self.beta_regularizer = _named(_regularizers.get, beta_regularizer, "beta_regularizer")
        self.gamma_regularizer = _named(_regularizers.get, gamma_regularizer, "gamma_regularizer")
        if renorm:
            raise ValueError("renorm: batch renormalization is not supported by cyneuron")
        if synchronized:
            raise ValueError("Argument synchronized=True is only supported with the TensorFlow backend.")
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"axis: expected an int, got {type(axis).__name__}")
        self.axis = int(axis)
        self.momentum = self._float(momentum, "momentum")
        self.epsilon = self._float(epsilon, "epsilon")
        if self.epsilon <= 0:
            raise ValueError(f"epsilon: expected a float > 0, got {epsilon}")
        self.center = _check_bool(center, "center")
        self.scale = _check_bool(scale, "scale")
        self.renorm_momentum = renorm_momentum
        self.beta_initializer = _named(_initializers.get, beta_initializer, "beta_initializer")
        self.gamma_initializer = _named(_initializers.get, gamma_initializer, "gamma_initializer")
        self.moving_mean_initializer = _named(_initializers.get, moving_mean_initializer, "moving_mean_initializer")
        self.moving_variance_initializer = _named(
            _initializers.get, moving_variance_initializer, "moving_variance_initializer"
        )
        super().__init__(**kwargs)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    @staticmethod
    def _float(value, name: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name}: expected a float, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError(f"{name}: expected a finite float, got {value}")
        return float(value)

    def _channel_axis(self, features: tuple[int, ...]) -> int:
        """The normalised axis as an index into the per-sample shape."""
        ndim = len(features) + 1
        axis = self.axis + ndim if self.axis < 0 else self.axis
        if not 1 <= axis < ndim:
            raise ValueError(f"{self.name}: invalid axis {self.axis} for inputs of shape {(None, *features)}")
        return axis - 1

    def _validate_input(self, features: tuple[int, ...]) -> None:
        self._channel_axis(features)

    def build(self, input_shape) -> None:
        features = tuple(input_shape)[1:]
        shape = (features[self._channel_axis(features)],)
        if self.scale:
            self.gamma = self.add_weight(
                shape, self.gamma_initializer, regularizer=self.gamma_regularizer, name="gamma"
            )
        if self.center:
            self.beta = self.add_weight(shape, self.beta_initializer, regularizer=self.beta_regularizer, name="beta")
        self.moving_mean = self.add_weight(shape, self.moving_mean_initializer, trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight(
            shape, self.moving_variance_initializer, trainable=False, name="moving_variance"
        )
        self.built = True

    def stage_spec(self) -> StageSpec:
        features = self._build_shape
        axis = self._channel_axis(features)
        attrs = {
            "channels": features[axis],
            "inner": math.prod(features[axis + 1 :]),
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
        }
        params = [w for w in (self.gamma, self.beta) if w is not None]
        return self._spec("batch_norm", attrs, params, (self.moving_mean, self.moving_variance))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": _initializers.serialize(self.beta_initializer),
            "gamma_initializer": _initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": _initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": _initializers.serialize(self.moving_variance_initializer),
            "beta_regularizer": _regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": _regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": None,
            "gamma_constraint": None,
            "renorm": False,
            "renorm_clipping": None,
            "renorm_momentum": self.renorm_momentum,
            "synchronized": False,
        }
