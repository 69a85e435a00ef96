"""A master's frontmatter, read as the untrusted input it is (DESIGN §2, §7).

A master comes from elsewhere just as a seed does, and YAML can do far more than
a master needs: aliases that grow a few hundred bytes into gigabytes, dates and
numbers whose construction raises, nesting deep enough to exhaust the stack,
tags that build other types. So the YAML's event stream is checked before
anything is built from it, what is built is only text, numbers, booleans,
lists and mappings, and then every field is checked for type and range: what
reaches the editions is no worse than what a seed could give.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from convert import defaults
from convert.document.language import MAX_TAG_LENGTH, is_language_tag, tag_example
from convert.document.model import MAX_MARKER_TEXT, NOTICES, OriginalArticle, Source
from convert.document.provenance import (
    ALIASES,
    CREDITS,
    DATE_REQUIREMENT,
    MAX_DESCRIPTION,
    MAX_URL,
    TAGS_REQUIREMENT,
    TEXT_REQUIREMENT,
    URL_REQUIREMENT,
    Provenance,
    date_problem,
    is_web_url,
    tags_problem,
    text_problem,
    url_problem,
)
from convert.document.seed import ENCODINGS, fold, replace_unrepresentable
from convert.errors import SeedError
from convert.names import MAX_SHOWN_NAME

#: The longest frontmatter, and the longest title, in characters: what the
#: largest seed could give, so every master seedpress writes reads back.
MAX_TEXT = defaults.MAX_BYTES
#: How deep mappings and lists may nest; seedpress writes 3 (sections.summary.words).
MAX_DEPTH = 8
#: How many YAML nodes the frontmatter may hold; seedpress writes about 40.
MAX_NODES = 10_000
#: The longest number, in characters; a longer one stays text (see `_or_text`).
MAX_NUMBER = 40
#: Explicit tags a master may use: YAML's core types; no binary, dates, sets or Python objects.
CORE_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq")
)
SHA256 = re.compile(r"[0-9a-f]{64}\Z")
#: A file name as the master records it: shown() escapes what is not UTF-8 or a control
#: character with backslashes, so a backslash is part of a name, and a name of 255
#: bytes may take four characters a byte.
MAX_FILE_NAME = MAX_SHOWN_NAME
_NOT_IN_FILE_NAME = re.compile(r"[/\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
#: The largest count a file size (off_t) can be.
MAX_COUNT = 2**63 - 1
_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: The fields every master holds: seedpress writes them, and a master cannot be read without.
REQUIRED_FIELDS = ("title", "lang", "source")


@dataclass(frozen=True)
class Frontmatter:
    """The fields of a master's frontmatter that make up its Document."""

    title: str
    """The title, its whitespace folded as a seed's title is."""
    lang: str
    """The BCP 47 tag of the text."""
    source: Source
    """The seed's facts; `replaced` also counts characters replaced in this frontmatter."""
    original_article: OriginalArticle | None
    """The marker, or None."""
    provenance: Provenance = Provenance()
    """Author, publisher, rights and license, where the master gives them (each wins over
    seedpress.toml and the command line for this document)."""
    notices: tuple[str, ...] = ()
    """What the seed reader guessed (model.NOTICES' codes), as the master records it."""


def read_frontmatter(text: str, path: Path | str) -> Frontmatter:
    """The checked fields of the YAML `text`; SeedError naming `path` and the first bad field."""
    meta = load_yaml(text, path)
    for name in REQUIRED_FIELDS:
        if meta.get(name) is None:
            # A master written by hand from nothing, or one whose field was deleted or emptied:
            # say it is missing, not that its value (there is none) has the wrong form.
            raise SeedError(path, f"frontmatter has no '{name}' (a master keeps {', '.join(REQUIRED_FIELDS)} "
                                  "as seedpress wrote them; a new title starts as a .txt seed)")
    title, replaced_in_title = _text(meta.get("title"), path, "title", MAX_TEXT)
    lang = _language_tag(meta.get("lang"), path)
    source = _source(meta.get("source"), path)
    # The identifier is derived from the hash; one that says otherwise is not believed.
    identifier = f"urn:sha256:{source.sha256}"
    if meta.get("identifier", identifier) != identifier:
        raise _bad_field(path, "identifier", "urn:sha256: followed by source.sha256")
    article, replaced_in_marker = _original_article(meta.get("original_article"), path)
    return Frontmatter(
        title=title, lang=lang, original_article=article,
        source=replace(source, replaced=source.replaced + replaced_in_title + replaced_in_marker),
        provenance=_provenance(meta, path),
        notices=_notices(meta.get("notices"), path),
    )


