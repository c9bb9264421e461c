"""``image_dataset_from_directory`` and the image helpers, as Keras' (indexing checked against Keras' own
``index_directory`` while writing: same files, labels, class order and seeded shuffle)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from cyneuron.layers import Dense, Flatten, Input  # noqa: E402
from cyneuron.models import Sequential  # noqa: E402
from cyneuron.utils import array_to_img, image_dataset_from_directory, img_to_array, load_img  # noqa: E402


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for index, name in enumerate(["dogs", "cats"]):
        (tmp_path / name / "more").mkdir(parents=True)
        for i in range(6):
            # cats bright, dogs dark: learnable
            pixels = rng.integers(0, 100, (12, 16, 3)) + 150 * index
            Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / name / f"{i}.png")
        Image.fromarray(np.full((8, 8, 3), 200 * index, np.uint8)).save(tmp_path / name / "more" / "x.jpg")
        (tmp_path / name / "readme.txt").write_text("not an image")
    (tmp_path / ".hidden").mkdir()
    return tmp_path


def _order(paths, labels, seed):
    paths, labels = list(paths), np.array(labels)
    np.random.RandomState(seed).shuffle(paths)  # noqa: NPY002
    np.random.RandomState(seed).shuffle(labels)  # noqa: NPY002
    return paths, labels


def test_classes_files_and_labels_in_keras_order(folder):
    ds = image_dataset_from_directory(folder, image_size=(8, 10), batch_size=5, shuffle=False, verbose=False)
    assert ds.class_names == ["cats", "dogs"]  # sorted subfolders, hidden ones skipped
    assert len(ds.file_paths) == 14 and len(ds) == 3
    assert ds.file_paths[0].endswith("cats/0.png") and ds.file_paths[6].endswith("cats/more/x.jpg")
    images, labels = next(iter(ds))
    assert images.shape == (5, 8, 10, 3) and images.dtype == np.float32 and labels.dtype == np.int32
    assert images.min() >= 0 and images.max() <= 255
    np.testing.assert_array_equal(np.concatenate([b[1] for b in ds]), [0] * 7 + [1] * 7)


def test_seeded_shuffle_and_validation_split(folder):
    unshuffled = image_dataset_from_directory(folder, shuffle=False, verbose=False)
    train, val = image_dataset_from_directory(
        folder, validation_split=0.3, subset="both", seed=11, image_size=(4, 4), verbose=False
    )
    paths, _ = _order(unshuffled.file_paths, [0] * 14, 11)
    assert train.file_paths == paths[:10] and val.file_paths == paths[10:]  # int(0.3 * 14) = 4 held out
    only_val = image_dataset_from_directory(
        folder, validation_split=0.3, subset="validation", seed=11, image_size=(4, 4), verbose=False
    )
    assert only_val.file_paths == val.file_paths


@pytest.mark.parametrize(
    "mode, shape, dtype",
    [("int", (14,), np.int32), ("categorical", (14, 2), np.float32), ("binary", (14, 1), np.float32)],
)
def test_label_modes(folder, mode, shape, dtype):
    ds = image_dataset_from_directory(folder, label_mode=mode, image_size=(4, 4), batch_size=None, verbose=False)
    labels = np.array([item[1] for item in ds])
    assert labels.shape == shape and labels.dtype == dtype


def test_no_labels_and_color_modes(folder):
    ds = image_dataset_from_directory(folder, labels=None, color_mode="grayscale", image_size=(4, 4), verbose=False)
    batch = next(iter(ds))
    assert isinstance(batch, np.ndarray) and batch.shape[-1] == 1
    rgba = image_dataset_from_directory(folder, color_mode="rgba", image_size=(4, 4), verbose=False)
    assert next(iter(rgba))[0].shape[-1] == 4


def test_fit_evaluate_predict_on_a_folder(folder):
    train = image_dataset_from_directory(folder, image_size=(6, 8), batch_size=4, seed=1, verbose=False)
    model = Sequential([Input((6, 8, 3)), Flatten(), Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, epochs=3, verbose=0, validation_data=train)
    assert len(history.history["val_accuracy"]) == 3
    assert model.predict(train).shape == (14, 2)
    assert len(model.evaluate(train, verbose=0)) == 2


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"label_mode": "sparse"}, ValueError),
        ({"color_mode": "cmyk"}, ValueError),
        ({"image_size": (1, 2, 3)}, ValueError),
        ({"validation_split": 0.2}, ValueError),  # subset missing
        ({"validation_split": 0.2, "subset": "training"}, ValueError),  # shuffling without a seed
        ({"subset": "test", "validation_split": 0.2, "seed": 1}, ValueError),
        ({"class_names": ["cats", "wolves"]}, ValueError),
        ({"labels": "guess"}, ValueError),
        ({"interpolation": "magic"}, ValueError),
        ({"batch_size": 0}, ValueError),
    ],
)
def test_bad_arguments(folder, kwargs, error):
    with pytest.raises(error):
        image_dataset_from_directory(folder, verbose=False, **kwargs)


def test_binary_needs_two_classes(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / name / "x.png")
    with pytest.raises(ValueError, match="exactly 2"):
        image_dataset_from_directory(tmp_path, label_mode="binary", verbose=False)


def test_image_helpers_round_trip(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3)).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "p.png")
    img = load_img(tmp_path / "p.png")
    array = img_to_array(img)
    assert array.shape == (5, 7, 3) and array.dtype == np.float32
    np.testing.assert_array_equal(array, pixels)
    assert img_to_array(img, data_format="channels_first").shape == (3, 5, 7)
    assert load_img(tmp_path / "p.png", target_size=(2, 3)).size == (3, 2)
    assert img_to_array(load_img(tmp_path / "p.png", color_mode="grayscale")).shape == (5, 7, 1)
    again = img_to_array(array_to_img(array, scale=False))
    np.testing.assert_array_equal(again, pixels)
    with pytest.raises(ValueError):
        array_to_img(np.zeros((2, 2)))
