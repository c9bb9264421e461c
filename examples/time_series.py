"""Forecast next year's sunspot number from the last twelve years, with a recurrent network.

    python examples/time_series.py                 # the course's stacked LSTM (a few seconds on 2 cores)
    python examples/time_series.py --model rnn     # a SimpleRNN instead

What it does, step by step (each step is one function below):

1. Load the yearly mean sunspot numbers, 1700-2008 (``cyneuron.datasets.sunspots``: a real, public
   series from NOAA's National Geophysical Data Center, public domain, shipped with cyneuron).
2. Split in time order: the years up to 1946 train the network, the rest validate it (the network
   never sees the future while training). Scale by the training years' mean and spread.
3. Cut the series into windows with ``cyneuron.utils.timeseries_dataset_from_array``: each sample is
   the 12 years before a year, ``(12, 1)``, and its target is that year's number.
4. Build the course's stacked LSTM, ``LSTM(50, return_sequences=True) -> LSTM(50) -> Dense(1)``
   (or ``SimpleRNN(32) -> Dense(1)``), and train it with ``optimizer='adam'`` and ``loss='mse'``.
5. Compare with the naive forecast "same as last year" on the validation years (mean absolute
   error, in sunspots), and draw ``forecast.png``: the truth, the network's forecasts and the naive one.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import cyneuron
from cyneuron.datasets import sunspots
from cyneuron.layers import LSTM, Dense, Input, SimpleRNN
from cyneuron.models import Sequential
from cyneuron.utils import set_random_seed, timeseries_dataset_from_array

DEFAULT_OUT = Path(__file__).resolve().parent / "output"  # git-ignored
FIRST_VALIDATION_YEAR = 1947


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["lstm", "rnn"], default="lstm", help="network (default lstm)")
    parser.add_argument("--window", type=int, default=12, help="years of history per sample (default 12)")
    parser.add_argument("--epochs", type=int, default=60, help="passes over the training windows (default 60)")
    parser.add_argument("--batch-size", type=int, default=16, help="windows per training step (default 16)")
    parser.add_argument("--backend", choices=["cython", "numpy"], help="computation backend (default: cython)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for weights and shuffling")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1, help="fit's verbosity (default 1)")
    args = parser.parse_args(argv)
    for name in ("window", "epochs", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive number")
    return args


def split(years: np.ndarray, values: np.ndarray):
    """Step 2: training years before FIRST_VALIDATION_YEAR, validation from it on; scaled by the training part."""
    cut = int(np.searchsorted(years, FIRST_VALIDATION_YEAR))
    mean, scale = values[:cut].mean(), values[:cut].std()
    return (values - mean) / scale, cut, mean, scale


def windows(series: np.ndarray, start: int, stop: int, window: int, batch_size: int, shuffle: bool, seed: int):
    """Step 3: samples ``series[t - window : t]`` ``(window, 1)``, target ``series[t]``, t in [start, stop)."""
    data = series.astype("float32").reshape(-1, 1)
    return timeseries_dataset_from_array(
        data[start - window : stop - 1],
        data[start:stop, 0],
        sequence_length=window,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
    )


def build_model(kind: str, window: int) -> Sequential:
    """Step 4: the course's stacked LSTM, or a single SimpleRNN."""
    recurrent = [LSTM(50, return_sequences=True), LSTM(50)] if kind == "lstm" else [SimpleRNN(32)]
    model = Sequential([Input(shape=(window, 1)), *recurrent, Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


def save_plot(years, truth, forecast, naive, out: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('Skipped forecast.png: matplotlib is not installed (pip install "cyneuron[images]").')
        return []
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.plot(years, truth, color="black", label="observed")
    ax.plot(years, forecast, color="tab:blue", label="network's forecast")
    ax.plot(years, naive, color="tab:orange", alpha=0.6, linestyle="--", label="same as last year")
    ax.set_title("Yearly sunspot number, validation years: one-year-ahead forecasts")
    ax.set_xlabel("year")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "forecast.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return [path]


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    start = time.perf_counter()
    if args.backend:
        cyneuron.set_backend(args.backend)
    set_random_seed(args.seed)

    years, values = sunspots()
    series, cut, mean, scale = split(years, values)
    print(
        f"{len(years)} years of sunspot numbers, {years[0]}-{years[-1]}; training on {years[args.window]}-"
        f"{years[cut - 1]}, validating on {years[cut]}-{years[-1]}"
    )
    train = windows(series, args.window, cut, args.window, args.batch_size, True, args.seed)
    valid = windows(series, cut, len(series), args.window, args.batch_size, False, args.seed)

    model = build_model(args.model, args.window)
    history = model.fit(train, epochs=args.epochs, validation_data=valid, verbose=args.verbose)

    forecast = model.predict(valid, verbose=0)[:, 0] * scale + mean
    truth = values[cut:]
    naive = values[cut - 1 : -1]  # last year's number
    mae = float(np.mean(np.abs(forecast - truth)))
    naive_mae = float(np.mean(np.abs(naive - truth)))
    print(f"\nValidation mean absolute error: {mae:.1f} sunspots (network) vs {naive_mae:.1f} (same as last year)")
    print("The network beats the naive forecast." if mae < naive_mae else "The naive forecast is better.")

    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / f"sunspots_{args.model}.model"
    model.save(model_path)
    saved = [model_path, *save_plot(years[cut:], truth, forecast, naive, args.out)]
    print("Saved " + ", ".join(str(path) for path in saved))
    print(f"Done in {time.perf_counter() - start:.1f} s.")
    return {"mae": mae, "naive_mae": naive_mae, "history": history.history, "forecast": forecast, "outputs": saved}


if __name__ == "__main__":
    main()
