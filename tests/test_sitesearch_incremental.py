"""The static search costs O(1) per new title (issue 23): each full hand-out page of
PAGE_SIZE titles has a Pagefind index made once, the open page's is made at each change,
and search.js merges them. Real landing pages, the real Pagefind, a real headless Chromium
over a plain static file server; the hand-out is written from entries made the way the
catalog gives them, so that no edition needs rendering for a few hundred titles."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from convert.document.seed import parse_seed
from convert.editions.landing import landing_page
from convert.layout import BUNDLE_ENTRY, BUNDLE_MANIFEST, BUNDLE_NAME, BUNDLE_PAGES_NAME, LANDING_EDITION
from convert.publish.entries import Edition, Entry, oldest_first
from convert.publish.handout import write_handout
from convert.publish.paging import PAGE_SIZE
from convert.publish.sitesearch import index_full_open_page_ahead, refresh_bundle

pytestmark = pytest.mark.slow

#: Long enough for a loaded machine to start Chromium and load every index; a deadline, not a wait.
BROWSER_DEADLINE_MS = 120_000
#: Full pages in the archive the tests start from; the open page holds a few more titles.
FULL_PAGES = 2
OPEN_TITLES = 3
START = datetime(2024, 1, 1, tzinfo=UTC)


def word(number: int) -> str:
    """A word only title `number` has (letters only, so every tokenizer keeps it whole)."""
    return "zq" + "".join("abcdefghij"[int(digit)] for digit in f"{number:05d}") + "x"


def add_title(dist: Path, number: int) -> Entry:
    """Write title `number`'s landing page into dist and return its hand-out entry."""
    key = f"title-{number:05d}"
    seed = (f"Harbour news number {number}\n\nThe harbour board met about {word(number)} on Tuesday.\n\n"
            "Read the original article here\n\nNothing else.\n").encode()
    page = landing_page(parse_seed(seed, f"{key}.txt", lang="en"), key, {}, START)
    (dist / key).mkdir(parents=True)
    (dist / key / "index.html").write_bytes(page)
    landing = Edition(LANDING_EDITION, f"{key}/index.html", len(page), hashlib.sha256(page).hexdigest())
    return Entry(key=key, title=f"Harbour news number {number}",
                 identifier=f"urn:sha256:{hashlib.sha256(key.encode()).hexdigest()}",
                 summary=f"The harbour board met about {word(number)}.", date=START + timedelta(hours=number),
                 editions=(landing,))


def publish(dist: Path, entries: list[Entry]) -> bool:
    """What the archive job does after its builds: the hand-out, then the search bundle."""
    write_handout(dist, entries)
    return refresh_bundle(dist, [(edition.path, edition.sha256) for entry in oldest_first(entries)
                                 for edition in entry.editions if edition.name == LANDING_EDITION])


def index_files(dist: Path) -> dict[str, tuple[int, str]]:
    """Every file of the static search, by path under dist: its inode and sha256."""
    return {str(path.relative_to(dist)): (path.stat().st_ino, hashlib.sha256(path.read_bytes()).hexdigest())
            for folder in (BUNDLE_NAME, BUNDLE_PAGES_NAME) for path in (dist / folder).rglob("*") if path.is_file()}


def listed_indexes(dist: Path) -> list[Path]:
    """The full pages' indexes the open page's bundle lists, as folders in dist."""
    listed = json.loads((dist / BUNDLE_NAME / BUNDLE_MANIFEST).read_text())["pages"]
    return [(dist / BUNDLE_NAME / page["path"]).resolve() for page in listed]


def indexed_text(folder: Path) -> str:
    """An index's fragments (gzip'd JSON of each page's title and text), as one text."""
    import gzip

    return "\n".join(gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
                     for path in (folder / "fragment").iterdir())


def page_count_of(folder: Path) -> int:
    return sum(language["page_count"] for language in json.loads((folder / BUNDLE_ENTRY).read_text())["languages"]
               .values())


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, list[Entry]]:
    dist = tmp_path_factory.mktemp("incremental") / "dist"
    entries = [add_title(dist, number) for number in range(FULL_PAGES * PAGE_SIZE + OPEN_TITLES)]
    assert publish(dist, entries)
    return dist, entries


