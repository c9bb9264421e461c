"""Interim: SGD only, with the interface the full module (all Keras optimizers) provides."""

from __future__ import annotations


def slot_specs(spec) -> tuple[tuple[str, float], ...]:
    if spec.kind != "sgd":
        raise ValueError(f"optimizer: unknown kind {spec.kind!r}")
    return (("momentum", 0.0),) if spec.hyper.get("momentum", 0.0) > 0 else ()


def scalar_specs(spec) -> tuple[tuple[str, float], ...]:
    return ()


def learning_rate_at(schedule, iterations: int) -> float:
    return float(schedule.values[0])


def apply(spec, params, grads, slots, iterations, scalars) -> None:
    lr_value = learning_rate_at(spec.learning_rate, iterations)
    momentum = spec.hyper.get("momentum", 0.0)
    for w, g, s in zip(params, grads, slots):
        lr = w.dtype.type(lr_value)
        if momentum == 0:
            w -= lr * g
            continue
        m = w.dtype.type(momentum)
        v = s[0]
        v[...] = m * v - lr * g
        if spec.hyper.get("nesterov", 0.0):
            w += m * v - lr * g
        else:
            w += v
