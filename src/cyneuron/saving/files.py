"""The file system side of saving: argument paths, atomic writes, reading regular files only, zip entries.

Writes are atomic: the data goes to a temporary file in the target's folder, is flushed to disk, then
renamed over the target, so a crash or error in the middle of a save leaves any previous file intact.
Reads open regular files only: a FIFO without writer would block ``open`` forever, and ``zipfile`` reads
an endless device such as ``/dev/zero`` into memory looking for the end of the archive.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import IO

# Everything a damaged zip can make zipfile / zlib raise while reading.
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


class FileFormatError(Exception):
    """A file's content fails validation; the caller turns it into a ValueError prefixed by the file's path."""


def read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """A zip entry's bytes; FileFormatError when it declares, or turns out to hold, more than ``limit`` bytes
    (reading to the end makes zipfile check the CRC)."""
    if info.file_size > limit:
        raise FileFormatError(f"{info.filename} declares {info.file_size} bytes (limit {limit})")
    with zf.open(info) as entry:
        data = entry.read(limit + 1)
    if len(data) > limit:
        raise FileFormatError(f"{info.filename} is larger than {limit} bytes")
    return data


def check_path(filepath: object, name: str) -> str:
    if not isinstance(filepath, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(filepath).__name__}")
    path = os.fspath(filepath)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path:
        raise ValueError(f"{name} must not be empty")
    if "\0" in path:
        raise ValueError(f"{name} must not contain a null byte, got {path!r}")
    return path


def zipinfo(name: str, size_hint: int) -> zipfile.ZipInfo:
    # A fixed timestamp makes identical models give byte-identical files.
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    # zipfile picks the zip64 layout from this hint when the entry is streamed.
    info.file_size = size_hint
    return info


def atomic_write(path: str, overwrite: bool, write: Callable[[IO[bytes]], None]) -> None:
    """Write via ``write(fileobj)`` to a temporary sibling of ``path``, fsync, then rename over ``path``."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a directory; give a file path")
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"{path} already exists and overwrite=False")
    if os.path.islink(path):
        # Replace the file the link points to, keeping the link (as writing through it would).
        path = os.path.realpath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {path}: folder {folder} does not exist")
    mode = _new_file_mode(path)
    # A short prefix keeps the temporary name within file-name length limits.
    prefix = "." + os.path.basename(path)[:64] + "."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, path)
        else:
            _rename_no_clobber(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


def _rename_no_clobber(tmp: str, path: str) -> None:
    # A hard link fails atomically when the target exists, closing the race
    # between the existence check and the rename.
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{path} already exists and overwrite=False") from None
    except OSError:
        # File systems without hard links: best effort.
        if os.path.lexists(path):
            raise FileExistsError(f"{path} already exists and overwrite=False") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _new_file_mode(path: str) -> int:
    # mkstemp creates files readable by the owner only; give the result the mode a
    # plain open() would (or keep the mode of the file being replaced).
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _fsync_folder(folder: str) -> None:
    # Makes the rename itself durable; not possible on every platform.
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def open_regular(path: str, what: str) -> Iterator[tuple[IO[bytes], int]]:
    """``(binary file, size)`` of ``path`` when it is a regular file (``what`` names the kind in errors).

    Raises:
        FileNotFoundError: no such file.
        IsADirectoryError: ``path`` is a folder.
        ValueError: a device, FIFO or socket (checked again on the open file, which closes the race).
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"No such {what}", path) from None
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{path} is a directory, not a {what}")
    not_regular = f"{path} is not a regular file (a device, FIFO or socket), so not a {what}"
    if not stat.S_ISREG(mode):
        raise ValueError(not_regular)
    try:
        # O_NONBLOCK: should the path be replaced by a FIFO after the check, opening it still returns at once,
        # and the check on the open file below refuses it.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"No such {what}", path) from None
    try:
        raw = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with raw:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise ValueError(not_regular)
        yield raw, opened.st_size


def read_regular(path: str, what: str, limit: int | None = None) -> bytes:
    """The whole of a regular file (see ``open_regular``); over ``limit`` bytes refused unread."""
    with open_regular(path, what) as (f, size):
        if limit is not None and size > limit:
            raise ValueError(f"{path}: {size} bytes is far more than a {what} for this model can hold")
        return f.read(size + 1)
