"""The archive job, run for real: subprocesses, signals, SQLite, the files on disk (DESIGN §5)."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import sqlite3
from pathlib import Path

import pytest
from support.archives import EDITIONS, copy_archive, write_seeds
from support.run import REAL_SEED, ROOT, seedpress, wait_for

from convert.defaults import CATALOGUED_EDITIONS
from convert.layout import edition_file
from convert.runners.pool import TRACE_VARIABLE
from convert.runners.server import folder_changed_since_last_run

#: What every run writes, changed or not: the catalog records the run (its seeds' rows are
#: compared apart, catalog_rows), the metrics describe it, the lock is taken.
RUN_REPORTS = (".catalog.sqlite", ".metrics", ".lock")


def snapshot(dist: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every file in the archive, the hand-out included."""
    return {
        str(path.relative_to(dist)): (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in dist.rglob("*") if path.is_file() and path.relative_to(dist).parts[0] not in RUN_REPORTS
    }


def catalog_rows(dist: Path) -> dict[str, tuple]:
    with sqlite3.connect(dist / ".catalog.sqlite") as connection:
        return {row[0]: row[1:] for row in connection.execute("SELECT key, status, error FROM seeds")}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """A seeds folder of three seeds and its archive, built once; tests copy it before changing it."""
    base = tmp_path_factory.mktemp("archive")
    write_seeds(base / "seeds", 3)
    result = seedpress("archive", str(base / "seeds"), "--dist", str(base / "dist"), "--jobs", "2")
    assert result.returncode == 0, result.stderr
    return base / "seeds", base / "dist"


@pytest.fixture
def archive_copy(built, tmp_path) -> tuple[Path, Path]:
    return copy_archive(*built, tmp_path)


@pytest.mark.slow
def test_build_writes_every_edition_and_verifies(built):
    seeds, dist = built
    for seed in seeds.glob("*.txt"):
        for edition in EDITIONS:
            assert (dist / seed.stem / f"{seed.stem}.{edition}").stat().st_size > 0
        assert (dist / seed.stem / f"{seed.stem}.txt").read_bytes() == seed.read_bytes()
    assert {row[0] for row in catalog_rows(dist).values()} == {"built"}
    for name in ("index.html", "opds.xml", "SHA256SUMS"):
        assert (dist / name).is_file()
    verified = seedpress("verify", "--dist", str(dist))
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr == ""


@pytest.mark.slow
def test_unchanged_rerun_rewrites_nothing(archive_copy):
    seeds, dist = archive_copy
    before, rows = snapshot(dist), catalog_rows(dist)
    result = seedpress("archive", str(seeds), "--dist", str(dist), "--json")
    assert result.returncode == 0, result.stderr
    assert snapshot(dist) == before and catalog_rows(dist) == rows
    assert '"built": 0, "unchanged": 3' in result.stdout


@pytest.mark.slow
def test_one_edit_rebuilds_that_seed_only(archive_copy):
    seeds, dist = archive_copy
    before = snapshot(dist)
    edited = seeds / "article-1.txt"
    edited.write_text(edited.read_text("utf-8") + "\nOne more paragraph of commentary.\n", "utf-8")
    result = seedpress("archive", str(seeds), "--dist", str(dist))
    assert result.returncode == 0, result.stderr
    after = snapshot(dist)
    changed = {name for name in after if after[name] != before.get(name)}
    seed_files = {name for name in changed if "/" in name and not name.startswith("pagefind/")}
    # Its five files, its cover and thumbnail, and its landing page, which lists them; the
    # static search bundle, which Pagefind can only make whole, is made again with it.
    assert seed_files == {f"article-1/{edition_file('article-1', edition)}" for edition in CATALOGUED_EDITIONS}
    assert "pagefind/pagefind-entry.json" in changed
    assert "1 built, 2 unchanged" in result.stdout
    assert "One more paragraph of commentary." in (dist / "article-1" / "article-1.md").read_text("utf-8")
    assert seedpress("verify", "--dist", str(dist)).returncode == 0


@pytest.mark.slow
def test_style_change_rebuilds_everything(archive_copy, tmp_path):
    seeds, dist = archive_copy
    styles = tmp_path / "styles"
    shutil.copytree(ROOT / "styles", styles, ignore=shutil.ignore_patterns("__pycache__"))
    with open(styles / "print.css", "a", encoding="utf-8") as css:
        css.write("\n.commentary p { text-indent: 1em; }\n")
    before = snapshot(dist)
    result = seedpress("archive", str(seeds), "--dist", str(dist), "--styles", str(styles))
    assert result.returncode == 0, result.stderr
    assert "3 built, 0 unchanged" in result.stdout
    after = snapshot(dist)
    for seed in seeds.glob("*.txt"):
        for edition in ("md", "pdf", "epub", "docx"):
            name = f"{seed.stem}/{seed.stem}.{edition}"
            assert after[name] != before[name], name


@pytest.mark.slow
def test_bad_seeds_are_named_and_do_not_stop_the_others(tmp_path):
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 2)
    (seeds / "empty.txt").write_bytes(b"")
    (seeds / "picture.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01")
    result = seedpress("archive", str(seeds), "--dist", str(tmp_path / "dist"))
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert any("empty.txt" in line and "empty" in line for line in errors), errors
    assert any("picture.txt" in line and "binary" in line for line in errors), errors
    assert "Traceback" not in result.stderr
    for index in range(2):
        assert (tmp_path / "dist" / f"article-{index}" / f"article-{index}.pdf").is_file()
    assert not (tmp_path / "dist" / "empty").exists()
    rows = catalog_rows(tmp_path / "dist")
    assert rows["empty"][0] == "failed" and "empty" in rows["empty"][1]
    assert rows["picture"][0] == "failed"
    assert 'href="empty/' not in (tmp_path / "dist" / "index.html").read_text("utf-8")
    assert seedpress("verify", "--dist", str(tmp_path / "dist")).returncode == 0


