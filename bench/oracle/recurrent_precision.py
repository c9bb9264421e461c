"""Is the stacked-LSTM difference from Keras float32 rounding or a formula difference? (not a test)

    JAX_ENABLE_X64=1 KERAS_BACKEND=jax PYTHONPATH=src /work/kvenv/bin/python bench/oracle/recurrent_precision.py
    (--keras-tanh: leave Keras' float32 tanh in its float64 run, see _float64_tanh; --oracle-data: the x
    of recurrent_vs_keras.py's stacked case)

The stacked case of recurrent_vs_keras.py (LSTM(50, return_sequences) > LSTM(50) > Dense(1) on 20 x 1,
Adam, mse, batch 16, 64 samples, unshuffled), same initial weights, trained batch by batch with
``train_on_batch`` in float32 and in float64 (Keras with ``keras.config.set_floatx``, cyneuron with
``cyneuron.config.set_floatx``). After every batch: the largest relative weight difference (per array,
relative to its largest entry). Also float32 Keras against float64 Keras (Keras' own rounding) and
float32 cyneuron against float64 Keras. A formula difference would show in float64 (well above 1e-12);
rounding shows as a float64 difference near 1e-15 and float32 differences of the same size as Keras'
own float32-vs-float64 error.
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

STEPS, EPOCHS, BATCH = 4, 2, 16


def _float64_tanh() -> None:
    """Keras 3.15's ``ops.tanh`` on JAX casts to ``result_type(x.dtype, float)``, which is float32 for a
    float64 x, so a float64 Keras LSTM runs its tanh in float32 (|error| ~1.4e-7): patched to jnp.tanh in
    the input's dtype so that float64 Keras is a float64 reference."""
    import jax.numpy as jnp
    from keras.src.backend.jax import numpy as knp

    original = knp.tanh

    def tanh(x):
        x = knp.convert_to_tensor(x)
        return jnp.tanh(x) if x.dtype == jnp.float64 else original(x)

    knp.tanh = tanh


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-6))


def worst(ws_a, ws_b) -> float:
    return max(rel(a, b) for a, b in zip(ws_a, ws_b))


def trajectory(dtype: str, init, x, y):
    """Weights after every batch, Keras and cyneuron, in ``dtype``."""
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)  # the global policy is cached from floatx at first use
    cyneuron.config.set_floatx(dtype)
    k = keras.Sequential([keras.Input((20, 1)), keras.layers.LSTM(50, return_sequences=True),
                          keras.layers.LSTM(50), keras.layers.Dense(1)])
    c = cyneuron.models.Sequential([cl.Input((20, 1)), cl.LSTM(50, return_sequences=True), cl.LSTM(50),
                                    cl.Dense(1)])
    k.set_weights([w.astype(dtype) for w in init])
    c.set_weights([w.astype(dtype) for w in init])
    k.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="mse")
    c.compile(optimizer=cyneuron.optimizers.Adam(learning_rate=0.001), loss="mse")
    xs, ys = x.astype(dtype), y.astype(dtype)
    out_k, out_c = [], []
    for _ in range(EPOCHS):
        for b in range(STEPS):
            sl = slice(b * BATCH, (b + 1) * BATCH)
            k.train_on_batch(xs[sl], ys[sl])
            c.train_on_batch(xs[sl], ys[sl])
            out_k.append([np.array(w) for w in k.get_weights()])
            out_c.append([np.array(w) for w in c.get_weights()])
    return out_k, out_c, (np.asarray(k.predict(xs, verbose=0)), np.asarray(c.predict(xs, verbose=0)))


def main() -> None:
    rng = np.random.default_rng(0)
    if "--oracle-data" in sys.argv:  # the very x of recurrent_vs_keras.py's stacked case
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import recurrent_vs_keras

        for label, shape, _ in recurrent_vs_keras.cases():
            x = rng.standard_normal((64, *shape)).astype("float32")
            if label.startswith("LSTM(50"):
                break
    else:
        x = rng.standard_normal((64, 20, 1)).astype("float32")
    y = (np.sin(x.sum(axis=(1, 2))) * 0.5)[:, None].astype("float32")
    keras.utils.set_random_seed(1)
    init = [np.array(w) for w in keras.Sequential([
        keras.Input((20, 1)), keras.layers.LSTM(50, return_sequences=True), keras.layers.LSTM(50),
        keras.layers.Dense(1)]).get_weights()]
    k32, c32, p32 = trajectory("float32", init, x, y)
    if "--keras-tanh" not in sys.argv:
        _float64_tanh()
    k64, c64, p64 = trajectory("float64", init, x, y)
    keras.config.set_floatx("float32")
    keras.config.set_dtype_policy("float32")
    cyneuron.config.set_floatx("float32")
    print("largest relative weight difference after each batch (per array, relative to its largest entry)")
    print(f"{'batch':>5}  {'c32 vs k32':>11}  {'c64 vs k64':>11}  {'k32 vs k64':>11}  {'c32 vs k64':>11}")
    for i in range(len(k32)):
        print(f"{i + 1:>5}  {worst(c32[i], k32[i]):>11.2e}  {worst(c64[i], k64[i]):>11.2e}  "
              f"{worst(k32[i], k64[i]):>11.2e}  {worst(c32[i], k64[i]):>11.2e}")
    print("predictions after training (relative to the largest |prediction|):")
    print(f"  c32 vs k32 {rel(p32[1], p32[0]):.2e}   c64 vs k64 {rel(p64[1], p64[0]):.2e}   "
          f"k32 vs k64 {rel(p32[0], p64[0]):.2e}   c32 vs k64 {rel(p32[1], p64[0]):.2e}")


if __name__ == "__main__":
    main()
