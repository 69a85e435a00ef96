"""The PDF edition is PDF/A-3a: each clause below is checked with pikepdf on the real seed,
the multi-script fixture and the unbroken-runs fixture, all converted once by the real CLI,
and on the real seed converted with every metadata field of seedpress.toml set.

No veraPDF here; each test names the clause of ISO 19005-3 (PDF/A-3, which takes
its clause numbers from ISO 19005-2) it stands in for. The helpers that read
what the pages show are shared with tests/test_scripts.py.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import pikepdf
import pytest
from support.documents import COMMENTARY_HEADING, SUMMARY_HEADING
from support.run import DATA, REAL_SEED, json_lines, seedpress

from convert import __version__
from convert.document.seed import read_seed

SEEDS = {
    REAL_SEED.stem: REAL_SEED,
    "multiscript": DATA / "multiscript.txt",
    # Runs with no break opportunity, which the PDF edition hands WeasyPrint in chunks.
    "unbroken": DATA / "unbroken.txt",
    # The real seed again, with author, publisher, rights and license from seedpress.toml.
    "provenance": REAL_SEED,
}
PROVENANCE = "provenance"
AUTHOR, PUBLISHER, RIGHTS, LICENSE = (
    "Jane Doe & <Søren>", "Example Press", "© 2026 Example Press, CC BY 4.0",
    "https://creativecommons.org/licenses/by/4.0/")
CONFIG = f"""[metadata]
author = "{AUTHOR}"
publisher = "{PUBLISHER}"
rights = "{RIGHTS}"
license_url = "{LICENSE}"
"""
EPOCH = 1_700_000_000
CREATED = datetime.fromtimestamp(EPOCH, UTC)

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
    "xmpRights": "http://ns.adobe.com/xap/1.0/rights/",
}
#: The standard structure types of ISO 32000-1, 14.8.4. WeasyPrint writes no RoleMap,
#: so every type must be one of these.
STANDARD_TYPES = frozenset("""
    Document Part Art Sect Div BlockQuote Caption TOC TOCI Index NonStruct Private
    P H H1 H2 H3 H4 H5 H6 L LI Lbl LBody Table TR TH TD THead TBody TFoot
    Span Quote Note Reference BibEntry Code Link Annot Ruby RB RT RP Warichu WT WP
    Figure Formula Form
