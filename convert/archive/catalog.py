"""The archive's catalog: an SQLite file in dist that says what was built from what.

Every SQL statement seedpress runs is here, but the search queries (search_index.py). The catalog is written only by the
one archive run that holds the lock, and a seed's row is committed after its
files are on disk, so a crash leaves rows that describe files that exist.

What is read back is not trusted: a damaged or tampered catalog may hold any value in
any column. The readers check every row (keys by keys.is_safe_key, file paths against
where seedpress puts them, timestamps, digests, sizes, JSON) and leave out, or mark as
needing a rebuild, a row that fails, naming it to `on_problem`; no value they hand on
can make a path outside dist or stop a run. Text is decoded leniently (invalid UTF-8
becomes U+FFFD) for the same reason.
"""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from convert.archive.keys import is_safe_key
from convert.archive.search_index import SEARCH_COLUMNS, SEARCH_TOKENIZER, index_text
from convert.build.outcome import Built, Outcome, Status
from convert.dates import now, read_timestamp
from convert.defaults import CATALOG_BUSY_TIMEOUT
from convert.document.language import is_language_tag, tag_for_name
from convert.errors import ConfigError
from convert.layout import CATALOG_NAME, edition_path
from convert.names import name_bytes, shown

#: PRAGMA user_version of the schema below; 0 is the first release's layout.
SCHEMA_VERSION = 6

SEEDS_TABLE = """
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
)"""

FILES_TABLE = """
CREATE TABLE IF NOT EXISTS files (
    key     TEXT NOT NULL REFERENCES seeds(key) ON DELETE CASCADE,
    edition TEXT NOT NULL,
    path    TEXT NOT NULL,
    sha256  TEXT NOT NULL,
    size    INTEGER NOT NULL,
    PRIMARY KEY (key, edition)
)"""

#: One row per `seedpress verify` run: the fixity history a bag carries as PREMIS events.
FIXITY_TABLE = """
CREATE TABLE IF NOT EXISTS fixity_checks (
    id         INTEGER PRIMARY KEY,
    checked_at TEXT NOT NULL,
    files      INTEGER NOT NULL,
    problems   TEXT NOT NULL  -- JSON list of {"path": relative to dist, "problem": the line verify printed}
)"""

#: One row per archive run that got the lock: what `seedpress status` and the metrics report.
RUNS_TABLE = """
CREATE TABLE IF NOT EXISTS runs (
    id         INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    ended_at   TEXT NOT NULL,
    seeds_dir  TEXT NOT NULL,
    built      INTEGER NOT NULL,
    unchanged  INTEGER NOT NULL,
    failed     INTEGER NOT NULL,
    withdrawn  INTEGER NOT NULL,
    gone       INTEGER NOT NULL,
    seconds    REAL NOT NULL,
    exit_code  INTEGER NOT NULL,
    error      TEXT  -- the one line that stopped or refused the run; NULL when it ran to the end
)"""

#: The search index (DESIGN §11): the texts of each seed with a good build, one row a seed,
#: and an FTS5 index over them. The index is an external-content table
#: (sqlite.org/fts5.html#external_content_tables): the texts are stored once, in
#: search_texts, and the triggers keep the index in step with every insert and delete.
#: Texts are stored as index_text() gives them.
SEARCH_TEXTS_TABLE = """
CREATE TABLE IF NOT EXISTS search_texts (
    id         INTEGER PRIMARY KEY,
    key        TEXT NOT NULL UNIQUE,
    lang       TEXT NOT NULL,
    title      TEXT NOT NULL,
    summary    TEXT NOT NULL,  -- the whole summary of the original article
    commentary TEXT NOT NULL   -- the whole commentary
)"""

SEARCH_INDEX_TABLE = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS search_index USING fts5(
    {", ".join(SEARCH_COLUMNS)}, content = 'search_texts', content_rowid = 'id',
    tokenize = '{SEARCH_TOKENIZER}'
)"""

SEARCH_TRIGGERS = (
    """
CREATE TRIGGER IF NOT EXISTS search_texts_inserted AFTER INSERT ON search_texts BEGIN
    INSERT INTO search_index (rowid, title, summary, commentary)
    VALUES (new.id, new.title, new.summary, new.commentary);
END""",
    """
