"""The archive's workers: warm processes that each build one seed at a time.

Workers fork from one server a run (multiprocessing's forkserver) that imported
WeasyPrint, found pandoc and drew a page once (runners/warm.py); each builds
seed after seed under an address-space limit. Workers are replaced every
WORKER_TASKS seeds to keep memory flat, by new forks of the same warm server. A
worker that dies costs the seed it held one try of defaults.WORKER_DEATHS.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from convert import defaults
from convert.build.input import BuildOptions, build_input, memory_failure, one_line, warm_up
from convert.build.limits import reached_memory_limit
from convert.build.outcome import Outcome
from convert.process import die_with_parent, leave_interrupt_to_parent, limit_address_space, quiet_stderr
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


def build_seed(task: SeedTask) -> Outcome:
    """Build one seed in a worker; never raises for a bad seed."""
    if _started_queue is not None:
        _started_queue.put(task.key)
    trace_start(task.key)
    started = time.perf_counter()
    try:
        return build_input(Path(task.path), task.key, Path(task.dist), task.options)
    except Exception:
        # At the memory limit, handling the input's failure can fail in turn (a MemoryError
        # while the error is handled, a C library's SystemError): that is the limit too.
        if not reached_memory_limit():
            raise
    return memory_failure(task.path, task.key, task.options, seconds=time.perf_counter() - started)


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
    limit_address_space(memory_limit)


def run_pool(
    tasks: Sequence[SeedTask], jobs: int, memory: int, on_outcome: Callable[[Outcome], None],
) -> None:
    """Build every task on `jobs` warm workers, reporting each outcome; with
    `jobs` 0, in this process (run_in_process).

    Workers are replaced every WORKER_TASKS seeds each to keep memory flat: by
    starting a fresh pool per batch, since ProcessPoolExecutor's own
    max_tasks_per_child deadlocks on Python 3.11-3.13 (CPython gh-115634). A
    worker that dies costs the seed it was building one retry; a seed whose
    worker dies defaults.WORKER_DEATHS times fails, and the seeds queued behind it are built anyway.
    """
    if jobs == 0:
        run_in_process(tasks, on_outcome)
        return
    attempts: dict[str, int] = {}
    pending = list(tasks)
    batch_size = jobs * defaults.WORKER_TASKS
    while pending:
        batch, pending = pending[:batch_size], pending[batch_size:]
        retry = _run_batch(batch, jobs, memory, on_outcome, attempts)
        for task in retry:
            if attempts.get(task.key, 0) >= defaults.WORKER_DEATHS:
                on_outcome(Outcome.crashed(task.path, task.key))
            else:
                pending.insert(0, task)


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
    attempts: dict[str, int],
) -> list[SeedTask]:
    """Run one pool over `batch`; the tasks to try again because a worker died.

    Counts in `attempts` a death against each seed a dead worker had started.
    """
    context = worker_context()
    started = context.SimpleQueue()
    finished: set[str] = set()
    unfinished: list[SeedTask] = []
    with ProcessPoolExecutor(max_workers=min(jobs, len(batch)), mp_context=context,
                             initializer=_worker_init,
                             initargs=(memory, started, batch[0].options.formats)) as pool:
        futures = {pool.submit(build_seed, task): task for task in batch}
        waiting = set(futures)
        while waiting:
            done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            for future in done:
                task = futures[future]
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    unfinished.append(task)
                    continue
                except Exception as error:  # noqa: BLE001 (an outcome that could not come back)
                    outcome = Outcome.failure(task.path, task.key, one_line(
                        f"{task.path}: the worker could not report it: {type(error).__name__}: {error}"))
                finished.add(task.key)
                on_outcome(outcome)
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
