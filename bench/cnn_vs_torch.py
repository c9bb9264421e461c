"""Measure (not a test): issue 11's CNN targets -- cyneuron vs PyTorch on the example's CNN, and the
convolution layer's training-step FLOP rate vs the machine's sgemm peak.

    PYTHONPATH=src python bench/cnn_vs_torch.py               # both thread counts, ~6-10 min on a busy 2-core box
    PYTHONPATH=src python bench/cnn_vs_torch.py --quick       # fewer rounds
    PYTHONPATH=src python bench/cnn_vs_torch.py --threads 1   # one thread count only
    PYTHONPATH=src python bench/cnn_vs_torch.py --json out.json

(needs torch and threadpoolctl in the same interpreter; e.g. /work/kvenv/bin/python.)

The parent process prints ``uptime`` and runs one child per BLAS thread count (2, then 1). Each child
gets the parent's environment minus OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (as bench/report.py does),
with OPENBLAS_NUM_THREADS=1 for the 1-thread run (cyneuron and numpy) and ``torch.set_num_threads(n)``;
it reports threadpoolctl's view (library, kernel "architecture", threads). Within a child every
measurement is interleaved round by round (the method order rotates each round, 0.2 s pause between
measurements so OpenBLAS/OpenMP spinning threads go idle); the tables give the median and the
min-max spread over the rounds.

Part 1 -- end to end, through each framework's ordinary training loop, float32, batch 64, 32x32x3
inputs (``cyneuron.datasets.cats_vs_dogs`` images as float32 0..255), Adam(1e-3, eps 1e-7),
sparse categorical cross-entropy, reshuffled each epoch:

* "example": Rescaling(1/255) -> Conv2D(16, 3x3, relu, same) -> MaxPool2D(2, 2) -> Conv2D(32, ...)
  -> MaxPool2D(2, 2) -> Flatten -> Dense(64, relu) -> Dense(2, softmax) (examples/cats_vs_dogs.py);
* "course": Conv2D(32, 3x3, relu, same) -> MaxPool2D -> Conv2D(64, ...) -> MaxPool2D -> Flatten
  -> Dense(2, softmax) (bench/conv_step.py's network).

Methods: cyneuron ``Sequential.fit`` (metrics=["accuracy"]) on the cython backend and on the numpy
backend (fewer samples per round: it is slow), and PyTorch eager CPU: the same architecture with
``padding=1``, NCHW tensors (converted once, before timing), the same initial weights (kernels
(kh, kw, C, F) -> (F, C, kh, kw); the first Dense's rows permuted from NHWC to NCHW flatten order;
checked by comparing both networks' predictions before training), ``F.cross_entropy`` on logits,
``torch.optim.Adam``, a plain loop over ``randperm`` batches that also counts correct predictions.
One timed round = one epoch; us/step = epoch time / steps.

Part 2 -- conv2d (3x3, same, stride 1, relu) inside cyneuron's compiled training step
(``NetworkCore.train_batch``, SGD, MSE loss): network A = [1x1 conv C->C, the 3x3 conv], network B
= [the 1x1 conv alone]; the 1x1 stage in front makes the 3x3 stage compute its input gradient, and
t_A - t_B is the 3x3 layer's forward + kernel-gradient + input-gradient time (im2col, col2im, bias,
activation epilogue included). FLOPs counted = 3 products x 2 x (rows*OH*OW) x (kh*kw*C) x F. Next to
it, in the same rounds: numpy float32 4096x4096 @ 4096x4096 (the sgemm peak) and numpy's product of
the conv's im2col shape (what BLAS gives at that aspect ratio). "% peak" = conv rate / sgemm peak.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
PAUSE = 0.2
BATCH = 64
CONV_SHAPES = (  # (rows, (H, W, C), F)
    (64, (32, 32, 32), 64),
    (32, (16, 16, 64), 128),
    (64, (16, 16, 64), 128),
)


# ================================================================================= child: measure
def blas_info() -> list[dict]:
    from threadpoolctl import threadpool_info

    keep = ("internal_api", "filepath", "version", "architecture", "num_threads")
    return [{k: i.get(k) for k in keep} for i in threadpool_info()]


def images(n: int):
    import numpy as np

    from cyneuron.datasets import cats_vs_dogs

    x, y, _ = cats_vs_dogs(n=n, size=32, seed=0)
    return np.ascontiguousarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64)


def cy_model(net: str, backend_name: str, weights=None):
    import cyneuron
    from cyneuron import backend
    from cyneuron import layers as L
    from cyneuron.optimizers import Adam

    backend.set_backend(backend_name)
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
    model.compile(optimizer=Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if weights is not None:
        model.set_weights([w.copy() for w in weights])
    return model


def torch_model(net: str, weights):
    import numpy as np
    import torch
    from torch import nn

    class Rescale(nn.Module):
        def forward(self, x):
            return x * (1.0 / 255)

    if net == "example":
        mods = [
            Rescale(),
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Flatten(),
            nn.Linear(8 * 8 * 32, 64),
            nn.ReLU(),
            nn.Linear(64, 2),
        ]
    else:
        mods = [
            nn.Conv2d(3, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Flatten(),
            nn.Linear(8 * 8 * 64, 2),
        ]
    model = nn.Sequential(*mods)
    params = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    it = iter(weights)
    first_dense = True
    with torch.no_grad():
        for m in params:
            k, b = next(it), next(it)
            if isinstance(m, nn.Conv2d):
                w = k.transpose(3, 2, 0, 1)  # (kh, kw, C, F) -> (F, C, kh, kw)
            elif first_dense:  # rows in NHWC flatten order (8, 8, C) -> NCHW order (C, 8, 8)
                c = k.shape[0] // 64
                w = k.reshape(8, 8, c, -1).transpose(2, 0, 1, 3).reshape(k.shape[0], -1).T
                first_dense = False
            else:
                w = k.T
            m.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
            m.bias.copy_(torch.from_numpy(b))
    return model


def make_torch_epoch(model, x_t, y_t):
    import torch
    import torch.nn.functional as F

    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    n = x_t.shape[0]

    def epoch():
        perm = torch.randperm(n)
        correct = torch.zeros((), dtype=torch.int64)
        total = torch.zeros(())
        for i in range(0, n, BATCH):
            idx = perm[i : i + BATCH]
            xb, yb = x_t[idx], y_t[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                total += loss.detach() * yb.shape[0]
                correct += (logits.argmax(1) == yb).sum()
        return float(total) / n

    return epoch


def timed(f) -> float:
    time.sleep(PAUSE)
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def measure_end_to_end(net: str, rounds: int, n: int, n_numpy: int) -> dict:
    import numpy as np
    import torch

    x, y = images(n)
    cy = cy_model(net, "cython")
    weights = [w.copy() for w in cy.get_weights()]
    npm = cy_model(net, "numpy", weights)
    tm = torch_model(net, weights)
    x_t = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    y_t = torch.from_numpy(y)
    # same initial function?
    from cyneuron import backend

    backend.set_backend("cython")
    p_cy = cy.predict(x[:BATCH], verbose=0)
    with torch.no_grad():
        p_t = torch.softmax(tm(x_t[:BATCH]), 1).numpy()
    init_diff = float(np.abs(p_cy - p_t).max())

    xs, ys = x[:n_numpy], y[:n_numpy]
    torch_epoch = make_torch_epoch(tm, x_t, y_t)

    def run_cy():
        backend.set_backend("cython")
        cy.fit(x, y, epochs=1, batch_size=BATCH, verbose=0, shuffle=True)

    def run_np():
        backend.set_backend("numpy")
        npm.fit(xs, ys, epochs=1, batch_size=BATCH, verbose=0, shuffle=True)

    steps = {"cython": -(-n // BATCH), "numpy": -(-n_numpy // BATCH), "torch": -(-n // BATCH)}
    runs = {"cython": run_cy, "numpy": run_np, "torch": torch_epoch}
    for f in runs.values():  # warm-up (workspaces, allocator, oneDNN primitives)
        f()
    times = {k: [] for k in runs}
    names = list(runs)
    for r in range(rounds):
        for k in names[r % 3 :] + names[: r % 3]:
            times[k].append(timed(runs[k]) / steps[k] * 1e6)
    return {"net": net, "init_max_abs_diff": init_diff, "us_per_step": times, "steps": steps}


def conv_net(rows, shape, filters, with_conv: bool):
    import numpy as np

    from cyneuron.backend.cython_ops import CythonOps
    from cyneuron.backend.specs import LossSpec, OptimizerSpec, ScheduleSpec, StageSpec

    rng = np.random.default_rng(0)
    h, w, c = shape
    attrs = {"kernel_size": (3, 3), "strides": (1, 1), "padding": "same", "dilation_rate": (1, 1), "activation": "relu"}
    eye = np.eye(c, dtype="float32").reshape(1, 1, c, c)
    first = StageSpec("conv2d", shape, shape, dict(attrs, kernel_size=(1, 1), activation="linear"), (eye,))
    stages = [first]
    out = h * w * c
    if with_conv:
        kernel = (rng.standard_normal((3, 3, c, filters)) * 0.05).astype("float32")
        stages.append(StageSpec("conv2d", shape, (h, w, filters), attrs, (kernel, np.zeros(filters, "float32"))))
        out = h * w * filters
    net = CythonOps().build_network(stages, shape, "float32")
    sgd = OptimizerSpec("sgd", ScheduleSpec("constant", (1e-6,)), {"momentum": 0.0, "nesterov": 0.0})
    net.prepare_training(LossSpec("mean_squared_error"), (), sgd, rows)
    x = rng.standard_normal((rows, h * w * c)).astype("float32")
    target = np.zeros((rows, out), "float32")
    net.bind_training_data(x, target, np.arange(rows, dtype=np.int64))
    net.train_batch(0, rows)
    return lambda: net.train_batch(0, rows), (x, target)


def measure_conv(rounds: int) -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    big_a = rng.random((4096, 4096), dtype=np.float32)
    big_b = rng.random((4096, 4096), dtype=np.float32)
    big_a @ big_b
    peak = []
    cases = []
    for rows, shape, f in CONV_SHAPES:
        h, w, c = shape
        m, kk = rows * h * w, 9 * c
        a_step, keep_a = conv_net(rows, shape, f, True)
        b_step, keep_b = conv_net(rows, shape, f, False)
        ga = rng.standard_normal((m, kk)).astype("float32")
        gb = rng.standard_normal((kk, f)).astype("float32")
        ga @ gb
        cases.append(
            {
                "label": f"{rows}x{h}x{w}x{c} -> {f}",
                "gemm": f"({m}x{kk})x({kk}x{f})",
                "flops": 3 * 2.0 * m * kk * f,
                "a": a_step,
                "b": b_step,
                "ga": ga,
                "gb": gb,
                "keep": (keep_a, keep_b),
                "t_a": [],
                "t_b": [],
                "t_g": [],
            }
        )
    for _ in range(rounds):
        peak.append(2.0 * 4096**3 / timed(lambda: big_a @ big_b) / 1e9)
        for cs in cases:
            cs["t_a"].append(min(timed(cs["a"]) for _ in range(2)))
            cs["t_b"].append(min(timed(cs["b"]) for _ in range(2)))
            cs["t_g"].append(min(timed(lambda cs=cs: cs["ga"] @ cs["gb"]) for _ in range(2)))
    out = []
    for cs in cases:
        conv = [cs["flops"] / max(a - b, 1e-9) / 1e9 for a, b in zip(cs["t_a"], cs["t_b"])]
        gemm = [cs["flops"] / 3 / t / 1e9 for t in cs["t_g"]]
        out.append(
            {
                "label": cs["label"],
                "gemm": cs["gemm"],
                "flops": cs["flops"],
                "t_a": cs["t_a"],
                "t_b": cs["t_b"],
                "conv_gflops": conv,
                "gemm_shape_gflops": gemm,
            }
        )
    return {"sgemm_peak_gflops": peak, "cases": out}


def loadavg() -> list[str]:
    with open("/proc/loadavg") as fh:
        return fh.read().split()[:3]


def child(threads: int, rounds: int, quick: bool) -> None:
    sys.path.insert(0, SRC)
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    import torch

    import cyneuron  # noqa: F401

    torch.set_num_threads(threads)
    result = {
        "threads": threads,
        "torch_threads": torch.get_num_threads(),
        "blas": blas_info(),
        "torch_version": torch.__version__,
        "loadavg_start": loadavg(),
    }
    n = 640 if quick else 1280
    result["end_to_end"] = [measure_end_to_end(net, rounds, n, 128 if quick else 256) for net in ("example", "course")]
    result["conv"] = measure_conv(max(3, rounds - 2))
    result["loadavg_end"] = loadavg()
    print(json.dumps(result))


# ================================================================================ parent: report
def med_spread(values) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def render(res: dict) -> str:
    lines = [
        f"### BLAS threads: {res['threads']} (torch threads {res['torch_threads']}), "
        f"loadavg {' '.join(res['loadavg_start'])} -> {' '.join(res['loadavg_end'])}",
        "",
    ]
    for b in res["blas"]:
        lines.append(
            f"- {os.path.basename(b['filepath'])} {b['internal_api']} {b['version']}: "
            f"kernel {b['architecture']}, {b['num_threads']} threads"
        )
    lines.append("")
    for e in res["end_to_end"]:
        us = e["us_per_step"]
        lines.append(
            f"**{e['net']} CNN**, batch {BATCH}, 32x32x3 (initial predictions max |diff| vs torch "
            f"{e['init_max_abs_diff']:.1e}; steps/round: cython {e['steps']['cython']}, numpy "
            f"{e['steps']['numpy']}, torch {e['steps']['torch']})"
        )
        lines.append("")
        lines.append("| method | us/step median (min-max) | samples/s | vs PyTorch |")
        lines.append("|---|---:|---:|---:|")
        t_med = statistics.median(us["torch"])
        for k, label in (
            ("cython", "cyneuron (cython)"),
            ("numpy", "cyneuron (numpy backend)"),
            ("torch", "PyTorch eager CPU"),
        ):
            m = statistics.median(us[k])
            lines.append(f"| {label} | {med_spread(us[k])} | {BATCH / m * 1e6:,.0f} | {t_med / m:.2f}x |")
        lines.append("")
    c = res["conv"]
    peak = statistics.median(c["sgemm_peak_gflops"])
    lines.append(
        f"**conv2d 3x3 same relu, fwd+bwd inside train_batch** -- sgemm peak (numpy 4096^2 f32): "
        f"{med_spread(c['sgemm_peak_gflops'])} GFLOP/s"
    )
    lines.append("")
    lines.append(
        "| conv (rows x H x W x C -> F) | im2col product | layer ms (A-B) | GFLOP/s (min-max) | % peak "
        "| numpy same-shape product GFLOP/s |"
    )
    lines.append("|---|---|---:|---:|---:|---:|")
    for cs in c["cases"]:
        g = statistics.median(cs["conv_gflops"])
        ms = statistics.median([a - b for a, b in zip(cs["t_a"], cs["t_b"])]) * 1e3
        lines.append(
            f"| {cs['label']} | {cs['gemm']} | {ms:.1f} | {g:.1f} ({min(cs['conv_gflops']):.1f}-"
            f"{max(cs['conv_gflops']):.1f}) | {100 * g / peak:.0f}% | "
            f"{statistics.median(cs['gemm_shape_gflops']):.1f} |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, nargs="*", default=[2, 1])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    rounds = 4 if args.quick else args.rounds
    if args.child is not None:
        child(args.child, rounds, args.quick)
        return
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"outside env: {', '.join(f'{k}={os.environ.get(k)}' for k in OPENBLAS_VARS)} (unset in the children)\n")
    results = []
    for threads in args.threads:
        env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
        if threads == 1:
            env["OPENBLAS_NUM_THREADS"] = "1"
        else:
            env.pop("OPENBLAS_NUM_THREADS", None)
        cmd = [sys.executable, __file__, "--child", str(threads), "--rounds", str(rounds)]
        if args.quick:
            cmd.append("--quick")
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if out.returncode:
            sys.exit(out.stderr)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(res)
        print(render(res), flush=True)
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
