"""The counter-based generator behind Dropout, written once here and once in C (``csrc/cyneuron/_rng.pxd``).

A draw is a pure function of ``(key, counter)``: no state advances, so both backends give the
same masks for the same seed, step and stage, and a refused training step redraws nothing.
The mixer is SplitMix64's finaliser; a uniform in [0, 1) takes the top 53 bits.
"""

from __future__ import annotations

import numpy as np

_MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


def mix(value: int) -> int:
    """SplitMix64's finaliser on a Python int (taken modulo 2**64)."""
    z = value & _MASK
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def stage_key(seed: int, step: int, stage: int) -> int:
    """The key of one stage's draws at one training step."""
    return mix(mix(mix(seed) ^ (step + 1)) ^ (stage + 1))


def uniform(key: int, counters: np.ndarray) -> np.ndarray:
    """float64 uniforms in [0, 1), one per uint64 counter: ``mix(key + (counter + 1) * GOLDEN) >> 11`` * 2**-53."""
    with np.errstate(over="ignore"):
        z = np.uint64(key) + (counters.astype(np.uint64) + np.uint64(1)) * np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53
