"""The words seedpress puts in front of a reader, in the language of the document.

The strings live in labels.toml beside this module, one table per BCP 47 tag, so
that a translator reviews one file and never Python. A document's tag (from the
seed or a language detector) is matched to the closest table; anything the file
does not have is labelled in English, so an edition is never left without words.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache, lru_cache
from importlib.resources import files

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_decimal

from convert.web import SIZE_UNITS, human_size, scaled_size, size_decimals

FALLBACK_LANGUAGE = "en"
#: English dates stay in the form today's editions print ("28 November 2026"),
#: which is British English's long form, not Babel's American default.
ENGLISH_DATE_LOCALE = "en_GB"
#: Regions whose Chinese is written in traditional characters when the tag names no script.
_TRADITIONAL_CHINESE_REGIONS = frozenset({"tw", "hk", "mo"})
#: Deprecated language subtags still found in older documents.
_LEGACY_LANGUAGES = {"iw": "he"}


@dataclass(frozen=True)
class Labels:
    """Every reader-visible string of one language; `language` is the labels.toml tag they are in."""

    language: str
    summary_heading: str
    commentary_heading: str
    no_commentary: str
    kicker: str
    cover_kicker: str
    cover_subtitle: str
    cover_footer: str
    cover_alt: str
    cover: str
    contents: str
    titles: str
    title_one: str
    updated: str
    downloads: str
    source_text: str
    cite: str
    """Heads the landing page's section on citing the title."""
    checksums: str
    """Opens the landing page's list of each file's SHA-256."""
    author: str
    by: str
    """"by {author}": a title's author on the index."""
    publisher: str
    rights: str
    license: str
    marker: str
    """The marker paragraph as a seed writes it, "Read the original article here"."""
    marker_short: str
    """Its common short form, "Read the original article"."""
    archived: str
    """"archived {date}": the build date, where an edition would give a publication date it lacks."""
    browse: str
    """In front of the links to the lists of titles by language, year, author and tag."""
    browse_language: str
    browse_year: str
    browse_month: str
    browse_author: str
    browse_tag: str
    browse_all: str
    """Leads from a list of some titles back to every title."""
    browse_of: str
    """"{group}: {value}", a facet group and one of its values ("Author: Jane Doe")."""
    more_formats: str
    """The index's disclosure of an entry's other downloads (DOCX, Markdown, the source text)."""
    pages: str
    """The name of the index's page navigation."""
    page: str
    """"Page {number}": one page of the index."""
    newer: str
    older: str
    newest: str
    """The link to the index's start page, which holds the newest titles."""
    range: str
    """"Titles {first}–{last}": the titles an older page of the index holds, numbered from the oldest."""
    range_of: str
    """"{first}–{last} of {total}": the titles the start page of the index holds, and how many there are."""
    search_archive: str
    search: str
    search_results: str
    """"Results for “{query}”": heads the index's answer to a search in its box."""
    show_more: str
    """The button under that answer that lists the next titles found."""
    catalog: str
    nothing_yet: str
    no_author: str
    """The list of authors while no title names one: "No title names an author yet."."""
    no_tag: str
    """The list of tags while no title has one: "No title has a tag yet."."""
    index_about: str
    """The index's footer: what each title holds."""
    check_downloads: str
    """"Check your downloads with {command}.": {command} is `sha256sum -c SHA256SUMS`."""


LABEL_KEYS = tuple(field.name for field in fields(Labels) if field.name != "language")


@cache
def _all_labels() -> dict[str, Labels]:
    """Every table of labels.toml as Labels, read once; ValueError if a table lacks or adds a key."""
    table = tomllib.loads(files(__package__).joinpath("labels.toml").read_text("utf-8"))
    found = {}
    for language, strings in table.items():
        missing = set(LABEL_KEYS) - set(strings)
        unknown = set(strings) - set(LABEL_KEYS)
        if missing or unknown:
            raise ValueError(
                f"labels.toml [{language}]: missing {sorted(missing)}, unknown {sorted(unknown)}"
            )
        found[language] = Labels(language=language, **{key: strings[key] for key in LABEL_KEYS})
    return found


LABEL_LANGUAGES: frozenset[str] = frozenset(_all_labels())
_BY_LOWER_CASE = {language.lower(): language for language in LABEL_LANGUAGES}


