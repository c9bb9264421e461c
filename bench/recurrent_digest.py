"""Digest of the weights after a few training steps of each recurrent case (bitwise comparisons of builds).

python bench/recurrent_digest.py TREE        # prints one sha256 per case and dtype, and the max |w|
"""

import hashlib
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.path.join(os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "."), "src"))

import numpy as np  # noqa: E402

import cyneuron  # noqa: E402
from cyneuron import layers as cl  # noqa: E402

CASES = [
    ("LSTM", {}, (50, 8), 64),
    ("GRU", {}, (50, 8), 64),
    ("GRU", {"reset_after": False}, (12, 5), 24),
    ("SimpleRNN", {}, (20, 1), 32),
    ("LSTM", {"return_sequences": True, "go_backwards": True}, (7, 3), 13),
    # the general (non-default activation) paths and the dropout paths
    ("LSTM", {"activation": "relu", "recurrent_activation": "tanh"}, (9, 4), 12),
    ("GRU", {"activation": "relu", "recurrent_activation": "tanh"}, (9, 4), 12),
    ("GRU", {"reset_after": False, "activation": "relu"}, (9, 4), 12),
    ("SimpleRNN", {"activation": "relu", "use_bias": False}, (9, 4), 12),
    ("LSTM", {"dropout": 0.3}, (9, 4), 12),
    ("LSTM", {"dropout": 0.3, "recurrent_dropout": 0.2}, (9, 4), 12),
    ("GRU", {"dropout": 0.3, "recurrent_dropout": 0.2, "go_backwards": True}, (9, 4), 12),
    ("GRU", {"reset_after": False, "recurrent_dropout": 0.2}, (9, 4), 12),
    ("GRU", {"reset_after": False, "dropout": 0.2, "return_sequences": True}, (9, 4), 12),
    ("SimpleRNN", {"dropout": 0.2, "recurrent_dropout": 0.3}, (9, 4), 12),
]
cyneuron.backend.set_backend("cython")
for dtype in ("float32", "float64"):
    for cls, kw, shape, units in CASES:
        rng = np.random.default_rng(1)
        x = rng.standard_normal((96, *shape)).astype(dtype)
        model = cyneuron.models.Sequential([cl.Input(shape), getattr(cl, cls)(units, **kw), cl.Flatten(), cl.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        # identical initial weights in every tree
        model.set_weights(
            [
                np.random.default_rng(i).uniform(-0.3, 0.3, w.shape).astype(w.dtype)
                for i, w in enumerate(model.get_weights())
            ]
        )
        y = x.mean(axis=(1, 2))[:, None].astype(dtype)
        cyneuron.utils.set_random_seed(7)  # the dropout masks
        model.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0)
        ws = model.get_weights()
        h = hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in ws)).hexdigest()[:16]
        print(f"{dtype} {cls}{kw} {h} {max(float(np.abs(w).max()) for w in ws):.6f}")
