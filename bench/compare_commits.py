"""Compare cyneuron source trees (e.g. two commits' worktrees) side by side, in one run.

    git worktree add /tmp/bench-before fc5e00d && git worktree add /tmp/bench-after HEAD
    (cd /tmp/bench-X && python setup.py build_ext --inplace -q --force)
    python bench/compare_commits.py /tmp/bench-before /tmp/bench-after            # the four workloads, fit + bare step
    python bench/compare_commits.py A B --cases tiny:fit:adam,digits:fit:sgd --rounds 9
    python bench/compare_commits.py B --cases digits-bn-dropout:fit:sgd --alloc    # one tree only is fine
    python bench/compare_commits.py B@baseline B@avx2 B@avx512                    # one build's SIMD paths

A tree may end in ``@PATH`` (baseline, avx2, avx512): its worker runs with ``CYNEURON_SIMD=PATH``.

Each tree gets its own fresh worker process (``PYTHONPATH=TREE/src``, this file in worker mode);
every worker uses the workloads, data and initial weights of ``bench/common.py`` of *this* checkout,
so only the library differs. A round = one sgemm noise probe, then every case on every tree in turn
(tree order rotated per round, a pause between measurements so OpenBLAS threads stop spinning),
then another probe. Rounds whose probes read below ``--probe-keep`` x the best probe are dropped
(kept anyway if fewer than 3 survive). Reported: per case and tree the median over rounds of each
round's median us/step, and the median over rounds of the per-round ratio against the first tree
(paired, so drift between rounds cancels).

A case is ``WORKLOAD:MODE:OPTIMIZER``: WORKLOAD is one of ``common.WORKLOADS`` or one of the extra
architectures below; MODE ``fit`` (public ``Sequential.fit``, shuffle=True, verbose=0) or ``bare``
(the model's compiled network's ``train_batch`` loop, shuffled order, after a warm-up ``fit``);
OPTIMIZER ``sgd`` (SGD(0.01)) or ``adam`` (Adam(0.001)); a tree lacking it reports the case as
unavailable. Like report.py, OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed from the workers'
environment unless ``--keep-openblas-env``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
PAUSE = 0.15

# Extra architectures (Keras layer specs), on a common.WORKLOADS data set / batch size / epochs.
EXTRA = {
    # digits-like: Dense(32) -> BatchNormalization() -> Dropout(0.2) -> Dense(10)
    "digits-bn-dropout": (
        "digits",
        [
            ("Dense", {"units": 32}),
            ("BatchNormalization", {}),
            ("Dropout", {"rate": 0.2}),
            ("Dense", {"units": 10, "activation": "softmax"}),
        ],
    ),
    # the same without the two new layers, linear first Dense (its like-for-like baseline)
    "digits-linear": (
        "digits",
        [("Dense", {"units": 32}), ("Dense", {"units": 10, "activation": "softmax"})],
    ),
    # activation-heavy: exp in every hidden unit (sigmoid, tanh) and the softmax head
    "digits-sigmoid": (
        "digits",
        [
            ("Dense", {"units": 128, "activation": "sigmoid"}),
            ("Dense", {"units": 128, "activation": "tanh"}),
            ("Dense", {"units": 10, "activation": "softmax"}),
        ],
    ),
}
DEFAULT_CASES = [f"{w}:{m}:sgd" for w in ("tiny", "digits", "mnist-like", "wide") for m in ("fit", "bare")]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ============================================================================================ worker
class Case:
    def __init__(self, spec: str) -> None:
        import common
        import numpy as np

        self.spec = spec
        name, self.mode, self.opt = spec.split(":")
        base = EXTRA[name][0] if name in EXTRA else name
        self.workload = w = common.WORKLOADS[base]
        self.x, self.y = common.load_data(base)
        import cyneuron
        import cyneuron.layers as L
        import cyneuron.optimizers as O
        from cyneuron.models import Sequential
        from cyneuron.utils import set_random_seed

        cyneuron.set_backend("cython")
        set_random_seed(1234)
        if name in EXTRA:
            layers = []
            for index, (kind, kwargs) in enumerate(EXTRA[name][1]):
                cls = getattr(L, kind)  # AttributeError: the tree lacks the layer -> unavailable
                if index == 0:
                    kwargs = {**kwargs, "input_shape": (w.input_dim,)}
                layers.append(cls(**kwargs))
            self.model = Sequential(layers)
        else:
            self.model = common.build_keras_model(w)
        if self.opt == "sgd":
            optimizer = O.SGD(learning_rate=common.LEARNING_RATE)
        elif self.opt == "adam":
            optimizer = O.Adam(learning_rate=0.001)
        else:
            raise ValueError(self.opt)
        self.model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
        if name not in EXTRA:
            self.model.set_weights(common.initial_weights(w))
        warm_rows = min(self.x.shape[0], 30 * w.batch_size)
        self.model.fit(
            self.x[:warm_rows], self.y[:warm_rows], batch_size=w.batch_size, epochs=1, shuffle=True, verbose=0
        )
        self.weights0 = [a.copy() for a in self.model.get_weights()]
        self.steps = w.steps
        if self.mode == "bare":
            # The network fit built, bound to the whole data set (fit binds it per call).
            self.model.fit(self.x, self.y, batch_size=w.batch_size, epochs=1, shuffle=True, verbose=0)
            self.net = self.model._network
            self.order = np.arange(self.x.shape[0], dtype=np.int64)
            self.net.bind_training_data(self.x, self.y, self.order)
            self.rng = np.random.default_rng(0)
            n, b = self.x.shape[0], w.batch_size
            self.bounds = [(s, min(s + b, n)) for s in range(0, n, b)]
            self.run()

    def reset(self) -> None:
        self.model.set_weights(self.weights0)

    def run(self) -> None:
        w = self.workload
        if self.mode == "fit":
            self.model.fit(self.x, self.y, batch_size=w.batch_size, epochs=w.epochs, shuffle=True, verbose=0)
            return
        net, train = self.net, self.net.train_batch
        for _ in range(w.epochs):
            self.rng.shuffle(self.order)
            net.reset_stats()
            for start, stop in self.bounds:
                train(start, stop)

    def step_function(self):
        """One ``train_batch`` per call, wrapping round the epoch (for allocation counting)."""
        position = [0]
        n, b, net = self.x.shape[0], self.workload.batch_size, self.net

        def step() -> None:
            start = position[0] if position[0] < n else 0
            net.train_batch(start, min(start + b, n))
            position[0] = start + b

        return step


class Worker:
    def __init__(self) -> None:
        self.cases: dict[str, Case | str] = {}

    def hello(self) -> dict:
        import numpy as np

        import cyneuron

        info = {"pid": os.getpid(), "cyneuron": os.path.dirname(cyneuron.__file__), "numpy": np.__version__}
        simd = getattr(cyneuron, "_simd", None)  # the active SIMD path (trees with runtime dispatch)
        if simd is not None:
            info["simd"] = simd.active
        try:
            from threadpoolctl import threadpool_info

            info["blas"] = [
                (i.get("internal_api"), i.get("architecture"), i.get("num_threads")) for i in threadpool_info()
            ]
        except ImportError:
            pass
        return info

    def setup(self, case: str) -> dict:
        try:
            self.cases[case] = Case(case)
            return {"available": True, "steps": self.cases[case].steps}
        except (AttributeError, ImportError) as error:
            self.cases[case] = f"{type(error).__name__}: {error}"
            return {"available": False, "why": self.cases[case]}

    def time(self, case: str, min_time: float = 0.25, max_reps: int = 20) -> dict:
        c = self.cases[case]
        times = []
        spent = 0.0
        gc.disable()
        try:
            while spent < min_time and len(times) < max_reps:
                c.reset()
                start = time.perf_counter()
                c.run()
                elapsed = time.perf_counter() - start
                spent += elapsed
                times.append(elapsed / c.steps)
        finally:
            gc.enable()
        return {"us_per_step": [t * 1e6 for t in times]}

    def alloc(self, case: str, steps: int = 200) -> dict:
        """NumPy array-data allocations: bare train_batch steps (exact counter + tracemalloc), and fit."""
        import alloc

        c = self.cases[case]
        result = {"exact_counter": alloc.CountingHandler.works()}
        if c.mode == "bare":
            step = c.step_function()
            for _ in range(10):
                step()
            if result["exact_counter"]:
                count, nbytes, sizes = alloc.count_allocations(step, steps)
                result["train_batch"] = {"steps": steps, "allocations": count, "bytes": nbytes, "sizes": sizes[:10]}
            result["train_batch_tracemalloc"] = alloc.tracemalloc_numpy(step, steps)
        else:
            w = c.workload

            def fit(rows, epochs=1):
                return lambda: c.model.fit(
                    c.x[:rows], c.y[:rows], batch_size=w.batch_size, epochs=epochs, shuffle=True, verbose=0
                )

            small, large = 10 * w.batch_size, min(c.x.shape[0], 50 * w.batch_size)
            for rows in (small, large):
                fit(rows)()
            one_small = alloc.count_allocations(fit(small), 1)[0]
            one_large = alloc.count_allocations(fit(large), 1)[0]
            steps_small, steps_large = -(-small // w.batch_size), -(-large // w.batch_size)
            result["fit"] = {
                f"allocs 1 fit x {steps_small} steps": one_small,
                f"allocs 1 fit x {steps_large} steps": one_large,
                "per_step": (one_large - one_small) / (steps_large - steps_small),
            }
        return result

    def probe(self, n: int = 1024, reps: int = 8) -> dict:
        from worker import sgemm_rate

        return {"gflops": statistics.median(sgemm_rate(n, reps))}


def serve() -> None:
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    from worker import limit_threads

    limit_threads()
    w = Worker()
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        if op == "quit":
            break
        try:
            reply = {"ok": True, **getattr(w, op)(**request)}
        except Exception as error:  # noqa: BLE001
            import traceback

            traceback.print_exc()
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        protocol.write(json.dumps(reply) + "\n")


# ============================================================================================ driver
class Proc:
    def __init__(self, tree: str, env: dict, stderr) -> None:
        self.tree = tree
        path, _, simd = tree.partition("@")
        env = dict(env)
        env["PYTHONPATH"] = os.path.join(path, "src")
        if simd:
            env["CYNEURON_SIMD"] = simd
        self.p = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            text=True,
            cwd=HERE,
        )

    def call(self, op: str, **kw) -> dict:
        self.p.stdin.write(json.dumps({"op": op, **kw}) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"worker for {self.tree} died")
        reply = json.loads(line)
        if not reply.pop("ok"):
            raise RuntimeError(f"{self.tree}: {op}: {reply['error']}")
        return reply

    def close(self) -> None:
        try:
            self.p.stdin.write('{"op": "quit"}\n')
            self.p.stdin.flush()
            self.p.wait(10)
        except Exception:  # noqa: BLE001
            self.p.kill()


def git_describe(tree: str) -> str:
    try:
        command = ["git", "-C", tree.partition("@")[0], "log", "-1", "--format=%h %s"]
        out = subprocess.run(command, capture_output=True, text=True)
        return out.stdout.strip()[:70]
    except OSError:
        return "?"


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trees", nargs="+", help="source trees (built in place); ratios are against the first")
    ap.add_argument("--cases", default=",".join(DEFAULT_CASES))
    ap.add_argument("--rounds", type=int, default=7, help="kept rounds wanted")
    ap.add_argument("--max-rounds", type=int, default=0, help="give up after this many (default 2x rounds)")
    ap.add_argument("--min-time", type=float, default=0.25, help="seconds per measurement (whole runs)")
    ap.add_argument("--probe-keep", type=float, default=0.7)
    ap.add_argument("--keep-openblas-env", action="store_true")
    ap.add_argument("--alloc", action="store_true", help="also count NumPy allocations per case (after timing)")
    ap.add_argument("--json", help="write raw results here")
    args = ap.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    env = dict(os.environ)
    removed = {k: env.pop(k) for k in OPENBLAS_VARS if k in env and not args.keep_openblas_env}
    log(f"nproc={os.cpu_count()}; removed from workers' env: {removed or 'nothing'}")
    stderr = open(  # noqa: SIM115 (the workers write to it for the whole run)
        os.path.join(HERE, "results", "compare_workers.log")
        if os.path.isdir(os.path.join(HERE, "results"))
        else os.devnull,
        "w",
    )
    procs = [Proc(t, env, stderr) for t in args.trees]
    probe = Proc(args.trees[0], env, stderr)
    try:
        info = {p.tree: p.call("hello") for p in procs}
        for tree, i in info.items():
            log(f"{tree}: {git_describe(tree)} | {i}")
        avail: dict[tuple[str, str], bool] = {}
        for case in cases:
            for p in procs:
                r = p.call("setup", case=case)
                avail[(case, p.tree)] = r["available"]
                if not r["available"]:
                    log(f"{p.tree} {case}: unavailable ({r['why']})")
        probe.call("probe")
        rounds = []  # each: {"probes": [a, b], "values": {(case, tree): median}}
        best = 0.0
        max_rounds = args.max_rounds or 2 * args.rounds
        kept = 0
        while kept < args.rounds and len(rounds) < max_rounds:
            r = len(rounds)
            before = probe.call("probe")["gflops"]
            time.sleep(PAUSE)
            values = {}
            order = procs[r % len(procs) :] + procs[: r % len(procs)]
            for case in cases:
                for p in order:
                    if not avail[(case, p.tree)]:
                        continue
                    t = p.call("time", case=case, min_time=args.min_time)["us_per_step"]
                    values[f"{case}|{p.tree}"] = statistics.median(t)
                    time.sleep(PAUSE)
            after = probe.call("probe")["gflops"]
            best = max(best, before, after)
            rounds.append({"probes": [before, after], "values": values})
            kept = sum(1 for x in rounds if min(x["probes"]) >= args.probe_keep * best)
            log(f"round {r + 1}: probes {before:.0f}/{after:.0f} GFLOP/s, kept so far {kept}")
        keep = [x for x in rounds if min(x["probes"]) >= args.probe_keep * best]
        note = ""
        if len(keep) < 3:
            keep, note = rounds, " (fewer than 3 rounds passed the probe filter: all rounds used)"
        allocs = {}
        if args.alloc:
            for case in cases:
                for p in procs:
                    if avail[(case, p.tree)]:
                        allocs[f"{case}|{p.tree}"] = p.call("alloc", case=case)
    finally:
        for p in procs + [probe]:
            p.close()

    base = args.trees[0]
    print("\nTrees: " + "; ".join(f"`{t}` = {git_describe(t)}" for t in args.trees))
    print(
        f"Machine: nproc={os.cpu_count()}, OPENBLAS vars removed for workers: {sorted(removed) or 'none'}; "
        f"rounds kept {len(keep)}/{len(rounds)}{note}; probe best {best:.0f} GFLOP/s\n"
    )
    head = "| case | " + " | ".join(f"{os.path.basename(t)} µs/step" for t in args.trees)
    head += " | " + " | ".join(f"{os.path.basename(t)}/{os.path.basename(base)}" for t in args.trees[1:]) + " |"
    print(head)
    print("|" + "---|" * (1 + 2 * len(args.trees) - 1))
    summary = {}
    for case in cases:
        cells, ratios = [], []
        for t in args.trees:
            vals = [x["values"][f"{case}|{t}"] for x in keep if f"{case}|{t}" in x["values"]]
            cells.append(f"{statistics.median(vals):.2f} (n={len(vals)})" if vals else "n/a")
            summary[f"{case}|{t}"] = vals
        for t in args.trees[1:]:
            paired = [
                x["values"][f"{case}|{t}"] / x["values"][f"{case}|{base}"]
                for x in keep
                if f"{case}|{t}" in x["values"] and f"{case}|{base}" in x["values"]
            ]
            ratios.append(f"{statistics.median(paired):.3f} [{min(paired):.2f}–{max(paired):.2f}]" if paired else "n/a")
        print(f"| {case} | " + " | ".join(cells) + (" | " + " | ".join(ratios) if ratios else "") + " |")
    if allocs:
        print("\nNumPy allocations:")
        for key, value in allocs.items():
            print(f"- {key}: {json.dumps(value)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"trees": args.trees, "rounds": rounds, "kept": len(keep), "allocs": allocs, "info": info}, f, indent=1
            )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve()
    else:
        main(sys.argv[1:])
