"""A bare ``Network.train_batch`` loop of one recurrent case for a profiler (``perf record``).

OPENBLAS_NUM_THREADS=1 perf record -g python bench/recurrent_loop.py LSTM [seconds]
"""

import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import numpy as np  # noqa: E402

import cyneuron  # noqa: E402
from cyneuron import layers as cl  # noqa: E402

CASES = {"LSTM": (64, (50, 8)), "GRU": (64, (50, 8)), "SimpleRNN": (32, (20, 1))}


def main() -> None:
    cls = sys.argv[1] if len(sys.argv) > 1 else "LSTM"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    units, shape = CASES[cls]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((512, *shape)).astype("float32")
    y = x.mean(axis=(1, 2))[:, None].astype("float32")
    model = cyneuron.models.Sequential([cl.Input(shape), getattr(cl, cls)(units), cl.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    net = model._get_network()
    net.bind_training_data(x.reshape(512, -1), y, np.arange(512, dtype=np.int64))
    steps = 0
    end = time.monotonic() + seconds
    start = time.perf_counter()
    while time.monotonic() < end:
        for b in range(16):
            net.train_batch(b * 32, (b + 1) * 32)
        steps += 16
    print(f"{cls}: {(time.perf_counter() - start) / steps * 1e6:.0f} us per train_batch over {steps}")


if __name__ == "__main__":
    main()
