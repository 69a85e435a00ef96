"""The tests' fixtures: processes stopped whatever happens, the editions and an archive
built once per session, and the hypothesis profiles. The helpers they use live in tests/support/.

Nothing here is autouse: other test modules only get what they ask for by name.
"""

from __future__ import annotations

import re
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings
from support import run
from support.archives import copy_archive, write_seeds
from support.editions import EDITION_FIXTURES, Rendered, stop_epubcheck_server
from support.run import BUILD_EPOCH, DATA, ROOT, json_lines, seedpress, seedpress_command, seedpress_environment

from convert.document.seed import read_seed

# A shell without job control starts a background command with Ctrl-C ignored (`make test &`
# in a script, nohup), and an ignored signal stays ignored in every process started after:
# seedpress would not hear the Ctrl-C that the fault tests and the servers' stop send it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Hypothesis profiles, chosen with `pytest --hypothesis-profile=NAME` (make test: "ci").
# "default" is Hypothesis's own; "ci" runs the same examples, keeps no example database
# (a fresh clone has none to replay) and prints the blob that reproduces a failure.
# Neither changes an example count or a deadline: each test that needs other settings
# sets them itself, and the suite is faster by cheaper examples, not fewer.
settings.register_profile("ci", print_blob=True, database=None)


@pytest.fixture(scope="session", autouse=True)
def warm_start():
    """The session's `seedpress` commands fork from a warm server (support/warm_start.py),
    stopped when the session ends, however it ends."""
    run.use_warm_start()
    yield
    run.stop_warm_start()


@pytest.fixture(scope="session", autouse=True)
def epubcheck_server():
    """The EPUBCheck server support.editions.run_epubcheck starts on first use, stopped
    when the session ends, however it ends."""
    yield
    stop_epubcheck_server()


@pytest.fixture
def spawn():
    """Start seedpress commands in the background; every one still running when the test
    ends, passed or failed, is killed and reaped, its pipes closed."""
    started: list[subprocess.Popen] = []

    def start(*arguments: str | Path, env: dict[str, str | None] | None = None, **options) -> subprocess.Popen:
        options.setdefault("stdout", subprocess.PIPE)
        options.setdefault("stderr", subprocess.PIPE)
        process = subprocess.Popen(seedpress_command(*arguments), text=True, cwd=ROOT,
                                   env=seedpress_environment(env), **options)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


@pytest.fixture(scope="session")
def build_env() -> dict[str, str]:
    return {"SOURCE_DATE_EPOCH": str(BUILD_EPOCH)}


@pytest.fixture(scope="session")
def rendered(tmp_path_factory, build_env) -> dict[str, Rendered]:
    """Every edition fixture converted into all four editions by one `seedpress convert` run."""
    out = tmp_path_factory.mktemp("editions")
    inputs = [DATA / f"{name}.txt" for name in EDITION_FIXTURES]
    result = seedpress("convert", *inputs, "--out", out, "--json", env=build_env)
    outcomes = {Path(o["input"]).stem: o for o in json_lines(result.stdout)}
    assert "Traceback" not in result.stderr, result.stderr
    assert sorted(outcomes) == sorted(EDITION_FIXTURES), result.stderr
    # A fixture that failed fails its own tests (Rendered.file), not everyone's.
    return {
        name: Rendered(name, read_seed(DATA / f"{name}.txt"), outcomes[name], out / outcomes[name]["key"])
        for name in EDITION_FIXTURES
    }


@pytest.fixture(scope="session")
def one_seed_archive(tmp_path_factory) -> tuple[Path, Path]:
    """A seeds folder of one good seed (article-0) and its archive, built once per session
    by `seedpress archive`: (seeds, dist). Never changed: tests change a copy (archive_of_one)."""
    base = tmp_path_factory.mktemp("one-seed-archive")
    write_seeds(base / "seeds", 1)
    result = seedpress("archive", base / "seeds", "--dist", base / "dist", "--jobs", "0")
    assert result.returncode == 0, result.stderr
    return base / "seeds", base / "dist"


@pytest.fixture
def archive_of_one(one_seed_archive, tmp_path) -> tuple[Path, Path]:
    """A copy of one_seed_archive under this test's tmp_path, to change: (seeds, dist)."""
    return copy_archive(*one_seed_archive, tmp_path)


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright, one per test module (no browser download)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "Chromium is missing: `make test` installs it (Debian package chromium)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable,
                                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield launched
        launched.close()


#: Seconds a test server may take to say it listens: generous, it only bounds a hang.
SERVER_DEADLINE = 120


@pytest.fixture
def static_host():
    """dist/ on Python's http.server at a free loopback port; stopped when the test ends."""
    started: list[subprocess.Popen] = []

    def start(dist: Path) -> str:
        process = subprocess.Popen(
            [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0", "--directory", str(dist)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        started.append(process)
        ready, _, _ = select.select([process.stdout], [], [], SERVER_DEADLINE)
        assert ready, f"http.server said nothing in {SERVER_DEADLINE} s"
        line = process.stdout.readline()
        port = re.search(r" port ([0-9]+) ", line)
        assert port, f"http.server said {line!r}"
        return f"http://127.0.0.1:{port[1]}"

    yield start
    for process in started:
        process.kill()
        process.communicate()
