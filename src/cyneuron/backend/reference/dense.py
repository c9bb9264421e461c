"""Kind ``dense``: ``activation(x @ kernel + bias)``, the activation fused in (attr ``activation``, one of
``specs.FUSED_ACTIVATIONS`` at Keras' default arguments).

in_shape ``(..., in)``, out_shape ``(..., units)`` (the same leading axes): the product applies to the
last axis, each sample being ``prod(leading)`` rows of ``in`` features (softmax per such row).
params ``(kernel (in, units), bias (units,))`` or ``(kernel,)`` with ``use_bias=False``. (The derivative of
a fused activation follows from its output: the compiled kind keeps no pre-activation;
``layers.base.split_activation`` gives the others their own stage.)
"""

from __future__ import annotations

from cyneuron.backend.reference import activation as act
from cyneuron.backend.reference._stage import Forward, check_params
from cyneuron.backend.specs import FUSED_ACTIVATIONS


def check(spec, dtype) -> None:
    if spec.attrs.get("activation") not in FUSED_ACTIVATIONS:
        raise ValueError(
            f"{spec.name or 'dense'}: activation {spec.attrs.get('activation')!r} cannot be fused; "
            f"expected one of {', '.join(FUSED_ACTIVATIONS)} (others run as their own activation stage)"
        )
    if not spec.in_shape or len(spec.in_shape) != len(spec.out_shape) or spec.in_shape[:-1] != spec.out_shape[:-1]:
        raise ValueError(
            f"{spec.name or 'dense'}: expected per-sample shapes (..., in) and (..., units) with the same leading "
            f"axes, got {spec.in_shape} and {spec.out_shape}"
        )
    n_in, units = spec.in_shape[-1], spec.out_shape[-1]
    shapes = [(n_in, units), (units,)][: max(1, len(spec.params))]
    check_params(spec, dtype, shapes)


def forward(spec, x, ctx) -> Forward:
    batch = x.shape[0]
    n_in, units = spec.in_shape[-1], spec.out_shape[-1]
    x = x.reshape(-1, n_in)  # every position of the leading axes is a row
    kernel = spec.params[0]
    bias = spec.params[1] if len(spec.params) > 1 else None
    z = x @ kernel
    if bias is not None:
        z = z + bias
    name = spec.attrs["activation"]
    a = act.apply(name, z)

    def backprop_from_pre(dz):
        dz = dz.reshape(-1, units)
        grads = ()
        if spec.trainable:
            grads = (x.T @ dz,) if bias is None else (x.T @ dz, dz.sum(axis=0))
        dx = (dz @ kernel.T).reshape(batch, -1) if ctx.need_dx else None
        return dx, grads

    def backprop(dy):
        return backprop_from_pre(act.backward(name, z, a, dy.reshape(-1, units)))

    # the loss head fuses the activation only where it is element-wise or spans the whole output row
    fused = name != "softmax" or len(spec.out_shape) == 1
    z_rows = z.reshape(batch, -1)
    head = (name, z_rows, backprop_from_pre) if fused else None
    return Forward(a.reshape(batch, -1), backprop, head=head)
