"""Reproducible builds: the same seed, built twice by the real CLI in different folders at
different times, gives byte-identical editions (DESIGN §5, issue 7).

The date an edition carries is SOURCE_DATE_EPOCH when set, else the seed file's
mtime; nothing else about the build (folder, clock, process) may reach the bytes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from support.run import REAL_SEED, seedpress, wait_for

from convert.defaults import FORMATS as EDITIONS

SEEDS = (
    REAL_SEED,
    # Emoji and CJK: fonts WeasyPrint rewrites with fontTools, which stamps them with the time.
    Path(__file__).resolve().parent / "data" / "multiscript.txt",
)


def seedpress_at(*arguments: str | Path, cwd: Path, epoch: int | None) -> subprocess.CompletedProcess:
    """seedpress with SOURCE_DATE_EPOCH set to `epoch` or unset."""
    return seedpress(*arguments, cwd=cwd, env={"SOURCE_DATE_EPOCH": None if epoch is None else str(epoch)})


def next_second() -> None:
    """Return once the wall clock reads a later second than now: the next build runs at
    another time, so a clock that leaked into the bytes would show."""
    now = int(time.time())
    wait_for(lambda: int(time.time()) > now, "the clock to reach the next second")


def copy_seeds(folder: Path, mtime: int) -> list[Path]:
    """The seeds copied into `folder`, each with modification time `mtime`."""
    folder.mkdir(parents=True)
    copies = []
    for seed in SEEDS:
        copy = folder / seed.name
        shutil.copyfile(seed, copy)
        os.utime(copy, (mtime, mtime))
        copies.append(copy)
    return copies


def digests(folder: Path) -> dict[str, str]:
    """sha256 of every edition under `folder`, by path relative to it."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*")) if path.suffix.lstrip(".") in EDITIONS
    }


def convert(folder: Path, *, mtime: int, epoch: int | None) -> dict[str, str]:
    """Copy the seeds into `folder`/seeds, convert them into `folder`/out, return the digests."""
    seeds = copy_seeds(folder / "seeds", mtime)
    result = seedpress_at("convert", *seeds, "--out", folder / "out", cwd=folder, epoch=epoch)
    assert result.returncode == 0, result.stderr
    found = digests(folder / "out")
    assert len(found) == len(SEEDS) * len(EDITIONS), found
    return found


@pytest.mark.slow
def test_source_date_epoch_makes_two_builds_identical(tmp_path):
    first = convert(tmp_path / "first", mtime=1_600_000_000, epoch=1_700_000_000)
    next_second()
    second = convert(tmp_path / "elsewhere" / "second", mtime=1_650_000_000, epoch=1_700_000_000)
    assert first == second


@pytest.mark.slow
def test_without_source_date_epoch_the_seed_mtime_is_the_date(tmp_path):
    first = convert(tmp_path / "first", mtime=1_600_000_000, epoch=None)
    next_second()
    second = convert(tmp_path / "second", mtime=1_600_000_000, epoch=None)
    assert first == second
    touched = convert(tmp_path / "touched", mtime=1_650_000_000, epoch=None)
    changed = {name.rsplit(".", 1)[1] for name in first if first[name] != touched[name]}
    # The master carries no date; every other edition does.
    assert changed == {"pdf", "epub", "docx"}


@pytest.mark.slow
def test_archive_job_builds_identical_editions_in_two_dists(tmp_path):
    """The archive job, with the seed's mtime as the date, gives the same editions twice."""
    seeds = copy_seeds(tmp_path / "seeds", 1_600_000_000)
    runs = []
    for name in ("dist-a", "dist-b"):
        result = seedpress_at("archive", seeds[0].parent, "--dist", tmp_path / name, "--jobs", "1",
                           cwd=tmp_path, epoch=None)
        assert result.returncode == 0, result.stderr
        runs.append(digests(tmp_path / name))
        next_second()
    assert runs[0] == runs[1]
    assert len(runs[0]) == len(SEEDS) * len(EDITIONS), runs[0]
