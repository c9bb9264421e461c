"""Hardening: malformed input thrown at the Keras-style front end.

Entry points: ``Dense(...)``, ``Sequential(...)``, ``SGD(...)``, ``compile``, ``fit``, ``evaluate``,
``predict``, ``set_weights``. Each malformed call either works and gives the same result as the call
on a clean copy of its input (array-likes of another layout, dtype or container are converted once),
or raises ValueError/TypeError naming the argument; never a crash, a hang, a huge allocation, or
weights silently turned to NaN. Cases run in a worker subprocess (``hardening_support.Sandbox``)
under an address-space limit, on both backends.

CI runs the "ci" hypothesis profile (tests/conftest.py); for a longer local search:

    HYPOTHESIS_PROFILE=dev PYTHONPATH=src python -m pytest tests/test_hardening_frontend.py
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from tests import hardening_support as hs
from tests.conftest import cython_available

CYTHON = pytest.mark.skipif(not cython_available(), reason="compiled kernels not built")
NO_SHRINK = settings(phases=(Phase.explicit, Phase.reuse, Phase.generate))
NAN = float("nan")
INF = float("inf")


@pytest.fixture(scope="module", autouse=True)
def _count_cases():
    yield
    hs.dump_counts(__name__)


@pytest.fixture(scope="module")
def sandbox():
    box = hs.Sandbox(timeout=60)
    yield box
    box.close()


# argument -> [(bad value, clean equivalent)]; clean None: must raise; "same": must work, equal to itself
SCALARS = {
    ("Dense", "units"): [(0, None), (-1, None), (2.5, None), ("3", None), (None, None), (True, None), (NAN, None)],
    ("Dense", "activation"): [("Swish", None), ("glu", None), (3, None), ("", None)],
    ("Dense", "use_bias"): [("yes", None), (None, None), (1, None)],
    ("Dense", "kernel_initializer"): [("nope", None), (3, None)],
    ("Dense", "input_dim"): [(0, None), (-1, None), (2.5, None), ("3", None)],
    ("Dense", "input_shape"): [((0,), None), ((-1,), None), ("3", None), ((2.5,), None), ((), None)],
    ("Dense", "dtype"): [("float16", None), ("int32", None), ("nonsense", None), ("complex64", None)],
    ("Dense", "name"): [(3, None), ("", None)],
    ("Input", "shape"): [
        ((0,), None),
        ((-1,), None),
        ((2.5,), None),
        ("3", None),
        ((), None),
        ((None,), None),
        ((3, None), None),
        (NAN, None),
    ],
    ("Input", "batch_shape"): [((0, 3), None), ((None,), None), ("abc", None), ((None, 0), None), (3, None)],
    ("build", "input_shape"): [
        ((None, 0), None),
        ("abc", None),
        ((None,), None),
        (3, None),
        ((None, -2), None),
        ((None, 2.5), None),
        ((None, "3"), None),
    ],
    ("Sequential", "layers"): [("dense", None), ([None], None), ([3], None), (3, None)],
    ("Sequential", "name"): [(3, None), ("", None)],
    ("SGD", "learning_rate"): [
        (NAN, None),
        (INF, None),
        (-1.0, None),
        (0.0, None),
        ("0.1", None),
        (None, None),
        (1e400, None),
        (True, None),
    ],
    ("SGD", "momentum"): [(NAN, None), (-0.5, None), (1.5, None), (2, None), ("0.9", None), (INF, None)],
    ("SGD", "nesterov"): [("yes", None), (None, None), (2, None)],
    ("compile", "optimizer"): [("adamx", None), (3, None), (NAN, None)],
    ("compile", "loss"): [("nope", None), (3, None), ([], None)],
    ("compile", "metrics"): [(["nope"], None), ([3], None), ("accuracy", None), ({"a": 1}, None)],
    ("fit", "batch_size"): [(0, None), (-1, None), (1.5, None), ("4", None), (NAN, None), (True, None), (10**12, "n")],
    ("fit", "epochs"): [(-1, None), (1.5, None), ("2", None), (NAN, None), (True, None)],
    ("fit", "verbose"): [("loud", None), (5, None), (-1, None), (1.5, None)],
    ("fit", "validation_split"): [(-0.1, None), (1.0, None), (NAN, None), ("0.2", None), (2, None)],
    ("fit", "shuffle"): [("yes", None), (None, None), (1, None)],
    ("fit", "initial_epoch"): [(-1, None), (1.5, None), (NAN, None)],
    ("fit", "validation_data"): [("abc", None), ((1,), None), (3, None)],
    ("fit", "callbacks"): [("cb", None), ([3], None), (3, None)],
    ("fit", "class_weight"): [("abc", None), ([1.0], None), ({0: -1.0}, None), ({0: NAN}, None), ({"a": 1.0}, None)],
    ("fit", "validation_freq"): [(0, None), (1.5, None)],
    ("evaluate", "batch_size"): [(0, None), (-1, None), (1.5, None), ("4", None), (NAN, None), (10**12, "n")],
    ("evaluate", "verbose"): [("loud", None), (-1, None)],
    ("predict", "batch_size"): [(0, None), (-1, None), (1.5, None), ("4", None), (NAN, None), (10**12, "n")],
    ("predict", "verbose"): [("loud", None), (-1, None)],
    ("set_weights", "weights"): [(None, None), ("abc", None), (3, None), ([], None), ({"a": 1}, None)],
}

# array transforms: what the front end must do with them
MUST_WORK = (
    "fortran",
    "noncontig",
    "reversed",
    "readonly",
    "matrix",
    "masked",
    "list",
    "tuple",
    "int32",
    "int64",
    "bool",
    "float16",
    "float32",
    "float64",
)
MUST_RAISE = hs.REJECTING
ARRAY_ARGS = {
    "fit": ("x", "y"),
    "evaluate": ("x", "y"),
    "predict": ("x",),
    "set_weights": ("weights[0]", "weights[1]"),
    "validation": ("val_x", "val_y"),  # fit(validation_data=(val_x, val_y))
    "train_on_batch": ("x", "y"),
    "test_on_batch": ("x", "y"),
    "predict_on_batch": ("x",),
    "call": ("x",),  # model(x)
}

setups = st.fixed_dictionaries(
    {
        "dims": st.tuples(st.integers(2, 6), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3)),
        "dtype": st.sampled_from(["float32", "float64"]),
        "out_act": st.sampled_from(["linear", "sigmoid", "tanh", "relu", "softmax"]),
        "loss": st.sampled_from(["mean_squared_error", "binary_crossentropy", "sparse_categorical_crossentropy"]),
        "where": st.integers(0, 1000),
    }
)


def expected_for_array(entry: str, arg: str, transform: str | None, change: str | None, setup: dict) -> tuple:
    """(must, names) for an array argument malformed by ``transform`` or ``change``."""
    n, i, h, u = setup["dims"]
    sparse = setup["loss"] == "sparse_categorical_crossentropy"
    both = ("x", "y") if entry in ("fit", "evaluate", "train_on_batch", "test_on_batch") else (arg,)
    if arg.startswith("val_"):
        # judged like fit's x / y, reported against validation_data
        must, _ = expected_for_array("fit", arg[4:], transform, change, setup)
        return must, ("validation_data",)
    predicting = entry in ("predict", "predict_on_batch", "call")
    if arg.startswith("weights"):
        both = ("weights",)
    if change:
        if change == "rank_up" and arg == "x":
            return "work", both  # a trailing axis of size 1 is squeezed, as Keras does
        if change == "rank_up" and arg == "y":
            return "either", both  # Keras squeezes it in the loss; refusing it with a clear error is fine too
        if change == "rank_down" and arg == "x" and i == 1:
            return "work", both
        if change == "rank_down" and arg == "y" and not sparse and u == 1:
            return "work", both
        if change == "grow_first" and predicting:
            return "work", both
        return "raise", both
    one_d = arg == "weights[1]" or (arg == "y" and sparse)
    if transform == "matrix" and one_d:
        return "skip", both  # np.matrix of a 1-D array is (1, n): another shape, not another layout
    if transform == "masked_nan":
        return ("either", both) if (arg.startswith("weights") or predicting) else ("raise", (arg,))
    if transform in MUST_RAISE:
        return "raise", both if arg.startswith("weights") else (arg,)
    if transform in hs.NONFINITE:
        if arg.startswith("weights") or predicting:
            return "either", both
        if arg == "y" and sparse:
            return "work", both  # labels are ints: the transform leaves them unchanged
        return "raise", (arg,)
    if transform == "object":
        return "either", both if arg.startswith("weights") else (arg,)
    if transform in ("float16", "float32", "float64", "bool") and arg == "y" and sparse:
        return "work", both
    return "work", both


def frontend_cases(backend: str, family: str, setup: dict, choice: str) -> list[dict]:
    n, i, h, u = setup["dims"]
    if setup["loss"] == "sparse_categorical_crossentropy" and u == 1:
        # one softmax unit with labels: compile(metrics=["accuracy"]) is refused by design
        u = 2
        setup = dict(setup, dims=(n, i, h, u))
    base = dict(setup, backend=backend)
    if setup["loss"] == "sparse_categorical_crossentropy":
        base["out_act"] = "softmax"
    shapes = [(i, h), (h,), (h, u), (u,)]
    base["weight_shapes"] = shapes
    cases = []
    if family == "scalars":
        for (entry, name), values in SCALARS.items():
            for value, clean in values:
                case = dict(base, entry=entry, bad=name, value=value, must="raise" if clean is None else "work")
                if clean is not None:
                    case["clean_value"] = n if clean == "n" else clean
                if name == "weights":
                    case["names"] = ("weights",)
                if name == "layers":
                    case["names"] = ("layers", "layer")  # Sequential(layers) reports add(layer)'s check
                cases.append(case)
        return cases
    for entry, args in ARRAY_ARGS.items():
        for arg in args:
            if family == "shape":
                if arg == "y" and setup["loss"] == "sparse_categorical_crossentropy" and choice == "grow_last":
                    continue  # labels are 1-D: growing the last axis is growing the sample count
                must, names = expected_for_array(entry, arg, None, choice, setup)
                cases.append(dict(base, entry=entry, bad=arg, change=choice, must=must, names=names))
            else:
                transform = choice
                if choice == "otherfloat":
                    transform = "float32" if setup["dtype"] == "float64" else "float64"
                must, names = expected_for_array(entry, arg, transform, None, setup)
                if must == "skip":
                    continue
                cases.append(dict(base, entry=entry, bad=arg, transform=transform, must=must, names=names))
    return cases


FAMILIES = {
    "layout": ("fortran", "noncontig", "reversed", "readonly", "matrix", "masked"),
    "container": ("list", "tuple", "ragged", "scalar", "none"),
    "dtype": ("int32", "int64", "bool", "float16", "otherfloat", "object", "object_junk", "complex", "str"),
    "shape": hs.SHAPE_CHANGES,
    "huge": ("huge_wide",),
    "nonfinite": hs.NONFINITE,
    "scalars": ("-",),
}
TEST_ON_BATCH = "test_on_batch(None or a scalar, y): TypeError \"object of type 'NoneType' has no len()\", not naming x"
BUILD_INT = "model.build(3): TypeError \"'int' object is not iterable\", not naming input_shape"
FAMILY_BUGS: dict = {}  # (backend, family) -> reason of a known bug; none open


def params():
    for family in FAMILIES:
        for name in ("numpy", "cython"):
            marks = [CYTHON] if name == "cython" else []
            if (name, family) in FAMILY_BUGS:
                marks.append(hs.xfail_bug(FAMILY_BUGS[name, family]))
            yield pytest.param(name, family, marks=marks, id=f"{name}-{family}")


@pytest.mark.parametrize(("backend_name", "family"), list(params()))
@NO_SHRINK
@given(setup=setups, data=st.data())
def test_frontend_rejects_or_handles_malformed_input(backend_name, family, setup, data, sandbox):
    choice = data.draw(st.sampled_from(FAMILIES[family]), label="malformation")
    cases = frontend_cases(backend_name, family, setup, choice)
    outcomes = hs.run_cases(backend_name, "run_frontend_case", cases, sandbox)
    report = hs.failures(cases, outcomes)
    assert not report, report


# ================================================================ known bugs, one minimal case each
SETUP = {
    "dims": (4, 3, 2, 2),
    "dtype": "float64",
    "out_act": "sigmoid",
    "loss": "mean_squared_error",
    "where": 0,
    "weight_shapes": [(3, 2), (2,), (2, 2), (2,)],
}
KNOWN_BUGS = [
    (
        "dense-initializer-name",
        ("numpy", "cython"),
        dict(SETUP, entry="Dense", bad="kernel_initializer", value="nope", must="raise"),
        "Dense(kernel_initializer='nope'): 'initializer: unknown initializer ...' does not name kernel_initializer",
    ),
    (
        "fit-batch_size-huge",
        ("cython",),
        dict(SETUP, entry="fit", bad="batch_size", value=10**12, clean_value=4, must="work"),
        "fit(batch_size=10**12) on the cython backend: MemoryError allocating a 10**12-row workspace "
        "(the front end should prepare min(batch_size, n) rows, as Keras uses one batch of all samples)",
    ),
]


KNOWN_BUGS.append(
    (
        "test_on_batch-x-none",
        ("numpy", "cython"),
        dict(SETUP, entry="test_on_batch", bad="x", transform="none", must="raise"),
        TEST_ON_BATCH,
    )
)
KNOWN_BUGS.append(
    ("build-int", ("numpy", "cython"), dict(SETUP, entry="build", bad="input_shape", value=3, must="raise"), BUILD_INT)
)
# found by the fuzz test, fixed since: regression tests
FIXED = {"dense-initializer-name", "fit-batch_size-huge", "test_on_batch-x-none", "build-int"}


def known_bug_params():
    for ident, backends, case, reason in KNOWN_BUGS:
        for name in backends:
            marks = [CYTHON] if name == "cython" else []
            if ident not in FIXED:
                marks.append(hs.xfail_bug(reason))
            yield pytest.param(name, case, marks=marks, id=f"{name}-{ident}")


@pytest.mark.parametrize(("backend_name", "case"), list(known_bug_params()))
def test_frontend_known_bug(backend_name, case, sandbox):
    """Minimal reproducers of what the fuzz test above found (xfail until fixed, then regression tests)."""
    [outcome] = hs.run_cases(backend_name, "run_frontend_case", [dict(case, backend=backend_name)], sandbox)
    assert not outcome.problems, outcome.problems


@pytest.mark.parametrize("backend_name", ["numpy", pytest.param("cython", marks=CYTHON)])
def test_frontend_clean_cases_work(backend_name, sandbox):
    """The harness itself: clean arrays through every entry point work and match themselves."""
    cases = []
    for loss in ("mean_squared_error", "binary_crossentropy", "sparse_categorical_crossentropy"):
        setup = dict(SETUP, loss=loss, backend=backend_name, out_act="softmax" if "sparse" in loss else "sigmoid")
        for entry, args in ARRAY_ARGS.items():
            cases += [dict(setup, entry=entry, bad=arg, transform=None, must="work") for arg in args]
    outcomes = hs.run_cases(backend_name, "run_frontend_case", cases, sandbox)
    assert all(o.kind == "ok" and not o.problems for o in outcomes), hs.failures(cases, outcomes)


HUGE_LAYER = """
import resource
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
import cyneuron
from cyneuron import Input, Sequential
from cyneuron.layers import Dense
cyneuron.set_backend({backend!r})
for build in (lambda: Sequential([Input((1,)), Dense(2**31 + 7)]), lambda: Sequential([Input((2**31 + 7,)), Dense(1)])):
    try:
        build()
        print("BUILT")
    except (ValueError, TypeError) as error:
        print("REFUSED", type(error).__name__, error)
    except MemoryError as error:
        print("MEMORY", error)
