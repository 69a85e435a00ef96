"""The two jobs that string the stages together, each the library function of one command:
`convert_paths` (`seedpress convert`: inputs into editions, on the pool) and `run_archive`
(`seedpress archive`: update the archive, then hand it out)."""

from __future__ import annotations

import queue
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from convert import defaults
from convert.archive.catalog import RunRecord, open_catalog, published_rows, record_run, seed_rows
from convert.archive.guard import check_withdrawals, forget_gone_failures, nested_seeds, seeds_folder_problem
from convert.archive.job import RunTotals, UpdateOptions, find_seeds, update_archive
from convert.archive.keys import assign_keys
from convert.build.options import BuildOptions
from convert.build.outcome import Outcome, Status
from convert.dates import now
from convert.defaults import is_input_name
from convert.editions.tools import check_prerequisites
from convert.errors import ConfigError, SeedError, SeedpressError, Stopped
from convert.layout import CATALOG_NAME, METRICS_DIR_NAME, archive_lock
from convert.publish.entries import Entry, HandoutOptions, catalog_entry, oldest_first
from convert.runners.server import (
    few_seeds_to_build,
    folder_changed_since_last_run,
    forget_few_seeds,
    start_workers_early,
    stop_unused_server,
)


def expand_inputs(paths: Iterable[Path]) -> Iterator[tuple[Path, str | None]]:
    """Each input file, with an error for a path that is missing or a folder with no seeds."""
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir()
                if is_input_name(p.name) and p.is_file()
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
    before the first input: a ConfigError then stops the run. With `jobs` 0 they are
    built in this process, in this thread (runners.pool.run_in_process). Closing the
    iterator before its end (a `break`, Ctrl-C) kills the workers: the inputs it has not
    yielded yet may not be written.
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
    stop = threading.Event()

    def build() -> None:
        try:
            run_pool(tasks, min(defaults.default_jobs() if jobs is None else jobs, len(tasks)), options.memory,
                     finished.put, stop)
        except BaseException as error:  # noqa: BLE001 (handed to the caller's thread)
            finished.put(error)

    builder = threading.Thread(target=build, name="seedpress-convert", daemon=True)
    if tasks and jobs == 0:
        build()  # in this thread: the time limit (an alarm) applies only in the main thread
    elif tasks:
        builder.start()
    done: dict[str, Outcome] = {}
    try:
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
    finally:
        # Interrupted (Ctrl-C), or the caller stopped reading: the workers stop at once.
        stop.set()
        if builder.is_alive():
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
        # -o names its file: the temporary file beside it (.NAME.PID.tmp) is the tool's, not the user's.
        where = output if output is not None else error.filename or out
        return Outcome.failure(name, key, f"{name}: cannot write {where}: "
                                          f"{error.strerror or error}", seconds=time.perf_counter() - started)
    return rendered.outcome(name, key, written, seconds=time.perf_counter() - started)


@dataclass(frozen=True)
class JobOptions(UpdateOptions):
    """How an archive run works: how it updates the archive, and how it hands it out."""

    handout: HandoutOptions = HandoutOptions()
    """The archive's title and base URL in index.html and opds.xml (seedpress.toml's [archive])."""
    allow_mass_withdraw: bool = False
    """Withdraw even when more than half the archive (or all of it) left the seeds folder (guard.py)."""


def _default_exit_code(stopped: BaseException | None, totals: RunTotals) -> int:
    return 1 if stopped is not None or totals.failed else 0


