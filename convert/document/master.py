"""The Markdown master: YAML frontmatter plus two sections, written and read back (DESIGN §2)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import yaml

from convert import GENERATOR, defaults
from convert.document.frontmatter import read_frontmatter
from convert.document.labels import labels
from convert.document.language import MAX_TAG_LENGTH, is_language_tag
from convert.document.model import NO_MARKER, Document, word_count
from convert.document.seed import fold, replace_unrepresentable
from convert.errors import SeedError
from convert.files import read_bounded
from convert.pandoc import PandocFailed, read_markdown_body, stringify

#: Characters that mean something to pandoc's Markdown reader wherever they stand
#: (emphasis, code, links, raw HTML, entities, math, citations, sub/superscript,
#: spans, tables) and so are always backslash-escaped. Quotes, apostrophes, dashes
#: and periods are not: masters are read without pandoc's `smart` extension
#: (pandoc.MASTER_READER), so `doesn't`, `"We're"` and `--` stay as typed.
_ALWAYS = frozenset("\\`*_[]<>{}#|~^$@&")
#: What could open a list, a definition, a block quote, a rule or a fenced div
#: at the start of a paragraph: the punctuation that makes it so is escaped.
_LIST_NUMBER = re.compile(r"^(\(?)([0-9]+|[A-Za-z]|[ivxlcdmIVXLCDM]+)([.)])(?= |$)")
_LEADING = frozenset("-+:=%(")
_FRONTMATTER = re.compile(r"\A---\n(.*?\n)(?:---|\.\.\.)\n", re.DOTALL)
#: How many block quotes and list items may open at the start of one line, and how
#: deep [brackets] may nest, in a body pandoc is to read. A master holds neither,
#: and pandoc's time grows with both: 5,000 '>' take it 2 s, and nested brackets
#: exponentially (12 levels: 0.7 s; 32: more than 7 minutes).
MAX_LINE_NESTING = 16
MAX_BRACKET_NESTING = 8
_ESCAPED = re.compile(r"\\.", re.DOTALL)
_NESTED_LINE_START = re.compile(
    r"^(?:[ \t]*(?:>|(?:[-+*]|[0-9]{1,9}[.)])(?=[ \t])))" f"{{{MAX_LINE_NESTING + 1}}}", re.MULTILINE,
)
_NOT_BRACKET = re.compile(r"[^\[\]]+")


def escape_paragraph(text: str) -> str:
    """Markdown that pandoc (without `smart`) reads back as exactly `text`, as one line."""
    return _escape_start("".join("\\" + char if char in _ALWAYS else char for char in text))


def _escape_start(line: str) -> str:
    match = _LIST_NUMBER.match(line)
    if match:
        opening = "\\(" if match[1] else ""
        return f"{opening}{match[2]}\\{match[3]}{line[match.end():]}"
    if line[:1] in _LEADING:
        return "\\" + line
    return line


def frontmatter(document: Document) -> dict:
    """The master's metadata, in the order DESIGN §2 lists it; author, publisher, rights and
    license_url (DESIGN §10) follow the identifier where they are set."""
    article = document.original_article
    source = {
        "file": document.source.file, "sha256": document.source.sha256,
        "encoding": document.source.encoding, "bytes": document.source.bytes,
    }
    if document.source.replaced:
        source["replaced"] = document.source.replaced
    return {
        "title": document.title,
        "lang": document.lang,
        "identifier": document.identifier,
        # Only what is set: a document nobody gave an author has no `author: null`.
        **document.provenance.master_fields(),
        "source": source,
        "original_article": None if article is None else {"text": article.text, "url": article.url},
        # What the seed reader guessed (no marker, a title run into the summary): recorded.
        **({"notices": list(document.notices)} if document.notices else {}),
        "sections": {
            "summary": {"paragraphs": len(document.summary), "words": word_count(document.summary)},
            "commentary": {"paragraphs": len(document.commentary), "words": word_count(document.commentary)},
        },
        "generator": GENERATOR,
    }


_LINE_BREAKS = re.compile("[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")


class _MasterDumper(yaml.SafeDumper):
    """yaml.safe_dump's dumper, but a string holding any line break str.splitlines() knows
    (a seed's file name may) is written double-quoted, every break an escape: plain or
    single-quoted, YAML would fold it, and U+0085 would not come back as it was."""

    def choose_scalar_style(self):
        if isinstance(self.event.value, str) and _LINE_BREAKS.search(self.event.value):
            return '"'
        return super().choose_scalar_style()


def to_markdown(document: Document) -> str:
    """The master as text: frontmatter dumped as yaml.safe_dump does, then the two sections."""
    header = yaml.dump(
        frontmatter(document), Dumper=_MasterDumper, sort_keys=False, allow_unicode=True,
        default_flow_style=None, width=float("inf"),
    )
    words = labels(document.lang)
    parts = ["---\n", header, "---\n\n", f"# {escape_paragraph(words.summary_heading)} {{#summary}}\n\n"]
    parts += [master_paragraph(p, lang) + "\n\n"
              for p, lang in zip(document.summary, document.paragraph_langs("summary"))]
    parts.append(f"# {escape_paragraph(words.commentary_heading)} {{#commentary}}\n")
    parts += ["\n" + master_paragraph(p, lang) + "\n"
              for p, lang in zip(document.commentary, document.paragraph_langs("commentary"))]
    return "".join(parts)


def master_paragraph(text: str, lang: str | None) -> str:
    """One paragraph of the master: an escaped line, inside a fenced div that names its
    language when that differs from the document's (pandoc's own way to mark a language)."""
    if lang is None:
        return escape_paragraph(text)
    return f"::: {{lang={lang}}}\n{escape_paragraph(text)}\n:::"


# --- reading a master back --------------------------------------------------

def read_master(path: Path, *, max_bytes: int = defaults.MAX_BYTES) -> Document:
    """Read a master written by `to_markdown` (and perhaps corrected by hand)."""
    path = Path(path)
    return master_from_bytes(read_bounded(path, max_bytes), path)


def master_from_bytes(data: bytes, path: Path | str) -> Document:
    """The Document of a master's bytes (UTF-8, perhaps with a BOM); `path` names it in errors."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SeedError(path, f"a master must be UTF-8: {error.reason} at byte {error.start}") from None
    return parse_master(text.replace("\r\n", "\n").replace("\r", "\n"), path)


