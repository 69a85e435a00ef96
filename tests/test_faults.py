"""Faults while the archive job runs (issue 6): disk full, read-only dist, seeds changing
under it, workers killed, limits reached. Each leaves every good file intact, `verify`
clean, and the next run completes the rest.

The disk tests mount small tmpfs filesystems, which needs root (CI runs as root).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import multiprocessing
import os
import resource
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from support.archives import EDITIONS, MEMORY_LIMIT, TIME_LIMIT, write_big_seed, write_heavy_seed, write_seeds
from support.run import COMMAND_TIMEOUT, REAL_SEED, ROOT, seedpress, seedpress_command, seedpress_environment, wait_for

from convert import defaults
from convert.build.input import BuildOptions
from convert.build.limits import REPEAT_SECONDS, InputTimeout, time_limit
from convert.layout import BUNDLE_ENTRY, BUNDLE_NAME, CATALOG_NAME, METRICS_DIR_NAME, METRICS_FILE_NAME, archive_lock
from convert.runners.pool import TRACE_VARIABLE, SeedTask, _stop_workers, _Watch

pytestmark = pytest.mark.slow


def file_hashes(dist: Path) -> dict[str, str]:
    """The titles' files (not the run's own metrics in .metrics/, rewritten by every run)."""
    return {str(p.relative_to(dist)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in dist.glob("*/*") if p.is_file() and not p.name.startswith(".")
            and not p.parent.name.startswith(".")}


def assert_complete(seeds: Path, dist: Path) -> None:
    verified = seedpress("verify", "--dist", str(dist))
    assert verified.returncode == 0, verified.stderr
    for seed in seeds.glob("*.txt"):
        for edition in EDITIONS:
            assert (dist / seed.stem / f"{seed.stem}.{edition}").is_file(), (seed, edition)
        assert (dist / seed.stem / f"{seed.stem}.txt").read_bytes() == seed.read_bytes()


@contextmanager
def tmpfs(folder: Path, size: str):
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


@contextmanager
def archived_on_tmpfs(tmp_path: Path, size: str, built: int, added: int):
    """`built` seeds archived into a tmpfs of `size`, then `added` new seeds waiting:
    yields the seeds folder, the archive and the hashes of its good files."""
    seeds = tmp_path / "seeds"
    write_seeds(seeds, built)
    with tmpfs(tmp_path / "dist", size) as dist:
        assert seedpress("archive", str(seeds), "--dist", str(dist)).returncode == 0
        good = file_hashes(dist)
        write_seeds(seeds, added, start=built)
        yield seeds, dist, good


def test_disk_full_fails_cleanly_and_the_next_run_completes(tmp_path):
    with archived_on_tmpfs(tmp_path, "4m", built=2, added=3) as (seeds, dist, good):
        # A built seed changes too: its rebuild must not cost its last good files.
        edited = seeds / "article-0.txt"
        edited.write_text(edited.read_text("utf-8") + "\nAn edit.\n", "utf-8")
        # Leave about 40 KiB free: not enough for one more seed's files.
        free = os.statvfs(dist).f_bavail * os.statvfs(dist).f_frsize
        filler = dist / ".filler"
        filler.write_bytes(b"\0" * (free - 40 * 1024))
        full = seedpress("archive", str(seeds), "--dist", str(dist))
        assert full.returncode == 1
        assert "Traceback" not in full.stderr
        lines = full.stderr.strip().splitlines()
        assert lines and all(line.startswith("seedpress: ") for line in lines)
        assert any("No space left on device" in line or "disk is full" in line for line in lines), lines
        after = file_hashes(dist)
        assert {name: after.get(name) for name in good} == good, "a good file changed"
        assert not list(dist.glob("*/.*.tmp")), "temp files left behind"
        assert seedpress("verify", "--dist", str(dist)).returncode == 0
        filler.unlink()
        rerun = seedpress("archive", str(seeds), "--dist", str(dist))
        assert rerun.returncode == 0, rerun.stderr
        assert_complete(seeds, dist)


def test_read_only_dist_fails_with_one_line_and_touches_nothing(tmp_path):
    with archived_on_tmpfs(tmp_path, "4m", built=1, added=1) as (seeds, dist, good):
        subprocess.run(["mount", "-o", "remount,ro", str(dist)], check=True)
        try:
            result = seedpress("archive", str(seeds), "--dist", str(dist))
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(dist)], check=True)
        assert result.returncode == 1
        assert result.stderr.strip() == f"seedpress: {dist / '.lock'}: cannot open the lock: Read-only file system"
        assert file_hashes(dist) == good
        assert seedpress("verify", "--dist", str(dist)).returncode == 0
        assert seedpress("archive", str(seeds), "--dist", str(dist)).returncode == 0
        assert_complete(seeds, dist)


def _catalog(dist: Path) -> dict[str, tuple]:
    with sqlite3.connect(dist / ".catalog.sqlite") as connection:
        return {row[0]: row[1:] for row in connection.execute("SELECT key, status, source_sha256 FROM seeds")}


def test_worker_killed_mid_run_costs_nothing(tmp_path, spawn):
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 7)
    # A seed that keeps its worker busy for a while, so it is surely mid-build when killed.
    write_heavy_seed(seeds / "heavy.txt", paragraphs=2_000)
    dist, trace = tmp_path / "dist", tmp_path / "trace"
    job = spawn("archive", seeds, "--dist", dist, "--jobs", "2", "--json", env={TRACE_VARIABLE: str(trace)})

    def worker_holding_heavy() -> int | None:
        for line in trace.read_text().splitlines() if trace.exists() else ():
            pid, key = line.split()
            if key == "heavy":
                return int(pid)
        return None

    os.kill(wait_for(worker_holding_heavy, "a worker to start the heavy seed"), signal.SIGKILL)
    stdout, stderr = job.communicate(timeout=900)
    assert "Traceback" not in stderr
    # The seed the worker held is built again on a fresh pool.
    assert job.returncode == 0, stderr
    summary = json.loads(stdout.splitlines()[-1])["summary"]
    assert summary["built"] == 8 and summary["failed"] == 0
    assert_complete(seeds, dist)


def test_worker_that_stops_answering_is_killed_past_the_hard_deadline(tmp_path, spawn):
    """A worker stuck where its own alarm cannot reach (C code that never returns; here, a
    SIGSTOP) held a run for ever: CI once waited 900 s on one. It is killed HARD_TIMEOUT_MARGIN
    past the seed's time limit; the seed fails on its limit and the others are built. (With
    --timeout 1, an ordinary seed on a loaded machine missed its limit too.)"""
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 2)
    # First (by name), and long enough that its worker is surely mid-seed when stopped.
    heavy = write_heavy_seed(seeds / "aa-heavy.txt", paragraphs=2_000)
    dist, trace = tmp_path / "dist", tmp_path / "trace"
    job = spawn("archive", seeds, "--dist", dist, "--jobs", "1", "--timeout", TIME_LIMIT,
                env={TRACE_VARIABLE: str(trace)})

    def first_started() -> int | None:
        lines = trace.read_text().splitlines() if trace.exists() else []
        return int(lines[0].split()[0]) if lines else None

    pid = wait_for(first_started, "the worker to start its first seed")
    os.kill(pid, signal.SIGSTOP)
    # What it holds: the last seed it started (it writes no more once stopped).
    key = [line.split()[1] for line in trace.read_text().splitlines() if int(line.split()[0]) == pid][-1]
    assert key == "aa-heavy"
    _stdout, stderr = job.communicate(timeout=300)
    assert job.returncode == 1, stderr
    assert stderr == f"seedpress: {heavy}: took longer than the {TIME_LIMIT} s limit\n"
    assert not (dist / key).exists()
    others = [seed.stem for seed in seeds.glob("*.txt") if seed.stem != key]
    assert len(others) == 2 and all((dist / other / f"{other}.pdf").is_file() for other in others)
    assert seedpress("verify", "--dist", str(dist)).returncode == 0


#: Seeds the Ctrl-C tests start: the old code built all of them before it ended.
INTERRUPTED_SEEDS = 12


def interrupt_after_the_first_seed(spawn, trace: Path, *arguments, sent: signal.Signals = signal.SIGINT,
                                   ended: tuple[int, str] = (130, "seedpress: interrupted\n")) -> None:
    """Start seedpress with `arguments` on one worker, press Ctrl-C (or send `sent`) as the
    worker starts its first seed, and check that it ends at once as `ended` (exit code,
    stderr), its worker gone, most seeds never started."""
    job = spawn(*arguments, "--jobs", "1", env={TRACE_VARIABLE: str(trace)})
    wait_for(lambda: trace.exists() and trace.read_text(), "the worker to start its first seed")
    job.send_signal(sent)
    _stdout, stderr = job.communicate(timeout=300)
    assert (job.returncode, stderr) == ended
    worker = int(trace.read_text().split()[0])
    wait_for(lambda: not Path(f"/proc/{worker}").exists(), "the worker to be gone")
    assert len(trace.read_text().splitlines()) < INTERRUPTED_SEEDS


def test_ctrl_c_mid_run_stops_at_once_and_the_next_run_completes(tmp_path, spawn):
    """Ctrl-C waited for every seed of the workers' batch (up to 2 x 100) to be built before
    the run ended: it now kills the workers at once, as `kill -9` would."""
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    write_seeds(seeds, INTERRUPTED_SEEDS)
    interrupt_after_the_first_seed(spawn, tmp_path / "trace", "archive", seeds, "--dist", dist)
    rerun = seedpress("archive", str(seeds), "--dist", str(dist))
    assert rerun.returncode == 0, rerun.stderr
    assert_complete(seeds, dist)


def test_ctrl_c_mid_convert_stops_its_workers_at_once(tmp_path, spawn):
    """`convert` builds in a thread of its own: Ctrl-C in the main thread now stops it too,
    where the interpreter's exit waited for every input to be built."""
    paths = write_seeds(tmp_path / "seeds", INTERRUPTED_SEEDS)
    interrupt_after_the_first_seed(spawn, tmp_path / "trace", "convert", *paths, "--out", tmp_path / "out")


