"""`archive --cluster` against a real Dask scheduler and real `dask worker` processes on
127.0.0.1 (DESIGN §12, issue 14): the same bytes as the pool, workers killed, a seed that
kills its renderer, a worker with other fonts, the limits, the scheduler killed, and no
`distributed` installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.archives import EDITIONS, TIME_LIMIT, write_big_seed, write_heavy_seed, write_seeds
from support.run import BUILD_EPOCH, DATA, ROOT, seedpress, wait_for
from support.servers import free_port

from convert.defaults import CATALOGUED_EDITIONS
from convert.runners.pool import TRACE_VARIABLE

pytestmark = pytest.mark.cluster

#: Seconds a Dask process may take to start and register; generous for a loaded machine.
STARTUP = 180
EPOCH = {"SOURCE_DATE_EPOCH": str(BUILD_EPOCH)}


def dask(*arguments: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A `dask` command in a session of its own, so that stopping it by its PID stops its
    nannies, workers and their renderers with it."""
    with open(log, "ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "dask", *arguments], stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=log.parent,
            env={**os.environ, "PYTHONPATH": str(ROOT), "DASK_TEMPORARY_DIRECTORY": str(log.parent / "scratch"),
                 **(env or {})},
        )


def stop_group(process: subprocess.Popen) -> None:
    """Kill the process's session (it leads it) and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=60)


WORKERS_SCRIPT = """
import json, os, sys
from distributed import Client
with Client(sys.argv[1], timeout=30, set_as_default=False) as client:
    print(json.dumps(client.run(os.getpid)))
"""


def workers_of(address: str) -> dict[str, int]:
    """Each worker's address and process id, as the scheduler knows them now."""
    completed = subprocess.run([sys.executable, "-c", WORKERS_SCRIPT, address], capture_output=True, text=True,
                               timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen]
    trace: Path
    """The file every renderer appends `<pid> <key>` to as it starts a seed."""
    folder: Path

    def wait_for_workers(self, count: int) -> dict[str, int]:
        return wait_for(lambda: (found := workers_of(self.address)) and len(found) == count and found,
                        f"{count} workers on {self.address}", timeout=STARTUP, interval=0.5)

    def add_workers(self, count: int, env: dict[str, str] | None = None) -> subprocess.Popen:
        process = dask("worker", self.address, "--nworkers", str(count), "--nthreads", "1", "--no-dashboard",
                       log=self.folder / "workers.log",
                       env={TRACE_VARIABLE: str(self.trace), **(env or {})})
        self.workers.append(process)
        return process

    def started(self, key: str) -> list[int]:
        """The renderer processes that started the seed `key`, in order."""
        lines = self.trace.read_text().splitlines() if self.trace.exists() else []
        return [int(pid) for pid, started in (line.split() for line in lines) if started == key]


@contextmanager
def dask_cluster(folder: Path, workers: int, scheduler_env: dict[str, str] | None = None):
    """A scheduler on a free loopback port and `workers` one-thread workers under one nanny
    command; everything is killed on the way out, whatever the test did."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    scheduler = dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
                     log=folder / "scheduler.log", env=scheduler_env)
    cluster = Cluster(f"tcp://127.0.0.1:{port}", scheduler, [], folder / "trace", folder)
    try:
        cluster.add_workers(workers)
        cluster.wait_for_workers(workers)
        yield cluster
    finally:
        for process in [*cluster.workers, scheduler]:
            stop_group(process)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One scheduler and two one-thread workers for the module (`dask worker --nworkers 2`)."""
    with dask_cluster(tmp_path_factory.mktemp("cluster"), workers=2) as running:
        yield running


@pytest.fixture
def two_workers(cluster) -> Cluster:
    """The module's cluster with its two workers registered (one killed by an earlier test
    is back), and a fresh trace."""
    cluster.wait_for_workers(2)
    cluster.trace.write_text("")
    return cluster


