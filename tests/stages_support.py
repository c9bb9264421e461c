"""Example stacks for every stage kind, for the registry-driven parity, gradient and fuzz tests.

``EXAMPLES[kind](rng, dtype)`` returns a list of ``(input_shape, stages)`` stacks that exercise
the kind (each its options) between dense stages, so the kind sees a gradient from above and must
pass one below (``embedding``, which takes the network's integer input, is always first: draw x
with ``input_data``). A kind registered in ``cyneuron.backend.reference.KINDS`` without an entry here
fails ``test_every_kind_has_examples``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from cyneuron.backend.specs import ACTIVATIONS, FUSED_ACTIVATIONS, StageSpec


def _array(rng, dtype, *shape, scale=0.5, offset=0.0):
    return np.ascontiguousarray(rng.standard_normal(shape).astype(dtype) * dtype(scale) + dtype(offset))


def dense(rng, dtype, n_in: int, units: int, activation: str = "linear", bias: bool = True, trainable=True):
    params = (_array(rng, dtype, n_in, units),) + ((_array(rng, dtype, units, scale=0.1),) if bias else ())
    return StageSpec("dense", (n_in,), (units,), {"activation": activation}, params, trainable=trainable)


def _around(rng, dtype, n_in: int, middle: list[StageSpec], units: int = 3, head: str = "softmax"):
    """dense(n_in -> width) -> middle -> dense(-> units, head)."""
    width = int(np.prod(middle[0].in_shape))
    out = int(np.prod(middle[-1].out_shape))
    return (n_in,), [dense(rng, dtype, n_in, width, "tanh"), *middle, dense(rng, dtype, out, units, head)]


def _dense_examples(rng, dtype):
    stacks = []
    for activation in FUSED_ACTIVATIONS:  # every one the dense kind fuses, in the middle and last
        stacks.append(((4,), [dense(rng, dtype, 4, 5, activation), dense(rng, dtype, 5, 3, "softmax")]))
    for activation in ("softplus", "hard_sigmoid", "sparse_sigmoid", "exponential"):  # last: positive outputs
        stacks.append(((4,), [dense(rng, dtype, 4, 5, "tanh"), dense(rng, dtype, 5, 3, activation)]))
    stacks.append(((4,), [dense(rng, dtype, 4, 5, "relu", bias=False), dense(rng, dtype, 5, 2, "sigmoid")]))
    stacks.append(((4,), [dense(rng, dtype, 4, 5, "relu", trainable=False), dense(rng, dtype, 5, 3, "linear")]))
    # on rank >= 3 inputs: the kernel applies to the last axis at every position (softmax per position)
    for activation in ("tanh", "softmax", "relu"):
        stacks.append(((3, 4), [seq_dense(rng, dtype, (3, 4), 5, activation), dense(rng, dtype, 15, 3, "softmax")]))
    stacks.append(((2, 3, 4), [seq_dense(rng, dtype, (2, 3, 4), 2, "sigmoid", bias=False), dense(rng, dtype, 12, 3)]))
    stacks.append(_around(rng, dtype, 4, [seq_dense(rng, dtype, (3, 2), 4, "tanh")]))  # passes dx down
    stacks.append(_around(rng, dtype, 4, [seq_dense(rng, dtype, (3, 2), 4, "softmax", trainable=False)]))
    stacks.append(((4,), [dense(rng, dtype, 4, 6, "tanh"), seq_dense(rng, dtype, (3, 2), 2, "sigmoid")]))  # last
    stacks.append(((4,), [dense(rng, dtype, 4, 6, "tanh"), seq_dense(rng, dtype, (2, 3), 2, "softmax")]))  # last
    return stacks


def seq_dense(rng, dtype, in_shape, units: int, activation: str = "linear", bias: bool = True, trainable=True):
    """A dense stage on per-sample shape (..., in): the same kernel at every position of the leading axes."""
    n_in = in_shape[-1]
    params = (_array(rng, dtype, n_in, units),) + ((_array(rng, dtype, units, scale=0.1),) if bias else ())
    out = (*in_shape[:-1], units)
    return StageSpec("dense", tuple(in_shape), out, {"activation": activation}, params, trainable=trainable)


def _activation_examples(rng, dtype):
    def act(shape, name, **attrs):
        return StageSpec("activation", shape, shape, {"activation": name, **attrs})

    # every activation at its defaults, then the ones with arguments
    return [_around(rng, dtype, 4, [act((6,), name)]) for name in ACTIVATIONS] + [
        _around(rng, dtype, 4, [act((6,), "leaky_relu", negative_slope=0.05)]),
        _around(rng, dtype, 4, [act((6,), "leaky_relu", negative_slope=0.0)]),
        _around(rng, dtype, 4, [act((6,), "elu", alpha=0.7)]),
        _around(rng, dtype, 4, [act((6,), "celu", alpha=1.7)]),
        _around(rng, dtype, 4, [act((6,), "gelu", approximate=True)]),
        _around(rng, dtype, 4, [act((6,), "squareplus", b=0.5)]),
        _around(rng, dtype, 4, [act((6,), "soft_shrink", threshold=0.1)]),
        _around(rng, dtype, 4, [act((6,), "hard_shrink", threshold=0.1)]),
        _around(rng, dtype, 4, [act((6,), "threshold", threshold=0.1, default_value=-0.5)]),
        _around(rng, dtype, 4, [act((6,), "relu", negative_slope=0.1, max_value=0.6, threshold=0.2)]),
        _around(rng, dtype, 4, [act((6,), "relu", negative_slope=0.0, max_value=None, threshold=0.3)]),
        _around(rng, dtype, 4, [act((6,), "relu", negative_slope=0.3)]),
        _around(rng, dtype, 4, [act((2, 3), "softmax")]),  # over the last axis of a 2-D sample
        _around(rng, dtype, 4, [act((2, 3), "log_softmax")]),
        _around(rng, dtype, 4, [act((2, 3), "gelu")]),
        ((4,), [dense(rng, dtype, 4, 3, "linear"), act((3,), "softmax")]),  # the loss head fuses it
        ((4,), [dense(rng, dtype, 4, 3, "linear"), act((3,), "sigmoid")]),
        ((4,), [dense(rng, dtype, 4, 3, "linear"), act((3,), "mish")]),
        ((4,), [dense(rng, dtype, 4, 3, "linear"), act((3,), "squareplus", b=1.0)]),  # last, with an argument
    ]


def _dropout_examples(rng, dtype):
    def drop(shape, rate, seed=None, noise_shape=None, noise_batch=True):
        attrs = {"rate": rate, "seed": seed, "noise_shape": noise_shape, "noise_batch": noise_batch}
        return StageSpec("dropout", shape, shape, attrs)

    return [
        _around(rng, dtype, 4, [drop((6,), 0.3)]),
        _around(rng, dtype, 4, [drop((6,), 0.5, seed=7)]),
        _around(rng, dtype, 4, [drop((6,), 0.0)]),
        _around(rng, dtype, 4, [drop((6,), 1.0)]),
        _around(rng, dtype, 4, [drop((2, 3), 0.4, noise_shape=(1, 3))]),
        _around(rng, dtype, 4, [drop((2, 3), 0.4, noise_shape=(2, 1), noise_batch=False)]),
    ]


def _batch_norm_examples(rng, dtype):
    def bn(shape, channels, inner, center=True, scale=True, trainable=True, momentum=0.9):
        attrs = {
            "channels": channels,
            "inner": inner,
            "momentum": momentum,
            "epsilon": 1e-3,
            "center": center,
            "scale": scale,
        }
        params = tuple(
            _array(rng, dtype, channels, offset=1.0 if i == 0 and scale else 0.0)
            for i in range(int(scale) + int(center))
        )
        state = (_array(rng, dtype, channels, scale=0.1), np.abs(_array(rng, dtype, channels)) + dtype(0.5))
        return StageSpec("batch_norm", shape, shape, attrs, params, state, trainable=trainable)

    return [
        _around(rng, dtype, 4, [bn((6,), 6, 1)]),
        _around(rng, dtype, 4, [bn((2, 3), 3, 1)]),  # channels last of a 2-D sample
        _around(rng, dtype, 4, [bn((3, 2), 3, 2)]),  # axis 1 of 2: channel then inner
        _around(rng, dtype, 4, [bn((6,), 6, 1, center=False)]),
        _around(rng, dtype, 4, [bn((6,), 6, 1, scale=False)]),
        _around(rng, dtype, 4, [bn((6,), 6, 1, center=False, scale=False)]),
        _around(rng, dtype, 4, [bn((6,), 6, 1, trainable=False)]),  # frozen: moving statistics
        ((6,), [bn((6,), 6, 1), dense(rng, dtype, 6, 3, "softmax")]),  # first stage: no dx needed
    ]


def conv(rng, dtype, in_shape, filters, kernel, strides=(1, 1), padding="valid", dilation=(1, 1), **kw):
    from cyneuron.backend.reference import _window

    h, w, c = in_shape
    oh = _window.geometry(h, kernel[0], strides[0], dilation[0], "valid" if padding == "causal" else padding)[0]
    ow = _window.geometry(w, kernel[1], strides[1], dilation[1], padding)[0]
    params = (_array(rng, dtype, kernel[0], kernel[1], c, filters),)
    if kw.get("bias", True):
        params += (_array(rng, dtype, filters, scale=0.1),)
    attrs = {
        "kernel_size": kernel,
        "strides": strides,
        "padding": padding,
        "dilation_rate": dilation,
        "activation": kw.get("activation", "relu"),
    }
    return StageSpec("conv2d", in_shape, (oh, ow, filters), attrs, params, trainable=kw.get("trainable", True))


def pool(kind, in_shape, size, strides=None, padding="valid"):
    from cyneuron.backend.reference import _window

    strides = strides or size
    h, w, c = in_shape
    oh = _window.geometry(h, size[0], strides[0], 1, padding)[0]
    ow = _window.geometry(w, size[1], strides[1], 1, padding)[0]
    return StageSpec(kind, in_shape, (oh, ow, c), {"pool_size": size, "strides": strides, "padding": padding})


def global_pool(kind, in_shape, keepdims=False):
    c = in_shape[-1]
    out = (1,) * (len(in_shape) - 1) + (c,) if keepdims else (c,)
    return StageSpec(kind, in_shape, out, {"channels": c})


def tied_dense(rng, dtype, n_in, shape, block):
    """A dense stage whose output, seen as ``shape`` (H, W, C), is constant over ``block`` (bh, bw) tiles:
    exact ties for the max-pooling kinds (a wrongly routed tie changes which kernel column trains)."""
    h, w, c = shape
    base = _array(rng, dtype, n_in, (h // block[0]) * (w // block[1]) * c)
    index = [
        ((i // block[0]) * (w // block[1]) + j // block[1]) * c + k
        for i in range(h)
        for j in range(w)
        for k in range(c)
    ]
    kernel = np.ascontiguousarray(base[:, index])
    bias = np.ascontiguousarray(_array(rng, dtype, (h // block[0]) * (w // block[1]) * c, scale=0.1)[index])
    return StageSpec("dense", (n_in,), (h * w * c,), {"activation": "linear"}, (kernel, bias))


# Examples whose values tie exactly on purpose: the derivative does not exist there, so the
# finite-difference test skips them (the other examples of the same kinds have distinct values).
TIED = set()


def _tied(kind, stacks, stack):
    TIED.add((kind, len(stacks)))
    stacks.append(stack)


def _conv2d_examples(rng, dtype):
    def around(stage, head="softmax"):
        return _around(rng, dtype, 4, [stage], head=head)

    stacks = [
        around(conv(rng, dtype, (5, 5, 2), 3, (3, 3))),
        around(conv(rng, dtype, (5, 5, 2), 3, (3, 3), padding="same", activation="tanh")),
        around(conv(rng, dtype, (6, 5, 2), 2, (2, 2), (2, 2), "same", activation="linear")),  # even kernel
        around(conv(rng, dtype, (7, 7, 1), 2, (4, 4), (2, 2), "same", activation="sigmoid")),  # pads 1 / 2
        around(conv(rng, dtype, (7, 7, 1), 3, (3, 3), (2, 2), "valid", (2, 2))),  # dilation
        around(conv(rng, dtype, (6, 6, 2), 2, (2, 3), (1, 2), "same", (2, 1), bias=False)),
        around(conv(rng, dtype, (1, 8, 2), 3, (1, 3), (1, 2), "causal")),  # Conv1D, causal
        around(conv(rng, dtype, (1, 9, 2), 2, (1, 4), (1, 3), "same", activation="tanh")),  # Conv1D, same
        around(conv(rng, dtype, (3, 3, 4), 2, (1, 1), activation="linear")),  # 1x1: the direct product
        around(conv(rng, dtype, (4, 4, 2), 3, (3, 3), padding="same", activation="softmax")),  # over filters
        around(conv(rng, dtype, (4, 4, 2), 4, (2, 2), activation="log_softmax"), head="softplus"),
        around(conv(rng, dtype, (4, 4, 2), 3, (3, 3), activation="selu")),
        around(conv(rng, dtype, (4, 4, 2), 3, (2, 2), activation="softplus")),
        ((18,), [conv(rng, dtype, (3, 3, 2), 2, (2, 2), activation="log_softmax")]),  # last, 4 positions
        around(conv(rng, dtype, (5, 5, 2), 3, (3, 3), trainable=False)),
        ((50,), [conv(rng, dtype, (5, 5, 2), 3, (3, 3), (2, 2)), dense(rng, dtype, 12, 3, "softmax")]),  # first
        ((18,), [conv(rng, dtype, (3, 3, 2), 3, (3, 3), activation="softmax")]),  # last: the head fuses it
        ((18,), [conv(rng, dtype, (3, 3, 2), 2, (2, 2), activation="sigmoid")]),  # last, 8 outputs
        (
            (48,),
            [
                conv(rng, dtype, (4, 4, 3), 4, (3, 3), padding="same"),
                conv(rng, dtype, (4, 4, 4), 2, (2, 2), (2, 2), activation="tanh"),
                dense(rng, dtype, 8, 3, "softmax"),
            ],
        ),
    ]
    return stacks


def _pool_examples(kind):
    def make(rng, dtype):
        def around(*middle):
            return _around(rng, dtype, 4, list(middle))

        stacks = [
            around(pool(kind, (4, 4, 2), (2, 2))),
            around(pool(kind, (5, 5, 2), (2, 2), (1, 1))),  # overlapping windows
            around(pool(kind, (5, 5, 2), (2, 2), padding="same")),
            around(pool(kind, (5, 4, 1), (3, 3), (2, 2), "same")),
            around(pool(kind, (6, 6, 1), (3, 2), (2, 1), "same")),
            around(pool(kind, (1, 7, 3), (1, 2))),  # 1-D
            around(pool(kind, (1, 7, 3), (1, 3), (1, 2), "same")),
            ((32,), [pool(kind, (4, 4, 2), (2, 2)), dense(rng, dtype, 8, 3, "softmax")]),  # first stage
            (
                (50,),
                [
                    conv(rng, dtype, (5, 5, 2), 3, (3, 3), padding="same"),
                    pool(kind, (5, 5, 3), (2, 2), padding="same"),
                    dense(rng, dtype, 27, 3, "softmax"),
                ],
            ),
        ]
        for block, size, strides in (((2, 2), (2, 2), None), ((2, 2), (3, 3), (1, 1)), ((1, 2), (2, 2), (2, 1))):
            middle = pool(kind, (4, 4, 2), size, strides, "same" if size == (3, 3) else "valid")
            stack = [tied_dense(rng, dtype, 4, (4, 4, 2), block), middle]
            stack.append(dense(rng, dtype, int(np.prod(middle.out_shape)), 3, "softmax"))
            _tied(kind, stacks, ((4,), stack)) if kind == "max_pool2d" else stacks.append(((4,), stack))
        return stacks

    return make


def rnn(
    rng,
    dtype,
    kind,
    steps,
    features,
    units,
    *,
    seq=False,
    back=False,
    bias=True,
    after=True,
    act="tanh",
    ract="sigmoid",
    trainable=True,
    dropout=None,
):
    width = {"simple_rnn": 1, "lstm": 4, "gru": 3}[kind] * units
    attrs = {"units": units, "activation": act, "return_sequences": seq, "go_backwards": back}
    if dropout is not None:  # (dropout, recurrent_dropout, gate_masks, seed)
        rate, recurrent_rate, gate_masks, seed = dropout
        attrs.update(dropout=rate, recurrent_dropout=recurrent_rate, gate_masks=gate_masks, seed=seed)
    if kind != "simple_rnn":
        attrs["recurrent_activation"] = ract
    if kind == "gru":
        attrs["reset_after"] = after
    params = (_array(rng, dtype, features, width), _array(rng, dtype, units, width))
    if bias:
        params += (_array(rng, dtype, *((2, width) if kind == "gru" and after else (width,)), scale=0.1),)
    out = (steps, units) if seq else (units,)
    return StageSpec(kind, (steps, features), out, attrs, params, trainable=trainable)


def _recurrent_examples(kind):
    gated = kind != "simple_rnn"

    def make(rng, dtype):
        def r(*args, **kwargs):
            return rnn(rng, dtype, kind, *args, **kwargs)

        stacks = [
            _around(rng, dtype, 4, [r(3, 2, 4)]),
            _around(rng, dtype, 4, [r(4, 2, 3, seq=True)]),
            _around(rng, dtype, 4, [r(3, 2, 3, back=True)]),
            _around(rng, dtype, 4, [r(4, 2, 3, seq=True, back=True)]),
            _around(rng, dtype, 4, [r(1, 3, 2)]),  # T = 1
            _around(rng, dtype, 4, [r(1, 2, 3, seq=True)]),
            _around(rng, dtype, 4, [r(3, 2, 3, bias=False)]),
            _around(rng, dtype, 4, [r(3, 2, 3, seq=True), r(3, 3, 2)]),  # stacked
            _around(rng, dtype, 4, [r(3, 2, 3, act="relu", ract="tanh")]),
            _around(rng, dtype, 4, [r(3, 2, 3, act="sigmoid", ract="linear", seq=True)]),
            _around(rng, dtype, 4, [r(2, 2, 3, act="softmax", ract="softmax")]),
            _around(rng, dtype, 4, [r(3, 2, 3, trainable=False)]),  # frozen: still passes dx
            ((3, 2), [r(3, 2, 4), dense(rng, dtype, 4, 3, "softmax")]),  # first stage: no dx needed
            # dropout: as the layers build it (gate masks whenever recurrent_dropout > 0 for lstm/gru)
            _around(rng, dtype, 4, [r(3, 2, 4, dropout=(0.4, 0.0, False, None))]),
            _around(rng, dtype, 4, [r(4, 2, 3, seq=True, dropout=(0.0, 0.3, gated, 7))]),
            _around(rng, dtype, 4, [r(3, 2, 3, back=True, dropout=(0.3, 0.5, gated, None))]),
            _around(rng, dtype, 4, [r(3, 2, 3, bias=False, act="relu", ract="tanh", dropout=(0.5, 0.4, True, 3))]),
            _around(rng, dtype, 4, [r(3, 2, 3, dropout=(0.3, 0.3, False, None))]),  # shared masks
            _around(rng, dtype, 4, [r(3, 2, 3, dropout=(1.0, 1.0, gated, None))]),  # everything dropped
            _around(rng, dtype, 4, [r(3, 2, 3, trainable=False, dropout=(0.4, 0.4, gated, None))]),
            ((3, 2), [r(3, 2, 4, dropout=(0.5, 0.5, gated, 1)), dense(rng, dtype, 4, 3, "softmax")]),
        ]
        if kind == "gru":
            stacks += [
                _around(rng, dtype, 4, [r(3, 2, 3, after=False)]),
                _around(rng, dtype, 4, [r(4, 2, 3, after=False, seq=True, back=True)]),
                _around(rng, dtype, 4, [r(3, 2, 3, after=False, bias=False)]),
                _around(rng, dtype, 4, [r(2, 2, 3, after=False, act="relu", ract="softmax")]),
                _around(rng, dtype, 4, [r(3, 2, 3, after=False, dropout=(0.4, 0.4, True, None))]),
                _around(rng, dtype, 4, [r(4, 2, 3, after=False, seq=True, back=True, dropout=(0.3, 0.3, False, 5))]),
                _around(rng, dtype, 4, [r(3, 2, 3, after=False, bias=False, dropout=(0.0, 0.5, True, None))]),
            ]
        return stacks

    return make


def bidirectional(rng, dtype, kind, steps, features, units, merge="concat", seq=False, **kwargs):
    """Keras' Bidirectional over a recurrent kind: the forward stage's and a go_backwards copy's arrays."""
    forward = rnn(rng, dtype, kind, steps, features, units, seq=seq, **kwargs)
    backward = rnn(rng, dtype, kind, steps, features, units, seq=seq, back=True, **kwargs)
    width = 2 * units if merge == "concat" else units
    attrs = {
        "cell": kind,
        "merge_mode": merge,
        "forward": dict(forward.attrs),
        "backward": dict(backward.attrs),
        "n_forward": len(forward.params),
    }
    out = (steps, width) if seq else (width,)
    params = forward.params + backward.params
    return StageSpec("bidirectional", (steps, features), out, attrs, params, trainable=forward.trainable)


