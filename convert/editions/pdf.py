"""The PDF edition: HTML written from the document, styles/print.css, WeasyPrint in-process.

The HTML is built here from the document model with every piece of seed text
escaped, so nothing a seed says can become markup; WeasyPrint gets a URL
fetcher that serves files under the styles folder and nothing else.

The file is PDF/A-3a with the master and the seed embedded as its sources;
a finisher adds what WeasyPrint 70 leaves out (tests/test_pdfa.py lists the
clauses checked). Right-to-left paragraphs get dir="rtl".
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import mimetypes
import os
import re
import resource
import sys
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from contextvars import ContextVar
from datetime import datetime
from io import BytesIO
from pathlib import Path
from urllib.parse import unquote, urlsplit

from convert import GENERATOR
from convert.dates import iso_timestamp
from convert.document.labels import Labels, foreign_label_language, labels
from convert.document.model import Document
from convert.document.seed import marker_language
from convert.editions import Settings, date_shown
from convert.editions.markup import direction_attribute, document_direction, label, lang_attribute, paragraphs
from convert.errors import RenderError
from convert.process import bound_thread_stacks
from convert.web import markup_text

PDF_VARIANT = "pdf/a-3a"


def load_weasyprint():
    """WeasyPrint, imported on first use: it takes half a second, and archive workers
    import it once as they start (build.input.warm_up)."""
    if "weasyprint" not in sys.modules:
        try:
            with _libraries_by_soname():
                import weasyprint
        except OSError:
            # A library dlopen could not find by its soname: the usual import, which asks
            # find_library, from the start.
            for name in [name for name in sys.modules if name.partition(".")[0] == "weasyprint"]:
                del sys.modules[name]
            import weasyprint  # noqa: F401
    import weasyprint.urls
    _adjusted_once()
    return weasyprint


@functools.cache
def _adjusted_once() -> None:
    """seedpress's adjustments to WeasyPrint and pydyf (each below), made once a process:
    load_weasyprint is called for every render, and each adjustment imports and looks
    before it wraps."""
    _page_references_made_once()
    _objects_serialised_once_per_write()
    _variables_validated_once()
    _streams_deflated_at(PDF_DEFLATE_LEVEL)
    _fonts_subset_from_preprocessed_faces()
    _lines_checked_against_memory()


def _page_references_made_once() -> None:
    """pydyf 0.13's `PDF.page_references` makes a new tuple of every page's reference at
    each call, and WeasyPrint 70's tagging asks for it once per structure element: time
    quadratic in the pages (a seed of 10,000 paragraphs, 334 pages, made 7.4 million
    references). The property is wrapped, once per process, so that pydyf's own answer is
    kept until a page is added: the same references, the same bytes."""
    import pydyf

    made = getattr(getattr(pydyf.PDF, "page_references", None), "fget", None)
    if made is None or hasattr(made, "pydyf_page_references"):
        return  # another pydyf, or wrapped already

    def page_references(pdf) -> tuple[bytes, ...]:
        kids = pdf.pages["Kids"]
        kept = pdf.__dict__.get("_seedpress_page_references")
        if kept is None or kept[0] is not kids or kept[1] != len(kids):
            kept = (kids, len(kids), made(pdf))
            pdf.__dict__["_seedpress_page_references"] = kept
        return kept[2]

    page_references.pydyf_page_references = made
    pydyf.PDF.page_references = property(page_references)


#: The serialised objects of the PDF being written (`id(object)` to the object and its
#: bytes), or None outside pydyf's `PDF.write`.
_serialised: ContextVar[dict[int, tuple[object, bytes]] | None] = ContextVar("serialised", default=None)


def _objects_serialised_once_per_write() -> None:
    """pydyf 0.13's `PDF.write`, given an identifier (PDF/A requires the trailer's /ID),
    serialises every object twice: once to write it, then all of them again to hash them
    for the ID. A stream's bytes are a property made at each call, and each time its data
    is deflated at level 9 again: the second pass cost 9 ms of a usual seed's 167 ms
    of PDF. While one `write` runs, nothing changes an object, so each object's
    bytes are kept from their first making until the write returns: the same bytes, the
    same /ID. Wrapped once per process; a pydyf without these properties is left alone."""
    import pydyf

    write = pydyf.PDF.write
    if hasattr(write, "pydyf_write"):
        return  # wrapped already
    made = {kind: getattr(kind.__dict__.get("data"), "fget", None)
            for kind in (pydyf.Dictionary, pydyf.Stream, pydyf.Array)}
    if None in made.values():
        return  # another pydyf

    def kept(make):
        def data(pdf_object) -> bytes:
            serialised = _serialised.get()
            if serialised is None:
                return make(pdf_object)
            entry = serialised.get(id(pdf_object))
            if entry is None:
                # The object itself is kept too, so that its id names no other while the write runs.
                entry = serialised[id(pdf_object)] = (pdf_object, make(pdf_object))
            return entry[1]
        return data

    @functools.wraps(write)
    def write_once(pdf, *arguments, **keywords):
        token = _serialised.set({})
        try:
            return write(pdf, *arguments, **keywords)
        finally:
            _serialised.reset(token)

    write_once.pydyf_write = write
    for kind, make in made.items():
        kind.data = property(kept(make))
    pydyf.PDF.write = write_once


#: zlib's level for the PDF's streams (page contents, font subsets, the embedded sources).
#: pydyf deflates them at 9: 4.4 ms of a usual seed's PDF, against 1.6 ms at 6, for a
#: file 0.8 % larger (24.7 kB, 24.9 kB). Level 1 would cost 13 % more bytes.
PDF_DEFLATE_LEVEL = 6


class _ZlibAtLevel:
    """zlib as pydyf sees it: every compressobj at one level, the rest zlib's own."""

    def __init__(self, level: int):
        self.level = level

    def __getattr__(self, name: str):
        return getattr(zlib, name)

    def compressobj(self, level: int = zlib.Z_DEFAULT_COMPRESSION, *arguments, **keywords):
        return zlib.compressobj(self.level, *arguments, **keywords)


