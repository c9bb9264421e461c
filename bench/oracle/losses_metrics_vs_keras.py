"""Keras oracle for the losses and metrics: standalone values and what fit/evaluate log.

Run under the Keras venv (not part of the test suite):

    KERAS_BACKEND=jax /work/kvenv/bin/python bench/oracle/losses_metrics_vs_keras.py

1. Every loss class with its options, every reduction, with and without sample weights, called on
   its own in both libraries (float32).
2. Every loss through 2 epochs of ``fit`` (no shuffling, SGD, a 6-8-units network with the same
   initial weights) and ``evaluate``: the logged losses and the final weights.
3. Every metric class: two ``update_state`` calls (the second weighted), ``result()``.
4. Per-sample metrics as logged by ``fit`` and ``evaluate``.

Prints the largest relative error of each (|cyneuron - keras| / max(|keras|, 1e-4); for weights, relative
to the largest entry of their array) and the worst.
``ORACLE_FLOAT64=1`` runs both libraries in float64 (JAX with x64): what is left then is formula, not
float32 rounding amplified by training.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
FLOAT64 = os.environ.get("ORACLE_FLOAT64") == "1"
if FLOAT64:
    os.environ["JAX_ENABLE_X64"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import cyneuron  # noqa: E402
from cyneuron import losses as cy_losses  # noqa: E402
from cyneuron import metrics as cy_metrics  # noqa: E402

TARGET = 1e-5
RNG = np.random.default_rng(0)
FLOAT = "float64" if FLOAT64 else "float32"
if FLOAT64:
    keras.config.set_floatx("float64")
    cyneuron.config.set_floatx("float64")
N, UNITS = 24, 4


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-4))) if b.size else 0.0


def rel_array(a, b) -> float:
    """Relative to the array's scale (a weight that started at 0 is compared against its whole array)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-4))


def targets(kind: str, n: int = N, units: int = UNITS) -> np.ndarray:
    if kind == "labels":
        return RNG.integers(0, units, size=n)
    if kind == "onehot":
        return np.eye(units, dtype=FLOAT)[RNG.integers(0, units, size=n)]
    if kind == "binary":
        return RNG.integers(0, 2, size=(n, units)).astype(FLOAT)
    if kind == "dist":
        e = RNG.random((n, units))
        return (e / e.sum(1, keepdims=True)).astype(FLOAT)
    if kind == "counts":
        return RNG.poisson(1.5, size=(n, units)).astype(FLOAT)
    if kind == "away":  # real targets away from 0 (MAPE divides by them)
        return (RNG.uniform(0.5, 2.0, size=(n, units)) * RNG.choice([-1, 1], size=(n, units))).astype(FLOAT)
    return RNG.normal(size=(n, units)).astype(FLOAT)


def predictions(kind: str, n: int = N, units: int = UNITS) -> np.ndarray:
    if kind == "prob":
        return RNG.uniform(0.02, 0.98, size=(n, units)).astype(FLOAT)
    if kind == "softmax":
        e = np.exp(RNG.normal(size=(n, units)))
        return (e / e.sum(1, keepdims=True)).astype(FLOAT)
    if kind == "positive":
        return RNG.uniform(0.1, 3.0, size=(n, units)).astype(FLOAT)
    return RNG.normal(scale=2.0, size=(n, units)).astype(FLOAT)


# (class name, options, target kind, prediction kind, output activation in fit)
LOSSES = [
    ("MeanSquaredError", {}, "real", "real", "linear"),
    ("MeanAbsoluteError", {}, "real", "real", "linear"),
    ("MeanAbsolutePercentageError", {}, "away", "real", "linear"),
    ("MeanSquaredLogarithmicError", {}, "counts", "positive", "relu"),
    ("CosineSimilarity", {}, "real", "real", "linear"),
    ("Huber", {}, "real", "real", "linear"),
    ("Huber", {"delta": 0.4}, "real", "real", "linear"),
    ("LogCosh", {}, "real", "real", "linear"),
    ("KLDivergence", {}, "dist", "softmax", "softmax"),
    ("Poisson", {}, "counts", "positive", "sigmoid"),
    ("Hinge", {}, "binary", "real", "tanh"),
    ("SquaredHinge", {}, "binary", "real", "tanh"),
    ("CategoricalHinge", {}, "onehot", "real", "linear"),
    ("BinaryCrossentropy", {}, "binary", "prob", "sigmoid"),
    ("BinaryCrossentropy", {"label_smoothing": 0.2}, "binary", "prob", "sigmoid"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "binary", "real", "linear"),
    ("CategoricalCrossentropy", {}, "onehot", "softmax", "softmax"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1}, "onehot", "softmax", "softmax"),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.3}, "onehot", "real", "linear"),
    ("SparseCategoricalCrossentropy", {}, "labels", "softmax", "softmax"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "labels", "real", "linear"),
    ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 2}, "labels", "real", "linear"),
]
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None]


