"""Benchmark of `archive --cluster` against the local pool on one machine (issue 14).

    .venv/bin/python bench/cluster.py [--n 200]

Builds N real-looking seeds (as bench/archive.py makes them) into fresh
archives: on a Dask scheduler with two 1-thread workers started here (`dask
worker --nworkers 2 --nthreads 1`), first while its renderers start, as every
pool run starts its workers; then --rounds times the local pool of 2
processes and the warm cluster, interleaved, so that other load on the
machine falls on both. Prints the best times, their ratio (target: at most
1.25), the driver's peak RSS, the bytes the driver sent to and received from
the cluster per seed (counted on its Dask connections), and the CPU time of
the Dask processes themselves per seed. Checks that every archive holds the
same bytes. Not run by `make test`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from archive import make_seeds  # noqa: E402  (bench/archive.py: the same seeds)

sys.path.insert(0, str(ROOT / "tests"))
from support.run import seedpress_environment  # noqa: E402  (tests/support: the tests' own helpers)
from support.servers import free_port  # noqa: E402

EPOCH = "1700000000"
#: Set in the driver process that `--driver` runs: where it writes what it counted.
COUNTS_VARIABLE = "SEEDPRESS_BENCH_COUNTS"


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    return seedpress_environment({"SOURCE_DATE_EPOCH": EPOCH, **(extra or {})})


def dask(*arguments: str, log: Path) -> subprocess.Popen:
    with open(log, "ab") as output:
        return subprocess.Popen([sys.executable, "-m", "dask", *arguments], stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True, env=environment(
                                    {"DASK_TEMPORARY_DIRECTORY": str(log.parent / "scratch")}))


def wait_for_workers(address: str, count: int) -> None:
    script = ("import sys; from distributed import Client\n"
              "with Client(sys.argv[1], timeout=60, set_as_default=False) as c: c.wait_for_workers(int(sys.argv[2]), 180)")
    subprocess.run([sys.executable, "-c", script, address, str(count)], check=True, env=environment())


def run_measured(command: list[str], env: dict[str, str]) -> tuple[float, int, subprocess.CompletedProcess]:
    """Run `command`; its wall time and the peak RSS (KiB) of that process alone."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak, done = 0, threading.Event()

    def poll() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                status = Path(f"/proc/{process.pid}/status").read_text()
                peak = max(peak, int(status.split("VmHWM:")[1].split()[0]))
            except (OSError, IndexError, ValueError):
                pass
            done.wait(0.05)

    poller = threading.Thread(target=poll)
    poller.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    poller.join()
    completed = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({completed.returncode}):\n{stderr}")
    return seconds, peak, completed


