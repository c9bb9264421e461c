"""Keras 3 as the oracle for Embedding (not part of the test suite).

Run in a venv with Keras on JAX and cyneuron importable::

    KERAS_BACKEND=jax python bench/oracle/embedding_vs_keras.py

Same initial weights (Keras' own, moved with get_weights/set_weights) and integer data, two unshuffled
epochs through ``fit`` with Adam: the largest relative difference of the weights (per array, relative
to its largest entry), of the predictions and of the epoch losses, for
``Embedding(50, 8) -> LSTM(16) -> Dense(1)`` (MSE) and ``Embedding(50, 8) -> Flatten -> Dense(2, softmax)``
(sparse categorical cross-entropy). The vocabulary is larger than the data uses, so some rows never get a
gradient: Keras' Adam moves every row's slots each step (a dense gradient with zero rows), as cyneuron
does. Also the default layer's config. Target: 1e-5 in float32, at Adam's default learning rate
(0.001); the table also shows 0.01, where Adam amplifies float32 rounding in rows with tiny gradients
(the relative measure is per array, so a bias of magnitude 1e-3 sits near 1e-5). Checked separately in
float64 (``JAX_ENABLE_X64=1``, floatx float64, fit and train_on_batch, SGD and Adam): the Flatten case
agrees to ~1e-17, so the embedding's forward, scatter-add gradient and the dense Adam update are Keras'
exactly; the LSTM case only to ~1e-7, the precision of Keras' own JAX LSTM there (its float64 forward
pass is ~6e-8 from a plain NumPy LSTM, which cyneuron's matches to 2e-16).
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

T = 12


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-6))


def pair(make_k, layers_c, x, y, loss, lr, input_dtype="int32", epochs=2, batch_size=16):
    k = keras.Sequential([keras.Input((T,), dtype=input_dtype), *make_k()])
    c = cyneuron.models.Sequential([cl.Input((T,), dtype=input_dtype), *layers_c])
    c.set_weights(k.get_weights())
    k.compile(optimizer=keras.optimizers.Adam(lr), loss=loss)
    c.compile(optimizer=cyneuron.optimizers.Adam(lr), loss=loss)
    before = rel(c.predict(x, verbose=0), k.predict(x, verbose=0))
    hk = k.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    hc = c.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    weights = max(rel(a, b) for a, b in zip(c.get_weights(), k.get_weights()))
    untouched = np.setdiff1d(np.arange(50), x)
    moved = float(np.max(np.abs(c.get_weights()[0][untouched] - k.get_weights()[0][untouched])))
    preds = rel(c.predict(x, verbose=0), k.predict(x, verbose=0))
    losses = rel(hc.history["loss"], hk.history["loss"])
    return before, weights, preds, losses, moved


def main() -> None:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 40, (96, T)).astype("int32")  # rows 40..49 are never looked up
    y_reg = rng.standard_normal((96, 1)).astype("float32")
    y_cls = rng.integers(0, 2, 96)
    cases = [
        (
            "Embedding(50,8)->LSTM(16)->Dense(1)",
            lambda: [keras.layers.Embedding(50, 8), keras.layers.LSTM(16), keras.layers.Dense(1)],
            lambda: [cl.Embedding(50, 8), cl.LSTM(16), cl.Dense(1)],
            y_reg,
            "mse",
        ),
        (
            "Embedding(50,8)->Flatten->Dense(2,softmax)",
            lambda: [
                keras.layers.Embedding(50, 8),
                keras.layers.Flatten(),
                keras.layers.Dense(2, activation="softmax"),
            ],
            lambda: [cl.Embedding(50, 8), cl.Flatten(), cl.Dense(2, activation="softmax")],
            y_cls,
            "sparse_categorical_crossentropy",
        ),
    ]
    print("| case | Adam lr | initial predictions | weights | predictions | losses | unused rows abs diff |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    worst = 0.0
    for lr in (0.001, 0.01):
        for label, make_k, make_c, y, loss in cases:
            keras.utils.set_random_seed(1)
            before, weights, preds, losses, moved = pair(make_k, make_c(), x, y, loss, lr)
            if lr == 0.001:
                worst = max(worst, weights, preds, losses)
            print(f"| {label} | {lr} | {before:.1e} | {weights:.1e} | {preds:.1e} | {losses:.1e} | {moved:.1e} |")
    print(f"worst relative difference, Adam's default lr: {worst:.1e} ({'OK' if worst < 1e-5 else 'ABOVE 1e-5'})")

    config_k = keras.layers.Embedding(10, 4).get_config()
    config_c = cl.Embedding(10, 4).get_config()
    print("config keys equal:", set(config_k) == set(config_c))
    clone = cl.deserialize({"class_name": "Embedding", "config": config_k})
    print("Keras config loads:", (clone.input_dim, clone.output_dim) == (10, 4))


if __name__ == "__main__":
    main()
