"""Example / course CNN, ``Sequential.fit`` epochs: several cyneuron trees and PyTorch, interleaved in
one run (1 BLAS / torch thread). One worker process per tree (PYTHONPATH=TREE/src) built with
bench/cnn_vs_torch.py's models and data (same initial weights); PyTorch runs in the first worker.
Each round times one epoch of every method in rotated order; medians of us/step over the rounds.

    /work/kvenv/bin/python bench/cnn_torch_ab.py /tmp/cnn-before /work/wt-cnnperf --rounds 7
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def worker(with_torch: bool, n: int) -> None:
    sys.path.insert(0, HERE)
    import cnn_vs_torch as cv
    import numpy as np
    import torch

    from cyneuron import backend

    torch.set_num_threads(1)
    x, y = cv.images(n)
    runs = {}
    for net in ("example", "course"):
        cy = cv.cy_model(net, "cython")
        runs[("cy", net)] = (lambda m: lambda: m.fit(x, y, epochs=1, batch_size=cv.BATCH, verbose=0, shuffle=True))(cy)
        if with_torch:
            tm = cv.torch_model(net, [w.copy() for w in cy.get_weights()])
            x_t = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            runs[("torch", net)] = cv.make_torch_epoch(tm, x_t, torch.from_numpy(y))
    backend.set_backend("cython")
    for f in runs.values():
        f()
    steps = -(-n // cv.BATCH)
    print("ready", flush=True)
    for line in sys.stdin:
        method, net = line.split()
        print(cv.timed(runs[(method, net)]) / steps * 1e6, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("trees", nargs="*")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--n", type=int, default=1280)
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker is not None:
        worker(bool(a.worker), a.n)
        return
    env0 = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    procs = []
    for i, t in enumerate(a.trees):
        env = dict(env0, PYTHONPATH=os.path.join(t, "src"), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        p = subprocess.Popen(
            [sys.executable, __file__, "--worker", "1" if i == 0 else "0", "--n", str(a.n)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert p.stdout.readline().strip() == "ready"
        procs.append(p)
    methods = [(i, "cy", t) for i, t in enumerate(a.trees)] + [(0, "torch", "pytorch")]
    res = {(m[2], net): [] for m in methods for net in ("example", "course")}
    for r in range(a.rounds):
        for net in ("example", "course"):
            k = r % len(methods)
            for i, method, label in methods[k:] + methods[:k]:
                procs[i].stdin.write(f"{method} {net}\n")
                procs[i].stdin.flush()
                res[(label, net)].append(float(procs[i].stdout.readline()))
    for p in procs:
        p.stdin.close()
        p.wait()
    out = {}
    print(f"{'net':8s} {'method':28s} {'median us/step':>15s}  {'min-max':>15s}")
    for net in ("example", "course"):
        torch_med = statistics.median(res[("pytorch", net)])
        for _, _, label in methods:
            v = res[(label, net)]
            med = statistics.median(v)
            out[f"{net}:{label}"] = v
            print(f"{net:8s} {label:28s} {med:15.0f}  {min(v):7.0f}-{max(v):<7.0f} torch/this x{torch_med / med:.2f}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
