"""atheris target: the image readers (``utils.load_img``, ``utils.image_dataset_from_directory``,
``datasets.image_folder``), all through Pillow.

An input is one byte choosing the file's suffix, the colour mode and the aspect-ratio crop, then the file's
bytes. The file is read alone by ``load_img``, and beside one valid image by ``image_dataset_from_directory``
(class folder ``a``; the valid one in ``b``) and by ``image_folder`` (``cats/``, beside a valid cat and dog).
The seed corpus is small valid PNG, JPEG, GIF, BMP, TIFF and WebP files in several modes.

    python fuzz/image_reader.py -max_total_time=60 -rss_limit_mb=1536 -timeout=10 [CORPUS_DIR ...]

Outcome of each input: images of the requested shape with values in [0, 255], or ValueError / TypeError /
OSError (see _harness.py); ``image_folder`` must return the valid images and count the fuzzed one as read
or skipped (it skips unreadable files), never raise.
"""

from __future__ import annotations

import io
import os
import sys
import warnings
import zipfile

from _harness import instrumented, main, png_crc_mutator, scratch_dir, verdict

with instrumented(["cyneuron", "PIL"], loaded=(zipfile,)):
    import numpy as np
    from PIL import Image

    Image.init()  # imports every format plugin now, inside the instrumented block
    from cyneuron.datasets import image_folder
    from cyneuron.utils import image_dataset_from_directory, img_to_array, load_img

EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
COLOR_MODES = ("rgb", "grayscale", "rgba")
CHANNELS = {"rgb": 3, "grayscale": 1, "rgba": 4}
SIZE = (5, 7)
SCRATCH = scratch_dir("image_reader")
KERAS_DIR = os.path.join(SCRATCH, "keras")
FOLDER_DIR = os.path.join(SCRATCH, "folder")


def _encode(image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _valid_images() -> dict[str, tuple[str, bytes]]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (9, 12, 3), dtype=np.uint8), "RGB")
    rgba = Image.fromarray(rng.integers(0, 256, (6, 4, 4), dtype=np.uint8), "RGBA")
    gray = rgb.convert("L")
    frames = [rgb.convert("P"), gray.convert("P")]
    return {
        "rgb.png": (".png", _encode(rgb, "PNG")),
        "rgba.png": (".png", _encode(rgba, "PNG")),
        "gray16.png": (".png", _encode(Image.fromarray((rng.integers(0, 65535, (5, 5))).astype(np.uint16)), "PNG")),
        "palette.png": (".png", _encode(rgb.convert("P"), "PNG")),
        "rgb.jpg": (".jpg", _encode(rgb, "JPEG", quality=80)),
        "progressive.jpeg": (".jpeg", _encode(gray, "JPEG", progressive=True)),
        "animated.gif": (".gif", _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])),
        "rgb.bmp": (".bmp", _encode(rgb, "BMP")),
        "mono.bmp": (".bmp", _encode(rgb.convert("1"), "BMP")),
        # Other formats Pillow recognises by content, whatever the name says.
        "tiff.png": (".png", _encode(rgb, "TIFF")),
        "webp.jpg": (".jpg", _encode(rgba, "WEBP")),
    }


VALID = _valid_images()


def seeds() -> dict[str, bytes]:
    out = {}
    for i, (name, (suffix, data)) in enumerate(VALID.items()):
        selector = EXTENSIONS.index(suffix) + len(EXTENSIONS) * (i % len(COLOR_MODES))
        out[name] = bytes([selector]) + data
    return out


def _prepare_folders() -> None:
    for folder, classes in ((KERAS_DIR, ("a", "b")), (FOLDER_DIR, ("cats", "dogs"))):
        for name in classes:
            os.makedirs(os.path.join(folder, name))
        for name in classes[1:] if folder == KERAS_DIR else classes:
            with open(os.path.join(folder, name, "valid.png"), "wb") as f:
                f.write(VALID["rgb.png"][1])


_prepare_folders()


def _check_images(images: np.ndarray, shape: tuple[int, ...]) -> None:
    assert images.shape == shape, (images.shape, shape)
    assert images.dtype == np.float32, images.dtype
    assert np.isfinite(images).all() and images.min() >= 0 and images.max() <= 255


def test_one_input(data: bytes) -> None:
    if not data:
        return
    selector = data[0]
    suffix = EXTENSIONS[selector % len(EXTENSIONS)]
    color_mode = COLOR_MODES[(selector // len(EXTENSIONS)) % len(COLOR_MODES)]
    crop = bool((selector // (len(EXTENSIONS) * len(COLOR_MODES))) % 2)
    channels = CHANNELS[color_mode]
    paths = [os.path.join(KERAS_DIR, "a", "input" + suffix), os.path.join(FOLDER_DIR, "cats", "cat" + suffix)]
    for path in paths:
        with open(path, "wb") as f:
            f.write(data[1:])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            verdict(lambda: _load_one(paths[0], color_mode, crop, channels))
            verdict(lambda: _dataset(color_mode, crop, channels))
            # Two valid images beside the fuzzed one: image_folder must read them and skip (and count) it.
            _image_folder()
    finally:
        for path in paths:
            os.unlink(path)


def _load_one(path: str, color_mode: str, crop: bool, channels: int) -> None:
    image = load_img(path, color_mode=color_mode, target_size=SIZE, keep_aspect_ratio=crop)
    _check_images(img_to_array(image), (*SIZE, channels))


def _dataset(color_mode: str, crop: bool, channels: int) -> None:
    dataset = image_dataset_from_directory(
        KERAS_DIR,
        color_mode=color_mode,
        batch_size=2,
        image_size=SIZE,
        shuffle=False,
        crop_to_aspect_ratio=crop,
        verbose=False,
    )
    batches = list(dataset)
    assert len(batches) == 1
    images, labels = batches[0]
    _check_images(images, (2, *SIZE, channels))
    assert labels.tolist() == [0, 1]


def _image_folder() -> None:
    result = image_folder(FOLDER_DIR, size=4, shuffle=False)
    assert len(result.x) + len(result.skipped) == 3 and len(result.skipped) <= 1, (len(result.x), result.skipped)
    assert result.x.shape[1:] == (4, 4, 3) and result.x.dtype == np.uint8
    assert result.y.tolist()[-1] == 1


if __name__ == "__main__":
    main("image_reader", test_one_input, seeds, png_crc_mutator)
    sys.exit(0)