def _bidirectional_examples(rng, dtype):
    def b(*args, **kwargs):
        return bidirectional(rng, dtype, *args, **kwargs)

    stacks = []
    for kind in ("simple_rnn", "lstm", "gru"):
        for merge in ("concat", "sum", "ave", "mul"):
            stacks.append(_around(rng, dtype, 4, [b(kind, 3, 2, 3, merge)]))
            stacks.append(_around(rng, dtype, 4, [b(kind, 4, 2, 3, merge, seq=True)]))
    gated = True
    stacks += [
        ((3, 2), [b("lstm", 3, 2, 4), dense(rng, dtype, 8, 3, "softmax")]),  # first stage: no dx needed
        _around(rng, dtype, 4, [b("gru", 3, 2, 3, "concat", seq=True, after=False)]),
        _around(rng, dtype, 4, [b("lstm", 1, 2, 3, "sum", seq=True)]),  # T = 1
        _around(rng, dtype, 4, [b("gru", 3, 2, 3, "mul", bias=False)]),
        _around(rng, dtype, 4, [b("lstm", 3, 2, 3, "concat", seq=True), b("gru", 3, 6, 2, "ave")]),  # stacked
        _around(rng, dtype, 4, [b("simple_rnn", 3, 2, 3, "concat", trainable=False)]),  # frozen: passes dx
        # dropout: each direction draws its own masks
        _around(rng, dtype, 4, [b("lstm", 3, 2, 3, "concat", seq=True, dropout=(0.4, 0.3, gated, None))]),
        _around(rng, dtype, 4, [b("gru", 3, 2, 3, "sum", dropout=(0.3, 0.0, False, 5))]),
        _around(rng, dtype, 4, [b("simple_rnn", 3, 2, 3, "mul", seq=True, dropout=(0.5, 0.5, False, None))]),
    ]
    return stacks


