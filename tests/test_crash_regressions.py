"""Inputs that once crashed the compiled backend (found in review), each run in its own interpreter.

Each case must end in a ValueError, TypeError or RuntimeError naming what is wrong; a
segfault shows up as a non-zero exit code instead of killing pytest.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import cython_available

pytestmark = pytest.mark.skipif(not cython_available(), reason="compiled kernels not built")

PRELUDE = """
import numpy as np
from cyneuron.backend.base import LossSpec, OptimizerSpec, ScheduleSpec, StageSpec
from cyneuron.backend.cython_ops import CythonOps
ops = CythonOps()
no_columns = np.zeros((3, 0))


def Stage(activation, kernel, bias=None):  # a dense stage over kernel (in, units) [and bias]
    params = (kernel,) if bias is None else (kernel, bias)
    return StageSpec("dense", kernel.shape[:1], kernel.shape[1:], {"activation": activation}, params)


def SGDSpec(learning_rate):
    return OptimizerSpec("sgd", ScheduleSpec("constant", (learning_rate,)), {"momentum": 0.0, "nesterov": 0.0})
"""

CASES = {
    # zero-width rows reached kernels that read the first element of every row
    "softmax-no-columns": ('ops.activation_forward("softmax", no_columns, no_columns.copy())', "at least one column"),
    "metric-no-columns": ('ops.metric_value("categorical_accuracy", no_columns, no_columns)', "at least one column"),
    "loss-no-columns": (
        'ops.loss_value(LossSpec("categorical_crossentropy", True), no_columns, no_columns)',
        "at least one column",
    ),
    "dense-no-units": (
        'ops.dense_forward(np.ones((3, 2)), np.ones((2, 0)), None, "softmax", np.zeros((3, 0)), np.zeros((3, 0)))',
        "units",
    ),
    # a label changed after bind_training_data indexed memory out of bounds
    "label-changed-after-bind": (
        """
        net = ops.build_network([Stage("softmax", np.ones((2, 3)), np.zeros(3))], 2, np.float64)
        net.prepare_training(LossSpec("sparse_categorical_crossentropy"), [], SGDSpec(0.1), 4)
        y = np.zeros(4, np.int64)
        net.bind_training_data(np.ones((4, 2)), y, np.arange(4, dtype=np.int64))
        y[0] = 10**12
        net.train_batch(0, 4)
        """,
        "class labels",
    ),
    # calling __init__ again rebuilt the stages under the old workspaces
    "init-twice": (
        """
        net = ops.build_network([Stage("linear", np.ones((2, 2)))], 2, np.float64)
        net.__init__([Stage("linear", np.ones((300000, 2)))], 300000, np.float64)
        """,
        "initialised once",
    ),
    # a byte-swapped array took predict's fast path and was read as native doubles
    "predict-byte-swapped": (
        """
        net = ops.build_network([Stage("linear", np.ones((2, 2)))], 2, np.float64)
        net.predict(np.ones((1, 2), dtype=">f8"), 1)
        """,
        "dtype",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_former_crash_now_raises_a_named_error(case):
    body, expected = CASES[case]
    code = (
        PRELUDE
        + "try:\n"
        + textwrap.indent(textwrap.dedent(body), "    ")
        + """
except (ValueError, TypeError, RuntimeError) as error:
    print("raised:", error)
else:
    print("accepted")
"""
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"crashed (exit {result.returncode}): {result.stderr[-2000:]}"
    assert result.stdout.startswith("raised:"), result.stdout
    assert expected in result.stdout
