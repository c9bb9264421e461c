"""Weight initializers, as in ``keras.initializers``, with Keras 3's exact formulas.

Every initializer is called as ``init(shape, dtype=None)`` and returns a new
C-contiguous array (dtype defaults to ``cyneuron.config.floatx()``). Random
initializers draw from a NumPy ``Generator``. As in Keras 3, an initializer
*instance* produces the same values on every call: ``seed=None`` picks a seed
once, at construction, from the process-wide generator (so
``cyneuron.utils.set_random_seed`` makes whole models reproducible), and an
integer seed is used as given.

Fans of a shape follow Keras: ``(in, units)`` gives ``fan_in=in, fan_out=units``;
a 1-D shape ``(n,)`` gives ``fan_in = fan_out = n``.
"""

from __future__ import annotations

import math

import numpy as np

from cyneuron import config as _config

__all__ = [
    "Initializer",
    "Zeros",
    "Ones",
    "Constant",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "GlorotUniform",
    "GlorotNormal",
    "HeUniform",
    "HeNormal",
    "LecunUniform",
    "LecunNormal",
    "Orthogonal",
    "get",
    "serialize",
    "deserialize",
]

# Standard deviation of a unit normal truncated to [-2, 2]; dividing by it makes the truncated draw have the
# requested standard deviation (Keras' constant).
_TRUNCATED_STDDEV = 0.87962566103423978


def _check_shape(shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise TypeError(f"shape: expected a tuple of non-negative ints, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"shape: dimensions must be >= 0, got {shape!r}")
    return dims


def _check_dtype(dtype) -> np.dtype:
    dtype = _config._dtype() if dtype is None else np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype: expected float32 or float64, got {dtype}")
    return dtype


def compute_fans(shape) -> tuple[float, float]:
    """``(fan_in, fan_out)`` of a weight shape, as Keras computes them."""
    shape = tuple(shape)
    if len(shape) < 1:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def _check_seed(seed) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed: expected an int or None, got {seed!r}")
    return int(seed)


class Initializer:
    """Base class: ``__call__(shape, dtype=None) -> ndarray`` plus Keras-style config."""

    def __call__(self, shape, dtype=None) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Initializer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype=None) -> np.ndarray:
        return np.zeros(_check_shape(shape), dtype=_check_dtype(dtype))


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype=None) -> np.ndarray:
        return np.ones(_check_shape(shape), dtype=_check_dtype(dtype))


class Constant(Initializer):
    """Every entry equal to ``value``: a number, or an array broadcast to the shape (as Keras')."""

    def __init__(self, value=0.0) -> None:
        if isinstance(value, dict) and value.get("class_name") == "__numpy__":  # Keras' serialized array
            value = (value.get("config") or {}).get("value")
        array = np.asarray(value, dtype=np.float64)
        if array.dtype.kind not in "fiub" or not np.all(np.isfinite(array)):
            raise ValueError(f"value: expected finite numbers, got {value!r}")
        self.value = float(array) if array.ndim == 0 else array

    def __call__(self, shape, dtype=None) -> np.ndarray:
        shape = _check_shape(shape)
        try:
            return np.array(np.broadcast_to(self.value, shape), dtype=_check_dtype(dtype))
        except ValueError:
            raise ValueError(f"value of shape {np.shape(self.value)} does not broadcast to {shape}") from None

    def get_config(self) -> dict:
        return {"value": self.value if isinstance(self.value, float) else self.value.tolist()}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only), as Keras' ``Identity``."""

    def __init__(self, gain: float = 1.0) -> None:
        gain = float(gain)
        if not math.isfinite(gain):
            raise ValueError(f"gain: expected a finite number, got {gain}")
        self.gain = gain

    def __call__(self, shape, dtype=None) -> np.ndarray:
        shape = _check_shape(shape)
        if len(shape) != 2:
            raise ValueError(
                "Identity matrix initializer can only be used for 2D matrices. "
                f"Received: shape={shape} of rank {len(shape)}."
            )
        return (self.gain * np.eye(*shape)).astype(_check_dtype(dtype))

    def get_config(self) -> dict:
        return {"gain": self.gain}