def _streams_deflated_at(level: int) -> None:
    """pydyf 0.13 deflates each stream at level 9 (`zlib.compressobj(level=9)` in
    `Stream.data`); it is given a zlib whose compressobj deflates at `level`. The same
    inflated bytes, so the same pages, text and fonts; still one output for one input.
    Once per process; a pydyf that does not use the zlib module is left alone."""
    import pydyf

    if getattr(pydyf, "zlib", None) is zlib:
        pydyf.zlib = _ZlibAtLevel(level)


#: The largest font (the bytes of its file) whose face is preprocessed for subsetting:
#: DejaVu Sans (757 kB, 6,253 glyphs) takes 9 ms and 4 MiB once; a Noto CJK collection
#: (20 MB, 65,535 glyphs) would take 0.7 to 1.4 s and 260 to 310 MiB, more than a
#: seed's whole build, and Noto Color Emoji (10 MB) 33 ms and 10 MiB.
PREPROCESSED_FONT_BYTES = 2 * 2**20


def _fonts_subset_from_preprocessed_faces() -> None:
    """WeasyPrint 70 subsets each font of a PDF with HarfBuzz (`Font._harfbuzz_subset`), from
    the whole face each time: 8.4 ms of a usual seed's PDF (DejaVu Sans, its bold and
    DejaVu Serif). HarfBuzz 6 preprocesses a face once for many subsets
    (`hb_subset_preprocess`), and a subset cut from the preprocessed face is the same
    (HarfBuzz's docs/subset-preprocessing.md; the same PDF bytes here): 4.8 ms.

    A face is preprocessed the second time a process subsets it, so a process that writes
    one PDF pays nothing, and only a font of at most PREPROCESSED_FONT_BYTES. The face
    is then referenced for the life of the process, so that its address names it alone.
    Wrapped once per process; a WeasyPrint or HarfBuzz without these is left alone."""
    try:
        from cffi import CDefError, FFIError
        from weasyprint.pdf.fonts import Font
        from weasyprint.text.ffi import ffi, harfbuzz, harfbuzz_subset
    except ImportError:
        return
    subset = Font.__dict__.get("_harfbuzz_subset")
    if subset is None or not harfbuzz_subset or hasattr(subset, "seedpress_subset"):
        return
    try:
        preprocess = harfbuzz_subset.hb_subset_preprocess
    except AttributeError:  # not among the functions WeasyPrint declares
        try:
            ffi.cdef("hb_face_t *hb_subset_preprocess (hb_face_t *source);")
            preprocess = harfbuzz_subset.hb_subset_preprocess
        except (AttributeError, CDefError, FFIError):
            return  # HarfBuzz before 6
    # A face's address to None (subset once), False (not preprocessed) or its preprocessed face.
    faces: dict[int, object] = {}
    lock = threading.Lock()

    def preprocessed(font):
        face = font.hb_face
        address = int(ffi.cast("uintptr_t", face))
        with lock:
            if address not in faces:
                faces[address] = None
                return face
            if faces[address] is None:
                faces[address] = False
                if len(font.file_content) <= PREPROCESSED_FONT_BYTES:
                    harfbuzz.hb_face_reference(face)
                    made = preprocess(face)
                    if harfbuzz.hb_face_get_glyph_count(made) == harfbuzz.hb_face_get_glyph_count(face):
                        faces[address] = made
            return faces[address] or face

    def subset_from_preprocessed(font, to_unicode, hinting):
        face = font.hb_face
        font.hb_face = preprocessed(font)
        try:
            return subset(font, to_unicode, hinting)
        finally:
            font.hb_face = face

    subset_from_preprocessed.seedpress_subset = subset
    subset_from_preprocessed.faces = faces
    Font._harfbuzz_subset = subset_from_preprocessed


