"""cyneuron.datasets: the procedural cats/dogs set, the photo-folder loader and the drug-trial data."""

from __future__ import annotations

import numpy as np
import pytest

from cyneuron.datasets import (
    CLASS_NAMES,
    ImageDataset,
    SideEffects,
    cats_vs_dogs,
    side_effects,
)

# --- cats_vs_dogs ------------------------------------------------------------


def test_cats_vs_dogs_shapes_dtypes_and_unpacking():
    data = cats_vs_dogs(n=64, size=24, seed=3)
    x, y, class_names = data
    assert isinstance(data, ImageDataset)
    assert x.shape == (64, 24, 24, 3) and x.dtype == np.uint8
    assert y.shape == (64,) and y.dtype == np.int64
    assert class_names == ("cat", "dog") == CLASS_NAMES
    assert set(np.unique(y)) == {0, 1}
    assert x.flags.c_contiguous


@pytest.mark.parametrize("n", [2, 7, 501, 1000])
def test_cats_vs_dogs_class_balance(n):
    _, y, _ = cats_vs_dogs(n=n, size=8, seed=0)
    assert np.sum(y == 1) == n // 2
    assert np.sum(y == 0) == n - n // 2


def test_cats_vs_dogs_labels_are_shuffled():
    _, y, _ = cats_vs_dogs(n=200, size=8, seed=0)
    # Not all cats then all dogs: validation_split takes the tail, which must hold both classes.
    assert 0 < y[-40:].sum() < 40


def test_cats_vs_dogs_is_deterministic_for_a_seed():
    a = cats_vs_dogs(n=600, size=16, seed=11)
    b = cats_vs_dogs(n=600, size=16, seed=11)
    assert a.x.tobytes() == b.x.tobytes()
    assert np.array_equal(a.y, b.y)
    c = cats_vs_dogs(n=600, size=16, seed=12)
    assert a.x.tobytes() != c.x.tobytes()


def test_cats_vs_dogs_images_vary_and_use_the_range():
    x, _, _ = cats_vs_dogs(n=50, size=32, seed=5)
    flat = x.reshape(50, -1).astype(np.int64)
    assert len({row.tobytes() for row in x}) == 50  # no duplicates
    assert flat.std(axis=1).min() > 5  # every image has structure, none is blank
    assert x.min() < 30 and x.max() > 225


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"n": 1}, ValueError),
        ({"n": 2.0}, TypeError),
        ({"n": True}, TypeError),
        ({"n": 4, "size": 4}, ValueError),
        ({"n": 4, "size": "32"}, TypeError),
        ({"n": 4, "seed": 1.5}, TypeError),
    ],
)
def test_cats_vs_dogs_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error, match=next(iter(k for k in kwargs if k != "n"), "n")):
        cats_vs_dogs(**kwargs)


def _ridge_classifier(features: np.ndarray, y: np.ndarray, lam: float):
    """Least-squares fit of +-1 targets (closed form, so the check takes well under a second)."""
    with_bias = np.hstack([features, np.ones((len(features), 1))])
    w = np.linalg.solve(with_bias.T @ with_bias + lam * np.eye(with_bias.shape[1]), with_bias.T @ (2.0 * y - 1.0))
    return lambda f: (np.hstack([f, np.ones((len(f), 1))]) @ w > 0).astype(np.int64)


def test_cats_vs_dogs_is_learnable_but_not_linearly_trivial():
    """One hidden ReLU layer (random, untrained) already beats a linear model on the pixels.

    A trained network does far better (the example reaches > 90 %); this is the fast version.
    """
    x, y, _ = cats_vs_dogs(n=2000, size=16, seed=1)
    pixels = x.reshape(len(x), -1) / 255.0
    pixels -= pixels.mean(axis=0)
    hidden = np.maximum(
        pixels @ np.random.default_rng(0).normal(0.0, pixels.shape[1] ** -0.5, (pixels.shape[1], 1024)), 0
    )
    train, val = slice(0, 1600), slice(1600, None)
    linear_acc = np.mean(_ridge_classifier(pixels[train], y[train], 10.0)(pixels[val]) == y[val])
    hidden_acc = np.mean(_ridge_classifier(hidden[train], y[train], 1.0)(hidden[val]) == y[val])
    assert 0.6 <= linear_acc <= 0.82  # the labels show in the pixels, but not linearly
    assert hidden_acc >= 0.8
    assert hidden_acc > linear_acc + 0.05


# --- side_effects ---------------------------------------------------------------


def test_side_effects_matches_the_tutorial_counts():
    ages, labels = side_effects(seed=0)
    assert isinstance(side_effects(seed=0), SideEffects)
    assert ages.shape == labels.shape == (2100,)
    assert ages.dtype == labels.dtype == np.int64
    assert ages.min() >= 13 and ages.max() <= 100
    young, old = ages < 65, ages >= 65
    assert young.sum() == old.sum() == 1050
    assert labels[young].sum() == 50  # younger with a side effect
    assert (labels[old] == 0).sum() == 50  # older without
    assert set(np.unique(labels)) == {0, 1}


def test_side_effects_general_n_keeps_about_95_percent():
    ages, labels = side_effects(n=10001, seed=2)
    assert len(ages) == 10001
    old = ages >= 65
    assert 0.94 <= labels[old].mean() <= 0.96
    assert 0.04 <= labels[~old].mean() <= 0.06


def test_side_effects_deterministic_and_shuffled():
    a, b = side_effects(seed=7), side_effects(seed=7)
    assert np.array_equal(a.ages, b.ages) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.ages, side_effects(seed=8).ages)
    grouped = side_effects(seed=7, shuffle=False)
    assert np.all(grouped.labels[:50] == 1) and np.all(grouped.ages[:50] < 65)
    tail = a.labels[-210:]  # the validation_split=0.1 tail holds both classes
    assert 0 < tail.sum() < 210


@pytest.mark.parametrize(("n", "error"), [(1, ValueError), (2.5, TypeError), (False, TypeError)])
def test_side_effects_rejects_bad_n(n, error):
    with pytest.raises(error, match="n must"):
        side_effects(n=n)


def test_sunspots_is_the_shipped_yearly_series():
    from cyneuron.datasets import sunspots
    from cyneuron.datasets._sunspots import SOURCE

    years, values = sunspots()
    assert years[0] == 1700 and years[-1] == 2008 and len(years) == 309
    np.testing.assert_array_equal(np.diff(years), 1)
    assert values.dtype == np.float64 and (values >= 0).all() and values.max() > 150
    assert values[0] == 5.0 and values[-1] == 2.9
    assert "public domain" in SOURCE
