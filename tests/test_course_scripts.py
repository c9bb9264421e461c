"""The Keras course's and guide's scripts of issue 10, with only ``keras`` renamed to ``cyneuron``.

The course's first model (Adam with a small learning rate, then the 'adam' / 'rmsprop' strings),
its BatchNormalization import, and the Keras guide's Dropout MLP. Each must train and learn.
"""

from __future__ import annotations

import numpy as np
import pytest

from cyneuron.utils import set_random_seed


def _side_effect_data(n=2100, seed=0):
    """The course's drug-trial data: younger patients mostly without side effects, older mostly with."""
    rng = np.random.default_rng(seed)
    ages = np.concatenate([rng.integers(13, 65, n // 2), rng.integers(65, 101, n // 2)]).astype("float64")
    labels = np.concatenate([rng.random(n // 2) < 0.05, rng.random(n // 2) < 0.95]).astype("int64")
    order = rng.permutation(n)
    return ages[order], labels[order]


def test_course_first_model_with_adam(backend):
    set_random_seed(0)
    # --- the course's script, imports renamed ---
    from cyneuron.layers import Activation, Dense  # noqa: F401
    from cyneuron.metrics import categorical_crossentropy  # noqa: F401
    from cyneuron.models import Sequential
    from cyneuron.optimizers import Adam

    train_samples, train_labels = _side_effect_data()
    scaled_train_samples = ((train_samples - 13) / (100 - 13)).reshape(-1, 1)

    model = Sequential(
        [Dense(16, input_shape=(1,), activation="relu"), Dense(32, activation="relu"), Dense(2, activation="softmax")]
    )
    model.compile(Adam(learning_rate=0.0001), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        scaled_train_samples, train_labels, validation_split=0.1, batch_size=10, epochs=20, shuffle=True, verbose=0
    )
    # --- end of script ---
    assert model.optimizer.learning_rate == np.float32(0.0001)
    assert history.history["val_accuracy"][-1] > 0.9


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_course_model_compiled_with_optimizer_strings(optimizer, backend):
    set_random_seed(1)
    from cyneuron.layers import BatchNormalization, Dense
    from cyneuron.models import Sequential

    samples, labels = _side_effect_data(1000, seed=1)
    x = ((samples - 13) / 87).reshape(-1, 1)
    model = Sequential(
        [
            Dense(16, input_shape=(1,), activation="relu"),
            BatchNormalization(),
            Dense(32, activation="relu"),
            Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, labels, batch_size=10, epochs=10, verbose=0)
    assert history.history["accuracy"][-1] > 0.85  # the best possible is ~0.95 (5 % of labels flipped)
    assert type(model.optimizer).__name__.lower() == optimizer


def test_keras_guide_dropout_mlp(backend):
    set_random_seed(2)
    import cyneuron as keras
    from cyneuron import layers

    rng = np.random.default_rng(0)
    centers = rng.standard_normal((10, 64)) * 2
    y_train = rng.integers(0, 10, 600)
    x_train = (centers[y_train] + rng.standard_normal((600, 64))).astype("float32")
    y_train = keras.utils.to_categorical(y_train, 10)

    model = keras.Sequential(
        [
            keras.Input(shape=(64,)),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.RMSprop(), metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=5, validation_split=0.1, verbose=0)
    assert history.history["val_accuracy"][-1] > 0.9


def test_course_cnn_on_an_image_folder(tmp_path, backend):
    """The course's CNN, fed from train/ and valid/ class folders (smaller images to stay fast)."""
    pytest.importorskip("PIL")
    from PIL import Image

    from cyneuron.datasets import cats_vs_dogs

    x, y, names = cats_vs_dogs(n=400, size=32, seed=3)
    for i, (pixels, label) in enumerate(zip(x, y)):
        folder = tmp_path / ("valid" if i < 60 else "train") / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    set_random_seed(4)
    # --- the course's script, imports renamed ---
    from cyneuron.layers import Conv2D, Dense, Flatten, MaxPool2D, Rescaling
    from cyneuron.models import Sequential
    from cyneuron.optimizers import Adam
    from cyneuron.utils import image_dataset_from_directory

    train_batches = image_dataset_from_directory(tmp_path / "train", image_size=(32, 32), batch_size=10, verbose=False)
    valid_batches = image_dataset_from_directory(tmp_path / "valid", image_size=(32, 32), batch_size=10, verbose=False)
    model = Sequential(
        [
            # the course scales pixels with vgg16.preprocess_input in its data generator; a layer does it here
            Rescaling(1 / 127.5, offset=-1, input_shape=(32, 32, 3)),
            Conv2D(filters=32, kernel_size=(3, 3), activation="relu", padding="same"),
            MaxPool2D(pool_size=(2, 2), strides=2),
            Conv2D(filters=64, kernel_size=(3, 3), activation="relu", padding="same"),
            MaxPool2D(pool_size=(2, 2), strides=2),
            Flatten(),
            Dense(units=2, activation="softmax"),
        ]
    )
    model.compile(optimizer=Adam(learning_rate=0.0001), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x=train_batches, validation_data=valid_batches, epochs=6, verbose=0)
    # --- end of script ---
    assert train_batches.class_names == ["cat", "dog"]
    # Adam at 1e-4 for a few hundred steps: learning, well above chance, not finished
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.6


def test_course_simple_rnn_and_stacked_lstm(backend):
    set_random_seed(5)
    from cyneuron.layers import LSTM, Dense, SimpleRNN
    from cyneuron.models import Sequential

    t = np.arange(400, dtype="float32")
    series = np.sin(t / 8) + 0.1 * np.sin(t / 3)
    x = np.stack([series[i : i + 10] for i in range(380)])[..., None]
    y = series[10:390]

    rnn = Sequential([SimpleRNN(16, input_shape=(10, 1)), Dense(1)])
    rnn.compile(optimizer="adam", loss="mse")
    stacked = Sequential([LSTM(50, return_sequences=True, input_shape=(10, 1)), LSTM(50), Dense(1)])
    stacked.compile(optimizer="adam", loss="mse")
    for model in (rnn, stacked):
        history = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
        assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]
