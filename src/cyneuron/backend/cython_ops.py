"""The cython backend: a thin, validating adaptor over ``cyneuron._kernels``.

Every kernel call is checked here, once, at the Python boundary (array type,
ndim, shapes consistent with each other, one shared float32/float64 dtype,
C-contiguity, writeable and non-overlapping outputs, known names); the
compiled kernels then trust their arguments. Bad input raises TypeError (wrong
type or dtype) or ValueError (wrong shape, layout, value or name) naming the
argument and what was expected. Semantics are those of ``base.py``, identical
to the NumPy reference backend.

Networks are ``cyneuron._network.NetworkCore``: one compiled call per training
step, only scipy's BLAS (``scipy.linalg.cython_blas``) in the hot path.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cyneuron import _kernels
from cyneuron._network import NetworkCore
from cyneuron.backend.base import ACTIVATIONS, DTYPES, LOSSES, METRICS, LossSpec, Network, Ops, Stage
from cyneuron.backend.validation import check_loss

__all__ = ["CythonOps", "NetworkCore"]

# Codes shared with csrc/cyneuron/_core.pxd (same order as the tuples in base.py).
_ACTIVATION_CODES = {name: code for code, name in enumerate(ACTIVATIONS)}
_LOSS_CODES = {name: code for code, name in enumerate(LOSSES)}
_METRIC_CODES = {name: code for code, name in enumerate(METRICS)}
_SPARSE_LOSS = "sparse_categorical_crossentropy"
_SPARSE_METRIC = "sparse_categorical_accuracy"
_INT_MAX = 2**31 - 1  # BLAS takes 32-bit dimensions

# NetworkCore is the Network of this backend; registering keeps its calls free
# of a Python subclass's attribute lookups.
Network.register(NetworkCore)


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _activation(name: object) -> int:
    try:
        return _ACTIVATION_CODES[name]
    except (KeyError, TypeError):
        raise ValueError(f"activation: unknown {name!r}; expected one of {', '.join(ACTIVATIONS)}") from None


def _metric(name: object) -> int:
    try:
        return _METRIC_CODES[name]
    except (KeyError, TypeError):
        raise ValueError(f"metric: unknown {name!r}; expected one of {', '.join(METRICS)}") from None


def _float_array(name: str, value: object, ndim: int) -> np.ndarray:
    """A float32/float64 C-contiguous ndarray of ``ndim`` dims: the array that fixes the dtype."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(value).__name__}")
    if value.dtype not in DTYPES:
        raise TypeError(f"{name}: expected dtype float32 or float64, got {value.dtype}")
    if value.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {_shape_text(value.shape)}")
    if not value.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous array (use numpy.ascontiguousarray)")
    if any(s > _INT_MAX for s in value.shape):
        raise ValueError(f"{name}: dimensions above {_INT_MAX} are not supported, got {_shape_text(value.shape)}")
    return value


def _array(name: str, value: object, shape: tuple, dtype: np.dtype, *, out: bool = False) -> np.ndarray:
    """``value`` must be a C-contiguous ndarray of exactly ``shape`` and ``dtype`` (writeable if ``out``)."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(value).__name__}")
    if value.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {dtype} (the dtype of the other arrays), got {value.dtype}")
    if value.shape != shape:
        raise ValueError(f"{name}: expected shape {_shape_text(shape)}, got {_shape_text(value.shape)}")
    if not value.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous array (use numpy.ascontiguousarray)")
    if out and not value.flags.writeable:
        raise ValueError(f"{name}: expected a writeable array")
    return value


def _labels(name: str, value: object, rows: int, units: int) -> np.ndarray:
    """int64 class labels (rows,) in [0, units)."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray of int64 labels, got {type(value).__name__}")
    if value.dtype != np.int64:
        raise TypeError(f"{name}: expected int64 class labels, got dtype {value.dtype}")
    _array(name, value, (rows,), np.dtype(np.int64))
    if rows and (value.min() < 0 or value.max() >= units):
        raise ValueError(f"{name}: class labels must be in [0, {units}), got values in [{value.min()}, {value.max()}]")
    return value


