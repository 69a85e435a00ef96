"""Profile of one warm worker (issue 25): CPU milliseconds per seed, stage by stage.

    .venv/bin/python bench/profile_worker.py [--n 20] [--cprofile 25]

Builds --n generated seeds (bench/archive.py's) serially in this process, as an
archive worker does after its warm-up, and prints for each stage the CPU time
of this process (time.process_time, which a loaded machine does not inflate
the way it does wall-clock time) per seed, the wall time beside it, and the
CPU time the long-lived `pandoc lua` child spent (from /proc), then the build's CPU
split into user and kernel time and its page faults a seed (malloc set up as in a
worker: process.set_up_for_rendering). Stages nest:
the cover is part of the EPUB, the wait for pandoc part of EPUB and DOCX (sent before the PDF).
With --cprofile, the top entries of cProfile by cumulative time as well.
Not run by `make test`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from archive import make_seeds  # noqa: E402

CPU: dict[str, float] = defaultdict(float)
WALL: dict[str, float] = defaultdict(float)


def timed_stage(name: str, function):
    """`function`, adding its CPU and wall time to stage `name` on each call."""
    def wrapper(*arguments, **keywords):
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return function(*arguments, **keywords)
        finally:
            CPU[name] += time.process_time() - cpu
            WALL[name] += time.perf_counter() - wall
    return wrapper


def children_cpu() -> float:
    """CPU seconds (user + system) the live children of this process have used."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def instrument() -> None:
    """Wrap each stage of a build in a timer (this benchmark's process only)."""
    import weasyprint.document

    from convert import pandoc
    from convert.build import input as build
    from convert.editions import docx, epub, gates

    weasyprint.HTML.render = timed_stage("pdf: layout (HTML.render)", weasyprint.HTML.render)
    weasyprint.document.Document.write_pdf = timed_stage("pdf: write_pdf", weasyprint.document.Document.write_pdf)
    epub.cover_png = timed_stage("epub: cover PNG", epub.cover_png)
    build.thumbnail_png = timed_stage("thumbnail PNG (of the cover)", build.thumbnail_png)
    epub.submit_document = timed_stage("epub: pandoc send", epub.submit_document)
    docx.submit_document = timed_stage("docx: pandoc send", docx.submit_document)
    # The wait for pandoc's answers, after the PDF was laid out meanwhile.
    pandoc.Pending.result = timed_stage("epub+docx: wait for pandoc", pandoc.Pending.result)
    build.RENDERERS.update({name: timed_stage(name, function) for name, function in build.RENDERERS.items()})
    for name, module in build.PANDOC_EDITIONS.items():
        module.finish = timed_stage(name, module.finish)
    build.GATES = {name: timed_stage(f"{name} gate", function) for name, function in gates.GATES.items()}
    build.check_epub = timed_stage("epub gate", build.check_epub)
    build.write_all = timed_stage("write files", build.write_all)
    build.parse_seed = timed_stage("parse seed", build.parse_seed)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--n", type=int, default=20)
    options.add_argument("--cprofile", type=int, default=0, help="print this many cProfile entries")
    arguments = options.parse_args()

    from convert.build.input import BuildOptions, build_input, warm_up
    from convert.process import set_up_for_rendering

    set_up_for_rendering()  # as the workers' server does, before anything else
    warm = time.process_time()
    warm_up(BuildOptions().formats)
    warm = time.process_time() - warm
    instrument()
    work = Path(tempfile.mkdtemp(prefix="seedpress-profile-"))
    seeds = make_seeds(work / "seeds", arguments.n + 1, random.Random(20261127))
    build_options = BuildOptions(keep_seed=True)
    # The first seed warms what the first render loads (fonts, the pandoc process).
    first = time.process_time()
    build_input(seeds[0], "warm", work / "dist", build_options)
    first = time.process_time() - first
    CPU.clear()
    WALL.clear()
    profiler = cProfile.Profile() if arguments.cprofile else None
    child_cpu = children_cpu()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    for index, seed in enumerate(seeds[1:]):
        outcome = build_input(seed, f"seed{index}", work / "dist", build_options)
        assert outcome.status.value == "built", outcome.error
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    child_cpu = children_cpu() - child_cpu
    used = resource.getrusage(resource.RUSAGE_SELF)
    n = arguments.n
    print(f"{n} seeds, serial, one warm process; load average {os.getloadavg()[0]:.1f}"
          f"{' (cProfile on: figures inflated)' if profiler else ''}")
    print(f"warm-up (import WeasyPrint, find pandoc): {warm * 1000:.0f} ms CPU; first seed: {first * 1000:.0f} ms CPU")
    print(f"{'stage':<30} {'CPU ms/seed':>12} {'wall ms/seed':>13}")
    for name in sorted(CPU, key=CPU.get, reverse=True):
        print(f"{name:<30} {CPU[name] * 1000 / n:12.1f} {WALL[name] * 1000 / n:13.1f}")
    print(f"{'whole build_input':<30} {cpu * 1000 / n:12.1f} {wall * 1000 / n:13.1f}")
    print(f"{'pandoc lua child (its CPU)':<30} {child_cpu * 1000 / n:12.1f}")
    print(f"of build_input: user {(used.ru_utime - usage.ru_utime) * 1000 / n:.1f} ms, kernel "
          f"{(used.ru_stime - usage.ru_stime) * 1000 / n:.1f} ms, "
          f"{(used.ru_minflt - usage.ru_minflt) / n:.0f} page faults a seed")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(arguments.cprofile)
        print(out.getvalue())


if __name__ == "__main__":
    main()
