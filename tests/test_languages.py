"""Every language (issue 11): detected, marked paragraph by paragraph in every edition,
and typeset as its readers expect. The fixtures in tests/data/languages are real prose
in 18 languages, plus an English seed quoting a Japanese editorial and a French
economist."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pikepdf
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from support.documents import pdftotext_pages, strip_format
from support.editions import run_epubcheck
from support.run import BUILD_EPOCH, DATA, json_lines, seedpress

from convert.document.labels import labels, long_date
from convert.document.language import (
    detect,
    document_language,
    is_language_tag,
    paragraph_language,
    same_language,
    with_languages,
)
from convert.document.seed import parse_seed_structure

FIXTURES = DATA / "languages"
LANGUAGES = sorted(path.stem for path in FIXTURES.glob("*.txt") if path.stem != "mixed")
#: The Noto CJK variant whose glyph shapes each CJK language expects.
CJK_VARIANT = {"ja": "JP", "ko": "KR", "zh-Hans": "SC", "zh-Hant": "TC"}
EAST_ASIAN = {"ja", "ko", "zh-Hans", "zh-Hant"}
RIGHT_TO_LEFT = {"ar", "he", "fa"}
XHTML = {"x": "http://www.w3.org/1999/xhtml"}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
WORD = {"w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main"}
#: The commentary of mixed.txt: English, a Japanese editorial, English, a French economist.
MIXED_COMMENTARY = (None, "ja", None, "fr")


@pytest.fixture(scope="module")
def built(tmp_path_factory, build_env) -> dict[str, Path]:
    """Every fixture converted into all four editions by one `seedpress convert` run."""
    out = tmp_path_factory.mktemp("languages")
    result = seedpress("convert", FIXTURES, "--out", out, "--json", env=build_env)
    assert result.returncode == 0, result.stderr
    return {Path(line["input"]).stem: out / line["key"] for line in json_lines(result.stdout)}


def edition(built: dict[str, Path], name: str, suffix: str) -> Path:
    folder = built[name]
    return folder / f"{folder.name}.{suffix}"


def master_of(built, name: str) -> tuple[dict, str]:
    _, head, body = edition(built, name, "md").read_text("utf-8").split("---\n", 2)
    return yaml.safe_load(head), body


def epub_documents(built, name: str) -> dict[str, etree._Element]:
    with zipfile.ZipFile(edition(built, name, "epub")) as book:
        return {member: etree.fromstring(book.read(member)) for member in book.namelist()
                if member.endswith((".xhtml", ".opf"))}


def docx_parts(built, name: str) -> dict[str, etree._Element]:
    with zipfile.ZipFile(edition(built, name, "docx")) as document:
        return {part: etree.fromstring(document.read(part)) for part in ("word/document.xml", "word/styles.xml")}


def structure_languages(pdf: Path) -> list[tuple[str, str]]:
    """(structure type, /Lang) of every structure element that declares a language."""
    found = []
    with pikepdf.open(pdf) as document:
        pending = [document.Root.StructTreeRoot]
        while pending:
            element = pending.pop(0)
            if not isinstance(element, pikepdf.Dictionary):
                continue
            if "/Lang" in element:
                found.append((str(element.get("/S")), str(element.Lang)))
            kids = element.get("/K")
            pending.extend(kids if isinstance(kids, pikepdf.Array) else [kids] if kids is not None else [])
    return found


@pytest.mark.parametrize("tag", LANGUAGES)
@pytest.mark.slow
def test_the_master_says_the_language(built, tag):
    meta, body = master_of(built, tag)
    assert meta["lang"] == tag
    assert ":::" not in body, "a document in one language has no paragraph marked as another"


@pytest.mark.parametrize("tag", LANGUAGES)
@pytest.mark.slow
def test_the_epub_declares_the_language_everywhere(built, tag):
    documents = epub_documents(built, tag)
    opf = documents.pop("EPUB/content.opf")
    assert opf.findtext(".//{http://purl.org/dc/elements/1.1/}language") == tag
    for member, root in documents.items():
        assert root.get("lang") == root.get(XML_LANG) == tag, member
        assert (root.get("dir") == "rtl") == (tag in RIGHT_TO_LEFT), member
    words = labels(tag)
    chapters = [documents[f"EPUB/text/ch00{n}.xhtml"] for n in (1, 2)]
    headings = ["".join(chapter.find(".//x:h1", XHTML).itertext()) for chapter in chapters]
    assert headings == [words.summary_heading, words.commentary_heading]
    assert chapters[0].findtext(".//x:title", namespaces=XHTML).startswith(words.summary_heading)


@pytest.mark.parametrize("tag", LANGUAGES)
@pytest.mark.slow
def test_the_pdf_declares_the_language_and_draws_cjk_as_the_language_expects(built, tag):
    pdf = edition(built, tag, "pdf")
    with pikepdf.open(pdf) as document:
        assert str(document.Root.Lang) == tag
        fonts = {str(font.get("/BaseFont", "")) for page in document.pages
                 for font in page.Resources.get("/Font", {}).values()}
    variants = {match for font in fonts for match in re.findall(r"CJK-?(JP|KR|SC|TC|HK)", font)}
    if tag in CJK_VARIANT:
        assert variants == {CJK_VARIANT[tag]}, fonts
    else:
        assert not variants, fonts
    # Each fixture writes the English marker: marked as English in the document's language.
    assert ("/Span", "en") in structure_languages(pdf)


@pytest.mark.parametrize("tag", LANGUAGES)
@pytest.mark.slow
def test_labels_and_date_are_in_the_language(built, tag):
    words, english = labels(tag), labels("en")
    date = long_date(datetime.fromtimestamp(BUILD_EPOCH, UTC), tag)
    assert date != long_date(datetime.fromtimestamp(BUILD_EPOCH, UTC), "en")
    # Right-to-left lines come out of a PDF in visual order: look for each word of the date.
    first_page = strip_format(pdftotext_pages(edition(built, tag, "pdf"))[0]).replace(" ", "")
    assert all(word in first_page for word in date.split()), (date, first_page[:200])
    with pikepdf.open(edition(built, tag, "pdf")) as document:
        outline = [item.title for item in document.open_outline().root]
    assert outline == [words.summary_heading, words.commentary_heading]
    assert english.summary_heading not in outline
    styled = [(p.find(".//w:pStyle", WORD), "".join(p.itertext()))
              for p in docx_parts(built, tag)["word/document.xml"].iter(f"{{{WORD['w']}}}p")]
    headings = [text for style, text in styled if style is not None and style.get(f"{{{WORD['w']}}}val") == "Heading1"]
    assert headings == [words.summary_heading, words.commentary_heading]


@pytest.mark.parametrize("tag", LANGUAGES)
@pytest.mark.slow
def test_the_docx_puts_the_language_in_the_slot_word_reads(built, tag):
    styles = docx_parts(built, tag)["word/styles.xml"]
    default = styles.find(".//w:docDefaults//w:lang", WORD)
    slot = "eastAsia" if tag in EAST_ASIAN else "bidi" if tag in RIGHT_TO_LEFT else "val"
    assert default.get(f"{{{WORD['w']}}}{slot}") == tag


@pytest.mark.slow
def test_each_paragraph_of_the_mixed_seed_is_marked_in_every_edition(built):
    meta, body = master_of(built, "mixed")
    assert meta["lang"] == "en"
    assert re.findall(r"^::: \{lang=([^}]+)\}$", body, re.MULTILINE) == ["ja", "fr"]
    # EPUB: lang and xml:lang on the element of each quoted paragraph, and nowhere else.
    commentary = epub_documents(built, "mixed")["EPUB/text/ch002.xhtml"]
    paragraphs = commentary.findall(".//x:div[@class='commentary']//x:p", XHTML)
    assert len(paragraphs) == len(MIXED_COMMENTARY)
    for paragraph, lang in zip(paragraphs, MIXED_COMMENTARY):
        element = paragraph.getparent()
        assert element.get("lang") == (lang or None) and element.get(XML_LANG) == (lang or None)
    # PDF: /Lang on the structure element of each quoted paragraph (the French one may
    # run onto a second page, as two elements).
    marked = [lang for kind, lang in structure_languages(edition(built, "mixed", "pdf")) if kind == "/P"]
    assert list(dict.fromkeys(marked)) == ["ja", "fr"]
    # DOCX: Japanese in w:eastAsia, French in w:val, on the runs of those paragraphs only.
    document = docx_parts(built, "mixed")["word/document.xml"]
    languages = []
    for paragraph in document.iter(f"{{{WORD['w']}}}p"):
        for run_language in paragraph.iterfind(".//w:r/w:rPr/w:lang", WORD):
            languages.append(dict(run_language.attrib))
    w = f"{{{WORD['w']}}}"
    assert {w + "eastAsia": "ja"} in languages and {w + "val": "fr"} in languages
    assert all(len(found) == 1 for found in languages)


@pytest.mark.jvm
@pytest.mark.slow
def test_every_language_epub_passes_epubcheck(built):
    books = [edition(built, name, "epub") for name in [*LANGUAGES, "mixed"]]
    for book, report in run_epubcheck(books).items():
        problems = [m for m in report["messages"] if m["severity"] in ("FATAL", "ERROR", "WARNING")]
        assert problems == [], (book.name, problems)


@pytest.mark.slow
def test_lang_overrides_detection_and_a_master_keeps_its_own(tmp_path, build_env):
    out = tmp_path / "out"
    forced = seedpress("convert", FIXTURES / "fr.txt", "--lang", "fr-CA", "--out", out, "--to", "md,epub",
                       "--json", env=build_env)
    assert forced.returncode == 0, forced.stderr
    [outcome] = json_lines(forced.stdout)
    master = Path(outcome["files"]["md"]["path"])
    assert "\nlang: fr-CA\n" in master.read_text("utf-8")
    edited = tmp_path / "edited.md"
    edited.write_text(master.read_text("utf-8").replace("\nlang: fr-CA\n", "\nlang: fr-BE\n"), "utf-8")
    rebuilt = seedpress("convert", edited, "--lang", "de", "--out", tmp_path / "again", "--to", "epub",
                        "--json", env=build_env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    with zipfile.ZipFile(json_lines(rebuilt.stdout)[0]["files"]["epub"]["path"]) as book:
        assert b"<dc:language>fr-BE</dc:language>" in book.read("EPUB/content.opf")


@pytest.mark.parametrize("bad", ["en US", "e", "x" * 40, "en_US"])
def test_a_malformed_lang_is_a_usage_error(tmp_path, bad):
    result = seedpress("convert", FIXTURES / "fr.txt", "--lang", bad, "--out", tmp_path / "out")
    assert result.returncode == 2
    assert "not a BCP 47 language tag" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("given", "said"), [
    ("french", "did you mean fr?"), ("English", "did you mean en?"), ("Chinese", "did you mean zh?"),
    ("en_US", "did you mean en-US?"), ("klingonese", "for example en, fr, pt-BR or zh-Hant"),
    ("abcd", "for example en, fr, pt-BR or zh-Hant"),
])
def test_a_language_given_by_its_name_is_refused_with_its_tag(tmp_path, given, said):
    """`--lang french` was taken as a tag (its form, 2 to 8 letters, is BCP 47's): the master
    said `lang: french`, the EPUB's dc:language "french", and a French text got English
    labels. A language subtag is 2 or 3 letters (the registry holds no other); a name
    says the tag it stands for."""
    result = seedpress("convert", FIXTURES / "fr.txt", "--lang", given, "--out", tmp_path / "out")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].endswith(f"not a BCP 47 language tag: {given!r} ({said})")
    assert not (tmp_path / "out").exists()


def test_a_master_or_the_configuration_naming_a_language_is_refused_with_its_tag(tmp_path):
    master = tmp_path / "named.md"
    built = seedpress("convert", FIXTURES / "fr.txt", "-o", master)
    assert built.returncode == 0, built.stderr
    master.write_text(master.read_text("utf-8").replace("\nlang: fr\n", "\nlang: French\n"), "utf-8")
    result = seedpress("convert", master, "--out", tmp_path / "out")
    assert result.returncode == 1 and "did you mean fr?" in result.stderr, result.stderr
    config = tmp_path / "seedpress.toml"
    config.write_text('[archive]\nlang = "german"\n', "utf-8")
    result = seedpress("status", "--config", config, "--dist", tmp_path)
    assert result.returncode == 2 and "did you mean de?" in result.stderr, result.stderr


@pytest.mark.parametrize("tag", ["fr", "fra", "und", "zh-Hant", "pt-BR", "x-klingon", "i-klingon", "sr-Latn-RS"])
def test_a_tag_is_still_a_tag(tag):
    assert is_language_tag(tag)


@pytest.mark.parametrize("text", ["x", "i", "X", "x-", "french", "abcd", "e", "fr-", "-fr"])
def test_a_singleton_or_a_name_is_no_tag(text):
    assert not is_language_tag(text)


def test_text_the_detector_is_unsure_of_is_undetermined():
    assert detect("").tag == "und"
    assert detect("1234 — 5678 !!").tag == "und"


@pytest.mark.parametrize("name", [*LANGUAGES, "mixed"])
def test_each_text_detected_once_gives_the_languages_detecting_each_on_its_own_gives(name):
    """with_languages detects each paragraph once for both of its questions (issue 25):
    the document's language and the paragraphs' marks are those each question, asked on
    its own, gives; also with the fixture's paragraphs repeated, and with a language given."""
    document = parse_seed_structure((FIXTURES / f"{name}.txt").read_bytes(), f"{name}.txt")
    repeated = replace(document, commentary=(*document.commentary, *document.summary, *document.commentary))
    for seed, forced in ((document, None), (repeated, None), (document, "de")):
        texts = (seed.title, *seed.summary, *seed.commentary)
        detected = document_language(texts)
        lang = forced or detected

        def marks(paragraphs, detected=detected, lang=lang):
            found = tuple(mark if mark and not same_language(mark, detected) else None
                          for mark in (paragraph_language(paragraph, lang) for paragraph in paragraphs))
            return found if any(found) else ()

        marked = with_languages(seed, forced)
        assert marked.lang == lang
        assert (marked.summary_langs, marked.commentary_langs) == (marks(seed.summary), marks(seed.commentary))
    if name == "mixed":
        assert with_languages(document).commentary_langs == MIXED_COMMENTARY


TEXTS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)


@settings(max_examples=10, deadline=None)
@given(texts=st.lists(TEXTS, min_size=1, max_size=20))
@pytest.mark.slow
def test_detection_is_deterministic_across_processes(texts):
    here = [list(map(str, (detect(text).tag, detect(text).confidence))) for text in texts]
    program = ("import json, sys; from convert.document.language import detect; "
               "print(json.dumps([[d.tag, str(d.confidence)] for d in map(detect, json.load(sys.stdin))]))")
    there = subprocess.run([sys.executable, "-c", program], input=json.dumps(texts), capture_output=True,
                           text=True, check=True, timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert json.loads(there.stdout) == here