def test_workers_that_never_start_a_seed_are_killed():
    """A pool whose workers hold no seed and have started none for WORKER_START_TIMEOUT is
    stuck (before its first seed, where no alarm is armed): its workers are killed."""
    stuck = subprocess.Popen(["sleep", "600"])
    try:
        watch = _Watch(multiprocessing.SimpleQueue(), {})
        watch.last_change = time.monotonic() - defaults.WORKER_START_TIMEOUT + 60
        watch.stop_the_stuck([stuck])
        assert stuck.poll() is None and not watch.stalled  # not yet
        watch.last_change = time.monotonic() - defaults.WORKER_START_TIMEOUT - 1
        watch.running["busy"] = (os.getpid(), time.monotonic())
        watch.tasks["busy"] = SeedTask("busy.txt", "busy", "dist", BuildOptions())
        watch.stop_the_stuck([stuck])
        assert stuck.poll() is None  # a worker is building: the pool is not stuck
        del watch.running["busy"]
        watch.stop_the_stuck([stuck])
        assert stuck.wait(timeout=60) == -signal.SIGKILL
        assert watch.stalled
    finally:
        stuck.kill()
        stuck.wait()


def test_a_worker_killed_past_its_deadline_is_not_taken_for_a_stall():
    """Killing a worker that held its seed past the deadline (330 s by default) left no seed
    held, with the last start over 120 s before: every other worker was killed as stalled,
    and two such seeds stopped the run."""
    overdue, other = subprocess.Popen(["sleep", "600"]), subprocess.Popen(["sleep", "600"])
    try:
        options = BuildOptions()
        watch = _Watch(multiprocessing.SimpleQueue(), {"slow": SeedTask("slow.txt", "slow", "dist", options)})
        long_ago = time.monotonic() - options.timeout - defaults.HARD_TIMEOUT_MARGIN - 1
        watch.running["slow"], watch.last_change = (overdue.pid, long_ago), long_ago
        watch.stop_the_stuck([other])
        assert overdue.wait(timeout=60) == -signal.SIGKILL
        assert "slow" in watch.overdue and watch.killed
        assert not watch.stalled and other.poll() is None
    finally:
        for process in (overdue, other):
            process.kill()
            process.wait()


