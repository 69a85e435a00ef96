"""Read a seed's bytes into a Document, faithfully, or refuse it with one reason (DESIGN §1)."""

from __future__ import annotations

import codecs
import hashlib
import re
import unicodedata
from functools import cache
from pathlib import Path

from convert import defaults
from convert.document.labels import label_language, marker_forms, marker_forms_by_language
from convert.document.language import same_language, with_languages
from convert.document.model import (
    MAX_MARKER_TEXT,
    NO_MARKER,
    OTHER_ENCODING,
    TITLE_RUN_IN,
    Document,
    OriginalArticle,
    Source,
)
from convert.document.provenance import is_web_url
from convert.errors import SeedError
from convert.files import read_bounded
from convert.names import shown
from convert.web import NOT_TEXT

_BOMS = (
    # UTF-32 first: its little-endian BOM starts with UTF-16's.
    (codecs.BOM_UTF32_LE, "utf-32-le", "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "utf-32"),
    (codecs.BOM_UTF8, "utf-8", "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16"),
)

#: Whitespace that folds into one space inside a paragraph. Only ASCII: a
#: no-break or ideographic space is text and stays as it is.
_FOLD = re.compile(r"[ \t\n\r\f\v]+")
_ASCII_SPACE = " \t\n\r\f\v"
#: Characters XML 1.0 (so EPUB, DOCX and the PDF's tags) cannot carry (the whitespace
#: controls aside: they fold into spaces).
_UNREPRESENTABLE = re.compile(f"[{NOT_TEXT}]")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")
#: The encodings a seed is read with, as its master records them.
ENCODINGS = frozenset({label for _bom, _codec, label in _BOMS} | {"utf-8", "cp1252"})
#: Between a marker's words and the URL after them: a colon, a hyphen or a dash, or a space
#: (the URL on the marker's next line, which folding made one line).
_SEPARATOR = r"(?:\s*[:\uff1a\-\u2010-\u2015]\s*|\s+)"
#: What may end a marker paragraph and is not its words: punctuation and space.
_TRAILING = r"[\s.,;:!?\u2026\u3002\uff0e\uff01\uff1f\uff1a]*"
#: A URL written after the marker's words: http(s), no space (another scheme there makes the
#: paragraph ordinary text). Only one provenance.is_web_url accepts becomes the link; in
#: (…), <…> or a Markdown link, whatever stands there is the marker's (literal, if no link).
_URL_TOKEN = r"https?://\S+"
#: Apostrophes a person may type in "l'article": ASCII, typographic, modifier letter.
_APOSTROPHES = "['\u2019\u02bc]"


def read_seed(path: Path, *, max_bytes: int = defaults.MAX_BYTES, lang: str | None = None) -> Document:
    """Read the seed at `path`; raise SeedError naming it when it cannot be a document.
    Its language is detected unless `lang` gives it."""
    path = Path(path)
    return parse_seed(read_bounded(path, max_bytes), path.name, path=path, max_bytes=max_bytes, lang=lang)


def parse_seed(
    data: bytes, name: str, *, path: Path | str | None = None,
    max_bytes: int = defaults.MAX_BYTES, lang: str | None = None,
) -> Document:
    """Turn a seed's bytes into a Document; `name` is recorded as the source file, as
    names.shown() writes it (a name that is not UTF-8 or holds control characters is
    carried escaped into the master and every edition)."""
    return with_languages(parse_seed_structure(data, name, path=path, max_bytes=max_bytes), lang)


def parse_seed_structure(
    data: bytes, name: str, *, path: Path | str | None = None, max_bytes: int = defaults.MAX_BYTES,
) -> Document:
    """parse_seed without the languages (the document's is left undetermined): every
    SeedError parse_seed raises, at a tenth of its cost and without loading the
    language detector. The archive job checks its seeds with it before the workers,
    which parse them whole, start."""
    where = path if path is not None else name
    if len(data) > max_bytes:
        raise SeedError(where, f"larger than the size limit ({len(data)} > {max_bytes} bytes)")
    text, encoding = decode(data, where)
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text, replaced = replace_unrepresentable(text)
    paragraphs = split_paragraphs(text)
    if not paragraphs:
        raise SeedError(where, "empty: no text in the file")
    title, body = paragraphs[0], paragraphs[1:]
    summary, original_article, commentary = split_at_marker(body)
    notices = []
    if not summary:
        # The title's paragraph is all there is before the marker (or at all): when it
        # spans lines, the blank line after the title is what is missing.
        title_lines = first_paragraph_lines(text)
        if len(title_lines) < 2:
            raise SeedError(where, "no paragraph after the title" if not body else
                            f"no summary paragraph before the marker '{original_article.text}'")
        title, summary = title_lines[0], (fold(" ".join(title_lines[1:])),)
        notices.append(TITLE_RUN_IN)
    if original_article is None:
        notices.append(NO_MARKER)
    if encoding == "cp1252" and garbled_as_cp1252(data, text):
        notices.append(OTHER_ENCODING)
    source = Source(
        file=shown(name), sha256=hashlib.sha256(data).hexdigest(), encoding=encoding,
        bytes=len(data), replaced=replaced,
    )
    return Document(
        title=title, summary=summary, commentary=commentary,
        original_article=original_article, source=source, notices=tuple(notices),
    )


def replace_unrepresentable(text: str) -> tuple[str, int]:
    """`text` with each character XML 1.0 cannot carry replaced by U+FFFD, and how many were."""
    return _UNREPRESENTABLE.subn("\ufffd", text)


def decode(data: bytes, where: Path | str) -> tuple[str, str]:
    """Decode by BOM, else as UTF-8, else as cp1252; return the text and the encoding used."""
    if not data:
        raise SeedError(where, "empty: no text in the file")
    if not data.strip():
        raise SeedError(where, "empty: only whitespace")
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom):].decode(codec)
            except UnicodeDecodeError as error:
                raise SeedError(where, f"not valid {label}: {error.reason} at byte {error.start}") from None
            _refuse_binary(text, where)
            return text, label
    if b"\x00" in data:
        raise SeedError(where, f"binary file: contains NUL bytes{_bomless_utf16_hint(data)}")
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; they become U+FFFD like any decoder's.
        text, encoding = data.decode("cp1252", errors="replace"), "cp1252"
    _refuse_binary(text, where)
    return text, encoding


