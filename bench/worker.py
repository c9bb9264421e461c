"""One benchmark method in a fresh process, driven by ``report.py`` over stdin/stdout JSON lines.

    python bench/worker.py METHOD                 # serve commands (see ``serve``)
    python bench/worker.py METHOD --memory NAME   # peak RSS of one training run, JSON on stdout
    python bench/worker.py METHOD --alloc         # NumPy allocations per training step, JSON on stdout

METHOD is one of cython, numpy, numpy_loop, torch, jax, or ``probe`` (sgemm peak and noise probes).
Anything the libraries print goes to stderr: stdout carries only the protocol.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

# ------------------------------------------------------------------------------------------ helpers
FAULTS: list[int] = [0, 0]  # major page faults during timed calls, calls that had any


def _timed(function, min_time: float, max_reps: int, before=None) -> list[float]:
    """Seconds of each call of ``function`` until ``min_time`` is spent (``before`` runs untimed).

    Major page faults inside a timed call (code or data read back from disk, e.g. after the host
    reclaimed an idle process's pages) are counted in ``FAULTS`` so the report can mention them.
    """
    times: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        while True:
            if before is not None:
                before(len(times))
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_majflt
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_majflt - faults
            if faults:
                FAULTS[0] += faults
                FAULTS[1] += 1
            if sum(times) >= min_time or len(times) >= max_reps:
                return times
    finally:
        if gc_was_enabled:
            gc.enable()


def _per_call(function, min_time: float, block_time: float = 0.02) -> list[float]:
    """Seconds per call, one value per block of calls; blocks sized to ~``block_time``."""
    function()
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < block_time:
        function()
        calls += 1
    per_block = max(1, calls)
    results = []
    gc.disable()
    try:
        spent = 0.0
        while spent < min_time or len(results) < 3:
            start = time.perf_counter()
            for _ in range(per_block):
                function()
            elapsed = time.perf_counter() - start
            spent += elapsed
            results.append(elapsed / per_block)
    finally:
        gc.enable()
    return results


def blas_info() -> list[dict]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"error": "threadpoolctl not installed"}]
    keep = ("internal_api", "prefix", "filepath", "version", "architecture", "num_threads", "threading_layer")
    return [{k: info.get(k) for k in keep} for info in threadpool_info()]


_OPERANDS: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}


def sgemm_rate(n: int, reps: int, library: str = "scipy") -> list[float]:
    """GFLOP/s of ``reps`` n x n x n float32 products through scipy's sgemm (cyneuron's BLAS) or numpy."""
    if n not in _OPERANDS:
        rng = np.random.default_rng(0)
        a = np.asfortranarray(rng.random((n, n), dtype=np.float32))
        b = np.asfortranarray(rng.random((n, n), dtype=np.float32))
        _OPERANDS[n] = (a, b, np.zeros((n, n), dtype=np.float32, order="F"), np.empty((n, n), dtype=np.float32))
    a, b, c_fortran, c = _OPERANDS[n]
    if library == "scipy":
        from scipy.linalg.blas import sgemm

        def run():
            sgemm(1.0, a, b, beta=0.0, c=c_fortran, overwrite_c=True)
    else:

        def run():
            np.matmul(a, b, out=c)

    run()
    rates = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        rates.append(2.0 * n**3 / (time.perf_counter() - start) / 1e9)
    return rates


def blas_step(workload: common.Workload):
    """A function running only the sgemm calls of one training step (scipy's BLAS, preallocated outputs).

    Forward ``Z = X @ W`` per layer, backward ``dW = X.T @ dZ`` per layer and ``dX = dZ @ W.T`` for every
    layer but the first: the floor of any implementation of the step that calls this BLAS.
    """
    from scipy.linalg.blas import sgemm

    rng = np.random.default_rng(0)
    b = workload.batch_size
    layers = []
    for fan_in, fan_out in zip(workload.widths[:-1], workload.widths[1:]):
        layers.append(
            (
                np.asfortranarray(rng.random((b, fan_in), dtype=np.float32)),  # x
                np.asfortranarray(rng.random((fan_in, fan_out), dtype=np.float32)),  # kernel
                np.asfortranarray(rng.random((b, fan_out), dtype=np.float32)),  # dZ
                np.zeros((b, fan_out), dtype=np.float32, order="F"),  # Z
                np.zeros((fan_in, fan_out), dtype=np.float32, order="F"),  # dW
                np.zeros((b, fan_in), dtype=np.float32, order="F"),  # dX
            )
        )

    def step() -> None:
        for x, kernel, _, z, _, _ in layers:
            sgemm(1.0, x, kernel, beta=0.0, c=z, overwrite_c=True)
        for index, (x, kernel, dz, _, dw, dx) in enumerate(layers):
            sgemm(1.0, x, dz, beta=0.0, c=dw, overwrite_c=True, trans_a=1)
            if index:
                sgemm(1.0, dz, kernel, beta=0.0, c=dx, overwrite_c=True, trans_b=1)

    return step


def limit_threads() -> None:
    """Two BLAS threads (the machine has 2 cores), whatever the defaults say."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(2)
    except ImportError:
        pass


# --------------------------------------------------------------------------------------- the worker
class Worker:
    def __init__(self, method: str) -> None:
        self.method = method
        self.data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.trainers: dict[str, common.Trainer] = {}
        self.nets: dict[str, object] = {}
        self.predictor = None

    def _data(self, name: str):
        if name not in self.data:
            self.data[name] = common.load_data(name)
        return self.data[name]

    # commands -------------------------------------------------------------------------------------
    def hello(self) -> dict:
        info = {"method": self.method, "pid": os.getpid(), "numpy": np.__version__}
        if self.method in ("cython", "numpy"):
            import cyneuron

            info["cyneuron_file"] = os.path.dirname(cyneuron.__file__)
        if self.method == "torch":
            import torch

            info["torch"] = torch.__version__
            info["torch_threads"] = torch.get_num_threads()
        if self.method == "jax":
            import jax

            info["jax"] = jax.__version__
            info["jax_devices"] = [str(d) for d in jax.devices()]
        if self.method == "onnxruntime":
            import onnxruntime

            info["onnxruntime"] = onnxruntime.__version__
        if self.method == "probe":
            import scipy

            info["scipy"] = scipy.__version__
        info["blas"] = blas_info()
        return info

    def setup(self, workload: str, warmup_steps: int = 30) -> dict:
        w = common.WORKLOADS[workload]
        x, y = self._data(workload)
        trainer = common.make_trainer(self.method, w, x, y)
        # Thread pools, caches and workspaces warm: one pass over the first ``warmup_steps`` batches.
        trainer.fit(epochs=1, rows=min(x.shape[0], warmup_steps * w.batch_size))
        trainer.reset()
        self.trainers[workload] = trainer
        return {"steps": w.steps, "samples": w.samples * w.epochs}

    def train(self, workload: str, min_time: float = 0.2, max_reps: int = 50) -> dict:
        trainer = self.trainers[workload]
        times = _timed(trainer.fit, min_time, max_reps, before=lambda i: trainer.reset(seed=i))
        return {"times": times}

    def faults(self) -> dict:
        return {"major_faults": FAULTS[0], "timed_calls_with_major_faults": FAULTS[1]}

    def setup_net(self, workload: str) -> dict:
        """The backend's ``Network.train_batch`` loop alone: fit's floor without the front end."""
        from cyneuron.backend.specs import LossSpec, OptimizerSpec, ScheduleSpec, StageSpec

        if self.method == "cython":
            from cyneuron.backend.cython_ops import CythonOps as OpsClass
        else:
            from cyneuron.backend.numpy_ops import NumpyOps as OpsClass
        w = common.WORKLOADS[workload]
        x, y = self._data(workload)
        params = [p.copy() for p in common.initial_weights(w)]
        widths = w.widths
        stages = [
            StageSpec("dense", (widths[i],), (units,), {"activation": act}, (params[2 * i], params[2 * i + 1]))
            for i, (units, act) in enumerate(w.layers)
        ]
        net = OpsClass().build_network(stages, (w.input_dim,), np.float32)
        sgd = OptimizerSpec(
            "sgd", ScheduleSpec("constant", (common.LEARNING_RATE,)), {"momentum": 0.0, "nesterov": 0.0}
        )
        net.prepare_training(LossSpec("sparse_categorical_crossentropy"), [], sgd, w.batch_size)
        order = np.arange(x.shape[0], dtype=np.int64)
        net.bind_training_data(x, y, order)
        rng = np.random.default_rng(0)
        n, batch = x.shape[0], w.batch_size

        def run(epochs: int = w.epochs) -> None:
            for _ in range(epochs):
                rng.shuffle(order)
                net.set_optimizer(sgd)
                net.reset_stats()
                for start in range(0, n, batch):
                    net.train_batch(start, min(start + batch, n))

        run(1)
        self.nets[workload] = (net, run, params, w)
        return {"steps": w.steps}

    def train_net(self, workload: str, min_time: float = 0.2, max_reps: int = 50) -> dict:
        net, run, params, w = self.nets[workload]
        weights0 = common.initial_weights(w)

        def reset(_):
            for p, p0 in zip(params, weights0):
                p[...] = p0

        return {"times": _timed(run, min_time, max_reps, before=reset)}

    def check(self, workload: str, seed: int = 0) -> dict:
        """Final loss after one seeded training run from the initial weights (untimed)."""
        trainer = self.trainers.get(workload)
        if trainer is None:
            self.setup(workload)
            trainer = self.trainers[workload]
        trainer.reset(seed=seed)
        initial = trainer.loss()
        trainer.fit()
        return {"initial_loss": initial, "final_loss": trainer.loss()}

    def predict(self, kind: str, min_time: float = 0.2) -> dict:
        if self.predictor is None:
            self.predictor = common.Predictor(self.method)
            for name in ("one", "batch", *common.PREDICT_ONE_CALLS.get(self.method, ())):
                getattr(self.predictor, name)()  # warm: workspaces, the fast predictor, thread pools
        function = getattr(self.predictor, kind, None)
        if function is None:
            return {"per_call": None}  # this method has no such call
        return {"per_call": _per_call(function, min_time)}

    def predict_outputs(self) -> dict:
        if self.predictor is None:
            self.predictor = common.Predictor(self.method)
        return {"outputs": self.predictor.outputs()[:5].tolist()}

    # probe-only commands --------------------------------------------------------------------------
    def peak(self, n: int = 4096, reps: int = 5, numpy_too: bool = True) -> dict:
        result = {"scipy": sgemm_rate(n, reps, "scipy")}
        if numpy_too:
            result["numpy"] = sgemm_rate(n, reps, "numpy")
        return result

    def ceiling(self, workload: str, min_time: float = 0.2, max_reps: int = 50) -> dict:
        """Seconds of ``steps`` BLAS-only training steps (one fit's worth), like ``train``."""
        w = common.WORKLOADS[workload]
        if workload not in self.nets:
            self.nets[workload] = blas_step(w)
            self.nets[workload]()
        step = self.nets[workload]

        def run() -> None:
            for _ in range(w.steps):
                step()

        return {"times": _timed(run, min_time, max_reps)}

    def probe(self, n: int = 1024, reps: int = 8) -> dict:
        rates = sgemm_rate(n, reps, "scipy")
        return {"gflops": float(np.median(rates))}


def serve(method: str) -> None:
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints (even from C) go to stderr
    sys.stdout = sys.stderr
    limit_threads()
    worker = Worker(method)
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        if op == "quit":
            break
        try:
            reply = {"ok": True, **getattr(worker, op)(**request)}
        except Exception as error:  # noqa: BLE001 - reported to the driver, which decides
            import traceback

            traceback.print_exc()
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        protocol.write(json.dumps(reply) + "\n")


# ------------------------------------------------------------------------------------------- memory
def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def memory(method: str, workload: str) -> dict:
    """RSS before a training run and its peak during the run (VmHWM reset through clear_refs)."""
    limit_threads()
    w = common.WORKLOADS[workload]
    if method in ("cython", "numpy"):
        import cyneuron

        cyneuron.set_backend(method)
    elif method == "torch":
        import torch  # noqa: F401
    after_import_kb = _status_kb("VmRSS")
    x, y = common.load_data(workload)
    trainer = common.make_trainer(method, w, x, y)
    gc.collect()
    before_kb = _status_kb("VmRSS")
    reset_ok = False
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # resets the peak-RSS high-water mark (Linux >= 4.0)
        reset_ok = True
    except OSError:
        pass
    trainer.fit()
    peak_kb = _status_kb("VmHWM") if reset_ok else None
    if peak_kb is None:
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "method": method,
        "workload": workload,
        "rss_after_import_mb": (after_import_kb or 0) / 1024,
        "rss_before_mb": (before_kb or 0) / 1024,
        "peak_mb": peak_kb / 1024,
        "peak_is_since_fit_start": reset_ok,
        "process_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# -------------------------------------------------------------------------------------- allocations
def _stepper(net, n: int, batch: int):
    """``step()``: the next ``train_batch`` of an epoch over ``n`` rows, wrapping around at the end."""
    position = [0]

    def step() -> None:
        start = position[0] if position[0] < n else 0
        net.train_batch(start, min(start + batch, n))
        position[0] = start + batch

    return step


def _fit_allocations(method: str, w: common.Workload, x: np.ndarray, y: np.ndarray) -> dict:
    """Allocations of whole ``fit`` calls, split into per step, per epoch and per call.

    Counts (not bytes) do not grow with the data size, so fits over ``small`` and ``large`` batches of
    the same data separate the per-step count from fixed costs; a 2-epoch fit gives the per-epoch one.
    """
    import alloc

    small, large = 20, 60
    size = min(large * w.batch_size, x.shape[0])
    large = -(-size // w.batch_size)
    trainers = {}
    for rows in (small * w.batch_size, size):
        trainer = common.make_trainer(method, w, x[:rows], y[:rows])
        trainer.fit(epochs=1)  # warm-up: workspaces for this batch size exist from now on
        trainers[rows] = trainer
    one_small = alloc.count_allocations(lambda: trainers[small * w.batch_size].fit(epochs=1), 1)
    two_small = alloc.count_allocations(lambda: trainers[small * w.batch_size].fit(epochs=2), 1)
    one_large = alloc.count_allocations(lambda: trainers[size].fit(epochs=1), 1)
    per_step = (one_large[0] - one_small[0]) / (large - small)
    per_epoch = two_small[0] - one_small[0] - per_step * small
    return {
        "per_step": per_step,
        "per_epoch": per_epoch,
        "per_call": one_small[0] - per_step * small - per_epoch,
        "counts": {
            "1 epoch x 20 steps": one_small[0],
            "2 epochs x 20 steps": two_small[0],
            f"1 epoch x {large} steps": one_large[0],
        },
        "sizes": one_small[2][:10],
    }


def allocations(method: str, workloads: list[str], steps: int = 100) -> dict:
    """NumPy array-data allocations per training step after warm-up, per workload."""
    import alloc

    limit_threads()
    exact = alloc.CountingHandler.works()
    results = {"method": method, "exact_counter": exact, "workloads": {}}
    for name in workloads:
        w = common.WORKLOADS[name]
        x, y = common.load_data(name)
        entry: dict = {}
        if method in ("cython", "numpy") and common.is_mlp(name):  # setup_net builds Dense stacks
            worker = Worker(method)
            worker.data[name] = (x, y)
            worker.setup_net(name)
            step = _stepper(worker.nets[name][0], x.shape[0], w.batch_size)
            for _ in range(10):
                step()
            if exact:
                count, nbytes, sizes = alloc.count_allocations(step, steps)
                entry["train_batch"] = {"steps": steps, "allocations": count, "bytes": nbytes, "sizes": sizes[:10]}
            entry["train_batch_tracemalloc"] = alloc.tracemalloc_numpy(step, steps)
        if exact and method not in ("torch", "jax"):
            entry["fit"] = _fit_allocations(method, w, x, y)
        results["workloads"][name] = entry
    return results


def main(argv: list[str]) -> None:
    method = argv[0]
    if method != "probe":
        common.ensure_cyneuron_importable()
    if len(argv) >= 3 and argv[1] == "--memory":
        print(json.dumps(memory(method, argv[2])))
    elif len(argv) >= 2 and argv[1] == "--alloc":
        print(json.dumps(allocations(method, argv[2:] or list(common.WORKLOADS))))
    else:
        serve(method)


if __name__ == "__main__":
    main(sys.argv[1:])
