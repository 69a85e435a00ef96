"""What the faster test lanes rely on, held to what they replace: masters read by the
long-lived pandoc process read as the sandboxed pandoc command line reads them, and
`--jobs 0` builds in the command's own process what a worker builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.archives import TIME_LIMIT, write_heavy_seed, write_seeds
from support.run import BUILD_EPOCH, COMMAND_TIMEOUT, DATA, REAL_SEED, json_lines, seedpress
from support.strategies import TRICKY

from convert import pandoc
from convert.document.master import parse_master
from convert.pandoc import MASTER_READER, PandocFailed, PandocWriter, read_markdown_body, run_pandoc
from convert.runners.pool import TRACE_VARIABLE

#: Master bodies: every golden master's, and one paragraph per piece that means something
#: to Markdown, HTML, YAML or the bidi algorithm.
BODIES = {
    **{path.stem: path.read_text("utf-8").split("\n---\n", 1)[1] for path in sorted(DATA.glob("*.md"))},
    "tricky pieces": "# Summary {#summary}\n\n" + "\n\n".join(TRICKY) + "\n",
    "tricky in one line": "# Commentary {#commentary}\n\n" + " ".join(TRICKY) + "\n",
    "empty": "",
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_the_warm_reader_reads_a_master_as_the_sandboxed_command_line(name):
    command_line = json.loads(run_pandoc(["-f", MASTER_READER, "-t", "json"], BODIES[name]))
    assert read_markdown_body(BODIES[name]) == command_line


def test_masters_are_read_by_one_pandoc_process():
    master = (DATA / "markup.md").read_text("utf-8")
    first = parse_master(master, "a.md")
    reader = pandoc._writers[None]
    pid = reader.process.pid
    assert parse_master(master, "b.md") == first
    assert reader.process.pid == pid and reader.process.poll() is None


def test_the_reading_process_writes_no_docx():
    reader = PandocWriter()
    try:
        with pytest.raises(PandocFailed, match="unknown format docx"):
            reader.write("docx", json.dumps(read_markdown_body("text")))
        # Still good for the next body.
        assert json.loads(reader.read(MASTER_READER, "text")) == json.loads(
            run_pandoc(["-f", MASTER_READER, "-t", "json"], "text"))
    finally:
        reader.close()


# --- --jobs 0: the builds in the command's own process --------------------------------

EPOCH = {"SOURCE_DATE_EPOCH": str(BUILD_EPOCH)}


def built_files(stdout: str) -> dict[str, dict[str, str]]:
    """Each built seed's editions and their sha256, from `--json` lines."""
    return {line["key"]: {edition: file["sha256"] for edition, file in line["files"].items()}
            for line in json_lines(stdout) if line.get("status") == "built"}


@pytest.mark.slow
def test_archive_jobs_0_builds_in_its_own_process_what_a_worker_builds(tmp_path, spawn):
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 2)
    trace = tmp_path / "trace"
    job = spawn("archive", seeds, "--dist", tmp_path / "in-process", "--jobs", "0", "--json",
                env={**EPOCH, TRACE_VARIABLE: str(trace)})
    stdout, stderr = job.communicate(timeout=COMMAND_TIMEOUT)
    assert job.returncode == 0, stderr
    # Every seed was started by the command's own process: no worker.
    assert {line.split()[0] for line in trace.read_text().splitlines()} == {str(job.pid)}
    on_worker = seedpress("archive", seeds, "--dist", tmp_path / "on-worker", "--jobs", "1", "--json", env=EPOCH)
    assert on_worker.returncode == 0, on_worker.stderr
    assert len(built_files(stdout)) == 2
    assert built_files(stdout) == built_files(on_worker.stdout)
    verified = seedpress("verify", "--dist", tmp_path / "in-process")
    assert verified.returncode == 0, verified.stderr


@pytest.mark.slow
def test_convert_jobs_0_writes_what_the_pool_writes(tmp_path):
    inputs = [DATA / "markup.txt", DATA / "no_marker.txt", tmp_path / "missing.txt"]
    results = {jobs: seedpress("convert", *inputs, "--out", tmp_path / jobs, "--jobs", jobs, "--json", env=EPOCH)
               for jobs in ("0", "2")}
    for result in results.values():
        assert result.returncode == 1 and "missing.txt: no such file" in result.stderr, result.stderr
        # In the order of the inputs, the missing one last.
        assert [Path(line["input"]).name for line in json_lines(result.stdout)] == [p.name for p in inputs]
    assert built_files(results["0"].stdout) == built_files(results["2"].stdout)
    assert len(built_files(results["0"].stdout)) == 2


@pytest.mark.slow
def test_jobs_0_keeps_the_time_limit(tmp_path):
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 1)
    slow = write_heavy_seed(seeds / "heavy.txt")
    result = seedpress("archive", seeds, "--dist", tmp_path / "dist", "--jobs", "0", "--timeout", TIME_LIMIT)
    assert result.returncode == 1
    assert result.stderr.strip() == f"seedpress: {slow}: took longer than the {TIME_LIMIT} s limit"
    assert "1 built" in result.stdout and "1 failed" in result.stdout


@pytest.mark.parametrize("command", ["convert", "archive"])
@pytest.mark.parametrize("jobs, problem", [("-1", "must be 0 (in this process) or more: '-1'"),
                                           ("two", "not a whole number: 'two'"),
                                           ("1.5", "not a whole number: '1.5'")])
def test_jobs_is_a_whole_number_from_0(tmp_path, command, jobs, problem):
    where = [REAL_SEED, "--out", tmp_path / "out"] if command == "convert" else [tmp_path, "--dist", tmp_path / "d"]
    result = seedpress(command, *where, "--jobs", jobs)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == f"seedpress {command}: error: argument --jobs: {problem}"
    assert not (tmp_path / "out").exists() and not (tmp_path / "d").exists()
