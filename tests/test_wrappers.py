"""The scikit-learn wrappers: scikit-learn's estimator checks (with Keras' own expected-failure list), the
Keras wrapper API (callables, model instances, warm_start, encodings), and their use in Pipeline,
cross_val_score, GridSearchCV(n_jobs=2) and on a Dask LocalCluster."""

from __future__ import annotations

import inspect
import pickle
import sys

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="the wrappers need scikit-learn (the test extra has it)")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits, make_classification, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import cyneuron  # noqa: E402
from cyneuron.layers import Dense, Input  # noqa: E402
from cyneuron.models import Sequential  # noqa: E402
from cyneuron.wrappers import (  # noqa: E402
    SKLearnClassifier,
    SKLearnRegressor,
    SKLearnTransformer,
    in_parallel_worker,
    limit_blas_threads,
)

QUIET = {"verbose": 0}


def dynamic_model(X, y, loss, out_activation_function="softmax", layers=(10,)):
    """Keras' test model: an MLP sized by the data, the output by the encoded targets."""
    n_outputs = y.shape[1] if len(y.shape) > 1 else 1
    hidden = [Dense(units, activation="relu") for units in layers]
    model = Sequential([Input(shape=(X.shape[1],)), *hidden, Dense(n_outputs, activation=out_activation_function)])
    model.compile(loss=loss, optimizer="rmsprop")
    return model


# Keras 3.15's list (keras/src/wrappers/sklearn_test.py), same checks and reasons.
EXPECTED_FAILED_CHECKS = {
    "SKLearnClassifier": {
        "check_classifiers_regression_target": "not an issue in sklearn>=1.6",
        "check_parameters_default_constructible": "not an issue in sklearn>=1.6",
        "check_classifiers_one_label_sample_weights": "0 sample weight is not ignored",
        "check_classifiers_classes": "with small test cases the estimator returns not all classes sometimes",
        "check_classifier_data_not_an_array": "This test assumes reproducibility in fit.",
        "check_supervised_y_2d": "This test assumes reproducibility in fit.",
        "check_fit_idempotent": "This test assumes reproducibility in fit.",
        "check_classifiers_train": "decision_function can return both probabilities and logits",
    },
    "SKLearnRegressor": {"check_parameters_default_constructible": "not an issue in sklearn>=1.6"},
    "SKLearnTransformer": {"check_parameters_default_constructible": "not an issue in sklearn>=1.6"},
}


# scikit-learn >= 1.6 marks the expected failures itself; older versions run every check and the test
# body turns a listed check's failure into an xfail.
_SKLEARN_XFAILS = "expected_failed_checks" in inspect.signature(parametrize_with_checks).parameters
_CHECKED = [
    SKLearnClassifier(
        model=dynamic_model,
        model_kwargs={"loss": "categorical_crossentropy", "layers": [20, 20, 20]},
        fit_kwargs={"epochs": 5, "verbose": 0},
    ),
    SKLearnRegressor(model=dynamic_model, model_kwargs={"loss": "mse"}, fit_kwargs={"verbose": 0}),
    SKLearnTransformer(model=dynamic_model, model_kwargs={"loss": "mse"}, fit_kwargs={"verbose": 0}),
]


@(
    parametrize_with_checks(
        _CHECKED, expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS[type(estimator).__name__]
    )
    if _SKLEARN_XFAILS
    else parametrize_with_checks(_CHECKED)
)
def test_sklearn_estimator_checks(estimator, check):
    reason = EXPECTED_FAILED_CHECKS[type(estimator).__name__].get(getattr(check, "func", check).__name__)
    if _SKLEARN_XFAILS or reason is None:
        check(estimator)
        return
    try:
        check(estimator)
    except Exception:
        pytest.xfail(reason)


@pytest.mark.parametrize("activation", ["softmax", "linear"])
def test_decision_function_agrees_with_predict(activation):
    """Keras' test: argmax of decision_function is predict, for probabilities and for raw outputs."""
    estimator = SKLearnClassifier(
        model=dynamic_model,
        model_kwargs={"out_activation_function": activation, "loss": "binary_crossentropy"},
        fit_kwargs={"epochs": 1, **QUIET},
    )
    X, y = make_classification(n_samples=10, n_features=10, n_informative=4, n_classes=2, random_state=42)
    estimator.fit(X, y)
    assert estimator.decision_function(X).shape == (10, 2)
    np.testing.assert_array_equal(estimator.decision_function(X).argmax(axis=-1), estimator.predict(X))


