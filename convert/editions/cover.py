"""The EPUB's cover: the title drawn on a PNG with Pillow, in the fonts the PDF uses.

The same title, fonts, Pillow, FreeType and zlib give the same bytes (the PNG
carries no date), so covers are reproducible like the rest.
"""

from __future__ import annotations

import functools
import io
import re
import struct
import unicodedata
import zlib
from contextvars import ContextVar

from convert.defaults import COVER_SIZE, THUMBNAIL_SIZE
from convert.document.labels import Labels, label_language, labels
from convert.document.model import Document, text_direction
from convert.editions import fonts
from convert.editions.fonts import Font

#: A palette this large keeps a thumbnail's text and emoji clean at a quarter of the bytes
#: of full colour (4 kB rather than 16 kB), which an index of many titles loads at once.
THUMBNAIL_COLOURS = 128
COVER_MARGIN = 90
#: The cover's colours, which the archive's icon (favicon_svg) is drawn in too.
BACKGROUND, INK, BLUE, RUST, GREY = "#f6f8fb", "#1d2127", "#2f5d8a", "#8a3b12", "#5b6470"
#: Families tried in turn for each character of the title; fontconfig is asked
#: for any character none of them has. DejaVu Sans first, as in the PDF.
COVER_FAMILIES = (
    "DejaVu Sans:bold", "Noto Sans Arabic:bold", "Noto Sans Hebrew:bold",
    "Noto Sans Devanagari:bold", "{cjk}:bold", "Noto Color Emoji",
)
#: The Noto CJK family whose glyph shapes a document's language expects (as in print.css).
CJK_FAMILIES = {"ja": "Noto Sans CJK JP", "ko": "Noto Sans CJK KR", "zh-Hant": "Noto Sans CJK TC"}
DEFAULT_CJK_FAMILY = "Noto Sans CJK SC"
#: The CJK family of the cover being drawn.
_cjk_family: ContextVar[str] = ContextVar("cjk_family", default=DEFAULT_CJK_FAMILY)
#: Title sizes (px) tried in turn until the title fits on the cover.
TITLE_SIZES = (70, 60, 50, 42, 35)
#: More of a title than fits on the cover at the smallest size: a longer one is cut
#: here first, so a seed whose first paragraph is megabytes long costs no more.
COVER_TITLE_CHARACTERS = 600
#: The font formats (fontconfig's names) a cover draws with: TrueType and OpenType.
DRAWN_FORMATS = ("TrueType", "CFF")
#: The one size colour bitmap emoji fonts (Noto Color Emoji) can be drawn at.
BITMAP_EMOJI_SIZE = 109


def cover_png(document: Document, archive_title: str | None = None) -> bytes:
    """The cover: the title drawn with DejaVu Sans (and fallback fonts for other scripts), as PNG,
    with the archive's title at its foot (None: the default title in the document's language).

    The same title, fonts, Pillow and FreeType give the same bytes: PNG as
    Pillow writes it carries no date.
    """
    from PIL import Image, ImageDraw

    image = Image.new("RGB", COVER_SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, COVER_SIZE[0], 24), fill=BLUE)
    words = labels(document.lang)
    token = _cjk_family.set(CJK_FAMILIES.get(label_language(document.lang), DEFAULT_CJK_FAMILY))
    try:
        _draw_cover(image, draw, document, words, archive_title or words.cover_footer)
    finally:
        _cjk_family.reset(token)
    global _last_drawn
    _last_drawn = (png_bytes(image), image)
    return _last_drawn[0]


