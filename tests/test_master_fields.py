"""The facts people write into a master (DESIGN §2, issue 21): `date`, `keywords`/`tags`,
`description`, checked as untrusted input with one-line errors and carried into every
edition and feed; without a date, editions say "archived", never "published"; the master
is clean Markdown; CJK text is counted by characters."""

from __future__ import annotations

import json
import re
import subprocess
import zipfile
from datetime import date
from pathlib import Path

import docx
import feedparser
import lxml.html
import pikepdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from support.run import BUILD_EPOCH, REAL_SEED, assert_one_line_error, seedpress

from convert.document.master import parse_master, read_master, to_markdown
from convert.document.model import Source, word_count
from convert.document.seed import parse_seed, read_seed
from convert.errors import SeedError

URL = "https://example.org/news/2005/02/10/bikes"
SEED = (f"City bikes return\n\nThe council voted to bring back the city bikes. It doesn't say when.\n\n"
        f"Read the original article here: {URL}\n\n\"We're glad\" -- said a cyclist... Mr. Smith agreed.\n")
FIELDS = "date: 2005-02-10\nkeywords: [bikes, city transport]\ndescription: The city bikes come back.\n"
ENV = {"SOURCE_DATE_EPOCH": str(BUILD_EPOCH)}
BUILD_DAY = "14 November 2023"  # BUILD_EPOCH, as the English editions write it


def master_text(extra: str = FIELDS) -> str:
    master = to_markdown(parse_seed(SEED.encode(), "bikes.txt", lang="en"))
    return master.replace("\nlang: en\n", f"\nlang: en\n{extra}", 1)


@pytest.fixture(scope="module")
def masters(tmp_path_factory):
    folder = tmp_path_factory.mktemp("masters")
    (folder / "dated.md").write_text(master_text(), "utf-8")
    (folder / "undated.md").write_text(master_text(""), "utf-8")
    return folder


# --- reading the fields -------------------------------------------------------------------

def test_the_fields_are_read():
    document = parse_master(master_text(), "m.md")
    assert document.published == "2005-02-10"
    assert document.tags == ("bikes", "city transport")
    assert document.keywords == ("bikes", "city transport")
    assert document.description == "The city bikes come back."
    assert document.original_article.url == URL


@pytest.mark.parametrize("written", ["2005-02-10", "2005-02-10T09:30:00Z", "2005-02-10T09:30:00+01:00",
                                     "2005-02-10 09:30", "'2005-02-10'"])
def test_iso_dates_and_date_times_are_accepted_as_written(written):
    document = parse_master(master_text(f"date: {written}\n"), "m.md")
    assert document.published == written.strip("'")


def test_tags_is_the_same_as_keywords():
    assert parse_master(master_text("tags: [a, b]\n"), "m.md").tags == ("a", "b")


BAD = {
    "impossible date": ("date: 2023-02-30\n", "'date'"),
    "not a date": ("date: yesterday\n", "'date'"),
    "a number": ("date: 2005\n", "'date'"),
    "five hundred tags": ("tags: [" + ", ".join(f"t{n}" for n in range(500)) + "]\n", "'tags'"),
    # Refused before any list is built: the frontmatter's node bound.
    "ten thousand tags": ("tags: [" + ", ".join(f"t{n}" for n in range(10_000)) + "]\n", "more than"),
    "a tag that is a mapping": ("keywords: [{a: b}]\n", "'keywords'"),
    "a tag with a line break": ('keywords: ["a\\nb"]\n', "'keywords'"),
    "a tag too long": (f"keywords: [{'x' * 101}]\n", "'keywords'"),
    "tags as text": ("tags: a, b\n", "'tags'"),
    "both keywords and tags": ("tags: [a]\nkeywords: [b]\n", "both 'keywords' and 'tags'"),
    "description too long": (f"description: {'x' * 5001}\n", "'description'"),
    "description a list": ("description: [a]\n", "'description'"),
    "javascript license": ("license_url: 'javascript:alert(1)'\n", "'license_url'"),
}


@pytest.mark.parametrize("extra, field", BAD.values(), ids=BAD.keys())
def test_bad_values_are_refused_with_one_line(extra, field):
    with pytest.raises(SeedError) as refused:
        parse_master(master_text(extra), "m.md")
    message = str(refused.value)
    assert "\n" not in message and len(message) < 400 and field in message


@pytest.mark.parametrize(("written", "reason"), [("yesterday", ""), ("2005", ""),
                                              ("2023-02-30", " (is not a real date: day is out of range for month)")])
