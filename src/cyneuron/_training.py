"""Training and evaluation loops of a model: ``fit``, ``evaluate``, ``train_on_batch``, ``test_on_batch``.

``TrainingMixin`` is mixed into ``Sequential``: it drives the model's built backend ``Network``
(validation once per call, then one ``train_batch`` call per step, plus logs only when a callback
or a live progress bar needs them).
"""

from __future__ import annotations

import math
import time
import types
import warnings

import numpy as np

from cyneuron import _threads
from cyneuron import config as _config
from cyneuron._data import BatchSource, is_batch_source
from cyneuron._progbar import Progbar, check_verbose
from cyneuron._sample_weights import _check_class_weight, _class_weight_rows, _no_both, _sample_weights
from cyneuron.backend.base import accumulate
from cyneuron.utils import _as_array, _check_int

_DEFAULT_BATCH_SIZE = 32


def _callback_list(callbacks, model, add_history: bool):
    from cyneuron.callbacks import CallbackList

    return CallbackList(callbacks, model=model, add_history=add_history)


def _batch_size(value, name: str = "batch_size") -> int:
    return _DEFAULT_BATCH_SIZE if value is None else _check_int(value, name, 1)


def _must_be_none(**kwargs) -> None:
    for key, value in kwargs.items():
        if value is not None:
            raise ValueError(f"{key}: not supported by cyneuron (only None)")