def _global_pool_examples(kind):
    def make(rng, dtype):
        stacks = [
            _around(rng, dtype, 4, [global_pool(kind, (3, 3, 2))]),
            _around(rng, dtype, 4, [global_pool(kind, (5, 3))]),  # 1-D
            _around(rng, dtype, 4, [global_pool(kind, (2, 3, 2), keepdims=True)]),
            ((12,), [global_pool(kind, (2, 2, 3)), dense(rng, dtype, 3, 2, "softmax")]),  # first stage
        ]
        for block in ((2, 2), (4, 1)):
            stack = [tied_dense(rng, dtype, 4, (4, 4, 2), block), global_pool(kind, (4, 4, 2))]
            stack.append(dense(rng, dtype, 2, 3, "softmax"))
            _tied(kind, stacks, ((4,), stack)) if kind == "global_max_pool" else stacks.append(((4,), stack))
        return stacks

    return make


def _affine_examples(rng, dtype):
    def rescale(shape, scale, offset):
        return StageSpec("affine", shape, shape, {"mode": "rescale", "scale": scale, "offset": offset})

    def normalize(shape, channels, inner, mode="normalize", zero_var=False):
        mean = _array(rng, dtype, channels)
        var = np.abs(_array(rng, dtype, channels)) + dtype(0.3)
        if zero_var:
            var[0] = 0  # max(sqrt(0), 1e-7)
        attrs = {"mode": mode, "channels": channels, "inner": inner}
        return StageSpec("affine", shape, shape, attrs, state=(mean, var))

    return [
        ((6,), [rescale((6,), 1.0 / 255, 0.0), dense(rng, dtype, 6, 3, "softmax")]),  # first layer
        ((6,), [rescale((2, 3), 2.0, -1.0), dense(rng, dtype, 6, 3, "softmax")]),
        _around(rng, dtype, 4, [rescale((6,), 0.5, 0.25)]),
        ((6,), [normalize((2, 3), 3, 1), dense(rng, dtype, 6, 3, "softmax")]),
        ((6,), [normalize((3, 2), 3, 2), dense(rng, dtype, 6, 3, "softmax")]),  # axis 1 of 2
        ((6,), [normalize((6,), 1, 6), dense(rng, dtype, 6, 3, "softmax")]),  # axis=None
        _around(rng, dtype, 4, [normalize((2, 3), 3, 1)]),
        _around(rng, dtype, 4, [normalize((2, 3), 3, 1, "denormalize")]),
        _around(rng, dtype, 4, [normalize((6,), 6, 1, zero_var=True)]),
    ]