""".split())
#: Actions a PDF/A file may not hold (ISO 19005-2, 6.5.1).
FORBIDDEN_ACTIONS = frozenset(
    "/Launch /Sound /Movie /ResetForm /ImportData /Hide /SetOCGState /Rendition /Trans "
    "/GoTo3DView /JavaScript".split()
)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, dict[str, Path]]:
    """The real seed and the multi-script fixture converted to md and pdf by one CLI run."""

    out = tmp_path_factory.mktemp("pdfa")
    plain = {name: path for name, path in SEEDS.items() if name != PROVENANCE}
    result = seedpress("convert", *plain.values(), "--to", "md,pdf", "--out", out / "plain", "--json",
                       env={"SOURCE_DATE_EPOCH": str(EPOCH)})
    assert result.returncode == 0, result.stderr
    outcomes = {Path(o["input"]).stem: o for o in json_lines(result.stdout)}
    config = out / "seedpress.toml"
    config.write_text(CONFIG, "utf-8")
    result = seedpress("convert", SEEDS[PROVENANCE], "--to", "md,pdf", "--out", out / PROVENANCE, "--json",
                       "--config", config, env={"SOURCE_DATE_EPOCH": str(EPOCH)})
    assert result.returncode == 0, result.stderr
    [outcomes[PROVENANCE]] = json_lines(result.stdout)
    return {name: {edition: Path(file["path"]) for edition, file in outcomes[name]["files"].items()}
            for name in SEEDS}


@pytest.fixture(params=sorted(SEEDS), scope="module")
def fixture(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def pdf(built, fixture) -> Iterator[pikepdf.Pdf]:
    with pikepdf.open(built[fixture]["pdf"]) as document:
        yield document


@pytest.fixture(scope="module")
def xmp(pdf) -> ElementTree.Element:
    """The XMP packet, parsed as it is stored (pikepdf's metadata editor would rewrite it)."""
    return ElementTree.fromstring(xmp_body(pdf.Root.Metadata.read_bytes()))


def xmp_body(packet: bytes) -> bytes:
    """The x:xmpmeta element of an XMP packet, without the xpacket processing instructions."""
    match = re.search(rb"<x:xmpmeta.*</x:xmpmeta>", packet, re.S)
    assert match, packet[:200]
    return match.group(0)


def xmp_values(xmp: ElementTree.Element, name: str) -> list[str]:
    """Every value of the XMP property `prefix:name`, as attribute or element, flattening Alt/Bag/Seq."""
    prefix, local = name.split(":")
    qualified = f"{{{NS[prefix]}}}{local}"
    values = []
    for description in xmp.iter(f"{{{NS['rdf']}}}Description"):
        if qualified in description.attrib:
            values.append(description.attrib[qualified])
        for element in description.iter(qualified):
            items = list(element.iter(f"{{{NS['rdf']}}}li"))
            values.extend(item.text or "" for item in items) if items else values.append(element.text or "")
    return values


def pdf_date(moment: datetime) -> str:
    return moment.strftime("D:%Y%m%d%H%M%SZ")


# --- reading what the pages show -------------------------------------------------------

@dataclass(frozen=True)
class Shown:
    """One glyph a text-showing operator (Tj, TJ, ', ") draws."""

    page: int
    """The page's index."""
    font: pikepdf.Object
    """The font dictionary it is drawn with."""
    code: int
    """Its code in the string: the glyph id, for WeasyPrint's Identity-H CID fonts."""
    cid: int
    """The glyph (CID) the font's encoding gives for the code; 0 is .notdef."""
    mcids: tuple[int, ...]
    """The marked-content ids around it, outermost first."""
    artifact: bool
    """Whether it is inside an /Artifact sequence."""


def glyph_codes(font: pikepdf.Object, data: bytes) -> list[int]:
    """The codes a string shows: two bytes each for WeasyPrint's Type0 fonts, one for Type3."""
    if font.Subtype == "/Type0":
        assert len(data) % 2 == 0, data
        return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]
    assert font.Subtype == "/Type3", font.Subtype
    return list(data)


def code_to_cid(font: pikepdf.Object) -> dict[int, int] | None:
    """The font's code-to-CID map, or None where the code is the CID (Identity-H, Type3).

    WeasyPrint writes Identity-H unless some character had no glyph: then it writes
    its own CMap that sends the stand-in codes of those characters to CID 0, .notdef.
    """
    encoding = font.get("/Encoding")
    if font.Subtype != "/Type0" or encoding == "/Identity-H":
        return None
    assert isinstance(encoding, pikepdf.Stream), encoding
    cmap = encoding.read_bytes().decode("latin-1")
    mapping = {}
    for block in re.findall(r"begincidchar(.*?)endcidchar", cmap, re.S):
        for code, cid in re.findall(r"<([0-9A-Fa-f]+)>\s*(\d+)", block):
            mapping[int(code, 16)] = int(cid)
    for block in re.findall(r"begincidrange(.*?)endcidrange", cmap, re.S):
        for low, high, cid in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*(\d+)", block):
            for offset, code in enumerate(range(int(low, 16), int(high, 16) + 1)):
                mapping[code] = int(cid) + offset
    return mapping


def shown_glyphs(document: pikepdf.Pdf) -> Iterator[Shown]:
    """Every glyph every page's content streams (and the forms they draw) show."""
    for number, page in enumerate(document.pages):
        yield from _shown_in(page, page.Resources, number, [])


def _shown_in(owner, resources, page: int, marks: list) -> Iterator[Shown]:
    font, saved, encodings = None, [], {}
    for operands, operator in pikepdf.parse_content_stream(owner):
        operator = str(operator)
        if operator == "q":
            saved.append(font)
        elif operator == "Q":
            font = saved.pop()
        elif operator == "Tf":
            font = resources.Font[operands[0]]
        elif operator in ("BDC", "BMC"):
            properties = operands[1] if operator == "BDC" else None
            mcid = properties.get("/MCID") if isinstance(properties, pikepdf.Dictionary) else None
            marks.append((str(operands[0]), None if mcid is None else int(mcid)))
        elif operator == "EMC":
            marks.pop()
        elif operator in ("Tj", "'", '"', "TJ"):
            strings = operands[0] if operator == "TJ" else [operands[-1]]
            encoding = encodings.setdefault(font.objgen, code_to_cid(font))
            for item in strings:
                if isinstance(item, pikepdf.String):
                    for code in glyph_codes(font, bytes(item)):
                        cid = code if encoding is None else encoding.get(code, 0)
                        yield Shown(page, font, code, cid, tuple(m for _, m in marks if m is not None),
                                    any(tag == "/Artifact" for tag, _ in marks))
        elif operator == "Do":
            xobject = resources.XObject[operands[0]]
            if xobject.Subtype == "/Form":
                yield from _shown_in(xobject, xobject.get("/Resources", resources), page, marks)