def parse_master(text: str, path: Path | str) -> Document:
    """The Document a master's text describes; SeedError when it is not a seedpress master.

    A master is untrusted input, as a seed is: characters XML cannot carry become
    U+FFFD (counted in `source.replaced`, added to what the seed had), the
    frontmatter is checked field by field, and the body's nesting is bounded
    before pandoc reads it.
    """
    text, replaced = replace_unrepresentable(text)
    match = _FRONTMATTER.match(text)
    if match is None:
        raise SeedError(path, "not a seedpress master: no YAML frontmatter between '---' lines")
    fields = read_frontmatter(match[1], path)
    body = text[match.end():]
    _check_nesting(body, path)
    try:
        ast = read_markdown_body(body)
    except PandocFailed as error:
        raise SeedError(path, f"cannot parse the body: {error}") from None
    sections = _sections(ast["blocks"], path)
    # pandoc turns character references (&#1;) into the characters themselves.
    summary, in_summary = _representable(tuple(text for text, _lang in sections["summary"]))
    commentary, in_commentary = _representable(tuple(text for text, _lang in sections["commentary"]))
    replaced += fields.source.replaced + in_summary + in_commentary

    def marks(section: str) -> tuple[str | None, ...]:
        langs = tuple(lang for _text, lang in sections[section])
        return langs if any(langs) else ()

    return Document(
        title=fields.title,
        summary=summary,
        commentary=commentary,
        original_article=fields.original_article,
        source=replace(fields.source, replaced=replaced),
        lang=fields.lang,
        summary_langs=marks("summary"),
        commentary_langs=marks("commentary"),
        **fields.provenance.as_dict(),
        # A marker added by hand answers the reader's "no marker" guess.
        notices=tuple(notice for notice in fields.notices
                      if not (notice == NO_MARKER and fields.original_article is not None)),
    )


def _representable(paragraphs: tuple[str, ...]) -> tuple[tuple[str, ...], int]:
    """The paragraphs with characters XML cannot carry replaced, and how many were."""
    results = [replace_unrepresentable(paragraph) for paragraph in paragraphs]
    return tuple(text for text, _count in results), sum(count for _text, count in results)


