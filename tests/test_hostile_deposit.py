"""Hostile input, round 3 (issue 20): what `bag`, `verify` and the archive read back.

D4  bag-info.txt header injection through a title or publisher that breaks a line.
D5  control characters in catalogued text (a seed's name, a tampered SHA256SUMS line):
    XML, terminals and the fixity record each get their own escaping, masters read back.
D6  a FIFO (or any file that is not a regular one) in dist is a named problem, never a
    hang; a signal leaves no temporary folder behind.
And: `bag --force` replaces only a bag seedpress made; keys stay distinct under case-folding.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import unicodedata
from pathlib import Path

import bagit
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lxml import etree
from support.run import REAL_SEED, assert_one_line_error, json_lines, seedpress, wait_for

from convert.archive.keys import assign_keys, seed_key
from convert.deposit.bag import write_bag
from convert.document.provenance import text_problem
from convert.errors import ConfigError
from convert.files import NotRegularFileError, open_regular, write_if_changed
from convert.names import shown

#: Every character str.splitlines() ends a line at; bagit reads tag files with it.
LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
#: What no line shown on a terminal may hold raw.
TERMINAL_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
#: Seed names holding control characters: C0, an ESC sequence, C1 (NEL and CSI), DEL, bidi.
HOSTILE_NAMES = ("ctl\x01x.txt", "esc\x1b[31mred.txt", "c1\x85\x9bz.txt", "del\x7f.txt", "bidi\u202eevil.txt")
#: Seconds within which a command facing a FIFO must have answered: it only bounds a hang.
HANG_BOUND = 120


def tree(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def bag_tags(bag: Path) -> dict[str, str]:
    """bag-info.txt as bagit itself reads it back."""
    return {name: value for name, value in bagit.Bag(str(bag)).info.items()}


@pytest.fixture(scope="module")
def hostile_archive(tmp_path_factory) -> tuple[Path, Path]:
    """An archive of the real seed and of copies of it named with control characters."""
    base = tmp_path_factory.mktemp("hostile-deposit")
    seeds = base / "seeds"
    seeds.mkdir()
    shutil.copy(REAL_SEED, seeds / "good.txt")
    for name in HOSTILE_NAMES:
        shutil.copy(REAL_SEED, seeds / name)
    result = seedpress("archive", seeds, "--dist", base / "dist", "--jobs", "2", "--json")
    assert result.returncode == 0, result.stderr
    assert len([line for line in json_lines(result.stdout) if line.get("status") == "built"]) == 1 + len(HOSTILE_NAMES)
    return seeds, base / "dist"


@pytest.fixture
def dist_copy(hostile_archive, tmp_path) -> Path:
    shutil.copytree(hostile_archive[1], tmp_path / "dist")
    return tmp_path / "dist"


def catalogued(dist: Path) -> dict[str, str]:
    """Source name to key of every built seed."""
    with sqlite3.connect(dist / ".catalog.sqlite") as connection:
        return dict(connection.execute("SELECT source_name, key FROM seeds WHERE status = 'built'"))


# --- D4: bag-info.txt header injection ----------------------------------------------


@pytest.mark.parametrize("breaking", ["\u2028", "\u2029", "\x85", "\x1c", "\v"])
@pytest.mark.parametrize("field", ["title", "publisher"])
def test_a_line_breaking_title_or_publisher_is_refused_before_a_bag_is_made(hostile_archive, tmp_path, field,
                                                                            breaking):
    _seeds, dist = hostile_archive
    table, key = ("archive", "title") if field == "title" else ("metadata", "publisher")
    config = tmp_path / "seedpress.toml"
    value = f"Example{breaking}Contact-Email: evil@example.org"
    config.write_text(f"[{table}]\n{key} = {json.dumps(value)}\n", "utf-8")
    out = tmp_path / "bag"
    result = seedpress("bag", out, "--dist", dist, "--config", config)
    assert result.returncode == 2, result.stderr
    line = assert_one_line_error(result.stderr, f"{table}.{key}")
    assert f"U+{ord(breaking):04X}" in line
    assert not out.exists() and sorted(path.name for path in tmp_path.iterdir()) == ["seedpress.toml"]


@pytest.mark.parametrize("breaking", ["\u2028", "\u2029"])
def test_line_separators_are_refused_in_every_metadata_text(tmp_path, breaking):
    """The command line and a master's frontmatter are held to the same rule."""
    assert text_problem(f"a{breaking}b") == (f"holds the line-breaking character U+{ord(breaking):04X} "
                                             "(each value is one line of text)")
    result = seedpress("convert", REAL_SEED, "--out", tmp_path / "out", "--publisher", f"Press{breaking}X-Tag: 1")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].endswith(f"holds the line-breaking character U+{ord(breaking):04X} "
                                                   "(each value is one line of text)")
    assert not (tmp_path / "out").exists()