def to_unicode(font: pikepdf.Object) -> dict[int, str]:
    """Code to text, from the font's ToUnicode CMap (bfchar and bfrange entries)."""
    cmap = font.ToUnicode.read_bytes().decode("latin-1")
    mapping: dict[int, str] = {}
    for block in re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.S):
        for code, text in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]*)>", block):
            mapping[int(code, 16)] = bytes.fromhex(text).decode("utf-16-be")
    for block in re.findall(r"beginbfrange(.*?)endbfrange", cmap, re.S):
        for low, high, start in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            for offset, code in enumerate(range(int(low, 16), int(high, 16) + 1)):
                mapping[code] = chr(int(start, 16) + offset)
    return mapping


def fonts_used(document: pikepdf.Pdf) -> dict[tuple[int, int], pikepdf.Object]:
    """Every font dictionary a page or form names in its resources, by object id."""
    fonts = {}
    for page in document.pages:
        resources = [page.Resources]
        while resources:
            current = resources.pop()
            for font in current.get("/Font", {}).values():
                fonts[font.objgen] = font
            for xobject in current.get("/XObject", {}).values():
                if xobject.get("/Subtype") == "/Form" and "/Resources" in xobject:
                    resources.append(xobject.Resources)
    return fonts


def structure_elements(document: pikepdf.Pdf) -> Iterator[pikepdf.Object]:
    """The structure elements reachable from the StructTreeRoot, depth first, in order."""
    pending = list(reversed(list(document.Root.StructTreeRoot.K)))
    while pending:
        element = pending.pop()
        if isinstance(element, pikepdf.Dictionary) and element.get("/Type") != "/OBJR":
            yield element
            kids = element.get("/K")
            kids = list(kids) if isinstance(kids, pikepdf.Array) else [] if kids is None else [kids]
            pending.extend(reversed(kids))


def element_mcids(element: pikepdf.Object) -> list[int]:
    """The marked-content ids under a structure element, in order."""
    kids = element.get("/K")
    kids = list(kids) if isinstance(kids, pikepdf.Array) else [] if kids is None else [kids]
    found = []
    for kid in kids:
        if isinstance(kid, int):
            found.append(int(kid))
        elif isinstance(kid, pikepdf.Dictionary) and kid.get("/Type") != "/OBJR":
            found.extend(element_mcids(kid))
    return found


def text_by_mcid(document: pikepdf.Pdf) -> dict[tuple[int, int], str]:
    """(page, MCID) to the text its glyphs map to, in content-stream order."""
    maps: dict = {}
    texts: dict[tuple[int, int], str] = {}
    for glyph in shown_glyphs(document):
        if glyph.mcids:
            mapping = maps.setdefault(glyph.font.objgen, to_unicode(glyph.font))
            key = (glyph.page, glyph.mcids[-1])
            texts[key] = texts.get(key, "") + mapping.get(glyph.code, "")
    return texts


def element_text(element: pikepdf.Object, texts: dict[tuple[int, int], str], pages: list) -> str:
    page = pages.index(element.Pg.objgen) if "/Pg" in element else 0
    return "".join(texts.get((page, mcid), "") for mcid in element_mcids(element))


def letters(text: str) -> Counter:
    """The characters of `text` other than spaces, counted: a right-to-left run comes out of
    a PDF in visual order, so the order is not compared."""
    return Counter(c for c in text if not c.isspace())


