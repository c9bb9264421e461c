"""Teach a small convolutional neural network to tell cats from dogs.

    python examples/cats_vs_dogs.py                # built-in drawn images: about half a minute on 2 cores
    python examples/cats_vs_dogs.py --model mlp    # the same with a plain stack of Dense layers, to compare
    python examples/cats_vs_dogs.py --data PATH    # your own photos (train/ valid/ class folders, or Kaggle's)

What it does, step by step (each step is one function below):

1. Load images. Without ``--data`` they are drawn on the fly by
   ``cyneuron.datasets.cats_vs_dogs``: cartoon heads whose class shows only in
   their shape (pointed ears and whiskers, or floppy ears and a long snout);
   the last 20 % are kept apart as a validation set, never trained on, so the
   accuracy there tells how well the network generalises. With ``--data`` a
   folder with ``train/`` and ``valid/`` (each with one subfolder per class, as
   in the course) is read with ``cyneuron.utils.image_dataset_from_directory``,
   batch by batch, exactly as Keras reads it; a folder of class subfolders is
   split 80/20 the same way; Kaggle's flat ``cat.1.jpg`` layout goes through
   ``cyneuron.datasets.image_folder``.
2. Build the network. The default CNN is the course's:
   ``Rescaling(1/255) -> Conv2D(16, 3x3, relu) -> MaxPool2D(2) -> Conv2D(32, 3x3, relu) -> MaxPool2D(2)
   -> Flatten -> Dense(64, relu) -> Dense(2, softmax)``: the convolutions learn local shapes (ears,
   snouts) wherever they appear, the two output nodes give P(cat) and P(dog). ``--model mlp`` is
   ``Rescaling -> Flatten -> Dense(256) -> Dense(64) -> Dense(2)`` on the raw pixels.
3. Train with Adam (CNN) or SGD with momentum and a step-decay schedule (MLP), showing a progress bar
   per epoch.
4. Report the validation accuracy and a confusion matrix, then save the model
   (``model.save``), ``training.png`` (loss and accuracy per epoch) and
   ``predictions.png`` (validation images with the network's guesses) to ``--out``.

Reload the saved model later with ``cyneuron.models.load_model(path)``.

On real photos expect much less than on the drawn images: real cats and dogs vary far more, and a
network this small, trained on a few thousand photos, sees only coarse shapes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import cyneuron
from cyneuron.callbacks import LearningRateScheduler
from cyneuron.datasets import cats_vs_dogs, image_folder
from cyneuron.layers import Conv2D, Dense, Flatten, Input, MaxPool2D, Rescaling
from cyneuron.models import Sequential
from cyneuron.optimizers import SGD, Adam
from cyneuron.utils import image_dataset_from_directory, set_random_seed

DEFAULT_OUT = Path(__file__).resolve().parent / "output"  # git-ignored
VALIDATION_FRACTION = 0.2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="folder of cat and dog photos (default: built-in drawn images)")
    parser.add_argument("--model", choices=["cnn", "mlp"], default="cnn", help="network to train (default cnn)")
    parser.add_argument("--n", type=int, default=10000, help="number of images to use (default 10000)")
    parser.add_argument("--size", type=int, default=32, help="image width and height in pixels (default 32)")
    parser.add_argument("--epochs", type=int, help="passes over the training images (default 12 cnn, 20 mlp)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per training step (default 64)")
    parser.add_argument(
        "--learning-rate", type=float, help="initial learning rate (default 0.001 for Adam, 0.01 for SGD)"
    )
    parser.add_argument("--backend", choices=["cython", "numpy"], help="computation backend (default: cython)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for data, weights and shuffling")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1, help="fit's verbosity (default 1)")
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = 12 if args.model == "cnn" else 20
    if args.learning_rate is None:
        args.learning_rate = 0.001 if args.model == "cnn" else 0.01
    for name in ("n", "size", "epochs", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive number")
    return args


def load_images(args: argparse.Namespace):
    """Step 1: ``(train, validation, class_names)``; train and validation are ``(x, y)`` arrays or datasets."""
    if args.data is None:
        print(f"Drawing {args.n} cat and dog images of {args.size}x{args.size} pixels...")
        x, y, class_names = cats_vs_dogs(n=args.n, size=args.size, seed=args.seed)
        return (*split(x, y), class_names)
    root = args.data
    if not root.is_dir():
        sys.exit(f"Cannot load {root}: not a folder")
    train_dir = root / "train" if (root / "train").is_dir() else root
    valid_dir = next((root / name for name in ("valid", "validation", "val") if (root / name).is_dir()), None)
    if _has_class_folders(train_dir):
        read = dict(image_size=(args.size, args.size), batch_size=args.batch_size, seed=args.seed, verbose=False)
        try:
            if valid_dir is not None:
                print(f"Reading {train_dir} for training and {valid_dir} for validation...")
                train = image_dataset_from_directory(train_dir, **read)
                valid = image_dataset_from_directory(valid_dir, shuffle=False, **read)
            else:
                print(f"Reading {train_dir}, 20 % of it held out for validation...")
                train, valid = image_dataset_from_directory(
                    train_dir, validation_split=VALIDATION_FRACTION, subset="both", **read
                )
        except (ImportError, OSError, ValueError) as error:
            sys.exit(f"Cannot load {root}: {error}")
        print(f"{len(train.file_paths)} training and {len(valid.file_paths)} validation images")
        return train, valid, train.class_names
    print(f"Loading up to {args.n} photos from {root}...")
    try:
        data = image_folder(root, size=args.size, limit=args.n, seed=args.seed)
    except (ImportError, OSError, ValueError) as error:
        sys.exit(f"Cannot load {root}: {error}")
    if data.skipped:
        print(f"Skipped {len(data.skipped)} unreadable file(s).")
    x, y, class_names = data
    return (*split(x, y), class_names)


def _has_class_folders(folder: Path) -> bool:
    """One subfolder per class holding images (the layout image_dataset_from_directory reads)."""
    subfolders = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return len(subfolders) >= 2


def split(x: np.ndarray, y: np.ndarray):
    """Keep the last 20 % of the (already shuffled) images apart for validation; pixels stay 0-255 (the
    network's Rescaling layer divides by 255, so photos read from folders need no extra step)."""
    n_val = max(1, int(len(x) * VALIDATION_FRACTION))
    return (x[:-n_val], y[:-n_val]), (x[-n_val:], y[-n_val:])


def build_model(kind: str, size: int, learning_rate: float) -> Sequential:
    """Step 2: the course's small CNN, or a plain stack of Dense layers on the flattened pixels."""
    if kind == "cnn":
        layers = [
            Conv2D(16, (3, 3), activation="relu", padding="same"),  # 16 local-shape detectors
            MaxPool2D(pool_size=(2, 2), strides=2),  # halve height and width
            Conv2D(32, (3, 3), activation="relu", padding="same"),
            MaxPool2D(pool_size=(2, 2), strides=2),
            Flatten(),
            Dense(64, activation="relu"),
        ]
        optimizer = Adam(learning_rate=learning_rate)
    else:
        layers = [Flatten(), Dense(256, activation="relu"), Dense(64, activation="relu")]
        optimizer = SGD(learning_rate=learning_rate, momentum=0.9)
    model = Sequential(
        [
            Input(shape=(size, size, 3)),
            Rescaling(1 / 255),  # pixels 0-255 -> 0-1
            *layers,
            Dense(2, activation="softmax"),  # two output nodes: P(cat), P(dog)
        ]
    )
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",  # labels are class indices 0/1, not one-hot
        metrics=["accuracy"],
    )
    return model


