"""Keras 3 as the oracle for the scikit-learn wrappers (issue 14; not part of the test suite).

Run in a venv with Keras on JAX, scikit-learn and cyneuron importable::

    KERAS_BACKEND=jax /work/kvenv/bin/python bench/oracle/wrappers_vs_keras.py

For each case the two wrappers get model-building callables that build the same MLP with the same initial
weights (drawn here), compiled with plain SGD; both are fitted with ``shuffle=False`` on the same data, so
the encoded targets each callable receives, the trained weights and every output must agree. Compared:
``predict`` (labels exactly), ``decision_function`` / ``transform`` / the regressor's ``predict`` (relative
1e-5), ``classes_``, ``n_features_in_``, the target each callable received, ``get_params()`` keys, and the
exception types for bad input (one class, a continuous target for the classifier, object labels, predict
before fit, an uncompiled model, the wrong number of features). Exits 1 on a difference.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src"))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras.wrappers import SKLearnClassifier as KClassifier  # noqa: E402
from keras.wrappers import SKLearnRegressor as KRegressor  # noqa: E402
from keras.wrappers import SKLearnTransformer as KTransformer  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402

import cyneuron  # noqa: E402
from cyneuron.wrappers import SKLearnClassifier, SKLearnRegressor, SKLearnTransformer  # noqa: E402

TARGET = 1e-5
FIT = {"epochs": 3, "batch_size": 8, "shuffle": False, "verbose": 0}
failures: list[str] = []


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / (np.abs(b) + 1e-6))) if a.size else 0.0


def builders(hidden: int, activation: str, loss: str, seen: dict):
    """Callables building the same model in Keras and cyneuron: initial weights drawn from the data's shapes."""

    def weights(X, y):
        rng = np.random.default_rng(0)
        n_out = y.shape[1] if y.ndim > 1 else 1
        return [
            rng.normal(0, 0.3, (X.shape[1], hidden)).astype("float32"),
            rng.normal(0, 0.1, hidden).astype("float32"),
            rng.normal(0, 0.3, (hidden, n_out)).astype("float32"),
            rng.normal(0, 0.1, n_out).astype("float32"),
        ], n_out

    def keras_model(X, y):
        seen["keras"] = np.array(y)
        w, n_out = weights(X, y)
        model = keras.Sequential(
            [
                keras.Input((X.shape[1],)),
                keras.layers.Dense(hidden, activation="tanh"),
                keras.layers.Dense(n_out, activation=activation),
            ]
        )
        model.set_weights(w)
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss=loss)
        return model

    def cyneuron_model(X, y):
        seen["cyneuron"] = np.array(y)
        w, n_out = weights(X, y)
        model = cyneuron.Sequential(
            [
                cyneuron.Input((X.shape[1],)),
                cyneuron.layers.Dense(hidden, activation="tanh"),
                cyneuron.layers.Dense(n_out, activation=activation),
            ]
        )
        model.set_weights(w)
        model.compile(optimizer=cyneuron.optimizers.SGD(0.05), loss=loss)
        return model

    return keras_model, cyneuron_model


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
    if not ok:
        failures.append(name)


def compare_outputs(name: str, k, c, X, methods) -> None:
    for method in methods:
        a, b = getattr(c, method)(X), getattr(k, method)(X)
        if np.asarray(b).dtype.kind in "fc":
            diff = rel(a, b)
            same = diff <= TARGET and np.shape(a) == np.shape(b)
            check(f"{name} {method}", same, f"shape {np.shape(a)}, rel {diff:.1e}")
        else:
            check(f"{name} {method}", np.array_equal(a, b), f"shape {np.shape(a)}")


