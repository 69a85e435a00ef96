"""`seedpress bag`: a BagIt 1.0 deposit of a real archive, checked with the real bagit library
(DESIGN §10)."""

from __future__ import annotations

import fcntl
import re
import shutil
import sqlite3
from pathlib import Path

import bagit
import pytest
from lxml import etree
from support.archives import EDITIONS, copy_archive, write_seeds
from support.run import seedpress

import convert
from convert.defaults import CATALOGUED_EDITIONS
from convert.deposit.bag import write_bag

pytestmark = pytest.mark.slow

SEEDS = 20
PREMIS = "{http://www.loc.gov/premis/v3}"
EVENT_TYPES = "http://id.loc.gov/vocabulary/preservation/eventType"


@pytest.fixture(scope="module")
def archived(tmp_path_factory) -> tuple[Path, Path]:
    """A seeds folder of 20 seeds, its archive, and three verify runs recorded in its catalog."""
    base = tmp_path_factory.mktemp("bag-archive")
    write_seeds(base / "seeds", SEEDS)
    result = seedpress("archive", base / "seeds", "--dist", base / "dist", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    for _ in range(3):
        verified = seedpress("verify", "--dist", base / "dist")
        assert verified.returncode == 0 and verified.stderr == "", verified.stderr
    return base / "seeds", base / "dist"


@pytest.fixture(scope="module")
def bagged(archived, tmp_path_factory) -> Path:
    """The archive's bag, made once by the command."""
    _seeds, dist = archived
    out = tmp_path_factory.mktemp("deposit") / "bag"
    result = seedpress("bag", out, "--dist", dist)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == f"{out}: a BagIt 1.0 bag of {SEEDS} seeds ({SEEDS * 5} files, {payload_bytes(out)} bytes) " \
                            "and 3 fixity checks\n"
    return out


@pytest.fixture
def dist_copy(archived, tmp_path) -> tuple[Path, Path]:
    return copy_archive(*archived, tmp_path)


def payload_bytes(bag: Path) -> int:
    return sum(path.stat().st_size for path in (bag / "data").rglob("*") if path.is_file())


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` by relative path, with its bytes."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def bag_info(bag: Path) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in (bag / "bag-info.txt").read_text("utf-8").splitlines())


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_the_bag_validates_in_full_as_bagit_1_0(bagged):
    bag = bagit.Bag(str(bagged))
    bag.validate(fast=False)
    assert bag.version_info == (1, 0)
    assert (bagged / "bagit.txt").read_bytes() == b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    assert set(bag.algorithms) == {"sha512", "sha256"}
    tag_files = {"bagit.txt", "bag-info.txt", "manifest-sha512.txt", "manifest-sha256.txt", "premis-events.xml"}
    for algorithm in ("sha512", "sha256"):
        assert (bagged / f"manifest-{algorithm}.txt").is_file()
        listed = (bagged / f"tagmanifest-{algorithm}.txt").read_text("utf-8").split()[1::2]
        assert set(listed) == tag_files, algorithm
    # Nothing beside the bag: its temporary folder was renamed into place.
    assert [path.name for path in bagged.parent.iterdir()] == [bagged.name]


def test_the_payload_is_each_seeds_five_files_copied(archived, bagged):
    _seeds, dist = archived
    payload = {str(path.relative_to(bagged)) for path in (bagged / "data").rglob("*") if path.is_file()}
    assert payload == {f"data/article-{n}/article-{n}.{edition}" for n in range(SEEDS) for edition in EDITIONS}
    assert len(payload) == 5 * SEEDS
    for name in payload:
        copy, original = bagged / name, dist / name.removeprefix("data/")
        assert copy.read_bytes() == original.read_bytes()
        assert copy.stat().st_ino != original.stat().st_ino, "copied, not linked"
    for algorithm in ("sha512", "sha256"):
        assert len((bagged / f"manifest-{algorithm}.txt").read_text("utf-8").splitlines()) == 5 * SEEDS


def test_bag_info_says_what_the_bag_holds(bagged):
    info = bag_info(bagged)
    assert info.keys() == {"External-Description", "Bagging-Date", "Payload-Oxum", "Bag-Software-Agent",
                           "Seed-Count"}
    assert info["External-Description"] == "seedpress archive"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", info["Bagging-Date"])
    assert info["Payload-Oxum"] == f"{payload_bytes(bagged)}.{5 * SEEDS}"
    assert info["Bag-Software-Agent"] == f"seedpress {convert.__version__}"
    assert info["Seed-Count"] == str(SEEDS)


def test_title_and_publisher_go_into_bag_info(archived, tmp_path):
    _seeds, dist = archived
    summary = write_bag(dist, tmp_path / "bag", title="Example Press archive", publisher="Example Press")
    assert (summary.seeds, summary.files, summary.fixity_checks) == (SEEDS, 5 * SEEDS, 3)
    info = bag_info(tmp_path / "bag")
    assert info["External-Description"] == "Example Press archive"
    assert info["Source-Organization"] == "Example Press"
    bagit.Bag(str(tmp_path / "bag")).validate(fast=True)


def test_a_flipped_byte_fails_validation_naming_the_file(bagged, tmp_path):
    bag = tmp_path / "bag"
    shutil.copytree(bagged, bag)
    flip_a_byte(bag / "data" / "article-7" / "article-7.pdf")
    with pytest.raises(bagit.BagValidationError) as failure:
        bagit.Bag(str(bag)).validate(fast=False)
    details = failure.value.details
    assert {(type(detail), detail.path) for detail in details} == {
        (bagit.ChecksumMismatch, "data/article-7/article-7.pdf")}
    assert {detail.algorithm for detail in details} == {"sha512", "sha256"}


def premis_document(bag: Path) -> etree._ElementTree:
    return etree.parse(str(bag / "premis-events.xml"), etree.XMLParser(resolve_entities=False, no_network=True))


def events_of_type(document: etree._ElementTree, code: str) -> list[etree._Element]:
    return [event for event in document.getroot().iter(f"{PREMIS}event")
            if event.find(f"{PREMIS}eventType").get("valueURI") == f"{EVENT_TYPES}/{code}"]


def test_the_premis_file_holds_each_verify_run_and_each_build(archived, bagged):
    _seeds, dist = archived
    document = premis_document(bagged)
    root = document.getroot()
    assert root.tag == f"{PREMIS}premis" and root.get("version") == "3.0"
    # PREMIS orders a document's parts: objects, then events, then agents.
    parts = [child.tag.removeprefix(PREMIS) for child in root]
    assert parts == ["object"] * (SEEDS + 1) + ["event"] * (SEEDS + 3) + ["agent"]
    with sqlite3.connect(dist / ".catalog.sqlite") as connection:
        checked = [row[0] for row in connection.execute("SELECT checked_at FROM fixity_checks ORDER BY id")]
        built = dict(connection.execute("SELECT key, built_at FROM seeds"))
    fixity = events_of_type(document, "fix")
    assert len(fixity) == 3
    for event, when in zip(fixity, checked):
        assert event.findtext(f"{PREMIS}eventType") == "fixity check"
        assert event.findtext(f"{PREMIS}eventDateTime") == when
        assert event.findtext(f"{PREMIS}eventOutcomeInformation/{PREMIS}eventOutcome") == "success"
        # The five files of each seed and its landing page, which the catalog lists too.
        assert f"re-hashed {len(CATALOGUED_EDITIONS) * SEEDS} files" in event.findtext(f"{PREMIS}eventDetailInformation/{PREMIS}eventDetail")
    creation = events_of_type(document, "cre")
    assert len(creation) == SEEDS
    linked = {event.findtext(f"{PREMIS}linkingObjectIdentifier/{PREMIS}linkingObjectIdentifierValue"):
              event.findtext(f"{PREMIS}eventDateTime") for event in creation}
    assert linked == built
    assert {event.findtext(f"{PREMIS}eventType") for event in creation} == {"creation"}


def test_a_failed_verify_is_a_failure_event_and_a_damaged_archive_is_not_bagged(dist_copy, tmp_path):
    _seeds, dist = dist_copy
    epub = dist / "article-4" / "article-4.epub"
    original = epub.read_bytes()
    flip_a_byte(epub)
    assert seedpress("verify", "--dist", dist).returncode == 1
    deposits = tmp_path / "deposits"
    refused = seedpress("bag", deposits / "bag", "--dist", dist)
    assert refused.returncode == 1
    assert refused.stderr == f"seedpress: {epub}: changed since it was catalogued: seedpress verify names " \
                             "every such file\n"
    assert list(deposits.iterdir()) == [], "no bag and no temporary folder is left"
    epub.write_bytes(original)
    assert seedpress("bag", deposits / "bag", "--dist", dist).returncode == 0
    fixity = events_of_type(premis_document(deposits / "bag"), "fix")
    assert len(fixity) == 4
    last = fixity[-1].find(f"{PREMIS}eventOutcomeInformation")
    assert last.findtext(f"{PREMIS}eventOutcome") == "failure"
    notes = [note.text for note in last.iter(f"{PREMIS}eventOutcomeDetailNote")]
    assert notes == [f"{epub}: changed (its sha256 differs from the catalog)"]


def test_only_seeds_with_a_good_build_are_bagged(dist_copy, tmp_path):
    seeds, dist = dist_copy
    (seeds / "article-19.txt").unlink()              # withdrawn
    (seeds / "article-18.txt").write_bytes(b"")      # failed, keeps its last good build
    (seeds / "empty.txt").write_bytes(b"")           # failed, never built
    assert seedpress("archive", seeds, "--dist", dist).returncode == 1
    out = tmp_path / "bag"
    assert seedpress("bag", out, "--dist", dist).returncode == 0
    keys = {path.name for path in (out / "data").iterdir()}
    assert keys == {f"article-{n}" for n in range(19)}
    assert bag_info(out)["Seed-Count"] == "19"
    bagit.Bag(str(out)).validate(fast=True)


def test_an_existing_out_is_refused_and_left_as_it_was(archived, tmp_path):
    _seeds, dist = archived
    out = tmp_path / "bag"
    out.mkdir()
    (out / "notes.txt").write_text("someone's files\n", "utf-8")
    result = seedpress("bag", out, "--dist", dist)
    assert result.returncode == 2
    # Not "(--force replaces it)": --force replaces only a bag seedpress made, and was refused here.
    assert result.stderr == (f"seedpress: {out}: already exists, and is not a bag made by seedpress bag: "
                             "give another OUT\n")
    assert tree(out) == {"notes.txt": b"someone's files\n"}
    assert [path.name for path in tmp_path.iterdir()] == ["bag"]


def test_force_replaces_an_existing_bag_once_the_new_one_is_complete(archived, tmp_path):
    _seeds, dist = archived
    out = tmp_path / "bag"
    assert seedpress("bag", out, "--dist", dist).returncode == 0
    (out / "old.txt").write_text("the previous deposit\n", "utf-8")
    refused = seedpress("bag", out, "--dist", dist)
    assert (refused.returncode, refused.stderr) == (2, f"seedpress: {out}: already exists (--force replaces it)\n")
    result = seedpress("bag", out, "--dist", dist, "--force")
    assert result.returncode == 0, result.stderr
    assert not (out / "old.txt").exists()
    bagit.Bag(str(out)).validate(fast=True)
    assert [path.name for path in tmp_path.iterdir()] == ["bag"], "the old bag is deleted, no temporary left"


def test_force_keeps_the_old_bag_when_the_new_one_fails(dist_copy, tmp_path):
    _seeds, dist = dist_copy
    out = tmp_path / "deposits" / "bag"
    assert seedpress("bag", out, "--dist", dist).returncode == 0
    before = tree(out)
    (dist / "article-2" / "article-2.md").unlink()
    result = seedpress("bag", out, "--dist", dist, "--force")
    assert result.returncode == 1
    assert result.stderr == (f"seedpress: {dist / 'article-2' / 'article-2.md'}: missing: seedpress verify "
                             "names every such file\n")
    assert tree(out) == before
    assert [path.name for path in out.parent.iterdir()] == ["bag"]


def test_a_bag_while_the_lock_is_held_exits_75_and_leaves_nothing(archived, tmp_path):
    _seeds, dist = archived
    out = tmp_path / "deposits" / "bag"
    with open(dist / ".lock", "rb+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = seedpress("bag", out, "--dist", dist)
    assert result.returncode == 75
    assert result.stderr == f"seedpress: {dist / '.lock'}: another archive run holds the lock\n"
    assert not out.parent.exists(), "neither the bag nor its temporary folder (nor their folder)"


@pytest.mark.parametrize("where", ["inside", "over"])
def test_a_bag_is_never_written_into_the_archive_or_over_it(dist_copy, where):
    _seeds, dist = dist_copy
    before = tree(dist)
    out = dist / "deposit" if where == "inside" else dist.parent
    result = seedpress("bag", out, "--dist", dist, "--force")
    assert result.returncode == 2
    assert result.stderr == f"seedpress: {out}: a bag cannot be written inside the archive {dist} or over it\n"
    assert tree(dist) == before


def test_a_folder_that_is_not_an_archive_is_refused(tmp_path):
    result = seedpress("bag", tmp_path / "bag", "--dist", tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"seedpress: {tmp_path}: no .catalog.sqlite here: not an archive built by seedpress archive\n"
    assert list(tmp_path.iterdir()) == []


def test_an_archive_without_a_good_build_gives_a_valid_empty_bag(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "empty.txt").write_bytes(b"")
    assert seedpress("archive", seeds, "--dist", tmp_path / "dist").returncode == 1
    out = tmp_path / "bag"
    result = seedpress("bag", out, "--dist", tmp_path / "dist")
    assert result.stdout == f"{out}: a BagIt 1.0 bag of 0 seeds (0 files, 0 bytes) and 0 fixity checks\n"
    bagit.Bag(str(out)).validate(fast=False)
    assert list((out / "data").iterdir()) == []
    assert bag_info(out)["Seed-Count"] == "0"
    assert events_of_type(premis_document(out), "cre") == []
