"""`seedpress verify`: re-hash every archived file against the catalog and SHA256SUMS,
and add the run to the catalog's fixity history."""

from __future__ import annotations

import hashlib
import sqlite3
import warnings
from collections.abc import Callable
from pathlib import Path

from convert.archive.catalog import (
    FileProblem,
    FixityCheck,
    catalogued_files,
    file_row_problem,
    open_catalog,
    open_catalog_readonly,
    record_fixity_check,
    unsafe_key_problem,
)
from convert.archive.keys import is_safe_key
from convert.dates import now
from convert.defaults import CATALOGUED_EDITIONS
from convert.errors import ConfigError, SeedpressError
from convert.files import NotRegularFileError, open_regular
from convert.layout import CATALOG_NAME, SUMS_NAME, edition_file, reading_lock
from convert.names import shown


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def verify_archive(dist: Path, *, on_unrecorded: Callable[[str], None] = _warn,
                   on_wait: Callable[[str], None] = lambda message: None) -> list[FileProblem]:
    """Every problem found re-hashing the archive against its catalog and SHA256SUMS: the file
    it concerns and its one line (`str(problem)`), as the catalog records them.

    The run is added to the catalog's fixity history. When it cannot be (a read-only or
    damaged catalog, a writer that holds it too long), the check still stands:
    `on_unrecorded` gets one line saying why (by default, a RuntimeWarning). An archive
    run under way is waited for, `on_wait` told so first; none starts until the check
    is recorded."""
    dist = Path(dist)
    if not (dist / CATALOG_NAME).is_file():
        check_archive(dist)  # says what is wrong, before any lock is made in dist
    # An archive run is waited for: read half-way through it, the archive is a moving
    # target, and every file it replaced would be a failed check in the fixity history.
    with reading_lock(dist, lambda holder: on_wait(f"{dist}: {holder.waited}: verify waits for it to end")):
        check = check_archive(dist)
        try:
            connection = open_catalog(dist)
            try:
                record_fixity_check(connection, check)
            finally:
                connection.close()
        except (sqlite3.Error, SeedpressError) as error:
            reason = str(error) if isinstance(error, SeedpressError) else f"{dist / CATALOG_NAME}: {_said(error)}"
            on_unrecorded(f"{reason}; this check is not recorded")
    return list(check.problems)


#: SQLite's primary result code for a write to a database it may only read.
_SQLITE_READONLY = 8


def _said(error: sqlite3.Error) -> str:
    """SQLite's reason as a user reads it: "attempt to write a readonly database" is a
    catalog on a read-only disk or with no write permission."""
    if getattr(error, "sqlite_errorcode", 0) & 0xFF == _SQLITE_READONLY:
        return "read-only (a read-only disk, or no permission to write it)"
    return str(error)


def check_archive(dist: Path) -> FixityCheck:
    """Re-hash every catalogued file of `dist` against the catalog and SHA256SUMS; record nothing."""
    dist = Path(dist)
    catalog = dist / CATALOG_NAME
    if not catalog.is_file():
        raise ConfigError(f"{dist}: no {CATALOG_NAME} here: not an archive built by seedpress archive")
    checked_at = now()
    connection = open_catalog_readonly(dist)
    try:
        rows = catalogued_files(connection)
    except sqlite3.Error as error:
        return FixityCheck(checked_at, 0, (FileProblem(CATALOG_NAME, f"{catalog}: unreadable catalog: {error}"),))
    finally:
        connection.close()
    problems: list[FileProblem] = []
    expected: dict[str, str] = {}
    editions: dict[str, set[str]] = {}
    for key, edition, path, sha256 in rows:
        # A row read back is not trusted: no path is made of a key or a path seedpress never writes.
        if not is_safe_key(key):
            problems.append(FileProblem(CATALOG_NAME, f"{dist}/{unsafe_key_problem(key)}"))
            continue
        problem = None if edition is None else file_row_problem(key, edition, path, sha256)
        if problem is not None:
            problems.append(FileProblem(CATALOG_NAME, f"{catalog}: {key}: {problem}"))
            continue
        editions.setdefault(key, set())
        if edition is None:
            continue
        editions[key].add(edition)
        expected[path] = sha256
        problems += _check_file(dist, path, sha256, "the catalog")
    for key, have in sorted(editions.items()):
        for edition in CATALOGUED_EDITIONS:
            if edition not in have:
                relative = f"{key}/{edition_file(key, edition)}"
                problems.append(FileProblem(relative, f"{dist / relative}: not in the catalog (incomplete seed)"))
    problems += _check_sums(dist, expected)
    return FixityCheck(checked_at, len(expected), tuple(_shown_safely(problem) for problem in problems))


def _shown_safely(problem: FileProblem) -> FileProblem:
    """The problem with the names in it escaped: they come from the catalog and SHA256SUMS,
    which anyone may have written to, and the lines go to a terminal and into the record."""
    return FileProblem(shown(problem.path), shown(problem.line))


def _check_file(dist: Path, relative: str, sha256: str, against: str) -> list[FileProblem]:
    path = dist / relative
    try:
        digest = sha256_file(path)
    except FileNotFoundError:
        return [FileProblem(relative, f"{path}: missing")]
    except NotRegularFileError:
        return [FileProblem(relative, f"{path}: not a regular file")]
    except OSError as error:
        return [FileProblem(relative, f"{path}: unreadable: {error.strerror}")]
    if digest != sha256:
        return [FileProblem(relative, f"{path}: changed (its sha256 differs from {against})")]
    return []


def _check_sums(dist: Path, expected: dict[str, str]) -> list[FileProblem]:
    sums_path = dist / SUMS_NAME

    def problem(line: str) -> FileProblem:
        return FileProblem(SUMS_NAME, f"{sums_path}: {line}")

    try:
        with open_regular(sums_path) as stream:
            lines = stream.read().decode("utf-8").splitlines()
    except FileNotFoundError:
        return [problem("missing")]
    except NotRegularFileError:
        return [problem("not a regular file")]
    except (OSError, UnicodeDecodeError) as error:
        return [problem(f"unreadable: {getattr(error, 'strerror', None) or error}")]
    listed = {}
    for line in lines:
        digest, _, relative = line.partition("  ")
        listed[relative] = digest
    problems = []
    for relative, digest in sorted(listed.items()):
        if relative not in expected:
            problems.append(problem(f"lists {relative}, which the catalog does not have"))
        elif digest != expected[relative]:
            problems.append(problem(f"its hash of {relative} differs from the catalog"))
    for relative in sorted(set(expected) - set(listed)):
        problems.append(problem(f"does not list {relative}"))
    return problems


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a regular file, read in blocks; NotRegularFileError for anything else."""
    digest = hashlib.sha256()
    with open_regular(path) as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
