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

Trust: a worker's answer is plain data that the driver checks against what it
sent (`_Answer`: the key, exactly the edition files asked for, the seed's hash
and build date) before it makes a Rendered or an Outcome of it; anything else
fails that seed, naming the worker. A seed whose answer never comes (a hung
task, an error Dask cannot send back) fails at its deadline. Dask itself
unpickles results and errors on the driver: workers and scheduler must be
trusted (README: "Trusting the cluster").
"""

from __future__ import annotations

import hashlib
import logging
import math
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
from convert.build.outcome import Built, Limit, Outcome
from convert.dates import build_date, iso_timestamp
from convert.document.provenance import FIELDS as PROVENANCE_FIELDS
from convert.document.provenance import Provenance
from convert.errors import ConfigError, RunStopped
from convert.files import read_bounded
from convert.layout import edition_file
from convert.runners.deadlines import Deadlines
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
    on_warning: Callable[[str], None] = lambda message: None, deadlines: Deadlines = Deadlines(),
) -> None:
    """Render every task on the cluster at `address`, write each seed's files here and
    report its Outcome; `environment` is this machine's environment digest, which a
    worker must share. ConfigError when no worker can render; RunStopped when the
    scheduler goes away mid-run."""
    check_cluster(address)
    from convert.runners.cluster_worker import RendererPlugin

    build = tasks[0].options
    plugin = RendererPlugin(style_files(build.styles), build.lang, build.provenance, build.memory, environment,
                            build.archive_title, build.base_url, build.archive_lang)
    with _quiet_distributed(), _connected(address) as client:
        _ClusterRun(client, address, plugin, on_outcome, deadlines).run(tasks, on_warning)


def style_files(styles: Path) -> dict[str, bytes]:
    """The files of a styles folder that the editions read, by relative path: what
    each worker needs to render as this machine does."""
    styles = Path(styles)
    paths = [styles / name for name in STYLE_FILES]
    paths += sorted(p for p in (styles / STYLE_FONTS).rglob("*") if p.is_file())
    return {str(path.relative_to(styles)): path.read_bytes() for path in paths if path.is_file()}


class _ClusterRun:
    """One archive run's seeds on the cluster: submit, collect, write, report."""

    def __init__(self, client, address: str, plugin, on_outcome: Callable[[Outcome], None],
                 deadlines: Deadlines = Deadlines()):
        self.client, self.address, self.plugin, self.on_outcome = client, address, plugin, on_outcome
        self.deadlines = deadlines
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
                    self._give_up_overdue(running)
                while pending and len(running) < max(1, slots) * IN_FLIGHT_PER_THREAD:
                    task = pending.popleft()
                    sent = self._submit(task)
                    if sent is not None:
                        running[sent.future.key] = sent
                        sent.future.add_done_callback(finished.put)
                if not running:
                    continue
                try:
                    future = finished.get(timeout=HEALTH_INTERVAL)
                except queue.Empty:
                    continue
                sent = running.pop(future.key, None)
                if sent is None:
                    continue  # given up already: its late end changes nothing
                if self._collect(future, sent):
                    pending.appendleft(sent.task)
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
        info = self.client.scheduler_info(n_workers=-1)
        if "workers" not in info:
            # What the client keeps of a scheduler it has lost: nothing (a race that CI met
            # once, as an internal error "KeyError: 'workers'" where this line was expected).
            raise _SchedulerGone()
        workers = info["workers"].values()
        return int(sum(worker.get("resources", {}).get(self.plugin.name, 0) for worker in workers))

    def _check_still_served(self, slots: int, left: int) -> None:
        """RunStopped when no worker could render for the grace on end (all lost, none
        restarted)."""
        if slots:
            self.none_since = None
            return
        now = time.monotonic()
        self.none_since = self.none_since or now
        if now - self.none_since > self.deadlines.grace:
            raise RunStopped(self._stopped(
                f"no worker able to render for this machine for {self.deadlines.grace:g} s", left))

    def _submit(self, task: SeedTask) -> _Sent | None:
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
        future = self.client.submit(
            render_on_worker, self.plugin.name, request, key=f"seedpress-{task.key}-{uuid.uuid4().hex}",
            resources={self.plugin.name: 1}, pure=False,
        )
        return _Sent(task, future, hashlib.sha256(request.seed_bytes).hexdigest(), iso_timestamp(request.created))

    def _give_up_overdue(self, running: dict[str, _Sent]) -> None:
        """Fail every seed that the scheduler says a worker has held past its deadline (the
        time limit plus the answer margin), or finished (erred, or done) the grace
        ago with no word of it here (an error or answer Dask could not send back), naming
        that worker; and every seed no worker took for as long as the seeds ahead of it may
        take. The run goes on without them."""
        if not running:
            return
        states = self._task_states(list(running))
        now = time.monotonic()
        for key, sent in list(running.items()):
            state, worker = states.get(key, ("unknown", None))
            if (state, worker) != (sent.state, sent.worker):
                # Taken, taken again after a worker died, or finished: its clock starts again.
                sent.state, sent.worker, sent.since = state, worker, now
                continue
            limit = sent.task.options.timeout + self.deadlines.answer_margin
            if state in ("erred", "memory"):
                limit = self.deadlines.grace
            elif state != "processing":
                limit *= IN_FLIGHT_PER_THREAD + 1
            if now - sent.since <= limit:
                continue
            del running[key]
            sent.future.cancel()
            path = sent.task.path
            if state in ("erred", "memory"):
                error = (f"{path}: cluster worker {worker} {'raised an error' if state == 'erred' else 'answered'}, "
                         f"but Dask could not send it back in {limit:g} s: given up")
            elif state == "processing":
                error = f"{path}: cluster worker {worker} gave no answer within {limit:g} s (it hangs): given up"
            else:
                error = f"{path}: no cluster worker took it within {limit:g} s ({state}): given up"
            self.on_outcome(Outcome.failure(path, sent.task.key, error, seconds=now - sent.since))

    def _task_states(self, keys: list[str]) -> dict[str, tuple[str, str | None]]:
        """The scheduler's state of each task and the worker it is on (running it, holding
        its answer, or having raised its error), by key."""

        def states(keys: list[str], dask_scheduler=None) -> dict:  # run on the scheduler
            found = {}
            for key in keys:
                task = dask_scheduler.tasks.get(key)
                if task is None:
                    continue
                workers = ([task.processing_on.address] if task.processing_on else
                           sorted(task.erred_on or ()) or sorted(w.address for w in task.who_has or ()))
                found[key] = (task.state, ", ".join(workers) or None)
            return found

        try:
            return {key: tuple(state) for key, state in self.client.run_on_scheduler(states, keys).items()}
        except OSError:
            raise
        except Exception:  # noqa: BLE001 (a scheduler that runs no functions: what it says of its workers)
            return {key: ("processing", worker) for worker, held in self.client.processing().items()
                    for key in held if key in keys}

    def _collect(self, future, sent: _Sent) -> bool:
        """Report what became of one finished task; True when it is to be sent again."""
        from distributed import KilledWorker

        task = sent.task
        if future.status == "cancelled":
            raise _SchedulerGone
        if future.status == "error":
            error = future.exception()
            if isinstance(error, KilledWorker):
                future.release()
                self.on_outcome(Outcome.failure(task.path, task.key, limit=Limit.CRASH, error=(
                    f"{task.path}: the cluster workers building it died, more often than "
                    "distributed.scheduler.allowed-failures allows")))
            else:
                worker = self._erred_on(future, sent)
                future.release()
                self.on_outcome(Outcome.failure(task.path, task.key, one_line(
                    f"{task.path}: the cluster could not render it: cluster worker {worker} "
                    f"raised {type(error).__name__}: {error}")))
            return False
        worker = self._holder(future)
        try:
            data = future.result(timeout=self.deadlines.grace)
        except TimeoutError:
            # Its result was on a worker that died before it came here, and no worker has
            # computed it again: send it anew.
            future.release()
            return True
        except Exception as error:  # noqa: BLE001 (an answer that cannot even be read is refused)
            data = error
        future.release()
        try:
            answer = _Answer.check(data, sent)
        except _Refused as refused:
            self.on_outcome(Outcome.failure(task.path, task.key, one_line(
                f"{task.path}: refused the answer of cluster worker {worker}: {refused}")))
            return False
        if answer.crashed is not None:
            self.deaths[task.key] = self.deaths.get(task.key, 0) + 1
            if self.deaths[task.key] < defaults.WORKER_DEATHS:
                return True
            self.on_outcome(Outcome.crashed(task.path, task.key, seconds=answer.seconds))
        elif answer.rendered is not None:
            self.on_outcome(self._write(answer.rendered, task, answer.seconds))
        else:
            self.on_outcome(answer.failed)
        return False

    def _erred_on(self, future, sent: _Sent) -> str:
        """The address of the worker a failed task raised its error on, as the scheduler
        says; else the one last seen running it."""

        def erred_on(key: str, dask_scheduler=None) -> list[str]:  # run on the scheduler
            task = dask_scheduler.tasks.get(key)
            return sorted(task.erred_on or ()) if task is not None else []

        try:
            workers = self.client.run_on_scheduler(erred_on, future.key)
        except OSError:
            raise
        except Exception:  # noqa: BLE001 (only a name for a message)
            workers = []
        return ", ".join(workers) or sent.worker or "(unknown)"

    def _holder(self, future) -> str:
        """The address of the worker that holds a finished task's answer, as the scheduler
        says (never as the answer says): it names the worker in a refusal."""
        try:
            holders = self.client.who_has(future).get(future.key) or ()
        except OSError:
            raise
        except Exception:  # noqa: BLE001 (only a name for a message)
            holders = ()
        return ", ".join(sorted(holders)) or "(unknown)"

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