def run_archive(
    seeds_dir: Path, dist: Path, options: JobOptions = JobOptions(), *,
    on_outcome: Callable[[Outcome], None] = lambda outcome: None,
    on_plan: Callable[[int], None] = lambda count: None,
    on_warning: Callable[[str], None] = lambda message: None,
    exit_code: Callable[[BaseException | None, RunTotals], int] = _default_exit_code,
) -> RunTotals:
    """Bring `dist` up to date with `seeds_dir`; report each seed built, failed or withdrawn
    through `on_outcome`, how many will be built through `on_plan`, and what the user
    should know that is no seed's failure (cluster workers refused) through `on_warning`.

    Every run that gets the lock is recorded in the catalog's `runs` table, with the exit
    code `exit_code(the exception that stopped it or None, totals)` gives (the command
    line's codes; by default 0, or 1 for any failure)."""
    started, started_at = time.perf_counter(), now()
    options = replace(options, build=replace(options.build, keep_seed=True))
    on_warning = _once(on_warning)
    check_prerequisites(validate=options.build.validate)
    if options.cluster:
        from convert.runners.cluster import check_cluster

        check_cluster(options.cluster)
    # A seeds folder that is missing or not a folder is refused before anything is touched;
    # against an archive that holds titles, with the code of a refused mass withdrawal.
    folder_problem = seeds_folder_problem(seeds_dir)
    if folder_problem is not None and not (dist / CATALOG_NAME).is_file():
        raise ConfigError(f"{seeds_dir}: not a folder of seeds ({folder_problem})")
    seeds = [] if folder_problem is not None else find_seeds(seeds_dir)
    if seeds and not options.cluster and options.jobs != 0 and folder_changed_since_last_run(seeds_dir, dist):
        # Most likely a seed to build: the workers' server warms up while the run plans.
        start_workers_early()
    if folder_problem is None:
        for nested in nested_seeds(seeds_dir):
            on_warning(f"{nested}: in a subfolder of {seeds_dir}: not archived (only the seeds directly in it are)")
    try:
        dist.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SeedpressError(f"{dist}: cannot create the archive folder: {error.strerror}") from None
    totals = RunTotals()
    with archive_lock(dist), _catalog_errors(dist):
        connection = open_catalog(dist)
        stopped: BaseException | None = None
        try:
            # Before anything is withdrawn or built: a refused run changes nothing. The
            # catalog's rows are read once a run (a thousand titles: 40 ms each time); a
            # row that cannot be trusted is named once, after the refusal could have come.
            problems: list[str] = []
            rows = seed_rows(connection, problems.append)
            check_withdrawals(rows, {seed.key for seed in seeds}, seeds_dir,
                              folder_problem=folder_problem, allow=options.allow_mass_withdraw)
            for row in forget_gone_failures(connection, {seed.key for seed in seeds}, rows):
                del rows[row.key]
                totals.gone += 1
                on_outcome(Outcome(input=row.source_name, key=row.key, status=Status.GONE))
            for problem in problems:
                on_warning(f"{dist}/{problem}")
            def planned(count: int) -> None:
                if not count:
                    stop_unused_server()
                elif options.jobs != 0:
                    if not options.cluster and count <= (options.jobs or defaults.default_jobs()):
                        few_seeds_to_build()
                    _prepare_handout(dist, options.handout)
                on_plan(count)

            try:
                update_archive(connection, seeds, dist, options, totals, on_outcome, planned, on_warning,
                               rows=rows)
            except SeedpressError:
                # The run stopped part-way (its cluster went away): hand out what it committed.
                publish(connection, dist, options.handout, on_warning)
                raise
            publish(connection, dist, options.handout, on_warning)
        except BaseException as error:
            stopped = error
            _stop_indexing_if_stopped(error)
            raise
        finally:
            # The run is recorded whatever arrives now: a stop signal waits until the record
            # is written, then stops the command as it would have (a run that had finished
            # is recorded as such).
            with _stop_signals_held():
                forget_few_seeds()
                totals.seconds = time.perf_counter() - started
                run = RunRecord(started_at, now(), str(seeds_dir), totals.built, totals.unchanged, totals.failed,
                                totals.withdrawn, totals.gone, round(totals.seconds, 3), exit_code(stopped, totals),
                                None if stopped is None else _stop_line(stopped))
                _report_run(connection, dist, run, on_warning)
                connection.close()
    return totals


