"""Safe to leave running (issue 22): no mass withdrawal, restore, subfolders, status, metrics.

Every archive here is built for real (subprocesses, pandoc, WeasyPrint, SQLite) once per
module, and copied by each test that changes it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pty
import re
import select
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from support.archives import copy_archive, write_seeds
from support.run import (
    COMMAND_TIMEOUT,
    ROOT,
    assert_one_line_error,
    json_lines,
    seedpress,
    seedpress_command,
    seedpress_environment,
    wait_for,
)
from support.servers import free_port

from convert.archive.catalog import SeedRow
from convert.archive.guard import check_withdrawals
from convert.build.environment import changed_parts
from convert.build.outcome import Status
from convert.cli import EXIT_MASS_WITHDRAW
from convert.defaults import CATALOGUED_EDITIONS
from convert.errors import MassWithdrawalRefused
from convert.layout import CATALOG_NAME, ENVIRONMENT_NAME

#: Titles in the module's archive.
TITLES = 4


#: What a run writes although it changes nothing in the archive: its own record (the
#: catalog's `runs` table), its metrics, and the lock.
RUN_REPORTS = (".catalog.sqlite", ".metrics", ".lock")


def tree_hashes(dist: Path) -> dict[str, str]:
    """sha256 of every file in the archive (hand-out, editions, search bundle), and the rows
    of every catalog table but the runs'."""
    hashes = {str(path.relative_to(dist)): hashlib.sha256(path.read_bytes()).hexdigest()
              for path in sorted(dist.rglob("*"))
              if path.is_file() and path.relative_to(dist).parts[0] not in RUN_REPORTS}
    with sqlite3.connect(dist / ".catalog.sqlite") as connection:
        for table in ("seeds", "files", "fixity_checks", "search_texts"):
            rows = connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            hashes[f"catalog:{table}"] = hashlib.sha256(repr(rows).encode()).hexdigest()
    connection.close()
    return hashes


def statuses(dist: Path) -> dict[str, str]:
    with sqlite3.connect(dist / ".catalog.sqlite") as connection:
        found = dict(connection.execute("SELECT key, status FROM seeds"))
    connection.close()
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """Four seeds and their archive, built once."""
    base = tmp_path_factory.mktemp("operations")
    write_seeds(base / "seeds", TITLES)
    result = seedpress("archive", base / "seeds", "--dist", base / "dist", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    return base / "seeds", base / "dist"


@pytest.fixture
def archive_copy(built, tmp_path) -> tuple[Path, Path]:
    return copy_archive(*built, tmp_path)


# --- 1. never dark by accident ----------------------------------------------------------

def _empty(seeds: Path) -> Path:
    for seed in seeds.iterdir():
        seed.unlink()
    return seeds


def _missing(seeds: Path) -> Path:
    return seeds.parent / "no-such-seeds"


def _a_file(seeds: Path) -> Path:
    path = seeds.parent / "seeds.txt"
    path.write_text("not a folder", "utf-8")
    return path


def _unmounted(seeds: Path) -> Path:
    # What a mount point with nothing mounted looks like: an empty folder (here, a fresh one).
    point = seeds.parent / "mnt" / "seeds"
    point.mkdir(parents=True)
    return point


@pytest.mark.slow
@pytest.mark.parametrize("make_folder", [_empty, _missing, _a_file, _unmounted],
                         ids=["empty", "missing", "not a folder", "unmounted"])
def test_a_seeds_folder_that_is_gone_withdraws_nothing(archive_copy, make_folder):
    seeds, dist = archive_copy
    before = tree_hashes(dist)
    folder = make_folder(seeds)
    result = seedpress("archive", folder, "--dist", dist)
    assert result.returncode == EXIT_MASS_WITHDRAW == 3, result.stderr
    line = assert_one_line_error(result.stderr, str(folder))
    assert f"{TITLES} titles held" in line and "withdr" in line
    # The index, the feeds, the search (in the catalog and the static bundle): every byte as it was.
    assert tree_hashes(dist) == before
    assert set(statuses(dist).values()) == {"built"}
    assert not (dist / ".withdrawn").exists()


def _held_lock(dist: Path) -> int:
    descriptor = os.open(dist / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    return descriptor


@pytest.mark.slow
def test_a_run_whose_output_reader_goes_away_completes_the_archive(tmp_path, spawn):
    """`seedpress archive --json | head -1`: the first line read, the run stopped at the next
    with "dist: cannot write: Broken pipe", exit 1, its index, feeds and SHA256SUMS never
    written (verify then failed), and status said "BrokenPipeError". It now goes on to
    its end, printing nowhere."""
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    write_seeds(seeds, 4)
    run = spawn("archive", seeds, "--dist", dist, "--json", "--jobs", "1")
    first = json.loads(run.stdout.readline())
    assert first["status"] == "built"
    run.stdout.close()  # as head does, after its line
    run.wait(timeout=COMMAND_TIMEOUT)
    assert (run.returncode, run.stderr.read()) == (0, "")
    assert seedpress("verify", "--dist", dist).returncode == 0
    assert sorted(path.name for path in dist.glob("*/*.pdf")) == [f"article-{n}.pdf" for n in range(4)]
    with sqlite3.connect(dist / CATALOG_NAME) as catalog:
        assert catalog.execute("SELECT built, exit_code, error FROM runs").fetchall() == [(4, 0, None)]
    catalog.close()


@pytest.mark.parametrize(("arguments", "said"), [
    (["convert", "x.txt", "--to", "pfd"], "argument --to: unknown format pfd; choose from md,pdf,epub,docx"),
    (["archive", "seeds", "--bogus"], "unrecognized arguments: --bogus"),
    (["status", "--dist", "dist", "--all"], "unrecognized arguments: --all"),
    (["convert", "a.txt", "b.txt", "-o", "x.pdf"], "-o FILE takes one input, and 2 were given: for several, use --out DIR"),
])
def test_a_usage_error_under_json_ends_with_its_error_object(tmp_path, arguments, said):
    """A usage error printed the usage and its line on stderr, and nothing on stdout: a
    script reading the objects got none at all."""
    result = subprocess.run(seedpress_command(*arguments, "--json"), capture_output=True, text=True, cwd=tmp_path,
                            timeout=COMMAND_TIMEOUT, env=seedpress_environment())
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].endswith(f": error: {said}")
    assert json_lines(result.stdout) == [{"error": said, "exit_code": 2}]
    without = subprocess.run(seedpress_command(*arguments), capture_output=True, text=True, cwd=tmp_path,
                             timeout=COMMAND_TIMEOUT, env=seedpress_environment())
    assert (without.returncode, without.stdout) == (2, "")


def test_json_after_double_dash_or_from_an_earlier_command_asks_for_no_object(tmp_path, capsys):
    """`--json` after `--` is an input's name; and a command line read in the same process
    after one with --json (main called twice) asks for none either."""
    from convert import cli

    result = subprocess.run(seedpress_command("convert", "-o", "x.bogus", "--", "--json"), capture_output=True,
                            text=True, cwd=tmp_path, timeout=COMMAND_TIMEOUT, env=seedpress_environment())
    assert (result.returncode, result.stdout) == (2, "")
    assert cli.main(["status", "--json", "--dist", str(tmp_path / "none")]) == 2
    assert json_lines(capsys.readouterr().out)[-1]["exit_code"] == 2
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["status", "--bogus"])
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("case", ["refused", "locked", "bad configuration"])
def test_a_json_run_that_stops_ends_with_its_error_object(archive_copy, tmp_path, case):
    """A script reading `archive --json` learns why no summary came: the line said on stderr
    is the last object on stdout, with the exit code."""
    seeds, dist = archive_copy
    before, arguments, descriptor = tree_hashes(dist), ["--json"], None
    if case == "refused":
        seeds = _empty(seeds)
    elif case == "locked":
        descriptor = _held_lock(dist)
    else:
        (tmp_path / "bad.toml").write_text("[archive]\ntitle = 3\n")
        arguments += ["--config", tmp_path / "bad.toml"]
    try:
        result = seedpress("archive", seeds, "--dist", dist, *arguments)
    finally:
        if descriptor is not None:
            os.close(descriptor)
    expected = {"refused": EXIT_MASS_WITHDRAW, "locked": 75, "bad configuration": 2}[case]
    assert result.returncode == expected, result.stderr
    line = assert_one_line_error(result.stderr, "")
    assert json_lines(result.stdout) == [{"error": line.removeprefix("seedpress: "), "exit_code": expected}]
    assert tree_hashes(dist) == before


