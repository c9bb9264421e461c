"""atheris target: the model and weights readers (``load_model``, ``load_weights``, ``model_from_bytes``).

An input is one byte choosing the model for ``load_weights`` and the file name's suffix, then the file's
bytes. The seed corpus is every small model below saved in each format cyneuron reads: its own zip (model
and weights-only), Keras' ``.keras`` (Sequential and functional) and ``.weights.h5``.

    python fuzz/load_model.py -max_total_time=60 -rss_limit_mb=1536 -timeout=10 [CORPUS_DIR ...]
    python fuzz/load_model.py fuzz/findings/load_model-crash-...        # replay one input

Outcome of each input: a model / loaded weights, or ValueError / TypeError / OSError (see _harness.py).
"""

from __future__ import annotations

import os
import sys
import warnings
import zipfile

from _harness import instrumented, main, rezip_mutator, scratch_dir, verdict

with instrumented(["cyneuron", "h5py", "json"], loaded=(zipfile,)):
    import h5py  # noqa: F401 (imported here for coverage; saving_keras imports it lazily)
    import numpy as np

    import cyneuron
    import cyneuron.saving_keras  # noqa: F401
    from cyneuron import Input, Model, Sequential, layers, optimizers
    from cyneuron.saving import load_model, load_weights, model_from_bytes, model_to_bytes, save_model, save_weights
    from cyneuron.utils import set_random_seed

# The suffixes cyneuron's readers see (content decides the format; names only decide how a model is saved).
SUFFIXES = (".cyn", ".keras", ".weights.h5")
SCRATCH = scratch_dir("load_model")


def _models() -> list:
    """Small models covering the layer kinds with weights, state, optimizer slots and schedules."""
    set_random_seed(0)
    dense = Sequential([Input((3,)), layers.Dense(4, activation="relu"), layers.Dense(2)])
    dense.compile(optimizer=optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    conv = Sequential(
        [
            Input((6, 6, 1)),
            layers.Conv2D(2, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.BatchNormalization(),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(3, activation="softmax"),
        ]
    )
    conv.compile(optimizer=optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy")
    recurrent = Sequential([Input((4,), dtype="int32"), layers.Embedding(5, 3), layers.LSTM(2), layers.Dense(1)])
    schedule = optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.9)
    recurrent.compile(optimizer=optimizers.RMSprop(schedule), loss="binary_crossentropy")
    inputs = Input((3,))
    functional = Model(inputs, layers.Dense(2)(layers.Dense(3, activation="tanh")(inputs)))
    functional.compile(optimizer="adamw", loss="mse")
    rng = np.random.default_rng(0)
    dense.fit(rng.standard_normal((8, 3)), rng.standard_normal((8, 2)), epochs=1, verbose=0)
    conv.fit(rng.standard_normal((8, 6, 6, 1)), rng.integers(0, 3, 8), epochs=1, verbose=0)
    recurrent.fit(rng.integers(0, 5, (8, 4)), rng.integers(0, 2, (8, 1)).astype("float32"), epochs=1, verbose=0)
    functional.fit(rng.standard_normal((8, 3)), rng.standard_normal((8, 2)), epochs=1, verbose=0)
    return [dense, conv, recurrent, functional]


MODELS = _models()


def seeds() -> dict[str, bytes]:
    out = {}
    for i, model in enumerate(MODELS):
        files = {
            f"{i}-model.cyn": lambda p, m=model: save_model(m, p),
            f"{i}-weights.cyn": lambda p, m=model: save_weights(m, p),
            f"{i}-model.keras": lambda p, m=model: save_model(m, p),
            f"{i}-model.weights.h5": lambda p, m=model: save_weights(m, p),
        }
        for name, save in files.items():
            path = os.path.join(SCRATCH, name)
            save(path)
            suffix = next(s for s in reversed(SUFFIXES) if name.endswith(s))
            selector = i + len(MODELS) * SUFFIXES.index(suffix)
            with open(path, "rb") as f:
                out[name] = bytes([selector]) + f.read()
            os.unlink(path)
    out["uncompiled.cyn"] = bytes([0]) + model_to_bytes(Sequential([Input((2,)), layers.Dense(1)]))
    return out


def test_one_input(data: bytes) -> None:
    if not data:
        return
    model = MODELS[data[0] % len(MODELS)]
    path = os.path.join(SCRATCH, "input" + SUFFIXES[(data[0] // len(MODELS)) % len(SUFFIXES)])
    payload = data[1:]
    with open(path, "wb") as f:
        f.write(payload)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            verdict(lambda: _load_and_predict(path))
            verdict(lambda: load_weights(model, path))
            verdict(lambda: model_from_bytes(payload))
    finally:
        os.unlink(path)


def _load_and_predict(path: str) -> None:
    model = load_model(path)
    if model.built:  # a loaded model must run: zeros are a valid input, and a valid index for any Embedding
        dtype = "int64" if type(model.layers[0]).__name__ == "Embedding" else model.dtype
        model.predict(np.zeros((1, *model.input_shape[1:]), dtype=dtype), verbose=0)


if __name__ == "__main__":
    assert cyneuron.get_backend() in ("cython", "numpy")
    main("load_model", test_one_input, seeds, rezip_mutator)
    sys.exit(0)
