"""Per-network loop/BLAS choice (``NetworkCore.product_path``).

Each network carries how its dense products run ("auto": by each product's shape; "loops";
"blas"), chosen at build and read from the network's own stages inside the nogil step. Two
networks with different choices trained at once in two threads must end with exactly the weights
each gets alone; the two paths round differently, so a shared setting would show.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.conftest import cython_available
from tests.spec_support import dense_stage, sgd_spec

pytestmark = pytest.mark.skipif(not cython_available(), reason="compiled kernels not built")

ROWS, FEATURES, HIDDEN, UNITS, STEPS = 64, 48, 32, 10, 40


def _stages(dtype=np.float32):
    rng = np.random.default_rng(3)
    return [
        dense_stage("relu", (rng.standard_normal((FEATURES, HIDDEN)) * 0.2).astype(dtype), np.zeros(HIDDEN, dtype)),
        dense_stage("softmax", (rng.standard_normal((HIDDEN, UNITS)) * 0.2).astype(dtype), np.zeros(UNITS, dtype)),
    ]


def _data(dtype=np.float32):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4 * ROWS, FEATURES)).astype(dtype)
    return x, rng.integers(0, UNITS, 4 * ROWS).astype(np.int64)


def _network(product_path, dtype=np.float32):
    from cyneuron.backend.base import LossSpec
    from cyneuron.backend.cython_ops import NetworkCore

    stages = _stages(dtype)
    net = NetworkCore(stages, (FEATURES,), dtype, product_path=product_path)
    x, y = _data(dtype)
    net.prepare_training(LossSpec("sparse_categorical_crossentropy"), [], sgd_spec(0.05), ROWS)
    net.bind_training_data(x, y, np.arange(x.shape[0], dtype=np.int64))
    return net, stages


def _train(net, steps=STEPS):
    n = 4 * ROWS
    for k in range(steps):
        start = (k * ROWS) % n
        net.train_batch(start, start + ROWS)


def _weights(stages):
    return [p.copy() for s in stages for p in s.params]


def _alone(product_path):
    net, stages = _network(product_path)
    _train(net)
    return _weights(stages)


def test_networks_with_different_paths_in_two_threads_match_alone():
    alone = {path: _alone(path) for path in ("loops", "blas")}
    # the two paths sum in different orders: were the choice shared, the threads' results would mix
    assert not all(np.array_equal(a, b) for a, b in zip(alone["loops"], alone["blas"]))
    for a, b in zip(alone["loops"], alone["blas"]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)

    for _ in range(3):
        nets = {path: _network(path) for path in ("loops", "blas")}
        barrier = threading.Barrier(2)
        errors = []

        def run(net, barrier=barrier, errors=errors):
            try:
                barrier.wait()
                _train(net)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=run, args=(net,)) for net, _ in nets.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        for path, (net, stages) in nets.items():
            assert net.product_path == path
            for got, want in zip(_weights(stages), alone[path]):
                np.testing.assert_array_equal(got, want)


def test_product_path_is_fixed_at_build():
    from cyneuron import _kernels

    previous = _kernels.set_product_path("loops")
    try:
        net, _ = _network(None)
        assert net.product_path == "loops"
        _kernels.set_product_path("blas")
        assert net.product_path == "loops"  # built networks keep theirs
        assert _network(None)[0].product_path == "blas"
        assert _kernels.get_product_path() == "blas"
    finally:
        _kernels.set_product_path(previous)
    assert _network("auto")[0].product_path == "auto"


def test_product_path_setter_changes_the_result_to_the_other_path():
    alone = _alone("blas")
    net, stages = _network("loops")
    net.product_path = "blas"
    assert net.product_path == "blas"
    _train(net)
    for got, want in zip(_weights(stages), alone):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("value", "error"), [("fast", ValueError), ("", ValueError), (1, TypeError), (b"blas", TypeError)]
)
def test_product_path_is_validated(value, error):
    from cyneuron.backend.cython_ops import NetworkCore

    with pytest.raises(error, match="product_path"):
        NetworkCore(_stages(), (FEATURES,), np.float32, product_path=value)
    net, _ = _network("auto")
    with pytest.raises(error, match="product_path"):
        net.product_path = value
    assert net.product_path == "auto"


def test_set_product_path_is_validated():
    from cyneuron import _kernels

    with pytest.raises(ValueError, match="path"):
        _kernels.set_product_path("fast")
    assert _kernels.get_product_path() in ("auto", "loops", "blas")
