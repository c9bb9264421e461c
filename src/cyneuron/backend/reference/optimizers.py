"""Optimizers and learning-rate schedules in plain NumPy: the specification of ``_optim.pxd``.

Everything follows Keras 3.15 (``keras/src/optimizers``), including its order of operations
and which constants are rounded to the parameter dtype before use, so that float32 results
track Keras' to float32 rounding.

One optimizer step (``apply``), as Keras' ``BaseOptimizer.apply`` does it:

1. gradient clipping, at most one of: ``clipnorm`` (each gradient to that L2 norm),
   ``global_clipnorm`` (all gradients together), ``clipvalue`` (elementwise);
2. the learning rate ``lr = learning_rate_at(schedule, iterations)``, ``iterations`` being the
   number of steps completed before this one (Keras evaluates ``schedule(self._iterations)``
   before incrementing it);
3. decoupled weight decay ``w -= w * weight_decay * lr`` (every optimizer; AdamW is Adam with it);
4. the optimizer's own update.

``ScheduleSpec.values`` layout per kind (booleans as 0.0 / 1.0):

=========================  ======================================================================
kind                       values
=========================  ======================================================================
constant                   (learning_rate,)
exponential_decay          (initial_learning_rate, decay_steps, decay_rate, staircase)
piecewise_constant_decay   (b_0 .. b_{k-1}, v_0 .. v_k): k boundaries then k + 1 values (2k + 1)
inverse_time_decay         (initial_learning_rate, decay_steps, decay_rate, staircase)
polynomial_decay           (initial_learning_rate, decay_steps, end_learning_rate, power, cycle)
cosine_decay               (initial_learning_rate, decay_steps, alpha, has_warmup, warmup_target,
                           warmup_steps); has_warmup = 0.0 stands for Keras' warmup_target=None
cosine_decay_restarts      (initial_learning_rate, first_decay_steps, t_mul, m_mul, alpha)
=========================  ======================================================================

Piecewise boundaries are compared with the integer step after truncation toward zero, because
Keras casts them to the step's integer dtype.

``OptimizerSpec.hyper`` keys per kind (``HYPER_KEYS``; every key is required):

========  ===============================================  ====================================
kind      hyper                                            slots (``slot_specs`` order)
========  ===============================================  ====================================
sgd       momentum, nesterov                               momentum (only if momentum != 0)
adam      beta_1, beta_2, epsilon, amsgrad                 momentum, velocity[, velocity_hat]
rmsprop   rho, momentum, epsilon, centered                 velocity[, momentum if momentum > 0]
                                                           [, average_gradient if centered]
adagrad   initial_accumulator_value, epsilon               accumulator (starts at the initial
                                                           accumulator value)
adadelta  rho, epsilon                                     accumulated_grad, accumulated_delta_var
adamax    beta_1, beta_2, epsilon                          momentum, norm
nadam     beta_1, beta_2, epsilon                          momentum, velocity
lion      beta_1, beta_2                                   momentum
========  ===============================================  ====================================

Scalar state beyond the step count (``scalar_specs``): Nadam's ``u_product`` (starts at 1.0);
none for the others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cyneuron.backend.specs import OptimizerSpec, ScheduleSpec

__all__ = [
    "HYPER_KEYS",
    "OPTIMIZER_KINDS",
    "SCHEDULE_KINDS",
    "SCHEDULE_LENGTHS",
    "apply",
    "learning_rate_at",
    "scalar_specs",
    "slot_specs",
]

HYPER_KEYS: dict[str, tuple[str, ...]] = {
    "sgd": ("momentum", "nesterov"),
    "adam": ("beta_1", "beta_2", "epsilon", "amsgrad"),
    "rmsprop": ("rho", "momentum", "epsilon", "centered"),
    "adagrad": ("initial_accumulator_value", "epsilon"),
    "adadelta": ("rho", "epsilon"),
    "adamax": ("beta_1", "beta_2", "epsilon"),
    "nadam": ("beta_1", "beta_2", "epsilon"),
    "lion": ("beta_1", "beta_2"),
}
OPTIMIZER_KINDS = tuple(HYPER_KEYS)

# None: variable length (piecewise_constant_decay, 2k + 1 with k >= 1 ... Keras allows k = 0 too).
SCHEDULE_LENGTHS: dict[str, int | None] = {
    "constant": 1,
    "exponential_decay": 4,
    "piecewise_constant_decay": None,
    "inverse_time_decay": 4,
    "polynomial_decay": 5,
    "cosine_decay": 6,
    "cosine_decay_restarts": 5,
}
SCHEDULE_KINDS = tuple(SCHEDULE_LENGTHS)


def _hyper(spec: OptimizerSpec) -> dict[str, float]:
    if spec.kind not in HYPER_KEYS:
        raise ValueError(f"optimizer kind: expected one of {', '.join(OPTIMIZER_KINDS)}, got {spec.kind!r}")
    missing = [key for key in HYPER_KEYS[spec.kind] if key not in spec.hyper]
    if missing:
        raise ValueError(f"{spec.kind}: hyper is missing {', '.join(missing)}")
    return {key: float(spec.hyper[key]) for key in HYPER_KEYS[spec.kind]}


def slot_specs(spec: OptimizerSpec) -> tuple[tuple[str, float], ...]:
    """Per-parameter slot arrays ``(Keras' variable name, initial value)``, in the order ``apply`` takes them."""
    h = _hyper(spec)
    kind = spec.kind
    if kind == "sgd":
        return (("momentum", 0.0),) if h["momentum"] != 0 else ()
    if kind == "adam":
        return (("momentum", 0.0), ("velocity", 0.0)) + ((("velocity_hat", 0.0),) if h["amsgrad"] else ())
    if kind == "rmsprop":
        slots = [("velocity", 0.0)]
        if h["momentum"] > 0:
            slots.append(("momentum", 0.0))
        if h["centered"]:
            slots.append(("average_gradient", 0.0))
        return tuple(slots)
    if kind == "adagrad":
        return (("accumulator", h["initial_accumulator_value"]),)
    if kind == "adadelta":
        return (("accumulated_grad", 0.0), ("accumulated_delta_var", 0.0))
    if kind == "adamax":
        return (("momentum", 0.0), ("norm", 0.0))
    if kind == "nadam":
        return (("momentum", 0.0), ("velocity", 0.0))
    return (("momentum", 0.0),)  # lion


def scalar_specs(spec: OptimizerSpec) -> tuple[tuple[str, float], ...]:
    """Per-optimizer scalar state beyond the step count, ``(name, initial value)``."""
    _hyper(spec)
    return (("u_product", 1.0),) if spec.kind == "nadam" else ()


def check_schedule(schedule: ScheduleSpec) -> None:
    """Raise ValueError unless ``schedule`` has a known kind and its layout's length."""
    if schedule.kind not in SCHEDULE_LENGTHS:
        raise ValueError(f"schedule kind: expected one of {', '.join(SCHEDULE_KINDS)}, got {schedule.kind!r}")
    expected = SCHEDULE_LENGTHS[schedule.kind]
    n = len(schedule.values)
    if (expected is None and n % 2 != 1) or (expected is not None and n != expected):
        raise ValueError(f"{schedule.kind}: unexpected number of values ({n})")


def learning_rate_at(schedule: ScheduleSpec, iterations: int) -> float:
    """The learning rate of the step taken after ``iterations`` completed steps (float64 arithmetic)."""
    check_schedule(schedule)
    v = [float(x) for x in schedule.values]
    kind = schedule.kind
    step = float(iterations)
    if kind == "constant":
        return v[0]
    if kind in ("exponential_decay", "inverse_time_decay"):
        initial, decay_steps, decay_rate, staircase = v
        p = step / decay_steps
        if staircase:
            p = math.floor(p)
        if kind == "exponential_decay":
            return initial * decay_rate**p
        return initial / (1.0 + decay_rate * p)
    if kind == "piecewise_constant_decay":
        k = len(v) // 2
        boundaries = [math.trunc(b) for b in v[:k]]
        values = v[k:]
        if k == 0:
            return values[0]
        # Keras sums one indicator per piece, so this is what it returns even for unsorted boundaries.
        result = 0.0
        if iterations <= boundaries[0]:
            result += values[0]
        if iterations > boundaries[-1]:
            result += values[-1]
        for low, high, value in zip(boundaries[:-1], boundaries[1:], values[1:-1]):
            if low < iterations <= high:
                result += value
        return result
    if kind == "polynomial_decay":
        initial, decay_steps, end, power, cycle = v
        if cycle:
            decay_steps *= 1.0 if step == 0 else math.ceil(step / decay_steps)
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        return (initial - end) * (1.0 - p) ** power + end
    if kind == "cosine_decay":
        initial, decay_steps, alpha, has_warmup, warmup_target, warmup_steps = v
        if not has_warmup:
            return _cosine(min(step, decay_steps), decay_steps, initial, alpha)
        step = min(step, decay_steps + warmup_steps)
        if step < warmup_steps:
            return (warmup_target - initial) * (step / warmup_steps) + initial
        return _cosine(step - warmup_steps, decay_steps, warmup_target, alpha)
    # cosine_decay_restarts (SGDR)
    initial, first_decay_steps, t_mul, m_mul, alpha = v
    fraction = step / first_decay_steps
    if t_mul == 1.0:
        i_restart = math.floor(fraction)
        fraction -= i_restart
    else:
        # the restart index solves sum_{j < i} t_mul**j <= fraction
        i_restart = math.floor(math.log(1.0 - fraction * (1.0 - t_mul)) / math.log(t_mul))
        sum_r = (1.0 - t_mul**i_restart) / (1.0 - t_mul)
        fraction = (fraction - sum_r) / t_mul**i_restart
    cosine_decayed = 0.5 * m_mul**i_restart * (1.0 + math.cos(math.pi * fraction))
    return initial * ((1.0 - alpha) * cosine_decayed + alpha)


def _cosine(step: float, decay_steps: float, from_lr: float, alpha: float) -> float:
    decayed = 0.5 * (1.0 + math.cos(math.pi * (step / decay_steps)))
    return from_lr * ((1.0 - alpha) * decayed + alpha)


def _clip(spec: OptimizerSpec, grads: Sequence[np.ndarray]) -> None:
    if spec.clipnorm > 0:
        for g in grads:
            c = g.dtype.type(spec.clipnorm)
            norm = math.sqrt(float(np.sum(np.square(g, dtype=np.float64))))
            # written as Keras does: scale up by c first, then divide by max(norm, c)
            g *= c
            g /= max(g.dtype.type(norm), c)
    elif spec.global_clipnorm > 0:
        c = spec.global_clipnorm
        norm = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads))
        # min(1/norm, 1/c): no-op below the threshold; inf or NaN norms give a NaN scale, as in Keras
        inverse = 1.0 / norm if norm != 0 else math.inf
        scale = c * min(inverse, 1.0 / c) if math.isfinite(norm) else math.nan
        for g in grads:
            g *= g.dtype.type(scale)
    elif spec.clipvalue > 0:
        for g in grads:
            c = g.dtype.type(spec.clipvalue)
            np.clip(g, -c, c, out=g)