# --- the YAML, bounded ----------------------------------------------------------------

class _Refused(Exception):
    """The frontmatter holds YAML a master may not; the message says what and where."""


class _MasterLoader(_BASE_LOADER):
    """yaml's safe loader, building only what a master holds."""


def _as_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    # A title is text even when it looks like a date (2024-01-01, or 2024-13-45,
    # which would raise): dates stay as written. Also `=`, YAML 1.1's "value" key.
    return loader.construct_scalar(node)


def _or_text(construct):
    """A constructor that leaves a scalar as written where Python cannot safely make
    its type of it: longer than MAX_NUMBER (a 5,000-digit integer is past Python's
    int/str conversion limit), or malformed in a way YAML 1.1's patterns let
    through (`0b_`, `._`, `!!bool maybe`). A field that needs a number then says so."""

    def construct_or_text(loader: yaml.SafeLoader, node: yaml.Node):
        if not isinstance(node, yaml.ScalarNode) or len(node.value) <= MAX_NUMBER:
            try:
                return construct(loader, node)
            except (ValueError, KeyError):
                pass
        return loader.construct_scalar(node)

    return construct_or_text


_MasterLoader.add_constructor("tag:yaml.org,2002:timestamp", _as_text)
_MasterLoader.add_constructor("tag:yaml.org,2002:value", _as_text)
_MasterLoader.add_constructor("tag:yaml.org,2002:int", _or_text(yaml.SafeLoader.construct_yaml_int))
_MasterLoader.add_constructor("tag:yaml.org,2002:float", _or_text(yaml.SafeLoader.construct_yaml_float))
_MasterLoader.add_constructor("tag:yaml.org,2002:bool", _or_text(yaml.SafeLoader.construct_yaml_bool))


def load_yaml(text: str, path: Path | str) -> dict:
    """The frontmatter as a mapping, built only after its events passed `_check_events`."""
    if len(text) > MAX_TEXT:
        raise SeedError(path, f"frontmatter larger than {MAX_TEXT} characters")
    try:
        _check_events(yaml.parse(text, Loader=_MasterLoader))
        meta = yaml.load(text, Loader=_MasterLoader)
    except _Refused as refused:
        raise SeedError(path, f"frontmatter holds YAML a master may not: {refused}") from None
    except yaml.YAMLError as error:
        raise SeedError(path, f"frontmatter is not valid YAML: {_problem(error)}") from None
    if not isinstance(meta, dict):
        raise SeedError(path, "frontmatter must be a mapping")
    return meta


def _check_events(events) -> None:
    """Refuse aliases, anchors, other tags, deep nesting and too many nodes, from the
    event stream: nothing is built yet, so none of them costs memory or stack."""
    depth = nodes = 0
    for event in events:
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"an alias (*{event.anchor[:40]}, line {line}); write the value out")
        if not isinstance(event, yaml.NodeEvent):
            continue
        if event.anchor is not None:
            raise _Refused(f"an anchor (&{event.anchor[:40]}, line {line})")
        if event.tag is not None and event.tag not in CORE_TAGS:
            raise _Refused(f"the tag {_short_tag(event.tag)} (line {line})")
        nodes += 1
        if nodes > MAX_NODES:
            raise _Refused(f"more than {MAX_NODES} values")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused(f"mappings or lists nested more than {MAX_DEPTH} deep (line {line})")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _short_tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")[:60]


def _problem(error: yaml.YAMLError) -> str:
    """One line saying what is wrong and where."""
    problem = getattr(error, "problem", None) or getattr(error, "reason", None) or "invalid YAML"
    mark = getattr(error, "problem_mark", None)
    return f"{problem} (line {mark.line + 1})" if mark is not None else problem


# --- the fields, checked --------------------------------------------------------------

def _bad_field(path: Path | str, name: str, requirement: str) -> SeedError:
    return SeedError(path, f"frontmatter field '{name}' must be {requirement}")


def _text(value: object, path: Path | str, name: str, limit: int) -> tuple[str, int]:
    """Text as a seed's paragraph reads: unrepresentable characters replaced (and
    counted), whitespace folded; SeedError if it is not text, too long or blank."""
    if not isinstance(value, str) or len(value) > limit:
        raise _bad_field(path, name, f"text of at most {limit} characters (in quotes if YAML reads it "
                                     "as another type)")
    text, replaced = replace_unrepresentable(value)
    text = fold(text)
    if not text:
        raise _bad_field(path, name, "non-empty text")
    return text, replaced


