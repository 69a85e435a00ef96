"""The hand-out's stamp: what the last whole hand-out of dist was made from, and what its
files were then, in dist/.handout-stamp.json. A run whose catalog rows, options and code
are those of the stamp, and which finds every file of the hand-out as the stamp left it,
has nothing to hand out: an unchanged rerun of a thousand titles skips 0.4 s of reading
the catalog's rows again, working out every page and checking the search bundle. The
rows are known unchanged by the count of their changes the catalog keeps by triggers
(catalog.handout_changes), not read.

The stamp is only ever a shortcut to the answer the whole hand-out would give: it is
written last, after every page, feed and the search bundle are in place, and it is not
written when a row was left out of the hand-out (so that its warning is said by every
run) or the search bundle could not be made. Anything else makes the run hand out in
full, as without a stamp: a catalog row changed (a title built, withdrawn, restored,
corrected by hand), other options or code, a hand-out file edited, replaced, removed or
added, a stamp that cannot be read.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
from pathlib import Path

from convert import __version__
from convert.archive.catalog import handout_changes
from convert.files import read_regular, write_atomic
from convert.layout import BUNDLE_ENTRY, BUNDLE_NAME, BUNDLE_PAGES_NAME, CATALOG_NAME, HANDOUT_STAMP_NAME, LOCK_NAME
from convert.publish.entries import HandoutOptions


def handout_salt(options: HandoutOptions) -> str:
    """A digest of what the hand-out's bytes depend on besides the catalog's rows: its options
    (the archive's title, base URL, search, language), seedpress's version and code (all of
    it, as for a rebuild), the lxml that serializes the feeds and the Pagefind that indexes
    the landing pages. The stamp and the page record (paging.PageRecord) are both made with
    it. Imports neither lxml's serializer nor Pagefind: an unchanged run works it out."""
    import lxml

    from convert.build.environment import code_digest
    from convert.publish.sitesearch import pagefind_version

    return hashlib.sha256(repr((__version__, lxml.__version__, code_digest(), options,
                                pagefind_version())).encode()).hexdigest()


def handout_inputs(connection: sqlite3.Connection, salt: str) -> str | None:
    """A digest of everything the hand-out is made from: the catalog's rows, as the count of
    their changes stands (catalog.handout_changes), and `salt` (handout_salt); None when
    the catalog keeps no count."""
    changes = handout_changes(connection)
    if changes is None:
        return None
    return hashlib.sha256(repr((salt, tuple(changes))).encode()).hexdigest()


def handout_files(dist: Path) -> dict[str, list[int]]:
    """(kind, size, modification time in nanoseconds) of each file of the hand-out: every
    file directly in dist but the catalog, the lock and the stamp, and each search
    bundle's entry. A file written again, edited, replaced, added or removed changes the
    answer; a copy of dist that keeps the times (cp -p, rsync -t) does not."""
    files = {}
    with os.scandir(dist) as entries:
        for entry in entries:
            if entry.name.startswith(CATALOG_NAME) or entry.name in (LOCK_NAME, HANDOUT_STAMP_NAME):
                continue
            if not entry.is_dir(follow_symlinks=False):
                files[entry.name] = _facts(entry.stat(follow_symlinks=False))
    bundles = [f"{BUNDLE_NAME}/{BUNDLE_ENTRY}"]
    try:
        with os.scandir(dist / BUNDLE_PAGES_NAME) as entries:
            bundles += [f"{BUNDLE_PAGES_NAME}/{entry.name}/{BUNDLE_ENTRY}" for entry in entries]
    except OSError:
        pass  # no full page indexed yet
    for name in bundles:
        try:
            files[name] = _facts(os.lstat(dist / name))
        except OSError:
            pass
    return dict(sorted(files.items()))


def _facts(status: os.stat_result) -> list[int]:
    return [stat.S_IFMT(status.st_mode), status.st_size, status.st_mtime_ns]


def handout_is_current(dist: Path, inputs: str | None) -> bool:
    """True when dist's stamp says its hand-out was made whole from `inputs`, and every
    file of the hand-out is still as the stamp found it."""
    if inputs is None:
        return False
    try:
        kept = json.loads(read_regular(dist / HANDOUT_STAMP_NAME))
        return kept["inputs"] == inputs and kept["files"] == handout_files(dist)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def stamp_handout(dist: Path, inputs: str) -> None:
    """Note that dist's hand-out, as it now stands, was made whole from `inputs`."""
    write_atomic(dist / HANDOUT_STAMP_NAME,
                 json.dumps({"inputs": inputs, "files": handout_files(dist)}, separators=(",", ":")).encode("ascii"))

