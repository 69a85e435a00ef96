"""Every script is rendered: the multi-script fixture (Arabic, Hebrew, Chinese, Japanese,
Korean, Greek, Cyrillic, Devanagari, emoji) shows no missing glyph in the PDF, each
script in a font that has it, and right-to-left paragraphs run right to left in the
PDF and DOCX editions (the EPUB's are checked in test_epub_a11y.py).

The fonts come from Debian: fonts-dejavu-core, fonts-noto-core, fonts-noto-cjk,
fonts-noto-color-emoji.
"""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import docx
import pikepdf
import pytest
from fontTools.ttLib import TTFont
from PIL import Image
from test_pdfa import fonts_used, shown_glyphs, to_unicode

from convert.document.model import text_direction
from convert.document.seed import parse_seed, read_seed
from convert.editions import Settings
from convert.editions import pdf as pdf_edition

DATA = Path(__file__).resolve().parent / "data"
SEED = DATA / "multiscript.txt"
#: A letter of each script in the fixture; the family the body text (serif) draws it
#: with, and the one the title and headings (sans) may draw it with.
SCRIPT_FONTS = {
    "Latin": ("k", "DejaVu-Serif", "DejaVu-Sans"),
    "Greek": ("λ", "DejaVu-Serif", "DejaVu-Sans"),
    "Cyrillic": ("ж", "DejaVu-Serif", "DejaVu-Sans"),
    "Arabic": ("ع", "Noto-Naskh-Arabic", "DejaVu-Sans"),
    "Hebrew": ("ש", "Noto-Serif-Hebrew", "DejaVu-Sans"),
    "Devanagari": ("ऋ", "Noto-Serif-Devanagari", "Noto-Sans-Devanagari"),
    "Han": ("玻", "Noto-Serif-CJK", "Noto-Sans-CJK"),
    "Kana": ("ほ", "Noto-Serif-CJK", "Noto-Sans-CJK"),
    "Hangul": ("쥐", "Noto-Serif-CJK", "Noto-Sans-CJK"),
    "Emoji": ("🌍", "Noto-Color-Emoji", "Noto-Color-Emoji"),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    from support.run import json_lines, seedpress

    out = tmp_path_factory.mktemp("scripts")
    result = seedpress("convert", SEED, "--to", "pdf,docx", "--out", out, "--json",
                       env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert result.returncode == 0, result.stderr
    [outcome] = json_lines(result.stdout)
    return {edition: Path(file["path"]) for edition, file in outcome["files"].items()}


@pytest.fixture(scope="module")
def pdf(built):
    with pikepdf.open(built["pdf"]) as document:
        yield document


def glyph_count(font: pikepdf.Object) -> int:
    """How many glyphs the embedded font program holds (WeasyPrint subsets keeping glyph ids)."""
    descriptor = font.DescendantFonts[0].FontDescriptor
    program = descriptor.get("/FontFile2") or descriptor.get("/FontFile3")
    return TTFont(io.BytesIO(program.read_bytes()))["maxp"].numGlyphs


@pytest.mark.slow
def test_no_text_operator_shows_a_missing_glyph(pdf):
    """No Tj/TJ/'/" shows glyph 0 (.notdef), by its code (Identity-H: code = glyph id) or
    through the font's encoding, nor a glyph id past the end of its font."""
    counts: dict = {}
    shown = 0
    for glyph in shown_glyphs(pdf):
        name = str(glyph.font.BaseFont)
        assert glyph.font.Subtype == "/Type0", name
        assert glyph.code != 0 and glyph.cid != 0, f".notdef on page {glyph.page + 1} in {name}"
        limit = counts.setdefault(glyph.font.objgen, glyph_count(glyph.font))
        assert glyph.cid < limit, f"glyph {glyph.cid} of {name} is past its {limit} glyphs"
        shown += 1
    assert shown > 700


@pytest.mark.parametrize("script", sorted(SCRIPT_FONTS))
@pytest.mark.slow
def test_each_script_is_drawn_with_a_font_for_it(pdf, script):
    letter, body, heading = SCRIPT_FONTS[script]
    drawing = {str(font.BaseFont).split("+", 1)[1] for font in fonts_used(pdf).values()
               if any(letter in text for text in to_unicode(font).values())}
    assert any(name.startswith(body) for name in drawing), (script, drawing)
    assert all(name.startswith((body, heading)) for name in drawing), (script, drawing)


@pytest.mark.slow
def test_digits_stay_in_the_text_font(pdf):
    """Naming an emoji font in the font stack made Pango draw digits (emoji keycap bases) with it."""
    for font in fonts_used(pdf).values():
        if "Emoji" in str(font.BaseFont):
            assert not set(to_unicode(font).values()) & set("0123456789#*"), to_unicode(font)


@pytest.mark.slow
def test_rendered_page_has_ink(built, tmp_path):
    """pdftoppm renders the page (the PNG in docs/multi-script.png is one such page)."""
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                    str(built["pdf"]), str(tmp_path / "page")], check=True, timeout=60)
    image = Image.open(tmp_path / "page.png").convert("L")
    # A4 at 80 dpi.
    assert abs(image.width - 661) <= 1 and abs(image.height - 935) <= 1, image.size
    dark = sum(image.histogram()[:128])
    assert dark > 0.01 * image.width * image.height


