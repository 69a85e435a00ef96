"""Web text helpers every HTML, XML and JSON writer shares: the characters text may not
carry, escaping, the page head, the palette, a style block's Content-Security-Policy,
sizes and media types.

Foundation, like layout.py: the landing page (an edition), the hand-out and serve all use it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from html import escape
from urllib.parse import quote

from convert import GENERATOR
from convert.layout import BIBTEX_EDITION, CSL_EDITION

#: Each edition a reader can download: its media type and the label it gets, in display order.
EDITION_TYPES = {
    "pdf": ("application/pdf", "PDF"),
    "epub": ("application/epub+zip", "EPUB"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "DOCX"),
    "md": ("text/markdown; charset=utf-8", "Markdown"),
    "txt": ("text/plain; charset=utf-8", "Source text"),
}

#: Each citation file of a title (editions/citation.py): its media type and the name
#: reference managers know its format by.
CITATION_TYPES = {
    BIBTEX_EDITION: ("application/x-bibtex; charset=utf-8", "BibTeX"),
    CSL_EDITION: ("application/vnd.citationstyles.csl+json", "CSL-JSON"),
}

#: The media type of a title's cover and thumbnail (editions/cover.py draws them as PNG).
IMAGE_TYPE = "image/png"


#: The units of a file size, each 1,000 of the one before: (the English symbol, CLDR's unit).
SIZE_UNITS = (("kB", "digital-kilobyte"), ("MB", "digital-megabyte"), ("GB", "digital-gigabyte"),
              ("TB", "digital-terabyte"))


def scaled_size(size: int) -> tuple[float, int]:
    """A size of 1,000 bytes or more as (value, index in SIZE_UNITS): the largest unit that
    leaves less than 1,000 of it once rounded."""
    value = float(size)
    for index in range(len(SIZE_UNITS)):
        value /= 1000
        if round(value) < 1000 or index == len(SIZE_UNITS) - 1:
            return value, index
    raise AssertionError("unreachable")


def size_decimals(value: float) -> int:
    """One decimal under 10 ("7.3 kB"), none from there ("34 kB")."""
    return 1 if value < 9.95 else 0


def human_size(size: int) -> str:
    """A file size as people read it: "812 bytes", "7.3 kB", "34 kB", "1.2 MB"."""
    if size < 1000:
        return "1 byte" if size == 1 else f"{size} bytes"
    value, index = scaled_size(size)
    return f"{value:.{size_decimals(value)}f} {SIZE_UNITS[index][0]}"


def href(path: str) -> str:
    """A relative URL for a path under dist (percent-encoded; the page and feed sit at its top)."""
    return quote(path, safe="/")


#: The characters no text seedpress writes may hold, as the body of a regular-expression
#: character class: those XML 1.0 cannot carry (C0 controls, surrogates, U+FFFE, U+FFFF)
#: and the C1 controls, leaving out the whitespace controls tab, line feed, vertical tab,
#: form feed and carriage return, which the seed reader folds into spaces. Every other
#: set is this one plus what its place adds (WHITESPACE_CONTROLS, HTML_NONCHARACTERS).
NOT_TEXT = "\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff"
#: The whitespace controls: one-line values refuse them; XML can carry only tab, LF and CR.
WHITESPACE_CONTROLS = "\t\n\x0b\x0c\r"
#: The non-characters HTML parsers flag, besides U+FFFE and U+FFFF.
HTML_NONCHARACTERS = "\ufdd0-\ufdef"

# What neither XML 1.0 nor HTML text may carry. The seed reader already replaces
# them; this keeps an Entry made elsewhere from breaking the whole page.
_UNPRINTABLE = re.compile(f"[{NOT_TEXT}\x0b\x0c{HTML_NONCHARACTERS}]")


def xml_safe(text: str) -> str:
    """Text with every character XML 1.0 and HTML text cannot carry replaced by U+FFFD."""
    return _UNPRINTABLE.sub("\ufffd", text)


def markup_text(text: str) -> str:
    """Text as HTML or XML character data or attribute value: &, <, > and quotes escaped,
    nothing else changed (for the text of a document the seed reader already made
    representable: an edition keeps every character it was given)."""
    return escape(text, quote=True)


def html_text(text: str) -> str:
    """Text as HTML character data or attribute value: escaped, quotes included, and every
    character XML and HTML cannot carry replaced (for text of any origin: the hand-out)."""
    return markup_text(xml_safe(text))


#: The colours of every page seedpress writes, light and dark (each page picks what it
#: uses), the box model and the base colours. The page must read well at 320 px and in
#: dark mode; each page adds its own layout after it.
PALETTE = """
:root { --text: #1d2228; --page: #ffffff; --muted: #5b6470; --line: #d8dde3; --accent: #0b5cad; --panel: #eef3f8; }
@media (prefers-color-scheme: dark) {
  :root { --text: #e6e9ed; --page: #16191d; --muted: #a5adb8; --line: #3a4048; --accent: #7db7ff; --panel: #1f2731; }
}
* { box-sizing: border-box; }
html { background: var(--page); color: var(--text); }
a { color: var(--accent); }
"""


def style_policy(style: str, *allowed: str) -> str:
    """The Content-Security-Policy of a page whose one <style> block is `style`: nothing
    allowed by default, that block by its hash, then each directive of `allowed`. Any edit
    to the block changes its hash, so the policy is made from the block itself."""
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    return "; ".join(["default-src 'none'", f"style-src 'sha256-{digest}'", *allowed])


#: The media type of the archive's icon (dist/favicon.svg, editions/cover.py's favicon_svg).
ICON_TYPE = "image/svg+xml"


def page_head(policy: str, icon: str | None = None) -> str:
    """The lines every HTML page seedpress writes opens its <head> with: UTF-8, a phone's
    viewport, its Content-Security-Policy, no referrer, the generator, and the archive's
    icon when `icon` gives its URL relative to the page ("favicon.svg" at the top of dist,
    "../favicon.svg" in a title's folder); the policy must allow it (img-src 'self')."""
    icon_link = "" if icon is None else f'<link rel="icon" type="{ICON_TYPE}" href="{html_text(icon)}">\n'
    return (
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{html_text(policy)}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f'<meta name="generator" content="{html_text(GENERATOR)}">\n'
        + icon_link
    )


#: The longest language tag Pagefind 1.5 always indexes. It names each language's index
#: `<tag>_<hash cut to len(tag) + 8>`, where the hash is 20 bytes written in hex without
#: their leading zeros (20 to 40 characters), and panics when the cut runs past it
#: ("byte index 41 is out of bounds"): a tag of 30 to 32 characters fails for some
#: sites, of 33 and more for all. Up to 12 characters it never does.
PAGEFIND_MAX_LANGUAGE = 12


def pagefind_language(tag: str) -> str:
    """The language a landing page gives Pagefind (its <html lang>): the tag itself, or,
    for a tag longer than Pagefind takes, its primary subtag (en for en-US-x-…), which
    is all Pagefind uses it for; the page's <body> then carries the whole tag."""
    return tag if len(tag) <= PAGEFIND_MAX_LANGUAGE else tag.partition("-")[0]
