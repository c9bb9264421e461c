"""The graph under construction for ONNX export: nodes, initializers and the layout of each tensor.

A ``Value`` is a tensor of the graph with its per-sample shape, channels-last (cyneuron's rows, C order)
or NCHW (ONNX's image layout); ``Graph.shaped`` / ``Graph.nchw`` give a tensor in the form a converter
needs, adding a reshape or transpose only when it is in another form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Graph", "Value", "require_onnx"]


def require_onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError(
            "ONNX export needs the onnx package: pip install 'cyneuron[onnx]' (or pip install onnx)"
        ) from None
    return onnx


@dataclass(frozen=True)
class Value:
    """A tensor of the graph: its name, per-sample shape (channels-last) and whether it is stored NCHW.

    With ``nchw`` the shape is still given as (H, W, C); the tensor itself is (batch, C, H, W).
    """

    name: str
    shape: tuple[int, ...]
    nchw: bool = False


class Graph:
    """Nodes and initializers of the graph being built, in one dtype."""

    def __init__(self, dtype: np.dtype, opset: int) -> None:
        self.onnx = require_onnx()
        self.dtype = np.dtype(dtype)
        self.opset = opset
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, array, hint: str = "const", dtype=None) -> str:
        """An initializer holding ``array`` (in the graph's dtype unless ``dtype`` is given)."""
        array = np.array(array, dtype=dtype or self.dtype, order="C")  # keeps 0-d (ascontiguousarray would not)
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def ints(self, values, hint: str = "ints") -> str:
        return self.const(np.asarray(values, np.int64), hint, np.int64)

    def scalar(self, value, hint: str = "c") -> str:
        """A 0-d constant of the graph's dtype (rounded to it, as the reference kernels round attrs)."""
        return self.const(self.dtype.type(value), hint)

    def op(self, op_type: str, inputs, hint: str | None = None, outputs: int = 1, **attrs):
        names = [self.fresh(hint or op_type.lower()) for _ in range(outputs)]
        # every node named (its first output): onnxruntime 1.19 names fused nodes after the originals
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), names, name=names[0], **attrs))
        return names[0] if outputs == 1 else names

    def reshape(self, x: str, shape) -> str:
        """x to (batch, *shape); 0 copies the batch dimension, so it stays dynamic."""
        return self.op("Reshape", [x, self.ints([0, *shape], "shape")], "reshape")

    def reduce(self, op_type: str, x: str, axes) -> str:
        if self.opset >= 18:  # axes became an input in opset 18
            return self.op(op_type, [x, self.ints(axes, "axes")], keepdims=0)
        return self.op(op_type, [x], axes=list(axes), keepdims=0)

    def shaped(self, v: Value, shape) -> str:
        """v as a channels-last tensor (batch, *shape) (same elements, C order)."""
        shape = tuple(shape)
        name = v.name
        if v.nchw:
            name = self.op("Transpose", [name], "nhwc", perm=[0, 2, 3, 1])
        return name if v.shape == shape else self.reshape(name, shape)

    def nchw(self, v: Value, hwc) -> str:
        """v as an NCHW tensor (batch, C, H, W) for a per-sample (H, W, C) shape."""
        hwc = tuple(hwc)
        if v.nchw and v.shape == hwc:
            return v.name
        return self.op("Transpose", [self.shaped(v, hwc)], "nchw", perm=[0, 3, 1, 2])