@pytest.mark.parametrize("text, direction", [
    ("English first", "ltr"),
    ("العربية أولاً", "rtl"),
    ("עברית", "rtl"),
    ("2024 — «مرحبا»", "rtl"),          # digits and punctuation are neutral
    ("\u2067العربية\u2069 inside English", "ltr"),   # an isolate does not count
    ("\u200fmarked right to left", "rtl"),           # RLM is a strong character
    ("中文 한국어 हिन्दी Ελληνικά", "ltr"),
    ("123 — …", None),
])
def test_direction_comes_from_the_first_strong_character(text, direction):
    assert text_direction(text) == direction


def test_pdf_html_marks_right_to_left_paragraphs():
    document = read_seed(SEED)
    html = pdf_edition.to_html(document, Settings())
    marked = zip(document.summary + document.commentary,
                 document.paragraph_langs("summary") + document.paragraph_langs("commentary"))
    for paragraph, lang in marked:
        attribute = f' lang="{lang}"' if lang else ""
        attribute += ' dir="rtl"' if text_direction(paragraph) == "rtl" else ""
        assert f"<p{attribute}>{paragraph}</p>".replace("&", "&amp;") in html, paragraph
    assert html.count('dir="rtl"') == 3


@pytest.mark.slow
def test_docx_right_to_left_paragraphs(built):
    document = read_seed(SEED)
    by_text = {p.text: p for p in docx.Document(str(built["docx"])).paragraphs}
    for paragraph in document.summary + document.commentary:
        properties = by_text[paragraph]._p.pPr
        bidi = properties is not None and properties.find(docx.oxml.ns.qn("w:bidi")) is not None
        assert bidi == (text_direction(paragraph) == "rtl"), paragraph
        assert by_text[paragraph].style.name in ("Summary", "Commentary")


def test_a_character_no_font_has_withdraws_the_pdfa_claim():
    """A character no font has is drawn as .notdef (the text layer still has it), which the
    glyph check above sees. PDF/A forbids .notdef: that file does not claim to be PDF/A."""
    settings = Settings(created=datetime(2024, 1, 1, tzinfo=UTC))
    for text, claimed in (("Nothing unusual.", True), ("A private-use character: \U0010fffd.", False)):
        document = parse_seed(f"Title\n\n{text}\n".encode(), "pua.txt")
        with pikepdf.open(io.BytesIO(pdf_edition.render_bytes(document, settings))) as pdf:
            notdef = [glyph for glyph in shown_glyphs(pdf) if glyph.cid == 0]
            assert bool(notdef) is not claimed
            assert (b"pdfaid:part" in pdf.Root.Metadata.read_bytes()) is claimed
