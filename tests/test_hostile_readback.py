"""Hostile input, round 3 (issue 20, D1 and D2): a seed's file name that is not UTF-8 or
holds control characters builds or fails alone, stored losslessly and shown escaped; and
nothing read back from the catalog is trusted: a key never makes a path outside dist, a
timestamp that is not one costs that row, never the run or serve's /search."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.run import REAL_SEED, json_lines, seedpress
from support.servers import start_server, stop

from convert.archive.catalog import open_catalog, published_rows, seed_rows
from convert.archive.keys import is_safe_key, safe_key
from convert.names import name_bytes, shown

CATALOG = ".catalog.sqlite"
GOOD = "good"

#: Seed names that are not UTF-8 (a cp1252 and a latin-1 name) or hold control characters,
#: as bytes, with what seedpress shows of each.
HOSTILE_NAMES = {
    "cp1252": (b"\x93caf\xe9\x94.txt", "\\x93caf\\xe9\\x94"),
    "latin-1": (b"na\xefve \xa9 r\xe9sum\xe9.txt", "na\\xefve \\xa9 r\\xe9sum\\xe9"),
    "control": (b"tab\x01bell\x07.txt", "tab\\x01bell\\x07"),
    "escape-sequence": (b"\x1b[31mred\x1b[0m.txt", "\\x1b[31mred\\x1b[0m"),
}


def write_bytes_named(folder: Path, name: bytes, data: bytes) -> None:
    with open(os.path.join(os.fsencode(folder), name), "wb") as stream:
        stream.write(data)


def catalog(dist: Path) -> sqlite3.Connection:
    return sqlite3.connect(dist / CATALOG, isolation_level=None)


def assert_no_crash(result) -> None:
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr, result.stderr


@pytest.fixture(scope="module")
def built_archive(tmp_path_factory) -> tuple[Path, Path]:
    """A seeds folder with one good seed and its archive, built once; tests copy it."""
    root = tmp_path_factory.mktemp("built")
    seeds = root / "seeds"
    seeds.mkdir()
    shutil.copy(REAL_SEED, seeds / f"{GOOD}.txt")
    result = seedpress("archive", seeds, "--dist", root / "dist")
    assert result.returncode == 0, result.stderr
    return seeds, root / "dist"


def copy_of(built_archive, into: Path) -> tuple[Path, Path]:
    """The built archive copied to into/seeds and into/a/dist (so that ../../x stays under `into`)."""
    seeds, dist = built_archive
    shutil.copytree(seeds, into / "seeds")
    shutil.copytree(dist, into / "a" / "dist")
    return into / "seeds", into / "a" / "dist"


# --- D1: a badly named seed builds or fails alone -------------------------------------

def test_shown_escapes_only_what_a_terminal_or_a_writer_cannot_take():
    assert shown(os.fsdecode(b"caf\xe9.txt")) == "caf\\xe9.txt"
    assert shown("caf\u00e9 \u4e2d\u6587.txt") == "caf\u00e9 \u4e2d\u6587.txt"
    assert shown("a\x01b\x1b[0m\u0085\u2028\u202e.txt") == "a\\x01b\\x1b[0m\\u0085\\u2028\\u202e.txt"
    assert shown(shown(os.fsdecode(b"\xff\x01"))) == shown(os.fsdecode(b"\xff\x01"))


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(HOSTILE_NAMES))
def test_a_seed_named_in_another_encoding_or_with_control_characters_builds_alone(tmp_path, variant):
    raw, escaped = HOSTILE_NAMES[variant]
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(REAL_SEED, seeds / f"{GOOD}.txt")
    write_bytes_named(seeds, raw, b"A hostile name\n\nIts summary.\n\nRead the original article here\n\nA comment.\n")
    dist = tmp_path / "dist"
    key = safe_key(os.fsdecode(raw)[: -len(".txt")])

    result = seedpress("archive", seeds, "--dist", dist, "--json")
    assert_no_crash(result)
    assert result.returncode == 0, result.stderr
    lines = json_lines(result.stdout)
    assert {line["key"]: line["status"] for line in lines[:-1]} == {GOOD: "built", key: "built"}
    # Shown escaped in --json, never raw bytes or control characters.
    assert [line["input"] for line in lines[:-1] if line["key"] == key] == [str(seeds / f"{escaped}.txt")]
    assert "\x1b" not in result.stdout and "\x01" not in result.stdout
    # Stored losslessly: the name as shown, and its exact bytes.
    with catalog(dist) as connection:
        row = connection.execute("SELECT source_name, source_name_bytes, status FROM seeds WHERE key = ?",
                                 (key,)).fetchone()
    assert row == (f"{escaped}.txt", raw, "built")
    # The master, the landing page and the hand-out carry the escaped name.
    master = (dist / key / f"{key}.md").read_text("utf-8")
    assert f"file: {escaped}.txt" in master or f"file: '{escaped}.txt'" in master, master[:600]
    assert "A hostile name" in (dist / "index.html").read_text("utf-8")
    # A rerun rewrites nothing, and the terminal gets no raw control characters either.
    again = seedpress("archive", seeds, "--dist", dist)
    assert_no_crash(again)
    assert again.returncode == 0 and "0 built, 2 unchanged, 0 failed" in again.stdout, again.stderr


@pytest.mark.slow
def test_a_badly_named_seed_that_fails_fails_alone_and_is_recorded(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(REAL_SEED, seeds / f"{GOOD}.txt")
    raw = b"caf\xe9\x1b[2J.txt"
    write_bytes_named(seeds, raw, b"   \n\n")  # empty: rejected
    dist = tmp_path / "dist"
    result = seedpress("archive", seeds, "--dist", dist)
    assert_no_crash(result)
    assert result.returncode == 1
    assert "1 built, 0 unchanged, 1 failed" in result.stdout
    assert "\x1b" not in result.stderr and "caf\\xe9\\x1b[2J.txt" in result.stderr, result.stderr
    with catalog(dist) as connection:
        name, stored, error = connection.execute(
            "SELECT source_name, source_name_bytes, error FROM seeds WHERE status = 'failed'").fetchone()
    assert (name, stored) == ("caf\\xe9\\x1b[2J.txt", raw) and "\x1b" not in error
    assert (dist / GOOD / f"{GOOD}.pdf").is_file() and (dist / "index.html").is_file()
    again = seedpress("archive", seeds, "--dist", dist)
    assert_no_crash(again)
    assert again.returncode == 1 and "0 built, 1 unchanged, 1 failed" in again.stdout


@pytest.mark.slow
@pytest.mark.parametrize("table", ["seeds", "files", "search_texts"])
def test_a_seed_the_catalog_refuses_to_record_fails_alone(tmp_path, built_archive, table):
    """A real SQLite trigger refuses the seed's row (as a damaged or full catalog might):
    that seed fails, named, and the others are built and handed out."""
    seeds, dist = copy_of(built_archive, tmp_path)
    shutil.copy(REAL_SEED, seeds / "refused.txt")
    (seeds / "other.txt").write_text(f"Another: {REAL_SEED.read_text('utf-8')}", "utf-8")
    with catalog(dist) as connection:
        connection.execute(f"CREATE TRIGGER refuse BEFORE INSERT ON {table} WHEN new.key = 'refused' "
                           "BEGIN SELECT RAISE(ABORT, 'refused by the catalog'); END")
    result = seedpress("archive", seeds, "--dist", dist, "--json")
    assert_no_crash(result)
    assert result.returncode == 1, result.stderr
    lines = json_lines(result.stdout)
    assert {line["key"]: line["status"] for line in lines[:-1]} == {"refused": "failed", "other": "built"}
    assert lines[-1]["summary"]["unchanged"] == 1
    [error] = [line for line in result.stderr.splitlines() if "refused.txt" in line]
    assert "cannot record it in the catalog" in error and "refused by the catalog" in error
    assert "Another" in (dist / "index.html").read_text("utf-8")


NAME_BYTES = st.binary(min_size=1, max_size=40).filter(lambda name: b"/" not in name and b"\0" not in name)


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stem=NAME_BYTES)
def test_property_any_file_name_bytes_the_run_completes_and_the_others_are_built(
        tmp_path_factory, built_archive, stem):
    seeds, dist = copy_of(built_archive, tmp_path_factory.mktemp("name"))
    raw = stem + b".txt"
    write_bytes_named(seeds, raw, b"A title\n\nA summary.\n\nRead the original article here\n\nA comment.\n")
    result = seedpress("archive", seeds, "--dist", dist, "--json")
    assert_no_crash(result)
    assert result.returncode in (0, 1), result.stderr
    lines = json_lines(result.stdout)
    assert lines[-1]["summary"]["unchanged"] == 1 and lines[-1]["summary"]["built"] + \
        lines[-1]["summary"]["failed"] == 1, lines
    assert all(shown(line) == line for line in result.stdout.splitlines() + result.stderr.splitlines())
    with catalog(dist) as connection:
        stored = dict(connection.execute("SELECT source_name_bytes, status FROM seeds"))
    assert stored[raw] in ("built", "failed") and stored[f"{GOOD}.txt".encode()] == "built"
    if stored[raw] == "failed":
        assert result.returncode == 1 and len(result.stderr.splitlines()) == 1, result.stderr
    bag = seedpress("bag", dist.parent / "bag", "--dist", dist)
    # The bag half of the property (the premis/XML escaping of D5) is another change's;
    # with the catalog holding only shown names it already holds here.
    assert bag.returncode == 0, bag.stderr


# --- D2: the catalog is untrusted when read back ---------------------------------------

def add_catalog_row(dist: Path, key: str, *, status: str = "built", created: str = "2026-01-01T00:00:00Z") -> None:
    with catalog(dist) as connection:
        connection.execute(
            "INSERT INTO seeds (key, source_name, status, title, identifier, summary, created, checked_at) "
            "VALUES (?, 'x.txt', ?, 'Tampered', 'urn:x', 'Tampered.', ?, '2026-01-01T00:00:00Z')",
            (key, status, created))


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every file and folder under `folder` with its bytes (None for a folder)."""
    found = {}
    for parent, folders, files in os.walk(folder):
        for name in folders:
            found[os.path.relpath(os.path.join(parent, name), folder)] = None
        for name in files:
            path = os.path.join(parent, name)
            found[os.path.relpath(path, folder)] = Path(path).read_bytes()
    return found