def standalone_losses() -> float:
    worst = 0.0
    print("1. standalone losses (all reductions, unweighted / weighted)")
    for name, options, t_kind, p_kind, _ in LOSSES:
        y, p = targets(t_kind), predictions(p_kind)
        w = RNG.uniform(0, 2, size=N).astype(FLOAT)
        err = 0.0
        for reduction in REDUCTIONS:
            k = getattr(keras.losses, name)(reduction=reduction, **options)
            c = getattr(cy_losses, name)(reduction=reduction, **options)
            for weights in (None, w):
                err = max(err, rel(c(y, p, sample_weight=weights), k(y, p, sample_weight=weights)))
        fn = getattr(cy_losses, getattr(cy_losses, name)().canonical)
        kfn = getattr(keras.losses, fn.__name__, None)
        if kfn is not None and not options:
            err = max(err, rel(fn(y, p), kfn(y, p)))
        print(f"   {name:32s} {str(options):45s} {err:.2e}")
        worst = max(worst, err)
    return worst


def loss_gradients() -> float:
    """d loss / d y_pred of the compiled head (the training path) against jax.grad of Keras' loss."""
    import jax
    import jax.numpy as jnp

    from cyneuron.backend.cython_ops import CythonOps

    ops, worst = CythonOps(), 0.0
    print("1b. loss gradients of the compiled head vs jax.grad of the Keras loss (every reduction)")
    for name, options, t_kind, p_kind, _ in LOSSES:
        y, p = targets(t_kind), predictions(p_kind)
        err = 0.0
        for reduction in ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight"):
            k = getattr(keras.losses, name)(reduction=reduction, **options)
            spec = getattr(cy_losses, name)(reduction=reduction, **options).spec
            labels = y.astype(np.int64) if spec.name == "sparse_categorical_crossentropy" else y
            expected = np.asarray(jax.grad(lambda q, k=k, y=y: k(jnp.asarray(y), q))(jnp.asarray(p)))
            out = np.empty_like(p)
            ops.loss_gradient(spec, labels, p, out)
            err = max(err, float(np.max(np.abs(out - expected)) / max(float(np.max(np.abs(expected))), 1e-12)))
        print(f"   {name:32s} {str(options):45s} {err:.2e}")
        worst = max(worst, err)
    return worst


def network(lib, units: int, activation: str, weights=None):
    model = lib.models.Sequential(
        [lib.layers.Input((6,)), lib.layers.Dense(8, activation="tanh"), lib.layers.Dense(units, activation=activation)]
    )
    if weights is not None:
        model.set_weights(weights)
    return model


def fit_losses() -> float:
    worst = 0.0
    print("2. 2 epochs of fit + evaluate (loss history, evaluate, final weights), sample-weighted and not")
    x = RNG.normal(size=(N, 6)).astype(FLOAT)
    for name, options, t_kind, _, activation in LOSSES:
        y = targets(t_kind)
        for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight"):
            err = 0.0
            for weighted in (False, True):
                w = RNG.uniform(0.2, 2, size=N).astype(FLOAT) if weighted else None
                k_model = network(keras, UNITS, activation)
                start = [np.array(v) for v in k_model.get_weights()]
                c_model = network(cyneuron, UNITS, activation, start)
                results = []
                for lib, model, module in ((keras, k_model, keras.losses), (cyneuron, c_model, cy_losses)):
                    model.compile(
                        optimizer=lib.optimizers.SGD(learning_rate=0.02),
                        loss=getattr(module, name)(reduction=reduction, **options),
                    )
                    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, sample_weight=w)
                    value = model.evaluate(x, y, batch_size=8, verbose=0, sample_weight=w)
                    results.append((history.history["loss"], value, model.get_weights()))
                (kh, ke, kw), (ch, ce, cw) = results
                err = max(err, rel(ch, kh), rel(ce, ke), max(rel_array(a, b) for a, b in zip(cw, kw)))
            worst = max(worst, err)
            print(f"   {name:32s} {str(options):45s} {reduction:24s} {err:.2e}")
    return worst


