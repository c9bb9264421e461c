"""Shared pieces of the benchmarks: workloads, data, initial weights and the five training methods.

Every method trains the same architecture from the same initial weights with plain SGD (lr 0.01),
sparse categorical cross-entropy and a fresh shuffle every epoch (the convolution and recurrent
workloads, ``LayerWorkload``: cyneuron and torch only):

* ``cython`` / ``numpy``: cyneuron's public ``Sequential.fit`` on that backend;
* ``numpy_loop``: a plain hand-written NumPy forward/backward/SGD loop (the honest baseline);
* ``torch``: PyTorch CPU eager, ``nn.Sequential`` + ``F.cross_entropy`` + ``optim.SGD``;
* ``jax``: one ``jax.jit`` of the whole SGD step (gather, forward, loss, grad, update) on the CPU.

Prediction (``Predictor``) has one more peer, ``onnxruntime``: an ``InferenceSession`` on cyneuron's own
ONNX export of the model (``PREDICT_METHODS``).

Nothing here times anything; ``worker.py`` and the pytest suites do.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")

LEARNING_RATE = 0.01
METHODS = ("cython", "numpy", "numpy_loop", "torch", "jax")
METHOD_LABELS = {
    "cython": "cyneuron (cython)",
    "numpy": "cyneuron (numpy backend)",
    "numpy_loop": "hand-written NumPy loop",
    "torch": "PyTorch CPU eager",
    "jax": "JAX jit (whole step)",
    "onnxruntime": "onnxruntime (cyneuron's ONNX export)",
}
# Prediction's peers: the training methods and onnxruntime (which only predicts).
PREDICT_METHODS = (*METHODS, "onnxruntime")
# Predictor's calls on one sample besides ``one`` (``predict``), by method.
PREDICT_ONE_CALLS = {"cython": ("on_batch", "call"), "numpy": ("on_batch", "call")}


def ensure_cyneuron_importable() -> None:
    """Use the checkout's ``src/`` when cyneuron is not installed (the in-place build lives there)."""
    try:
        import cyneuron  # noqa: F401
    except ImportError:
        sys.path.insert(0, SRC)


# ------------------------------------------------------------------------------------------ workloads
@dataclass(frozen=True)
class Workload:
    """One end-to-end training benchmark."""

    name: str
    input_dim: int
    layers: tuple[tuple[int, str], ...]  # (units, activation); the last one is always softmax
    batch_size: int
    epochs: int
    samples: int

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.samples // self.batch_size)

    @property
    def steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    @property
    def widths(self) -> list[int]:
        return [self.input_dim] + [units for units, _ in self.layers]

    @property
    def flops_per_step(self) -> int:
        """6 * batch * sum(in * out): 2 for the forward product, 4 for the two backward ones.

        Bias adds, activations, the softmax/loss and the SGD update are not counted.
        """
        w = self.widths
        return 6 * self.batch_size * sum(a * b for a, b in zip(w[:-1], w[1:]))

    @property
    def flops_needed_per_step(self) -> int:
        """``flops_per_step`` without the first layer's input gradient, which no trainer computes."""
        w = self.widths
        return self.flops_per_step - 2 * self.batch_size * w[0] * w[1]

    def describe(self) -> str:
        arch = "→".join(str(u) for u in self.widths)
        return f"{arch}, batch {self.batch_size}, {self.samples:,} samples, {self.epochs} epoch(s)"