def file_digests(dist: Path) -> dict[str, str]:
    return {str(path.relative_to(dist)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(dist.glob("*/*"))
            # Not the run's own metrics (.metrics/): its duration is no file of the archive.
            if path.is_file() and not path.name.startswith(".") and not path.parent.name.startswith(".")
            and path.parent.name != "pagefind"}


def assert_complete(seeds: Path, dist: Path) -> None:
    verified = seedpress("verify", "--dist", dist)
    assert verified.returncode == 0, verified.stderr
    for seed in seeds.glob("*.txt"):
        for edition in EDITIONS:
            assert (dist / seed.stem / f"{seed.stem}.{edition}").is_file(), (seed, edition)


def ended(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_cluster_build_is_byte_identical_to_the_pool_build(two_workers, tmp_path):
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 3)
    # Emoji and CJK: the fonts WeasyPrint subsets are the likeliest place for a difference.
    shutil.copyfile(DATA / "multiscript.txt", seeds / "multiscript.txt")
    on_cluster = seedpress("archive", seeds, "--dist", tmp_path / "cluster", "--cluster", two_workers.address,
                           env=EPOCH)
    assert on_cluster.returncode == 0, on_cluster.stderr
    assert on_cluster.stderr == ""
    on_pool = seedpress("archive", seeds, "--dist", tmp_path / "pool", "--jobs", "2", env=EPOCH)
    assert on_pool.returncode == 0, on_pool.stderr
    cluster_files = file_digests(tmp_path / "cluster")
    # Each seed's five files, its cover and thumbnail, its two citation files and its landing page.
    assert len(cluster_files) == 4 * len(CATALOGUED_EDITIONS)
    assert cluster_files == file_digests(tmp_path / "pool")
    assert_complete(seeds, tmp_path / "cluster")
    # Every seed was rendered once, by a renderer of the workers.
    assert all(len(two_workers.started(key)) == 1 for key in ("article-0", "article-1", "article-2", "multiscript"))
    unchanged = seedpress("archive", seeds, "--dist", tmp_path / "cluster", "--cluster", two_workers.address)
    assert unchanged.returncode == 0 and "0 built, 4 unchanged" in unchanged.stdout


def test_worker_killed_mid_run_costs_nothing(two_workers, tmp_path, spawn):
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 5)
    # A seed that keeps its renderer busy for a while, so that it is surely mid-build.
    write_heavy_seed(seeds / "heavy.txt", paragraphs=2_000)
    dist = tmp_path / "dist"
    job = spawn("archive", seeds, "--dist", dist, "--cluster", two_workers.address, "--json")
    renderer = wait_for(lambda: two_workers.started("heavy"), "a renderer to start the heavy seed")[0]
    worker = int(Path(f"/proc/{renderer}/stat").read_text().split()[3])
    os.kill(worker, signal.SIGKILL)
    stdout, stderr = job.communicate(timeout=600)
    assert job.returncode == 0, stderr
    assert stderr == ""
    summary = json.loads(stdout.splitlines()[-1])["summary"]
    assert summary["built"] == 6 and summary["failed"] == 0
    assert_complete(seeds, dist)
    # Its seed was built again by another renderer, and the orphaned one did not render on.
    assert len(two_workers.started("heavy")) == 2
    wait_for(lambda: ended(renderer), "the killed worker's renderer to end with it")


def test_seed_that_kills_its_renderer_fails_and_the_others_are_built(two_workers, tmp_path, spawn):
    """A seed every renderer dies on (killed from outside here, as the kernel's OOM killer
    would): it fails after two deaths; the Dask workers live on and build the rest."""
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 3)
    poison = write_heavy_seed(seeds / "poison.txt", paragraphs=2_000)
    dist = tmp_path / "dist"
    job = spawn("archive", seeds, "--dist", dist, "--cluster", two_workers.address)
    killed: set[int] = set()

    def kill_whoever_renders_it() -> None:
        while job.poll() is None:
            for pid in set(two_workers.started("poison")) - killed:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            threading.Event().wait(0.02)

    killer = threading.Thread(target=kill_whoever_renders_it)
    killer.start()
    try:
        _stdout, stderr = job.communicate(timeout=600)
    finally:
        killer.join()
    assert job.returncode == 1
    assert stderr == f"seedpress: {poison}: the worker building it died twice (killed, or out of memory)\n"
    assert len(killed) == 2
    assert not (dist / "poison").exists()
    assert all((dist / f"article-{i}" / f"article-{i}.pdf").is_file() for i in range(3))
    assert seedpress("verify", "--dist", dist).returncode == 0
    assert len(workers_of(two_workers.address)) == 2


