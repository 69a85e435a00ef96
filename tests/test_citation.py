"""Pages that cite and share well (issue 24 §3): the landing page's description, Open Graph,
Highwire citation_* tags and schema.org JSON-LD as extruct reads them; the cite line; each
title's <key>.bib and <key>.csl.json as bibtexparser and citeproc-py read them, catalogued,
verified and summed; the PDF byline with the author, never the file name; and no "seed"
in any reader-facing text of the language fixtures' editions and pages."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import bibtexparser
import extruct
import lxml.html
import pytest
from bibtexparser.middlewares import LatexDecodingMiddleware
from citeproc import Citation as CiteprocCitation
from citeproc import CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
from citeproc.source.json import CiteProcJSON
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db
from support.documents import pdftotext_pages
from support.run import BUILD_EPOCH, DATA, json_lines, seedpress

from convert import defaults
from convert.document.labels import labels, long_date
from convert.document.seed import parse_seed
from convert.editions.citation import Citation, bibtex, citation, csl_json
from convert.editions.landing import landing_page
from convert.layout import BIBTEX_EDITION, COVER_EDITION, CSL_EDITION, SUMS_NAME, edition_file
from convert.web import CITATION_TYPES

LANGUAGES = DATA / "languages"
BASE_URL = "https://archive.example.org/reading/"
#: An archive title, author and seed title that hold what breaks HTML, JSON in a <script>,
#: TeX and BibTeX: an end tag, a comment opener, unbalanced braces, TeX's specials, ligatures.
ARCHIVE_TITLE = "Reading </script> & {Co"
AUTHOR = "Ana {Díaz} & Bo Li, Jr. and 100% \\ #1"
HOSTILE_TITLE = "</script><!-- A {Brace} } % \\ # & $ _ ~ ^ -- ``q'' <b>"
LICENSE = "https://creativecommons.org/licenses/by/4.0/"
HOSTILE_SEED = (f"{HOSTILE_TITLE}\n\nA summary of the article. It has two sentences.\n\n"
                "Read the original article here\n\nA commentary on it.\n")
#: "seed", "seeds" as a word in any case: the tool's word, never the reader's.
SEED_WORD = re.compile(r"\bseeds?\b", re.IGNORECASE)


# --- BibTeX and CSL-JSON of one citation ---------------------------------------------------

def latex_decoder() -> LatexNodes2Text:
    """pylatexenc's decoder, taught the LaTeX kernel's text macros for the braces and the
    caret that it does not know (it drops \\textbraceleft, and writes \\textasciicircum as ˆ)."""
    context = get_default_latex_context_db()
    context.add_context_category("latex-kernel-text", prepend=True, macros=[
        MacroTextSpec("textbraceleft", "{"), MacroTextSpec("textbraceright", "}"),
        MacroTextSpec("textasciicircum", "^")])
    return LatexNodes2Text(latex_context=context)


def parsed_bibtex(data: bytes) -> dict[str, str]:
    """The one entry of a BibTeX file as bibtexparser 2 reads it, LaTeX decoded to text,
    with its type and key; fails on any block it cannot parse."""
    library = bibtexparser.parse_string(
        data.decode("utf-8"), append_middleware=[LatexDecodingMiddleware(decoder=latex_decoder())])
    assert library.failed_blocks == [] and len(library.entries) == 1, data
    entry = library.entries[0]
    return {"ENTRYTYPE": entry.entry_type, "ID": entry.key,
            **{field.key: field.value for field in entry.fields}}


def citeproc_text(data: bytes, key: str) -> str:
    """The bibliography entry citeproc-py writes for the CSL-JSON file's item `key`, in the
    Harvard (Cite Them Right) style it bundles."""
    source = CiteProcJSON(json.loads(data))
    bibliography = CitationStylesBibliography(CitationStylesStyle("harvard-cite-them-right", validate=False),
                                              source, formatter.plain)
    bibliography.register(CiteprocCitation([CitationItem(key)]))
    return "".join(str(item) for item in bibliography.bibliography())


def a_citation(**changes) -> Citation:
    fields = dict(key="k-1", title="A title", author="Ana Díaz", publisher="Reading", issued=date(2024, 2, 29),
                  identifier="urn:sha256:" + "0" * 64, lang="es", url=BASE_URL + "k-1/index.html",
                  license_url=None)
    return Citation(**{**fields, **changes})


#: What a title may hold that TeX or BibTeX reads as more than a letter.
TEX_TRICKY = ("{", "}", "{}", "}{", "%", "\\", "\\\\", "#", "&", "$", "_", "~", "^", "--", "---", "``", "''",
              "!`", "?`", "<<", ">>", ",,", "\\textbf{x}", "@", '"', "=", ",", "and", " and ")
_WORD = st.one_of(st.sampled_from(TEX_TRICKY),
                  st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")), min_size=1, max_size=6))
#: One-line texts of words and TeX's specials, one space apart (TeX folds runs of spaces).
TEX_TITLES = st.lists(_WORD, min_size=1, max_size=8).map(" ".join).map(lambda text: re.sub(" +", " ", text).strip()
                                                                   ).filter(bool)


@settings(max_examples=300, deadline=None)
@given(title=TEX_TITLES, author=TEX_TITLES)
def test_bibtex_gives_back_any_title_and_author_exactly(title, author):
    read = parsed_bibtex(bibtex(a_citation(title=title, author=author)))
    # Both are braced once more: a title keeps its capitals, an author stays one name.
    assert read["title"] == title and read["author"] == author


def test_bibtex_entry_fields():
    read = parsed_bibtex(bibtex(a_citation(title=HOSTILE_TITLE, author=AUTHOR, publisher=ARCHIVE_TITLE)))
    assert read["ENTRYTYPE"] == "online" and read["ID"] == "k-1"
    assert (read["title"], read["author"], read["publisher"]) == (HOSTILE_TITLE, AUTHOR, ARCHIVE_TITLE)
    assert (read["date"], read["year"], read["month"]) == ("2024-02-29", "2024", "2")
    assert read["url"] == BASE_URL + "k-1/index.html" and read["langid"] == "es"
    assert read["note"] == "urn:sha256:" + "0" * 64
    # Without an author or a known URL, neither field is written at all.
    bare = parsed_bibtex(bibtex(a_citation(author=None, url=None)))
    assert "author" not in bare and "url" not in bare and bare["title"] == "A title"


def test_bibtex_braces_stay_balanced_for_bibtex_itself():
    """BibTeX counts every brace, escaped or not: a title with one "{" must not leave one open."""
    for title in ("{", "}", "a } b { c", "\\{", "x\\"):
        text = bibtex(a_citation(title=title)).decode()
        body = text[text.index("{") + 1:text.rindex("}")]
        depth = 0
        for character in body:
            depth += {"{": 1, "}": -1}.get(character, 0)
            assert depth >= 0, text
        assert depth == 0, text


def test_csl_json_renders_through_citeproc_with_author_title_date_and_url():
    cited = a_citation(title=HOSTILE_TITLE, author=AUTHOR)
    written = citeproc_text(csl_json(cited), cited.key)
    for part in (AUTHOR, HOSTILE_TITLE, "2024", BASE_URL + "k-1/index.html"):
        assert part in written, written
    item = json.loads(csl_json(cited))[0]
    assert item["issued"] == {"date-parts": [[2024, 2, 29]]} and item["type"] == "webpage"


# --- the landing page, built in memory --------------------------------------------------

SEED_BYTES = HOSTILE_SEED.encode()
CREATED = datetime.fromtimestamp(BUILD_EPOCH, UTC)


def a_landing_page(title: str, base_url: str | None, author: str | None = AUTHOR) -> lxml.html.HtmlElement:
    document = replace(parse_seed(SEED_BYTES, "hostile.txt", lang="en"), title=title, author=author)
    cited = citation(document, "hostile", CREATED, ARCHIVE_TITLE, base_url)
    files = {"pdf": b"%PDF", "epub": b"PK", "txt": SEED_BYTES, COVER_EDITION: b"png",
             BIBTEX_EDITION: bibtex(cited), CSL_EDITION: csl_json(cited)}
    return lxml.html.document_fromstring(landing_page(document, "hostile", files, CREATED, ARCHIVE_TITLE, base_url))


def json_ld_of(page: lxml.html.HtmlElement) -> dict:
    scripts = page.xpath("//script")
    assert [script.get("type") for script in scripts] == ["application/ld+json"]
    return json.loads(scripts[0].text)


@settings(max_examples=200, deadline=None)
@given(title=st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\ufffe\uffff"),
                     min_size=1).filter(str.strip) | st.sampled_from(["</script>", "<!--<script>", "</SCRIPT ", "]]>"]))
def test_json_ld_carries_any_title_whole_and_cannot_end_its_script(title):
    page = a_landing_page(title, BASE_URL)
    data = json_ld_of(page)
    assert data["headline"] == title and data["publisher"]["name"] == ARCHIVE_TITLE
    script = page.xpath("//script")[0].text
    assert "<" not in script and ">" not in script and "&" not in script
    assert page.xpath("//meta[@property='og:title']/@content") == [title]


def test_without_a_base_url_links_are_relative_and_no_url_is_claimed():
    page = a_landing_page("A title", None, author=None)
    assert page.xpath("//meta[@property='og:url']") == [] and page.xpath("//link[@rel='canonical']") == []
    assert page.xpath("//meta[@property='og:image']/@content") == ["hostile.cover.png"]
    assert page.xpath("//meta[@name='citation_pdf_url']/@content") == ["hostile.pdf"]
    assert page.xpath("//meta[@name='citation_author']") == [] and "author" not in json_ld_of(page)
    assert "url" not in json_ld_of(page) and page.xpath("//*[@class='cite-line']//a") == []


def test_landing_page_policy_allows_no_script_and_its_json_ld_needs_none():
    """default-src 'none' and no script-src: a browser runs nothing, and JSON-LD is a data
    block it never runs, so the page's Content-Security-Policy stays as strict as before."""
    page = a_landing_page("A title", BASE_URL)
    policy = page.xpath("//meta[@http-equiv='Content-Security-Policy']/@content")[0]
    assert "default-src 'none'" in policy and "script-src" not in policy