def test_a_worker_that_does_not_exit_does_not_hold_the_pool_shutdown():
    """The end of a pool waits `grace` seconds for its workers to exit, then kills them: a
    worker that never reads the call to exit would hold the run for ever."""
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("forkserver"))
    try:
        assert pool.submit(os.getpid).result(timeout=120) > 0
        workers = list(pool._processes.values())
        os.kill(workers[0].pid, signal.SIGSTOP)
        started = time.monotonic()
        _stop_workers(pool, grace=1)
        # Gone (its exit status is read by the pool's thread too, which may see 255).
        wait_for(lambda: not Path(f"/proc/{workers[0].pid}").exists(), "the worker to be gone")
        assert time.monotonic() - started < 60
    finally:
        for worker in workers:
            worker.kill()
        pool.shutdown(wait=True)


def test_seed_edited_and_deleted_mid_run(tmp_path, spawn):
    seeds = tmp_path / "seeds"
    paths = write_seeds(seeds, 8)
    dist, trace = tmp_path / "dist", tmp_path / "trace"
    job = spawn("archive", seeds, "--dist", dist, "--jobs", "1", env={TRACE_VARIABLE: str(trace)})
    wait_for(trace.exists, "the worker to start its first seed")
    edited, deleted = paths[-1], paths[-2]
    edited.write_text(edited.read_text("utf-8") + "\nAn edit made while the job ran.\n", "utf-8")
    deleted.unlink()
    _stdout, stderr = job.communicate(timeout=900)
    assert "Traceback" not in stderr
    assert job.returncode in (0, 1)
    if job.returncode == 1:
        assert stderr.strip() == f"seedpress: {deleted}: cannot read: No such file or directory"
    # Whatever was built is what the catalog says it was built from.
    for key, (status, sha256) in _catalog(dist).items():
        if status == "built":
            assert hashlib.sha256((dist / key / f"{key}.txt").read_bytes()).hexdigest() == sha256
    assert seedpress("verify", "--dist", str(dist)).returncode == 0
    rerun = seedpress("archive", str(seeds), "--dist", str(dist))
    assert rerun.returncode == 0, rerun.stderr
    assert_complete(seeds, dist)
    assert "An edit made while the job ran." in (dist / edited.stem / f"{edited.stem}.md").read_text("utf-8")
    assert not (dist / deleted.stem).exists()


def test_seed_over_the_time_limit_fails_and_the_others_are_built(tmp_path):
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 2)
    slow = write_heavy_seed(seeds / "slow.txt")
    dist = tmp_path / "dist"
    result = seedpress("archive", str(seeds), "--dist", str(dist), "--timeout", TIME_LIMIT, "--jobs", "1")
    assert result.returncode == 1
    assert result.stderr.strip() == f"seedpress: {slow}: took longer than the {TIME_LIMIT} s limit"
    assert not (dist / "slow").exists()
    assert seedpress("verify", "--dist", str(dist)).returncode == 0
    assert all((dist / f"article-{i}" / f"article-{i}.pdf").is_file() for i in range(2))


def test_a_time_limit_that_lands_in_a_finalizer_comes_again(monkeypatch):
    # Python drops what a finalizer raises (WeasyPrint's FontConfiguration.__del__ runs at
    # any garbage collection), so an alarm taken there must come again, and say nothing.
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    class Spinning:
        def __del__(self):
            while True:  # until the alarm stops it
                pass

    handler = signal.getsignal(signal.SIGALRM)
    taken_in_the_work = False
    with pytest.raises(InputTimeout):
        with time_limit(1):
            Spinning()  # its finalizer runs at once and takes the first alarm
            deadline = time.monotonic() + 60
            try:
                while time.monotonic() < deadline:
                    time.sleep(0.01)
            except InputTimeout:
                taken_in_the_work = True
                raise
    assert taken_in_the_work
    assert unraisable == [] and sys.unraisablehook == unraisable.append
    assert signal.getsignal(signal.SIGALRM) is handler
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def busy(seconds: float) -> None:
    """Work (in Python, where an alarm can land) for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_a_time_limit_lets_its_own_cleanup_run():
    # What handles the alarm (stops pandoc, which has two seconds to exit) runs to its end:
    # an alarm raised into it left a half-closed writer that failed the next seed.
    cleaned = []
    with pytest.raises(InputTimeout):
        with time_limit(1):
            try:
                busy(60)
            except InputTimeout:
                busy(4 * REPEAT_SECONDS)
                try:
                    raise OSError("an error met while cleaning up")
                except OSError:
                    busy(4 * REPEAT_SECONDS)
                cleaned.append("except")
                raise
            finally:
                busy(4 * REPEAT_SECONDS)
                cleaned.append("finally")
    assert cleaned == ["except", "finally"]
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_time_limit_that_is_swallowed_comes_again():
    # A library that swallows the alarm (`except BaseException: pass`) does not end the limit.
    swallowed = []
    with pytest.raises(InputTimeout):
        with time_limit(1):
            try:
                busy(60)
            except BaseException as error:
                swallowed.append(error)
            busy(60)
    assert [type(error) for error in swallowed] == [InputTimeout]


def test_what_a_finalizer_raises_under_a_time_limit_is_still_reported(monkeypatch):
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    class Failing:
        def __del__(self):
            raise ValueError("from a finalizer")

    with time_limit(60):
        Failing()
    assert [str(report.exc_value) for report in unraisable] == ["from a finalizer"]


def test_seed_over_the_memory_limit_fails_cleanly(tmp_path):
    """The big seed comes first: the worker it ran out of memory in builds no other seed
    (what it left failed the next one, recorded as over the limit too)."""
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 1)
    big = write_big_seed(seeds / "aa-big.txt")
    dist = tmp_path / "dist"
    result = seedpress("archive", str(seeds), "--dist", str(dist), "--memory", MEMORY_LIMIT, "--jobs", "1")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith(f"seedpress: {big}: ")
    assert "memory" in line or "died" in line, line
    assert not (dist / "aa-big").exists()
    assert (dist / "article-0" / "article-0.pdf").is_file()
    assert seedpress("verify", "--dist", str(dist)).returncode == 0


def run_probe(source: str, *arguments: str, env: dict[str, str] | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess:
    """`source` run by this Python in a process of its own (`-c`), seedpress from this
    checkout and tests/support importable: for what a test cannot do to its own process
    (an address-space limit, a malloc setting)."""
    return subprocess.run([sys.executable, "-c", source, *arguments], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}", **(env or {})},
                          timeout=timeout)


SPENT_PROBE = r"""
import sys
from pathlib import Path
from support.archives import write_big_seed
from support.probes import address_space
from support.run import REAL_SEED
from convert.build.input import BuildOptions, warm_up
from convert.process import limit_address_space, set_up_for_rendering
from convert.runners import pool

