"""Keras' losses and metrics: standalone values (Keras' own test numbers), the argument surface, configs,
and the compiled step agreeing with the standalone NumPy computation for every registered loss and metric.

The registries (``losses._CLASSES``, ``metrics._CLASSES``) drive the tests: a new loss or metric joins them
by being registered there and having an example below (the completeness tests fail otherwise).
The parity with Keras itself: ``bench/oracle/losses_metrics_vs_keras.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import cyneuron
from cyneuron import layers, losses, metrics

RNG = np.random.default_rng(3)

# loss class -> (constructor options, target kind, prediction kind, output activation)
LOSS_EXAMPLES = {
    "MeanSquaredError": ({}, "real", "real", "linear"),
    "MeanAbsoluteError": ({}, "real", "real", "linear"),
    "MeanAbsolutePercentageError": ({}, "away", "real", "linear"),
    "MeanSquaredLogarithmicError": ({}, "counts", "positive", "sigmoid"),
    "CosineSimilarity": ({}, "real", "real", "linear"),
    "Huber": ({"delta": 0.5}, "real", "real", "linear"),
    "LogCosh": ({}, "real", "real", "linear"),
    "KLDivergence": ({}, "dist", "softmax", "softmax"),
    "Poisson": ({}, "counts", "positive", "sigmoid"),
    "Hinge": ({}, "binary", "real", "tanh"),
    "SquaredHinge": ({}, "binary", "real", "tanh"),
    "CategoricalHinge": ({}, "onehot", "real", "linear"),
    "BinaryCrossentropy": ({"label_smoothing": 0.2}, "binary", "prob", "sigmoid"),
    "CategoricalCrossentropy": ({"label_smoothing": 0.1}, "onehot", "softmax", "softmax"),
    "SparseCategoricalCrossentropy": ({"from_logits": True, "ignore_class": 1}, "labels", "real", "linear"),
}


def _targets(kind: str, n: int = 12, units: int = 3) -> np.ndarray:
    if kind == "labels":
        return RNG.integers(0, units, size=n)
    if kind == "onehot":
        return np.eye(units)[RNG.integers(0, units, size=n)]
    if kind == "binary":
        return RNG.integers(0, 2, size=(n, units)).astype(float)
    if kind == "dist":
        e = RNG.random((n, units))
        return e / e.sum(1, keepdims=True)
    if kind == "counts":
        return RNG.poisson(1.5, size=(n, units)).astype(float)
    if kind == "away":
        return RNG.uniform(0.5, 2.0, size=(n, units)) * RNG.choice([-1, 1], size=(n, units))
    return RNG.normal(size=(n, units))


def _predictions(kind: str, n: int = 12, units: int = 3) -> np.ndarray:
    if kind == "prob":
        return RNG.uniform(0.05, 0.95, size=(n, units))
    if kind == "softmax":
        e = np.exp(RNG.normal(size=(n, units)))
        return e / e.sum(1, keepdims=True)
    if kind == "positive":
        return RNG.uniform(0.1, 3.0, size=(n, units))
    return RNG.normal(scale=2.0, size=(n, units))


def test_every_loss_class_has_an_example():
    assert set(LOSS_EXAMPLES) == set(losses._CLASSES)


# ------------------------------------------------------------------ Keras' own numbers (losses_test.py)
Y_TRUE = np.array([[1, 9, 2], [-5, -2, 6]])
Y_PRED = np.array([[4, 8, 12], [8, 1, 3]], dtype="float32")


def test_mse_reductions_and_weights_as_keras():
    mse = losses.MeanSquaredError()
    assert mse(Y_TRUE, Y_PRED) == pytest.approx(49.5)
    assert mse(Y_TRUE, Y_PRED, sample_weight=2.3) == pytest.approx(113.85, rel=1e-6)
    assert mse(Y_TRUE, Y_PRED, sample_weight=np.array([[1.2], [3.4]])) == pytest.approx(767.8 / 6, rel=1e-6)
    assert mse(Y_TRUE, Y_PRED, sample_weight=0) == 0.0
    timestep = mse(
        np.asarray([1, 9, 2, -5, -2, 6]).reshape(2, 3, 1),
        np.asarray([4, 8, 12, 8, 1, 3]).reshape(2, 3, 1),
        sample_weight=np.array([3, 6, 5, 0, 4, 2]).reshape((2, 3)),
    )
    assert timestep == pytest.approx(97.833336, rel=1e-6)
    np.testing.assert_allclose(
        losses.MeanSquaredError(reduction=None)(Y_TRUE, Y_PRED, sample_weight=2.3), [84.3333, 143.3666], rtol=1e-5
    )
    assert losses.MeanSquaredError(reduction="sum")(Y_TRUE, Y_PRED, sample_weight=2.3) == pytest.approx(227.69998)
    weighted = losses.MeanSquaredError(reduction="mean_with_sample_weight")
    expected = (110 / 3 * 1.2 + 187 / 3 * 3.4) / (1.2 + 3.4)
    assert weighted(Y_TRUE, Y_PRED, sample_weight=np.array([[1.2], [3.4]])) == pytest.approx(expected, rel=1e-6)
    assert losses.mean_squared_error(np.array([4, 8, 12]), np.array([[3], [0], [1]])).shape == (3,)


def test_options_as_keras():
    y = np.array([[0.0, 1.0], [0.0, 0.0]])
    p = np.array([[0.6, 0.4], [0.4, 0.6]])
    assert losses.Huber()(y, p) == pytest.approx(0.155, rel=1e-3)
    assert losses.LogCosh()(y, np.array([[1.0, 1.0], [0.0, 0.0]])) == pytest.approx(0.108, rel=1e-2)
    ignore = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1, reduction=None)
    logits = np.array([[[0.854, 0.698, 0.598], [0.088, 0.86, 0.018]]])
    np.testing.assert_allclose(ignore(np.array([[-1, 2]]), logits), [[0.0, 1.480129]], rtol=1e-5)
    np.testing.assert_allclose(ignore(np.array([[[-1], [2]]]), logits), [[0.0, 1.480129]], rtol=1e-5)
    # label smoothing: targets 0.9 + 0.1 / 2 and 0.05 for two classes
    smooth = losses.CategoricalCrossentropy(label_smoothing=0.1)
    plain = losses.CategoricalCrossentropy()
    onehot, probs = np.eye(2), np.array([[0.7, 0.3], [0.2, 0.8]])
    assert smooth(onehot, probs) == pytest.approx(plain(onehot * 0.9 + 0.05, probs), rel=1e-6)
    hinge_01 = losses.hinge(np.array([[0.0, 1.0]]), np.array([[0.3, -0.5]]))
    np.testing.assert_allclose(hinge_01, [(1.3 + 1.5) / 2], rtol=1e-6)  # 0/1 targets become -1/1


def test_loss_arguments_and_errors_as_keras():
    with pytest.raises(ValueError, match="reduction"):
        losses.Huber(reduction="avg")
    with pytest.raises(ValueError, match="must have the same shape"):
        losses.BinaryCrossentropy()(np.array([[0], [1], [2]]), np.ones((3, 3)) * 0.5)
    with pytest.raises(ValueError, match="axis"):
        losses.categorical_crossentropy(np.eye(2), np.eye(2), axis=True)
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.BinaryCrossentropy(label_smoothing=2.0)
    with pytest.raises(ValueError, match="delta"):
        losses.Huber(delta=0.0)
    with pytest.raises(TypeError, match="ignore_class"):
        losses.SparseCategoricalCrossentropy(ignore_class="void")
    assert losses.Huber().name == "huber_loss" and losses.LogCosh().name == "log_cosh"
    assert losses.MeanSquaredError(dtype="float64")(Y_TRUE, Y_PRED).dtype == np.float64
    assert losses.get("kld") is losses.kl_divergence and isinstance(losses.get("Huber"), losses.Huber)


@pytest.mark.parametrize("class_name", sorted(LOSS_EXAMPLES))
def test_loss_config_round_trip(class_name):
    options = LOSS_EXAMPLES[class_name][0]
    loss = losses._CLASSES[class_name](reduction="sum", name="x", **options)
    config = loss.get_config()
    assert type(loss).from_config(config).get_config() == config
    again = losses.deserialize(losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == config


# ------------------------------------------------------------------ the compiled step = the standalone loss
def _model(units: int, activation: str):
    return cyneuron.Sequential([layers.Input((5,)), layers.Dense(units, activation=activation)])


@pytest.mark.parametrize("class_name", sorted(LOSS_EXAMPLES))
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
def test_training_loss_is_the_standalone_loss(backend, class_name, reduction):
    """train_on_batch reports the loss before its update: Keras' value of the loss on model.predict."""
    options, t_kind, p_kind, activation = LOSS_EXAMPLES[class_name]
    x = RNG.normal(size=(12, 5))
    y = _targets(t_kind)
    w = RNG.uniform(0.2, 2.0, size=12)
    model = _model(3, activation)
    loss = losses._CLASSES[class_name](reduction=reduction, dtype="float64", **options)
    model.compile(optimizer=cyneuron.optimizers.SGD(0.01), loss=loss)
    for weights in (None, w):
        expected = loss(y, model.predict(x, verbose=0), sample_weight=weights)
        assert model.train_on_batch(x, y, sample_weight=weights) == pytest.approx(float(expected), rel=2e-5)


