"""Full-text search of the catalog: how texts are tokenised for FTS5 (Chinese, Japanese,
Korean, Thai… split between characters), how a reader's plain text becomes a safe FTS5
expression, and how a query is run against the index, ranked and bounded in time. The
index's tables are part of the catalog's schema (catalog.py)."""

from __future__ import annotations

import re
import sqlite3
import time
import unicodedata
from dataclasses import dataclass

from convert.defaults import PLAIN_QUERY_PREFIXES
from convert.errors import QueryError
from convert.patterns import LazyPattern

#: Where snippet() marks the start and end of each match: control characters, which no
#: document text holds (the seed and master readers replace them with U+FFFD).
MATCH_START, MATCH_END = "\x02", "\x03"

#: Columns of the index, in the order bm25() weighs them and snippet() numbers them.
SEARCH_COLUMNS = ("title", "summary", "commentary")

SEARCH_TOKENIZER = "unicode61 remove_diacritics 2"


#: Scripts written without spaces between words: CJK ideographs, kana, Thai, Lao, Khmer,
#: Myanmar; and Hangul, whose words carry their particles (서울에서, "in Seoul"). unicode61
#: would take a whole run of them for one token, so that no word inside it could be found;
#: index_text() makes each of their characters a token of its own.
_UNSPACED = ("[\u0e00-\u0eff\u1000-\u109f\u1100-\u11ff\u1780-\u17ff\u3040-\u30ff\u3130-\u318f"
             "\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]")


_BETWEEN_UNSPACED = LazyPattern(f"(?<={_UNSPACED})(?={_UNSPACED})")

#: What index_text() puts between two such characters: a separator to unicode61 (a format
#: character, not a letter), invisible to a reader; search results drop it again.
TOKEN_BREAK = "\u200b"

#: How many tokens of text a snippet shows around its matches (FTS5 allows up to 64).
SNIPPET_TOKENS = 32

#: How results rank: bm25, a match in the title weighing four times one in the texts.
SEARCH_RANK = "bm25(4.0, 1.0, 1.0)"


def index_text(text: str) -> str:
    """`text` as the index stores and reads it: NFC, with a TOKEN_BREAK between two characters
    of a script written without spaces, so that "東京" is found inside "東京都庁" (a query
    gets the same treatment and becomes the phrase "東 京"). Any snippet marker is replaced."""
    text = unicodedata.normalize("NFC", text).replace(MATCH_START, "\ufffd").replace(MATCH_END, "\ufffd")
    return _BETWEEN_UNSPACED.sub(TOKEN_BREAK, text)


#: A piece of a reader's plain-text query: a "quoted phrase" (its closing quote may be
#: missing) or a run of other characters up to a space or a quote; either with `*` after it.
_QUERY_PIECE = re.compile(r'"(?P<phrase>[^"]*)"?(?P<phrase_prefix>\*?)|(?P<word>[^\s"]+)')


def plain_query(text: str) -> str:
    """The FTS5 expression for a reader's plain text: every word or "quoted phrase" a quoted
    FTS5 string (so that FTS5 splits it into tokens as it splits the texts, and reads it as
    the phrase of them: `Blair's` is the phrase "blair s", `U.S.` "u s", `covid-19` "covid
    19"), all of them required; `*` after one makes its last token a prefix (after the first
    PLAIN_QUERY_PREFIXES of them, a whole word again). A word with no token in it (`-`, `&`)
    is left out; "" when nothing is left. Nothing in the text is ever read as FTS5 syntax: a
    quoted string holds no quote (they split the pieces)."""
    terms: list[str] = []
    prefixes = 0
    # FTS5 reads its expression as a C string: a NUL would end it inside a quoted string.
    for piece in _QUERY_PIECE.finditer(text.replace("\0", " ")):
        if piece["word"] is not None:
            words, prefix = piece["word"].rstrip("*"), piece["word"].endswith("*")
        else:
            words, prefix = piece["phrase"], bool(piece["phrase_prefix"])
        if not has_token(words):
            continue
        prefix = prefix and prefixes < PLAIN_QUERY_PREFIXES
        term = f'"{index_text(words)}"' + (" *" if prefix else "")
        if term not in terms:
            terms.append(term)
            prefixes += prefix
    return " AND ".join(terms)


