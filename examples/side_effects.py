"""The drug-trial example from the notes: does a patient's age predict a side effect?

    python examples/side_effects.py

An experimental drug was tested on 2,100 people aged 13 to 100. About 95 % of
the patients aged 65 or older had a side effect; about 95 % of the younger
ones had none. A small network learns that rule from the ages alone:

    Dense(16, relu, input_shape=(1,)) -> Dense(32, relu) -> Dense(2, softmax)

The two output nodes are "no side effect" and "side effect". The classic
tutorial trains with Adam(learning_rate=0.0001); cyneuron offers SGD, which
learns this within 20 epochs at its default learning rate of 0.01.
"""

from __future__ import annotations

import argparse

import numpy as np

import cyneuron
from cyneuron.datasets import SIDE_EFFECT_NAMES, side_effects
from cyneuron.layers import Dense
from cyneuron.models import Sequential
from cyneuron.optimizers import SGD
from cyneuron.utils import set_random_seed


class MinMaxScaler:
    """Maps ages linearly to [0, 1] using the range seen in the training data (as scikit-learn's)."""

    def fit(self, values: np.ndarray) -> MinMaxScaler:
        self.low, self.high = float(values.min()), float(values.max())
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        # Column shape (n, 1): one input feature per patient.
        return ((values - self.low) / (self.high - self.low)).astype("float32").reshape(-1, 1)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Train the drug-trial side-effect example.")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--backend", choices=["cython", "numpy"], help="computation backend (default: cython)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, choices=[0, 1, 2], default=2)
    args = parser.parse_args(argv)
    if args.backend:
        cyneuron.set_backend(args.backend)
    set_random_seed(args.seed)

    # 2,100 training patients (shuffled, so validation_split's last 10 % holds both kinds)
    # and a separately generated test set of 420.
    train_samples, train_labels = side_effects(n=2100, seed=args.seed)
    test_samples, test_labels = side_effects(n=420, seed=args.seed + 1)
    scaler = MinMaxScaler().fit(train_samples)
    scaled_train_samples = scaler.transform(train_samples)
    scaled_test_samples = scaler.transform(test_samples)

    model = Sequential(
        [
            Dense(16, input_shape=(1,), activation="relu"),
            Dense(32, activation="relu"),
            Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer=SGD(learning_rate=0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x=scaled_train_samples,
        y=train_labels,
        validation_split=0.1,
        batch_size=10,
        epochs=args.epochs,
        shuffle=True,
        verbose=args.verbose,
    )
    val_accuracy = float(history.history["val_accuracy"][-1])
    print(f"\nValidation accuracy after {args.epochs} epochs: {val_accuracy:.1%}")

    test_loss, test_accuracy = model.evaluate(scaled_test_samples, test_labels, verbose=0)
    predictions = model.predict(scaled_test_samples, verbose=0).argmax(axis=1)
    counts = np.zeros((2, 2), dtype=np.int64)
    np.add.at(counts, (test_labels, predictions), 1)
    print(f"Test set of {len(test_labels)} new patients: accuracy {test_accuracy:.1%}, loss {test_loss:.4f}")
    print("Confusion matrix (rows: true, columns: predicted):")
    width = max(len(name) for name in SIDE_EFFECT_NAMES) + 2
    print(" " * width + "".join(f"{name:>{width}}" for name in SIDE_EFFECT_NAMES))
    for name, row in zip(SIDE_EFFECT_NAMES, counts):
        print(f"{name:>{width}}" + "".join(f"{count:>{width}d}" for count in row))
    return {"val_accuracy": val_accuracy, "test_accuracy": float(test_accuracy), "confusion": counts}


if __name__ == "__main__":
    main()
