"""The EPUB edition is accessible (EPUB Accessibility 1.1): its package says how, every
document says its language, the cover is an image with the title and a text
alternative, right-to-left paragraphs say so, and EPUBCheck still finds nothing.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from lxml import etree
from PIL import Image
from support.editions import run_epubcheck
from support.run import DATA, REAL_SEED, json_lines, seedpress

from convert.document.model import text_direction
from convert.document.seed import read_seed
from convert.editions.cover import COVER_SIZE, cover_png
from convert.editions.epub import CONFORMANCE

pytestmark = pytest.mark.slow

SEEDS = {
    REAL_SEED.stem: REAL_SEED,
    "multiscript": DATA / "multiscript.txt",
}
NS = {
    "opf": "http://www.idpf.org/2007/opf",
    "dc": "http://purl.org/dc/elements/1.1/",
    "x": "http://www.w3.org/1999/xhtml",
    "epub": "http://www.idpf.org/2007/ops",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


class Book:
    """An EPUB's members, package document and spine."""

    def __init__(self, path: Path):
        with zipfile.ZipFile(path) as archive:
            self.members = {name: archive.read(name) for name in archive.namelist()}
        self.opf = etree.fromstring(self.members["EPUB/content.opf"])
        self.items = {item.get("id"): item for item in self.opf.iterfind(".//opf:item", NS)}
        self.spine = [self.items[ref.get("idref")] for ref in self.opf.iterfind(".//opf:itemref", NS)]

    def meta(self, prop: str) -> list[str]:
        return [m.text for m in self.opf.iterfind(".//opf:metadata/opf:meta", NS) if m.get("property") == prop]

    def document(self, item) -> etree._Element:
        return etree.fromstring(self.members["EPUB/" + item.get("href")])


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:

    out = tmp_path_factory.mktemp("epub-a11y")
    result = seedpress("convert", *SEEDS.values(), "--to", "epub", "--out", out, "--json",
                       env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert result.returncode == 0, result.stderr
    return {Path(o["input"]).stem: Path(o["files"]["epub"]["path"]) for o in json_lines(result.stdout)}


@pytest.fixture(params=sorted(SEEDS), scope="module")
def fixture(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def book(built, fixture) -> Book:
    return Book(built[fixture])


def test_accessibility_metadata(book):
    """EPUB Accessibility 1.1 §5 (discovery metadata) and §3 (the conformance claim)."""
    assert sorted(book.meta("schema:accessMode")) == ["textual", "visual"]
    assert book.meta("schema:accessModeSufficient") == ["textual"]
    assert {"alternativeText", "readingOrder", "structuralNavigation", "tableOfContents"} <= set(
        book.meta("schema:accessibilityFeature"))
    assert book.meta("schema:accessibilityHazard") == ["none"]
    [summary] = book.meta("schema:accessibilitySummary")
    assert len(summary.split()) > 10
    assert book.meta("dcterms:conformsTo") == [CONFORMANCE] == ["EPUB Accessibility 1.1 - WCAG 2.1 Level AA"]
    assert book.meta("a11y:certifiedBy") == ["seedpress"]


def test_every_document_declares_the_language(book, fixture):
    language = read_seed(SEEDS[fixture]).lang
    assert [e.text for e in book.opf.iterfind(".//dc:language", NS)] == [language]
    assert book.opf.get(XML_LANG) == language
    documents = [item for item in book.items.values() if item.get("media-type") == "application/xhtml+xml"]
    assert len(documents) == 5  # nav, cover, title page, summary, commentary
    for item in documents:
        root = book.document(item)
        assert (root.get("lang"), root.get(XML_LANG)) == (language, language), item.get("href")


def test_cover_image_is_marked_and_described(book, fixture):
    title = read_seed(SEEDS[fixture]).title
    [cover] = [item for item in book.items.values() if "cover-image" in (item.get("properties") or "").split()]
    assert cover.get("media-type") == "image/png"
    image = Image.open(io.BytesIO(book.members["EPUB/" + cover.get("href")]))
    assert image.format == "PNG" and image.size == COVER_SIZE
    # EPUB 2 reading systems find it through the legacy meta.
    legacy = [m.get("content") for m in book.opf.iterfind(".//opf:meta", NS) if m.get("name") == "cover"]
    assert legacy == [cover.get("id")]
    # The cover page comes first and shows the image with the title as its text alternative.
    page = book.document(book.spine[0])
    [img] = page.iterfind(".//x:img", NS)
    assert img.get("src").endswith(cover.get("href").rsplit("/", 1)[1])
    assert img.get("alt") == f"Cover: {title}"
    assert img.get("role") == "doc-cover"
    nav = book.document(book.items["nav"])
    landmarks = nav.xpath(".//x:nav[@epub:type='landmarks']//x:a/@epub:type", namespaces=NS)
    assert landmarks[0] == "cover"


def test_cover_image_is_the_same_bytes_every_time(fixture):
    document = read_seed(SEEDS[fixture])
    assert cover_png(document) == cover_png(document)


def test_chapters_have_titles_not_file_names(book):
    titles = [book.document(item).findtext(".//x:title", namespaces=NS) for item in book.spine]
    assert all(title and not title.endswith(".xhtml") for title in titles), titles


def test_right_to_left_paragraphs_say_so(book, fixture):
    """A paragraph whose first strong character is right-to-left sits in a div with
    dir="rtl"; every other paragraph inherits the document's left-to-right direction."""
    document = read_seed(SEEDS[fixture])
    paragraphs = {}
    for item in book.spine:
        for p in book.document(item).iterfind(".//x:section//x:p", NS):
            directions = [d for d in p.xpath("ancestor-or-self::*/@dir")]
            paragraphs["".join(p.itertext())] = directions
    for text in document.summary + document.commentary:
        expected = ["rtl"] if text_direction(text) == "rtl" else []
        assert paragraphs[text] == expected, text
    if fixture == "multiscript":
        assert sum(directions == ["rtl"] for directions in paragraphs.values()) == 3


@pytest.mark.jvm
def test_epubcheck_finds_nothing(built):
    """EPUBCheck 5: 0 fatal errors, 0 errors, 0 warnings with the additions above."""

    reports = run_epubcheck(list(built.values()))
    for path, report in reports.items():
        messages = [f"{m['severity']} {m['ID']}: {m['message']}" for m in report["messages"]]
        checker = report["checker"]
        assert (checker["nFatal"], checker["nError"], checker["nWarning"]) == (0, 0, 0), (path, messages)
        assert messages == [], path