class TrainingMixin:
    """fit / evaluate / train_on_batch / test_on_batch for ``Sequential`` (see there for the model state)."""

    # ================================================================ evaluate
    def evaluate(
        self,
        x=None,
        y=None,
        batch_size: int | None = None,
        verbose="auto",
        sample_weight=None,
        steps=None,
        callbacks=None,
        return_dict: bool = False,
    ):
        """Loss and metrics of the model on ``x``, ``y``, averaged over samples.

        Returns:
            the loss (a float) when no metrics were compiled, else ``[loss, *metrics]`` in compile order,
            or a dict ``{name: value}`` with ``return_dict=True``.
        """
        self._require_compiled("evaluate")
        if steps is not None:
            steps = _check_int(steps, "steps", 1)
        batch_size = _batch_size(batch_size)
        verbose = check_verbose(verbose)
        if not isinstance(return_dict, (bool, np.bool_)):
            raise TypeError(f"return_dict: expected a bool, got {type(return_dict).__name__}")
        source = None
        if is_batch_source(x):
            if y is not None:
                raise ValueError("y: not accepted when x is a dataset, generator or PyDataset")
            if sample_weight is not None:
                raise ValueError(
                    "sample_weight: not accepted when x is a dataset, generator or PyDataset "
                    "(yield (x, y, sample_weight) batches instead)"
                )
            source = BatchSource(x, steps, "x")
        elif steps is not None:
            raise ValueError("steps: only supported when x is a dataset, generator or PyDataset")
        self._acquire("evaluate")
        try:
            if source is not None:
                first = source.peek()
                inputs, targets, y_shape = self._prepare_xy(first[0], first[1], "x batch x", "x batch y")
                weights = None
            else:
                inputs, targets, y_shape = self._prepare_xy(x, y)
                weights = _sample_weights(sample_weight, inputs.shape[0], self._dtype, steps=self._loss_steps)
            canonical = self._resolve_metrics(y_shape)
            network = self._get_network()
            self._ensure_prepared(network, canonical, None)
            steps_total = math.ceil(inputs.shape[0] / batch_size) if source is None else source.steps
            cbs = _callback_list(callbacks, self, add_history=False)
            cbs.set_params({"verbose": verbose, "epochs": 1, "steps": steps_total})
            bar = Progbar(steps_total, verbose) if verbose else None
            cbs.on_test_begin(None)
            keys = ["loss", *self._metric_names]
            if source is not None:
                values = self._run_test_source(network, source, cbs, bar, keys)
            else:
                values = self._run_test(network, inputs, targets, batch_size, cbs, bar, keys, weights)
            logs = {key: values[i] for key, i in sorted(zip(keys, range(len(keys))))}
            cbs.on_test_end(logs)
            if bar is not None:
                bar.update(steps_total or 0, logs, finalize=True)
        finally:
            self._release()
        if return_dict:
            return logs
        return self._flat_results(logs)

    def _run_test(self, network, inputs, targets, batch_size, cbs, bar, keys, weights=None) -> list[float]:
        """Mean loss and metrics over all rows, one network call unless hooks or a live bar need batches.
        With sample ``weights`` the loss is Keras' weighted one (sum of weight * loss over the rows / rows)."""
        hooks = cbs.needs_test_batch_hooks
        python = bool(self._python_metrics)
        self._reset_metric_objects()
        n = inputs.shape[0]
        if not hooks and (bar is None or not bar._dynamic):
            with self._net_lock:
                values = network.evaluate(inputs, targets, batch_size, weights, finite_checked=True)
                outputs = network.predict(inputs, batch_size) if python else None
            if python:
                for start in range(0, n, batch_size):
                    stop = start + batch_size
                    self._update_metric_objects(
                        outputs[start:stop], targets[start:stop], None if weights is None else weights[start:stop]
                    )
            return self._finish_values(values)
        sums = np.zeros(len(network.stats))
        for step, start in enumerate(range(0, n, batch_size)):
            stop = min(start + batch_size, n)
            if hooks:
                cbs.on_test_batch_begin(step, None)
            batch_weights = None if weights is None else weights[start:stop]
            with self._net_lock:
                values = network.evaluate(
                    inputs[start:stop], targets[start:stop], batch_size, batch_weights, finite_checked=True
                )
                if python:
                    self._update_metric_objects(
                        network.predict(inputs[start:stop], batch_size), targets[start:stop], batch_weights
                    )
            accumulate(sums, values * (stop - start), self._dtype)
            if hooks or bar is not None:
                means = self._finish_values(sums / stop)
                logs = {key: means[i] for key, i in sorted(zip(keys, range(len(keys))))}
                if hooks:
                    cbs.on_test_batch_end(step, logs)
                if bar is not None:
                    if step == 0:
                        bar.first_step_done()
                    bar.update(step + 1, logs)
        return self._finish_values(sums / n)

    def test_on_batch(self, x, y, sample_weight=None, return_dict: bool = False):
        """Loss (and metrics) on one batch, without updating the weights."""
        self._require_compiled("test_on_batch")
        # One batch of all rows: the row count comes from the converted array, so None or a scalar is
        # reported against x like in evaluate.
        inputs = _as_array(x, "x")
        if inputs.ndim == 0:
            raise ValueError("x: expected shape (samples, features...), got a scalar")
        return self.evaluate(
            inputs,
            y,
            batch_size=max(1, inputs.shape[0]),
            verbose=0,
            return_dict=return_dict,
            sample_weight=sample_weight,
        )

    # ================================================================ fit
    def fit(
        self,
        x=None,
        y=None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose="auto",
        callbacks=None,
        validation_split: float = 0.0,
        validation_data=None,
        shuffle: bool = True,
        class_weight=None,
        sample_weight=None,
        initial_epoch: int = 0,
        steps_per_epoch=None,
        validation_steps=None,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
    ):
        """Train with SGD for ``epochs`` passes over ``x``, ``y``; returns the ``History``.

        Args:
            x: inputs ``(n, features...)``; y: targets for the compiled loss (class labels ``(n,)`` for
                sparse categorical cross-entropy, ``(n, units)`` rows otherwise).
            batch_size: samples per update (default 32); the last, smaller batch is used, not dropped.
            epochs: index of the final epoch (training runs epochs ``initial_epoch .. epochs - 1``).
            verbose: 0 silent, 1 progress bar, 2 one line per epoch, "auto" = 1.
            callbacks: list of ``cyneuron.callbacks.Callback``.
            validation_split: fraction in ``[0, 1)`` of the data, taken from the end before shuffling, held out
                for validation (as Keras). ``validation_data=(x_val, y_val)`` overrides it.
            shuffle: reshuffle the training samples before each epoch (seeded by ``utils.set_random_seed``);
                with ``shuffle=False`` batches are taken in order.
            validation_batch_size: batch size of the validation pass (default ``batch_size``).
            validation_freq: validate every this many epochs.
            steps_per_epoch: batches per epoch when x is a generator or dataset (default: all it yields).
            sample_weight: per-sample weights (n,) or (n, 1), finite and >= 0 (arrays only; a batch source
                yields ``(x, y, sample_weight)`` batches instead). The loss of a batch becomes Keras'
                ``sum(w * loss) / batch_size`` (zero weights still count in the divisor), so the logged loss is
                ``sum(w * loss) / samples``; ``metrics=`` stay unweighted and ``weighted_metrics=`` see the
                weights, as in Keras 3.
            class_weight: dict {class index: weight}, turned into per-sample weights by each training row's
                class (its int label, the arg-max of a one-hot row, the rounded (n, 1) target; unlisted classes
                weigh 1), as Keras; not together with sample_weight, not for Python generators; validation is
                not class-weighted.
            validation_data: ``(x_val, y_val)`` or ``(x_val, y_val, val_sample_weight)``, or a batch source.
            validation_steps: must be None (not supported yet).

        ``x`` may also be a batch source — a generator or iterable of ``(x, y)`` batches, a ``PyDataset``,
        or a dataset from ``cyneuron.utils`` — with ``y`` None; ``validation_data`` likewise.

        Logs hold the loss and each metric averaged over the epoch's samples (measured before each update,
        as Keras), then ``val_`` entries. If a step produces a non-finite loss or gradient, training stops
        with a printed message and a ``RuntimeWarning``; the weights are those from before that step and the
        History holds the completed epochs and then the stopped one (its running loss, not finite). On
        ``KeyboardInterrupt`` the model keeps the weights of the last completed step, ``model.history`` holds
        the History so far, and the interrupt propagates.

        Thread safety: a model can be trained or evaluated by one thread at a time; a concurrent ``fit`` /
        ``evaluate`` from another thread raises ``RuntimeError`` instead of corrupting the training state.
        ``predict`` from another thread while training is either served (between steps, e.g. while a
        callback runs) or refused with ``RuntimeError`` (during a step), never corrupted; it never aborts
        the training: a step that needs the network while another thread's ``predict`` is inside it waits
        for that predict to finish. ``get_weights``, ``set_weights`` and saving from another thread wait for
        the step in progress (without per-batch callbacks, the epoch in progress) and see the state between
        two steps. From this model's own callbacks, ``evaluate``, ``predict``, ``get_weights`` and saving are
        served; ``fit``, ``train_on_batch``, ``compile``, ``add`` and ``pop`` raise ``RuntimeError`` naming
        the call. Random draws come from the calling thread's generator (see ``cyneuron.config``).
        ``callbacks.BackupAndRestore`` makes a fit resumable after a crash or a kill.
        """
        self._require_compiled("fit")
        _must_be_none(validation_steps=validation_steps)
        _no_both(sample_weight, class_weight)
        class_weight = _check_class_weight(class_weight)
        if steps_per_epoch is not None:
            steps_per_epoch = _check_int(steps_per_epoch, "steps_per_epoch", 1)
        batch_size = _batch_size(batch_size)
        epochs = _check_int(epochs, "epochs", 0)
        initial_epoch = _check_int(initial_epoch, "initial_epoch", 0)
        verbose = check_verbose(verbose)
        validation_batch_size = _batch_size(
            validation_batch_size if validation_batch_size is not None else batch_size, "validation_batch_size"
        )
        validation_freq = _check_int(validation_freq, "validation_freq", 1)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle: expected a bool, got {type(shuffle).__name__} {shuffle!r}")
        if isinstance(validation_split, (bool, np.bool_)) or not isinstance(
            validation_split, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"validation_split: expected a float, got {type(validation_split).__name__}")
        if not 0.0 <= float(validation_split) < 1.0:
            raise ValueError(f"validation_split: expected a float in [0, 1), got {validation_split}")
        validation_split = float(validation_split)

        self._acquire("fit")
        try:
            return self._fit(
                x,
                y,
                batch_size,
                epochs,
                verbose,
                callbacks,
                validation_split,
                validation_data,
                bool(shuffle),
                initial_epoch,
                validation_batch_size,
                validation_freq,
                steps_per_epoch,
                sample_weight,
                class_weight,
            )
        finally:
            self._release()

    def _fit_data(self, x, y, validation_split, validation_data, sample_weight=None, class_weight=None):
        inputs, targets, y_shape = self._prepare_xy(x, y)
        weights = _sample_weights(sample_weight, inputs.shape[0], self._dtype, steps=self._loss_steps)
        val = self._validation(validation_data)
        if val is None and validation_split > 0:
            n = inputs.shape[0]
            split_at = int(math.floor(n * (1.0 - validation_split)))
            if split_at == 0 or split_at == n:
                raise ValueError(
                    f"validation_split: the training data has {n} samples, which is not enough to split into "
                    f"training and validation sets with validation_split={validation_split}"
                )
            # as Keras, the sample weights split with the rows (class weights apply to the training part only)
            val = (inputs[split_at:], targets[split_at:], None if weights is None else weights[split_at:])
            inputs, targets = inputs[:split_at], targets[:split_at]
            weights = None if weights is None else weights[:split_at]
        if class_weight is not None:
            weights = _class_weight_rows(class_weight, targets, self._dtype, y_shape)
        return inputs, targets, y_shape, val, weights

    def _validation(self, validation_data):
        """``validation_data`` as arrays ``(x, y, weights or None)`` or a ``BatchSource``; None when not given."""
        if validation_data is None:
            return None
        if is_batch_source(validation_data):
            return BatchSource(validation_data, None, "validation_data")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError(
                "validation_data: expected a tuple (x_val, y_val) or (x_val, y_val, val_sample_weight), "
                f"got {type(validation_data).__name__}"
            )
        val_x, val_y, _ = self._prepare_xy(
            validation_data[0], validation_data[1], "validation_data[0]", "validation_data[1]"
        )
        val_w = None
        if len(validation_data) == 3:
            val_w = _sample_weights(
                validation_data[2], val_x.shape[0], self._dtype, "validation_data[2]", steps=self._loss_steps
            )
        return val_x, val_y, val_w

    def _source_batch(self, batch, name: str = "x", class_weight=None):
        """One (x, y, sample_weight) batch of a batch source, validated and converted: (x, y, weights or None).
        ``class_weight`` (training only) gives the weights of a batch that has none."""
        bx, by, weights = batch
        if by is None:
            raise ValueError(f"{name}: expected batches (x, y) with targets, got batches without y")
        if weights is None and class_weight is None and self._ready_batch(bx, by):
            return bx, by, None
        inputs, targets, y_shape = self._prepare_xy(bx, by, f"{name} batch x", f"{name} batch y")
        if weights is not None:
            if class_weight is not None:
                raise ValueError(
                    f"class_weight: cannot be given when the {name} batches hold sample weights (as in Keras)"
                )
            weights = _sample_weights(
                weights, inputs.shape[0], self._dtype, f"{name} batch sample_weight", steps=self._loss_steps
            )
        elif class_weight is not None:
            weights = _class_weight_rows(class_weight, targets, self._dtype, y_shape)
        return inputs, targets, weights

    def _ready_batch(self, bx, by) -> bool:
        """Whether a batch can go to the network as it is (the usual generator batch: C-contiguous arrays of
        the model's types and shapes, finite); anything else takes ``_prepare_xy``, which converts it or words
        the error. A few array checks instead of the general path's dozen."""
        if (
            type(bx) is not np.ndarray
            or type(by) is not np.ndarray
            or bx.ndim != 2
            or bx.shape[1] != self._fast_dim
            or bx.dtype != self._dtype
            or not bx.flags.c_contiguous
            or not 0 < by.shape[0] == bx.shape[0]
            or self._indices
        ):
            return False
        sparse = self._loss_spec.name == "sparse_categorical_crossentropy"
        if sparse:
            # the labels' range is checked label by label by the step's gather (a ValueError naming y)
            if by.ndim != 1 or by.dtype != np.int64 or not by.flags.c_contiguous:
                return False
            if self._loss_spec.ignore_class is not None:
                return False
        elif by.ndim != 2 or by.shape[1] != self._units or by.dtype != self._dtype or not by.flags.c_contiguous:
            return False
        # a finite sum means no NaN or infinity (either would make it NaN or infinite); float32 data summed in
        # float64 cannot overflow, and a float64 sum that does takes the general path, which tells the two apart
        if self._dtype == np.float32:
            return math.isfinite(np.add.reduce(bx, axis=None, dtype=np.float64)) and (
                sparse or math.isfinite(np.add.reduce(by, axis=None, dtype=np.float64))
            )
        with np.errstate(over="ignore"):
            return math.isfinite(np.add.reduce(bx, axis=None)) and (
                sparse or math.isfinite(np.add.reduce(by, axis=None))
            )

    def _fit_source(
        self, x, y, validation_split, validation_data, steps_per_epoch, sample_weight, class_weight, shuffle
    ):
        if y is not None:
            raise ValueError("y: not accepted when x is a dataset, generator or PyDataset (batches hold the targets)")
        if sample_weight is not None:
            raise ValueError(
                "sample_weight: not accepted when x is a dataset, generator or PyDataset "
                "(yield (x, y, sample_weight) batches instead)"
            )
        if class_weight is not None and isinstance(x, types.GeneratorType):
            raise ValueError("class_weight: not supported for Python generator inputs (as in Keras)")
        if validation_split:
            raise ValueError("validation_split: only supported for NumPy arrays; pass validation_data instead")
        source = BatchSource(x, steps_per_epoch, "x", shuffle=shuffle)
        first = source.peek()
        if first[1] is None:
            raise ValueError("x: expected batches (x, y) with targets, got batches without y")
        inputs, targets, y_shape = self._prepare_xy(first[0], first[1], "x batch x", "x batch y")
        val = self._validation(validation_data)
        return source, inputs, targets, y_shape, val

    def _fit(
        self,
        x,
        y,
        batch_size,
        epochs,
        verbose,
        callbacks,
        validation_split,
        validation_data,
        shuffle,
        initial_epoch,
        validation_batch_size,
        validation_freq,
        steps_per_epoch=None,
        sample_weight=None,
        class_weight=None,
    ):
        source = None
        weights = None
        if is_batch_source(x):
            source, inputs, targets, y_shape, val = self._fit_source(
                x, y, validation_split, validation_data, steps_per_epoch, sample_weight, class_weight, shuffle
            )
        else:
            if steps_per_epoch is not None:
                raise ValueError("steps_per_epoch: only supported when x is a dataset, generator or PyDataset")
            inputs, targets, y_shape, val, weights = self._fit_data(
                x, y, validation_split, validation_data, sample_weight, class_weight
            )
        canonical = self._resolve_metrics(y_shape)
        self._refresh_trainable()
        network = self._get_network()
        n = inputs.shape[0]
        # Workspaces for the largest batch that can occur: a batch_size above n means one batch of all samples.
        self._ensure_prepared(network, canonical, min(batch_size, n))
        order = np.arange(n, dtype=np.int64)
        net_lock = self._net_lock
        fit_seed = int(_config.random_generator().integers(2**63))
        with net_lock:
            network.bind_training_data(inputs, targets, order, weights, finite_checked=True)
            network.iterations = self.optimizer.iterations
            network.seed = _dropout_seed(fit_seed)
        rng = np.random.default_rng(fit_seed)
        # What a BackupAndRestore callback saves and, from its on_train_begin, asks to resume.
        progress = FitProgress(fit_seed, rng, order, network, resumable=source is None)
        self._fit_progress = progress

        steps = math.ceil(n / batch_size) if source is None else source.steps
        bounds = [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]

        train, train_arrays = network.train_batch, network.train_arrays
        if self._python_metrics:
            train, train_arrays = self._tracked(network, train), self._tracked(network, train_arrays)

        def train_source(batch) -> tuple[bool, int]:
            bx, by, bw = self._source_batch(batch, "x", class_weight)
            return train_arrays(bx, by, bw, finite_checked=True), bx.shape[0]

        keys = ["loss", *self._metric_names]
        ordered = sorted(zip(keys, range(len(keys))))

        def logs_at(seen: int) -> dict:
            stats = network.stats
            means = self._finish_values(stats / seen)
            return {key: means[i] for key, i in ordered}

        cbs = _callback_list(callbacks, self, add_history=True)
        cbs.set_params({"verbose": verbose, "epochs": epochs, "steps": steps})
        self.history = cbs.history
        optimizer = self.optimizer
        optimizer.built = True
        self.stop_training = False
        training_logs: dict = {}
        bar = None
        threads = _threads.FitThreads(network, min(batch_size, n))
        try:
            threads.start()
            cbs.on_train_begin(None)
            first_epoch, skip = initial_epoch, 0
            if progress.resume is not None:
                first_epoch, skip = progress.apply_resume(net_lock, optimizer.iterations)
            for epoch in range(first_epoch, epochs):
                resumed = skip > 0  # the first epoch of a resumed fit, with `skip` batches already done
                with net_lock:
                    network.reset_stats()
                    self._reset_metric_objects()  # (a resumed epoch's Python-side metrics restart here)
                    if resumed:
                        network.stats[...] = progress.resume["stats"]
                cbs.on_epoch_begin(epoch, None)
                if verbose:
                    bar = Progbar(steps, verbose)
                    if epochs > 1:
                        print(f"Epoch {epoch + 1}/{epochs}", flush=True)
                if shuffle and not resumed:
                    rng.shuffle(order)
                    progress.shuffles += 1
                with net_lock:
                    network.set_optimizer(optimizer.spec)
                version = optimizer._version
                hooks = cbs.needs_batch_hooks
                live = bar is not None and verbose == 1 and bar._dynamic
                done = skip  # batches that ran
                failed = False
                if source is not None:
                    threads.epoch()
                    done, seen, failed = self._source_epoch(source, train_source, cbs, hooks, live, bar, logs_at)
                    if source.exhausted:
                        warnings.warn(
                            "Your input ran out of data; interrupting training. Make sure that your dataset or "
                            "generator can generate at least `steps_per_epoch * epochs` batches.",
                            UserWarning,
                            stacklevel=3,
                        )
                        self.stop_training = True
                        optimizer.iterations = network.iterations
                        break
                elif not hooks and not live:
                    # No Python code of the user's runs in this loop: hold the network for the whole epoch.
                    with net_lock:
                        probed, failed = threads.epoch(train, bounds[skip:])  # may time BLAS threads
                        done += probed
                        for start, stop in () if failed else bounds[done:]:
                            if not train(start, stop):
                                failed = True
                                break
                            done += 1
                        optimizer.iterations = network.iterations
                    seen = bounds[done][1] if failed else n
                else:
                    threads.epoch()
                    interval = bar.interval if live else 0.0
                    next_draw = 0.0
                    seen = bounds[skip - 1][1] if skip else 0
                    for step, (start, stop) in enumerate(bounds[skip:], skip):
                        if hooks:
                            cbs.on_train_batch_begin(step, None)
                            if optimizer._version != version:
                                with net_lock:
                                    network.set_optimizer(optimizer.spec)
                                version = optimizer._version
                        with net_lock:
                            ok = train(start, stop)
                            # in step with the weights for a reader (get_weights, save, a backup) between steps
                            optimizer.iterations = network.iterations
                        seen = stop
                        done += 1
                        if hooks:
                            cbs.on_train_batch_end(step, logs_at(stop))
                            if optimizer._version != version:
                                with net_lock:
                                    network.set_optimizer(optimizer.spec)
                                version = optimizer._version
                        if not ok:
                            failed = True
                            done -= 1
                            break
                        if live:
                            now = _now()
                            if step == 0:
                                bar.first_step_done(now)
                            if now >= next_draw:
                                bar.update(step + 1, logs_at(stop))
                                next_draw = now + interval
                        if self.stop_training:
                            break
                skip = 0
                optimizer.iterations = network.iterations
                if failed:
                    self._report_divergence(epoch, epochs, done, steps, logs_at(seen), verbose, bar)
                    # the History holds the epoch that stopped, with its (non-finite) running loss, as
                    # Keras' would hold its NaN epoch; other callbacks get no on_epoch_end for it
                    cbs.history.on_epoch_end(epoch, logs_at(seen) if seen else {"loss": float("nan")})
                    self.stop_training = True
                    break
                epoch_logs = logs_at(seen)
                if val is not None and (epoch + 1) % validation_freq == 0:
                    cbs.on_test_begin(None)
                    if isinstance(val, BatchSource):
                        values = self._run_test_source(network, val, cbs, None, keys)
                    else:
                        values = self._run_test(network, val[0], val[1], validation_batch_size, cbs, None, keys, val[2])
                    val_logs = {key: values[i] for key, i in ordered}
                    cbs.on_test_end(val_logs)
                    epoch_logs.update({f"val_{key}": value for key, value in val_logs.items()})
                cbs.on_epoch_end(epoch, epoch_logs)
                if bar is not None:
                    bar.update(steps if steps is not None else done, epoch_logs, finalize=True)
                training_logs = epoch_logs
                if self.stop_training:
                    break
            cbs.on_train_end(training_logs)
        except BaseException:
            if bar is not None:
                bar.close_line()
            self.history = cbs.history
            raise
        finally:
            threads.restore()
            self._fit_progress = None
        return cbs.history

    def _source_epoch(self, source, train_source, cbs, hooks, live, bar, logs_at) -> tuple[int, int, bool]:
        """One epoch of a batch source; returns (batches that ran, samples seen, whether a step failed)."""
        net_lock, optimizer, network = self._net_lock, self.optimizer, self._network
        version = optimizer._version
        interval = bar.interval if live else 0.0
        next_draw, done, seen = 0.0, 0, 0
        for step, batch in enumerate(source.epoch()):
            if hooks:
                cbs.on_train_batch_begin(step, None)
                if optimizer._version != version:
                    with net_lock:
                        network.set_optimizer(optimizer.spec)
                    version = optimizer._version
            with net_lock:
                ok, rows = train_source(batch)
                optimizer.iterations = network.iterations
            seen += rows
            if hooks:
                cbs.on_train_batch_end(step, logs_at(seen))
                if optimizer._version != version:
                    with net_lock:
                        network.set_optimizer(optimizer.spec)
                    version = optimizer._version
            if not ok:
                return done, seen, True
            done += 1
            if live:
                now = _now()
                if step == 0:
                    bar.first_step_done(now)
                if now >= next_draw:
                    bar.update(step + 1, logs_at(seen))
                    next_draw = now + interval
            if self.stop_training:
                break
        return done, seen, False

    def _run_test_source(self, network, source: BatchSource, cbs, bar, keys) -> list[float]:
        """Mean loss and metrics over every batch of a batch source (weighted by the batch sizes)."""
        hooks = cbs.needs_test_batch_hooks
        sums, seen = np.zeros(len(network.stats)), 0
        self._reset_metric_objects()
        for step, batch in enumerate(source.epoch()):
            if hooks:
                cbs.on_test_batch_begin(step, None)
            bx, by, bw = self._source_batch(batch, source._name)
            with self._net_lock:
                values = network.evaluate(bx, by, bx.shape[0], bw, finite_checked=True)
                if self._python_metrics:
                    self._update_metric_objects(network.predict(bx, bx.shape[0]), by, bw)
            accumulate(sums, values * bx.shape[0], self._dtype)
            seen += bx.shape[0]
            if hooks or bar is not None:
                means = self._finish_values(sums / seen)
                logs = {key: means[i] for key, i in sorted(zip(keys, range(len(keys))))}
                if hooks:
                    cbs.on_test_batch_end(step, logs)
                if bar is not None:
                    if step == 0:
                        bar.first_step_done()
                    bar.update(step + 1, logs)
        if seen == 0:
            raise ValueError(f"{source._name}: the data yielded no batch")
        return self._finish_values(sums / seen)

    def _report_divergence(self, epoch, epochs, done, steps, logs, verbose, bar) -> None:
        message = (
            f"Epoch {epoch + 1}/{epochs}, batch {done + 1}/{steps}: the loss or a gradient is not finite "
            f"(loss: {logs['loss']}). Training stopped; the weights are those from before this step. "
            f"Try a smaller learning_rate (currently {self.optimizer.learning_rate:g}) or rescale the inputs."
        )
        if bar is not None:
            bar.close_line()
        if verbose:
            print(message, flush=True)
        warnings.warn(message, RuntimeWarning, stacklevel=4)

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict: bool = False):
        """One training step on the batch ``x``, ``y``; returns this batch's loss (and metrics), measured
        before the update, as Keras 3.15 does. ``sample_weight`` / ``class_weight`` weight the loss as in ``fit``."""
        self._require_compiled("train_on_batch")
        _no_both(sample_weight, class_weight)
        class_weight = _check_class_weight(class_weight)
        self._acquire("train_on_batch")
        try:
            inputs, targets, y_shape = self._prepare_xy(x, y)
            canonical = self._resolve_metrics(y_shape)
            self._refresh_trainable()
            network = self._get_network()
            n = inputs.shape[0]
            weights = _sample_weights(sample_weight, n, self._dtype, steps=self._loss_steps)
            if class_weight is not None:
                weights = _class_weight_rows(class_weight, targets, self._dtype, y_shape)
            key = self._prepared
            self._ensure_prepared(network, canonical, max(n, key[3] if key else 0))
            with self._net_lock:
                network.bind_training_data(inputs, targets, np.arange(n, dtype=np.int64), weights, finite_checked=True)
                network.set_optimizer(self.optimizer.spec)
                network.iterations = self.optimizer.iterations
                network.seed = _dropout_seed(int(_config.random_generator().integers(2**63)))
                network.reset_stats()
                ok = network.train_batch(0, n)
                self.optimizer.iterations = network.iterations
                if self._python_metrics:
                    self._reset_metric_objects()
                    self._update_metric_objects(*network.last_batch())
                values = self._finish_values(network.stats / n)
            self.optimizer.built = True
            keys = ["loss", *self._metric_names]
            if not ok:
                warnings.warn(
                    f"train_on_batch: the loss or a gradient is not finite (loss: {values[0]}); the weights were "
                    "not updated",
                    RuntimeWarning,
                    stacklevel=2,
                )
        finally:
            self._release()
        if return_dict:
            return {key: values[i] for key, i in sorted(zip(keys, range(len(keys))))}
        return self._flat_results(dict(zip(keys, values)))

    def reset_metrics(self) -> None:
        """Reset the metrics, as ``keras.Model.reset_metrics`` (the network's running sums)."""
        network = self._network
        if network is not None and self._prepared is not None:
            with self._net_lock:
                network.reset_stats()
        self._reset_metric_objects()

    def _tracked(self, network, step):
        """``step`` (a network training call) followed by the Python-side metrics' update from its batch."""
        update = self._update_metric_objects

        def tracked(*args, **kwargs) -> bool:
            ok = step(*args, **kwargs)
            update(*network.last_batch())
            return ok

        return tracked


