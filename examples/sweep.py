"""A hyper-parameter sweep: scikit-learn's GridSearchCV over cyneuron models, on this machine or on a Dask cluster.

    python examples/sweep.py                                   # local processes, n_jobs=-1 (all cores)
    python examples/sweep.py --scheduler tcp://10.0.0.5:8786   # the same search on a Dask cluster

What it does:

1. Load scikit-learn's digits (1797 8x8 images, 10 classes), scaled to [0, 1].
2. Wrap a model-building function in ``cyneuron.wrappers.SKLearnClassifier``: it builds a two-layer MLP
   sized by the data (``X.shape[1]`` inputs, ``y.shape[1]`` one-hot classes) and compiles it with Adam.
3. Search 16 candidates, hidden units x learning rate, with 3-fold cross-validation (48 trainings and a
   refit of the best) in ``GridSearchCV``. Locally the trainings run in joblib's worker processes; with
   ``--scheduler`` they run on the Dask cluster's workers through joblib's ``"dask"`` backend (the recipe:
   a ``dask.distributed.Client`` plus ``joblib.parallel_backend("dask")``). Either way each worker's fit
   caps BLAS at one thread (``cyneuron.wrappers.limit_blas_threads``), so parallel trainings do not
   oversubscribe the cores.
4. Print the best parameters, their cross-validated accuracy, the refitted model's accuracy on a held-out
   quarter of the data, and the wall time.

A Dask cluster to try it on: ``dask scheduler`` in one shell, ``dask worker tcp://127.0.0.1:8786
--nworkers 2 --nthreads 1`` in another (``pip install "cyneuron[dask]"``); the workers need cyneuron installed.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np

from cyneuron import optimizers
from cyneuron.layers import Dense, Input
from cyneuron.models import Sequential

UNITS = (64, 128, 256, 512)
LEARNING_RATES = (3e-4, 1e-3, 3e-3, 1e-2)


def build_mlp(X, y, units: int = 128, learning_rate: float = 1e-3) -> Sequential:
    """The model for one candidate: ``X`` ``(n, features)``, ``y`` one-hot ``(n, classes)`` (the wrapper's
    encoding), two ReLU layers of ``units`` and a softmax, Adam at ``learning_rate``."""
    model = Sequential(
        [
            Input((X.shape[1],)),
            Dense(units, activation="relu"),
            Dense(units, activation="relu"),
            Dense(y.shape[1], activation="softmax"),
        ]
    )
    model.compile(optimizer=optimizers.Adam(learning_rate), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def make_search(epochs: int = 20, cv: int = 3, n_jobs: int | None = -1, units=UNITS, learning_rates=LEARNING_RATES):
    """The GridSearchCV: one candidate per (units, learning rate) pair, each a ``model_kwargs`` dict."""
    from sklearn.model_selection import GridSearchCV

    from cyneuron.wrappers import SKLearnClassifier

    candidates = [{"units": u, "learning_rate": lr} for u in units for lr in learning_rates]
    estimator = SKLearnClassifier(build_mlp, fit_kwargs={"epochs": epochs, "batch_size": 32, "verbose": 0})
    return GridSearchCV(estimator, {"model_kwargs": candidates}, cv=cv, n_jobs=n_jobs)


def load_data(seed: int = 0):
    """Digits scaled to [0, 1], split 3:1 into (search, held-out) parts, stratified."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scheduler", help="a Dask scheduler address (tcp://host:port); default: run locally")
    parser.add_argument("--n-jobs", type=int, default=-1, help="local worker processes (default -1: all cores)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs per training (default 20)")
    parser.add_argument("--cv", type=int, default=3, help="cross-validation folds (default 3)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    X_train, X_test, y_train, y_test = load_data()
    search = make_search(epochs=args.epochs, cv=args.cv, n_jobs=args.n_jobs)
    with contextlib.ExitStack() as stack:
        if args.scheduler:
            from distributed import Client
            from joblib import parallel_backend

            client = stack.enter_context(Client(args.scheduler))
            stack.enter_context(parallel_backend("dask"))
            where = f"Dask cluster {args.scheduler} ({len(client.scheduler_info()['workers'])} workers)"
        else:
            where = f"local processes (n_jobs={args.n_jobs})"
        start = time.perf_counter()
        search.fit(X_train, y_train)
        seconds = time.perf_counter() - start
    n_candidates = len(search.cv_results_["params"])
    test_accuracy = search.score(X_test, y_test)
    print(f"{n_candidates} candidates x {args.cv} folds on {where}: {seconds:.1f} s")
    print(f"Best parameters: {search.best_params_['model_kwargs']}")
    print(f"Cross-validated accuracy: {search.best_score_:.4f}; held-out accuracy: {test_accuracy:.4f}")
    return {
        "seconds": seconds,
        "best_params": search.best_params_["model_kwargs"],
        "best_score": search.best_score_,
        "test_accuracy": test_accuracy,
        "n_candidates": n_candidates,
    }


if __name__ == "__main__":
    main()
