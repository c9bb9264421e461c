"""scikit-learn estimators around cyneuron models, with the API of Keras 3's ``keras.wrappers``.

``SKLearnClassifier``, ``SKLearnRegressor`` and ``SKLearnTransformer`` take a compiled model, or a
callable ``model(X=X, y=y, **model_kwargs)`` that builds and compiles one for the (validated,
encoded) training data. Every ``fit`` trains a fresh model: a clone of the given one (architecture
and compile settings, new weights), or the callable's result; ``warm_start=True`` continues training
the fitted model instead. The estimators work with ``sklearn.base.clone``, ``Pipeline``,
``cross_val_score`` and ``GridSearchCV`` (also with ``n_jobs`` > 1: models pickle through the safe
model format). Inside joblib / Dask / Ray workers ``fit`` caps BLAS at one thread (see ``_parallel``).
"""

from __future__ import annotations

import numpy as np

from cyneuron.wrappers._parallel import worker_blas_limits

try:
    import sklearn
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
    from sklearn.utils.metaestimators import available_if
except ImportError:  # the classes stay importable; constructing one raises ImportError
    sklearn = None

    def available_if(check):  # type: ignore[no-redef]
        return lambda method: method

    class BaseEstimator:  # type: ignore[no-redef]
        pass

    class ClassifierMixin:  # type: ignore[no-redef]
        pass

    class RegressorMixin:  # type: ignore[no-redef]
        pass

    class TransformerMixin:  # type: ignore[no-redef]
        pass


__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]


def _require_sklearn(owner: str) -> None:
    if sklearn is None:
        raise ImportError(f"{owner} requires scikit-learn: pip install 'cyneuron[sklearn]' (or scikit-learn)")


def _validate(estimator, X, y="no_validation", reset: bool = True, **kwargs):
    # y=None reaches scikit-learn, which raises its "requires y to be passed" ValueError
    try:
        from sklearn.utils.validation import validate_data
    except ImportError:  # scikit-learn < 1.6: the estimator's own method
        return estimator._validate_data(X, y, reset=reset, **kwargs)
    return validate_data(estimator, X, y, reset=reset, **kwargs)


def _target_type(y) -> str:
    """scikit-learn's type of target, refusing the ``"unknown"`` ones."""
    from sklearn.utils.multiclass import type_of_target

    kind = type_of_target(y, input_name="y")
    if kind == "unknown":  # scikit-learn's checks look for this message (objects, nested lists ...)
        raise ValueError(f"Unknown label type for y: {y!r}")
    return kind


def _check_compiled(model) -> None:
    if not getattr(model, "compiled", False) or model.loss is None or model.optimizer is None:
        raise RuntimeError("model: the model needs to be compiled, with a loss and an optimizer")


def _clone_compiled(model):
    """A fresh copy of ``model``: same layers and compile settings, newly initialised weights."""
    from cyneuron.models import clone_model

    clone = clone_model(model)
    config = model.get_compile_config()
    if config is not None:
        clone.compile_from_config(config)
    return clone


def _output_units(model, X: np.ndarray) -> int:
    if not model.built:
        model.build((None, *X.shape[1:]))
    return int(np.prod(model.output_shape[1:]))


class _ColumnTarget:
    """Makes a 1-D target a column ``(n, 1)`` for the model and squeezes predictions back (2-D stays)."""

    def __init__(self, y: np.ndarray) -> None:
        self.ndim = y.ndim

    def encode(self, y: np.ndarray) -> np.ndarray:
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def decode(self, y: np.ndarray) -> np.ndarray:
        return y[:, 0] if self.ndim == 1 and y.ndim == 2 and y.shape[1] == 1 else y