@pytest.fixture
def copied(archive, tmp_path) -> tuple[Path, list[Entry]]:
    dist, entries = archive
    shutil.copytree(dist, tmp_path / "dist")
    return tmp_path / "dist", list(entries)


def test_each_full_page_has_its_own_index_and_the_open_page_the_rest(archive):
    dist, entries = archive
    indexes = listed_indexes(dist)
    assert len(indexes) == FULL_PAGES
    assert sorted(path.name for path in (dist / BUNDLE_PAGES_NAME).iterdir()) == sorted(path.name for path in indexes)
    assert [page_count_of(folder) for folder in indexes] == [PAGE_SIZE] * FULL_PAGES
    assert page_count_of(dist / BUNDLE_NAME) == OPEN_TITLES
    # The hand-out's order: the first index holds the oldest titles, the open page the newest.
    assert word(0) in indexed_text(indexes[0]) and word(PAGE_SIZE) in indexed_text(indexes[1])
    assert word(len(entries) - 1) in indexed_text(dist / BUNDLE_NAME)
    # A full page's index is what is merged: no second copy of Pagefind's scripts.
    assert not list(indexes[0].glob("*.js")) and not list(indexes[0].glob("wasm.*"))


def test_one_new_title_indexes_only_the_open_page(copied):
    dist, entries = copied
    before = index_files(dist)
    assert publish(dist, [*entries, add_title(dist, len(entries))])
    after = index_files(dist)
    changed = {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
    assert changed and all(path.startswith(f"{BUNDLE_NAME}/") for path in changed), sorted(changed)
    # Not even rewritten with the same bytes: the full pages' files are the same inodes.
    assert {path: value for path, value in after.items() if path.startswith(BUNDLE_PAGES_NAME)} == \
           {path: value for path, value in before.items() if path.startswith(BUNDLE_PAGES_NAME)}
    assert word(len(entries)) in indexed_text(dist / BUNDLE_NAME)
    assert page_count_of(dist / BUNDLE_NAME) == OPEN_TITLES + 1


def test_the_title_that_fills_a_page_and_the_next_index_one_page_each(copied):
    """Variant: filling the open page leaves it open; the title after it makes the full
    page's index once (one new folder, the others untouched) and starts a new open page."""
    dist, entries = copied
    entries += [add_title(dist, number) for number in range(len(entries), (FULL_PAGES + 1) * PAGE_SIZE)]
    assert publish(dist, entries)
    assert len(listed_indexes(dist)) == FULL_PAGES and page_count_of(dist / BUNDLE_NAME) == PAGE_SIZE
    before = index_files(dist)
    entries.append(add_title(dist, len(entries)))
    assert publish(dist, entries)
    after = index_files(dist)
    old = {path: value for path, value in before.items() if path.startswith(BUNDLE_PAGES_NAME)}
    assert {path: after[path] for path in old} == old
    new_folders = {Path(path).parts[1] for path in after.keys() - before.keys() if path.startswith(BUNDLE_PAGES_NAME)}
    assert len(new_folders) == 1 and len(listed_indexes(dist)) == FULL_PAGES + 1
    assert page_count_of(dist / BUNDLE_NAME) == 1
    assert not publish(dist, entries), "an unchanged archive indexes nothing"


def test_a_title_withdrawn_from_a_full_page_is_in_no_index(copied):
    """As the hand-out does, the page that held it and every newer page are cut again:
    their indexes are made again under new names and the old ones are removed."""
    dist, entries = copied
    first_before = listed_indexes(dist)[0]
    withdrawn = entries.pop(5)
    shutil.rmtree(dist / withdrawn.key)
    assert publish(dist, entries)
    indexes = listed_indexes(dist)
    assert first_before not in indexes and not first_before.exists()
    assert sorted(path.name for path in (dist / BUNDLE_PAGES_NAME).iterdir()) == sorted(path.name for path in indexes)
    for folder in [*indexes, dist / BUNDLE_NAME]:
        assert word(5) not in indexed_text(folder)
    assert sum(page_count_of(folder) for folder in [*indexes, dist / BUNDLE_NAME]) == len(entries)


def test_a_lost_full_page_index_is_made_again(copied):
    dist, entries = copied
    lost = listed_indexes(dist)[1]
    shutil.rmtree(lost)
    assert publish(dist, entries)
    assert (lost / BUNDLE_ENTRY).is_file() and page_count_of(lost) == PAGE_SIZE


def search_keys(browser, base: str, query: str) -> set[str]:
    """The titles' folders the index page's search box lists for `query`, every page of them."""
    context = browser.new_context()
    try:
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(f"{base}/index.html")
        expect(page.locator("#search[data-ready=true]")).to_be_attached(timeout=BROWSER_DEADLINE_MS)
        page.fill("#search-query", query)
        page.press("#search-query", "Enter")
        expect(page.locator("#search-results h2")).to_contain_text(query, timeout=BROWSER_DEADLINE_MS)
        more = page.locator("#search-results button.more")
        while more.is_visible():
            shown = page.locator("#search-results li").count()
            more.click()
            expect(page.locator("#search-results li")).not_to_have_count(shown, timeout=BROWSER_DEADLINE_MS)
        links = page.locator("#search-results li h3 a").evaluate_all("(links) => links.map((link) => link.href)")
        assert problems == []
        return {re.search(r"/([^/]+)/index\.html$", link)[1] for link in links}
    finally:
        context.close()


@pytest.mark.browser
def test_one_search_lists_titles_from_an_old_full_page_and_the_open_page(copied, browser, static_host):
    dist, entries = copied
    newest = add_title(dist, len(entries))
    assert publish(dist, [*entries, newest])
    base = static_host(dist)
    assert search_keys(browser, base, word(3)) == {entries[3].key}
    assert search_keys(browser, base, word(newest_number := len(entries))) == {newest.key}, newest_number
    # One query, one list: a word every title has finds the old pages' and the open page's.
    everywhere = search_keys(browser, base, "harbour")
    assert {entries[0].key, entries[PAGE_SIZE + 1].key, newest.key} <= everywhere
    assert len(everywhere) == len(entries) + 1


@pytest.mark.browser
def test_a_withdrawn_title_is_not_found_in_the_browser(copied, browser, static_host):
    dist, entries = copied
    withdrawn = entries.pop(7)
    shutil.rmtree(dist / withdrawn.key)
    assert publish(dist, entries)
    base = static_host(dist)
    assert search_keys(browser, base, word(7)) == set()
    assert search_keys(browser, base, word(8)) == {entries[7].key}


def _landing(entries: list[Entry]) -> list[tuple[str, str]]:
    return [(edition.path, edition.sha256) for entry in oldest_first(entries) for edition in entry.editions
            if edition.name == LANDING_EDITION]


@pytest.mark.parametrize("then", ["a new title", "a title withdrawn"])
def test_a_full_open_page_indexed_ahead_is_used_by_the_next_title_or_removed(copied, then):
    """While its workers build, a run indexes a full open page as the full page the next
    title makes it (jobs._prepare_handout): that title's hand-out lists the index made
    ahead and makes only the new open page's. If no title comes after it (one withdrawn
    instead), the next refresh removes the index made ahead."""
    dist, entries = copied
    entries += [add_title(dist, number) for number in range(len(entries), (FULL_PAGES + 1) * PAGE_SIZE)]
    assert publish(dist, entries)
    listed = set(listed_indexes(dist))
    index_full_open_page_ahead(dist, _landing(entries))
    (ahead,) = {path.resolve() for path in (dist / BUNDLE_PAGES_NAME).iterdir()} - listed
    made = (ahead / BUNDLE_ENTRY).stat().st_ino
    if then == "a new title":
        entries.append(add_title(dist, len(entries)))
        assert publish(dist, entries)
        assert listed_indexes(dist)[-1] == ahead and (ahead / BUNDLE_ENTRY).stat().st_ino == made
        assert page_count_of(ahead) == PAGE_SIZE and page_count_of(dist / BUNDLE_NAME) == 1
    else:
        del entries[0]
        assert publish(dist, entries)
        assert not ahead.exists() and ahead not in listed_indexes(dist)
