"""The two jobs that string the stages together, each the library function of one command:
`convert_paths` (`seedpress convert`: inputs into editions, on the pool) and `run_archive`
(`seedpress archive`: update the archive, then hand it out)."""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from convert import defaults
from convert.archive.catalog import open_catalog, published_rows
from convert.archive.job import RunTotals, UpdateOptions, find_seeds, update_archive
from convert.archive.keys import assign_keys
from convert.build.input import MASTER_SUFFIXES, SEED_SUFFIXES, BuildOptions
from convert.build.outcome import Outcome
from convert.dates import parse_timestamp
from convert.document.provenance import Provenance
from convert.editions.tools import check_prerequisites
from convert.errors import ConfigError, SeedError, SeedpressError
from convert.layout import CATALOG_NAME, archive_lock
from convert.publish.entries import HandoutOptions


def expand_inputs(paths: Iterable[Path]) -> Iterator[tuple[Path, str | None]]:
    """Each input file, with an error for a path that is missing or a folder with no seeds."""
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir()
                if p.suffix.lower() in SEED_SUFFIXES + MASTER_SUFFIXES and p.is_file()
            )
            if not found:
                yield path, "no seeds (*.txt) or masters (*.md) in this folder"
            yield from ((p, None) for p in found)
        elif not path.exists():
            yield path, "no such file"
        elif not path.is_file():
            yield path, "not a regular file"
        else:
            yield path, None


def convert_paths(paths: Sequence[Path], out: Path, options: BuildOptions = BuildOptions(), *,
                  jobs: int | None = None) -> Iterator[Outcome]:
    """Convert every input into OUT/<key>/<key>.<edition>, yielding one Outcome per input,
    in the order of the inputs.

    The inputs are built on `jobs` warm worker processes (default: one per core, at most
    one per input), as the archive's are: each under the time and memory limits, and
    a crash (a C library aborting on a failed allocation) costs that input, never the
    run. Prerequisites (tool versions, EPUBCheck for `validate`) are checked once,
    before the first input: a ConfigError then stops the run.
    """
    from convert.runners.pool import SeedTask, run_pool

    check_prerequisites(validate=options.validate)
    # The same file named twice (s.txt ./s.txt) is one input, not a key collision.
    inputs = list({(p.resolve() if error is None else p): (p, error)
                   for p, error in expand_inputs(paths)}.values())
    keys = assign_keys(str(p) for p, error in inputs if error is None)
    tasks = [SeedTask(path=str(path), key=keys[str(path)], dist=str(out), options=options)
             for path, error in inputs if error is None]
    finished: queue.Queue[Outcome | BaseException] = queue.Queue()

    def build() -> None:
        try:
            run_pool(tasks, min(jobs or defaults.default_jobs(), len(tasks)), options.memory, finished.put)
        except BaseException as error:  # noqa: BLE001 (handed to the caller's thread)
            finished.put(error)

    builder = threading.Thread(target=build, name="seedpress-convert", daemon=True)
    if tasks:
        builder.start()
    done: dict[str, Outcome] = {}
    for path, error in inputs:
        if error is not None:
            yield Outcome.failure(str(path), None, f"{path}: {error}")
            continue
        while str(path) not in done:
            outcome = finished.get()
            if isinstance(outcome, BaseException):
                raise outcome
            done[outcome.input] = outcome
        yield done.pop(str(path))
    if tasks:
        builder.join()


#: The input name that means standard input, as pandoc takes it.
STDIN = "-"
#: The key (file and folder name) of a seed read from standard input into a folder.
STDIN_KEY = "stdin"
#: The edition a `-o` file's extension asks for.
EDITION_BY_SUFFIX = {f".{edition}": edition for edition in defaults.FORMATS} | {".markdown": "md"}


def edition_for(output: Path) -> str | None:
    """The edition the file name `output` asks for by its extension, or None for an unknown one."""
    return EDITION_BY_SUFFIX.get(output.suffix.lower())


def read_stdin(max_bytes: int) -> bytes:
    """A seed's bytes from standard input, at most `max_bytes` (SeedError beyond)."""
    import sys

    data = sys.stdin.buffer.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SeedError(STDIN, f"larger than the size limit (> {max_bytes} bytes)")
    return data


