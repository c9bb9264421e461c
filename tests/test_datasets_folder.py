"""cyneuron.datasets.image_folder on temporary folders of JPEG and PNG files in every supported layout."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from cyneuron.datasets import ImageDataset, cats_vs_dogs, image_folder

PIL_Image = pytest.importorskip("PIL.Image")


def _write(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL_Image.fromarray(pixels).save(path)


def _pictures(n: int, size: int = 32, seed: int = 0) -> ImageDataset:
    return cats_vs_dogs(n=n, size=size, seed=seed)


def _flat_layout(root: Path, n_cats: int = 3, n_dogs: int = 4) -> None:
    pics = _pictures(16)
    for i in range(n_cats):
        _write(root / f"cat.{i}.jpg", pics.x[i])
    for i in range(n_dogs):
        _write(root / f"dog.{i}.png", pics.x[8 + i])


def _class_dir_layout(root: Path, n_cats: int = 3, n_dogs: int = 4) -> None:
    pics = _pictures(16)
    for i in range(n_cats):
        _write(root / "cats" / f"{i}.png", pics.x[i])
    for i in range(n_dogs):
        _write(root / "Dogs" / f"img_{i}.JPG", pics.x[8 + i])


@pytest.mark.parametrize("layout", [_flat_layout, _class_dir_layout])
@pytest.mark.parametrize("under_train", [False, True])
def test_image_folder_reads_every_layout(tmp_path, layout, under_train):
    layout(tmp_path / "train" if under_train else tmp_path)
    (tmp_path / "README.txt").write_text("not an image, ignored")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to skip, so no warning
        data = image_folder(tmp_path, size=20)
    x, y, names = data
    assert x.shape == (7, 20, 20, 3) and x.dtype == np.uint8
    assert y.dtype == np.int64 and names == ("cat", "dog")
    assert np.sum(y == 0) == 3 and np.sum(y == 1) == 4
    assert data.skipped == ()


def test_image_folder_png_pixels_survive_unchanged(tmp_path):
    pics = _pictures(4, size=24)
    _write(tmp_path / "cats" / "a.png", pics.x[0])
    _write(tmp_path / "dogs" / "b.png", pics.x[1])
    x, y, _ = image_folder(tmp_path, size=24, shuffle=False)
    assert list(y) == [0, 1]
    assert np.array_equal(x[0], pics.x[0]) and np.array_equal(x[1], pics.x[1])


def test_image_folder_crops_to_a_square_and_converts_modes(tmp_path):
    wide = np.zeros((30, 90, 3), dtype=np.uint8)
    wide[:, 25:65] = 255  # white centre (cropped: 30:60) between black side bands
    _write(tmp_path / "cat.wide.png", wide)
    _write(tmp_path / "dog.grey.png", np.full((40, 40), 128, dtype=np.uint8))  # mode "L"
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    _write(tmp_path / "dog.alpha.png", rgba)  # mode "RGBA"
    x, y, _ = image_folder(tmp_path, size=8, shuffle=False)
    assert x.shape == (3, 8, 8, 3)
    assert list(y) == [0, 1, 1]
    assert x[0].min() >= 250  # the centre crop kept only the white part, not squashed bands
    # Sorted by path: dog.alpha.png before dog.grey.png.
    assert np.all(x[1, ..., 0] == 200) and np.all(x[1, ..., 1:] == 0)
    assert np.all(x[2] == 128)


def test_image_folder_skips_and_counts_corrupt_files(tmp_path):
    _flat_layout(tmp_path)
    (tmp_path / "cat.99.jpg").write_bytes(b"this is not a jpeg")
    good = tmp_path / "dog.0.png"
    (tmp_path / "dog.98.png").write_bytes(good.read_bytes()[:60])  # truncated PNG
    with pytest.warns(UserWarning, match="skipped 2 unreadable"):
        data = image_folder(tmp_path, size=16)
    assert len(data.y) == 7
    assert sorted(Path(p).name for p in data.skipped) == ["cat.99.jpg", "dog.98.png"]


def test_image_folder_empty_folder_is_a_value_error(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(ValueError, match="no cat or dog images"):
        image_folder(tmp_path)


def test_image_folder_one_class_is_a_value_error(tmp_path):
    _flat_layout(tmp_path, n_cats=3, n_dogs=0)
    with pytest.raises(ValueError, match="only cat images.*no dog images"):
        image_folder(tmp_path)


def test_image_folder_only_corrupt_files_is_a_value_error(tmp_path):
    (tmp_path / "cat.1.jpg").write_bytes(b"junk")
    (tmp_path / "dog.1.jpg").write_bytes(b"junk")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="could be read"):
        image_folder(tmp_path)


def test_image_folder_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError):
        image_folder(tmp_path / "nope")
    (tmp_path / "file.jpg").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        image_folder(tmp_path / "file.jpg")


def test_image_folder_limit_takes_a_balanced_seeded_subset(tmp_path):
    _flat_layout(tmp_path, n_cats=6, n_dogs=6)
    a = image_folder(tmp_path, size=8, limit=6, seed=4)
    b = image_folder(tmp_path, size=8, limit=6, seed=4)
    assert len(a.y) == 6 and np.sum(a.y == 0) == 3
    assert a.x.tobytes() == b.x.tobytes() and np.array_equal(a.y, b.y)
    with pytest.raises(ValueError, match="limit"):
        image_folder(tmp_path, limit=1)
    with pytest.raises(ValueError, match="size"):
        image_folder(tmp_path, size=0)


def test_image_folder_without_pillow_says_how_to_install(tmp_path, monkeypatch):
    _flat_layout(tmp_path)
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes "from PIL import ..." raise ImportError
    with pytest.raises(ImportError, match=r'pip install "cyneuron\[images\]"'):
        image_folder(tmp_path)