def test_a_bad_date_says_what_a_date_is_once(written, reason):
    """"yesterday" was answered "must be null or an ISO 8601 date … such as 2005-02-10 or
    2005-02-10T09:30:00Z (must be an ISO 8601 date … such as 2005-02-10 or …)"."""
    with pytest.raises(SeedError) as refused:
        parse_master(master_text(f"date: {written}\n"), "m.md")
    assert str(refused.value).endswith("frontmatter field 'date' must be null or an ISO 8601 date or date-time "
                                       f"such as 2005-02-10 or 2005-02-10T09:30:00Z{reason}")


def test_a_javascript_original_article_url_is_refused(tmp_path):
    master = tmp_path / "m.md"
    master.write_text(master_text().replace(URL, "javascript:alert(1)"), "utf-8")
    result = seedpress("convert", master, "-o", tmp_path / "m.pdf")
    assert result.returncode == 1
    assert "'original_article.url'" in assert_one_line_error(result.stderr, "m.md")
    assert not (tmp_path / "m.pdf").exists()


SOURCE = Source(file="t.txt", sha256="0" * 64, encoding="utf-8", bytes=1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(day=st.dates(min_value=date(1, 1, 1)),
       tags=st.lists(st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1,
                             max_size=20).filter(str.strip), max_size=8),
       description=st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1,
                           max_size=80).map(lambda text: " ".join(text.split())).filter(bool))
def test_the_fields_round_trip_through_the_master(day, tags, description):
    document = parse_seed(SEED.encode(), "bikes.txt", lang="en")
    from dataclasses import replace

    document = replace(document, published=day.isoformat(), tags=tuple(tags) or None, description=description)
    assert parse_master(to_markdown(document), "m.md") == document


# --- into every edition -------------------------------------------------------------------

@pytest.fixture(scope="module")
def editions(masters, tmp_path_factory):
    out = tmp_path_factory.mktemp("editions")
    for name in ("dated", "undated"):
        for edition in ("pdf", "epub", "docx"):
            result = seedpress("convert", masters / f"{name}.md", "-o", out / f"{name}.{edition}", env=ENV)
            assert result.returncode == 0, result.stderr
    return out


def first_page_text(pdf) -> str:
    return subprocess.run(["pdftotext", "-l", "1", str(pdf), "-"], capture_output=True, text=True,
                          check=True, timeout=120).stdout


def test_pdf_byline_and_metadata_carry_the_date_tags_and_description(editions):
    text = first_page_text(editions / "dated.pdf")
    assert "10 February 2005" in text and "archived" not in text
    with pikepdf.open(editions / "dated.pdf") as pdf:
        assert str(pdf.docinfo["/Keywords"]) == "bikes, city transport"
        assert str(pdf.docinfo["/Subject"]) == "The city bikes come back."
        metadata = pdf.open_metadata()
        assert metadata["dc:date"] == ["2005-02-10"]
        assert metadata["dc:description"] == "The city bikes come back."


def test_an_undated_pdf_says_archived_with_the_build_date(editions):
    text = first_page_text(editions / "undated.pdf")
    assert f"archived {BUILD_DAY}" in " ".join(text.split())
    with pikepdf.open(editions / "undated.pdf") as pdf:
        assert "dc:date" not in pdf.open_metadata()


def opf(epub) -> etree._Element:
    with zipfile.ZipFile(epub) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".opf"))
        return etree.fromstring(archive.read(name))


DC = {"dc": "http://purl.org/dc/elements/1.1/"}


def test_epub_opf_carries_date_subjects_and_description(editions):
    package = opf(editions / "dated.epub")
    assert package.xpath("//dc:date/text()", namespaces=DC) == ["2005-02-10"]
    assert package.xpath("//dc:subject/text()", namespaces=DC) == ["bikes", "city transport"]
    assert package.xpath("//dc:description/text()", namespaces=DC) == ["The city bikes come back."]


def test_an_epub_without_tags_has_no_dc_subject(editions):
    """It had the summary's first sentence as its one dc:subject, which a reading system
    (Calibre) shows as a tag; dc:description carries that sentence."""
    package = opf(editions / "undated.epub")
    assert package.xpath("//dc:subject", namespaces=DC) == []
    assert package.xpath("//dc:description/text()", namespaces=DC) != []


def test_an_undated_epub_presents_no_publication_date(editions):
    package = opf(editions / "undated.epub")
    assert package.xpath("//dc:date", namespaces=DC) == []
    with zipfile.ZipFile(editions / "undated.epub") as archive:
        assert b'class="date"' not in archive.read("EPUB/text/title_page.xhtml")


