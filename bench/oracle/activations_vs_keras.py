"""Keras 3 as the oracle for every activation (not part of the test suite).

Run in a venv with Keras on JAX and cyneuron importable::

    KERAS_BACKEND=jax python bench/oracle/activations_vs_keras.py

For each of Keras' activations, on a grid of float32 inputs including extremes (+-1e4, +-100,
+-30, tiny values) and both of cyneuron's backends: the forward values, and the derivative
(``jax.grad`` of the sum of Keras' op against cyneuron's compiled / reference backward on an upstream
gradient of ones). Errors are relative, ``|a - b| / (|b| + 1e-6)`` elementwise, maximum over the grid
(target: 1e-5 in float32). Then a short fit through ``Dense(activation=...)`` for a few of them vs
Keras (same weights, SGD, 2 epochs): weights, predictions and losses.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src"))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import cyneuron  # noqa: E402
from cyneuron import activations as ca  # noqa: E402
from cyneuron import backend as cb  # noqa: E402
from cyneuron import layers as cl  # noqa: E402
from cyneuron.backend.specs import ACTIVATIONS, activation_kernel  # noqa: E402

# (name, arguments) for every activation; the default ones first, then some with arguments.
CASES = [(name, {}) for name in ACTIVATIONS] + [
    ("relu", {"negative_slope": 0.1, "max_value": 4.0, "threshold": 0.5}),
    ("relu", {"max_value": 6.0}),
    ("leaky_relu", {"negative_slope": 0.3}),
    ("elu", {"alpha": 0.5}),
    ("celu", {"alpha": 2.0}),
    ("gelu", {"approximate": True}),
    ("squareplus", {"b": 1.0}),
    ("soft_shrink", {"threshold": 1.5}),
    ("hard_shrink", {"threshold": 0.25}),
    ("threshold", {"threshold": 0.3, "default_value": -2.0}),
]


def rel(a, b, floor=1e-6) -> float:
    """max |a - b| / (|b| + floor); equal infinities and NaNs count as agreeing."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    with np.errstate(invalid="ignore"):
        err = np.where(same, 0.0, np.abs(a - b) / (np.abs(b) + floor))
    return float(np.max(err)) if a.size else 0.0


def grid() -> np.ndarray:
    # avoids the kinks' exact points (0, +-1, +-3, 6 ...), where derivatives are conventions
    base = np.concatenate([
        np.linspace(-8.013, 8.017, 200), [-1e4, -300.0, -100.0, -30.0, -17.0, 17.0, 30.0, 100.0, 300.0, 1e4],
        [-1e-7, 1e-7, -1e-3, 1e-3, -0.49, 0.51, -2.99, 2.99, -0.99, 0.99, 5.99, 6.01, -5e-3, 5e-3],
    ])  # fmt: skip
    return base.astype(np.float32).reshape(4, -1)


def keras_fn(name, params):
    fn = getattr(keras.activations, name)
    return lambda x: fn(x, **params)


def cyneuron_backward(name, params, z, a):
    ops = cb.ops()
    out = np.empty_like(z)
    p = dict(params) if params or name == "threshold" else None
    ops.activation_backward(name, z, a, np.ones_like(z), out, p)
    return out


def activations_table() -> list[tuple]:
    x = grid()
    rows = []
    for name, params in CASES:
        fk = keras_fn(name, params)
        yk = np.asarray(fk(jnp.asarray(x)))
        gk = np.asarray(jax.grad(lambda t, fk=fk: jnp.sum(fk(t)))(jnp.asarray(x)))
        result = [f"{name}{params or ''}"]
        for backend in ("cython", "numpy"):
            cb.set_backend(backend)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")  # overflow / invalid warnings are reported
                yc = getattr(ca, name)(x, **params)
                gc = cyneuron_backward(name, params, x, np.ascontiguousarray(yc, dtype=np.float32))
            result += [rel(yc, yk), rel(gc, gk)]
            if backend == "cython":  # mixed: relative above 1, absolute below
                result += [rel(yc, yk, 1.0), rel(gc, gk, 1.0)]
            if caught:
                result[0] += f" [{backend} warned: {caught[0].message}]"
        rows.append(tuple(result))
    cb.set_backend("cython")
    return rows