#: Validated values kept for each declaration that uses var(), by the tokens var()
#: gave and the property asked for; a declaration that gets more is forgotten and
#: starts again (a stylesheet setting a variable on each of hundreds of elements).
VALIDATED_PER_DECLARATION = 64


def _variables_validated_once() -> None:
    """WeasyPrint 70 validates a declaration that uses var() (print.css's `font: bold
    9pt/1.3 var(--sans)`) once its variables are known: for each element it applies to,
    and a shorthand once for each of its longhands, six for `font`: 3.1 ms of a usual
    seed's PDF, for a handful of answers. The values depend only on the tokens after
    substitution, the property asked for and the base URL, so each declaration (parsed
    once a process, print_stylesheet) now keeps its answers by those: 0.8 ms, most of it
    serialising the tokens for the key. What fails to validate is validated again each
    time, so WeasyPrint warns as before. Wrapped once per process; a WeasyPrint without
    these classes is left alone."""
    try:
        import tinycss2
        from weasyprint.css.validation.expanders import PendingExpander
        from weasyprint.css.validation.properties import PendingProperty
    except ImportError:
        return
    for kind in (PendingExpander, PendingProperty):
        validate = kind.__dict__.get("validate")
        if validate is None or hasattr(validate, "seedpress_validate"):
            continue

        def validate_once(pending, tokens, wanted_key, base_url, validate=validate):
            kept = pending.__dict__.setdefault("_seedpress_validated", {})
            key = (tinycss2.serialize(tokens), wanted_key, base_url)
            value = kept.get(key, kept)
            if value is kept:
                value = validate(pending, tokens, wanted_key, base_url)
                if len(kept) >= VALIDATED_PER_DECLARATION:
                    kept.clear()
                kept[key] = value
            return value

        validate_once.seedpress_validate = validate
        kind.validate = validate_once


@contextmanager
def _libraries_by_soname() -> Iterator[None]:
    """While WeasyPrint is imported on Linux, ctypes.util.find_library finds nothing.

    WeasyPrint loads each native library (GObject, Pango, HarfBuzz, fontconfig) by
    trying names for every platform in turn, and cffi asks find_library about each
    name dlopen refuses; on Linux every such question runs ldconfig, gcc and ld, about
    twenty processes and 0.3 s per import, in every worker of every run. Each list
    ends with the Linux soname (libpango-1.0.so.0), which dlopen finds by itself, in
    the ld.so cache and on LD_LIBRARY_PATH as find_library would. Should that ever
    fail, load_weasyprint imports it again the usual way.
    """
    if not sys.platform.startswith("linux"):
        yield
        return
    import ctypes.util

    asked = ctypes.util.find_library
    ctypes.util.find_library = lambda name: None
    try:
        with redirect_stdout(io.StringIO()):  # WeasyPrint prints its advice before it raises
            yield
    finally:
        ctypes.util.find_library = asked


def styles_fetcher(styles: Path):
    """A WeasyPrint URL fetcher that serves files under `styles` and refuses every other URL."""
    urls = load_weasyprint().urls
    root = Path(styles).resolve()

    class StylesOnlyFetcher(urls.URLFetcher):
        def __init__(self):
            super().__init__(allowed_protocols=("file",), allow_redirects=False)

        def fetch(self, url, headers=None):
            parts = urlsplit(url)
            if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
                raise ValueError(f"refused to fetch {url[:80]!r}: only files under styles/ are served")
            path = Path(unquote(parts.path)).resolve()
            if not path.is_relative_to(root) or not path.is_file():
                raise ValueError(f"refused to fetch {url[:80]!r}: only files under styles/ are served")
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return urls.URLFetcherResponse(
                path.as_uri(), body=path.read_bytes(), headers={"Content-Type": content_type},
            )

    return StylesOnlyFetcher()