def embedding(rng, dtype, in_shape, input_dim, output_dim, trainable=True):
    params = (_array(rng, dtype, input_dim, output_dim),)
    attrs = {"input_dim": input_dim, "output_dim": output_dim}
    return StageSpec("embedding", in_shape, (*in_shape, output_dim), attrs, params, trainable=trainable)


def _embedding_examples(rng, dtype):
    # always the first stage: its input is the network's int64 x (``input_data``)
    def e(*args, **kwargs):
        return embedding(rng, dtype, *args, **kwargs)

    return [
        ((4,), [e((4,), 7, 3), dense(rng, dtype, 12, 3, "softmax")]),  # -> Flatten -> Dense
        ((5,), [e((5,), 9, 2), rnn(rng, dtype, "lstm", 5, 2, 3), dense(rng, dtype, 3, 3, "softmax")]),
        ((4,), [e((4,), 6, 3), rnn(rng, dtype, "gru", 4, 3, 2, seq=True), dense(rng, dtype, 8, 3, "softmax")]),
        ((2, 3), [e((2, 3), 5, 2), dense(rng, dtype, 12, 3, "softmax")]),  # any per-sample shape
        ((6,), [e((6,), 3, 2), dense(rng, dtype, 12, 3, "tanh"), dense(rng, dtype, 3, 3, "softmax")]),  # repeats
        ((4,), [e((4,), 7, 3, trainable=False), dense(rng, dtype, 12, 3, "softmax")]),  # frozen
        ((4,), [e((4,), 7, 3), global_pool("global_avg_pool", (4, 3)), dense(rng, dtype, 3, 3, "softmax")]),
        ((3,), [e((3,), 4, 1)]),  # the only stage: the output is the embeddings
    ]