def test_seed_whose_dask_workers_die_fails_once_dask_gives_up(tmp_path, spawn):
    """The other death: the Dask worker itself, killed while it holds a seed. The scheduler
    gives the seed to another worker until distributed.scheduler.allowed-failures (here 0,
    so that one death is enough); then it fails, and the restarted worker builds the rest."""
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 2)
    # Last in name order: sent after the others, so no other seed waits on its worker; heavy
    # enough to be still rendering when the others' files are written.
    doomed_seed = write_heavy_seed(seeds / "zz-doomed.txt", paragraphs=5_000)
    dist = tmp_path / "dist"
    with dask_cluster(tmp_path / "cluster", workers=1,
                      scheduler_env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}) as own:
        own.trace.write_text("")
        job = spawn("archive", seeds, "--dist", dist, "--cluster", own.address)
        renderer = wait_for(lambda: own.started("zz-doomed"), "a renderer to start the doomed seed")[0]
        # Killed only once the driver holds the others' results (their files are written):
        # a result still on the dying worker would be lost with it, and its seed fail too.
        wait_for(lambda: all((dist / f"article-{i}" / f"article-{i}.pdf").is_file() for i in range(2)),
                 "the other seeds' files")
        os.kill(int(Path(f"/proc/{renderer}/stat").read_text().split()[3]), signal.SIGKILL)
        _stdout, stderr = job.communicate(timeout=600)
    assert job.returncode == 1
    assert stderr == (f"seedpress: {doomed_seed}: the cluster workers building it died, more often than "
                      "distributed.scheduler.allowed-failures allows\n")
    assert not (dist / "zz-doomed").exists()
    assert all((dist / f"article-{i}" / f"article-{i}.pdf").is_file() for i in range(2))
    assert seedpress("verify", "--dist", dist).returncode == 0


def extra_font_config(folder: Path) -> Path:
    """A fontconfig file for the system's fonts plus one more font in a folder of its own:
    a machine where someone installed a font."""
    fonts = folder / "fonts"
    fonts.mkdir(parents=True)
    listed = subprocess.run(["fc-list", "--format", "%{file}\n"], capture_output=True, text=True, check=True)
    font = next(Path(line) for line in listed.stdout.splitlines() if line.endswith((".ttf", ".otf")))
    shutil.copyfile(font, fonts / f"extra{font.suffix}")
    config = folder / "fonts.conf"
    config.write_text(f"""<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig>
  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>
  <dir>{fonts}</dir>
  <cachedir>{folder / "cache"}</cachedir>
</fontconfig>
""")
    return config


