"""The readable reference of every stage kind and optimizer (pure NumPy).

Each stage kind is one module with the same three functions, registered in ``KINDS``:

* ``check(spec, dtype)``: raise ValueError/TypeError naming the problem if ``spec``'s
  attrs, params or state don't fit its shapes (both networks call it once, when built);
* ``forward(spec, x, ctx) -> Forward``: x ``(rows, prod(in_shape))`` to the output
  ``(rows, prod(out_shape))`` plus a ``backprop`` closure (Thinc's contract) and, for a
  training step, the stage's new non-trainable state (committed only if the step is);
* ``train_bytes`` is the compiled side's business; the reference allocates freely.

A kind whose module sets ``INTEGER_INPUT = True`` (``embedding``) reads int64 indices: it can only be
a network's first stage, and that network's x is int64 rows (``validation.input_indices``).

``ctx`` is a ``Context``: whether this pass trains, the RNG seed and step, the stage index.
``run_stage`` runs one stage, a folded one (``StageSpec.fold``, TimeDistributed) over rows * fold rows.
"""

from __future__ import annotations

from cyneuron.backend.reference import (
    activation,
    affine,
    avg_pool2d,
    batch_norm,
    bidirectional,
    conv2d,
    dense,
    dropout,
    embedding,
    global_avg_pool,
    global_max_pool,
    max_pool2d,
    prelu,
    recurrent,
    transpose,
)
from cyneuron.backend.reference._stage import Context, Forward

KINDS = {
    "dense": dense,
    "activation": activation,
    "dropout": dropout,
    "batch_norm": batch_norm,
    "conv2d": conv2d,
    "max_pool2d": max_pool2d,
    "avg_pool2d": avg_pool2d,
    "global_avg_pool": global_avg_pool,
    "global_max_pool": global_max_pool,
    "affine": affine,
    "simple_rnn": recurrent,
    "lstm": recurrent,
    "gru": recurrent,
    "embedding": embedding,
    "transpose": transpose,
    "bidirectional": bidirectional,
    "prelu": prelu,
}


def run_stage(spec, x, ctx: Context, module=None) -> Forward:
    """``KINDS[spec.kind].forward`` on x (rows, fold * prod(in_shape)); a folded (TimeDistributed) stage runs
    over the rows * fold rows of its inner shape, and its output and gradients are grouped back per sample
    (the same C-ordered numbers: no data moves)."""
    module = module or KINDS[spec.kind]
    if spec.fold == 1:
        return module.forward(spec, x, ctx)
    rows = x.shape[0]
    step = module.forward(spec, x.reshape(rows * spec.fold, -1), ctx)

    def backprop(dy):
        dx, grads = step.backprop(dy.reshape(step.y.shape))
        return (None if dx is None else dx.reshape(rows, -1)), grads

    head = None
    if step.head is not None:
        name, z, head_backprop = step.head

        def from_pre(dz):
            dx, grads = head_backprop(dz.reshape(z.shape))
            return (None if dx is None else dx.reshape(rows, -1)), grads

        head = (name, z.reshape(rows, -1), from_pre)
    return Forward(step.y.reshape(rows, -1), backprop, head=head, new_state=step.new_state)


__all__ = ["KINDS", "Context", "Forward", "run_stage"]