def apply(
    spec: OptimizerSpec,
    params: Sequence[np.ndarray],
    grads: Sequence[np.ndarray],
    slots: Sequence[Sequence[np.ndarray]],
    iterations: int,
    scalars: np.ndarray,
) -> None:
    """One optimizer step, in place on ``params``, ``slots`` and ``scalars`` (grads may be clipped in place).

    ``params[i]``, ``grads[i]`` and every ``slots[i][j]`` share one shape and dtype (float32 or
    float64); ``slots[i]`` follows ``slot_specs(spec)``; ``scalars`` (float64) follows
    ``scalar_specs(spec)``; ``iterations`` is the step count before this step.
    """
    h = _hyper(spec)
    kind = spec.kind
    _clip(spec, grads)
    lr64 = learning_rate_at(spec.learning_rate, iterations)
    t = iterations + 1.0
    if kind == "nadam":
        # Keras advances u_product once per step, before any variable's update
        scalars[0] = scalars[0] * h["beta_1"] * (1.0 - 0.5 * 0.96**t)
    for w, g, s in zip(params, grads, slots):
        f = w.dtype.type
        lr = f(lr64)
        if spec.weight_decay:
            w -= w * f(spec.weight_decay) * lr
        if kind == "sgd":
            _sgd(w, g, s, lr, h, f)
        elif kind == "adam":
            _adam(w, g, s, lr, h, f, t)
        elif kind == "rmsprop":
            _rmsprop(w, g, s, lr, h, f)
        elif kind == "adagrad":
            s[0] += np.square(g)
            w -= (lr * g) / np.sqrt(s[0] + f(h["epsilon"]))
        elif kind == "adadelta":
            _adadelta(w, g, s, lr, h, f)
        elif kind == "adamax":
            m, u = s
            m += (g - m) * f(1.0 - h["beta_1"])
            np.maximum(f(h["beta_2"]) * u, np.abs(g), out=u)
            w -= (lr * m) / (f(1.0 - h["beta_1"] ** t) * (u + f(h["epsilon"])))
        elif kind == "nadam":
            _nadam(w, g, s, lr, h, f, t, float(scalars[0]))
        else:
            _lion(w, g, s, lr, h, f)


