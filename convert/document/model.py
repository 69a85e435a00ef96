"""The document model every stage takes as input: a seed read and validated."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from convert.document.provenance import Provenance
from convert.patterns import LazyPattern

_WORD = re.compile(r"\S+")
#: Scripts written without spaces between words: CJK ideographs and kana, Thai, Lao,
#: Khmer, Myanmar (Hangul is written with spaces, so Korean words are real words).
_UNSPACED_SCRIPT = LazyPattern("[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
#: Punctuation that, left beside CJK characters, is no word of its own.
_PUNCTUATION = "\u3000\u3001\u3002\u300c\u300d\u300e\u300f\uff08\uff09\uff01\uff0c\uff1a\uff1b\uff1f\u30fb.,;:!?\"'()[]\u2026\u2014-"
_SENTENCE_END = LazyPattern(
    r"[.!?…][\"'”’)\]]*(?=\s+[\"“‘(]?[A-Z0-9])"
    # Chinese and Japanese end a sentence with a full stop of their own and no space after;
    # one inside a quotation (「…だ！」と言った) ends the quotation only.
    r"|[。！？](?=\s*[^\s」』）”’])")
#: A word that ends in an abbreviation's period, not a sentence's: initials (U.S.) or a title.
_ABBREVIATION = re.compile(r"(?:(?:[A-Za-z]\.)+|Mr|Mrs|Ms|Dr|St|Jr|Sr|vs|etc|Gen|Gov|Sen|Rep|Prof)\.?")
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have in into is it its of on or over "
    "that the their this to was were will with after before about under".split()
)


#: The longest marker text a document may have (a master's `original_article.text`, or a
#: seed's marker paragraph with a URL it keeps as text).
MAX_MARKER_TEXT = 1_000


#: What the seed reader guessed, as the master records it (`notices:`), with the line that
#: tells the user. Each is a notice on stderr and in `--json`, and a failure under --strict.
NO_MARKER = "no-marker"
TITLE_RUN_IN = "title-run-in"
OTHER_ENCODING = "other-encoding"
NOTICES = {
    NO_MARKER: "no 'Read the original article' marker paragraph: the whole text is read as the summary",
    TITLE_RUN_IN: "no blank line after the title: its first line is read as the title, the rest as the summary",
    OTHER_ENCODING: "not UTF-8, and read as cp1252 (as any such seed is) its letters are garbled: it looks like "
                    "a Cyrillic, Greek, Arabic, Hebrew or East Asian encoding; save it as UTF-8 to keep its text",
}


@dataclass(frozen=True)
class Source:
    """Facts about the seed file the document was read from."""

    file: str
    """The seed's file name, without folders."""
    sha256: str
    """Hex SHA-256 of the seed's bytes as read from disk."""
    encoding: str
    """The encoding the bytes were decoded with (utf-8, utf-8-sig, utf-16, cp1252…)."""
    bytes: int
    """The seed's size in bytes."""
    replaced: int = 0
    """How many characters XML cannot carry were replaced by U+FFFD: in the seed, plus
    any in a master of it when the document was read from the master."""


@dataclass(frozen=True)
class OriginalArticle:
    """The marker paragraph that links the summary to the original article."""

    text: str
    """The marker's words as written in the seed, without the URL it links to; a URL that
    cannot be a link (not http(s), or not valid) stays here as literal text."""
    url: str | None
    """The http(s) URL of the original article (provenance.is_web_url), or None when the seed
    gives none that can be a link."""


