"""Web text helpers every HTML, XML and JSON writer shares: escaping, the page head,
the palette, a style block's Content-Security-Policy hash, sizes and media types.

Foundation, like layout.py: the landing page (an edition), the hand-out and serve all use it.
"""

from __future__ import annotations

import re
from html import escape
from urllib.parse import quote

from convert import __version__

#: Each edition a reader can download: its media type and the label it gets, in display order.
EDITION_TYPES = {
    "pdf": ("application/pdf", "PDF"),
    "epub": ("application/epub+zip", "EPUB"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "DOCX"),
    "md": ("text/markdown; charset=utf-8", "Markdown"),
    "txt": ("text/plain; charset=utf-8", "Source text"),
}

#: The media type of a title's cover and thumbnail (editions/cover.py draws them as PNG).
IMAGE_TYPE = "image/png"


def human_size(size: int) -> str:
    """A file size as people read it: "812 bytes", "7.3 kB", "34 kB", "1.2 MB"."""
    if size < 1000:
        return "1 byte" if size == 1 else f"{size} bytes"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if round(value) < 1000 or unit == "TB":
            return f"{value:.1f} {unit}" if value < 9.95 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def href(path: str) -> str:
    """A relative URL for a path under dist (percent-encoded; the page and feed sit at its top)."""
    return quote(path, safe="/")


# Characters neither XML 1.0 nor HTML text may carry. The seed reader already
# replaces them; this keeps an Entry made elsewhere from breaking the whole page.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """Text with every character XML 1.0 and HTML text cannot carry replaced by U+FFFD."""
    return _UNPRINTABLE.sub("\ufffd", text)


def html_text(text: str) -> str:
    """Text as HTML character data or attribute value: escaped, quotes included."""
    return escape(xml_safe(text), quote=True)


def page_head(policy: str) -> str:
    """The lines every HTML page seedpress writes opens its <head> with: UTF-8, a phone's
    viewport, its Content-Security-Policy, no referrer, and the generator."""
    return (
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{html_text(policy)}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f'<meta name="generator" content="seedpress {html_text(__version__)}">\n'
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
