"""The DOCX edition: pandoc's docx writer from the JSON AST with styles/reference.docx.

Summary paragraphs carry the paragraph style `Summary`, commentary paragraphs
`Commentary` (pandoc's custom-style), so a reader or a script tells them apart.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import RenderError
from ..model import Document
from ..pandoc import PandocFailed, document_ast, write_document
from . import PANDOC_SANDBOX_STAMP, Settings, repack_zip, zip_timestamp

CORE_PROPERTIES = "docProps/core.xml"


def render_bytes(document: Document, settings: Settings) -> bytes:
    """The DOCX edition as bytes."""
    ast = document_ast(document, custom_styles=True, date=settings.created)
    try:
        docx = write_document("docx", ast, Path(settings.styles) / "reference.docx")
        stamp = zip_timestamp(settings)
        return repack_zip(docx, {
            CORE_PROPERTIES: lambda core: core.replace(PANDOC_SANDBOX_STAMP, stamp),
        }, settings)
    except (PandocFailed, ValueError) as error:
        raise RenderError("docx", document.source.file, str(error)) from None
