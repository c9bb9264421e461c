"""Images from folders the Keras way: ``image_dataset_from_directory``, ``load_img``, ``img_to_array``...

Indexing follows ``keras.utils.image_dataset_from_directory`` exactly (class order, file order, the
seeded shuffle and the validation split), so the same folder and seed select the same files for
training and validation as Keras does. Images are read and resized lazily with Pillow, one batch at a
time, and come out as float32 arrays in [0, 255] (``(batch, height, width, channels)``).
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import numpy as np

__all__ = [
    "image_dataset_from_directory",
    "load_img",
    "img_to_array",
    "array_to_img",
    "decode_image",
    "ImageDirectoryDataset",
]

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
_PIL_MODES = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}


def _pil():
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(
            'reading images needs Pillow: pip install "cyneuron[images]" (or pip install Pillow)'
        ) from error
    return Image


def _resample(Image, interpolation: str):  # noqa: N803 (the PIL module)
    names = {
        "nearest": "NEAREST",
        "bilinear": "BILINEAR",
        "bicubic": "BICUBIC",
        "lanczos": "LANCZOS",
        "lanczos3": "LANCZOS",
        "lanczos5": "LANCZOS",
        "box": "BOX",
        "area": "BOX",
        "hamming": "HAMMING",
    }
    if interpolation not in names:
        raise ValueError(f"interpolation: expected one of {sorted(names)}, got {interpolation!r}")
    resampling = getattr(Image, "Resampling", Image)  # Pillow < 9.1 has the constants on Image itself
    return getattr(resampling, names[interpolation])


# Pillow decodes a few formats in Python (run-length BMP, QOI, PPM text, XPM ...: Image.DECODERS) at about
# 1.5 us a pixel: a 100-byte run-length BMP declaring 46 million pixels took 70 s (found by the fuzzer).
MAX_PYTHON_DECODED_PIXELS = 1 << 21


class _SlowToDecode(ValueError):
    """An image refused because Pillow would decode its many pixels in Python."""


def _check_python_decoded(Image, img, path) -> None:  # noqa: N803 (the PIL module)
    """ValueError for an image whose decoder is one of Pillow's Python ones and that declares more than
    ``MAX_PYTHON_DECODED_PIXELS`` pixels (before decoding)."""
    pixels = img.size[0] * img.size[1]
    if pixels > MAX_PYTHON_DECODED_PIXELS and any(tile[0] in Image.DECODERS for tile in getattr(img, "tile", ())):
        raise _SlowToDecode(
            f"{os.fsdecode(path)}: {img.size[0]}x{img.size[1]} pixels in a {img.format} encoding that Pillow decodes "
            f"in Python (slowly); more than {MAX_PYTHON_DECODED_PIXELS} such pixels are refused before decoding"
        )


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """A PIL image from a file, as ``keras.utils.load_img``; ``target_size`` is ``(height, width)``.

    ``keep_aspect_ratio`` centre-crops to the target's aspect ratio before resizing. Unreadable files raise
    what ``decode_image`` documents (OSError; ValueError for oversized images and non-regular files).
    """
    Image = _pil()  # noqa: N806
    if color_mode not in _PIL_MODES:
        raise ValueError(f'color_mode must be "grayscale", "rgb", or "rgba". Received: color_mode={color_mode!r}')
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path should be path-like, got {type(path).__name__}")
    img = decode_image(path, _PIL_MODES[color_mode])
    if target_size is not None:
        height, width = (int(d) for d in target_size)
        if (img.size[0], img.size[1]) != (width, height):
            resample = _resample(Image, interpolation)
            if keep_aspect_ratio:
                w, h = img.size
                crop_w, crop_h = min(w, int(round(h * width / height))), min(h, int(round(w * height / width)))
                left, top = (w - crop_w) // 2, (h - crop_h) // 2
                img = img.crop((left, top, left + crop_w, top + crop_h))
            img = img.resize((width, height), resample)
    return img


MAX_IMAGE_FILE_BYTES = 1 << 30  # larger files are refused unread


def decode_image(path, mode: str | None = None, draft: tuple | None = None):
    """The fully decoded PIL image of one file (converted to ``mode``; ``draft=(mode, size)`` lets JPEGs
    decode at a reduced scale). The one place cyneuron's image readers open files.

    Raises:
        OSError: the file cannot be opened, is truncated or corrupted, or is not an image
            (``PIL.UnidentifiedImageError``, an OSError, as Pillow's).
        ValueError: the file is not a regular file (a FIFO would block), or its header declares more than
            ``PIL.Image.MAX_IMAGE_PIXELS`` pixels (refused before decoding; raise that limit to read it).
    """
    Image = _pil()  # noqa: N806
    # O_NONBLOCK: opening a FIFO returns at once (and is refused below) instead of waiting for a writer.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{os.fsdecode(path)} is not a regular file (a device, FIFO or socket), so not an image")
        if info.st_size > MAX_IMAGE_FILE_BYTES:
            raise ValueError(
                f"{os.fsdecode(path)}: {info.st_size} bytes, more than an image file may have ({MAX_IMAGE_FILE_BYTES})"
            )
        # Decoded from memory: a forged chunk length makes Pillow read(n) with n in the gigabytes, which a
        # file object allocates before reading and an in-memory buffer does not.
        data = io.BytesIO(f.read(info.st_size + 1))
        limit = Image.MAX_IMAGE_PIXELS
        try:
            img = Image.open(data)
            # Pillow only refuses images over twice its limit (warning below that): a small compressed file
            # declaring up to ~180 million pixels would still be decoded into gigabytes.
            if limit is not None and img.size[0] * img.size[1] > limit:
                raise Image.DecompressionBombError(f"{img.size[0]}x{img.size[1]} pixels")
            _check_python_decoded(Image, img, path)
            if draft is not None:
                img.draft(*draft)
            img.load()
            if mode is not None and img.mode != mode:
                img = img.convert(mode)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # the warning if made an error
            raise ValueError(
                f"{os.fsdecode(path)}: the image declares more pixels than PIL.Image.MAX_IMAGE_PIXELS={limit} "
                f"({exc}); refused before decoding (raise that limit to read it)"
            ) from None
        except (MemoryError, _SlowToDecode):
            raise
        except Exception as exc:
            # Pillow's decoders raise many types for malformed data (OSError, ValueError, SyntaxError, EOFError,
            # struct.error, IndexError...; Pillow's own fuzzers accept any Exception): one type, naming the file.
            error = Image.UnidentifiedImageError if isinstance(exc, Image.UnidentifiedImageError) else OSError
            raise error(f"{os.fsdecode(path)}: cannot decode this image ({type(exc).__name__}: {exc})") from exc
    return img


def img_to_array(img, data_format=None, dtype=None) -> np.ndarray:
    """A PIL image as a float32 array ``(height, width, channels)`` (``channels_first``: channels first)."""
    data_format = data_format or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"Unknown data_format: {data_format}")
    array = np.asarray(img, dtype=dtype or "float32")
    if array.ndim == 2:
        array = array[:, :, None]
    elif array.ndim != 3:
        raise ValueError(f"Unsupported image shape: {array.shape}")
    return np.ascontiguousarray(array.transpose(2, 0, 1) if data_format == "channels_first" else array)


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A PIL image from an array ``(height, width, channels)``; ``scale`` maps its range to [0, 255]."""
    Image = _pil()  # noqa: N806
    x = np.asarray(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(f"Expected image array to have rank 3 (single image). Got array with shape: {x.shape}")
    if (data_format or "channels_last") == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        peak = np.max(x)
        if peak != 0:
            x = x / peak
        x = x * 255
    channels = x.shape[2]
    if channels not in (1, 3, 4):
        raise ValueError(f"Unsupported channel number: {channels}")
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    pixels = np.clip(x, 0, 255).astype("uint8")
    return Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, mode)


def _index_directory(directory: str, labels, formats, class_names, shuffle: bool, seed: int, follow_links: bool):
    """File paths, labels and class names in Keras' order (sorted classes, sorted walk, seeded shuffle)."""
    if labels == "inferred":
        subdirs = [
            name
            for name in sorted(os.listdir(directory))
            if os.path.isdir(os.path.join(directory, name)) and not name.startswith(".")
        ]
        if class_names is not None:
            if not set(class_names).issubset(subdirs):
                raise ValueError(
                    "The `class_names` passed did not match the names of the subdirectories of the target "
                    f"directory. Expected: {subdirs} (or a subset of it), but received: class_names={class_names}"
                )
            subdirs = list(class_names)
    else:
        subdirs = [""]
    paths, file_labels = [], []
    for index, subdir in enumerate(subdirs):
        root_dir = os.path.join(directory, subdir)
        walk = os.walk(root_dir, followlinks=follow_links)
        for root, _, files in sorted(walk, key=lambda entry: entry[0]):
            for name in sorted(files):
                if name.lower().endswith(formats):
                    paths.append(os.path.join(root, name))
                    file_labels.append(index)
    if labels == "inferred":
        label_array = np.array(file_labels, dtype="int32")
        names = subdirs
    elif labels is None:
        label_array, names = None, None
    else:
        if len(labels) != len(paths):
            raise ValueError(
                "Expected the lengths of `labels` to match the number of files in the target directory. "
                f"len(labels) is {len(labels)} while we found {len(paths)} files in directory {directory}."
            )
        label_array = np.asarray(labels)
        names = [str(label) for label in sorted(set(labels))]
    if shuffle:
        np.random.RandomState(seed).shuffle(paths)  # noqa: NPY002 (Keras' exact permutation)
        if label_array is not None:
            np.random.RandomState(seed).shuffle(label_array)  # noqa: NPY002
    return paths, label_array, names


class ImageDirectoryDataset:
    """Batches ``(images, labels)`` (only images with ``label_mode=None``) read lazily from files.

    Re-iterable: each pass is one epoch; with ``shuffle`` every pass after the first visits the files
    in a fresh seeded order (Keras reshuffles each epoch too). ``class_names`` and ``file_paths`` as Keras'.
    """

    def __init__(
        self,
        paths,
        labels,
        class_names,
        label_mode,
        color_mode,
        batch_size,
        image_size,
        interpolation,
        crop_to_aspect_ratio,
        shuffle,
        seed,
    ) -> None:
        self.file_paths = list(paths)
        self.class_names = class_names
        self._labels = labels
        self._label_mode = label_mode
        self._color_mode = color_mode
        self._batch_size = batch_size
        self._image_size = tuple(image_size)
        self._interpolation = interpolation
        self._crop = crop_to_aspect_ratio
        self._shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._passes = 0

    def __len__(self) -> int:
        if self._batch_size is None:
            return len(self.file_paths)
        return -(-len(self.file_paths) // self._batch_size)

    def _targets(self, index: np.ndarray):
        labels = self._labels[index]
        if self._label_mode == "categorical":
            return np.eye(len(self.class_names), dtype="float32")[labels]
        if self._label_mode == "binary":
            return labels.astype("float32").reshape(-1, 1)
        return labels

    def _images(self, index: np.ndarray) -> np.ndarray:
        return np.stack([self._read(self.file_paths[i]) for i in index])

    def _read(self, path: str) -> np.ndarray:
        try:
            img = load_img(path, self._color_mode, self._image_size, self._interpolation, self._crop)
        except (OSError, ValueError) as error:  # what decode_image raises for unreadable files
            raise ValueError(f"{path}: cannot read this image ({error}); remove it from the folder") from None
        return img_to_array(img)

    def __iter__(self):
        order = np.arange(len(self.file_paths))
        if self._shuffle and self._passes > 0:
            self._rng.shuffle(order)
        self._passes += 1
        size = self._batch_size or 1
        for first in range(0, len(order), size):
            index = order[first : first + size]
            images = self._images(index)
            item = images if self._labels is None else (images, self._targets(index))
            if self._batch_size is None:
                item = item[0] if self._labels is None else (item[0][0], item[1][0])
            yield item


def image_dataset_from_directory(
    directory,
    labels="inferred",
    label_mode="int",
    class_names=None,
    color_mode="rgb",
    batch_size=32,
    image_size=(256, 256),
    shuffle=True,
    seed=None,
    validation_split=None,
    subset=None,
    interpolation="bilinear",
    follow_links=False,
    crop_to_aspect_ratio=False,
    pad_to_aspect_ratio=False,
    data_format=None,
    verbose=True,
):
    """A dataset of image batches from a folder with one subfolder per class, as Keras'.

    ``subset="both"`` returns ``(training, validation)``. The result feeds ``fit`` / ``evaluate`` /
    ``predict`` directly (also as ``validation_data``).
    """
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError(
                "`labels` argument should be a list/tuple of integer labels, of the same size as the number of "
                "image files in the target directory. If you wish to infer the labels from the subdirectory names "
                'in the target directory, pass `labels="inferred"`. If you wish to get a dataset that only '
                f"contains images (no labels), pass `labels=None`. Received: labels={labels}"
            )
        if class_names:
            raise ValueError(
                f'You can only pass `class_names` if `labels="inferred"`. Received: labels={labels}, and '
                f"class_names={class_names}"
            )
    if label_mode not in {"int", "categorical", "binary", None}:
        raise ValueError(
            '`label_mode` argument must be one of "int", "categorical", "binary", or None. '
            f"Received: label_mode={label_mode}"
        )
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    if color_mode not in _CHANNELS:
        raise ValueError(
            f'`color_mode` must be one of {{"rgb", "rgba", "grayscale"}}. Received: color_mode={color_mode}'
        )
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    elif not isinstance(image_size, (list, tuple)) or len(image_size) != 2:
        raise ValueError(
            f"Invalid `image_size` value. Expected a tuple of 2 integers. Received: image_size={image_size}"
        )
    interpolation = interpolation.lower()
    _resample(_pil(), interpolation)
    if pad_to_aspect_ratio:
        raise ValueError("pad_to_aspect_ratio: not supported by cyneuron (use crop_to_aspect_ratio)")
    if (data_format or "channels_last") != "channels_last":
        raise ValueError("data_format: cyneuron's image datasets are channels_last")
    if validation_split is not None and not 0 < validation_split < 1:
        raise ValueError(f"`validation_split` must be between 0 and 1, received: {validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f'`subset` must be either "training", "validation" or "both", received: {subset}')
    if validation_split and shuffle and seed is None:
        raise ValueError(
            "If using `validation_split` and shuffling the data, you must provide a `seed` argument, to make "
            "sure that there is no overlap between the training and validation subset."
        )
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size: expected a positive int or None, got {batch_size!r}")
    directory = os.fspath(directory)
    if not Path(directory).is_dir():
        raise ValueError(f"directory: {directory} is not a folder")
    if seed is None:
        seed = np.random.randint(1e6)  # noqa: NPY002 (Keras draws it from NumPy's global RNG)
    paths, label_array, names = _index_directory(
        directory, labels, ALLOWLIST_FORMATS, class_names, shuffle, seed, follow_links
    )
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(
            f'When passing `label_mode="binary"`, there must be exactly 2 class_names. Received: class_names={names}'
        )
    if verbose:
        if label_array is None:
            print(f"Found {len(paths)} files.")
        else:
            print(f"Found {len(paths)} files belonging to {len(names)} classes.")

    def make(index_slice, name):
        subset_paths = paths[index_slice]
        if not subset_paths:
            raise ValueError(f"No images found in directory {directory}{name}. Allowed formats: {ALLOWLIST_FORMATS}")
        subset_labels = None if label_array is None else label_array[index_slice]
        return ImageDirectoryDataset(
            subset_paths,
            subset_labels,
            names,
            label_mode,
            color_mode,
            batch_size,
            image_size,
            interpolation,
            crop_to_aspect_ratio,
            shuffle,
            seed,
        )

    if not validation_split:
        return make(slice(None), "")
    n_val = int(validation_split * len(paths))
    if subset in ("training", "both") and verbose:
        print(f"Using {len(paths) - n_val} files for training.")
    if subset in ("validation", "both") and verbose:
        print(f"Using {n_val} files for validation.")
    train, val = slice(None, len(paths) - n_val), slice(len(paths) - n_val, None)
    if subset == "both":
        return make(train, " (training subset)"), make(val, " (validation subset)")
    return make(train if subset == "training" else val, f" ({subset} subset)")