CREATE TRIGGER IF NOT EXISTS search_texts_deleted AFTER DELETE ON search_texts BEGIN
    INSERT INTO search_index (search_index, rowid, title, summary, commentary)
    VALUES ('delete', old.id, old.title, old.summary, old.commentary);
END""",
    """
CREATE TRIGGER IF NOT EXISTS search_texts_updated AFTER UPDATE ON search_texts BEGIN
    INSERT INTO search_index (search_index, rowid, title, summary, commentary)
    VALUES ('delete', old.id, old.title, old.summary, old.commentary);
    INSERT INTO search_index (rowid, title, summary, commentary)
    VALUES (new.id, new.title, new.summary, new.commentary);
END""",
)

SEARCH_SCHEMA = (SEARCH_TEXTS_TABLE, SEARCH_INDEX_TABLE, *SEARCH_TRIGGERS)


#: A count of the changes to what the hand-out is made from (the seeds, their files, their
#: search texts), kept by triggers whoever makes the change, with a random name given to the
#: catalog when the table is made. The hand-out's stamp (publish/stamp.py) compares the two
#: with those it was made from, where reading every row again would take 60 ms a thousand
#: titles. A change rolled back takes its count back with it.
HANDOUT_CHANGES_TABLE = """
CREATE TABLE IF NOT EXISTS handout_changes (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    catalog    TEXT NOT NULL,
    generation INTEGER NOT NULL
)"""
HANDOUT_CHANGES_ROW = ("INSERT OR IGNORE INTO handout_changes (id, catalog, generation) "
                       "VALUES (1, lower(hex(randomblob(16))), 0)")
HANDOUT_CHANGES_TRIGGERS = tuple(
    f"CREATE TRIGGER IF NOT EXISTS {table}_{event.lower()}_counted AFTER {event} ON {table} BEGIN "
    "UPDATE handout_changes SET generation = generation + 1; END"
    for table in ("seeds", "files", "search_texts") for event in ("INSERT", "UPDATE", "DELETE"))
HANDOUT_CHANGES_SCHEMA = (HANDOUT_CHANGES_TABLE, HANDOUT_CHANGES_ROW, *HANDOUT_CHANGES_TRIGGERS)

SCHEMA = (SEEDS_TABLE, FILES_TABLE, FIXITY_TABLE, *SEARCH_SCHEMA, RUNS_TABLE, *HANDOUT_CHANGES_SCHEMA)

#: From each version, the statements that bring a catalog to the next one.
MIGRATIONS = {
    # The first release called the build digest `build_key` and a good build 'ok'. SQLite
    # cannot change a CHECK constraint, so the table is copied (sqlite.org/lang_altertable.html).
    0: (
        SEEDS_TABLE.replace("TABLE IF NOT EXISTS seeds", "TABLE seeds_new"),
        "INSERT INTO seeds_new (key, source_name, source_sha256, build_digest, status, error, title, identifier, "
        "summary, created, built_at, checked_at, seconds) "
        "SELECT key, source_name, source_sha256, build_key, CASE status WHEN 'ok' THEN 'built' ELSE status END, "
        "error, title, identifier, summary, created, built_at, checked_at, seconds FROM seeds",
        "DROP TABLE seeds",
        "ALTER TABLE seeds_new RENAME TO seeds",
    ),
    # Version 2 records each verify run.
    1: (FIXITY_TABLE,),
    # Version 3 adds the search index. It starts empty: the next archive run indexes every
    # seed with a good build from the seed bytes the archive keeps (archive.index_unindexed),
    # rather than this migration, which verify and bag run too and which must stay quick.
    2: SEARCH_SCHEMA,
    # Version 4 records each archive run (seedpress status, the metrics).
    3: (RUNS_TABLE,),
    # Version 5 splits Korean between its characters, as Chinese and Japanese (index_text):
    # the texts that hold Hangul are stored again, and the update trigger re-indexes them.
    # index_text() is the function open_catalog registers on the connection.
    4: ("UPDATE search_texts SET title = index_text(title), summary = index_text(summary), "
        "commentary = index_text(commentary) WHERE title != index_text(title) "
        "OR summary != index_text(summary) OR commentary != index_text(commentary)",),
    # Version 6 counts the changes the hand-out is made from (the hand-out's stamp).
    5: HANDOUT_CHANGES_SCHEMA,
}


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
    damage: str | None = None
    """Why the row cannot be trusted (a build date that is not a timestamp, a file path
    that is not where seedpress puts it): the seed is rebuilt. None for a sound row."""


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
_EDITION_NAME = re.compile(r"[a-z0-9]+")


def _digest(value: object) -> str | None:
    """A hex SHA-256 read back, or None (which forces a rebuild) for anything else."""
    return value if isinstance(value, str) and _SHA256.match(value) else None


def _text(value: object) -> str:
    """A text column read back, as text safe to show (a name, an error)."""
    return shown(value) if isinstance(value, str) else ""


def file_row_problem(key: str, edition: object, path: object, sha256: object = "0" * 64,
                     size: object = 0) -> str | None:
    """Why a catalogued file row cannot be trusted, or None: its path must be exactly where
    seedpress puts that edition of that key (never `..`, absolute, or another key's),
    its sha256 64 hex digits, its size a whole number."""
    if not isinstance(edition, str) or not _EDITION_NAME.fullmatch(edition):
        return f"a file of edition {shown(repr(edition))} seedpress never writes"
    if path != edition_path(key, edition):
        return f"its {edition} file is listed at {shown(repr(path))}, not where seedpress puts it"
    if _digest(sha256) is None:
        return f"its {edition} file's sha256 is not 64 hex digits"
    if type(size) is not int or size < 0:
        return f"its {edition} file's size {shown(repr(size))} is not a whole number"
    return None


def unsafe_key_problem(key: object) -> str:
    return (f"{CATALOG_NAME}: a row has the key {shown(repr(key))}, which seedpress never makes "
            "(a damaged or tampered catalog): left alone")


def open_catalog(dist: Path) -> sqlite3.Connection:
    """The catalog of `dist` for writing, created or brought to the current schema. It waits
    up to defaults.CATALOG_BUSY_TIMEOUT for another writer (verify records while a run may
    be committing)."""
    connection = sqlite3.connect(dist / CATALOG_NAME, isolation_level=None, timeout=CATALOG_BUSY_TIMEOUT)
    connection.text_factory = _lenient_text
    try:
        connection.execute("PRAGMA synchronous = FULL")
        connection.create_function("index_text", 1, index_text, deterministic=True)
        # Foreign keys are off while a migration replaces a table (they cannot change inside a transaction).
        connection.execute("PRAGMA foreign_keys = OFF")
        # The version is read inside the write transaction, so two processes opening an old
        # catalog at once (a run and a verify) migrate it once.
        with transaction(connection):
            _bring_to_current_schema(connection, dist)
            _add_provenance_column(connection)
            _add_name_bytes_column(connection)
        connection.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        connection.close()
        raise
    return connection


def _bring_to_current_schema(connection: sqlite3.Connection, dist: Path) -> None:
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise ConfigError(f"{dist / CATALOG_NAME}: written by a newer seedpress (catalog version {version})")
    has_seeds = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'seeds'").fetchone()
    if version == 0 and not has_seeds:
        statements = SCHEMA
    else:
        statements = [statement for step in range(version, SCHEMA_VERSION) for statement in MIGRATIONS[step]]
    for statement in statements:
        connection.execute(statement)
    if version != SCHEMA_VERSION:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _add_provenance_column(connection: sqlite3.Connection) -> None:
    """Give `seeds` the nullable `provenance` column (author, publisher, rights and license of
    the last good build, as a JSON object) where it has none yet. A column added this way
    needs no new schema version: older rows read as NULL, "nothing said"."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(seeds)")}
    if "provenance" not in columns:
        connection.execute("ALTER TABLE seeds ADD COLUMN provenance TEXT")