def test_the_bag_writer_refuses_a_tag_that_breaks_the_line_whatever_checked_it_before():
    from convert.deposit.bag import _bag_info

    for breaking in LINE_BREAKS:
        with pytest.raises(ConfigError) as refused:
            _bag_info(1, f"Title{breaking}Payload-Oxum: 1.1", None)
        assert "\n" not in str(refused.value) and breaking not in str(refused.value)


#: Text built to break lines and smuggle tags in, among any other text.
ORDINARY = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
METADATA_TEXT = st.one_of(
    st.text(ORDINARY, min_size=1, max_size=30),
    st.lists(st.one_of(ORDINARY, st.characters(), st.sampled_from([*LINE_BREAKS, ":", " ", "Payload-Oxum: 1.1"])),
             max_size=12).map("".join),
)


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=METADATA_TEXT, publisher=st.none() | METADATA_TEXT)
def test_any_metadata_text_is_refused_in_one_line_or_gives_a_valid_bag_with_its_own_tags(
        hostile_archive, tmp_path_factory, title, publisher):
    _seeds, dist = hostile_archive
    out = tmp_path_factory.mktemp("property") / "bag"
    try:
        write_bag(dist, out, title=title, publisher=publisher)
        event("bagged")
    except ConfigError as error:
        event("refused")
        assert str(error).splitlines() == [str(error)]
        assert text_problem(title) is not None or (publisher is not None and text_problem(publisher) is not None)
        assert not out.exists() and list(out.parent.iterdir()) == []
        return
    bagit.Bag(str(out)).validate(fast=False)
    tags = bag_tags(out)
    expected = {"External-Description", "Bag-Software-Agent", "Bagging-Date", "Seed-Count", "Payload-Oxum"}
    assert set(tags) == expected | ({"Source-Organization"} if publisher is not None else set())
    assert tags["External-Description"] == title.strip()
    if publisher is not None:
        assert tags["Source-Organization"] == publisher.strip()
    shutil.rmtree(out)


# --- D5: control characters in catalogued text -------------------------------------


def test_a_seed_named_with_control_characters_is_bagged_and_its_premis_names_it(hostile_archive, tmp_path):
    _seeds, dist = hostile_archive
    out = tmp_path / "bag"
    result = seedpress("bag", out, "--dist", dist)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    bagit.Bag(str(out)).validate(fast=False)
    keys = catalogued(dist)
    assert {path.name for path in (out / "data").iterdir()} == set(keys.values())
    premis = etree.parse(str(out / "premis-events.xml"))
    details = [element.text for element in premis.iter("{http://www.loc.gov/premis/v3}eventDetail")]
    for name in HOSTILE_NAMES:
        # A name is shown escaped (names.shown), as everywhere: nothing XML cannot carry remains.
        assert any(shown(name) in detail for detail in details), (name, details)


def test_the_master_written_for_such_a_seed_reads_back(hostile_archive, tmp_path):
    _seeds, dist = hostile_archive
    masters = [dist / key / f"{key}.md" for name, key in catalogued(dist).items() if name in set(map(shown, HOSTILE_NAMES))]
    assert len(masters) == len(HOSTILE_NAMES)
    result = seedpress("convert", *masters, "--out", tmp_path / "out", "--to", "md", "--json")
    assert result.returncode == 0, result.stderr
    from convert.document.master import read_master

    assert sorted(read_master(master).source.file for master in masters) == sorted(map(shown, HOSTILE_NAMES))


