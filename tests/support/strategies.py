"""Hypothesis strategies: what a seed author may type, and what DESIGN §1 says it reads as."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import strategies as st

#: Pieces that mean something to Markdown, YAML, HTML, pandoc's extensions or the
#: bidi algorithm; the strategy leans on them. None holds ASCII whitespace: the
#: separators between pieces are the only spaces, tabs and hard wraps.
TRICKY = (
    "*", "**", "_", "__", "#", "##", "1.", "1)", "(1)", "a.", "iv.", "#.", "(@)", "-", "+", ">",
    "|", "||", "<script>", "</script>", "<b>", "<!--", "-->", "<http://x.y>", "[a](javascript:x)",
    "![i](file:///etc/passwd)", "[^1]", "^[n]", "@key", "[@key]", "---", "--", "...", "…", "`",
    "```", "~~~", "~", "^", "$", "$$", "\\", "\\\\", "\\*", '"', "'", "&amp;", "&#65;", "&",
    "{#id}", "{.c}", ":::", ":", "=", "===", "%", "!", "[", "]", "(", ")", "Mr.", "e.g.",
    "No.", "p.", "Ph.D.", "i.e.", "null", "true", "~", "?", "!!str", "*alias", "&anchor",
    "%YAML", "'quoted'", "{a: b}", "[1, 2]", "🙂", "👍🏽", "🇺🇳", "مرحبا", "שלום", "中文",
    "\u00a0", "\u200b", "\u200d", "\u200e", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069",
    "\u061c", "\ufeff", "\u2028", "\u2029", "\u3000", "\u00ad", "e\u0301", "\u0301",
)
_CHARACTERS = st.characters(
    blacklist_categories=("Cs", "Cc"), blacklist_characters=" \ufffe\uffff",
)
_PIECES = st.one_of(st.sampled_from(TRICKY), st.text(_CHARACTERS, min_size=1, max_size=6))
_SEPARATORS = st.sampled_from([" ", " ", " ", " ", "\t", "\n", " \t", "\n\t", "  "])
_ASCII_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")


@st.composite
def typed_paragraphs(draw) -> str:
    """A paragraph as typed: pieces joined by spaces, tabs and single hard wraps (never a blank line)."""
    pieces = draw(st.lists(_PIECES, min_size=1, max_size=10))
    typed = [pieces[0]]
    for piece in pieces[1:]:
        typed += [draw(_SEPARATORS), piece]
    return "".join(typed)


def canonical(typed: str) -> str:
    """What DESIGN §1 says a typed paragraph reads as: NFC, ASCII whitespace runs folded to one space."""
    return _ASCII_WHITESPACE.sub(" ", unicodedata.normalize("NFC", typed)).strip(" ")


MARKERS = (
    ("Read the original article here", None),
    ("Read the original article", None),
    ("Read the original article here: https://example.org/a?b=1&c=*x*", "https://example.org/a?b=1&c=*x*"),
)
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16-le", "utf-16-be")
LINE_ENDINGS = ("\n", "\r\n", "\r")
BLANK_LINES = ("\n\n", "\n\n\n", "\n \t\n", "\n\u0020\n\n")


@st.composite
def seeds(draw) -> tuple[bytes, dict]:
    """A seed file's bytes and what DESIGN §1 says it reads as (title, summary, url, commentary)."""
    title = draw(typed_paragraphs())
    summary = draw(st.lists(typed_paragraphs(), min_size=1, max_size=5))
    marker = draw(st.sampled_from((None, *MARKERS)))
    commentary = draw(st.lists(typed_paragraphs(), max_size=5)) if marker else []
    # A UTF-8 file that starts with U+FEFF cannot be told from one with a BOM.
    if canonical(title).startswith("\ufeff") or not canonical(title):
        title = "Title " + title
    paragraphs = [title, *summary, *([marker[0]] if marker else []), *commentary]
    text = ""
    for paragraph in paragraphs:
        text += paragraph + draw(st.sampled_from(BLANK_LINES))
    text = text.replace("\n", draw(st.sampled_from(LINE_ENDINGS)))
    encoding = draw(st.sampled_from(ENCODINGS))
    data = text.encode(encoding)
    if encoding == "utf-16-le":
        data = b"\xff\xfe" + data
    elif encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    expected = {
        "title": canonical(title),
        "summary": tuple(canonical(p) for p in summary),
        "url": marker[1] if marker else None,
        "marker": marker is not None,
        "commentary": tuple(canonical(p) for p in commentary),
    }
    return data, expected
