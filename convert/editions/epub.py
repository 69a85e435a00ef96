"""The EPUB 3 edition: pandoc's epub3 writer from the JSON AST, styles/epub.css.

Summary and commentary are level-1 sections, so pandoc puts each in its own
XHTML content document and lists both in the nav. pandoc's writer process
reads nothing but the reference document, and its clock reads the epoch:
the archive is repacked with styles/epub.css and the build date.

The repack also makes the book accessible (EPUB Accessibility 1.1): the
package gets an accessibility summary and a conformance claim, each chapter
a title that says what it is, and the book a cover image, drawn here with the
title on it, marked as the cover and given a text alternative.
"""

from __future__ import annotations

import functools
import io
import re
import zipfile
from pathlib import Path

from convert.document.labels import foreign_label_language, labels
from convert.document.language import is_right_to_left
from convert.document.model import Document
from convert.editions import PANDOC_SANDBOX_STAMP, Settings, date_shown, repack_zip, zip_timestamp
from convert.editions.ast import document_ast
from convert.editions.cover import cover_png
from convert.editions.markup import label
from convert.errors import RenderError
from convert.pandoc import PandocFailed, Pending, submit_document
from convert.web import markup_text

STYLESHEET = "EPUB/styles/stylesheet1.css"
PACKAGE = "EPUB/content.opf"
NAV = "EPUB/nav.xhtml"
COVER_IMAGE = "EPUB/media/cover.png"
COVER_PAGE = "EPUB/text/cover.xhtml"
TITLE_PAGE = "EPUB/text/title_page.xhtml"
#: pandoc's content documents (split at level 1) and the section each one holds.
CHAPTERS = {"EPUB/text/ch001.xhtml": "summary", "EPUB/text/ch002.xhtml": "commentary"}
#: The conformance claim of EPUB Accessibility 1.1, section 3.
CONFORMANCE = "EPUB Accessibility 1.1 - WCAG 2.1 Level AA"
ACCESSIBILITY_SUMMARY = (
    "The summary of an article and the commentary appended to it, as text in two "
    "chapters with headings, in reading order, with a table of contents. The only "
    "image is the cover, which shows the title and has a text alternative. "
    "Right-to-left paragraphs are marked as such, and so is every paragraph in a "
    "language other than the book's. No hazards."
)


def render_bytes(document: Document, settings: Settings) -> bytes:
    """The EPUB edition as bytes."""
    return finish(send(document, settings), document, settings)


def send(document: Document, settings: Settings) -> Pending:
    """Hand the document to this process's pandoc writer and return at once: `finish` makes
    the edition of its answer, and the caller may lay out the PDF meanwhile."""
    try:
        return submit_document("epub3", document_ast(document), Path(settings.styles) / "reference.docx")
    except (PandocFailed, OSError) as error:
        raise RenderError("epub", document.source.file, str(error)) from None


def finish(pending: Pending, document: Document, settings: Settings) -> bytes:
    """The EPUB edition as bytes, of pandoc's answer to `send`."""
    styles = Path(settings.styles)
    words = labels(document.lang)
    try:
        epub = pending.result()
        stylesheet = (styles / "epub.css").read_bytes()
        stamp = zip_timestamp(settings)
        edits = {
            STYLESHEET: lambda _pandoc_css: stylesheet,
            PACKAGE: lambda opf: license_link(accessible_package(undated(
                opf.replace(PANDOC_SANDBOX_STAMP, stamp), document)), document.license_url),
            NAV: lambda nav: _with_direction(add_cover_landmark(nav, label=words.cover), document),
            TITLE_PAGE: lambda page: title_page(page, document, settings),
        }
        for name, section in CHAPTERS.items():
            heading = getattr(words, f"{section}_heading")
            edits[name] = functools.partial(finish_chapter, title=f"{heading} · {document.title}", document=document)
        return repack_zip(epub, edits, settings, additions={
            COVER_IMAGE: cover_png(document, settings.archive_title), COVER_PAGE: cover_page(document),
        })
    except (PandocFailed, ValueError, OSError) as error:
        raise RenderError("epub", document.source.file, str(error)) from None