def _digits(n=600):
    X, y = load_digits(return_X_y=True)
    return (X[:n] / 16.0).astype(np.float32), y[:n]


def _classifier(**fit_kwargs):
    return SKLearnClassifier(
        dynamic_model,
        model_kwargs={"loss": "categorical_crossentropy", "layers": [32]},
        fit_kwargs={"epochs": 20, **QUIET, **fit_kwargs},
    )


def test_classifier_learns_digits_and_probabilities_sum_to_one():
    X, y = _digits()
    estimator = _classifier().fit(X, y)
    assert estimator.score(X, y) > 0.8
    np.testing.assert_array_equal(estimator.classes_, np.arange(10))
    assert not hasattr(_classifier(), "predict_proba")  # until fitted: see SKLearnClassifier.predict_proba
    proba = estimator.predict_proba(X)
    assert proba.shape == (len(X), 10) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(estimator.classes_[proba.argmax(axis=1)], estimator.predict(X))
    assert estimator.model_.compiled and estimator.n_features_in_ == 64
    assert set(estimator.history_) == {"loss"} and len(estimator.history_["loss"]) == 20 and estimator.epoch_ == 20


def test_string_labels_round_trip():
    X, y = _digits(300)
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    estimator = _classifier().fit(X, names[y])
    np.testing.assert_array_equal(estimator.classes_, np.sort(names))
    predicted = estimator.predict(X)
    assert predicted.dtype == names.dtype and set(predicted) <= set(names)
    assert estimator.score(X, names[y]) > 0.5
    with pytest.raises(ValueError, match="not seen"):
        estimator.set_params(warm_start=True).fit(X[:5], np.array(["ten"] * 5))