def test_reduction_none_is_refused_in_training():
    model = _model(3, "linear")
    with pytest.raises(ValueError, match="reduction"):
        model.compile(optimizer="sgd", loss=losses.MeanSquaredError(reduction=None))


# ------------------------------------------------------------------ metrics
# metric class -> (constructor options, target kind, prediction kind)
METRIC_EXAMPLES = {
    "Accuracy": ({}, "binary", "binary"),
    "BinaryAccuracy": ({"threshold": 0.3}, "binary", "prob"),
    "CategoricalAccuracy": ({}, "onehot", "softmax"),
    "SparseCategoricalAccuracy": ({}, "labels", "softmax"),
    "TopKCategoricalAccuracy": ({"k": 2}, "onehot", "softmax"),
    "SparseTopKCategoricalAccuracy": ({"k": 2}, "labels", "softmax"),
    "MeanSquaredError": ({}, "real", "real"),
    "MeanAbsoluteError": ({}, "real", "real"),
    "MeanAbsolutePercentageError": ({}, "away", "real"),
    "MeanSquaredLogarithmicError": ({}, "counts", "positive"),
    "RootMeanSquaredError": ({}, "real", "real"),
    "CosineSimilarity": ({}, "real", "real"),
    "LogCoshError": ({}, "real", "real"),
    "KLDivergence": ({}, "dist", "softmax"),
    "Poisson": ({}, "counts", "positive"),
    "BinaryCrossentropy": ({}, "binary", "prob"),
    "CategoricalCrossentropy": ({}, "onehot", "softmax"),
    "SparseCategoricalCrossentropy": ({}, "labels", "softmax"),
    "Hinge": ({}, "binary", "real"),
    "SquaredHinge": ({}, "binary", "real"),
    "CategoricalHinge": ({}, "onehot", "real"),
    "TruePositives": ({"thresholds": [0.3, 0.6]}, "binary", "prob"),
    "FalsePositives": ({}, "binary", "prob"),
    "TrueNegatives": ({}, "binary", "prob"),
    "FalseNegatives": ({}, "binary", "prob"),
    "Precision": ({"top_k": 2}, "binary", "prob"),
    "Recall": ({"class_id": 1}, "binary", "prob"),
    "AUC": ({"curve": "PR", "num_thresholds": 50}, "binary", "prob"),
    "FBetaScore": ({"beta": 2.0, "average": "macro"}, "binary", "prob"),
    "F1Score": ({"average": "weighted"}, "onehot", "softmax"),
    "PrecisionAtRecall": ({"recall": 0.5, "num_thresholds": 50}, "binary", "prob"),
    "RecallAtPrecision": ({"precision": 0.6}, "binary", "prob"),
    "SensitivityAtSpecificity": ({"specificity": 0.5, "class_id": 1}, "binary", "prob"),
    "SpecificityAtSensitivity": ({"sensitivity": 0.5, "num_thresholds": 1}, "binary", "prob"),
    "R2Score": ({"class_aggregation": "variance_weighted_average"}, "real", "real"),
}
GENERIC = ("Mean", "Sum", "MeanMetricWrapper")


