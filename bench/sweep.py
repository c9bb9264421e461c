"""Sweep throughput: the 16-candidate digits grid of ``examples/sweep.py`` run serially, in two joblib (loky)
processes, and on a Dask LocalCluster of two single-threaded worker processes; medians of a few runs.

    python bench/sweep.py                      # 3 runs of the 3 default modes (~2-4 min on 2 cores)
    python bench/sweep.py --repeats 1 --epochs 5
    python bench/sweep.py --modes serial serial_1blas   # the cost of oversubscribed BLAS (slow when loaded)

Modes:

* ``serial_1blas`` (default): ``n_jobs=1``, the trainings one after another in this process, inside
  ``limit_blas_threads(1)``: the serial baseline the speed-ups are computed against;
* ``joblib2`` (default): ``n_jobs=2``, joblib's default loky process pool (started by the first run and
  reused by the next ones, as in an interactive session);
* ``dask2`` (default): ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` on loopback,
  started once, and ``joblib.parallel_backend("dask")``;
* ``serial`` (not by default): ``n_jobs=1`` with BLAS free to start a thread per core. On a shared, busy
  machine OpenBLAS' threads then wait for each other and a sweep can take 10x longer: the reason the
  wrappers cap BLAS at one thread inside workers.

Every search refits the best candidate on the whole data in this process, as GridSearchCV does; the
parallel modes run that refit under ``limit_blas_threads(1)`` too, so that only the candidates' trainings
differ between the modes. The wall time of ``search.fit`` is what is measured; the one-minute load average
is printed with each run because the machine may be shared.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if "cyneuron" not in sys.modules:
    try:
        import cyneuron  # noqa: F401
    except ImportError:  # not installed: use the checkout
        sys.path.insert(0, str(ROOT / "src"))

MODES = ("serial_1blas", "joblib2", "dask2", "serial")
DEFAULT_MODES = MODES[:3]


def _example():
    """``examples/sweep.py`` as a module; shipped by value to Dask workers, which cannot import it."""
    spec = importlib.util.spec_from_file_location("sweep_example", ROOT / "examples" / "sweep.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    import cloudpickle  # loky's and Dask's pickler

    cloudpickle.register_pickle_by_value(module)
    return module


def _run(example, mode: str, epochs: int, X, y, client) -> float:
    from joblib import parallel_backend

    from cyneuron.wrappers import limit_blas_threads

    n_jobs = 2 if mode == "joblib2" else None if mode == "dask2" else 1
    search = example.make_search(epochs=epochs, n_jobs=n_jobs)
    with contextlib.ExitStack() as stack:
        if mode != "serial":
            stack.enter_context(limit_blas_threads(1))
        if mode == "dask2":
            stack.enter_context(parallel_backend("dask"))
        start = time.perf_counter()
        search.fit(X, y)
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per mode (default 3); the median is reported")
    parser.add_argument("--epochs", type=int, default=20, help="epochs per training (default 20, the example's)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(DEFAULT_MODES))
    args = parser.parse_args(argv)

    example = _example()
    X, _, y, _ = example.load_data()
    times: dict[str, list[float]] = {mode: [] for mode in args.modes}
    with contextlib.ExitStack() as stack:
        client = None
        if "dask2" in args.modes:
            from distributed import Client, LocalCluster

            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
                )
            )
            client = stack.enter_context(Client(cluster))
        for repeat in range(args.repeats):
            for mode in args.modes:  # interleaved, so a change in the machine's load hits every mode alike
                seconds = _run(example, mode, args.epochs, X, y, client)
                times[mode].append(seconds)
                load = os.getloadavg()[0]
                print(
                    f"run {repeat + 1}/{args.repeats} {mode:>12}: {seconds:6.2f} s  (load {load:.1f})", file=sys.stderr
                )

    medians = {mode: statistics.median(values) for mode, values in times.items()}
    base = medians.get("serial_1blas")
    print(
        f"\n16 candidates x 3 folds (+ refit) on digits, {args.epochs} epochs each, {os.cpu_count()} cores, "
        f"median of {args.repeats}\n"
    )
    print("| mode | median s | min s | max s | speed-up vs n_jobs=1 (1 BLAS thread) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for mode, values in times.items():
        speedup = f"{base / medians[mode]:.2f}x" if base else "-"
        print(f"| {mode} | {medians[mode]:.2f} | {min(values):.2f} | {max(values):.2f} | {speedup} |")
    if "joblib2" in medians and "dask2" in medians:
        print(f"\nDask / joblib time: {medians['dask2'] / medians['joblib2']:.3f} (target: within 1.25)")
    return times


if __name__ == "__main__":
    main()