class RandomInitializer(Initializer):
    """Base of the random initializers: holds the seed fixed at construction."""

    def __init__(self, seed: int | None = None) -> None:
        self._init_seed = _check_seed(seed)
        # As Keras 3: an unseeded instance picks its seed once, so repeated calls give the same values.
        self.seed = self._init_seed if self._init_seed is not None else int(_config.random_generator().integers(2**63))

    def _generator(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def get_config(self) -> dict:
        return {"seed": self._init_seed}


def _truncated_normal(rng: np.random.Generator, shape, mean: float, stddev: float) -> np.ndarray:
    """Normal draws, re-drawing those more than two standard deviations from the mean (as TensorFlow)."""
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2.0
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2.0
    return mean + stddev * values


class RandomNormal(RandomInitializer):
    """Normal draws with the given ``mean`` and ``stddev``."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        self.mean = float(mean)
        self.stddev = float(stddev)
        super().__init__(seed)

    def __call__(self, shape, dtype=None) -> np.ndarray:
        values = self._generator().normal(self.mean, self.stddev, _check_shape(shape))
        return values.astype(_check_dtype(dtype))

    def get_config(self) -> dict:
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class TruncatedNormal(RandomInitializer):
    """Normal draws, re-drawn when more than two ``stddev`` from ``mean``."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        self.mean = float(mean)
        self.stddev = float(stddev)
        super().__init__(seed)

    def __call__(self, shape, dtype=None) -> np.ndarray:
        values = _truncated_normal(self._generator(), _check_shape(shape), self.mean, self.stddev)
        return values.astype(_check_dtype(dtype))

    def get_config(self) -> dict:
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class RandomUniform(RandomInitializer):
    """Uniform draws in ``[minval, maxval)``."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) -> None:
        self.minval = float(minval)
        self.maxval = float(maxval)
        if not self.minval <= self.maxval:
            raise ValueError(f"minval: must be <= maxval, got minval={minval}, maxval={maxval}")
        super().__init__(seed)

    def __call__(self, shape, dtype=None) -> np.ndarray:
        values = self._generator().uniform(self.minval, self.maxval, _check_shape(shape))
        return values.astype(_check_dtype(dtype))

    def get_config(self) -> dict:
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


class VarianceScaling(RandomInitializer):
    """Scale-aware draws: ``n`` is fan_in, fan_out or their mean (``mode``).

    ``distribution="uniform"``: uniform in ``[-limit, limit]``, ``limit = sqrt(3 * scale / n)``;
    ``"truncated_normal"`` (alias ``"normal"``): truncated normal with stddev
    ``sqrt(scale / n) / .87962566103423978``; ``"untruncated_normal"``: normal with stddev ``sqrt(scale / n)``.
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("uniform", "truncated_normal", "untruncated_normal")

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ) -> None:
        scale = float(scale)
        if not (scale > 0 and math.isfinite(scale)):
            raise ValueError(f"scale: expected a positive float, got {scale}")
        if mode not in self._MODES:
            raise ValueError(f"mode: expected one of {', '.join(self._MODES)}, got {mode!r}")
        distribution = str(distribution).lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(f"distribution: expected one of {', '.join(self._DISTRIBUTIONS)}, got {distribution!r}")
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        super().__init__(seed)

    def __call__(self, shape, dtype=None) -> np.ndarray:
        shape = _check_shape(shape)
        dtype = _check_dtype(dtype)
        fan_in, fan_out = compute_fans(shape)
        if self.mode == "fan_in":
            scale = self.scale / max(1.0, fan_in)
        elif self.mode == "fan_out":
            scale = self.scale / max(1.0, fan_out)
        else:
            scale = self.scale / max(1.0, (fan_in + fan_out) / 2.0)
        rng = self._generator()
        if self.distribution == "truncated_normal":
            values = _truncated_normal(rng, shape, 0.0, math.sqrt(scale) / _TRUNCATED_STDDEV)
        elif self.distribution == "untruncated_normal":
            values = rng.normal(0.0, math.sqrt(scale), shape)
        else:
            limit = math.sqrt(3.0 * scale)
            values = rng.uniform(-limit, limit, shape)
        return values.astype(dtype)

    def get_config(self) -> dict:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, **super().get_config()}


class _FixedVarianceScaling(VarianceScaling):
    _SCALE = 1.0
    _MODE = "fan_in"
    _DISTRIBUTION = "truncated_normal"

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(scale=self._SCALE, mode=self._MODE, distribution=self._DISTRIBUTION, seed=seed)

    def get_config(self) -> dict:
        return {"seed": self._init_seed}


class GlorotUniform(_FixedVarianceScaling):
    """Uniform in ``[-limit, limit]`` with ``limit = sqrt(6 / (fan_in + fan_out))`` (Keras' Dense default)."""

    _MODE = "fan_avg"
    _DISTRIBUTION = "uniform"


class GlorotNormal(_FixedVarianceScaling):
    """Truncated normal with stddev ``sqrt(2 / (fan_in + fan_out)) / .87962566103423978``."""

    _MODE = "fan_avg"


class HeUniform(_FixedVarianceScaling):
    """Uniform in ``[-limit, limit]`` with ``limit = sqrt(6 / fan_in)``."""

    _SCALE = 2.0
    _DISTRIBUTION = "uniform"


