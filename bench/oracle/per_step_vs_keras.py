"""Keras 3 as the oracle for per-step training targets and TimeDistributed over any layer (not part of the
test suite).

Run in a venv with Keras on JAX and cyneuron importable::

    KERAS_BACKEND=jax python bench/oracle/per_step_vs_keras.py [outputs|wrapped|files|errors]

``outputs``: models whose output has rank 3 (``LSTM(return_sequences=True)`` then ``Dense`` or
``TimeDistributed(Dense)``) trained on per-step targets (batch, T, units) with mse, categorical and sparse
categorical cross-entropy (labels (batch, T) and (batch, T, 1)) plus accuracy, unweighted and with sample
weights (batch, 1) and temporal ones (batch, T). ``wrapped``: TimeDistributed(Conv2D) > TimeDistributed(
MaxPooling2D) > TimeDistributed(Flatten) > LSTM, TimeDistributed(LSTM) and a frozen TimeDistributed(
BatchNormalization) (trainable, it is refused in training: Keras 3 calls the wrapped layer once per step, so
its batch statistics are per step). Each case: the same
initial weights (Keras' own, moved with get_weights/set_weights) and data, two unshuffled epochs through
``fit`` (Adam), then evaluate: the largest relative difference of the weights, the epoch losses and metrics,
the predictions and the evaluate values. ``files``: .keras archives of TimeDistributed(Conv2D) models both
ways. ``errors``: class_weight with per-step targets (type and wording), TimeDistributed(BatchNormalization).
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
        # a near-zero bias (the last Dense's, ~1e-3) makes float32 rounding look large relative to itself
        "weights_abs": max(float(np.max(np.abs(a - b))) for a, b in zip(c.get_weights(), k.get_weights())),
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

    # a trainable BatchNormalization inside TimeDistributed is refused in training (Keras 3 calls the layer once
    # per step: per-step batch statistics); frozen, it normalises with its moving statistics in both
    def bn(m):
        td = m.TimeDistributed
        return [td(m.BatchNormalization(trainable=False)), m.LSTM(4, return_sequences=True), td(m.Dense(1))]

    def bn_conv(m):
        td = m.TimeDistributed
        return [
            td(m.Conv2D(2, 3)),
            td(m.BatchNormalization(trainable=False)),
            td(m.GlobalAveragePooling2D()),
            m.GRU(3),
            m.Dense(1),
        ]

    def td_lstm(m):
        # TD(LSTM) over (batch, T, T2, F): the inner LSTM runs over batch * T rows
        return [m.TimeDistributed(m.LSTM(4)), m.LSTM(3), m.Dense(1)]

    nested = rng.standard_normal((n, steps, 3, 2)).astype("float32")
    y_nested = np.sin(nested.sum(axis=(1, 2, 3)))[:, None].astype("float32")
    return [
        ("TD(Conv2D) > TD(MaxPool2D) > TD(Flatten) > LSTM > Dense", conv, (steps, 6, 6, 2), (frames, y_frames)),
        ("TD(BatchNorm frozen) > LSTM(seq) > TD(Dense(1)) per-step mse", bn, (steps, 5), (seq, y_seq)),
        ("TD(Conv2D) > TD(BatchNorm frozen) > TD(GAP2D) > GRU > Dense", bn_conv, (steps, 6, 6, 2), (frames, y_frames)),
        ("TD(LSTM) > LSTM > Dense", td_lstm, (steps, 3, 2), (nested, y_nested)),
    ]


def files() -> None:
    """.keras files both ways for TimeDistributed over Conv2D / MaxPooling2D / Flatten: predictions after load
    and the weights after one more epoch of both (relative)."""
    import tempfile

    shape = (3, 6, 6, 2)

    def build(m):
        td = m.TimeDistributed
        return [td(m.Conv2D(3, 3, activation="relu")), td(m.MaxPooling2D(2)), td(m.Flatten()), m.LSTM(4), m.Dense(1)]

    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, *shape)).astype("float32")
    y = np.sin(x.reshape(16, -1).sum(axis=1))[:, None].astype("float32")
    with tempfile.TemporaryDirectory() as tmp:
        keras.utils.set_random_seed(1)
        k = keras.Sequential([keras.Input(shape), *build(keras.layers)])
        k.compile(optimizer="adam", loss="mse")
        k.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
        k.save(os.path.join(tmp, "k.keras"))
        c = cyneuron.models.load_model(os.path.join(tmp, "k.keras"))
        to_c = rel(c.predict(x, verbose=0), k.predict(x, verbose=0))
        k.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
        c.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
        to_c_fit = max(rel(a, b) for a, b in zip(c.get_weights(), k.get_weights()))
        c.save(os.path.join(tmp, "c.keras"))
        k2 = keras.models.load_model(os.path.join(tmp, "c.keras"))
        to_k = rel(k2.predict(x, verbose=0), c.predict(x, verbose=0))
    print(
        f"files TD(Conv2D) > TD(MaxPool2D) > TD(Flatten) > LSTM > Dense: Keras->cyneuron predict {to_c:.2e}, "
        f"weights after +1 epoch {to_c_fit:.2e}; cyneuron->Keras predict {to_k:.2e}"
    )


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
    y = np.zeros((8, 4, 5), "float32")
    got = []
    for lib, layers in ((keras, keras.layers), (cyneuron, cl)):
        model = lib.models.Sequential([layers.Input((4, 5)), layers.TimeDistributed(layers.BatchNormalization())])
        model.compile(optimizer="sgd", loss="mse")
        try:
            model.fit(x, y, verbose=0)
            got.append("trains (per-step batch statistics)")
        except Exception as error:  # noqa: BLE001
            got.append(f"{type(error).__name__}: {error}")
    print(f"TD(BatchNormalization) trainable, fit:\n  keras:    {got[0]}\n  cyneuron: {got[1]}")


def main(groups=None) -> None:
    groups = groups or ["outputs", "wrapped", "files", "errors"]
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
        print(f"{'case':<{width}}  weights   (abs)     history   predict   evaluate")
        for label, r in rows:
            print(
                f"{label:<{width}}  {r['weights']:.2e}  {r['weights_abs']:.2e}  {r['history']:.2e}  "
                f"{r['predict']:.2e}  {r['evaluate']:.2e}"
            )
        for key in ("weights", "weights_abs", "history", "predict", "evaluate"):
            print(f"worst {key}: {max(r[key] for _, r in rows):.2e}", end="; ")
        print(f"over {len(rows)} cases (target 1e-5 relative)")
    if "files" in groups:
        files()
    if "errors" in groups:
        errors()


if __name__ == "__main__":
    main(sys.argv[1:] or None)