def convert_one(source: Path | bytes, options: BuildOptions = BuildOptions(), *,
                output: Path | None = None, out: Path | None = None) -> Outcome:
    """Convert one input, a path or a seed's bytes (standard input), in this process, under
    the time limit: into exactly the file `output` (its edition from its extension, written
    atomically, nothing left of it on failure), or else into out/<key>/<key>.<edition>."""
    from convert.build.input import render_input, render_seed_bytes, write_all
    from convert.dates import stream_build_date
    from convert.files import write_atomic

    started = time.perf_counter()
    if output is not None:
        edition = edition_for(output)
        if edition is None:
            raise ConfigError(f"{output}: unknown extension; -o takes {', '.join(EDITION_BY_SUFFIX)}")
        options = replace(options, formats=(edition,))
    check_prerequisites(validate=options.validate)
    if isinstance(source, bytes):
        name, key = STDIN, STDIN_KEY
        rendered = render_seed_bytes(source, name, key, options, stream_build_date())
    else:
        name = str(source)
        key = assign_keys([name])[name]
        rendered = render_input(source, key, options)
    if isinstance(rendered, Outcome):
        return rendered
    try:
        if output is None:
            written = write_all(out / key, rendered.files)
        else:
            write_atomic(output, rendered.files[options.formats[0]])
            written = {options.formats[0]: output}
    except OSError as error:
        return Outcome.failure(name, key, f"{name}: cannot write {error.filename or output or out}: "
                                          f"{error.strerror or error}", seconds=time.perf_counter() - started)
    return rendered.outcome(name, key, written, seconds=time.perf_counter() - started)


@dataclass(frozen=True)
class JobOptions(UpdateOptions):
    """How an archive run works: how it updates the archive, and how it hands it out."""

    handout: HandoutOptions = HandoutOptions()
    """The archive's title and base URL in index.html and opds.xml (seedpress.toml's [archive])."""


def run_archive(
    seeds_dir: Path, dist: Path, options: JobOptions = JobOptions(), *,
    on_outcome: Callable[[Outcome], None] = lambda outcome: None,
    on_plan: Callable[[int], None] = lambda count: None,
    on_warning: Callable[[str], None] = lambda message: None,
) -> RunTotals:
    """Bring `dist` up to date with `seeds_dir`; report each seed built, failed or withdrawn
    through `on_outcome`, how many will be built through `on_plan`, and what the user
    should know that is no seed's failure (cluster workers refused) through `on_warning`."""
    started = time.perf_counter()
    options = replace(options, build=replace(options.build, keep_seed=True))
    check_prerequisites(validate=options.build.validate)
    if options.cluster:
        from convert.runners.cluster import check_cluster

        check_cluster(options.cluster)
    seeds = find_seeds(seeds_dir)
    try:
        dist.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SeedpressError(f"{dist}: cannot create the archive folder: {error.strerror}") from None
    totals = RunTotals()
    with archive_lock(dist), _catalog_errors(dist):
        connection = open_catalog(dist)
        try:
            try:
                update_archive(connection, seeds, dist, options, totals, on_outcome, on_plan, on_warning)
            except SeedpressError:
                # The run stopped part-way (its cluster went away): hand out what it committed.
                publish(connection, dist, options.handout, on_warning)
                raise
            publish(connection, dist, options.handout, on_warning)
        finally:
            connection.close()
    totals.seconds = time.perf_counter() - started
    return totals


@contextmanager
def _catalog_errors(dist: Path) -> Iterator[None]:
    """Turn a failing catalog or hand-out write (disk full, read-only) into one clear error."""
    try:
        yield
    except sqlite3.Error as error:
        raise SeedpressError(f"{dist / CATALOG_NAME}: cannot update the catalog: {error}") from None
    except OSError as error:
        where = error.filename or dist
        raise SeedpressError(f"{where}: cannot write: {error.strerror or error}") from None


def published_entries(connection: sqlite3.Connection):
    """The hand-out entries of every seed with a good build, from the catalog."""
    from convert.publish.entries import Edition, Entry

    return [
        Entry(key=key, title=title, identifier=identifier, summary=summary, date=parse_timestamp(created),
              editions=tuple(Edition(name=edition, path=path, size=size, sha256=sha256)
                             for edition, path, sha256, size in files),
              lang=lang, **Provenance.from_json(provenance).as_dict())
        for (key, title, identifier, summary, created, provenance, lang), files in published_rows(connection)
    ]


def publish(connection: sqlite3.Connection, dist: Path, handout: HandoutOptions,
            on_warning: Callable[[str], None]) -> list[str]:
    """Write the index, the feeds and SHA256SUMS from the catalog, and the static search
    bundle unless it already indexes exactly the published landing pages; return the
    names of the hand-out files that changed. A search bundle that cannot be made is a
    warning: the last good one stays, serve's /search still answers, and the next run
    tries again."""
    from convert.publish.handout import write_handout
    from convert.publish.sitesearch import refresh_bundle

    entries = published_entries(connection)
    written = write_handout(dist, entries, handout)
    try:
        refresh_bundle(dist, [(edition.path, edition.sha256) for entry in entries for edition in entry.editions
                              if edition.name == defaults.LANDING_EDITION])
    except SeedpressError as error:
        on_warning(str(error))
    return written