# --- an archive of the language fixtures and a hostile seed -----------------------------

@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """Every language fixture and the hostile seed archived with an archive title, a base
    URL, an author and a license: (dist, input stem to key)."""
    base = tmp_path_factory.mktemp("citation")
    seeds = base / "seeds"
    shutil.copytree(LANGUAGES, seeds, ignore=shutil.ignore_patterns("README"))
    (seeds / "hostile.txt").write_text(HOSTILE_SEED, "utf-8")
    config = base / "seedpress.toml"
    config.write_text(f'[archive]\ntitle = {json.dumps(ARCHIVE_TITLE)}\nbase_url = "{BASE_URL}"\n'
                      f'[metadata]\nauthor = {json.dumps(AUTHOR)}\nlicense_url = "{LICENSE}"\n', "utf-8")
    result = seedpress("archive", seeds, "--dist", base / "dist", "--config", config, "--json",
                       env={"SOURCE_DATE_EPOCH": str(BUILD_EPOCH)}, timeout=900)
    assert result.returncode == 0, result.stderr
    keys = {Path(line["input"]).stem: line["key"] for line in json_lines(result.stdout) if "input" in line}
    return base / "dist", keys


@pytest.mark.slow
def test_extruct_reads_open_graph_json_ld_and_the_citation_tags(archive):
    dist, keys = archive
    key = keys["hostile"]
    url = f"{BASE_URL}{key}/index.html"
    html = (dist / key / "index.html").read_text("utf-8")
    found = extruct.extract(html, base_url=url, syntaxes=["opengraph", "json-ld"], uniform=True)
    graph = found["opengraph"][0]
    assert graph["og:title"] == HOSTILE_TITLE and graph["@type"] == "article" and graph["og:url"] == url
    assert graph["og:image"] == f"{BASE_URL}{key}/{edition_file(key, COVER_EDITION)}"
    [article] = found["json-ld"]
    assert article["@type"] == "Article" and article["headline"] == HOSTILE_TITLE
    assert article["author"]["name"] == AUTHOR and article["publisher"]["name"] == ARCHIVE_TITLE
    assert article["datePublished"] == datetime.fromtimestamp(BUILD_EPOCH, UTC).date().isoformat()
    assert article["inLanguage"] == "en" and article["license"] == LICENSE and article["url"] == url
    encodings = {item["encodingFormat"]: item["contentUrl"] for item in article["encoding"]}
    assert encodings["application/pdf"] == f"{BASE_URL}{key}/{key}.pdf"
    assert encodings["application/epub+zip"] == f"{BASE_URL}{key}/{key}.epub"
    assert all(item["@type"] == "MediaObject" for item in article["encoding"])
    page = lxml.html.document_fromstring(html)
    meta = {name: page.xpath(f"//meta[@name='{name}']/@content") for name in (
        "description", "citation_title", "citation_author", "citation_publication_date", "citation_pdf_url",
        "citation_language")}
    assert meta == {"description": ["A summary of the article. It has two sentences."],
                    "citation_title": [HOSTILE_TITLE], "citation_author": [AUTHOR],
                    "citation_publication_date": [datetime.fromtimestamp(BUILD_EPOCH, UTC).strftime("%Y/%m/%d")],
                    "citation_pdf_url": [f"{BASE_URL}{key}/{key}.pdf"], "citation_language": ["en"]}