def _add_name_bytes_column(connection: sqlite3.Connection) -> None:
    """Give `seeds` the nullable `source_name_bytes` column (the exact bytes of the seed's
    file name; `source_name` holds it as names.shown() writes it) where it has none yet;
    older rows read as NULL."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(seeds)")}
    if "source_name_bytes" not in columns:
        connection.execute("ALTER TABLE seeds ADD COLUMN source_name_bytes BLOB")


def _lenient_text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


#: Rows taken from SQLite at a time by the readers of every row (_rows).
_ROWS_AT_ONCE = 500


def _rows(connection: sqlite3.Connection, query: str) -> Iterator[tuple]:
    """Every row of `query`, a few hundred at a time, their text decoded by SQLite's own
    UTF-8 decoder (a thousand titles' twenty thousand file rows: 20 ms, against 45 ms
    through _lenient_text). From the first text that is not UTF-8 on (a damaged catalog),
    the query is run again with _lenient_text, past the rows already given: `query` must
    give its rows in a set order (ORDER BY)."""
    factory, given = connection.text_factory, 0
    cursor = connection.cursor()
    try:
        connection.text_factory = str
        cursor.execute(query)
        while True:
            connection.text_factory = str
            batch = cursor.fetchmany(_ROWS_AT_ONCE)
            connection.text_factory = factory
            if not batch:
                return
            given += len(batch)
            yield from batch
    except sqlite3.OperationalError as error:
        if not str(error).startswith("Could not decode to UTF-8"):
            raise
    finally:
        connection.text_factory = factory
        cursor.close()
    yield from itertools.islice(connection.execute(query), given, None)


def open_catalog_readonly(dist: Path) -> sqlite3.Connection:
    """The catalog of `dist` opened read-only: for checking and bagging, which never change it."""
    connection = sqlite3.connect(f"{(dist / CATALOG_NAME).resolve().as_uri()}?mode=ro", uri=True)
    connection.text_factory = _lenient_text
    return connection


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


def seed_rows(connection: sqlite3.Connection,
              on_problem: Callable[[str], None] = _warn) -> dict[str, SeedRow]:
    """Every seed the catalog knows, by key. A row whose key seedpress never makes is left
    out and named to `on_problem`; a row with another damage comes with it (SeedRow.damage)."""
    sizes: dict[str, dict[str, int]] = {}
    file_damage: dict[str, str] = {}
    safe: dict[object, bool] = {}  # a key's ten file rows ask once
    for key, edition, path, sha256, size in _rows(connection, "SELECT key, edition, path, sha256, size FROM files ORDER BY rowid"):
        if (key_is_safe := safe.get(key)) is None:
            key_is_safe = safe[key] = is_safe_key(key)
        problem = file_row_problem(key, edition, path, sha256, size) if key_is_safe else None
        if problem is not None:
            file_damage.setdefault(key, problem)
        else:
            sizes.setdefault(key, {})[edition] = size
    rows = {}
    for key, name, sha256, digest, status, failure, error, created in _rows(
            connection, "SELECT key, source_name, source_sha256, build_digest, status, failure_digest, error, created "
            "FROM seeds ORDER BY rowid"):
        if not is_safe_key(key):
            on_problem(unsafe_key_problem(key))
            continue
        damage = file_damage.get(key)
        try:
            status = Status(status)
        except ValueError:
            status, damage = Status.FAILED, f"its status {shown(repr(status))} is none seedpress writes"
        if status is Status.BUILT and read_timestamp(created) is None:
            damage = f"its build date (created) {shown(repr(created))} is not a timestamp"
        rows[key] = SeedRow(key, _text(name), _digest(sha256), _digest(digest), status, _digest(failure),
                            error if isinstance(error, str) else None, sizes.get(key, {}), damage)
    return rows


def record_built(connection: sqlite3.Connection, outcome: Outcome, build_digest: str,
                 relative_paths: dict[str, str]) -> None:
    """Record a good build, its files (paths relative to dist) and its texts in the search index."""
    built, stamp = outcome.built, now()
    with transaction(connection):
        connection.execute(
            "INSERT OR REPLACE INTO seeds (key, source_name, source_sha256, build_digest, status, error, "
            "failure_digest, title, identifier, summary, created, built_at, checked_at, seconds, provenance) "
            "VALUES (?, ?, ?, ?, 'built', NULL, NULL, ?, ?, ?, ?, ?, ?, ?, ?)",
            (outcome.key, shown(Path(outcome.input).name), built.source_sha256, build_digest, built.title,
             built.identifier, built.summary, built.created, stamp, stamp, outcome.seconds,
             built.provenance.to_json()))
        _record_name_bytes(connection, outcome)
        connection.execute("DELETE FROM files WHERE key = ?", (outcome.key,))
        connection.executemany(
            "INSERT INTO files (key, edition, path, sha256, size) VALUES (?, ?, ?, ?, ?)",
            [(outcome.key, edition, relative_paths[edition], file.sha256, file.size)
             for edition, file in outcome.files.items()])
        _index_seed(connection, SearchTexts.of_build(outcome.key, built))


def _index_seed(connection: sqlite3.Connection, texts: SearchTexts) -> None:
    """Replace the seed's row of the search index (inside the caller's transaction)."""
    # DELETE then INSERT, never INSERT OR REPLACE: a REPLACE deletes without firing the
    # trigger that takes the old texts out of the index.
    connection.execute("DELETE FROM search_texts WHERE key = ?", (texts.key,))
    connection.execute(
        "INSERT INTO search_texts (key, lang, title, summary, commentary) VALUES (?, ?, ?, ?, ?)",
        (texts.key, texts.lang, index_text(texts.title), index_text(texts.summary),
         index_text(texts.commentary)))


def record_failure(connection: sqlite3.Connection, outcome: Outcome, failure_digest: str | None) -> None:
    """Record a failed seed. One that had a good build keeps its last good files in the
    hand-out, and so its row of the search index, and is rebuilt next time; the same
    failure as last time rewrites nothing."""
    # The error names the seed's file, which may not be UTF-8 or may hold control characters.
    error = None if outcome.error is None else shown(outcome.error)
    previous = connection.execute(
        "SELECT status, error, failure_digest FROM seeds WHERE key = ?", (outcome.key,)).fetchone()
    if previous is not None and previous[1:] == (error, failure_digest):
        return
    with transaction(connection):
        if previous is None or previous[0] != Status.BUILT:
            connection.execute(
                "INSERT OR REPLACE INTO seeds (key, source_name, status, error, failure_digest, "
                "checked_at, seconds) VALUES (?, ?, 'failed', ?, ?, ?, ?)",
                (outcome.key, shown(Path(outcome.input).name), error, failure_digest, now(), outcome.seconds))
            _record_name_bytes(connection, outcome)
        else:
            connection.execute(
                "UPDATE seeds SET error = ?, failure_digest = ?, checked_at = ?, build_digest = NULL "
                "WHERE key = ?", (error, failure_digest, now(), outcome.key))


def _record_name_bytes(connection: sqlite3.Connection, outcome: Outcome) -> None:
    """Keep the exact bytes of the seed's file name (inside the caller's transaction)."""
    connection.execute("UPDATE seeds SET source_name_bytes = ? WHERE key = ?",
                       (name_bytes(Path(outcome.input).name), outcome.key))


def record_withdrawn(connection: sqlite3.Connection, key: str) -> None:
    """Mark a seed withdrawn and forget its files (they were moved aside) and its texts."""
    with transaction(connection):
        connection.execute("UPDATE seeds SET status = 'withdrawn', checked_at = ? WHERE key = ?", (now(), key))
        connection.execute("DELETE FROM files WHERE key = ?", (key,))
        connection.execute("DELETE FROM search_texts WHERE key = ?", (key,))


def forget_seed(connection: sqlite3.Connection, key: str) -> None:
    """Drop a seed that never built from the catalog (it has no files and no search texts)."""
    with transaction(connection):
        connection.execute("DELETE FROM seeds WHERE key = ? AND status = 'failed'", (key,))


def record_restored(connection: sqlite3.Connection, key: str, files: Sequence[tuple[str, str, str, int]],
                    texts: SearchTexts) -> None:
    """Put a withdrawn seed back: status built, its files (edition, path relative to dist,
    sha256, size) as they were moved back, and its texts in the search index."""
    with transaction(connection):
        connection.execute("UPDATE seeds SET status = 'built', checked_at = ? WHERE key = ? AND status = 'withdrawn'",
                           (now(), key))
        connection.execute("DELETE FROM files WHERE key = ?", (key,))
        connection.executemany("INSERT INTO files (key, edition, path, sha256, size) VALUES (?, ?, ?, ?, ?)",
                               [(key, *file) for file in files])
        _index_seed(connection, texts)


def withdrawn_rows(connection: sqlite3.Connection) -> dict[str, tuple[str | None, str]]:
    """Every withdrawn seed by key: (the sha256 of the bytes of its last good build, its file name)."""
    return {key: (sha256, name) for key, sha256, name in connection.execute(
        "SELECT key, source_sha256, source_name FROM seeds WHERE status = 'withdrawn' ORDER BY key")}


def published_rows(connection: sqlite3.Connection,
                   on_problem: Callable[[str], None] = _warn) -> list[tuple[tuple, tuple[tuple, ...]]]:
    """Each seed with a good build, ordered by key: (key, title, identifier, summary, created
    as an aware datetime, provenance, lang) and its files as (edition, path, sha256, size).
    lang is None for a seed the search index does not hold yet. A row that cannot be
    trusted is left out of the hand-out and named to `on_problem`.

    A row that reads as the last call read it (its columns and its files) is not checked
    again: the run reads the rows on a thread while its workers build, and again after,
    when only the seeds it built have changed (30 ms of a thousand titles)."""
    global _last_published
    files: dict[str, list[tuple]] = {}
    for key, *file in _rows(connection, "SELECT key, edition, path, sha256, size FROM files ORDER BY key, edition"):
        files.setdefault(key, []).append(tuple(file))
    known, answers = _last_published, {}
    rows = []
    for raw in _rows(
            connection, "SELECT s.key, s.title, s.identifier, s.summary, s.created, s.provenance, t.lang FROM seeds s "
            "LEFT JOIN search_texts t ON t.key = s.key "
            "WHERE s.status = 'built' AND s.title IS NOT NULL ORDER BY s.key"):
        read = (raw, tuple(files.get(raw[0], ())))
        answer = known.get(read)
        if answer is None:
            answer = _published_row(*read)
        answers[read] = answer
        if isinstance(answer, str):
            on_problem(answer)
        else:
            rows.append(answer)
    _last_published = answers
    return rows


#: published_rows's answers of its last call, by what each row read: the row and its files,
#: or the problem to name for a row that cannot be trusted.
_last_published: dict[tuple, tuple | str] = {}


def _published_row(raw: tuple, files: tuple[tuple, ...]) -> tuple[tuple, tuple[tuple, ...]] | str:
    """One row of published_rows, or the problem that leaves it out."""
    key, title, identifier, summary, created, provenance, lang = raw
    if not is_safe_key(key):
        return unsafe_key_problem(key)
    date = read_timestamp(created)
    problem = next((found for found in (file_row_problem(key, *file) for file in files) if found is not None), None)
    if date is None:
        problem = f"its build date (created) {shown(repr(created))} is not a timestamp"
    elif not all(isinstance(value, str) for value in (title, identifier, summary)):
        problem = "its title, identifier or summary is not text"
    if problem is not None:
        return f"{CATALOG_NAME}: {key}: {problem}: left out of the hand-out"
    return ((key, title, identifier, summary, date, provenance if isinstance(provenance, str) else None,
             _stored_language(lang)), files)


def _stored_language(lang: object) -> str | None:
    """A title's language as the catalog keeps it: a tag, or None. A language's name ("french"),
    which a run took for a tag before tags were held to their registry's form (a language
    subtag of 2 or 3 letters), is read as its tag ("fr"), else as unknown: a hand-out that
    checks every tag refused the whole archive for it."""
    if not isinstance(lang, str):
        return None
    if is_language_tag(lang):
        return lang
    return tag_for_name(lang)


def catalogued_files(connection: sqlite3.Connection) -> list[tuple[str, str | None, str | None, str | None]]:
    """(key, edition, path, sha256) of every seed with a good build; edition is None for one
    the catalog lists without files."""
    return connection.execute(
        "SELECT s.key, f.edition, f.path, f.sha256 FROM seeds s LEFT JOIN files f ON s.key = f.key "
        "WHERE s.status = 'built' ORDER BY s.key, f.edition").fetchall()


@dataclass(frozen=True)
class FileProblem:
    """One thing a fixity check found wrong."""

    path: str
    """The file it concerns, relative to dist (the catalog or SHA256SUMS for their own damage)."""
    line: str
    """The line verify printed for it."""

    def as_json(self) -> dict[str, str]:
        """The problem as the catalog keeps it and `verify --json` prints it: {"path", "problem"}."""
        return {"path": self.path, "problem": self.line}

    @classmethod
    def from_json(cls, item: dict[str, str]) -> FileProblem:
        return cls(item["path"], item["problem"])

    def __str__(self) -> str:
        return self.line


@dataclass(frozen=True)
class FixityCheck:
    """One `seedpress verify` run, as the catalog records it."""

    checked_at: str
    """When it started, an ISO timestamp."""
    files: int
    """How many catalogued files it re-hashed."""
    problems: tuple[FileProblem, ...]
    """What it found wrong; empty when every file matched."""

    @property
    def passed(self) -> bool:
        return not self.problems


def record_fixity_check(connection: sqlite3.Connection, check: FixityCheck) -> None:
    """Add a verify run to the fixity history."""
    problems = json.dumps([problem.as_json() for problem in check.problems],
                          ensure_ascii=False)
    with transaction(connection):
        connection.execute("INSERT INTO fixity_checks (checked_at, files, problems) VALUES (?, ?, ?)",
                           (check.checked_at, check.files, problems))


def fixity_history(connection: sqlite3.Connection,
                   on_problem: Callable[[str], None] = _warn) -> dict[int, FixityCheck]:
    """Every recorded verify run by its row id, oldest first; none for a catalog older than
    version 2, which did not record them. A row that does not read as one (a time that is
    not a timestamp, problems that are not the JSON verify writes) is left out and named
    to `on_problem`."""
    has_table = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fixity_checks'").fetchone()
    if not has_table:
        return {}
    history = {}
    for row_id, checked_at, files, problems in connection.execute(
            "SELECT id, checked_at, files, problems FROM fixity_checks ORDER BY id"):
        try:
            items = json.loads(problems)
            found = tuple(FileProblem.from_json(item) for item in items)
            if (read_timestamp(checked_at) is None or type(files) is not int or files < 0
                    or not all(isinstance(one.path, str) and isinstance(one.line, str) for one in found)):
                raise ValueError("not a verify run")
        except (TypeError, ValueError, KeyError):
            on_problem(f"{CATALOG_NAME}: fixity check {row_id} does not read as a verify run: left out")
            continue
        history[row_id] = FixityCheck(checked_at, files, found)
    return history


@dataclass(frozen=True)
class BuiltSeed:
    """A seed with a good build and the files the catalog lists for it."""

    key: str
    source_name: str
    """The seed's file name."""
    built_at: str
    """When its files were written, an ISO timestamp."""
    files: dict[str, tuple[str, str]]
    """Edition to (path relative to dist, sha256)."""