def test_sparse_loss_and_single_sigmoid_unit_encodings():
    X, y = make_classification(n_samples=200, n_features=6, n_informative=4, random_state=0)
    labels = np.where(y == 1, "yes", "no")

    def sigmoid_model(X, y):
        model = Sequential([Input((X.shape[1],)), Dense(8, activation="relu"), Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy")
        return model

    def sparse_model(X, y):
        model = Sequential([Input((X.shape[1],)), Dense(8, activation="relu"), Dense(y.shape[1])])
        model.compile(optimizer="adam", loss=cyneuron.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    for builder in (sigmoid_model, sparse_model):
        estimator = SKLearnClassifier(builder, fit_kwargs={"epochs": 100, **QUIET}).fit(X, labels)
        assert estimator.score(X, labels) > 0.8
        proba = estimator.predict_proba(X)
        assert proba.shape == (200, 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
        np.testing.assert_array_equal(estimator.classes_[proba.argmax(axis=1)], estimator.predict(X))


def test_output_units_must_match_the_classes():
    X, y = _digits(100)

    def three_units(X, y):
        model = Sequential([Input((X.shape[1],)), Dense(3, activation="softmax")])
        model.compile(loss="categorical_crossentropy")
        return model

    with pytest.raises(ValueError, match="3 units but y has 10 classes"):
        SKLearnClassifier(three_units, fit_kwargs=QUIET).fit(X, y)


def test_targets_the_classifier_refuses():
    X, y = _digits(100)
    with pytest.raises(ValueError, match="only one class"):
        _classifier().fit(X, np.zeros(100))
    with pytest.raises(ValueError, match="binary and multiclass"):
        _classifier().fit(X, np.linspace(0, 1, 100))


def test_a_compiled_model_instance_is_cloned_and_left_untouched():
    X, y = _digits(200)
    model = Sequential([Input((64,)), Dense(16, activation="relu"), Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    before = [w.copy() for w in model.get_weights()]
    estimator = SKLearnClassifier(model, fit_kwargs={"epochs": 3, **QUIET}).fit(X, y)
    assert estimator.model_ is not model and estimator.model is model
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert set(estimator.history_) == {"loss", "accuracy"}
    assert estimator.model_.get_compile_config() == model.get_compile_config()
    copy = clone(estimator)
    assert copy.model is not model and copy.model.get_config() == model.get_config()
    assert copy.get_params()["fit_kwargs"] == {"epochs": 3, **QUIET}
    assert not hasattr(copy, "model_")


def test_models_that_cannot_train_are_refused():
    X, y = _digits(50)
    with pytest.raises(RuntimeError, match="compiled"):
        SKLearnClassifier(Sequential([Input((64,)), Dense(10, activation="softmax")])).fit(X, y)
    with pytest.raises(RuntimeError, match="compiled"):
        SKLearnRegressor(lambda X, y: Sequential([Input((64,)), Dense(1)])).fit(X, y)
    with pytest.raises(TypeError, match="model"):
        SKLearnRegressor("mlp").fit(X, y)
    with pytest.raises(TypeError, match="model"):
        SKLearnRegressor(lambda X, y: "not a model").fit(X, y)
    with pytest.raises(TypeError, match="model_kwargs"):
        SKLearnRegressor(dynamic_model, model_kwargs=[("loss", "mse")]).fit(X, y)
    with pytest.raises(TypeError, match="fit_kwargs"):
        SKLearnRegressor(dynamic_model, model_kwargs={"loss": "mse"}, fit_kwargs=3).fit(X, y)


def test_get_set_params_and_clone():
    estimator = _classifier()
    params = estimator.get_params()
    assert set(params) == {"model", "warm_start", "model_kwargs", "fit_kwargs"}
    assert params["warm_start"] is False
    estimator.set_params(warm_start=True, fit_kwargs={"epochs": 2, **QUIET})
    copy = clone(estimator)
    assert copy.get_params() == estimator.get_params() and copy is not estimator
    X, y = _digits(100)
    estimator.fit(X, y)
    assert not hasattr(clone(estimator), "model_")


def test_fit_keywords_override_fit_kwargs_without_changing_them():
    X, y = _digits(100)
    estimator = _classifier()
    estimator.fit(X, y, epochs=2)
    assert len(estimator.history_["loss"]) == 2
    assert estimator.fit_kwargs == {"epochs": 20, **QUIET}
    estimator.fit(X, y, sample_weight=np.ones(len(y)))
    assert len(estimator.history_["loss"]) == 20


def test_warm_start_continues_the_fitted_model():
    X, y = _digits(300)
    cold = _classifier(epochs=2)
    cold.fit(X, y)
    first = cold.model_
    cold.fit(X, y)
    assert cold.model_ is not first and cold.epoch_ == 2
    warm = _classifier(epochs=2).set_params(warm_start=True)
    warm.fit(X, y)
    model = warm.model_
    loss_after_first = warm.history_["loss"][-1]
    warm.fit(X, y)
    assert warm.model_ is model and warm.epoch_ == 4
    assert warm.history_["loss"][0] < loss_after_first * 1.05  # continues, does not restart from random weights
    assert model.optimizer.iterations == 2 * 2 * int(np.ceil(300 / 32))


def test_regressor_on_one_and_two_dimensional_targets():
    X, y = make_regression(n_samples=200, n_features=5, noise=0.1, random_state=0)
    y = y / y.std()
    regressor = SKLearnRegressor(
        dynamic_model,
        model_kwargs={"loss": "mse", "out_activation_function": "linear", "layers": [32]},
        fit_kwargs={"epochs": 60, **QUIET},
    )
    regressor.fit(X, y)
    assert regressor.predict(X).shape == (200,) and regressor.predict(X).dtype == np.float64
    assert regressor.score(X, y) > 0.8
    assert regressor.model_.output_shape == (None, 1)
    Y = np.column_stack([y, -2 * y])
    regressor.fit(X, Y)
    assert regressor.predict(X).shape == (200, 2) and regressor.model_.output_shape == (None, 2)
    assert regressor.score(X, Y) > 0.8


def test_transformer_returns_the_model_outputs():
    X, y = _digits(200)

    def embedding(X, y):
        model = Sequential([Input((X.shape[1],)), Dense(8, activation="tanh"), Dense(1)])
        model.compile(loss="mse")
        return model

    transformer = SKLearnTransformer(embedding, fit_kwargs=QUIET)
    out = transformer.fit_transform(X, y.astype(float))
    assert out.shape == (200, 1)
    np.testing.assert_array_equal(out, transformer.model_.predict(X, verbose=0))
    np.testing.assert_array_equal(transformer.transform(X), out)


def test_fitted_estimators_pickle():
    X, y = _digits(200)
    estimator = _classifier().fit(X, y)
    copy = pickle.loads(pickle.dumps(estimator))
    np.testing.assert_array_equal(copy.predict_proba(X), estimator.predict_proba(X))
    np.testing.assert_array_equal(copy.classes_, estimator.classes_)


def test_pipeline_and_cross_val_score():
    X, y = _digits()
    pipeline = make_pipeline(StandardScaler(), _classifier())
    pipeline.fit(X, y)
    assert pipeline.score(X, y) > 0.8
    scores = cross_val_score(make_pipeline(StandardScaler(), _classifier()), X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.6)
    embed = make_pipeline(
        SKLearnTransformer(dynamic_model, model_kwargs={"loss": "mse", "layers": [16]}, fit_kwargs=QUIET),
        StandardScaler(),
    )
    assert embed.fit_transform(X, y.astype(float)).shape == (len(X), 1)


def _grid():
    return GridSearchCV(
        _classifier(),
        {"model_kwargs": [{"loss": "categorical_crossentropy", "layers": [u]} for u in (8, 32)]},
        cv=2,
    )


def test_grid_search_in_two_loky_processes():
    X, y = _digits(400)
    search = _grid().set_params(n_jobs=2).fit(X, y)
    assert search.best_params_["model_kwargs"]["layers"] in ([8], [32])
    assert search.cv_results_["mean_test_score"].shape == (2,)
    assert search.best_score_ > 0.6 and search.score(X, y) > 0.6


def test_limit_blas_threads():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with limit_blas_threads(1):
        blas = [pool for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]
        assert blas and all(pool["num_threads"] == 1 for pool in blas)
    for bad in (0, 1.5, True, "1"):
        with pytest.raises(ValueError, match="limit"):
            limit_blas_threads(bad)
    assert not in_parallel_worker()


def test_limit_blas_threads_without_threadpoolctl(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails: nothing is limited, nothing raised
    with limit_blas_threads(1):
        pass


def _worker_fit_report():
    """Runs in a worker: a fit whose callback records the BLAS pools' threads while training."""
    from threadpoolctl import threadpool_info

    seen = []

    class Record(cyneuron.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.extend(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")

    X, y = _digits(100)
    _classifier(epochs=1, callbacks=[Record()]).fit(X, y)
    return in_parallel_worker(), sorted(set(seen))


def test_fits_in_loky_workers_use_one_blas_thread():
    pytest.importorskip("threadpoolctl")
    from joblib import Parallel, delayed

    results = Parallel(n_jobs=2, backend="loky")(delayed(_worker_fit_report)() for _ in range(2))
    assert results == [(True, [1])] * 2


def test_grid_search_on_a_dask_local_cluster():
    """The documented recipe: a dask.distributed Client and joblib's "dask" backend (2 worker processes)."""
    distributed = pytest.importorskip("distributed", reason="the Dask recipe needs dask[distributed] (test extra)")
    import cloudpickle
    from joblib import parallel_backend

    example = _load_example("sweep")
    cloudpickle.register_pickle_by_value(example)  # the workers cannot import examples/sweep.py
    X, y = _digits(400)
    try:
        with (
            distributed.LocalCluster(
                n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            with parallel_backend("dask"):
                search = _grid().fit(X, y)
            reports = client.gather([client.submit(_worker_fit_report, pure=False) for _ in range(2)])
            # examples/sweep.py --scheduler: its own Client on the same cluster
            result = example.main(["--scheduler", cluster.scheduler_address, "--epochs", "1", "--cv", "2"])
    finally:
        cloudpickle.unregister_pickle_by_value(example)
    assert search.best_score_ > 0.6 and search.cv_results_["mean_test_score"].shape == (2,)
    if _has("threadpoolctl"):
        assert all(report == (True, [1]) for report in reports)
    assert result["n_candidates"] == 16 and result["best_score"] > 0.5


def _load_example(name: str):
    """Import ``examples/<name>.py`` as a module (the folder is not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # cloudpickle ships registered modules by value, looking them up here
    spec.loader.exec_module(module)
    return module


def test_sweep_example_runs_locally(capsys):
    result = _load_example("sweep").main(["--epochs", "1", "--cv", "2", "--n-jobs", "1"])
    out = capsys.readouterr().out
    assert "16 candidates x 2 folds on local processes" in out and "Best parameters" in out
    assert result["n_candidates"] == 16 and result["best_score"] > 0.5 and result["test_accuracy"] > 0.5


def test_grid_search_on_ray():
    """The Ray recipe (ray.util.joblib); Ray is not in any extra (it is large): skipped when absent."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install ray to run the Ray recipe)")
    import ray
    from joblib import parallel_backend
    from ray.util.joblib import register_ray

    X, y = _digits(400)
    register_ray()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with parallel_backend("ray"):
            search = _grid().fit(X, y)
    finally:
        ray.shutdown()
    assert search.best_score_ > 0.6


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