@pytest.mark.slow
def test_cite_line_and_citation_files_on_the_landing_page(archive):
    dist, keys = archive
    key = keys["de"]
    page = lxml.html.document_fromstring((dist / key / "index.html").read_bytes())
    line = page.xpath("//*[@class='cite-line']")[0].text_content()
    title = page.xpath("//h1")[0].text_content()
    for part in (AUTHOR, title, ARCHIVE_TITLE, f"{BASE_URL}{key}/index.html", "urn:sha256:"):
        assert part in line, part
    assert page.xpath("//h2[@id='cite']")[0].text_content() == labels("de").cite
    links = page.xpath("//*[@class='cite-files']/a")
    assert [(a.get("href"), a.text_content()) for a in links] == [
        (edition_file(key, edition), CITATION_TYPES[edition][1]) for edition in defaults.CITATION_EDITIONS]
    # The downloads come before the text; their checksums sit behind one disclosure.
    headings = [h.get("id") for h in page.xpath("//h2")]
    assert headings == ["downloads", "summary", "commentary", "cite"]
    assert page.xpath("//ul[@class='downloads']//*[contains(text(), 'sha256')]") == []
    assert page.xpath("//details[@class='checksums']/summary")[0].text_content() == labels("de").checksums


@pytest.mark.slow
def test_archived_citation_files_parse_with_the_titles_facts(archive):
    dist, keys = archive
    for stem in ("hostile", "ja", "ar"):
        key = keys[stem]
        page = lxml.html.document_fromstring((dist / key / "index.html").read_bytes())
        title = page.xpath("//h1")[0].text_content()
        read = parsed_bibtex((dist / key / edition_file(key, BIBTEX_EDITION)).read_bytes())
        assert (read["ID"], read["title"], read["author"], read["publisher"]) == (key, title, AUTHOR, ARCHIVE_TITLE)
        assert read["url"] == f"{BASE_URL}{key}/index.html"
        written = citeproc_text((dist / key / edition_file(key, CSL_EDITION)).read_bytes(), key)
        for part in (AUTHOR, title, str(datetime.fromtimestamp(BUILD_EPOCH, UTC).year), read["url"]):
            assert part in written, (stem, written)