class FitProgress:
    """Where a running ``fit`` is, for ``callbacks.BackupAndRestore`` (``model._fit_progress`` during a fit).

    A fit's randomness is its seed (drawn once from ``config.random_generator()``): the shuffle generator
    ``rng`` starts from it, ``order`` is shuffled in place once per epoch (``shuffles`` counts them, so the
    permutation and ``rng``'s state are a function of the seed, ``len(order)`` and ``shuffles``), and the
    Dropout masks are a function of it and the optimizer's step count. ``resume`` is set by a callback's
    ``on_train_begin`` to ``{"seed", "shuffles", "epoch", "skip", "stats"}``: the fit then continues from
    epoch ``epoch`` after its first ``skip`` batches (whose summed loss and metrics are ``stats``).
    """

    def __init__(self, seed: int, rng: np.random.Generator, order: np.ndarray, network, resumable: bool) -> None:
        self.seed, self.rng, self.order, self.network = seed, rng, order, network
        self.resumable = resumable  # False for batch sources: their batches cannot be skipped or replayed
        self.shuffles = 0
        self.resume: dict | None = None

    def apply_resume(self, net_lock, iterations: int) -> tuple[int, int]:
        """Replay the saved fit's randomness (the weights and optimizer state, ``iterations`` steps, are
        already restored); returns (first epoch, batches of it already done)."""
        resume = self.resume
        self.seed = int(resume["seed"])
        self.rng.bit_generator.state = np.random.default_rng(self.seed).bit_generator.state
        self.order[...] = np.arange(self.order.shape[0])
        for _ in range(int(resume["shuffles"])):
            self.rng.shuffle(self.order)
        self.shuffles = int(resume["shuffles"])
        with net_lock:
            self.network.seed = _dropout_seed(self.seed)
            self.network.iterations = iterations
        return int(resume["epoch"]), int(resume["skip"])


def _dropout_seed(fit_seed: int) -> int:
    """The seed of a fit's Dropout masks, derived from the fit's seed without another draw from the
    global generator (so adding a Dropout layer changes no shuffle)."""
    return int(np.random.SeedSequence(fit_seed).generate_state(1, np.uint64)[0])


_now = time.perf_counter