def cover_image(epub: bytes) -> bytes:
    """The cover image (PNG) an EPUB edition holds, byte for byte."""
    with zipfile.ZipFile(io.BytesIO(epub)) as book:
        return book.read(COVER_IMAGE)


# --- accessibility metadata, chapter titles, the cover page ------------------------

def _insert(data: bytes, anchor: bytes, insertion: bytes, *, after: bool = False) -> bytes:
    """`data` with `insertion` put before (or after) its only occurrence of `anchor`."""
    if data.count(anchor) != 1:
        raise ValueError(f"pandoc's output has {data.count(anchor)} of {anchor.decode()!r}, expected one")
    return data.replace(anchor, anchor + insertion if after else insertion + anchor)


def accessible_package(opf: bytes) -> bytes:
    """content.opf with the accessibility summary, the conformance claim and the cover.

    pandoc already declares the access modes, features and hazards; the cover
    image adds the visual access mode, which its text alternative makes textual.
    """
    metadata = "".join(f"    {line}\n" for line in (
        '<meta property="schema:accessMode">visual</meta>',
        f'<meta property="schema:accessibilitySummary">{markup_text(ACCESSIBILITY_SUMMARY)}</meta>',
        f'<meta property="dcterms:conformsTo">{CONFORMANCE}</meta>',
        '<meta property="a11y:certifiedBy">seedpress</meta>',
        # For EPUB 2 reading systems, which do not know properties="cover-image".
        '<meta name="cover" content="cover-image" />',
    )).encode()
    opf = _insert(opf, b"  </metadata>", metadata)
    opf = _insert(opf, b"  </manifest>", (
        b'    <item id="cover-image" href="media/cover.png" media-type="image/png" properties="cover-image" />\n'
        b'    <item id="cover_xhtml" href="text/cover.xhtml" media-type="application/xhtml+xml" />\n'
    ))
    opf = _insert(opf, b'<spine toc="ncx">\n', b'    <itemref idref="cover_xhtml" />\n', after=True)
    return _insert(opf, b"  </guide>", b'    <reference type="cover" title="Cover" href="text/cover.xhtml" />\n')


_EPUB_DATE = re.compile(rb'[ \t]*<dc:date id="epub-date">[^<]*</dc:date>\n?')


def undated(opf: bytes, document: Document) -> bytes:
    """content.opf without the dc:date pandoc always writes (the build time, here) when the
    document has no publication date: dc:date says when it was published, and EPUB 3 needs
    none (dcterms:modified carries the build)."""
    return opf if document.published is not None else _EPUB_DATE.sub(b"", opf, count=1)


def license_link(opf: bytes, url: str | None) -> bytes:
    """content.opf with a `dcterms:license` link to the license's URL among its metadata
    (pandoc writes dc:creator, dc:publisher and dc:rights itself); unchanged without one."""
    if url is None:
        return opf
    link = f'    <link rel="dcterms:license" href="{markup_text(url)}" />\n'
    return _insert(opf, b"  </metadata>", link.encode())


def add_cover_landmark(nav: bytes, *, label: str = "Cover") -> bytes:
    """nav.xhtml with the cover page first among the landmarks."""
    landmarks = re.search(rb'<nav epub:type="landmarks"[^>]*>\s*<ol>\n', nav)
    if landmarks is None:
        raise ValueError("pandoc's nav.xhtml has no landmarks list")
    entry = f'    <li>\n      <a href="text/cover.xhtml" epub:type="cover">{markup_text(label)}</a>\n    </li>\n'.encode()
    return nav[:landmarks.end()] + entry + nav[landmarks.end():]


