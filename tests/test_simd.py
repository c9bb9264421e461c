"""Runtime SIMD dispatch (``cyneuron._simd``) and the kernels' vectorised exp/log/tanh (``_vecmath.h``).

- every SIMD path this machine runs passes the network parity suite against the NumPy reference (one
  subprocess per path, ``CYNEURON_SIMD`` forcing it), and all paths train to the same bits;
- exp/log/tanh stay within ``ULP_LIMITS`` of libm over dense sweeps (1 ulp for float32 exp and log and
  float64 log, 2 for float64 exp and tanh), the same bits on every path, with libm's special values.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from cyneuron import _simd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.dirname(os.path.dirname(os.path.abspath(_simd.__file__)))

pytestmark = pytest.mark.skipif(_simd.active is None, reason="compiled kernels not built")

LIBM_NAME = ctypes.util.find_library("m")


def _run(path: str, code: str) -> str:
    env = {**os.environ, _simd.ENV_VAR: path, "PYTHONPATH": os.pathsep.join([SRC, ROOT])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


# ------------------------------------------------------------------------------------------- dispatch
def test_the_baseline_is_always_supported_and_the_active_path_is_one_of_them():
    assert _simd.supported()[0] == "baseline"
    assert _simd.active in _simd.supported()
    assert all(_simd.cpu_supports(path) for path in _simd.supported())


def test_select_validates_the_environment_variable(monkeypatch):
    with pytest.raises(ValueError, match=_simd.ENV_VAR):
        _simd.select("avx3")
    assert _simd.select("auto")[0] == _simd.supported()[-1]
    assert _simd.select("")[0] == _simd.supported()[-1]
    assert _simd.select(" Baseline ")[0] == "baseline"


def test_a_path_the_machine_lacks_falls_back_with_a_warning(monkeypatch):
    monkeypatch.setattr(_simd, "supported", lambda: ["baseline"])
    with pytest.warns(RuntimeWarning, match="CYNEURON_SIMD=avx512 ignored"):
        path, why = _simd.select("avx512")
    assert path == "baseline" and "unusable" in why


def test_the_canonical_modules_are_the_active_paths():
    import cyneuron
    from cyneuron import _core, _kernels, _network
    from cyneuron.backend import cython_ops

    suffix = "" if _simd.active == "baseline" else f"_{_simd.active}"
    for module in (_core, _kernels, _network):
        assert module.__name__.endswith(suffix) and module is sys.modules[module.__name__]
    assert cython_ops.NetworkCore is _network.NetworkCore
    printed = []
    info = cyneuron.show_config(print_fn=printed.append)
    assert info["simd"]["active"] == _simd.active and info["simd"]["supported"] == _simd.supported()
    assert f"SIMD path: {_simd.active} (" in printed[0]
    if _simd.active != "baseline":
        assert _simd.active.upper().replace("AVX512", "AVX-512") in info["build"]["instruction_set"].upper()


@pytest.mark.parametrize("path", _simd.supported())
def test_each_path_passes_the_network_parity_suite(path):
    code = (
        "import sys, pytest, cyneuron._simd as s\n"
        f"assert s.active == {path!r}, s.active\n"
        "sys.exit(pytest.main(['-q', '-x', '-p', 'no:cacheprovider', 'tests/test_network_parity.py']))\n"
    )
    assert "passed" in _run(path, code)


_TRAIN = """
import hashlib, json
import numpy as np
import cyneuron
from cyneuron import layers as L
import cyneuron._simd as s
out = {"active": s.active}
for dtype in ("float32", "float64"):
    cyneuron.utils.set_random_seed(3)
    cyneuron.config.set_floatx(dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 20)).astype(dtype)
    y = rng.integers(0, 5, 96)
    model = cyneuron.models.Sequential([L.Input((20,)), L.Dense(33, activation="sigmoid"),
        L.Dense(17, activation="tanh"), L.Dense(9, activation="gelu"), L.Dense(5, activation="softmax")])
    model.compile(optimizer=cyneuron.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    digest = hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights()))
    digest.update(model.predict(x, verbose=0).tobytes())
    out[dtype] = digest.hexdigest()
cyneuron.config.set_floatx("float32")
print(json.dumps(out))
"""


def test_every_path_trains_to_the_same_bits():
    """No contraction and no reassociation: the vector width changes the speed, never a result."""
    results = {path: json.loads(_run(path, _TRAIN).strip().splitlines()[-1]) for path in _simd.supported()}
    assert all(r["active"] == path for path, r in results.items())
    digests = {(r["float32"], r["float64"]) for r in results.values()}
    assert len(digests) == 1, results


# -------------------------------------------------------------------------------------- exp/log/tanh
def _ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| in units in the last place (adjacent floats are 1 apart; nan == nan; inf == inf)."""
    ints = np.int32 if a.dtype == np.float32 else np.int64

    def ordered(v):
        i = v.view(ints).astype(np.int64)
        return np.where(i < 0, np.iinfo(ints).min - i, i)

    same = (a == b) | (np.isnan(a) & np.isnan(b))
    with np.errstate(over="ignore"):
        distance = np.abs(ordered(a) - ordered(b)).astype(np.float64)
    distance[np.isnan(a) != np.isnan(b)] = np.inf
    return np.where(same, 0.0, distance)