"""


@pytest.mark.parametrize(
    "backend_name",
    [
        "numpy",
        pytest.param("cython", marks=CYTHON),
    ],
)
def test_layer_sizes_beyond_32_bits(backend_name):
    """Sizes that overflow a C int: the compiled backend must refuse them by name before allocating; the numpy
    backend may refuse them or run out of memory (in a 3 GiB address space), never crash."""
    result = hs.run_python(HUGE_LAYER.format(backend=backend_name, limit=hs.WORKER_MEMORY_LIMIT), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout
    allowed = ("REFUSED",) if backend_name == "cython" else ("REFUSED", "MEMORY")
    assert all(line.startswith(allowed) for line in lines), result.stdout
    assert all(("units" in line or "input" in line or "shape" in line) for line in lines if line.startswith("REFUSED"))


# ================================================================ target values
@pytest.mark.parametrize(
    ("labels", "match"),
    [
        ([0, 1, 2, -1], r"^y\b.*\[0, 3\)"),
        ([0, 1, 2, 3], r"^y\b.*\[0, 3\)"),
        ([0, 1, 2, 1.5], r"^y\b.*(whole|integ)"),
        ([0, 1, 2, float("nan")], r"^y\b.*(NaN|finite)"),
        ([0, 1, 2, 2**63 - 1], r"^y\b.*\[0, 3\)"),
        ([[0, 1], [1, 2], [2, 0], [0, 0]], r"^y\b"),
        (["0", "1", "2", "0"], r"^y\b"),
    ],
)
def test_sparse_labels_out_of_range_or_malformed_are_refused_by_name(backend, labels, match):
    from cyneuron import Input, Sequential
    from cyneuron.layers import Dense

    model = Sequential([Input((2,)), Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.get_weights()
    x = np.ones((4, 2))
    for call in (lambda: model.fit(x, labels, verbose=0), lambda: model.evaluate(x, labels, verbose=0)):
        with pytest.raises((ValueError, TypeError), match=match):
            call()
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))
