"""Per-step time of ``fit`` fed from a Python generator, a ``PyDataset`` and NumPy arrays (issue 13's target:
a generator step within 2x an array step).

    PYTHONPATH=src python bench/generator_vs_arrays.py [--rounds 7] [--epochs 3] [--workloads tiny digits]

The workloads are ``bench/common.py``'s ``tiny`` (1 -> 16 -> 32 -> 2, batch 10) and ``digits`` (64 -> 32 -> 10,
batch 32), SGD, sparse categorical cross-entropy, unshuffled (the same batches in the same order for the three
feeds), ``verbose=0``. The generator and the dataset slice the arrays per batch, as user code would. Each round
runs the three feeds one after the other (interleaved, so machine load hits them alike); the table shows the
median per-step time over the rounds, the median over rounds of each feed's ratio to that round's
arrays time, and the ratio of the best rounds (the least disturbed on a loaded machine).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from common import WORKLOADS, ensure_cyneuron_importable, initial_weights, load_data

ensure_cyneuron_importable()

import cyneuron  # noqa: E402
from cyneuron.utils import PyDataset  # noqa: E402


class Batches(PyDataset):
    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self) -> int:
        return -(-self.x.shape[0] // self.batch_size)

    def __getitem__(self, index: int):
        start = index * self.batch_size
        return self.x[start : start + self.batch_size], self.y[start : start + self.batch_size]


def generator(x: np.ndarray, y: np.ndarray, batch_size: int):
    while True:
        for start in range(0, x.shape[0], batch_size):
            yield x[start : start + batch_size], y[start : start + batch_size]


def model_for(workload) -> cyneuron.Sequential:
    model = cyneuron.Sequential([cyneuron.Input((workload.input_dim,))])
    for units, activation in workload.layers:
        model.add(cyneuron.layers.Dense(units, activation=activation))
    model.compile(optimizer=cyneuron.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    model.set_weights(initial_weights(workload))
    return model


def seconds_per_step(workload, feed: str, x: np.ndarray, y: np.ndarray, epochs: int) -> float:
    model = model_for(workload)
    steps = workload.steps_per_epoch
    b = workload.batch_size
    if feed == "arrays":
        args = {"x": x, "y": y, "batch_size": b}
    elif feed == "generator":
        args = {"x": generator(x, y, b), "steps_per_epoch": steps}
    else:
        args = {"x": Batches(x, y, b)}
    model.fit(**args, epochs=1, shuffle=False, verbose=0)  # warm-up: workspaces, first-call costs
    if feed == "generator":
        args["x"] = generator(x, y, b)
    start = time.perf_counter()
    model.fit(**args, epochs=epochs, shuffle=False, verbose=0)
    return (time.perf_counter() - start) / (steps * epochs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workloads", nargs="+", default=["tiny", "digits"])
    args = parser.parse_args()
    feeds = ("arrays", "generator", "pydataset")
    for name in args.workloads:
        workload = WORKLOADS[name]
        x, y = load_data(name)
        x = np.ascontiguousarray(x, dtype=np.float32)
        times: dict[str, list[float]] = {feed: [] for feed in feeds}
        for _ in range(args.rounds):
            for feed in feeds:
                times[feed].append(seconds_per_step(workload, feed, x, y, args.epochs))
        print(f"{workload.describe()}  ({args.rounds} rounds x {args.epochs} epochs, medians)")
        for feed in feeds:
            median = statistics.median(times[feed])
            # the ratio of each round's pair (same load), then the median over rounds
            ratio = statistics.median(t / a for t, a in zip(times[feed], times["arrays"]))
            # the best round of each feed: the least disturbed by other processes on a loaded machine
            best = min(times[feed]) / min(times["arrays"])
            print(
                f"  {feed:10s} {median * 1e6:8.1f} us/step (best {min(times[feed]) * 1e6:6.1f})   "
                f"x{ratio:5.2f} vs arrays (paired median), x{best:5.2f} (best rounds)"
            )


if __name__ == "__main__":
    main()
