"""Real data: scikit-learn's 8x8 digits through the public API, on both backends."""

from __future__ import annotations

import numpy as np
import pytest

import cyneuron
from cyneuron.layers import Dense
from cyneuron.models import Sequential
from cyneuron.optimizers import SGD
from cyneuron.utils import set_random_seed

from .conftest import cython_available

datasets = pytest.importorskip("sklearn.datasets")
model_selection = pytest.importorskip("sklearn.model_selection")


@pytest.fixture(scope="module")
def digits():
    data = datasets.load_digits()
    x = (data.data / 16.0).astype(np.float32)
    return model_selection.train_test_split(x, data.target, test_size=0.25, random_state=0, stratify=data.target)


def digits_model():
    model = Sequential([Dense(32, input_shape=(64,), activation="relu"), Dense(10, activation="softmax")])
    model.compile(optimizer=SGD(learning_rate=0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_digits_reaches_95_percent_held_out(backend, digits):
    x_train, x_test, y_train, y_test = digits
    set_random_seed(0)
    model = digits_model()
    history = model.fit(x_train, y_train, batch_size=16, epochs=40, verbose=0, validation_split=0.1)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.95
    assert history.history["loss"][-1] < history.history["loss"][0]
    predicted = np.argmax(model.predict(x_test), axis=1)
    assert np.mean(predicted == y_test) == pytest.approx(accuracy)


@pytest.mark.skipif(not cython_available(), reason="compiled kernels not built")
def test_backends_follow_the_same_trajectory(digits):
    x_train, _, y_train, _ = digits
    previous = cyneuron.backend._active
    results = {}
    try:
        for name in ("numpy", "cython"):
            cyneuron.set_backend(name)
            set_random_seed(5)
            model = digits_model()
            history = model.fit(x_train, y_train, batch_size=16, epochs=8, verbose=0, validation_split=0.2)
            results[name] = (history.history, model.get_weights())
    finally:
        cyneuron.backend._active = previous
    (h_np, w_np), (h_cy, w_cy) = results["numpy"], results["cython"]
    assert list(h_np) == list(h_cy)
    for key in h_np:
        np.testing.assert_allclose(h_np[key], h_cy[key], rtol=1e-5, atol=1e-6, err_msg=key)
    for a, b in zip(w_np, w_cy):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
