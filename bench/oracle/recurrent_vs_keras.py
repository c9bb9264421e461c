"""Keras 3 as the oracle for SimpleRNN, LSTM and GRU (not part of the test suite).

Run in a venv with Keras on JAX and cyneuron importable::

    KERAS_BACKEND=jax python bench/oracle/recurrent_vs_keras.py

Same initial weights (Keras' own, moved with get_weights/set_weights) and data, two unshuffled
epochs through ``fit`` with Adam and with SGD (momentum 0.9): the largest relative difference of the
weights (per array, relative to its largest entry), of the predictions and of the epoch losses.
Also the configs of default layers. Target: 1e-5 in float32.
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

OPTIMIZERS = {
    "adam": ("Adam", {"learning_rate": 0.001}),
    "sgd": ("SGD", {"learning_rate": 0.01, "momentum": 0.9}),
}


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-6))


def pair(layers_k, layers_c, input_shape, x, y, optimizer, epochs=2, batch_size=16):
    k = keras.Sequential([keras.Input(input_shape), *layers_k])
    c = cyneuron.models.Sequential([cl.Input(input_shape), *layers_c])
    c.set_weights(k.get_weights())
    name, kwargs = OPTIMIZERS[optimizer]
    k.compile(optimizer=keras.optimizers.get({"class_name": name, "config": kwargs}), loss="mse")
    c.compile(optimizer=cyneuron.optimizers.get({"class_name": name, "config": kwargs}), loss="mse")
    before = rel(c.predict(x, verbose=0), k.predict(x, verbose=0))
    hk = k.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    hc = c.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    weights = max(rel(a, b) for a, b in zip(c.get_weights(), k.get_weights()))
    preds = rel(c.predict(x, verbose=0), k.predict(x, verbose=0))
    losses = rel(hc.history["loss"], hk.history["loss"])
    return before, weights, preds, losses


def cases():
    """(label, input shape, factory -> (keras layers, cyneuron layers))."""

    def one(cls, units, flatten=False, **kw):
        def make():
            ks = [getattr(keras.layers, cls)(units, **kw)]
            cs = [getattr(cl, cls)(units, **kw)]
            if flatten:
                ks.append(keras.layers.Flatten())
                cs.append(cl.Flatten())
            ks.append(keras.layers.Dense(1))
            cs.append(cl.Dense(1))
            return ks, cs

        return make

    def stacked():
        ks = [keras.layers.LSTM(50, return_sequences=True), keras.layers.LSTM(50), keras.layers.Dense(1)]
        cs = [cl.LSTM(50, return_sequences=True), cl.LSTM(50), cl.Dense(1)]
        return ks, cs

    out = []
    for cls in ("SimpleRNN", "LSTM", "GRU"):
        out += [
            (f"{cls}(8)", (12, 3), one(cls, 8)),
            (f"{cls}(8, return_sequences) > Flatten", (12, 3), one(cls, 8, flatten=True, return_sequences=True)),
            (f"{cls}(8, go_backwards)", (12, 3), one(cls, 8, go_backwards=True)),
            (
                f"{cls}(8, return_sequences, go_backwards) > Flatten",
                (12, 3),
                one(cls, 8, flatten=True, return_sequences=True, go_backwards=True),
            ),
            (f"{cls}(6), T=1", (1, 4), one(cls, 6)),
        ]
    out += [
        ("GRU(8, reset_after=False)", (12, 3), one("GRU", 8, reset_after=False)),
        (
            "GRU(8, reset_after=False, return_sequences) > Flatten",
            (12, 3),
            one("GRU", 8, flatten=True, return_sequences=True, reset_after=False),
        ),
        ("GRU(8, reset_after=False, go_backwards)", (12, 3), one("GRU", 8, reset_after=False, go_backwards=True)),
        ("LSTM(8, relu, recurrent tanh)", (12, 3), one("LSTM", 8, activation="relu", recurrent_activation="tanh")),
        ("SimpleRNN(8, relu, no bias)", (12, 3), one("SimpleRNN", 8, activation="relu", use_bias=False)),
        ("LSTM(50, seq) > LSTM(50) > Dense(1)", (20, 1), stacked),
    ]
    return out


def configs() -> list[str]:
    problems = []
    for cls in ("SimpleRNN", "LSTM", "GRU"):
        kc = getattr(keras.layers, cls)(4).get_config()
        cc = getattr(cl, cls)(4).get_config()
        for key in ("name", "dtype"):
            kc.pop(key), cc.pop(key)
        for config in (kc, cc):
            for key in ("kernel_initializer", "recurrent_initializer", "bias_initializer"):
                config[key] = config[key]["class_name"]
        if set(kc) != set(cc):
            problems.append(f"{cls}: keys only in Keras {set(kc) - set(cc)}, only in cyneuron {set(cc) - set(kc)}")
        for key in set(kc) & set(cc):
            if kc[key] != cc[key]:
                problems.append(f"{cls}.{key}: Keras {kc[key]!r}, cyneuron {cc[key]!r}")
    return problems


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    worst = 0.0
    for label, shape, make in cases():
        x = rng.standard_normal((64, *shape)).astype("float32")
        y = (np.sin(x.sum(axis=(1, 2))) * 0.5)[:, None].astype("float32")
        for optimizer in OPTIMIZERS:
            keras.utils.set_random_seed(1)
            ks, cs = make()
            before, weights, preds, losses = pair(ks, cs, shape, x, y, optimizer)
            worst = max(worst, weights, preds, losses)
            rows.append((label, optimizer, before, weights, preds, losses))
    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  opt   predict@init  weights     predict     losses")
    for label, optimizer, before, weights, preds, losses in rows:
        print(f"{label:<{width}}  {optimizer:<4}  {before:.2e}      {weights:.2e}    {preds:.2e}    {losses:.2e}")
    print(f"worst relative difference after two epochs: {worst:.2e} (target 1e-5)")
    problems = configs()
    print("configs: identical keys and values" if not problems else "configs differ:\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    main()
