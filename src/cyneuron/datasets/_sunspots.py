"""The yearly mean sunspot numbers, 1700-2008: a real, public time series shipped with the package."""

from __future__ import annotations

from importlib import resources
from typing import NamedTuple

import numpy as np

SOURCE = (
    "Yearly mean sunspot numbers 1700-2008, National Geophysical Data Center (NOAA), as shipped by statsmodels "
    "(statsmodels.datasets.sunspots; public domain)"
)


class Sunspots(NamedTuple):
    years: np.ndarray  # int64 (309,)
    values: np.ndarray  # float64 (309,)


def sunspots() -> Sunspots:
    """The yearly series as ``(years, values)``; ``SOURCE`` says where it comes from and under what terms."""
    text = resources.files("cyneuron.datasets").joinpath("sunspots.csv").read_text(encoding="utf-8")
    rows = [line.split(",") for line in text.splitlines() if line and not line.startswith("#")][1:]
    years = np.array([int(year) for year, _ in rows], dtype=np.int64)
    values = np.array([float(value) for _, value in rows], dtype=np.float64)
    return Sunspots(years, values)
