"""Crash-safe file writes: temp file in the same folder, fsync, rename, fsync the folder;
and the one way to read a file of dist, which a FIFO or a device planted there cannot hang."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from convert.errors import SeedError


class NotRegularFileError(OSError):
    """A FIFO, device, socket or folder where a regular file was to be read."""


def open_regular(path: Path | str, *, follow_symlinks: bool = True) -> BinaryIO:
    """Open `path` for reading in binary if it is a regular file, and raise
    NotRegularFileError (strerror "not a regular file") if it is anything else.

    O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer, and
    the type is checked on the open descriptor, so a swap between a check and the open
    changes nothing. Without `follow_symlinks`, a symbolic link is refused as well."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP and not follow_symlinks:
            raise NotRegularFileError(errno.ELOOP, "not a regular file", str(path)) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise NotRegularFileError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(descriptor, True)
    except BaseException:
        os.close(descriptor)
        raise
    # Outside the try: once the file object owns the descriptor, only it closes it (a signal
    # raised here must not close the descriptor under it, for a second close later).
    return os.fdopen(descriptor, "rb")


def read_regular(path: Path | str) -> bytes:
    """The bytes of the regular file `path` (see open_regular)."""
    with open_regular(path) as stream:
        return stream.read()


def fsync_directory(folder: Path) -> None:
    """Make a rename or a new entry in `folder` durable."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_tree(folder: Path) -> None:
    """fsync every file and folder under `folder`, so that the rename which then publishes
    it (a bag, a search bundle) cannot leave, after a crash, a whole-looking tree of empty files."""
    for parent, _folders, names in os.walk(folder, topdown=False):
        for name in names:
            descriptor = os.open(os.path.join(parent, name), os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        fsync_directory(Path(parent))


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _write_durably(temporary: Path, data: bytes, target: Path) -> None:
    try:
        with open(temporary, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
    except OSError as error:
        # Name the file the user asked for, not our temp file.
        raise OSError(error.errno, error.strerror, str(target)) from None


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new file whole."""
    replace_all(Path(path).parent, {Path(path).name: data})


def replace_all(folder: Path, files: dict[str, bytes]) -> None:
    """Replace every file in `folder` by name: all are written and fsynced as temp files
    first, then renamed, then the folder is fsynced once. A failure while writing (a
    full disk, an alarm) removes the temp files and leaves every old file as it was."""
    folder = Path(folder)
    temporaries: list[Path] = []
    try:
        for name, data in files.items():
            temporaries.append(_temporary(folder / name))
            _write_durably(temporaries[-1], data, folder / name)
    except BaseException:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
        raise
    for name, temporary in zip(files, temporaries):
        try:
            os.replace(temporary, folder / name)
        except OSError as error:
            for leftover in temporaries:
                leftover.unlink(missing_ok=True)
            raise OSError(error.errno, error.strerror, str(folder / name)) from None
    fsync_directory(folder)


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` atomically unless `path` already holds exactly it; say whether it wrote.
    Anything but a regular file at `path` (a FIFO, a folder) is replaced, never read."""
    try:
        if read_regular(path) == data:
            return False
    except (FileNotFoundError, NotRegularFileError):
        pass
    write_atomic(path, data)
    return True


def read_bounded(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; SeedError naming it if it is not a regular file, is larger than
    `max_bytes` or is unreadable.

    The file is opened without blocking (a FIFO put in a seed's place must not hang
    the job) and checked for what it is after opening, so what is read is what was
    checked. At most one byte more than the limit is read, so a huge file (or one
    growing while it is read) costs no memory. Read with os.read, asking for the size
    fstat gives and a byte more, not through a file object: an unchanged archive run
    reads a thousand seeds in 15 ms rather than 30.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise SeedError(path, f"cannot read: {error.strerror or error}") from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise SeedError(path, "not a regular file")
        if status.st_size > max_bytes:
            raise SeedError(path, f"larger than the size limit ({status.st_size} > {max_bytes} bytes)")
        chunks, size = [], 0
        while size <= max_bytes:
            try:
                chunk = os.read(descriptor, min(max_bytes + 1 - size, max(status.st_size + 1 - size, 1 << 16)))
            except OSError as error:
                raise SeedError(path, f"cannot read: {error.strerror or error}") from None
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(descriptor)
    if size > max_bytes:
        raise SeedError(path, f"larger than the size limit (> {max_bytes} bytes)")
    return b"".join(chunks)