@dataclass(frozen=True)
class LayerWorkload:
    """A convolution or recurrent training benchmark, trained by cyneuron (either backend) and PyTorch.

    ``kind`` "cnn": Conv2D(f1, 3x3, same, relu) -> MaxPool2D(2) -> Conv2D(f2, ...) -> MaxPool2D(2) -> Flatten
    -> Dense(classes, softmax) on ``input_shape`` (H, W, C), ``filters`` = (f1, f2); "lstm": LSTM(units)
    -> Dense(classes, softmax) on ``input_shape`` (T, features), ``filters`` = (units,).
    """

    name: str
    kind: str
    input_shape: tuple[int, ...]
    filters: tuple[int, ...]
    classes: int
    batch_size: int
    epochs: int
    samples: int

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.samples // self.batch_size)

    @property
    def steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    def _macs(self) -> tuple[int, int]:
        """Forward multiply-adds per sample: (all layers, the first layer)."""
        if self.kind == "cnn":
            (h, w, c), (f1, f2) = self.input_shape, self.filters
            first = h * w * 9 * c * f1
            return first + (h // 2) * (w // 2) * 9 * f1 * f2 + (h // 4) * (w // 4) * f2 * self.classes, first
        (t, features), (units,) = self.input_shape, self.filters
        first = t * 4 * (features + units) * units
        return first + units * self.classes, first

    @property
    def flops_per_step(self) -> int:
        """6 * batch * forward multiply-adds per sample (forward product + the two backward ones)."""
        return 6 * self.batch_size * self._macs()[0]

    @property
    def flops_needed_per_step(self) -> int:
        return self.flops_per_step - 2 * self.batch_size * self._macs()[1]

    def describe(self) -> str:
        shape = "×".join(str(d) for d in self.input_shape)
        if self.kind == "cnn":
            arch = f"{shape} → conv{self.filters[0]} → pool → conv{self.filters[1]} → pool → {self.classes}"
        else:
            arch = f"{shape} → LSTM({self.filters[0]}) → {self.classes}"
        return f"{arch}, batch {self.batch_size}, {self.samples:,} samples, {self.epochs} epoch(s)"


WORKLOADS: dict[str, Workload | LayerWorkload] = {
    "tiny": Workload("tiny", 1, ((16, "relu"), (32, "relu"), (2, "softmax")), 10, 3, 2100),
    "digits": Workload("digits", 64, ((32, "relu"), (10, "softmax")), 32, 20, 1797),
    "mnist-like": Workload("mnist-like", 784, ((128, "relu"), (10, "softmax")), 128, 1, 60_000),
    "wide": Workload("wide", 1024, ((1024, "relu"), (1024, "relu"), (10, "softmax")), 256, 1, 16_384),
    # convolution and recurrent workloads: cyneuron and torch only (LAYER_METHODS)
    "cnn": LayerWorkload("cnn", "cnn", (16, 16, 3), (8, 16), 2, 32, 1, 2048),
    "lstm": LayerWorkload("lstm", "lstm", (20, 8), (32,), 2, 32, 1, 2048),
}
# The methods written for LayerWorkload (the NumPy loop and the JAX step are MLP-only).
LAYER_METHODS = ("cython", "numpy", "torch")


def is_mlp(name: str) -> bool:
    return isinstance(WORKLOADS[name], Workload)


# The notes' model for prediction latency: Dense(32, input_shape=(10,), relu) -> Dense(2, softmax).
PREDICT_MODEL = Workload("predict", 10, ((32, "relu"), (2, "softmax")), 1, 1, 1000)


# --------------------------------------------------------------------------------------------- data
def _drug_trial_fallback(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The notes' drug trial: ages 13-100, ~95% of >= 65 have a side effect, ~95% of < 65 don't."""
    rng = np.random.default_rng(seed)
    young = rng.integers(13, 65, size=1050)
    old = rng.integers(65, 101, size=1050)
    ages = np.concatenate([young, old])
    labels = np.concatenate([np.arange(1050) < 50, np.arange(1050) >= 50]).astype(np.int64)
    perm = rng.permutation(ages.size)
    return ages[perm], labels[perm]


def drug_trial(seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """(x (2100, 1) float32 ages scaled to [0, 1], y (2100,) int64, source)."""
    ages = labels = None
    source = "generated in bench/common.py"
    try:
        ensure_cyneuron_importable()
        from cyneuron.datasets import side_effects

        result = side_effects(seed=seed) if _accepts(side_effects, "seed") else side_effects()
        ages, labels = _unpack_xy(result)
        source = "cyneuron.datasets.side_effects"
    except Exception:  # noqa: BLE001 - any missing/unknown API falls back to the equivalent generator
        ages = None
    if ages is None or np.asarray(ages).size != 2100:
        ages, labels = _drug_trial_fallback(seed)
        source = "generated in bench/common.py"
    ages = np.asarray(ages, dtype=np.float64).reshape(-1, 1)
    if ages.max() > 1.0:  # raw ages: min-max scale them as the notes do
        ages = (ages - 13.0) / (100.0 - 13.0)
    return np.ascontiguousarray(ages, dtype=np.float32), np.asarray(labels, dtype=np.int64).ravel(), source


def _accepts(function, name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def _unpack_xy(result):
    if isinstance(result, tuple) and len(result) >= 2:
        return result[0], result[1]
    for xname, yname in (("x", "y"), ("samples", "labels"), ("ages", "labels")):
        if hasattr(result, xname) and hasattr(result, yname):
            return getattr(result, xname), getattr(result, yname)
    return iter(result).__next__(), None


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return np.ascontiguousarray(data.data / 16.0, dtype=np.float32), data.target.astype(np.int64)


def mnist_like(samples: int = 60_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Learnable synthetic 28x28 'digits': a sparse prototype per class plus uniform noise, in [0, 1]."""
    rng = np.random.default_rng(seed)
    prototypes = (rng.random((10, 784), dtype=np.float32) < 0.2).astype(np.float32) * np.float32(0.7)
    y = rng.integers(0, 10, size=samples).astype(np.int64)
    x = rng.random((samples, 784), dtype=np.float32)
    x *= np.float32(0.3)
    x += prototypes[y]
    return x, y


def wide_data(samples: int = 16_384, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, 1024), dtype=np.float32)
    projection = rng.standard_normal((1024, 10), dtype=np.float32)
    return x, np.argmax(x @ projection, axis=1).astype(np.int64)


def load_data(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "tiny":
        return drug_trial()[:2]
    if name == "digits":
        return digits()
    if name == "mnist-like":
        return mnist_like(WORKLOADS[name].samples)
    if name == "wide":
        return wide_data(WORKLOADS[name].samples)
    if name in WORKLOADS and not is_mlp(name):
        return layer_data(WORKLOADS[name])
    if name == "predict":
        rng = np.random.default_rng(1)
        return rng.random((1000, 10), dtype=np.float32), rng.integers(0, 2, 1000).astype(np.int64)
    raise ValueError(f"unknown workload {name!r}")


def layer_data(workload: LayerWorkload, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian inputs; the label says whether the first channel / feature has a positive mean (learnable)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((workload.samples, *workload.input_shape), dtype=np.float32)
    first = x[..., 0].reshape(workload.samples, -1)
    return x, (first.mean(axis=1) > 0).astype(np.int64)


def layer_weights(workload: LayerWorkload, seed: int = 42) -> list[np.ndarray]:
    """Keras' default initial weights of the workload's cyneuron model, fixed by seed (Keras' layout)."""
    ensure_cyneuron_importable()
    from cyneuron.utils import set_random_seed

    set_random_seed(seed)
    return [w.copy() for w in build_keras_model(workload).get_weights()]


def initial_weights(workload: Workload, seed: int = 42) -> list[np.ndarray]:
    """Keras' defaults, fixed by seed: Glorot-uniform kernels (in, units), zero biases; float32."""
    rng = np.random.default_rng(seed)
    weights = []
    widths = workload.widths
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        weights.append(rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32))
        weights.append(np.zeros(fan_out, dtype=np.float32))
    return weights


# ------------------------------------------------------------------------------------------ methods
class Trainer:
    """Common interface of the four methods: ``fit()`` trains ``workload.epochs`` epochs."""

    method: str

    def __init__(self, workload: Workload, x: np.ndarray, y: np.ndarray) -> None:
        self.workload = workload
        self.x = x
        self.y = y
        self.weights0 = initial_weights(workload) if isinstance(workload, Workload) else layer_weights(workload)

    def reset(self, seed: int = 0) -> None:
        """Back to the initial weights, shuffling seeded with ``seed``."""
        raise NotImplementedError

    def fit(self, epochs: int | None = None, rows: int | None = None) -> None:
        """Train; ``rows`` limits the data to its first rows (warm-ups)."""
        raise NotImplementedError

    def loss(self) -> float:
        """Mean sparse categorical cross-entropy over the whole training set (current weights)."""
        raise NotImplementedError


def cyneuron_api_available() -> str | None:
    """None when the public front end is importable, else why not."""
    ensure_cyneuron_importable()
    try:
        import cyneuron
        from cyneuron.layers import Dense  # noqa: F401
        from cyneuron.models import Sequential  # noqa: F401
        from cyneuron.optimizers import SGD  # noqa: F401

        cyneuron.set_backend  # noqa: B018
    except (ImportError, AttributeError) as error:
        return f"cyneuron front end not available yet ({error})"
    return None


def cython_backend_available() -> str | None:
    ensure_cyneuron_importable()
    try:
        import cyneuron._kernels  # noqa: F401

        from cyneuron.backend.cython_ops import CythonOps  # noqa: F401
    except ImportError as error:
        return f"cython backend not built/available ({error})"
    return None


def torch_available() -> str | None:
    try:
        import torch  # noqa: F401
    except ImportError:
        return "torch is not installed (pip install torch)"
    return None


def build_keras_model(workload: Workload | LayerWorkload):
    """cyneuron ``Sequential`` of Dense layers (the first one names ``input_shape`` as in the notes), or a
    ``LayerWorkload``'s model."""
    from cyneuron.layers import Dense
    from cyneuron.models import Sequential

    if isinstance(workload, LayerWorkload):
        from cyneuron.layers import LSTM, Conv2D, Flatten, Input, MaxPooling2D

        if workload.kind == "cnn":
            f1, f2 = workload.filters
            body = [Conv2D(f1, 3, padding="same", activation="relu"), MaxPooling2D(2)]
            body += [Conv2D(f2, 3, padding="same", activation="relu"), MaxPooling2D(2), Flatten()]
        else:
            body = [LSTM(workload.filters[0])]
        return Sequential([Input(workload.input_shape), *body, Dense(workload.classes, activation="softmax")])

    layers = []
    for index, (units, activation) in enumerate(workload.layers):
        if index == 0:
            layers.append(Dense(units, activation=activation, input_shape=(workload.input_dim,)))
        else:
            layers.append(Dense(units, activation=activation))
    return Sequential(layers)


class CyneuronTrainer(Trainer):
    """cyneuron through its public API: ``compile`` once, ``fit`` per run."""

    def __init__(self, workload: Workload, x: np.ndarray, y: np.ndarray, backend: str) -> None:
        super().__init__(workload, x, y)
        ensure_cyneuron_importable()
        import cyneuron
        from cyneuron.optimizers import SGD

        self.method = backend
        cyneuron.set_backend(backend)
        self.model = build_keras_model(workload)
        self.model.compile(optimizer=SGD(learning_rate=LEARNING_RATE), loss="sparse_categorical_crossentropy")
        self.history = None
        self.reset()

    def reset(self, seed: int = 0) -> None:
        from cyneuron.utils import set_random_seed

        self.model.set_weights([w.copy() for w in self.weights0])
        set_random_seed(seed)

    def fit(self, epochs: int | None = None, rows: int | None = None) -> None:
        w = self.workload
        x, y = (self.x, self.y) if rows is None else (self.x[:rows], self.y[:rows])
        self.history = self.model.fit(x, y, batch_size=w.batch_size, epochs=epochs or w.epochs, shuffle=True, verbose=0)

    def loss(self) -> float:
        result = self.model.evaluate(self.x, self.y, batch_size=1024, verbose=0)
        return float(result[0] if isinstance(result, (list, tuple)) else result)


class NumpyLoopTrainer(Trainer):
    """The honest baseline: a straightforward NumPy training loop, no framework.

    Written the way a competent NumPy user would: vectorised, ``@`` for the products, fresh
    temporaries each step, in-place parameter updates. No buffer reuse or fused tricks.
    """

    method = "numpy_loop"

    def __init__(self, workload: Workload, x: np.ndarray, y: np.ndarray) -> None:
        super().__init__(workload, x, y)
        self.reset()

    def reset(self, seed: int = 0) -> None:
        self.params = [w.copy() for w in self.weights0]
        self.rng = np.random.default_rng(seed)

    def _forward(self, xb):
        activations = [xb]
        pre = []
        a = xb
        last = len(self.params) // 2 - 1
        for i in range(last + 1):
            z = a @ self.params[2 * i] + self.params[2 * i + 1]
            pre.append(z)
            a = z if i == last else np.maximum(z, 0)  # the last layer's softmax is folded into the loss
            activations.append(a)
        return pre, activations

    def fit(self, epochs: int | None = None, rows: int | None = None) -> float:
        x, y, params = self.x[:rows], self.y[:rows], self.params
        batch = self.workload.batch_size
        lr = np.float32(LEARNING_RATE)
        n = x.shape[0]
        layers = len(params) // 2
        epoch_loss = 0.0
        for _ in range(epochs or self.workload.epochs):
            order = self.rng.permutation(n)
            total = 0.0
            for start in range(0, n, batch):
                idx = order[start : start + batch]
                xb, yb = x[idx], y[idx]
                m = xb.shape[0]
                pre, acts = self._forward(xb)
                logits = pre[-1]
                shifted = logits - logits.max(axis=1, keepdims=True)
                exp = np.exp(shifted)
                sums = exp.sum(axis=1, keepdims=True)
                rows = np.arange(m)
                total += float(np.log(sums[:, 0]).sum() - shifted[rows, yb].sum())
                grad = exp / sums
                grad[rows, yb] -= 1
                grad /= m
                for i in range(layers - 1, -1, -1):
                    kernel, bias = params[2 * i], params[2 * i + 1]
                    grad_kernel = acts[i].T @ grad
                    grad_bias = grad.sum(axis=0)
                    if i > 0:
                        grad = (grad @ kernel.T) * (pre[i - 1] > 0)
                    kernel -= lr * grad_kernel
                    bias -= lr * grad_bias
            epoch_loss = total / n
        return epoch_loss

    def loss(self) -> float:
        logits = self._forward(self.x)[0][-1].astype(np.float64)
        shifted = logits - logits.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(self.y)), self.y].mean())


