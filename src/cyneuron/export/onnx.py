"""ONNX export: a built model's inference pass as an ONNX graph (needs the ``onnx`` extra).

The graph is made from the model's stages (``StageSpec``, the IR every backend runs), one converter
per stage kind in ``CONVERTERS``; the activations are one table, ``ACTIVATIONS``. Every converter
writes the inference form: Dropout is the identity, BatchNormalization uses its moving statistics.

Data between stages is the tensor a converter produced, with its per-sample shape and layout: the
C-ordered channels-last shape cyneuron's rows have, or NCHW for the output of a convolution or
pooling (ONNX's layout), so consecutive image stages need no transposes between them. A stage asks
for its input in the form it needs (``Graph.shaped`` / ``Graph.nchw``), and a reshape or
transpose is added only when the tensor is in another form. The batch axis is dynamic (``batch``).

Graph input ``input_0`` (or the ``input_signature``'s name): ``(batch, *input_shape)`` of the
model's float dtype, or int64 indices when the first stage is an embedding. Output ``output_0``:
``(batch, *output_shape)`` of the float dtype. (onnxruntime's CPU provider runs every float32 graph;
in float64 it has no Conv, AveragePool or Erf (gelu) kernel, so a float64 model with those needs another runtime,
such as onnx's reference evaluator.)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from cyneuron.backend.reference import affine, bidirectional, conv2d, max_pool2d
from cyneuron.backend.specs import StageSpec
from cyneuron.export._onnx_activations import ACTIVATIONS, ROW_WISE, activate
from cyneuron.export._onnx_graph import Graph, Value, require_onnx

__all__ = ["export_onnx", "stages_to_onnx", "CONVERTERS", "ACTIVATIONS", "DEFAULT_OPSET", "MIN_OPSET"]

DEFAULT_OPSET = 17
MIN_OPSET = 13  # Softmax over one axis, Squeeze/Unsqueeze with axes inputs
# protobuf serialises at most 2 GiB; leave room for the graph itself
MAX_WEIGHT_BYTES = 2**31 - 2**24


# ----------------------------------------------------------------------------- converters
# kind -> f(graph, spec, value) -> value. One per stage kind of ``cyneuron.backend.reference.KINDS``.
Converter = Callable[[Graph, StageSpec, Value], Value]


def _label(spec: StageSpec) -> str:
    return spec.name or spec.kind


def _dense(g: Graph, spec: StageSpec, v: Value) -> Value:
    """(batch, *leading, in) -> (batch, *leading, units): Gemm for one position per sample, else MatMul
    (which broadcasts the kernel over the leading axes) and Add; softmax per last-axis row."""
    x = g.shaped(v, spec.in_shape)
    kernel = g.const(spec.params[0], "kernel")
    bias = g.const(spec.params[1], "bias") if len(spec.params) > 1 else None
    if len(spec.in_shape) == 1:
        z = g.op("Gemm", [x, kernel] + ([bias] if bias else []), "dense")
    else:
        z = g.op("MatMul", [x, kernel], "dense")
        if bias:
            z = g.op("Add", [z, bias], "dense_bias")
    return Value(activate(g, spec.attrs["activation"], z, spec.attrs, -1, _label(spec)), tuple(spec.out_shape))


def _activation(g: Graph, spec: StageSpec, v: Value) -> Value:
    name = spec.attrs["activation"]
    if name not in ROW_WISE:  # element-wise: any layout will do
        return Value(activate(g, name, v.name, spec.attrs, -1, _label(spec)), v.shape, v.nchw)
    if v.nchw and v.shape == tuple(spec.in_shape):
        return Value(activate(g, name, v.name, spec.attrs, 1, _label(spec)), v.shape, True)
    x = g.shaped(v, spec.in_shape)
    return Value(activate(g, name, x, spec.attrs, -1, _label(spec)), tuple(spec.in_shape))


def _identity(g: Graph, spec: StageSpec, v: Value) -> Value:
    return v  # Dropout at inference


def _per_channel(g: Graph, spec: StageSpec, v: Value, ops) -> Value:
    """Element-wise ops with per-channel constants (channel ``(i // inner) % channels`` of a sample).

    ``ops`` is [(op_type, constant of shape (channels,)), ...] applied in order, x the first operand.
    The constants broadcast over the tensor as it is when one of its axes is the channel's (NCHW's C,
    or a channels-last axis with ``inner`` elements after it); otherwise the tensor is viewed as the
    reference does, (rows * outer, channels, inner), and reshaped back.
    """
    channels, inner = spec.attrs["channels"], spec.attrs["inner"]
    x, shape, value = v.name, None, v
    if v.nchw and inner == 1 and len(v.shape) == 3 and v.shape[2] == channels:
        shape = (channels, 1, 1)
    elif not v.nchw:
        for axis in range(len(v.shape)):
            if v.shape[axis] == channels and math.prod(v.shape[axis + 1 :]) == inner:
                shape = (channels,) + (1,) * (len(v.shape) - axis - 1)
                break
    if shape is None:
        rows = g.shaped(v, v.shape)
        x, shape = g.op("Reshape", [rows, g.ints([-1, channels, inner], "shape")], "by_channel"), (channels, 1)
        value = None
    for op_type, constant in ops:
        x = g.op(op_type, [x, g.const(np.asarray(constant).reshape(shape), "channel")])
    if value is not None:
        return Value(x, v.shape, v.nchw)
    # -1, not 0: the batch was merged with the axes before the channel
    return Value(g.op("Reshape", [x, g.ints([-1, *spec.out_shape], "shape")], "reshape"), tuple(spec.out_shape))


def _batch_norm(g: Graph, spec: StageSpec, v: Value) -> Value:
    # inference form, the reference's arithmetic: y = x * inv + shift with inv = gamma / sqrt(var + eps)
    a, dtype = spec.attrs, g.dtype.type
    gamma = spec.params[0] if a["scale"] else None
    beta = spec.params[-1] if a["center"] else None
    mean, var = spec.state
    rstd = dtype(1) / np.sqrt(var + dtype(a["epsilon"]))
    inv = rstd * gamma if gamma is not None else rstd
    shift = -mean * inv
    if beta is not None:
        shift = shift + beta
    return _per_channel(g, spec, v, [("Mul", inv), ("Add", shift)])


def _affine(g: Graph, spec: StageSpec, v: Value) -> Value:
    a = spec.attrs
    if a["mode"] == "rescale":
        y = g.op("Add", [g.op("Mul", [v.name, g.scalar(a["scale"])]), g.scalar(a["offset"])])
        return Value(y, v.shape, v.nchw)
    mean, denom = affine.factors(spec, g.dtype)
    if a["mode"] == "normalize":
        return _per_channel(g, spec, v, [("Sub", mean), ("Div", denom)])
    return _per_channel(g, spec, v, [("Mul", denom), ("Add", mean)])


def _pads(in_shape, k, s, d, gh, gw) -> list[int]:
    """ONNX pads [top, left, bottom, right] giving exactly the window arithmetic's output size."""
    pads = []
    for size, kk, ss, dd, (out, before) in zip(in_shape[:2], k, s, d, (gh, gw)):
        extent = (kk - 1) * dd + 1
        pads.append((before, max((out - 1) * ss + extent - size - before, 0)))
    return [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]


def _conv2d(g: Graph, spec: StageSpec, v: Value) -> Value:
    k, s, d, gh, gw = conv2d.geometry(spec)
    x = g.nchw(v, spec.in_shape)
    inputs = [x, g.const(np.transpose(spec.params[0], (3, 2, 0, 1)), "kernel")]
    if len(spec.params) > 1:
        inputs.append(g.const(spec.params[1], "bias"))
    z = g.op(
        "Conv",
        inputs,
        "conv",
        kernel_shape=list(k),
        strides=list(s),
        dilations=list(d),
        pads=_pads(spec.in_shape, k, s, d, gh, gw),
    )
    return Value(activate(g, spec.attrs["activation"], z, spec.attrs, 1, _label(spec)), spec.out_shape, True)


def _pool(op_type: str, **extra) -> Converter:
    def convert(g: Graph, spec: StageSpec, v: Value) -> Value:
        k, s, d, gh, gw = max_pool2d.geometry(spec)
        x = g.nchw(v, spec.in_shape)
        pads = _pads(spec.in_shape, k, s, d, gh, gw)
        y = g.op(op_type, [x], "pool", kernel_shape=list(k), strides=list(s), pads=pads, **extra)
        return Value(y, spec.out_shape, True)

    return convert


def _global_pool(op_type: str) -> Converter:
    def convert(g: Graph, spec: StageSpec, v: Value) -> Value:
        c = spec.attrs["channels"]
        if v.nchw and v.shape == tuple(spec.in_shape):
            return Value(g.reduce(op_type, v.name, [2, 3]), (c,))
        x = g.shaped(v, (math.prod(spec.in_shape) // c, c))
        return Value(g.reduce(op_type, x, [1]), (c,))

    return convert


def _transpose(g: Graph, spec: StageSpec, v: Value) -> Value:
    perm, in_shape = tuple(spec.attrs["perm"]), tuple(spec.in_shape)
    if perm == tuple(range(len(perm))):  # no op (and onnxruntime 1.19 mis-fuses an identity Transpose into Gemm)
        return v
    # channels-first image layers: their transposes to and from channels-last are NCHW <-> NHWC, which
    # is the layout ONNX's image ops use anyway, so they only relabel the tensor
    if len(in_shape) == 3 and perm == (1, 2, 0) and not v.nchw:
        return Value(g.shaped(v, in_shape), tuple(spec.out_shape), True)
    if len(in_shape) == 3 and perm == (2, 0, 1) and v.nchw and v.shape == in_shape:
        return Value(v.name, tuple(spec.out_shape))
    y = g.op("Transpose", [g.shaped(v, in_shape)], perm=[0, *(p + 1 for p in perm)])
    return Value(y, tuple(spec.out_shape))


def _embedding(g: Graph, spec: StageSpec, v: Value) -> Value:
    # int64 indices of any shape pick rows: (batch, *shape) -> (batch, *shape, output_dim)
    y = g.op("Gather", [g.const(spec.params[0], "embeddings"), v.name], "embedding", axis=0)
    return Value(y, (*v.shape, spec.attrs["output_dim"]))


# Keras' gates side by side in the columns -> ONNX's gate blocks: lstm i, f, c, o -> i, o, f, c;
# gru z, r, h (the same); simple_rnn one block
_GATE_ORDER = {"simple_rnn": (0,), "lstm": (0, 3, 1, 2), "gru": (0, 1, 2)}
_RNN_OPS = {"simple_rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
# activations ONNX's recurrent ops can apply: name -> (ONNX name, alpha, beta)
_RNN_ACTIVATIONS = {
    "tanh": ("Tanh", None, None),
    "sigmoid": ("Sigmoid", None, None),
    "relu": ("Relu", None, None),
    "linear": ("Affine", 1.0, 0.0),
}


def _native_activations(spec: StageSpec) -> list[str] | None:
    """A recurrent stage's activations in the order of ONNX's ``activations`` (f, g[, h]: gates, cell input,
    cell output), or None when ONNX's recurrent op cannot apply one of them."""
    a = spec.attrs
    names = ([a["recurrent_activation"]] if spec.kind != "simple_rnn" else []) + [a["activation"]]
    if spec.kind == "lstm":
        names.append(a["activation"])
    return names if all(name in _RNN_ACTIVATIONS for name in names) else None


def _onnx_weights(spec: StageSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One direction's ONNX arrays: W (G, F), R (G, units), B (2G,) (input then recurrent bias) or None."""
    a, kind = spec.attrs, spec.kind
    u = a["units"]

    def blocks(m):  # (rows, G) in Keras' gate order -> (G, rows) in ONNX's
        return np.concatenate([m[..., b * u : (b + 1) * u] for b in _GATE_ORDER[kind]], axis=-1).T

    bias = None
    if len(spec.params) == 3:
        after = kind == "gru" and a["reset_after"]
        b_in, b_rec = (spec.params[2][0], spec.params[2][1]) if after else (spec.params[2], None)
        bias = np.concatenate([blocks(b_in), np.zeros_like(b_in) if b_rec is None else blocks(b_rec)])
    return blocks(spec.params[0]), blocks(spec.params[1]), bias


def _rnn_attrs(spec: StageSpec, names: list[str]) -> dict[str, Any]:
    """The recurrent op's attributes for activation names (both directions' in turn when bidirectional)."""
    acts = [_RNN_ACTIVATIONS[n] for n in names]
    attrs: dict[str, Any] = {"hidden_size": spec.attrs["units"], "activations": [name for name, _, _ in acts]}
    # alpha/beta are listed for the activations that take them, in order
    alphas = [alpha for _, alpha, _ in acts if alpha is not None]
    if alphas:
        attrs["activation_alpha"] = alphas
        attrs["activation_beta"] = [beta for _, _, beta in acts if beta is not None]
    if spec.kind == "gru":
        attrs["linear_before_reset"] = int(spec.attrs["reset_after"])
    return attrs


def _recurrent(g: Graph, spec: StageSpec, v: Value) -> Value:
    kind, u = spec.kind, spec.attrs["units"]
    steps, _ = spec.in_shape
    names = _native_activations(spec)
    if names is None or g.dtype != np.float32:
        return _unrolled(g, spec, v)
    w, r, b = _onnx_weights(spec)
    inputs = [_time_major_input(g, spec, v), g.const(w[None], "W"), g.const(r[None], "R")]
    if b is not None:
        inputs.append(g.const(b[None], "B"))
    outputs = g.op(_RNN_OPS[kind], inputs, kind, outputs=3 if kind == "lstm" else 2, **_rnn_attrs(spec, names))
    if spec.attrs["return_sequences"]:  # Y (T, 1, batch, units) -> (batch, T, 1, units)
        return Value(g.op("Transpose", [outputs[0]], perm=[2, 0, 1, 3]), (steps, 1, u))
    return Value(g.op("Squeeze", [outputs[1], g.ints([0], "axes")]), (u,))  # Y_h (1, batch, units)


def _merge(g: Graph, mode: str, forward: str, backward: str) -> str:
    """Bidirectional's sum / ave / mul of two tensors of one shape (concat is the caller's: its axis varies)."""
    if mode == "sum":
        return g.op("Add", [forward, backward])
    if mode == "ave":
        return g.op("Div", [g.op("Add", [forward, backward]), g.scalar(2)])
    return g.op("Mul", [forward, backward])


def _bidirectional(g: Graph, spec: StageSpec, v: Value) -> Value:
    """One ONNX recurrent op with ``direction="bidirectional"`` when the pair is a forward and a
    go_backwards direction the op can run: its reverse direction's Y is in input time already, what
    Keras' flip of the go_backwards output gives; otherwise each direction on its own."""
    forward, backward = bidirectional.directions(spec)
    names = [_native_activations(d) for d in (forward, backward)]
    fa, ba, mode = forward.attrs, backward.attrs, spec.attrs["merge_mode"]
    same_reset = spec.attrs["cell"] != "gru" or fa["reset_after"] == ba["reset_after"]  # one op attribute
    if None in names or g.dtype != np.float32 or not same_reset or fa["go_backwards"] or not ba["go_backwards"]:
        return _bidirectional_apart(g, spec, v, forward, backward)
    kind, u, steps = spec.attrs["cell"], fa["units"], spec.in_shape[0]
    weights = [_onnx_weights(d) for d in (forward, backward)]
    inputs = [_time_major_input(g, forward, v)]
    inputs += [g.const(np.stack([w[i] for w in weights]), hint) for i, hint in ((0, "W"), (1, "R"))]
    if weights[0][2] is not None:
        inputs.append(g.const(np.stack([w[2] for w in weights]), "B"))
    attrs = _rnn_attrs(forward, names[0] + names[1])
    outputs = g.op(_RNN_OPS[kind], inputs, kind, outputs=3 if kind == "lstm" else 2, direction="bidirectional", **attrs)
    if fa["return_sequences"]:  # Y (T, 2, batch, units)
        if mode == "concat":  # -> (batch, T, 2, units): forward's units first at each step
            return Value(g.op("Transpose", [outputs[0]], perm=[2, 0, 1, 3]), (steps, 2, u))
        yf, yb = g.op("Split", [outputs[0], g.ints([1, 1], "split")], axis=1, outputs=2)
        return Value(g.op("Transpose", [_merge(g, mode, yf, yb)], perm=[2, 0, 1, 3]), (steps, 1, u))
    if mode == "concat":  # Y_h (2, batch, units) -> (batch, 2, units)
        return Value(g.op("Transpose", [outputs[1]], perm=[1, 0, 2]), (2, u))
    hf, hb = g.op("Split", [outputs[1], g.ints([1, 1], "split")], axis=0, outputs=2)
    return Value(g.op("Squeeze", [_merge(g, mode, hf, hb), g.ints([0], "axes")]), (u,))


def _bidirectional_apart(g: Graph, spec: StageSpec, v: Value, forward: StageSpec, backward: StageSpec) -> Value:
    """Each direction as its own recurrent stage, the backward output flipped back in time (as the
    reference), then merged: float64, activations ONNX's recurrent ops lack, other direction pairs."""
    steps, seq, u = spec.in_shape[0], forward.attrs["return_sequences"], forward.attrs["units"]
    shape = (steps, u) if seq else (u,)
    yf = g.shaped(_recurrent(g, forward, v), shape)
    yb = g.shaped(_recurrent(g, backward, v), shape)
    if seq:
        yb = g.op("Gather", [yb, g.ints(np.arange(steps - 1, -1, -1), "reverse")], "flip", axis=1)
    if spec.attrs["merge_mode"] == "concat":
        return Value(g.op("Concat", [yf, yb], axis=-1), tuple(spec.out_shape))
    return Value(_merge(g, spec.attrs["merge_mode"], yf, yb), tuple(spec.out_shape))


def _prelu(g: Graph, spec: StageSpec, v: Value) -> Value:
    """PRelu with alpha (the per-sample shape, 1 on shared axes) broadcast in the tensor's layout: an NCHW
    tensor (after a convolution) takes alpha transposed to (C, H, W), any other one alpha as it is."""
    alpha = spec.params[0]
    if v.nchw and v.shape == tuple(spec.in_shape):
        return Value(g.op("PRelu", [v.name, g.const(np.transpose(alpha, (2, 0, 1)), "alpha")]), v.shape, True)
    x = g.shaped(v, spec.in_shape)
    return Value(g.op("PRelu", [x, g.const(alpha, "alpha")], "prelu"), tuple(spec.in_shape))


def _time_major_input(g: Graph, spec: StageSpec, v: Value) -> str:
    """x as (T, batch, F), already reversed in time for ``go_backwards`` (Keras keeps the reversed order)."""
    steps, features = spec.in_shape
    x = g.shaped(v, (steps, features))
    if spec.attrs["go_backwards"]:
        x = g.op("Gather", [x, g.ints(np.arange(steps - 1, -1, -1), "reverse")], "reverse", axis=1)
    return g.op("Transpose", [x], "time_major", perm=[1, 0, 2])


def _unrolled(g: Graph, spec: StageSpec, v: Value) -> Value:
    """The recurrence step by step with MatMul, for activations ONNX's recurrent ops lack (softmax) and for
    float64 (onnxruntime's recurrent ops are float32 only). The reference's formulas."""
    a, kind = spec.attrs, spec.kind
    u = a["units"]
    steps, _ = spec.in_shape
    label = _label(spec)

    def act(name, x):
        return activate(g, name, x, a, -1, label)

    kernel, recurrent = spec.params[0], spec.params[1]
    bias = spec.params[2] if len(spec.params) == 3 else None
    after = kind == "gru" and a["reset_after"]
    b_in = None if bias is None else (bias[0] if after else bias)
    b_rec = None if bias is None or not after else bias[1]
    xs = g.op("MatMul", [_time_major_input(g, spec, v), g.const(kernel, "W")])  # (T, batch, G)
    if b_in is not None:
        xs = g.op("Add", [xs, g.const(b_in, "b")])
    ac, ra = a["activation"], a.get("recurrent_activation", "linear")

    def cols(m, lo, hi):
        return g.const(m[:, lo * u : hi * u], "R")

    r_all = g.const(recurrent, "R")
    # zero initial state (batch, units) with the dynamic batch
    batch = g.op("Gather", [g.op("Shape", [xs]), g.ints([1], "dim")], axis=0)
    zeros = g.onnx.numpy_helper.from_array(np.zeros(1, g.dtype))
    h = g.op("ConstantOfShape", [g.op("Concat", [batch, g.ints([u], "units")], axis=0)], "h0", value=zeros)
    c = h
    outputs = []

    def split(x, n):
        return g.op("Split", [x, g.ints([u] * n, "split")], axis=1, outputs=n)

    for t in range(steps):
        xt = g.op("Gather", [xs, g.ints(t, "t")], axis=0)  # (batch, G)
        if kind == "simple_rnn":
            h = act(ac, g.op("Add", [xt, g.op("MatMul", [h, r_all])]))
        elif kind == "lstm":
            zi, zf, zc, zo = split(g.op("Add", [xt, g.op("MatMul", [h, r_all])]), 4)
            c = g.op("Add", [g.op("Mul", [act(ra, zf), c]), g.op("Mul", [act(ra, zi), act(ac, zc)])])
            h = g.op("Mul", [act(ra, zo), act(ac, c)])
        else:
            xz, xr, xh = split(xt, 3)
            if after:
                hu = g.op("MatMul", [h, r_all])
                if b_rec is not None:
                    hu = g.op("Add", [hu, g.const(b_rec, "b_rec")])
                hz, hr, hh_rec = split(hu, 3)
                z, r = act(ra, g.op("Add", [xz, hz])), act(ra, g.op("Add", [xr, hr]))
                hh = act(ac, g.op("Add", [xh, g.op("Mul", [r, hh_rec])]))
            else:
                hz, hr = split(g.op("MatMul", [h, cols(recurrent, 0, 2)]), 2)
                z, r = act(ra, g.op("Add", [xz, hz])), act(ra, g.op("Add", [xr, hr]))
                hh = act(ac, g.op("Add", [xh, g.op("MatMul", [g.op("Mul", [r, h]), cols(recurrent, 2, 3)])]))
            # h = z h_prev + (1 - z) hh
            h = g.op("Add", [g.op("Mul", [z, h]), g.op("Mul", [g.op("Sub", [g.scalar(1), z]), hh])])
        outputs.append(h)
    if a["return_sequences"]:
        stacked = g.op("Concat", [g.op("Unsqueeze", [o, g.ints([1], "axes")]) for o in outputs], axis=1)
        return Value(stacked, (steps, u))
    return Value(h, (u,))


CONVERTERS: dict[str, Converter] = {
    "dense": _dense,
    "activation": _activation,
    "dropout": _identity,
    "batch_norm": _batch_norm,
    "conv2d": _conv2d,
    "max_pool2d": _pool("MaxPool"),
    "avg_pool2d": _pool("AveragePool", count_include_pad=0),  # "same" divides by the in-image count
    "global_avg_pool": _global_pool("ReduceMean"),
    "global_max_pool": _global_pool("ReduceMax"),
    "affine": _affine,
    "transpose": _transpose,
    "embedding": _embedding,
    "simple_rnn": _recurrent,
    "lstm": _recurrent,
    "gru": _recurrent,
    "bidirectional": _bidirectional,
    "prelu": _prelu,
}


# ----------------------------------------------------------------------------- the model
def _folded(g: Graph, spec: StageSpec, v: Value, convert: Converter) -> Value:
    """A TimeDistributed stage (``fold`` > 1): Reshape (batch, fold * in) to (batch * fold, *in_shape), the inner
    kind's converter, then Reshape back to (batch, fold, *out); -1 keeps the batch dimension dynamic."""
    x = g.op("Reshape", [g.shaped(v, v.shape), g.ints([-1, *spec.in_shape], "shape")], "fold")
    inner = convert(g, dataclasses.replace(spec, fold=1), Value(x, tuple(spec.in_shape)))
    y = g.op("Reshape", [g.shaped(inner, inner.shape), g.ints([-1, spec.fold, *inner.shape], "shape")], "unfold")
    return Value(y, (spec.fold, *inner.shape))


def check_opset(opset_version) -> int:
    onnx = require_onnx()
    if opset_version is None:
        return DEFAULT_OPSET
    latest = onnx.defs.onnx_opset_version()
    if isinstance(opset_version, bool) or not isinstance(opset_version, (int, np.integer)):
        raise TypeError(f"opset_version: expected an int, got {opset_version!r}")
    if not MIN_OPSET <= opset_version <= latest:
        raise ValueError(f"opset_version: expected an int in [{MIN_OPSET}, {latest}], got {opset_version}")
    return int(opset_version)


def stages_to_onnx(
    stages: list[StageSpec],
    input_shape: tuple[int, ...],
    dtype,
    *,
    output_shape: tuple[int, ...] | None = None,
    opset_version: int | None = None,
    input_name: str = "input_0",
    batch: int | None = None,
    graph_name: str = "cyneuron",
):
    """The ONNX ``ModelProto`` of a stack of stages run in inference mode.

    Args:
        stages: the stages (``StageSpec``) in order, as ``Sequential._stage_specs()`` gives them.
        input_shape: per-sample input shape; the graph input is ``(batch, *input_shape)``.
        dtype: the stages' float dtype (float32 or float64).
        output_shape: per-sample output shape (default: the last stage's ``out_shape``).
        opset_version: ONNX opset (default ``DEFAULT_OPSET``).
        input_name: the graph input's name; the output is ``output_0``.
        batch: a fixed batch size, or None (default) for a dynamic batch dimension named ``batch``.

    Raises:
        NotImplementedError: a stage kind or activation without a converter, naming it.
    """
    onnx = require_onnx()
    from cyneuron.backend.validation import input_indices

    opset = check_opset(opset_version)
    weight_bytes = sum(a.nbytes for spec in stages for a in (*spec.params, *spec.state))
    if weight_bytes > MAX_WEIGHT_BYTES:  # refused before the graph copies anything
        raise ValueError(
            f"the model's weights take {weight_bytes} bytes; an ONNX file without external data holds at most "
            f"{MAX_WEIGHT_BYTES} (protobuf's 2 GiB limit), and the exporter does not write external data"
        )
    g = Graph(np.dtype(dtype), opset)
    elem = onnx.helper.np_dtype_to_tensor_dtype(g.dtype)
    in_elem = onnx.TensorProto.INT64 if input_indices(stages) else elem
    batch_dim = "batch" if batch is None else batch
    value = Value(input_name, tuple(input_shape))
    for spec in stages:
        try:
            convert = CONVERTERS[spec.kind]
        except KeyError:
            raise NotImplementedError(
                f"{_label(spec)}: stage kind {spec.kind!r} has no ONNX converter yet (cyneuron.export.onnx.CONVERTERS)"
            ) from None
        value = convert(g, spec, value) if spec.fold == 1 else _folded(g, spec, value, convert)
    last = stages[-1]
    default = tuple(last.out_shape) if last.fold == 1 else (last.fold, *last.out_shape)
    out_shape = default if output_shape is None else tuple(output_shape)
    result = g.shaped(value, out_shape)
    if result != input_name:  # the last tensor is a node's output: rename it rather than add an Identity
        for node in g.nodes:
            for names in (node.input, node.output):
                for i, tensor in enumerate(names):
                    if tensor == result:
                        names[i] = "output_0"
    else:
        g.op("Identity", [result])
        g.nodes[-1].output[0] = "output_0"
    graph = onnx.helper.make_graph(
        g.nodes,
        graph_name,
        [onnx.helper.make_tensor_value_info(input_name, in_elem, [batch_dim, *input_shape])],
        [onnx.helper.make_tensor_value_info("output_0", elem, [batch_dim, *out_shape])],
        g.initializers,
    )
    opsets = [onnx.helper.make_opsetid("", opset)]
    model = onnx.helper.make_model(
        graph, opset_imports=opsets, producer_name="cyneuron", ir_version=onnx.helper.find_min_ir_version_for(opsets)
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def _signature(model, input_signature) -> tuple[str, int | None]:
    """(input name, fixed batch or None) from Keras' ``input_signature``: one spec with ``shape`` (and
    optionally ``name``, ``dtype``), or a list/tuple holding one."""
    if input_signature is None:
        return "input_0", None
    spec = input_signature
    while isinstance(spec, (list, tuple)) and len(spec) == 1 and not isinstance(spec[0], (int, type(None))):
        spec = spec[0]
    shape = getattr(spec, "shape", None)
    if shape is None:
        raise ValueError(f"input_signature: expected one input spec with a shape, got {input_signature!r}")
    shape = tuple(None if d is None else int(d) for d in shape)
    if len(shape) < 1 or shape[1:] != tuple(model._features):
        raise ValueError(f"input_signature: shape {shape} does not match the model's input {model.input_shape}")
    name = getattr(spec, "name", None) or "input_0"
    if not isinstance(name, str):
        raise TypeError(f"input_signature: the spec's name must be a str, got {name!r}")
    if name == "output_0":
        raise ValueError("input_signature: the name 'output_0' is the graph output's")
    return name, shape[0]


def export_onnx(model, filepath, verbose=None, input_signature=None, opset_version=None, **kwargs) -> None:
    """Write ``model``'s inference pass to ``filepath`` as ONNX (Keras 3's ``export_onnx`` call).

    Args:
        model: a built cyneuron ``Sequential``.
        filepath: str or os.PathLike; written atomically (a temporary sibling, then a rename), so a failed
            export leaves no file and never a partial one.
        verbose: print ``Saved artifact at ...`` (None: True, as Keras).
        input_signature: optional spec (``keras.InputSpec``-like: ``shape`` with ``None`` or a fixed batch,
            ``name``) of the one input; default: a dynamic batch named ``input_0``.
        opset_version: ONNX opset; default ``DEFAULT_OPSET``.

    Raises:
        ImportError: the ``onnx`` package is missing.
        ValueError: the model is not built, or a bad argument.
        NotImplementedError: a layer or activation without a converter, naming it.
        OSError: the path cannot be written (the message names it).
    """
    from cyneuron.saving.files import atomic_write, check_path

    if kwargs:
        raise TypeError(f"export(format='onnx'): unexpected keyword arguments {sorted(kwargs)}")
    path = check_path(filepath, "filepath")
    if not getattr(model, "built", False) or getattr(model, "_features", None) is None:
        raise ValueError(
            "The model provided has never been built: give it an input shape (Input(shape=...), "
            "model.build((None, features))) or call it on data before exporting"
        )
    model._get_network()  # what predict refuses (no layers, an output that is not 2-D) is refused here too
    name, batch = _signature(model, input_signature)
    check_opset(opset_version)

    def write(f) -> None:
        # built inside the atomic write, so a bad path is refused before the graph is made
        proto = stages_to_onnx(
            model._stage_specs(),
            tuple(model._features),
            model._dtype,
            output_shape=tuple(model.output_shape[1:]),
            opset_version=opset_version,
            input_name=name,
            batch=batch,
            graph_name=model.name,
        )
        f.write(proto.SerializeToString())

    atomic_write(path, True, write)
    if verbose is None or verbose:
        print(f"Saved artifact at '{path}'.")