def shows(shown: str, paragraph: str) -> bool:
    """Whether the text a PDF element carries is `paragraph`.

    Left-to-right text without combining marks must match exactly (spaces aside).
    Elsewhere the PDF holds glyphs in visual order, and WeasyPrint 70 maps each glyph
    to the text of the first cluster it drew it in: a Devanagari vowel sign drawn as
    part of another cluster ('ा' inside 'ो') extracts as that cluster's sign. There the
    letters other than combining marks must all occur.
    """
    def is_mark(character: str) -> bool:
        return unicodedata.category(character) in ("Mn", "Mc", "Me")

    plain = not any(unicodedata.bidirectional(c) in ("R", "AL") or is_mark(c) for c in paragraph)
    if plain:
        return "".join(shown.split()) == "".join(paragraph.split())
    return {c for c in letters(paragraph) if not is_mark(c)} <= set(letters(shown))


# --- 6.1 file structure -------------------------------------------------------------------

@pytest.mark.slow
def test_header_version_and_binary_comment(built, fixture, pdf):
    """6.1.2: '%PDF-1.7' at offset 0, then a comment of at least four bytes above 127."""
    head = built[fixture]["pdf"].read_bytes()[:20]
    assert head.startswith(b"%PDF-1.7\n%"), head
    assert all(byte > 127 for byte in head[10:14]), head
    assert pdf.pdf_version == "1.7"


@pytest.mark.slow
def test_trailer_has_an_id_and_nothing_is_encrypted(pdf, fixture):
    """6.1.3: the trailer has /ID (two strings, the first from the document identifier);
    no /Encrypt, no permissions."""
    identifier = pdf.trailer.ID
    assert len(identifier) == 2 and all(len(bytes(part)) >= 16 for part in identifier)
    expected = hashlib.sha256(read_seed(SEEDS[fixture]).identifier.encode()).hexdigest()[:32]
    assert bytes(identifier[0]) == expected.encode()
    assert not pdf.is_encrypted and "/Encrypt" not in pdf.trailer
    assert "/Perms" not in pdf.Root


# --- 6.2 graphics and fonts ----------------------------------------------------------------

@pytest.mark.slow
def test_output_intent_is_srgb(pdf):
    """6.2.3: one PDF/A output intent whose DestOutputProfile is an embedded RGB display ICC profile (sRGB)."""
    intents = pdf.Root.OutputIntents
    assert len(intents) == 1
    intent = intents[0]
    assert intent.S == "/GTS_PDFA1"
    assert "sRGB" in str(intent.OutputConditionIdentifier)
    profile = intent.DestOutputProfile
    assert profile.N == 3
    icc = profile.read_bytes()
    assert icc[36:40] == b"acsp" and icc[16:20] == b"RGB " and icc[12:16] == b"mntr"
    assert b"sRGB" in icc


@pytest.mark.slow
def test_every_font_is_embedded_with_a_unicode_map(pdf):
    """6.2.11.4.1 (font programs embedded), 6.2.11.3.2 (CIDToGIDMap for CIDFontType2),
    6.2.11.7.2 (ToUnicode on every font)."""
    fonts = fonts_used(pdf)
    assert fonts
    for font in fonts.values():
        assert "/ToUnicode" in font, f"{font.get('/BaseFont')} has no ToUnicode"
        if font.Subtype == "/Type3":
            assert len(font.CharProcs) > 0
            continue
        assert font.Subtype == "/Type0", font.Subtype
        descendant = font.DescendantFonts[0]
        descriptor = descendant.FontDescriptor
        programs = [key for key in ("/FontFile", "/FontFile2", "/FontFile3") if key in descriptor]
        assert len(programs) == 1, f"{font.BaseFont} is not embedded"
        assert len(descriptor[programs[0]].read_bytes()) > 0
        assert re.fullmatch(r"/[A-Z]{6}\+.+", str(font.BaseFont)), f"{font.BaseFont}: subset without tag"
        if descendant.Subtype == "/CIDFontType2":
            assert descendant.CIDToGIDMap == "/Identity"


@pytest.mark.slow
def test_every_glyph_shown_maps_to_unicode_outside_the_private_use_area(pdf):
    """6.2.11.7.2 (level U: every glyph maps to Unicode, never to U+0000, U+FEFF or U+FFFE)
    and 6.2.11.7.3 (level A: no Private Use Area characters without ActualText)."""
    maps: dict = {}
    shown = 0
    for glyph in shown_glyphs(pdf):
        mapping = maps.setdefault(glyph.font.objgen, to_unicode(glyph.font))
        assert glyph.code in mapping, f"glyph {glyph.code} of {glyph.font.get('/BaseFont')} maps to no text"
        for character in mapping[glyph.code]:
            assert character not in "\u0000\ufeff\ufffe", (glyph, mapping[glyph.code])
            assert not 0xE000 <= ord(character) <= 0xF8FF, f"PUA character U+{ord(character):04X}"
        shown += 1
    assert shown > 500