@pytest.mark.slow
def test_half_plus_one_leaving_is_refused_and_one_leaving_is_withdrawn(archive_copy):
    seeds, dist = archive_copy
    before = tree_hashes(dist)
    gone = sorted(seeds.glob("*.txt"))[:TITLES // 2 + 1]
    kept_aside = {path: path.read_bytes() for path in gone}
    for path in gone:
        path.unlink()
    refused = seedpress("archive", seeds, "--dist", dist)
    assert refused.returncode == EXIT_MASS_WITHDRAW, refused.stderr
    line = assert_one_line_error(refused.stderr, "--allow-mass-withdraw")
    assert f"withdraw {len(gone)} of the {TITLES} titles held" in line
    assert tree_hashes(dist) == before
    for path in gone[1:]:
        path.write_bytes(kept_aside[path])
    one = seedpress("archive", seeds, "--dist", dist)
    assert one.returncode == 0, one.stderr
    assert "0 built, 3 unchanged, 0 failed, 1 withdrawn" in one.stdout
    assert statuses(dist)[gone[0].stem] == "withdrawn"
    assert seedpress("verify", "--dist", dist).returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("how", ["option", "config"])
def test_a_mass_withdrawal_that_is_meant_withdraws(archive_copy, how):
    seeds, dist = archive_copy
    _empty(seeds)
    if how == "option":
        result = seedpress("archive", seeds, "--dist", dist, "--allow-mass-withdraw")
    else:
        config = seeds.parent / "seedpress.toml"
        config.write_text("[archive]\nallow_mass_withdraw = true\n", "utf-8")
        result = seedpress("archive", seeds, "--dist", dist, "--config", config)
    assert result.returncode == 0, result.stderr
    assert f"0 built, 0 unchanged, 0 failed, {TITLES} withdrawn" in result.stdout
    assert set(statuses(dist).values()) == {"withdrawn"}
    assert seedpress("verify", "--dist", dist).returncode == 0


def test_a_missing_seeds_folder_without_an_archive_is_a_usage_error(tmp_path):
    result = seedpress("archive", tmp_path / "nothing", "--dist", tmp_path / "dist")
    assert result.returncode == 2
    assert "not a folder of seeds" in assert_one_line_error(result.stderr, "nothing")
    assert not (tmp_path / "dist").exists()


def test_allow_mass_withdraw_in_the_config_must_be_a_boolean(tmp_path):
    config = tmp_path / "seedpress.toml"
    config.write_text('[archive]\nallow_mass_withdraw = "yes"\n', "utf-8")
    result = seedpress("archive", tmp_path, "--dist", tmp_path / "dist", "--config", config)
    assert result.returncode == 2
    assert "archive.allow_mass_withdraw: must be true or false" in assert_one_line_error(result.stderr, str(config))


def _rows(held: int, failed: int) -> dict[str, SeedRow]:
    rows = {}
    for index in range(held + failed):
        status = Status.BUILT if index < held else Status.FAILED
        rows[f"k{index}"] = SeedRow(f"k{index}", f"k{index}.txt", None, None, status, None, None, {})
    return rows


@given(held=st.integers(1, 40), failed=st.integers(0, 5), data=st.data())
def test_a_run_is_refused_exactly_when_more_than_half_or_all_would_leave(held, failed, data):
    rows = _rows(held, failed)
    leaving = data.draw(st.integers(0, held))
    # The seeds still present: the held titles that stay, and never a failed one (they do not count).
    present = {f"k{index}" for index in range(leaving, held)}
    refused = leaving > held / 2 or (leaving == held)
    try:
        check_withdrawals(rows, present, Path("seeds"))
    except MassWithdrawalRefused as error:
        assert refused and f"withdraw {leaving} of the {held} {'title' if held == 1 else 'titles'} held" in str(error)
    else:
        assert not refused
    check_withdrawals(rows, present, Path("seeds"), allow=True)


# --- 2. restore --------------------------------------------------------------------------

def handout_lines(dist: Path) -> set[str]:
    """The lines of SHA256SUMS: every published file and its hash."""
    return set((dist / "SHA256SUMS").read_text("utf-8").splitlines())


def search_keys(dist: Path) -> list[str]:
    with sqlite3.connect(dist / ".catalog.sqlite") as connection:
        found = [key for (key,) in connection.execute("SELECT key FROM search_texts ORDER BY key")]
        matched = connection.execute("SELECT count(*) FROM search_index WHERE search_index MATCH 'article'").fetchone()
    connection.close()
    assert matched[0] == len(found)
    return found


@pytest.mark.slow
def test_restore_all_brings_a_meant_withdrawal_back_and_verify_passes(archive_copy):
    seeds, dist = archive_copy
    published, indexed = handout_lines(dist), search_keys(dist)
    aside = seeds.parent / "aside"
    seeds.rename(aside)
    seeds.mkdir()
    assert seedpress("archive", seeds, "--dist", dist, "--allow-mass-withdraw").returncode == 0
    assert search_keys(dist) == [] and not any(line.endswith("/index.html") for line in handout_lines(dist))
    result = seedpress("restore", "--all", "--dist", dist)
    assert result.returncode == 0, result.stderr
    assert f"restored {TITLES}" in result.stdout and "next archive run withdraws again" in result.stdout
    assert handout_lines(dist) == published
    assert search_keys(dist) == indexed
    assert set(statuses(dist).values()) == {"built"}
    verified = seedpress("verify", "--dist", dist)
    assert verified.returncode == 0, verified.stderr
    # The seeds back where they were: the restored files are current, nothing is rebuilt.
    seeds.rmdir()
    aside.rename(seeds)
    rerun = seedpress("archive", seeds, "--dist", dist)
    assert f"0 built, {TITLES} unchanged, 0 failed, 0 withdrawn" in rerun.stdout, rerun.stderr


@pytest.mark.slow
def test_restore_one_key_and_refuse_one_that_is_not_withdrawn(archive_copy):
    seeds, dist = archive_copy
    gone = sorted(seeds.glob("*.txt"))[0]
    gone.unlink()
    assert seedpress("archive", seeds, "--dist", dist).returncode == 0
    before = tree_hashes(dist)
    kept = sorted(seeds.glob("*.txt"))[0].stem
    refused = seedpress("restore", gone.stem, kept, "--dist", dist)
    assert refused.returncode == 2
    assert "not withdrawn" in assert_one_line_error(refused.stderr, kept)
    unknown = seedpress("restore", "no-such-title", "--dist", dist)
    assert unknown.returncode == 2 and "no such title" in assert_one_line_error(unknown.stderr, "no-such-title")
    assert tree_hashes(dist) == before
    restored = seedpress("restore", gone.stem, "--dist", dist)
    assert restored.returncode == 0, restored.stderr
    assert statuses(dist)[gone.stem] == "built"
    assert f"{gone.stem}/index.html" in (dist / "SHA256SUMS").read_text("utf-8")
    assert f'href="{gone.stem}/' in (dist / "index.html").read_text("utf-8")
    assert seedpress("verify", "--dist", dist).returncode == 0
    # Its seed is not back: the next run withdraws it again, as the note said.
    again = seedpress("archive", seeds, "--dist", dist)
    assert "1 withdrawn" in again.stdout and statuses(dist)[gone.stem] == "withdrawn"


@pytest.mark.slow
def test_restore_refuses_changed_kept_files_and_touches_nothing(archive_copy):
    seeds, dist = archive_copy
    gone = sorted(seeds.glob("*.txt"))[0]
    gone.unlink()
    assert seedpress("archive", seeds, "--dist", dist).returncode == 0
    (kept,) = (dist / ".withdrawn").glob(f"{gone.stem}-*")
    (kept / f"{gone.stem}.txt").write_text("Another text\n\nentirely.", "utf-8")
    before = tree_hashes(dist)
    result = seedpress("restore", "--all", "--dist", dist)
    assert result.returncode == 1
    assert "not the bytes" in assert_one_line_error(result.stderr, f"{gone.stem}.txt")
    assert tree_hashes(dist) == before


def test_restore_takes_the_archive_lock(archive_copy):
    _seeds, dist = archive_copy
    descriptor = os.open(dist / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        result = seedpress("restore", "--all", "--dist", dist)
    finally:
        os.close(descriptor)
    assert result.returncode == 75 and "lock" in result.stderr


# --- 3. failures that went away, subfolders -------------------------------------------

@pytest.mark.slow
def test_a_seed_that_never_built_goes_away_as_a_failure_never_as_withdrawn(archive_copy):
    seeds, dist = archive_copy
    bad = seeds / "broken.txt"
    bad.write_bytes(b"")
    failed = seedpress("archive", seeds, "--dist", dist)
    assert failed.returncode == 1 and statuses(dist)["broken"] == "failed"
    bad.unlink()
    result = seedpress("archive", seeds, "--dist", dist, "--json")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if '"broken' in line]
    assert len(lines) == 1 and '"status": "gone"' in lines[0]
    assert '"withdrawn": 0, "gone": 1' in result.stdout
    assert "broken" not in statuses(dist) and not (dist / ".withdrawn").exists()
    # In words too, and only once: the next run has nothing more to say of it.
    bad.write_bytes(b"")
    seedpress("archive", seeds, "--dist", dist)
    bad.unlink()
    words = seedpress("archive", seeds, "--dist", dist)
    assert f"0 built, {TITLES} unchanged, 0 failed, 0 withdrawn, 1 failure gone in " in words.stdout
    assert "broken.txt: failed before" in words.stdout
    again = seedpress("archive", seeds, "--dist", dist)
    assert f"0 built, {TITLES} unchanged, 0 failed, 0 withdrawn in " in again.stdout


@pytest.mark.slow
def test_each_seed_in_a_subfolder_is_named_in_a_warning_and_not_built(archive_copy):
    seeds, dist = archive_copy
    nested = [seeds / "2026" / "late.txt", seeds / "2026" / "deeper" / "later.md", seeds / "more" / "x.TXT"]
    for path in nested:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("A title\n\nA summary.", "utf-8")
    (seeds / "2026" / "notes.pdf").write_bytes(b"%PDF-")
    (seeds / ".hidden").mkdir()
    (seeds / ".hidden" / "draft.txt").write_text("x", "utf-8")
    result = seedpress("archive", seeds, "--dist", dist)
    assert result.returncode == 0, result.stderr
    for path in nested:
        assert "not archived" in assert_one_line_error(result.stderr, str(path))
    assert len(result.stderr.splitlines()) == len(nested), result.stderr
    assert f"0 built, {TITLES} unchanged, 0 failed, 0 withdrawn in " in result.stdout
    assert not any((dist / name).exists() for name in ("late", "later", "x"))


@pytest.mark.slow
def test_an_archive_kept_among_the_seeds_is_not_taken_for_seeds_in_a_subfolder(archive_copy):
    """`seedpress archive . --dist dist` run in the seeds folder: every run after the first
    warned of each title's master and seed copy in dist/ as a seed in a subfolder."""
    seeds, dist = archive_copy
    inside = seeds / "dist"
    dist.rename(inside)
    for _ in range(2):
        result = seedpress("archive", ".", "--dist", "dist", cwd=seeds)
        assert result.returncode == 0 and result.stderr == "", result.stderr
        assert f"0 built, {TITLES} unchanged, 0 failed, 0 withdrawn in " in result.stdout
    # A seed in a plain subfolder beside it is still named.
    (seeds / "later").mkdir()
    (seeds / "later" / "late.txt").write_text("A title\n\nA summary.", "utf-8")
    result = seedpress("archive", ".", "--dist", "dist", cwd=seeds)
    assert "not archived" in assert_one_line_error(result.stderr, "later/late.txt")


@pytest.mark.slow
def test_a_seed_or_master_whose_suffix_is_in_capitals_is_built(archive_copy):
    """A seed named `NOTE.TXT` (as Windows tools write names) was passed over without a word by
    an archive run, though `convert` of the folder built it and a subfolder's was warned of."""
    seeds, dist = archive_copy
    (seeds / "SHOUTED.TXT").write_text("A shouted title\n\nA summary.\n\nRead the original article here\n\n"
                                       "A commentary.\n", "utf-8")
    elsewhere = seeds.parent / "written.txt"
    elsewhere.write_text("A written master\n\nIts summary.\n", "utf-8")
    assert seedpress("convert", elsewhere, "-o", seeds / "Written.MD").returncode == 0
    result = seedpress("archive", seeds, "--dist", dist, "--json")
    assert result.returncode == 0, result.stderr
    assert statuses(dist)["SHOUTED"] == statuses(dist)["Written"] == "built"
    assert f"\"built\": 2, \"unchanged\": {TITLES}" in result.stdout
    assert (dist / "SHOUTED" / "SHOUTED.txt").read_bytes() == (seeds / "SHOUTED.TXT").read_bytes()
    assert "A written master" in (dist / "Written" / "Written.md").read_text("utf-8")
    # The same name with its suffix in another case is the same title: neither is guessed at.
    (seeds / "SHOUTED.txt").write_bytes((seeds / "SHOUTED.TXT").read_bytes())
    result = seedpress("archive", seeds, "--dist", dist)
    assert result.returncode == 1
    for name, other in (("SHOUTED.TXT", "SHOUTED.txt"), ("SHOUTED.txt", "SHOUTED.TXT")):
        line = assert_one_line_error(result.stderr, f"/{name}: conflicts with {other}")
        assert "(names that differ only in the suffix are one title): keep one" in line
    assert statuses(dist)["SHOUTED"] == "built"  # its last good build stays handed out

# --- 4. progress -----------------------------------------------------------------------

def run_on_a_terminal(*arguments, timeout: float = COMMAND_TIMEOUT) -> tuple[int, str, str]:
    """Run seedpress with stderr on a pseudo-terminal (stdout a pipe); its exit code, stdout,
    and what the terminal showed."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(seedpress_command(*arguments), cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=terminal, env=seedpress_environment({"COLUMNS": "160", "TERM": "xterm"}))
    os.close(terminal)
    shown = bytearray()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: the terminal's other end closed
                    break
                if not chunk:
                    break
                shown += chunk
            elif process.poll() is not None:
                break
        stdout = process.stdout.read().decode()
        return process.wait(timeout=timeout), stdout, shown.decode("utf-8", "replace")
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()


@pytest.mark.parametrize("width", [80, 100])
def test_the_progress_line_holds_on_one_line_of_a_usual_terminal(width):
    """At 80 columns, "5120 done, 3 failed, 4877 left, 123.4/min" wrapped onto a second
    line at every refresh; the bar now gives way."""
    import io

    from rich.console import Console

    from convert.cli import progress_display

    screen = io.StringIO()
    console = Console(file=screen, width=width, force_terminal=True, color_system=None)
    display = progress_display(console)
    task = display.add_task("archiving", total=10_000, failed=3)
    display.update(task, completed=5123)
    console.print(display.make_tasks_table(display.tasks))
    [line] = screen.getvalue().splitlines()
    assert "archiving" in line and "5120 done, 3 failed, 4877 left, " in line and line.rstrip().endswith("0:00:00")


@pytest.mark.slow
def test_archive_on_a_terminal_shows_done_failed_left_and_the_rate(tmp_path):
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 2)
    (seeds / "empty.txt").write_bytes(b"")
    code, stdout, shown = run_on_a_terminal("archive", seeds, "--dist", tmp_path / "dist", "--jobs", "2")
    assert code == 1, shown
    assert "0 done, 0 failed, 3 left" in shown
    assert re.search(r"2 done, 1 failed, 0 left, [0-9.]+/min", shown), shown
    assert "empty.txt" in shown
    assert len(stdout.splitlines()) == 1 and ": 2 built, 0 unchanged, 1 failed, 0 withdrawn in " in stdout


@pytest.mark.slow
def test_archive_off_a_terminal_prints_only_the_summary_and_the_failures(tmp_path):
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 2)
    (seeds / "empty.txt").write_bytes(b"")
    result = seedpress("archive", seeds, "--dist", tmp_path / "dist", "--jobs", "2")
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) == 1 and " 2 built, 0 unchanged, 1 failed" in result.stdout
    assert result.stderr.splitlines() == [assert_one_line_error(result.stderr, "empty.txt")]


# --- 5. status ---------------------------------------------------------------------------

def status_json(dist: Path) -> dict:
    result = seedpress("status", "--dist", dist, "--json")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    (line,) = result.stdout.splitlines()
    return json.loads(line)


@pytest.mark.slow
def test_status_after_a_good_run_a_failed_seed_and_a_verify(archive_copy):
    seeds, dist = archive_copy
    assert seedpress("archive", seeds, "--dist", dist).returncode == 0
    good = status_json(dist)
    assert good["titles"] == TITLES and good["failing"] == [] and good["last_verify"] is None
    assert good["last_run"] == good["last_finished_run"]
    assert {key: good["last_run"][key] for key in ("built", "unchanged", "failed", "withdrawn", "exit_code")} == {
        "built": 0, "unchanged": TITLES, "failed": 0, "withdrawn": 0, "exit_code": 0}
    (seeds / "broken.txt").write_bytes(b"\0\1\2binary")
    assert seedpress("archive", seeds, "--dist", dist).returncode == 1
    assert seedpress("verify", "--dist", dist).returncode == 0
    status = status_json(dist)
    assert status["titles"] == TITLES
    run = status["last_run"]
    assert (run["failed"], run["exit_code"], run["error"], run["seeds_dir"]) == (1, 1, None, str(seeds))
    assert good["last_run"]["started_at"] <= run["started_at"] <= run["ended_at"]
    (failing,) = status["failing"]
    assert failing["key"] == "broken" and "broken.txt" in failing["error"] and "binary" in failing["error"]
    verify = status["last_verify"]
    assert verify["passed"] and verify["problems"] == [] and verify["files"] == TITLES * len(CATALOGUED_EDITIONS)
    catalogued = sum(path.stat().st_size for path in dist.glob("*/*") if path.parent.name in statuses(dist))
    assert status["title_bytes"] == catalogued
    assert status["disk_bytes"] >= catalogued
    words = seedpress("status", "--dist", dist)
    assert words.returncode == 0
    assert f"{TITLES} titles held" in words.stdout and "failing now: 1" in words.stdout
    assert "exit 1" in words.stdout and ", passed" in words.stdout


def test_status_says_when_a_run_is_under_way_and_counts_one_problem_as_one(archive_copy):
    """While an archive run held the archive, status showed the run before it as the last,
    with no word of the one under way; and a verify that found one problem said "1 problems"."""
    _seeds, dist = archive_copy
    next(dist.glob("*/*.epub")).unlink()
    assert seedpress("verify", "--dist", dist).returncode == 1
    under_way = "now: an archive run is under way (the last run above is the one before it)"
    quiet = seedpress("status", "--dist", dist)
    assert ", 1 problem\n" in quiet.stdout and under_way not in quiet.stdout
    assert status_json(dist)["run_under_way"] is False
    descriptor = os.open(dist / ".lock", os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # as an archive run holds it
        busy = seedpress("status", "--dist", dist)
        busy_json = status_json(dist)
    finally:
        os.close(descriptor)
    assert busy.returncode == 0 and under_way in busy.stdout.splitlines()
    assert busy_json["run_under_way"] is True


@pytest.mark.slow
def test_status_names_a_refused_run_and_its_reason(archive_copy):
    seeds, dist = archive_copy
    assert seedpress("archive", seeds.parent / "gone", "--dist", dist).returncode == EXIT_MASS_WITHDRAW
    status = status_json(dist)
    assert status["last_run"]["exit_code"] == EXIT_MASS_WITHDRAW
    assert "no such folder" in status["last_run"]["error"]
    assert status["last_finished_run"]["exit_code"] == 0 and status["last_finished_run"]["error"] is None


def test_a_run_refused_by_its_configuration_is_recorded_and_changes_nothing_else(archive_copy, tmp_path):
    """A scheduled run stopped by a bad seedpress.toml showed only in its log: `status` and
    the metrics went on giving the last good run. It is now their last run, exit 2, with
    its one line; no title, page or catalog row changes. Without an archive, none is made."""
    seeds, dist = archive_copy
    before = tree_hashes(dist)
    (tmp_path / "seedpress.toml").write_text('[metadata]\nautor = "Jane"\n', "utf-8")
    result = seedpress("archive", seeds, "--dist", dist, cwd=tmp_path)
    line = assert_one_line_error(result.stderr, "metadata.autor")
    assert result.returncode == 2
    status = status_json(dist)
    assert status["last_run"]["exit_code"] == 2
    assert status["last_run"]["error"] == line.removeprefix("seedpress: ")
    assert status["last_finished_run"]["exit_code"] == 0
    assert archive_metrics(dist)[("seedpress_archive_run_exit_code", ())] == 2
    assert tree_hashes(dist) == before
    result = seedpress("archive", seeds, "--dist", tmp_path / "new", cwd=tmp_path)
    assert result.returncode == 2 and not (tmp_path / "new").exists()


def test_a_seeds_folder_whose_name_is_not_utf8_is_recorded_as_shown(tmp_path):
    """Every seed of a folder named with a byte that is not UTF-8 was built, then recording
    the run failed ("internal error: UnicodeEncodeError … surrogates not allowed", exit 1);
    with a bad seedpress.toml beside it, that error took the refusal's place. The run's
    texts are now stored as `shown` writes them."""
    seeds = Path(os.fsdecode(bytes(tmp_path) + b"/s\xff"))
    write_seeds(seeds, 1)
    dist = tmp_path / "dist"
    result = seedpress("archive", seeds, "--dist", dist)
    assert (result.returncode, result.stderr) == (0, "")
    assert status_json(dist)["last_run"]["seeds_dir"] == f"{tmp_path}/s\\xff"
    (tmp_path / "seedpress.toml").write_text('[metadata]\nautor = "Jane"\n', "utf-8")
    result = seedpress("archive", seeds, "--dist", dist, cwd=tmp_path)
    assert result.returncode == 2 and "metadata.autor" in assert_one_line_error(result.stderr, "seedpress.toml")
    assert status_json(dist)["last_run"]["exit_code"] == 2


@pytest.mark.slow
def test_a_catalog_without_runs_is_migrated_and_records_the_next_run(archive_copy):
    seeds, dist = archive_copy
    with sqlite3.connect(dist / ".catalog.sqlite") as connection:
        connection.execute("DROP TABLE runs")
        connection.execute("PRAGMA user_version = 3")
    connection.close()
    assert status_json(dist)["last_run"] is None
    assert seedpress("archive", seeds, "--dist", dist).returncode == 0
    assert status_json(dist)["last_run"]["unchanged"] == TITLES


def test_status_of_a_folder_that_is_no_archive_is_a_usage_error(tmp_path):
    result = seedpress("status", "--dist", tmp_path)
    assert result.returncode == 2 and "not an archive" in assert_one_line_error(result.stderr, str(tmp_path))


# --- 6. metrics ---------------------------------------------------------------------------

def parsed_metrics(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a Prometheus text exposition, parsed by prometheus_client's own parser:
    (name, sorted labels) to value."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def archive_metrics(dist: Path) -> dict[tuple[str, tuple], float]:
    folder = dist / ".metrics"
    assert [path.name for path in folder.iterdir()] == ["seedpress.prom"]  # no temp file left
    return parsed_metrics((folder / "seedpress.prom").read_text("utf-8"))


def epoch(timestamp: str) -> float:
    return datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


#: Values and texts that a number or text format could get wrong.
_GAUGES = [
    ("plain", "A value.", 0),
    ("fraction", "A value with \\ a backslash\nand a new line in its help.", 0.30000000000000004),
    ("epoch", "A Unix time.", 1_733_512_345.123456),
    ("big", "A large whole number.", 123_456_789_012_345_678_901),
    ("tiny", "A small one.", 1e-300),
    ("negative", "Below zero.", -3.5),
    ("infinite", "Past any bound.", float("inf")),
    ("labelled", "One per label.", {(("outcome", "built"),): 7, (("outcome", 'a "quoted" \\ new\nline'),): 2.5}),
]


@given(st.floats(allow_nan=False) | st.integers(min_value=-(2**70), max_value=2**70))
def test_the_textfile_of_metrics_reads_as_prometheus_client_writes_it(value):
    """The archive's metrics file is written without prometheus_client (its import is a tenth
    of an unchanged run): prometheus_client's parser reads it exactly as it reads what
    prometheus_client itself writes for the same gauges."""
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    from convert.archive.metrics import PREFIX, _Exposition

    ours, registry = _Exposition(), CollectorRegistry()
    for name, documentation, number in [*_GAUGES, ("drawn", "Drawn by Hypothesis.", value)]:
        ours.gauge(name, documentation, number)
        if isinstance(number, dict):
            gauge = Gauge(f"{PREFIX}_{name}", documentation, ["outcome"], registry=registry)
            for labels, each in number.items():
                gauge.labels(**dict(labels)).set(each)
        else:
            Gauge(f"{PREFIX}_{name}", documentation, registry=registry).set(number)
    theirs = generate_latest(registry).decode("utf-8")
    assert list(text_string_to_metric_families(ours.text())) == list(text_string_to_metric_families(theirs))


@pytest.mark.slow
def test_archive_writes_its_metrics_for_the_textfile_collector(archive_copy):
    seeds, dist = archive_copy
    (seeds / "broken.txt").write_bytes(b"")
    assert seedpress("archive", seeds, "--dist", dist).returncode == 1
    metrics, status = archive_metrics(dist), status_json(dist)
    run = status["last_run"]
    assert metrics[("seedpress_archive_run_exit_code", ())] == 1
    assert metrics[("seedpress_archive_run_duration_seconds", ())] == run["seconds"] > 0
    for outcome in ("built", "unchanged", "failed", "withdrawn", "gone"):
        assert metrics[("seedpress_archive_run_seeds", (("outcome", outcome),))] == run[outcome]
    assert metrics[("seedpress_archive_titles", ())] == TITLES
    assert metrics[("seedpress_archive_title_bytes", ())] == status["title_bytes"]
    assert metrics[("seedpress_archive_failing_seeds", ())] == 1
    assert metrics[("seedpress_archive_last_success_timestamp_seconds", ())] == epoch(run["ended_at"])
    # A refused run says so, and the last success stays the run before it.
    assert seedpress("archive", seeds.parent / "gone", "--dist", dist).returncode == EXIT_MASS_WITHDRAW
    refused = archive_metrics(dist)
    assert refused[("seedpress_archive_run_exit_code", ())] == EXIT_MASS_WITHDRAW
    assert refused[("seedpress_archive_last_success_timestamp_seconds", ())] == epoch(run["ended_at"])
    assert refused[("seedpress_archive_titles", ())] == TITLES


def start_serve(spawn, dist: Path, *options: str) -> str:
    """`seedpress serve` with `options` on a free loopback port, once it answers; the spawn
    fixture stops it."""
    port = free_port()
    process = spawn("serve", "--dist", dist, "--host", "127.0.0.1", "--port", str(port), *options,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert process.poll() is None, f"serve exited with {process.returncode}"
        try:
            return httpx.get(base + "/", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(answers, "seedpress serve to answer")
    return base


@pytest.mark.slow
def test_serve_counts_and_times_requests_by_route_and_searches(built, spawn):
    _seeds, dist = built
    base = start_serve(spawn, dist)
    assert httpx.get(f"{base}/").status_code == 200
    assert httpx.get(f"{base}/no-such-file").status_code == 404
    assert httpx.get(f"{base}/search", params={"q": "article"}).status_code == 200
    assert httpx.get(f"{base}/search.json", params={"q": "article"}).status_code == 200
    answer = httpx.get(f"{base}/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    metrics = parsed_metrics(answer.text)

    def requests(route: str, status: str) -> float:
        return metrics.get(("seedpress_http_requests_total",
                            (("method", "GET"), ("route", route), ("status", status))), 0)

    assert requests("files", "200") >= 2  # the fixture's first look, and ours
    assert requests("files", "404") == 1
    assert requests("search", "200") == 1 and requests("search.json", "200") == 1
    assert metrics[("seedpress_http_request_duration_seconds_count", (("route", "files"),))] >= 3
    assert metrics[("seedpress_search_duration_seconds_count", (("route", "search"),))] == 1
    assert metrics[("seedpress_search_duration_seconds_sum", (("route", "search.json"),))] > 0
    assert ("seedpress_search_duration_seconds_count", (("route", "files"),)) not in metrics


#: A client elsewhere, as a reverse proxy on the same machine passes it on.
ELSEWHERE = {"X-Forwarded-For": "203.0.113.9"}


@pytest.mark.slow
def test_metrics_are_for_local_clients_unless_allowed_and_can_be_turned_off(built, spawn, tmp_path):
    _seeds, dist = built
    local_only = start_serve(spawn, dist)
    assert httpx.get(f"{local_only}/metrics").status_code == 200
    refused = httpx.get(f"{local_only}/metrics", headers=ELSEWHERE)
    assert refused.status_code == 404 and b"seedpress_" not in refused.content
    allowed = start_serve(spawn, dist, "--metrics-from", "203.0.113.0/24")
    assert httpx.get(f"{allowed}/metrics", headers=ELSEWHERE).status_code == 200
    assert httpx.get(f"{allowed}/metrics", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 404
    config = tmp_path / "seedpress.toml"
    config.write_text('[serve]\nmetrics = false\nmetrics_from = ["203.0.113.9"]\n', "utf-8")
    for off in (start_serve(spawn, dist, "--no-metrics"), start_serve(spawn, dist, "--config", str(config))):
        assert httpx.get(f"{off}/metrics").status_code == 404
        assert httpx.get(f"{off}/").status_code == 200


@pytest.mark.slow
def test_under_journald_each_line_on_stderr_carries_its_priority(tmp_path):
    """Under systemd, stderr is the journal's stream and every line was filed "info", so
    `journalctl -p warning -u seedpress-archive` showed no failure. A line now starts with its
    syslog priority (sd-daemon(3)) when stderr is that stream (JOURNAL_STREAM names it):
    <3> a failure, <4> a warning, <5> a notice. Anywhere else, nothing changes."""
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 1)
    (seeds / "bad.txt").write_bytes(b"")
    (seeds / "unmarked.txt").write_text("A title\n\nA summary with no marker after it.\n", "utf-8")
    (seeds / "nested").mkdir()
    (seeds / "nested" / "deeper.txt").write_text("Title\n\nSummary.\n", "utf-8")
    log = tmp_path / "stderr"

    def archive(stream: str | None, dist: Path, code: int = 1) -> list[str]:
        with log.open("wb") as stderr:
            status = os.fstat(stderr.fileno())
            journal = {"JOURNAL_STREAM": None if stream is None else stream.format(dev=status.st_dev,
                                                                                  ino=status.st_ino)}
            done = subprocess.run(seedpress_command("archive", seeds, "--dist", dist), stdout=subprocess.DEVNULL,
                                  stderr=stderr, env=seedpress_environment(journal), timeout=COMMAND_TIMEOUT)
        assert done.returncode == code
        return sorted(log.read_text("utf-8").splitlines())

    journal = archive("{dev}:{ino}", tmp_path / "dist-journal")
    assert [line[:3] for line in journal] == ["<3>", "<4>", "<5>"], journal
    assert "empty" in journal[0] and "in a subfolder" in journal[1] and "notice:" in journal[2]
    # A terminal, a file, a pipe, or a JOURNAL_STREAM that names another stream: as before.
    for stream in (None, "{dev}:1", "not a stream"):
        plain = archive(stream, tmp_path / f"dist-{len(str(stream))}")
        assert plain == sorted(line[3:] for line in journal), stream
    # Another run holding the lock is no failure (the unit counts exit 75 as success): a warning.
    with open(tmp_path / "dist-journal" / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        said = archive("{dev}:{ino}", tmp_path / "dist-journal", code=75)
    (held,) = [line for line in said if "lock" in line]
    assert held.startswith("<4>seedpress: "), said


@pytest.mark.slow
def test_a_run_that_builds_every_title_again_says_what_changed(tmp_path):
    """After an upgrade, a fonts package or a new [metadata], a run rebuilt every title and
    said only "N built": an operator asked why. It now says what changed, once."""
    seeds, dist, config = tmp_path / "seeds", tmp_path / "dist", tmp_path / "seedpress.toml"
    write_seeds(seeds, 2)

    def archive(*arguments: str | Path) -> tuple[str, list[str]]:
        done = seedpress("archive", seeds, "--dist", dist, *arguments)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()[-1], done.stderr.splitlines()

    assert archive()[1] == []  # a first run: nothing to compare with
    summary, said = archive()
    assert summary.startswith(f"{dist}: 0 built, 2 unchanged") and said == []
    config.write_text('[metadata]\nauthor = "Jane Doe"\n\n[archive]\ntitle = "Harbour archive"\n', "utf-8")
    summary, said = archive("--config", config)
    assert summary.startswith(f"{dist}: 2 built, 0 unchanged")
    assert said == [f"seedpress: {dist}: the titles are built again: the metadata every title carries ([metadata] "
                    "in seedpress.toml, --author…) and archive.title changed since they were built"]
    assert archive("--config", config)[1] == []
    # A record that cannot be read is written anew, and nothing is said.
    (dist / ENVIRONMENT_NAME).write_text("{not json", "utf-8")
    assert archive()[1] == []
    assert json.loads((dist / ENVIRONMENT_NAME).read_text("utf-8"))["metadata"] == "metadata none"


def test_the_parts_that_changed_are_named_in_their_order():
    before = {"lang": "lang detected", "fonts": "fonts a", "code": "code a"}
    now = {"lang": "lang detected", "archive title": "archive title T", "fonts": "fonts b", "code": "code b"}
    assert changed_parts(before, now) == ["archive.title", "the installed fonts", "seedpress's code"]
    assert changed_parts(now, now) == []
