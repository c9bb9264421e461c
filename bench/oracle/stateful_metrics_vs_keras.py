"""Keras oracle for compiled stateful metrics and ``weighted_metrics``: the same models, weights and data through
``fit`` / ``evaluate`` / ``train_on_batch`` / ``test_on_batch`` in both libraries.

Run under the Keras venv (not part of the test suite):

    KERAS_BACKEND=jax /work/kvenv/bin/python bench/oracle/stateful_metrics_vs_keras.py

Scenarios: a binary classifier with sample weights and weighted validation data (confusion metrics, AUCs,
the "X at Y" metrics, thresholded accuracy; weighted accuracy / mse / AUC), a softmax classifier on one-hot
targets with class weights (F-scores, top-k precision, multi-label AUC; weighted accuracy), a regression with
sample weights (R2Score, MAE, RMSE; weighted R2 / MSE), and one long epoch (4000 steps of one sample: the
running means, float32 in both, and the weights' drift over 4000 float32 steps). For every scenario it prints
whether both logged the same keys (and evaluate returned its list in the same order), then the maximum
relative difference over every logged value (each epoch's History entry, evaluate's dict and list,
train_on_batch / test_on_batch), with the three worst keys.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import cyneuron  # noqa: E402

RNG = np.random.default_rng(0)


def metric_lists(lib, kind: str):
    m = lib.metrics
    if kind == "binary":
        metrics = [
            "accuracy",
            m.BinaryAccuracy(threshold=0.3, name="acc_03"),
            m.Precision(),
            m.Recall(thresholds=[0.3, 0.7]),
            "auc",
            m.AUC(curve="PR", num_thresholds=50),
            m.TruePositives(),
            m.FalseNegatives(),
            m.PrecisionAtRecall(0.5),
            m.RecallAtPrecision(0.6),
            m.SensitivityAtSpecificity(0.5),
            m.SpecificityAtSensitivity(0.5, num_thresholds=20),
            m.F1Score(threshold=0.5),
            "mse",
        ]
        return metrics, ["accuracy", "mse", m.AUC()]
    if kind == "softmax":
        metrics = [
            "accuracy",
            m.F1Score(average="macro"),
            m.FBetaScore(beta=2.0, average="weighted"),
            m.Precision(top_k=2),
            m.Recall(class_id=1),
            m.AUC(multi_label=True),
            m.TopKCategoricalAccuracy(k=2),
        ]
        return metrics, ["categorical_accuracy", m.F1Score(average="micro")]
    if kind == "regression":
        return [m.R2Score(), "mae", m.RootMeanSquaredError()], [m.R2Score(), "mse"]
    return ["mae"], ["mae"]


def build(lib, kind: str, weights=None):
    units, activation, loss = {
        "binary": (1, "sigmoid", "binary_crossentropy"),
        "softmax": (3, "softmax", "categorical_crossentropy"),
        "regression": (2, "linear", "mse"),
        "long": (1, "linear", "mse"),
    }[kind]
    lib.utils.clear_session()  # automatic metric names (precision, precision_1 ...) count from here in both
    model = lib.Sequential(
        [lib.Input((5,)), lib.layers.Dense(8, activation="tanh"), lib.layers.Dense(units, activation)]
    )
    metrics, weighted = metric_lists(lib, kind)
    model.compile(optimizer=lib.optimizers.SGD(0.05), loss=loss, metrics=metrics, weighted_metrics=weighted)
    if weights is not None:
        model.set_weights(weights)
    return model


def data(kind: str, n: int):
    x = RNG.normal(size=(n, 5)).astype(np.float32)
    if kind == "binary":
        y = (x[:, 0] + 0.5 * x[:, 1] + 0.4 * RNG.normal(size=n) > 0).astype(np.float32)[:, None]
    elif kind == "softmax":
        y = np.eye(3, dtype=np.float32)[np.argmax(x[:, :3] + 0.5 * RNG.normal(size=(n, 3)), axis=1)]
    elif kind == "regression":
        y = np.stack([x[:, 0] - x[:, 1], x[:, 2] * 0.5], axis=1).astype(np.float32)
    else:
        y = (x[:, :1] * 0.3).astype(np.float32)
    return x, y, RNG.uniform(0.0, 2.0, size=n).astype(np.float32)


def run(lib, kind: str, weights, arrays, epochs: int, batch_size: int) -> dict:
    (x, y, w), (vx, vy, vw) = arrays
    model = build(lib, kind, weights)
    out = {}
    fit_args = {"sample_weight": w} if kind != "softmax" else {"class_weight": {0: 0.5, 1: 2.0, 2: 1.0}}
    history = model.fit(
        x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0, validation_data=(vx, vy, vw), **fit_args
    )
    for key, values in history.history.items():
        for epoch, value in enumerate(values):
            out[f"fit[{epoch}].{key}"] = value
    for key, value in model.evaluate(vx, vy, sample_weight=vw, verbose=0, return_dict=True).items():
        out[f"evaluate.{key}"] = value
    listed = model.evaluate(vx, vy, verbose=0)
    out.update({f"evaluate_list[{i}]": v for i, v in enumerate(listed if isinstance(listed, list) else [listed])})
    for key, value in model.train_on_batch(x[:20], y[:20], sample_weight=w[:20], return_dict=True).items():
        out[f"train_on_batch.{key}"] = value
    for key, value in model.test_on_batch(vx[:20], vy[:20], sample_weight=vw[:20], return_dict=True).items():
        out[f"test_on_batch.{key}"] = value
    return out


def compare(kind: str, n: int, epochs: int, batch_size: int) -> None:
    arrays = (data(kind, n), data(kind, 64))
    reference = build(keras, kind)
    weights = [np.asarray(v) for v in reference.get_weights()]
    expected = run(keras, kind, weights, arrays, epochs, batch_size)
    got = run(cyneuron, kind, weights, arrays, epochs, batch_size)
    same_keys = sorted(expected) == sorted(got)
    differences = []
    for key in sorted(set(expected) & set(got)):
        a = np.asarray(got[key], dtype=np.float64)
        b = np.asarray(expected[key], dtype=np.float64)
        if a.shape != b.shape:
            differences.append((float("inf"), f"{key} (shapes {a.shape} vs {b.shape})"))
            continue
        differences.append((float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-6))), key))
    differences.sort(reverse=True)
    print(f"{kind:10s} n={n} epochs={epochs} batch={batch_size}: {len(expected)} values")
    print(
        f"  same keys: {same_keys}"
        + (
            ""
            if same_keys
            else f" (keras only: {sorted(set(expected) - set(got))}, cyneuron only: {sorted(set(got) - set(expected))})"
        )
    )
    print("  max relative difference " + ", then ".join(f"{rel:.2e} at {key}" for rel, key in differences[:3]))


def main() -> None:
    compare("binary", 200, 3, 16)
    compare("softmax", 200, 3, 16)
    compare("regression", 200, 3, 16)
    compare("long", 4000, 1, 1)


if __name__ == "__main__":
    main()
