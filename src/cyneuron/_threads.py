"""The BLAS thread policy: how many threads the BLAS may use during one ``fit``.

Why: OpenBLAS splits a product statically between its threads and waits for the slowest one. When
another process keeps a core busy, the thread sharing that core gets a time slice only every few
milliseconds, so a 2-thread 128x784x128 sgemm that takes ~80 us on a quiet machine can take ~20 ms:
whole training steps become tens of times slower. One thread on the free core loses at most the
second thread's speed-up (~1.6x on these products).

The policy, decided at each epoch's start of ``fit`` (never inside a step), by the multiply-adds
of one batch's forward pass (the network's ``macs_per_row`` times the batch size):

1. ``cyneuron.config.set_blas_threads(n)`` or the environment variable ``CYNEURON_BLAS_THREADS=n``
   (read at import; ``auto`` or unset: no override): exactly ``n`` threads.
2. Steps of at most ``BLAS_SINGLE_MACS`` (262,144, OpenBLAS's own threshold): nothing is touched.
   Every product of such a step is below it, and OpenBLAS runs those on one thread by itself.
3. Steps below ``PARALLEL_MIN_MACS``: one thread (a second one costs more to wake than it saves).
4. Larger steps: when the epoch loop runs without per-batch callbacks or a live progress bar,
   its first ``2 * PROBE_STEPS`` steps alternate one thread and the BLAS's own count when the fit
   started (``OPENBLAS_NUM_THREADS``, a ``threadpoolctl.threadpool_limits`` block around ``fit``),
   and the faster by median step time runs the rest of the epoch: a busy core shows directly in a
   2-thread step's time. Otherwise (callbacks, a live bar, a dataset source) as many threads as
   idle cores: the usable cores minus the tasks of other processes runnable at that instant
   (``/proc/loadavg``), at least 1 and at most the BLAS's own count.

While several fits run at once in one process (threads), each uses one thread: the BLAS's setting
is one per process. The BLAS's own setting is restored when the last running ``fit`` returns or
raises. OpenBLAS's results can differ
in the last bits between thread counts, so under rule 4 two runs of one seeded fit can differ at
rounding level when the machine's load differs; fix the count (rule 1) for bit-identical runs.

The setting is changed through threadpoolctl (an optional dependency: without it the policy does
nothing and the BLAS keeps its own setting). threadpoolctl rather than a direct
``openblas_set_num_threads`` call through ctypes: it already finds every loaded BLAS (scipy's,
which the kernels call, and NumPy's, which the numpy backend calls) whatever its symbol prefix, and
knows MKL and BLIS as well as OpenBLAS; a switch costs ~10-20 us of Python, paid at most a few
times per epoch.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
import warnings

ENV_VAR = "CYNEURON_BLAS_THREADS"
# Measured (bench/under_load.py's sgemm table, scipy's OpenBLAS 0.3.30, 2 cores): a second thread
# pays ~1.6x from ~4M multiply-adds per product up, and nothing below OpenBLAS's own 262,144.
PARALLEL_MIN_MACS = 2_000_000
# OpenBLAS's gemm runs on one thread at most this many multiply-adds (SMP_THRESHOLD_MIN *
# GEMM_MULTITHREAD_THRESHOLD in its interface/gemm.c).
BLAS_SINGLE_MACS = 262_144
# Steps timed per candidate thread count at an epoch's start (alternating), when fit may tune.
PROBE_STEPS = 4

_override: int | None = None
_controllers: list | None = None  # threadpoolctl's BLAS controllers, found once the BLAS is loaded
last_decision: dict = {}
# The BLAS's thread count is one per process (OpenBLAS's "_local" setter is process-wide too in
# pthreads builds), so fits running at once in several threads share it: the first to start
# saves the BLAS's own setting, the last to end restores it, and while more than one runs each
# asks for one thread (they compete for the cores anyway).
_lock = threading.Lock()
_active = 0
_saved: list[tuple[object, int]] = []


def _parse_env() -> int | None:
    """The environment's override; a malformed value warns and is ignored (import must not fail)."""
    value = os.environ.get(ENV_VAR, "").strip()
    if value in ("", "auto"):
        return None
    if value.isdigit() and int(value) >= 1:
        return int(value)
    warnings.warn(f"{ENV_VAR}: expected a positive integer or 'auto', got {value!r}; ignored", stacklevel=2)
    return None


def set_override(threads: int | None) -> None:
    global _override
    _override = threads


def get_override() -> int | None:
    return _override


def blas_controllers() -> list:
    """threadpoolctl's controllers of the loaded BLAS libraries ([] without threadpoolctl)."""
    global _controllers
    if _controllers is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            return []
        found = ThreadpoolController().select(user_api="blas").lib_controllers
        if not found:
            return []  # no BLAS loaded yet: look again next time
        _controllers = found
    return _controllers


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _own_running() -> int:
    """This process's threads that are runnable now (this one included)."""
    count = 0
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/stat", "rb") as stat:
                # the state follows the parenthesised command name, which may contain spaces
                if stat.read().rpartition(b")")[2][1:2] == b"R":
                    count += 1
    except OSError:
        return 1
    return max(1, count)