def print_stylesheet(styles: Path, url_fetcher):
    """`styles`/print.css, parsed by WeasyPrint: once for as long as its text stays the
    same (parsing it is 6 ms of every seed's PDF; a parsed stylesheet is only read after).
    One that @imports another file is parsed each time, as what it imports may change;
    one that does not fetches nothing as it is parsed."""
    path = styles / "print.css"
    text, base_url = path.read_text("utf-8"), path.resolve().as_uri()
    key = (text, base_url)
    parsed = _parsed_stylesheets.get(key)
    if parsed is None:
        parsed = load_weasyprint().CSS(string=text, base_url=base_url, url_fetcher=url_fetcher)
        if "@import" not in text.lower():
            _parsed_stylesheets.clear()  # the last one only: a worker uses one styles folder
            _parsed_stylesheets[key] = parsed
    return parsed


#: print_stylesheet's parsed stylesheet, by the stylesheet's text and address.
_parsed_stylesheets: dict[tuple[str, str], object] = {}


#: WeasyPrint 70 breaks each line off a text box by laying out all the text left in
#: the box, unless it finds a break opportunity within about a line: a stretch with
#: none costs the square of its length (a 100 KB URL took 49 s, a 100 KB title
#: minutes). A stretch longer than this is cut into chunks of RUN_CHUNK characters,
#: one element each, so that a line costs a chunk. Words are shorter; CJK and Thai
#: text, which breaks between words without spaces, has its stretches short too.
LONGEST_UNBROKEN = 100
RUN_CHUNK = 64
_LONG_RUN = re.compile(rf"\S{{{LONGEST_UNBROKEN + 1},}}")


def _text(text: str, lang: str) -> str:
    """`text` escaped for HTML, with its long stretches that have no line-break
    opportunity handed to WeasyPrint in chunks (`_chunked`)."""
    parts, position = [], 0
    for match in _LONG_RUN.finditer(text):
        parts += [markup_text(text[position:match.start()]), _chunked(match[0], lang)]
        position = match.end()
    parts.append(markup_text(text[position:]))
    return "".join(parts)


def _chunked(run: str, lang: str) -> str:
    """`run` (no whitespace) escaped, each stretch between its line-break opportunities
    (Pango's, which WeasyPrint lays out with) longer than LONGEST_UNBROKEN as a
    `<span class="unbroken">` of RUN_CHUNK-character spans, cut between grapheme
    clusters. The characters are the same, so is the text layer; print.css lets a line
    break inside the chunks as it did inside the run."""
    from weasyprint.text.line_break import get_log_attrs

    attributes = get_log_attrs(run, lang)
    stops = [0, *(i for i in range(1, len(run)) if attributes[i].is_line_break), len(run)]
    html = []
    for start, end in zip(stops, stops[1:]):
        if end - start <= LONGEST_UNBROKEN:
            html.append(markup_text(run[start:end]))
            continue
        chunks = "".join(f"<span>{markup_text(run[a:b])}</span>" for a, b in _chunks(attributes, start, end))
        html.append(f'<span class="unbroken">{chunks}</span>')
    return "".join(html)


def _chunks(attributes, start: int, end: int) -> Iterator[tuple[int, int]]:
    """(start, end) of consecutive pieces of about RUN_CHUNK characters from `start` to
    `end`, each cut where a cursor may stand: never inside a grapheme cluster."""
    while start < end:
        cut = min(start + RUN_CHUNK, end)
        while cut < end and not attributes[cut].is_cursor_position:
            cut += 1
        yield start, cut
        start = cut


#: The running header shows the title on one line, ellipsized. WeasyPrint lays out the
#: whole string on every page all the same, and the ellipsis glyph carries the text it
#: hides into the text layer (poppler reads no more than 63 characters of it), so a
#: long title is cut first: to about what the header shows in ordinary letters.
RUNNING_TITLE_CHARACTERS = 120


def _running_title(title: str) -> str:
    """The title as the running header gets it: cut to RUNNING_TITLE_CHARACTERS and an
    ellipsis when longer (the title block shows all of it)."""
    if len(title) <= RUNNING_TITLE_CHARACTERS:
        return title
    return title[:RUNNING_TITLE_CHARACTERS].rstrip() + "…"


def _direction(text: str, document: Document) -> str:
    return direction_attribute(text, document_direction(document))


