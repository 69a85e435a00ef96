"""Review findings of issue 10, each held by a test: prerequisites checked once before any
input, versions checked by every command, the systemd unit's exit statuses, and the
style files that count towards a rebuild."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from support.archives import write_seeds
from support.run import REAL_SEED, ROOT, json_lines, seedpress

from convert import defaults
from convert.archive.catalog import SCHEMA_VERSION
from convert.build.environment import STYLE_FILES, styles_digest
from convert.defaults import CATALOGUED_EDITIONS


def path_without_java(tmp_path: Path) -> str:
    """A PATH with every tool this machine has except `java`."""
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        for tool in Path(folder).glob("*") if Path(folder).is_dir() else ():
            if tool.name != "java" and not (bin_folder / tool.name).exists():
                (bin_folder / tool.name).symlink_to(tool)
    return str(bin_folder)


@pytest.mark.parametrize("command", ["convert", "archive"])
@pytest.mark.slow
def test_validate_without_java_is_one_line_and_exit_2_before_any_seed(tmp_path, command):
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 2)
    out = tmp_path / "out"
    where = [seeds, "--out", out] if command == "convert" else [seeds, "--dist", out]
    result = seedpress(command, *where, "--validate", env={"PATH": path_without_java(tmp_path)})
    assert result.returncode == 2, result.stderr
    assert result.stderr == "seedpress: --validate needs a Java runtime for EPUBCheck (none found on PATH)\n"
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("command", ["convert", "archive"])
def test_every_command_refuses_a_too_old_pandoc(tmp_path, command):
    fake = tmp_path / "pandoc"
    fake.write_text("#!/bin/sh\necho 'pandoc 2.19.2'\n")
    fake.chmod(0o755)
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 1)
    out = tmp_path / "out"
    where = [seeds, "--out", out] if command == "convert" else [seeds, "--dist", out]
    result = seedpress(command, *where, env={"SEEDPRESS_PANDOC": str(fake)})
    assert result.returncode == 2
    minimum = ".".join(map(str, defaults.MIN_PANDOC))
    assert result.stderr == (f"seedpress: pandoc 2.19.2 is too old: seedpress needs {minimum} or newer "
                             "(pip install -U pypandoc-binary)\n")
    assert not out.exists()


def test_the_systemd_unit_does_not_fail_on_failed_seeds_or_a_held_lock():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(ROOT / "deploy" / "seedpress-archive.service")
    statuses = set(unit["Service"]["SuccessExitStatus"].split())
    # Exit 1: some seeds failed (named in the journal); 75: another run holds the lock.
    assert {"1", "75"} <= statuses


def test_only_the_files_the_editions_read_count_towards_a_rebuild(tmp_path):
    styles = tmp_path / "styles"
    shutil.copytree(defaults.STYLES_DIR, styles)
    before = styles_digest(styles)
    (styles / "build_reference_docx.py").write_text("# edited\n", "utf-8")
    (styles / "notes.txt").write_text("not read by any edition\n", "utf-8")
    assert styles_digest(styles) == before
    for name in STYLE_FILES:
        with open(styles / name, "ab") as stream:
            stream.write(b" ")
        assert styles_digest(styles) != before, name
        before = styles_digest(styles)
    (styles / "fonts").mkdir()
    (styles / "fonts" / "Extra.ttf").write_bytes(b"a font the stylesheets may load")
    assert styles_digest(styles) != before


@pytest.mark.slow
def test_convert_and_archive_print_one_json_schema(tmp_path):
    seeds = tmp_path / "seeds"
    shutil.copyfile(REAL_SEED, seeds.mkdir() or seeds / REAL_SEED.name)
    (seeds / "empty.txt").write_text("", "utf-8")
    converted = json_lines(seedpress("convert", seeds, "--out", tmp_path / "out", "--json").stdout)
    archived = json_lines(seedpress("archive", seeds, "--dist", tmp_path / "dist", "--json").stdout)
    assert archived[-1].keys() == {"summary"}
    lines = converted + archived[:-1]
    assert len(lines) == 4
    assert {frozenset(line) for line in lines} == {frozenset(
        {"input", "key", "status", "error", "title", "identifier", "files", "seconds", "notices"})}
    assert sorted(line["status"] for line in lines) == ["built", "built", "failed", "failed"]
    for line in lines:
        for file in line["files"].values():
            assert set(file) == {"path", "sha256", "size"} and Path(file["path"]).is_file()
    [built] = [line for line in archived[:-1] if line["status"] == "built"]
    assert set(built["files"]) == set(defaults.CATALOGUED_EDITIONS)


@pytest.mark.slow
def test_a_first_release_catalog_is_migrated_and_keeps_its_seeds(archive_of_one):
    seeds, dist = archive_of_one  # one seed, archived (the fixture checks the run succeeded)
    # Turn the catalog back into the first release's layout: build_key, status 'ok'.
    with sqlite3.connect(dist / ".catalog.sqlite") as connection:
        connection.executescript("""
            PRAGMA foreign_keys = OFF;
            CREATE TABLE old (key TEXT PRIMARY KEY, source_name TEXT NOT NULL, source_sha256 TEXT,
                build_key TEXT, status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'withdrawn')),
                error TEXT, title TEXT, identifier TEXT, summary TEXT, created TEXT, built_at TEXT,
                checked_at TEXT NOT NULL, seconds REAL);
            INSERT INTO old SELECT key, source_name, source_sha256, build_digest, 'ok', error, title,
                identifier, summary, created, built_at, checked_at, seconds FROM seeds;
            DROP TABLE seeds;
            ALTER TABLE old RENAME TO seeds;
            PRAGMA user_version = 0;
        """)
    rerun = seedpress("archive", seeds, "--dist", dist)
    assert rerun.returncode == 0, rerun.stderr
    assert ": 0 built, 1 unchanged, 0 failed, 0 withdrawn in " in rerun.stdout
    with sqlite3.connect(dist / ".catalog.sqlite") as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert connection.execute("SELECT status FROM seeds").fetchall() == [("built",)]
    assert seedpress("verify", "--dist", dist).returncode == 0
    assert fixity_rows(dist) == [(len(CATALOGUED_EDITIONS), "[]")]


def fixity_rows(dist: Path) -> list[tuple[int, str]]:
    """(files, problems) of each verify run the catalog recorded, oldest first."""
    with sqlite3.connect(dist / ".catalog.sqlite") as connection:
        return connection.execute("SELECT files, problems FROM fixity_checks ORDER BY id").fetchall()


@pytest.mark.slow
def test_a_version_1_catalog_is_migrated_and_then_records_each_verify(archive_of_one):
    seeds, dist = archive_of_one  # one seed, archived (the fixture checks the run succeeded)
    # Turn the catalog back into version 1: no fixity history.
    with sqlite3.connect(dist / ".catalog.sqlite") as connection:
        connection.executescript("DROP TABLE fixity_checks; PRAGMA user_version = 1;")
    # verify brings it to the current version itself: an archive need not run first.
    verified = seedpress("verify", "--dist", dist)
    assert verified.returncode == 0 and verified.stderr == "", verified.stderr
    with sqlite3.connect(dist / ".catalog.sqlite") as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert fixity_rows(dist) == [(len(CATALOGUED_EDITIONS), "[]")]
    rerun = seedpress("archive", seeds, "--dist", dist)
    assert ": 0 built, 1 unchanged, 0 failed, 0 withdrawn in " in rerun.stdout, rerun.stderr
    (dist / "article-0" / "article-0.docx").unlink()
    assert seedpress("verify", "--dist", dist).returncode == 1
    [first, second] = fixity_rows(dist)
    assert first == (len(CATALOGUED_EDITIONS), "[]")
    assert second[0] == len(CATALOGUED_EDITIONS) and json.loads(second[1]) == [
        {"path": "article-0/article-0.docx", "problem": f"{dist}/article-0/article-0.docx: missing"}]


@pytest.mark.slow
def test_verify_still_checks_when_it_cannot_record(archive_of_one):
    seeds, dist = archive_of_one  # one seed, archived (the fixture checks the run succeeded)
    with sqlite3.connect(dist / ".catalog.sqlite") as connection:
        connection.execute("PRAGMA user_version = 99")
    verified = seedpress("verify", "--dist", dist)
    assert verified.returncode == 0
    assert verified.stdout == f"{dist}: every file matches the catalog and SHA256SUMS\n"
    assert verified.stderr == (f"seedpress: {dist}/.catalog.sqlite: written by a newer seedpress "
                               "(catalog version 99); this check is not recorded\n")
    assert fixity_rows(dist) == []