def other_running() -> int | None:
    """Runnable tasks of other processes right now (None where /proc/loadavg is missing)."""
    readings = []
    try:
        for _ in range(3):
            with open("/proc/loadavg", "rb") as loadavg:
                readings.append(int(loadavg.read().split()[3].split(b"/")[0]))
    except (OSError, ValueError, IndexError):
        return None
    readings.sort()
    return max(0, readings[1] - _own_running())


def choose(macs_per_step: int | None, cap: int) -> tuple[int, str]:
    """(threads, why) without timing anything: rules 1, 3 and the load reading of rule 4, for a fit
    whose batch's forward pass does ``macs_per_step`` multiply-adds (None: unknown, treated as
    large) when the BLAS is set to ``cap`` threads."""
    if _override is not None:
        return _override, "set_blas_threads / " + ENV_VAR
    if cap <= 1:
        return 1, "the BLAS is set to 1 thread"
    if macs_per_step is not None and macs_per_step < PARALLEL_MIN_MACS:
        return 1, f"small step ({macs_per_step:,} < {PARALLEL_MIN_MACS:,} multiply-adds)"
    others = other_running()
    cores = usable_cores()
    if others is None:
        return min(cap, cores), "no load reading; all usable cores"
    idle = max(1, cores - others)
    return min(cap, idle), f"{cores} usable cores, {others} busy with other processes"


class FitThreads:
    """One fit's BLAS threads: ``start()`` before the first epoch, ``epoch(...)`` at each epoch's
    start, ``restore()`` at the end (also a context manager: start / restore)."""

    def __init__(self, network, batch_size: int) -> None:
        per_row = getattr(network, "macs_per_row", None)
        self.macs = None if per_row is None else int(per_row) * int(batch_size)
        self.saved: list[tuple[object, int]] = []
        self.cap = 1

    def __enter__(self) -> FitThreads:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.restore()

    def start(self) -> None:
        global _active, _saved
        self.saved = []
        if _override is None and self.macs is not None and self.macs <= BLAS_SINGLE_MACS:
            return  # rule 2: the BLAS is left alone, at no cost
        controllers = blas_controllers()
        if not controllers:
            return
        with _lock:
            if _active == 0:
                _saved = [(c, c.get_num_threads()) for c in controllers]
            _active += 1
            self.saved = _saved
        self.cap = max((n for _, n in self.saved if n), default=1)

    def _set(self, threads: int) -> None:
        for controller, _ in self.saved:
            if controller.get_num_threads() != threads:
                controller.set_num_threads(threads)

    def _record(self, threads: int, why: str) -> None:
        last_decision.clear()
        last_decision.update(threads=threads, reason=why, macs_per_step=self.macs)

    @property
    def tunable(self) -> bool:
        """Whether ``epoch`` may time thread counts: a large step, no override, a BLAS allowed > 1 thread."""
        return (
            bool(self.saved)
            and _override is None
            and self.cap > 1
            and (self.macs is None or self.macs >= PARALLEL_MIN_MACS)
        )

    def epoch(self, train=None, bounds=()) -> tuple[int, bool]:
        """Choose this epoch's threads. Given the epoch's ``train(start, stop)`` and ``bounds``, its
        first steps may run here, timed (rule 4): returns (steps done, whether the last one failed),
        counted as the epoch loop counts them; (0, False) when no step ran."""
        if not self.saved:
            return 0, False
        if _active > 1 and _override is None:
            self._set(1)
            self._record(1, "another fit is running in this process")
            return 0, False
        if train is None or not self.tunable or len(bounds) < 4 * PROBE_STEPS:
            threads, why = choose(self.macs, self.cap)
            self._set(threads)
            self._record(threads, why)
            return 0, False
        candidates = (1, self.cap)
        times: dict[int, list[float]] = {1: [], self.cap: []}
        clock = time.perf_counter
        for done in range(2 * PROBE_STEPS):
            threads = candidates[done % 2]
            self._set(threads)
            start, stop = bounds[done]
            began = clock()
            ok = train(start, stop)
            times[threads].append(clock() - began)
            if not ok:
                self._record(threads, "a step failed while timing")
                return done, True
        best = min(candidates, key=lambda t: statistics.median(times[t]))
        self._set(best)
        medians = ", ".join(f"{t} thread(s) {1e6 * statistics.median(times[t]):.0f} us" for t in candidates)
        self._record(best, f"timed at the epoch's start: {medians}")
        return 2 * PROBE_STEPS, False

    def restore(self) -> None:
        global _active
        if not self.saved:
            return
        with _lock:
            _active -= 1
            if _active == 0:
                for controller, threads in self.saved:
                    if threads and controller.get_num_threads() != threads:
                        controller.set_num_threads(threads)
        self.saved = []


_override = _parse_env()