def test_the_epub_title_page_says_what_the_pdfs_title_block_says(editions):
    """The EPUB's title page gave the title alone, or "2005-02-10" under it, where the PDF
    says what the book is, and "10 February 2005" (else "archived …", never presented as
    the publication date). It now says both, in the document's words."""
    for name, kind, datetime, text in (("dated", "date", "2005-02-10", "10 February 2005"),
                                       ("undated", "archived", "2023-11-14", f"archived {BUILD_DAY}")):
        with zipfile.ZipFile(editions / f"{name}.epub") as archive:
            page = etree.fromstring(archive.read("EPUB/text/title_page.xhtml"))
        section = page.find(".//{*}section")
        lines = [(element.get("class"), "".join(element.itertext())) for element in section]
        assert lines == [("kicker", "Archived article · summary and commentary"), ("title", "City bikes return"),
                         (kind, text)], name
        assert section[-1].find("{*}time").get("datetime").startswith(datetime)


def test_docx_says_the_date_under_the_title(editions):
    """In words, as the PDF and the EPUB say it (it said "2005-02-10"); the custom property
    `date` keeps the ISO date."""
    assert [p.text for p in docx.Document(str(editions / "dated.docx")).paragraphs[:2]] == [
        "City bikes return", "10 February 2005"]
    with zipfile.ZipFile(editions / "dated.docx") as archive:
        custom = etree.fromstring(archive.read("docProps/custom.xml"))
    assert {item.get("name"): "".join(item.itertext()) for item in custom}["date"] == "2005-02-10"
    assert [p.text for p in docx.Document(str(editions / "undated.docx")).paragraphs[:2]] == [
        "City bikes return", f"archived {BUILD_DAY}"]


@pytest.mark.parametrize("lang", ["ar", "he", "fa", "ja", "fr"])
def test_a_dated_docx_in_any_script_says_its_date_in_words(tmp_path, lang):
    """A right-to-left document's date run carries <w:rtl />: the DOCX of every dated Arabic,
    Hebrew or Persian title failed to build when the date was first written in words."""
    from datetime import UTC, datetime

    from convert.document.labels import long_date

    seed = (Path(__file__).parent / "data" / "languages" / f"{lang}.txt").read_bytes()
    master = to_markdown(parse_seed(seed, f"{lang}.txt", lang=lang))
    dated = tmp_path / f"{lang}.md"
    dated.write_text(master.replace(f"\nlang: {lang}\n", f"\nlang: {lang}\ndate: 2005-02-10\n", 1), "utf-8")
    result = seedpress("convert", dated, "-o", tmp_path / f"{lang}.docx", env=ENV)
    assert result.returncode == 0, result.stderr
    paragraphs = docx.Document(str(tmp_path / f"{lang}.docx")).paragraphs
    assert [p.text for p in paragraphs if p.style.name == "Date"] == [
        long_date(datetime(2005, 2, 10, tzinfo=UTC), lang)]


def test_docx_core_properties_carry_keywords_and_description(editions):
    properties = docx.Document(str(editions / "dated.docx")).core_properties
    assert properties.keywords == "bikes, city transport"
    assert properties.comments == "The city bikes come back."


# --- into the hand-out: landing page, index, OPDS 1.2 and 2.0 ---------------------------

@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    root = tmp_path_factory.mktemp("handout")
    seeds = root / "seeds"
    seeds.mkdir()
    (seeds / "bikes.txt").write_text(SEED, "utf-8")
    for name, extra in (("dated", ["-M", "date=2005-02-10", "-M", "keywords=bikes,city transport",
                                   "-M", "description=The city bikes come back."]), ("undated", [])):
        result = seedpress("archive", seeds, "--dist", root / name, *extra, env=ENV)
        assert result.returncode == 0, result.stderr
    return root


def test_the_landing_page_shows_the_publication_date(archives):
    dated = lxml.html.fromstring((archives / "dated" / "bikes" / "index.html").read_bytes())
    [time] = dated.xpath("//p[@class='meta']/time")
    assert (time.get("datetime"), time.text_content()) == ("2005-02-10", "10 February 2005")
    undated = lxml.html.fromstring((archives / "undated" / "bikes" / "index.html").read_bytes())
    assert undated.xpath("//p[@class='meta']/time")[0].text_content() == f"archived {BUILD_DAY}"


def test_the_index_shows_the_publication_date_or_says_archived(archives):
    dated = lxml.html.fromstring((archives / "dated" / "index.html").read_bytes())
    # Written out as the landing page writes it (issue 24), in the index's language.
    assert dated.xpath("//p[@class='date']")[0].text_content() == "10 February 2005"
    undated = lxml.html.fromstring((archives / "undated" / "index.html").read_bytes())
    assert undated.xpath("//p[@class='date']")[0].text_content() == f"archived {BUILD_DAY}"


