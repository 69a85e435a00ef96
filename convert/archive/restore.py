"""`seedpress restore`: put withdrawn titles back from dist/.withdrawn/ into the archive.

A withdrawn title's files wait in dist/.withdrawn/<key>-<stamp>/ (job.withdraw_missing);
its catalog row keeps what it was built from, with the status 'withdrawn'. Restoring
checks every title asked for before it moves anything (all of its files are there, its
kept seed bytes are the ones its last good build read), then for each: moves the newest
folder back to dist/<key>/, and records its files, status 'built' and search texts in
one transaction. The hand-out is written afterwards by the caller (jobs.restore_titles).

The move comes before the commit: a crash between them leaves dist/<key>/ with a row
still 'withdrawn', which the next restore of that key picks up where it stopped.

A restored title whose seed is not in the seeds folder is withdrawn again by the next
archive run: restore is for an accidental withdrawal once the seeds are back, or to pair
with putting its seed back.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from convert import defaults
from convert.archive.catalog import SearchTexts, record_restored, seed_rows, withdrawn_rows
from convert.build.input import PARAGRAPH_BREAK
from convert.build.outcome import Status
from convert.document.master import read_master
from convert.errors import ConfigError, SeedpressError
from convert.files import fsync_directory
from convert.layout import WITHDRAWN_NAME, edition_file

#: The stamp withdraw_missing puts after a key in the name of the folder it moves aside (dates.file_stamp).
_STAMP = re.compile(r"-([0-9]{8}T[0-9]{6}Z)")


@dataclass(frozen=True)
class Restorable:
    """A withdrawn title checked and ready to be put back."""

    key: str
    source: Path
    """The folder its files are in now: its newest folder in .withdrawn/, or dist/<key>/ itself
    when an earlier restore stopped between the move and the commit."""
    files: tuple[tuple[str, str, str, int], ...]
    """(edition, path relative to dist once restored, sha256, size) of each of its files."""
    texts: SearchTexts


def restore_withdrawn(connection: sqlite3.Connection, dist: Path, keys: Sequence[str] = (), *,
                      every: bool = False) -> list[str]:
    """Put the withdrawn titles `keys` (or, with `every`, all that have files kept) back;
    return their keys. Every one is checked before any is moved: ConfigError, one line,
    for a key that is not a withdrawn title, SeedpressError for one whose kept files are
    incomplete or changed; then nothing is touched."""
    withdrawn = withdrawn_rows(connection)
    if every:
        keys = [key for key in withdrawn if _kept_folder(dist, key) is not None]
    else:
        rows = seed_rows(connection)
        for key in keys:
            if key not in rows:
                raise ConfigError(f"{key}: no such title in {dist}'s catalog")
            if rows[key].status is not Status.WITHDRAWN:
                raise ConfigError(f"{key}: not withdrawn (it is {rows[key].status}): nothing to restore")
    ready = [_check(dist, key, *withdrawn[key]) for key in dict.fromkeys(keys)]
    for title in ready:
        target = dist / title.key
        if title.source != target:
            os.replace(title.source, target)
            fsync_directory(title.source.parent)
            fsync_directory(dist)
        record_restored(connection, title.key, title.files, title.texts)
    return [title.key for title in ready]


def _kept_folder(dist: Path, key: str) -> Path | None:
    """Where a withdrawn title's files are: dist/<key>/ after a restore that stopped part-way,
    else the newest of its folders in .withdrawn/; None when neither exists."""
    if (dist / key).is_dir():
        return dist / key
    aside = dist / WITHDRAWN_NAME
    stamped = []
    if aside.is_dir():
        for folder in aside.iterdir():
            if folder.name.startswith(f"{key}-") and _STAMP.fullmatch(folder.name, len(key)) and folder.is_dir():
                stamped.append((folder.name[len(key) + 1:], folder))
    return max(stamped)[1] if stamped else None


def _check(dist: Path, key: str, source_sha256: str | None, source_name: str) -> Restorable:
    folder = _kept_folder(dist, key)
    if folder is None:
        raise SeedpressError(f"{key}: no files kept for it in {dist / WITHDRAWN_NAME}: cannot restore it")
    files = []
    for edition in defaults.CATALOGUED_EDITIONS:
        path = folder / edition_file(key, edition)
        try:
            mode = path.lstat().st_mode
        except OSError:
            raise SeedpressError(f"{path}: missing: {key} cannot be restored whole") from None
        if not stat.S_ISREG(mode):
            raise SeedpressError(f"{path}: not a regular file: {key} cannot be restored")
        data = path.read_bytes()
        files.append((edition, f"{key}/{path.name}", hashlib.sha256(data).hexdigest(), len(data)))
    seed_copy = next(sha256 for edition, _path, sha256, _size in files if edition == defaults.SEED_COPY)
    if source_sha256 is not None and seed_copy != source_sha256:
        raise SeedpressError(f"{folder / edition_file(key, defaults.SEED_COPY)}: not the bytes {source_name} "
                             f"was built from: {key} cannot be restored")
    document = read_master(folder / edition_file(key, "md"))
    texts = SearchTexts(key, document.lang, document.title, PARAGRAPH_BREAK.join(document.summary),
                        PARAGRAPH_BREAK.join(document.commentary))
    return Restorable(key, folder, tuple(files), texts)
