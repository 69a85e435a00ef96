"""The archive's workers: warm processes that each build one seed at a time.

Workers fork from one server a run (multiprocessing's forkserver) that imported
WeasyPrint, found pandoc and drew a page once (runners/warm.py); each builds
seed after seed under an address-space limit. Workers are replaced every
WORKER_TASKS seeds to keep memory flat, by new forks of the same warm server, and
after a seed that ran out of the memory limit. A worker that dies costs the seed it
held one try of defaults.WORKER_DEATHS.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import util
from pathlib import Path

from convert import defaults
from convert.build.input import BuildOptions, build_input, memory_failure, one_line, time_failure, warm_up
from convert.build.limits import reached_memory_limit
from convert.build.outcome import Limit, Outcome, times
from convert.errors import RunStopped
from convert.pandoc import close_writers
from convert.process import die_with_parent, kill, leave_interrupt_to_parent, limit_address_space, quiet_stderr
from convert.runners.server import WARM_MODULE, worker_context

#: Environment variable naming a file each worker appends `<pid> <key>` to as it
#: starts a seed: what a stuck or killed worker held (README, "Troubleshooting").
TRACE_VARIABLE = "SEEDPRESS_TRACE"


@dataclass(frozen=True)
class SeedTask:
    """One seed to build, as handed to a worker."""

    path: str
    """The seed file."""
    key: str
    """Its safe key: the folder and file names under dist."""
    dist: str
    """The archive folder."""
    options: BuildOptions
    """How to build it (limits, styles, validation)."""


class WorkerSpent(Exception):
    """Raised by a worker asked for a seed after one of its seeds ran out of the memory
    limit: the seed goes back to the parent, for a fresh worker."""


def build_seed(task: SeedTask) -> Outcome:
    """Build one seed in a worker; never raises for a bad seed.

    A worker whose seed ran out of the memory limit builds no other: what that seed left
    (50 MiB and more after a collection: the heap does not shrink back) and the peak
    that tells a memory failure from any other would fail the next seeds, and record
    them as over the limit. It raises WorkerSpent for each seed it is handed after.
    """
    global _spent
    if _spent:
        raise WorkerSpent(task.key)
    if _started_queue is not None:
        _started_queue.put((os.getpid(), task.key))
    trace_start(task.key)
    started = time.perf_counter()
    try:
        outcome = build_input(Path(task.path), task.key, Path(task.dist), task.options)
    except Exception:
        # At the memory limit, handling the input's failure can fail in turn (a MemoryError
        # while the error is handled, a C library's SystemError): that is the limit too.
        if not reached_memory_limit():
            raise
        outcome = memory_failure(task.path, task.key, task.options, seconds=time.perf_counter() - started)
    _spent = outcome.limit is Limit.MEMORY
    return outcome


def trace_start(key: str) -> None:
    """Append `<pid> <key>` to the file SEEDPRESS_TRACE names, if it is set."""
    trace = os.environ.get(TRACE_VARIABLE)
    if trace:
        descriptor = os.open(trace, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(descriptor, f"{os.getpid()} {key}\n".encode())
        finally:
            os.close(descriptor)


def _let_go_of_server() -> None:
    """In a worker: close the end of the server's "alive" pipe that multiprocessing gives
    every forked child, so that the server outlives its children. A worker dies with its
    server instead (die_with_parent); holding that end, the workers and the server would
    keep each other alive after the run was killed. The server now exits when the run
    does, and takes the workers with it."""
    from multiprocessing import forkserver

    server = forkserver._forkserver
    descriptor = getattr(server, "_forkserver_alive_fd", None)
    if descriptor is not None:
        server._forkserver_alive_fd = None
        try:
            os.close(descriptor)
        except OSError:
            pass


#: In a worker: where it says which seed it starts, so the parent knows the suspects
#: when a worker dies.
_started_queue = None
#: In a worker: whether one of its seeds ran out of the memory limit (build_seed).
_spent = False


def _worker_init(memory_limit: int, started, formats: tuple[str, ...] = defaults.FORMATS) -> None:
    global _started_queue
    _started_queue = started
    # Die with the server it forked from, which exits when the run does: a killed job
    # must not leave workers rendering on.
    warm = sys.modules.get(WARM_MODULE)
    die_with_parent(warm.SERVER_PID if warm is not None else os.getppid())
    _let_go_of_server()
    leave_interrupt_to_parent()
    quiet_stderr()
    # Warm up before the memory limit applies: every seed after this renders
    # without importing WeasyPrint or looking for pandoc again.
    warm_up(formats)
    # A worker leaves by os._exit once multiprocessing has run its finalizers, never by
    # atexit's handlers: its pandoc writer is closed (and its folder in TMPDIR removed) by
    # one of those, or each worker of every run left an empty folder behind.
    util.Finalize(None, close_writers, exitpriority=10)
    limit_address_space(memory_limit)


def run_pool(
    tasks: Sequence[SeedTask], jobs: int, memory: int, on_outcome: Callable[[Outcome], None],
    stop: threading.Event | None = None,
) -> None:
    """Build every task on `jobs` warm workers, reporting each outcome; with
    `jobs` 0, in this process (run_in_process). Once `stop` is set (from another thread:
    its caller was interrupted), the workers are killed within WATCH_SECONDS and no more
    outcomes come.

    Workers are replaced every WORKER_TASKS seeds each to keep memory flat: by
    starting a fresh pool per batch, since ProcessPoolExecutor's own
    max_tasks_per_child deadlocks on Python 3.11-3.13 (CPython gh-115634). A
    worker that dies costs the seed it was building one retry; a seed whose
    worker dies defaults.WORKER_DEATHS times fails, and the seeds queued behind it are built anyway.
    """
    if jobs == 0:
        run_in_process(tasks, on_outcome)
        return
    stop = stop or threading.Event()
    attempts: dict[str, int] = {}
    pending = list(tasks)
    batch_size = jobs * defaults.WORKER_TASKS
    stalls = deaths_at_start = 0
    while pending and not stop.is_set():
        batch, pending = pending[:batch_size], pending[batch_size:]
        retry, stalled, died_at_start = _run_batch(batch, jobs, memory, on_outcome, attempts, stop)
        if stop.is_set():
            return
        again = []
        for task in retry:
            if attempts.get(task.key, 0) >= defaults.WORKER_DEATHS:
                on_outcome(Outcome.crashed(task.path, task.key))
            else:
                again.append(task)
        pending[:0] = again
        stalls = stalls + 1 if stalled else 0
        if stalls >= defaults.WORKER_DEATHS:
            raise RunStopped(f"no worker started a seed within {defaults.WORKER_START_TIMEOUT} s, "
                             f"{times(stalls)} in a row: the run stops ({_left(pending)})")
        # Workers that die before their first seed blame no seed, so nothing else ends this.
        deaths_at_start = deaths_at_start + 1 if died_at_start else 0
        if deaths_at_start >= defaults.WORKER_DEATHS:
            raise RunStopped(f"the workers exited as they started, {times(deaths_at_start)} in a row: the run "
                             f"stops ({_left(pending)}){_unguarded_script_hint()}")


def _left(pending: Sequence[SeedTask]) -> str:
    return f"{len(pending)} seed{'' if len(pending) == 1 else 's'} left to build"


def _unguarded_script_hint() -> str:
    """When seedpress was started by a script of the caller's own (not the `seedpress`
    command), the likeliest reason its workers exit as they start: multiprocessing runs the
    script again in each worker, and a call to seedpress at its top level then starts
    workers inside a worker, which Python refuses."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    script = getattr(main, "__file__", None)
    if script is None or (spec is not None and spec.name.partition(".")[0] == "convert") or \
            Path(script).name == "seedpress":
        return ""
    return (f"; {Path(script).name} is run again in each worker: call seedpress from it "
            'under `if __name__ == "__main__":`')


