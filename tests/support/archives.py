"""Seeds and archives for tests that need them: the real seed copied into many, a heavy
seed that meets the limits, a copy of a built archive to change."""

from __future__ import annotations

import shutil
from pathlib import Path

from convert.defaults import ARCHIVED_EDITIONS
from support.run import REAL_SEED

#: The files every archived seed has: the four editions and the seed's own bytes.
EDITIONS = ARCHIVED_EDITIONS

#: Seconds that bound a seed in the limit tests: far more than a real seed needs on a
#: loaded machine (0.3 s of CPU on a warm process), far less than a heavy seed needs on a
#: fast one (a minute). Each run that meets it spends it in full.
TIME_LIMIT = "5"
#: Seconds that bound a run in which the heavy seed is the only one built (the others are
#: unchanged): no ordinary seed has to fit in it, and the heavy seed needs far more on any
#: machine. Each run that meets a limit spends it in full, so the shorter the cheaper.
HEAVY_ONLY_TIME_LIMIT = "1"
#: MiB that bound a worker in the memory-limit tests: the heavy and big seeds need far more,
#: and an ordinary seed fits with room to spare (the real seed needs 210). A worker starts at
#: about 160 MiB of address space (the warm server's, runners/warm.py: fonts mapped,
#: WeasyPrint, a title rendered). The lower the limit, the sooner a big seed meets it: the
#: big seed took 16 s of layout to run a worker out of 400 MiB, 9 s out of 300.
MEMORY_LIMIT = "300"


def write_heavy_seed(path: Path, paragraphs: int = 20_000) -> Path:
    """A seed of one-letter paragraphs: at 20,000, 660 PDF pages, 25 s on a 2-core
    machine and far more memory than the real seed's two pages (MEMORY_LIMIT)."""
    # A seed as DESIGN §1 writes one (marker included), so it builds without a notice.
    path.write_text("Heavy\n\nA heavy seed.\n\nRead the original article here\n\n"
                    + "\n\n".join("abcdefghij"[i % 10] for i in range(paragraphs)), "utf-8")
    return path


def write_big_seed(path: Path) -> Path:
    """A seed that needs far more memory than MEMORY_LIMIT: 800 paragraphs of 1,000 words
    (3.9 MB, 1,500 PDF pages), which run a worker out of it while WeasyPrint lays out their
    lines (pdf._memory_checked_per_line)."""
    path.write_text("Big\n\nA big seed.\n\nRead the original article here\n\n"
                    + "\n\n".join(" ".join(f"w{word}" for word in range(1_000)) for _ in range(800)), "utf-8")
    return path


def copy_archive(seeds: Path, dist: Path, into: Path) -> tuple[Path, Path]:
    """A copy of a seeds folder and its archive under `into`, for a test that changes them."""
    shutil.copytree(seeds, into / "seeds")
    shutil.copytree(dist, into / "dist")
    return into / "seeds", into / "dist"


def write_seeds(folder: Path, count: int, start: int = 0) -> list[Path]:
    """`count` distinct good seeds made from the real one, article-<n>.txt from n = `start`."""
    folder.mkdir(parents=True, exist_ok=True)
    text = REAL_SEED.read_text("utf-8")
    paths = []
    for index in range(start, start + count):
        path = folder / f"article-{index}.txt"
        path.write_text(f"Article {index}: {text}", "utf-8")
        paths.append(path)
    return paths
