"""The archive job's renders on a Dask distributed cluster: `archive --cluster` (DESIGN §12).

The driver, the machine running `seedpress archive`, does everything it does
for the local pool (convert/archive.py): it reads the seeds, plans, holds the
lock, writes every file and commits the catalog. Only the rendering moves:

- Each seed travels as a `RenderRequest` (its bytes, its path as a label, its
  key, the BuildOptions and the build date the driver decided) and comes back
  as the rendered files' bytes or the failed Outcome: no shared file system,
  and the same seeds with the same SOURCE_DATE_EPOCH give the same bytes as
  on the local pool.
- A `RendererPlugin` (convert/cluster_worker.py) set up on every worker checks
  the worker's environment digest against the driver's and, on a match, keeps
  one warm renderer process per worker thread (convert/cluster_renderer.py).
  Renders run in those processes, not in Dask's threads, because only a main
  thread takes the SIGALRM of the time limit and only a process can be killed
  out of WeasyPrint's C code or held to an address-space limit.
- Tasks ask for the plugin's resource, which only matching workers have, so a
  worker with another environment never gets a seed (the driver names each one
  in one warning). A resource rather than a list of worker addresses
  (`workers=[...]`): a worker that its nanny restarts comes back under a new
  address, and a worker that joins mid-run was in no list; the plugin sets
  both up again and grants them the resource when they match.
- At most two seeds per matching worker thread are in flight: the driver's
  memory stays flat however many seeds there are.

Faults: a Dask worker that dies (`kill -9`) loses its seeds to the scheduler,
which runs them elsewhere, up to `distributed.scheduler.allowed-failures`
deaths per seed. A renderer process that dies costs its seed one more try, as
on the local pool; a seed that kills defaults.WORKER_DEATHS fails with Limit.CRASH. A scheduler
that goes away stops the run with RunStopped: what was built is committed and
handed out, and the next run builds the rest.
"""

from __future__ import annotations

import logging
import queue
import re
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from convert import defaults
from convert.build.environment import STYLE_FILES, STYLE_FONTS
from convert.build.input import Rendered, failure_line, one_line, write_all
from convert.build.outcome import Limit, Outcome
from convert.dates import build_date
from convert.document.seed import read_bounded
from convert.errors import ConfigError, RunStopped
from convert.runners.pool import SeedTask

#: Seeds in flight per matching worker thread: enough that no worker waits for
#: the driver, few enough that the driver's memory does not grow with the run.
IN_FLIGHT_PER_THREAD = 2
#: How often the driver looks at which workers it has while it waits for results.
HEALTH_INTERVAL = 2.0

_ADDRESS = re.compile(r"(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})")
INSTALL_HINT = "pip install 'seedpress[cluster]'"


def check_cluster(address: str) -> None:
    """Refuse at once, before any seed, an address that is not a scheduler's or a
    machine without the `cluster` extra (ConfigError)."""
    match = _ADDRESS.fullmatch(address)
    if match is None or not 0 < int(match[3]) < 65536:
        raise ConfigError(f"--cluster {address}: not a Dask scheduler address (tcp://HOST:PORT)")
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError(f"--cluster needs Dask distributed, which is not installed: {INSTALL_HINT}") from None


def run_on_cluster(
    tasks: Sequence[SeedTask], address: str, environment: str, on_outcome: Callable[[Outcome], None],
    on_warning: Callable[[str], None] = lambda message: None,
) -> None:
    """Render every task on the cluster at `address`, write each seed's files here and
    report its Outcome; `environment` is this machine's environment digest, which a
    worker must share. ConfigError when no worker can render; RunStopped when the
    scheduler goes away mid-run."""
    check_cluster(address)
    from convert.runners.cluster_worker import RendererPlugin

    build = tasks[0].options
    plugin = RendererPlugin(style_files(build.styles), build.lang, build.provenance, build.memory, environment,
                            build.archive_title)
    with _quiet_distributed(), _connected(address) as client:
        _ClusterRun(client, address, plugin, on_outcome).run(tasks, on_warning)