class SKLBase(BaseEstimator):
    """What the three estimators share: the model argument, fitting, prediction.

    Args:
        model: a compiled ``cyneuron`` model (cloned, with fresh weights, at each ``fit`` unless
            ``warm_start``), or a callable returning one; the callable is called as
            ``model(X=X, y=y, **model_kwargs)`` with the validated inputs ``(n_samples, n_features)``
            and the encoded targets (a column ``(n_samples, 1)`` for a 1-D target, one-hot rows
            ``(n_samples, n_classes)`` for the classifier).
        warm_start: when True, a second ``fit`` continues training the fitted model (its weights and
            optimizer state) instead of starting a new one; on the first ``fit`` a model instance is
            trained itself rather than a clone.
        model_kwargs: keyword arguments for a callable ``model``.
        fit_kwargs: keyword arguments for the model's ``fit`` (``epochs``, ``batch_size``, ``verbose`` ...);
            keywords given to ``fit`` itself take precedence.

    Attributes:
        model_: the fitted model.
        history_: the last ``fit``'s history, a dict of per-epoch lists (``{"loss": [...], ...}``).
        n_features_in_: the number of input features seen in ``fit``.
    """

    def __init__(
        self, model, warm_start: bool = False, model_kwargs: dict | None = None, fit_kwargs: dict | None = None
    ):
        _require_sklearn(type(self).__name__)
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True  # random initial weights and shuffling, as Keras' wrapper says
        return tags

    def _more_tags(self):  # the same tags for scikit-learn < 1.6
        return {"non_deterministic": True}

    @property
    def epoch_(self) -> int:
        """The number of epochs the fitted model has trained for (over warm-started fits too)."""
        return getattr(self, "_epochs_trained", 0)

    def set_fit_request(self, **kwargs):
        """Request metadata (``sample_weight=True`` ...) for ``fit`` under scikit-learn's metadata routing.

        Raises:
            RuntimeError: when routing is off (``sklearn.set_config(enable_metadata_routing=True)``).
        """
        if not sklearn.get_config().get("enable_metadata_routing", False):
            raise RuntimeError(
                "set_fit_request is only available when metadata routing is enabled: "
                "sklearn.set_config(enable_metadata_routing=True)"
            )
        from sklearn.utils.metadata_routing import MetadataRequest

        request = getattr(self, "_metadata_request", None)
        if not isinstance(request, MetadataRequest):
            request = MetadataRequest(owner=type(self).__name__)
        for param, alias in kwargs.items():
            request.fit.add_request(param=param, alias=alias)
        self._metadata_request = request
        return self

    # ------------------------------------------------------------------ fitting
    def _new_model(self, X: np.ndarray, y: np.ndarray):
        from cyneuron.models import Sequential

        if isinstance(self.model, Sequential):
            return self.model if self.warm_start else _clone_compiled(self.model)
        if not callable(self.model):
            raise TypeError(
                "model: expected a compiled cyneuron model or a callable returning one, "
                f"got {type(self.model).__name__}"
            )
        kwargs = self.model_kwargs or {}
        if not isinstance(kwargs, dict):
            raise TypeError(f"model_kwargs: expected a dict or None, got {type(kwargs).__name__}")
        model = self.model(X=X, y=y, **kwargs)
        if not isinstance(model, Sequential):
            raise TypeError(f"model: the callable returned a {type(model).__name__}, not a cyneuron model")
        return model

    def _fit_arguments(self, fit_params: dict) -> dict:
        base = self.fit_kwargs or {}
        if not isinstance(base, dict):
            raise TypeError(f"fit_kwargs: expected a dict or None, got {type(base).__name__}")
        return {**base, **fit_params}  # fit's own keywords win; self.fit_kwargs is never modified

    def fit(self, X, y, **kwargs):
        """Train a model on ``X`` ``(n_samples, n_features)`` and ``y`` ``(n_samples,)`` or
        ``(n_samples, n_outputs)``; ``kwargs`` go to the model's ``fit`` (``epochs=``, ``sample_weight=`` ...).

        Returns:
            self
        """
        warm = bool(self.warm_start) and hasattr(self, "model_")
        X, y = self._validate_xy(X, y, reset=not warm)
        target = self._encode_target(y, reset=not warm)
        model = self.model_ if warm else self._new_model(X, target)
        _check_compiled(model)
        target = self._model_target(model, X, target)
        with worker_blas_limits():
            history = model.fit(X, target, **self._fit_arguments(kwargs))
        self.model_ = model
        self.history_ = dict(history.history) if history is not None else {}
        self._epochs_trained = (self.epoch_ if warm else 0) + len(getattr(history, "epoch", ()))
        return self

    def _validate_xy(self, X, y, reset: bool):
        return _validate(self, X, y, reset=reset)

    def _encode_target(self, y: np.ndarray, reset: bool) -> np.ndarray:
        _target_type(y)
        if reset:
            self._target = _ColumnTarget(y)
        return self._target.encode(y)

    def _model_target(self, model, X: np.ndarray, target: np.ndarray) -> np.ndarray:
        """The targets in the form the model's loss reads (the encoded ones, for all but the classifier)."""
        return target

    def _raw_predict(self, X) -> np.ndarray:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        X = _validate(self, X, reset=False)
        return self.model_.predict(X, verbose=0)

    def predict(self, X):
        """Predictions for ``X`` ``(n_samples, n_features)``: ``(n_samples,)`` for a 1-D training target,
        else ``(n_samples, n_outputs)``."""
        raw = self._raw_predict(X)
        return self._target.decode(raw)


