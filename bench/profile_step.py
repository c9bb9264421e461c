"""Where does a training step's time go? Profiles of one workload on one method.

    python bench/profile_step.py WORKLOAD [--method cython] [--repeat N] [--perf]

* Python level (cProfile) of ``fit`` through the public API: per-call validation, the epoch loop,
  the compiled ``train_batch`` calls (one line: they are opaque to cProfile).
* A split of one ``fit`` into: validation + binding (fit with 0 steps' worth of work is not
  possible, so ``fit`` minus the same number of bare ``Network.train_batch`` calls).
* Native level (``--perf``): ``perf record`` of a bare ``Network.train_batch`` loop, top symbols
  (BLAS kernels, cyneuron's fused kernels, libm, the interpreter). Needs ``perf`` on PATH.

Like report.py, it unsets OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE for what it measures unless
``--keep-openblas-env`` is given (it re-executes itself with the cleaned environment).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402

OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _median_time(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def python_profile(method: str, workload: str, repeat: int) -> str:
    import worker

    worker.limit_threads()
    w = common.WORKLOADS[workload]
    x, y = common.load_data(workload)
    trainer = common.make_trainer(method, w, x, y)
    trainer.fit(epochs=1)
    out = io.StringIO()
    fit_s = _median_time(trainer.fit, repeat)
    print(f"{workload} / {method}: fit {1e3 * fit_s:.1f} ms = {1e6 * fit_s / w.steps:.2f} µs/step", file=out)
    if method in ("cython", "numpy"):
        wk = worker.Worker(method)
        wk.data[workload] = (x, y)
        wk.setup_net(workload)
        run = wk.nets[workload][1]
        net_s = _median_time(run, repeat)
        print(
            f"  bare Network.train_batch loop: {1e3 * net_s:.1f} ms = {1e6 * net_s / w.steps:.2f} µs/step; "
            f"fit overhead {1e3 * (fit_s - net_s):.1f} ms per fit = {1e6 * (fit_s - net_s) / w.steps:.2f} µs/step",
            file=out,
        )
        model = trainer.model
        start = time.perf_counter()
        for _ in range(repeat):
            model._prepare_xy(x, y)
        validate_s = (time.perf_counter() - start) / repeat
        print(f"  front-end input validation (_prepare_xy) alone: {1e3 * validate_s:.1f} ms per fit", file=out)
        network = model._get_network()
        import numpy as np

        order = np.arange(x.shape[0], dtype=np.int64)
        start = time.perf_counter()
        for _ in range(repeat):
            network.bind_training_data(x, y, order)
        bind_s = (time.perf_counter() - start) / repeat
        print(f"  backend bind_training_data (validation) alone: {1e3 * bind_s:.1f} ms per fit", file=out)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeat):
        trainer.fit()
    profiler.disable()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(15)
    return out.getvalue()


def blas_ceiling(workload: str, repeat: int = 20) -> str:
    """Time only the sgemm calls one training step needs (``worker.blas_step``), against the sgemm peak."""
    import worker

    worker.limit_threads()
    w = common.WORKLOADS[workload]
    step = worker.blas_step(w)
    for _ in range(3):
        step()
    seconds = _median_time(step, repeat)
    peak = max(worker.sgemm_rate(4096, 3))
    counted = w.flops_per_step / seconds / 1e9
    needed = w.flops_needed_per_step / seconds / 1e9
    return (
        f"{workload}: the step's sgemm calls alone take {1e6 * seconds:.1f} µs: {counted:.0f} GFLOP/s by the "
        f"6·batch·Σ(in·out) count = {counted / peak:.1%} of the 4096² peak ({peak:.0f} GFLOP/s); "
        f"{needed:.0f} GFLOP/s of needed work = {needed / peak:.1%}\n"
    )


def perf_profile(method: str, workload: str, seconds: float) -> str:
    """perf samples of a bare ``train_batch`` loop only: perf attaches once data and network are ready."""
    if shutil.which("perf") is None:
        return "perf not found on PATH\n"
    script = (
        f"import sys, time; sys.path.insert(0, {HERE!r}); import worker\n"
        f"worker.limit_threads(); wk = worker.Worker({method!r}); wk.setup_net({workload!r})\n"
        f"run = wk.nets[{workload!r}][1]; run(); print('ready', flush=True)\n"
        f"end = time.monotonic() + {seconds + 2.0}\n"
        "while time.monotonic() < end: run()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child.stdout.readline()
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "perf.data")
            subprocess.run(
                ["perf", "record", "-F", "2000", "-o", data, "-p", str(child.pid), "--", "sleep", str(seconds)],
                check=True,
                capture_output=True,
            )
            report = subprocess.run(
                ["perf", "report", "-i", data, "--no-children", "--sort", "dso,symbol", "--percent-limit", "0.7"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
    finally:
        child.wait()
    lines = [line for line in report.splitlines() if line.strip() and not line.startswith("#")]
    rows = []
    for line in lines[:30]:
        fields = line.split()
        if len(fields) >= 4:
            rows.append(f"{fields[0]:>8}  {fields[3]:<60} {fields[1]}")
    return "\n".join(rows) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", choices=list(common.WORKLOADS))
    parser.add_argument("--method", default="cython", choices=list(common.METHODS))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--perf", action="store_true", help="also perf-record the bare train_batch loop")
    parser.add_argument("--perf-seconds", type=float, default=4.0)
    parser.add_argument("--keep-openblas-env", action="store_true")
    args = parser.parse_args(argv)
    if not args.keep_openblas_env and any(v in os.environ for v in OPENBLAS_VARS):
        env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
        return subprocess.call([sys.executable, os.path.abspath(__file__), *sys.argv[1:]], env=env)
    common.ensure_cyneuron_importable()
    if common.SRC not in os.environ.get("PYTHONPATH", "") and common.SRC in sys.path:
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (common.SRC, os.environ.get("PYTHONPATH")) if p)
    print(python_profile(args.method, args.workload, args.repeat))
    print(blas_ceiling(args.workload))
    if args.perf and args.method in ("cython", "numpy"):
        print(f"perf, bare train_batch loop of {args.workload} / {args.method} (top symbols):")
        print(perf_profile(args.method, args.workload, args.perf_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
