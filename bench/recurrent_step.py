"""Microseconds per training step through ``fit`` for the recurrent layers (a measurement, not a test).

    PYTHONPATH=src python bench/recurrent_step.py            # cyneuron cython and numpy backends
    /work/kvenv/bin/python bench/recurrent_step.py --torch   # also PyTorch (CPU), when installed

Cases: ``LSTM(64)`` and ``GRU(64)`` on sequences of 50 steps x 8 features, ``SimpleRNN(32)`` on 20 x 1,
each followed by ``Dense(1)``, loss mse, Adam, batch 32, float32. A step is one batch of ``fit``
(forward, backpropagation through time, update); the time is the best of a few epochs of 16 batches
after a warm-up epoch, divided by the batches. PyTorch runs the same model with ``nn.LSTM`` / ``nn.GRU``
/ ``nn.RNN`` (batch_first) and a plain loop of zero_grad / forward / backward / step.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# One BLAS thread unless told otherwise: the machine has 2 shared cores, and a threaded OpenBLAS on the
# per-step products (32 x 64 . 64 x 256) degrades badly when the other core is busy (20x measured here).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import numpy as np  # noqa: E402

import cyneuron  # noqa: E402
from cyneuron import layers as cl  # noqa: E402

CASES = [
    ("LSTM(64), 50x8", "LSTM", 64, (50, 8)),
    ("GRU(64), 50x8", "GRU", 64, (50, 8)),
    ("SimpleRNN(32), 20x1", "SimpleRNN", 32, (20, 1)),
]
BATCH, BATCHES, REPEATS = 32, 16, 5


def _data(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH * BATCHES, *shape)).astype("float32")
    return x, x.mean(axis=(1, 2))[:, None].astype("float32")


def cyneuron_step(backend: str, cls: str, units: int, shape) -> float:
    cyneuron.backend.set_backend(backend)
    x, y = _data(shape)
    model = cyneuron.models.Sequential([cl.Input(shape), getattr(cl, cls)(units), cl.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, batch_size=BATCH, shuffle=False, verbose=0)  # warm-up, workspaces
    repeats = REPEATS if backend == "cython" else 2
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(x, y, epochs=1, batch_size=BATCH, shuffle=False, verbose=0)
        best = min(best, time.perf_counter() - start)
    return best / BATCHES * 1e6


def torch_step(cls: str, units: int, shape) -> float:
    import torch

    torch.set_num_threads(1)
    x, y = (torch.from_numpy(a) for a in _data(shape))
    rnn = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "SimpleRNN": torch.nn.RNN}[cls](
        shape[1], units, batch_first=True
    )
    head = torch.nn.Linear(units, 1)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)

    def epoch():
        for b in range(BATCHES):
            xb, yb = x[b * BATCH : (b + 1) * BATCH], y[b * BATCH : (b + 1) * BATCH]
            opt.zero_grad()
            out, _ = rnn(xb)
            loss = torch.mean((head(out[:, -1]) - yb) ** 2)
            loss.backward()
            opt.step()

    epoch()
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        epoch()
        best = min(best, time.perf_counter() - start)
    return best / BATCHES * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--torch", action="store_true", help="also time PyTorch (single thread)")
    args = parser.parse_args()
    header = f"{'case':<22}{'cython us/step':>16}{'numpy us/step':>16}{'numpy/cython':>14}"
    if args.torch:
        header += f"{'torch us/step':>16}{'torch/cython':>14}"
    print(f"batch {BATCH}, Adam, mse, float32; best of {REPEATS} epochs of {BATCHES} steps")
    print(header)
    for label, cls, units, shape in CASES:
        cy = cyneuron_step("cython", cls, units, shape)
        npy = cyneuron_step("numpy", cls, units, shape)
        line = f"{label:<22}{cy:>16.0f}{npy:>16.0f}{npy / cy:>14.1f}"
        if args.torch:
            th = torch_step(cls, units, shape)
            line += f"{th:>16.0f}{th / cy:>14.2f}"
        print(line)


if __name__ == "__main__":
    main()