def png_bytes(image) -> bytes:
    """An RGB image as PNG: every row unfiltered, the rows deflated at zlib's fastest level.

    Pillow's writer gives each row the best of PNG's five filters, trying all five: on a
    cover (flat colour and text, which deflate packs well unfiltered) that choice is two
    thirds of its time and buys nothing: 8 ms and 71 kB here, against 18 ms and 76 kB.
    Level 6 would take twice the time for a file a third smaller."""
    if image.mode != "RGB":
        raise ValueError(f"png_bytes writes RGB images only, not {image.mode}")
    width, height = image.size
    stride = 3 * width
    # Pillow's raw encoder given a line length one byte over the pixels' ends each row
    # with a zero: after a zero in front, that is the rows each after its filter type
    # (0, none), less the last byte. No copy row by row in Python: 2 ms of 14.
    padded = image.tobytes("raw", "RGB", stride + 1)
    if len(padded) != height * (stride + 1):
        raise ValueError("Pillow's raw encoder did not pad the rows")
    deflate = zlib.compressobj(1)
    rows = deflate.compress(b"\0") + deflate.compress(memoryview(padded)[:-1]) + deflate.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, deflate, no interlace
    return PNG_SIGNATURE + b"".join(_png_chunk(kind, data) for kind, data in (
        (b"IHDR", header), (b"IDAT", rows), (b"IEND", b"")))


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


#: The cover this process drew last: its PNG bytes and its pixels. Its thumbnail, asked for
#: right after (build/input.py's cover_files), is scaled from these pixels rather than from
#: the PNG decoded again (half the thumbnail's cost); PNG is lossless, so the bytes are the same.
_last_drawn: tuple[bytes, object] | None = None


def favicon_svg() -> bytes:
    """The archive's icon (dist/favicon.svg): a cover in miniature, in the cover's own colours
    (BACKGROUND, INK, BLUE, RUST, GREY): the blue of its bars around a page that carries the
    kicker, two lines of title, the rule and the subtitle. Constant bytes: no date, no font."""
    shapes = (
        ("0", "0", "32", "32", BLUE, ' rx="6"'),
        ("7", "4", "18", "24", BACKGROUND, ' rx="1.5"'),
        ("10", "7", "7", "2", RUST, ""),
        ("10", "11", "12", "3", INK, ""),
        ("10", "16", "9", "3", INK, ""),
        ("10", "21", "12", "1", INK, ""),
        ("10", "24", "10", "1.5", GREY, ""),
    )
    rectangles = "".join(f'<rect x="{x}" y="{y}" width="{width}" height="{height}"{extra} fill="{fill}"/>'
                         for x, y, width, height, fill, extra in shapes)
    return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">{rectangles}</svg>\n'.encode("ascii")


def thumbnail_png(cover: bytes) -> bytes:
    """The cover (PNG bytes) scaled to THUMBNAIL_SIZE, as a PNG of THUMBNAIL_COLOURS colours:
    the same cover gives the same bytes, as Pillow writes no date and resampling and
    quantizing are exact arithmetic."""
    from PIL import Image

    # reducing_gap: a box reduction first, then Lanczos over the last factor of two;
    # four times faster than Lanczos all the way, and no sharper at this size.
    drawn = _last_drawn
    if drawn is not None and drawn[0] == cover:
        small = drawn[1].resize(THUMBNAIL_SIZE, Image.Resampling.LANCZOS, reducing_gap=2.0)
    else:
        with Image.open(io.BytesIO(cover)) as image:
            small = image.convert("RGB").resize(THUMBNAIL_SIZE, Image.Resampling.LANCZOS, reducing_gap=2.0)
    # Fast octree: a tenth of median cut's time (0.4 ms, not 3.8), and no difference a
    # reader sees at this size, emoji included; the file is smaller too (4 kB, not 7).
    small = small.quantize(colors=THUMBNAIL_COLOURS, method=Image.Quantize.FASTOCTREE)
    output = io.BytesIO()
    # No optimize: it saves 3 % of a 6 kB file for ten times the encoding time.
    small.save(output, "PNG")
    return output.getvalue()