set_up_for_rendering()  # as a worker's server does, before any thread
out = Path(sys.argv[1])
big = write_big_seed(out / "big.txt")
warm_up(BuildOptions().formats)
# As a worker is: warm, with 120 MiB of address space to spare.
size = address_space()
options = BuildOptions(memory=size + 120 * 2**20)
limit_address_space(options.memory)
print(pool.build_seed(pool.SeedTask(str(big), "big", str(out), options)).limit.value)
try:
    pool.build_seed(pool.SeedTask(str(REAL_SEED), "real", str(out), options))
except pool.WorkerSpent as spent:
    print("spent", spent)
"""


def test_a_worker_whose_seed_ran_out_of_memory_builds_no_other(tmp_path):
    """What a seed that ran out of the limit leaves (the heap does not shrink back, and the
    peak stays at the limit) failed the worker's next seed, recorded as over the limit too."""
    probe = run_probe(SPENT_PROBE, str(tmp_path))
    assert probe.stdout.splitlines() == ["memory", "spent real"], probe.stderr
    assert not (tmp_path / "real").exists()


ARENA_PROBE = r"""
import ctypes
import convert.runners.warm  # the workers' server: its preload renders the warm title
from convert.editions import pdf

# New font patterns (serif, monospace, CJK, emoji) each start a thread of Pango's.
pdf.load_weasyprint().HTML(string='<p style="font-family: serif">a</p><pre>b</pre>'
                                  '<p lang="ja">日本語の文</p><p>😀</p>').write_pdf()
ctypes.CDLL(None).malloc_stats()  # on stderr: one "Arena N:" block per arena
"""


def test_the_workers_server_keeps_every_thread_on_one_malloc_arena():
    """Pango matches fonts in threads, and glibc gave each an arena of 64 MiB of address space
    that the server and every worker forked from it kept: as many as the timing made, so a
    fresh worker took 290 or 355 MiB of a 400 MiB limit, and an ordinary seed failed as
    over the limit (test_seed_over_the_memory_limit_fails_cleanly, once in seven runs).
    Without process.one_malloc_arena the probe reports three arenas."""
    probe = run_probe(ARENA_PROBE, env={"SEEDPRESS_DEBUG": "1"})
    assert probe.returncode == 0, probe.stderr
    arenas = [line for line in probe.stderr.splitlines() if line.startswith("Arena ")]
    assert arenas == ["Arena 0:"], probe.stderr


#: The `ulimit -s` the large-stack tests run under: a thread's stack as large as it is would
#: not fit under their memory limits.
LARGE_STACK = 2**30


def under_a_large_stack_limit(command: list[str], address_space_kib: int | None = None) -> list[str]:
    """`command` run by the shell with a soft `ulimit -s` of LARGE_STACK (and `ulimit -v` of
    `address_space_kib`); the test is skipped where the hard limit is lower. The shell sets
    them: a preexec_fn is not safe in a process with threads."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    if hard != resource.RLIM_INFINITY and hard < LARGE_STACK:
        pytest.skip(f"the hard stack limit here is {hard} bytes")
    limits = f"ulimit -S -s {LARGE_STACK // 1024}"
    if address_space_kib is not None:
        limits += f" && ulimit -S -v {address_space_kib}"
    return ["sh", "-c", f'{limits} && exec "$@"', "sh", *command]


def test_a_large_stack_limit_is_not_taken_from_the_seeds_memory(tmp_path):
    """glibc reserves the whole stack of a new thread up front, as large as `ulimit -s`, and the
    memory limit counts it; Pango starts a thread for each font pattern. Under a 1 GiB
    `ulimit -s`, every seed failed at the tests' --memory as over the limit (where it is
    64 MiB, a worker near its limit died in GLib's `creating thread`): a thread started by
    a worker or its server reserves at most process.THREAD_STACK_SIZE."""
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    write_seeds(seeds, 2)
    command = under_a_large_stack_limit(
        seedpress_command("archive", seeds, "--dist", dist, "--memory", MEMORY_LIMIT, "--jobs", "1"))
    result = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, cwd=ROOT,
                            env=seedpress_environment())
    assert result.returncode == 0, result.stderr
    assert_complete(seeds, dist)


def test_a_build_in_the_commands_own_process_under_the_shells_limits_keeps_its_threads_small(tmp_path):
    """`ulimit -v` in the shell limits `seedpress convert --jobs 0` without --memory's worker:
    under a 1 GiB `ulimit -s` as well, Pango's first thread could not be made and GLib
    ended the command (exit 133, not a word). A render under any address-space limit
    bounds the stacks of the threads started after it."""
    out = tmp_path / "out"
    command = under_a_large_stack_limit(seedpress_command("convert", REAL_SEED, "--out", out, "--jobs", "0"),
                                        address_space_kib=1536 * 1024)
    result = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, cwd=ROOT,
                            env=seedpress_environment())
    assert result.returncode == 0, result.stderr
    assert sorted(path.suffix for path in (out / REAL_SEED.stem).iterdir()) == [".docx", ".epub", ".md", ".pdf"]


MEMORY_PROBE = r"""
import resource, sys
from pathlib import Path
from convert.build.input import BuildOptions, failed_render
from convert.errors import RenderError