def digests(dist: Path) -> dict[str, str]:
    """The archive's files by path, but the run's own (its metrics in .metrics/, which every
    run writes anew with its own figures)."""
    return {str(p.relative_to(dist)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(dist.glob("*/*")) if p.is_file() and not p.name.startswith(".")
            and not p.parent.name.startswith(".")}


def driver(arguments: list[str]) -> int:
    """`seedpress ARGUMENTS` in this process, counting the bytes its Dask connections
    write and read; the counts go to the file $SEEDPRESS_BENCH_COUNTS."""
    from distributed.comm import tcp

    from convert.cli import main

    counted = {"sent": 0, "received": 0}
    write, from_frames = tcp.TCP.write, tcp.from_frames

    async def counting_write(self, *args, **kwargs):
        written = await write(self, *args, **kwargs)
        counted["sent"] += written
        return written

    async def counting_from_frames(frames, *args, **kwargs):
        counted["received"] += sum(memoryview(frame).nbytes for frame in frames)
        return await from_frames(frames, *args, **kwargs)

    tcp.TCP.write, tcp.from_frames = counting_write, counting_from_frames
    code = main(arguments)
    Path(os.environ[COUNTS_VARIABLE]).write_text(json.dumps(counted))
    return code


def dask_cpu_seconds(sessions: list[subprocess.Popen]) -> float:
    """CPU time so far of the Dask processes themselves (scheduler, nannies, workers), not
    of the renderers and pandoc writers under them: what the cluster adds to the renders."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        # fields[2] is the process group; [11], [12] are utime, stime in clock ticks
        if int(fields[2]) in {s.pid for s in sessions} and b"cluster_renderer" not in command \
                and b"pandoc" not in command:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--n", type=int, default=200)
    options.add_argument("--rounds", type=int, default=2, help="pool and warm cluster runs, interleaved")
    arguments = options.parse_args()
    n = arguments.n
    work = Path(tempfile.mkdtemp(prefix="seedpress-bench-cluster-"))
    processes: list[subprocess.Popen] = []
    try:
        seeds = work / "seeds"
        make_seeds(seeds, n, random.Random(20261127))
        port = free_port()
        address = f"tcp://127.0.0.1:{port}"
        processes.append(dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
                              log=work / "scheduler.log"))
        processes.append(dask("worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard",
                              log=work / "workers.log"))
        wait_for_workers(address, 2)
        load = os.getloadavg()[0]

        def pool(name: str):
            return run_measured([sys.executable, "-m", "convert.cli", "archive", str(seeds), "--dist",
                                 str(work / name), "--jobs", "2"], environment())

        def cluster(name: str):
            counts = work / f"counts-{name}.json"
            cpu = dask_cpu_seconds(processes)
            seconds, rss, _completed = run_measured(
                [sys.executable, __file__, "--driver", "archive", str(seeds), "--dist", str(work / name),
                 "--cluster", address], environment({COUNTS_VARIABLE: str(counts)}))
            return seconds, rss, json.loads(counts.read_text()), dask_cpu_seconds(processes) - cpu

        # The first cluster run starts the renderers, as every pool run starts its workers.
        cold = cluster("cluster-cold")
        pools, warms = [], []
        for round_ in range(arguments.rounds):
            pools.append(pool(f"pool-{round_}")[:2])
            warms.append(cluster(f"cluster-{round_}"))
        runs = {name: digests(work / name) for name in
                ["cluster-cold", *(f"pool-{r}" for r in range(arguments.rounds)),
                 *(f"cluster-{r}" for r in range(arguments.rounds))]}
        first = runs["pool-0"]
        differing = sorted({path for files in runs.values() for path in set(files) | set(first)
                            if files.get(path) != first.get(path)})
        same = not differing
        pool_best, warm_best = min(pools), min(warms)

        print(f"N={n} seeds, {os.cpu_count()} cores (load average {load:.1f} at the start); pool: 2 processes; "
              f"cluster: dask scheduler + 2 workers x 1 thread on this machine; best of {arguments.rounds}")
        print(f"{'run':<38} {'seconds':>8} {'per seed':>9} {'vs pool':>8} {'driver peak RSS':>16} "
              f"{'sent/seed':>10} {'received/seed':>14} {'Dask CPU/seed':>14}")
        print(f"{'local pool (--jobs 2)':<38} {pool_best[0]:8.2f} {pool_best[0] / n:8.3f}s {1:8.2f} "
              f"{pool_best[1] / 1024:12.0f} MiB {'-':>10} {'-':>14} {'-':>14}")
        for label, (seconds, rss, counted, cpu) in (("cluster, first run (renderers start)", cold),
                                                   ("cluster, warm", warm_best)):
            print(f"{label:<38} {seconds:8.2f} {seconds / n:8.3f}s {seconds / pool_best[0]:8.2f} "
                  f"{rss / 1024:12.0f} MiB {counted['sent'] / n / 1024:6.1f} KiB "
                  f"{counted['received'] / n / 1024:10.1f} KiB {cpu / n * 1000:10.1f} ms")
        print(f"all runs (s): pool {', '.join(f'{p[0]:.1f}' for p in pools)}; cluster {cold[0]:.1f} (first), "
              f"{', '.join(f'{w[0]:.1f}' for w in warms)}")
        print(f"cluster / pool = {cold[0] / pool_best[0]:.2f} first run, {warm_best[0] / pool_best[0]:.2f} warm "
              f"(target: at most 1.25); identical files in every run: {'yes' if same else 'NO'}")
        if differing:
            print(f"files that differ between runs ({len(differing)}): {', '.join(differing[:10])}")
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--driver"]:
        sys.exit(driver(sys.argv[2:]))
    main()