def has_token(text: str) -> bool:
    """True when unicode61 finds a token in `text`: a letter, a digit or a private-use character."""
    return any(unicodedata.category(character)[0] in "LN" or unicodedata.category(character) == "Co"
               for character in text)


@dataclass(frozen=True)
class SearchHit:
    """One seed a search found, with what a results page shows of it."""

    key: str
    title: str
    identifier: str
    summary: str
    """The first sentence of the summary, as the hand-out shows it."""
    created: str
    """The build date, ISO 8601."""
    lang: str
    summary_snippet: str
    """Words of the summary around its matches, each match between MATCH_START and
    MATCH_END; the start of the summary when it has none. Text as the index holds it."""
    commentary_snippet: str
    """The same for the commentary."""
    files: tuple[tuple[str, str, str, int], ...]
    """(edition, path relative to dist, sha256, size) of each of its files."""


@dataclass(frozen=True)
class SearchResults:
    """One page of the seeds a query matches, best first."""

    total: int
    """How many seeds match, on every page."""
    hits: tuple[SearchHit, ...]


def search_catalog(connection: sqlite3.Connection, query: str, *, limit: int, offset: int = 0,
                   deadline: float | None = None) -> SearchResults:
    """The seeds with a good build that the FTS5 query matches, ranked by SEARCH_RANK, `limit`
    from `offset`. Raises QueryError when FTS5 cannot parse the query; with a `deadline`
    (time.monotonic()), a query still running then is interrupted (sqlite3.OperationalError,
    SQLITE_INTERRUPT)."""
    expression = index_text(query)
    if deadline is not None:
        connection.set_progress_handler(lambda: time.monotonic() > deadline, 1000)
    try:
        # The index holds exactly the seeds whose status is 'built' (record_built adds a seed,
        # record_withdrawn takes it out, a failed seed that never built has no row), so the
        # matches are counted without joining seeds: at 10,000 seeds that join cost 28 ms.
        total = connection.execute(
            "SELECT count(*) FROM search_index WHERE search_index MATCH ?", (expression,)).fetchone()[0]
        # ORDER BY rank lets FTS5 hand the rows over in order, so that snippet() runs only
        # for the rows of this page, not for every match.
        rows = connection.execute(
            "SELECT s.key, s.title, s.identifier, s.summary, s.created, t.lang, "
            "snippet(search_index, 1, char(2), char(3), '…', ?), "
            "snippet(search_index, 2, char(2), char(3), '…', ?) "
            "FROM search_index JOIN search_texts t ON t.id = search_index.rowid JOIN seeds s ON s.key = t.key "
            "WHERE search_index MATCH ? AND rank MATCH ? AND s.status = 'built' "
            "ORDER BY rank LIMIT ? OFFSET ?",
            (SNIPPET_TOKENS, SNIPPET_TOKENS, expression, SEARCH_RANK, limit, offset)).fetchall()
    except sqlite3.OperationalError:
        problem = query_problem(expression)
        if problem is not None:
            raise QueryError(problem) from None
        raise
    finally:
        if deadline is not None:
            connection.set_progress_handler(None, 0)
    files: dict[str, list[tuple]] = {}
    keys = [row[0] for row in rows]
    if keys:
        for key, *file in connection.execute(
                f"SELECT key, edition, path, sha256, size FROM files WHERE key IN ({', '.join('?' * len(keys))}) "
                "ORDER BY key, edition", keys):
            files.setdefault(key, []).append(tuple(file))
    return SearchResults(total, tuple(
        SearchHit(*row, files=tuple(files.get(row[0], ()))) for row in rows))


def query_problem(expression: str) -> str | None:
    """Why FTS5 cannot parse the query `expression`, or None when it can. Asked of an empty
    index with the same columns, so that only the query itself can be at fault."""
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute(f"CREATE VIRTUAL TABLE search_index USING fts5({', '.join(SEARCH_COLUMNS)}, "
                      f"tokenize = '{SEARCH_TOKENIZER}')")
        probe.execute("SELECT count(*) FROM search_index WHERE search_index MATCH ?", (expression,)).fetchone()
    except sqlite3.OperationalError as error:
        # "unknown special query: " (a lone `*`) ends in a colon with nothing after it.
        return str(error).removeprefix("fts5: ").rstrip(": ") or "syntax error"
    finally:
        probe.close()
    return None
