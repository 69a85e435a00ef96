"""The archive's catalog: an SQLite file in dist that says what was built from what.

Every SQL statement seedpress runs is here. The catalog is written only by the
one archive run that holds the lock, and a seed's row is committed after its
files are on disk, so a crash leaves rows that describe files that exist.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .dates import now
from .errors import ConfigError
from .outcome import Outcome, Status

CATALOG_NAME = ".catalog.sqlite"
#: PRAGMA user_version of the schema below; 0 is the first release's layout.
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS seeds (
    key            TEXT PRIMARY KEY,
    source_name    TEXT NOT NULL,
    source_sha256  TEXT,
    build_digest   TEXT,
    status         TEXT NOT NULL CHECK (status IN ('built', 'failed', 'withdrawn')),
    error          TEXT,
    failure_digest TEXT,
    title          TEXT,
    identifier     TEXT,
    summary        TEXT,
    created        TEXT,
    built_at       TEXT,
    checked_at     TEXT NOT NULL,
    seconds        REAL
);
CREATE TABLE IF NOT EXISTS files (
    key     TEXT NOT NULL REFERENCES seeds(key) ON DELETE CASCADE,
    edition TEXT NOT NULL,
    path    TEXT NOT NULL,
    sha256  TEXT NOT NULL,
    size    INTEGER NOT NULL,
    PRIMARY KEY (key, edition)
);
"""

#: The first release called the build digest `build_key` and a good build 'ok'. SQLite
#: cannot change a CHECK constraint, so the table is copied (sqlite.org/lang_altertable.html).
_MIGRATE_FROM_0 = [
    SCHEMA.split("CREATE TABLE IF NOT EXISTS files")[0].replace("TABLE IF NOT EXISTS seeds", "TABLE seeds_new"),
    "INSERT INTO seeds_new (key, source_name, source_sha256, build_digest, status, error, title, identifier, "
    "summary, created, built_at, checked_at, seconds) "
    "SELECT key, source_name, source_sha256, build_key, CASE status WHEN 'ok' THEN 'built' ELSE status END, "
    "error, title, identifier, summary, created, built_at, checked_at, seconds FROM seeds",
    "DROP TABLE seeds",
    "ALTER TABLE seeds_new RENAME TO seeds",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
]


@dataclass(frozen=True)
class SeedRow:
    """What the catalog knows of a seed when a run plans."""

    key: str
    source_name: str
    """The seed's file name."""
    source_sha256: str | None
    """Hash of the bytes of its last good build (or of its failure, for a seed never built)."""
    build_digest: str | None
    """Build digest of its last good build; None forces a rebuild."""
    status: Status
    failure_digest: str | None
    """For a seed that failed on a time or memory limit: what it failed with (bytes,
    environment, limits), so that it is not retried until one of them changes."""
    error: str | None
    sizes: dict[str, int]
    """Edition to the size of the file catalogued for it."""


