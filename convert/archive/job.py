"""The archive update: find the seeds, plan what changed, build it on the runners, commit
each outcome to the catalog, withdraw what left. The hand-out is written after it
(convert/jobs.py); every name in dist is in convert/layout.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from convert import defaults
from convert.archive.catalog import (
    SearchTexts,
    SeedRow,
    record_built,
    record_failure,
    record_search_texts,
    record_withdrawn,
    seed_rows,
    unindexed_seeds,
)
from convert.archive.keys import assign_keys, is_safe_key, seed_key, stem
from convert.build.environment import build_digest, changed_parts, digest_of_parts, environment_parts
from convert.build.options import BuildOptions
from convert.build.outcome import Outcome, Status
from convert.dates import file_stamp
from convert.defaults import is_input_name, is_master_name
from convert.errors import ConfigError, SeedpressError
from convert.files import fsync_directory, read_bounded, read_regular, write_atomic
from convert.layout import CATALOG_NAME, ENVIRONMENT_NAME, WITHDRAWN_NAME, edition_path
from convert.runners.deadlines import Deadlines

#: Seeds put into the search index per transaction when a run fills the index of an older catalog.
INDEX_BATCH = 200


@dataclass(frozen=True)
class UpdateOptions:
    """How an archive run updates the archive; every default is defined in convert/defaults.py."""

    jobs: int | None = None
    """Worker processes; None means one per core, 0 builds in this process (runners.pool.run_in_process)."""
    build: BuildOptions = BuildOptions(keep_seed=True)
    """How each seed is built: limits, styles, validation (the seed's bytes are always kept)."""
    retry: bool = False
    """Retry seeds that failed on a time or memory limit although nothing changed."""
    cluster: str | None = None
    """A Dask scheduler's address (tcp://HOST:PORT) to render on instead of the local pool."""
    cluster_deadlines: Deadlines = Deadlines()
    """How long the driver waits on the cluster's workers (seedpress.toml's [cluster])."""


@dataclass
class RunTotals:
    """How many seeds an archive run built, left as they were, failed and withdrew."""

    built: int = 0
    unchanged: int = 0
    failed: int = 0
    withdrawn: int = 0
    gone: int = 0
    """Seeds that had never built and left the folder: failures that went away."""
    seconds: float = 0.0

    def line(self) -> str:
        gone = f", {self.gone} {'failure' if self.gone == 1 else 'failures'} gone" if self.gone else ""
        return (f"{self.built} built, {self.unchanged} unchanged, {self.failed} failed, "
                f"{self.withdrawn} withdrawn{gone} in {self.seconds:.1f} s")

    def as_json(self) -> dict:
        return {"built": self.built, "unchanged": self.unchanged, "failed": self.failed,
                "withdrawn": self.withdrawn, "gone": self.gone, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class Seed:
    """A file of the seeds folder and its key."""

    path: Path
    key: str | None
    """None for the rare seed whose key another seed already has (a hash collision)."""
    problem: str | None = None
    """Why it cannot be built at all (a link out of the folder, not a regular file)."""


def update_archive(connection: sqlite3.Connection, seeds: Sequence[Seed], dist: Path, options: UpdateOptions,
         totals: RunTotals, on_outcome: Callable[[Outcome], None], on_plan: Callable[[int], None],
         on_warning: Callable[[str], None], *, rows: dict[str, SeedRow] | None = None) -> None:
    """Bring the catalogued titles up to date with `seeds`: withdraw, plan, build, record.
    `rows`: the catalog's (seed_rows), if the caller read them and named their problems
    already; they are read here otherwise."""
    remove_stale_temporaries(dist)
    parts = environment_parts(options.build.styles, options.build.lang, options.build.provenance,
                              options.build.archive_title, options.build.base_url, options.build.archive_lang)
    environment = digest_of_parts(parts)
    if rows is None:
        rows = seed_rows(connection, lambda problem: on_warning(f"{dist}/{problem}"))
    present = {seed.key for seed in seeds}
    for key, row in sorted(rows.items()):
        if row.damage is not None and row.status is not Status.WITHDRAWN:
            what = "it is rebuilt" if key in present else "it is withdrawn"
            on_warning(f"{dist / CATALOG_NAME}: {key}: {row.damage} (a damaged catalog row): {what}")
    changed = _environment_changed(dist, parts)
    if changed and any(row.status is Status.BUILT for row in rows.values()):
        # Why a run that found no seed changed builds them all: an operator asks.
        on_warning(f"{dist}: the titles are built again: {_listed(changed)} changed since they were built")
    to_build, current, hashes = plan(rows, dist, seeds, environment, options)
    totals.unchanged = len(current)
    on_plan(len(to_build))

    def commit(outcome: Outcome) -> None:
        if outcome.ok:
            relative = {edition: edition_path(outcome.key, edition) for edition in outcome.files}
            record_built(connection, outcome, build_digest(outcome.built.source_sha256, environment), relative)
        elif outcome.key is not None:
            sha256 = hashes.get(outcome.key)
            digest = None if outcome.limit is None or sha256 is None else failure_digest(sha256, environment, options)
            record_failure(connection, outcome, digest)

    def record(outcome: Outcome) -> None:
        # Whatever goes wrong recording one seed is that seed's failure, never the run's (STYLE 9).
        try:
            commit(outcome)
        except Exception as error:  # noqa: BLE001
            from convert.build.input import one_line

            outcome = Outcome.failure(outcome.input, outcome.key, one_line(
                f"{outcome.input}: cannot record it in the catalog: {type(error).__name__}: {error}"),
                seconds=outcome.seconds)
            try:
                commit(outcome)
            except Exception as again:  # noqa: BLE001 (the seed is reported failed all the same)
                outcome = replace(outcome, error=one_line(f"{outcome.error}; nor its failure: {again}"))
        if outcome.ok:
            totals.built += 1
        else:
            totals.failed += 1
        on_outcome(outcome)

    for row in withdraw_missing(connection, dist, present, rows=rows, on_warning=on_warning):
        totals.withdrawn += 1
        on_outcome(Outcome(input=row.source_name, key=row.key, status=Status.WITHDRAWN))
    tasks = []
    if to_build:
        # The workers' stages (every renderer): imported by a run with something to build only.
        from convert.runners.pool import SeedTask, run_pool
    for seed in to_build:
        # Read and validate before any worker starts: a bad seed fails here, at once.
        problem = seed.problem or validate_seed(seed.path, options.build.max_bytes)
        if problem is not None:
            record(Outcome.failure(str(seed.path), seed.key, problem))
            continue
        skipped = _known_limit_failure(rows.get(seed.key), hashes.get(seed.key), environment, options)
        if skipped is not None:
            record(Outcome.failure(str(seed.path), seed.key, skipped))
            continue
        tasks.append(SeedTask(path=str(seed.path), key=seed.key, dist=str(dist), options=options.build))
    if tasks and options.cluster:
        from convert.runners.cluster import run_on_cluster

        run_on_cluster(tasks, options.cluster, environment, record, on_warning, options.cluster_deadlines)
    elif tasks:
        jobs = defaults.default_jobs() if options.jobs is None else options.jobs
        run_pool(tasks, jobs, options.build.memory, record)
    index_unindexed(connection, dist, options)
    if changed is None or changed:
        try:
            write_atomic(dist / ENVIRONMENT_NAME, json.dumps(parts, ensure_ascii=False, indent=1).encode("utf-8"))
        except OSError as error:
            # Only what the next run says depends on it: the run goes on to its hand-out.
            on_warning(f"{dist / ENVIRONMENT_NAME}: cannot record what the titles were built in: {error.strerror}")


def _environment_changed(dist: Path, parts: dict[str, str]) -> list[str] | None:
    """What a person calls each part of the environment that changed since the titles were
    last built (ENVIRONMENT_NAME); None when that is not known (a first run, a file not
    readable as one: nothing is said, and it is written anew)."""
    try:
        before = json.loads(read_regular(dist / ENVIRONMENT_NAME))
    except (OSError, ValueError):
        return None
    if not isinstance(before, dict) or not all(isinstance(value, str) for value in before.values()):
        return None
    return changed_parts(before, parts)


def _listed(names: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def find_seeds(seeds_dir: Path) -> list[Seed]:
    """The seeds (*.txt) and masters (*.md) of the folder with their keys; links out of it,
    files that are not regular files (a FIFO, a folder), and a seed and a master of the same
    name (which would share a key) come with the problem they have."""
    if not seeds_dir.is_dir():
        raise ConfigError(f"{seeds_dir}: not a folder of seeds")
    root = seeds_dir.resolve()
    seeds = []
    owners: dict[str, Path] = {}
    # One listing, by name (as `glob("*.txt")` and the rest would give, one listing each);
    # each entry knows whether it is a link or a regular file without a stat of its own.
    try:
        with os.scandir(seeds_dir) as listing:
            entries = {entry.name: entry for entry in listing if is_input_name(entry.name)}
    except OSError as error:
        raise ConfigError(f"{seeds_dir}: cannot list the folder of seeds: {error.strerror or error}") from None
    names = sorted(entries)
    # By name, not by path: a key must not depend on how the folder was spelled.
    keys = assign_keys(names)
    by_stem: dict[str, list[str]] = {}
    for name in names:
        by_stem.setdefault(stem(name), []).append(name)
    for name in names:
        path, key, entry = seeds_dir / name, keys[name], entries[name]
        namesakes = [other for other in by_stem[stem(name)] if other != name]
        if namesakes:
            # Which of the two is meant is not for seedpress to guess: neither is built, and
            # the title keeps its key, so its last good build stays handed out meanwhile.
            why = ("a seed and its master are one title" if len({is_master_name(other) for other in (name, *namesakes)}) == 2
                   else "names that differ only in the suffix are one title")
            seeds.append(Seed(path, seed_key(name), f"{path}: conflicts with {', '.join(namesakes)} in the same folder "
                                                    f"({why}): keep one"))
            continue
        if owners.setdefault(key, path) != path:
            seeds.append(Seed(path, None, f"{path}: its key {key} is {owners[key].name}'s (a hash collision): "
                                          "rename it"))
            continue
        try:
            link = entry.is_symlink()
            # A link's target, stat'ed: one that leads nowhere cannot be read.
            regular = stat.S_ISREG(path.stat().st_mode) if link else entry.is_file(follow_symlinks=False)
        except OSError as error:
            seeds.append(Seed(path, key, f"{path}: cannot read: {error.strerror}"))
            continue
        # Only a link can lead out: the others are names in the folder itself (and resolving
        # each of a thousand names costs 15 ms of an unchanged rerun).
        if link and not path.resolve().is_relative_to(root):
            seeds.append(Seed(path, key, f"{path}: refused: a link that leads out of {seeds_dir}"))
        elif not regular:
            seeds.append(Seed(path, key, f"{path}: not a regular file"))
        else:
            seeds.append(Seed(path, key))
    return seeds


def plan(
    rows: dict[str, SeedRow], dist: Path, seeds: Sequence[Seed], environment: str, options: UpdateOptions,
) -> tuple[list[Seed], list[Seed], dict[str, str]]:
    """Split the seeds into those to build and those whose files are current; with the
    hash of each seed that could be read."""
    to_build, current, hashes = [], [], {}
    for seed in seeds:
        row = rows.get(seed.key)
        if seed.problem is None:
            try:
                hashes[seed.key] = hashlib.sha256(read_bounded(seed.path, options.build.max_bytes)).hexdigest()
            except SeedpressError:
                pass  # too large or unreadable: the build reports why
        sha256 = hashes.get(seed.key)
        if (row is not None and row.status is Status.BUILT and row.damage is None and sha256 is not None
                and row.build_digest == build_digest(sha256, environment)
                and _files_present(dist, seed.key, row.sizes)):
            current.append(seed)
        else:
            to_build.append(seed)
    return to_build, current, hashes


def failure_digest(seed_sha256: str, environment: str, options: UpdateOptions) -> str:
    """What a seed failed on a limit with: its bytes, the environment and the limits.
    It is not tried again until one of them changes (or `--retry`)."""
    limits = f"timeout={options.build.timeout}\0memory={options.build.memory}"
    return hashlib.sha256(f"{build_digest(seed_sha256, environment)}\0{limits}".encode()).hexdigest()


def _known_limit_failure(row: SeedRow | None, sha256: str | None, environment: str,
                         options: UpdateOptions) -> str | None:
    """The error to report again for a seed that failed on a limit with exactly these
    bytes, environment and limits; None when it should be built."""
    if (options.retry or row is None or row.failure_digest is None or sha256 is None
            or row.failure_digest != failure_digest(sha256, environment, options)):
        return None
    return f"{row.error} (not retried: nothing changed; archive --retry to try again)"


def _files_present(dist: Path, key: str, sizes: dict[str, int]) -> bool:
    """True when every catalogued edition of `key` is in its folder with its catalogued size
    (and the folder is inside dist, not a link out of it). Plain strings and os.stat: this
    runs for every title of an unchanged rerun (a thousand titles: 8 ms, against 60 ms
    through pathlib and Path.resolve)."""
    if sizes.keys() != _CATALOGUED:
        return False
    folder = f"{dist}/{key}"
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode) and not is_inside(Path(folder), dist):
            return False  # a key is one name component, so a real folder is inside dist
        for edition, size in sizes.items():
            if os.stat(f"{dist}/{edition_path(key, edition)}").st_size != size:
                return False
    except OSError:
        return False
    return True


_CATALOGUED = frozenset(defaults.CATALOGUED_EDITIONS)


def is_inside(path: Path, dist: Path) -> bool:
    """True when `path`, links followed, is in `dist` (STYLE 11)."""
    try:
        return path.resolve().is_relative_to(dist.resolve())
    except (OSError, RuntimeError):  # a link loop
        return False


def validate_seed(path: Path, max_bytes: int) -> str | None:
    """The one-line reason the seed (or master) cannot be built, or None if it reads as a
    document (a seed's languages are left to the worker that builds it)."""
    from convert.build.input import document_from_bytes, failure_line, is_master
    from convert.document.seed import parse_seed_structure

    try:
        data = read_bounded(path, max_bytes)
        if is_master(path):
            document_from_bytes(data, path, BuildOptions(max_bytes=max_bytes))
        else:
            parse_seed_structure(data, path.name, path=path, max_bytes=max_bytes)
    except Exception as error:  # noqa: BLE001 (whatever a seed does is that seed's failure)
        return failure_line(error, path, path.parent)
    return None


def index_unindexed(connection: sqlite3.Connection, dist: Path, options: UpdateOptions) -> int:
    """Put every seed with a good build that the search index lacks (built before the catalog
    had an index, version 3) into it, read from the seed bytes kept beside its editions;
    return how many were indexed.

    A seed whose kept copy is missing or of another size is rebuilt by this run before it
    gets here, and so indexed by record_built. One whose copy was changed in place is left
    out: its bytes are no longer the ones built, `verify` names the file, and its next
    rebuild indexes it.
    """
    unindexed = unindexed_seeds(connection)
    if not unindexed:
        return 0
    from convert.build.input import PARAGRAPH_BREAK
    from convert.document.seed import parse_seed

    indexed, batch = 0, []
    for key, sha256 in unindexed:
        if not is_safe_key(key):
            continue  # seed_rows named it; no path is made of it
        path = dist / key / f"{key}.{defaults.SEED_COPY}"
        try:
            data = read_bounded(path, options.build.max_bytes)
            if hashlib.sha256(data).hexdigest() != sha256:
                continue
            document = parse_seed(data, path.name, path=path, max_bytes=options.build.max_bytes,
                                  lang=options.build.lang)
        except Exception:  # noqa: BLE001 (the index is derived: a seed it cannot read waits for its rebuild)
            continue
        batch.append(SearchTexts(key, document.lang, document.title, PARAGRAPH_BREAK.join(document.summary),
                                 PARAGRAPH_BREAK.join(document.commentary)))
        if len(batch) == INDEX_BATCH:
            record_search_texts(connection, batch)
            indexed, batch = indexed + len(batch), []
    if batch:
        record_search_texts(connection, batch)
    return indexed + len(batch)


def remove_stale_temporaries(dist: Path) -> None:
    """Delete temp files a killed run left; safe because this run holds the lock."""
    def temporaries(folder: str) -> list[str]:
        with os.scandir(folder) as entries:
            return [entry.path for entry in entries if entry.name.startswith(".") and entry.name.endswith(".tmp")]

    found = temporaries(str(dist))
    with os.scandir(dist) as entries:
        # A title's own folder, never one a link leads to (os.scandir, not Path.glob: a
        # thousand folders in 5 ms rather than 13).
        folders = [entry.path for entry in entries if entry.is_dir(follow_symlinks=False)]
    for folder in folders:
        try:
            found += temporaries(folder)
        except OSError:
            continue  # gone or unreadable: there is nothing of this run's in it
    for temporary in found:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def withdraw_missing(connection: sqlite3.Connection, dist: Path, present_keys: set[str | None], *,
                     rows: dict[str, SeedRow] | None = None,
                     on_warning: Callable[[str], None] = lambda message: None) -> list[SeedRow]:
    """Move aside the files of catalogued seeds that left the seeds folder; return their rows.

    `rows` are the catalog's (seed_rows, which leaves out every key seedpress never makes).
    Only a folder inside dist is moved, and only into dist/.withdrawn inside dist: one
    that is a link out of it stays where it is, named to `on_warning`."""
    withdrawn = []
    stamp = file_stamp()
    if rows is None:
        rows = seed_rows(connection, lambda problem: on_warning(f"{dist}/{problem}"))
    for key, row in sorted(rows.items()):
        if key in present_keys or row.status is Status.WITHDRAWN or not is_safe_key(key):
            continue
        folder = dist / key
        aside = dist / WITHDRAWN_NAME / f"{key}-{stamp}"
        if folder.is_dir() or folder.is_symlink():
            if not (is_inside(folder, dist) and is_inside(aside.parent, dist)) or folder.is_symlink():
                on_warning(f"{folder}: not moved aside: a link out of {dist}")
            else:
                try:
                    aside.parent.mkdir(exist_ok=True)
                    os.replace(folder, aside)
                    fsync_directory(aside.parent)
                    fsync_directory(dist)
                except OSError as error:  # this title's, not the run's: the next run tries again
                    on_warning(f"{folder}: cannot move it aside: {error.strerror or error}")
                    continue
        record_withdrawn(connection, key)
        withdrawn.append(row)
    return withdrawn