def _draw_cover(image, draw, document: Document, words: Labels, footer: str) -> None:
    """The kicker, the title, the rule, the subtitle and the footer, in the document's language."""
    width, height = COVER_SIZE
    inner = width - 2 * COVER_MARGIN
    _draw_label(image, words.cover_kicker, 160, RUST)
    direction = text_direction(document.title) or "ltr"
    title = _one_paragraph(document.title)
    if len(title) > COVER_TITLE_CHARACTERS:
        title = title[:COVER_TITLE_CHARACTERS].rstrip() + " …"
    size, lines = _fit_title(title, inner, height - 530)
    baseline = 215 + size
    for line in lines:
        line_width = _line_width(line, size, direction)
        x = COVER_MARGIN if direction == "ltr" else width - COVER_MARGIN - line_width
        _draw_line(image, line, x, baseline, size, INK, direction)
        baseline += round(size * 1.28)
    rule = baseline - size + 34
    draw.rectangle((COVER_MARGIN, rule, width - COVER_MARGIN, rule + 4), fill=INK)
    _draw_label(image, words.cover_subtitle, rule + 66, GREY)
    # The footer's bar stands where its line starts: on the right for a right-to-left language.
    bar = COVER_MARGIN if text_direction(footer) != "rtl" else width - COVER_MARGIN - 10
    draw.rectangle((bar, height - 158, bar + 10, height - COVER_MARGIN), fill=BLUE)
    _draw_label(image, _one_paragraph(footer), height - COVER_MARGIN - 8, BLUE, indent=34)


#: The size of the cover's small lines (kicker, subtitle, footer).
LABEL_SIZE = 28


def _draw_label(image, text: str, baseline: float, colour: str, indent: int = 0) -> None:
    """One small line of the cover, from the left margin, or from the right for a
    right-to-left language; cut with an ellipsis if a translation is too long for it."""
    width = COVER_SIZE[0] - 2 * COVER_MARGIN - indent
    direction = text_direction(text) or "ltr"
    while len(text) > 1 and _line_width(text, LABEL_SIZE, direction) > width:
        text = text[:-2].rstrip() + "…"
    line_width = _line_width(text, LABEL_SIZE, direction)
    x = COVER_MARGIN + indent if direction == "ltr" else COVER_SIZE[0] - COVER_MARGIN - line_width
    _draw_line(image, text, x, baseline, LABEL_SIZE, colour, direction)


def _one_paragraph(text: str) -> str:
    """`text` with each line or paragraph separator (U+2028, U+2029, NEL, CR, LF, the
    C0 information separators) as a space: raqm refuses to lay out a run that holds a
    paragraph separator, and a title is one line of thought."""
    return "".join(" " if _separates_lines(char) else char for char in text)


def _separates_lines(char: str) -> bool:
    return unicodedata.category(char) in ("Zl", "Zp") or unicodedata.bidirectional(char) == "B"


