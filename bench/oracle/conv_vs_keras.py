"""Keras 3 as the oracle for the convolution, pooling and preprocessing layers (not part of the test suite).

Run in a venv with Keras on JAX and cyneuron importable::

    KERAS_BACKEND=jax python bench/oracle/conv_vs_keras.py

Same initial weights and data, two unshuffled epochs through ``fit``: every padding / stride /
dilation combination of Conv2D and Conv1D, every pooling kind (ties included: images of small
integers), Rescaling and an adapted Normalization, and the course CNN with Adam. Prints the
largest relative difference of the weights (per array, relative to its largest entry), the
predictions and the per-epoch losses (target: 1e-5 in float32).
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


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / (np.abs(b) + 1e-6))) if a.size else 0.0


def run(name, make, input_shape, x, y, loss="categorical_crossentropy", optimizer=("SGD", {"learning_rate": 0.05})):
    k = keras.Sequential([keras.Input(input_shape), *make(keras.layers)])
    c = cyneuron.models.Sequential([cl.Input(input_shape), *make(cl)])
    for lk, lc in zip(k.layers, c.layers):
        if isinstance(lk, keras.layers.Normalization):
            lk.adapt(x)
            lc.adapt(x)
    kw = k.get_weights()
    c.set_weights([w for w in kw if w.ndim > 0 or w.dtype.kind == "f"][: len(c.get_weights())])
    cls, kwargs = optimizer
    k.compile(optimizer=getattr(keras.optimizers, cls)(**kwargs), loss=loss)
    c.compile(optimizer=getattr(cyneuron.optimizers, cls)(**kwargs), loss=loss)
    hk = k.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    hc = c.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    kws = [w for w in k.get_weights() if w.dtype.kind == "f"]
    weights = max(float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-3)) for a, b in zip(c.get_weights(), kws))
    preds = rel(c.predict(x, verbose=0), k.predict(x, verbose=0))
    losses = rel(hc.history["loss"], hk.history["loss"])
    return name, weights, preds, losses


def main() -> None:
    rng = np.random.default_rng(0)
    n = 24
    img = rng.standard_normal((n, 7, 6, 2)).astype("float32")
    ties = rng.integers(0, 3, (n, 6, 6, 2)).astype("float32")  # many equal maxima
    seq = rng.standard_normal((n, 9, 3)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, n)]
    rows = []

    def head(L):
        return [L.Flatten(), L.Dense(3, activation="softmax")]

    for padding in ("valid", "same"):
        for k, s, d in (
            ((3, 3), (1, 1), (1, 1)),
            ((2, 2), (2, 2), (1, 1)),
            ((3, 2), (2, 1), (1, 1)),
            ((2, 3), (1, 1), (2, 2)),
            ((4, 4), (3, 3), (1, 1)),
            ((1, 1), (1, 1), (1, 1)),
        ):
            rows.append(
                run(
                    f"Conv2D k={k} s={s} d={d} {padding}",
                    lambda L, k=k, s=s, d=d, p=padding: [
                        L.Conv2D(4, k, strides=s, padding=p, dilation_rate=d, activation="relu"),
                        *head(L),
                    ],
                    (7, 6, 2),
                    img,
                    y,
                )
            )
    for padding in ("valid", "same", "causal"):
        for k, s, d in ((3, 1, 1), (2, 2, 1), (3, 1, 2)):
            rows.append(
                run(
                    f"Conv1D k={k} s={s} d={d} {padding}",
                    lambda L, k=k, s=s, d=d, p=padding: [
                        L.Conv1D(4, k, strides=s, padding=p, dilation_rate=d, activation="tanh"),
                        *head(L),
                    ],
                    (9, 3),
                    seq,
                    y,
                )
            )
    for cls in ("MaxPooling2D", "AveragePooling2D"):
        for size, s, padding in (
            ((2, 2), None, "valid"),
            ((2, 2), (1, 1), "valid"),
            ((3, 3), (2, 2), "same"),
            ((2, 2), None, "same"),
            ((3, 2), (1, 2), "same"),
        ):
            rows.append(
                run(
                    f"{cls} {size} s={s} {padding} (ties)",
                    lambda L, c=cls, size=size, s=s, p=padding: [
                        L.Conv2D(3, 1, use_bias=False),
                        getattr(L, c)(size, strides=s, padding=p),
                        *head(L),
                    ],
                    (6, 6, 2),
                    ties,
                    y,
                )
            )
    for cls in ("MaxPooling1D", "AveragePooling1D"):
        for size, s, padding in ((2, None, "valid"), (3, 2, "same")):
            rows.append(
                run(
                    f"{cls} {size} s={s} {padding}",
                    lambda L, c=cls, size=size, s=s, p=padding: [L.Conv1D(3, 2), getattr(L, c)(size, s, p), *head(L)],
                    (9, 3),
                    seq,
                    y,
                )
            )
    for cls, shape, data in (
        ("GlobalMaxPooling2D", (6, 6, 2), ties),
        ("GlobalAveragePooling2D", (6, 6, 2), ties),
        ("GlobalMaxPooling1D", (9, 3), seq),
        ("GlobalAveragePooling1D", (9, 3), seq),
    ):
        rows.append(
            run(
                f"{cls}" + (" (ties)" if data is ties else ""),
                lambda L, c=cls: [
                    getattr(L, "Conv2D" if "2D" in c else "Conv1D")(4, 1, use_bias=False),
                    getattr(L, c)(),
                    L.Dense(3, activation="softmax"),
                ],
                shape,
                data,
                y,
            )
        )
    rows.append(
        run(
            "Rescaling(1/255, -0.5) -> Conv2D",
            lambda L: [L.Rescaling(1 / 255, offset=-0.5), L.Conv2D(3, 3, padding="same", activation="relu"), *head(L)],
            (6, 6, 2),
            ties * 80,
            y,
        )
    )
    rows.append(
        run(
            "Normalization.adapt -> Conv2D",
            lambda L: [L.Normalization(), L.Conv2D(3, 3, activation="relu"), *head(L)],
            (7, 6, 2),
            img * 3 + 1,
            y,
        )
    )

    # the course CNN, Adam, small images
    course_x = rng.uniform(0, 1, (32, 16, 16, 3)).astype("float32")
    course_y = np.eye(2, dtype="float32")[rng.integers(0, 2, 32)]

    def course(L):
        return [
            L.Conv2D(32, (3, 3), activation="relu", padding="same"),
            L.MaxPool2D(pool_size=(2, 2), strides=2),
            L.Conv2D(64, (3, 3), activation="relu", padding="same"),
            L.MaxPool2D(pool_size=(2, 2), strides=2),
            L.Flatten(),
            L.Dense(2, activation="softmax"),
        ]

    rows.append(
        run(
            "course CNN (Adam 1e-3)",
            course,
            (16, 16, 3),
            course_x,
            course_y,
            optimizer=("Adam", {"learning_rate": 0.001}),
        )
    )

    print(f"{'case':52s} {'weights':>10s} {'predict':>10s} {'loss':>10s}")
    worst = 0.0
    for name, w, p, lo in rows:
        worst = max(worst, w, p, lo)
        flag = "" if max(w, p, lo) <= 1e-5 else "  <-- above 1e-5"
        print(f"{name:52s} {w:10.2e} {p:10.2e} {lo:10.2e}{flag}")
    print(f"{len(rows)} cases, worst relative difference {worst:.2e}")


if __name__ == "__main__":
    keras.utils.set_random_seed(0)
    main()