def _transpose_examples(rng, dtype):
    def tr(shape, perm):
        return StageSpec("transpose", shape, tuple(shape[p] for p in perm), {"perm": perm})

    return [
        _around(rng, dtype, 4, [tr((2, 3), (1, 0))]),
        _around(rng, dtype, 4, [tr((2, 3, 4), (1, 2, 0)), tr((3, 4, 2), (2, 0, 1))]),
        _around(rng, dtype, 4, [tr((2, 3, 4), (2, 0, 1))]),
        _around(rng, dtype, 4, [tr((5,), (0,))]),
        (  # channels-first convolution as the layers build it: transpose, conv2d, transpose back
            (2, 4, 4),
            [
                tr((2, 4, 4), (1, 2, 0)),
                conv(rng, dtype, (4, 4, 2), 3, (3, 3), padding="same"),
                tr((4, 4, 3), (2, 0, 1)),
                dense(rng, dtype, 48, 3, "softmax"),
            ],
        ),
    ]


def _prelu_examples(rng, dtype):
    def prelu(shape, alpha_shape, trainable=True):
        alpha = _array(rng, dtype, *alpha_shape, scale=0.3, offset=0.2)
        return StageSpec("prelu", shape, shape, {}, (alpha,), trainable=trainable)

    return [
        _around(rng, dtype, 4, [prelu((6,), (6,))]),
        _around(rng, dtype, 4, [prelu((2, 3), (1, 3))]),  # shared along the first axis
        _around(rng, dtype, 4, [prelu((2, 3, 2), (1, 1, 2))]),  # one slope per channel
        _around(rng, dtype, 4, [prelu((6,), (1,))]),  # one slope for everything
        _around(rng, dtype, 4, [prelu((6,), (6,), trainable=False)]),
        ((6,), [prelu((6,), (6,)), dense(rng, dtype, 6, 3, "softmax")]),  # first stage: no dx needed
    ]


