"""``compile`` and the compiled metrics of a model (``CompileMixin``, mixed into ``Sequential``).

A compiled metric runs in one of two places (``metrics.resolve`` decides):
- inside the compiled training step (per-sample metrics with the step's options): its running sum is one of
  the network's ``stats`` after the loss;
- in Python (stateful metrics such as ``Precision`` / ``AUC``, per-sample metrics with other options, metric
  functions, every ``weighted_metrics`` entry): the metric object is updated once per batch from the step's
  training-mode output (``Network.last_batch``) or, when evaluating, from the inference output. Only a model
  that compiles such a metric pays for it; otherwise a step stays one network call.
"""

from __future__ import annotations

import numpy as np

from cyneuron import losses as _losses
from cyneuron import metrics as _metrics
from cyneuron import optimizers as _optimizers
from cyneuron._training import _DEFAULT_BATCH_SIZE


class CompileMixin:
    """compile / compile configs / compiled-metric bookkeeping for ``Sequential`` (see there for the state)."""

    # ================================================================ compile
    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        loss_weights=None,
        metrics=None,
        weighted_metrics=None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile="auto",
        auto_scale_loss: bool = True,
    ) -> None:
        """Configure training, with Keras 3's arguments.

        Args:
            optimizer: a name (``"rmsprop"``, Keras' default, ``"adam"``, ``"sgd"`` ...), a config or an instance.
            loss: a loss name (``"mse"``, ``"sparse_categorical_crossentropy"`` ...), class or instance.
            loss_weights: None (a single-output model has nothing to weight).
            metrics: list of metric names (``"accuracy"`` ...), classes, instances or functions; unweighted
                (sample and class weights weight the loss only), as in Keras 3.
            weighted_metrics: list of metrics as ``metrics``, updated with each batch's sample weights (from
                ``sample_weight=``, ``class_weight=``, a batch source's third element, ``validation_data``'s
                third element; unweighted when there are none). A name already taken by ``metrics`` is logged
                as ``weighted_<name>``, as Keras.
            run_eagerly, jit_compile, auto_scale_loss: accepted for compatibility; every training step is one
                compiled call whatever they say.
            steps_per_execution: accepted (an int >= 1); each step is already a single compiled call.
        """
        self._refuse_during_calls("compile")
        if loss_weights is not None:
            raise ValueError("loss_weights: a cyneuron model has one output; leave loss_weights=None")
        if weighted_metrics is not None and not isinstance(weighted_metrics, (list, tuple, dict)):
            raise ValueError(
                "Expected `weighted_metrics` argument to be a list, tuple, or dict. Received instead: "
                f"weighted_metrics={weighted_metrics} of type {type(weighted_metrics)}"
            )
        from cyneuron.utils import _check_bool, _check_int

        _check_bool(run_eagerly, "run_eagerly")
        _check_bool(auto_scale_loss, "auto_scale_loss")
        _check_int(steps_per_execution, "steps_per_execution", 1)
        if jit_compile not in ("auto", True, False):
            raise ValueError(f"jit_compile: expected 'auto', True or False, got {jit_compile!r}")
        new_optimizer = _optimizers.get(optimizer)
        spec = None if loss is None else _losses.to_spec(loss)
        metric_ids = _metrics.check_identifiers(metrics)
        weighted_ids = _metrics.check_identifiers(weighted_metrics, "weighted_metrics")
        with self._lock:
            if self._network is not None and new_optimizer is not self.optimizer:
                # A new optimizer starts from fresh slots and step count, as a fresh Keras optimizer does.
                self._invalidate()
            self.optimizer = new_optimizer
            self.loss = loss
            self._loss_spec = spec
            self._metric_ids = metric_ids
            self._weighted_ids = weighted_ids
            self._set_compiled_metrics([])
            self._metrics_key = None
            self._prepared = None
            self.compiled = True
            self.stop_training = False

    def get_compile_config(self) -> dict | None:
        """JSON-able compile arguments (None when not compiled), for saving."""
        if not self.compiled:
            return None
        config = {
            "optimizer": _optimizers.serialize(self.optimizer),
            "loss": None if self.loss is None else _losses.serialize(self.loss),
            "metrics": [_metrics.serialize(m) for m in self._metric_ids],
        }
        if self._weighted_ids:
            config["weighted_metrics"] = [_metrics.serialize(m) for m in self._weighted_ids]
        return config

    def compile_from_config(self, config: dict) -> None:
        """Compile from ``get_compile_config()``'s output (also accepts Keras' compile configs at neutral values)."""
        if not isinstance(config, dict):
            raise TypeError(f"config: expected a dict, got {type(config).__name__}")
        for key, neutral in (("loss_weights", None), ("steps_per_execution", 1)):
            if config.get(key, neutral) != neutral:
                raise ValueError(f"compile config: {key}={config[key]!r} is not supported")
        optimizer = config.get("optimizer", "sgd")
        optimizer = _optimizers.deserialize(optimizer) if isinstance(optimizer, dict) else optimizer
        loss = config.get("loss")
        loss = _losses.deserialize(loss) if isinstance(loss, dict) else loss
        metrics = config.get("metrics")
        metrics = None if metrics is None else [_metrics.deserialize(m) for m in metrics]
        weighted = config.get("weighted_metrics")
        weighted = None if weighted is None else [_metrics.deserialize(m) for m in weighted]
        self.compile(optimizer=optimizer, loss=loss, metrics=metrics, weighted_metrics=weighted)

    @property
    def metrics_names(self) -> list[str]:
        return ["loss", *self._metric_names]

    def _require_compiled(self, method: str) -> None:
        if not self.compiled:
            raise ValueError(f"You must call compile() before using the model ({method}).")
        if self._loss_spec is None:
            raise ValueError(f"{method}: no loss to compute; provide a `loss` argument in compile()")
        for layer in self._layers:
            activity = getattr(layer, "activity_regularizer", None)
            for regularizer in [r for _, r in layer.regularized_weights()] + ([activity] if activity else []):
                if regularizer._factors() is None:
                    raise ValueError(
                        f"{method}: layer {layer.name!r} has a {type(regularizer).__name__}, which cyneuron's "
                        "training step does not apply (it supports L1, L2 and L1L2)"
                    )

    # ================================================================ compiled metrics
    def _set_compiled_metrics(self, compiled: list) -> None:
        self._compiled_metrics = compiled
        self._metric_names = [m.name for m in compiled]
        # where each metric's value comes from: its index in the network's stats, or -1 (a Python metric)
        slots, k = [], 0
        for m in compiled:
            k += m.spec is not None
            slots.append(k if m.spec is not None else -1)
        self._metric_slots = slots
        self._python_metrics = [(m.obj, m.weighted) for m in compiled if m.spec is None]

    def _resolve_metrics(self, y_shape: tuple) -> tuple:
        """Resolve the compiled metrics for targets of ``y_shape`` (as the user gave them); returns the specs the
        network computes in its step."""
        # the same metric objects while nothing they depend on changes (a callback's evaluate during a fit
        # shares the fit's objects, as in Keras)
        units = self._out_shape[-1]
        if self._units == 0:  # per-step targets (an output of rank >= 3): the metrics see loss rows, as the loss
            y_shape = (y_shape[0] * self._loss_steps, *y_shape[len(self._out_shape) :])
        key = (len(y_shape), y_shape[-1] if y_shape else 1, units, self._loss_spec.name)
        if self._metrics_key != key:
            compiled = _metrics.resolve(self._metric_ids, y_shape, units, self._loss_spec.name, self._weighted_ids)
            self._set_compiled_metrics(compiled)
            self._metrics_key = key
        return tuple(m.spec for m in self._compiled_metrics if m.spec is not None)

    def _finish_values(self, means) -> list:
        """Logged values: the loss, then each compiled metric in order: from the network's means (``means``: the
        loss then the in-step metrics; RMSE is the root of the mean) or the Python metric's result (a float, or
        an array for a metric with one result per threshold or class)."""
        loss = float(means[0])
        values = [loss]
        python = iter(self._python_metrics)
        for m, slot in zip(self._compiled_metrics, self._metric_slots):
            if slot >= 0:
                value = float(means[slot]) if slot < len(means) else float("nan")
                values.append(float(np.sqrt(value)) if m.sqrt else value)
            else:
                result = np.asarray(next(python)[0].result())
                values.append(float(result) if result.ndim == 0 else result)
        return values

    def _flat_results(self, logs: dict):
        """``logs`` as the list evaluate / train_on_batch / test_on_batch return, in Keras 3's order (its
        ``_flatten_metrics_in_order``): the loss and each metric by the name it was compiled under (before
        de-duplication, so a repeated name repeats its first value), then the other keys sorted; a lone
        value is returned bare."""
        names = ["loss", *(m.given for m in self._compiled_metrics)]
        results = [logs[name] for name in names if name in logs]
        results += [logs[key] for key in sorted(logs) if key not in names]
        return results[0] if len(results) == 1 else results

    def _reset_metric_objects(self) -> None:
        for obj, _ in self._python_metrics:
            obj.reset_state()

    def _update_metric_objects(self, y_pred, y_true, weights) -> None:
        """One batch into the Python-side metrics (``weights``: the batch's sample weights or None)."""
        for obj, weighted in self._python_metrics:
            obj.update_state(y_true, y_pred, sample_weight=weights if weighted else None)

    def _ensure_prepared(self, network, canonical: tuple, batch_size: int | None) -> None:
        """``prepare_training`` only when the loss, metrics or training batch size change (it allocates)."""
        key = self._prepared
        same = key is not None and key[0] is network and key[1] == self._loss_spec and key[2] == canonical
        if same and (batch_size is None or key[3] == batch_size):
            return
        size = batch_size if batch_size is not None else (key[3] if key is not None else _DEFAULT_BATCH_SIZE)
        outer = [call for call in self._calls[:-1] if call in ("fit", "train_on_batch")]
        if outer:
            # preparing again frees the workspaces and data the outer training loop is using
            raise RuntimeError(
                f"{self._calls[-1]}: called from inside this model's own {outer[-1]}() with targets that need other "
                f"metrics than the training's; call it after {outer[-1]}() returns, or with targets shaped like the "
                "training targets"
            )
        with self._net_lock:
            network.prepare_training(self._loss_spec, canonical, self.optimizer.spec, size)
        self._prepared = (network, self._loss_spec, canonical, size)