def built_seeds(connection: sqlite3.Connection, on_problem: Callable[[str], None] = _warn) -> list[BuiltSeed]:
    """Every seed whose status is 'built', by key, with its catalogued files. A row that
    cannot be trusted (its key, a file's path, its times) is left out and named to
    `on_problem`."""
    files: dict[str, dict[str, tuple[str, str]]] = {}
    damaged: dict[str, str] = {}
    for key, edition, path, sha256 in connection.execute("SELECT key, edition, path, sha256 FROM files"):
        problem = file_row_problem(key, edition, path, sha256) if is_safe_key(key) else None
        if problem is not None:
            damaged.setdefault(key, problem)
        else:
            files.setdefault(key, {})[edition] = (path, sha256)
    seeds = []
    for key, source_name, built_at, checked_at in connection.execute(
            "SELECT key, source_name, built_at, checked_at FROM seeds WHERE status = 'built' ORDER BY key"):
        if not is_safe_key(key):
            on_problem(unsafe_key_problem(key))
            continue
        # Every build sets built_at; should a row lack it, when it was last checked stands in.
        when = next((value for value in (built_at, checked_at) if read_timestamp(value) is not None), None)
        problem = damaged.get(key) or (None if when is not None else "its times are not timestamps")
        if problem is not None:
            on_problem(f"{CATALOG_NAME}: {key}: {problem}: left out")
            continue
        seeds.append(BuiltSeed(key, _text(source_name), when, files.get(key, {})))
    return seeds




