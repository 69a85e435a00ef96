"""SEEDPRESS_JOBS: the worker count of `convert` and `archive` when the command line gives
none; --jobs wins over it, and a bad value is a one-line usage error that touches nothing."""

from __future__ import annotations

import pytest
from support.archives import write_seeds
from support.run import COMMAND_TIMEOUT, json_lines, seedpress

from convert.defaults import JOBS_VARIABLE, default_jobs
from convert.runners.pool import TRACE_VARIABLE


def started_by(trace) -> set[str]:
    """The processes that started a seed, from the pool's trace file (`<pid> <key>` lines)."""
    return {line.split()[0] for line in trace.read_text().splitlines()}


@pytest.mark.slow
@pytest.mark.parametrize(("variable", "option", "workers"), [
    ("0", [], 0),                  # the variable alone: built in the command's own process
    ("0", ["--jobs", "2"], 2),     # --jobs wins over it
    ("2", [], 2),
    (None, [], 2),                 # neither: one per core (at most one per seed)
])
def test_the_variable_sets_the_workers_unless_jobs_is_given(tmp_path, spawn, variable, option, workers):
    seeds, trace = tmp_path / "seeds", tmp_path / "trace"
    write_seeds(seeds, 4)
    job = spawn("archive", seeds, "--dist", tmp_path / "dist", "--json", *option,
                env={JOBS_VARIABLE: variable, TRACE_VARIABLE: str(trace)})
    stdout, stderr = job.communicate(timeout=COMMAND_TIMEOUT)
    assert job.returncode == 0, stderr
    assert sum(line.get("status") == "built" for line in json_lines(stdout)) == 4
    started = started_by(trace)
    if workers == 0:
        assert started == {str(job.pid)}
    else:
        assert str(job.pid) not in started
        assert len(started) <= (workers if variable is not None else min(4, default_jobs()))


@pytest.mark.parametrize("value", ["two", "-1", "1.5"])
@pytest.mark.parametrize("command", ["convert", "archive"])
def test_a_bad_value_is_a_usage_error(tmp_path, command, value):
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 1)
    target = [seeds / "article-0.txt", "--out", tmp_path / "out"] if command == "convert" else [
        seeds, "--dist", tmp_path / "dist"]
    result = seedpress(command, *target, env={JOBS_VARIABLE: value})
    assert result.returncode == 2
    assert f"${JOBS_VARIABLE}: " in result.stderr.splitlines()[-1]
    assert not (tmp_path / "out").exists() and not (tmp_path / "dist").exists()
