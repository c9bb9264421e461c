"""Batches from Python in fit / evaluate / predict: generators, iterables, PyDataset, cyneuron's datasets."""

from __future__ import annotations

import numpy as np
import pytest

import cyneuron
from cyneuron.layers import Dense, Input
from cyneuron.models import Sequential
from cyneuron.utils import PyDataset, set_random_seed, timeseries_dataset_from_array


def _model(seed=0):
    set_random_seed(seed)
    model = Sequential([Input((4,)), Dense(6, activation="relu"), Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(n=60):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4)).astype("float32")
    return x, (x.sum(axis=1) > 0).astype("int64")


class Batches:
    """A re-iterable of fixed batches (a fresh pass per iteration)."""

    def __init__(self, x, y, size):
        self.items = [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)


class Sequence(PyDataset):
    def __init__(self, x, y, size):
        super().__init__()
        self.batches = Batches(x, y, size).items
        self.ends = 0

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[index]

    def on_epoch_end(self):
        self.ends += 1


@pytest.mark.parametrize("kind", ["iterable", "pydataset", "generator"])
def test_batches_train_exactly_as_the_same_arrays(kind, backend):
    x, y = _data()
    reference = _model()
    reference.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0)
    model = _model()
    if kind == "iterable":
        history = model.fit(Batches(x, y, 10), epochs=3, verbose=0)
    elif kind == "pydataset":
        data = Sequence(x, y, 10)
        history = model.fit(data, epochs=3, shuffle=False, verbose=0)
        assert data.ends == 3
    else:

        def forever():
            while True:
                yield from Batches(x, y, 10)

        history = model.fit(forever(), steps_per_epoch=6, epochs=3, verbose=0)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert model.optimizer.iterations == 18
    assert len(history.history["loss"]) == 3


def test_evaluate_and_predict_take_batches(backend):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_allclose(model.evaluate(Batches(x, y, 7), verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(model.predict(Batches(x, y, 7)), model.predict(x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.predict(b[0] for b in Batches(x, y, 9).items), model.predict(x), rtol=1e-6)
    assert model.evaluate(Batches(x, y, 10), steps=2, verbose=0) == pytest.approx(
        model.evaluate(x[:20], y[:20], verbose=0)
    )


def test_validation_data_as_batches(backend):
    x, y = _data()
    model = _model()
    history = model.fit(x, y, epochs=2, verbose=0, validation_data=Batches(x[:20], y[:20], 5))
    assert len(history.history["val_loss"]) == 2
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(x[:20], y[:20], verbose=0)[0])


def test_a_generator_that_runs_out_stops_training_with_keras_warning(backend):
    x, y = _data()
    model = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit((b for b in Batches(x, y, 10)), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1 and model.optimizer.iterations == 6


def test_progress_without_a_known_length(capsys, backend):
    x, y = _data()

    def once():
        yield from Batches(x, y, 10)

    _model().fit(once(), epochs=1, verbose=2)
    assert "6/Unknown" in capsys.readouterr().out


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m, s: m.fit(s, np.zeros(3)), "y"),
        (lambda m, s: m.fit(s, validation_split=0.2), "validation_split"),
        (lambda m, s: m.fit(s, steps_per_epoch=0), "steps_per_epoch"),
        (lambda m, s: m.fit(np.zeros((4, 4)), np.zeros(4), steps_per_epoch=2), "steps_per_epoch"),
        (lambda m, s: m.fit(iter([(np.zeros((2, 4)), np.zeros(2), np.ones(3))])), "sample_weight"),
        (lambda m, s: m.fit(iter([(np.zeros((2, 4)), np.zeros(2), -np.ones(2))])), "sample_weight"),
        (lambda m, s: m.fit(s, sample_weight=np.ones(3)), "sample_weight"),
        (lambda m, s: m.fit((b for b in [(np.zeros((2, 4)), np.zeros(2))]), class_weight={0: 1.0}), "class_weight"),
        (lambda m, s: m.evaluate(s, sample_weight=np.ones(3)), "sample_weight"),
        (lambda m, s: m.fit(iter([np.zeros((2, 4))])), "without y"),
        (lambda m, s: m.fit(iter([])), "no batch"),
        (lambda m, s: m.fit(iter([(np.zeros((2, 5)), np.zeros(2))])), "shape"),
        (lambda m, s: m.evaluate(s, np.zeros(3)), "y"),
    ],
)
def test_bad_batch_sources_are_refused(call, match):
    x, y = _data()
    with pytest.raises((ValueError, TypeError), match=match):
        call(_model(), Batches(x, y, 10))