def _byline(document: Document, settings: Settings, foreign: str | None) -> str:
    """The author when there is one, and the date (the publication date, else "archived …");
    never the input's file name, which is the tool's, not the reader's."""
    when = label(date_shown(document, settings.created)[1], foreign)
    if document.author is None:
        return when
    return f'<span class="author"{_direction(document.author, document)}>{_text(document.author, document.lang)}</span> · {when}'


def _original_article(document: Document, words: Labels, foreign: str | None) -> str:
    article = document.original_article
    if article is None:
        return ""
    language = marker_language(document)
    if article.url:
        # The language goes on the link itself: a span inside it would be a second link.
        return (f'<p class="original-article"><a href="{markup_text(article.url)}"{lang_attribute(language)}>'
                f"{markup_text(article.text)}</a><br><span class=\"url\">{_text(article.url, document.lang)}</span></p>\n")
    # The marker's words, marked with their language when it is not the document's; with no
    # link the line says nothing more (a reader cannot follow a note about the source).
    return f'<p class="original-article no-link">{label(article.text, language)}</p>\n'


def _author_meta(document: Document) -> str:
    """The author as WeasyPrint takes it for /Author and XMP dc:creator; nothing when unset."""
    if document.author is None:
        return ""
    return f'<meta name="author" content="{markup_text(document.author)}">\n'


def _colophon(document: Document, words: Labels, foreign: str | None) -> str:
    """The footer after the commentary, on the last page: author, publisher, rights and the
    license's URL as a link, each labelled; nothing when none of them is set."""
    lines = []
    for name, value in ((words.author, document.author), (words.publisher, document.publisher),
                         (words.rights, document.rights)):
        if value is not None:
            lines.append(f'<p><span class="label">{label(name, foreign)}</span> '
                         f'<span{_direction(value, document)}>{_text(value, document.lang)}</span></p>\n')
    if document.license_url is not None:
        url = document.license_url
        lines.append(f'<p><span class="label">{label(words.license, foreign)}</span> '
                     f'<a href="{markup_text(url)}" dir="ltr">{_text(url, document.lang)}</a></p>\n')
    return f'<footer class="colophon">\n{"".join(lines)}</footer>\n' if lines else ""


def to_html(document: Document, settings: Settings) -> str:
    """The print HTML of the document; every piece of seed text is escaped."""
    created = iso_timestamp(settings.created)
    words, foreign = labels(document.lang), foreign_label_language(document.lang)
    commentary = (
        paragraphs(document, "commentary", _text) if document.commentary
        else f'<p class="no-commentary">{label(words.no_commentary, foreign)}</p>\n'
    )
    lang = markup_text(document.lang)
    return f"""<!DOCTYPE html>
<html lang="{lang}" dir="{document_direction(document)}">
<head>
<meta charset="utf-8">
<title>{markup_text(document.title)}</title>
<meta name="description" content="{markup_text(document.description or document.subject)}">
<meta name="keywords" content="{markup_text(', '.join(document.keywords))}">
<meta name="generator" content="{markup_text(GENERATOR)}">
{_author_meta(document)}<meta name="dcterms.created" content="{created}">
<meta name="dcterms.modified" content="{created}">
</head>
<body>
<header class="title-block">
<p class="kicker">{label(words.kicker, foreign)}</p>
<h1 class="title"{_direction(document.title, document)} data-running-title="{markup_text(_running_title(document.title))}">{_text(document.title, document.lang)}</h1>
<p class="byline">{_byline(document, settings, foreign)}</p>
</header>
<section id="summary" class="summary">
<div class="panel">
<h2 class="section-label">{label(words.summary_heading, foreign)}</h2>
{paragraphs(document, "summary", _text)}</div>
{_original_article(document, words, foreign)}</section>
<section id="commentary" class="commentary">
<h2 class="section-label">{label(words.commentary_heading, foreign)}</h2>
{commentary}</section>
{_colophon(document, words, foreign)}</body>
</html>
"""


@functools.cache
def _font_configuration():
    """One FontConfiguration per process: Pango keeps the fonts it matched, so every
    render after the first skips fontconfig's search (a fifth of a short PDF's time).
    The stylesheets have no @font-face, so nothing a render adds leaks into the next."""
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


#: WeasyPrint warns when no font has a glyph for a character. The character stays
#: in the text layer, extractable and searchable, and shows as a box: for a private-use
#: code point or a rare ideograph no installed font covers, that is the most a PDF can
#: do, and refusing the whole seed over it would lose the article. So that warning does
#: not fail the edition (the Makefile installs fonts for every common script, and
#: tests/test_scripts.py holds them to drawing every glyph); every other warning does.
_HARMLESS_WARNINGS = (".notdef glyph rendered",)


