"""Keras 3 as the oracle for per-step training targets and TimeDistributed over any layer (not part of the
test suite).

Run in a venv with Keras on JAX and cyneuron importable::

    KERAS_BACKEND=jax python bench/oracle/per_step_vs_keras.py [outputs|wrapped|errors]

``outputs``: models whose output has rank 3 (``LSTM(return_sequences=True)`` then ``Dense`` or
``TimeDistributed(Dense)``) trained on per-step targets (batch, T, units) with mse, categorical and sparse
categorical cross-entropy (labels (batch, T) and (batch, T, 1)) plus accuracy, unweighted and with sample
weights (batch, 1) and temporal ones (batch, T). ``wrapped``: TimeDistributed(Conv2D) > TimeDistributed(
MaxPooling2D) > TimeDistributed(Flatten) > LSTM, and TimeDistributed(BatchNormalization). Each case: the same
initial weights (Keras' own, moved with get_weights/set_weights) and data, two unshuffled epochs through
``fit`` (Adam), then evaluate: the largest relative difference of the weights, the epoch losses and metrics,
the predictions and the evaluate values. ``errors``: class_weight with per-step targets (type and wording).
Target: 1e-5 in float32.
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
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-12))


def run(build, shape, x, y, loss, metrics=(), weights=None, epochs=2, batch_size=16):
    keras.utils.set_random_seed(1)
    k = keras.Sequential([keras.Input(shape), *build(keras.layers)])
    c = cyneuron.models.Sequential([cl.Input(shape), *build(cl)])
    c.set_weights(k.get_weights())
    k.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss, metrics=list(metrics))
    c.compile(optimizer=cyneuron.optimizers.Adam(0.01), loss=loss, metrics=list(metrics))
    hk = k.fit(x, y, sample_weight=weights, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    hc = c.fit(x, y, sample_weight=weights, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    out = {
        "weights": max(rel(a, b) for a, b in zip(c.get_weights(), k.get_weights())),
        "history": max(rel(hc.history[key], hk.history[key]) for key in hk.history),
        "predict": rel(c.predict(x, verbose=0), k.predict(x, verbose=0)),
        "evaluate": rel(
            c.evaluate(x, y, sample_weight=weights, verbose=0), k.evaluate(x, y, sample_weight=weights, verbose=0)
        ),
    }
    return out


def output_cases(rng):
    n, steps, features, units = 64, 6, 3, 3
    x = rng.standard_normal((n, steps, features)).astype("float32")
    labels = rng.integers(0, units, (n, steps))
    onehot = np.eye(units, dtype="float32")[labels]
    values = np.tanh(x @ rng.standard_normal((features, units))).astype("float32")
    w1 = rng.random((n, 1)).astype("float32")  # Keras broadcasts (n, 1) over the steps (and refuses (n,))
    w2 = rng.random((n, steps)).astype("float32")

    def seq(act, wrap=False):
        def build(m):
            head = m.Dense(units, activation=act)
            return [m.LSTM(8, return_sequences=True), m.TimeDistributed(head) if wrap else head]

        return build

    cases = []
    for wname, w in (("none", None), ("(n, 1)", w1), ("(n, T)", w2)):
        cases += [
            (f"LSTM(seq) > Dense(3) mse, w {wname}", seq("linear"), (x, values, "mse", ["mae"], w)),
            (f"LSTM(seq) > TD(Dense(3)) mse, w {wname}", seq("linear", True), (x, values, "mse", [], w)),
            (
                f"LSTM(seq) > Dense(3, softmax) CCE+acc, w {wname}",
                seq("softmax"),
                (x, onehot, "categorical_crossentropy", ["accuracy"], w),
            ),
            (
                f"LSTM(seq) > TD(Dense(3, softmax)) SCCE y (n, T)+acc, w {wname}",
                seq("softmax", True),
                (x, labels, "sparse_categorical_crossentropy", ["accuracy"], w),
            ),
            (
                f"LSTM(seq) > Dense(3, softmax) SCCE y (n, T, 1)+acc, w {wname}",
                seq("softmax"),
                (x, labels[..., None], "sparse_categorical_crossentropy", ["accuracy"], w),
            ),
        ]
    cases.append(
        (
            "LSTM(seq) > Dense(3, sigmoid) BCE+binary_accuracy",
            seq("sigmoid"),
            (x, (values > 0).astype("float32"), "binary_crossentropy", ["binary_accuracy"], None),
        )
    )
    return [(label, build, (steps, features), data) for label, build, data in cases]


def wrapped_cases(rng):
    n, steps = 32, 4
    frames = rng.standard_normal((n, steps, 6, 6, 2)).astype("float32")
    y_frames = np.sin(frames.reshape(n, -1).sum(axis=1))[:, None].astype("float32") * 0.5
    seq = rng.standard_normal((n, steps, 5)).astype("float32") * 2 + 1
    y_seq = np.tanh(seq.sum(axis=2, keepdims=True)).astype("float32")

    def conv(m):
        td = m.TimeDistributed
        return [
            td(m.Conv2D(3, 3, activation="relu")),
            td(m.MaxPooling2D(2)),
            td(m.Flatten()),
            m.LSTM(6),
            m.Dense(1),
        ]

    def bn(m):
        td = m.TimeDistributed
        return [td(m.BatchNormalization()), m.LSTM(4, return_sequences=True), td(m.Dense(1))]

    def bn_conv(m):
        td = m.TimeDistributed
        return [td(m.Conv2D(2, 3)), td(m.BatchNormalization()), td(m.GlobalAveragePooling2D()), m.GRU(3), m.Dense(1)]

    def td_lstm(m):
        # TD(LSTM) over (batch, T, T2, F): the inner LSTM runs over batch * T rows
        return [m.TimeDistributed(m.LSTM(4)), m.LSTM(3), m.Dense(1)]

    nested = rng.standard_normal((n, steps, 3, 2)).astype("float32")
    y_nested = np.sin(nested.sum(axis=(1, 2, 3)))[:, None].astype("float32")
    return [
        ("TD(Conv2D) > TD(MaxPool2D) > TD(Flatten) > LSTM > Dense", conv, (steps, 6, 6, 2), (frames, y_frames)),
        ("TD(BatchNorm) > LSTM(seq) > TD(Dense(1)) per-step mse", bn, (steps, 5), (seq, y_seq)),
        ("TD(Conv2D) > TD(BatchNorm) > TD(GAP2D) > GRU > Dense", bn_conv, (steps, 6, 6, 2), (frames, y_frames)),
        ("TD(LSTM) > LSTM > Dense", td_lstm, (steps, 3, 2), (nested, y_nested)),
    ]


def errors() -> None:
    x = np.zeros((8, 4, 5), "float32")
    for loss, y in (
        ("categorical_crossentropy", np.eye(3, dtype="float32")[np.zeros((8, 4), int)]),
        ("sparse_categorical_crossentropy", np.zeros((8, 4), int)),
        ("sparse_categorical_crossentropy", np.zeros((8, 4, 1), int)),
    ):
        got = []
        for lib, layers in ((keras, keras.layers), (cyneuron, cl)):
            model = lib.models.Sequential([layers.Input((4, 5)), layers.Dense(3, activation="softmax")])
            model.compile(optimizer="sgd", loss=loss)
            try:
                model.fit(x, y, class_weight={0: 1.0, 1: 2.0}, verbose=0)
                got.append("no error")
            except Exception as error:  # noqa: BLE001 - the oracle reports whatever is raised
                got.append(f"{type(error).__name__}: {error}")
        print(f"class_weight, {loss}, y {y.shape}:\n  keras:    {got[0]}\n  cyneuron: {got[1]}")


def main(groups=None) -> None:
    groups = groups or ["outputs", "wrapped", "errors"]
    rng = np.random.default_rng(0)
    rows = []
    if "outputs" in groups:
        for label, build, shape, (x, y, loss, metrics, w) in output_cases(rng):
            rows.append((label, run(build, shape, x, y, loss, metrics, w)))
    if "wrapped" in groups:
        for label, build, shape, (x, y) in wrapped_cases(rng):
            rows.append((label, run(build, shape, x, y, "mse")))
    if rows:
        width = max(len(label) for label, _ in rows)
        print(f"{'case':<{width}}  weights   history   predict   evaluate")
        for label, r in rows:
            print(f"{label:<{width}}  {r['weights']:.2e}  {r['history']:.2e}  {r['predict']:.2e}  {r['evaluate']:.2e}")
        worst = max(max(r.values()) for _, r in rows)
        print(f"worst relative difference: {worst:.2e} over {len(rows)} cases (target 1e-5)")
    if "errors" in groups:
        errors()


if __name__ == "__main__":
    main(sys.argv[1:] or None)
