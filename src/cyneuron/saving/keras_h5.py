"""HDF5 through h5py for Keras' weights files: writing them, and a checked reader for untrusted ones.

Every HDF5 object read must be a hard-linked group or a contiguous/chunked numeric dataset stored in the
file (no external or soft links, virtual datasets, external storage, object, string or compound dtypes),
and every dataset's shape and dtype is checked against the model before it is read. h5py is imported
lazily: ``pip install "cyneuron[keras]"``.
"""

from __future__ import annotations

import io
import math
import warnings
from typing import Any

import numpy as np

from cyneuron.saving.keras_layout import (
    expected_layer_vars,
    layer_entries,
    little_endian,
    optimizer_kind,
    optimizer_variables,
    slot_order,
    write_layer,
)

# HDF5 bookkeeping (superblock, object headers, B-trees) on top of the raw data, per dataset and overall.
H5_OVERHEAD_PER_DATASET = 64 * 1024
H5_OVERHEAD = 4 * 1024 * 1024
_MAX_H5_OBJECTS = 100_000


class H5pyMissingError(ImportError, ValueError):
    """Reading a Keras file without h5py. An ImportError (the fix is an install), and a ValueError like every
    other file cyneuron cannot read, so ``except ValueError`` around ``load_model`` keeps working."""


def import_h5py(path: str | None = None):
    try:
        import h5py
    except ImportError as exc:
        where = f"{path}: " if path else ""
        raise H5pyMissingError(
            f'{where}Keras files (.keras, .weights.h5) need h5py: pip install "cyneuron[keras]" (or pip install h5py)'
        ) from exc
    return h5py


def available() -> bool:
    """True when h5py can be imported (Keras files can be written and read)."""
    try:
        import h5py  # noqa: F401
    except ImportError:
        return False
    return True


def weights_h5_bytes(h5py, model: Any, with_optimizer: bool) -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        layers = f.create_group("layers")
        for layer, name in layer_entries(model):
            write_layer(layers.create_group(name), layer)
        root_vars = f.create_group("vars")
        root_vars.attrs["name"] = model.name
        if with_optimizer and model.built:
            variables = optimizer_variables(model)
            if variables is not None:
                group = f.create_group("optimizer").create_group("vars")
                group.attrs["name"] = str(model.optimizer.get_config().get("name", "optimizer"))
                for i, array in enumerate(variables):
                    group.create_dataset(str(i), data=little_endian(array))
    return buffer.getvalue()


class _Shape:
    """Stands for an array in ``guard.guard_model_size`` (which only counts elements)."""

    __slots__ = ("shape", "size")

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.size = math.prod(shape)


# What h5py raises for a damaged file: HDF5's errors (OSError, RuntimeError, KeyError, ValueError...), and
# from its file-object driver (which serves HDF5's reads from the bytes in memory) offsets a forged superblock
# makes too large for a C ssize_t (OverflowError) or of the wrong type.
_H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, OverflowError)


