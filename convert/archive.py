"""The archive job: plan what changed, build it on warm workers, commit, withdraw, hand out.

Layout of an archive folder (DESIGN §5):

    dist/<key>/<key>.{md,pdf,epub,docx,txt}   editions and the original seed bytes
    dist/.catalog.sqlite                        what was built from what, with hashes
    dist/.withdrawn/<key>-<stamp>/              files of seeds that left the seeds folder
    dist/.lock                                  held by the one run allowed at a time
    dist/index.html, opds.xml, SHA256SUMS       the hand-out, written from the catalog
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import os
import resource
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from multiprocessing import get_context
from pathlib import Path

from . import __version__, defaults
from .build import failure_line, render_all, write_all
from .editions import Settings, build_date, styles_digest
from .errors import ConfigError, LockedError, SeedError, SeedpressError
from .files import fsync_directory
from .keys import assign_keys
from .model import first_sentence
from .pandoc import pandoc_path, pandoc_version
from .seed import parse_seed, read_bounded

CATALOG = ".catalog.sqlite"
LOCK = ".lock"
WITHDRAWN = ".withdrawn"
#: Every seed in the archive has exactly these files.
EDITIONS = ("md", "pdf", "epub", "docx")
KEPT = EDITIONS + ("txt",)

SCHEMA = """
CREATE TABLE IF NOT EXISTS seeds (
    key          TEXT PRIMARY KEY,
    source_name  TEXT NOT NULL,
    source_sha256 TEXT,
    build_key    TEXT,
    status       TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'withdrawn')),
    error        TEXT,
    title        TEXT,
    identifier   TEXT,
    summary      TEXT,
    created      TEXT,
    built_at     TEXT,
    checked_at   TEXT NOT NULL,
    seconds      REAL
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


# --- what a worker does ------------------------------------------------------

@dataclass(frozen=True)
class SeedTask:
    """One seed to build, as handed to a worker."""

    path: str
    """The seed file."""
    key: str
    """Its safe key: the folder and file names under dist."""
    dist: str
    """The archive folder."""
    environment: str
    """Digest of styles and tool versions, part of every build key."""
    max_bytes: int = defaults.MAX_BYTES
    """Seeds larger than this fail."""
    timeout: int = defaults.SEED_TIMEOUT
    """Seconds the whole seed may take."""
    styles: str = str(defaults.STYLES_DIR)
    """The styles folder."""
    validate: bool = False
    """Run EPUBCheck on the EPUB before publishing it."""


@dataclass(frozen=True)
class SeedResult:
    """What a worker made of one seed; the main process commits it to the catalog."""

    key: str
    """The seed's key."""
    source_name: str
    """The seed's file name."""
    error: str | None = None
    """One-line reason for a failure, or None."""
    source_sha256: str | None = None
    """Hash of the bytes actually built from."""
    build_key: str | None = None
    """The build key of those bytes with this environment."""
    title: str | None = None
    """The document's title."""
    identifier: str | None = None
    """urn:sha256 identifier."""
    summary: str | None = None
    """First sentence of the summary, for the hand-out."""
    created: str | None = None
    """The build date the editions carry (ISO 8601, UTC)."""
    files: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Edition to (sha256, size) of the file written."""
    seconds: float = 0.0
    """Time the worker spent."""
    status: str = "built"
    """built, unchanged or failed (set by the planner or the worker)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_json(self) -> dict:
        data = asdict(self)
        data["files"] = {edition: {"sha256": s, "size": n} for edition, (s, n) in self.files.items()}
        return data


def build_key(seed_sha256: str, environment: str) -> str:
    """The key that decides whether a seed must be rebuilt."""
    return hashlib.sha256(f"{seed_sha256}\0{environment}".encode()).hexdigest()


class _SeedTimeout(BaseException):
    pass


def _on_alarm(_signum, _frame):
    raise _SeedTimeout