def label_language(tag: str) -> str:
    """The labels.toml tag closest to the BCP 47 `tag`; English when none fits."""
    subtags = []
    for subtag in str(tag).strip().replace("_", "-").lower().split("-"):
        if len(subtag) <= 1:
            break  # an extension or private-use part ("-u-…", "-x-…") says nothing about the words
        subtags.append(subtag)
    if not subtags:
        return FALLBACK_LANGUAGE
    subtags[0] = _LEGACY_LANGUAGES.get(subtags[0], subtags[0])
    if subtags[0] == "zh":
        return _chinese(subtags[1:])
    for end in range(len(subtags), 0, -1):
        language = _BY_LOWER_CASE.get("-".join(subtags[:end]))
        if language is not None:
            return language
    return FALLBACK_LANGUAGE


def _chinese(subtags: list[str]) -> str:
    """zh-Hant for a traditional script or region, else zh-Hans (the script most Chinese is written in)."""
    if "hant" in subtags:
        return _BY_LOWER_CASE.get("zh-hant", FALLBACK_LANGUAGE)
    if "hans" not in subtags and _TRADITIONAL_CHINESE_REGIONS.intersection(subtags):
        return _BY_LOWER_CASE.get("zh-hant", FALLBACK_LANGUAGE)
    return _BY_LOWER_CASE.get("zh-hans", FALLBACK_LANGUAGE)


def marker_forms() -> tuple[str, ...]:
    """Every way labels.toml writes the marker, in every language (a seed's marker is
    recognised whatever its detected language)."""
    return tuple(dict.fromkeys(form for words in _all_labels().values()
                               for form in (words.marker, words.marker_short)))


def marker_forms_by_language() -> tuple[tuple[str, str], ...]:
    """(language, form) for every way labels.toml writes the marker, the long form first."""
    return tuple((language, form) for language, words in _all_labels().items()
                 for form in (words.marker, words.marker_short))


def labels(tag: str) -> Labels:
    """The labels for a document in the BCP 47 language `tag`."""
    return _all_labels()[label_language(tag)]


def foreign_label_language(tag: str) -> str | None:
    """The language the labels of a document in `tag` are in when that is not the
    document's own (a language labels.toml lacks gets English labels, marked as such);
    None when they are in the document's language."""
    from convert.document.language import same_language

    language = label_language(tag)
    return None if same_language(language, tag) else language


@lru_cache(maxsize=64)
def _date_locale(tag: str) -> Locale:
    """The Babel locale for dates in `tag`: its own if Babel knows it, else its labels' language."""
    language = label_language(tag)
    if language == FALLBACK_LANGUAGE:
        return Locale.parse(ENGLISH_DATE_LOCALE)
    # The tag itself comes first so a regional form (de-AT's "Jänner") is kept, but
    # only if it is still the labels' language: the date sits inside a label.
    for candidate in (str(tag).strip().replace("_", "-"), language):
        try:
            locale = Locale.parse(candidate, sep="-")
        except (UnknownLocaleError, ValueError, TypeError):
            continue
        if label_language(str(locale)) == language:
            return locale
    return Locale.parse(ENGLISH_DATE_LOCALE)


def long_date(moment: datetime, tag: str) -> str:
    """The day of `moment` written out in the language of `tag`, e.g. "28 novembre 2026"."""
    return format_date(moment.date(), format="long", locale=_date_locale(tag))


def file_size(size: int, tag: str) -> str:
    """A file size as a reader of `tag` writes it, by Babel (CLDR's short units): "7,3 ko",
    "7,3 кБ", "34 kB"; where the labels are English, web.human_size's "812 bytes", "7.3 kB"."""
    if label_language(tag) == FALLBACK_LANGUAGE:
        return human_size(size)
    from babel.units import format_unit  # only where pages are written: not at every start

    locale = _date_locale(tag)
    if size < 1000:
        return format_unit(size, "digital-byte", length="short", locale=locale)
    value, index = scaled_size(size)
    pattern = "0.0" if size_decimals(value) else "0"
    return format_unit(value, SIZE_UNITS[index][1], length="short", format=pattern, locale=locale)


def titles_count(count: int, tag: str, shown: str | None = None) -> str:
    """"12 titles" in the language of `tag`, the count written as `shown` (default: as it
    is): title_one where the language's plural rule (CLDR's, by Babel) calls the count
    "one" (1 in English; 0 and 1 in French; 1, 21, 101 in Russian), titles otherwise."""
    words = labels(tag)
    one = _date_locale(tag).plural_form(count) == "one"
    return (words.title_one if one else words.titles).format(count=str(count) if shown is None else shown)


def format_number(value: int, tag: str) -> str:
    """`value` written as a reader of `tag` writes numbers ("1,100", "1 100", "1.100"), by Babel."""
    return format_decimal(value, locale=_date_locale(tag))
