"""Build styles/reference.docx: pandoc's default reference document plus seedpress's styles.

Run by `make styles`. The result is committed so a build needs no python-docx;
this script is how it was made and how to change it.

    python styles/build_reference_docx.py [OUT]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pypandoc
from docx import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.shared import Pt, RGBColor

HERE = Path(__file__).resolve().parent
SERIF = "DejaVu Serif"
SANS = "DejaVu Sans"
#: The East Asian and the complex-script (Arabic, Hebrew, Devanagari…) font that go
#: with each, as in the PDF's font stacks; Word falls back per script from there.
SCRIPT_FONTS = {
    SERIF: ("Noto Serif CJK SC", "Noto Naskh Arabic"),
    SANS: ("Noto Sans CJK SC", "Noto Sans Arabic"),
}
SUMMARY_BLUE = RGBColor(0x2F, 0x5D, 0x8A)
COMMENTARY_RUST = RGBColor(0x8A, 0x3B, 0x12)
GREY = RGBColor(0x5B, 0x64, 0x70)


def paragraph_style(document, name: str, *, base: str = "Body Text"):
    styles = document.styles
    style = styles[name] if name in [s.name for s in styles] else styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    style.base_style = styles[base]
    style.quick_style = True
    return style


def set_font(style, family: str, points: float | None = None, *, bold: bool = False) -> None:
    """Give the style `family` for Latin text and its companions for East Asian and
    complex-script text, in the same size and weight for all of them.

    Right-to-left runs are complex-script runs: Word sets them in the `cs` font at
    `szCs`, bold only with `bCs`. The theme fonts pandoc's styles name are dropped,
    since Word prefers a theme font to an explicit one.
    """
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    style.font.name = family
    properties = style.element.get_or_add_rPr()
    fonts = properties.get_or_add_rFonts()
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(theme), None)
    east_asian, complex_script = SCRIPT_FONTS[family]
    fonts.set(qn("w:eastAsia"), east_asian)
    fonts.set(qn("w:cs"), complex_script)
    if bold:
        style.font.bold = True
        properties.get_or_add_bCs()
    if points is not None:
        style.font.size = Pt(points)
        for old in properties.findall(qn("w:szCs")):
            properties.remove(old)
        size = OxmlElement("w:szCs")
        size.set(qn("w:val"), str(round(points * 2)))
        properties.sz.addnext(size)


def shade(style, fill: str, border: str) -> None:
    """Give a paragraph style a tinted background and a left rule, as the PDF's panel has."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    properties = style.element.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    left = OxmlElement("w:left")
    for key, value in {"w:val": "single", "w:sz": "24", "w:space": "8", "w:color": border}.items():
        left.set(qn(key), value)
    borders.append(left)
    properties.append(borders)
    shading = OxmlElement("w:shd")
    for key, value in {"w:val": "clear", "w:color": "auto", "w:fill": fill}.items():
        shading.set(qn(key), value)
    properties.append(shading)


def page_numbers(document) -> None:
    """A footer on every page that numbers it "n / N", centred, small and grey, as the PDF's
    is: pandoc keeps the reference document's footer, so a printed DOCX has page numbers."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    style = paragraph_style(document, "Footer", base="Normal")
    set_font(style, SANS, 9)
    style.font.color.rgb = GREY
    footer = document.sections[0].footer
    footer.is_linked_to_previous = False
    line = footer.paragraphs[0]
    line.style = style
    line.alignment = WD_ALIGN_PARAGRAPH.CENTER

    def field(instruction: str) -> None:
        # A simple field Word and LibreOffice compute when they lay the pages out; "1" is
        # what a reader that computes no fields shows.
        element = OxmlElement("w:fldSimple")
        element.set(qn("w:instr"), f" {instruction} ")
        run, text = OxmlElement("w:r"), OxmlElement("w:t")
        text.text = "1"
        run.append(text)
        element.append(run)
        line._p.append(element)

    field("PAGE")
    line.add_run(" / ")
    field("NUMPAGES")


def build(out: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        default = Path(folder) / "default.docx"
        subprocess.run(
            [pypandoc.get_pandoc_path(), "-o", str(default), "--print-default-data-file", "reference.docx"],
            check=True,
        )
        document = Document(str(default))
    styles = document.styles

    for name in ("Normal", "Body Text", "First Paragraph"):
        set_font(styles[name], SERIF, 11)
    for name, size in (("Title", 22), ("Heading 1", 13)):
        set_font(styles[name], SANS, size, bold=True)
    styles["Heading 1"].font.all_caps = True
    styles["Title"].font.color.rgb = RGBColor(0x1D, 0x21, 0x27)

    summary = paragraph_style(document, "Summary")
    set_font(summary, SERIF)
    shade(summary, "EEF3F8", "2F5D8A")

    commentary = paragraph_style(document, "Commentary")
    set_font(commentary, SERIF)

    article = paragraph_style(document, "Original Article")
    set_font(article, SANS, 9)
    article.font.color.rgb = GREY

    page_numbers(document)

    document.core_properties.title = "seedpress reference document"
    document.save(str(out))


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "reference.docx")
