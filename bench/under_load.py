"""Training steps on a quiet machine and with a second process keeping one core busy.

    python bench/under_load.py                       # mnist-like and wide, every available method
    python bench/under_load.py --workloads mnist-like --rounds 5 --min-time 0.5

What it measures: µs per step of one whole ``fit`` (as report.py: one method per fresh worker
process, warmed up, medians over rounds), in two conditions interleaved round by round:

* ``quiet``: nothing of ours running besides the worker;
* ``loaded``: a spinner process (``python -c "while True: pass"``) started before the round and
  stopped after it, so one core is busy throughout.

Methods: cyneuron (cython) under the BLAS thread policy (``after``), the same with the threads
fixed at the core count (``CYNEURON_BLAS_THREADS=<cores>``: what every fit did before the policy,
``before``), the hand-written NumPy loop, PyTorch eager and JAX (skipped with a reason when absent).
``OPENBLAS_NUM_THREADS`` is removed from the workers' environment (the policy decides), as are
``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` (see report.py). The table gives each method's loaded /
quiet ratio: the issue's target is at most 1.5 for the mnist-like step.

It also prints single sgemm timings at the workloads' product shapes, 1 vs 2 threads, quiet and
loaded (the numbers behind ``cyneuron._threads.PARALLEL_MIN_MACS``). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
from report import PAUSE, WorkerProcess, worker_env  # noqa: E402

SPINNER = [sys.executable, "-c", "while True: pass"]
GEMM_SHAPES = ((128, 784, 128), (128, 128, 10), (256, 1024, 1024), (64, 128, 128), (128, 256, 256), (64, 512, 64))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Spinner:
    """A process keeping one core busy while the block runs."""

    def __enter__(self):
        self.process = subprocess.Popen(SPINNER)
        time.sleep(0.3)  # let the scheduler settle it on a core
        return self

    def __exit__(self, *exc):
        self.process.kill()
        self.process.wait()


def gemm_table(reps: int = 300) -> list[str]:
    """Median µs of one sgemm through scipy's BLAS per shape, 1 and 2 threads, quiet and loaded."""
    import numpy as np
    from scipy.linalg.blas import sgemm
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)

    def measure(m, k, n, threads):
        a = np.asfortranarray(rng.random((m, k), dtype=np.float32))
        b = np.asfortranarray(rng.random((k, n), dtype=np.float32))
        c = np.zeros((m, n), np.float32, order="F")
        with threadpool_limits(threads, user_api="blas"):
            for _ in range(10):
                sgemm(1.0, a, b, beta=0.0, c=c, overwrite_c=True)
            times = []
            budget = time.perf_counter() + 1.0
            while len(times) < reps and time.perf_counter() < budget:
                start = time.perf_counter()
                sgemm(1.0, a, b, beta=0.0, c=c, overwrite_c=True)
                times.append(time.perf_counter() - start)
        return 1e6 * statistics.median(times), 1e6 * sorted(times)[int(0.9 * len(times))]

    rows = [
        "| sgemm m×k×n | multiply-adds | quiet 1 thr | quiet 2 thr | loaded 1 thr | loaded 2 thr |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m, k, n in GEMM_SHAPES:
        quiet = [measure(m, k, n, t) for t in (1, 2)]
        with Spinner():
            loaded = [measure(m, k, n, t) for t in (1, 2)]
        cells = " | ".join(f"{med:.0f} (p90 {p90:.0f})" for med, p90 in quiet + loaded)
        rows.append(f"| {m}×{k}×{n} | {m * k * n:,} | {cells} |")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="*", default=["mnist-like", "wide"], choices=list(common.WORKLOADS))
    parser.add_argument("--rounds", type=int, default=3, help="rounds per condition (default 3)")
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds of fits per measurement")
    parser.add_argument("--no-gemm", action="store_true", help="skip the single-sgemm table")
    args = parser.parse_args(argv)

    env = worker_env(keep_openblas_env=False)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "CYNEURON_BLAS_THREADS"):
        env.pop(name, None)
    cores = len(os.sched_getaffinity(0))
    variants = {  # label: (worker method, extra environment)
        "cyneuron (cython), thread policy": ("cython", {}),
        f"cyneuron (cython), {cores} threads fixed (before)": ("cython", {"CYNEURON_BLAS_THREADS": str(cores)}),
        common.METHOD_LABELS["numpy_loop"]: ("numpy_loop", {}),
        common.METHOD_LABELS["torch"]: ("torch", {}),
        common.METHOD_LABELS["jax"]: ("jax", {}),
    }
    workers, skipped = {}, {}
    log_file = open(os.devnull, "w")  # noqa: SIM115 - lives for the run
    for label, (method, extra) in variants.items():
        reason = common.method_unavailable(method)
        if reason:
            skipped[label] = reason
            continue
        workers[label] = WorkerProcess(method, {**env, **extra}, log_file)
    try:
        for label, worker in list(workers.items()):
            for workload in args.workloads:
                log(f"setup {workload} / {label}")
                worker.call("setup", workload=workload)
        results = {(w, c, m): [] for w in args.workloads for c in ("quiet", "loaded") for m in workers}
        labels = list(workers)
        for index in range(args.rounds):
            for workload in args.workloads:
                for condition in ("quiet", "loaded") if index % 2 == 0 else ("loaded", "quiet"):
                    order = labels[index % len(labels) :] + labels[: index % len(labels)]
                    spinner = Spinner() if condition == "loaded" else None
                    if spinner:
                        spinner.__enter__()
                    try:
                        for label in order:
                            reply = workers[label].call("train", workload=workload, min_time=args.min_time)
                            per_step = 1e6 * statistics.median(reply["times"]) / common.WORKLOADS[workload].steps
                            results[(workload, condition, label)].append(per_step)
                            time.sleep(PAUSE)
                    finally:
                        if spinner:
                            spinner.__exit__()
                    log(f"round {index} {workload} {condition} done")
    finally:
        for worker in workers.values():
            worker.close()
        log_file.close()

    with open("/proc/loadavg") as loadavg:
        load = loadavg.read().split()[:3]
    lines = [
        f"# Training steps quiet vs one core busy ({cores} usable cores, {args.rounds} rounds, "
        f"load average at the end {' '.join(load)})",
        "",
        "µs per step through `fit` (medians over rounds); loaded = a `while True: pass` process running throughout.",
        "",
        "| workload | method | quiet µs/step | loaded µs/step | loaded / quiet |",
        "|---|---|---:|---:|---:|",
    ]
    for workload in args.workloads:
        for label in workers:
            quiet = statistics.median(results[(workload, "quiet", label)])
            loaded = statistics.median(results[(workload, "loaded", label)])
            lines.append(f"| {workload} | {label} | {quiet:.1f} | {loaded:.1f} | {loaded / quiet:.2f}× |")
    for label, reason in skipped.items():
        lines.append(f"\n* skipped {label}: {reason}")
    if not args.no_gemm:
        lines += ["", "## One sgemm through scipy's BLAS: median µs (p90)", ""]
        lines += gemm_table()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