@dataclass(frozen=True)
class SearchTexts:
    """What the search index holds of one seed."""

    key: str
    lang: str
    """The document's main language, a BCP 47 tag."""
    title: str
    summary: str
    """The whole summary of the original article, paragraphs separated by blank lines."""
    commentary: str
    """The whole commentary, paragraphs separated by blank lines."""

    @classmethod
    def of_build(cls, key: str, built: Built) -> SearchTexts:
        return cls(key, built.lang, built.title, built.summary_text, built.commentary_text)


def unindexed_seeds(connection: sqlite3.Connection) -> list[tuple[str, str]]:
    """(key, source sha256) of every seed with a good build that the search index lacks:
    what a catalog brought to version 3 has built before it had an index."""
    return connection.execute(
        "SELECT s.key, s.source_sha256 FROM seeds s WHERE s.status = 'built' AND s.source_sha256 IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM search_texts t WHERE t.key = s.key) ORDER BY s.key").fetchall()


def record_search_texts(connection: sqlite3.Connection, texts: Sequence[SearchTexts]) -> None:
    """Index these seeds in one transaction, replacing any row they had."""
    with transaction(connection):
        for one in texts:
            _index_seed(connection, one)


def has_search_index(connection: sqlite3.Connection) -> bool:
    """True when the catalog has a search index (version 3 or later)."""
    return connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_index'").fetchone() is not None