def fit(name) -> tuple:
    # Keras' initial weights from a fixed seed: with others, two stacked log_softmax layers can saturate
    # the softmax, where Keras/JAX's cross-entropy clips probabilities to [1e-7, 1 - 1e-7] and cyneuron's
    # fused softmax head takes the exact log-softmax (a loss-head difference, not an activation one)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 5)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 64)]

    def make(L):
        return [L.Dense(8, activation=name), L.Dense(6, activation=name), L.Dense(3, activation="softmax")]

    k = keras.Sequential([keras.Input((5,)), *make(keras.layers)])
    c = cyneuron.models.Sequential([cl.Input((5,)), *make(cl)])
    c.set_weights(k.get_weights())
    k.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
    c.compile(optimizer=cyneuron.optimizers.SGD(0.1), loss="categorical_crossentropy")
    hk = k.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    hc = c.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    weights = max(
        float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-3)) for a, b in zip(c.get_weights(), k.get_weights())
    )
    preds = rel(c.predict(x, verbose=0), k.predict(x, verbose=0))
    losses = rel(hc.history["loss"], hk.history["loss"])
    fused = activation_kernel(name)[0] >= 0 and len(c.layers[0].stage_spec()) == 1
    return name, "fused" if fused else "own stage", weights, preds, losses


FILE_ACTIVATIONS = ("gelu", "silu", "mish", "selu", "hard_silu", "log_softmax", "softsign", "relu6", "swish")


def files() -> tuple[float, float]:
    """A .keras file with these activations written by cyneuron and opened by Keras, and the reverse:
    the largest relative difference of the predictions."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, 5)).astype("float32")

    def make(L):
        stack = [L.Dense(6, activation=name) for name in FILE_ACTIVATIONS]
        return [*stack, L.Activation("tanh_shrink"), L.PReLU(), L.Dense(3, activation="softmax")]

    c = cyneuron.models.Sequential([cl.Input((5,)), *make(cl)])
    k = keras.Sequential([keras.Input((5,)), *make(keras.layers)])
    with tempfile.TemporaryDirectory() as tmp:
        c.save(os.path.join(tmp, "c.keras"))
        from_cyneuron = keras.saving.load_model(os.path.join(tmp, "c.keras"))
        k.save(os.path.join(tmp, "k.keras"))
        from_keras = cyneuron.saving.load_model(os.path.join(tmp, "k.keras"))
    a = rel(from_cyneuron.predict(x, verbose=0), c.predict(x, verbose=0))
    b = rel(from_keras.predict(x, verbose=0), k.predict(x, verbose=0))
    return a, b


def prelu() -> tuple[float, float]:
    """PReLU (one slope per channel) through fit vs Keras: weights and losses after 2 epochs."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((32, 4, 3)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 32)]

    def make(L):
        return [
            L.PReLU(alpha_initializer="glorot_uniform", shared_axes=[1]),
            L.Flatten(),
            L.Dense(3, activation="softmax"),
        ]

    k = keras.Sequential([keras.Input((4, 3)), *make(keras.layers)])
    c = cyneuron.models.Sequential([cl.Input((4, 3)), *make(cl)])
    c.set_weights(k.get_weights())
    k.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
    c.compile(optimizer=cyneuron.optimizers.SGD(0.1), loss="categorical_crossentropy")
    hk = k.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    hc = c.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    weights = max(
        float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-3)) for a, b in zip(c.get_weights(), k.get_weights())
    )
    return weights, rel(hc.history["loss"], hk.history["loss"])


def main() -> None:
    print("relative errors |a - b| / (|b| + 1e-6), and 'mixed' |a - b| / (|b| + 1), vs Keras (jax.grad for the grads)")
    head = ("cy fwd", "cy grad", "cy fwd m", "cy grad m", "np fwd", "np grad")
    print(f"{'activation':58s} " + " ".join(f"{h:>9s}" for h in head))
    rows = activations_table()
    for row in rows:
        print(f"{row[0]:58s} " + " ".join(f"{v:9.2e}" for v in row[1:]))
    worst, mixed = max(max(r[1:3] + r[5:]) for r in rows), max(max(r[3:5]) for r in rows)
    print(f"largest relative error: {worst:.2e}; mixed: {mixed:.2e}")
    print(f"\n{'Dense fit (2 epochs, SGD)':26s} {'how':>10s} {'weights':>9s} {'preds':>9s} {'losses':>9s}")
    for name in ("gelu", "silu", "mish", "elu", "selu", "softplus", "leaky_relu", "hard_silu", "relu6", "log_softmax"):
        row = fit(name)
        print(f"{row[0]:26s} {row[1]:>10s} " + " ".join(f"{v:9.2e}" for v in row[2:]))
    weights, losses = prelu()
    print(f"PReLU(shared_axes=[1]) fit: weights {weights:.2e}, losses {losses:.2e}")
    to_keras, from_keras = files()
    print(
        f"\n.keras files ({', '.join(FILE_ACTIVATIONS)}, tanh_shrink, PReLU): cyneuron -> Keras predictions "
        f"{to_keras:.2e}, Keras -> cyneuron {from_keras:.2e}"
    )


if __name__ == "__main__":
    main()