def step_decay(epochs: int) -> LearningRateScheduler:
    """Step 4's schedule: multiply the learning rate by 0.4 at 1/2 and at 3/4 of the epochs."""
    lower_at = {epochs // 2, (3 * epochs) // 4} - {0}

    def schedule(epoch: int, learning_rate: float) -> float:  # epoch counts from 0, as in Keras
        return learning_rate * 0.4 if epoch in lower_at else learning_rate

    return LearningRateScheduler(schedule)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``(true class, predicted class)``: the diagonal holds the right answers."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def print_confusion(counts: np.ndarray, class_names) -> None:
    width = max(8, *(len(name) + 2 for name in class_names))
    print("Confusion matrix on the validation images (rows: true class, columns: predicted):")
    print(" " * width + "".join(f"{name:>{width}}" for name in class_names))
    for name, row in zip(class_names, counts):
        print(f"{name:>{width}}" + "".join(f"{count:>{width}d}" for count in row))


def save_plots(history, x_val, y_val, probabilities, class_names, out: Path) -> list[Path]:
    """Step 5b: training.png and predictions.png, if matplotlib is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # draw to files; no window needed
        import matplotlib.pyplot as plt
    except ImportError:
        print('Skipped training.png and predictions.png: matplotlib is not installed (pip install "cyneuron[images]").')
        return []

    # Loss and accuracy per epoch, training vs validation.
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, key, title in ((ax_loss, "loss", "Loss"), (ax_acc, "accuracy", "Accuracy")):
        ax.plot(epochs, history[key], label="training")
        ax.plot(epochs, history[f"val_{key}"], label="validation")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    training_png = out / "training.png"
    fig.savefig(training_png, dpi=80)
    plt.close(fig)

    # A grid of validation images with the predicted class and its probability; mistakes in red.
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_val)
    right = np.flatnonzero(predicted == y_val)
    # 32 images including up to 4 mistakes, in a random order so the mistakes are not all at the end.
    n_wrong = min(4, len(wrong))
    shown = np.random.default_rng(0).permutation(np.concatenate([wrong[:n_wrong], right[: 32 - n_wrong]]))
    cols = 8
    rows = max(1, -(-len(shown) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, shown):
        ax.imshow(x_val[i], interpolation="nearest")
        ok = predicted[i] == y_val[i]
        label = f"{class_names[predicted[i]]} {probabilities[i, predicted[i]]:.2f}"
        ax.set_title(
            label if ok else f"{label}\n(is {class_names[y_val[i]]})", fontsize=7, color="green" if ok else "red"
        )
        if not ok:  # a red frame around mistakes
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_color("red")
                spine.set_linewidth(2)
    title = f"Validation images: predicted class and probability ({len(wrong)} of {len(y_val)} wrong"
    fig.suptitle(f"{title}, {n_wrong} of them shown in red)", fontsize=9)
    fig.tight_layout()
    predictions_png = out / "predictions.png"
    fig.savefig(predictions_png, dpi=80)
    plt.close(fig)
    return [training_png, predictions_png]


def as_arrays(data) -> tuple[np.ndarray, np.ndarray]:
    """A validation set as arrays (a dataset is read once, batch by batch)."""
    if isinstance(data, tuple):
        return data
    batches = list(data)
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]).astype(np.int64)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    start = time.perf_counter()
    if args.backend:
        cyneuron.set_backend(args.backend)
    set_random_seed(args.seed)  # the same seed gives the same weights and the same training run

    train, valid, class_names = load_images(args)
    x_val, y_val = as_arrays(valid)
    if isinstance(train, tuple):
        print(f"{len(train[0])} training and {len(x_val)} validation images; classes: {', '.join(class_names)}")

    model = build_model(args.model, args.size, args.learning_rate)
    fit_data = dict(x=train[0], y=train[1], batch_size=args.batch_size) if isinstance(train, tuple) else dict(x=train)
    callbacks = [step_decay(args.epochs)] if args.model == "mlp" else []
    trained = time.perf_counter()
    history = model.fit(
        **fit_data,
        epochs=args.epochs,
        validation_data=(x_val, y_val),
        shuffle=True,
        callbacks=callbacks,
        verbose=args.verbose,
    )
    trained = time.perf_counter() - trained

    probabilities = model.predict(x_val, verbose=0)  # (n_val, 2): P(cat), P(dog) per image
    predicted = probabilities.argmax(axis=1)
    accuracy = float(np.mean(predicted == y_val))
    counts = confusion_matrix(y_val, predicted, len(class_names))
    print(f"\nValidation accuracy: {accuracy:.2%} ({counts.trace()} of {len(y_val)} images right)")
    print_confusion(counts, class_names)

    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / "cats_vs_dogs.model"
    model.save(model_path)
    images = np.asarray(x_val, dtype=np.float32) / 255.0
    saved = [model_path, *save_plots(history.history, images, y_val, probabilities, class_names, args.out)]
    print("Saved " + ", ".join(str(path) for path in saved))
    print(f"Done in {time.perf_counter() - start:.1f} s ({trained:.1f} s of training).")
    return {
        "val_accuracy": accuracy,
        "predicted": predicted,
        "confusion": counts,
        "history": history.history,
        "model_path": model_path,
        "outputs": saved,
        "train_seconds": trained,
    }


if __name__ == "__main__":
    main()
