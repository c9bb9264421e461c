"""Hostile image files, and the inputs the atheris targets in ``fuzz/`` found, inlined or generated.

Every image reader (``utils.load_img``, ``utils.image_dataset_from_directory``, ``datasets.image_folder``)
opens files through ``_image_utils.decode_image``: a truncated file, a file that is no image, and a header
declaring more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels (refused before decoding) are ``OSError`` /
``ValueError`` there. ``image_folder`` skips such files and counts them (``skipped`` and a warning);
``image_dataset_from_directory`` does what Keras' does with an unreadable file, fails when its batch is
read, here with a ValueError naming the file (Keras' error is TensorFlow's or Pillow's).
"""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib

import numpy as np
import pytest

from cyneuron.datasets import image_folder
from cyneuron.layers import Dense
from cyneuron.models import Sequential
from cyneuron.saving import load_weights, save_weights
from cyneuron.utils import image_dataset_from_directory, load_img
from tests import hardening_support as hs

try:
    from PIL import Image, ImageFile
except ImportError:  # the images extra
    Image = ImageFile = None

needs_pillow = pytest.mark.skipif(Image is None, reason="needs Pillow (pip install cyneuron[images])")


# ============================================================ Keras weights files (h5py)
def test_forged_hdf5_superblock_address_is_a_value_error(tmp_path):
    """The fuzzer's second finding (fuzz/load_model.py): a .weights.h5 whose superblock puts the driver
    information block at an offset past any C ssize_t made h5py's file-object driver raise OverflowError
    out of load_weights."""
    pytest.importorskip("h5py")
    model = Sequential([Dense(2)])
    model.build((None, 3))
    path = tmp_path / "model.weights.h5"
    save_weights(model, path)
    data = bytearray(path.read_bytes())
    assert data[:8] == b"\x89HDF\r\n\x1a\n" and data[8] == 0  # superblock version 0: fixed offsets
    data[0x30:0x38] = b"\xff" * 6 + b"\x7a\xff"  # driver information block address (undefined: all ff)
    path.write_bytes(bytes(data))
    before = model.get_weights()
    with pytest.raises(ValueError, match="model.weights.h5"):
        load_weights(model, path)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


# ============================================================ image files (Pillow)


def _encoded(fmt: str, size=(12, 9)) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB").save(buffer, fmt)
    return buffer.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_declaring(width: int, height: int) -> bytes:
    """A well-formed PNG header (valid CRCs) declaring ``width`` x ``height`` grayscale pixels, with a tiny
    image-data chunk: decoding it would allocate ``width * height`` bytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def gif_frame_declaring(width: int, height: int) -> bytes:
    """A GIF whose logical screen is 1 x 1 but whose first frame declares ``width`` x ``height``: Pillow
    sizes the image by the frame and raises DecompressionBombError (not an OSError) while opening it. The
    fuzzer's first finding (``fuzz/image_reader.py``: load_img let that error escape)."""
    screen = struct.pack("<HHBBB", 1, 1, 0, 0, 0)
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return b"GIF89a" + screen + frame + b"\x02\x02\x44\x01\x00;"


NAMES = ("truncated.png", "truncated.jpg", "text.jpg", "empty.png", "huge.png", "large.png", "huge_frame.gif")


def hostile(name: str) -> bytes:
    return {
        "truncated.png": lambda: _encoded("PNG")[:-40],
        "truncated.jpg": lambda: _encoded("JPEG", (64, 48))[:300],
        "text.jpg": lambda: b"this is not an image, only a text file named .jpg\n",
        "empty.png": lambda: b"",
        "huge.png": lambda: png_declaring(100_000, 100_000),
        # Between Pillow's limit and twice that limit Pillow only warns and decodes (~144 MB here).
        "large.png": lambda: png_declaring(12_000, 12_000),
        "huge_frame.gif": lambda: gif_frame_declaring(65_535, 65_535),
    }[name]()


OVERSIZED = ("huge.png", "large.png", "huge_frame.gif")


@pytest.fixture
def no_large_decoding(monkeypatch):
    """Fails the test if an image over a million pixels is decoded (the oversized files must be refused
    from their header); small images decode as usual."""
    original = ImageFile.ImageFile.load

    def load(self):
        if self.size[0] * self.size[1] > 10**6:
            pytest.fail(f"decoded a {self.size} image that should have been refused from its header")
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