def test_worker_with_other_fonts_is_refused(two_workers, tmp_path):
    other_fonts = {"FONTCONFIG_FILE": str(extra_font_config(tmp_path / "fontconfig"))}
    before = set(workers_of(two_workers.address))
    third = two_workers.add_workers(1, env=other_fonts)
    try:
        (refused,) = set(two_workers.wait_for_workers(3)) - before
        seeds = tmp_path / "seeds"
        write_seeds(seeds, 3)
        result = seedpress("archive", seeds, "--dist", tmp_path / "dist", "--cluster", two_workers.address)
        assert result.returncode == 0, result.stderr
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"seedpress: {two_workers.address}: refused 1 of 3 workers: their environment differs")
        assert line.endswith(f": {refused}")
        assert_complete(seeds, tmp_path / "dist")
        renderers = {pid for i in range(3) for pid in two_workers.started(f"article-{i}")}
        assert renderers and all(ended(pid) or os.getpgid(pid) != third.pid for pid in renderers)

        # A driver with fonts of its own, which no worker has: nothing can render for it.
        alone = seedpress("archive", seeds, "--dist", tmp_path / "alone", "--cluster", two_workers.address,
                          env={"FONTCONFIG_FILE": str(extra_font_config(tmp_path / "driver-fonts"))})
        assert alone.returncode == 2
        (line,) = alone.stderr.splitlines()
        assert line.startswith(f"seedpress: {two_workers.address}: no worker can render for this machine: "
                               "the environment of every one of the 3 differs")
        assert not (tmp_path / "alone" / "article-0").exists()
    finally:
        stop_group(third)
        two_workers.workers.remove(third)


def test_time_and_memory_limits_hold_on_the_cluster(two_workers, tmp_path):
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 1)
    heavy = write_heavy_seed(seeds / "heavy.txt")
    slow = seedpress("archive", seeds, "--dist", tmp_path / "slow", "--cluster", two_workers.address,
                     "--timeout", TIME_LIMIT)
    assert slow.returncode == 1
    assert slow.stderr == f"seedpress: {heavy}: took longer than the {TIME_LIMIT} s limit\n"
    assert (tmp_path / "slow" / "article-0" / "article-0.pdf").is_file()
    heavy.unlink()
    big_seed = write_big_seed(seeds / "big.txt")
    big = seedpress("archive", seeds, "--dist", tmp_path / "big", "--cluster", two_workers.address,
                    "--memory", "280")
    assert big.returncode == 1
    (line,) = big.stderr.splitlines()
    assert line.startswith(f"seedpress: {big_seed}: ") and ("memory" in line or "died" in line), line
    assert (tmp_path / "big" / "article-0" / "article-0.pdf").is_file()
    for dist, seed in (("slow", "heavy"), ("big", "big")):
        assert not (tmp_path / dist / seed).exists()
        assert seedpress("verify", "--dist", tmp_path / dist).returncode == 0


def test_scheduler_killed_mid_run_stops_with_one_line_and_a_rerun_completes(two_workers, tmp_path, spawn):
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 8)
    dist = tmp_path / "dist"
    with dask_cluster(tmp_path / "doomed", workers=1) as doomed:
        job = spawn("archive", seeds, "--dist", dist, "--cluster", doomed.address)
        wait_for(lambda: any(dist.glob("*/*.pdf")), "the first seed's files")
        os.kill(doomed.scheduler.pid, signal.SIGKILL)
        stdout, stderr = job.communicate(timeout=600)
    assert job.returncode == 1
    assert "Traceback" not in stderr
    (line,) = stderr.splitlines()
    assert line.startswith(f"seedpress: {doomed.address}: ") and "run again" in line, line
    # What was built is committed and handed out: the archive verifies as it is.
    assert seedpress("verify", "--dist", dist).returncode == 0
    rerun = seedpress("archive", seeds, "--dist", dist, "--cluster", two_workers.address)
    assert rerun.returncode == 0, rerun.stderr
    assert_complete(seeds, dist)


@pytest.mark.parametrize("how", ["option", "variable"])
def test_cluster_without_distributed_installed_exits_2(tmp_path, how):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "distributed.py").write_text('raise ImportError("No module named \'distributed\'")\n')
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    write_seeds(seeds, 1)
    address = "tcp://127.0.0.1:8786"
    arguments = ["--cluster", address] if how == "option" else []
    result = seedpress("archive", seeds, "--dist", dist, *arguments,
                       env={"PYTHONPATH": f"{shim}{os.pathsep}{ROOT}", "SEEDPRESS_CLUSTER": address})
    assert result.returncode == 2
    assert result.stderr == ("seedpress: --cluster needs Dask distributed, which is not installed: "
                             "pip install 'seedpress[cluster]'\n")
    assert not dist.exists()