def test_every_metric_class_has_an_example():
    assert set(METRIC_EXAMPLES) | set(GENERIC) == set(metrics._CLASSES)


def _metric_data(name: str):
    _, t_kind, p_kind = METRIC_EXAMPLES[name]
    y = _targets(t_kind)
    p = _targets("binary") if p_kind == "binary" else _predictions(p_kind)
    return y, p


@pytest.mark.parametrize("class_name", sorted(METRIC_EXAMPLES))
def test_metric_object_api(class_name):
    options = METRIC_EXAMPLES[class_name][0]
    metric = metrics._CLASSES[class_name](name="m", **options)
    assert metric.name == "m" and metric.dtype == "float32"
    y, p = _metric_data(class_name)
    first = np.array(metric(y, p))  # __call__: update then result
    metric.update_state(y, p, sample_weight=RNG.uniform(0, 2, size=y.shape[0]))
    assert metric.variables and all(v.name for v in metric.variables)
    metric.reset_state()
    assert all(not np.any(v) for v in metric.variables)
    np.testing.assert_allclose(metric(y, p), first)  # the same data after a reset: the same result
    config = metric.get_config()
    assert type(metric).from_config(config).get_config() == config
    assert metrics.deserialize(metrics.serialize(metric)).get_config() == config


def test_metric_values_as_keras():
    m = metrics.Mean()
    m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert m.result() == pytest.approx(2.0)
    s = metrics.Sum()
    s.update_state([1, 3, 5, 7])
    assert s.result() == 16.0
    assert metrics.BinaryAccuracy(threshold=0.7)([[1], [1], [0], [0]], [[0.98], [0.7], [0], [0.6]]) == 0.75
    top = metrics.SparseTopKCategoricalAccuracy(k=1)
    assert top([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]) == 0.5
    p = metrics.Precision()
    p.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert p.result() == pytest.approx(2 / 3)
    r = metrics.Recall()
    r.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert r.result() == pytest.approx(2 / 3)
    auc = metrics.AUC(num_thresholds=3)
    auc.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert auc.result() == pytest.approx(0.75)
    f1 = metrics.F1Score(threshold=0.5)
    f1.update_state(
        np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]]), np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
    )
    np.testing.assert_allclose(f1.result(), [0.5, 0.8, 0.6666667], rtol=1e-5)
    cyneuron.utils.clear_session()  # unnamed metrics are named per session, as Keras' auto_name
    assert metrics.get("auc").name == "auc" and metrics.AUC().name == "auc_1"
    assert isinstance(metrics.get("mse"), metrics.MeanSquaredError)