@pytest.mark.slow
@pytest.mark.parametrize("key", ["../precious", "../../x", "ABSOLUTE", "SEEDS"])
def test_a_tampered_catalog_key_moves_nothing_from_outside_dist(tmp_path, built_archive, key):
    seeds, dist = copy_of(built_archive, tmp_path)
    if key == "ABSOLUTE":
        key = str(tmp_path / "absolute")
    elif key == "SEEDS":
        key = os.path.relpath(seeds, dist)  # ../../seeds: the run's own seeds folder
    target = (dist / key).resolve()
    if target != seeds:
        target.mkdir(parents=True)
        (target / "precious.txt").write_text("keep me", "utf-8")
    before = tree(tmp_path)
    add_catalog_row(dist, key)

    result = seedpress("archive", seeds, "--dist", dist)
    assert_no_crash(result)
    assert result.returncode == 0, result.stderr
    assert "0 withdrawn" in result.stdout
    assert target.is_dir() and not (dist / ".withdrawn").exists()
    after = tree(tmp_path)
    assert {path: data for path, data in after.items() if not path.startswith("a/dist")} == {
        path: data for path, data in before.items() if not path.startswith("a/dist")}
    # Named in one one-line warning, every run, until a person repairs the catalog.
    assert len([line for line in result.stderr.splitlines() if repr(key) in line]) == 1, result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("created", ["yesterday", "", "99999-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_a_build_date_that_is_not_a_timestamp_costs_the_row_not_the_run(tmp_path, built_archive, created):
    seeds, dist = copy_of(built_archive, tmp_path)
    with catalog(dist) as connection:
        connection.execute("UPDATE seeds SET created = ? WHERE key = ?", (created, GOOD))
    result = seedpress("archive", seeds, "--dist", dist)
    assert_no_crash(result)
    # A date seedpress can read and write (the year 9999) is left alone; any other is
    # damage: the title is rebuilt, which writes a good row, and the run exits 0.
    if created.startswith("9999-"):
        assert result.returncode == 0 and "0 built, 1 unchanged" in result.stdout, result.stderr
    else:
        assert result.returncode == 0 and "1 built, 0 unchanged" in result.stdout, result.stderr
        assert [line for line in result.stderr.splitlines() if GOOD in line and "created" in line], result.stderr
        with catalog(dist) as connection:
            assert connection.execute("SELECT created FROM seeds WHERE key = ?", (GOOD,)).fetchone()[0] != created
    assert "Syrian" in (dist / "index.html").read_text("utf-8")


@pytest.mark.slow
@pytest.mark.parametrize(("stored", "read"), [("french", "fr"), ("klingonese", None)])
def test_a_language_name_stored_as_a_tag_keeps_the_handout(tmp_path, built_archive, stored, read):
    """A run before language tags were held to 2 or 3 letters stored `--lang french` as the
    title's language; the hand-out, which checks every tag, then stopped every run with
    "internal error: ValueError". The name is read as its tag, or as unknown."""
    seeds, dist = copy_of(built_archive, tmp_path)
    with catalog(dist) as connection:
        connection.execute("UPDATE search_texts SET lang = ? WHERE key = ?", (stored, GOOD))
    result = seedpress("archive", seeds, "--dist", dist)
    assert_no_crash(result)
    assert result.returncode == 0 and "0 built, 1 unchanged" in result.stdout, result.stderr
    [publication] = json.loads((dist / "opds.json").read_text("utf-8"))["publications"]
    assert publication["metadata"].get("language") == read
    assert seedpress("verify", "--dist", dist).returncode == 0


@pytest.mark.slow
def test_a_bad_build_date_of_a_title_that_cannot_be_rebuilt_leaves_the_handout(tmp_path, built_archive):
    seeds, dist = copy_of(built_archive, tmp_path)
    with catalog(dist) as connection:
        connection.execute("UPDATE seeds SET created = 'yesterday' WHERE key = ?", (GOOD,))
    (seeds / f"{GOOD}.txt").write_text("   \n", "utf-8")  # now empty: its rebuild fails
    result = seedpress("archive", seeds, "--dist", dist)
    assert_no_crash(result)
    assert result.returncode == 1 and "0 built, 0 unchanged, 1 failed" in result.stdout, result.stderr
    assert [line for line in result.stderr.splitlines() if "left out of the hand-out" in line], result.stderr
    assert "Syrian" not in (dist / "index.html").read_text("utf-8")


@pytest.fixture
def servers():
    """Start `seedpress serve` on a dist; every server is stopped when the test ends."""
    started = []

    def start(dist: Path, logs: Path) -> str:
        process, base = start_server(dist, logs)
        started.append(process)
        return base

    yield start
    for process in started:
        if process.poll() is None:
            stop(process)


@pytest.mark.slow
@pytest.mark.parametrize("created", ["yesterday", "", "99999-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_search_answers_for_a_row_whose_build_date_is_not_a_timestamp(tmp_path, built_archive, servers, created):
    _seeds, dist = copy_of(built_archive, tmp_path)
    with catalog(dist) as connection:
        connection.execute("UPDATE seeds SET created = ? WHERE key = ?", (created, GOOD))
        connection.execute("UPDATE files SET path = '../../etc/passwd' WHERE key = ? AND edition = 'pdf'", (GOOD,))
    base = servers(dist, tmp_path / "serve.log")
    response = httpx.get(f"{base}/search", params={"q": "Syrian"}, timeout=60)
    assert response.status_code == 200, response.text[-500:]
    assert "Syrian" in response.text and "etc/passwd" not in response.text


KEY_PIECES = st.sampled_from(["..", ".", "", "precious", "seeds", "a", "dist", "/", "\\", "x\x00", "\udce9"])
KEYS = st.one_of(
    st.text(max_size=30),
    st.lists(KEY_PIECES, min_size=1, max_size=6).map("/".join),
    st.sampled_from(["../precious", "../../x", "..", ".", "", "/", "../seeds", "index", ".withdrawn"]),
)


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=KEYS)
def test_property_no_catalog_key_makes_a_run_touch_a_path_outside_dist(tmp_path_factory, built_archive, key):
    root = tmp_path_factory.mktemp("key")
    seeds, dist = copy_of(built_archive, root)
    (root / "precious").mkdir()
    (root / "precious" / "keep.txt").write_text("keep me", "utf-8")
    (root / "a" / "precious").mkdir()
    before = tree(root)
    try:
        add_catalog_row(dist, key)
        with catalog(dist) as connection:
            connection.execute("INSERT INTO files (key, edition, path, sha256, size) VALUES (?, 'pdf', ?, ?, 1)",
                               (key, f"{key}/{key}.pdf", "0" * 64))
    except (sqlite3.Error, UnicodeEncodeError):
        return  # a key SQLite cannot hold (the primary key is taken, a lone surrogate) is no row
    result = seedpress("archive", seeds, "--dist", dist, "--json")
    assert_no_crash(result)
    assert result.returncode == 0, result.stderr
    after = tree(root)
    assert {path: data for path, data in after.items() if not path.startswith("a/dist")} == {
        path: data for path, data in before.items() if not path.startswith("a/dist")}
    summary = json_lines(result.stdout)[-1]["summary"]
    assert summary["withdrawn"] == (1 if is_safe_key(key) else 0)


def test_is_safe_key_accepts_every_key_seedpress_makes_and_nothing_that_makes_a_path():
    for stem in ["x", "a b", "..", ".", "index", "con", "000_52d55abe645743f0", "\u4e2d", os.fsdecode(b"\xe9")]:
        assert is_safe_key(safe_key(stem)), stem
    for key in ["", ".", "..", "../x", "/tmp/x", "a/b", "a\\b", "index", "INDEX", "-x", "x" * 200, "caf\u00e9"]:
        assert not is_safe_key(key), key


@given(stem=st.text(min_size=1, max_size=60))
def test_property_every_key_made_is_safe(stem):
    assert is_safe_key(safe_key(stem))


@given(text=st.text())
def test_property_shown_text_is_idempotent_and_encodable(text):
    once = shown(text)
    assert shown(once) == once
    once.encode("utf-8")
    assert not any(c in once for c in "\x00\x1b\x85\u2028\u2029\u202e")


@given(raw=st.binary(min_size=1, max_size=40))
def test_property_name_bytes_gives_back_the_bytes_of_the_name(raw):
    assert name_bytes(os.fsdecode(raw)) == raw


def test_json_column_damage_does_not_stop_the_handout(tmp_path, built_archive):
    _seeds, dist = copy_of(built_archive, tmp_path)
    with catalog(dist) as connection:
        connection.execute("UPDATE seeds SET provenance = ? WHERE key = ?",
                           (json.dumps({"author": "A\udce9\x1b"}), GOOD))
        provenance = connection.execute("SELECT provenance FROM seeds WHERE key = ?", (GOOD,)).fetchone()[0]
    assert "\\udce9" in provenance
    from convert.archive.catalog import open_catalog
    from convert.jobs import published_entries

    connection = open_catalog(dist)
    try:
        warnings: list[str] = []
        entries = published_entries(connection, warnings.append)
    finally:
        connection.close()
    assert [entry.key for entry in entries] == [GOOD] and entries[0].author is None


@pytest.mark.parametrize("bad_row", [0, 1_100])
def test_text_that_is_not_utf8_anywhere_in_the_catalog_is_read_leniently_and_no_row_is_lost(tmp_path, bad_row):
    """The catalog's readers take rows a batch at a time with SQLite's own UTF-8 decoder, and
    from a text that is not UTF-8 on read the rest again leniently: in the first batch or
    after several, every row comes back once, in order, the bad bytes as U+FFFD."""
    connection = open_catalog(tmp_path)
    keys = [f"title-{number:05d}" for number in range(1_200)]
    connection.executemany(
        "INSERT INTO seeds (key, source_name, source_sha256, build_digest, status, title, identifier, summary, "
        "created, checked_at) VALUES (?, ?, ?, ?, 'built', ?, ?, ?, '2026-12-06T10:00:00Z', '2026-12-06T10:00:00Z')",
        [(key, f"{key}.txt", "0" * 64, "1" * 64, f"Title {key}", f"urn:x:{key}", "A summary.") for key in keys])
    broken = keys[bad_row]
    connection.execute("UPDATE seeds SET source_name = CAST(x'ff41' AS TEXT), title = CAST(x'54ff' AS TEXT) "
                       "WHERE key = ?", (broken,))
    problems: list[str] = []
    rows = seed_rows(connection, problems.append)
    published = published_rows(connection, problems.append)
    connection.close()
    assert list(rows) == keys and problems == []
    assert rows[broken].source_name == "\ufffdA"
    assert [row[0][0] for row in published] == keys
    assert published[bad_row][0][1] == "T\ufffd"
    assert all(row[0][1] == f"Title {row[0][0]}" for number, row in enumerate(published) if number != bad_row)