class _Sent:
    """A seed handed to the cluster, and what its answer must match."""

    def __init__(self, task: SeedTask, future, source_sha256: str, created: str):
        self.task, self.future = task, future
        self.source_sha256 = source_sha256
        """The SHA-256 of the bytes sent: a build's facts and its seed copy must have it."""
        self.created = created
        """The build date sent (iso_timestamp): a build's facts must carry it."""
        self.state, self.worker = "sent", None
        """The scheduler's state of it when last asked (`processing`, `erred`, …), and the
        worker it is on (None: none yet)."""
        self.since = time.monotonic()
        """When it was sent, or last changed its state or worker."""

    def editions(self) -> tuple[str, ...]:
        """The editions asked for: the formats, and for an archive its seed copy, cover,
        thumbnail and landing page."""
        options = self.task.options
        extra = defaults.ARCHIVE_EXTRAS if options.keep_seed else ()
        return tuple(options.formats) + extra


class _Refused(Exception):
    """What is wrong with an answer from a worker: the one-line reason."""


#: What a failed answer may give as its limit: none, or a word of the Limit vocabulary.
_FAILURE_LIMITS = (None, *(limit.value for limit in Limit))


class _Answer:
    """A worker's answer checked against what the driver sent, made into seedpress's own
    objects by the driver: exactly one of `rendered`, `failed`, `crashed` is set."""

    def __init__(self, seconds: float, *, rendered: Rendered | None = None, failed: Outcome | None = None,
                 crashed: str | None = None):
        self.seconds, self.rendered, self.failed, self.crashed = seconds, rendered, failed, crashed

    @classmethod
    def check(cls, data: object, sent: _Sent) -> _Answer:
        """The answer in `data` (what `cluster_worker.answer_data` makes) if it is one for
        exactly the seed sent; _Refused saying why not otherwise."""
        from convert.runners.cluster_worker import BUILT_TEXTS

        if isinstance(data, BaseException):
            raise _Refused(f"its answer cannot be read: {type(data).__name__}: {data}")
        task = sent.task
        fields = _fields(data, "answer", {"kind": str, "key": str, "seconds": (int, float)}, extra=True)
        if fields["key"] != task.key:
            raise _Refused(f"it answered for the key {fields['key']!r}, not {task.key!r}")
        seconds = fields["seconds"]
        if isinstance(seconds, bool) or not math.isfinite(seconds) or seconds < 0:
            raise _Refused(f"its time {seconds!r} is not a number of seconds")
        kind = fields["kind"]
        if kind == "crashed":
            _fields(data, "answer", {"kind": str, "key": str, "seconds": (int, float), "reason": str})
            return cls(seconds, crashed=data["reason"])
        if kind == "failed":
            _fields(data, "answer", {"kind": str, "key": str, "seconds": (int, float), "error": str,
                                     "limit": (str, type(None))})
            if data["limit"] not in _FAILURE_LIMITS:
                raise _Refused(f"its failure's limit {data['limit']!r} is none of seedpress's")
            return cls(seconds, failed=Outcome.failure(task.path, task.key, one_line(data["error"]) or task.path,
                                                       seconds=seconds, limit=Limit(data["limit"]) if data["limit"] else None))
        if kind != "rendered":
            raise _Refused(f"its kind {kind!r} is none of rendered, failed, crashed")
        _fields(data, "answer", {"kind": str, "key": str, "seconds": (int, float), "files": dict, "built": dict})
        built = _fields(data["built"], "build", {**dict.fromkeys(BUILT_TEXTS, str), "provenance": dict})
        provenance = _fields(built["provenance"], "provenance",
                             {**dict.fromkeys(PROVENANCE_FIELDS, (str, type(None))), "tags": (tuple, list, type(None))})
        if provenance["tags"] is not None:
            if not all(type(tag) is str for tag in provenance["tags"]):
                raise _Refused("its provenance's tags are not all text")
            provenance = {**provenance, "tags": tuple(provenance["tags"])}
        if built["source_sha256"] != sent.source_sha256 or built["identifier"] != f"urn:sha256:{sent.source_sha256}":
            raise _Refused("its build is not of the seed's bytes that were sent (another SHA-256)")
        if built["created"] != sent.created:
            raise _Refused(f"its build date {built['created']!r} is not the one sent, {sent.created!r}")
        names = {edition_file(task.key, edition): edition for edition in sent.editions()}
        files = data["files"]
        if set(files) != set(names) or not all(type(body) is bytes for body in files.values()):
            unexpected = sorted(map(repr, set(files) - set(names)))
            missing = sorted(map(repr, set(names) - set(files)))
            raise _Refused("its files are not the editions asked for" + "".join(
                f"; {what}: {', '.join(which)}" for what, which in (("unexpected", unexpected),
                                                                    ("missing", missing)) if which))
        copy = files[edition_file(task.key, defaults.SEED_COPY)] if task.options.keep_seed else None
        if copy is not None and hashlib.sha256(copy).hexdigest() != sent.source_sha256:
            raise _Refused("its copy of the seed is not the seed that was sent")
        facts = Built(**{name: built[name] for name in BUILT_TEXTS}, provenance=Provenance(**provenance))
        return cls(seconds, rendered=Rendered(built=facts, files={names[name]: files[name] for name in names}))


def _fields(data: object, what: str, expected: dict[str, type | tuple[type, ...]], *, extra: bool = False) -> dict:
    """`data` if it is a dict with exactly the `expected` str keys (more keys too when
    `extra`), each value of its type; _Refused naming what is not."""
    if type(data) is not dict:
        raise _Refused(f"its {what} is a {type(data).__name__}, not a dict")
    keys = set(data)
    if not keys >= set(expected) or (not extra and keys != set(expected)):
        odd = sorted(map(repr, keys ^ set(expected) if not extra else set(expected) - keys))
        raise _Refused(f"its {what} has other fields: {', '.join(odd)}")
    for name, kind in expected.items():
        if not isinstance(data[name], kind) or type(data[name]) is bool:
            raise _Refused(f"its {what}'s {name} is a {type(data[name]).__name__}")
    return data


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