@pytest.mark.slow
def test_citation_files_are_catalogued_summed_and_verified(archive, tmp_path):
    dist, keys = archive
    copy = tmp_path / "dist"
    shutil.copytree(dist, copy, symlinks=True)
    sums = (copy / SUMS_NAME).read_text("ascii")
    for key in keys.values():
        for edition in defaults.CITATION_EDITIONS:
            assert f"  {key}/{edition_file(key, edition)}\n" in sums
    verified = seedpress("verify", "--dist", copy)
    assert verified.returncode == 0, verified.stderr
    status = seedpress("status", "--dist", copy, "--json")
    assert json.loads(status.stdout)["last_verify"]["files"] == len(keys) * len(defaults.CATALOGUED_EDITIONS)
    sha256sum = subprocess.run(["sha256sum", "--check", "--quiet", SUMS_NAME], cwd=copy, capture_output=True,
                               text=True, timeout=120)
    assert sha256sum.returncode == 0, sha256sum.stdout + sha256sum.stderr
    key = keys["hostile"]
    damaged = copy / key / edition_file(key, BIBTEX_EDITION)
    damaged.write_bytes(damaged.read_bytes().replace(b"@online", b"@article"))
    found = seedpress("verify", "--dist", copy)
    assert found.returncode == 1 and f"{key}/{key}.bib: changed" in found.stderr


@pytest.mark.slow
def test_pdf_byline_gives_the_author_and_the_date_never_the_file_name(archive):
    dist, keys = archive
    for stem, key in keys.items():
        first = pdftotext_pages(dist / key / f"{key}.pdf")[0]
        byline = " ".join(first.split())
        assert " ".join(AUTHOR.split()) in byline, stem
        assert f"{stem}.txt" not in first and f"{key}.txt" not in first, stem