@dataclass(frozen=True)
class RunRecord:
    """One archive run, as the catalog's `runs` table holds it."""

    started_at: str
    """When it started, an ISO timestamp."""
    ended_at: str
    """When it ended."""
    seeds_dir: str
    """The seeds folder it read, as given."""
    built: int
    unchanged: int
    failed: int
    withdrawn: int
    gone: int
    """Seeds that never built and left the folder."""
    seconds: float
    exit_code: int
    """The exit code `seedpress archive` gave."""
    error: str | None = None
    """The line that stopped or refused it; None when it ran to the end."""

    def as_json(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


_RUN_COLUMNS = tuple(RunRecord.__dataclass_fields__)


def record_run(connection: sqlite3.Connection, run: RunRecord) -> None:
    """Add an archive run to the catalog's `runs` table. Its texts are kept as `shown` writes
    them: a seeds folder whose name is not UTF-8 (a lone surrogate in the str) could not be
    stored, and the run that had built every seed ended in an internal error."""
    with transaction(connection):
        connection.execute(f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) VALUES ({', '.join('?' * len(_RUN_COLUMNS))})",
                           tuple(shown(value) if isinstance(value, str) else value
                                 for value in (getattr(run, name) for name in _RUN_COLUMNS)))


def _has_table(connection: sqlite3.Connection, name: str) -> bool:
    return connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                              (name,)).fetchone() is not None


