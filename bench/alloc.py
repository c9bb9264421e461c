"""Count NumPy array-data allocations exactly, and watch them with tracemalloc.

Two independent views of "does a training step allocate NumPy arrays?":

* ``CountingHandler``: installs a NumPy memory handler (``PyDataMem_SetHandler``, NumPy >= 1.22,
  reached through the C-API capsule with ctypes) that counts every array-data malloc/calloc/realloc,
  including buffers freed again within the step, which a tracemalloc snapshot cannot see.
* ``tracemalloc_numpy``: NumPy reports its data allocations to tracemalloc under its own domain
  (``np.lib.tracemalloc_domain``); a snapshot diff filtered on that domain shows NumPy memory still
  held after the steps, and ``get_traced_memory`` peak shows the transient high-water mark.
"""

from __future__ import annotations

import ctypes
import tracemalloc
from collections.abc import Callable

import numpy as np

_libc = ctypes.CDLL(None)
_libc.malloc.restype = ctypes.c_void_p
_libc.malloc.argtypes = [ctypes.c_size_t]
_libc.calloc.restype = ctypes.c_void_p
_libc.calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
_libc.realloc.restype = ctypes.c_void_p
_libc.realloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.free.restype = None
_libc.free.argtypes = [ctypes.c_void_p]

_MALLOC = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_CALLOC = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t)
_REALLOC = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_FREE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)


class _Allocator(ctypes.Structure):
    _fields_ = [
        ("ctx", ctypes.c_void_p),
        ("malloc", _MALLOC),
        ("calloc", _CALLOC),
        ("realloc", _REALLOC),
        ("free", _FREE),
    ]


class _Handler(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * 127), ("version", ctypes.c_uint8), ("allocator", _Allocator)]


def _array_api_slot(index: int) -> int:
    try:
        from numpy._core import _multiarray_umath as mu
    except ImportError:  # NumPy 1.x
        from numpy.core import _multiarray_umath as mu
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    table = get_pointer(mu._ARRAY_API, None)
    return ctypes.cast(table, ctypes.POINTER(ctypes.c_void_p))[index]


_SET_HANDLER_INDEX = 304  # PyDataMem_SetHandler in numpy/__multiarray_api.h (NumPy >= 1.22)


class CountingHandler:
    """Context manager: inside it, every NumPy array-data allocation increments ``count``/``nbytes``.

    The handler struct lives as long as the process (arrays allocated under it keep a reference and
    free through it later), so build one and reuse it.
    """

    _keep: list = []

    def __init__(self) -> None:
        self.count = 0
        self.nbytes = 0
        self.sizes: list[int] = []

        def _malloc(ctx, size):
            self._record(size)
            return _libc.malloc(size)

        def _calloc(ctx, nelem, elsize):
            self._record(nelem * elsize)
            return _libc.calloc(nelem, elsize)

        def _realloc(ctx, ptr, size):
            self._record(size)
            return _libc.realloc(ptr, size)

        def _free(ctx, ptr, size):
            _libc.free(ptr)

        callbacks = (_MALLOC(_malloc), _CALLOC(_calloc), _REALLOC(_realloc), _FREE(_free))
        self._handler = _Handler(b"cyneuron_bench_counter", 1, _Allocator(None, *callbacks))
        new_capsule = ctypes.pythonapi.PyCapsule_New
        new_capsule.restype = ctypes.py_object
        new_capsule.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        self._capsule = new_capsule(ctypes.addressof(self._handler), b"mem_handler", None)
        set_type = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.py_object)
        self._set_handler = set_type(_array_api_slot(_SET_HANDLER_INDEX))
        self._previous = None
        CountingHandler._keep.append((self._handler, callbacks, self._capsule))
        self.recording = False

    def _record(self, size: int) -> None:
        if self.recording:
            self.count += 1
            self.nbytes += size
            if len(self.sizes) < 50:
                self.sizes.append(size)

    def __enter__(self) -> CountingHandler:
        self._previous = self._set_handler(self._capsule)
        self.count = self.nbytes = 0
        self.sizes = []
        self.recording = True
        return self

    def __exit__(self, *exc) -> None:
        self.recording = False
        self._set_handler(self._previous)

    @staticmethod
    def works() -> bool:
        """True when the handler really sees allocations on this NumPy."""
        try:
            counter = CountingHandler()
            with counter:
                np.empty(1000)
            try:
                from numpy._core.multiarray import get_handler_name
            except ImportError:  # NumPy 1.x
                from numpy.core.multiarray import get_handler_name
            return counter.count >= 1 and get_handler_name() != "cyneuron_bench_counter"
        except Exception:  # noqa: BLE001 - unsupported NumPy: the caller falls back to tracemalloc only
            return False


def count_allocations(step: Callable[[], object], steps: int) -> tuple[int, int, list[int]]:
    """(allocations, bytes, first sizes) of NumPy array data over ``steps`` calls of ``step``."""
    counter = CountingHandler()
    with counter:
        for _ in range(steps):
            step()
    return counter.count, counter.nbytes, counter.sizes


def tracemalloc_numpy(step: Callable[[], object], steps: int) -> dict[str, int]:
    """NumPy memory still held after ``steps`` calls (domain-filtered snapshot diff) and the peak.

    ``held_bytes``/``held_blocks``: growth of live NumPy data; ``peak_over_start``: highest traced
    memory (all domains) above the starting level during the steps.
    """
    domain = np.lib.tracemalloc_domain
    only_numpy = [tracemalloc.DomainFilter(inclusive=True, domain=domain)]
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot().filter_traces(only_numpy)
        start_current, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(steps):
            step()
        _, peak = tracemalloc.get_traced_memory()
        after = tracemalloc.take_snapshot().filter_traces(only_numpy)
    finally:
        tracemalloc.stop()
    diff = after.compare_to(before, "filename")
    return {
        "held_bytes": sum(d.size_diff for d in diff),
        "held_blocks": sum(d.count_diff for d in diff),
        "peak_over_start": peak - start_current,
    }