def _fit_title(title: str, width: int, height: int) -> tuple[int, list[str]]:
    """The largest size at which the title wraps into `height`, and its lines."""
    for size in TITLE_SIZES:
        lines = _wrap(title, size, width)
        if len(lines) * size * 1.28 <= height:
            return size, lines
    size = TITLE_SIZES[-1]
    lines = _wrap(title, size, width)[: int(height // (size * 1.28))]
    return size, lines[:-1] + [lines[-1].rstrip() + " …"]


def _wrap(text: str, size: int, width: int) -> list[str]:
    """Lines of `text` no wider than `width`: broken at spaces, inside a word only if it must."""
    lines, line = [], ""
    for token in re.findall(r"\S+\s*|\s+", text):
        pieces = [token] if _line_width(token.rstrip(), size, "ltr") <= width else list(token)
        for piece in pieces:
            if line and _line_width((line + piece).rstrip(), size, "ltr") > width:
                lines.append(line.rstrip())
                line = piece.lstrip()
            else:
                line += piece
    if line.strip():
        lines.append(line.rstrip())
    return lines or [""]


def _runs(text: str) -> list[tuple[str, Font | None]]:
    """`text` cut into runs that one font draws: a run goes on while its font has the character."""
    runs: list[list] = []
    for char in text:
        current = runs[-1][1] if runs else None
        # A space after an emoji is the text's: a colour emoji font's space is three times as wide.
        if current is not None and current.has(char) and (current.outline or not char.isspace()):
            runs[-1][0] += char
        else:
            font = _font_for(char)
            if runs and runs[-1][1] == font:
                runs[-1][0] += char
            else:
                runs.append([char, font])
    return [(run, font) for run, font in runs]


def _line_width(text: str, size: int, direction: str) -> float:
    width = 0.0
    for run, font in _runs(text):
        _, scale, _, advance = _layout(run, font, size, direction)
        width += advance * scale
    return width


def _layout(run: str, font: Font | None, size: int, direction: str):
    """The Pillow font, scale, direction and advance to draw `run` with: shaped by raqm,
    or, for a run raqm refuses to lay out, by Pillow's basic layout (no shaping, no
    bidi), so that an odd character costs the title its shaping, not the edition."""
    pillow_font, scale = _pillow_font(font, size)
    try:
        return pillow_font, scale, direction, pillow_font.getlength(run, direction=direction)
    except RuntimeError:
        pillow_font, scale = _pillow_font(font, size, basic=True)
        return pillow_font, scale, None, pillow_font.getlength(run)


def _draw_line(image, text: str, x: float, baseline: float, size: int, colour: str, direction: str) -> None:
    """Draw one line run by run, left to right (right to left for an RTL line), on its baseline."""
    from PIL import Image, ImageDraw

    runs = _runs(text)
    for run, font in (runs if direction == "ltr" else reversed(runs)):
        pillow_font, scale, run_direction, advance = _layout(run, font, size, direction)
        if scale == 1:
            ImageDraw.Draw(image).text((x, baseline), run, font=pillow_font, fill=colour,
                                       anchor="ls", direction=run_direction)
        else:
            # A bitmap emoji font draws at its one size, in colour; scaled to fit the line.
            ascent, descent = pillow_font.getmetrics()
            glyphs = Image.new("RGBA", (max(1, round(advance)), ascent + descent))
            ImageDraw.Draw(glyphs).text((0, ascent), run, font=pillow_font, anchor="ls",
                                        embedded_color=True, direction=run_direction)
            glyphs = glyphs.resize((max(1, round(glyphs.width * scale)), max(1, round(glyphs.height * scale))),
                                   Image.Resampling.LANCZOS)
            image.paste(glyphs, (round(x), round(baseline - ascent * scale)), glyphs)
        x += advance * scale


@functools.cache
def _pillow_font(font: Font | None, size: int, basic: bool = False):
    """The Pillow font for `font` at `size`, and the scale to draw it at; laid
    out by raqm, or with `basic` by Pillow's own layout."""
    from PIL import ImageFont

    engine = ImageFont.Layout.BASIC if basic else None
    if font is None:
        return ImageFont.truetype("DejaVuSans-Bold.ttf", size, layout_engine=engine), 1
    if not font.outline:
        return (ImageFont.truetype(font.path, BITMAP_EMOJI_SIZE, index=font.index, layout_engine=engine),
                size / BITMAP_EMOJI_SIZE)
    return ImageFont.truetype(font.path, size, index=font.index, layout_engine=engine), 1


def _font_for(char: str) -> Font | None:
    """The font to draw `char` with, for the cover being drawn."""
    return _font_for_in(char, _cjk_family.get())


@functools.cache
def _font_for_in(char: str, cjk_family: str) -> Font | None:
    """The font to draw `char` with; DejaVu Sans Bold when no font has it (None when
    fontconfig cannot even say where that is: Pillow then looks for it)."""
    for pattern in COVER_FAMILIES:
        font = _font_file(pattern.format(cjk=cjk_family))
        if font is not None and font.has(char):
            return font
    font = _font_file(f"sans-serif:bold:charset={ord(char):x}")
    if font is not None and font.has(char):
        return font
    return _font_file(COVER_FAMILIES[0])


def _font_file(pattern: str) -> Font | None:
    """The font fontconfig matches `pattern` with, if it is the family asked for (or any, for
    a generic family: fontconfig answers with a substitute when the family is missing) and
    a TrueType or OpenType font (a PCF or Type 1 font is never chosen)."""
    font = fonts.match(pattern)
    family = pattern.split(":")[0]
    if (font is None or font.format not in DRAWN_FORMATS
            or (family != "sans-serif" and family not in font.families)):
        return None
    return font