# (class name, kwargs, target kind, prediction kind)
METRICS = [
    ("Accuracy", {}, "binary", "binary"),
    ("BinaryAccuracy", {}, "binary", "prob"),
    ("BinaryAccuracy", {"threshold": 0.3}, "binary", "prob"),
    ("CategoricalAccuracy", {}, "onehot", "softmax"),
    ("SparseCategoricalAccuracy", {}, "labels", "softmax"),
    ("TopKCategoricalAccuracy", {"k": 2}, "onehot", "softmax"),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, "labels", "softmax"),
    ("MeanSquaredError", {}, "real", "real"),
    ("MeanAbsoluteError", {}, "real", "real"),
    ("MeanAbsolutePercentageError", {}, "real", "real"),
    ("MeanSquaredLogarithmicError", {}, "counts", "positive"),
    ("RootMeanSquaredError", {}, "real", "real"),
    ("CosineSimilarity", {}, "real", "real"),
    ("LogCoshError", {}, "real", "real"),
    ("KLDivergence", {}, "dist", "softmax"),
    ("Poisson", {}, "counts", "positive"),
    ("BinaryCrossentropy", {}, "binary", "prob"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, "binary", "real"),
    ("CategoricalCrossentropy", {}, "onehot", "softmax"),
    ("SparseCategoricalCrossentropy", {}, "labels", "softmax"),
    ("Hinge", {}, "binary", "real"),
    ("SquaredHinge", {}, "binary", "real"),
    ("CategoricalHinge", {}, "onehot", "real"),
    ("Precision", {}, "binary", "prob"),
    ("Precision", {"thresholds": [0.3, 0.6], "class_id": 1}, "binary", "prob"),
    ("Precision", {"top_k": 2}, "binary", "prob"),
    ("Recall", {}, "binary", "prob"),
    ("Recall", {"thresholds": 0.7}, "binary", "prob"),
    ("TruePositives", {}, "binary", "prob"),
    ("FalseNegatives", {"thresholds": [0.2, 0.8]}, "binary", "prob"),
    ("AUC", {}, "binary", "prob"),
    ("AUC", {"curve": "PR"}, "binary", "prob"),
    ("AUC", {"curve": "PR", "summation_method": "majoring", "num_thresholds": 50}, "binary", "prob"),
    ("AUC", {"multi_label": True}, "binary", "prob"),
    ("AUC", {"from_logits": True, "thresholds": [0.25, 0.5, 0.75]}, "binary", "real"),
    ("F1Score", {}, "onehot", "softmax"),
    ("F1Score", {"average": "macro", "threshold": 0.4}, "binary", "prob"),
    ("F1Score", {"average": "micro"}, "binary", "prob"),
    ("FBetaScore", {"average": "weighted", "beta": 2.0}, "onehot", "softmax"),
]


def standalone_metrics() -> float:
    worst = 0.0
    print("3. standalone metrics (update_state twice, the second with sample weights; result)")
    for name, kwargs, t_kind, p_kind in METRICS:
        k = getattr(keras.metrics, name)(**kwargs)
        c = getattr(cy_metrics, name)(**kwargs)
        for weighted in (False, True):
            y = targets(t_kind)
            p = targets("binary") if p_kind == "binary" else predictions(p_kind)
            w = RNG.uniform(0, 2, size=N).astype(FLOAT) if weighted else None
            k.update_state(y, p, sample_weight=w)
            c.update_state(y, p, sample_weight=w)
        err = rel(c.result(), k.result())
        c.reset_state()
        k.reset_state()
        print(f"   {name:32s} {str(kwargs):60s} {err:.2e}")
        worst = max(worst, err)
    return worst


# (loss, metrics, target kind, output activation)
LOGGED = [
    ("mse", ["mae", "mape", "msle", "RootMeanSquaredError", "CosineSimilarity", "LogCoshError"], "away", "linear"),
    (
        "categorical_crossentropy",
        ["accuracy", "top_k_categorical_accuracy", "kl_divergence", "categorical_hinge"],
        "onehot",
        "softmax",
    ),
    ("sparse_categorical_crossentropy", ["accuracy", "sparse_top_k_categorical_accuracy"], "labels", "softmax"),
    (
        "binary_crossentropy",
        ["accuracy", "binary_crossentropy", "hinge", "squared_hinge", "poisson"],
        "binary",
        "sigmoid",
    ),
]


def logged_metrics() -> float:
    worst = 0.0
    print("4. per-sample metrics as logged by fit (2 epochs, validation_data) and evaluate")
    x = RNG.normal(size=(N, 6)).astype(FLOAT)
    for loss, names, t_kind, activation in LOGGED:
        y = targets(t_kind)
        k_model = network(keras, UNITS, activation)
        c_model = network(cyneuron, UNITS, activation, [np.array(v) for v in k_model.get_weights()])
        logs = []
        for lib, model in ((keras, k_model), (cyneuron, c_model)):
            model.compile(optimizer=lib.optimizers.SGD(learning_rate=0.02), loss=loss, metrics=list(names))
            history = model.fit(
                x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, validation_data=(x[:10], y[:10])
            )
            logs.append((history.history, model.evaluate(x, y, batch_size=5, verbose=0, return_dict=True)))
        (kh, ke), (ch, ce) = logs
        missing = sorted(set(kh) ^ set(ch))
        err = max(max(rel(ch[key], kh[key]) for key in kh if key in ch), max(rel(ce[key], ke[key]) for key in ke))
        print(f"   {loss:34s} {', '.join(names):80s} {err:.2e}" + (f"  keys differ: {missing}" if missing else ""))
        worst = max(worst, err)
    return worst


def main() -> None:
    worst = {
        "standalone losses": standalone_losses(),
        "loss gradients": loss_gradients(),
        "fit losses": fit_losses(),
        "standalone metrics": standalone_metrics(),
        "logged metrics": logged_metrics(),
    }
    print()
    for key, value in worst.items():
        print(f"{key:20s} max relative error {value:.2e} {'OK' if value <= TARGET else 'ABOVE 1e-5'}")


if __name__ == "__main__":
    main()
