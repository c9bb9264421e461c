"""A bare ``Network.train_batch`` loop of the example / course CNN for a profiler (``perf record``)
or a quick A/B between trees (PYTHONPATH picks the tree).

OPENBLAS_NUM_THREADS=1 perf record -g python bench/cnn_loop.py example [seconds]
"""

import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
if "PYTHONPATH" not in os.environ:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import numpy as np  # noqa: E402

import cyneuron  # noqa: E402
from cyneuron import layers as L  # noqa: E402

N, B = 1024, 64


def build(net: str):
    cyneuron.utils.set_random_seed(0)
    if net == "example":
        body = [
            L.Rescaling(1.0 / 255),
            L.Conv2D(16, (3, 3), activation="relu", padding="same"),
            L.MaxPool2D(pool_size=(2, 2), strides=2),
            L.Conv2D(32, (3, 3), activation="relu", padding="same"),
            L.MaxPool2D(pool_size=(2, 2), strides=2),
            L.Flatten(),
            L.Dense(64, activation="relu"),
        ]
    else:
        body = [
            L.Conv2D(32, (3, 3), activation="relu", padding="same"),
            L.MaxPool2D(pool_size=(2, 2), strides=2),
            L.Conv2D(64, (3, 3), activation="relu", padding="same"),
            L.MaxPool2D(pool_size=(2, 2), strides=2),
            L.Flatten(),
        ]
    model = cyneuron.models.Sequential([L.Input((32, 32, 3)), *body, L.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = (rng.random((N, 32, 32, 3)) * 255).astype("float32")
    y = rng.integers(0, 2, N).astype("int64")
    model.fit(x[: B * 2], y[: B * 2], epochs=1, batch_size=B, shuffle=False, verbose=0)
    net_ = model._get_network()
    net_.bind_training_data(x.reshape(N, -1), y, np.arange(N, dtype=np.int64))
    return net_


def run(net_, seconds: float) -> float:
    steps = 0
    end = time.monotonic() + seconds
    start = time.perf_counter()
    while time.monotonic() < end:
        for b in range(N // B):
            net_.train_batch(b * B, (b + 1) * B)
        steps += N // B
    return (time.perf_counter() - start) / steps * 1e6


def main() -> None:
    net = sys.argv[1] if len(sys.argv) > 1 else "example"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    n = build(net)
    print(f"{net}: {run(n, seconds):.0f} us per train_batch")


if __name__ == "__main__":
    main()