@needs_pillow
@pytest.mark.parametrize("name", NAMES)
def test_load_img_refuses_hostile_files_with_oserror_or_valueerror(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(hostile(name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # Pillow's, before the refusal
        with pytest.raises(ValueError if name in OVERSIZED else OSError, match=name):
            load_img(path, target_size=(4, 4))
        if name not in OVERSIZED:  # Pillow's own error for each, kept as the cause
            with pytest.raises(OSError) as info:
                load_img(path)
            assert info.value.__cause__ is not None


@needs_pillow
def test_a_text_file_is_pillows_unidentified_image_error(tmp_path):
    path = tmp_path / "text.jpg"
    path.write_bytes(hostile("text.jpg"))
    with pytest.raises(Image.UnidentifiedImageError, match="text.jpg"):
        load_img(path)


@needs_pillow
@pytest.mark.parametrize("name", OVERSIZED)
def test_oversized_images_are_refused_before_decoding(tmp_path, name, no_large_decoding):
    path = tmp_path / name
    path.write_bytes(hostile(name))
    with pytest.raises(ValueError, match="MAX_IMAGE_PIXELS"):
        load_img(path)


@needs_pillow
def test_the_pixel_limit_is_pillows_own_setting(tmp_path, monkeypatch):
    path = tmp_path / "small.png"
    path.write_bytes(_encoded("PNG", (12, 9)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ValueError, match="MAX_IMAGE_PIXELS=100 .12x9 pixels"), warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        load_img(path)
    with pytest.raises(ValueError, match="MAX_IMAGE_PIXELS=100"), warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # a warning made an error: same refusal
        load_img(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # Pillow's "no limit"
    assert load_img(path).size == (12, 9)


@needs_pillow
def test_a_fifo_named_like_an_image_is_refused_without_blocking(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "valid.png").write_bytes(_encoded("PNG"))
    # In a child process: opening a FIFO without a writer used to block forever.
    code = f"""
from cyneuron.utils import image_dataset_from_directory, load_img
for call in (lambda: load_img({str(tmp_path / "pipe.png")!r}),
             lambda: list(image_dataset_from_directory({str(tmp_path)!r}, labels=None, verbose=False))):
    try:
        call()
    except ValueError as error:
        print("REFUSED" if "not a regular file" in str(error) else error)
"""
    try:
        result = hs.run_python(code, timeout=60)
    except Exception as error:  # subprocess.TimeoutExpired: the reader hung
        pytest.fail(f"reading a FIFO hung: {error}")
    assert result.stdout.split() == ["REFUSED", "REFUSED"], result.stdout + result.stderr[-1500:]


def _folder_with(tmp_path, name: str):
    valid = _encoded("PNG")
    for sub in ("cats", "dogs"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "valid.png").write_bytes(valid)
    (tmp_path / "cats" / name).write_bytes(hostile(name))
    return tmp_path


@needs_pillow
@pytest.mark.parametrize("name", NAMES)
def test_image_folder_reads_the_valid_files_beside_a_hostile_one(tmp_path, name, no_large_decoding):
    root = _folder_with(tmp_path, name)
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        data = image_folder(root, size=4, shuffle=False)
    assert [os.path.basename(p) for p in data.skipped] == [name]
    assert data.x.shape == (2, 4, 4, 3) and data.y.tolist() == [0, 1]


@needs_pillow
@pytest.mark.parametrize("name", NAMES)
def test_image_dataset_names_the_hostile_file_when_its_batch_is_read(tmp_path, name, no_large_decoding):
    root = _folder_with(tmp_path, name)
    dataset = image_dataset_from_directory(root, batch_size=1, image_size=(4, 4), shuffle=False, verbose=False)
    batches = iter(dataset)
    with pytest.raises(ValueError, match=f"{name}: cannot read this image"):
        for _ in range(3):
            next(batches)


@needs_pillow
@pytest.mark.skipif(os.environ.get("CYNEURON_SANITIZED") == "1", reason="AddressSanitizer cannot run under RLIMIT_AS")
def test_a_png_chunk_length_in_the_gigabytes_allocates_nothing(tmp_path):
    # Found by the CI fuzz run: Pillow's PNG load_end() read(n) with a forged n; a file object allocates n
    # bytes before reading (a MemoryError under an address-space limit), an in-memory buffer does not.
    import base64
    import subprocess
    import sys

    path = tmp_path / "forged.png"
    path.write_bytes(
        base64.b64decode(
            "ColQTkcNChoKAAAADUlIRFIAAAAFAAAABRAAAAAA+JSleqUAAEJJREFUeJwBNwDI/wDgYBRMDv6r11aQZldPBhUiXRKbnQAAAABJRU5ErkJggg=="
        )
    )
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from cyneuron.utils import load_img\n"
        "try:\n"
        f"    load_img({str(path)!r}, target_size=(4, 4))\n"
        "except (OSError, ValueError):\n"
        "    pass\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_a_run_length_bmp_declaring_millions_of_pixels_is_refused_before_decoding(tmp_path):
    # Found by the CI fuzz run (a timeout): 102 bytes of run-length BMP declaring 5111820 x 9 pixels, which
    # Pillow decodes in Python (70 s). Refused before decoding, naming the limit.
    import base64

    from cyneuron.utils import load_img

    path = tmp_path / "rle.bmp"
    path.write_bytes(base64.b64decode("Qk1iAAAAAAAAAD4AAAAoAAAADABOAAkAAAABAAEAAQAAAAAAAAAkAAAAxA4AAMQOAAACAAAAAgAAAAAAAAD///8ASkAAAGagAACqkAAAVWAAACqQAAAxQAAArrAAAKrgAABakAAA"))
    with pytest.raises(ValueError, match="decodes in Python"):
        load_img(path, target_size=(4, 4))