@pytest.mark.slow
def test_removed_seed_is_withdrawn_and_kept_aside(archive_copy):
    seeds, dist = archive_copy
    (seeds / "article-2.txt").unlink()
    result = seedpress("archive", str(seeds), "--dist", str(dist))
    assert result.returncode == 0, result.stderr
    assert "1 withdrawn" in result.stdout
    # Named, with the way back: a scheduled run's mail said only "1 withdrawn".
    assert result.stdout.splitlines()[0] == (
        f"{seeds / 'article-2.txt'}: no longer in the seeds folder: its title article-2 is withdrawn "
        f"(kept in {dist}/.withdrawn/; `seedpress restore article-2` puts it back)")
    assert not (dist / "article-2").exists()
    aside = list((dist / ".withdrawn").glob("article-2-*"))
    assert len(aside) == 1
    assert sorted(p.name for p in aside[0].iterdir()) == sorted(edition_file("article-2", e) for e in CATALOGUED_EDITIONS)
    assert "article-2" not in (dist / "SHA256SUMS").read_text()
    assert "article-2/" not in (dist / "index.html").read_text("utf-8")
    assert catalog_rows(dist)["article-2"][0] == "withdrawn"
    assert seedpress("verify", "--dist", str(dist)).returncode == 0


@pytest.mark.slow
def test_verify_names_a_flipped_byte(archive_copy):
    _seeds, dist = archive_copy
    pdf = dist / "article-0" / "article-0.pdf"
    data = bytearray(pdf.read_bytes())
    data[len(data) // 2] ^= 0x01
    pdf.write_bytes(bytes(data))
    result = seedpress("verify", "--dist", str(dist))
    assert result.returncode == 1
    assert str(pdf) in result.stderr and "changed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_verify_names_a_missing_file(archive_copy):
    _seeds, dist = archive_copy
    (dist / "article-1" / "article-1.epub").unlink()
    result = seedpress("verify", "--dist", str(dist))
    assert result.returncode == 1
    assert "article-1.epub: missing" in result.stderr


def test_verify_refuses_a_folder_that_is_not_an_archive(tmp_path):
    result = seedpress("verify", "--dist", str(tmp_path))
    assert result.returncode == 2
    assert "not an archive" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_run_while_another_holds_the_lock_exits_75_and_touches_nothing(archive_copy):
    seeds, dist = archive_copy
    before = snapshot(dist)
    # Whoever holds the flock, the run must not wait for it or share the archive.
    with open(dist / ".lock", "rb+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        second = seedpress("archive", str(seeds), "--dist", str(dist))
    assert second.returncode == 75
    assert second.stderr == f"seedpress: {dist / '.lock'}: another archive run holds the lock\n"
    assert snapshot(dist) == before
    assert seedpress("verify", "--dist", str(dist)).returncode == 0


@pytest.mark.parametrize("seeds_started", [1, 3])
@pytest.mark.slow
def test_kill_9_mid_run_then_rerun_gives_a_complete_archive(tmp_path, spawn, seeds_started):
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 6)
    dist, trace = tmp_path / "dist", tmp_path / "trace"
    job = spawn("archive", seeds, "--dist", dist, "--jobs", "2", env={TRACE_VARIABLE: str(trace)})

    def started() -> list[str]:
        lines = trace.read_text().splitlines() if trace.exists() else []
        return lines if len(lines) >= seeds_started else []

    workers = {int(line.split()[0]) for line in wait_for(started, f"{seeds_started} seeds to be started")}
    # Every process the job started: the workers, the warm server they fork from, their pandoc.
    started_by_job = _descendants(job.pid)
    assert workers <= started_by_job
    os.kill(job.pid, signal.SIGKILL)
    job.wait()
    # They die with the job instead of rendering on and holding the archive.
    wait_for(lambda: all(_state(pid) == "Z" for pid in started_by_job), "the job's processes to die with it",
             timeout=60)
    rerun = seedpress("archive", str(seeds), "--dist", str(dist))
    assert rerun.returncode == 0, rerun.stderr
    verified = seedpress("verify", "--dist", str(dist))
    assert verified.returncode == 0, verified.stderr
    for seed in seeds.glob("*.txt"):
        for edition in EDITIONS:
            assert (dist / seed.stem / f"{seed.stem}.{edition}").is_file()
    assert list(dist.rglob("*.tmp")) == [], "the rerun clears the killed run's temp files"


def test_the_workers_warm_up_early_when_the_seeds_folder_changed_since_the_last_run(tmp_path):
    """The hint that starts the workers' server while a run plans: no catalog yet, or a
    seeds folder changed after it; not an unchanged rerun, which builds nothing."""
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    write_seeds(seeds, 1)
    assert folder_changed_since_last_run(seeds, dist)
    assert seedpress("archive", seeds, "--dist", dist, "--jobs", "0").returncode == 0
    assert not folder_changed_since_last_run(seeds, dist)
    write_seeds(seeds, 1, start=1)
    assert folder_changed_since_last_run(seeds, dist)
    assert seedpress("archive", seeds, "--dist", dist, "--jobs", "0").returncode == 0
    assert not folder_changed_since_last_run(seeds, dist)
    (seeds / "article-0.txt").unlink()
    assert folder_changed_since_last_run(seeds, dist)


def _descendants(root: int) -> set[int]:
    """The pids of every process below `root`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = set(), [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            found.add(child)
            stack.append(child)
    return found


def _state(pid: int) -> str:
    """The process's state letter; "Z" for one that is gone or a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


@pytest.mark.parametrize("name", ["SHA256SUMS.txt", "index.txt", "opds.txt"])
@pytest.mark.slow
def test_a_seed_named_like_the_hand_out_gets_its_own_folder(tmp_path, name):
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 1)
    (seeds / name).write_text(REAL_SEED.read_text("utf-8"), "utf-8")
    result = seedpress("archive", str(seeds), "--dist", str(tmp_path / "dist"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "dist" / "SHA256SUMS").is_file() and (tmp_path / "dist" / "index.html").is_file()
    assert seedpress("verify", "--dist", str(tmp_path / "dist")).returncode == 0


@pytest.mark.parametrize("damage, problem", [
    (".catalog.sqlite", "unreadable catalog"),
    ("SHA256SUMS", "unreadable"),
])
@pytest.mark.slow
def test_verify_names_a_damaged_catalog_or_checksum_file(archive_copy, damage, problem):
    _seeds, dist = archive_copy
    (dist / damage).write_bytes(b"\xff\xfe garbage " * 100)
    result = seedpress("verify", "--dist", str(dist))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert f"{dist / damage}: {problem}" in result.stderr