def _language_tag(value: object, path: Path | str) -> str:
    if not is_language_tag(value):
        raise _bad_field(path, "lang", f"a BCP 47 language tag of at most {MAX_TAG_LENGTH} characters "
                                       f"({tag_example(value)})")
    return value


def _count(value: object, path: Path | str, name: str) -> int:
    # bool is an int to Python, not to a reader of `bytes: true`.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise _bad_field(path, name, f"a whole number from 0 to {MAX_COUNT}")
    return value


def _source(value: object, path: Path | str) -> Source:
    if not isinstance(value, dict):
        raise _bad_field(path, "source", "a mapping with file, sha256, encoding and bytes")
    name = value.get("file")
    if (not isinstance(name, str) or not 0 < len(name) <= MAX_FILE_NAME or name in (".", "..")
            or _NOT_IN_FILE_NAME.search(name)):
        raise _bad_field(path, "source.file", f"a file name without folders, "
                                              f"at most {MAX_FILE_NAME} characters")
    digest = value.get("sha256")
    if not (isinstance(digest, str) and SHA256.match(digest)):
        raise _bad_field(path, "source.sha256", "64 lowercase hex digits")
    encoding = value.get("encoding")
    if not (isinstance(encoding, str) and encoding in ENCODINGS):
        raise _bad_field(path, "source.encoding", f"one of {', '.join(sorted(ENCODINGS))}")
    return Source(
        file=name, sha256=digest, encoding=encoding,
        bytes=_count(value.get("bytes"), path, "source.bytes"),
        replaced=_count(value.get("replaced", 0), path, "source.replaced"),
    )


def _original_article(value: object, path: Path | str) -> tuple[OriginalArticle | None, int]:
    if value is None:
        return None, 0
    if not isinstance(value, dict):
        raise _bad_field(path, "original_article", "null or a mapping with text and url")
    text, replaced = _text(value.get("text"), path, "original_article.text", MAX_MARKER_TEXT)
    url = value.get("url")
    if url is not None and not is_web_url(url):
        raise _bad_field(path, "original_article.url", f"null or an http(s) URL of at most {MAX_URL} "
                                                       "characters")
    return OriginalArticle(text=text, url=url), replaced


def _notices(value: object, path: Path | str) -> tuple[str, ...]:
    """The notices a master records: absent, or a list of distinct known codes."""
    if value is None:
        return ()
    if (not isinstance(value, list) or not all(isinstance(code, str) and code in NOTICES for code in value)
            or len(set(value)) != len(value)):
        raise _bad_field(path, "notices", f"a list of distinct notices among {', '.join(NOTICES)}")
    return tuple(value)


def _provenance(meta: dict, path: Path | str) -> Provenance:
    """author, publisher, rights and license_url, date, description and keywords (or tags) as
    the master gives them: each absent or null (then seedpress.toml's or the command line's
    counts), or checked as seedpress.toml's are."""
    given = {}
    for name in CREDITS:
        value = meta.get(name)
        if value is None:
            continue
        if name == "license_url":
            if url_problem(value) is not None:
                raise _bad_field(path, name, f"null or {URL_REQUIREMENT}")
        elif text_problem(value) is not None:
            raise _bad_field(path, name, f"null or {TEXT_REQUIREMENT} (in quotes if YAML reads it as "
                                         "another type)")
        given[name] = value
    if meta.get("date") is not None:
        problem = date_problem(meta["date"])
        if problem is not None:
            # The requirement once, with the reason only when it says more ("month must be in 1..12").
            said = "" if problem == f"must be {DATE_REQUIREMENT}" else f" ({problem})"
            raise _bad_field(path, "date", f"null or {DATE_REQUIREMENT}{said}")
        given["published"] = meta["date"]
    if meta.get("description") is not None:
        description = meta["description"]
        if isinstance(description, str):
            description = fold(description)
        if text_problem(description, MAX_DESCRIPTION) is not None:
            raise _bad_field(path, "description", f"null or text of at most {MAX_DESCRIPTION} characters, "
                                                  "without control characters")
        given["description"] = description
    named = [key for key, field in ALIASES.items() if field == "tags" and meta.get(key) is not None]
    named += ["tags"] if meta.get("tags") is not None else []
    if len(named) > 1:
        raise SeedError(path, "frontmatter gives both 'keywords' and 'tags': keep one")
    if named:
        if tags_problem(meta[named[0]]) is not None:
            raise _bad_field(path, named[0], f"null or {TAGS_REQUIREMENT}")
        given["tags"] = tuple(meta[named[0]])
    return Provenance(**given)
