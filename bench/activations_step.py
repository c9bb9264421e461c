"""Training-step cost of each activation in an MLP (not part of the test suite).

    python bench/activations_step.py [--epochs 3]

784 -> 256 -> 256 -> 10 (both hidden Dense layers with the activation), 8192 float32 samples, batch 128,
SGD; prints the best-of-epochs seconds per epoch and the ratio to relu, and whether Dense fuses the
activation or runs it as its own stage.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import numpy as np  # noqa: E402

import cyneuron  # noqa: E402
from cyneuron import layers as L  # noqa: E402
from cyneuron.backend.specs import FUSED_ACTIVATIONS  # noqa: E402

NAMES = ("relu", "linear", "tanh", "elu", "selu", "leaky_relu", "softplus", "gelu", "silu", "mish", "hard_silu")


def epoch_seconds(name: str, x, y, epochs: int) -> float:
    cyneuron.utils.set_random_seed(0)
    model = cyneuron.models.Sequential(
        [
            L.Input((784,)),
            L.Dense(256, activation=name),
            L.Dense(256, activation=name),
            L.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer=cyneuron.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    best = float("inf")
    for _ in range(epochs):
        start = time.perf_counter()
        model.fit(x, y, epochs=1, batch_size=128, verbose=0)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8192, 784)).astype("float32")
    y = rng.integers(0, 10, 8192)
    base = epoch_seconds("relu", x, y, args.epochs)
    for name in NAMES:
        seconds = base if name == "relu" else epoch_seconds(name, x, y, args.epochs)
        how = "fused" if name in FUSED_ACTIVATIONS else "own stage"
        print(f"{name:12s} {how:>10s} {seconds * 1000:8.1f} ms/epoch  {seconds / base:5.2f}x relu")


if __name__ == "__main__":
    main()
