"""The cython backend: a thin adaptor over the compiled kernels in ``cyneuron._kernels``.

``base.Ops`` has already checked every argument (array type, ndim, shapes
consistent with each other, one shared float32/float64 dtype, C-contiguity,
writeable and non-overlapping outputs, known names) when these methods run; the
compiled kernels trust them. This module only maps names to the kernels' codes.
Semantics are those of ``base.py``, identical to the NumPy reference backend.

Networks are ``cyneuron._network.NetworkCore``: one compiled call per training
step, only scipy's BLAS (``scipy.linalg.cython_blas``) in the hot path.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cyneuron import _kernels
from cyneuron._network import NetworkCore
from cyneuron.backend.base import ACTIVATIONS, LOSSES, Network, Ops, StageSpec
from cyneuron.backend.numpy_ops import _sgd_spec
from cyneuron.backend.specs import METRIC_CODES, REDUCTION_CODES, SPARSE_METRICS, activation_kernel

__all__ = ["CythonOps", "NetworkCore"]

# Codes shared with csrc/cyneuron/_core.pxd, _activations.pxd and _losses.pxd (same order as the tuples in specs.py).
_ACTIVATION_CODES = {name: code for code, name in enumerate(ACTIVATIONS)}


def _activation_kernel(name: str, params) -> tuple[int, np.ndarray | None]:
    """The kernel code and its numbers (float64, None: the defaults) for an activation and its arguments."""
    if params is None:
        return _ACTIVATION_CODES[name], None
    code, numbers = activation_kernel(name, params)
    return code, np.array(numbers + (0.0,), dtype=np.float64)

_SPARSE = "sparse_categorical_crossentropy"


def _loss_codes(loss) -> tuple:
    """The arguments of _losses.pxd's ``make_loss`` for a checked ``LossSpec``."""
    return (
        LOSSES.index(loss.name),
        bool(loss.from_logits),
        REDUCTION_CODES[loss.reduction],
        float(loss.label_smoothing),
        float(loss.delta),
        loss.ignore_class if loss.name == _SPARSE else None,
    )

# NetworkCore is the Network of this backend; registering keeps its calls free
# of a Python subclass's attribute lookups.
Network.register(NetworkCore)


def _split_targets(sparse: bool, y_true):
    """The kernels take dense targets and int labels as two arguments, one of them None."""
    return (None, y_true) if sparse else (y_true, None)


class CythonOps(Ops):
    """Compiled kernels; ``base.Ops`` checks the arguments and documents each method."""

    name = "cython"

    def _dense_forward(self, x, kernel, bias, activation, z_out, a_out) -> None:
        _kernels.dense_forward(x, kernel, bias, _ACTIVATION_CODES[activation], z_out, a_out)

    def _dense_backward(
        self, x, kernel, z, a, grad_a, activation, grad_z_out, grad_kernel_out, grad_bias_out, grad_x_out
    ) -> None:
        act = _ACTIVATION_CODES[activation]
        _kernels.dense_backward(x, kernel, z, a, grad_a, act, grad_z_out, grad_kernel_out, grad_bias_out, grad_x_out)

    def _activation_forward(self, activation, z, out, params=None) -> None:
        _kernels.activation_forward(z, out, *_activation_kernel(activation, params))

    def _activation_backward(self, activation, z, a, grad_a, out, params=None) -> None:
        _kernels.activation_backward(z, a, grad_a, out, *_activation_kernel(activation, params))

    def _loss_value(self, loss, y_true, y_pred, sample_weight=None) -> float:
        y, labels = _split_targets(loss.name == _SPARSE, y_true)
        return _kernels.loss_value(y_pred, y, labels, _loss_codes(loss), sample_weight)

    def _loss_gradient(self, loss, y_true, y_pred, out) -> None:
        y, labels = _split_targets(loss.name == _SPARSE, y_true)
        _kernels.loss_gradient(y_pred, y, labels, out, _loss_codes(loss))

    def _output_gradient(self, loss, activation, y_true, z, a, out, sample_weight=None) -> float:
        y, labels = _split_targets(loss.name == _SPARSE, y_true)
        return _kernels.output_gradient(z, a, y, labels, out, _loss_codes(loss), _ACTIVATION_CODES[activation],
                                        sample_weight)

    def _metric_value(self, metric, y_true, y_pred) -> float:
        y, labels = _split_targets(metric.name in SPARSE_METRICS, y_true)
        return _kernels.metric_value(y_pred, y, labels, METRIC_CODES[metric.name], metric.param)

    def _sgd_update(self, param, grad, velocity, learning_rate, momentum, nesterov) -> None:
        # the optimizer kernels of the fused step; they may overwrite the gradient (clipping), hence the copy
        slots = [[velocity]] if momentum != 0 else [[]]
        spec = _sgd_spec(learning_rate, momentum, nesterov)
        _kernels.optimizer_apply(spec, [param], [grad.copy()], slots, 0, np.zeros(0))

    # -------------------------------------------------------------- networks
    def build_network(self, stages: Sequence[StageSpec], input_shape, dtype, output_shape=None) -> NetworkCore:
        return NetworkCore(stages, input_shape, dtype, output_shape=output_shape)