def torch_layer_model(workload: LayerWorkload, weights: list[np.ndarray]):
    """The ``LayerWorkload``'s network in PyTorch with the same weights, logits out; it takes NCHW images
    (cnn) or (batch, T, features) sequences (lstm)."""
    import torch
    from torch import nn

    w = [torch.from_numpy(np.ascontiguousarray(a)) for a in weights]
    if workload.kind == "cnn":
        (h, wd, _), (f1, f2) = workload.input_shape, workload.filters
        convs = nn.Conv2d(workload.input_shape[2], f1, 3, padding=1), nn.Conv2d(f1, f2, 3, padding=1)
        dense = nn.Linear(f2 * (h // 4) * (wd // 4), workload.classes)
        with torch.no_grad():
            for conv, kernel, bias in zip(convs, w[0:4:2], w[1:4:2]):
                conv.weight.copy_(kernel.permute(3, 2, 0, 1))  # (kh, kw, C, F) -> (F, C, kh, kw)
                conv.bias.copy_(bias)
            # Keras flattens (H, W, C), torch (C, H, W): the dense rows follow
            rows = np.arange(dense.in_features).reshape(h // 4, wd // 4, f2).transpose(2, 0, 1).reshape(-1)
            dense.weight.copy_(w[4][torch.from_numpy(rows)].T)
            dense.bias.copy_(w[5])
        return nn.Sequential(
            convs[0], nn.ReLU(), nn.MaxPool2d(2), convs[1], nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), dense
        )

    class LastStep(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(workload.input_shape[1], workload.filters[0], batch_first=True)
            self.dense = nn.Linear(workload.filters[0], workload.classes)

        def forward(self, x):
            return self.dense(self.lstm(x)[0][:, -1])

    net = LastStep()
    with torch.no_grad():  # Keras' gates are i, f, c, o as torch's i, f, g, o; one bias (torch's b_hh = 0)
        net.lstm.weight_ih_l0.copy_(w[0].T)
        net.lstm.weight_hh_l0.copy_(w[1].T)
        net.lstm.bias_ih_l0.copy_(w[2])
        net.lstm.bias_hh_l0.zero_()
        net.dense.weight.copy_(w[3].T)
        net.dense.bias.copy_(w[4])
    return net


def torch_model(workload: Workload, weights: list[np.ndarray], softmax: bool):
    """nn.Sequential with the same weights (torch stores Linear weights as (out, in))."""
    import torch
    from torch import nn

    modules = []
    for i, (units, activation) in enumerate(workload.layers):
        fan_in = workload.widths[i]
        linear = nn.Linear(fan_in, units)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(weights[2 * i].T)))
            linear.bias.copy_(torch.from_numpy(weights[2 * i + 1]))
        modules.append(linear)
        if activation == "relu":
            modules.append(nn.ReLU())
        elif activation == "softmax" and softmax:
            modules.append(nn.Softmax(dim=1))
    return nn.Sequential(*modules)


class TorchTrainer(Trainer):
    """PyTorch CPU eager, the way its tutorials write a loop (softmax folded into cross_entropy)."""

    method = "torch"

    def __init__(self, workload: Workload, x: np.ndarray, y: np.ndarray) -> None:
        super().__init__(workload, x, y)
        import torch

        torch.set_num_threads(2)
        layered = isinstance(workload, LayerWorkload) and workload.kind == "cnn"
        self.X = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if layered else x)  # NCHW
        self.Y = torch.from_numpy(y)
        self.reset()

    def reset(self, seed: int = 0) -> None:
        import torch

        if isinstance(self.workload, LayerWorkload):
            self.model = torch_layer_model(self.workload, self.weights0)
        else:
            self.model = torch_model(self.workload, self.weights0, softmax=False)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LEARNING_RATE)
        self.generator = torch.Generator().manual_seed(seed)

    def fit(self, epochs: int | None = None, rows: int | None = None) -> float:
        import torch
        import torch.nn.functional as F

        X, Y, model, optimizer = self.X[:rows], self.Y[:rows], self.model, self.optimizer
        n = X.shape[0]
        batch = self.workload.batch_size
        epoch_loss = 0.0
        for _ in range(epochs or self.workload.epochs):
            order = torch.randperm(n, generator=self.generator)
            total = 0.0
            for start in range(0, n, batch):
                idx = order[start : start + batch]
                xb, yb = X[idx], Y[idx]
                loss = F.cross_entropy(model(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * xb.shape[0]
            epoch_loss = total / n
        return epoch_loss

    def loss(self) -> float:
        import torch
        import torch.nn.functional as F

        with torch.no_grad():
            return float(F.cross_entropy(self.model(self.X), self.Y))


def jax_available() -> str | None:
    try:
        import jax  # noqa: F401
    except ImportError:
        return "jax is not installed (pip install jax)"
    return None


def _jax_forward(params, xb):
    """Logits of the MLP (relu hidden layers; the softmax is folded into the loss)."""
    import jax.numpy as jnp

    a = xb
    last = len(params) // 2 - 1
    for i in range(last + 1):
        a = a @ params[2 * i] + params[2 * i + 1]
        if i < last:
            a = jnp.maximum(a, 0)
    return a


def _jax_loss(params, xb, yb):
    import jax
    import jax.numpy as jnp

    logp = jax.nn.log_softmax(_jax_forward(params, xb), axis=1)
    return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))


