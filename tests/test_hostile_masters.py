"""Hostile masters (issue 15; DESIGN §2, §7): a master is untrusted input, as a seed is.

The edition gates get broken XML to refuse: no edition that is not well-formed is written.
"""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from conftest import DATA
from convert.editions import Settings, docx, epub
from convert.errors import RenderError
from convert.gates import check_docx, check_epub
from convert.model import Document
from convert.seed import read_seed

pytestmark = pytest.mark.filterwarnings("error")


# --- gates: every XML document of an edition is well-formed, or it is not written -----------------

@pytest.fixture(scope="module")
def document() -> Document:
    return read_seed(DATA / "marker_url.txt")


def rezip(data: bytes, member: str, edit) -> bytes:
    """The zip with `member` edited; every other entry, and the order, as they were."""
    output = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(output, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            target.writestr(info, edit(content) if info.filename == member else content)
    return output.getvalue()


def control_in_title(xml: bytes) -> bytes:
    edited = re.sub(rb"<dc:title[^>]*>", lambda match: match[0] + b"\x01", xml, count=1)
    assert edited != xml
    return edited


@pytest.mark.parametrize("member, edit", [
    ("EPUB/content.opf", control_in_title),
    ("EPUB/content.opf", lambda xml: xml.replace(b"</metadata>", b"</metdata>")),
    ("EPUB/nav.xhtml", lambda xml: xml + b"<trailing/>"),
    ("EPUB/toc.ncx", lambda xml: xml.replace(b"<navMap>", b"<navMap>&undefined;")),
    ("EPUB/text/ch001.xhtml", lambda xml: xml.replace(b"</body>", b"")),
    ("META-INF/container.xml", lambda xml: xml[:-20]),
])
def test_the_epub_gate_refuses_a_member_that_is_not_well_formed(document, member, edit):
    data = epub.render_bytes(document, Settings())
    check_epub(data, document)
    with pytest.raises(RenderError) as raised:
        check_epub(rezip(data, member, edit), document)
    assert raised.value.edition == "epub"
    assert f"gate: {member} is not well-formed XML" in raised.value.reason
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("member, edit", [
    ("docProps/core.xml", control_in_title),
    ("word/document.xml", lambda xml: xml.replace(b"<w:body>", b"<w:body>\x01", 1)),
])
def test_the_docx_gate_refuses_a_part_that_is_not_well_formed(document, member, edit):
    """python-docx raised XMLSyntaxError here (an internal error); the gate names the part."""
    data = docx.render_bytes(document, Settings())
    check_docx(data, document)
    with pytest.raises(RenderError) as raised:
        check_docx(rezip(data, member, edit), document)
    assert raised.value.edition == "docx"
    assert f"gate: {member} is not well-formed XML" in raised.value.reason
