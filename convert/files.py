"""Crash-safe file writes: temp file in the same folder, fsync, rename, fsync the folder."""

from __future__ import annotations

import os
from pathlib import Path


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
    """Write `data` atomically unless `path` already holds exactly it; say whether it wrote."""
    try:
        if Path(path).read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    write_atomic(path, data)
    return True