class H5File:
    """A validated view of an HDF5 weights file: every dataset path -> h5py dataset (not yet read)."""

    def __init__(self, path: str, h5py, data: bytes) -> None:
        self.path = path
        self._h5py = h5py
        try:
            self.file = h5py.File(io.BytesIO(data), "r")
        except _H5_ERRORS as exc:
            raise ValueError(f"{path}: not a valid HDF5 weights file: {exc}") from exc
        self.datasets: dict[str, Any] = {}
        self.groups: set[str] = set()
        try:
            self._walk()
        except BaseException:
            self.file.close()
            raise

    def close(self) -> None:
        self.file.close()

    def _walk(self) -> None:
        h5py, path = self._h5py, self.path
        stack = [("", self.file)]
        count = 0
        while stack:
            prefix, group = stack.pop()
            try:
                names = list(group.keys())
            except _H5_ERRORS as exc:
                raise ValueError(f"{path}: corrupted HDF5 group {prefix or '/'!r}: {exc}") from exc
            for name in names:
                count += 1
                if count > _MAX_H5_OBJECTS:
                    raise ValueError(f"{path}: the HDF5 file holds more than {_MAX_H5_OBJECTS} objects")
                full = f"{prefix}/{name}" if prefix else name
                try:
                    link = group.get(name, getlink=True)
                except _H5_ERRORS as exc:
                    raise ValueError(f"{path}: corrupted HDF5 link {full!r}: {exc}") from exc
                if not isinstance(link, h5py.HardLink):
                    raise ValueError(f"{path}: HDF5 object {full!r} is a {type(link).__name__} (only hard links)")
                try:
                    obj = group[name]
                    # What the checks read of a dataset comes from its object header, which may be damaged too.
                    is_dataset = isinstance(obj, h5py.Dataset)
                    header = (obj.is_virtual, obj.external, obj.dtype, obj.shape) if is_dataset else ()
                except _H5_ERRORS as exc:
                    raise ValueError(f"{path}: corrupted HDF5 object {full!r}: {exc}") from exc
                if isinstance(obj, h5py.Group):
                    self.groups.add(full)
                    stack.append((full, obj))
                elif isinstance(obj, h5py.Dataset):
                    self._check_dataset(full, *header)
                    self.datasets[full] = obj
                else:
                    raise ValueError(f"{path}: HDF5 object {full!r} is a {type(obj).__name__}")

    def _check_dataset(self, name: str, virtual: bool, external: Any, dtype: np.dtype, shape: Any) -> None:
        path = self.path
        if virtual:
            raise ValueError(f"{path}: HDF5 dataset {name!r} is a virtual dataset (refused)")
        if external:
            raise ValueError(f"{path}: HDF5 dataset {name!r} stores its data in external files (refused)")
        if dtype.kind not in "fiu" or dtype.fields is not None or dtype.subdtype is not None or dtype.itemsize > 8:
            raise ValueError(f"{path}: HDF5 dataset {name!r} has unsupported dtype {dtype} (numbers only)")
        if shape is None or len(shape) > 32:
            raise ValueError(f"{path}: HDF5 dataset {name!r} has an unsupported shape {shape}")

    def vars_in(self, group: str) -> list[str]:
        """The datasets of ``group`` (named 0, 1, ...), in index order; ValueError for other names."""
        prefix = group + "/"
        names = [k[len(prefix) :] for k in self.datasets if k.startswith(prefix) and "/" not in k[len(prefix) :]]
        if sorted(names, key=lambda n: (len(n), n)) != [str(i) for i in range(len(names))]:
            raise ValueError(f"{self.path}: HDF5 group {group!r} holds datasets {sorted(names)[:5]}, not 0, 1, ...")
        return [f"{prefix}{i}" for i in range(len(names))]

    def read(self, name: str, shape: tuple[int, ...], kinds: str = "f") -> np.ndarray:
        ds = self.datasets.get(name)
        if ds is None:
            raise ValueError(f"{self.path}: missing HDF5 dataset {name!r}")
        if tuple(ds.shape) != tuple(shape):
            raise ValueError(f"{self.path}: HDF5 dataset {name!r} has shape {ds.shape}, expected {tuple(shape)}")
        if ds.dtype.kind not in kinds:
            raise ValueError(f"{self.path}: HDF5 dataset {name!r} has dtype {ds.dtype}, expected kind {kinds!r}")
        try:
            array = ds[()]
        except _H5_ERRORS as exc:
            raise ValueError(f"{self.path}: HDF5 dataset {name!r} cannot be read (corrupted): {exc}") from exc
        array = np.asarray(array)
        if tuple(array.shape) != tuple(shape):
            raise ValueError(f"{self.path}: HDF5 dataset {name!r} read with shape {array.shape}")
        return array.astype(array.dtype.newbyteorder("="), copy=False)

