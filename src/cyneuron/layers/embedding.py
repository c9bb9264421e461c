"""``Embedding``, as ``keras.layers.Embedding``: integer indices to rows of a trainable matrix.

One backend stage (kind ``embedding``, see ``cyneuron.backend.reference.embedding``). A model whose
first layer with computation is an Embedding takes integer inputs: ints of any width, or floats that
are whole numbers; each index must be in ``[0, input_dim)`` (anything else is a ValueError naming x).
Its float dtype is the embeddings', like every other layer's.

Not implemented (refused with ValueError naming the argument): ``mask_zero=True`` (no layer
implements masking), regularizers, constraints, LoRA (``lora_rank``) and quantization.
"""

from __future__ import annotations

import warnings

import numpy as np

from cyneuron import initializers as _initializers
from cyneuron import regularizers as _regularizers
from cyneuron.backend.specs import StageSpec
from cyneuron.layers.base import MAX_WIDTH, Layer, _feature_shape, _named, _run_stages, unsupported_options
from cyneuron.utils import _as_array, _index_array

__all__ = ["Embedding"]


def _check_dim(value, name: str) -> int:
    # Keras' own check and message (a Python int, not a bool, > 0)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value} (of type {type(value).__name__})."
        )
    if value > MAX_WIDTH:
        raise ValueError(f"{name}: expected at most 2**31 - 1 (BLAS' 32-bit dimensions), got {value}")
    return value


class Embedding(Layer):
    """Turns non-negative integers (indexes) into dense vectors of fixed size.

    Args (Keras 3's): ``input_dim`` (vocabulary size: the largest index + 1), ``output_dim``,
    ``embeddings_initializer="uniform"`` (``RandomUniform(-0.05, 0.05)``), ``weights`` (an initial
    ``(input_dim, output_dim)`` matrix, or a list holding it), ``mask_zero`` (only False),
    ``embeddings_regularizer`` / ``embeddings_constraint`` / ``activity_regularizer`` / ``lora_rank`` /
    ``lora_alpha`` / ``quantization_config`` (only None); ``input_length`` is deprecated and ignored
    (with a warning), as in Keras; ``name``, ``dtype``, ``trainable``, ``input_shape``.

    Input ``(batch, *shape)`` integers, output ``(batch, *shape, output_dim)``; weight ``embeddings``
    ``(input_dim, output_dim)``.
    """

    _INTEGER_INPUT = True

    def __init__(
        self,
        input_dim,
        output_dim,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        mask_zero=False,
        weights=None,
        lora_rank=None,
        lora_alpha=None,
        quantization_config=None,
        **kwargs,
    ) -> None:
        activity_regularizer = kwargs.pop("activity_regularizer", None)
        input_length = kwargs.pop("input_length", None)
        self.input_dim = _check_dim(input_dim, "input_dim")
        self.output_dim = _check_dim(output_dim, "output_dim")
        if input_length is not None:
            warnings.warn("Argument `input_length` is deprecated. Just remove it.", stacklevel=2)
        self.embeddings_initializer = _named(_initializers.get, embeddings_initializer, "embeddings_initializer")
        unsupported_options(
            "Embedding",
            embeddings_constraint=embeddings_constraint,
            lora_rank=lora_rank,
            lora_alpha=lora_alpha,
            quantization_config=quantization_config,
        )
        self.embeddings_regularizer = _named(_regularizers.get, embeddings_regularizer, "embeddings_regularizer")
        if not isinstance(mask_zero, (bool, np.bool_)):
            raise TypeError(f"mask_zero: expected a bool, got {type(mask_zero).__name__} {mask_zero!r}")
        if mask_zero:
            raise ValueError(
                "mask_zero=True is not supported: no cyneuron layer implements masking yet (index 0 is an "
                "ordinary row); use mask_zero=False"
            )
        self.mask_zero = False
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._initial = None
        if weights is not None:
            if isinstance(weights, (list, tuple)) and len(weights) == 1:
                weights = weights[0]
            array = _as_array(weights, "weights")
            if array.shape != (self.input_dim, self.output_dim):
                raise ValueError(
                    f"weights: expected an array of shape {(self.input_dim, self.output_dim)}, got {array.shape}"
                )
            if array.dtype.kind not in "iuf" or not np.isfinite(array).all():
                raise ValueError("weights: expected finite real numbers")
            self._initial = array.copy()
        self.embeddings: np.ndarray | None = None

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*tuple(input_shape), self.output_dim)

    def build(self, input_shape=None) -> None:
        self.embeddings = self.add_weight(
            (self.input_dim, self.output_dim),
            self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
            name="embeddings",
        )
        if self._initial is not None and self._dry_shapes is None:
            np.copyto(self.embeddings, self._initial, casting="unsafe")
        self.built = True

    def stage_spec(self) -> StageSpec:
        attrs = {"input_dim": self.input_dim, "output_dim": self.output_dim}
        return self._spec("embedding", attrs, self.weights)

    def _call(self, inputs, training: bool) -> np.ndarray:
        """The embeddings of integer ``inputs`` ``(batch, ...)``: ``(batch, ..., output_dim)``."""
        array = _as_array(inputs, "inputs")
        if array.ndim < 2:
            raise ValueError(f"inputs: expected shape (batch, indices...), got {array.shape}")
        if not self.built:
            self._build(_feature_shape(array.shape[1:], "inputs.shape[1:]"), np.dtype(self.dtype))
        if array.shape[1:] != self._build_shape:
            raise ValueError(f"inputs: expected shape {(None, *self._build_shape)}, got {array.shape}")
        x = _index_array(array, self.input_dim, "inputs").reshape(array.shape[0], -1)
        out = _run_stages([self.stage_spec()], self._build_shape, x, training, np.dtype(self.dtype))
        return out.reshape(self.compute_output_shape(array.shape))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": _initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": _regularizers.serialize(self.embeddings_regularizer),
            "activity_regularizer": _regularizers.serialize(self.activity_regularizer),
            "embeddings_constraint": None,
            "mask_zero": self.mask_zero,
            "quantization_config": None,
        }
