"""Shared machinery for the hardening suite (tests/test_hardening_*.py).

* Array *recipes* (``Arr``): a picklable description of an argument (shape, dtype,
  value kind, seed) plus malformations (Fortran order, non-contiguous view,
  read-only, np.matrix, masked, list, ragged, other dtype, NaN/inf, huge
  zero-stride broadcast...). A recipe builds the malformed value *and* its clean
  equivalent (or ``None`` when no clean equivalent exists, so the call must raise).
  Recipes are rebuilt inside a subprocess, which keeps strides, flags and
  subclasses that pickling an array would lose.
* ``judge_call``: run one call on the malformed arguments and on the clean ones
  and say what is wrong: an exception other than ValueError/TypeError, a message
  not naming the argument, a result differing from the clean run, an input
  modified, a write outside an output buffer (guard cells around every buffer).
* ``Sandbox``: a persistent worker subprocess that runs cases sent over a pipe,
  so that a segfault or a hang in compiled code fails one test instead of
  killing pytest; the worker runs under an address-space limit so a case that
  tries to allocate a huge array fails fast with MemoryError.
* ``count_case``: counts fuzz cases per suite; set ``HARDENING_COUNT_FILE`` to
  have the totals appended there at the end of each module.
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import pickle
import re
import select
import struct
import subprocess
import sys
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

import cyneuron

# Set for the AddressSanitizer build in .ci/run: the sanitizer reserves terabytes of address space for
# its shadow memory, so address-space limits (RLIMIT_AS) cannot be used there; the cases that need one
# to prove something are skipped, the others run unlimited.
SANITIZED = bool(os.environ.get("CYNEURON_SANITIZED"))

REPO = Path(__file__).resolve().parent.parent
SENTINEL = 1234.5  # value of the guard cells written around every float buffer
GUARD = 8
HUGE = 2**31 + 7  # a dimension that does not fit a C int
WORKER_MEMORY_LIMIT = 3 * 2**30

COUNTS: collections.Counter = collections.Counter()


def count_case(kind: str) -> None:
    COUNTS[kind] += 1


def dump_counts(module: str) -> None:
    target = os.environ.get("HARDENING_COUNT_FILE")
    if target and COUNTS:
        with open(target, "a") as handle:
            for kind, n in sorted(COUNTS.items()):
                handle.write(f"{module}\t{kind}\t{n}\n")
    COUNTS.clear()


def xfail_bug(reason: str):
    """A known bug: the test must fail until it is fixed (strict), then the marker goes."""
    import pytest

    return pytest.mark.xfail(strict=True, reason=f"BUG: {reason}")


def subprocess_env(**extra: str) -> dict:
    env = dict(os.environ)
    # The workers import the same cyneuron as this process: the installed package in CI, src/ in a checkout.
    package_root = Path(cyneuron.__file__).resolve().parent.parent
    env["PYTHONPATH"] = os.pathsep.join([str(package_root), str(REPO), env.get("PYTHONPATH", "")])
    env.pop("CYNEURON_BACKEND", None)
    env.update(extra)
    return env


# ------------------------------------------------------------------ recipes
# transforms keeping the values: the call must work and match the clean run, or raise a named error
PRESERVING = ("fortran", "noncontig", "reversed", "readonly", "matrix", "masked", "list", "tuple")
# transforms with no clean equivalent: the call must raise a named ValueError/TypeError
REJECTING = ("ragged", "complex", "str", "scalar", "none", "huge", "huge_wide", "object_junk")
# transforms converting to another real dtype: the clean run uses the converted values
CONVERTING = ("int32", "int64", "bool", "float16", "float32", "float64", "object")
NONFINITE = ("nan", "inf", "-inf", "masked_nan")
WRITE_PRESERVING = ("fortran", "noncontig", "reversed", "matrix", "masked")  # still valid output targets


@dataclass(frozen=True)
class Arr:
    """How to make one array argument; ``build`` gives (value, clean)."""

    shape: tuple
    dtype: str = "float64"
    kind: str = "normal"  # normal | positive | prob | unit | labels:K | zeros
    seed: int = 0
    transform: str | None = None
    where: int = 0  # flat index for nan/inf

    def with_transform(self, transform: str | None, where: int = 0) -> Arr:
        return replace(self, transform=transform, where=where)


def base_values(arr: Arr) -> np.ndarray:
    rng = np.random.default_rng(arr.seed)
    shape = tuple(arr.shape)
    if arr.kind.startswith("labels:"):
        classes = int(arr.kind.split(":")[1])
        return rng.integers(0, classes, size=shape).astype(arr.dtype)
    if arr.kind == "zeros":
        values = np.zeros(shape)
    elif arr.kind == "positive":
        values = rng.uniform(0.1, 1.0, size=shape)
    elif arr.kind == "prob":
        values = rng.uniform(0.05, 0.95, size=shape)
    elif arr.kind == "unit":
        values = rng.integers(0, 2, size=shape).astype(float)
    else:
        values = rng.standard_normal(shape)
    return values.astype(arr.dtype)


def guarded_empty_like(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A C-contiguous copy of ``values`` living inside a larger buffer with guard cells on both sides."""
    size = values.size
    if values.dtype.kind == "f":
        store = np.full(size + 2 * GUARD, SENTINEL, dtype=values.dtype)
    else:
        store = np.zeros(size + 2 * GUARD, dtype=values.dtype)
    inner = store[GUARD : GUARD + size].reshape(values.shape)
    inner[...] = values
    return inner, store


@dataclass
class Built:
    value: object
    clean: object  # the equivalent well-formed array, or None when the call must raise
    store: np.ndarray | None = None  # guard store to check after the call
    skipped: np.ndarray | None = None  # the cells a non-contiguous view skips (must stay SENTINEL)