def test_timeseries_dataset_trains_a_model(backend):
    series = np.sin(np.arange(300) / 10).astype("float32")
    data = timeseries_dataset_from_array(series[:-5], series[5:], sequence_length=5, batch_size=16)
    model = Sequential([Input((5,)), Dense(8, activation="tanh"), Dense(1)])
    model.compile(optimizer=cyneuron.optimizers.Adam(0.01), loss="mse")
    history = model.fit(data, epochs=20, verbose=0)
    assert history.history["loss"][-1] < 0.01


def _keras_windows(data, targets, length, stride, rate, start, end):
    """Keras' semantics written out by brute force."""
    start = start or 0
    end = end or len(data)
    count = end - start - (length - 1) * rate
    if targets is not None:
        count = min(count, len(targets))
    positions = range(0, count, stride)
    xs = [data[start + p : start + p + length * rate : rate] for p in positions]
    ys = None if targets is None else [targets[start + p] for p in positions]
    return xs, ys


@pytest.mark.parametrize(
    "length, stride, rate, start, end, batch",
    [(3, 1, 1, None, None, 4), (5, 2, 3, 7, 80, 8), (1, 1, 1, None, None, None), (10, 7, 2, 3, None, 5)],
)
def test_timeseries_windows_match_keras_semantics(length, stride, rate, start, end, batch):
    data = np.arange(100 * 2).reshape(100, 2)
    targets = np.arange(100) * 10
    ds = timeseries_dataset_from_array(data, targets, length, stride, rate, batch, start_index=start, end_index=end)
    xs, ys = _keras_windows(data, targets, length, stride, rate, start, end)
    got_x = np.concatenate([b[0] for b in ds]) if batch else np.stack([b[0] for b in ds])
    got_y = np.concatenate([b[1] for b in ds]) if batch else np.array([b[1] for b in ds])
    np.testing.assert_array_equal(got_x, np.stack(xs))
    np.testing.assert_array_equal(got_y, ys)
    assert len(ds) == (len(xs) if batch is None else -(-len(xs) // batch))


def test_timeseries_shuffle_is_keras_permutation():
    data = np.arange(50)
    ds = timeseries_dataset_from_array(data, None, 4, batch_size=None, shuffle=True, seed=7)
    starts = np.arange(0, 47)
    np.random.RandomState(7).shuffle(starts)  # noqa: NPY002
    np.testing.assert_array_equal([w[0] for w in ds], starts)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sampling_rate": 0},
        {"sequence_stride": 0},
        {"start_index": 200},
        {"end_index": 200},
        {"start_index": 5, "end_index": 3},
        {"sequence_length": 2.5},
    ],
)
def test_timeseries_bad_arguments(kwargs):
    args = {"sequence_length": 3, **kwargs}
    with pytest.raises((ValueError, TypeError)):
        timeseries_dataset_from_array(np.arange(100), None, **args)


def test_fit_shuffles_a_pydatasets_batches_as_keras(backend):
    # Keras 3.15 draws a batch order from Python's generator to look at the first batch, then one per
    # epoch; with set_random_seed(0) and 6 batches it visits 4, then 4 0 1 5 2 3, then 5 3 0 2 1 4.
    seen = []

    class Recording(PyDataset):
        def __len__(self):
            return 6

        def __getitem__(self, index):
            seen.append(index)
            return np.full((4, 3), index, "float32"), np.zeros((4, 1), "float32")

    set_random_seed(0)
    model = Sequential([Input((3,)), Dense(1)])
    model.compile("sgd", "mse")
    model.fit(Recording(), epochs=2, verbose=0)
    assert seen == [4, 4, 0, 1, 5, 2, 3, 5, 3, 0, 2, 1, 4]
    seen.clear()
    model.fit(Recording(), epochs=1, shuffle=False, verbose=0)
    assert seen == [0, 0, 1, 2, 3, 4, 5]
