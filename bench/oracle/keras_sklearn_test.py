"""Keras 3's own wrapper tests (``keras/src/wrappers/sklearn_test.py``) run on cyneuron (issue 14).

    KERAS_BACKEND=jax /work/kvenv/bin/python bench/oracle/keras_sklearn_test.py [pytest arguments]

Copies the test file out of the installed Keras with its imports renamed (``keras`` -> ``cyneuron``,
``keras.src.backend`` -> ``cyneuron.config``, ``keras.src.layers`` / ``models`` / ``wrappers`` -> the
``cyneuron`` modules), then runs pytest on it with cyneuron from this checkout, in the system python
(scikit-learn and cyneuron's compiled kernels; Keras is only read). Exits with pytest's status.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RENAMES = [
    (r"^import keras$", "import cyneuron as keras"),
    (r"from keras\.src\.backend import", "from cyneuron.config import"),
    (r"from keras\.src\.(layers|models|wrappers) import", r"from cyneuron.\1 import"),
]


def keras_test_source() -> str:
    import importlib.util

    spec = importlib.util.find_spec("keras")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("keras is not importable here: run this with the Keras venv's python")
    path = Path(spec.submodule_search_locations[0]) / "src" / "wrappers" / "sklearn_test.py"
    return path.read_text()


def main(argv: list[str]) -> int:
    source = keras_test_source()
    for pattern, replacement in RENAMES:
        source = re.sub(pattern, replacement, source, flags=re.MULTILINE)
    if re.search(r"\bkeras\.src\b", source):
        raise SystemExit("an import of keras.src is left unrenamed: update RENAMES")
    python = os.environ.get("CYNEURON_PYTHON", "python3")  # the interpreter with cyneuron's requirements
    with tempfile.TemporaryDirectory() as folder:
        test = Path(folder) / "test_keras_sklearn.py"
        test.write_text(source)
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test), *argv]
        return subprocess.call(command, cwd=folder, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
