"""Hardening: malformed input thrown at the backend kernels (``Ops``) and networks (``Network``).

Every case either works and matches the same call on a clean copy of its input,
or raises ValueError/TypeError whose message names the argument. Never a crash,
a hang, a write outside an output buffer, or an input modified in place.
Compiled-backend cases run in a worker subprocess (``hardening_support.Sandbox``),
so a segfault fails the test instead of killing pytest.

CI runs the "ci" hypothesis profile (tests/conftest.py). For a longer local search:

    HYPOTHESIS_PROFILE=dev PYTHONPATH=src python -m pytest tests/test_hardening_backend.py

Set ``HARDENING_COUNT_FILE=/tmp/counts.tsv`` to record how many cases ran.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from cyneuron.backend.base import ACTIVATIONS, LOSSES, METRICS, LossSpec
from cyneuron.backend.specs import FUSED_ACTIVATIONS
from tests import hardening_support as hs
from tests.conftest import cython_available

CYTHON = pytest.mark.skipif(not cython_available(), reason="compiled kernels not built")


@pytest.fixture(scope="module", autouse=True)
def _count_cases():
    yield
    hs.dump_counts(__name__)


@pytest.fixture(scope="module")
def sandbox():
    box = hs.Sandbox(timeout=60)
    yield box
    box.close()


FAMILIES = {
    "layout": ("fortran", "noncontig", "reversed", "readonly", "matrix", "masked"),
    "container": ("list", "tuple", "ragged", "scalar", "none"),
    "dtype": ("int32", "int64", "bool", "float16", "otherfloat", "object", "object_junk", "complex", "str"),
    "shape": hs.SHAPE_CHANGES,
    "huge": ("huge",),
    "nonfinite": ("nan", "inf", "-inf"),
}


# Families still failing on a backend (each with minimal reproducers in test_backend_known_bug below).
OPS_FAMILY_BUGS: dict = {}


def ops_params():
    params = []
    for family in (*FAMILIES, "names"):
        for name in ("numpy", "cython"):
            marks = [CYTHON] if name == "cython" else []
            if (name, family) in OPS_FAMILY_BUGS:
                marks.append(hs.xfail_bug(OPS_FAMILY_BUGS[name, family]))
            params.append(pytest.param(name, family, marks=marks, id=f"{name}-{family}"))
    return params


setups = st.fixed_dictionaries(
    {
        "dims": st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 4)),
        "dtype": st.sampled_from(["float32", "float64"]),
        "activation": st.sampled_from(ACTIVATIONS),
        "loss": st.tuples(st.sampled_from(LOSSES), st.booleans()),
        "metric": st.sampled_from(METRICS),
        "where": st.integers(0, 1000),
    }
)

BAD_SCALARS = {
    "activation": ["swish", "RELU", "", None, 3, b"relu"],
    "loss": [LossSpec("focal_crossentropy"), "mean_squared_error", None, LossSpec(None)],
    "metric": ["auc", "mse", None, 1],
}


def ops_cases(backend: str, family: str, setup: dict, choice: str) -> list[dict]:
    """Every (method, argument) pair of the Ops interface malformed with ``choice``."""
    cases = []
    b, i, u = setup["dims"]
    for method in hs.OPS_METHODS:
        _, specs, _ = hs.ops_signature(
            method, b, i, u, setup["dtype"], setup["loss"], setup["activation"], setup["metric"]
        )
        base = dict(setup, backend=backend, method=method)
        for name, spec in specs.items():
            if family == "names":
                if name in BAD_SCALARS:
                    cases += [dict(base, bad=name, value=v) for v in BAD_SCALARS[name]]
                continue
            if not isinstance(spec, hs.Arr):
                continue
            if choice == "none" and name in ("bias", "grad_bias_out", "grad_x_out"):
                continue  # None is a documented value there
            if family == "shape":
                if choice == "rank_down" and len(spec.shape) == 1 and method != "sgd_update":
                    continue
                labels = isinstance(specs.get("y_true"), hs.Arr) and specs["y_true"].kind.startswith("labels")
                if name == "y_pred" and choice == "grow_last" and labels and method in ("loss_value", "metric_value"):
                    continue  # more columns than the labels need is a valid call
                cases.append(dict(base, bad=name, change=choice))
            else:
                transform = choice
                if choice == "otherfloat":
                    transform = "float32" if setup["dtype"] == "float64" else "float64"
                if transform == spec.dtype:
                    continue
                cases.append(dict(base, bad=name, transform=transform))
    return cases


# Each example already runs every (method, argument) pair and reports them all: shrinking adds nothing.
NO_SHRINK = settings(phases=(Phase.explicit, Phase.reuse, Phase.generate))


@pytest.mark.parametrize(("backend_name", "family"), ops_params())
@NO_SHRINK
@given(setup=setups, data=st.data())
def test_ops_kernels_reject_or_handle_malformed_arguments(backend_name, family, setup, data, sandbox):
    choice = data.draw(st.sampled_from(FAMILIES.get(family, ("-",))), label="malformation")
    cases = ops_cases(backend_name, family, setup, choice)
    outcomes = hs.run_cases(backend_name, "run_ops_case", cases, sandbox)
    report = hs.failures(cases, outcomes)
    assert not report, report


@pytest.mark.parametrize("backend_name", ["numpy", pytest.param("cython", marks=CYTHON)])
def test_ops_kernels_accept_clean_arguments(backend_name, sandbox):
    """The harness itself: well-formed calls work, match themselves and leave every guard cell intact."""
    cases = []
    for loss in LOSSES:
        for activation in ACTIVATIONS:
            for metric in METRICS:
                for method in hs.OPS_METHODS:
                    setup = {
                        "dims": (3, 4, 2),
                        "dtype": "float32" if len(cases) % 2 else "float64",
                        "activation": activation,
                        "loss": (loss, len(cases) % 3 == 0),
                        "metric": metric,
                    }
                    _, specs, _ = hs.ops_signature(method, 3, 4, 2, "float64", setup["loss"], activation, metric)
                    first = next(k for k, v in specs.items() if isinstance(v, hs.Arr))
                    cases.append(dict(setup, backend=backend_name, method=method, bad=first, transform=None))
    outcomes = hs.run_cases(backend_name, "run_ops_case", cases, sandbox)
    assert all(o.kind == "ok" and not o.problems for o in outcomes), hs.failures(cases, outcomes)


# ======================================================================= networks
NETWORK_SCALARS = {
    # argument: [(bad value, clean equivalent or None when it must be refused)]
    "batch_size": [
        (0, None),
        (-1, None),
        (1.5, None),
        (None, None),
        ("4", None),
        (float("nan"), None),
        (np.int32(3), 3),
        (2**40, "n"),
    ],
    "input_shape": [
        (0, None),
        (-1, None),
        (2.5, None),
        (None, None),
        ("3", None),
        ("+1", None),
        (np.int64(-5), None),
        ((), None),
        ((0,), None),
        ([3], None),
    ],
    "dtype": [("float16", None), ("int64", None), ("complex128", None), ("nonsense", None), (np.float16, None)],
    "loss": [("mean_squared_error", None), (LossSpec("focal_crossentropy"), None), (None, None)],
    "metrics": [
        (["auc"], None),
        ("binary_accuracy", None),
        ([None], None),
        (["sparse_categorical_accuracy"], None),
    ],
    "optimizer": [(None, None), ("sgd", None)],
    "start": [(-1, None), (1.5, None), (None, None), ("0", None)],
    "stop": [("+3", None), (0, None), (2.5, None), (None, None)],
    "stages": [([], None), (None, None), ("relu", None)],
}
NETWORK_ARRAYS = {
    "build_network": ["stages[0].kernel", "stages[1].kernel", "stages[0].bias", "stages[1].bias"],
    "predict": ["x"],
    "bind_training_data": ["x", "y", "order"],
    "evaluate": ["x", "y"],
    "set_optimizer_state": ["state[0]", "state[1]", "state[2]"],
}
NETWORK_SCALAR_ARGS = {
    "build_network": ["input_shape", "dtype", "stages"],
    "predict": ["batch_size"],
    "prepare_training": ["loss", "metrics", "optimizer", "batch_size"],
    "train_batch": ["start", "stop"],
    "evaluate": ["batch_size"],
}

network_setups = st.fixed_dictionaries(
    {
        "dims": st.tuples(st.integers(1, 6), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3)),
        "dtype": st.sampled_from(["float32", "float64"]),
        "out_act": st.sampled_from(FUSED_ACTIVATIONS),  # the ones a dense stage fuses
        "loss": st.sampled_from(["mean_squared_error", "sparse_categorical_crossentropy", "binary_crossentropy"]),
        "batch": st.integers(1, 4),
        "bias": st.booleans(),
        "where": st.integers(0, 1000),
    }
)


def network_cases(backend: str, family: str, setup: dict, choice: str) -> list[dict]:
    n, i, h, u = setup["dims"]
    base = dict(setup, backend=backend)
    if setup["loss"] == "sparse_categorical_crossentropy":
        base["out_act"] = "softmax"
    cases = []
    if family == "scalars":
        for method, names in NETWORK_SCALAR_ARGS.items():
            for name in names:
                for value, clean in NETWORK_SCALARS[name]:
                    if value == "+1":
                        value = i + 1
                        # the first stage's in_shape then does not take the input's features
                        cases.append(dict(base, method=method, bad=name, value=value, names=("input_shape", "stages")))
                        continue
                    elif value == "+3":
                        value = n + 3
                    if name == "metrics" and value == ["sparse_categorical_accuracy"] and "sparse" in setup["loss"]:
                        continue
                    case = dict(base, method=method, bad=name, value=value)
                    if clean is not None:
                        case["clean_value"] = n if clean == "n" else clean
                    if name in ("start", "stop"):
                        case["names"] = ("start", "stop")
                    if name == "dtype":
                        case["names"] = ("dtype", "params", "stages")
                    cases.append(case)
        return cases
    for method, names in NETWORK_ARRAYS.items():
        for name in names:
            if name == "stages[1].bias" and not setup["bias"]:
                continue
            if choice == "none" and name.startswith("stages"):
                continue  # None is a documented value (no bias / a bare activation stage)
            if name == "stages[1].kernel" and not setup["bias"] and choice in ("grow_last", "rank_down"):
                continue  # more output units is a different, valid network
            if family == "shape":
                if choice == "rank_down" and (name in ("y", "order") or name.endswith("bias") or name == "state[1]"):
                    if name == "y" and "sparse" not in setup["loss"]:
                        pass
                    else:
                        continue
                cases.append(dict(base, method=method, bad=name, change=choice))
            else:
                transform = choice
                if choice == "otherfloat":
                    transform = "float32" if setup["dtype"] == "float64" else "float64"
                cases.append(dict(base, method=method, bad=name, transform=transform))
    return cases


NETWORK_FAMILIES = dict(FAMILIES, masked_nan=("masked_nan",), scalars=("-",))


# Known failures, each with a minimal reproducer in test_network_known_bugs below.
NETWORK_FAMILY_BUGS: dict = {}


def network_params():
    params = []
    for family in NETWORK_FAMILIES:
        for name in ("numpy", "cython"):
            marks = [CYTHON] if name == "cython" else []
            if (name, family) in NETWORK_FAMILY_BUGS:
                marks.append(hs.xfail_bug(NETWORK_FAMILY_BUGS[name, family]))
            params.append(pytest.param(name, family, marks=marks, id=f"{name}-{family}"))
    return params


@pytest.mark.parametrize(("backend_name", "family"), network_params())
@NO_SHRINK
@given(setup=network_setups, data=st.data())
def test_network_methods_reject_or_handle_malformed_arguments(backend_name, family, setup, data, sandbox):
    choice = data.draw(st.sampled_from(NETWORK_FAMILIES[family]), label="malformation")
    cases = network_cases(backend_name, family, setup, choice)
    outcomes = hs.run_cases(backend_name, "run_network_case", cases, sandbox)
    report = hs.failures(cases, outcomes)
    assert not report, report


# ================================================================ known bugs, one minimal case each
NET = {
    "dims": (4, 3, 2, 2),
    "dtype": "float64",
    "out_act": "sigmoid",
    "loss": "mean_squared_error",
    "batch": 2,
    "bias": True,
    "where": 1,
}
OPS = {
    "dims": (3, 4, 2),
    "dtype": "float64",
    "activation": "relu",
    "loss": ("mean_squared_error", False),
    "metric": "binary_accuracy",
    "where": 0,
}
BOTH = ("numpy", "cython")
KNOWN_BUGS = [
    # (id, backends, runner, case, reason)
    (
        "predict-batch_size-negative",
        ("numpy",),
        "run_network_case",
        dict(NET, method="predict", bad="batch_size", value=-1),
        "NumpyNetwork.predict(x, batch_size=-1) returns np.empty garbage (range() with a negative step never runs)",
    ),
    (
        "predict-batch_size-zero",
        ("numpy",),
        "run_network_case",
        dict(NET, method="predict", bad="batch_size", value=0),
        "NumpyNetwork.predict(x, 0) raises 'range() arg 3 must not be zero', not naming batch_size",
    ),
    (
        "prepare-batch_size-zero",
        ("numpy",),
        "run_network_case",
        dict(NET, method="prepare_training", bad="batch_size", value=0),
        "NumpyNetwork.prepare_training accepts batch_size=0 (and -1, None, '4')",
    ),
    (
        "prepare-batch_size-huge",
        ("cython",),
        "run_network_case",
        dict(NET, method="prepare_training", bad="batch_size", value=2**40, clean_value=4),
        "NetworkCore.prepare_training(batch_size=2**40) allocates the workspace eagerly: MemoryError",
    ),
    (
        "prepare-optimizer-none",
        ("numpy",),
        "run_network_case",
        dict(NET, method="prepare_training", bad="optimizer", value=None),
        "NumpyNetwork.prepare_training(optimizer=None) accepted; train_batch then raises AttributeError",
    ),
    (
        "prepare-sparse-metric-dense-loss",
        ("numpy",),
        "run_network_case",
        dict(NET, method="prepare_training", bad="metrics", value=["sparse_categorical_accuracy"]),
        "NumpyNetwork accepts sparse_categorical_accuracy with a dense loss (the cython network refuses it)",
    ),
    (
        "train_batch-stop-past-end",
        ("numpy",),
        "run_network_case",
        dict(NET, method="train_batch", bad="stop", value=7, names=("start", "stop")),
        "NumpyNetwork.train_batch(0, n + 3) / (-1, 2) / (0, 0) accepted (no range check, unlike NetworkCore)",
    ),
    (
        "train_batch-float-start",
        ("cython",),
        "run_network_case",
        dict(NET, method="train_batch", bad="start", value=1.5, names=("start", "stop")),
        "NetworkCore.train_batch(1.5, 2): Cython's 'cannot be interpreted as an integer', not naming start",
    ),
    (
        "bind-y-none",
        BOTH,
        "run_network_case",
        dict(NET, method="bind_training_data", bad="y", transform="none"),
        "bind_training_data(x, None, order): 'need more than 2 values to unpack' (cython) / accepted (numpy)",
    ),
    (
        "evaluate-y-none",
        BOTH,
        "run_network_case",
        dict(NET, method="evaluate", bad="y", transform="none"),
        "evaluate(x, None, 2): 'not enough values to unpack', not naming y",
    ),
    (
        "bind-x-nan-under-mask",
        BOTH,
        "run_network_case",
        dict(NET, method="bind_training_data", bad="x", transform="masked_nan"),
        "check_network_data: np.isfinite(masked).all() ignores masked cells, so a NaN under a mask is accepted",
    ),
    (
        "build-dtype-nonsense",
        BOTH,
        "run_network_case",
        dict(NET, method="build_network", bad="dtype", value="nonsense"),
        "check_dtype: np.dtype('nonsense') raises \"data type 'nonsense' not understood\", not naming dtype",
    ),
    (
        "build-stages-none",
        BOTH,
        "run_network_case",
        dict(NET, method="build_network", bad="stages", value=None),
        "build_network(None, ...): \"'NoneType' object is not iterable\", not naming stages",
    ),
    (
        "build-stages-str",
        BOTH,
        "run_network_case",
        dict(NET, method="build_network", bad="stages", value="relu"),
        "build_network('relu', ...): AttributeError instead of TypeError naming stages",
    ),
    (
        "state-ragged",
        BOTH,
        "run_network_case",
        dict(NET, method="set_optimizer_state", bad="state[0]", transform="ragged"),
        "set_optimizer_state with a ragged nested list: numpy's 'inhomogeneous shape' error, not naming state",
    ),
    (
        "state-str",
        ("numpy",),
        "run_network_case",
        dict(NET, method="set_optimizer_state", bad="state[0]", transform="str"),
        "NumpyNetwork.set_optimizer_state accepts a str array (numeric strings are parsed)",
    ),
    (
        "state-complex",
        ("numpy",),
        "run_network_case",
        dict(NET, method="set_optimizer_state", bad="state[0]", transform="complex"),
        "NumpyNetwork.set_optimizer_state with complex velocities: ComplexWarning, imaginary part silently dropped",
    ),
    (
        "evaluate-y-matrix",
        ("numpy",),
        "run_network_case",
        dict(NET, method="evaluate", bad="y", transform="matrix"),
        "NumpyNetwork accepts np.matrix y (check_array uses isinstance), then matrix '*' is a matrix product",
    ),
    (
        "predict-x-masked",
        ("numpy",),
        "run_network_case",
        dict(NET, method="predict", bad="x", transform="masked"),
        "NumpyNetwork.predict(masked array): numpy.ma broadcasting error, not naming x",
    ),
    (
        "ops-loss_value-matrix-silently-wrong",
        ("numpy",),
        "run_ops_case",
        dict(OPS, dims=(2, 3, 2), method="loss_value", bad="y_true", transform="matrix"),
        "NumpyOps.loss_value(mse, y_true=np.matrix (2, 2), y_pred) returns 0.0348 instead of 0.0820: (y_pred - y) ** 2 "
        "is a matrix power for np.matrix; silently wrong",
    ),
    (
        "ops-dense_forward-shape",
        ("numpy",),
        "run_ops_case",
        dict(OPS, method="dense_forward", bad="x", change="grow_last"),
        "NumpyOps.dense_forward with mismatched x/kernel: numpy's matmul error, not naming an argument",
    ),
    (
        "ops-sgd_update-list",
        ("numpy",),
        "run_ops_case",
        dict(OPS, method="sgd_update", bad="param", transform="list"),
        "NumpyOps.sgd_update(param=list): AttributeError",
    ),
    (
        "ops-loss_value-complex",
        ("numpy",),
        "run_ops_case",
        dict(OPS, method="loss_value", bad="y_pred", transform="complex"),
        "NumpyOps.loss_value(complex y_pred): accepted or ComplexWarning, no named error",
    ),
    (
        "ops-readonly-out",
        ("numpy",),
        "run_ops_case",
        dict(OPS, method="activation_forward", bad="out", transform="readonly"),
        "NumpyOps.activation_forward(read-only out): numpy's 'assignment destination is read-only', not naming out",
    ),
    (
        "ops-huge-view",
        ("numpy",),
        "run_ops_case",
        dict(OPS, method="sgd_update", bad="grad", transform="huge"),
        "NumpyOps.sgd_update with a 2**31-row zero-stride grad tries to allocate 32 GiB (MemoryError)",
    ),
]


# Reproducers fixed since they were found: they stay as regression tests.
FIXED = {
    ("cython", "prepare-batch_size-huge"),
    ("numpy", "prepare-optimizer-none"),
    ("numpy", "prepare-sparse-metric-dense-loss"),
    ("cython", "train_batch-float-start"),
    ("numpy", "bind-x-nan-under-mask"),
    ("cython", "bind-x-nan-under-mask"),
    ("cython", "build-dtype-nonsense"),
    ("cython", "build-stages-none"),
    ("numpy", "build-stages-str"),
    ("cython", "build-stages-str"),
    ("numpy", "state-ragged"),
    ("cython", "state-ragged"),
    ("numpy", "state-str"),
    ("numpy", "state-complex"),
    ("numpy", "ops-dense_forward-shape"),
    ("numpy", "ops-sgd_update-list"),
    ("numpy", "ops-loss_value-complex"),
    ("numpy", "ops-readonly-out"),
    ("numpy", "ops-huge-view"),
    ("numpy", "predict-batch_size-negative"),
    ("numpy", "predict-batch_size-zero"),
    ("numpy", "prepare-batch_size-zero"),
    ("numpy", "train_batch-stop-past-end"),
    ("numpy", "bind-y-none"),
    ("cython", "bind-y-none"),
    ("numpy", "evaluate-y-none"),
    ("cython", "evaluate-y-none"),
    ("numpy", "build-dtype-nonsense"),
    ("numpy", "evaluate-y-matrix"),
    ("numpy", "predict-x-masked"),
    ("numpy", "build-stages-none"),
    ("numpy", "ops-loss_value-matrix-silently-wrong"),
}


def known_bug_params():
    for ident, backends, runner, case, reason in KNOWN_BUGS:
        for name in backends:
            marks = [CYTHON] if name == "cython" else []
            if (name, ident) not in FIXED:
                marks.append(hs.xfail_bug(reason))
            yield pytest.param(name, runner, case, marks=marks, id=f"{name}-{ident}")


@pytest.mark.parametrize(("backend_name", "runner", "case"), list(known_bug_params()))
def test_backend_known_bug(backend_name, runner, case, sandbox):
    """Minimal reproducers of the bugs the fuzz tests above found (xfail until fixed, then regression tests)."""
    case = dict(case, backend=backend_name)
    [outcome] = hs.run_cases(backend_name, runner, [case], sandbox)
    assert not outcome.problems, f"{case}\n -> {outcome.problems}"


def test_known_bug_cases_pass_when_clean(sandbox):
    """The reproducers' setups are valid: without the malformation every call works on both backends."""
    cases = []
    for _ident, _backends, runner, case, _reason in KNOWN_BUGS:
        clean = {k: v for k, v in case.items() if k not in ("value", "change", "transform", "names")}
        clean["transform"] = None
        if runner == "run_network_case" and "value" in case:
            continue  # a scalar replaced: the clean call is the fuzz tests' job
        for name in ("numpy", "cython") if cython_available() else ("numpy",):
            cases.append((runner, dict(clean, backend=name)))
    for runner, case in cases:
        [outcome] = hs.run_cases(case["backend"], runner, [case], sandbox)
        assert outcome.kind == "ok" and not outcome.problems, f"{case}\n -> {outcome.describe()} {outcome.problems}"


