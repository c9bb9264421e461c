"""Measure (not a test): one-row prediction latency, cyneuron vs its own ONNX export in onnxruntime vs PyTorch.

(``report.py`` has these peers for the MLP, and JAX, in its prediction section; this script adds the CNN and
per-call percentiles.)

    PYTHONPATH=src /work/kvenv/bin/python bench/predict_onnx.py            # ~1 min
    PYTHONPATH=src /work/kvenv/bin/python bench/predict_onnx.py --quick
    PYTHONPATH=src /work/kvenv/bin/python bench/predict_onnx.py --threads 2

(needs onnx, onnxruntime and torch in the same interpreter: the ``bench`` extra.)

Two float32 models with the same weights everywhere:

* "mlp": the notes' 10 -> 32 (relu) -> 2 (softmax) (``common.PREDICT_MODEL``, the weights of
  ``bench/test_predict.py``);
* "cnn": 16x16x3 -> Conv2D(8, 3x3, relu, same) -> MaxPool2D(2) -> Conv2D(16, 3x3, relu, same)
  -> MaxPool2D(2) -> Flatten -> Dense(2, softmax).

Methods, each called on one (1, ...) row already in its final dtype and layout:

* cyneuron ``model.predict(x)`` (its fast path for converted rows) and ``model.predict_on_batch(x)``;
* onnxruntime ``InferenceSession.run(None, {name: x})`` on ``model.export(..., format="onnx")``'s file,
  ``intra_op_num_threads`` = ``--threads``, ``inter_op_num_threads`` = 1;
* PyTorch eager under ``torch.no_grad()``, ``torch.set_num_threads(--threads)`` (the CNN in NCHW, input
  converted once before timing), ``from_numpy`` in and ``.numpy()`` out.

Every round times ``--calls`` consecutive calls of each method (the method order rotates each round),
each call on its own (``perf_counter_ns``, the timer's own median cost subtracted), so a preempted
call on a busy machine moves the median little; the table gives the median over every call, and the
10th and 90th percentiles. Before timing, each method's output is checked against cyneuron's ``predict``
(max relative difference printed).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.ensure_cyneuron_importable()


def mlp():
    from cyneuron.layers import Dense, Input
    from cyneuron.models import Sequential

    model = Sequential([Input((10,)), Dense(32, activation="relu"), Dense(2, activation="softmax")])
    model.set_weights(common.initial_weights(common.PREDICT_MODEL, seed=7))
    x = np.ascontiguousarray(common.load_data("predict")[0][:1], dtype=np.float32)
    return model, x


def cnn():
    from cyneuron.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D
    from cyneuron.models import Sequential
    from cyneuron.utils import set_random_seed

    set_random_seed(0)
    model = Sequential(
        [
            Input((16, 16, 3)),
            Conv2D(8, 3, padding="same", activation="relu"),
            MaxPooling2D(2),
            Conv2D(16, 3, padding="same", activation="relu"),
            MaxPooling2D(2),
            Flatten(),
            Dense(2, activation="softmax"),
        ]
    )
    x = np.random.default_rng(1).standard_normal((1, 16, 16, 3)).astype(np.float32)
    return model, x


def torch_twin(name: str, model):
    """The same network in PyTorch with the same weights; returns (module, input transform)."""
    import torch
    from torch import nn

    w = [torch.from_numpy(np.ascontiguousarray(a)) for a in model.get_weights()]
    if name == "mlp":
        net = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 2), nn.Softmax(dim=1))
        for layer, kernel, bias in ((net[0], w[0], w[1]), (net[2], w[2], w[3])):
            layer.weight.data, layer.bias.data = kernel.T.contiguous(), bias
        return net.eval(), lambda x: x
    conv1, conv2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1)
    dense = nn.Linear(16 * 4 * 4, 2)
    for conv, kernel, bias in ((conv1, w[0], w[1]), (conv2, w[2], w[3])):
        conv.weight.data, conv.bias.data = kernel.permute(3, 2, 0, 1).contiguous(), bias
    # Keras flattens (H, W, C); torch's NCHW flatten is (C, H, W): permute the dense rows to match
    rows = np.arange(4 * 4 * 16).reshape(4, 4, 16).transpose(2, 0, 1).reshape(-1)
    dense.weight.data, dense.bias.data = w[4][torch.from_numpy(rows)].T.contiguous(), w[5]

    net = nn.Sequential(conv1, nn.ReLU(), nn.MaxPool2d(2), conv2, nn.ReLU(), nn.MaxPool2d(2))
    net = nn.Sequential(net, nn.Flatten(), dense, nn.Softmax(dim=1)).eval()
    return net, lambda x: np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def methods(name: str, model, x, threads: int, folder: str) -> dict:
    import onnxruntime as ort
    import torch

    path = os.path.join(folder, f"{name}.onnx")
    model.export(path, format="onnx", verbose=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    net, to_torch = torch_twin(name, model)
    tx = to_torch(x)
    torch.set_num_threads(threads)
    predict, on_batch, run, no_grad, from_numpy = (
        model.predict,
        model.predict_on_batch,
        session.run,
        torch.no_grad,
        torch.from_numpy,
    )

    def torch_call():
        with no_grad():
            return net(from_numpy(tx)).numpy()

    return {
        "cyneuron predict": lambda: predict(x),
        "cyneuron predict_on_batch": lambda: on_batch(x),
        "onnxruntime run": lambda: run(None, {input_name: x})[0],
        "torch no_grad": torch_call,
    }


def measure(calls: dict, rounds: int, per_round: int) -> dict:
    """Per method, every call's own time (s) minus the timer's cost, over all rounds."""
    clock = time.perf_counter_ns
    empty = []
    for _ in range(2000):
        start = clock()
        empty.append(clock() - start)
    overhead = float(np.median(empty))
    names = list(calls)
    times = {n: [] for n in names}
    for r in range(rounds):
        for n in names[r % len(names) :] + names[: r % len(names)]:
            f, out = calls[n], times[n]
            for _ in range(per_round):
                start = clock()
                f()
                out.append(clock() - start)
    return {n: (np.asarray(t, np.float64) - overhead) * 1e-9 for n, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds, per_round = (7, 200) if args.quick else (args.rounds, args.calls)
    import onnxruntime
    import torch

    import cyneuron

    print(f"uptime: {os.popen('uptime').read().strip()}")
    print(
        f"cyneuron {cyneuron.__version__} ({cyneuron.get_backend()}), onnxruntime {onnxruntime.__version__}, "
        f"torch {torch.__version__}; threads {args.threads}; {rounds} rounds x {per_round} calls"
    )
    with tempfile.TemporaryDirectory() as folder:
        for name, make in (("mlp", mlp), ("cnn", cnn)):
            model, x = make()
            calls = methods(name, model, x, args.threads, folder)
            reference = model.predict(x)
            print(f"\n{name}: input {x.shape}, output {reference.shape}")
            for label, f in calls.items():
                diff = np.max(np.abs(np.asarray(f()) - reference) / np.abs(reference))
                print(f"  {label:28s} max relative difference to predict {diff:.1e}")
            times = measure(calls, rounds, per_round)
            base = np.median(times["cyneuron predict"])
            print(f"  {'method':28s} {'median us':>10s} {'p10-p90 us':>16s} {'vs predict':>11s}")
            for label, values in times.items():
                med = np.median(values)
                p10, p90 = np.percentile(values, [10, 90]) * 1e6
                print(f"  {label:28s} {med * 1e6:10.2f} {f'{p10:.2f}-{p90:.2f}':>16s} {med / base:10.2f}x")


if __name__ == "__main__":
    main()