def folded(stage: StageSpec, times: int) -> StageSpec:
    """The stage as TimeDistributed runs it over ``times`` steps (``fold``), on copies of its arrays. A folded
    BatchNormalization trains only frozen (``validation.check_folded_training``), so it is frozen here."""
    return dataclasses.replace(
        stage,
        params=tuple(p.copy() for p in stage.params),
        state=tuple(a.copy() for a in stage.state),
        fold=stage.fold * times,
        trainable=stage.trainable and stage.kind != "batch_norm",
    )


def _with_fold(make):
    """A kind's examples plus its first stack folded over 2 steps, and that folded stack folded again over 3
    (nested TimeDistributed): every stage then runs over rows * fold rows."""

    def examples(rng, dtype):
        stacks = make(rng, dtype)
        shape, stages = stacks[0]
        twice = [folded(s, 2) for s in stages]
        return stacks + [((2, *shape), twice), ((3, 2, *shape), [folded(s, 3) for s in twice])]

    return examples


def _folded_mixed_examples(rng, dtype):
    """Folded stages between plain ones: TD(Conv2D) > TD(MaxPooling2D) > LSTM over the steps > Dense, and a
    folded dense head (a loss row narrower than the sample) after an LSTM's sequences."""
    steps = 3
    c = folded(conv(rng, dtype, (5, 5, 2), 3, (3, 3), activation="relu"), steps)
    p = folded(pool("max_pool2d", (3, 3, 3), (2, 2), padding="same"), steps)
    r = rnn(rng, dtype, "lstm", steps, int(np.prod(p.out_shape)), 4, seq=True)
    d = folded(dense(rng, dtype, 4, 3, "softmax"), steps)
    return [((steps, 5, 5, 2), [c, p, r, d])]