def wrapped(cause):
    try:
        try:
            raise cause
        except Exception as error:
            raise RenderError("pdf", "s.txt", f"WeasyPrint failed: {error}") from error
    except RenderError as error:
        return error

def line(error):
    return failed_render(error, Path("s.txt"), "s", BuildOptions(), seconds=0.0).error

before = [line(wrapped(SystemError("error return without exception set"))),
          line(RenderError("pdf", "s.txt", "did not pass its gate"))]
# The address space this process has used, as the limit: it is now within 5% of it.
peak = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmPeak:"))
resource.setrlimit(resource.RLIMIT_AS, (peak + (1 << 20), resource.RLIM_INFINITY))
after = [line(wrapped(SystemError("error return without exception set"))),
         line(RenderError("pdf", "s.txt", "did not pass its gate"))]
print("\n".join(before + after))
"""


SEED_TASK_PROBE = r"""
import resource
import convert.runners.pool as pool
from convert.build.input import BuildOptions

def failing_in_turn(*_arguments):
    # What the worker met at the limit, rarely and not on demand: the input's failure could
    # not be handled either, and a C library's SystemError left build_input.
    raise SystemError("error return without exception set")

pool.build_input = failing_in_turn
task = pool.SeedTask("s.txt", "s", "dist", BuildOptions())
try:
    pool.build_seed(task)
except SystemError as error:
    print(f"raised: {error}")
peak = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmPeak:"))
resource.setrlimit(resource.RLIMIT_AS, (peak + (1 << 20), resource.RLIM_INFINITY))
outcome = pool.build_seed(task)
print(f"{outcome.status.value}: {outcome.error}")
"""


def test_an_error_that_leaves_the_build_at_the_memory_limit_is_the_limit():
    """A worker's error that escapes build_input near the address-space limit is that seed's
    memory failure, not "the worker could not report it" (seen once under load); far from
    the limit it is raised, as a bug is."""
    result = run_probe(SEED_TASK_PROBE, timeout=120)
    assert result.returncode == 0, result.stderr
    far, near = result.stdout.splitlines()
    assert far == "raised: error return without exception set"
    assert near.startswith("failed: s.txt: ran out of the ") and near.endswith(" MiB memory limit"), near


def test_a_c_librarys_error_near_the_memory_limit_is_said_as_the_limit():
    """cairo or Pango failing to allocate raise SystemError, which the PDF renderer wraps: near
    the address-space limit that is the memory limit, said as such; far from it, or for one
    of seedpress's own checks, the error as it is."""
    result = run_probe(MEMORY_PROBE, timeout=120)
    assert result.returncode == 0, result.stderr
    far_wrapped, far_gate, near_wrapped, near_gate = result.stdout.splitlines()
    assert far_wrapped == "s.txt: pdf: WeasyPrint failed: error return without exception set"
    assert near_wrapped.startswith("s.txt: ran out of the ") and near_wrapped.endswith(" MiB memory limit")
    assert far_gate == near_gate == "s.txt: pdf: did not pass its gate"


