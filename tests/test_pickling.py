"""Pickling and copying models (through the safe file format), and nested training calls refused."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import cyneuron
from cyneuron.layers import BatchNormalization, Dense, Dropout, Input
from cyneuron.models import Sequential
from cyneuron.saving import model_from_bytes, model_to_bytes
from cyneuron.utils import set_random_seed


def _trained(backend_seed=0):
    set_random_seed(backend_seed)
    model = Sequential(
        [Input((4,)), Dense(6), BatchNormalization(), Dropout(0.2, seed=1), Dense(2, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).standard_normal((40, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("int64")
    model.fit(x, y, epochs=1, verbose=0)
    return model, x, y


@pytest.mark.parametrize("how", ["pickle", "deepcopy", "bytes"])
def test_round_trip_continues_training_identically(how, backend):
    model, x, y = _trained()
    if how == "pickle":
        clone = pickle.loads(pickle.dumps(model))
    elif how == "deepcopy":
        clone = copy.deepcopy(model)
    else:
        clone = model_from_bytes(model_to_bytes(model))
    assert clone is not model and clone.get_config() == model.get_config()
    assert clone.optimizer.iterations == model.optimizer.iterations
    for m in (model, clone):
        m.fit(x, y, epochs=2, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_unbuilt_and_uncompiled_models_pickle():
    clone = pickle.loads(pickle.dumps(Sequential([Dense(3)])))
    assert not clone.built and not clone.compiled


def test_pickling_during_fit_is_refused():
    model, x, y = _trained()
    errors = []

    class Pickler(cyneuron.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            try:
                pickle.dumps(self.model)
            except RuntimeError as error:
                errors.append(str(error))

    model.fit(x, y, epochs=1, verbose=0, callbacks=[Pickler()])
    assert errors and "during its fit()" in errors[0]
    pickle.dumps(model)  # fine again afterwards


def test_fit_from_inside_its_own_fit_is_refused():
    model, x, y = _trained()

    class Nested(cyneuron.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.fit(x, y, epochs=1, verbose=0)

    with pytest.raises(RuntimeError, match="inside this model's own fit"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[Nested()])
    model.fit(x, y, epochs=1, verbose=0)  # the model is usable afterwards


def test_evaluate_from_a_callback_still_works():
    model, x, y = _trained()
    seen = []

    class Evaluate(cyneuron.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(self.model.evaluate(x, y, verbose=0))

    model.fit(x, y, epochs=2, verbose=0, callbacks=[Evaluate()])
    assert len(seen) == 2


def test_hostile_bytes_are_refused():
    with pytest.raises(ValueError):
        model_from_bytes(b"not a zip")
    with pytest.raises(TypeError):
        model_from_bytes("text")
    data = bytearray(model_to_bytes(_trained()[0]))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(ValueError):
        model_from_bytes(bytes(data))