# In the update rules below, f(1.0 - beta) (rounded once) and f(1) - f(beta) (rounded operands)
# differ in float32 by an ulp; each follows what the Keras optimizer writes.


def _sgd(w, g, s, lr, h, f) -> None:
    if not s:
        w -= g * lr
        return
    m = s[0]
    momentum = f(h["momentum"])
    m[...] = m * momentum - g * lr
    if h["nesterov"]:
        w += m * momentum - g * lr
    else:
        w += m


def _adam(w, g, s, lr, h, f, t) -> None:
    m, v = s[0], s[1]
    alpha = f(float(lr) * math.sqrt(1.0 - h["beta_2"] ** t) / (1.0 - h["beta_1"] ** t))
    m += (g - m) * f(1.0 - h["beta_1"])
    v += (np.square(g) - v) * f(1.0 - h["beta_2"])
    if h["amsgrad"]:
        np.maximum(s[2], v, out=s[2])
        v = s[2]
    w -= (m * alpha) / (np.sqrt(v) + f(h["epsilon"]))


def _rmsprop(w, g, s, lr, h, f) -> None:
    rho, one_minus_rho, eps = f(h["rho"]), f(1.0 - h["rho"]), f(h["epsilon"])
    velocity = s[0]
    velocity[...] = rho * velocity + one_minus_rho * np.square(g)
    if h["centered"]:
        average = s[-1]
        average[...] = rho * average + one_minus_rho * g
        denominator = velocity - np.square(average) + eps
    else:
        denominator = velocity + eps
    increment = (lr * g) / np.sqrt(denominator)
    if h["momentum"] > 0:
        m = s[1]
        m[...] = f(h["momentum"]) * m + increment
        w -= m
    else:
        w -= increment


