"""End-to-end runs of the example scripts (small and fast; the full default run is documented, not tested)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from cyneuron.datasets import cats_vs_dogs
from cyneuron.models import load_model

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load_example(name: str):
    """Import ``examples/<name>.py`` as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cats_example():
    return _load_example("cats_vs_dogs")


def test_cats_vs_dogs_script_trains_saves_and_reloads(cats_example, tmp_path, capsys, backend):
    pytest.importorskip("matplotlib")
    result = cats_example.main(
        ["--n", "400", "--epochs", "2", "--seed", "3", "--out", str(tmp_path), "--verbose", "0", "--backend", backend]
    )
    out = capsys.readouterr().out
    assert "Validation accuracy" in out and "Confusion matrix" in out
    for name in ("cats_vs_dogs.model", "training.png", "predictions.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result["confusion"].sum() == 80 and result["confusion"].shape == (2, 2)
    assert len(result["history"]["val_accuracy"]) == 2

    # The saved model predicts the same classes on the same validation images.
    x, y, _ = cats_vs_dogs(n=400, size=32, seed=3)
    (_, _), (x_val, y_val) = cats_example.split(x, y)
    reloaded = load_model(result["model_path"])
    assert np.array_equal(reloaded.predict(x_val, verbose=0).argmax(axis=1), result["predicted"])
    assert result["val_accuracy"] == pytest.approx(np.mean(result["predicted"] == y_val))


def test_cats_vs_dogs_script_without_matplotlib_still_trains(cats_example, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # "import matplotlib" now raises ImportError
    result = cats_example.main(["--n", "100", "--epochs", "1", "--out", str(tmp_path), "--verbose", "0"])
    out = capsys.readouterr().out
    assert "Skipped training.png and predictions.png" in out and 'pip install "cyneuron[images]"' in out
    assert result["outputs"] == [tmp_path / "cats_vs_dogs.model"]
    assert (tmp_path / "cats_vs_dogs.model").is_file()
    assert not (tmp_path / "training.png").exists()


def _photos(tmp_path, n=40, size=48, seed=1):
    image = pytest.importorskip("PIL.Image")
    x, y, names = cats_vs_dogs(n=n, size=size, seed=seed)
    return image, x, y, names


def test_cats_vs_dogs_script_on_a_kaggle_folder(cats_example, tmp_path, capsys):
    image, x, y, names = _photos(tmp_path)
    folder = tmp_path / "kaggle"
    folder.mkdir()
    for i, (pixels, label) in enumerate(zip(x, y)):
        image.fromarray(pixels).save(folder / f"{names[label]}.{i}.jpg")
    (folder / "cat.999.jpg").write_bytes(b"junk")
    with pytest.warns(UserWarning, match="skipped 1"):
        result = cats_example.main(
            ["--data", str(folder), "--size", "16", "--epochs", "1", "--out", str(tmp_path / "out"), "--verbose", "0"]
        )
    assert "Skipped 1 unreadable file" in capsys.readouterr().out
    assert result["confusion"].sum() == 8  # 20 % of the 40 readable photos


def test_cats_vs_dogs_script_on_the_course_layout(cats_example, tmp_path, capsys):
    image, x, y, names = _photos(tmp_path)
    for i, (pixels, label) in enumerate(zip(x, y)):
        part = "valid" if i < 10 else "train"
        folder = tmp_path / "photos" / part / f"{names[label]}s"
        folder.mkdir(parents=True, exist_ok=True)
        image.fromarray(pixels).save(folder / f"{i}.jpg")
    result = cats_example.main(
        ["--data", str(tmp_path / "photos"), "--size", "16", "--epochs", "2", "--out", str(tmp_path / "out")]
        + ["--verbose", "0", "--batch-size", "8"]
    )
    out = capsys.readouterr().out
    assert "30 training and 10 validation images" in out
    assert result["confusion"].sum() == 10 and len(result["history"]["val_loss"]) == 2
    # a class-folder tree without valid/ is split 80/20 as Keras splits it
    result = cats_example.main(
        ["--data", str(tmp_path / "photos" / "train"), "--size", "16", "--epochs", "1", "--out", str(tmp_path / "o2")]
        + ["--verbose", "0", "--model", "mlp"]
    )
    assert result["confusion"].sum() == 6


def test_an_unreadable_image_in_a_class_folder_is_named(tmp_path):
    image, x, y, names = _photos(tmp_path, n=4)
    for name in ("cats", "dogs"):
        (tmp_path / name).mkdir()
        image.fromarray(x[0]).save(tmp_path / name / "ok.png")
    (tmp_path / "dogs" / "broken.jpg").write_bytes(b"junk")
    from cyneuron.utils import image_dataset_from_directory

    data = image_dataset_from_directory(tmp_path, image_size=(8, 8), shuffle=False, verbose=False)
    with pytest.raises(ValueError, match="broken.jpg: cannot read"):
        list(data)


def test_cats_vs_dogs_script_rejects_bad_flags(cats_example, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cats_example.main(["--epochs", "0"])
    assert "--epochs must be a positive number" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="Cannot load"):
        cats_example.main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path)])


def test_side_effects_example_reaches_90_percent(capsys, backend):
    result = _load_example("side_effects").main(["--verbose", "0", "--backend", backend])
    out = capsys.readouterr().out
    assert result["val_accuracy"] >= 0.90
    assert result["test_accuracy"] >= 0.90
    assert result["confusion"].sum() == 420
    assert "Confusion matrix" in out


@pytest.mark.parametrize("model", ["lstm", "rnn"])
def test_time_series_example_beats_the_naive_forecast(model, tmp_path, capsys, backend):
    result = _load_example("time_series").main(
        ["--model", model, "--epochs", "30", "--verbose", "0", "--out", str(tmp_path), "--backend", backend]
    )
    out = capsys.readouterr().out
    assert result["mae"] < result["naive_mae"]
    assert "beats the naive forecast" in out and (tmp_path / f"sunspots_{model}.model").is_file()
    assert len(result["forecast"]) == 2008 - 1947 + 1
