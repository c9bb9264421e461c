"""The drug-trial toy data set: does a patient's age predict a side effect?"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

SIDE_EFFECT_NAMES: tuple[str, str] = ("no side effect", "side effect")


class SideEffects(NamedTuple):
    """Unpacks as ``ages, labels``: both int64 ``(n,)``; label 1 = had a side effect."""

    ages: np.ndarray
    labels: np.ndarray


def side_effects(n: int = 2100, seed: int | None = 0, shuffle: bool = True) -> SideEffects:
    """Ages 13-100 of ``n`` trial patients and whether each had a side effect.

    Half the patients are younger (13-64) and half older (65-100). In each half
    one patient in 21 is an exception: about 95 % of the older ones had a side
    effect and about 95 % of the younger ones did not. With the default
    ``n=2100`` this is exactly the classic tutorial's set: 50 younger patients
    with and 50 older without a side effect, 1000 younger without and 1000
    older with.

    Args:
        n: number of patients (>= 2).
        seed: the same seed gives the same data; ``None`` draws fresh randomness.
        shuffle: mix the patients (else grouped: exceptions first, as the tutorial appends them).
            Keep it on with ``fit(validation_split=...)``, which takes the *last* samples.

    Returns:
        ``SideEffects(ages, labels)``, int64 arrays of shape ``(n,)``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    rng = np.random.default_rng(seed)
    n_young = n // 2
    n_old = n - n_young
    young_exceptions, old_exceptions = round(n_young / 21), round(n_old / 21)
    ages = np.concatenate(
        [
            rng.integers(13, 65, young_exceptions),  # younger with a side effect
            rng.integers(65, 101, old_exceptions),  # older without
            rng.integers(13, 65, n_young - young_exceptions),  # younger without
            rng.integers(65, 101, n_old - old_exceptions),  # older with
        ]
    ).astype(np.int64)
    labels = np.concatenate(
        [
            np.ones(young_exceptions),
            np.zeros(old_exceptions),
            np.zeros(n_young - young_exceptions),
            np.ones(n_old - old_exceptions),
        ]
    ).astype(np.int64)
    if shuffle:
        order = rng.permutation(n)
        ages, labels = ages[order], labels[order]
    return SideEffects(ages=ages, labels=labels)