def open_catalog(dist: Path) -> sqlite3.Connection:
    """The catalog of `dist` for writing, created or brought to the current schema."""
    connection = sqlite3.connect(dist / CATALOG_NAME, isolation_level=None)
    connection.execute("PRAGMA synchronous = FULL")
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    has_seeds = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'seeds'").fetchone()
    if version == 0 and has_seeds:
        # Foreign keys are off while the table is replaced (they cannot change inside a transaction).
        connection.execute("PRAGMA foreign_keys = OFF")
        with transaction(connection):
            for statement in _MIGRATE_FROM_0:
                connection.execute(statement)
    elif version == 0:
        connection.executescript(SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION};")
    elif version > SCHEMA_VERSION:
        connection.close()
        raise ConfigError(f"{dist / CATALOG_NAME}: written by a newer seedpress (catalog version {version})")
    _add_provenance_column(connection)
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def _add_provenance_column(connection: sqlite3.Connection) -> None:
    """Give `seeds` the nullable `provenance` column (author, publisher, rights and license of
    the last good build, as a JSON object) where it has none yet. A column added this way
    needs no new schema version: older rows read as NULL, "nothing said"."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(seeds)")}
    if "provenance" not in columns:
        connection.execute("ALTER TABLE seeds ADD COLUMN provenance TEXT")


def open_catalog_readonly(dist: Path) -> sqlite3.Connection:
    """The catalog of `dist` opened read-only (verify never writes)."""
    return sqlite3.connect(f"{(dist / CATALOG_NAME).resolve().as_uri()}?mode=ro", uri=True)


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def seed_rows(connection: sqlite3.Connection) -> dict[str, SeedRow]:
    """Every seed the catalog knows, by key."""
    sizes: dict[str, dict[str, int]] = {}
    for key, edition, size in connection.execute("SELECT key, edition, size FROM files"):
        sizes.setdefault(key, {})[edition] = size
    return {
        key: SeedRow(key, name, sha256, digest, Status(status), failure, error, sizes.get(key, {}))
        for key, name, sha256, digest, status, failure, error in connection.execute(
            "SELECT key, source_name, source_sha256, build_digest, status, failure_digest, error FROM seeds")
    }


def record_built(connection: sqlite3.Connection, outcome: Outcome, build_digest: str,
                 relative_paths: dict[str, str]) -> None:
    """Record a good build and its files (paths relative to dist)."""
    built, stamp = outcome.built, now()
    with transaction(connection):
        connection.execute(
            "INSERT OR REPLACE INTO seeds (key, source_name, source_sha256, build_digest, status, error, "
            "failure_digest, title, identifier, summary, created, built_at, checked_at, seconds, provenance) "
            "VALUES (?, ?, ?, ?, 'built', NULL, NULL, ?, ?, ?, ?, ?, ?, ?, ?)",
            (outcome.key, Path(outcome.input).name, built.source_sha256, build_digest, built.title,
             built.identifier, built.summary, built.created, stamp, stamp, outcome.seconds,
             built.provenance.to_json()))
        connection.execute("DELETE FROM files WHERE key = ?", (outcome.key,))
        connection.executemany(
            "INSERT INTO files (key, edition, path, sha256, size) VALUES (?, ?, ?, ?, ?)",
            [(outcome.key, edition, relative_paths[edition], file.sha256, file.size)
             for edition, file in outcome.files.items()])


def record_failure(connection: sqlite3.Connection, outcome: Outcome, failure_digest: str | None) -> None:
    """Record a failed seed. One that had a good build keeps its last good files in the
    hand-out and is rebuilt next time; the same failure as last time rewrites nothing."""
    previous = connection.execute(
        "SELECT status, error, failure_digest FROM seeds WHERE key = ?", (outcome.key,)).fetchone()
    if previous is not None and previous[1:] == (outcome.error, failure_digest):
        return
    with transaction(connection):
        if previous is None or previous[0] != Status.BUILT:
            connection.execute(
                "INSERT OR REPLACE INTO seeds (key, source_name, status, error, failure_digest, "
                "checked_at, seconds) VALUES (?, ?, 'failed', ?, ?, ?, ?)",
                (outcome.key, Path(outcome.input).name, outcome.error, failure_digest, now(), outcome.seconds))
        else:
            connection.execute(
                "UPDATE seeds SET error = ?, failure_digest = ?, checked_at = ?, build_digest = NULL "
                "WHERE key = ?", (outcome.error, failure_digest, now(), outcome.key))


def record_withdrawn(connection: sqlite3.Connection, key: str) -> None:
    """Mark a seed withdrawn and forget its files (they were moved aside)."""
    with transaction(connection):
        connection.execute("UPDATE seeds SET status = 'withdrawn', checked_at = ? WHERE key = ?", (now(), key))
        connection.execute("DELETE FROM files WHERE key = ?", (key,))


def published_rows(connection: sqlite3.Connection) -> list[tuple[tuple, list[tuple]]]:
    """Each seed with a good build, ordered by key: (key, title, identifier, summary, created,
    provenance) and its files as (edition, path, sha256, size)."""
    files: dict[str, list[tuple]] = {}
    for key, *file in connection.execute(
            "SELECT key, edition, path, sha256, size FROM files ORDER BY key, edition"):
        files.setdefault(key, []).append(tuple(file))
    return [
        (row, files.get(row[0], []))
        for row in connection.execute(
            "SELECT key, title, identifier, summary, created, provenance FROM seeds "
            "WHERE status = 'built' AND title IS NOT NULL ORDER BY key")
    ]


def catalogued_files(connection: sqlite3.Connection) -> list[tuple[str, str | None, str | None, str | None]]:
    """(key, edition, path, sha256) of every seed with a good build; edition is None for one
    the catalog lists without files."""
    return connection.execute(
        "SELECT s.key, f.edition, f.path, f.sha256 FROM seeds s LEFT JOIN files f ON s.key = f.key "
        "WHERE s.status = 'built' ORDER BY s.key, f.edition").fetchall()