def _bomless_utf16_hint(data: bytes) -> str:
    """For bytes that read as UTF-16 without a byte order mark (DESIGN §1 reads UTF-16 by its
    BOM only): what to do with the file; else nothing. Such a file of text in Latin letters
    has a NUL in nearly every other byte, and decodes whole to text without one."""
    for codec, high_bytes in (("utf-16-le", data[1::2]), ("utf-16-be", data[0::2])):
        if len(data) % 2 == 0 and high_bytes.count(0) >= 0.9 * len(high_bytes):
            try:
                if "\x00" in data.decode(codec):
                    continue  # NUL characters even so: UTF-32, or binary
            except UnicodeDecodeError:
                continue
            return (f" (it reads as {codec.upper()} without a byte order mark: "
                    "save it as UTF-8, or as UTF-16 with one)")
    return ""


#: The share of a cp1252 reading's letters that may be outside ASCII in Western text: French or
#: German runs at a tenth; Cyrillic or Japanese bytes read as cp1252 are almost all such letters.
WESTERN_ACCENTS = 0.3


def garbled_as_cp1252(data: bytes, as_cp1252: str) -> bool:
    """Whether `data` (not UTF-8), read as cp1252 into `as_cp1252` as DESIGN §1 says, is most
    likely text of another script in a legacy encoding (Shift_JIS, GB18030, cp1251, KOI8-R…).

    The rules keep cp1252, so the seed's text is garbled: the reader says so (a notice, a failure
    under --strict). charset-normalizer names the encoding it most likely is, but calls German
    cp1252 text cp1250 and random Western strings East Asian, so it is asked only when most of
    the letters cp1252 reads are not ASCII, and believed only when most of the letters its own
    reading gives are of another script than Latin."""
    letters = [character for character in as_cp1252 if character.isalpha()]
    if not letters or sum(character > "\x7f" for character in letters) < WESTERN_ACCENTS * len(letters):
        return False
    from charset_normalizer import from_bytes  # 40 ms to import: only for a seed like this

    best = from_bytes(data).best()
    if best is None:
        return False
    others = [character for character in str(best) if character.isalpha()]
    latin = sum(unicodedata.name(character, "").startswith("LATIN") for character in others)
    return bool(others) and latin < len(others) / 2


