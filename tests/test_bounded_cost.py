"""Inputs that used to cost quadratic time, and titles that crashed the cover (issue 15).

No test here times anything: how the cost grows is what bench/hostile.py shows.
These check what a reader gets from the faster paths: the same first sentence,
the same characters in the PDF's text layer, and a cover for any title.
"""

from __future__ import annotations

import io
import re
import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from support.documents import pdftotext_pages

from convert.document.model import Document, Source, first_sentence
from convert.document.seed import parse_seed
from convert.editions import Settings, pdf
from convert.editions.cover import COVER_SIZE, _draw_line, _line_width, cover_png

#: Letters only: no space, no hyphen, no line-break opportunity anywhere in it.
UNBROKEN = ("abcdefghijklmnopqrstuvwxyz" * 200)[:5000]
MARKER = "Read the original article here"


# --- first_sentence ----------------------------------------------------------------

_OLD_ABBREVIATION = re.compile(
    r"(?:^|\s)(?:(?:[A-Za-z]\.)+|Mr|Mrs|Ms|Dr|St|Jr|Sr|vs|etc|Gen|Gov|Sen|Rep|Prof)\.?$")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s+[\"“‘(]?[A-Z0-9])")


def first_sentence_before_issue_15(paragraph: str, limit: int = 300) -> str:
    """first_sentence as it was, quadratic: the reference its results must equal."""
    sentence = paragraph
    for match in _SENTENCE_END.finditer(paragraph):
        if not _OLD_ABBREVIATION.search(paragraph[: match.start() + 1]):
            sentence = paragraph[: match.end()]
            break
    if len(sentence) > limit:
        sentence = sentence[:limit].rsplit(" ", 1)[0] + " …"
    return sentence


ORDINARY = (
    "The U.S. Army said on Tuesday that it had killed him. The raid took place at night.",
    "Mr. Smith went to Washington. He stayed.",
    "Dr. No and Prof. X met Gen. Y at St. Paul's. Nobody came.",
    "It costs $5 vs. $6 etc. Then it rose.",
    "Is it over? Yes. It is.",
    "“Really!” she said. Then left.",
    "He said (quietly.) Then nothing.",
    "Ends with an ellipsis… And goes on.",
    "No sentence end at all, just words going on and on",
    "A.B.C. D.E.F. Then a real end. And more.",
    "i.e. the rest. Another.",
    "Numbers 1. 2. 3. Done.",
    " ".join(["word"] * 100) + ". Second sentence.",
    "a. B " * 100,
    "Short. " + "x" * 400,
    "\u00a0Non-breaking. Spaces.\u00a0And\u2028separators. Here.",
)


@pytest.mark.parametrize("paragraph", ORDINARY)
def test_first_sentence_is_unchanged(paragraph):
    assert first_sentence(paragraph) == first_sentence_before_issue_15(paragraph)


@pytest.mark.parametrize("paragraph, sentence", [
    ("台風による土砂崩れで不通となっていた。再開初日の朝には人が集まった。", "台風による土砂崩れで不通となっていた。"),
    ("「再開だ！」と住民は言った。次の文。", "「再開だ！」と住民は言った。"),
    ("本当に？はい。", "本当に？"),
    ("文が一つだけ。", "文が一つだけ。"),
    ("今日は晴れです。 明日は雨です。", "今日は晴れです。"),  # a hard wrap, joined by a space
    ("经过三年的修复，铁路全线恢复运行。首日早上，数百人前来。", "经过三年的修复，铁路全线恢复运行。"),
])
def test_a_chinese_or_japanese_first_sentence_ends_at_its_full_stop(paragraph, sentence):
    assert first_sentence(paragraph) == sentence


_SENTENCE_PIECES = st.sampled_from(
    ["a.", "B", "U.S.", "Mr.", "Dr", "etc.", "x", "Word", "1.", "2", "?", "!", "…", "”", ")", "(A", "“B",
     "St.", "vs", "e.g.", ".", "..", "Z.", "q", "\u00a0", "\u2029"])


@settings(max_examples=300, deadline=None)
@given(words=st.lists(_SENTENCE_PIECES, max_size=40),
       spaces=st.lists(st.sampled_from([" ", "  ", "\t", "\u2003"]), min_size=40, max_size=40),
       limit=st.integers(min_value=5, max_value=60))
def test_first_sentence_equals_the_old_one_on_anything(words, spaces, limit):
    paragraph = "".join(word + space for word, space in zip(words, spaces)).strip()
    assert first_sentence(paragraph, limit) == first_sentence_before_issue_15(paragraph, limit)


def test_first_sentence_of_the_pathological_summary():
    """100 KB of "a. B ": every period follows a one-letter abbreviation, so there is no
    sentence end, and the result is the paragraph cut near 300 characters."""
    paragraph = ("a. B " * 20_000).strip()
    sentence = first_sentence(paragraph)
    assert sentence == paragraph[:300].rsplit(" ", 1)[0] + " …"
    assert sentence == first_sentence_before_issue_15(paragraph[:2000])


# --- the PDF's text layer --------------------------------------------------------------

def render_pdf(tmp_path, seed: str) -> tuple[Document, list[str]]:
    document = parse_seed(seed.encode(), "unbroken.txt")
    path = tmp_path / "unbroken.pdf"
    path.write_bytes(pdf.render_bytes(document, Settings()))
    return document, pdftotext_pages(path)


