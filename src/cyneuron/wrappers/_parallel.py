"""BLAS thread limits for trainings that run side by side in worker processes.

A grid search with ``n_jobs=2`` on two cores, or a Dask cluster of two single-threaded workers, trains
two models at once. If each process also lets OpenBLAS start one thread per core, the cores are
oversubscribed and every training slows down. ``limit_blas_threads`` caps the BLAS pools of the
current process (through ``threadpoolctl``, when it is installed) for the length of a ``with`` block;
the wrappers' ``fit`` applies it automatically when ``in_parallel_worker()`` says the process is a
joblib (loky / multiprocessing), Dask or Ray worker.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys

__all__ = ["limit_blas_threads", "in_parallel_worker", "worker_blas_limits"]

# The number of BLAS threads a worker's fit may use.
WORKER_BLAS_THREADS = 1


def limit_blas_threads(limit: int = 1):
    """A context manager capping the BLAS thread pools of this process at ``limit`` threads.

    Args:
        limit: the maximum number of BLAS threads, an int >= 1.

    Uses ``threadpoolctl.threadpool_limits(limit, user_api="blas")``; without threadpoolctl installed it
    limits nothing and raises nothing (a ``contextlib.nullcontext``). The limit is process-wide: use it
    around work that owns the process (a worker's task), not from several threads at once.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit: expected an int >= 1, got {limit!r}")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    from cyneuron.backend import ops

    # threadpoolctl limits only the libraries loaded when the block starts: load the kernels (and with them
    # scipy's OpenBLAS, which they call) first, or a worker's first fit would load it unlimited.
    ops()
    return threadpool_limits(limits=limit, user_api="blas")


def _in_dask_worker() -> bool:
    if "distributed" not in sys.modules:  # a Dask worker has imported it; do not import it here
        return False
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return False
    return True


def _in_ray_worker() -> bool:
    if "ray" not in sys.modules:
        return False
    try:
        import ray

        return bool(ray.is_initialized()) and ray.get_runtime_context().worker.mode == ray.WORKER_MODE
    except Exception:  # any Ray version without these attributes: not known to be a worker
        return False


def in_parallel_worker() -> bool:
    """Whether this code runs as one of several parallel trainings: in a child process (joblib's loky or
    multiprocessing workers, Dask's nanny-spawned workers), a Dask worker or a Ray worker."""
    return multiprocessing.parent_process() is not None or _in_dask_worker() or _in_ray_worker()


def worker_blas_limits():
    """``limit_blas_threads(WORKER_BLAS_THREADS)`` inside a parallel worker, else a no-op context."""
    if in_parallel_worker():
        return limit_blas_threads(WORKER_BLAS_THREADS)
    return contextlib.nullcontext()
