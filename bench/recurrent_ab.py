"""Side-by-side µs per step of the recurrent workloads for several source trees (and PyTorch), interleaved.

    python bench/recurrent_ab.py TREE [TREE ...] [--torch] [--rounds 5]

Each TREE is a checkout with its kernels built in place (``TREE/src`` is imported). Every round runs one
subprocess per tree (and one PyTorch subprocess with ``--torch``, through /work/kvenv/bin/python or
``--torch-python``), in turn, so that load on the shared machine hits all of them alike; a subprocess
times each case's ``fit`` step (median of epochs of 16 batches) and the bare ``Network.train_batch``
(median of blocks of 16 calls). The table shows the medians over the rounds. One BLAS thread, float32,
batch 32, Adam, mse: the cases of bench/recurrent_step.py.

``--clock cpu`` times with the process' CPU time instead of the wall clock: on a machine whose cores
are oversubscribed by other work, wall time mostly measures the scheduler (it still includes cache and
shared-core effects).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CASES = [
    ("LSTM(64), 50x8", "LSTM", 64, (50, 8)),
    ("GRU(64), 50x8", "GRU", 64, (50, 8)),
    ("SimpleRNN(32), 20x1", "SimpleRNN", 32, (20, 1)),
]
BATCH, BATCHES = 32, 16


def _data(shape):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH * BATCHES, *shape)).astype("float32")
    return x, x.mean(axis=(1, 2))[:, None].astype("float32")


CLOCK = time.perf_counter


def _median_of(function, reps):
    times = []
    for _ in range(reps):
        start = CLOCK()
        function()
        times.append(CLOCK() - start)
    return statistics.median(times)


def run_cyneuron(tree: str, reps: int) -> dict:
    sys.path.insert(0, os.path.join(tree, "src"))
    import numpy as np

    import cyneuron
    from cyneuron import layers as cl

    cyneuron.backend.set_backend("cython")
    out = {}
    for label, cls, units, shape in CASES:
        x, y = _data(shape)
        model = cyneuron.models.Sequential([cl.Input(shape), getattr(cl, cls)(units), cl.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=1, batch_size=BATCH, shuffle=False, verbose=0)

        def fit(model=model, x=x, y=y):
            model.fit(x, y, epochs=1, batch_size=BATCH, shuffle=False, verbose=0)

        fit_us = _median_of(fit, reps) / BATCHES * 1e6
        bare_us = None
        try:
            net = model._get_network()
            net.bind_training_data(x.reshape(x.shape[0], -1), y, np.arange(x.shape[0], dtype=np.int64))

            def bare(net=net):
                for b in range(BATCHES):
                    net.train_batch(b * BATCH, (b + 1) * BATCH)

            bare()
            bare_us = _median_of(bare, reps) / BATCHES * 1e6
        except Exception as error:  # noqa: BLE001 - the bare loop is optional
            print(f"bare train_batch unavailable: {error!r}", file=sys.stderr)
        out[label] = {"fit": fit_us, "bare": bare_us}
    return out


def run_torch(reps: int) -> dict:
    import torch

    torch.set_num_threads(1)
    out = {}
    for label, cls, units, shape in CASES:
        x, y = (torch.from_numpy(a) for a in _data(shape))
        rnn = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "SimpleRNN": torch.nn.RNN}[cls](
            shape[1], units, batch_first=True
        )
        head = torch.nn.Linear(units, 1)
        opt = torch.optim.Adam(list(rnn.parameters()) + list(head.parameters()), lr=1e-3)

        def epoch(x=x, y=y, rnn=rnn, head=head, opt=opt):
            for b in range(BATCHES):
                xb, yb = x[b * BATCH : (b + 1) * BATCH], y[b * BATCH : (b + 1) * BATCH]
                opt.zero_grad()
                o, _ = rnn(xb)
                loss = torch.mean((head(o[:, -1]) - yb) ** 2)
                loss.backward()
                opt.step()

        epoch()
        out[label] = {"fit": _median_of(epoch, reps) / BATCHES * 1e6, "bare": None}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs="*")
    parser.add_argument("--torch", action="store_true")
    parser.add_argument("--torch-python", default="/work/kvenv/bin/python")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    if args.child is not None:
        result = run_torch(args.reps) if args.child == "torch" else run_cyneuron(args.child, args.reps)
        print(json.dumps(result))
        return
    runs = [(tree, [sys.executable, __file__, "--child", os.path.abspath(tree)]) for tree in args.trees]
    if args.torch:
        runs.append(("torch", [args.torch_python, __file__, "--child", "torch"]))
    results: dict[str, list[dict]] = {name: [] for name, _ in runs}
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    for round_ in range(args.rounds):
        for name, command in runs:
            command = command[:] + ["--reps", str(args.reps), "--clock", args.clock]
            text = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
            results[name].append(json.loads(text.strip().splitlines()[-1]))
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    names = [name for name, _ in runs]
    print(f"batch {BATCH}, Adam, mse, float32, 1 BLAS thread; medians over {args.rounds} interleaved rounds"
          f" ({args.clock} clock)")
    print("| case | " + " | ".join(f"{n} fit µs" + ("" if n == "torch" else f" | {n} bare µs") for n in names) + " |")
    print("|---" * (1 + sum(1 if n == "torch" else 2 for n in names)) + "|")
    for label, *_ in CASES:
        cells = []
        for name in names:
            fits = [r[label]["fit"] for r in results[name]]
            cells.append(f"{statistics.median(fits):.0f}")
            if name != "torch":
                bares = [r[label]["bare"] for r in results[name] if r[label]["bare"] is not None]
                cells.append(f"{statistics.median(bares):.0f}" if bares else "-")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