def readme_python_api() -> str:
    """The README's Python API example, as a reader copies it."""
    text = (ROOT / "README.md").read_text("utf-8")
    return text.split("### The Python API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


def run_script(source: str, folder: Path, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
    """`source` as a script in `folder` beside seeds/a.txt (the real seed), seedpress from this
    checkout with the workers it chooses itself, as a user's script runs."""
    (folder / "seeds").mkdir()
    shutil.copyfile(REAL_SEED, folder / "seeds" / "a.txt")
    (folder / "example.py").write_text(source, "utf-8")
    return subprocess.run([sys.executable, "example.py"], cwd=folder, capture_output=True, text=True,
                          timeout=timeout, env=seedpress_environment({defaults.JOBS_VARIABLE: None}))


def test_the_readmes_python_api_example_runs_as_written(tmp_path):
    result = run_script(readme_python_api(), tmp_path)
    assert result.returncode == 0, result.stderr
    converted, archived, bagged = result.stdout.splitlines()
    assert converted == "built out/a/a.pdf"
    assert archived.startswith("1 built, 0 unchanged, 0 failed, 0 withdrawn in ")
    assert bagged.startswith(f"{tmp_path / 'deposit'}: a BagIt 1.0 bag of 1 seed ")


def test_a_script_calling_seedpress_without_the_main_guard_is_told_so_at_once(tmp_path):
    """Workers run a script again as they start (multiprocessing), so the README's calls at a
    script's top level start workers inside each worker, which Python refuses: the run stops
    with the reason, instead of starting new workers for ever, and writes nothing."""
    guarded = readme_python_api()
    body = guarded.split("def main() -> None:\n", 1)[1].split("\n\nif __name__", 1)[0]
    unguarded = guarded.split("def main()", 1)[0] + textwrap.dedent(body) + "\n"
    assert "__main__" not in unguarded and "convert.convert_paths" in unguarded
    # A generous deadline: the run stops within seconds, and before it stopped, it never did.
    result = run_script(unguarded, tmp_path, timeout=240)
    assert result.returncode == 1 and result.stdout == ""
    assert ("convert.errors.RunStopped: the workers exited as they started, twice in a row: the run stops "
            "(1 seed left to build); example.py is run again in each worker: call seedpress from it under "
            '`if __name__ == "__main__":`\n') in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["example.py", "seeds"]


def test_sigterm_mid_run_stops_it_records_it_and_the_next_run_completes(tmp_path, spawn):
    """systemctl stop (and TimeoutStartSec) sends SIGTERM: the run ended where it stood, exit
    143 with no word, and neither the catalog's runs nor the metrics said so, so `status`
    showed the run before. It now stops as at Ctrl-C, says so, and is recorded."""
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    write_seeds(seeds, INTERRUPTED_SEEDS)
    interrupt_after_the_first_seed(spawn, tmp_path / "trace", "archive", seeds, "--dist", dist,
                                   sent=signal.SIGTERM, ended=(143, "seedpress: stopped by SIGTERM\n"))
    with sqlite3.connect(dist / CATALOG_NAME) as catalog:
        (last,) = catalog.execute("SELECT exit_code, error FROM runs ORDER BY id DESC LIMIT 1")
    catalog.close()
    assert last == (143, "stopped by SIGTERM")
    assert "seedpress_archive_run_exit_code 143.0" in (dist / METRICS_DIR_NAME / METRICS_FILE_NAME).read_text()
    rerun = seedpress("archive", str(seeds), "--dist", str(dist))
    assert rerun.returncode == 0, rerun.stderr
    assert_complete(seeds, dist)


@pytest.fixture
def hanging_pagefind(tmp_path):
    """A stand-in for a Pagefind that never ends (a large first index on a slow disk): it
    notes its pid, then sleeps. Yields its path and the file of pids; whatever the test
    did, every one still there is killed when it ends."""
    started, stand_in = tmp_path / "pagefind-started", tmp_path / "pagefind"
    stand_in.write_text(f'#!/bin/sh\necho $$ >> "{started}"\nexec sleep 3600\n')
    stand_in.chmod(0o755)
    yield stand_in, started
    for pid in (started.read_text().split() if started.exists() else ()):
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize(("sent", "ended"), [(signal.SIGTERM, (143, "stopped by SIGTERM")),
                                             (signal.SIGINT, (130, "interrupted"))])
def test_a_stop_while_pagefind_indexes_kills_it_and_the_run_is_recorded(tmp_path, spawn, hanging_pagefind,
                                                                         sent, ended):
    """systemctl stop (or a kill) while the hand-out's search index was made ended the run and
    left Pagefind running, and writing in dist, after it; a stop as the pages were written
    waited for Pagefind (up to 600 s a run, past systemd's 90 s stop timeout). The run now
    kills its Pagefind runs, removes what they half made, and is recorded as stopped."""
    stand_in, started = hanging_pagefind
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    write_seeds(seeds, 2)
    job = spawn("archive", seeds, "--dist", dist, env={"PAGEFIND_BINARY_PATH": str(stand_in)})
    pid = wait_for(lambda: started.exists() and int(started.read_text().split()[0]), "Pagefind to start")
    job.send_signal(sent)
    _stdout, stderr = job.communicate(timeout=300)  # under the 600 s a Pagefind run may take
    assert (job.returncode, stderr) == (ended[0], f"seedpress: {ended[1]}\n")
    assert not Path(f"/proc/{pid}").exists(), "Pagefind outlived the run"
    assert started.read_text().split() == [str(pid)], "no Pagefind started after the stop"
    assert not list(dist.glob(".pagefind*")) and not (dist / BUNDLE_NAME).exists()
    with sqlite3.connect(dist / CATALOG_NAME) as catalog:
        (last,) = catalog.execute("SELECT exit_code, error FROM runs ORDER BY id DESC LIMIT 1")
    catalog.close()
    assert last == ended
    rerun = seedpress("archive", str(seeds), "--dist", str(dist))  # with the real Pagefind
    assert rerun.returncode == 0, rerun.stderr
    assert_complete(seeds, dist)
    assert (dist / BUNDLE_NAME / BUNDLE_ENTRY).is_file()


def test_sigterm_while_restore_hands_out_kills_its_pagefind(tmp_path, spawn, hanging_pagefind):
    """`restore` had no SIGTERM handling: it ended where it stood, and left its Pagefind
    running and writing in dist."""
    stand_in, started = hanging_pagefind
    seeds, dist, empty = tmp_path / "seeds", tmp_path / "dist", tmp_path / "empty"
    write_seeds(seeds, 2)
    empty.mkdir()
    assert seedpress("archive", str(seeds), "--dist", str(dist)).returncode == 0
    assert seedpress("archive", str(empty), "--dist", str(dist), "--allow-mass-withdraw").returncode == 0
    job = spawn("restore", "--all", "--dist", dist, env={"PAGEFIND_BINARY_PATH": str(stand_in)})
    pid = wait_for(lambda: started.exists() and int(started.read_text().split()[0]), "Pagefind to start")
    job.send_signal(signal.SIGTERM)
    _stdout, stderr = job.communicate(timeout=300)  # under the 600 s a Pagefind run may take
    assert (job.returncode, stderr) == (143, "seedpress: stopped by SIGTERM\n")
    assert not Path(f"/proc/{pid}").exists(), "Pagefind outlived the command"
    assert not list(dist.glob(".pagefind-*"))
    rerun = seedpress("archive", str(seeds), "--dist", str(dist))
    assert rerun.returncode == 0, rerun.stderr
    assert_complete(seeds, dist)


def test_verify_while_an_archive_run_writes_waits_for_the_run_and_records_its_end_state(tmp_path, spawn,
                                                                                        hanging_pagefind):
    """verify run while an archive run rebuilt titles read the archive half-way through:
    every file the run had replaced and SHA256SUMS not yet written again was a failed
    check, and went into the fixity history (and from there into the bag). It now waits,
    saying so, for the run to end, and checks what the run left."""
    stand_in, started = hanging_pagefind
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    write_seeds(seeds, 2)
    assert seedpress("archive", str(seeds), "--dist", str(dist)).returncode == 0
    # Every title is built again (a new author), and the run then holds on its search index.
    run = spawn("archive", seeds, "--dist", dist, "--author", "New Author",
                env={"PAGEFIND_BINARY_PATH": str(stand_in)})
    pid = wait_for(lambda: started.exists() and int(started.read_text().split()[0]), "Pagefind to start")
    checker = spawn("verify", "--dist", dist)
    wait_for(lambda: select.select([checker.stderr], [], [], 0)[0], "verify to say something", timeout=300)
    said = checker.stderr.readline()
    assert said == f"seedpress: {dist}: an archive run is writing it: verify waits for it to end\n"
    assert checker.poll() is None and run.poll() is None
    os.kill(pid, signal.SIGKILL)  # the run goes on: its search index failed, a warning
    _stdout, run_said = run.communicate(timeout=COMMAND_TIMEOUT)
    assert run.returncode == 0, run_said
    stdout, stderr = checker.communicate(timeout=COMMAND_TIMEOUT)
    assert (checker.returncode, stderr) == (0, ""), stdout
    assert stdout == f"{dist}: every file matches the catalog and SHA256SUMS\n"
    with sqlite3.connect(dist / CATALOG_NAME) as catalog:
        assert catalog.execute("SELECT problems FROM fixity_checks").fetchall() == [("[]",)]
    catalog.close()


def test_an_archive_run_while_verify_reads_says_so_and_changes_nothing(archive_of_one):
    """A run refused the lock said "another archive run holds the lock" while a verify was
    reading the archive; it now says what holds it."""
    seeds, dist = archive_of_one
    (seeds / "new.txt").write_bytes((seeds / "article-0.txt").read_bytes().replace(b"Article", b"New article", 1))
    descriptor = os.open(dist / ".lock", os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH)  # as a verify under way holds it
        result = seedpress("archive", str(seeds), "--dist", str(dist))
    finally:
        os.close(descriptor)
    assert (result.returncode, result.stderr) == (75, f"seedpress: {dist / '.lock'}: seedpress verify is reading "
                                                      "the archive: run again when it ends\n")
    assert not (dist / "new").exists()


@pytest.mark.parametrize("holder", ["bag", "restore"])
def test_what_holds_the_lock_is_named_by_the_commands_it_keeps_waiting(archive_of_one, spawn, holder):
    """While `seedpress bag` (or restore) held the archive, a run refused was told "another
    archive run holds the lock", verify that "an archive run is writing it", and status that
    "an archive run is under way". Each now names the command that holds it, which writes its
    word in dist/.lock (real flock, held by archive_lock in this process), and clears it after."""
    seeds, dist = archive_of_one
    with archive_lock(dist, holder):
        assert (dist / ".lock").read_text() == f"{holder}\n"
        refused = seedpress("archive", str(seeds), "--dist", str(dist))
        status = seedpress("status", "--dist", str(dist), "--json")
        text = seedpress("status", "--dist", str(dist))
        checker = spawn("verify", "--dist", dist)
        wait_for(lambda: select.select([checker.stderr], [], [], 0)[0], "verify to say something")
        said = checker.stderr.readline()
        assert checker.poll() is None
    stdout, stderr = checker.communicate(timeout=COMMAND_TIMEOUT)
    name = {"bag": "seedpress bag", "restore": "seedpress restore"}[holder]
    assert (refused.returncode, refused.stderr) == (75, f"seedpress: {dist / '.lock'}: {name} holds the lock\n")
    assert json.loads(status.stdout)["held_by"] == holder and json.loads(status.stdout)["run_under_way"]
    assert f"now: {name} is " in text.stdout and "an archive run" not in text.stdout
    doing = {"bag": "seedpress bag is reading it for a deposit", "restore": "seedpress restore is writing it"}[holder]
    assert said == f"seedpress: {dist}: {doing}: verify waits for it to end\n"
    assert (checker.returncode, stderr) == (0, ""), stdout
    assert (dist / ".lock").read_text() == ""
    assert json.loads(seedpress("status", "--dist", str(dist), "--json").stdout)["held_by"] is None


@pytest.mark.parametrize("link", ["symbolic", "hard"])
def test_a_lock_file_planted_as_a_link_to_another_file_is_never_written(archive_of_one, tmp_path, link):
    """The holder's word is written into dist/.lock (and cleared after): a .lock planted as a
    link to someone's file would have had that file truncated. Such a lock is only locked."""
    seeds, dist = archive_of_one
    precious = tmp_path / "precious.txt"
    precious.write_bytes(b"someone's data\n")
    (dist / ".lock").unlink()
    if link == "symbolic":
        (dist / ".lock").symlink_to(precious)
    else:
        os.link(precious, dist / ".lock")
    result = seedpress("archive", str(seeds), "--dist", str(dist))
    assert result.returncode == 0, result.stderr
    assert precious.read_bytes() == b"someone's data\n"


def test_a_lock_held_by_another_program_whatever_its_file_says_is_an_archive_runs(archive_of_one):
    """The lock file is anyone's to write: any text but a command's word is read as none."""
    seeds, dist = archive_of_one
    with open(dist / ".lock", "rb+") as lock:
        lock.write(b"\x1b[31mrm -rf /\n" * 3)
        lock.flush()
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = seedpress("archive", str(seeds), "--dist", str(dist))
    assert (result.returncode, result.stderr) == (75, f"seedpress: {dist / '.lock'}: another archive run holds "
                                                      "the lock\n")


def test_verify_of_an_archive_on_a_read_only_disk_checks_it_and_says_why_it_is_not_recorded(archive_of_one,
                                                                                             tmp_path):
    """It said SQLite's "attempt to write a readonly database"."""
    _seeds, dist = archive_of_one
    with tmpfs(tmp_path / "disk", "16m") as disk:
        shutil.copytree(dist, disk / "dist")
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        result = seedpress("verify", "--dist", str(disk / "dist"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == (f"seedpress: {disk / 'dist' / CATALOG_NAME}: read-only (a read-only disk, or no "
                             "permission to write it); this check is not recorded\n")


def test_a_stop_signal_while_the_run_is_recorded_waits_for_the_record(tmp_path, monkeypatch):
    """SIGTERM arriving as a finished run was being recorded lost the record (exit 143, and
    `status` showed the run before). It is now held back until the record is written."""
    from convert import jobs
    from convert.cli import signals_as_exceptions
    from convert.errors import Stopped

    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    seeds.mkdir()
    recording = jobs._report_run

    def signalled_while_recording(*arguments, **keywords):
        os.kill(os.getpid(), signal.SIGTERM)  # a real signal, at the worst moment
        return recording(*arguments, **keywords)

    monkeypatch.setattr(jobs, "_report_run", signalled_while_recording)
    with pytest.raises(Stopped), signals_as_exceptions((signal.SIGTERM,)):
        jobs.run_archive(seeds, dist, jobs.JobOptions(jobs=0))
    with sqlite3.connect(dist / CATALOG_NAME) as catalog:
        assert catalog.execute("SELECT exit_code, error FROM runs").fetchall() == [(0, None)]
    catalog.close()
    assert (dist / METRICS_DIR_NAME / METRICS_FILE_NAME).is_file()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


LINE_PROBE = r"""
from support.probes import address_space
from convert.document.seed import parse_seed
from convert.editions import Settings, pdf
from convert.process import limit_address_space, set_up_for_rendering

# As the workers' server does before it warms up: one malloc arena (a thread's new arena
# took 64 MiB of the limit at once, more than a line's headroom, and a thread Pango
# started in the same line failed: once in twelve runs on a loaded machine), freed memory
# kept, small stacks.
set_up_for_rendering()
pdf.load_weasyprint().HTML(string="<p>warm</p>").write_pdf()
text = ("Big\n\nA big seed.\n\nRead the original article here\n\n"
        + "\n\n".join(" ".join(f"w{word}" for word in range(1_000)) for _ in range(400)))
document = parse_seed(text.encode(), "big.txt")
size = address_space()
# Room for some pages, not all: the limit is met while lines are laid out, inside Pango.
limit_address_space(size + pdf.MEMORY_HEADROOM + 40 * 2**20)
try:
    pdf.render_bytes(document, Settings())
except MemoryError as error:
    print("MemoryError:", error)
"""


def test_a_pdf_that_runs_out_of_the_limit_while_its_lines_are_laid_out_raises_memory_error():
    """Pango allocates for every line laid out or drawn, and GLib aborts the process when an
    allocation fails: each line starts only with pdf.MEMORY_HEADROOM of the address-space
    limit to spare, so that running out there is a MemoryError, as in Python, and the
    process lives to record the seed as over the limit."""
    probe = run_probe(LINE_PROBE)
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.strip() == "MemoryError: no room left under the address-space limit for another line", \
        (probe.stdout, probe.stderr[-2000:])


ENTRY_PROBE = r"""
from pathlib import Path

from support.probes import SMALL_SEED, address_space
from convert.document.seed import parse_seed
from convert.editions import Settings, pdf
from convert.process import bound_thread_stacks, limit_address_space

bound_thread_stacks()
weasyprint = pdf.load_weasyprint()  # imported, but no font map yet: the render starts Pango's
document = parse_seed(SMALL_SEED, "a.txt")
# What render_bytes does before its check (the page, its parse, the stylesheet) done once
# here, so that the little room left is all there is when the check comes.
settings = Settings()
weasyprint.HTML(string=pdf.to_html(document, settings))
pdf.print_stylesheet(Path(settings.styles), pdf.styles_fetcher(settings.styles))
size = address_space()
limit_address_space(size + pdf.MEMORY_HEADROOM // 8)  # less room than a thread's stack
try:
    pdf.render_bytes(document, settings)
except MemoryError as error:
    print("MemoryError:", error)
"""


def test_a_pdf_begun_with_too_little_of_the_limit_left_raises_memory_error():
    """What comes before the PDF (a seed of 200,000 short paragraphs: its master, its pandoc
    request) can leave less of the limit than Pango needs to start: its font map's first
    thread (FcInit) could not be made, and GLib aborted the process. The render is not
    begun then. Without that check the probe dies in `creating thread '[pango] FcInit'`."""
    probe = run_probe(ENTRY_PROBE)
    assert (probe.returncode, probe.stdout.strip()) == (
        0, "MemoryError: no room left under the address-space limit for a PDF"), probe.stderr[-2000:]


def test_the_line_check_leaves_no_file_open_with_or_without_a_limit():
    """The check reads /proc/self/statm through a descriptor of its own: none is left open
    after a PDF, whether the process has an address-space limit (checked) or not."""
    probe = run_probe(r"""
import os, resource
from support.probes import SMALL_SEED
from convert.document.seed import parse_seed
from convert.editions import Settings, pdf
document = parse_seed(SMALL_SEED, "a.txt")
pdf.render_bytes(document, Settings())
before = sorted(os.listdir("/proc/self/fd"))
for limit in (resource.RLIM_INFINITY, 3 * 2**30):
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
    for _ in range(3):
        pdf.render_bytes(document, Settings())
    print(sorted(os.listdir("/proc/self/fd")) == before)
""")
    assert probe.stdout.split() == ["True", "True"], probe.stderr[-2000:]


def test_renders_that_check_their_lines_end_in_any_order_and_each_checks_its_own():
    """Two renders under a limit whose checks end in the other order than they began (two
    threads): WeasyPrint's steps stay wrapped once, no descriptor is left open, and a
    render after them still checks against its own ceiling (refused at its start here;
    its lines' check is the line probe's, test_a_pdf_that_runs_out_of_the_limit_…)."""
    probe = run_probe(r"""
import os, resource
from weasyprint.layout import inline
from support.probes import SMALL_SEED
from convert.document.seed import parse_seed
from convert.editions import Settings, pdf
document = parse_seed(SMALL_SEED, "a.txt")
pdf.render_bytes(document, Settings())
wrapped, before = inline.get_next_linebox, sorted(os.listdir("/proc/self/fd"))
resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, resource.RLIM_INFINITY))
first, second = pdf._memory_checked_per_line(), pdf._memory_checked_per_line()
first.__enter__(); second.__enter__(); first.__exit__(None, None, None); second.__exit__(None, None, None)
print(inline.get_next_linebox is wrapped, sorted(os.listdir("/proc/self/fd")) == before)
pdf.render_bytes(document, Settings())
pdf.MEMORY_HEADROOM = 3 * 2**30 - 2**20  # a ceiling of 1 MiB: the render is refused
try:
    pdf.render_bytes(document, Settings())
except MemoryError as error:
    print(error)
""")
    assert probe.stdout.splitlines() == ["True True", "no room left under the address-space limit for a PDF"], \
        (probe.stdout, probe.stderr[-2000:])