@pytest.mark.slow
def test_no_glyph_is_notdef(pdf):
    """6.2.11.8: no text-showing operator shows the .notdef glyph (CID 0), and every font
    is Identity-H: WeasyPrint only writes another encoding to reach .notdef."""
    notdef = [(glyph.page, str(glyph.font.get("/BaseFont"))) for glyph in shown_glyphs(pdf) if glyph.cid == 0]
    assert not notdef, notdef
    for font in fonts_used(pdf).values():
        assert font.Subtype == "/Type3" or font.Encoding == "/Identity-H", font.get("/BaseFont")


# --- 6.3 annotations, 6.5 actions ------------------------------------------------------------

@pytest.mark.slow
def test_no_javascript_and_no_forbidden_actions(pdf):
    """6.5.1 (no JavaScript, Launch, … actions), 6.5.2 (no additional actions, /AA), 6.3.2
    (every annotation printable: /F with the Print flag)."""
    names = pdf.Root.get("/Names", pikepdf.Dictionary())
    assert "/JavaScript" not in names
    assert "/OpenAction" not in pdf.Root and "/AA" not in pdf.Root
    for page in pdf.pages:
        assert "/AA" not in page.obj
    for pdf_object in pdf.objects:
        if not isinstance(pdf_object, (pikepdf.Dictionary, pikepdf.Stream)):
            continue
        assert "/JS" not in pdf_object and "/AA" not in pdf_object
        if pdf_object.get("/Type") == "/Action" or "/S" in pdf_object and "/URI" in pdf_object:
            assert pdf_object.S not in FORBIDDEN_ACTIONS, pdf_object.S
        if pdf_object.get("/Type") == "/Annot":
            assert int(pdf_object.F) & 4, "annotation not printable"
            action = pdf_object.get("/A")
            if action is not None:
                assert action.S in ("/URI", "/GoTo"), action.S


# --- 6.6 metadata -------------------------------------------------------------------------------

@pytest.mark.slow
def test_xmp_identifies_pdfa_3a(pdf, xmp):
    """6.6.2.1 (a well-formed XMP packet in a /Metadata /XML stream, no 'bytes' or 'encoding'
    attribute in its header) and 6.6.4 (pdfaid:part 3, pdfaid:conformance A)."""
    stream = pdf.Root.Metadata
    assert stream.Type == "/Metadata" and stream.Subtype == "/XML"
    packet = stream.read_bytes()
    header = re.match(rb'<\?xpacket begin="(?:\xef\xbb\xbf)?" id="W5M0MpCehiHzreSzNTczkc9d"\?>', packet)
    assert header, packet[:80]
    assert packet.rstrip().endswith((b'<?xpacket end="r"?>', b'<?xpacket end="w"?>'))
    assert xmp_values(xmp, "pdfaid:part") == ["3"]
    assert xmp_values(xmp, "pdfaid:conformance") == ["A"]


@pytest.mark.slow
def test_xmp_agrees_with_the_document_info(pdf, xmp, fixture):
    """6.6.3 (ISO 19005-2 6.6.2.3.1 in PDF/A-3's numbering): every Info entry with an XMP
    analogue has an equivalent XMP value."""
    info = pdf.docinfo
    pairs = {
        "/Title": "dc:title", "/Subject": "dc:description", "/Keywords": "pdf:Keywords",
        "/Creator": "xmp:CreatorTool", "/Producer": "pdf:Producer",
    }
    for key, prop in pairs.items():
        assert xmp_values(xmp, prop) == [str(info[key])], key
    for key, prop in {"/CreationDate": "xmp:CreateDate", "/ModDate": "xmp:ModifyDate"}.items():
        (value,) = xmp_values(xmp, prop)
        moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert pdf_date(moment) == str(info[key]), key
    # /Author is there only when an author is set; dc:creator, then, is that author alone.
    authors = [str(info["/Author"])] if "/Author" in info else []
    assert xmp_values(xmp, "dc:creator") == authors
    assert authors == ([AUTHOR] if fixture == PROVENANCE else [])