def _no_overlap(out_name: str, out: np.ndarray | None, inputs: dict[str, np.ndarray | None], *, may_be=()) -> None:
    """An output must not share memory with an input, except when it *is* one named in ``may_be``."""
    if out is None:
        return
    for name, other in inputs.items():
        if other is None:
            continue
        if name in may_be and other is out:
            continue
        if np.may_share_memory(out, other):
            allowed = f" (it may be {name} itself)" if name in may_be else ""
            raise ValueError(f"{out_name}: must not overlap {name}{allowed}")


def _targets(loss_or_metric_sparse: bool, name: str, y_true, rows: int, units: int, dtype: np.dtype):
    """(dense targets or None, labels or None) for a loss or metric call."""
    if loss_or_metric_sparse:
        return None, _labels(name, y_true, rows, units)
    return _array(name, y_true, (rows, units), dtype), None


def _at_least_one_row(name: str, value: np.ndarray) -> None:
    if value.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one row, got shape {_shape_text(value.shape)}")


class CythonOps(Ops):
    """Compiled kernels (``cyneuron._kernels``); see ``base.Ops`` for each method's contract."""

    name = "cython"

    # ----------------------------------------------------------------- dense
    def dense_forward(self, x, kernel, bias, activation, z_out, a_out) -> None:
        act = _activation(activation)
        x = _float_array("x", x, 2)
        dtype = x.dtype
        batch, n_in = x.shape
        if not isinstance(kernel, np.ndarray) or kernel.ndim != 2:
            _array("kernel", kernel, (n_in, "units"), dtype)  # raises with the expected shape
        units = kernel.shape[1]
        _array("kernel", kernel, (n_in, units), dtype)
        if bias is not None:
            _array("bias", bias, (units,), dtype)
        _array("z_out", z_out, (batch, units), dtype, out=True)
        _array("a_out", a_out, (batch, units), dtype, out=True)
        inputs = {"x": x, "kernel": kernel, "bias": bias}
        _no_overlap("z_out", z_out, inputs)
        _no_overlap("a_out", a_out, {**inputs, "z_out": z_out}, may_be=("z_out",))
        _kernels.dense_forward(x, kernel, bias, act, z_out, a_out)

    def dense_backward(
        self, x, kernel, z, a, grad_a, activation, grad_z_out, grad_kernel_out, grad_bias_out, grad_x_out
    ) -> None:
        act = _activation(activation)
        x = _float_array("x", x, 2)
        dtype = x.dtype
        batch, n_in = x.shape
        if not isinstance(kernel, np.ndarray) or kernel.ndim != 2:
            _array("kernel", kernel, (n_in, "units"), dtype)
        units = kernel.shape[1]
        _array("kernel", kernel, (n_in, units), dtype)
        for name, value in (("z", z), ("a", a), ("grad_a", grad_a)):
            _array(name, value, (batch, units), dtype)
        _array("grad_z_out", grad_z_out, (batch, units), dtype, out=True)
        _array("grad_kernel_out", grad_kernel_out, (n_in, units), dtype, out=True)
        if grad_bias_out is not None:
            _array("grad_bias_out", grad_bias_out, (units,), dtype, out=True)
        if grad_x_out is not None:
            _array("grad_x_out", grad_x_out, (batch, n_in), dtype, out=True)
        inputs = {"x": x, "kernel": kernel, "z": z, "a": a, "grad_a": grad_a}
        _no_overlap("grad_z_out", grad_z_out, inputs, may_be=("grad_a",))
        outputs = {**inputs, "grad_z_out": grad_z_out}
        _no_overlap("grad_kernel_out", grad_kernel_out, outputs)
        _no_overlap("grad_bias_out", grad_bias_out, {**outputs, "grad_kernel_out": grad_kernel_out})
        _no_overlap(
            "grad_x_out",
            grad_x_out,
            {**outputs, "grad_kernel_out": grad_kernel_out, "grad_bias_out": grad_bias_out},
        )
        _kernels.dense_backward(x, kernel, z, a, grad_a, act, grad_z_out, grad_kernel_out, grad_bias_out, grad_x_out)

    # ----------------------------------------------------------- activations
    def activation_forward(self, activation, z, out) -> None:
        act = _activation(activation)
        z = _float_array("z", z, 2)
        _array("out", out, z.shape, z.dtype, out=True)
        _no_overlap("out", out, {"z": z}, may_be=("z",))
        _kernels.activation_forward(z, out, act)

    def activation_backward(self, activation, z, a, grad_a, out) -> None:
        act = _activation(activation)
        z = _float_array("z", z, 2)
        _array("a", a, z.shape, z.dtype)
        _array("grad_a", grad_a, z.shape, z.dtype)
        _array("out", out, z.shape, z.dtype, out=True)
        _no_overlap("out", out, {"z": z, "a": a, "grad_a": grad_a}, may_be=("grad_a",))
        _kernels.activation_backward(z, a, grad_a, out, act)

    # ---------------------------------------------------------------- losses
    def _loss_args(self, loss, y_true, y_pred, pred_name: str = "y_pred"):
        loss = check_loss(loss)
        y_pred = _float_array(pred_name, y_pred, 2)
        _at_least_one_row(pred_name, y_pred)
        rows, units = y_pred.shape
        y, labels = _targets(loss.name == _SPARSE_LOSS, "y_true", y_true, rows, units, y_pred.dtype)
        return loss, y_pred, y, labels

    def loss_value(self, loss: LossSpec, y_true, y_pred) -> float:
        loss, y_pred, y, labels = self._loss_args(loss, y_true, y_pred)
        return _kernels.loss_value(y_pred, y, labels, _LOSS_CODES[loss.name], bool(loss.from_logits))

    def loss_gradient(self, loss: LossSpec, y_true, y_pred, out) -> None:
        loss, y_pred, y, labels = self._loss_args(loss, y_true, y_pred)
        _array("out", out, y_pred.shape, y_pred.dtype, out=True)
        _no_overlap("out", out, {"y_true": y, "y_pred": y_pred})
        _kernels.loss_gradient(y_pred, y, labels, out, _LOSS_CODES[loss.name], bool(loss.from_logits))

    def output_gradient(self, loss: LossSpec, activation, y_true, z, a, out) -> float:
        act = _activation(activation)
        loss, z, y, labels = self._loss_args(loss, y_true, z, "z")
        _array("a", a, z.shape, z.dtype)
        _array("out", out, z.shape, z.dtype, out=True)
        _no_overlap("out", out, {"y_true": y, "z": z, "a": a})
        return _kernels.output_gradient(z, a, y, labels, out, _LOSS_CODES[loss.name], bool(loss.from_logits), act)

    def metric_value(self, metric: str, y_true, y_pred) -> float:
        code = _metric(metric)
        y_pred = _float_array("y_pred", y_pred, 2)
        _at_least_one_row("y_pred", y_pred)
        rows, units = y_pred.shape
        y, labels = _targets(metric == _SPARSE_METRIC, "y_true", y_true, rows, units, y_pred.dtype)
        return _kernels.metric_value(y_pred, y, labels, code)

    # ------------------------------------------------------------- optimiser
    def sgd_update(self, param, grad, velocity, learning_rate, momentum, nesterov) -> None:
        if not isinstance(param, np.ndarray):
            raise TypeError(f"param: expected a numpy.ndarray, got {type(param).__name__}")
        if param.dtype not in DTYPES:
            raise TypeError(f"param: expected dtype float32 or float64, got {param.dtype}")
        _array("param", param, param.shape, param.dtype, out=True)
        _array("grad", grad, param.shape, param.dtype)
        for name, value in (("learning_rate", learning_rate), ("momentum", momentum)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
            if not np.isfinite(value):
                raise ValueError(f"{name}: expected a finite number, got {value!r}")
        _no_overlap("param", param, {"grad": grad})
        if momentum != 0:
            _array("velocity", velocity, param.shape, param.dtype, out=True)
            _no_overlap("velocity", velocity, {"param": param, "grad": grad})
        else:
            velocity = None
        # the kernel sees every parameter as one row; reshape of a C-contiguous array is a view
        _kernels.sgd_update(
            param.reshape(1, -1),
            grad,
            velocity,
            float(learning_rate),
            float(momentum),
            bool(nesterov),
        )

    # -------------------------------------------------------------- networks
    def build_network(self, stages: Sequence[Stage], input_dim: int, dtype) -> NetworkCore:
        return NetworkCore(stages, input_dim, dtype)
