"""Keras 3 as the oracle for constructor signatures (not part of the test suite).

Run in a venv with Keras on JAX and cyneuron importable::

    KERAS_BACKEND=jax python bench/oracle/signatures_vs_keras.py

For every layer class cyneuron registers (``layers._CLASSES``) and every loss class (``losses._CLASSES``):
the argument names, their order and defaults as ``inspect.signature`` shows them, next to Keras' class of
the same name. Prints the mismatches and exits 1 when there is one; ``tests/test_keras_signatures.py``
holds the recorded strings for the classes whose constructors hand their arguments to a shared base.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import keras  # noqa: E402

from cyneuron import layers, losses  # noqa: E402
from tests.test_keras_signatures import signature_text  # noqa: E402


def main() -> int:
    mismatches = checked = 0
    for namespace, ours, theirs in (("layers", layers, keras.layers), ("losses", losses, keras.losses)):
        for name in sorted(ours._CLASSES):
            keras_class = getattr(theirs, name, None)
            if keras_class is None:
                print(f"{namespace}.{name:32s} not in Keras")
                continue
            checked += 1
            mine, keras_text = signature_text(getattr(ours, name)), signature_text(keras_class)
            if mine != keras_text:
                mismatches += 1
                print(f"{namespace}.{name:32s} MISMATCH\n  cyneuron {mine}\n  keras    {keras_text}")
    print(f"{checked - mismatches}/{checked} signatures as Keras'")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