@pytest.mark.slow
def test_xmp_says_who_made_it_and_on_what_terms(xmp, fixture):
    """Author (an ordered rdf:Seq), publisher (an rdf:Bag), rights (a language Alternative with
    x-default) and the license's URL (xmpRights:WebStatement, a predefined schema PDF/A takes
    without an extension schema), exactly when seedpress.toml set them."""
    rdf = f"{{{NS['rdf']}}}"
    expected = {
        "dc:creator": ("Seq", AUTHOR), "dc:publisher": ("Bag", PUBLISHER), "dc:rights": ("Alt", RIGHTS),
        "xmpRights:WebStatement": (None, LICENSE),
    }
    for name, (container, value) in expected.items():
        prefix, local = name.split(":")
        elements = list(xmp.iter(f"{{{NS[prefix]}}}{local}"))
        if fixture != PROVENANCE:
            assert elements == [], name
            continue
        [element] = elements
        if container is None:
            assert element.text == value and len(element) == 0, name
            continue
        [holder] = element
        assert holder.tag == f"{rdf}{container}", name
        assert [item.text for item in holder] == [value], name
        if container == "Alt":
            assert holder[0].get("{http://www.w3.org/XML/1998/namespace}lang") == "x-default"


@pytest.mark.slow
def test_metadata_says_what_the_document_is(pdf, xmp, fixture):
    """Title, language, identifier, dates and generator come from the seed and the build date,
    the same in the document info, the XMP and the catalog."""
    document = read_seed(SEEDS[fixture])
    assert str(pdf.docinfo["/Title"]) == document.title
    assert str(pdf.Root.Lang) == document.lang == xmp_values(xmp, "dc:language")[0]
    assert xmp_values(xmp, "dc:identifier") == [document.identifier]
    assert xmp_values(xmp, "dc:format") == ["application/pdf"]
    assert str(pdf.docinfo["/Creator"]) == f"seedpress {__version__}"
    stamp = CREATED.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert str(pdf.docinfo["/CreationDate"]) == str(pdf.docinfo["/ModDate"]) == pdf_date(CREATED)
    assert xmp_values(xmp, "xmp:MetadataDate") == [stamp]
    assert str(pdf.docinfo["/Subject"]) == document.subject


# --- 6.7 logical structure ------------------------------------------------------------------------

@pytest.mark.slow
def test_tagged_with_standard_structure_types(pdf):
    """6.7.2.2 (MarkInfo /Marked true), 6.7.3.3 (a StructTreeRoot), 6.7.3.4 / 6.7.3 (only
    standard structure types, no RoleMap needed), 6.7.4 (a natural language, /Lang)."""
    assert bool(pdf.Root.MarkInfo.Marked) is True
    assert pdf.Root.StructTreeRoot.Type == "/StructTreeRoot"
    types = {str(element.S)[1:] for element in structure_elements(pdf)}
    assert types <= STANDARD_TYPES, types - STANDARD_TYPES
    assert "/RoleMap" not in pdf.Root.StructTreeRoot
    assert re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]+)*", str(pdf.Root.Lang))
    assert bool(pdf.Root.ViewerPreferences.DisplayDocTitle) is True


@pytest.mark.slow
def test_headings_are_h1_then_h2_with_their_text(pdf, fixture):
    """The title is the one H1; the two section labels are H2s after it, in reading order."""
    document = read_seed(SEEDS[fixture])
    pages = [page.obj.objgen for page in pdf.pages]
    texts = text_by_mcid(pdf)
    headings = [(str(element.S), element_text(element, texts, pages))
                for element in structure_elements(pdf) if str(element.S) in ("/H1", "/H2", "/H3")]
    assert [kind for kind, _ in headings] == ["/H1", "/H2", "/H2"]
    assert letters(headings[0][1]) == letters(document.title)
    # The labels are set in capitals by the stylesheet; what the PDF carries is what it shows.
    assert [text.casefold().split() for _, text in headings[1:]] == [
        SUMMARY_HEADING.casefold().split(), COMMENTARY_HEADING.casefold().split()]