class JaxTrainer(Trainer):
    """JAX on the CPU at its best: the whole SGD step (batch gather from device-resident data, forward,
    loss, gradient, update) is one ``jax.jit`` call; the shuffled order is sent once per epoch."""

    method = "jax"

    def __init__(self, workload: Workload, x: np.ndarray, y: np.ndarray) -> None:
        super().__init__(workload, x, y)
        import jax
        import jax.numpy as jnp

        self.X = jax.device_put(jnp.asarray(x))
        self.Y = jax.device_put(jnp.asarray(y.astype(np.int32)))
        lr = np.float32(LEARNING_RATE)

        def step(params, X, Y, order, start, size):
            idx = jax.lax.dynamic_slice(order, (start,), (size,))
            grads = jax.grad(_jax_loss)(params, X[idx], Y[idx])
            return [p - lr * g for p, g in zip(params, grads)]

        self._step = jax.jit(step, static_argnums=5)
        self._loss = jax.jit(_jax_loss)
        self.reset()
        # Compile every batch size a full fit meets (the last batch may be short) before anything is timed.
        order = jax.device_put(jnp.arange(x.shape[0], dtype=jnp.int32))
        for size in {workload.batch_size, x.shape[0] % workload.batch_size} - {0}:
            jax.block_until_ready(self._step(self.params, self.X, self.Y, order, 0, size))

    def reset(self, seed: int = 0) -> None:
        import jax.numpy as jnp

        self.params = [jnp.asarray(w) for w in self.weights0]
        self.rng = np.random.default_rng(seed)

    def fit(self, epochs: int | None = None, rows: int | None = None) -> None:
        import jax
        import jax.numpy as jnp

        n = self.x.shape[0] if rows is None else min(rows, self.x.shape[0])
        batch = self.workload.batch_size
        params, step = self.params, self._step
        for _ in range(epochs or self.workload.epochs):
            order = jax.device_put(jnp.asarray(self.rng.permutation(n).astype(np.int32)))
            for start in range(0, n, batch):
                params = step(params, self.X, self.Y, order, start, min(batch, n - start))
        self.params = jax.block_until_ready(params)

    def loss(self) -> float:
        return float(self._loss(self.params, self.X, self.Y))