def style_files(styles: Path) -> dict[str, bytes]:
    """The files of a styles folder that the editions read, by relative path: what
    each worker needs to render as this machine does."""
    styles = Path(styles)
    paths = [styles / name for name in STYLE_FILES]
    paths += sorted(p for p in (styles / STYLE_FONTS).rglob("*") if p.is_file())
    return {str(path.relative_to(styles)): path.read_bytes() for path in paths if path.is_file()}


class _ClusterRun:
    """One archive run's seeds on the cluster: submit, collect, write, report."""

    def __init__(self, client, address: str, plugin, on_outcome: Callable[[Outcome], None]):
        self.client, self.address, self.plugin, self.on_outcome = client, address, plugin, on_outcome
        self.deaths: dict[str, int] = {}
        self.none_since: float | None = None

    def run(self, tasks: Sequence[SeedTask], on_warning: Callable[[str], None]) -> None:
        pending = deque(tasks)
        running: dict = {}
        finished: queue.SimpleQueue = queue.SimpleQueue()
        try:
            self._admit_workers(on_warning)
            slots, looked = self._slots(), time.monotonic()
            while pending or running:
                if time.monotonic() - looked > HEALTH_INTERVAL:
                    # Workers come and go: a restarted or added one takes seeds too.
                    slots, looked = self._slots(), time.monotonic()
                    self._check_still_served(slots, len(pending) + len(running))
                while pending and len(running) < max(1, slots) * IN_FLIGHT_PER_THREAD:
                    task = pending.popleft()
                    future = self._submit(task)
                    if future is not None:
                        running[future.key] = task
                        future.add_done_callback(finished.put)
                if not running:
                    continue
                try:
                    future = finished.get(timeout=HEALTH_INTERVAL)
                except queue.Empty:
                    continue
                task = running[future.key]
                send_again = self._collect(future, task)
                del running[future.key]
                if send_again:
                    pending.appendleft(task)
        except (OSError, _SchedulerGone) as error:  # distributed's CommClosedError is an OSError
            what = ("the scheduler went away" if isinstance(error, _SchedulerGone)
                    else f"lost the connection to the scheduler ({one_line(str(error))})")
            raise RunStopped(self._stopped(what, len(pending) + len(running))) from None

    def _admit_workers(self, on_warning: Callable[[str], None]) -> None:
        """Set every worker up, name those whose environment differs, and refuse to go on
        without one that matches (ConfigError)."""
        from convert.runners.cluster_worker import report_environment

        try:
            self.client.wait_for_workers(1, timeout=defaults.CLUSTER_CONNECT_TIMEOUT)
        except TimeoutError:
            raise ConfigError(f"{self.address}: the Dask scheduler has no workers") from None
        try:
            self.client.register_plugin(self.plugin, name=self.plugin.name)
        except OSError:
            raise
        except Exception:  # noqa: BLE001 (a worker that cannot even load it is named below)
            pass
        reports = self.client.run(report_environment, self.plugin.name, on_error="return")
        refused = []
        for worker, report in sorted(reports.items()):
            if isinstance(report, BaseException):
                refused.append(f"{worker} (cannot run seedpress: {one_line(f'{type(report).__name__}: {report}')})")
            elif report["digest"] != self.plugin.environment:
                refused.append(f"{worker} ({report['problem']})" if report["problem"] else worker)
        differs = (f"differs from this machine's (seedpress code, pandoc, WeasyPrint, fonts or styles): "
                   f"{', '.join(refused)}")
        if len(refused) == len(reports):
            raise ConfigError(f"{self.address}: no worker can render for this machine: the environment of "
                              f"every one of the {len(reports)} {differs}")
        if refused:
            on_warning(f"{self.address}: refused {len(refused)} of {len(reports)} workers: their environment {differs}")

    def _slots(self) -> int:
        """Worker threads that may render for this run now."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
        return int(sum(worker.get("resources", {}).get(self.plugin.name, 0) for worker in workers))

    def _check_still_served(self, slots: int, left: int) -> None:
        """RunStopped when no worker could render for CLUSTER_GRACE seconds on end (all
        lost, none restarted)."""
        if slots:
            self.none_since = None
            return
        now = time.monotonic()
        self.none_since = self.none_since or now
        if now - self.none_since > defaults.CLUSTER_GRACE:
            raise RunStopped(self._stopped(
                f"no worker able to render for this machine for {defaults.CLUSTER_GRACE} s", left))

    def _submit(self, task: SeedTask):
        """Read the seed and hand it to the cluster; None (and its failure reported) when
        it cannot be read."""
        from convert.runners.cluster_renderer import RenderRequest
        from convert.runners.cluster_worker import render_on_worker

        path = Path(task.path)
        try:
            request = RenderRequest(seed_bytes=read_bounded(path, task.options.max_bytes), where=task.path,
                                    key=task.key, options=task.options, created=build_date(path))
        except Exception as error:  # noqa: BLE001 (whatever reading it does is that seed's failure)
            self.on_outcome(Outcome.failure(task.path, task.key, failure_line(error, path, Path(task.dist))))
            return None
        return self.client.submit(
            render_on_worker, self.plugin.name, request, key=f"seedpress-{task.key}-{uuid.uuid4().hex}",
            resources={self.plugin.name: 1}, pure=False,
        )

    def _collect(self, future, task: SeedTask) -> bool:
        """Report what became of one finished task; True when it is to be sent again."""
        from distributed import KilledWorker

        from convert.runners.cluster_renderer import Crashed

        if future.status == "cancelled":
            raise _SchedulerGone
        if future.status == "error":
            error = future.exception()
            future.release()
            if isinstance(error, KilledWorker):
                self.on_outcome(Outcome.failure(task.path, task.key, limit=Limit.CRASH, error=(
                    f"{task.path}: the cluster workers building it died, more often than "
                    "distributed.scheduler.allowed-failures allows")))
            else:
                self.on_outcome(Outcome.failure(task.path, task.key, one_line(
                    f"{task.path}: the cluster could not render it: {type(error).__name__}: {error}")))
            return False
        try:
            answer, seconds = future.result(timeout=defaults.CLUSTER_GRACE)
        except TimeoutError:
            # Its result was on a worker that died before it came here, and no worker has
            # computed it again: send it anew.
            future.release()
            return True
        future.release()
        if isinstance(answer, Crashed):
            self.deaths[task.key] = self.deaths.get(task.key, 0) + 1
            if self.deaths[task.key] < defaults.WORKER_DEATHS:
                return True
            self.on_outcome(Outcome.crashed(task.path, task.key, seconds=seconds))
        elif isinstance(answer, Rendered):
            self.on_outcome(self._write(answer, task, seconds))
        else:
            self.on_outcome(answer)
        return False

    @staticmethod
    def _write(rendered: Rendered, task: SeedTask, seconds: float) -> Outcome:
        path, dist = Path(task.path), Path(task.dist)
        started = time.perf_counter()
        try:
            written = write_all(dist / task.key, rendered.files)
        except Exception as error:  # noqa: BLE001 (a failed write is this seed's failure)
            return Outcome.failure(task.path, task.key, failure_line(error, path, dist),
                                   seconds=seconds + time.perf_counter() - started)
        return rendered.outcome(task.path, task.key, written, seconds=seconds + time.perf_counter() - started)

    def _stopped(self, what: str, left: int) -> str:
        return (f"{self.address}: {what}; {left} seeds not built "
                "(every seed built before that is committed: run again to build the rest)")


class _SchedulerGone(Exception):
    """The client cancelled the run's tasks: it lost the scheduler."""


@contextmanager
def _connected(address: str) -> Iterator:
    from distributed import Client

    try:
        client = Client(address, timeout=defaults.CLUSTER_CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise ConfigError(f"{address}: cannot reach the Dask scheduler: {one_line(str(error))}") from None
    try:
        yield client
    finally:
        try:
            client.close(timeout=defaults.CLUSTER_CONNECT_TIMEOUT)
        except Exception:  # noqa: BLE001 (closing a client whose scheduler is gone says so, at length)
            pass


@contextmanager
def _quiet_distributed() -> Iterator[None]:
    """Silence distributed's own logging and warnings while the run talks to the cluster:
    the run reports what happens in its own one-line messages."""
    names = ["distributed", "tornado", "asyncio"]
    names += [name for name in logging.root.manager.loggerDict if name.startswith(("distributed.", "tornado."))]
    loggers = {name: logging.getLogger(name) for name in names}
    levels = {name: logger.level for name, logger in loggers.items()}
    for logger in loggers.values():
        logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, logger in loggers.items():
            logger.setLevel(levels[name])
