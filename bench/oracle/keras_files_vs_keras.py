"""Keras 3 as the oracle for ``.keras`` / ``.weights.h5`` files (not part of the test suite).

Run in a venv with Keras on JAX, h5py and cyneuron importable::

    KERAS_BACKEND=jax python bench/oracle/keras_files_vs_keras.py

(a) cyneuron trains a model one epoch, saves ``m.keras``; ``keras.saving.load_model`` opens it: the
    predictions must agree (1e-6, relative to the largest output), then one more epoch in both (same
    data, unshuffled) must give the same weights (1e-5): the optimizer state went across.
(b) Keras trains, saves ``m.keras``; ``cyneuron.saving.load_model`` opens it: same two checks.
(c) ``save_weights("m.weights.h5")`` in one, ``load_weights`` in the other, both ways: predictions.

``--functional`` builds every model with the functional API (``Model(inputs, outputs)``) instead.
"""

from __future__ import annotations

import os
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src"))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import cyneuron  # noqa: E402
from cyneuron import layers as cl  # noqa: E402


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if not a.size:
        return 0.0
    return float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-12))


def wrel(wa, wb) -> float:
    if len(wa) != len(wb):
        return float("inf")
    return max((rel(a, b) for a, b in zip(wa, wb)), default=0.0)


RNG = np.random.default_rng(0)


def image_data(n=32):
    return RNG.random((n, 8, 8, 3), dtype=np.float32), np.eye(3, dtype=np.float32)[RNG.integers(0, 3, n)]


def seq_data(n=32):
    return RNG.random((n, 6, 4), dtype=np.float32), np.eye(3, dtype=np.float32)[RNG.integers(0, 3, n)]


def int_data(n=32):
    return RNG.integers(0, 20, (n, 7)).astype(np.int32), np.eye(3, dtype=np.float32)[RNG.integers(0, 3, n)]


def vec_data(n=32):
    return RNG.random((n, 10), dtype=np.float32), np.eye(3, dtype=np.float32)[RNG.integers(0, 3, n)]


CASES = [
    (
        "dense+activations",
        (10,),
        vec_data,
        lambda L: [
            L.Dense(8, activation="relu"),
            L.LeakyReLU(),
            L.Dense(6),
            L.ELU(),
            L.ReLU(),
            L.Activation("tanh"),
            L.Dense(3),
            L.Softmax(),
        ],
    ),
    (
        "conv2d+pool+bn",
        (8, 8, 3),
        image_data,
        lambda L: [
            L.Conv2D(4, 3, activation="relu"),
            L.BatchNormalization(),
            L.MaxPooling2D(),
            L.Conv2D(3, 2, padding="same"),
            L.AveragePooling2D(2),
            L.Flatten(),
            L.Dense(3, activation="softmax"),
        ],
    ),
    # Dropout's masks are random in both: predictions only (the weights after an epoch differ by design).
    ("dense+dropout", (10,), vec_data, lambda L: [L.Dense(8), L.Dropout(0.3), L.Dense(3, activation="softmax")]),
    (
        "conv1d+globalpool",
        (6, 4),
        seq_data,
        lambda L: [L.Conv1D(5, 2), L.MaxPooling1D(), L.GlobalAveragePooling1D(), L.Dense(3, activation="softmax")],
    ),
    ("lstm", (6, 4), seq_data, lambda L: [L.LSTM(5), L.Dense(3, activation="softmax")]),
    (
        "gru",
        (6, 4),
        seq_data,
        lambda L: [L.GRU(5, return_sequences=True), L.GlobalMaxPooling1D(), L.Dense(3, activation="softmax")],
    ),
    ("simple_rnn", (6, 4), seq_data, lambda L: [L.SimpleRNN(5), L.Dense(3, activation="softmax")]),
    ("embedding+lstm", (7,), int_data, lambda L: [L.Embedding(20, 4), L.LSTM(3), L.Dense(3, activation="softmax")]),
]

OPTIMIZERS = [
    ("adam", lambda m: m.optimizers.Adam(0.01)),
    ("sgd+momentum", lambda m: m.optimizers.SGD(0.05, momentum=0.9)),
    ("sgd", lambda m: m.optimizers.SGD(0.05)),
    ("rmsprop", lambda m: m.optimizers.RMSprop(0.001)),  # 0.01 amplifies float32 drift past 1e-5 with BN
    ("adagrad", lambda m: m.optimizers.Adagrad(0.05)),
    ("nadam", lambda m: m.optimizers.Nadam(0.01)),
]


FUNCTIONAL = "--functional" in sys.argv


def _chain(module, inputs, layers):
    if not FUNCTIONAL:
        return module.Sequential([inputs, *layers])
    node = inputs
    for layer in layers:
        node = layer(node)
    return module.Model(inputs, node)


def models(make, input_shape, dtype=None):
    kin = keras.Input(input_shape, dtype=dtype) if dtype else keras.Input(input_shape)
    cin = cl.Input(input_shape, dtype=dtype) if dtype else cl.Input(input_shape)
    return _chain(keras, kin, make(keras.layers)), _chain(cyneuron, cin, make(cl))


def main() -> int:
    tmp = tempfile.mkdtemp()
    rows, worst = [], 0.0
    for name, shape, data, make in CASES:
        x, y = data()
        for oname, opt in OPTIMIZERS:
            if oname != "adam" and name not in ("dense+activations", "conv2d+pool+bn"):
                continue
            dtype = "int32" if x.dtype.kind == "i" else None
            for direction in ("cy->keras", "keras->cy"):
                k, c = models(make, shape, dtype)
                src, dst = (c, None) if direction == "cy->keras" else (k, None)
                mod = cyneuron if src is c else keras
                src.compile(optimizer=opt(mod), loss="categorical_crossentropy", metrics=["accuracy"])
                src.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
                path = os.path.join(tmp, f"{name}-{oname}-{direction[:2]}.keras")
                src.save(path)
                dst = keras.saving.load_model(path) if src is c else cyneuron.saving.load_model(path)
                p = rel(dst.predict(x, verbose=0), src.predict(x, verbose=0))
                src.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
                dst.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
                w = wrel([np.asarray(v) for v in dst.get_weights()], [np.asarray(v) for v in src.get_weights()])
                if "dropout" in name:
                    w = float("nan")
                ok = p <= 1e-6 and not w > 1e-5
                worst = max(worst, p / 1e-6, 0.0 if w != w else w / 1e-5)
                rows.append((name, oname, direction, p, w, "ok" if ok else "FAIL"))
        # weights files, both ways
        for direction in ("cy->keras", "keras->cy"):
            dtype = "int32" if x.dtype.kind == "i" else None
            k, c = models(make, shape, dtype)
            src, dst = (c, k) if direction == "cy->keras" else (k, c)
            path = os.path.join(tmp, f"{name}-{direction[:2]}.weights.h5")
            src.save_weights(path)
            dst.load_weights(path)
            p = rel(dst.predict(x, verbose=0), src.predict(x, verbose=0))
            worst = max(worst, p / 1e-6)
            rows.append((name, "weights.h5", direction, p, float("nan"), "ok" if p <= 1e-6 else "FAIL"))
    print(f"{'model':<20} {'optimizer':<13} {'direction':<10} {'predict rel':>12} {'weights rel (+1 ep)':>20}  result")
    for name, oname, direction, p, w, res in rows:
        print(f"{name:<20} {oname:<13} {direction:<10} {p:12.2e} {w:20.2e}  {res}")
    failed = sum(r[-1] != "ok" for r in rows)
    print(f"{len(rows) - failed}/{len(rows)} ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