def make_trainer(method: str, workload: Workload | LayerWorkload, x: np.ndarray, y: np.ndarray) -> Trainer:
    if isinstance(workload, LayerWorkload) and method not in LAYER_METHODS:
        raise NotImplementedError(f"{method} is written for the MLP workloads only")
    if method in ("cython", "numpy"):
        return CyneuronTrainer(workload, x, y, method)
    if method == "numpy_loop":
        return NumpyLoopTrainer(workload, x, y)
    if method == "torch":
        return TorchTrainer(workload, x, y)
    if method == "jax":
        return JaxTrainer(workload, x, y)
    raise ValueError(f"unknown method {method!r}")


def method_unavailable(method: str) -> str | None:
    """Why ``method`` cannot run here, or None."""
    if method in ("cython", "numpy"):
        reason = cyneuron_api_available()
        if reason is None and method == "cython":
            reason = cython_backend_available()
        return reason
    if method == "torch":
        return torch_available()
    if method == "jax":
        return jax_available()
    if method == "onnxruntime":
        return cyneuron_api_available() or onnxruntime_available()
    return None


def onnxruntime_available() -> str | None:
    try:
        import onnx  # noqa: F401 - cyneuron's export writes the file with it
        import onnxruntime  # noqa: F401
    except ImportError as error:
        return f"onnxruntime / onnx not installed (pip install onnx onnxruntime): {error}"
    return None


