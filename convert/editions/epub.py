"""The EPUB 3 edition: pandoc's epub3 writer from the JSON AST, styles/epub.css.

Summary and commentary are level-1 sections, so pandoc puts each in its own
XHTML content document and lists both in the nav. pandoc's writer process
reads nothing but the reference document, and its clock reads the epoch:
the archive is repacked with styles/epub.css and the build date.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import RenderError
from ..files import write_atomic
from ..model import Document
from ..pandoc import PandocFailed, document_ast, write_document
from . import PANDOC_SANDBOX_STAMP, Settings, repack_zip, zip_timestamp

STYLESHEET = "EPUB/styles/stylesheet1.css"
PACKAGE = "EPUB/content.opf"


def render_bytes(document: Document, settings: Settings) -> bytes:
    """The EPUB edition as bytes."""
    styles = Path(settings.styles)
    try:
        epub = write_document("epub3", document_ast(document, date=settings.created), styles / "reference.docx")
        stylesheet = (styles / "epub.css").read_bytes()
        stamp = zip_timestamp(settings)
        return repack_zip(epub, {
            STYLESHEET: lambda _pandoc_css: stylesheet,
            PACKAGE: lambda opf: opf.replace(PANDOC_SANDBOX_STAMP, stamp),
        }, settings)
    except (PandocFailed, ValueError, OSError) as error:
        raise RenderError("epub", document.source.file, str(error)) from None


def render(document: Document, out_path: Path, settings: Settings) -> None:
    """Write the EPUB edition of `document` to `out_path`, atomically."""
    write_atomic(out_path, render_bytes(document, settings))