def _compiled_case(class_name: str):
    """(model, x, y, the metric's constructor and options, loss) for a metric example compiled into a model."""
    options, t_kind, p_kind = METRIC_EXAMPLES[class_name]
    loss = "sparse_categorical_crossentropy" if t_kind == "labels" else "mse"
    activation = {"softmax": "softmax", "prob": "sigmoid", "positive": "sigmoid"}.get(p_kind, "linear")
    return (
        _model(3, activation),
        RNG.normal(size=(12, 5)),
        _targets(t_kind),
        metrics._CLASSES[class_name],
        options,
        loss,
    )


def _close(logged, expected) -> None:
    np.testing.assert_allclose(np.asarray(logged, dtype=np.float64), np.asarray(expected), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("class_name", sorted(METRIC_EXAMPLES))
def test_compiled_metric_is_the_standalone_metric(backend, class_name):
    """evaluate's compiled metric (in the step or in Python) equals the metric object updated batch by batch
    with model.predict's output; fit's equals it on the training-mode output before the update."""
    model, x, y, cls, options, loss = _compiled_case(class_name)
    model.compile(optimizer="sgd", loss=loss, metrics=[cls(name="m", **options)])
    logged = model.evaluate(x, y, batch_size=5, verbose=0, return_dict=True)["m"]
    standalone = cls(**options)
    predicted = model.predict(x, verbose=0)
    for start in range(0, 12, 5):
        standalone.update_state(y[start : start + 5], predicted[start : start + 5])
    _close(logged, standalone.result())
    standalone.reset_state()
    standalone.update_state(y, predicted)
    history = model.fit(x, y, batch_size=12, epochs=1, shuffle=False, verbose=0)
    _close(history.history["m"][0], standalone.result())


@pytest.mark.parametrize("class_name", sorted(METRIC_EXAMPLES))
def test_weighted_metric_sees_the_sample_weights(backend, class_name):
    """weighted_metrics are updated with each batch's sample weights (fit, train_on_batch, evaluate); the same
    metric in metrics= stays unweighted, and the weighted one is logged as weighted_<name>."""
    model, x, y, cls, options, loss = _compiled_case(class_name)
    w = RNG.uniform(0.0, 2.0, size=12)
    model.compile(
        optimizer="sgd", loss=loss, metrics=[cls(name="m", **options)], weighted_metrics=[cls(name="m", **options)]
    )
    predicted = model.predict(x, verbose=0)
    weighted, plain = cls(**options), cls(**options)
    weighted.update_state(y, predicted, sample_weight=w)
    plain.update_state(y, predicted)
    logs = model.train_on_batch(x, y, sample_weight=w, return_dict=True)
    assert set(logs) == {"loss", "m", "weighted_m"}
    _close(logs["weighted_m"], weighted.result())
    _close(logs["m"], plain.result())
    after = model.predict(x, verbose=0)
    weighted.reset_state()
    weighted.update_state(y, after, sample_weight=w)
    _close(model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)["weighted_m"], weighted.result())
    plain.reset_state()
    plain.update_state(y, after)  # no sample weights: the weighted metric is unweighted
    _close(model.evaluate(x, y, verbose=0, return_dict=True)["weighted_m"], plain.result())


