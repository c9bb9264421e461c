"""Microseconds per training step through ``fit`` for Bidirectional and TimeDistributed (a measurement, not a test).

    PYTHONPATH=src python bench/sequence_step.py            # cyneuron cython and numpy backends
    /work/kvenv/bin/python bench/sequence_step.py --torch   # also PyTorch (CPU, eager), when installed

Cases, on sequences of 50 steps x 8 features, batch 32, Adam, mse, float32:
``Bidirectional(LSTM(32)) > Dense(1)`` (PyTorch: ``nn.LSTM(bidirectional=True)``, the last forward
output and the first backward one, as Keras' merge of the two final states) and
``LSTM(32, return_sequences=True) > TimeDistributed(Dense(16, relu)) > Flatten > Dense(1)`` (PyTorch:
``nn.LSTM`` then ``nn.Linear`` on the (batch, T, 32) output). As ``recurrent_step.py``: the best of a few
epochs of 16 batches after a warm-up epoch, divided by the batches; one BLAS / torch thread. The
machine is shared, so compare the columns of one run (ratios), not runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import numpy as np  # noqa: E402

import cyneuron  # noqa: E402
from cyneuron import layers as cl  # noqa: E402

SHAPE = (50, 8)
BATCH, BATCHES, REPEATS = 32, 16, 5


def _models():
    return {
        "Bi(LSTM(32)) > Dense(1)": lambda: [cl.Bidirectional(cl.LSTM(32)), cl.Dense(1)],
        "LSTM(32, seq) > TD(Dense(16, relu)) > Flatten > Dense(1)": lambda: [
            cl.LSTM(32, return_sequences=True),
            cl.TimeDistributed(cl.Dense(16, activation="relu")),
            cl.Flatten(),
            cl.Dense(1),
        ],
    }


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH * BATCHES, *SHAPE)).astype("float32")
    return x, x.mean(axis=(1, 2))[:, None].astype("float32")


def cyneuron_step(backend: str, make) -> float:
    cyneuron.backend.set_backend(backend)
    x, y = _data()
    model = cyneuron.models.Sequential([cl.Input(SHAPE), *make()])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, batch_size=BATCH, shuffle=False, verbose=0)  # warm-up, workspaces
    repeats = REPEATS if backend == "cython" else 2
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(x, y, epochs=1, batch_size=BATCH, shuffle=False, verbose=0)
        best = min(best, time.perf_counter() - start)
    return best / BATCHES * 1e6


def torch_step(label: str) -> float:
    import torch

    torch.set_num_threads(1)
    x, y = (torch.from_numpy(a) for a in _data())
    steps, features = SHAPE
    if label.startswith("Bi"):
        rnn = torch.nn.LSTM(features, 32, batch_first=True, bidirectional=True)
        head = torch.nn.Linear(64, 1)
        modules = [rnn, head]

        def forward(xb):
            out, _ = rnn(xb)
            # the forward direction's last step and the backward direction's last (input time 0)
            return head(torch.cat([out[:, -1, :32], out[:, 0, 32:]], dim=1))
    else:
        rnn = torch.nn.LSTM(features, 32, batch_first=True)
        td = torch.nn.Linear(32, 16)
        head = torch.nn.Linear(steps * 16, 1)
        modules = [rnn, td, head]

        def forward(xb):
            out, _ = rnn(xb)
            return head(torch.relu(td(out)).reshape(xb.shape[0], -1))

    params = [p for m in modules for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)

    def epoch():
        for b in range(BATCHES):
            xb, yb = x[b * BATCH : (b + 1) * BATCH], y[b * BATCH : (b + 1) * BATCH]
            opt.zero_grad()
            loss = torch.mean((forward(xb) - yb) ** 2)
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
    parser.add_argument("--no-numpy", action="store_true", help="skip the (slow) numpy backend")
    args = parser.parse_args()
    width = max(len(label) for label in _models())
    header = f"{'case':<{width}}{'cython us/step':>16}"
    if not args.no_numpy:
        header += f"{'numpy us/step':>16}{'numpy/cython':>14}"
    if args.torch:
        header += f"{'torch us/step':>16}{'torch/cython':>14}"
    print(f"{SHAPE[0]} steps x {SHAPE[1]} features, batch {BATCH}, Adam, mse, float32; best of {REPEATS} epochs")
    print(header)
    for label, make in _models().items():
        cy = cyneuron_step("cython", make)
        line = f"{label:<{width}}{cy:>16.0f}"
        if not args.no_numpy:
            npy = cyneuron_step("numpy", make)
            line += f"{npy:>16.0f}{npy / cy:>14.1f}"
        if args.torch:
            th = torch_step(label)
            line += f"{th:>16.0f}{th / cy:>14.2f}"
        print(line)


if __name__ == "__main__":
    main()