EXAMPLES = {
    "prelu": _prelu_examples,
    "transpose": _transpose_examples,
    "dense": _dense_examples,
    "activation": _activation_examples,
    "dropout": _dropout_examples,
    "batch_norm": _batch_norm_examples,
    "conv2d": _conv2d_examples,
    "max_pool2d": _pool_examples("max_pool2d"),
    "avg_pool2d": _pool_examples("avg_pool2d"),
    "global_avg_pool": _global_pool_examples("global_avg_pool"),
    "global_max_pool": _global_pool_examples("global_max_pool"),
    "affine": _affine_examples,
    "simple_rnn": _recurrent_examples("simple_rnn"),
    "lstm": _recurrent_examples("lstm"),
    "gru": _recurrent_examples("gru"),
    "embedding": _embedding_examples,
    "bidirectional": _bidirectional_examples,
}
EXAMPLES = {kind: _with_fold(make) for kind, make in EXAMPLES.items()}
_lstm_examples = EXAMPLES["lstm"]
EXAMPLES["lstm"] = lambda rng, dtype: _lstm_examples(rng, dtype) + _folded_mixed_examples(rng, dtype)


def input_data(rng, input_shape, stages, n, dtype, scale=1.0):
    """x (n, prod(input_shape)) for a stack: normal rows of the dtype, or int64 indices over the whole
    vocabulary when the first stage is an embedding."""
    width = int(np.prod(input_shape))
    if stages[0].kind == "embedding":
        return rng.integers(0, stages[0].attrs["input_dim"], (n, width)).astype(np.int64)
    return (rng.standard_normal((n, width)) * scale).astype(dtype)


def copy_stack(stages: list[StageSpec]) -> list[StageSpec]:
    """The same stages over copies of their arrays (two networks must not share weights)."""
    return [
        dataclasses.replace(
            s, attrs=dict(s.attrs), params=tuple(p.copy() for p in s.params), state=tuple(a.copy() for a in s.state)
        )
        for s in stages
    ]


def all_stacks(dtype, seed: int = 0):
    """(kind, index, input_shape, stages) for every example of every kind."""
    out = []
    for kind, make in EXAMPLES.items():
        rng = np.random.default_rng(seed)
        for index, (shape, stages) in enumerate(make(rng, np.dtype(dtype).type)):
            out.append((kind, index, shape, stages))
    return out
