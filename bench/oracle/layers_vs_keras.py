"""Keras 3 as the oracle for the layers of issue 10 (not part of the test suite).

Run in a venv with Keras on JAX and cyneuron importable::

    KERAS_BACKEND=jax python bench/oracle/layers_vs_keras.py

Same initial weights and data, unshuffled: weights, BatchNormalization's moving statistics and
inference outputs after two epochs; activation layers' outputs; configs. Prints the largest
relative difference per case (target: 1e-5 in float32).
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


def pair(build_keras, build_cy, input_shape, x, y, loss, epochs=2, batch_size=8, optimizer=("sgd", {})):
    k = keras.Sequential([keras.Input(input_shape), *build_keras()])
    c = cyneuron.models.Sequential([cl.Input(input_shape), *build_cy()])
    c.set_weights(k.get_weights())
    name, kwargs = optimizer
    k.compile(optimizer=keras.optimizers.get({"class_name": name, "config": kwargs}), loss=loss)
    c.compile(optimizer=cyneuron.optimizers.get({"class_name": name, "config": kwargs}), loss=loss)
    hk = k.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    hc = c.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    # per array, relative to the array's largest entry: a Dense bias feeding a BatchNormalization has a
    # zero gradient in exact arithmetic, so its entries are rounding noise (~1e-9): floor the scale at 1e-3
    weights = max(
        float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-3)) for a, b in zip(c.get_weights(), k.get_weights())
    )
    preds = rel(c.predict(x, verbose=0), k.predict(x, verbose=0))
    losses = rel(hc.history["loss"], hk.history["loss"])
    return weights, preds, losses


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 40)]
    x3 = rng.standard_normal((40, 4, 3)).astype("float32")
    rows = []

    def bn_case(label, **kw):
        def k():
            return [
                keras.layers.Dense(6),
                keras.layers.BatchNormalization(**kw),
                keras.layers.Dense(3, activation="softmax"),
            ]

        def c():
            return [cl.Dense(6), cl.BatchNormalization(**kw), cl.Dense(3, activation="softmax")]

        rows.append((label, *pair(k, c, (5,), x, y, "categorical_crossentropy")))

    bn_case("BatchNormalization()")
    bn_case("BatchNormalization(momentum=0.5, epsilon=0.1)", momentum=0.5, epsilon=0.1)
    bn_case("BatchNormalization(center=False)", center=False)
    bn_case("BatchNormalization(scale=False)", scale=False)

    def bn3(axis):
        def k():
            return [
                keras.layers.BatchNormalization(axis=axis),
                keras.layers.Flatten(),
                keras.layers.Dense(3, activation="softmax"),
            ]

        def c():
            return [cl.BatchNormalization(axis=axis), cl.Flatten(), cl.Dense(3, activation="softmax")]

        rows.append(
            (f"BatchNormalization(axis={axis}) on (4, 3)", *pair(k, c, (4, 3), x3, y, "categorical_crossentropy"))
        )

    bn3(-1)
    bn3(1)

    def frozen_bn():
        def k():
            bn = keras.layers.BatchNormalization()
            bn.trainable = False
            return [keras.layers.Dense(6), bn, keras.layers.Dense(3, activation="softmax")]

        def c():
            bn = cl.BatchNormalization()
            bn.trainable = False
            return [cl.Dense(6), bn, cl.Dense(3, activation="softmax")]

        rows.append(("frozen BatchNormalization", *pair(k, c, (5,), x, y, "categorical_crossentropy")))

    frozen_bn()

    def frozen_dense():
        def k():
            return [
                keras.layers.Dense(6, activation="relu", trainable=False),
                keras.layers.Dense(3, activation="softmax"),
            ]

        def c():
            return [cl.Dense(6, activation="relu", trainable=False), cl.Dense(3, activation="softmax")]

        rows.append(("Dense(trainable=False)", *pair(k, c, (5,), x, y, "categorical_crossentropy")))

    frozen_dense()

    for label, kl, cyl in [
        ("ReLU()", keras.layers.ReLU(), cl.ReLU()),
        (
            "ReLU(max_value=0.5, negative_slope=0.1, threshold=0.2)",
            keras.layers.ReLU(max_value=0.5, negative_slope=0.1, threshold=0.2),
            cl.ReLU(max_value=0.5, negative_slope=0.1, threshold=0.2),
        ),
        ("ReLU(negative_slope=0.2)", keras.layers.ReLU(negative_slope=0.2), cl.ReLU(negative_slope=0.2)),
        ("LeakyReLU()", keras.layers.LeakyReLU(), cl.LeakyReLU()),
        ("ELU(alpha=0.5)", keras.layers.ELU(alpha=0.5), cl.ELU(alpha=0.5)),
        ("Softmax()", keras.layers.Softmax(), cl.Softmax()),
        ("Dropout(0.5) inference", keras.layers.Dropout(0.5), cl.Dropout(0.5)),
    ]:
        rows.append((label + " output", rel(cyl(x), np.asarray(kl(x))), 0.0, 0.0))
        kl2, cl2 = type(kl).from_config(kl.get_config()), type(cyl).from_config(cyl.get_config())
        missing = set(kl2.get_config()) - set(cl2.get_config())
        if missing:
            print(f"  config keys Keras has and cyneuron lacks for {label}: {sorted(missing)}")

    def act_train(layer_k, layer_c, label):
        def k():
            return [keras.layers.Dense(6), layer_k, keras.layers.Dense(3, activation="softmax")]

        def c():
            return [cl.Dense(6), layer_c, cl.Dense(3, activation="softmax")]

        rows.append((label + " training", *pair(k, c, (5,), x, y, "categorical_crossentropy")))

    act_train(
        keras.layers.ReLU(max_value=0.5, negative_slope=0.1, threshold=0.2),
        cl.ReLU(max_value=0.5, negative_slope=0.1, threshold=0.2),
        "ReLU(options)",
    )
    act_train(keras.layers.LeakyReLU(), cl.LeakyReLU(), "LeakyReLU")
    act_train(keras.layers.ELU(), cl.ELU(), "ELU")
    act_train(keras.layers.Dropout(0.0), cl.Dropout(0.0), "Dropout(0.0)")

    # every optimizer through fit, on a Dense + BatchNormalization net (issue 10's parity target)
    optimizer_cases = [
        ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
        ("Adam", {"learning_rate": 0.01}),
        ("Adam", {"learning_rate": 0.01, "amsgrad": True, "clipnorm": 0.5}),
        ("AdamW", {"learning_rate": 0.01}),
        ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
        ("Adagrad", {"learning_rate": 0.05, "global_clipnorm": 1.0}),
        ("Adadelta", {"learning_rate": 1.0}),
        ("Adamax", {"learning_rate": 0.01, "clipvalue": 0.1}),
        ("Nadam", {"learning_rate": 0.01}),
        ("Lion", {"learning_rate": 0.001, "weight_decay": 0.1}),
    ]
    for name, kwargs in optimizer_cases:

        def k():
            return [
                keras.layers.Dense(6, activation="relu"),
                keras.layers.BatchNormalization(),
                keras.layers.Dense(3, activation="softmax"),
            ]

        def c():
            return [cl.Dense(6, activation="relu"), cl.BatchNormalization(), cl.Dense(3, activation="softmax")]

        args = ", ".join(f"{key}={value}" for key, value in kwargs.items())
        rows.append(
            (f"fit {name}({args})", *pair(k, c, (5,), x, y, "categorical_crossentropy", optimizer=(name, kwargs)))
        )
    for schedule in (
        {
            "class_name": "ExponentialDecay",
            "config": {"initial_learning_rate": 0.05, "decay_steps": 3, "decay_rate": 0.5},
        },
        {
            "class_name": "CosineDecay",
            "config": {"initial_learning_rate": 0.05, "decay_steps": 8, "warmup_target": 0.1, "warmup_steps": 3},
        },
    ):

        def k():
            return [keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(3, activation="softmax")]

        def c():
            return [cl.Dense(6, activation="tanh"), cl.Dense(3, activation="softmax")]

        kk = keras.optimizers.schedules.deserialize(schedule)
        cc = cyneuron.optimizers.schedules.deserialize(schedule)
        km = keras.Sequential([keras.Input((5,)), *k()])
        cm = cyneuron.models.Sequential([cl.Input((5,)), *c()])
        cm.set_weights(km.get_weights())
        km.compile(optimizer=keras.optimizers.SGD(kk, momentum=0.9), loss="categorical_crossentropy")
        cm.compile(optimizer=cyneuron.optimizers.SGD(cc, momentum=0.9), loss="categorical_crossentropy")
        km.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        cm.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        w = max(
            float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-3))
            for a, b in zip(cm.get_weights(), km.get_weights())
        )
        rows.append(
            (
                f"fit SGD(momentum=0.9) with {schedule['class_name']}",
                w,
                rel(cm.predict(x), km.predict(x, verbose=0)),
                0.0,
            )
        )

    for cls in ("BatchNormalization", "Dropout"):
        kc = getattr(keras.layers, cls)(**({"rate": 0.5} if cls == "Dropout" else {})).get_config()
        cc = getattr(cl, cls)(**({"rate": 0.5} if cls == "Dropout" else {})).get_config()
        diff = {key: (kc.get(key), cc.get(key)) for key in set(kc) | set(cc) if kc.get(key) != cc.get(key)}
        diff.pop("name", None)
        print(f"  {cls} config differences (keras, cyneuron): {diff}")

    print(f"{'case':62s} {'weights':>10s} {'predict':>10s} {'loss':>10s}")
    for label, w, p, loss in rows:
        print(f"{label:62s} {w:10.2e} {p:10.2e} {loss:10.2e}")


if __name__ == "__main__":
    main()