def _adadelta(w, g, s, lr, h, f) -> None:
    rho, one_minus_rho, eps = f(h["rho"]), f(1.0 - h["rho"]), f(h["epsilon"])
    acc_grad, acc_delta = s
    acc_grad[...] = rho * acc_grad + one_minus_rho * np.square(g)
    delta = -((np.sqrt(acc_delta + eps) * g) / np.sqrt(acc_grad + eps))
    acc_delta[...] = rho * acc_delta + one_minus_rho * np.square(delta)
    w += lr * delta


def _nadam(w, g, s, lr, h, f, t, u_product) -> None:
    m, v = s
    beta_1, beta_2 = f(h["beta_1"]), f(h["beta_2"])
    u_t = h["beta_1"] * (1.0 - 0.5 * 0.96**t)
    u_t_1 = h["beta_1"] * (1.0 - 0.5 * 0.96 ** (t + 1.0))
    u_product_t_1 = u_product * u_t_1
    m += (g - m) * (f(1) - beta_1)
    v += (np.square(g) - v) * (f(1) - beta_2)
    m_hat = (f(u_t_1) * m) / f(1.0 - u_product_t_1) + (f(1.0 - u_t) * g) / f(1.0 - u_product)
    v_hat = v / f(1.0 - h["beta_2"] ** t)
    w -= (m_hat * lr) / (np.sqrt(v_hat) + f(h["epsilon"]))


def _lion(w, g, s, lr, h, f) -> None:
    m = s[0]
    beta_1, beta_2 = f(h["beta_1"]), f(h["beta_2"])
    w -= lr * np.sign(m * beta_1 + g * (f(1) - beta_1))
    m[...] = m * beta_2 + g * (f(1) - beta_2)