class HeNormal(_FixedVarianceScaling):
    """Truncated normal with stddev ``sqrt(2 / fan_in) / .87962566103423978``."""

    _SCALE = 2.0


class LecunUniform(_FixedVarianceScaling):
    """Uniform in ``[-limit, limit]`` with ``limit = sqrt(3 / fan_in)``."""

    _DISTRIBUTION = "uniform"


class LecunNormal(_FixedVarianceScaling):
    """Truncated normal with stddev ``sqrt(1 / fan_in) / .87962566103423978``."""


class Orthogonal(RandomInitializer):
    """An orthogonal matrix (Keras' recurrent kernel default), times ``gain``.

    As Keras: a normal draw of shape ``(max(rows, cols), min(rows, cols))`` (rows: the product of all but
    the last dimension), its QR factorisation, Q with each column's sign made that of R's diagonal,
    transposed when rows < cols, reshaped to ``shape``. Shapes of rank < 2 raise ValueError.
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        gain = float(gain)
        if not math.isfinite(gain):
            raise ValueError(f"gain: expected a finite number, got {gain}")
        self.gain = gain
        super().__init__(seed)

    def __call__(self, shape, dtype=None) -> np.ndarray:
        shape = _check_shape(shape)
        dtype = _check_dtype(dtype)
        if len(shape) < 2:
            raise ValueError(
                f"The tensor to initialize must be at least two-dimensional. Received: shape={shape} of rank "
                f"{len(shape)}."
            )
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self._generator().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "gain": self.gain}


_CLASSES = {
    cls.__name__: cls
    for cls in (
        Zeros,
        Ones,
        Constant,
        RandomNormal,
        RandomUniform,
        TruncatedNormal,
        VarianceScaling,
        GlorotUniform,
        GlorotNormal,
        HeUniform,
        HeNormal,
        LecunUniform,
        LecunNormal,
        Orthogonal,
        Identity,
    )
}
_ALIASES = {
    "zeros": Zeros,
    "zero": Zeros,
    "ones": Ones,
    "one": Ones,
    "constant": Constant,
    "random_normal": RandomNormal,
    "normal": RandomNormal,
    "random_uniform": RandomUniform,
    "uniform": RandomUniform,
    "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform,
    "he_normal": HeNormal,
    "lecun_uniform": LecunUniform,
    "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal,
    "OrthogonalInitializer": Orthogonal,
    "identity": Identity,
    "IdentityInitializer": Identity,
}


def _valid() -> str:
    return ", ".join(sorted(_ALIASES) + sorted(_CLASSES))


def get(identifier) -> Initializer | None:
    """An initializer from a name (``"glorot_uniform"``, ``"GlorotUniform"`` ...), a config dict or an instance.

    A name or class gives a new instance. Unknown names raise ValueError listing the valid ones.
    """
    if identifier is None:
        return None  # as Keras' get(None)
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier) or _CLASSES.get(identifier) or _ALIASES.get(identifier.strip().lower())
        if cls is None:
            raise ValueError(f"initializer: unknown initializer {identifier!r}; expected one of {_valid()}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise TypeError(f"initializer: expected a name, a config dict or an Initializer, got {type(identifier).__name__}")


def serialize(initializer: Initializer | None) -> dict | None:
    """``{"class_name": ..., "config": ...}`` of an initializer (JSON-able); None stays None."""
    if initializer is None:
        return None
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}


def deserialize(config: dict) -> Initializer:
    """Inverse of ``serialize``; also accepts Keras' ``{"module", "class_name", "config", ...}`` dicts."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"initializer: expected a dict with 'class_name' and 'config', got {config!r}")
    name = config["class_name"]
    cls = _CLASSES.get(name) or _ALIASES.get(name)
    if cls is None:
        raise ValueError(f"initializer: unknown initializer class {name!r}; expected one of {_valid()}")
    return cls.from_config(dict(config.get("config") or {}))


# Keras also exposes snake_case names of the classes as attributes.
zeros = Zeros
ones = Ones
constant = Constant
random_normal = RandomNormal
random_uniform = RandomUniform
truncated_normal = TruncatedNormal
variance_scaling = VarianceScaling
glorot_uniform = GlorotUniform
glorot_normal = GlorotNormal
he_uniform = HeUniform
he_normal = HeNormal
lecun_uniform = LecunUniform
lecun_normal = LecunNormal
orthogonal = Orthogonal
identity = Identity
IdentityInitializer = Identity
OrthogonalInitializer = Orthogonal


# A Keras name this module lacks raises an error that says so.
from cyneuron._unavailable import module_getattr  # noqa: E402 (beside its one use)

__getattr__ = module_getattr(__name__)
