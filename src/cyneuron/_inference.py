"""Prediction paths of a model: ``predict``, ``predict_on_batch`` and ``model(x, training=...)``.
``InferenceMixin`` is mixed into ``Sequential``.

With the compiled extension, the three public methods are ``cyneuron._network``'s ``model_predict``,
``model_predict_on_batch`` and ``model_call``: for an input that needs no conversion they are one compiled call
into the network's ``fast_predictor`` (the values still checked), and otherwise they call the general paths
here (``_predict``, ``_predict_on_batch``, ``_call``), as the pure-Python methods below do.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from cyneuron._data import BatchSource, is_batch_source
from cyneuron._progbar import Progbar, check_verbose
from cyneuron._training import _batch_size, _callback_list


class InferenceMixin:
    """predict / predict_on_batch / __call__ for ``Sequential`` (see there for the model state)."""

    # ================================================================ predict
    def predict(self, x, batch_size: int | None = None, verbose=0, callbacks=None) -> np.ndarray:
        """Outputs for inputs ``x`` ``(n, features...)``: an array ``(n, *output_shape[1:])`` of the model dtype.

        Args:
            x: array-like of any real dtype (converted once to the model dtype).
            batch_size: rows per forward pass (default 32).
            verbose: 0 (default), 1 or 2 / "auto" for a progress bar.
            callbacks: optional callbacks receiving the predict hooks.
        """
        return self._predict(x, batch_size, verbose, callbacks)

    def _wait_or_refuse_predict(self) -> None:
        """The network lock is taken: refused while another thread trains or evaluates the model (a step may
        hold the lock for a whole epoch); otherwise the holder is reading the model (``get_weights``, a save)
        or predicting, briefly: wait for it, then hold the lock."""
        if self._calls and self._calls_thread != threading.get_ident():
            self._refuse_predict()
        self._net_lock.acquire()

    def _refuse_predict(self) -> None:
        raise RuntimeError(
            "predict: this model's network is being used by another thread (a training or evaluation step, "
            "or another predict); predict between steps (e.g. from a callback), or use one model per thread"
        )

    def _network_predict(self, network, inputs: np.ndarray, batch_size: int) -> np.ndarray:
        """``network.predict`` unless another thread is inside a network call: then RuntimeError, never a wait."""
        lock = self._net_lock
        if not lock.acquire(False):
            self._wait_or_refuse_predict()
        try:
            out = network.predict(inputs, batch_size)
        finally:
            lock.release()
        return out if self._units else out.reshape(out.shape[0], *self._out_shape)

    def _predict(self, x, batch_size, verbose, callbacks) -> np.ndarray:
        batch_size = _batch_size(batch_size)
        verbose = check_verbose(verbose)
        if is_batch_source(x):
            return self._predict_source(x, verbose, callbacks)
        if (
            type(x) is np.ndarray
            and x.dtype.kind in "biuf"
            and x.ndim == 2
            and x.shape[1] == self._fast_dim
            and x.shape[0]
            and self._network is not None
            and not self._indices
        ):
            # Right shape, other dtype or layout (e.g. float64 rows): one conversion; the network checks the values.
            inputs = np.ascontiguousarray(x, dtype=self._dtype)
        else:
            inputs = self._prepare_x(x, check_finite=False)
        network = self._get_network()
        if verbose == 0 and callbacks is None:
            return self._network_predict(network, inputs, batch_size)
        n = inputs.shape[0]
        steps = math.ceil(n / batch_size)
        cbs = _callback_list(callbacks, self, add_history=False)
        cbs.set_params({"verbose": verbose, "epochs": 1, "steps": steps})
        hooks = cbs.needs_predict_batch_hooks
        bar = Progbar(steps, verbose) if verbose else None
        cbs.on_predict_begin(None)
        out = np.empty((n, *self._out_shape), dtype=self._dtype)
        if not hooks and (bar is None or not bar._dynamic):
            out[...] = self._network_predict(network, inputs, batch_size)
        else:
            for step, start in enumerate(range(0, n, batch_size)):
                if hooks:
                    cbs.on_predict_batch_begin(step, None)
                out[start : start + batch_size] = self._network_predict(
                    network, inputs[start : start + batch_size], batch_size
                )
                if hooks:
                    cbs.on_predict_batch_end(step, {"outputs": out[start : start + batch_size]})
                if bar is not None:
                    if step == 0:
                        bar.first_step_done()
                    bar.update(step + 1)
        cbs.on_predict_end(None)
        if bar is not None:
            bar.update(steps, None, finalize=True)
        return out

    def _predict_source(self, data, verbose, callbacks) -> np.ndarray:
        """Outputs for every batch of a batch source, concatenated; batches may be x or (x, y[, w])."""
        source = BatchSource(data, None, "x")
        cbs = _callback_list(callbacks, self, add_history=False)
        cbs.set_params({"verbose": verbose, "epochs": 1, "steps": source.steps})
        bar = Progbar(source.steps, verbose) if verbose else None
        cbs.on_predict_begin(None)
        outputs = []
        for step, (bx, _, _) in enumerate(source.epoch()):
            cbs.on_predict_batch_begin(step, None)
            inputs = self._prepare_x(bx, "x batch", check_finite=False)
            outputs.append(self._network_predict(self._get_network(), inputs, inputs.shape[0]))
            cbs.on_predict_batch_end(step, {"outputs": outputs[-1]})
            if bar is not None:
                bar.update(step + 1)
        cbs.on_predict_end(None)
        if not outputs:
            raise ValueError("x: the data yielded no batch")
        if bar is not None:
            bar.update(len(outputs), None, finalize=True)
        return np.concatenate(outputs)

    def predict_on_batch(self, x) -> np.ndarray:
        """Outputs for one batch ``x`` (as ``keras.Model.predict_on_batch``)."""
        return self._predict_on_batch(x)

    def _predict_on_batch(self, x) -> np.ndarray:
        inputs = self._prepare_x(x, check_finite=False)
        return self._network_predict(self._get_network(), inputs, inputs.shape[0])

    def __call__(self, x, training: bool = False) -> np.ndarray:
        """``model(x)``: the outputs for ``x`` as an array ``(n, units)``.

        ``training=True`` runs the layers in training mode, as Keras does: Dropout drops, and
        BatchNormalization normalises with the batch's statistics and updates its moving ones.
        """
        return self._call(x, training)

    def _call(self, x, training) -> np.ndarray:
        from cyneuron._functional import is_symbolic
        from cyneuron.layers.base import _run_stages
        from cyneuron.utils import _check_bool

        if is_symbolic(x):
            raise NotImplementedError(
                "Calling a model on a symbolic input (a model used as a layer of another model) is not available "
                "in cyneuron; add the model's layers to the outer model instead"
            )
        if not _check_bool(training, "training"):
            return self.predict(x)
        inputs = self._prepare_x(x)
        self._get_network()  # the model can run
        out = _run_stages(self._stage_specs(), self._features, inputs, True, self._dtype)
        return out if self._units else out.reshape(out.shape[0], *self._out_shape)


def new_net_lock():
    """A model's network lock: ``cyneuron._network.ModelLock`` (which the fast predictor takes in one C call),
    or ``threading.RLock`` (the same semantics) without the compiled extension."""
    return _ModelLock()


try:
    from cyneuron._network import ModelLock as _ModelLock
    from cyneuron._network import model_call, model_predict, model_predict_on_batch
except ImportError:  # no compiled extension: the numpy backend, no fast predictor
    _ModelLock = threading.RLock
else:
    for _name, _method in (
        ("predict", model_predict),
        ("predict_on_batch", model_predict_on_batch),
        ("__call__", model_call),
    ):
        _method.__name__, _method.__qualname__ = _name, f"InferenceMixin.{_name}"
        setattr(InferenceMixin, _name, _method)