class _CollectWarnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not message.startswith(_HARMLESS_WARNINGS):
            self.messages.append(message)


def render_bytes(document: Document, settings: Settings) -> bytes:
    """The PDF edition as bytes; RenderError if WeasyPrint warns or fails."""
    weasyprint = load_weasyprint()
    fetcher = styles_fetcher(settings.styles)
    styles = Path(settings.styles)
    collector = _CollectWarnings()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(collector)
    # Collected here and reported as one RenderError, never printed on their own.
    propagate, logger.propagate = logger.propagate, False
    try:
        html = weasyprint.HTML(
            string=to_html(document, settings), base_url=styles.resolve().as_uri() + "/",
            url_fetcher=fetcher,
        )
        stylesheets = [print_stylesheet(styles, fetcher)]
        if settings.paper != "a4":
            stylesheets.append(weasyprint.CSS(string=f"@page {{ size: {settings.paper}; }}"))
        attachments = [
            weasyprint.Attachment(
                file_obj=BytesIO(data), name=name, url_fetcher=fetcher,
                description=_attachment_description(name), relationship="Source",
                created=settings.created, modified=settings.created,
            )
            for name, data in settings.attachments
        ]
        with _clock_at(settings.created), _structure_languages(), _memory_checked_per_line():
            data = html.write_pdf(
                stylesheets=stylesheets, attachments=attachments, pdf_variant=PDF_VARIANT,
                pdf_identifier=hashlib.sha256(document.identifier.encode()).hexdigest()[:32].encode(),
                uncompressed_pdf=False, finisher=_archival_finisher(document, settings),
                font_config=_font_configuration(),
            )
    except (RenderError, MemoryError):
        raise
    except Exception as error:
        reason = f"{type(error).__name__}: {error}".rstrip(": ")
        # The cause is kept: failed_render takes a C library's failure near the memory limit
        # (cairo or Pango's SystemError) for running out of memory, which it is.
        raise RenderError("pdf", document.source.file, f"WeasyPrint failed: {reason}") from error
    finally:
        logger.removeHandler(collector)
        logger.propagate = propagate
    if collector.messages:
        raise RenderError("pdf", document.source.file, f"WeasyPrint warned: {collector.messages[0]}")
    return data


@contextmanager
def _structure_languages() -> Iterator[None]:
    """While WeasyPrint writes the tags, give each structure element of an element with a
    `lang` attribute that language as its /Lang (ISO 32000-1, 14.9.2; PDF/UA-1, 7.2:
    every change of natural language is declared). WeasyPrint 70 sets /Lang on the
    catalog only; its tag builder is wrapped, since the box an element comes from is
    known nowhere else. tests/test_languages.py holds a WeasyPrint upgrade to this."""
    import pydyf
    from weasyprint.pdf import tags

    build = tags._build_box_tree

    def build_with_languages(box, parent, pdf, *arguments):
        for element in build(box, parent, pdf, *arguments):
            owner = getattr(box, "element", None)
            lang = owner.get("lang") if owner is not None and box.element_tag not in ("html", "body") else None
            if lang and element.get("S") != "/Document":
                element["Lang"] = pydyf.String(lang)
            yield element

    tags._build_box_tree = build_with_languages
    try:
        yield
    finally:
        tags._build_box_tree = build


#: What a line laid out or drawn must leave of the address-space limit (a worker's
#: --memory) when it starts; short of it, the line is not begun and MemoryError is raised.
MEMORY_HEADROOM = 48 * 2**20


#: The line check of the render under way in this thread: the descriptor of its
#: /proc/self/statm and the size it may not pass; None when nothing is checked.
_line_check: ContextVar[tuple[int, int] | None] = ContextVar("line_check", default=None)


def _lines_checked_against_memory() -> None:
    """WeasyPrint's two steps for each line, `layout.inline.get_next_linebox` and
    `draw.text.draw_first_line`, wrapped once a process: while a render checks its lines
    (_memory_checked_per_line), each first reads the process's size and raises MemoryError
    past the render's ceiling. Otherwise they cost a ContextVar lookup."""
    from weasyprint.draw import text
    from weasyprint.layout import inline

    def checked(function):
        if hasattr(function, "seedpress_unchecked"):
            return function  # wrapped already

        @functools.wraps(function)
        def line(*arguments, **keywords):
            check = _line_check.get()
            if check is not None:
                _check_room(check, "another line")
            return function(*arguments, **keywords)

        line.seedpress_unchecked = function
        return line

    inline.get_next_linebox = checked(inline.get_next_linebox)
    text.draw_first_line = checked(text.draw_first_line)


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _check_room(check: tuple[int, int], what: str) -> None:
    """MemoryError if this process's size (the descriptor of its /proc/self/statm) is past
    the ceiling of `check`: too little of the limit is left for `what`."""
    if int(os.pread(check[0], 64, 0).split()[0]) * _PAGE_SIZE > check[1]:
        raise MemoryError(f"no room left under the address-space limit for {what}")


