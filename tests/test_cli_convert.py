"""`seedpress convert`, run as a user runs it (DESIGN §4): exit codes, one-line errors, files on disk."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from support.documents import pdftotext_pages
from support.run import DATA, REAL_SEED, assert_one_line_error, json_lines, seedpress

from convert.document.master import read_master
from convert.document.seed import read_seed

SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def files_under(folder: Path) -> set[str]:
    """Every file below `folder`, relative, temp files included: what a failed run leaves behind."""
    if not folder.exists():
        return set()
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir()}


@pytest.fixture
def good(tmp_path) -> Path:
    path = tmp_path / "in" / "good.txt"
    path.parent.mkdir()
    path.write_bytes(REAL_SEED.read_bytes())
    return path


# --- the good path ------------------------------------------------------------------

def test_convert_writes_the_master_of_the_real_seed(tmp_path):
    out = tmp_path / "out"
    result = seedpress("convert", REAL_SEED, "--to", "md", "--out", out)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    key = REAL_SEED.stem
    assert files_under(out) == {f"{key}/{key}.md"}
    assert (out / key / f"{key}.md").read_bytes() == (DATA / f"{key}.md").read_bytes()
    assert str(out / key) in result.stdout


@pytest.mark.slow
def test_cli_masters_equal_the_goldens(tmp_path):
    seeds = sorted(DATA.glob("*.txt"))
    result = seedpress("convert", *seeds, "--to", "md", "--out", tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    outcomes = json_lines(result.stdout)
    assert [Path(o["input"]).name for o in outcomes] == [s.name for s in seeds]
    for seed, outcome in zip(seeds, outcomes):
        assert outcome["status"] == "built"
        assert Path(outcome["files"]["md"]["path"]).read_bytes() == seed.with_suffix(".md").read_bytes(), seed.name


@pytest.mark.slow
def test_a_folder_argument_converts_its_seeds_and_masters(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_bytes((DATA / "no_marker.txt").read_bytes())
    (folder / "b.md").write_bytes((DATA / "marker_url.md").read_bytes())
    (folder / "c.json").write_text("{}")
    (folder / "sub").mkdir()
    result = seedpress("convert", folder, "--to", "md", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert files_under(tmp_path / "out") == {"a/a.md", "b/b.md"}
    assert (tmp_path / "out" / "b" / "b.md").read_bytes() == (DATA / "marker_url.md").read_bytes()


def test_json_prints_one_object_per_input(tmp_path, good):
    missing = tmp_path / "missing.txt"
    empty = tmp_path / "in" / "empty.txt"
    empty.write_bytes(b"")
    result = seedpress("convert", good, missing, empty, "--to", "md", "--out", tmp_path / "out", "--json")
    assert result.returncode == 1
    outcomes = json_lines(result.stdout)
    assert [o["input"] for o in outcomes] == [str(good), str(missing), str(empty)]
    assert [o["status"] for o in outcomes] == ["built", "failed", "failed"]
    for outcome in outcomes:
        assert set(outcome) >= {"input", "key", "status", "files", "error"}
    assert outcomes[0]["error"] is None
    assert Path(outcomes[0]["files"]["md"]["path"]).is_file()
    assert outcomes[1]["files"] == {} and str(missing) in outcomes[1]["error"]
    assert outcomes[2]["files"] == {} and "empty" in outcomes[2]["error"]
    # The errors are on stderr too, one line each.
    assert len(result.stderr.strip().splitlines()) == 2


def test_output_keys_are_safe_names(tmp_path):
    seed = tmp_path / "Ünïcode name!.txt"
    seed.write_bytes((DATA / "no_marker.txt").read_bytes())
    result = seedpress("convert", seed, "--to", "md", "--out", tmp_path / "out", "--json")
    assert result.returncode == 0, result.stderr
    [outcome] = json_lines(result.stdout)
    assert SAFE_KEY.match(outcome["key"])
    assert Path(outcome["files"]["md"]["path"]).parent == tmp_path / "out" / outcome["key"]


# --- bad inputs: each named on one line, exit 1, nothing left for it, the good one written --

def _bytes(data: bytes):
    def make(folder: Path) -> Path:
        path = folder / "bad.txt"
        path.write_bytes(data)
        return path
    return make


def _missing(folder: Path) -> Path:
    return folder / "missing.txt"


def _empty_folder(folder: Path) -> Path:
    path = folder / "nothing-here"
    path.mkdir()
    (path / "notes.json").write_text("{}")
    return path


def _too_big(folder: Path) -> Path:
    path = folder / "big.txt"
    path.write_bytes(REAL_SEED.read_bytes() + b"\n\nOne more paragraph makes it too big.")
    return path


BAD_INPUTS = {
    "empty file": (_bytes(b""), "empty"),
    "whitespace only": (_bytes(b"  \n\t\r\n \n"), "empty"),
    "PNG header": (_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00"), "binary"),
    "NUL bytes": (_bytes(b"A title\n\nText with \x00 NUL \x00 bytes."), "binary"),
    "control characters": (_bytes(bytes(range(1, 9)) * 40), "binary"),
    "title only": (_bytes(b"Only a title\n\n\n"), "no paragraph after the title"),
    "over --max-bytes": (_too_big, "larger than the size limit"),
    "missing path": (_missing, "no such file"),
    "folder without seeds": (_empty_folder, "no seeds"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=str)
@pytest.mark.slow
def test_bad_input_fails_alone(tmp_path, good, case):
    make, reason = BAD_INPUTS[case]
    bad = make(tmp_path / "in")
    out = tmp_path / "out"
    # The limit is the good seed's size: the good one passes, the big one does not.
    result = seedpress("convert", bad, good, "--to", "md", "--out", out,
                      "--max-bytes", str(good.stat().st_size))
    assert result.returncode == 1, result.stderr
    line = assert_one_line_error(result.stderr, str(bad))
    assert reason in line
    assert result.stderr.strip().splitlines() == [line]
    assert files_under(out) == {"good/good.md"}


def test_unwritable_out_fails_every_input_cleanly(tmp_path, good):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = seedpress("convert", good, "--to", "md", "--out", blocker / "out")
    assert result.returncode == 1
    line = assert_one_line_error(result.stderr, str(good))
    assert "cannot write" in line
    assert blocker.read_text() == "not a folder"


@pytest.mark.slow
def test_unwritable_folder_for_one_seed_leaves_the_others_written(tmp_path, good):
    other = tmp_path / "in" / "other.txt"
    other.write_bytes((DATA / "no_marker.txt").read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    (out / "other").write_text("a file where the seed's folder would go")
    result = seedpress("convert", other, good, "--to", "md", "--out", out)
    assert result.returncode == 1
    line = assert_one_line_error(result.stderr, str(other))
    assert "cannot write" in line
    assert files_under(out) == {"other", "good/good.md"}


def test_a_failing_edition_writes_no_file_for_that_seed(tmp_path, good):
    """All or nothing per seed: a master whose body pandoc's reader refuses gets no files at all."""
    master = tmp_path / "in" / "broken.md"
    text = (DATA / "no_marker.md").read_text("utf-8")
    master.write_text(text + "\n---\ntitle: injected\n---\n", "utf-8")
    result = seedpress("convert", master, good, "--out", tmp_path / "out", "--to", "md,epub")
    assert result.returncode == 1
    line = assert_one_line_error(result.stderr, str(master))
    assert "unsupported Markdown block" in line
    assert files_under(tmp_path / "out") == {"good/good.md", "good/good.epub"}