def run_in_process(tasks: Sequence[SeedTask], on_outcome: Callable[[Outcome], None]) -> None:
    """Build every task in this process, one after another (`--jobs 0`).

    No worker starts, which saves a process and its imports per run: for tests and
    debugging. The time limit still applies in the main thread; the memory limit does
    not (it would bound this process), and a crash in a C library ends the run instead
    of failing one seed.
    """
    if tasks:
        warm_up(tasks[0].options.formats)
    for task in tasks:
        trace_start(task.key)
        on_outcome(build_input(Path(task.path), task.key, Path(task.dist), task.options))


def _run_batch(
    batch: Sequence[SeedTask], jobs: int, memory: int, on_outcome: Callable[[Outcome], None],
    attempts: dict[str, int], stop: threading.Event,
) -> tuple[list[SeedTask], bool, bool]:
    """Run one pool over `batch`: the tasks to try again because a worker died or was spent
    (build_seed), whether the pool was stopped as stuck, and whether its workers died before
    any of them started a seed.

    Counts in `attempts` a death against each seed a dead worker had started. A worker that
    holds a seed defaults.HARD_TIMEOUT_MARGIN past its time limit (its alarm cannot stop
    C code that never returns to Python) is killed, and the seed fails on its time limit;
    a pool in which no worker has held a seed for defaults.WORKER_START_TIMEOUT is stopped
    (stuck before a seed, where no alarm is armed). No run waits for ever on a worker.
    """
    context = worker_context()
    started = context.SimpleQueue()
    watch = _Watch(started, {task.key: task for task in batch})
    unfinished: list[SeedTask] = []
    with ProcessPoolExecutor(max_workers=min(jobs, len(batch)), mp_context=context,
                             initializer=_worker_init,
                             initargs=(memory, started, batch[0].options.formats)) as pool:
        futures: dict = {}
        waiting: set = set()
        try:
            # In the try: a submit waits for the forkserver's warm-up, and Ctrl-C may come there.
            futures = {pool.submit(build_seed, task): task for task in batch}
            watch.futures = {task.key: future for future, task in futures.items()}
            watch.last_change = time.monotonic()  # the workers are forked: the wait for a first seed starts
            waiting = set(futures)
            while waiting and not stop.is_set():
                done, waiting = wait(waiting, timeout=WATCH_SECONDS, return_when=FIRST_COMPLETED)
                watch.read_starts()
                for future in done:
                    task = futures[future]
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        if task.key in watch.overdue:
                            on_outcome(time_failure(task.path, task.key, task.options,
                                                    seconds=watch.overdue[task.key]))
                        else:
                            unfinished.append(task)
                        continue
                    except WorkerSpent:
                        unfinished.append(task)  # never started: no death counted
                        continue
                    except Exception as error:  # noqa: BLE001 (an outcome that could not come back)
                        outcome = Outcome.failure(task.path, task.key, one_line(
                            f"{task.path}: the worker could not report it: {type(error).__name__}: {error}"))
                    watch.finished(task.key)
                    on_outcome(outcome)
                if waiting:
                    watch.stop_the_stuck(_workers(pool))
        except BaseException:
            # Interrupted (Ctrl-C): the seeds being built are not waited for; what is on
            # disk stays consistent as after `kill -9` (DESIGN §5).
            _stop_workers(pool, grace=0)
            raise
        _stop_workers(pool, grace=0 if waiting else defaults.WORKER_START_TIMEOUT)
    watch.read_starts()
    for task in unfinished:
        # Only the seeds a dead worker had started are suspects; the rest were queued. When
        # this process killed a worker, the others were stopped with it (the pool broke):
        # their seeds are not to blame.
        if task.key in watch.started and task.key not in watch.done and not watch.killed:
            attempts[task.key] = attempts.get(task.key, 0) + 1
    started.close()
    died_at_start = bool(unfinished) and not watch.started and not watch.stalled and not stop.is_set()
    return unfinished, watch.stalled, died_at_start