def _check_nesting(body: str, path: Path | str) -> None:
    """SeedError if the body nests block quotes, list items or brackets deeper than a
    reader of it could mean, before pandoc spends minutes on it."""
    unescaped = _ESCAPED.sub("", body)
    if _NESTED_LINE_START.search(unescaped):
        raise SeedError(path, f"the body opens more than {MAX_LINE_NESTING} block quotes or lists "
                              "on one line; a master holds plain paragraphs")
    if _bracket_depth(unescaped) > MAX_BRACKET_NESTING:
        raise SeedError(path, f"the body nests [brackets] more than {MAX_BRACKET_NESTING} deep; "
                              "put a backslash before a literal [")


def _bracket_depth(text: str) -> int:
    depth = deepest = 0
    for bracket in _NOT_BRACKET.sub("", text):
        # A ']' with no '[' open is literal text, not the end of a level.
        depth = depth + 1 if bracket == "[" else max(0, depth - 1)
        deepest = max(deepest, depth)
    return deepest


#: Inline elements a master's paragraph may hold: text, spaces and line breaks.
_PLAIN_INLINES = frozenset(("Str", "Space", "SoftBreak", "LineBreak"))


def _plain_text(inline_list: list[dict], path: Path | str) -> str:
    """The paragraph's text; SeedError for markup, whose meaning (a link's URL, a
    footnote, emphasis) the editions could not keep and would silently drop."""
    for node in inline_list:
        if node["t"] not in _PLAIN_INLINES:
            raise SeedError(path, f"unsupported Markdown ({node['t']}) in '{_quoted(inline_list)}': "
                                  "a master holds plain text; put a backslash before literal * _ [ ` <")
    return stringify(inline_list)


def _quoted(inline_list: list[dict]) -> str:
    """The start of some inlines' text as an error quotes it: on one line (display math,
    a line break and code keep theirs in the text), at most 40 characters."""
    return " ".join(stringify(inline_list).split())[:40]


def _sections(blocks: list[dict], path: Path | str) -> dict[str, list[tuple[str, str | None]]]:
    """The paragraphs of each section, each with the language its fenced div names (or None)."""
    sections: dict[str, list[tuple[str, str | None]]] = {}
    current: list[tuple[str, str | None]] | None = None
    for block in blocks:
        kind, lang = block["t"], None
        if kind == "Div":
            block, lang = _language_div(block, path)
            kind = block["t"]
        if kind == "Header" and block["c"][0] == 1:
            identifier = block["c"][1][0]
            if identifier not in ("summary", "commentary") or identifier in sections:
                raise SeedError(path, f"unexpected heading '{_quoted(block['c'][2])}': a master has "
                                      "one '# … {#summary}' and one '# … {#commentary}'")
            current = sections[identifier] = []
        elif kind in ("Para", "Plain"):
            if current is None:
                raise SeedError(path, "text before the '{#summary}' heading")
            text = fold(_plain_text(block["c"], path))
            if text:  # nothing but a line break: no paragraph, as in a seed
                current.append((text, lang))
        else:
            raise SeedError(path, f"unsupported Markdown block ({kind}): a master holds plain paragraphs")
    if "summary" not in sections or not sections["summary"]:
        raise SeedError(path, "no paragraph under the '{#summary}' heading")
    sections.setdefault("commentary", [])
    return sections


def _language_div(div: dict, path: Path | str) -> tuple[dict, str]:
    """The one paragraph of a `::: {lang=TAG}` div and its language; SeedError for any other div."""
    (identifier, classes, attributes), content = div["c"]
    if identifier or classes or [name for name, _value in attributes] != ["lang"]:
        raise SeedError(path, "unsupported Markdown block (Div): the one div a master holds is "
                              "'::: {lang=TAG}', marking a paragraph's language")
    lang = attributes[0][1]
    if not is_language_tag(lang):
        raise SeedError(path, f"'::: {{lang=…}}' needs a BCP 47 language tag (at most {MAX_TAG_LENGTH} characters)")
    if len(content) != 1 or content[0]["t"] not in ("Para", "Plain"):
        raise SeedError(path, "a '::: {lang=TAG}' div holds exactly one paragraph")
    return content[0], lang
