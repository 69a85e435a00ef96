"""Facets of the hand-out (issue 24): the values of each facet group (language, year, month,
author, tag) a title has, the titles of each value, and the facet links a feed page carries.

A title's year and month are those of the publication date a person gave (the master's
`date`), else of the day it was archived; its language is the one its text is marked in
(none when undetermined); its author and tags are those its master gives. Each value's
titles are paged exactly as the whole archive is (paging.Pages), in files named by
layout.facet_name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton

from convert.dates import utc
from convert.document.labels import labels
from convert.layout import BROWSE_GROUPS, FACET_GROUPS, browse_name, facet_name
from convert.publish.entries import Entry
from convert.web import html_text

#: The language of the words the feeds and the index put around facets.
FACET_WORDS_LANGUAGE = "en"
#: The values of one group the archive's start feeds link, those with the most titles: an
#: archive of 100,000 titles may have tens of thousands of authors, and the start feeds are
#: fetched by every reader and rewritten at every run. The browse pages list every value.
START_FACETS_PER_GROUP = 50


@dataclass(frozen=True)
class Facet:
    """One value of one facet group: year "2024", month "2024-03", language "fr", author
    "Jane Doe", tag "x < y". The value is any text the catalog holds, escaped wherever
    it is written and never part of a file name as it is."""

    group: str
    """One of layout.FACET_GROUPS."""
    value: str
    """The value as the titles carry it."""

    def start(self, start: str) -> str:
        """The start page of this value's list, for the document whose start page is `start`."""
        return facet_name(start, self.group, self.value)

    def label(self, language: str = FACET_WORDS_LANGUAGE) -> str:
        """The value as a reader reads it in `language`: a language by its own name
        ("français"), a month by its name and year ("March 2024"), anything else as it is."""
        if self.group == "language":
            return language_name(self.value)
        if self.group == "month":
            year, month = self.value.split("-")
            return format_skeleton("yMMMM", date(int(year), int(month), 1), locale=_locale(language))
        return self.value

    def sort_key(self) -> tuple:
        """Years and months newest first; languages, authors and tags alphabetically."""
        if self.group in ("year", "month"):
            return (FACET_GROUPS.index(self.group), "", tuple(-ord(c) for c in self.value))
        return (FACET_GROUPS.index(self.group), self.value.casefold(), tuple(ord(c) for c in self.value))


def group_label(group: str, language: str = FACET_WORDS_LANGUAGE) -> str:
    """The name of facet `group` in `language` (labels.toml's browse_<group>)."""
    return getattr(labels(language), f"browse_{group}")


def facet_heading(facet: Facet, language: str = FACET_WORDS_LANGUAGE) -> str:
    """The group and the value of `facet` as one phrase in `language`: "Author: Jane Doe"."""
    return labels(language).browse_of.format(group=group_label(facet.group, language), value=facet.label(language))


def language_name(tag: str) -> str:
    """The language `tag` by its own name, as Babel knows it ("français", "日本語"), else the tag."""
    try:
        name = Locale.parse(tag, sep="-").display_name
    except (UnknownLocaleError, ValueError, TypeError):
        return tag
    return name or tag


def _locale(language: str) -> Locale:
    try:
        return Locale.parse(labels(language).language, sep="-")
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def facets_of(entry: Entry) -> list[Facet]:
    """Every facet value `entry` has, in group order, each once."""
    day = entry.published_day() or utc(entry.date).date().isoformat()
    found = [Facet("year", day[:4]), Facet("month", day[:7])]
    if entry.marked_lang() is not None:
        found.insert(0, Facet("language", entry.marked_lang()))
    if entry.author is not None:
        found.append(Facet("author", entry.author))
    found.extend(Facet("tag", tag) for tag in dict.fromkeys(entry.tags or ()))
    return found


class FacetIndex:
    """Every facet value of a set of entries and its titles, in the order given (oldest
    first, as Pages wants them)."""

    def __init__(self, entries: Sequence[Entry]):
        self.members: dict[Facet, list[Entry]] = {}
        for entry in entries:
            for facet in facets_of(entry):
                self.members.setdefault(facet, []).append(entry)

    def facets(self, group: str | None = None) -> list[Facet]:
        """The values of `group` (of every group when None), in display order."""
        return sorted((facet for facet in self.members if group in (None, facet.group)), key=Facet.sort_key)

    def count(self, facet: Facet) -> int:
        return len(self.members.get(facet, ()))

    def digest(self, groups: Iterable[str] = FACET_GROUPS) -> str:
        """A digest of the values of `groups` and their counts: what a page that lists them is
        rendered from."""
        wanted = set(groups)
        return hashlib.sha256(repr([(facet.group, facet.value, self.count(facet))
                                    for facet in self.facets() if facet.group in wanted]).encode()).hexdigest()


@dataclass(frozen=True)
class FacetLink:
    """One facet link of a feed page: OPDS 1.2's rel="http://opds-spec.org/facet" with its
    opds:facetGroup, thr:count and opds:activeFacet; OPDS 2.0's link in `facets`."""

    facet: Facet
    count: int | None
    """The number of titles with this value, on the pages rewritten whenever it changes; None elsewhere."""
    active: bool
    """True on the pages of this value's own list."""


def facet_links(index: FacetIndex, page: Sequence[Entry], *, active: Facet | None, whole: bool,
                count_active: bool = False) -> list[FacetLink]:
    """The facet links of one feed page, in display order. `whole` (the archive's start page,
    rewritten at every new title): the values of the archive, with their counts, at most
    START_FACETS_PER_GROUP a group (those with the most titles). Any other
    page (an older page, or a page of one value's list) never changes for a title it does
    not hold, so it links the values of its own titles only, without counts, and marks
    `active`, the value it lists; `count_active` gives that one its count (its own start
    page, rewritten whenever that count changes)."""
    if whole:
        shown = []
        for group in dict.fromkeys(facet.group for facet in index.facets()):
            values = index.facets(group)
            if len(values) > START_FACETS_PER_GROUP:
                largest = sorted(values, key=lambda facet: (-index.count(facet), facet.sort_key()))
                values = sorted(largest[:START_FACETS_PER_GROUP], key=Facet.sort_key)
            shown += values
        return [FacetLink(facet, index.count(facet), False) for facet in shown]
    shown = {facet for entry in page for facet in facets_of(entry)}
    if active is not None:
        shown.add(active)
    return [FacetLink(facet, index.count(facet) if facet == active and count_active else None, facet == active)
            for facet in sorted(shown, key=Facet.sort_key)]


def browse_line(language: str = FACET_WORDS_LANGUAGE) -> str:
    """The line of the index that leads to the lists by language, year, author and tag, in
    `language`. The same on every page, so that it never rewrites an older one."""
    words = labels(language)
    links = " · ".join(f'<a href="{browse_name(group)}">{html_text(group_label(group, language))}</a>'
                       for group in BROWSE_GROUPS)
    line = html_text(words.browse_of).format(group=html_text(words.browse), value=links)
    return f'<nav class="browse" aria-label="{html_text(words.browse)}">{line}</nav>'