#: Seconds between two looks at the workers while no seed ends.
WATCH_SECONDS = 1.0


class _Watch:
    """What a pool's workers hold, from the `(pid, key)` each sends as it starts a seed, and
    the stopping of those that hold one too long."""

    def __init__(self, started, tasks: dict[str, SeedTask]):
        self.queue, self.tasks = started, tasks
        self.started: set[str] = set()
        self.done: set[str] = set()
        #: Seed key to (worker pid, when it started) of the seeds being built.
        self.running: dict[str, tuple[int, float]] = {}
        #: Seed key to seconds it had been held when its worker was killed.
        self.overdue: dict[str, float] = {}
        self.last_change = time.monotonic()
        #: Whether every worker was killed for holding no seed too long.
        self.stalled = False
        #: Whether this process killed a worker (an overdue one, or all of them as stalled).
        self.killed = False
        #: Seed key to its future, to spare a worker whose seed has just ended.
        self.futures: dict = {}

    def read_starts(self) -> None:
        while not self.queue.empty():
            pid, key = self.queue.get()
            self.started.add(key)
            self.running[key] = (pid, time.monotonic())
            self.last_change = time.monotonic()

    def finished(self, key: str) -> None:
        self.done.add(key)
        self.running.pop(key, None)
        self.last_change = time.monotonic()

    def stop_the_stuck(self, workers: list) -> None:
        """Kill each worker holding its seed past the seed's hard deadline; kill every worker
        when none has held a seed for WORKER_START_TIMEOUT (stuck before their first)."""
        self.read_starts()
        now = time.monotonic()
        for key, (pid, since) in list(self.running.items()):
            if now - since <= self.tasks[key].options.timeout + defaults.HARD_TIMEOUT_MARGIN:
                continue
            future = self.futures.get(key)
            if future is not None and future.done():
                continue  # it ended just now: its worker may be on the next seed
            self.overdue[key] = now - since
            del self.running[key]
            # A kill, not a stall: the clock of the wait for a seed starts again.
            self.last_change, self.killed = now, True
            kill(pid)
        if not self.running and now - self.last_change > defaults.WORKER_START_TIMEOUT:
            self.last_change, self.stalled, self.killed = now, True, True
            for worker in workers:
                kill(worker.pid)


def _workers(pool: ProcessPoolExecutor) -> list:
    """The pool's worker processes (empty before its first submit, and once it broke)."""
    return list((getattr(pool, "_processes", None) or {}).values())


def _stop_workers(pool: ProcessPoolExecutor, grace: float) -> None:
    """Shut `pool` down, killing any worker that has not exited `grace` seconds later (one
    stuck before its first seed never reads the call to exit, and the shutdown would wait
    for it for ever)."""
    workers = _workers(pool)  # before the shutdown, which lets go of them
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + grace
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.exitcode is None:
            kill(worker.pid)
            worker.join(10)