class SKLearnClassifier(ClassifierMixin, SKLBase):
    """A scikit-learn classifier around a cyneuron model, as ``keras.wrappers.SKLearnClassifier``.

    Labels (any sortable values: ints, strings ...) are one-hot encoded in ``classes_`` order, and a callable
    ``model`` receives them so (``y.shape[1]`` is the number of classes). The model may instead be compiled
    with ``sparse_categorical_crossentropy`` (then it trains on class indices) or, for two classes, end in
    one unit (a sigmoid, trained on 0/1; ``predict`` thresholds it at 0.5).

    Args:
        model, warm_start, model_kwargs, fit_kwargs: see ``SKLBase``.

    Attributes:
        classes_: the sorted class labels ``(n_classes,)``.
        model_, history_, n_features_in_: see ``SKLBase``.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags

    def _more_tags(self):
        return {"poor_score": True}

    def _encode_target(self, y: np.ndarray, reset: bool) -> np.ndarray:
        kind = _target_type(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"y: only binary and multiclass targets are supported, got a {kind} target")
        labels = y.ravel() if y.ndim == 2 else y
        if reset:
            classes = np.unique(labels)
            if len(classes) < 2:
                raise ValueError("y: the classifier can't train when only one class is present")
            self.classes_ = classes
        codes = np.searchsorted(self.classes_, labels)
        unknown = (codes >= len(self.classes_)) | (self.classes_[np.minimum(codes, len(self.classes_) - 1)] != labels)
        if np.any(unknown):
            raise ValueError(f"y: labels not seen in the first fit: {np.unique(labels[unknown])!r}")
        self._codes = codes
        return np.eye(len(self.classes_), dtype=np.float64)[codes]

    def _model_target(self, model, X: np.ndarray, target: np.ndarray) -> np.ndarray:
        from cyneuron.losses import SPARSE, to_spec

        spec = to_spec(model.loss)
        units = _output_units(model, X)
        n_classes = len(self.classes_)
        if spec.name == SPARSE:
            self._output = "index"
            return self._codes
        if units == 1 and n_classes == 2:
            self._output = "binary"
            return self._codes.astype(np.float64).reshape(-1, 1)
        if units != n_classes:
            raise ValueError(
                f"model: its output has {units} units but y has {n_classes} classes; give the last layer "
                f"{n_classes} units (or 1 unit for two classes)"
            )
        self._output = "onehot"
        return target

    def decision_function(self, X):
        """The model's raw outputs for ``X``: ``(n_samples, n_units)``."""
        return self._raw_predict(X)

    def predict(self, X):
        """The predicted labels ``(n_samples,)``, from ``classes_``."""
        raw = self._raw_predict(X)
        if self._output == "binary":
            threshold = 0.0 if self._from_logits() else 0.5
            return self.classes_[(raw[:, 0] > threshold).astype(np.intp)]
        return self.classes_[np.argmax(raw, axis=1)]

    @available_if(lambda self: hasattr(self, "model_"))
    def predict_proba(self, X):
        """Class probabilities ``(n_samples, n_classes)`` in ``classes_`` order, rows summing to 1 (float64).

        Available once fitted (``hasattr(clf, "predict_proba")`` is False before): only the fitted model says
        how its outputs read as probabilities. Keras' wrapper has no ``predict_proba``; this keeps the
        unfitted estimator what Keras' is, so scikit-learn's checks run as on Keras' (its
        ``check_decision_proba_consistency`` would compare the 2-column ``decision_function`` of Keras'
        contract with one probability column).

        Outputs of a loss with ``from_logits=True``, and outputs that are not non-negative, are taken as
        logits (softmax, or a sigmoid for one unit); otherwise each row is divided by its sum.
        """
        raw = np.asarray(self._raw_predict(X), dtype=np.float64)
        if self._output == "binary":
            column = raw[:, 0]
            p = 1.0 / (1.0 + np.exp(-column)) if self._from_logits() else np.clip(column, 0.0, 1.0)
            return np.column_stack([1.0 - p, p])
        sums = raw.sum(axis=1, keepdims=True)
        if not self._from_logits() and np.all(raw >= 0) and np.all(sums > 0):
            return raw / sums
        shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def _from_logits(self) -> bool:
        from cyneuron.losses import to_spec

        return bool(to_spec(self.model_.loss).from_logits)


class SKLearnRegressor(RegressorMixin, SKLBase):
    """A scikit-learn regressor around a cyneuron model, as ``keras.wrappers.SKLearnRegressor``.

    ``y`` may be 1-D ``(n_samples,)`` (the model sees a column ``(n_samples, 1)``; ``predict`` returns
    ``(n_samples,)``) or 2-D ``(n_samples, n_outputs)``.

    Args:
        model, warm_start, model_kwargs, fit_kwargs: see ``SKLBase``.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self):
        return {"poor_score": True, "multioutput": True}

    def _validate_xy(self, X, y, reset: bool):
        return _validate(self, X, y, reset=reset, multi_output=True, y_numeric=True)

    def predict(self, X):
        """Predictions (float64) for ``X`` ``(n_samples, n_features)``: ``(n_samples,)`` for a 1-D training
        target, else ``(n_samples, n_outputs)``."""
        return np.asarray(super().predict(X), dtype=np.float64)


class SKLearnTransformer(TransformerMixin, SKLBase):
    """A scikit-learn transformer around a cyneuron model (``transform`` returns the model's outputs), as
    ``keras.wrappers.SKLearnTransformer``: e.g. an embedding step in a ``Pipeline``.

    Args:
        model, warm_start, model_kwargs, fit_kwargs: see ``SKLBase``.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []  # outputs are the model's float type whatever X was
        return tags

    def _more_tags(self):
        return {"preserves_dtype": []}

    def transform(self, X):
        """The model's outputs for ``X`` ``(n_samples, n_features)``: ``(n_samples, n_units)``."""
        return self._raw_predict(X)