@pytest.mark.slow
def test_paragraphs_are_tagged_p_in_reading_order(pdf, fixture):
    """Every paragraph of the seed is a P element, in order (reading order, 6.7.3.3)."""
    document = read_seed(SEEDS[fixture])
    pages = [page.obj.objgen for page in pdf.pages]
    texts = text_by_mcid(pdf)
    paragraphs = [element_text(element, texts, pages) for element in structure_elements(pdf)
                  if element.S == "/P"]
    expected = list(document.summary) + list(document.commentary)
    position = 0
    for paragraph in expected:
        # A paragraph that runs over a page break is one P on each page.
        for start in range(position, len(paragraphs)):
            pieces = next((n for n in (1, 2) if shows("".join(paragraphs[start:start + n]), paragraph)), None)
            if pieces:
                position = start + pieces
                break
        else:
            pytest.fail(f"paragraph not found as P, in order: {paragraph[:60]!r}")


@pytest.mark.slow
def test_every_marked_content_is_tagged_or_an_artifact(pdf):
    """Every glyph is real content that the structure tree reaches through the ParentTree,
    or an artifact: the running header and page numbers are artifacts, not stray text."""
    root = pdf.Root.StructTreeRoot
    reachable = {element.objgen for element in structure_elements(pdf)}
    numbers = list(root.ParentTree.Nums)
    parents = {int(numbers[i]): numbers[i + 1] for i in range(0, len(numbers), 2)}
    artifacts = []
    for glyph in shown_glyphs(pdf):
        if glyph.artifact:
            artifacts.append(glyph)
            continue
        assert glyph.mcids, f"untagged glyph on page {glyph.page + 1}"
        element = parents[glyph.page][glyph.mcids[-1]]
        assert element.objgen in reachable, f"page {glyph.page + 1} MCID {glyph.mcids[-1]} is in no reading order"
    assert {glyph.page for glyph in artifacts} == set(range(len(pdf.pages))), "no page number as artifact"
    assert int(root.ParentTreeNextKey) == len(parents)


@pytest.mark.slow
def test_figures_have_alternative_text(pdf):
    """6.7 (level A): any Figure carries /Alt. The editions hold no images but emoji glyphs."""
    for element in structure_elements(pdf):
        if element.S == "/Figure":
            assert str(element.get("/Alt", "")).strip()


# --- 6.8 embedded files (PDF/A-3) ---------------------------------------------------------------

@pytest.mark.slow
def test_sources_are_associated_files(pdf, built, fixture):
    """6.8: each embedded file is a /Filespec with /F, /UF, /Desc, /AFRelationship /Source,
    an /EF stream with a MIME /Subtype and /Params /ModDate, and the catalog's /AF lists
    each exactly once."""
    key = built[fixture]["pdf"].stem
    names = list(pdf.Root.Names.EmbeddedFiles.Names)
    specs = dict(zip((str(name) for name in names[0::2]), names[1::2]))
    assert list(specs) == [f"{key}.md", f"{key}.txt"]
    mime = {f"{key}.md": "/text/markdown", f"{key}.txt": "/text/plain"}
    for name, spec in specs.items():
        assert spec.Type == "/Filespec"
        assert str(spec.F) == str(spec.UF) == name
        assert str(spec.Desc).strip()
        assert spec.AFRelationship == "/Source"
        stream = spec.EF.F
        assert stream.Type == "/EmbeddedFile" and stream.Subtype == mime[name]
        assert str(stream.Params.ModDate) == pdf_date(CREATED)
    associated = [spec.objgen for spec in pdf.Root.AF]
    assert sorted(associated) == sorted(spec.objgen for spec in specs.values())


@pytest.mark.slow
def test_embedded_master_and_seed_are_the_originals_byte_for_byte(pdf, built, fixture):
    """What a reader extracts from the PDF is the master written beside it and the seed file."""
    key = built[fixture]["pdf"].stem
    master = pdf.attachments[f"{key}.md"].get_file()
    seed = pdf.attachments[f"{key}.txt"].get_file()
    assert master.read_bytes() == built[fixture]["md"].read_bytes()
    assert seed.read_bytes() == SEEDS[fixture].read_bytes()
    for embedded, original in ((master, built[fixture]["md"]), (seed, SEEDS[fixture])):
        data = original.read_bytes()
        assert embedded.size == len(data)
        assert bytes(embedded.obj.Params.CheckSum) == hashlib.md5(data).digest()