def test_opds1_carries_dc_issued_and_categories_only_when_given(archives):
    [entry] = feedparser.parse((archives / "dated" / "opds.xml").read_bytes()).entries
    assert [tag.term for tag in entry.tags] == ["bikes", "city transport"]
    feed = etree.fromstring((archives / "dated" / "opds.xml").read_bytes())
    assert feed.xpath("//dc:issued/text()", namespaces={"dc": "http://purl.org/dc/terms/"}) == ["2005-02-10"]
    undated = etree.fromstring((archives / "undated" / "opds.xml").read_bytes())
    assert undated.xpath("//dc:issued", namespaces={"dc": "http://purl.org/dc/terms/"}) == []


def test_opds2_carries_published_and_subject_only_when_given(archives):
    [publication] = json.loads((archives / "dated" / "opds.json").read_text("utf-8"))["publications"]
    assert publication["metadata"]["published"] == "2005-02-10"
    assert publication["metadata"]["subject"] == ["bikes", "city transport"]
    assert publication["metadata"]["description"] == "The city bikes come back."
    [undated] = json.loads((archives / "undated" / "opds.json").read_text("utf-8"))["publications"]
    assert "published" not in undated["metadata"] and "subject" not in undated["metadata"]


# --- a clean master, and CJK counted by characters -----------------------------------------

def test_the_master_escapes_no_quotes_apostrophes_dashes_or_dots():
    master = to_markdown(parse_seed(SEED.encode(), "bikes.txt", lang="en"))
    body = master.split("\n---\n", 1)[1]
    assert "It doesn't say when." in body
    assert "\"We're glad\" -- said a cyclist... Mr. Smith agreed." in body
    assert not re.search(r"\\['\"\-.]", body)
    assert parse_master(master, "m.md") == parse_seed(SEED.encode(), "bikes.txt", lang="en")


def test_the_real_seeds_master_has_no_needless_escapes():
    master = to_markdown(read_seed(REAL_SEED))
    assert not re.search(r"\\['\"]|\\-\\-", master)
    assert read_master  # the golden round trip is tests/test_master.py's


@pytest.mark.parametrize("paragraph, at_least", [
    ("東京都は二十日、新しい自転車の制度を発表した。", 20),
    ("北京市政府周二宣布了新的自行车计划。", 15),
    ("Hello 東京 world", 4),
])
def test_cjk_text_is_counted_by_characters(paragraph, at_least):
    assert word_count((paragraph,)) >= at_least


def test_spaced_text_is_counted_by_words():
    assert word_count(("The council met on Tuesday.", "안녕하세요 세계")) == 7


# --- archive takes masters from the seeds folder ------------------------------------------

def test_archive_builds_a_master_from_the_seeds_folder_incrementally(tmp_path):
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    seeds.mkdir()
    (seeds / "bikes.md").write_text(master_text(), "utf-8")
    (seeds / "trams.txt").write_text(SEED.replace("City bikes", "Trams"), "utf-8")
    first = seedpress("archive", seeds, "--dist", dist, env=ENV)
    assert first.returncode == 0, first.stderr
    assert ": 2 built, 0 unchanged, 0 failed" in first.stdout
    assert read_master(dist / "bikes" / "bikes.md").published == "2005-02-10"
    assert (dist / "bikes" / "bikes.txt").read_bytes() == (seeds / "bikes.md").read_bytes()
    again = seedpress("archive", seeds, "--dist", dist, env=ENV)
    assert ": 0 built, 2 unchanged" in again.stdout
    (seeds / "bikes.md").write_text(master_text().replace("date: 2005-02-10", "date: 2005-02-11"), "utf-8")
    changed = seedpress("archive", seeds, "--dist", dist, env=ENV)
    assert ": 1 built, 1 unchanged" in changed.stdout
    assert "2005-02-11" in (dist / "index.html").read_text("utf-8")
    assert seedpress("verify", "--dist", dist).returncode == 0


def test_a_seed_and_a_master_of_the_same_name_are_a_conflict_for_both(tmp_path):
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    seeds.mkdir()
    (seeds / "bikes.txt").write_text(SEED, "utf-8")
    assert seedpress("archive", seeds, "--dist", dist, env=ENV).returncode == 0
    (seeds / "bikes.md").write_text(master_text(), "utf-8")
    result = seedpress("archive", seeds, "--dist", dist, env=ENV)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"seedpress: {seeds / name}: conflicts with {other} in the same folder "
        "(a seed and its master are one title): keep one"
        for name, other in (("bikes.md", "bikes.txt"), ("bikes.txt", "bikes.md"))]
    # Not a silent choice, and not a withdrawal: the last good build stays handed out.
    assert "City bikes return" in (dist / "index.html").read_text("utf-8")
    assert (dist / "bikes" / "bikes.pdf").is_file()
