"""What the atheris targets share: coverage instrumentation, limits, the seed corpus and the verdict.

A target calls ``instrumented(...)`` around its imports, then ``main(name, test_one_input, seeds, mutator)``
(``rezip_mutator`` / ``png_crc_mutator``: libFuzzer's byte mutations made to survive checksums). Each input
must end in a result or in one of ``EXPECTED`` (the errors cyneuron documents for unreadable files); the
harness turns every other outcome into a finding: any other exception escapes to atheris (which saves the
input as ``crash-*``), and an expected error raised only because memory ran out (a ``MemoryError`` in its
chain: the refusal came after an allocation, not before) is re-raised as ``OutOfMemoryFinding``. Hangs
and resident-memory overruns are libFuzzer's ``-timeout`` and ``-rss_limit_mb``; the address-space limit
below turns one huge allocation into a ``MemoryError`` at once, before the RSS sampler would see it.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import random
import resource
import struct
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator

import atheris

# Errors cyneuron documents for files it cannot read: ValueError (saving_keras.H5pyMissingError is one),
# TypeError for wrong argument types, OSError for files that cannot be opened or decoded (PIL's
# UnidentifiedImageError is one). Anything else is a finding.
EXPECTED = (ValueError, TypeError, OSError)
# Address-space cap of the fuzzing process (the interpreter, NumPy, h5py and Pillow take ~250 MB of it).
MEMORY_MB = int(os.environ.get("FUZZ_MEMORY_MB", "2048"))


class OutOfMemoryFinding(AssertionError):
    """An input was refused only after an allocation failed: the reader allocated before checking."""


@contextlib.contextmanager
def instrumented(modules: list[str], loaded: tuple = ()) -> Iterator[None]:
    """Coverage for the ``modules`` imported inside the block, and for the already imported ``loaded``
    modules (``zipfile`` is imported at interpreter start-up, so the import hook never sees it)."""
    with atheris.instrument_imports(include=modules):
        yield
    for module in loaded:
        for value in vars(module).values():
            own_class = inspect.isclass(value) and value.__module__ == module.__name__
            members = vars(value).values() if own_class else [value]
            for member in members:
                function = getattr(member, "__func__", member)
                if inspect.isfunction(function) and function.__module__ == module.__name__:
                    atheris.instrument_func(function)


def scratch_dir(name: str) -> str:
    """A private folder for the per-input files (under $TMPDIR: run.sh points it at a folder it removes)."""
    return tempfile.mkdtemp(prefix=f"cyneuron-fuzz-{name}-")


def verdict(call: Callable[[], object]) -> object:
    """Run one input; expected errors pass unless memory running out caused them."""
    try:
        return call()
    except EXPECTED as exc:
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, MemoryError):
                raise OutOfMemoryFinding(f"refused only after running out of memory: {exc!r}") from exc
            cause = cause.__cause__ or cause.__context__
        return None


def limit_memory(megabytes: int = MEMORY_MB) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    wanted = megabytes << 20
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))


def rezip_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    """Mutate one entry of a zip (after the selector byte) and pack it again with correct CRCs, so that
    mutations reach the JSON, .npy and HDF5 parsers behind zipfile's CRC check; other inputs, and one in
    four zips (the archive's own structure), get libFuzzer's byte-level mutations."""
    rng = random.Random(seed)
    head, payload = data[:1], data[1:]
    if payload[:4] == b"PK\x03\x04" and rng.random() < 0.75:
        try:
            with zipfile.ZipFile(io.BytesIO(payload)) as zf:
                entries = [(info, zf.read(info)) for info in zf.infolist()]
        except Exception:  # a damaged archive: mutate its bytes instead
            entries = []
        if entries:
            k = rng.randrange(len(entries))
            info, content = entries[k]
            entries[k] = (info, atheris.Mutate(content, max(2 * len(content), 64)))
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as zf:
                for info, content in entries:
                    zf.writestr(info, content, compress_type=info.compress_type)
            out = head + buffer.getvalue()
            if len(out) <= max_size:
                return out
    return atheris.Mutate(data, max_size)


def png_crc_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    """libFuzzer's mutations, then (nine times in ten) every PNG chunk's CRC recomputed: Pillow refuses a
    chunk with a wrong CRC before parsing it, which would hide most header mutations."""
    out = bytearray(atheris.Mutate(data, max_size))
    start = out.find(b"\x89PNG\r\n\x1a\n")
    if start < 0 or random.Random(seed).random() < 0.1:
        return bytes(out)
    offset = start + 8
    while offset + 12 <= len(out):
        (length,) = struct.unpack(">I", out[offset : offset + 4])
        end = offset + 8 + length
        if end + 4 > len(out):
            break
        out[end : end + 4] = struct.pack(">I", zlib.crc32(out[offset + 4 : end]))
        offset = end + 4
    return bytes(out)


def main(
    name: str,
    test_one_input: Callable[[bytes], None],
    seeds: Callable[[], dict[str, bytes]],
    mutator: Callable[[bytes, int, int], bytes] | None = None,
) -> None:
    """atheris' entry point. Corpus folders on the command line are fuzzed from; the seeds (valid files
    written at start-up, so mutations start past the zip / HDF5 / image headers) join them read-only.
    With files instead of folders on the command line, libFuzzer runs just those inputs (reproduction)."""
    argv = list(sys.argv)
    positional = [a for a in argv[1:] if not a.startswith("-")]
    if not any(os.path.isfile(a) for a in positional):
        if not positional:  # libFuzzer writes new inputs to the first folder
            argv.append(tempfile.mkdtemp(prefix=f"cyneuron-fuzz-{name}-corpus-"))
        seed_dir = tempfile.mkdtemp(prefix=f"cyneuron-fuzz-{name}-seeds-")
        for file_name, data in seeds().items():
            with open(os.path.join(seed_dir, file_name), "wb") as f:
                f.write(data)
        argv.append(seed_dir)
        print(f"INFO: seed corpus ({len(os.listdir(seed_dir))} files) in {seed_dir}", flush=True)
    limit_memory()
    atheris.Setup(argv, test_one_input, **({"custom_mutator": mutator} if mutator else {}))
    atheris.Fuzz()
