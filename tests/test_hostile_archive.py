"""Hostile input, round 2 (issue 15): nothing a seed contains stops the archive job or
`convert`; a seed replaced by a FIFO is named, not withdrawn; a seed that failed on a
limit is not retried at full cost until something changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.archives import EDITIONS, HEAVY_ONLY_TIME_LIMIT, MEMORY_LIMIT, TIME_LIMIT, write_heavy_seed, write_seeds
from support.run import REAL_SEED, json_lines, seedpress

from convert.build.input import BuildOptions, build_input
from convert.build.outcome import Status

pytestmark = pytest.mark.slow

#: 2200-01-01: later than a zip entry's DOS date can hold (2107).
YEAR_2200 = 7_258_118_400
#: Every separator and control or format character a title might hold.
AWKWARD = st.characters(whitelist_categories=("Zs", "Zl", "Zp", "Cc", "Cf", "Mn", "Co"))
TITLES = st.lists(st.one_of(AWKWARD, st.characters(blacklist_categories=("Cs",))), min_size=1, max_size=30).map(
    "".join)


def assert_handed_out(dist: Path) -> None:
    for name in ("index.html", "opds.xml", "SHA256SUMS"):
        assert (dist / name).is_file(), name
    verified = seedpress("verify", "--dist", dist)
    assert verified.returncode == 0, verified.stderr


def test_a_paragraph_separator_title_and_a_far_future_mtime_do_not_stop_the_run(tmp_path):
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 1)
    (seeds / "separator.txt").write_text("A title\u2029with a paragraph separator\n\nSummary.\n", "utf-8")
    future = seeds / "future.txt"
    future.write_text("From the future\n\nSummary.\n", "utf-8")
    os.utime(future, (YEAR_2200, YEAR_2200))
    dist = tmp_path / "dist"
    result = seedpress("archive", seeds, "--dist", dist, "--json", env={"SOURCE_DATE_EPOCH": None})
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert result.returncode == 0, result.stderr
    assert {line["key"]: line["status"] for line in json_lines(result.stdout)[:-1]} == {
        "article-0": "built", "separator": "built", "future": "built"}
    assert_handed_out(dist)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=TITLES)
def test_no_title_makes_the_build_of_a_seed_raise(tmp_path_factory, title):
    folder = tmp_path_factory.mktemp("title")
    seed = folder / "seed.txt"
    seed.write_text(f"{title}\n\nA summary.\n\nRead the original article here\n\nA comment.\n", "utf-8")
    outcome = build_input(seed, "seed", folder / "out", BuildOptions(formats=("md", "epub", "docx")))
    if outcome.status is Status.FAILED:
        assert outcome.error.startswith(f"{seed}: ") and "\n" not in outcome.error
        assert not (folder / "out" / "seed").exists()
    else:
        assert sorted(outcome.files) == ["docx", "epub", "md"]


def test_a_seed_replaced_by_a_fifo_is_named_and_keeps_its_files(tmp_path):
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 2)
    dist = tmp_path / "dist"
    assert seedpress("archive", seeds, "--dist", dist).returncode == 0
    fifo = seeds / "article-1.txt"
    fifo.unlink()
    os.mkfifo(fifo)
    result = seedpress("archive", seeds, "--dist", dist, timeout=300)
    assert result.returncode == 1
    assert result.stderr == f"seedpress: {fifo}: not a regular file\n"
    assert ", 0 withdrawn" in result.stdout
    for edition in EDITIONS:
        assert (dist / "article-1" / f"article-1.{edition}").is_file()
    assert_handed_out(dist)


def test_a_seed_that_hit_the_time_limit_is_not_retried_until_something_changes(tmp_path):
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 1)
    dist = tmp_path / "dist"
    # The good seed is built first, so that in every run below only the heavy seed is
    # built and a short limit (HEAVY_ONLY_TIME_LIMIT) bounds it.
    assert seedpress("archive", seeds, "--dist", dist).returncode == 0
    slow = write_heavy_seed(seeds / "slow.txt")
    limit = HEAVY_ONLY_TIME_LIMIT
    first = seedpress("archive", seeds, "--dist", dist, "--timeout", limit)
    assert first.returncode == 1, first.stderr
    assert first.stderr == f"seedpress: {slow}: took longer than the {limit} s limit\n"
    again = seedpress("archive", seeds, "--dist", dist, "--timeout", limit, "--json")
    assert again.returncode == 1
    assert again.stderr == (f"seedpress: {slow}: took longer than the {limit} s limit "
                            "(not retried: nothing changed; archive --retry to try again)\n")
    [failed, summary] = json_lines(again.stdout)
    assert failed["status"] == "failed" and failed["seconds"] == 0
    assert summary["summary"]["built"] == 0 and summary["summary"]["unchanged"] == 1
    # Asked to, or with other limits or other bytes, it is built again (and fails again).
    longer = str(int(limit) + 1)
    for arguments in (["--timeout", limit, "--retry"], ["--timeout", longer]):
        retried = seedpress("archive", seeds, "--dist", dist, *arguments)
        assert retried.returncode == 1, retried.stderr
        assert "not retried" not in retried.stderr, arguments
    with open(slow, "a", encoding="utf-8") as stream:
        stream.write("\n\nOne more paragraph.\n")
    assert "not retried" not in seedpress("archive", seeds, "--dist", dist, "--timeout", longer).stderr
    assert_handed_out(dist)


def test_convert_has_a_time_limit_and_goes_on_with_the_other_inputs(tmp_path):
    slow = write_heavy_seed(tmp_path / "slow.txt")
    out = tmp_path / "out"
    result = seedpress("convert", slow, REAL_SEED, "--out", out, "--timeout", TIME_LIMIT, "--json")
    assert result.returncode == 1
    assert result.stderr == f"seedpress: {slow}: took longer than the {TIME_LIMIT} s limit\n"
    statuses = {Path(line["input"]).name: line["status"] for line in json_lines(result.stdout)}
    assert statuses == {"slow.txt": "failed", REAL_SEED.name: "built"}
    assert not (out / "slow").exists()
    assert sorted(p.suffix for p in (out / REAL_SEED.stem).iterdir()) == [".docx", ".epub", ".md", ".pdf"]


def test_convert_has_a_memory_limit(tmp_path):
    big = write_heavy_seed(tmp_path / "big.txt")
    out = tmp_path / "out"
    # On the pool (--jobs 1): the memory limit bounds a worker, never the command's own process.
    result = seedpress("convert", big, REAL_SEED, "--out", out, "--memory", MEMORY_LIMIT, "--to", "pdf", "--jobs", "1")
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    # Out of memory in Python code, or a C library aborting on a failed allocation.
    assert line in (f"seedpress: {big}: ran out of the {MEMORY_LIMIT} MiB memory limit",
                    f"seedpress: {big}: the worker building it died twice (killed, or out of memory)"), line
    assert not (out / "big").exists()
    assert (out / REAL_SEED.stem / f"{REAL_SEED.stem}.pdf").is_file()
