"""The scikit-learn wrappers: scikit-learn's estimator checks (with Keras' own expected-failure list), the
Keras wrapper API (callables, model instances, warm_start, encodings), and their use in Pipeline,
cross_val_score, GridSearchCV(n_jobs=2) and on a Dask LocalCluster."""

from __future__ import annotations

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="the wrappers need scikit-learn (the test extra has it)")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from cyneuron.layers import Dense, Input  # noqa: E402
from cyneuron.models import Sequential  # noqa: E402
from cyneuron.wrappers import SKLearnClassifier, SKLearnRegressor, SKLearnTransformer  # noqa: E402


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


@parametrize_with_checks(
    [
        SKLearnClassifier(
            model=dynamic_model,
            model_kwargs={"loss": "categorical_crossentropy", "layers": [20, 20, 20]},
            fit_kwargs={"epochs": 5, "verbose": 0},
        ),
        SKLearnRegressor(model=dynamic_model, model_kwargs={"loss": "mse"}, fit_kwargs={"verbose": 0}),
        SKLearnTransformer(model=dynamic_model, model_kwargs={"loss": "mse"}, fit_kwargs={"verbose": 0}),
    ],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS[type(estimator).__name__],
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