#: An element pandoc marked with a language: XHTML wants xml:lang beside lang.
_LANG_ATTRIBUTE = re.compile(rb'(<[a-z0-9]+(?: [a-z:-]+="[^"]*")*?) lang="([^"]*)"')


#: The date line pandoc's title page gives a document with a publication date, as given.
_PANDOC_DATE_LINE = re.compile(rb'\n *<p class="date">[^<]*</p>')


def title_page(xhtml: bytes, document: Document, settings: Settings) -> bytes:
    """pandoc's title page with what the PDF's title block says besides the title and the
    author: the kicker above the title (an archived article: its summary and commentary),
    and under them the date in the document's language, the publication date ("10 February
    2005", where pandoc wrote "2005-02-10") or else "archived …" (where pandoc wrote none),
    never presented as the publication date."""
    words, foreign = labels(document.lang), foreign_label_language(document.lang)
    iso, shown = date_shown(document, settings.created)
    kind = "date" if document.published is not None else "archived"
    page = _PANDOC_DATE_LINE.sub(b"", xhtml, count=1)
    page = _insert(page, b'<h1 class="title"', f'<p class="kicker">{label(words.kicker, foreign)}</p>\n  '.encode())
    page = _insert(page, b"\n</section>", f'\n  <p class="{kind}"><time datetime="{markup_text(iso)}">'
                   f"{label(shown, foreign)}</time></p>".encode())
    return _with_direction(_with_xml_lang(page), document)


def finish_chapter(xhtml: bytes, *, title: str, document: Document) -> bytes:
    """A content document titled `title`, whose elements marked with `lang` carry the
    same `xml:lang` (as the root element does), laid out right to left for a
    right-to-left language."""
    return _with_direction(_with_xml_lang(retitle_chapter(xhtml, title=title)), document)


def _with_direction(xhtml: bytes, document: Document) -> bytes:
    """The document's root element with dir="rtl" for a right-to-left language, where
    pandoc's template left it out (the nav)."""
    if not is_right_to_left(document.lang) or re.search(rb"<html[^>]* dir=", xhtml):
        return xhtml
    return re.sub(rb"<html ", b'<html dir="rtl" ', xhtml, count=1)


def _with_xml_lang(xhtml: bytes) -> bytes:
    def add(match: re.Match) -> bytes:
        element = match[0]
        return element if b"xml:lang=" in element else element + b' xml:lang="' + match[2] + b'"'
    head, body = xhtml.split(b"<body", 1) if b"<body" in xhtml else (b"", xhtml)
    return head + (b"<body" if head else b"") + _LANG_ATTRIBUTE.sub(add, body)


def retitle_chapter(xhtml: bytes, *, title: str) -> bytes:
    """A content document titled `title` instead of pandoc's file name (WCAG 2.4.2)."""
    element = f"<title>{markup_text(title)}</title>".encode()
    # A function, not a template: a title may hold backslashes (\1, \0) that re would expand.
    retitled, count = re.subn(rb"<title>[^<]*</title>", lambda _match: element, xhtml, count=1)
    if count != 1:
        raise ValueError("pandoc's content document has no <title>")
    return retitled


def cover_page(document: Document) -> bytes:
    """The XHTML page that shows the cover image, with the title as its text alternative."""
    lang = markup_text(document.lang)
    words = labels(document.lang)
    direction = ' dir="rtl"' if is_right_to_left(document.lang) else ""
    alternative = markup_text(words.cover_alt.format(title=document.title))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" lang="{lang}" xml:lang="{lang}"{direction}>
<head>
  <meta charset="utf-8" />
  <title>{markup_text(f"{words.cover} · {document.title}")}</title>
  <link rel="stylesheet" type="text/css" href="../styles/stylesheet1.css" />
</head>
<body epub:type="frontmatter">
<section epub:type="cover" class="cover">
  <img src="../media/cover.png" alt="{alternative}" role="doc-cover" />
</section>
</body>
</html>
""".encode()