def build(arr: Arr) -> Built:
    values = base_values(arr)
    clean, store = guarded_empty_like(values)
    t = arr.transform
    if t is None:
        return Built(clean, clean, store)
    fresh = values.copy()
    if t == "fortran":
        return Built(np.asfortranarray(fresh), values)
    if t == "noncontig":
        wide = np.full(values.shape[:-1] + (2 * values.shape[-1],) if values.ndim else (2,), SENTINEL)
        wide = wide.astype(values.dtype)
        view = wide[..., ::2] if values.ndim else wide[::2][0:1].reshape(())
        view[...] = values
        return Built(view, values, skipped=wide[..., 1::2])
    if t == "reversed":
        flipped = np.ascontiguousarray(values[::-1]) if values.ndim else values
        view = flipped[::-1] if values.ndim else flipped
        return Built(view, values)
    if t == "readonly":
        fresh.flags.writeable = False
        return Built(fresh, values)
    if t == "matrix":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Built(np.asmatrix(fresh), values)
    if t == "masked":
        return Built(np.ma.masked_array(fresh, mask=np.zeros(values.shape, dtype=bool)), values)
    if t == "masked_nan":
        # a NaN hidden under the mask: np.isfinite(masked).all() says True
        data = fresh.astype(float) if fresh.dtype.kind != "f" else fresh
        mask = np.zeros(values.shape, dtype=bool)
        if data.size:
            data.flat[arr.where % data.size] = np.nan
            mask.flat[arr.where % data.size] = True
        # the clean equivalent is the data with its NaN: a mask must not hide it from the finiteness checks
        return Built(np.ma.masked_array(data, mask=mask), data.copy())
    if t == "list":
        return Built(fresh.tolist(), values)
    if t == "tuple":
        return Built(_to_tuple(fresh.tolist()), values)
    if t == "ragged":
        rows = fresh.tolist()
        if isinstance(rows, list) and len(rows) >= 1 and isinstance(rows[0], list) and rows[0]:
            rows[0] = rows[0][:-1]
        else:
            rows = [rows, [rows]]
        return Built(rows, None)
    if t in ("int32", "int64", "bool", "float16", "float32", "float64"):
        converted = fresh.astype(t) if t != "bool" else fresh > 0
        return Built(converted, converted.astype(values.dtype))
    if t == "object":
        return Built(fresh.astype(object), values)
    if t == "object_junk":
        junk = fresh.astype(object)
        if junk.size:
            junk.flat[arr.where % junk.size] = "junk"
        return Built(junk, None)
    if t == "complex":
        return Built(fresh.astype(np.complex128) + 1j, None)
    if t == "str":
        return Built(fresh.astype(str), None)
    if t == "scalar":
        return Built(float(values.flat[0]) if values.size else 1.0, None)
    if t == "none":
        return Built(None, None)
    if t == "huge":
        # zero strides: claims ~2**31 rows x columns without allocating them
        shape = (HUGE,) + tuple(values.shape[1:]) if values.ndim >= 1 else (HUGE,)
        return Built(np.broadcast_to(np.ones((), dtype=values.dtype), shape), None)
    if t == "huge_wide":
        # 2**31 rows of a width one more than expected: the shape check must refuse it before any copy
        shape = (HUGE,) + tuple(values.shape[1:-1]) + ((values.shape[-1] + 1,) if values.ndim >= 2 else ())
        return Built(np.broadcast_to(np.ones((), dtype=values.dtype), shape), None)
    if t in NONFINITE:
        if fresh.dtype.kind != "f" or fresh.size == 0:
            return Built(fresh, fresh)
        fresh.flat[arr.where % fresh.size] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}[t]
        return Built(fresh, fresh.copy())
    raise ValueError(f"unknown transform {t!r}")


def _to_tuple(value):
    return tuple(_to_tuple(v) for v in value) if isinstance(value, list) else value


# ------------------------------------------------------------------ judging
def names_argument(message: str, names: tuple[str, ...]) -> bool:
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message) for name in names)


@dataclass
class Outcome:
    kind: str  # ok | raised | crash | hang
    value: object = None
    error_type: str = ""
    value_or_type_error: bool = False
    message: str = ""
    outputs: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)
    trace: str = ""

    def describe(self) -> str:
        if self.kind == "raised":
            return f"raised {self.error_type}: {self.message}"
        return f"{self.kind}: {self.value!r}"