@contextmanager
def _stop_signals_held() -> Iterator[None]:
    """SIGTERM and SIGINT held back for the block, then let through: each is noted as it comes
    and handed, at the end, to the handler it would have met (which raises Stopped, or
    KeyboardInterrupt). Blocking them would not do: another thread of the process (the
    workers' pool) takes a blocked signal, and Python runs its handler in this one all the
    same. Only the main thread may set handlers; in another, the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous = {number: signal.signal(number, lambda number, _frame: arrived.append(number))
                for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if arrived:
            handler = previous[arrived[0]]
            if callable(handler):
                handler(arrived[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(arrived[0])


def _prepare_handout(dist: Path, handout: HandoutOptions) -> None:
    """Work out on a thread, while the workers build, what the hand-out after them will need
    of the titles that stay as they are: import its modules, work out its salt, hash the
    pages its record keeps, read the catalog's rows and make their entries
    (published_entries keeps them, and publish makes anew only those of the seeds
    built), check them, load the locale data of their languages, render the newest
    titles' items and feed entries (publish/handout.render_newest_ahead), and index the
    open page as a full one when the next title fills it (sitesearch). This process only
    waits on the workers then: a run that finds one new seed among a thousand titles
    hands out in 0.21 s rather than 0.40. Only for a run that will build on workers; one
    that builds nothing or builds here has no wait to fill."""
    global _preparing

    def prepare() -> None:
        try:
            from convert.archive.catalog import open_catalog_readonly
            from convert.publish.facets import FacetIndex
            from convert.publish.handout import checked, render_newest_ahead
            from convert.publish.paging import PageRecord
            from convert.publish.sitesearch import index_full_open_page_ahead
            from convert.publish.stamp import handout_salt

            PageRecord.read(dist, handout_salt(handout)).hash_kept_pages()
            connection = open_catalog_readonly(dist)
            try:
                entries = published_entries(connection)
            finally:
                connection.close()
            checked(entries)
            for entry in entries:
                entry.digest  # noqa: B018 (a cached property: worked out here, used by the pages)
            for facet in FacetIndex(entries).facets():
                facet.label()
            render_newest_ahead(entries, handout)
            index_full_open_page_ahead(dist, landing_pages(entries))
        except Exception:  # noqa: BLE001, S110 (publish does all of it again, and says what failed)
            pass

    _preparing = threading.Thread(target=prepare, name="seedpress-handout-prepare", daemon=True)
    _preparing.start()


#: The thread of _prepare_handout, which publish waits for rather than doing its work twice.
_preparing: threading.Thread | None = None
#: Seconds publish waits for that thread at most: as long as the work it would do itself
#: takes, unless the catalog kept it waiting (it then goes on, and does the work).
PREPARE_WAIT = 30.0


def _stop_indexing_if_stopped(error: BaseException) -> None:
    """When `error` stopped the run (Stopped, KeyboardInterrupt: not an Exception), kill the
    Pagefind runs it started, on the hand-out's thread or the one that prepares it, rather
    than wait for them or leave them running after it; none was started where the module
    was never imported."""
    sitesearch = sys.modules.get("convert.publish.sitesearch")
    if sitesearch is not None and not isinstance(error, Exception):
        sitesearch.stop_indexing()


def _stop_line(error: BaseException) -> str:
    if isinstance(error, SeedpressError | Stopped):
        return str(error)
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return f"{type(error).__name__}: {error}"


def record_refused_run(seeds_dir: Path, dist: Path, reason: str, exit_code: int) -> None:
    """Record in the catalog and the metrics of an existing archive a run that was refused
    before it began (a bad seedpress.toml): a scheduled job stopped by a typo showed only in
    its log, while `status` and the metrics went on giving the last good run. Nothing else
    is touched: an archive not made yet is not made, and one that another command holds
    is left to it."""
    if not (dist / CATALOG_NAME).is_file():
        return
    started_at = now()
    try:
        with archive_lock(dist), _catalog_errors(dist):
            connection = open_catalog(dist)
            try:
                run = RunRecord(started_at, now(), str(seeds_dir), 0, 0, 0, 0, 0, 0.0, exit_code, reason)
                _report_run(connection, dist, run, lambda message: None)
            finally:
                connection.close()
    except Exception:  # noqa: BLE001, S110 (a record at best: the refusal is said on stderr all the same)
        pass


def _report_run(connection: sqlite3.Connection, dist: Path, run: RunRecord,
                on_warning: Callable[[str], None]) -> None:
    """Record the run in the catalog and write its metrics. A run that cannot be recorded
    (the catalog or the disk is what failed) is said in a warning and costs nothing else."""
    try:
        record_run(connection, run)
    except sqlite3.Error as error:
        on_warning(f"{dist / CATALOG_NAME}: this run is not recorded: {error}")
    try:
        # prometheus_client, imported by the archive alone: `convert` starts without it.
        from convert.archive.metrics import write_run_metrics

        write_run_metrics(dist, run, connection)
    except (OSError, sqlite3.Error) as error:
        on_warning(f"{dist / METRICS_DIR_NAME}: the metrics of this run are not written: "
                   f"{getattr(error, 'strerror', None) or error}")


def restore_titles(dist: Path, keys: Sequence[str] = (), *, every: bool = False,
                   handout: HandoutOptions = HandoutOptions(),
                   on_warning: Callable[[str], None] = lambda message: None) -> list[str]:
    """`seedpress restore`: under the archive lock, put the withdrawn titles `keys` (or every
    one) back with their files, catalog rows and search texts (archive/restore.py), then
    write the hand-out; return the keys restored."""
    from convert.archive.restore import restore_withdrawn

    if not (dist / CATALOG_NAME).is_file():
        raise ConfigError(f"{dist}: no {CATALOG_NAME} here: not an archive built by seedpress archive")
    with archive_lock(dist, "restore"), _catalog_errors(dist):
        connection = open_catalog(dist)
        try:
            restored = restore_withdrawn(connection, dist, keys, every=every)
            if restored:
                publish(connection, dist, handout, on_warning)
        except BaseException as error:
            _stop_indexing_if_stopped(error)
            raise
        finally:
            connection.close()
    return restored


def _once(on_warning: Callable[[str], None]) -> Callable[[str], None]:
    """`on_warning` that says each message once a run (a damaged catalog row is met by
    the planner and again by the hand-out)."""
    said: set[str] = set()

    def warn(message: str) -> None:
        if message not in said:
            said.add(message)
            on_warning(message)

    return warn


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


def published_entries(connection: sqlite3.Connection, on_warning: Callable[[str], None] = lambda message: None):
    """The hand-out entries of every seed with a good build, from the catalog; a row that
    cannot be trusted is left out and named to `on_warning`. A row as the last call read
    it gives the same Entry object again (with its digest worked out, publish/entries.py),
    as the catalog's published_rows gives the same row."""
    global _last_entries
    known, made = _last_entries, {}
    for row, files in published_rows(connection, on_warning):
        entry = known.get((row, files))
        if entry is None:
            key, title, identifier, summary, created, provenance, lang = row
            entry = catalog_entry(key, title, identifier, summary, created, files, provenance=provenance, lang=lang)
        made[row, files] = entry
    _last_entries = made
    return list(made.values())