def build_seed(task: SeedTask) -> SeedResult:
    """Read, render and write one seed; never raises for a bad seed."""
    if _started_queue is not None:
        _started_queue.put(task.key)
    started = time.perf_counter()
    path = Path(task.path)
    name = path.name
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(task.timeout)
    try:
        data = read_bounded(path, task.max_bytes)
        document = parse_seed(data, name, path=path, max_bytes=task.max_bytes)
        created = build_date(path)
        settings = Settings(styles=Path(task.styles), created=created)
        files = render_all(document, task.key, EDITIONS, settings, seed_bytes=data, validate=task.validate)
        files[f"{task.key}.txt"] = data
        # Rendering is what the limit bounds; the writes must not be cut in half by it.
        signal.alarm(0)
        write_all(Path(task.dist) / task.key, files)
    except _SeedTimeout:
        return SeedResult(task.key, name, error=f"{path}: took longer than the {task.timeout} s limit",
                          seconds=time.perf_counter() - started, status="failed")
    except MemoryError:
        return SeedResult(task.key, name, error=f"{path}: ran out of the worker's memory limit",
                          seconds=time.perf_counter() - started, status="failed")
    except (SeedpressError, OSError) as error:
        return SeedResult(task.key, name, error=failure_line(error, path, Path(task.dist)),
                          seconds=time.perf_counter() - started, status="failed")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    sha256 = hashlib.sha256(data).hexdigest()
    return SeedResult(
        key=task.key, source_name=name, source_sha256=sha256,
        build_key=build_key(sha256, task.environment), title=document.title,
        identifier=document.identifier, summary=first_sentence(document.summary[0]),
        created=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        files={name.rsplit(".", 1)[1]: (hashlib.sha256(blob).hexdigest(), len(blob))
               for name, blob in files.items()},
        seconds=time.perf_counter() - started,
    )


def validate_seed(path: Path, max_bytes: int) -> str | None:
    """The one-line reason the seed cannot be built, or None if it reads as a document."""
    try:
        parse_seed(read_bounded(path, max_bytes), path.name, path=path, max_bytes=max_bytes)
    except SeedError as error:
        return str(error)
    return None


#: In a worker: where it says which seed it starts, so the parent knows the suspects
#: when a worker dies.
_started_queue = None