def body_lines(pages: list[str], running_title: str) -> str:
    """Every page's text without its page number and running header, lines joined."""
    kept = []
    for number, page in enumerate(pages, start=1):
        lines = page.strip("\n").split("\n")
        lines.remove(f"{number} / {len(pages)}")
        if number > 1:
            lines.remove(next(line for line in lines if line == running_title or (
                line.endswith("…") and running_title.startswith(line[:-1]))))
        kept += lines
    return "".join(kept)


@pytest.mark.parametrize("kind", ["title", "url", "paragraph"])
def test_an_unbroken_run_keeps_its_characters_in_the_text_layer(tmp_path, kind):
    """Cut into chunks for the layout engine, a 5,000-character run still comes out of the
    PDF as the same characters, with line breaks between some and nothing else added."""
    title, summary, marker = "Unbroken", "The summary.", MARKER
    if kind == "title":
        title = UNBROKEN
    elif kind == "url":
        marker = f"{MARKER}: https://example.org/{UNBROKEN}"
    else:
        summary = UNBROKEN
    document, pages = render_pdf(tmp_path, f"{title}\n\n{summary}\n\n{marker}\n\nThe commentary.\n")
    text = "\f".join(pages)
    assert "\u200b" not in text and "\u00ad" not in text
    assert UNBROKEN in body_lines(pages, title)
    assert len(pages) > 1


def test_the_running_header_shows_the_start_of_a_long_title(tmp_path):
    title = "A title " + "longer than the header " * 40
    _document, pages = render_pdf(tmp_path, f"{title}\n\n" + "\n\n".join(["Words " * 400] * 4))
    header = pages[1].strip("\n").split("\n")[-2]
    assert header.endswith("…") and title.startswith(header[:-1]), header
    assert len(header) < 200


def test_ordinary_text_is_not_chunked():
    """Ordinary words, URLs of ordinary length and CJK text, which breaks between its
    characters, reach WeasyPrint as they are."""
    seed = ("Title\n\nA summary with ordinary words and a hyphenated-compound-word.\n\n"
            f"{MARKER}: https://example.org/{'segment/' * 20}page.html\n\n"
            + "中文的文字没有空格。" * 40 + "\n")
    html = pdf.to_html(parse_seed(seed.encode(), "ordinary.txt"), Settings())
    assert "unbroken" not in html


def test_chunks_never_split_a_grapheme_cluster():
    """A run of letters with combining marks is cut between clusters: no chunk WeasyPrint
    gets starts with a mark, which would be drawn on a dotted circle of its own."""
    document = parse_seed(("Title\n\n" + "q\u0323\u0301" * 400 + "\n").encode(), "marks.txt")
    chunks = re.findall(r"<span>([^<]*)</span>", pdf.to_html(document, Settings()))
    assert len(chunks) > 1 and "".join(chunks) == document.summary[0]
    assert not [chunk for chunk in chunks if unicodedata.category(chunk[0]).startswith("M")]


# --- the cover ---------------------------------------------------------------------------

#: Every separator (Zl, Zp, Zs), control (Cc) and format character (Cf), and the
#: combining marks and bidi controls titles may hold: the pieces a title is drawn from.
AWKWARD = tuple(
    chr(code) for code in range(sys.maxunicode + 1)
    if unicodedata.category(chr(code)) in ("Zl", "Zp", "Zs", "Cc", "Cf")
) + ("\u0301", "\u0308", "\u20dd", "\u0e31", "\u093f", "\u05b0", "\u064b")
_TITLE_PIECES = st.one_of(
    st.sampled_from(AWKWARD),
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=4),
    st.sampled_from(["Title", "عنوان", "כותרת", "标题", "शीर्षक", "🙂", "👍🏽", " "]),
)
SOURCE = Source(file="cover.txt", sha256="0" * 64, encoding="utf-8", bytes=1)


def cover_of(title: str) -> Image.Image:
    document = Document(title=title, summary=("A summary.",), commentary=(), original_article=None,
                        source=SOURCE)
    return Image.open(io.BytesIO(cover_png(document)))


@pytest.mark.parametrize("separator", ["\u2029", "\u2028", "\u0085", "\n", "\r", "\x1c", "\x1d", "\x1e"])
def test_a_title_with_a_separator_gets_a_cover(separator):
    assert cover_of(f"Before{separator}after").size == COVER_SIZE


@settings(max_examples=150, deadline=None)
@given(pieces=st.lists(_TITLE_PIECES, min_size=1, max_size=12))
@pytest.mark.slow
def test_any_title_gets_a_cover(pieces):
    assert cover_of("".join(pieces)).size == COVER_SIZE


def test_a_run_raqm_refuses_is_drawn_with_the_basic_layout():
    """Should raqm refuse a run (it does for a paragraph separator, which the cover turns
    into a space before it gets there), the line is still measured and drawn."""
    image = Image.new("RGB", (600, 120), "white")
    _draw_line(image, "Ink\u2029ink", 10, 90, 60, "black", "ltr")
    assert _line_width("Ink\u2029ink", 60, "ltr") > 0
    assert image.convert("L").getextrema()[0] < 128
