"""Kind ``embedding``: each int64 index of a sample picks a row of the embeddings matrix.

in_shape: any per-sample shape of T = prod(in_shape) indices (the network's input: x is int64 rows
``(batch, T)``, so an embedding stage is always the first); out_shape ``(*in_shape, output_dim)``.
attrs: ``input_dim`` (V, the number of rows), ``output_dim`` (D). params ``(embeddings (V, D),)``.

Every index must be in ``[0, V)``: an index outside is an error (ValueError naming x), never a
read out of bounds or a wrap-around. The gradient is dense: zeros except the rows the batch picked,
where the output gradients of every occurrence are added (in order of occurrence), as JAX's
scatter-add gives Keras; the optimizers then update the whole matrix, as Keras' do. No dx (integer
inputs have no gradient).
"""

from __future__ import annotations

import numpy as np

from cyneuron.backend.reference._stage import Forward, check_params

INTEGER_INPUT = True  # the stage reads int64 indices, so it must be the network's first


def check(spec, dtype) -> None:
    label = spec.name or "embedding"
    v, d = spec.attrs.get("input_dim"), spec.attrs.get("output_dim")
    for key, value in (("input_dim", v), ("output_dim", d)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{label}: attr {key} must be a positive int, got {value!r}")
    if tuple(spec.out_shape) != (*spec.in_shape, d):
        raise ValueError(f"{label}: expected out_shape {(*spec.in_shape, d)}, got {spec.out_shape}")
    if spec.state:
        raise ValueError(f"{label}: an embedding stage has no state arrays")
    check_params(spec, dtype, [(v, d)])


def check_indices(name: str, x: np.ndarray, input_dim: int) -> None:
    """Every value of the int array x in [0, input_dim)."""
    if x.size and (x.min() < 0 or x.max() >= input_dim):
        raise ValueError(f"{name}: embedding indices must be in [0, {input_dim}), got values in [{x.min()}, {x.max()}]")


def forward(spec, x, ctx) -> Forward:
    embeddings = spec.params[0]
    v, d = embeddings.shape
    check_indices("x", x, v)
    rows = x.shape[0]
    flat = x.reshape(-1)
    y = embeddings[flat].reshape(rows, -1)

    def backprop(dy):
        grads = ()
        if spec.trainable:
            grad = np.zeros_like(embeddings)
            np.add.at(grad, flat, dy.reshape(-1, d))
            grads = (grad,)
        return None, grads

    return Forward(y, backprop)