@pytest.mark.parametrize("name", [*HOSTILE_NAMES, "nl\u2028ps\u2029.txt", "back\\slash.txt", "bell\x07\x0b\x0c.txt"])
def test_every_name_a_seed_can_have_comes_back_from_its_master(name):
    from convert.document.master import parse_master, to_markdown
    from convert.document.seed import parse_seed

    document = parse_seed(REAL_SEED.read_bytes(), name)
    written = to_markdown(document)
    # As read_master sees it: a CR in the file would be a line end.
    back = parse_master(written.replace("\r\n", "\n").replace("\r", "\n"), "seed.md")
    assert back.source.file == shown(name) == document.source.file
    assert written.split("\n---\n")[0].count("\n") == to_markdown(parse_seed(REAL_SEED.read_bytes(), "x.txt")) \
        .split("\n---\n")[0].count("\n"), "the frontmatter keeps its shape"


def test_a_tampered_sha256sums_line_is_shown_and_recorded_escaped_and_bags_still_work(dist_copy, tmp_path):
    dist = dist_copy
    sums = dist / "SHA256SUMS"
    original = sums.read_bytes()
    hostile = "\x1b]0;pwned\x07\x1b[2Jx\x01\x9b.pdf"
    sums.write_bytes(original + f"{'0' * 64}  {hostile}\n".encode())
    verified = seedpress("verify", "--dist", dist)
    assert verified.returncode == 1
    assert not TERMINAL_UNSAFE.search(verified.stderr.replace("\n", "")), repr(verified.stderr)
    assert verified.stderr == f"seedpress: {sums}: lists {shown(hostile)}, which the catalog does not have\n"
    assert "\\x1b]0;pwned\\x07\\x1b[2Jx\\x01\\u009b.pdf" in verified.stderr
    with sqlite3.connect(dist / ".catalog.sqlite") as connection:
        (recorded,), = connection.execute("SELECT problems FROM fixity_checks ORDER BY id DESC LIMIT 1")
    assert not TERMINAL_UNSAFE.search(json.loads(recorded)[0]["problem"])
    sums.write_bytes(original)  # the archive is repaired: the recorded failure must not block a deposit
    result = seedpress("bag", tmp_path / "bag", "--dist", dist)
    assert result.returncode == 0, result.stderr
    premis = etree.parse(str(tmp_path / "bag" / "premis-events.xml"))
    notes = [note.text for note in premis.iter("{http://www.loc.gov/premis/v3}eventOutcomeDetailNote")]
    assert notes == [shown(f"{sums}: lists {hostile}, which the catalog does not have")]


def test_a_fixity_record_holding_raw_control_characters_still_bags(dist_copy, tmp_path):
    """A record an older seedpress (or anyone) wrote is read back untrusted."""
    dist = dist_copy
    problems = json.dumps([{"path": "x\x01", "problem": "\x1b[31mred\x00 \x9b \ufffe"}], ensure_ascii=False)
    with sqlite3.connect(dist / ".catalog.sqlite") as connection:
        connection.execute("INSERT INTO fixity_checks (checked_at, files, problems) VALUES (?, ?, ?)",
                           ("2026-01-01T00:00:00\x02Z", 1, problems))
    result = seedpress("bag", tmp_path / "bag", "--dist", dist)
    assert result.returncode == 0, result.stderr
    bagit.Bag(str(tmp_path / "bag")).validate(fast=True)
    etree.parse(str(tmp_path / "bag" / "premis-events.xml"))


