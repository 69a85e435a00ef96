"""The DOCX edition: pandoc's docx writer from the JSON AST with styles/reference.docx.

Summary paragraphs carry the paragraph style `Summary`, commentary paragraphs
`Commentary` (pandoc's custom-style), so a reader or a script tells them apart.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from convert.document.language import is_east_asian, is_right_to_left
from convert.document.model import Document
from convert.document.provenance import publication_date
from convert.editions import PANDOC_SANDBOX_STAMP, Settings, date_shown, repack_zip, zip_timestamp
from convert.editions.ast import document_ast
from convert.errors import RenderError
from convert.pandoc import PandocFailed, Pending, submit_document

CORE_PROPERTIES = "docProps/core.xml"
BODY = "word/document.xml"
STYLES = "word/styles.xml"
#: pandoc marks a run's language in w:val whatever the script; Word reads w:val for
#: Latin (and Cyrillic, Greek…) text only, w:eastAsia for Chinese, Japanese and Korean
#: and w:bidi for right-to-left scripts (ECMA-376 Part 1, 17.3.2.20).
_RUN_LANGUAGE = re.compile(rb'<w:lang w:val="([^"]+)" />')
_DEFAULT_LANGUAGE = re.compile(rb"<w:lang [^>]*/>")


def language_slots(document_xml: bytes) -> bytes:
    """word/document.xml with each run language in the attribute Word reads for its script."""
    def slot(match: re.Match) -> bytes:
        tag = match[1].decode("ascii")
        if is_east_asian(tag):
            return b'<w:lang w:eastAsia="' + match[1] + b'" />'
        if is_right_to_left(tag):
            return b'<w:lang w:bidi="' + match[1] + b'" />'
        return match[0]
    return _RUN_LANGUAGE.sub(slot, document_xml)


#: The date line under the title as pandoc writes it: the metadata's date, as it is given.
#: Its paragraph and run properties may hold more than the style: a right-to-left document's
#: run has <w:rPr><w:rtl /></w:rPr>, its paragraph <w:bidi />.
_DATE_LINE = (rb'(<w:pStyle w:val="Date" />(?:(?!</w:pPr>).)*</w:pPr>\s*<w:r>(?:<w:rPr>(?:(?!</w:rPr>).)*</w:rPr>)?'
              rb'<w:t xml:space="preserve">)%s(</w:t>)')


def date_in_words(document_xml: bytes, *, document: Document, settings: Settings) -> bytes:
    """word/document.xml with the publication date under the title in the document's words
    ("10 February 2005"), as the PDF and the EPUB give it, where pandoc writes the
    metadata's ISO date ("2005-02-10"), which the custom property `date` keeps. A document
    without one already says "archived …" there."""
    if document.published is None:
        return document_xml
    iso = publication_date(document.published).isoformat().encode("ascii")
    words = xml_escape(date_shown(document, settings.created)[1]).encode()
    dated, count = re.subn(_DATE_LINE % re.escape(iso), lambda match: match[1] + words + match[2],
                           document_xml, count=1, flags=re.DOTALL)
    if count != 1:
        raise ValueError("pandoc's document.xml has no date line under the title")
    return dated


def default_language(styles_xml: bytes, *, lang: str) -> bytes:
    """word/styles.xml with the document's language in the slot of the default run
    properties Word reads for its script (pandoc fills w:val, and knows w:bidi and
    w:eastAsia for only some languages)."""
    slot = b"w:eastAsia" if is_east_asian(lang) else b"w:bidi" if is_right_to_left(lang) else b"w:val"

    def fill(match: re.Match) -> bytes:
        element = match[0]
        value = b'"' + lang.encode("ascii") + b'"'
        if re.search(slot + rb'="[^"]*"', element):
            return re.sub(slot + rb'="[^"]*"', slot + b"=" + value, element)
        return element.replace(b"<w:lang ", b"<w:lang " + slot + b"=" + value + b" ", 1)

    return _DEFAULT_LANGUAGE.sub(fill, styles_xml, count=1)


def render_bytes(document: Document, settings: Settings) -> bytes:
    """The DOCX edition as bytes."""
    return finish(send(document, settings), document, settings)


def send(document: Document, settings: Settings) -> Pending:
    """Hand the document to this process's pandoc writer and return at once: `finish` makes
    the edition of its answer, and the caller may lay out the PDF meanwhile."""
    # Under the title: the publication date, else "archived <build date>", never the build date alone.
    ast = document_ast(document, custom_styles=True, date=date_shown(document, settings.created)[1])
    try:
        return submit_document("docx", ast, Path(settings.styles) / "reference.docx")
    except PandocFailed as error:
        raise RenderError("docx", document.source.file, str(error)) from None


def finish(pending: Pending, document: Document, settings: Settings) -> bytes:
    """The DOCX edition as bytes, of pandoc's answer to `send`."""
    try:
        docx = pending.result()
        stamp = zip_timestamp(settings)
        return repack_zip(docx, {
            CORE_PROPERTIES: lambda core: core.replace(PANDOC_SANDBOX_STAMP, stamp),
            BODY: lambda body: date_in_words(language_slots(body), document=document, settings=settings),
            STYLES: functools.partial(default_language, lang=document.lang),
        }, settings)
    except (PandocFailed, ValueError) as error:
        raise RenderError("docx", document.source.file, str(error)) from None