def _worker_init(memory_limit: int, started) -> None:
    global _started_queue
    _started_queue = started
    # Die with the parent: a killed job must not leave workers rendering on.
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:
        os._exit(1)
    # Ctrl-C goes to the whole process group; the parent decides what happens.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not os.environ.get("SEEDPRESS_DEBUG"):
        # Every failure comes back as a result and is reported once, by the parent;
        # what C libraries print while dying (GLib on a failed allocation) is noise.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    # Warm up before the memory limit applies: every seed after this renders
    # without importing WeasyPrint or looking for pandoc again.
    import weasyprint  # noqa: F401
    pandoc_path()
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory_limit if hard == resource.RLIM_INFINITY else min(memory_limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


# --- the job -----------------------------------------------------------------

@dataclass
class Summary:
    """Counts of one archive run."""

    built: int = 0
    unchanged: int = 0
    failed: int = 0
    withdrawn: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (f"{self.built} built, {self.unchanged} unchanged, {self.failed} failed, "
                f"{self.withdrawn} withdrawn in {self.seconds:.1f} s")


def environment_digest(styles: Path = defaults.STYLES_DIR) -> str:
    """What besides the seed bytes shapes every edition: styles and tool versions."""
    parts = [
        f"seedpress {__version__}",
        "pandoc " + ".".join(map(str, pandoc_version())),
        f"weasyprint {metadata.version('weasyprint')}",
        f"styles {styles_digest(styles)}",
        f"fonts {fonts_digest()}",
        f"code {code_digest()}",
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def code_digest() -> str:
    """SHA-256 over seedpress's own source: a fix to a renderer rebuilds what it renders,
    even before the version number moves."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.suffix in (".py", ".lua")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def fonts_digest() -> str:
    """What fontconfig offers: a font added, removed or updated can change every PDF."""
    try:
        listing = subprocess.run(["fc-list", "--format", "%{file}\t%{fontversion}\n"],
                                 capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        listing = ""
    return hashlib.sha256("".join(sorted(listing.splitlines(keepends=True))).encode()).hexdigest()


def check_versions() -> None:
    """Refuse to run with a pandoc or WeasyPrint older than the minimum, naming which."""
    found = pandoc_version()
    if found[:2] < defaults.MIN_PANDOC:
        raise ConfigError(
            f"pandoc {'.'.join(map(str, found))} is too old: seedpress needs "
            f"{'.'.join(map(str, defaults.MIN_PANDOC))} or newer (pip install -U pypandoc-binary)")
    weasy = metadata.version("weasyprint")
    if tuple(int(p) for p in weasy.split(".")[:2] if p.isdigit()) < defaults.MIN_WEASYPRINT:
        raise ConfigError(f"WeasyPrint {weasy} is too old: seedpress needs 70 or newer "
                          "(earlier releases let stylesheets bypass the URL fetcher)")


@contextmanager
def archive_lock(dist: Path) -> Iterator[None]:
    """Hold an exclusive flock on dist/.lock, or raise LockedError at once."""
    try:
        descriptor = os.open(dist / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as error:
        raise SeedpressError(f"{dist / LOCK}: cannot open the lock: {error.strerror}") from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(f"{dist / LOCK}: another archive run holds the lock") from None
        yield
    finally:
        os.close(descriptor)


def open_catalog(dist: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(dist / CATALOG, isolation_level=None)
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA synchronous = FULL")
    connection.executescript(SCHEMA)
    return connection


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def find_seeds(seeds_dir: Path) -> tuple[list[Path], list[str]]:
    """The *.txt seeds of the folder, and errors for links that lead out of it."""
    if not seeds_dir.is_dir():
        raise ConfigError(f"{seeds_dir}: not a folder of seeds")
    root = seeds_dir.resolve()
    seeds, refused = [], []
    for path in sorted(seeds_dir.glob("*.txt")):
        if not path.resolve().is_relative_to(root):
            refused.append(f"{path}: refused: a link that leads out of {seeds_dir}")
        elif path.is_file():
            seeds.append(path)
    return seeds, refused


def plan(
    connection: sqlite3.Connection, dist: Path, seeds: Sequence[Path], keys: dict[str, str],
    environment: str, max_bytes: int,
) -> tuple[list[Path], list[Path]]:
    """Split the seeds into those to build and those whose files are current."""
    rows = {row[0]: row for row in connection.execute(
        "SELECT key, source_sha256, build_key, status FROM seeds")}
    sizes: dict[str, dict[str, int]] = {}
    for key, edition, size in connection.execute("SELECT key, edition, size FROM files"):
        sizes.setdefault(key, {})[edition] = size
    to_build, current = [], []
    for path in seeds:
        key = keys[str(path)]
        row = rows.get(key)
        try:
            sha256 = hashlib.sha256(read_bounded(path, max_bytes)).hexdigest() if row else None
        except SeedError:
            sha256 = None  # too large or unreadable: the build reports why
        if (row and row[3] == "ok" and row[2] == build_key(sha256, environment)
                and _files_present(dist / key, key, sizes.get(key, {}))):
            current.append(path)
        else:
            to_build.append(path)
    return to_build, current


def _files_present(folder: Path, key: str, sizes: dict[str, int]) -> bool:
    if set(sizes) != set(KEPT):
        return False
    for edition, size in sizes.items():
        try:
            if (folder / f"{key}.{edition}").stat().st_size != size:
                return False
        except OSError:
            return False
    return True


def commit_result(connection: sqlite3.Connection, dist: Path, result: SeedResult) -> None:
    """Record a built or failed seed; a failure keeps the files and hashes of the last good build."""
    now = _now()
    with _transaction(connection):
        if result.ok:
            connection.execute(
                "INSERT OR REPLACE INTO seeds (key, source_name, source_sha256, build_key, status, error, "
                "title, identifier, summary, created, built_at, checked_at, seconds) "
                "VALUES (?, ?, ?, ?, 'ok', NULL, ?, ?, ?, ?, ?, ?, ?)",
                (result.key, result.source_name, result.source_sha256, result.build_key, result.title,
                 result.identifier, result.summary, result.created, now, now, result.seconds))
            connection.execute("DELETE FROM files WHERE key = ?", (result.key,))
            connection.executemany(
                "INSERT INTO files (key, edition, path, sha256, size) VALUES (?, ?, ?, ?, ?)",
                [(result.key, edition, f"{result.key}/{result.key}.{edition}", sha256, size)
                 for edition, (sha256, size) in result.files.items()])
        else:
            previous = connection.execute(
                "SELECT status, error FROM seeds WHERE key = ?", (result.key,)).fetchone()
            if previous in (("failed", result.error), ("ok", result.error)):
                return  # the same failure as last time: nothing to rewrite
            if previous is None or previous[0] != "ok":
                connection.execute(
                    "INSERT OR REPLACE INTO seeds (key, source_name, status, error, checked_at, seconds) "
                    "VALUES (?, ?, 'failed', ?, ?, ?)",
                    (result.key, result.source_name, result.error, now, result.seconds))
            else:
                # A seed that had a good build and now fails: keep its last good files
                # in the hand-out, record the error, and force a rebuild next time.
                connection.execute(
                    "UPDATE seeds SET error = ?, checked_at = ?, build_key = NULL WHERE key = ?",
                    (result.error, now, result.key))


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def remove_stale_temporaries(dist: Path) -> None:
    """Delete temp files a killed run left; safe because this run holds the lock."""
    for temporary in [*dist.glob(".*.tmp"), *dist.glob("*/.*.tmp")]:
        temporary.unlink(missing_ok=True)


def withdraw_missing(connection: sqlite3.Connection, dist: Path, present_keys: set[str]) -> list[str]:
    """Move aside the files of catalogued seeds that left the seeds folder; return their keys."""
    withdrawn = []
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    rows = connection.execute("SELECT key FROM seeds WHERE status != 'withdrawn'").fetchall()
    for (key,) in rows:
        if key in present_keys:
            continue
        folder = dist / key
        if folder.is_dir():
            aside = dist / WITHDRAWN / f"{key}-{stamp}"
            aside.parent.mkdir(exist_ok=True)
            os.replace(folder, aside)
            fsync_directory(aside.parent)
            fsync_directory(dist)
        with _transaction(connection):
            connection.execute(
                "UPDATE seeds SET status = 'withdrawn', checked_at = ? WHERE key = ?", (_now(), key))
            connection.execute("DELETE FROM files WHERE key = ?", (key,))
        withdrawn.append(key)
    return withdrawn


def run_pool(
    tasks: Sequence[SeedTask], jobs: int, memory: int, on_result: Callable[[SeedResult], None],
) -> None:
    """Build every task on `jobs` warm spawned workers, reporting each result.

    Workers are replaced every WORKER_TASKS seeds each to keep memory flat: by
    starting a fresh pool per batch, since ProcessPoolExecutor's own
    max_tasks_per_child deadlocks on Python 3.11-3.13 (CPython gh-115634). A
    worker that dies costs the seed it was building one retry; a seed whose
    worker dies twice fails, and the seeds queued behind it are built anyway.
    """
    attempts: dict[str, int] = {}
    pending = list(tasks)
    batch_size = jobs * defaults.WORKER_TASKS
    while pending:
        batch, pending = pending[:batch_size], pending[batch_size:]
        retry = _run_batch(batch, jobs, memory, on_result, attempts)
        for task in retry:
            if attempts.get(task.key, 0) >= 2:
                on_result(SeedResult(task.key, Path(task.path).name, status="failed", error=(
                    f"{task.path}: the worker building it died twice (killed, or out of memory)")))
            else:
                pending.insert(0, task)


def _run_batch(
    batch: Sequence[SeedTask], jobs: int, memory: int, on_result: Callable[[SeedResult], None],
    attempts: dict[str, int],
) -> list[SeedTask]:
    """Run one pool over `batch`; the tasks to try again because a worker died.

    Counts in `attempts` a death against each seed a dead worker had started.
    """
    context = get_context("spawn")
    started = context.SimpleQueue()
    finished: set[str] = set()
    unfinished: list[SeedTask] = []
    with ProcessPoolExecutor(max_workers=min(jobs, len(batch)), mp_context=context,
                             initializer=_worker_init, initargs=(memory, started)) as pool:
        futures = {pool.submit(build_seed, task): task for task in batch}
        waiting = set(futures)
        while waiting:
            done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    result = future.result()
                except BrokenProcessPool:
                    unfinished.append(futures[future])
                else:
                    finished.add(result.key)
                    on_result(result)
    if unfinished:
        # Only the seeds a dead worker had started are suspects; the rest were queued.
        in_flight = set()
        while not started.empty():
            in_flight.add(started.get())
        for task in unfinished:
            if task.key in in_flight - finished:
                attempts[task.key] = attempts.get(task.key, 0) + 1
    started.close()
    return unfinished


@dataclass(frozen=True)
class JobOptions:
    """How an archive run works; every default is defined in convert/defaults.py."""

    jobs: int | None = None
    """Worker processes; None means one per core."""
    max_bytes: int = defaults.MAX_BYTES
    """Seeds larger than this fail."""
    styles: Path = defaults.STYLES_DIR
    """The styles folder."""
    validate: bool = False
    """Run EPUBCheck on every EPUB before publishing it."""
    seed_timeout: int = defaults.SEED_TIMEOUT
    """Seconds one seed may take, all editions together."""
    worker_memory: int = defaults.WORKER_MEMORY
    """Address space (bytes) one worker may use."""


def archive(
    seeds_dir: Path, dist: Path, options: JobOptions = JobOptions(), *,
    on_result: Callable[[SeedResult], None] = lambda r: None,
    on_plan: Callable[[int], None] = lambda n: None,
) -> Summary:
    """Bring `dist` up to date with `seeds_dir`; report each seed through `on_result`."""
    started = time.perf_counter()
    check_versions()
    seeds, refused = find_seeds(seeds_dir)
    try:
        dist.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SeedpressError(f"{dist}: cannot create the archive folder: {error.strerror}") from None
    summary = Summary()
    with archive_lock(dist), _catalog_errors(dist):
        connection = open_catalog(dist)
        try:
            remove_stale_temporaries(dist)
            environment = environment_digest(options.styles)
            keys = assign_keys(str(path) for path in seeds)
            to_build, current = plan(connection, dist, seeds, keys, environment, options.max_bytes)
            summary.unchanged = len(current)
            on_plan(len(to_build))
            for message in refused:
                summary.failed += 1
                on_result(SeedResult(key="", source_name="", status="failed", error=message))
            summary.withdrawn = len(withdraw_missing(connection, dist, set(keys.values())))

            def record(result: SeedResult) -> None:
                commit_result(connection, dist, result)
                if result.ok:
                    summary.built += 1
                else:
                    summary.failed += 1
                on_result(result)

            tasks = []
            for path in to_build:
                # Read and validate before any worker starts: a bad seed fails here, at once.
                problem = validate_seed(path, options.max_bytes)
                if problem is not None:
                    record(SeedResult(keys[str(path)], path.name, status="failed", error=problem))
                    continue
                tasks.append(SeedTask(
                    path=str(path), key=keys[str(path)], dist=str(dist), environment=environment,
                    max_bytes=options.max_bytes, timeout=options.seed_timeout,
                    styles=str(options.styles), validate=options.validate))
            if tasks:
                run_pool(tasks, options.jobs or defaults.default_jobs(), options.worker_memory, record)
            publish(connection, dist)
        finally:
            connection.close()
    summary.seconds = time.perf_counter() - started
    return summary


@contextmanager
def _catalog_errors(dist: Path) -> Iterator[None]:
    """Turn a failing catalog or hand-out write (disk full, read-only) into one clear error."""
    try:
        yield
    except sqlite3.Error as error:
        raise SeedpressError(f"{dist / CATALOG}: cannot update the catalog: {error}") from None
    except OSError as error:
        where = error.filename or dist
        raise SeedpressError(f"{where}: cannot write: {error.strerror or error}") from None


def published_entries(connection: sqlite3.Connection):
    """The hand-out entries of every seed with a good build, from the catalog."""
    from .handout import Edition, Entry

    files: dict[str, list] = {}
    for key, edition, path, sha256, size in connection.execute(
            "SELECT key, edition, path, sha256, size FROM files ORDER BY key, edition"):
        files.setdefault(key, []).append(Edition(name=edition, path=path, size=size, sha256=sha256))
    entries = []
    for key, title, identifier, summary, created in connection.execute(
            "SELECT key, title, identifier, summary, created FROM seeds "
            "WHERE status = 'ok' AND title IS NOT NULL ORDER BY key"):
        date = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        entries.append(Entry(key=key, title=title, identifier=identifier, summary=summary,
                             date=date, editions=tuple(files.get(key, ()))))
    return entries


def publish(connection: sqlite3.Connection, dist: Path) -> list[str]:
    """Write index.html, opds.xml and SHA256SUMS from the catalog; names of files that changed."""
    from .handout import write_handout

    return write_handout(dist, published_entries(connection))


# --- verify ------------------------------------------------------------------

def verify_archive(dist: Path) -> list[str]:
    """Every problem found re-hashing the archive against its catalog and SHA256SUMS."""
    catalog = dist / CATALOG
    if not catalog.is_file():
        raise ConfigError(f"{dist}: no {CATALOG} here: not an archive built by seedpress archive")
    connection = sqlite3.connect(f"{catalog.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT s.key, f.edition, f.path, f.sha256 FROM seeds s LEFT JOIN files f ON s.key = f.key "
            "WHERE s.status = 'ok' ORDER BY s.key, f.edition").fetchall()
    except sqlite3.Error as error:
        return [f"{catalog}: unreadable catalog: {error}"]
    finally:
        connection.close()
    problems: list[str] = []
    expected: dict[str, str] = {}
    editions: dict[str, set[str]] = {}
    for key, edition, path, sha256 in rows:
        editions.setdefault(key, set())
        if edition is None:
            continue
        editions[key].add(edition)
        expected[path] = sha256
        problems += _check_file(dist, path, sha256, "the catalog")
    for key, have in sorted(editions.items()):
        for edition in KEPT:
            if edition not in have:
                problems.append(f"{dist / key / f'{key}.{edition}'}: not in the catalog (incomplete seed)")
    problems += _check_sums(dist, expected)
    return problems


def _check_file(dist: Path, relative: str, sha256: str, against: str) -> list[str]:
    path = dist / relative
    try:
        digest = _sha256_file(path)
    except FileNotFoundError:
        return [f"{path}: missing"]
    except OSError as error:
        return [f"{path}: unreadable: {error.strerror}"]
    if digest != sha256:
        return [f"{path}: changed (its sha256 differs from {against})"]
    return []


def _check_sums(dist: Path, expected: dict[str, str]) -> list[str]:
    sums_path = dist / "SHA256SUMS"
    try:
        lines = sums_path.read_text("utf-8").splitlines()
    except FileNotFoundError:
        return [f"{sums_path}: missing"]
    except (OSError, UnicodeDecodeError) as error:
        return [f"{sums_path}: unreadable: {getattr(error, 'strerror', None) or error}"]
    listed = {}
    for line in lines:
        digest, _, relative = line.partition("  ")
        listed[relative] = digest
    problems = []
    for relative, digest in sorted(listed.items()):
        if relative not in expected:
            problems.append(f"{sums_path}: lists {relative}, which the catalog does not have")
        elif digest != expected[relative]:
            problems.append(f"{sums_path}: its hash of {relative} differs from the catalog")
    for relative in sorted(set(expected) - set(listed)):
        problems.append(f"{sums_path}: does not list {relative}")
    return problems


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