def call_capturing(fn: Callable, *args, **kwargs) -> Outcome:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            value = fn(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - the whole point is to classify it
        return Outcome(
            "raised",
            error_type=type(error).__name__,
            value_or_type_error=isinstance(error, (ValueError, TypeError)),
            message=str(error),
            trace="".join(traceback.format_exception(error)[-4:]),
        )
    return Outcome("ok", value=value)


def _same(a, b, dtype) -> bool:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return False
    tol = 1e-4 if np.dtype(dtype) == np.float32 else 1e-9
    return bool(np.allclose(a, b, rtol=tol, atol=tol, equal_nan=True))


def judge_call(
    fn: Callable,
    arg_order: list[str],
    args: dict[str, object],
    bad_name: str,
    must_raise: bool,
    outputs: tuple[str, ...],
    clean_args: dict[str, object] | None,
    dtype,
    names: tuple[str, ...] | None = None,
) -> Outcome:
    """Call ``fn(*args)`` (args already built); compare with ``fn(*clean_args)`` when it works.

    ``outputs`` are the argument names the call writes (compared after the call);
    every other array argument must be left unchanged.
    """
    names = names or (bad_name,)
    before = {k: _snapshot(v) for k, v in args.items()}
    outcome = call_capturing(fn, *[args[k] for k in arg_order])
    if outcome.kind == "raised":
        if not outcome.value_or_type_error:
            outcome.problems.append(f"{bad_name}: wrong exception type {outcome.error_type}: {outcome.message}")
        elif not names_argument(outcome.message, names):
            outcome.problems.append(f"{bad_name}: message does not name {names}: {outcome.message!r}")
        return outcome
    if must_raise:
        outcome.problems.append(f"{bad_name}: malformed value accepted, returned {outcome.value!r}")
        return outcome
    for k, v in args.items():
        if k in outputs or before[k] is None:
            continue
        if not _same_exact(before[k], np.asarray(v)):
            outcome.problems.append(f"input {k} was modified by the call")
    if clean_args is not None:
        clean = call_capturing(fn, *[clean_args[k] for k in arg_order])
        if clean.kind != "ok":
            outcome.problems.append(f"clean call failed: {clean.describe()}")
            return outcome
        if isinstance(clean.value, (float, np.ndarray, np.floating)) and not _same(outcome.value, clean.value, dtype):
            outcome.problems.append(f"{bad_name}: result {outcome.value!r} differs from clean {clean.value!r}")
        for k in outputs:
            if args[k] is not None and not _same(np.asarray(args[k]), clean_args[k], dtype):
                outcome.problems.append(f"{bad_name}: output {k} differs from the clean run")
    return outcome


def _same_exact(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


def _snapshot(v) -> np.ndarray | None:
    """A copy of a (small, regular) array argument, to check later that the call left it alone."""
    if isinstance(v, np.ndarray) and v.size <= 10**6 and v.dtype.kind in "fiub":
        return np.array(v, copy=True)
    return None


def guard_problems(built: dict[str, Built]) -> list[str]:
    problems = []
    for name, b in built.items():
        if b.store is not None and b.store.dtype.kind == "f":
            guard = np.concatenate([b.store[:GUARD], b.store[-GUARD:]])
            if not (guard == SENTINEL).all():
                problems.append(f"{name}: write outside the buffer (guard cells overwritten)")
        if b.skipped is not None and b.skipped.dtype.kind == "f" and not (b.skipped == SENTINEL).all():
            problems.append(f"{name}: write into the cells a strided view skips")
    return problems


# ------------------------------------------------------------------ backends
def get_ops(backend: str):
    if backend == "numpy":
        from cyneuron.backend.numpy_ops import NumpyOps

        return NumpyOps()
    from cyneuron.backend.cython_ops import CythonOps

    return CythonOps()


# ------------------------------------------------------------------ sandbox
def _send(stream, obj) -> None:
    data = pickle.dumps(obj)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _read_exact(fd: int, n: int, deadline_s: float | None) -> bytes | None:
    chunks = []
    while n:
        if deadline_s is not None:
            ready, _, _ = select.select([fd], [], [], deadline_s)
            if not ready:
                raise TimeoutError
        chunk = os.read(fd, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


class Sandbox:
    """A worker subprocess running ``(function_path, payload)`` jobs; survives nothing, reports everything."""

    def __init__(self, timeout: float = 60.0, memory_limit: int = WORKER_MEMORY_LIMIT, env: dict | None = None):
        self.timeout = timeout
        self.memory_limit = memory_limit
        self.env = env or subprocess_env()
        self.proc: subprocess.Popen | None = None
        self.stderr_path = None

    def _start(self) -> None:
        import tempfile

        self.stderr_file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from tests.hardening_support import worker_main; worker_main()",
                str(self.memory_limit),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr_file,
            cwd=REPO,
            env=self.env,
        )

    def _stderr_tail(self) -> str:
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode(errors="replace")[-2000:]

    def run(self, function: str, payload) -> Outcome:
        """Run ``function(payload)`` (a 'module:name' path returning an Outcome) in the worker."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        try:
            _send(self.proc.stdin, (function, payload))
            header = _read_exact(self.proc.stdout.fileno(), 8, self.timeout)
            body = (
                None
                if header is None
                else _read_exact(self.proc.stdout.fileno(), struct.unpack("<Q", header)[0], self.timeout)
            )
        except TimeoutError:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            return Outcome("hang", problems=[f"no answer within {self.timeout} s (hang)"])
        except BrokenPipeError:
            body = None
        if body is None:
            code = self.proc.wait()
            tail = self._stderr_tail()
            self.proc = None
            return Outcome("crash", problems=[f"worker died with exit code {code}: {tail}"])
        return pickle.loads(body)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def worker_main() -> None:
    import importlib
    import resource

    limit = int(sys.argv[1])
    if not SANITIZED:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # The protocol owns the real stdout; anything printed goes to stderr.
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    stdin = sys.stdin.buffer
    while True:
        header = stdin.read(8)
        if len(header) < 8:
            return
        function, payload = pickle.loads(stdin.read(struct.unpack("<Q", header)[0]))
        module_name, name = function.split(":")
        try:
            outcome = getattr(importlib.import_module(module_name), name)(payload)
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            outcome = Outcome(
                "raised",
                error_type=type(error).__name__,
                message=str(error),
                problems=[f"harness error: {''.join(traceback.format_exception(error))}"],
            )
        try:
            data = pickle.dumps(outcome)
        except Exception:  # noqa: BLE001
            outcome.value = repr(outcome.value)
            data = pickle.dumps(outcome)
        channel.write(struct.pack("<Q", len(data)) + data)
        channel.flush()


def run_python(
    code: str, timeout: float = 120, memory_limit: int | None = None, **env: str
) -> subprocess.CompletedProcess:
    """Run a snippet in a fresh interpreter (repo importable); optional address-space limit."""
    prefix = ""
    if memory_limit and not SANITIZED:
        prefix = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({memory_limit}, {memory_limit}))\n"
    return subprocess.run(
        [sys.executable, "-c", prefix + code],
        capture_output=True,
        text=True,
        env=subprocess_env(**env),
        cwd=REPO,
        timeout=timeout,
    )


@contextlib.contextmanager
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()):
            yield


# ------------------------------------------------------------------ kernel (Ops) cases
def ops_signature(method: str, b: int, i: int, u: int, dtype: str, loss: tuple, activation: str, metric: str):
    """Argument order, clean recipes (Arr or plain values) and written outputs of one Ops method."""
    from cyneuron.backend.base import LossSpec
    from cyneuron.backend.specs import SPARSE_METRICS

    def f(shape, kind="normal", seed=0):
        return Arr(tuple(shape), dtype, kind, seed)

    sparse_loss = loss[0] == "sparse_categorical_crossentropy"
    y_loss = Arr((b,), "int64", f"labels:{u}", 7) if sparse_loss else f((b, u), "prob", 7)
    y_metric = Arr((b,), "int64", f"labels:{u}", 7) if metric in SPARSE_METRICS else f((b, u), "unit", 7)
    spec = LossSpec(*loss)
    if method == "dense_forward":
        args = {
            "x": f((b, i), seed=1),
            "kernel": f((i, u), seed=2),
            "bias": f((u,), seed=3),
            "activation": activation,
            "z_out": f((b, u), "zeros"),
            "a_out": f((b, u), "zeros", 1),
        }
        return list(args), args, ("z_out", "a_out")
    if method == "dense_backward":
        args = {
            "x": f((b, i), seed=1),
            "kernel": f((i, u), seed=2),
            "z": f((b, u), seed=3),
            "a": f((b, u), "prob", 4),
            "grad_a": f((b, u), seed=5),
            "activation": activation,
            "grad_z_out": f((b, u), "zeros"),
            "grad_kernel_out": f((i, u), "zeros", 1),
            "grad_bias_out": f((u,), "zeros", 2),
            "grad_x_out": f((b, i), "zeros", 3),
        }
        return list(args), args, ("grad_z_out", "grad_kernel_out", "grad_bias_out", "grad_x_out")
    if method == "activation_forward":
        args = {"activation": activation, "z": f((b, u), seed=1), "out": f((b, u), "zeros")}
        return list(args), args, ("out",)
    if method == "activation_backward":
        args = {
            "activation": activation,
            "z": f((b, u), seed=1),
            "a": f((b, u), "prob", 2),
            "grad_a": f((b, u), seed=3),
            "out": f((b, u), "zeros"),
        }
        return list(args), args, ("out",)
    if method == "loss_value":
        args = {"loss": spec, "y_true": y_loss, "y_pred": f((b, u), "positive" if not loss[1] else "normal", 2)}
        return list(args), args, ()
    if method == "loss_gradient":
        args = {
            "loss": spec,
            "y_true": y_loss,
            "y_pred": f((b, u), "positive" if not loss[1] else "normal", 2),
            "out": f((b, u), "zeros"),
        }
        return list(args), args, ("out",)
    if method == "output_gradient":
        args = {
            "loss": spec,
            "activation": activation,
            "y_true": y_loss,
            "z": f((b, u), seed=2),
            "a": f((b, u), "prob", 3),
            "out": f((b, u), "zeros"),
        }
        return list(args), args, ("out",)
    if method == "metric_value":
        args = {"metric": metric, "y_true": y_metric, "y_pred": f((b, u), "prob", 2)}
        return list(args), args, ()
    if method == "sgd_update":
        args = {
            "param": f((i, u), seed=1),
            "grad": f((i, u), seed=2),
            "velocity": f((i, u), seed=3),
            "learning_rate": 0.1,
            "momentum": 0.9,
            "nesterov": False,
        }
        return list(args), args, ("param", "velocity")
    raise ValueError(method)


OPS_METHODS = (
    "dense_forward",
    "dense_backward",
    "activation_forward",
    "activation_backward",
    "loss_value",
    "loss_gradient",
    "output_gradient",
    "metric_value",
    "sgd_update",
)
SHAPE_CHANGES = ("rank_up", "rank_down", "grow_last", "grow_first", "zero_last")


def reshape_recipe(arr: Arr, change: str) -> Arr:
    shape = tuple(arr.shape)
    if change == "rank_up":
        shape = shape + (1,)
    elif change == "rank_down":
        shape = shape[:-1]
    elif change == "grow_last":
        shape = shape[:-1] + (shape[-1] + 1,)
    elif change == "grow_first":
        shape = (shape[0] + 1,) + shape[1:]
    elif change == "zero_last":
        shape = shape[:-1] + (0,)
    return replace(arr, shape=shape)


def run_ops_case(p: dict) -> Outcome:
    """One malformed call of an Ops kernel; p: backend method dtype dims loss activation metric bad change/transform."""
    ops = get_ops(p["backend"])
    b, i, u = p["dims"]
    order, specs, outputs = ops_signature(p["method"], b, i, u, p["dtype"], p["loss"], p["activation"], p["metric"])
    bad = p["bad"]
    specs = dict(specs)
    must_raise = False
    any_name = False
    if "value" in p:  # a scalar argument replaced by a bad value
        specs[bad] = p["value"]
        must_raise = True
    elif p.get("change"):
        specs[bad] = reshape_recipe(specs[bad], p["change"])
        must_raise, any_name = True, True
    else:
        t = p["transform"]
        specs[bad] = specs[bad].with_transform(t, p.get("where", 0))
        must_raise = t in REJECTING
        any_name = t in CONVERTING
        if bad in outputs and t is not None and t not in NONFINITE and t not in WRITE_PRESERVING:
            must_raise = True  # read-only, another dtype, a list: nowhere to write the result
    built = {k: build(v) for k, v in specs.items() if isinstance(v, Arr)}
    args = {k: (built[k].value if k in built else v) for k, v in specs.items()}
    clean_built = {k: build(replace(v, transform=None)) for k, v in specs.items() if isinstance(v, Arr)}
    clean_args = None
    if not must_raise:
        clean_args = {k: (clean_built[k].value if k in clean_built else v) for k, v in specs.items()}
        source = built[bad].clean if bad in built else None
        if source is not None and bad in clean_args:
            clean_args[bad][...] = np.asarray(source, dtype=clean_args[bad].dtype)
    names = tuple(k for k in order if isinstance(specs[k], Arr)) if any_name else (bad,)
    if bad == "metric":
        names = ("metric", "metrics")
    method = getattr(ops, p["method"])
    tolerance_dtype = "float32" if p.get("transform") in ("float16", "float32") else p["dtype"]
    outcome = judge_call(method, order, args, bad, must_raise, outputs, clean_args, tolerance_dtype, names)
    if outcome.kind == "ok" or (outcome.kind == "raised" and p.get("check_guards_on_raise", True)):
        outcome.problems += guard_problems(built)
    outcome.value = repr(outcome.value)[:200]
    return outcome


def run_batch(payload: tuple[str, list]) -> list:
    """Run many cases of one runner ('name' of a function here) and return their outcomes in order."""
    runner, cases = payload
    function = globals()[runner]
    outcomes = []
    for case in cases:
        try:
            outcomes.append(function(case))
        except BaseException as error:  # noqa: BLE001 - a harness bug shows up as a failing case
            outcomes.append(
                Outcome(
                    "raised",
                    error_type=type(error).__name__,
                    message=str(error),
                    problems=[f"harness error: {traceback.format_exc()[-1500:]}"],
                )
            )
    return outcomes


def run_cases(backend: str, runner: str, cases: list, sandbox: Sandbox | None) -> list:
    """Run cases in the sandbox: crash-proof, hang-proof, and under a memory limit (numpy too, as a
    malformed huge view could make numpy itself allocate tens of GB)."""
    count_case(runner.removeprefix("run_").removesuffix("_case"))
    COUNTS[runner.removeprefix("run_").removesuffix("_case")] += len(cases) - 1
    if sandbox is None:
        with quiet():
            return run_batch((runner, cases))
    result = sandbox.run("tests.hardening_support:run_batch", (runner, cases))
    if isinstance(result, Outcome):  # the worker crashed or hung: re-run one by one to find the culprit
        outcomes = []
        for case in cases:
            single = sandbox.run("tests.hardening_support:run_batch", (runner, [case]))
            outcomes.append(single[0] if isinstance(single, list) else single)
            if not isinstance(single, list):
                break
        return outcomes
    return result


def failures(cases: list, outcomes: list, limit: int = 5) -> str:
    lines = [f"{case!r}\n    -> {problem}" for case, o in zip(cases, outcomes) for problem in o.problems[:1]]
    if not lines:
        return ""
    return f"{len(lines)} of {len(cases)} cases failed; first ones:\n" + "\n".join(lines[:limit])


# ------------------------------------------------------------------ network cases
NETWORK_METHODS = (
    "build_network",
    "predict",
    "prepare_training",
    "bind_training_data",
    "train_batch",
    "evaluate",
    "set_optimizer_state",
)
NOT_GIVEN = object()


def network_setup(p: dict) -> dict:
    """Clean recipes of one small two-stage network and its data (see run_network_case)."""
    n, i, h, u = p["dims"]
    dt = p["dtype"]
    sparse = p["loss"] == "sparse_categorical_crossentropy"
    return {
        "stages": [
            ("relu", Arr((i, h), dt, seed=11), Arr((h,), dt, seed=12)),
            (p["out_act"], Arr((h, u), dt, seed=13), Arr((u,), dt, seed=14) if p.get("bias", True) else None),
        ],
        "x": Arr((n, i), dt, seed=21),
        "y": Arr((n,), "int64", f"labels:{u}", 22) if sparse else Arr((n, u), dt, "prob", 22),
        "order": Arr((n,), "int64", f"labels:{n}", 23),
        "metrics": ("sparse_categorical_accuracy",) if sparse else ("mean_absolute_error", "binary_accuracy"),
    }


def _resolve(value, pick: str, built: dict, key: str):
    """Build recipes inside ``value``: pick "value" (as given) or "clean" (its clean equivalent)."""
    if isinstance(value, Arr):
        b = build(value)
        built[key] = b
        return b.value if pick == "value" else b.clean
    if isinstance(value, list):
        return [_resolve(v, pick, built, f"{key}[{j}]") for j, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _resolve(v, pick, built, f"{key}[{k!r}]") for k, v in value.items()}
    if isinstance(value, tuple) and value and value[0] == "stage":
        from cyneuron.backend.specs import StageSpec

        # ("stage", activation, kernel, bias, (in, units)): a dense stage whose shapes are the clean
        # kernel's, whatever was done to the kernel / bias recipes
        _, act, kernel, bias, (n_in, units) = value
        params = (_resolve(kernel, pick, built, f"{key}.kernel"),)
        if bias is not None:
            params += (_resolve(bias, pick, built, f"{key}.bias"),)
        return StageSpec("dense", (n_in,), (units,), {"activation": act}, params)
    return value


def _network_snapshot(net, stage_arrays: list, result) -> dict:
    snap = {f"w{j}": np.array(w, copy=True) for j, w in enumerate(stage_arrays) if isinstance(w, np.ndarray)}
    if isinstance(result, (np.ndarray, float, bool, np.floating)):
        snap["result"] = np.asarray(result, dtype=float)
    if net is not None:
        snap["stats"] = np.array(getattr(net, "stats", np.zeros(0)), dtype=float)
    return snap


def run_network_case(p: dict) -> Outcome:
    """A malformed argument in one Network call, then the same (and a follow-up) on clean arguments.

    p: backend dtype dims (n, i, h, u) out_act loss batch method bad + transform/change or value/clean_value.
    """
    from cyneuron.backend.base import LossSpec
    from tests.spec_support import sgd_spec

    ops = get_ops(p["backend"])
    setup = network_setup(p)
    n = p["dims"][0]
    batch = p["batch"]
    method = p["method"]
    bad = p["bad"]
    loss = LossSpec(p["loss"])
    sgd = sgd_spec(0.05, 0.9, False)

    # the call's arguments as recipes / values, in order
    stages = [("stage", a, k, b, tuple(k.shape)) for a, k, b in setup["stages"]]
    calls = {
        "build_network": {"stages": stages, "input_shape": p["dims"][1], "dtype": p["dtype"]},
        "predict": {"x": setup["x"], "batch_size": batch},
        "prepare_training": {"loss": loss, "metrics": setup["metrics"], "optimizer": sgd, "batch_size": batch},
        "bind_training_data": {"x": setup["x"], "y": setup["y"], "order": setup["order"]},
        "train_batch": {"start": 0, "stop": min(batch, n)},
        "evaluate": {"x": setup["x"], "y": setup["y"], "batch_size": batch},
        "set_optimizer_state": {"state": None},
    }
    args = dict(calls[method])
    must_raise = False
    names = (bad,)
    clean_override = NOT_GIVEN
    if method == "set_optimizer_state":
        shapes = [(p["dims"][1], p["dims"][2]), (p["dims"][2],), (p["dims"][2], p["dims"][3])]
        if p.get("bias", True):
            shapes.append((p["dims"][3],))
        # SGD with momentum: one slot ("momentum") per param, no scalars
        slots = [[Arr(s, p["dtype"], seed=40 + j)] for j, s in enumerate(shapes)]
        args["state"] = {"iterations": 0, "slots": slots, "scalars": np.zeros(0)}
    if "value" in p:
        clean_override = p.get("clean_value", NOT_GIVEN)
        must_raise = clean_override is NOT_GIVEN
        target = bad.split(".")[0]
        args[target] = p["value"]
        names = p.get("names", (bad,))
    else:
        # an array recipe malformed: bad is "x", "y", "order", "stages[s].kernel", "state[j]" (the slot of
        # param j)
        path = re.match(r"(\w+)(?:\[(\d+)\])?(?:\.(\w+))?", bad).groups()
        if path[0] == "stages":
            s = int(path[1])
            tag, act, kernel, bias, shape = args["stages"][s]
            recipe = kernel if path[2] == "kernel" else bias
            recipe = _malform(recipe, p)
            args["stages"] = list(args["stages"])
            args["stages"][s] = (
                (tag, act, recipe, bias, shape) if path[2] == "kernel" else (tag, act, kernel, recipe, shape)
            )
            if path[2] == "bias" and p.get("transform") == "none":
                must_raise = True  # would change the model; the harness never sends it
            # kernel and bias are a dense StageSpec's params[0] and params[1]
            names = ("stages", "params")
            # a network must hold the model's own arrays: a copy would lose every update
            if p.get("transform") not in (None, "matrix", "masked") + NONFINITE and not _usable_in_place(recipe):
                must_raise = True
        elif path[0] == "state":
            j = int(path[1])
            slots = [list(per_param) for per_param in args["state"]["slots"]]
            slots[j][0] = _malform(slots[j][0], p)
            args["state"] = dict(args["state"], slots=slots)
            names = ("state",)
        else:
            args[path[0]] = _malform(args[path[0]], p)
            names = (path[0],)
            if p.get("change") or p.get("transform") in CONVERTING:
                names = tuple(k for k in ("x", "y", "order") if k in args)
        t = p.get("transform")
        if (p.get("change") and not (method == "predict" and p["change"] == "grow_first")) or t in REJECTING:
            must_raise = True
        recipe_dtype = (setup["y"] if path[0] == "y" else setup["x"]).dtype if path[0] in ("x", "y") else ""
        if t in NONFINITE and path[0] in ("x", "y") and method != "predict" and recipe_dtype.startswith("float"):
            must_raise = True  # training / evaluating on NaN data must be refused
    if p.get("names"):
        names = p["names"]

    shuffle = [False]

    def run(pick: str):
        built: dict = {}
        resolved = {k: _resolve(v, pick, built, k) for k, v in args.items()}
        if pick == "clean" and clean_override is not NOT_GIVEN:
            resolved[bad.split(".")[0]] = clean_override
        base_stages = _resolve(stages, "clean", built, "stages")
        net = None
        if method != "build_network":
            net = ops.build_network(base_stages, p["dims"][1], p["dtype"])
            if method not in ("predict", "prepare_training"):
                net.prepare_training(loss, setup["metrics"], sgd, batch)
            if method == "train_batch":
                net.bind_training_data(*[_resolve(setup[k], "clean", built, k) for k in ("x", "y", "order")])
        source = resolved["stages"] if method == "build_network" else base_stages
        stage_arrays = [a for s in source for a in getattr(s, "params", ())] if isinstance(source, list) else []
        target = ops.build_network if method == "build_network" else getattr(net, method)
        outcome = call_capturing(target, **resolved)
        if outcome.kind != "ok":
            return outcome, None, built
        # follow-up: exercise what the call set up, on clean data
        if pick == "value":
            order = resolved.get("order")
            shuffle[0] = isinstance(order, np.ndarray) and order.flags.writeable
        step = batch
        size = resolved.get("batch_size")
        if method == "prepare_training" and isinstance(size, (int, np.integer)) and 0 < size < batch:
            step = int(size)  # an accepted smaller batch size: train with batches that fit it
        follow = call_capturing(
            _follow_up, ops, net, outcome.value, method, setup, loss, sgd, step, n, resolved, shuffle[0]
        )
        if follow.kind != "ok":
            outcome.problems.append(f"follow-up after accepting {bad} failed: {follow.describe()}")
            return outcome, None, built
        net = follow.value or net
        return outcome, _network_snapshot(net, stage_arrays, outcome.value), built

    bad_outcome, bad_snap, built = run("value")
    outcome = bad_outcome
    outcome.problems += guard_problems({k: v for k, v in built.items() if not k.startswith("stages")})
    if outcome.kind == "raised":
        if not outcome.value_or_type_error:
            outcome.problems.append(f"{bad}: wrong exception type {outcome.error_type}: {outcome.message}")
        elif not names_argument(outcome.message, names):
            outcome.problems.append(f"{bad}: message does not name {names}: {outcome.message!r}")
    elif must_raise:
        outcome.problems.append(f"{bad}: malformed value accepted")
    elif bad_snap is not None:
        clean_outcome, clean_snap, _ = run("clean")
        if clean_snap is None:
            outcome.problems.append(f"clean run failed: {clean_outcome.describe()} {clean_outcome.problems}")
        else:
            for key, value in clean_snap.items():
                if key not in bad_snap or not _same(bad_snap[key], value, p["dtype"]):
                    outcome.problems.append(f"{bad}: {key} differs from the clean run")
    outcome.value = repr(outcome.value)[:200]
    return outcome


def _usable_in_place(recipe: Arr) -> bool:
    """True when a transform left a valid weight array (e.g. Fortran order of a 1-D array)."""
    value = build(recipe).value
    clean = build(replace(recipe, transform=None)).value
    return (
        type(value) is np.ndarray
        and value.dtype == clean.dtype
        and value.shape == clean.shape
        and value.flags.c_contiguous
        and value.flags.writeable
    )


def _malform(recipe: Arr, p: dict) -> Arr:
    if p.get("change"):
        return reshape_recipe(recipe, p["change"])
    return recipe.with_transform(p.get("transform"), p.get("where", 0))


def _follow_up(ops, net, result, method, setup, loss, sgd, batch, n, resolved, shuffle):
    """After a call was accepted: run training on clean data so its effect shows in weights and stats."""
    built: dict = {}

    def clean(key):
        return _resolve(setup[key], "clean", built, key)

    if method == "build_network":
        net = result
    if method in ("build_network", "prepare_training", "set_optimizer_state"):
        if method == "build_network":
            net.prepare_training(loss, setup["metrics"], sgd, batch)
        net.bind_training_data(clean("x"), clean("y"), clean("order"))
        for start in range(0, n, batch):
            net.train_batch(start, min(start + batch, n))
    elif method == "bind_training_data":
        order = resolved["order"]
        if shuffle:
            order[...] = order[::-1].copy()  # the caller may shuffle in place between batches
        for start in range(0, n, batch):
            net.train_batch(start, min(start + batch, n))
    return net


# ------------------------------------------------------------------ front-end cases
FRONT_ENTRIES = ("Dense", "Sequential", "SGD", "compile", "fit", "evaluate", "predict", "set_weights")


def frontend_data(p: dict) -> dict:
    n, i, h, u = p["dims"]
    dt = p["dtype"]
    y_kind = {"mean_squared_error": "prob", "binary_crossentropy": "unit"}.get(p["loss"])
    y = Arr((n,), "int64", f"labels:{u}", 32) if y_kind is None else Arr((n, u), "float64", y_kind, 32)
    return {"x": Arr((n, i), "float64", seed=31), "y": y, "dtype": dt}


def _standard_model(p: dict, hidden=None, optimizer=None, compile_kwargs=None):
    from cyneuron import Input, Sequential
    from cyneuron.layers import Dense
    from cyneuron.optimizers import SGD
    from cyneuron.utils import set_random_seed

    n, i, h, u = p["dims"]
    out_act = "softmax" if p["loss"] == "sparse_categorical_crossentropy" else p["out_act"]
    set_random_seed(7)
    hidden = hidden if hidden is not None else Dense(h, activation="relu", dtype=p["dtype"])
    model = Sequential([Input((i,), dtype=p["dtype"]), hidden, Dense(u, activation=out_act, dtype=p["dtype"])])
    kwargs = {"optimizer": optimizer or SGD(0.05, momentum=0.9), "loss": p["loss"], "metrics": ["mae"]}
    if p["loss"] == "sparse_categorical_crossentropy":
        kwargs["metrics"] = ["accuracy"]
    kwargs.update(compile_kwargs or {})
    model.compile(**kwargs)
    return model


def _model_snapshot(model, x, result) -> dict:
    snap = {f"w{j}": np.array(w, dtype=float) for j, w in enumerate(model.weights)}
    if x is not None:
        snap["predict"] = np.asarray(model.predict(x, verbose=0), dtype=float)
    if (
        isinstance(result, (np.ndarray, float, np.floating))
        or isinstance(result, list)
        and all(isinstance(v, (float, np.floating)) for v in result)
    ):
        snap["result"] = np.asarray(result, dtype=float)
    elif hasattr(result, "history"):
        for key, values in sorted(result.history.items()):
            snap[f"history.{key}"] = np.asarray(values, dtype=float)
    return snap


def run_frontend_case(p: dict) -> Outcome:
    """A malformed argument to one public front-end entry point; compared with the clean call when accepted.

    p: backend dims (n, i, h, u) dtype out_act loss entry bad, plus transform/change (arrays) or value
    [clean_value] (scalars), must ("work" | "raise" | "either"), names.
    """
    import cyneuron
    from cyneuron.layers import Dense
    from cyneuron.optimizers import SGD

    cyneuron.set_backend(p["backend"])
    data = frontend_data(p)
    entry, bad = p["entry"], p["bad"]
    n, i, h, u = p["dims"]
    recipe = None
    if "value" not in p:
        base = {"x": data["x"], "y": data["y"], "val_x": data["x"], "val_y": data["y"]}.get(bad)
        if bad.startswith("weights"):
            base = Arr(tuple(p["weight_shapes"][int(bad[8:-1])]), p["dtype"], seed=50)
        recipe = (
            reshape_recipe(base, p["change"])
            if p.get("change")
            else base.with_transform(p.get("transform"), p.get("where", 0))
        )

    def argument(pick: str, built: dict):
        if recipe is None:
            return p["value"] if pick == "value" else p.get("clean_value")
        b = build(recipe)
        built[bad] = b
        return b.value if pick == "value" else b.clean

    def clean_array(key):
        return build(data[key]).value

    def scenario(pick: str):
        built: dict = {}
        value = argument(pick, built)
        x_clean = clean_array("x")
        fit_kwargs = {"batch_size": 2, "epochs": 2, "verbose": 0, "shuffle": False}
        model = None
        if entry == "Dense":
            kwargs = {"units": h, "activation": "relu", "dtype": p["dtype"], bad: value}
            outcome = call_capturing(lambda: Dense(**kwargs))
            if outcome.kind == "ok":
                model = _standard_model(p, hidden=outcome.value)
        elif entry == "SGD":
            kwargs = {"learning_rate": 0.05, "momentum": 0.9, bad: value}
            outcome = call_capturing(lambda: SGD(**kwargs))
            if outcome.kind == "ok":
                model = _standard_model(p, optimizer=outcome.value)
        elif entry in ("Input", "build"):
            from cyneuron import Input, Sequential

            layers = [Dense(h, activation="relu", dtype=p["dtype"]), Dense(u, activation="linear", dtype=p["dtype"])]
            if entry == "Input":
                outcome = call_capturing(lambda: Input(**{bad: value, "dtype": p["dtype"]}))
                if outcome.kind == "ok":
                    model = Sequential([outcome.value, *layers])
            else:
                model = Sequential(layers)
                outcome = call_capturing(lambda: model.build(value))
            if outcome.kind == "ok":
                model.compile(optimizer="sgd", loss="mse")
                outcome.value = None
                return outcome, _model_snapshot(model, None, None), built
        elif entry == "Sequential":
            from cyneuron import Sequential

            outcome = call_capturing(lambda: Sequential(**{bad: value}))
            if outcome.kind == "ok":
                model = outcome.value
                model.add(Dense(u, activation="linear", dtype=p["dtype"]))
                model.compile(optimizer="sgd", loss="mse")
                return outcome, _model_snapshot(model, None, None), built
        else:
            model = _standard_model(p)
            if entry == "compile":
                kwargs = {"optimizer": SGD(0.05, momentum=0.9), "loss": p["loss"], "metrics": None, bad: value}
                outcome = call_capturing(lambda: model.compile(**kwargs))
            elif entry == "fit":
                kwargs = dict(fit_kwargs, x=clean_array("x"), y=clean_array("y"))
                kwargs[bad] = value
                outcome = call_capturing(lambda: model.fit(**kwargs))
                if outcome.kind == "ok":
                    return outcome, _model_snapshot(model, x_clean, outcome.value), built
            elif entry == "evaluate":
                kwargs = {"x": clean_array("x"), "y": clean_array("y"), "batch_size": 2, "verbose": 0, bad: value}
                outcome = call_capturing(lambda: model.evaluate(**kwargs))
            elif entry == "predict":
                kwargs = {"x": clean_array("x"), "batch_size": 2, "verbose": 0, bad: value}
                outcome = call_capturing(lambda: model.predict(**kwargs))
                if outcome.kind == "ok":
                    return outcome, _model_snapshot(model, None, outcome.value), built
            elif entry == "validation":
                pair = {"val_x": clean_array("x"), "val_y": clean_array("y"), bad: value}
                kwargs = dict(fit_kwargs, x=clean_array("x"), y=clean_array("y"))
                kwargs["validation_data"] = (pair["val_x"], pair["val_y"])
                outcome = call_capturing(lambda: model.fit(**kwargs))
                if outcome.kind == "ok":
                    return outcome, _model_snapshot(model, x_clean, outcome.value), built
            elif entry in ("train_on_batch", "test_on_batch"):
                pair = {"x": clean_array("x"), "y": clean_array("y"), bad: value}
                outcome = call_capturing(lambda: getattr(model, entry)(pair["x"], pair["y"]))
                if outcome.kind == "ok":
                    return outcome, _model_snapshot(model, x_clean, outcome.value), built
            elif entry in ("predict_on_batch", "call"):
                method = model.predict_on_batch if entry == "predict_on_batch" else model
                outcome = call_capturing(lambda: method(value))
                if outcome.kind == "ok":
                    return outcome, _model_snapshot(model, None, outcome.value), built
            elif entry == "set_weights":
                weights = [build(Arr(tuple(s), p["dtype"], seed=50)).value for s in p["weight_shapes"]]
                if bad == "weights":
                    weights = value
                else:
                    weights[int(bad[8:-1])] = value
                outcome = call_capturing(lambda: model.set_weights(weights))
            else:
                raise ValueError(entry)
        if outcome.kind != "ok":
            return outcome, None, built
        follow = call_capturing(lambda: model.fit(clean_array("x"), clean_array("y"), **fit_kwargs))
        if follow.kind != "ok":
            outcome.problems.append(f"follow-up fit after accepting {bad} failed: {follow.describe()}")
            return outcome, None, built
        return outcome, _model_snapshot(model, x_clean, outcome.value), built

    outcome, snap, built = scenario("value")
    must = p.get("must", "either")
    names = p.get("names", (bad,))
    if outcome.kind == "raised":
        if must == "work":
            outcome.problems.append(f"{bad}: valid input refused: {outcome.error_type}: {outcome.message}")
        elif not outcome.value_or_type_error:
            outcome.problems.append(f"{bad}: wrong exception type {outcome.error_type}: {outcome.message}")
        elif not names_argument(outcome.message, names):
            outcome.problems.append(f"{bad}: message does not name {names}: {outcome.message!r}")
    elif must == "raise":
        outcome.problems.append(f"{bad}: malformed value accepted ({outcome.value!r:.100})")
    elif snap is not None:
        clean_outcome, clean_snap, _ = scenario("clean")
        if clean_snap is None:
            outcome.problems.append(f"clean run failed: {clean_outcome.describe()} {clean_outcome.problems}")
        else:
            for key, value in clean_snap.items():
                if key not in snap or not _same(snap[key], value, p["dtype"]):
                    outcome.problems.append(f"{bad}: {key} differs from the clean run")
            for key, value in snap.items():
                finite = np.isfinite(value).all()
                if entry != "set_weights" and not finite and key.startswith("w"):
                    outcome.problems.append(f"{bad}: weights became non-finite")
    outcome.value = repr(outcome.value)[:200]
    return outcome


# ------------------------------------------------------------------ lifetime cases
def run_lifetime_case(p: dict) -> Outcome:
    """Build / bind from temporaries the caller drops at once; the network must keep what it points into."""
    import gc

    from cyneuron.backend.base import LossSpec
    from tests.spec_support import dense_stage, sgd_spec

    ops = get_ops(p["backend"])
    rng = np.random.default_rng(p.get("seed", 0))
    n, i, h, u = 64, 16, 32, 4
    arrays = [rng.standard_normal(s) for s in ((i, h), (h,), (h, u), (u,))]
    x = rng.standard_normal((n, i))
    y = rng.standard_normal((n, u))

    def stages_of(ws):
        return [dense_stage("tanh", ws[0], ws[1]), dense_stage("linear", ws[2], ws[3])]

    reference = ops.build_network(stages_of([a.copy() for a in arrays]), i, np.float64)
    reference.prepare_training(LossSpec("mean_squared_error"), [], sgd_spec(0.01), 16)
    reference.bind_training_data(x.copy(), y.copy(), np.arange(n, dtype=np.int64))

    net = ops.build_network(stages_of([a.copy() for a in arrays]), i, np.float64)  # the only references
    net.prepare_training(LossSpec("mean_squared_error"), [], sgd_spec(0.01), 16)
    net.bind_training_data(x.copy(), y.copy(), np.arange(n, dtype=np.int64))
    gc.collect()
    junk = [np.full(s, 7.0) for s in ((i, h), (h,), (h, u), (u,), (n, i), (n, u), (n,)) for _ in range(8)]
    problems = []
    for start in range(0, n, 16):
        if reference.train_batch(start, start + 16) != net.train_batch(start, start + 16):
            problems.append("train_batch results differ")
    if not np.array_equal(reference.predict(x, 8), net.predict(x, 8)):
        problems.append("a network whose stage arrays / bound data were dropped by the caller computes garbage")
    if not np.array_equal(reference.stats, net.stats):
        problems.append("stats differ")
    del junk
    return Outcome("ok", problems=problems)
