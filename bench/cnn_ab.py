"""Interleaved A/B of bench/cnn_loop.py (bare train_batch loop) between source trees, medians.

OPENBLAS_NUM_THREADS=1 python bench/cnn_ab.py /tmp/cnn-before /work/wt-cnnperf --nets example,course --rounds 5
"""

import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("trees", nargs="+")
    ap.add_argument("--nets", default="example,course")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    a = ap.parse_args()
    nets = a.nets.split(",")
    res = {(t, n): [] for t in a.trees for n in nets}
    for r in range(a.rounds):
        order = a.trees[r % len(a.trees) :] + a.trees[: r % len(a.trees)]
        for n in nets:
            for t in order:
                env = dict(os.environ, PYTHONPATH=os.path.join(t, "src"), OPENBLAS_NUM_THREADS="1")
                out = subprocess.run(
                    [sys.executable, os.path.join(HERE, "cnn_loop.py"), n, str(a.seconds)],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                res[(t, n)].append(float(out.split(":")[1].split()[0]))
    for n in nets:
        base = statistics.median(res[(a.trees[0], n)])
        for t in a.trees:
            m = statistics.median(res[(t, n)])
            print(f"{n:8s} {t:24s} median {m:8.0f} us/step  x{base / m:.2f}  all {sorted(res[(t, n)])}")


if __name__ == "__main__":
    main()