@contextmanager
def _memory_checked_per_line() -> Iterator[None]:
    """While WeasyPrint lays out and draws, each line starts only with MEMORY_HEADROOM of
    the address-space limit to spare; a MemoryError otherwise, which the build records as
    running out of the limit. Python raises MemoryError when its allocation fails, but
    GLib (under Pango, which lays out and draws every line) aborts the process: a worker
    that reached its limit inside Pango died without a word, twice (the retry), where
    one that reached it in Python failed the seed cleanly. The render itself is not begun
    with less than that to spare. Without a limit nothing is checked; reading the size
    costs a few microseconds a line. What is checked is this thread's (a ContextVar), so
    renders on several threads, ending in any order, each check their own."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        token = _line_check.set(None)  # nothing to check, whatever an earlier render left
        try:
            yield
        finally:
            _line_check.reset(token)
        return
    # A limit set by the shell (`ulimit -v`) reaches a build in the command's own process
    # (--jobs 0) without limit_address_space: its threads' stacks are bounded here too.
    bound_thread_stacks()
    statm = None
    try:
        try:
            statm = os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            pass  # no /proc: unchecked, as before
        check = None if statm is None else (statm, soft - MEMORY_HEADROOM)
        if check is not None:
            # Before the render starts Pango. A process's first render makes the font map
            # (a worker of a run of few seeds, --jobs 0, a cluster renderer), whose first
            # thread (FcInit) aborted the process when what came before the PDF (a seed of
            # 200,000 short paragraphs) had left less of the limit than a thread's stack.
            _check_room(check, "a PDF")
        token = _line_check.set(check)
        try:
            yield
        finally:
            _line_check.reset(token)
    finally:
        if statm is not None:
            os.close(statm)


@contextmanager
def _clock_at(moment: datetime) -> Iterator[None]:
    """SOURCE_DATE_EPOCH set to `moment` while WeasyPrint writes: fontTools stamps the
    fonts it rewrites (emoji, variable fonts) with it instead of the time of day."""
    previous = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(int(moment.timestamp()))
    try:
        yield
    finally:
        if previous is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = previous


# --- what WeasyPrint 70 leaves out of a PDF/A-3a file ------------------------------

def _archival_finisher(document: Document, settings: Settings):
    """A WeasyPrint finisher that completes the PDF/A-3a file before its trailer is written."""

    def finish(rendered, pdf) -> None:
        _deduplicate_associated_files(pdf)
        _mark_page_furniture_as_artifacts(pdf)
        # A character no font has is drawn as .notdef, which PDF/A forbids (ISO 19005-2,
        # 6.2.11.8): such a file is still written, but does not claim to be PDF/A.
        conforming = not any(font.missing for font in rendered.fonts.values())
        _complete_xmp(pdf, document, settings, claim_pdfa=conforming)

    return finish


def _resolve(pdf, reference):
    """The pydyf object a `N 0 R` reference names."""
    return pdf.objects[int(reference.split()[0])]


def _deduplicate_associated_files(pdf) -> None:
    # pdfa() adds each attachment to /AF twice: once from the EmbeddedFiles
    # name tree, once from its scan of every /Filespec object.
    if "AF" in pdf.catalog:
        pdf.catalog["AF"][:] = list(dict.fromkeys(pdf.catalog["AF"]))


def _mark_page_furniture_as_artifacts(pdf) -> None:
    """Make the running header and the page numbers artifacts, as Tagged PDF wants them.

    WeasyPrint 70 tags the text of page margin boxes as /Span marked content whose
    structure elements hang from no parent: text in no reading order. Each such
    sequence becomes `/Artifact BMC` and leaves the parent tree.
    """
    if "StructTreeRoot" not in pdf.catalog:
        return
    root = _resolve(pdf, pdf.catalog["StructTreeRoot"])
    reachable: set[int] = set()
    pending = list(root.get("K", []))
    while pending:
        kid = pending.pop()
        if not isinstance(kid, bytes) or int(kid.split()[0]) in reachable:
            continue
        reachable.add(int(kid.split()[0]))
        element = _resolve(pdf, kid)
        if isinstance(element, dict):
            pending.extend(element.get("K", []))
    parent_tree = _resolve(pdf, root["ParentTree"])
    numbers = parent_tree["Nums"]
    for page_index, page_reference in enumerate(pdf.page_references):
        elements = numbers[2 * page_index + 1]
        orphans = {
            mcid for mcid, element in enumerate(elements)
            if isinstance(element, bytes) and int(element.split()[0]) not in reachable
        }
        if not orphans:
            continue
        for mcid in orphans:
            elements[mcid] = "null"
        contents = _resolve(pdf, _resolve(pdf, page_reference)["Contents"])
        contents.stream[:] = _artifacts_for(contents.stream, orphans)
    root["ParentTreeNextKey"] = len(numbers) // 2


def _artifacts_for(operations: list, orphans: set[int]) -> list:
    """The content stream items with each `/Tag <</MCID n>> BDC` for n in `orphans`
    replaced by `/Artifact BMC` (the matching EMC stays as it is)."""
    result: list = []
    for item in operations:
        if (item == b"BDC" and len(result) >= 2 and isinstance(result[-1], dict)
                and result[-1].get("MCID") in orphans):
            result[-2:] = ["/Artifact", b"BMC"]
        else:
            result.append(item)
    return result


#: The XMP Rights Management schema, one of the schemas PDF/A takes without an extension schema.
XMP_RIGHTS = "http://ns.adobe.com/xap/1.0/rights/"


def _complete_xmp(pdf, document: Document, settings: Settings, *, claim_pdfa: bool) -> None:
    """Add the language, the identifier, the format, the metadata date, and the publisher,
    rights and license where the document has them to the XMP packet, and the byte-order
    mark its header should carry; without `claim_pdfa`, drop the pdfaid part and
    conformance WeasyPrint wrote. (WeasyPrint writes dc:creator itself, from the same
    author meta as /Author, so the two agree.)"""
    metadata = _resolve(pdf, pdf.catalog["Metadata"])
    packet = b"".join(metadata.stream)
    stamp = iso_timestamp(settings.created)
    description = (
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
        "<dc:format>application/pdf</dc:format>"
        f"<dc:identifier>{markup_text(document.identifier)}</dc:identifier>"
        f"<dc:language><rdf:Bag><rdf:li>{markup_text(document.lang)}</rdf:li></rdf:Bag></dc:language>"
        f"<xmp:MetadataDate>{stamp}</xmp:MetadataDate>"
        "</rdf:Description>"
        f"{_xmp_provenance(document)}"
    ).encode()
    packet = packet.replace(b"</rdf:RDF>", description + b"</rdf:RDF>", 1)
    packet = packet.replace(b'<?xpacket begin=""', '<?xpacket begin="\ufeff"'.encode("utf-8"), 1)
    if not claim_pdfa:
        packet = re.sub(rb'\s+pdfaid:\w+="[^"]*"', b"", packet)
    metadata.stream[:] = [packet]


def _xmp_provenance(document: Document) -> str:
    """XMP for the publisher (dc:publisher, a Bag), the rights (dc:rights, a language
    Alternative) and the license's URL (xmpRights:WebStatement); nothing when none is set."""
    properties = []
    if document.publisher is not None:
        properties.append(f"<dc:publisher><rdf:Bag><rdf:li>{markup_text(document.publisher)}</rdf:li></rdf:Bag>"
                          "</dc:publisher>")
    if document.rights is not None:
        properties.append(f'<dc:rights><rdf:Alt><rdf:li xml:lang="x-default">{markup_text(document.rights)}'
                          "</rdf:li></rdf:Alt></dc:rights>")
    if document.license_url is not None:
        properties.append(f"<xmpRights:WebStatement>{markup_text(document.license_url)}</xmpRights:WebStatement>")
    if document.published is not None:
        properties.append(f"<dc:date><rdf:Seq><rdf:li>{markup_text(document.published)}</rdf:li></rdf:Seq></dc:date>")
    if not properties:
        return ""
    return ('<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            f'xmlns:xmpRights="{XMP_RIGHTS}">' + "".join(properties) + "</rdf:Description>")


def _attachment_description(name: str) -> str:
    if name.endswith(".md"):
        return "The Markdown master this PDF was rendered from"
    return "The source text this PDF was made from, byte for byte"