#: published_entries's entries of its last call, by the row and files each was made from.
_last_entries: dict[tuple, Entry] = {}


def landing_pages(entries: Sequence[Entry]) -> list[tuple[str, str]]:
    """(path, sha256) of each entry's landing page, in the hand-out's order, so that the
    search's page indexes are cut as its pages are."""
    return [(edition.path, edition.sha256) for entry in oldest_first(entries)
            for edition in entry.editions if edition.name == defaults.LANDING_EDITION]


def publish(connection: sqlite3.Connection, dist: Path, handout: HandoutOptions,
            on_warning: Callable[[str], None]) -> list[str]:
    """Write the index, the feeds and SHA256SUMS from the catalog, and the static search
    bundle unless it already indexes exactly the published landing pages; return the
    names of the hand-out files that changed. Nothing at all is done when the hand-out's
    stamp says it was made whole from these very rows and options, and its files stand
    as they were then (publish/stamp.py). A search bundle that cannot be made is a
    warning: the last good one stays, serve's /search still answers, and the next run
    tries again."""
    from convert.publish.stamp import handout_inputs, handout_is_current, handout_salt, stamp_handout

    global _preparing
    if _preparing is not None:
        _preparing.join(timeout=PREPARE_WAIT)
        _preparing = None
    inputs = handout_inputs(connection, handout_salt(handout))
    if handout_is_current(dist, inputs):
        return []
    from convert.publish.handout import write_handout
    from convert.publish.sitesearch import allow_indexing, refresh_bundle

    allow_indexing()

    problems: list[str] = []

    def left_out(problem: str) -> None:
        problems.append(problem)
        on_warning(f"{dist}/{problem}")

    entries = published_entries(connection, left_out)
    landing = landing_pages(entries)
    bundle_error: list[BaseException] = []

    def bundle() -> None:
        try:
            refresh_bundle(dist, landing)
        except BaseException as error:  # noqa: BLE001 (said or raised by the caller's thread)
            bundle_error.append(error)

    # Pagefind indexes the landing pages (the workers wrote them) while this thread renders the
    # pages and feeds: the two share no file, and a run finding one new seed waits 0.25 s less.
    indexer = threading.Thread(target=bundle, name="seedpress-search-bundle", daemon=True)
    indexer.start()
    try:
        written = write_handout(dist, entries, handout)
    except BaseException as error:
        _stop_indexing_if_stopped(error)  # before the join: a stopped run does not wait for Pagefind
        raise
    finally:
        indexer.join()
    for error in bundle_error:
        if not isinstance(error, SeedpressError):
            raise error
        on_warning(str(error))
    if inputs is not None and not problems and not bundle_error:
        stamp_handout(dist, inputs)
    return written