@pytest.mark.parametrize("backend_name", ["numpy", pytest.param("cython", marks=CYTHON)])
def test_network_keeps_alive_what_it_points_into(backend_name, sandbox):
    """Stages and bound data built from temporaries: a network holding raw pointers must hold references too."""
    cases = [{"backend": backend_name, "seed": seed} for seed in range(3)]
    outcomes = hs.run_cases(backend_name, "run_lifetime_case", cases, sandbox)
    assert all(not o.problems and o.kind == "ok" for o in outcomes), hs.failures(cases, outcomes)


WIDE_STAGE = """
import resource
import numpy as np
from tests.hardening_support import get_ops
from tests.spec_support import dense_stage
# room to map the 8 GiB kernel, not for a second array of that size (np.zeros_like would touch every page)
resource.setrlimit(resource.RLIMIT_AS, (10 * 2**30, 10 * 2**30))
try:
    kernel = np.empty((1, 2**31 + 7), dtype=np.float32)  # mapped, never touched
except MemoryError:
    print("NOMAP")
    raise SystemExit
try:
    network = get_ops({backend!r}).build_network([dense_stage("linear", kernel)], 1, np.float32)
except (ValueError, TypeError) as error:
    print("REFUSED", type(error).__name__, error)
except MemoryError as error:
    print("ACCEPTED, then tried to allocate:", error)
else:
    print("ACCEPTED")
"""


@pytest.mark.skipif(hs.SANITIZED, reason="needs an address-space limit, which AddressSanitizer cannot run under")
@pytest.mark.parametrize(
    "backend_name",
    [
        # numpy computes with 64-bit sizes, so only the compiled network must refuse such a stage
        pytest.param(
            "cython",
            marks=[CYTHON],
        ),
    ],
)
def test_network_refuses_widths_beyond_32_bits(backend_name):
    """A stage 2**31 + 7 units wide (mapped, never touched): refused before any computation."""
    result = hs.run_python(WIDE_STAGE.format(backend=backend_name), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    if result.stdout.startswith("NOMAP"):
        pytest.skip("cannot map 8 GiB here")
    assert result.stdout.startswith("REFUSED"), result.stdout
    assert "stages[0]" in result.stdout  # the stage too wide is named
