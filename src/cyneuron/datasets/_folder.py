"""Load real cat and dog photos from a folder (Kaggle's "Dogs vs. Cats" and similar layouts)."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np

from cyneuron._image_utils import decode_image
from cyneuron.datasets._common import CLASS_NAMES, ImageDataset

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
# "cat.123.jpg", "dog_7.png", "cats-01.jpeg": the class is the leading word.
_NAMED_FILE = re.compile(r"^(cats?|dogs?)[._\- ]", re.IGNORECASE)
_CLASS_DIRS = {"cat": 0, "cats": 0, "dog": 1, "dogs": 1}
_LAYOUTS = "DIR/cat.1.jpg + DIR/dog.1.jpg, or DIR/cats/*.jpg + DIR/dogs/*.jpg, each optionally under DIR/train/"


def image_folder(
    path: str | os.PathLike[str],
    size: int = 32,
    limit: int | None = None,
    shuffle: bool = True,
    seed: int | None = 0,
) -> ImageDataset:
    """Load cat and dog photos as ``size`` x ``size`` RGB arrays.

    Recognised layouts (file names and folder names are case-insensitive)::

        DIR/cat.0.jpg  DIR/dog.0.jpg  ...       # Kaggle "Dogs vs. Cats" train folder
        DIR/cats/*.jpg DIR/dogs/*.jpg           # one folder per class ("cat"/"dog" also work)
        DIR/train/...                           # either of the above one level down

    Each image is centre-cropped to a square and resized, so shapes are not
    squashed. Files that cannot be decoded (truncated, not images, or declaring more than
    ``PIL.Image.MAX_IMAGE_PIXELS`` pixels, refused before decoding) are skipped: their paths are in the
    result's ``skipped`` and a warning says how many there were.

    Args:
        path: the folder.
        size: output height and width in pixels (>= 1).
        limit: load at most this many images, a random half-and-half subset
            (chosen before decoding, so large folders load quickly); ``None`` loads all.
        shuffle: return the images in random order rather than sorted by path.
            Keep it on when you pass ``validation_split`` to ``fit``, which takes
            the *last* samples, not a random subset.
        seed: seeds the subset and the order; ``None`` draws fresh randomness.

    Returns:
        ``ImageDataset`` that unpacks as ``x, y, class_names``: ``x`` uint8
        ``(n, size, size, 3)``, ``y`` int64 ``(n,)`` with 0 = cat and 1 = dog.

    Raises:
        ImportError: Pillow is not installed.
        FileNotFoundError / NotADirectoryError: ``path`` is missing or a file.
        ValueError: no readable images, or images of one class only.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 2):
        raise ValueError(f"limit must be None or an int >= 2, got {limit!r}")
    try:
        from PIL import Image, ImageOps
    except ImportError as error:
        raise ImportError(
            'image_folder needs Pillow to read image files: pip install "cyneuron[images]" (or pip install Pillow)'
        ) from error

    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"image_folder: {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"image_folder: {root} is not a folder")
    base = root / "train" if (root / "train").is_dir() else root
    files = _find_files(base)
    if not files:
        raise ValueError(f"image_folder: no cat or dog images found in {base}; expected {_LAYOUTS}")

    rng = np.random.default_rng(seed)
    if limit is not None and limit < len(files):
        files = _balanced_subset(files, int(limit), rng)

    images: list[np.ndarray] = []
    labels: list[int] = []
    skipped: list[str] = []
    resample = getattr(Image, "Resampling", Image).LANCZOS  # Pillow < 9.1 has no Resampling enum
    for file, label in files:
        try:
            # JPEG: decode at a reduced scale, much faster.
            photo = decode_image(file, "RGB", draft=("RGB", (2 * size, 2 * size)))
            square = ImageOps.fit(photo, (size, size), method=resample)
            images.append(np.asarray(square, dtype=np.uint8))
            labels.append(label)
        except (OSError, ValueError):  # what decode_image raises for truncated, foreign or oversized files
            skipped.append(str(file))

    if skipped:
        warnings.warn(
            f"image_folder: skipped {len(skipped)} unreadable file(s) in {base}, e.g. {skipped[0]}",
            UserWarning,
            stacklevel=2,
        )
    if not images:
        raise ValueError(f"image_folder: none of the {len(files)} image files in {base} could be read")
    found = sorted(set(labels))
    if len(found) < 2:
        missing = CLASS_NAMES[1 - found[0]]
        raise ValueError(
            f"image_folder: only {CLASS_NAMES[found[0]]} images in {base} ({len(images)} read), no {missing} images;"
            f" expected {_LAYOUTS}"
        )

    x = np.stack(images)
    y = np.asarray(labels, dtype=np.int64)
    if shuffle:
        order = rng.permutation(len(y))
        x, y = x[order], y[order]
    return ImageDataset(x=x, y=y, class_names=CLASS_NAMES, skipped=tuple(skipped))


def _find_files(base: Path) -> list[tuple[Path, int]]:
    """(file, label) pairs for both layouts inside ``base``, sorted by path."""
    found: list[tuple[Path, int]] = []
    for entry in sorted(base.iterdir()):
        if entry.is_dir() and entry.name.lower() in _CLASS_DIRS:
            label = _CLASS_DIRS[entry.name.lower()]
            found.extend((f, label) for f in sorted(entry.rglob("*")) if _is_image(f))
        elif _is_image(entry):
            match = _NAMED_FILE.match(entry.name)
            if match:
                found.append((entry, _CLASS_DIRS[match.group(1).lower()]))
    return found


def _is_image(file: Path) -> bool:
    return file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES and not file.name.startswith(".")


def _balanced_subset(files: list[tuple[Path, int]], limit: int, rng: np.random.Generator) -> list[tuple[Path, int]]:
    by_class = [[f for f in files if f[1] == label] for label in (0, 1)]
    # Half each, or all of the smaller class and the rest from the other.
    take0 = min(len(by_class[0]), max(limit // 2, limit - len(by_class[1])))
    take = (take0, min(len(by_class[1]), limit - take0))
    chosen = [by_class[c][i] for c in (0, 1) for i in sorted(rng.choice(len(by_class[c]), take[c], replace=False))]
    return sorted(chosen)