def last_runs(connection: sqlite3.Connection) -> tuple[RunRecord | None, RunRecord | None]:
    """The last archive run, and the last one that ran to the end (exit 0 or 1); None for
    none (or a catalog older than version 4, which did not record them)."""
    if not _has_table(connection, "runs"):
        return None, None
    columns = ", ".join(_RUN_COLUMNS)
    last = connection.execute(f"SELECT {columns} FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    finished = connection.execute(
        f"SELECT {columns} FROM runs WHERE error IS NULL ORDER BY id DESC LIMIT 1").fetchone()
    return (RunRecord(*last) if last else None), (RunRecord(*finished) if finished else None)


@dataclass(frozen=True)
class Holdings:
    """What the archive holds now, from the catalog."""

    titles: int
    """Seeds with a good build: the titles in the hand-out."""
    bytes: int
    """The size of their catalogued files."""
    failing: tuple[tuple[str, str, str], ...]
    """(key, file name, error) of each seed whose last attempt failed: never built, or
    keeping its last good build."""


def holdings(connection: sqlite3.Connection) -> Holdings:
    titles = connection.execute("SELECT count(*) FROM seeds WHERE status = 'built'").fetchone()[0]
    size = connection.execute(
        "SELECT coalesce(sum(f.size), 0) FROM files f JOIN seeds s ON s.key = f.key WHERE s.status = 'built'"
    ).fetchone()[0]
    failing = connection.execute(
        "SELECT key, source_name, error FROM seeds WHERE error IS NOT NULL AND status != 'withdrawn' "
        "ORDER BY key").fetchall()
    return Holdings(titles, size, tuple(failing))


def handout_changes(connection: sqlite3.Connection) -> tuple[object, object] | None:
    """(the catalog's random name, how many changes its seeds, files and search texts have
    had), or None when the catalog has no such count (a damaged one)."""
    try:
        return connection.execute("SELECT catalog, generation FROM handout_changes WHERE id = 1").fetchone()
    except sqlite3.Error:
        return None