@pytest.mark.slow
def test_pdf_byline_without_an_author_is_the_date_alone(tmp_path, build_env):
    seed = tmp_path / "business-011.txt"
    shutil.copy(LANGUAGES / "fr.txt", seed)
    result = seedpress("convert", seed, "--out", tmp_path / "out", "--to", "pdf", "--json", env=build_env)
    assert result.returncode == 0, result.stderr
    key = json_lines(result.stdout)[0]["key"]
    first = pdftotext_pages(tmp_path / "out" / key / f"{key}.pdf")[0]
    assert "business-011" not in first
    archived = labels("fr").archived.format(date=long_date(datetime.fromtimestamp(BUILD_EPOCH, UTC), "fr"))
    assert archived in " ".join(first.split())


# --- no "seed" in front of a reader -------------------------------------------------------

def _markup_text(data: bytes) -> str:
    """Every piece of text a reader may see in an (X)HTML or XML document: the text of its
    elements (its <title> too) and its alt, title, aria-label and content attributes."""
    root = etree.fromstring(data, etree.XMLParser(recover=True, resolve_entities=False, no_network=True)) \
        if data.lstrip().startswith(b"<?xml") else lxml.html.document_fromstring(data)
    if root is None:
        return ""
    parts = [text for text in root.itertext() if not isinstance(text, etree._Comment)]
    for attribute in ("alt", "title", "aria-label", "content"):
        parts += root.xpath(f"//@{attribute}")
    return "\n".join(map(str, parts))


def reader_texts(dist: Path, key: str) -> dict[str, str]:
    """What a reader of a title sees, by where: its PDF's text, its EPUB's documents and
    package metadata, its DOCX's document and core properties, its landing page."""
    texts = {"pdf": "\n".join(pdftotext_pages(dist / key / f"{key}.pdf"))}
    with zipfile.ZipFile(dist / key / f"{key}.epub") as epub:
        for name in epub.namelist():
            if name.endswith((".xhtml", ".html", ".opf", ".ncx")):
                texts[f"epub:{name}"] = _markup_text(epub.read(name))
    with zipfile.ZipFile(dist / key / f"{key}.docx") as docx:
        for name in ("word/document.xml", "docProps/core.xml"):
            texts[f"docx:{name}"] = _markup_text(docx.read(name))
    texts["landing"] = _markup_text((dist / key / "index.html").read_bytes())
    return texts


@pytest.mark.slow
def test_no_reader_facing_text_of_any_language_says_seed_or_names_the_file(archive):
    dist, keys = archive
    checked = 0
    for stem, key in keys.items():
        for where, text in reader_texts(dist, key).items():
            assert not SEED_WORD.search(text), (stem, where, SEED_WORD.search(text))
            # The landing page lists each file it offers by name; nothing else names the input.
            assert f"{stem}.txt" not in text or where == "landing", (stem, where)
            checked += 1
    for page in dist.glob("index*.html"):
        assert not SEED_WORD.search(_markup_text(page.read_bytes())), page.name
    assert len(keys) == len(list(LANGUAGES.glob("*.txt"))) + 1 and checked > 4 * len(keys)


@pytest.mark.slow
def test_setting_the_base_url_rebuilds_the_pages_and_citations_that_give_it(tmp_path, build_env):
    seeds, dist, config = tmp_path / "seeds", tmp_path / "dist", tmp_path / "seedpress.toml"
    seeds.mkdir()
    shutil.copy(LANGUAGES / "nl.txt", seeds / "nl.txt")
    assert seedpress("archive", seeds, "--dist", dist, env=build_env).returncode == 0
    assert b"og:url" not in (dist / "nl" / "index.html").read_bytes()
    config.write_text(f'[archive]\nbase_url = "{BASE_URL}"\n', "utf-8")
    rebuilt = seedpress("archive", seeds, "--dist", dist, "--config", config, env=build_env)
    assert rebuilt.returncode == 0 and "1 built" in rebuilt.stdout, rebuilt.stdout + rebuilt.stderr
    page = lxml.html.document_fromstring((dist / "nl" / "index.html").read_bytes())
    assert page.xpath("//meta[@property='og:url']/@content") == [f"{BASE_URL}nl/index.html"]
    assert parsed_bibtex((dist / "nl" / "nl.bib").read_bytes())["url"] == f"{BASE_URL}nl/index.html"
    again = seedpress("archive", seeds, "--dist", dist, "--config", config, env=build_env)
    assert again.returncode == 0 and "0 built, 1 unchanged" in again.stdout, again.stdout
