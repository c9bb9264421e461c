"""The container every image dataset function returns."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

CLASS_NAMES: tuple[str, str] = ("cat", "dog")


@dataclass(frozen=True)
class ImageDataset:
    """Images and labels; unpacks as ``x, y, class_names = dataset``.

    Attributes:
        x: ``(n, size, size, 3)`` uint8 RGB pixels.
        y: ``(n,)`` int64 class indices into ``class_names`` (0 = cat, 1 = dog).
        class_names: the class names, index by index.
        skipped: paths of files that could not be read (only ``image_folder`` fills it).
    """

    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...] = CLASS_NAMES
    skipped: tuple[str, ...] = field(default=())

    def __iter__(self) -> Iterator[object]:
        # Three values, so the tuple-like unpacking ``x, y, names = ...`` works.
        return iter((self.x, self.y, self.class_names))

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}={int(np.sum(self.y == i))}" for i, name in enumerate(self.class_names))
        extra = f", skipped={len(self.skipped)}" if self.skipped else ""
        return f"ImageDataset(x={self.x.shape} {self.x.dtype}, {counts}{extra})"
