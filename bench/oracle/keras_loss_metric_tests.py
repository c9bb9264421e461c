"""Keras' own unit tests for losses and metrics, run against cyneuron.

Run under the Keras venv (not part of the test suite):

    KERAS_BACKEND=jax /work/kvenv/bin/python bench/oracle/keras_loss_metric_tests.py [pytest args]

Copies ``keras/src/losses/losses_test.py`` and ``keras/src/metrics/*_test.py`` to a temporary
directory with their ``from keras.src.losses import losses`` / ``from keras.src.metrics import ...``
imports pointed at cyneuron (Keras' ``testing.TestCase`` stays), runs pytest on them and prints the
pass / fail counts per file. Known gaps: Keras losses and metrics cyneuron does not have (focal
cross-entropies, CTC, Dice, Tversky, Circle, the IoU and correlation metrics; tests that compile a Keras model
with a cyneuron metric fail by construction), and the
``test_config`` halves that go through Keras' own serialization registry.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import keras

SRC = Path(__file__).resolve().parents[2] / "src"
KERAS = Path(keras.__file__).resolve().parent / "src"
FILES = [KERAS / "losses" / "losses_test.py"] + sorted((KERAS / "metrics").glob("*_test.py"))
SKIP = {"metric_test.py", "iou_metrics_test.py", "correlation_metrics_test.py", "__init__.py"}
REWRITES = [
    (r"^from keras\.src\.losses import losses$", "from cyneuron import losses"),
    (r"^from keras\.src import metrics$", "from cyneuron import metrics"),
    (r"^from keras\.src\.metrics import (\w+)( as \w+)?$", r"from cyneuron.metrics import \1\2"),
]


def main() -> None:
    env = dict(os.environ, PYTHONPATH=str(SRC), KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "jax"))
    with tempfile.TemporaryDirectory() as tmp:
        for path in FILES:
            if path.name in SKIP:
                continue
            text = path.read_text()
            for pattern, replacement in REWRITES:
                text = re.sub(pattern, replacement, text, flags=re.M)
            target = Path(tmp) / f"test_cy_{path.name}"
            target.write_text(text)
            result = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(target), *sys.argv[1:]],
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp,
            )
            summary = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
            print(f"{path.relative_to(KERAS)}: {summary}")


if __name__ == "__main__":
    main()
