"""Hardening: memory stays flat on both backends.

Each check runs in a fresh interpreter and reads its own resident set size from
/proc/self/statm: 2,000 predict calls and 200 short fit calls on a small model grow RSS by
less than 10 MB after warm-up; models with large layers, trained once (so their training
workspaces exist) and then deleted, give their memory back (weak references to the weights die,
RSS returns near its starting point).
"""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from tests import hardening_support as hs
from tests.conftest import cython_available

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")

BACKENDS = ["numpy", pytest.param("cython", marks=pytest.mark.skipif(not cython_available(), reason="not built"))]
LIMIT_MB = 10.0

PRELUDE = """
import gc, json, os, weakref
import numpy as np
import cyneuron
from cyneuron import Input, Sequential
from cyneuron.layers import Dense
from cyneuron.utils import set_random_seed

PAGE = os.sysconf("SC_PAGE_SIZE")

# glibc keeps freed heap pages mapped at will (its mmap threshold rises after large frees), so
# RSS alone would sometimes report 20+ MB held by nothing; malloc_trim hands them back first, and
# what remains is memory something still owns.
try:
    import ctypes
    _trim = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):
    _trim = None

def rss_mb():
    gc.collect()
    if _trim is not None:
        _trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20

cyneuron.set_backend({backend!r})
set_random_seed(0)
rng = np.random.default_rng(0)

def small_model():
    model = Sequential([Input((8,)), Dense(16, activation="relu"), Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
"""


def run(backend: str, body: str) -> dict:
    code = textwrap.dedent(PRELUDE.format(backend=backend)) + textwrap.dedent(body)
    result = hs.run_python(code, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_rss_is_flat_over_2000_predict_calls(backend):
    numbers = run(
        backend,
        """
        model = small_model()
        x = rng.standard_normal((32, 8)).astype(np.float32)
        xs = [x, x.tolist(), x.astype(np.float64), np.asfortranarray(x)]
        for i in range(200):  # warm-up: workspaces, caches, allocator arenas
            model.predict(xs[i % 4], verbose=0)
        start = rss_mb()
        for i in range(2000):
            model.predict(xs[i % 4], verbose=0)
            model(x)
        print(json.dumps({"start": start, "end": rss_mb()}))
        """,
    )
    growth = numbers["end"] - numbers["start"]
    assert growth < LIMIT_MB, numbers


@pytest.mark.parametrize("backend", BACKENDS)
def test_rss_is_flat_over_200_short_fits(backend):
    numbers = run(
        backend,
        """
        model = small_model()
        x = rng.standard_normal((64, 8)).astype(np.float32)
        y = rng.integers(0, 3, 64)
        for i in range(20):
            model.fit(x, y, epochs=2, batch_size=16, verbose=0, validation_split=0.25)
            model.evaluate(x, y, verbose=0)
        start = rss_mb()
        for i in range(200):
            model.fit(x, y, epochs=2, batch_size=16 if i % 2 else 8, verbose=0, validation_split=0.25)
            model.evaluate(x, y, verbose=0)
        print(json.dumps({"start": start, "end": rss_mb()}))
        """,
    )
    growth = numbers["end"] - numbers["start"]
    assert growth < LIMIT_MB, numbers


@pytest.mark.parametrize("backend", BACKENDS)
def test_deleted_models_free_their_weights_and_workspaces(backend):
    numbers = run(
        backend,
        """
        x = rng.standard_normal((512, 1024)).astype(np.float32)
        y = rng.integers(0, 10, 512)

        def big_model():
            # ~2 MB of weights, ~2 MB of velocities, a few MB of training and prediction workspaces
            model = Sequential([Input((1024,)), Dense(512, activation="relu"), Dense(10, activation="softmax")])
            model.compile(optimizer=cyneuron.optimizers.SGD(0.01, momentum=0.9),
                          loss="sparse_categorical_crossentropy")
            model.fit(x, y, epochs=1, batch_size=512, verbose=0)
            model.predict(x, batch_size=512, verbose=0)
            return model

        big_model()  # warm-up
        start = rss_mb()
        refs = []
        peak = start
        for i in range(15):
            model = big_model()
            refs.append(weakref.ref(model.layers[0].kernel))
            refs.append(weakref.ref(model))
            peak = max(peak, rss_mb())
            del model
        end = rss_mb()  # collects the model <-> History reference cycles first
        alive = sum(r() is not None for r in refs)
        print(json.dumps({"start": start, "end": end, "peak": peak, "alive": alive}))
        """,
    )
    assert numbers["alive"] == 0, numbers
    assert numbers["end"] - numbers["start"] < LIMIT_MB, numbers