def classification_cases() -> None:
    X, y = make_classification(n_samples=61, n_features=6, n_informative=4, n_classes=3, random_state=0)
    X = X.astype("float32")
    names = np.array(["ant", "bee", "cat"])
    X2, y2 = make_classification(n_samples=40, n_features=5, random_state=1)
    for case, X_, y_, activation, loss in [
        ("multiclass softmax", X, y, "softmax", "categorical_crossentropy"),
        ("string labels", X, names[y], "softmax", "categorical_crossentropy"),
        ("binary softmax", X2, y2, "softmax", "binary_crossentropy"),
        ("binary linear", X2, y2, "linear", "mse"),
    ]:
        seen: dict = {}
        kb, cb = builders(7, activation, loss, seen)
        k = KClassifier(kb, fit_kwargs=FIT).fit(X_, y_)
        c = SKLearnClassifier(cb, fit_kwargs=FIT).fit(X_, y_)
        check(f"{case} encoded y", np.array_equal(seen["keras"], seen["cyneuron"]), f"shape {seen['keras'].shape}")
        check(f"{case} classes_", np.array_equal(k.classes_, c.classes_), str(c.classes_))
        check(f"{case} n_features_in_", k.n_features_in_ == c.n_features_in_)
        compare_outputs(case, k, c, X_, ["decision_function", "predict"])
        check(f"{case} score", abs(k.score(X_, y_) - c.score(X_, y_)) < 1e-12, f"{c.score(X_, y_):.4f}")


def regression_and_transform_cases() -> None:
    X, y = make_regression(n_samples=45, n_features=4, noise=0.1, random_state=0)
    X, y = X.astype("float32"), (y / y.std()).astype("float32")
    for case, cls_k, cls_c, methods in [
        ("regressor 1-D y", KRegressor, SKLearnRegressor, ["predict"]),
        ("transformer", KTransformer, SKLearnTransformer, ["transform"]),
    ]:
        seen: dict = {}
        kb, cb = builders(5, "linear", "mse", seen)
        k = cls_k(kb, fit_kwargs=FIT).fit(X, y)
        c = cls_c(cb, fit_kwargs=FIT).fit(X, y)
        check(f"{case} encoded y", np.array_equal(seen["keras"], seen["cyneuron"]), f"shape {seen['keras'].shape}")
        compare_outputs(case, k, c, X, methods)


def error_cases() -> None:
    X, y = make_classification(n_samples=30, n_features=4, random_state=0)
    kb, cb = builders(3, "softmax", "categorical_crossentropy", {})
    cases = [
        ("one class", lambda cls, b: cls(b, fit_kwargs=FIT).fit(X, np.zeros(30))),
        ("continuous target", lambda cls, b: cls(b, fit_kwargs=FIT).fit(X, np.linspace(0, 1, 30))),
        ("object labels", lambda cls, b: cls(b, fit_kwargs=FIT).fit(X, np.array([object()] * 30, dtype=object))),
        ("predict before fit", lambda cls, b: cls(b).predict(X)),
        ("wrong feature count", lambda cls, b: cls(b, fit_kwargs=FIT).fit(X, y).predict(X[:, :3])),
    ]
    for case, run in cases:
        outcome = {}
        for who, cls, b in (("keras", KClassifier, kb), ("cyneuron", SKLearnClassifier, cb)):
            try:
                run(cls, b)
                outcome[who] = None
            except Exception as error:  # the type is what is compared
                outcome[who] = type(error)
        check(f"error: {case}", outcome["keras"] is outcome["cyneuron"], f"{outcome}")

    def uncompiled(framework):
        def build(X, y):
            return framework.Sequential([framework.Input((X.shape[1],)), framework.layers.Dense(y.shape[1])])

        return build

    outcome = {}
    for who, cls, fw in (("keras", KClassifier, keras), ("cyneuron", SKLearnClassifier, cyneuron)):
        try:
            cls(uncompiled(fw), fit_kwargs=FIT).fit(X, y)
            outcome[who] = None
        except Exception as error:
            outcome[who] = type(error)
    check("error: uncompiled model", outcome["keras"] is outcome["cyneuron"], f"{outcome}")
    pairs = ((KClassifier, SKLearnClassifier), (KRegressor, SKLearnRegressor), (KTransformer, SKLearnTransformer))
    for kc, cc in pairs:
        check(f"{cc.__name__} get_params keys", set(kc(kb).get_params()) == set(cc(cb).get_params()))


if __name__ == "__main__":
    keras.utils.disable_interactive_logging()  # Keras' wrapper predicts with a progress bar
    classification_cases()
    regression_and_transform_cases()
    error_cases()
    print(f"\n{len(failures)} difference(s)" + (f": {failures}" if failures else ""))
    sys.exit(1 if failures else 0)