def _libm(name: str, dtype) -> np.ndarray:
    lib = ctypes.CDLL(LIBM_NAME)
    fn = getattr(lib, name + ("f" if dtype == np.float32 else ""))
    ctype = ctypes.c_float if dtype == np.float32 else ctypes.c_double
    fn.restype, fn.argtypes = ctype, [ctype]
    return fn


def _sweep(name: str, dtype) -> np.ndarray:
    rng = np.random.default_rng(7)
    ints = np.uint32 if dtype == np.float32 else np.uint64
    bits = rng.integers(0, np.iinfo(ints).max, 60_000, dtype=ints, endpoint=True).view(dtype)
    span = {"exp": (-760.0, 720.0) if dtype == np.float64 else (-110.0, 95.0), "log": (0.0, 8.0), "tanh": (-12.0, 12.0)}
    dense = np.linspace(*span[name], 60_001).astype(dtype)
    near = np.linspace(-1.0, 1.0, 30_001).astype(dtype)  # reduction boundaries and the tanh polynomial
    if name == "log":
        near = near + np.asarray(1, dtype)
    tiny = (np.geomspace(1e-45 if dtype == np.float32 else 5e-324, 1e-30, 5_000)).astype(dtype)
    return np.concatenate([bits, dense, near, tiny, -tiny])


# the max ulp the sweeps measure (bench: every 7th float32 bit pattern and 2e7 float64 draws agree)
ULP_LIMITS = {
    ("exp", np.float32): 1,
    ("exp", np.float64): 2,
    ("log", np.float32): 1,
    ("log", np.float64): 1,
    ("tanh", np.float32): 2,
    ("tanh", np.float64): 2,
}
SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 1e-40, 1e-310, 88.72, 88.73, -87.4, -103.9, 709.78, 709.79,
            -745.1, -745.2, 0.549, 0.551, 20.0, -20.0]


@pytest.mark.skipif(LIBM_NAME is None, reason="no libm to compare with")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["exp", "log", "tanh"])
def test_vecmath_against_libm(name, dtype):
    from cyneuron import _core

    limit = ULP_LIMITS[name, dtype]
    x = np.concatenate([_sweep(name, dtype), np.array(SPECIALS, dtype=np.float64).astype(dtype)])
    fn = _libm(name, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = np.array([fn(v) for v in x.tolist()], dtype=dtype)
    got = np.empty_like(x)
    _core.math_function(name, x, got)
    ulps = _ulp_distance(got, expected)
    worst = int(np.argmax(ulps))
    assert ulps.max() <= limit, f"{name} {dtype.__name__}: {ulps.max()} ulp at x={x[worst]!r}"
    specials = np.array(SPECIALS, dtype=np.float64).astype(dtype)
    special_got = np.empty_like(specials)
    _core.math_function(name, specials, special_got)
    # the special values exactly (sign of zero included)
    special_expected = expected[-len(SPECIALS) :]
    exact = np.isinf(special_expected) | (special_expected == 0) | np.isnan(special_expected)
    np.testing.assert_array_equal(special_got[exact], special_expected[exact])
    signed = exact & ~np.isnan(special_expected)  # libm's nan may carry a sign; ours need not
    assert np.array_equal(np.signbit(special_got[signed]), np.signbit(special_expected[signed]))


def test_vecmath_special_values():
    from cyneuron import _core

    for dtype in (np.float32, np.float64):
        x = np.array([np.inf, -np.inf, np.nan, 1e6, -1e6], dtype=dtype)
        out = np.empty_like(x)
        _core.math_function("exp", x, out)
        np.testing.assert_array_equal(out, [np.inf, 0.0, np.nan, np.inf, 0.0])
        x = np.array([0.0, -0.0, -1.0, -np.inf, np.inf, np.nan, 1.0], dtype=dtype)
        _core.math_function("log", x, out := np.empty_like(x))
        np.testing.assert_array_equal(out, [-np.inf, -np.inf, np.nan, np.nan, np.inf, np.nan, 0.0])
        x = np.array([np.inf, -np.inf, -0.0, np.nan], dtype=dtype)
        _core.math_function("tanh", x, out := np.empty_like(x))
        np.testing.assert_array_equal(out, [1.0, -1.0, -0.0, np.nan])
        assert np.signbit(out[2])


def test_math_function_validates():
    from cyneuron import _core

    x = np.ones(3)
    with pytest.raises(ValueError, match="name"):
        _core.math_function("sin", x, np.empty(3))
    with pytest.raises(ValueError, match="out"):
        _core.math_function("exp", x, np.empty(2))


@pytest.mark.skipif(LIBM_NAME is None, reason="no libm to compare with")
@pytest.mark.parametrize("path", [p for p in _simd.supported() if p != _simd.active])
def test_vecmath_is_the_same_on_the_other_paths(path):
    """The in-process sweep covers the active path; the others must give the same bits."""
    code = (
        "import numpy as np, hashlib\n"
        "from cyneuron import _core\n"
        "from tests.test_simd import _sweep\n"
        "h = hashlib.sha256()\n"
        "for name in ('exp', 'log', 'tanh'):\n"
        "    for dtype in (np.float32, np.float64):\n"
        "        x = _sweep(name, dtype); out = np.empty_like(x); _core.math_function(name, x, out)\n"
        "        h.update(out.tobytes())\n"
        "print(h.hexdigest())\n"
    )
    here = _run(_simd.active, code).strip()
    assert _run(path, code).strip() == here