def test_error_lines_naming_a_hostile_seed_are_escaped(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    name = "bad\x1b[2J\x1b]0;title\x07\u202e\x9b.txt"
    (seeds / name).write_bytes(b"")
    result = seedpress("archive", seeds, "--dist", tmp_path / "dist")
    assert result.returncode == 1
    assert not TERMINAL_UNSAFE.search(result.stderr.replace("\n", "")), repr(result.stderr)
    assert_one_line_error(result.stderr, shown(str(seeds / name)))


@given(st.text())
def test_shown_leaves_nothing_a_terminal_acts_on_and_changes_nothing_else(text):
    escaped = shown(text)
    assert not TERMINAL_UNSAFE.search(escaped)
    assert len(escaped.splitlines()) <= 1
    assert shown(escaped) == escaped
    if not TERMINAL_UNSAFE.search(text):
        assert escaped == text


# --- D6: FIFOs in dist, and signals -------------------------------------------------


def plant_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def test_verify_names_a_fifo_instead_of_hanging(dist_copy):
    dist = dist_copy
    fifo = dist / "good" / "good.pdf"
    plant_fifo(fifo)
    result = seedpress("verify", "--dist", dist, timeout=HANG_BOUND)
    assert result.returncode == 1
    assert result.stderr == f"seedpress: {fifo}: not a regular file\n"


def test_verify_names_a_fifo_or_a_folder_at_sha256sums(dist_copy):
    dist = dist_copy
    plant_fifo(dist / "SHA256SUMS")
    result = seedpress("verify", "--dist", dist, timeout=HANG_BOUND)
    assert result.returncode == 1
    assert result.stderr == f"seedpress: {dist / 'SHA256SUMS'}: not a regular file\n"
    (dist / "SHA256SUMS").unlink()
    (dist / "SHA256SUMS").mkdir()
    result = seedpress("verify", "--dist", dist, timeout=HANG_BOUND)
    assert result.stderr == f"seedpress: {dist / 'SHA256SUMS'}: not a regular file\n"


def test_bag_refuses_a_fifo_in_the_payload_and_releases_the_lock(dist_copy, tmp_path):
    dist = dist_copy
    fifo = dist / "good" / "good.epub"
    plant_fifo(fifo)
    out = tmp_path / "deposits" / "bag"
    result = seedpress("bag", out, "--dist", dist, timeout=HANG_BOUND)
    assert result.returncode == 1
    assert result.stderr == f"seedpress: {fifo}: not a regular file: seedpress verify names every such file\n"
    assert list(out.parent.iterdir()) == [], "no bag and no temporary folder"
    # The lock is free: the next command gets past it (to the same refusal), not exit 75.
    assert seedpress("bag", out, "--dist", dist, timeout=HANG_BOUND).returncode == 1


@pytest.mark.parametrize("name", ["SHA256SUMS", ".handout-pages.json", "index.html"])
def test_archive_replaces_a_fifo_planted_among_its_handout_files(hostile_archive, tmp_path, name):
    seeds, dist = hostile_archive
    shutil.copytree(dist, tmp_path / "dist")
    dist = tmp_path / "dist"
    plant_fifo(dist / name)
    result = seedpress("archive", seeds, "--dist", dist, timeout=HANG_BOUND)
    assert result.returncode == 0, result.stderr
    assert (dist / name).is_file() and not (dist / name).is_symlink()
    assert seedpress("verify", "--dist", dist).returncode == 0


def test_open_regular_refuses_every_other_kind_of_file_at_once(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_bytes(b"data")
    (tmp_path / "link").symlink_to(tmp_path / "file")
    for path in (tmp_path / "fifo", tmp_path / "folder", Path("/dev/null"), Path("/dev/zero")):
        with pytest.raises(NotRegularFileError) as refused:
            open_regular(path)
        assert refused.value.strerror == "not a regular file" and refused.value.filename == str(path)
    with open_regular(tmp_path / "link") as stream:
        assert stream.read() == b"data"
    with pytest.raises(NotRegularFileError):
        open_regular(tmp_path / "link", follow_symlinks=False)
    # A file that is not regular is overwritten, never read.
    assert write_if_changed(tmp_path / "fifo", b"new") is True
    assert (tmp_path / "fifo").read_bytes() == b"new"


@pytest.mark.slow
def test_sigterm_during_bag_leaves_no_temporary_folder(dist_copy, tmp_path, spawn):
    """A payload big enough that bagging takes a while; SIGTERM once its temporary folder exists."""
    dist = dist_copy
    big = dist / "good" / "good.txt"
    digest = hashlib.sha256()
    with open(big, "wb") as stream:
        block = os.urandom(1 << 20)
        for _ in range(256):
            stream.write(block)
            digest.update(block)
    with sqlite3.connect(dist / ".catalog.sqlite") as connection:
        connection.execute("UPDATE files SET sha256 = ? WHERE key = 'good' AND edition = 'txt'",
                           (digest.hexdigest(),))
    deposits = tmp_path / "deposits"
    deposits.mkdir()
    process = spawn("bag", deposits / "bag", "--dist", dist)
    wait_for(lambda: any(path.name.endswith(".tmp") for path in deposits.iterdir()) or process.poll() is not None,
             "the bag's temporary folder", interval=0.005)
    assert process.poll() is None, "bag ended before it could be stopped"
    process.send_signal(signal.SIGTERM)
    _stdout, stderr = process.communicate(timeout=HANG_BOUND)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert stderr == "seedpress: stopped by SIGTERM\n"
    assert list(deposits.iterdir()) == []


# --- bag --force replaces only a bag ----------------------------------------------


@pytest.mark.parametrize("kind", ["seeds folder", "empty folder", "another program's bag", "file", "link to a bag"])
def test_force_replaces_nothing_but_a_bag_seedpress_made(hostile_archive, tmp_path, kind):
    seeds, dist = hostile_archive
    out = tmp_path / "out"
    if kind == "seeds folder":
        shutil.copytree(seeds, out)
    elif kind == "empty folder":
        out.mkdir()
    elif kind == "another program's bag":
        out.mkdir()
        (out / "notes.txt").write_text("kept\n", "utf-8")
        bagit.make_bag(str(out))
    elif kind == "file":
        out.write_text("a file\n", "utf-8")
    else:
        real = tmp_path / "real-bag"
        assert seedpress("bag", real, "--dist", dist).returncode == 0
        out.symlink_to(real)
    before = sorted(tmp_path.rglob("*"))
    contents = tree(tmp_path) if kind != "link to a bag" else tree(tmp_path / "real-bag")
    result = seedpress("bag", out, "--dist", dist, "--force")
    assert result.returncode == 2
    assert result.stderr == f"seedpress: {out}: not a bag made by seedpress bag: --force replaces only such a bag\n"
    assert sorted(tmp_path.rglob("*")) == before
    assert contents == (tree(tmp_path) if kind != "link to a bag" else tree(tmp_path / "real-bag"))


# --- keys distinct under case-folding --------------------------------------------


@pytest.mark.slow
def test_seeds_whose_keys_differ_only_in_case_get_folders_apart_on_any_file_system(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    names = ["REPORT.txt", "report.txt", "Report.txt", "A_b.txt", "a_B.txt", "alone.txt", "Solo.txt"]
    for name in names:
        (seeds / name).write_bytes(f"{name}\n\n".encode() + REAL_SEED.read_bytes())
    result = seedpress("archive", seeds, "--dist", tmp_path / "dist", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    folders = [path.name for path in (tmp_path / "dist").iterdir()
               if path.is_dir() and path.name != "pagefind" and not path.name.startswith(".")]
    assert len(folders) == len(names)
    assert len({folder.casefold() for folder in folders}) == len(names)
    # Names that meet no other keep their own key, as in every archive made before.
    assert {"alone", "Solo"} <= set(folders)


#: File names as Linux allows them, with many that differ only in case or normalization.
STEMS = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=12),
    st.sampled_from(["REPORT", "report", "Report", "ÉTÉ", "été", "index", "INDEX", "a-b", "A-B", "x" * 80, "X" * 80]),
    st.text("aAbB_-", min_size=1, max_size=4),
)


def spellings(stem: str) -> st.SearchStrategy[str]:
    """The stem, or another spelling of it a file system might take for the same name."""
    return st.sampled_from([stem, unicodedata.normalize("NFD", stem), unicodedata.normalize("NFC", stem),
                            stem.upper(), stem.lower()])


NAMES = st.lists(STEMS.flatmap(spellings).map(lambda stem: f"{stem}.txt"), max_size=12, unique=True)


@settings(max_examples=300, deadline=None)
@given(names=NAMES, order=st.randoms())
def test_assigned_keys_are_distinct_after_casefolding_and_stable(names, order):
    keys = assign_keys(names)
    assert len({key.casefold() for key in keys.values()}) == len(names), keys
    shuffled = names[:]
    order.shuffle(shuffled)
    assert assign_keys(shuffled) == keys
    own = [seed_key(name).casefold() for name in names]
    for name in names:
        if own.count(seed_key(name).casefold()) == 1:
            assert keys[name] == seed_key(name), "a name that meets no other keeps its own key"
