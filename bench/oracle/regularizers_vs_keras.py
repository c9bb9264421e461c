"""Keras 3 as the oracle for weight regularizers (not part of the test suite).

Run in a venv with Keras on JAX and cyneuron importable::

    KERAS_BACKEND=jax /work/kvenv/bin/python bench/oracle/regularizers_vs_keras.py

For each case (L1 / L2 / L1L2 on Dense kernels and biases, Embedding, BatchNormalization's gamma/beta,
PReLU's alpha, with SGD and Adam, float32): the same initial weights and data, two unshuffled epochs of
``fit(validation_data=...)`` through both frameworks, then ``evaluate``, ``train_on_batch`` and
``model.losses``. Compared: the weights, every history entry and the returned values; the standalone
regularizers' values and configs. Prints the largest relative difference per case (target 1e-5);
exits 1 above it.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src"))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import cyneuron  # noqa: E402

TARGET = 1e-5
N, FEATURES = 45, 6


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / (np.abs(b) + 1e-6))) if a.size else 0.0


def weights_rel(c, k) -> float:
    return max(
        float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-3)) for a, b in zip(c.get_weights(), k.get_weights())
    )


def build(lib, case):
    L, R = lib.layers, lib.regularizers
    if case == "dense l2 kernel":
        body = [L.Dense(8, activation="tanh", kernel_regularizer=R.L2(0.05)), L.Dense(1)]
    elif case == "dense l1 kernel + l1l2 bias":
        body = [
            L.Dense(8, activation="relu", kernel_regularizer=R.L1(0.01), bias_regularizer=R.L1L2(l1=0.01, l2=0.02)),
            L.Dense(1, kernel_regularizer="l2"),
        ]
    elif case == "batchnorm gamma/beta":
        body = [
            # no bias before the normalisation: its true gradient is 0, and Adam turns rounding noise in it
            # into full steps (in both libraries, differently)
            L.Dense(8, use_bias=False),
            L.BatchNormalization(gamma_regularizer=R.L2(0.1), beta_regularizer=R.L1(0.05)),
            L.Activation("relu"),
            L.Dense(1),
        ]
    elif case == "prelu alpha":
        body = [L.Dense(8), L.PReLU(alpha_initializer="ones", alpha_regularizer=R.L2(0.3)), L.Dense(1)]
    elif case == "frozen layer not penalised":
        frozen = L.Dense(8, activation="tanh", kernel_regularizer=R.L2(1.0))
        frozen.trainable = False
        body = [frozen, L.Dense(1, kernel_regularizer=R.L2(0.1))]
    elif case == "activity l1 hidden + l2 output":
        body = [
            # L1 on outputs that cross 0 (a linear layer's) flips its gradient's sign on rounding noise, and Adam
            # turns a flip into a full step: L1 sits on the relu layer (outputs >= 0), L2 on the linear one
            L.Dense(8, activation="relu", activity_regularizer=R.L1L2(0.01, 0.01)),
            L.Dense(4, activity_regularizer=R.L2(0.01)),
            L.Flatten(activity_regularizer=R.L2(0.02)),
            L.Dense(1, activity_regularizer=R.L2(0.05)),
        ]
    elif case == "conv2d + lstm + gru":
        body = [
            L.Reshape((2, 3, 1)),
            L.Conv2D(3, 2, padding="same", kernel_regularizer=R.L2(0.05), bias_regularizer=R.L1L2(0.0, 0.1)),
            L.Reshape((2, 9)),
            L.LSTM(
                4,
                return_sequences=True,
                kernel_regularizer=R.L2(0.02),
                recurrent_regularizer=R.L2(0.03),
                bias_regularizer=R.L2(0.01),
                activity_regularizer=R.L2(0.01),
            ),
            L.GRU(3, kernel_regularizer=R.L1L2(0.0, 0.02), recurrent_regularizer=R.L2(0.04)),
            L.Dense(1),
        ]
    else:
        raise ValueError(case)
    return lib.Sequential([lib.Input((FEATURES,)), *body])


def embedding_models():
    k = keras.Sequential(
        [
            keras.Input((5,), dtype="int32"),
            keras.layers.Embedding(11, 4, embeddings_regularizer=keras.regularizers.L2(0.05)),
            keras.layers.Flatten(),
            keras.layers.Dense(1),
        ]
    )
    c = cyneuron.Sequential(
        [
            cyneuron.Input((5,), dtype="int32"),
            cyneuron.layers.Embedding(11, 4, embeddings_regularizer=cyneuron.regularizers.L2(0.05)),
            cyneuron.layers.Flatten(),
            cyneuron.layers.Dense(1),
        ]
    )
    return k, c


def softmax_models():
    def make(lib):
        L, R = lib.layers, lib.regularizers
        return lib.Sequential(
            [
                lib.Input((FEATURES,)),
                L.Dense(8, activation="tanh"),
                L.Dense(3, activation="softmax", activity_regularizer=R.L2(0.1)),
            ]
        )

    return make(keras), make(cyneuron)


def run(case, optimizer, rng, dtype="float32") -> float:
    keras.config.set_floatx(dtype)
    cyneuron.config.set_floatx(dtype)
    try:
        return _run(case, optimizer, rng, dtype)
    finally:
        keras.config.set_floatx("float32")
        cyneuron.config.set_floatx("float32")


def _run(case, optimizer, rng, dtype) -> float:
    loss = "mse"
    if case == "embedding":
        k, c = embedding_models()
        x = rng.integers(0, 11, (N, 5)).astype("int32")
    elif case == "activity softmax head":
        k, c = softmax_models()
        x = rng.standard_normal((N, FEATURES)).astype(dtype)
        loss = "categorical_crossentropy"
    else:
        k, c = build(keras, case), build(cyneuron, case)
        x = rng.standard_normal((N, FEATURES)).astype(dtype)
    y = rng.standard_normal((N, 1)).astype(dtype)
    if loss != "mse":
        y = np.eye(3, dtype=dtype)[rng.integers(0, 3, N)]
    c.set_weights(k.get_weights())
    rate = 0.05 if optimizer == "SGD" else 0.001  # Adam at its default rate (larger ones amplify rounding)
    opt_k = keras.optimizers.get({"class_name": optimizer, "config": {"learning_rate": rate}})
    opt_c = cyneuron.optimizers.get({"class_name": optimizer, "config": {"learning_rate": rate}})
    k.compile(optimizer=opt_k, loss=loss, metrics=["mae"])
    c.compile(optimizer=opt_c, loss=loss, metrics=["mae"])
    worst = rel([float(v) for v in c.losses], [float(v) for v in k.losses])
    hk = k.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, validation_data=(x[:10], y[:10]))
    hc = c.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, validation_data=(x[:10], y[:10]))
    assert set(hk.history) == set(hc.history), (sorted(hk.history), sorted(hc.history))
    worst = max(worst, *(rel(hc.history[key], hk.history[key]) for key in hk.history))
    worst = max(worst, weights_rel(c, k))
    worst = max(worst, rel(c.evaluate(x, y, verbose=0), k.evaluate(x, y, verbose=0)))
    worst = max(worst, rel(c.train_on_batch(x[:8], y[:8]), k.train_on_batch(x[:8], y[:8])))
    worst = max(worst, weights_rel(c, k))
    worst = max(worst, rel([float(v) for v in c.losses], [float(v) for v in k.losses]))
    return worst


def standalone(rng) -> float:
    w = rng.standard_normal((7, 5)).astype("float32")
    worst = 0.0
    for name, args in (
        ("L1", {}),
        ("L2", {"l2": 0.3}),
        ("L1L2", {"l1": 0.1, "l2": 0.2}),
        ("OrthogonalRegularizer", {"factor": 0.5, "mode": "columns"}),
        ("OrthogonalRegularizer", {}),
    ):
        rk = getattr(keras.regularizers, name)(**args)
        rc = getattr(cyneuron.regularizers, name)(**args)
        worst = max(worst, rel(float(rc(w)), float(rk(keras.ops.convert_to_tensor(w)))))
        # Keras keeps L1's factor as a float32 tensor (cyneuron's config reads that value back)
        ck, cc = rk.get_config(), rc.get_config()
        assert ck.keys() == cc.keys() and all(
            ck[key] == cc[key] if isinstance(ck[key], str) else np.isclose(ck[key], cc[key], rtol=1e-7) for key in ck
        ), (name, cc, ck)
    for ident in ("l1", "l2", "L1L2", "orthogonal_regularizer"):
        assert type(cyneuron.regularizers.get(ident)).__name__ == type(keras.regularizers.get(ident)).__name__, ident
    return worst


def main() -> int:
    rng = np.random.default_rng(7)
    failed = False
    value = standalone(rng)
    print(f"{'standalone values and configs':48s} {value:.2e}")
    failed |= value > TARGET
    cases = [
        "dense l2 kernel",
        "dense l1 kernel + l1l2 bias",
        "batchnorm gamma/beta",
        "prelu alpha",
        "frozen layer not penalised",
        "embedding",
        "activity l1 hidden + l2 output",
        "activity softmax head",
        "conv2d + lstm + gru",
    ]
    for case in cases:
        for optimizer in ("SGD", "Adam"):
            value = run(case, optimizer, rng)
            failed |= value > TARGET
            print(f"{case + ' / ' + optimizer:48s} {value:.2e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
