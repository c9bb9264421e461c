"""Measure (not a test): the course CNN's training step and the convolution products' throughput.

    PYTHONPATH=src python bench/conv_step.py

* us per training step of Conv2D(32, 3x3, relu, same) -> MaxPool2D(2, 2) -> Conv2D(64, ...) -> MaxPool2D
  -> Flatten -> Dense(2, softmax), Adam, 32x32x3 images, batch 64, through ``fit`` (cython vs numpy);
* GFLOP/s of one conv2d stage's forward (im2col + one product) and training step (forward, kernel and
  input gradients: three products + im2col/col2im) at larger shapes, next to NumPy's float32 matmul
  of the same (rows*OH*OW, kh*kw*C) x (kh*kw*C, F) product, measured in the same run.
"""

from __future__ import annotations

import time

import numpy as np

import cyneuron
from cyneuron import backend
from cyneuron import layers as L
from cyneuron.backend.specs import LossSpec, OptimizerSpec, ScheduleSpec, StageSpec


def best(f, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def course_step(name: str, n=640) -> float:
    backend.set_backend(name)
    cyneuron.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (n, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 2, n)
    model = cyneuron.models.Sequential(
        [
            L.Input((32, 32, 3)),
            L.Conv2D(32, (3, 3), activation="relu", padding="same"),
            L.MaxPool2D(pool_size=(2, 2), strides=2),
            L.Conv2D(64, (3, 3), activation="relu", padding="same"),
            L.MaxPool2D(pool_size=(2, 2), strides=2),
            L.Flatten(),
            L.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    epochs = 1 if name == "numpy" else 3
    model.fit(x[:128], y[:128], epochs=1, batch_size=64, verbose=0)  # warm-up (workspaces)
    t = best(
        lambda: model.fit(x, y, epochs=epochs, batch_size=64, verbose=0, shuffle=False), 2 if name == "numpy" else 3
    )
    return t / (epochs * n // 64) * 1e6


def conv_products(rows, shape, k, filters):
    from cyneuron.backend.cython_ops import CythonOps

    rng = np.random.default_rng(0)
    h, w, c = shape
    attrs = {"kernel_size": k, "strides": (1, 1), "padding": "same", "dilation_rate": (1, 1), "activation": "linear"}
    kernel = (rng.standard_normal((*k, c, filters)) * 0.05).astype("float32")
    spec = StageSpec("conv2d", shape, (h, w, filters), attrs, (kernel, np.zeros(filters, "float32")))
    # a trainable 1x1 conv in front makes the measured stage compute its input gradient too (need_dx)
    eye = np.eye(c, dtype="float32").reshape(1, 1, c, c)
    attrs1 = dict(attrs, kernel_size=(1, 1))
    first = StageSpec("conv2d", shape, shape, attrs1, (eye,))
    net = CythonOps().build_network([first, spec], shape, "float32")
    x = rng.standard_normal((rows, h * w * c)).astype("float32")
    m, kk = rows * h * w, k[0] * k[1] * c
    flops = 2.0 * m * kk * filters
    flops1 = 2.0 * m * c * c  # the 1x1 stage: forward and kernel gradient
    net.predict(x, rows)
    t_fwd = best(lambda: net.predict(x, rows)) * flops / (flops + flops1)
    sgd = OptimizerSpec("sgd", ScheduleSpec("constant", (1e-6,)), {"momentum": 0.0, "nesterov": 0.0})
    net.prepare_training(LossSpec("mean_squared_error"), (), sgd, rows)
    net.bind_training_data(x, np.zeros((rows, h * w * filters), "float32"), np.arange(rows, dtype=np.int64))
    t_step = best(lambda: net.train_batch(0, rows)) * 3 * flops / (3 * flops + 2 * flops1)
    a = rng.standard_normal((m, kk)).astype("float32")
    b = rng.standard_normal((kk, filters)).astype("float32")
    a @ b
    t_gemm = best(lambda: a @ b)
    return {
        "shape": f"{rows}x{h}x{w}x{c} k{k[0]}x{k[1]} F={filters}",
        "gemm": f"({m}x{kk})x({kk}x{filters})",
        "fwd": flops / t_fwd / 1e9,
        "step": 3 * flops / t_step / 1e9,
        "sgemm": flops / t_gemm / 1e9,
    }


def main() -> None:
    from threadpoolctl import threadpool_limits

    for threads in (2, 1):
        with threadpool_limits(threads):
            print(f"--- BLAS threads: {threads}")
            measure()


def measure() -> None:
    cy = course_step("cython")
    npy = course_step("numpy", n=128)
    print(
        f"course CNN, 32x32x3, batch 64, Adam, through fit: cython {cy:,.0f} us/step, numpy {npy:,.0f} us/step "
        f"({npy / cy:.1f}x)"
    )
    backend.set_backend("cython")
    print(
        f"{'conv2d (same, stride 1)':34s} {'as one product':26s} {'fwd GF/s':>9s} {'step GF/s':>10s} "
        f"{'sgemm GF/s':>11s}"
    )
    for rows, shape, k, f in (
        (64, (32, 32, 32), (3, 3), 64),
        (32, (16, 16, 64), (3, 3), 128),
        (64, (32, 32, 3), (3, 3), 32),
    ):
        r = conv_products(rows, shape, k, f)
        print(f"{r['shape']:34s} {r['gemm']:26s} {r['fwd']:9.1f} {r['step']:10.1f} {r['sgemm']:11.1f}")


if __name__ == "__main__":
    main()