def read_layer_weights(h5: H5File, model: Any, skip_mismatch: bool = False) -> list[np.ndarray]:
    """The model's weights (``get_weights()`` order, model dtype) from ``layers/...``, everything checked.

    ``skip_mismatch``: a layer whose variables in the file differ in number or shape keeps its current
    weights (with a warning naming it), as Keras' ``load_weights(skip_mismatch=True)``.
    """
    weights = []
    expected_groups = set()
    skipped = []
    for group, layer, shapes in expected_layer_vars(model):
        expected_groups.add(group)
        names = h5.vars_in(group) if shapes else []
        if skip_mismatch and (
            len(names) != len(shapes) or any(tuple(h5.datasets[n].shape) != s for n, s in zip(names, shapes))
        ):
            skipped.append(layer.name)
            weights.extend(np.array(w, copy=True) for w in layer.weights)
            continue
        if len(names) != len(shapes):
            raise ValueError(
                f"{h5.path}: layer {layer.name!r} expects {len(shapes)} variables but {group!r} holds {len(names)}"
            )
        n_weights = len(layer.weights)
        if not shapes:  # weights Keras does not store (a Normalization's given mean): from the config
            weights.extend(np.array(w, copy=True) for w in layer.weights)
        for i, (name, shape) in enumerate(zip(names, shapes)):
            array = h5.read(name, shape, "f" if i < n_weights else "iu")
            if i < n_weights:
                weights.append(array.astype(layer.weights[i].dtype, copy=False))
    if skipped:
        warnings.warn(
            f"{h5.path}: skipped loading the weights of {len(skipped)} layer(s) whose shapes differ from the "
            f"file's (skip_mismatch=True): {skipped}",
            stacklevel=4,
        )
    extra = [k for k in h5.datasets if k.startswith("layers/") and k.rsplit("/", 1)[0] not in expected_groups]
    if extra:
        raise ValueError(f"{h5.path}: HDF5 datasets {extra[:5]} belong to no layer of the model")
    return weights


def h5_layer_elements(h5: H5File) -> list[_Shape]:
    return [_Shape(tuple(ds.shape)) for k, ds in h5.datasets.items() if k.startswith("layers/")]


def restore_optimizer(path: str, h5: H5File, model: Any, schedule: bool) -> None:
    names = h5.vars_in("optimizer/vars")
    state = model.optimizer_state()
    slot_names = [name for name, _ in model.optimizer_slot_specs()]
    scalar_names = [name for name, _ in model.optimizer_scalar_specs()]
    order = slot_order(model)
    trained = model.trained_weight_paths()
    by_path = dict(zip(model.weight_paths(), model.get_weights()))
    head = 1 if schedule else 2
    expected = head + len(order) + len(scalar_names)
    if len(names) <= 2 and len(names) != expected:
        return  # the optimizer was never built in Keras (no step taken): nothing to restore
    if len(names) != expected:
        raise ValueError(
            f"{path}: the optimizer state holds {len(names)} variables but the {optimizer_kind(model)} optimizer "
            f"of this model has {expected}"
        )
    iterations = h5.read(names[0], (), "iu")
    iterations = int(iterations)
    if not 0 <= iterations < 2**62:
        raise ValueError(f"{path}: optimizer iterations {iterations} out of range")
    slots = [list(s) for s in state["slots"]]
    for k, (name, i) in enumerate(order):
        shape = tuple(by_path[trained[i]].shape)
        array = h5.read(names[head + k], shape, "f")
        if not np.isfinite(array).all():
            raise ValueError(f"{path}: optimizer variable {names[head + k]!r} contains NaN or infinity")
        j = slot_names.index(name)
        slots[i][j] = array.astype(slots[i][j].dtype, copy=False).reshape(slots[i][j].shape)
    scalars = []
    for k, _name in enumerate(scalar_names):
        value = float(h5.read(names[head + len(order) + k], (), "f"))
        if not math.isfinite(value):
            raise ValueError(f"{path}: optimizer scalar {_name!r} is not finite")
        scalars.append(value)
    state["slots"] = slots
    state["iterations"] = iterations
    if scalar_names:
        state["scalars"] = np.array(scalars, dtype=np.float64)
    try:
        model.set_optimizer_state(state)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: invalid optimizer state: {exc}") from exc

