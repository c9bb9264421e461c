"""Keras 3 as the oracle for sample and class weights (issue 13; not part of the test suite).

Run in a venv with Keras on JAX and cyneuron importable::

    KERAS_BACKEND=jax /work/kvenv/bin/python bench/oracle/weights_vs_keras.py

For every loss (and its usual output activation, plus the from_logits forms), the same initial
weights and data, two unshuffled epochs through both frameworks with
``fit(sample_weight=, validation_data=(x, y, w))`` and with ``fit(class_weight=)``, then
``evaluate(sample_weight=)``, ``train_on_batch(class_weight=)`` and ``test_on_batch(sample_weight=)``.
Compared: the weights, the loss / metric / val history and the returned values. Prints the largest
relative difference per case (target: 1e-5 in float32); exits 1 above it.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src"))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import cyneuron  # noqa: E402
from cyneuron import layers as cl  # noqa: E402

TARGET = 1e-5
N, FEATURES, UNITS = 37, 5, 3  # 37 rows in batches of 8: a partial last batch


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / (np.abs(b) + 1e-6))) if a.size else 0.0


def weights_rel(c, k) -> float:
    return max(
        float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-3)) for a, b in zip(c.get_weights(), k.get_weights())
    )


def models(activation, units, loss, metrics):
    k = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(8, activation="tanh"),
            keras.layers.Dense(units, activation=activation),
        ]
    )
    c = cyneuron.models.Sequential(
        [cl.Input((FEATURES,)), cl.Dense(8, activation="tanh"), cl.Dense(units, activation=activation)]
    )
    c.set_weights(k.get_weights())
    k.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss, metrics=metrics)
    c.compile(optimizer=cyneuron.optimizers.SGD(0.1), loss=cy_loss(loss), metrics=metrics)
    return k, c


def history_rel(hc, hk) -> float:
    keys = set(hk.history)
    if keys != set(hc.history):
        raise AssertionError(f"history keys differ: keras {sorted(keys)}, cyneuron {sorted(hc.history)}")
    return max(rel(hc.history[key], hk.history[key]) for key in keys)


def cases(rng):
    labels = rng.integers(0, UNITS, N)
    onehot = np.eye(UNITS, dtype="float32")[labels]
    binary = (rng.uniform(size=(N, 1)) > 0.4).astype("float32")
    multi = (rng.uniform(size=(N, UNITS)) > 0.5).astype("float32")
    regress = rng.standard_normal((N, UNITS)).astype("float32")
    ce_logits = keras.losses.CategoricalCrossentropy(from_logits=True)
    yield "mse", "linear", UNITS, "mse", regress, ["mae"], None
    yield "mae", "linear", UNITS, "mae", regress, ["mse"], None
    yield "bce sigmoid (n,1)", "sigmoid", 1, "binary_crossentropy", binary, ["accuracy"], {0: 0.3, 1: 2.0}
    yield "bce sigmoid multi-label", "sigmoid", UNITS, "binary_crossentropy", multi, ["accuracy"], None
    yield "cce softmax", "softmax", UNITS, "categorical_crossentropy", onehot, ["accuracy"], {0: 2.0, 2: 0.25}
    yield "scce softmax", "softmax", UNITS, "sparse_categorical_crossentropy", labels, ["accuracy"], {1: 3.0, 2: 0.0}
    yield "cce logits", "linear", UNITS, ce_logits, onehot, [], {0: 0.5, 1: 1.5}
    yield (
        "scce logits",
        "linear",
        UNITS,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        labels,
        [],
        {0: 1.7},
    )
    yield "bce logits", "linear", 1, keras.losses.BinaryCrossentropy(from_logits=True), binary, [], {1: 0.5}
    yield "cce sigmoid (chained)", "sigmoid", UNITS, "categorical_crossentropy", onehot, [], {2: 4.0}
    yield "mse tanh (chained)", "tanh", UNITS, "mse", regress, [], {1: 0.0, 2: 2.5}


def cy_loss(loss):
    """The cyneuron twin of a Keras loss argument (a name, or a Keras loss instance)."""
    if isinstance(loss, str):
        return loss
    return cyneuron.losses.get({"class_name": type(loss).__name__, "config": {"from_logits": True}})


def batches_case(rng) -> float:
    """(x, y, w) batches from a PyDataset, and class_weight on (x, y) batches; validation batches (x, y, w)."""
    x = rng.standard_normal((N, FEATURES)).astype("float32")
    labels = rng.integers(0, UNITS, N)
    sw = rng.uniform(0, 2, N).astype("float32")
    worst = 0.0
    parts = tuple(slice(start, start + 8) for start in range(0, N, 8))
    for mode in ("(x, y, w) batches", "class_weight on batches"):
        with_w = mode.startswith("(x")

        def make(base, with_w=with_w):
            class Batches(base):
                def __len__(self):
                    return len(parts)

                def __getitem__(self, i):
                    s = parts[i]
                    return (x[s], labels[s], sw[s]) if with_w else (x[s], labels[s])

            return Batches()

        class Val(keras.utils.PyDataset):
            def __len__(self):
                return 2

            def __getitem__(self, i):
                s = slice(20 * i, 20 * i + 20)
                return x[s], labels[s], sw[s]

        class CyVal(cyneuron.utils.PyDataset):
            __len__, __getitem__ = Val.__len__, Val.__getitem__

        keras.utils.set_random_seed(1)
        k, c = models("softmax", UNITS, "sparse_categorical_crossentropy", ["accuracy"])
        kw = {"shuffle": False} if mode.startswith("(x") else {"shuffle": False, "class_weight": {0: 0.5, 2: 3.0}}
        hk = k.fit(make(keras.utils.PyDataset), epochs=2, verbose=0, validation_data=Val(), **kw)
        hc = c.fit(make(cyneuron.utils.PyDataset), epochs=2, verbose=0, validation_data=CyVal(), **kw)
        values = (weights_rel(c, k), history_rel(hc, hk))
        print(f"{'scce softmax [' + mode + ']':30s} " + " ".join(f"{v:9.2e}" for v in values))
        worst = max(worst, *values)
    return worst


def main() -> None:
    rng = np.random.default_rng(0)
    worst = 0.0
    print(f"{'case':30s} {'weights':>9s} {'history':>9s} {'calls':>9s}")
    for label, activation, units, loss, y, metrics, class_weight in cases(rng):
        x = rng.standard_normal((N, FEATURES)).astype("float32")
        sw = rng.uniform(0, 2, N).astype("float32")
        sw[::7] = 0.0  # zero weights still count in sum_over_batch_size's divisor
        val_w = rng.uniform(0, 3, N).astype("float32")
        # regression / multi-label rows: Keras takes the arg-max of each row as its class
        cw = class_weight if class_weight is not None else {0: 2.0, 1: 0.5}
        results = []
        for mode in ("sample_weight", "class_weight"):
            keras.utils.set_random_seed(1)
            k, c = models(activation, units, loss, metrics)
            fit_kw = (
                {"sample_weight": sw, "validation_data": (x, y, val_w)}
                if mode == "sample_weight"
                else {"class_weight": cw, "validation_split": 0.25}
            )
            hk = k.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, **fit_kw)
            hc = c.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, **fit_kw)
            w_rel, h_rel = weights_rel(c, k), history_rel(hc, hk)
            calls = [
                (
                    c.evaluate(x, y, sample_weight=val_w, batch_size=8, verbose=0),
                    k.evaluate(x, y, sample_weight=val_w, batch_size=8, verbose=0),
                ),
                (c.test_on_batch(x, y, sample_weight=sw), k.test_on_batch(x, y, sample_weight=sw)),
            ]
            if mode == "class_weight":
                c.reset_metrics()
                k.reset_metrics()
                calls.append(
                    (
                        c.train_on_batch(x[:11], y[:11], class_weight=cw),
                        k.train_on_batch(x[:11], y[:11], class_weight=cw),
                    )
                )
            else:
                c.reset_metrics()
                k.reset_metrics()
                calls.append(
                    (
                        c.train_on_batch(x[:11], y[:11], sample_weight=sw[:11]),
                        k.train_on_batch(x[:11], y[:11], sample_weight=sw[:11]),
                    )
                )
            c_rel = max(rel(a, b) for a, b in calls)
            w_rel = max(w_rel, weights_rel(c, k))
            results.append((f"{label} [{mode}]", w_rel, h_rel, c_rel))
        for name, *values in results:
            worst = max(worst, *values)
            print(f"{name:30s} " + " ".join(f"{v:9.2e}" for v in values))
    worst = max(worst, batches_case(rng))
    print(f"worst {worst:.2e} (target {TARGET:g})")
    sys.exit(0 if worst <= TARGET else 1)


if __name__ == "__main__":
    main()