@dataclass(frozen=True)
class Document:
    """One seed: its title, the summary of the original article, and the commentary."""

    title: str
    """The literal title: the seed's first paragraph."""
    summary: tuple[str, ...]
    """Paragraphs of the summary of the original article, in order."""
    commentary: tuple[str, ...]
    """Paragraphs of the commentary appended to the summary (may be empty)."""
    original_article: OriginalArticle | None
    """The marker, or None when the seed has no marker."""
    source: Source
    """Where the text came from."""
    lang: str = "und"
    """BCP 47 language tag of the text (`und` until the language is detected or given)."""
    summary_langs: tuple[str | None, ...] = ()
    """For each summary paragraph, its language where it differs from the document's, else
    None; empty when no paragraph differs."""
    commentary_langs: tuple[str | None, ...] = ()
    """The same for the commentary paragraphs."""
    author: str | None = None
    """Who wrote it (seedpress.toml, --author or the master's own); None when nobody said."""
    publisher: str | None = None
    """Who publishes it; None when nobody said."""
    rights: str | None = None
    """The rights statement ("CC BY 4.0"); None when nobody said."""
    license_url: str | None = None
    """The http(s) URL of the license the rights statement names; None when nobody said."""
    published: str | None = None
    """The publication date a person gave (ISO 8601, as written); None: unknown."""
    description: str | None = None
    """What it is about, as a person described it; None when nobody did."""
    tags: tuple[str, ...] | None = None
    """Keywords a person gave; None when nobody did (then `keywords` come from the title)."""
    notices: tuple[str, ...] = ()
    """What the reader had to guess about the seed (NOTICES' codes: no marker, a title run
    into the summary), in the order found; empty when the seed is written as DESIGN §1 says."""

    @property
    def provenance(self) -> Provenance:
        """Author, publisher, rights, license, date, description and tags together."""
        return Provenance(author=self.author, publisher=self.publisher, rights=self.rights,
                          license_url=self.license_url, published=self.published,
                          description=self.description, tags=self.tags)

    def paragraph_langs(self, section: str) -> tuple[str | None, ...]:
        """Each paragraph of `section` ("summary" or "commentary") with its own language, or None."""
        paragraphs, langs = (self.summary, self.summary_langs) if section == "summary" else (
            self.commentary, self.commentary_langs)
        return langs or (None,) * len(paragraphs)

    @property
    def identifier(self) -> str:
        """The stable identifier of the document: the hash of the seed bytes."""
        return f"urn:sha256:{self.source.sha256}"

    @property
    def subject(self) -> str:
        """One sentence that says what the document is about: the summary's first sentence."""
        return first_sentence(self.summary[0]) if self.summary else self.title

    @property
    def keywords(self) -> tuple[str, ...]:
        """The tags a person gave, else keywords from the title's significant words, in title
        order, without repeats."""
        if self.tags:
            return self.tags
        seen: dict[str, None] = {}
        for word in _WORD.findall(self.title):
            if _UNSPACED_SCRIPT.search(word):
                # Chinese, Japanese, Thai… put no spaces between words: a "word" here
                # is a whole phrase or title, never a keyword.
                continue
            word = word.strip(".,;:!?\"'“”‘’()[]{}").lower()
            if len(word) > 2 and word not in _STOPWORDS:
                seen.setdefault(word, None)
        return tuple(seen)[:8]


def word_count(paragraphs: tuple[str, ...]) -> int:
    """Words in the paragraphs: runs of non-space characters, except that in scripts written
    without spaces between words (Chinese, Japanese, Thai…) each character counts as one
    word, as CJK word counts are made, and the rest of the run as one more if any is left."""
    count = 0
    for paragraph in paragraphs:
        for word in _WORD.findall(paragraph):
            unspaced = len(_UNSPACED_SCRIPT.findall(word))
            count += unspaced + (1 if unspaced == 0 or _UNSPACED_SCRIPT.sub("", word).strip(_PUNCTUATION) else 0)
    return count


def first_sentence(paragraph: str, limit: int = 300) -> str:
    """The paragraph's first sentence, cut at a word boundary near `limit` characters."""
    sentence = paragraph
    for match in _SENTENCE_END.finditer(paragraph):
        if match.end() > limit:
            # Whatever ends here or later is cut at `limit` the same way the whole
            # paragraph is: looking further only costs time.
            break
        if not _ABBREVIATION.fullmatch(_word_ending_at(paragraph, match.start() + 1)):
            sentence = paragraph[: match.end()]
            break
    if len(sentence) > limit:
        sentence = sentence[:limit].rsplit(" ", 1)[0] + " …"
    return sentence


def _word_ending_at(text: str, end: int) -> str:
    """The run of non-whitespace characters in `text` that ends at `end`.

    Walks back from `end` instead of searching `text[:end]` with a `$`-anchored
    pattern, which tries every start and so costs the whole text per sentence end.
    """
    start = end
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return text[start:end]


#: Isolate initiators (LRI, RLI, FSI) and their terminator (PDI): what they
#: enclose does not count towards the direction of the text around it (UAX #9, P2).
_ISOLATE_OPENERS = frozenset("\u2066\u2067\u2068")
_ISOLATE_CLOSER = "\u2069"


def text_direction(text: str) -> str | None:
    """'rtl' or 'ltr' after the first strong character of `text` (UAX #9 rules P2-P3), else None.

    Arabic and Hebrew letters (and RLM) are strong right-to-left, Latin, Greek,
    Cyrillic, CJK, Devanagari letters (and LRM) strong left-to-right; digits and
    punctuation are neutral and are skipped, as is text inside isolates.
    """
    depth = 0
    for char in text:
        if char in _ISOLATE_OPENERS:
            depth += 1
        elif char == _ISOLATE_CLOSER:
            depth = max(0, depth - 1)
        elif depth == 0:
            kind = unicodedata.bidirectional(char)
            if kind in ("R", "AL"):
                return "rtl"
            if kind == "L":
                return "ltr"
    return None