# --- usage errors exit 2 ---------------------------------------------------------------

@pytest.mark.parametrize("arguments", [
    # `seedpress` alone prints help and exits 0 (issue 21): tests/test_convert_habits.py.
    ["convert"],
    ["convert", "{seed}", "--to", "xyz"],
    ["convert", "{seed}", "--to", ","],
    ["convert", "{seed}", "--max-bytes", "0"],
    ["convert", "{seed}", "--max-bytes", "ten"],
    ["convert", "{seed}", "--paper", "a3"],
    ["convert", "{seed}", "--frobnicate"],
    ["transmogrify", "{seed}"],
], ids=" ".join)
def test_usage_errors_exit_2(tmp_path, arguments):
    arguments = [a.replace("{seed}", str(REAL_SEED)) for a in arguments]
    # Run in an empty folder: the default --out (./out) must not appear either.
    result = seedpress(*arguments, cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "usage:" in result.stderr
    assert "Traceback" not in result.stderr
    assert files_under(tmp_path) == set()


# --- the master as an input --------------------------------------------------------------

def test_converting_a_master_gives_the_same_master_and_document(tmp_path):
    master = tmp_path / "in" / "markup.md"
    master.parent.mkdir()
    master.write_bytes((DATA / "markup.md").read_bytes())
    result = seedpress("convert", master, "--to", "md", "--out", tmp_path / "out", "--json")
    assert result.returncode == 0, result.stderr
    [outcome] = json_lines(result.stdout)
    written = Path(outcome["files"]["md"]["path"])
    assert written.read_bytes() == master.read_bytes()
    assert read_master(written) == read_seed(DATA / "markup.txt")


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.mark.slow
def test_editions_from_the_master_equal_editions_from_the_seed(tmp_path, build_env):
    """DESIGN §2: the same document, so the same EPUB and DOCX members, the same PDF text and metadata."""
    outcomes = {}
    for source in (DATA / "markup.txt", DATA / "markup.md"):
        out = tmp_path / source.suffix[1:]
        result = seedpress("convert", source, "--out", out, "--to", "pdf,epub,docx", "--json", env=build_env)
        assert result.returncode == 0, result.stderr
        [outcomes[source.suffix]] = json_lines(result.stdout)
    from_seed, from_master = ({edition: file["path"] for edition, file in outcomes[suffix]["files"].items()}
                              for suffix in (".txt", ".md"))
    for edition in ("epub", "docx"):
        assert members(Path(from_master[edition])) == members(Path(from_seed[edition])), edition
    assert pdftotext_pages(Path(from_master["pdf"])) == pdftotext_pages(Path(from_seed["pdf"]))
    import pypdf

    seed_info = pypdf.PdfReader(from_seed["pdf"]).metadata
    master_info = pypdf.PdfReader(from_master["pdf"]).metadata
    for field in ("/Title", "/Subject", "/Keywords", "/CreationDate"):
        assert master_info[field] == seed_info[field], field


def test_the_same_seed_named_twice_is_converted_once(tmp_path):
    seed = tmp_path / "s.txt"
    seed.write_text("Title\n\nSummary.\n\nRead the original article here\n\nComment.\n", "utf-8")
    result = seedpress("convert", seed, f"{tmp_path}/./s.txt", "--to", "md", "--out", tmp_path / "out", "--json")
    assert result.returncode == 0, result.stderr
    lines = json_lines(result.stdout)
    assert [line["key"] for line in lines] == ["s"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["s"]
