"""Keras 3 as the oracle for Dense on sequences, TimeDistributed and Bidirectional (not part of the test suite).

Run in a venv with Keras on JAX and cyneuron importable::

    KERAS_BACKEND=jax python bench/oracle/sequence_layers_vs_keras.py [dense|time_distributed|bidirectional]
    KERAS_BACKEND=jax python bench/oracle/sequence_layers_vs_keras.py files   # .keras files both ways

As ``recurrent_vs_keras.py`` (whose ``pair`` this reuses): the same initial weights (Keras' own,
moved with get_weights/set_weights) and data, predictions before training, then two unshuffled
epochs through ``fit`` with Adam and with SGD (momentum 0.9): the largest relative difference of the
weights, predictions and epoch losses. Target: 1e-5 in float32.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src"))
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from recurrent_vs_keras import OPTIMIZERS, pair, rel  # noqa: E402

from cyneuron import layers as cl  # noqa: E402


def both(build):
    """A case factory: ``build(module)`` makes the layer list from ``keras.layers`` or ``cyneuron.layers``."""
    return lambda: (build(keras.layers), build(cl))


def dense_cases():
    return [
        (
            "LSTM(8, seq) > Dense(4, relu) > Flatten > Dense(1)",
            (12, 3),
            both(lambda m: [m.LSTM(8, return_sequences=True), m.Dense(4, activation="relu"), m.Flatten(), m.Dense(1)]),
        ),
        (
            "GRU(6, seq) > Dense(5, softmax) > LSTM(4) > Dense(1)",
            (10, 3),
            both(lambda m: [m.GRU(6, return_sequences=True), m.Dense(5, activation="softmax"), m.LSTM(4), m.Dense(1)]),
        ),
        (
            "Dense(6, tanh) on (T, F) > SimpleRNN(5) > Dense(1)",
            (8, 3),
            both(lambda m: [m.Dense(6, activation="tanh"), m.SimpleRNN(5), m.Dense(1)]),
        ),
        (
            "Dense(4, sigmoid, no bias) on (4, 3, 2) > GlobalAveragePooling2D > Dense(1)",
            (4, 3, 2),
            both(lambda m: [m.Dense(4, activation="sigmoid", use_bias=False), m.GlobalAveragePooling2D(), m.Dense(1)]),
        ),
    ]


def time_distributed_cases():
    def td(m, layer):
        return m.TimeDistributed(layer)

    return [
        (
            "LSTM(8, seq) > TD(Dense(4, relu)) > Flatten > Dense(1)",
            (12, 3),
            both(
                lambda m: [
                    m.LSTM(8, return_sequences=True),
                    td(m, m.Dense(4, activation="relu")),
                    m.Flatten(),
                    m.Dense(1),
                ]
            ),
        ),
        (
            "TD(Dense(6, tanh)) > GRU(4) > Dense(1)",
            (10, 3),
            both(lambda m: [td(m, m.Dense(6, activation="tanh")), m.GRU(4), m.Dense(1)]),
        ),
        (
            "TD(Flatten) on (T, 2, 3) > TD(Dense(5, softmax)) > SimpleRNN(4) > Dense(1)",
            (6, 2, 3),
            both(lambda m: [td(m, m.Flatten()), td(m, m.Dense(5, activation="softmax")), m.SimpleRNN(4), m.Dense(1)]),
        ),
        (
            "TD(Dense(4)) > TD(Activation(sigmoid)) > TD(Dropout(0)) > LSTM(3) > Dense(1)",
            (8, 3),
            both(
                lambda m: [
                    td(m, m.Dense(4)),
                    td(m, m.Activation("sigmoid")),
                    td(m, m.Dropout(0.0)),
                    m.LSTM(3),
                    m.Dense(1),
                ]
            ),
        ),
    ]


def bidirectional_cases():
    out = []
    for cls in ("SimpleRNN", "LSTM", "GRU"):
        for merge in ("concat", "sum", "ave", "mul"):
            for seq in (False, True):

                def build(m, cls=cls, merge=merge, seq=seq):
                    layers = [m.Bidirectional(getattr(m, cls)(6, return_sequences=seq), merge_mode=merge)]
                    return layers + ([m.Flatten()] if seq else []) + [m.Dense(1)]

                label = f"Bi({cls}(6{', seq' if seq else ''}), {merge})" + (" > Flatten" if seq else "") + " > Dense(1)"
                out.append((label, (10, 3), both(build)))
    out += [
        (
            "Bi(GRU(5, reset_after=False, seq)) > Bi(LSTM(4)) > Dense(1)",
            (8, 3),
            both(
                lambda m: [
                    m.Bidirectional(m.GRU(5, reset_after=False, return_sequences=True)),
                    m.Bidirectional(m.LSTM(4)),
                    m.Dense(1),
                ]
            ),
        ),
        (
            "Bi(LSTM(32)) > Dense(1)",
            (20, 4),
            both(lambda m: [m.Bidirectional(m.LSTM(32)), m.Dense(1)]),
        ),
    ]
    return out


CASES = {"dense": dense_cases, "time_distributed": time_distributed_cases, "bidirectional": bidirectional_cases}


def files() -> list[tuple[str, float, float, float, float]]:
    """.keras files both ways: (case, Keras->cyneuron predictions, weights after one more epoch of both
    (optimizer state carried: relative, absolute), cyneuron->Keras predictions, weights after one more
    epoch (relative, absolute))."""
    import tempfile

    import cyneuron

    def wrel(a, b):
        # relative to each array's largest entry: small biases (~1e-3) make float32 rounding look large,
        # so the largest absolute difference is reported beside it
        return max(rel(u, v) for u, v in zip(a, b)), max(float(np.max(np.abs(u - v))) for u, v in zip(a, b))

    models = {
        "TD(Dense) > Bi(LSTM, seq) > Bi(GRU, ave) > Dense": (
            (6, 3),
            lambda m: [
                m.TimeDistributed(m.Dense(4, activation="tanh")),
                m.Bidirectional(m.LSTM(5, return_sequences=True)),
                m.Bidirectional(m.GRU(3), merge_mode="ave"),
                m.Dense(1),
            ],
        ),
        "Bi(SimpleRNN, seq, mul) > Dense(3) on (T, F) > Flatten > Dense": (
            (5, 2),
            lambda m: [
                m.Bidirectional(m.SimpleRNN(4, return_sequences=True), merge_mode="mul"),
                m.Dense(3),
                m.Flatten(),
                m.Dense(1),
            ],
        ),
    }
    rng = np.random.default_rng(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, (shape, build) in models.items():
            x = rng.standard_normal((32, *shape)).astype("float32")
            y = (np.sin(x.reshape(32, -1).sum(axis=1)) * 0.5)[:, None].astype("float32")
            keras.utils.set_random_seed(1)
            k = keras.Sequential([keras.Input(shape), *build(keras.layers)])
            k.compile(optimizer="adam", loss="mse")
            k.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
            path = os.path.join(tmp, "k.keras")
            k.save(path)
            c = cyneuron.models.load_model(path)
            to_c = rel(c.predict(x, verbose=0), k.predict(x, verbose=0))
            k.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
            c.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
            to_c_fit, to_c_abs = wrel(c.get_weights(), k.get_weights())
            path = os.path.join(tmp, "c.keras")
            c.save(path)
            k2 = keras.models.load_model(path)
            to_k = rel(k2.predict(x, verbose=0), c.predict(x, verbose=0))
            k2.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
            c.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
            rows.append((label, to_c, to_c_fit, to_c_abs, to_k, *wrel(c.get_weights(), k2.get_weights())))
    return rows


def main(groups=None) -> None:
    if groups == ["files"]:
        print("case: Keras->cyneuron predict, weights after +1 epoch (rel, abs); cyneuron->Keras the same")
        for label, *numbers in files():
            print(f"{label}: " + "  ".join(f"{v:.2e}" for v in numbers))
        return
    rng = np.random.default_rng(0)
    rows = []
    worst = 0.0
    for group in groups or CASES:
        for label, shape, make in CASES[group]():
            x = rng.standard_normal((64, *shape)).astype("float32")
            y = (np.sin(x.reshape(64, -1).sum(axis=1)) * 0.5)[:, None].astype("float32")
            for optimizer in OPTIMIZERS:
                keras.utils.set_random_seed(1)
                ks, cs = make()
                before, weights, preds, losses = pair(ks, cs, shape, x, y, optimizer)
                worst = max(worst, before, weights, preds, losses)
                rows.append((label, optimizer, before, weights, preds, losses))
    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  opt   predict@init  weights     predict     losses")
    for label, optimizer, before, weights, preds, losses in rows:
        print(f"{label:<{width}}  {optimizer:<4}  {before:.2e}      {weights:.2e}    {preds:.2e}    {losses:.2e}")
    print(f"worst relative difference: {worst:.2e} over {len(rows)} rows (target 1e-5)")


if __name__ == "__main__":
    main(sys.argv[1:] or None)
