"""Keras oracle for the optimizer reference: the same weights and gradients through both, ~50 steps.

Run under the Keras venv (not part of the test suite):

    KERAS_BACKEND=jax /work/kvenv/bin/python bench/oracle/optimizers_vs_keras.py

For every optimizer and option combination, and every schedule, builds the Keras optimizer and
cyneuron's front-end twin from the same arguments, applies the same float32 random gradients
for STEPS steps (Keras' ``optimizer.apply``; cyneuron's ``reference.optimizers.apply`` on
``optimizer.spec``) and prints the largest relative difference over weights and slots.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from cyneuron import optimizers as cy  # noqa: E402
from cyneuron.backend.reference import optimizers as reference  # noqa: E402

STEPS = 50
SHAPES = [(5, 4), (4,), (3, 2, 2)]
TARGET = 1e-5

SCHEDULES = [
    ("ExponentialDecay", {"initial_learning_rate": 0.01, "decay_steps": 7, "decay_rate": 0.8}),
    ("ExponentialDecay", {"initial_learning_rate": 0.01, "decay_steps": 7, "decay_rate": 0.8, "staircase": True}),
    ("PiecewiseConstantDecay", {"boundaries": [5, 20, 30], "values": [0.02, 0.01, 0.005, 0.001]}),
    ("InverseTimeDecay", {"initial_learning_rate": 0.01, "decay_steps": 5, "decay_rate": 0.5}),
    ("InverseTimeDecay", {"initial_learning_rate": 0.01, "decay_steps": 5, "decay_rate": 0.5, "staircase": True}),
    ("PolynomialDecay", {"initial_learning_rate": 0.01, "decay_steps": 30, "end_learning_rate": 0.001, "power": 2.0}),
    ("PolynomialDecay", {"initial_learning_rate": 0.01, "decay_steps": 15, "power": 0.5, "cycle": True}),
    ("CosineDecay", {"initial_learning_rate": 0.01, "decay_steps": 40, "alpha": 0.1}),
    ("CosineDecay", {"initial_learning_rate": 0.001, "decay_steps": 30, "warmup_target": 0.01, "warmup_steps": 10}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.01, "first_decay_steps": 10}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.01, "first_decay_steps": 7, "t_mul": 1.0, "m_mul": 0.7}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.01, "first_decay_steps": 6, "t_mul": 1.5, "alpha": 0.2}),
]

CASES = (
    [
        ("SGD", {}),
        ("SGD", {"momentum": 0.9}),
        ("SGD", {"momentum": 0.9, "nesterov": True}),
        ("SGD", {"momentum": 0.5, "weight_decay": 0.01, "clipnorm": 0.5}),
        ("Adam", {}),
        ("Adam", {"amsgrad": True}),
        ("Adam", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-5, "global_clipnorm": 1.0}),
        ("Adam", {"clipvalue": 0.3}),
        ("AdamW", {}),
        ("AdamW", {"weight_decay": 0.1, "amsgrad": True, "learning_rate": 0.01}),
        ("RMSprop", {}),
        ("RMSprop", {"momentum": 0.9}),
        ("RMSprop", {"centered": True}),
        ("RMSprop", {"momentum": 0.5, "centered": True, "rho": 0.8, "weight_decay": 0.01}),
        ("Adagrad", {}),
        ("Adagrad", {"initial_accumulator_value": 0.5, "learning_rate": 0.05, "clipnorm": 1.0}),
        ("Adadelta", {}),
        ("Adadelta", {"learning_rate": 1.0, "rho": 0.9, "global_clipnorm": 0.5}),
        ("Adamax", {}),
        ("Adamax", {"learning_rate": 0.01, "beta_2": 0.9, "weight_decay": 0.05}),
        ("Nadam", {}),
        ("Nadam", {"learning_rate": 0.01, "beta_1": 0.8, "clipvalue": 0.5}),
        ("Lion", {}),
        ("Lion", {"beta_1": 0.5, "beta_2": 0.9, "weight_decay": 0.1}),
    ]
    + [("SGD", {"learning_rate": ("schedule", name, args), "momentum": 0.9}) for name, args in SCHEDULES]
    + [("Adam", {"learning_rate": ("schedule", SCHEDULES[7][0], SCHEDULES[7][1]), "weight_decay": 0.05})]
)


def build(module, class_name, kwargs):
    kwargs = dict(kwargs)
    lr = kwargs.get("learning_rate")
    if isinstance(lr, tuple):
        kwargs["learning_rate"] = getattr(module.schedules, lr[1])(**lr[2])
    return getattr(module, class_name)(**kwargs)


def run_case(class_name, kwargs, seed):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=shape).astype(np.float32) for shape in SHAPES]
    grads = [[rng.normal(scale=0.5, size=shape).astype(np.float32) for shape in SHAPES] for _ in range(STEPS)]

    k_opt = build(keras.optimizers, class_name, kwargs)
    k_vars = [keras.Variable(w.copy(), name=f"w{i}") for i, w in enumerate(weights)]
    for step in grads:
        k_opt.apply([keras.ops.convert_to_tensor(g) for g in step], k_vars)

    c_opt = build(cy, class_name, kwargs)
    spec = c_opt.spec
    params = [w.copy() for w in weights]
    slots = [[np.full(w.shape, value, np.float32) for _, value in reference.slot_specs(spec)] for w in params]
    scalars = np.array([value for _, value in reference.scalar_specs(spec)], dtype=np.float64)
    for it, step in enumerate(grads):
        reference.apply(spec, params, [g.copy() for g in step], slots, it, scalars)

    # Keras names slot variables "<weight path>_<slot name>", created slot by slot over all weights
    pairs = [(np.asarray(v.numpy()), w) for v, w in zip(k_vars, params)]
    for j, (slot_name, _) in enumerate(reference.slot_specs(spec)):
        keras_slots = [np.asarray(v.numpy()) for v in k_opt.variables if v.name.split("_", 1)[-1] == slot_name]
        if len(keras_slots) != len(params):
            raise AssertionError(f"{class_name}: Keras has {len(keras_slots)} {slot_name!r} variables")
        pairs += [(expected, s[j]) for expected, s in zip(keras_slots, slots)]
    if spec.kind == "nadam":
        u_product = [np.asarray(v.numpy()) for v in k_opt.variables if v.name.startswith("variable")]
        pairs.append((u_product[-1], scalars[:1].astype(np.float32).reshape(())))
    worst = 0.0
    for expected, actual in pairs:
        scale = max(float(np.max(np.abs(expected))), 1e-30)
        worst = max(worst, float(np.max(np.abs(actual - expected))) / scale)
    return worst


def main() -> int:
    failures = 0
    print(f"{'case':<96} max rel diff")
    for seed, (class_name, kwargs) in enumerate(CASES):
        label = f"{class_name}({', '.join(f'{k}={v[1] if isinstance(v, tuple) else v}' for k, v in kwargs.items())})"
        if any(isinstance(v, tuple) for v in kwargs.values()):
            lr = next(v for v in kwargs.values() if isinstance(v, tuple))
            label = f"{class_name}({lr[1]}{lr[2]}, ...)"
        worst = run_case(class_name, kwargs, seed)
        failures += worst > TARGET
        print(f"{label[:95]:<96} {worst:.2e}{'' if worst <= TARGET else '  > target'}")
    # Near a cosine trough Keras' float32 1 + cos(pi x) cancels to a few correct digits, so the
    # schedule values are compared relative to the schedule's peak value (and pointwise too, for the record).
    print(f"\n{'schedule value at steps 0..300':<80} {'|diff|/peak':>14} {'pointwise rel':>14}")
    for name, args in SCHEDULES:
        keras_schedule = getattr(keras.optimizers.schedules, name)(**args)
        ours = getattr(cy.schedules, name)(**args)
        expected = np.array([float(keras_schedule(step)) for step in range(301)])
        actual = np.array([float(ours(step)) for step in range(301)])
        diff = np.abs(actual - expected)
        worst = float(np.max(diff) / np.max(np.abs(expected)))
        pointwise = float(np.max(diff / np.maximum(np.abs(expected), 1e-30)))
        failures += worst > TARGET
        label = f"{name}{args}"[:79]
        print(f"{label:<80} {worst:>14.2e} {pointwise:>14.2e}{'' if worst <= TARGET else '  > target'}")
    print(f"\n{len(CASES) + len(SCHEDULES)} cases, {failures} above {TARGET:g}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