def _refuse_binary(text: str, where: Path | str) -> None:
    if "\x00" in text:
        raise SeedError(where, "binary file: contains NUL characters")
    if not text.strip(_ASCII_SPACE):
        raise SeedError(where, "empty: only whitespace")
    controls = len(_CONTROL.findall(text))
    if controls > max(2, len(text) // 20):
        raise SeedError(where, f"binary file: {controls} of {len(text)} characters are control characters")


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs separated by blank lines, each with its whitespace runs folded to one space."""
    paragraphs, lines = [], []
    for line in text.split("\n"):
        if line.strip(_ASCII_SPACE):
            lines.append(line)
        elif lines:
            paragraphs.append(fold(" ".join(lines)))
            lines = []
    if lines:
        paragraphs.append(fold(" ".join(lines)))
    return paragraphs


def first_paragraph_lines(text: str) -> list[str]:
    """The lines of the text's first paragraph, each folded."""
    lines = []
    for line in text.split("\n"):
        if line.strip(_ASCII_SPACE):
            lines.append(fold(line))
        elif lines:
            break
    return lines


def fold(paragraph: str) -> str:
    """Fold runs of ASCII whitespace (hard wraps, tabs) into one space and trim the ends."""
    return _FOLD.sub(" ", paragraph).strip(" ")


def _words_pattern(form: str) -> str:
    """A regular expression for the marker words `form`: any run of space between words,
    any apostrophe for an apostrophe."""
    words = (re.escape(word).replace("'", _APOSTROPHES)
             for word in unicodedata.normalize("NFC", form).split())
    return r"\s+".join(words)


@cache
def marker_patterns() -> tuple[re.Pattern, ...]:
    """The ways a marker paragraph is written, each matched against the whole paragraph:
    the words alone, a URL after them, in (…) or <…>, and a Markdown link [words](url).
    `text` is the words as written; `url` what stands where the URL goes."""
    words = "|".join(_words_pattern(form) for form in sorted(marker_forms(), key=len, reverse=True))
    text = f"(?P<text>{words})"
    return tuple(re.compile(pattern, re.IGNORECASE) for pattern in (
        rf"{text}{_TRAILING}",
        rf"{text}{_SEPARATOR}(?P<url>{_URL_TOKEN}?)\.?",
        rf"{text}{_SEPARATOR}?\(\s*(?P<url>\S+?)\s*\){_TRAILING}",
        rf"{text}{_SEPARATOR}?<\s*(?P<url>[^\s<>]+)\s*>{_TRAILING}",
        rf"\[\s*{text}{_TRAILING}\]\(\s*(?P<url>\S+?)\s*\){_TRAILING}",
    ))


@cache
def _marker_words_by_language() -> tuple[tuple[str, re.Pattern], ...]:
    # From the paragraph's start: a refused URL leaves the whole paragraph as the marker's
    # text, "[Lire l'article original](javascript:…)" included.
    return tuple((language, re.compile(r"\[?\s*" + _words_pattern(form), re.IGNORECASE))
                 for language, form in marker_forms_by_language())


def marker_language(document: Document) -> str | None:
    """The language to mark the marker's words with in an edition: the language whose marker
    form they begin with (labels.toml), when it is not the document's own. None when they are
    the document's language's, or no language's (words a person wrote in a master)."""
    article = document.original_article
    if article is None:
        return None
    found = [language for language, words in _marker_words_by_language() if words.match(article.text)]
    if not found or any(_is_own(language, document.lang) for language in found):
        return None
    return found[0]


def _is_own(language: str, tag: str) -> bool:
    """True when labels.toml's `language` is the language `tag` is in: the same language, or
    the table a regional tag of it is given (zh-TW reads zh-Hant's words)."""
    return same_language(tag, language) or (
        label_language(tag) == language and tag.split("-")[0].lower() == language.split("-")[0].lower())


def match_marker(paragraph: str) -> OriginalArticle | None:
    """The marker if the whole paragraph is one, else None.

    The marker's words are "Read the original article (here)" in any language
    labels.toml covers, in any case. Only a URL every edition can link
    (provenance.is_web_url: http(s), RFC 3986 characters, escapes and port) becomes
    the link, exactly as written; with any other, the whole paragraph stays the
    marker's text, literally, so nothing of it is lost, and a marker too long for
    that is an ordinary paragraph."""
    for pattern in marker_patterns():
        match = pattern.fullmatch(paragraph)
        if match is not None:
            break
    else:
        return None
    url = match.groupdict().get("url")
    if url is None or is_web_url(url):
        return OriginalArticle(text=match["text"], url=url)
    if len(paragraph) > MAX_MARKER_TEXT:
        return None
    return OriginalArticle(text=paragraph, url=None)


def split_at_marker(
    paragraphs: list[str],
) -> tuple[tuple[str, ...], OriginalArticle | None, tuple[str, ...]]:
    """Summary before the first marker, the marker, commentary after it."""
    for index, paragraph in enumerate(paragraphs):
        marker = match_marker(paragraph)
        if marker is not None:
            return tuple(paragraphs[:index]), marker, tuple(paragraphs[index + 1:])
    return tuple(paragraphs), None, ()