def test_compiled_metric_names_and_order_as_keras(backend):
    """Keras 3's names: the object's name, repeats suffixed _1; a weighted metric whose name is taken gets
    weighted_; evaluate's list follows the names as compiled (a repeated name repeats, as Keras')."""
    model, x, y, *_ = _compiled_case("Precision")
    cyneuron.utils.clear_session()  # the unnamed metric objects below are named auc, precision, recall
    model.compile(
        optimizer="sgd",
        loss="mse",
        metrics=["auc", metrics.AUC(), metrics.Precision(), "mae"],
        weighted_metrics=["mae", metrics.Recall(), "mae"],
    )
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(logs) == sorted(
        ["loss", "auc", "auc_1", "precision", "mae", "weighted_mae", "recall", "weighted_mae_1"]
    )
    flat = model.evaluate(x, y, verbose=0)
    names = [
        "loss",
        "auc",
        "auc",
        "precision",
        "mae",
        "mae",
        "recall",
        "mae",
        "auc_1",
        "weighted_mae",
        "weighted_mae_1",
    ]
    assert flat == [logs[name] for name in names]


def test_custom_metric_function_is_a_mean_metric(backend):
    def doubled_error(y_true, y_pred):
        return 2 * np.abs(y_true - y_pred).mean(axis=-1)

    model, x, y, *_ = _compiled_case("MeanAbsoluteError")
    model.compile(optimizer="sgd", loss="mse", metrics=[doubled_error, "mae"])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["doubled_error"] == pytest.approx(2 * logs["mae"], rel=1e-5)


def test_bfloat16_dtype_as_keras():
    """Keras' losses and metrics take dtype="bfloat16" (ml_dtypes, the bfloat16 extra)."""
    pytest.importorskip("ml_dtypes", reason="dtype='bfloat16' needs the ml_dtypes package (the bfloat16 extra)")
    assert str(losses.MeanSquaredError(dtype="bfloat16")(Y_TRUE, Y_PRED).dtype) == "bfloat16"
    assert str(losses.Huber(dtype="bfloat16", reduction=None)(Y_TRUE, Y_PRED).dtype) == "bfloat16"
    metric = metrics.MeanSquaredError(dtype="bfloat16")
    assert metric.dtype == "bfloat16" and str(metric(Y_TRUE, Y_PRED).dtype) == "bfloat16"