# ----------------------------------------------------------------------------------------- predict
class Predictor:
    """One method's public prediction call on the notes' 10 -> 32 -> 2 model: ``one`` (one sample) and
    ``batch`` (1,000), plus for cyneuron ``on_batch`` (``predict_on_batch``) and ``call`` (``model(x)``) on
    one sample (``PREDICT_ONE_CALLS``). Each is called on data already in its final dtype and layout."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.weights = initial_weights(PREDICT_MODEL, seed=7)
        self.x_batch = load_data("predict")[0]
        self.x_one = np.ascontiguousarray(self.x_batch[:1])
        if method in ("cython", "numpy"):
            ensure_cyneuron_importable()
            import cyneuron

            cyneuron.set_backend(method)
            self.model = build_keras_model(PREDICT_MODEL)
            self.model.set_weights(self.weights)
            predict = self.model.predict
            self.one = lambda: predict(self.x_one, verbose=0)
            self.batch = lambda: predict(self.x_batch, batch_size=1000, verbose=0)
            model, on_batch = self.model, self.model.predict_on_batch
            self.on_batch = lambda: on_batch(self.x_one)
            self.call = lambda: model(self.x_one)
        elif method == "torch":
            import torch

            torch.set_num_threads(2)
            self.model = torch_model(PREDICT_MODEL, self.weights, softmax=True).eval()
            model, from_numpy, no_grad = self.model, torch.from_numpy, torch.no_grad

            def run(x):
                with no_grad():
                    return model(from_numpy(x)).numpy()

            self.one = lambda: run(self.x_one)
            self.batch = lambda: run(self.x_batch)
        elif method == "jax":
            import jax

            params = [jax.numpy.asarray(w) for w in self.weights]
            forward = jax.jit(lambda p, x: jax.nn.softmax(_jax_forward(p, x), axis=1))

            def run(x):
                return np.asarray(forward(params, x))

            self.one = lambda: run(self.x_one)
            self.batch = lambda: run(self.x_batch)
        elif method == "onnxruntime":
            import onnxruntime

            ensure_cyneuron_importable()
            model = build_keras_model(PREDICT_MODEL)
            model.set_weights(self.weights)
            with tempfile.TemporaryDirectory() as folder:
                path = os.path.join(folder, "predict.onnx")
                model.export(path, format="onnx", verbose=False)
                options = onnxruntime.SessionOptions()
                # one sample is latency-bound: one intra-op thread (ORT's pool only adds hand-offs)
                options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
                session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            name, run = session.get_inputs()[0].name, session.run
            self.one = lambda: run(None, {name: self.x_one})[0]
            self.batch = lambda: run(None, {name: self.x_batch})[0]
        elif method == "numpy_loop":
            k1, b1, k2, b2 = self.weights

            def run(x):
                z = np.maximum(x @ k1 + b1, 0) @ k2 + b2
                e = np.exp(z - z.max(axis=1, keepdims=True))
                return e / e.sum(axis=1, keepdims=True)

            self.one = lambda: run(self.x_one)
            self.batch = lambda: run(self.x_batch)
        else:
            raise ValueError(method)

    def outputs(self) -> np.ndarray:
        return np.asarray(self.batch())
