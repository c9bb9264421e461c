"""Keras' guides (Sequential / functional training and evaluation, writing callbacks, saving), renamed, as
the oracle: each script in ``guides/`` runs once with ``keras`` and once with ``cyneuron`` on the same data
and weights, and what they print on stdout must be the same line for line (temporary paths aside).

    KERAS_BACKEND=jax python bench/oracle/guides_vs_keras.py

The scripts take ``keras`` or ``cyneuron`` as their one argument and import that package as ``keras``.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "..", "src")


def _run(script: str, package: str) -> list[str]:
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "jax"), PYTHONPATH=SRC)
    done = subprocess.run(
        [sys.executable, script, package], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    if done.returncode:
        return [f"exit {done.returncode}", *done.stderr.splitlines()[-5:]]
    return [re.sub(r"/tmp/\S+?/", "/tmp/…/", line) for line in done.stdout.splitlines()]


def main() -> int:
    failed = 0
    for name in sorted(os.listdir(os.path.join(HERE, "guides"))):
        if not name.endswith(".py"):
            continue
        script = os.path.join(HERE, "guides", name)
        keras_lines, cyneuron_lines = _run(script, "keras"), _run(script, "cyneuron")
        diff = list(difflib.unified_diff(keras_lines, cyneuron_lines, "keras", "cyneuron", lineterm="", n=0))
        print(f"{name:<28} {len(keras_lines):4d} lines  {'same' if not diff else 'DIFFERENT'}")
        for line in diff:
            print("    " + line)
        failed += bool(diff)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
