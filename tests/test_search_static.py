"""Search wherever dist/ is hosted (issue 23): the feeds advertise only a search that answers,
and index.html opened from disk searches or says plainly that it cannot, in a real headless
Chromium (Playwright, /usr/bin/chromium, as tests/test_static_search.py drives it)."""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import lxml.etree
import pytest
from playwright.sync_api import expect
from support.run import DATA, REAL_SEED, seedpress
from support.servers import start_server, stop

from convert.layout import FEED_NAME, INDEX_NAME, JSON_FEED_NAME
from convert.publish.entries import SERVER_SEARCH, HandoutOptions
from convert.publish.opds1 import render_feed
from convert.publish.opds2 import render_json_feed
from convert.publish.sitesearch import BUNDLE_ENTRY, BUNDLE_NAME, LANDING_GLOB, SOURCE_NAME, refresh_bundle

ATOM = "http://www.w3.org/2005/Atom"
#: How many times the bundle is made again while a process watches it.
SWAPS = 20
#: Long enough for a loaded machine to start Chromium and load the bundle; a deadline, not a wait.
BROWSER_DEADLINE_MS = 120_000


def atom_search_links(feed: bytes) -> list[str]:
    return [link.get("href") for link in lxml.etree.fromstring(feed).iterfind(f"{{{ATOM}}}link")
            if link.get("rel") == "search"]


def json_search_links(feed: bytes) -> list[str]:
    return [link["href"] for link in json.loads(feed)["links"] if link["rel"] == "search"]


@pytest.mark.parametrize("options", [HandoutOptions(), HandoutOptions(base_url="https://archive.example.org/")])
def test_no_search_link_without_a_server(options):
    assert atom_search_links(render_feed([], options)) == []
    assert json_search_links(render_json_feed([], options)) == []


def test_a_search_link_when_a_server_answers():
    options = HandoutOptions(base_url="https://archive.example.org/", search=SERVER_SEARCH)
    assert atom_search_links(render_feed([], options)) == ["https://archive.example.org/opensearch.xml"]
    assert json_search_links(render_json_feed([], options)) == ["https://archive.example.org/search.json{?query}"]
    assert atom_search_links(render_feed([], HandoutOptions(search=SERVER_SEARCH))) == ["opensearch.xml"]


def test_an_unknown_search_setting_is_refused():
    with pytest.raises(ValueError, match="search must be 'static' or 'server'"):
        HandoutOptions(search="yes")


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("search-static")
    seeds = root / "seeds"
    seeds.mkdir()
    shutil.copy(REAL_SEED, seeds / "real.txt")
    shutil.copy(DATA / "languages" / "ja.txt", seeds / "ja.txt")
    result = seedpress("archive", seeds, "--dist", root / "dist")
    assert result.returncode == 0, result.stderr
    return root


@pytest.mark.slow
def test_the_archive_job_advertises_search_only_when_configured(archive, tmp_path):
    dist = archive / "dist"
    assert atom_search_links((dist / FEED_NAME).read_bytes()) == []
    assert json_search_links((dist / JSON_FEED_NAME).read_bytes()) == []
    served = tmp_path / "served"
    shutil.copytree(dist, served, symlinks=True)
    config = tmp_path / "seedpress.toml"
    config.write_text('[archive]\nsearch = "server"\n', "utf-8")
    result = seedpress("archive", archive / "seeds", "--dist", served, "--config", config)
    assert result.returncode == 0, result.stderr
    assert atom_search_links((served / FEED_NAME).read_bytes()) == ["opensearch.xml"]
    assert json_search_links((served / JSON_FEED_NAME).read_bytes()) == ["search.json{?query}"]
    config.write_text('[archive]\nsearch = "yes"\n', "utf-8")
    result = seedpress("archive", archive / "seeds", "--dist", served, "--config", config)
    assert result.returncode != 0 and "archive.search" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("how", ["typed", "in the address"])
def test_index_html_opened_from_disk_says_search_needs_a_server(archive, browser, how):
    context = browser.new_context()
    try:
        page = context.new_page()
        index = (archive / "dist" / INDEX_NAME).resolve().as_uri()
        page.goto(index + ("?q=Syrian" if how == "in the address" else ""))
        if how == "typed":
            box = page.locator("#search-query")
            box.click()
            box.press_sequentially("Syrian")
            box.press("Enter")
        panel = page.locator("#search-results")
        # Either Pagefind answers, or the page says plainly why it cannot; never a browser error page.
        expect(panel).to_contain_text("Syrian", timeout=BROWSER_DEADLINE_MS)
        expect(panel).to_be_visible()
        text = panel.inner_text()
        assert "needs a web server" in text or "title" in text, text
        assert page.url.startswith(index), page.url
        expect(page.locator("h1")).to_be_visible()
        expect(page.locator("#search-query")).to_have_value("Syrian")
    finally:
        context.close()


# --- one answer: the server's search and Pagefind agree -------------------------------

#: The languages of the fixtures in tests/data/languages (each a seed of its own).
LANGUAGE_FIXTURES = sorted((DATA / "languages").glob("*.txt"))
#: Generated BBC-like articles beside the real seed and the fixtures.
GENERATED = 24
SYLLABLES = ("ka", "ro", "mi", "te", "lu", "sa", "vo", "ne", "di", "po", "ga", "zu")
#: Words typed as readers type them: the real seed's, the generated seeds', punctuated, CJK.
PARITY_QUERIES = [
    "Syrian", "government", "raid", "intelligence", "coalition", "extremists", "officials",
    "Syrian government", "raid intelligence", "U.S.", "al-Masoud", "US's", "al-Masoud’s",
    "ローカル線", "運転", "高铁", "县城", "도서관", "마을", "médiathèque", "Wasserstoff",
    "harbour", "ferry timetable", "zzqxjv",
]


def own_name(number: int) -> str:
    """A made-up word only generated seed `number` holds."""
    name = "qu"
    while True:
        number, digit = divmod(number, len(SYLLABLES))
        name += SYLLABLES[digit]
        if not number:
            return name + "x"


def generated_seed(rng, number: int, words: list[str]) -> str:
    def sentence(count: int) -> str:
        return " ".join(rng.choices(words, k=count)).capitalize() + "."
    title = f"{sentence(rng.randint(4, 8))[:-1].title()} ({number})"
    summary = " ".join(sentence(rng.randint(8, 20)) for _ in range(rng.randint(2, 5)))
    commentary = [" ".join(sentence(rng.randint(8, 20)) for _ in range(rng.randint(2, 4))) for _ in range(3)]
    commentary.append(f"As {own_name(number).title()} said, {sentence(12).lower()}")
    return "\n\n".join([title, summary, "Read the original article here: https://example.org/news", *commentary]) + "\n"


def words_of(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.casefold()))


def searched_text(seed: str) -> str:
    """What both searches index of a seed: its title, summary and commentary, without the line
    that gives the original article's address (the landing page shows it, the catalog has it not)."""
    return "\n".join(line for line in seed.splitlines() if "Read the original article here" not in line)


def holds_the_words(text: str, query: str) -> bool:
    """True when `text` holds every word of `query` as a reader means it (case aside): a word
    with punctuation inside as written, its parts side by side (`U.S.`: "u" then "s"), one
    with `*` after it as a beginning; a word of a script written without spaces (Chinese,
    Japanese, Korean) anywhere in it."""
    tokens = re.findall(r"\w+", text.casefold())
    joined = f" {' '.join(tokens)} "
    for word in query.casefold().split():
        parts = re.findall(r"\w+", word)
        if not parts:
            continue
        if not word.isascii() and not any(part in tokens for part in parts):
            if word.rstrip("*") not in text.casefold():
                return False
        elif not re.search(" " + " ".join(map(re.escape, parts)) + (r"\w*" if word.endswith("*") else "") + " ",
                           joined):
            return False
    return True


#: Pagefind's own search over the bundle, every language's index merged, as search.js does;
#: every result's landing page URL.
PAGEFIND_SEARCH = """async (queries) => {
  const bundle = new URL("pagefind/", document.baseURI);
  const entry = await (await fetch(new URL("pagefind-entry.json", bundle))).json();
  const languages = Object.entries(entry.languages).sort((a, b) => b[1].page_count - a[1].page_count);
  const primary = "en" in entry.languages ? "en" : languages[0][0];
  const pagefind = await import(new URL("pagefind.js", bundle).href);
  await pagefind.init();
  for (const [language] of languages) {
    if (language !== primary) await pagefind.mergeIndex(bundle.href, { language });
  }
  const found = {};
  for (const query of queries) {
    const answer = await pagefind.search(query);
    found[query] = (await Promise.all(answer.results.map((result) => result.data()))).map((data) => data.url);
  }
  return found;
}"""


def landing_key(url: str) -> str:
    """The seed's key in a landing page's URL (`/key/index.html`, `key/index.html`)."""
    return url.rstrip("/").removesuffix("/index.html").rsplit("/", 1)[-1]


@pytest.fixture(scope="module")
def parity_archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("parity")
    seeds = root / "seeds"
    seeds.mkdir()
    shutil.copy(REAL_SEED, seeds / "real.txt")
    for fixture in LANGUAGE_FIXTURES:
        shutil.copy(fixture, seeds / f"lang-{fixture.stem}.txt")
    (seeds / "ferry.txt").write_text("Ferry timetable changes\n\nThe harbour ferry changed its winter timetable.\n\n"
                                     "Read the original article here\n\nCommuters missed connections.\n", "utf-8")
    rng = random.Random(23)
    vocabulary = sorted(words_of(REAL_SEED.read_text("utf-8")) - {"read", "original", "article", "here"})
    vocabulary = [word for word in vocabulary if word.isalpha()]
    for number in range(GENERATED):
        (seeds / f"generated-{number:02}.txt").write_text(generated_seed(rng, number, vocabulary), "utf-8")
    result = seedpress("archive", seeds, "--dist", root / "dist")
    assert result.returncode == 0, result.stderr
    return root


def server_keys(http: httpx.Client, query: str) -> set[str]:
    keys, page = set(), 1
    while True:
        answer = http.get("/search.json", params={"q": query, "page": page})
        assert answer.status_code == 200, (query, answer.text)
        feed = answer.json()
        for publication in feed.get("publications", []):
            keys |= {landing_key(link["href"]) for link in publication["links"] if link["rel"] == "alternate"}
        if not any(link["rel"] == "next" for link in feed["links"]):
            return keys
        page += 1


@pytest.mark.slow
@pytest.mark.browser
def test_the_server_and_pagefind_find_the_same_titles_holding_the_words(parity_archive, browser, tmp_path):
    dist = parity_archive / "dist"
    # Each title's text: the seed the archive keeps beside its editions.
    keys = {path.parent.name for path in dist.glob("*/index.html")}
    texts = {key: searched_text(next((dist / key).glob("*.txt")).read_text("utf-8")) for key in keys}
    assert len(keys) == 1 + len(LANGUAGE_FIXTURES) + 1 + GENERATED
    queries = PARITY_QUERIES + [own_name(number) for number in range(0, GENERATED, 5)]
    logs = tmp_path / "server.log"
    process, base = start_server(dist, logs)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{base}/index.html")
        expect(page.locator("#search[data-ready=true]")).to_be_attached(timeout=BROWSER_DEADLINE_MS)
        pagefind = {query: {landing_key(url) for url in urls}
                    for query, urls in page.evaluate(PAGEFIND_SEARCH, queries).items()}
        with httpx.Client(base_url=base) as http:
            server = {query: server_keys(http, query) for query in queries}
    finally:
        context.close()
        stop(process)
    differences = []
    for query in queries:
        holding = {key for key in keys if holds_the_words(texts[key], query)}
        only_pagefind = (pagefind[query] & holding) - server[query]
        only_server = (server[query] & holding) - pagefind[query]
        if only_pagefind or only_server:
            differences.append((query, sorted(only_pagefind), sorted(only_server)))
    assert differences == []
    # Not an empty agreement: most queries find something in both.
    assert sum(bool(server[query] & pagefind[query]) for query in queries) >= len(queries) - 2


@pytest.mark.slow
@pytest.mark.browser
def test_the_static_search_pages_its_results(parity_archive, browser, tmp_path):
    # Every generated article says "As Qu… said": more than one page of results.
    dist = parity_archive / "dist"
    holding = [key for key in (path.parent.name for path in dist.glob("*/index.html"))
               if holds_the_words(searched_text(next((dist / key).glob("*.txt")).read_text("utf-8")), "said")]
    assert len(holding) > 20
    process, base = start_server(dist, tmp_path / "server.log")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{base}/index.html?q=said")
        expect(page.locator("#search-results h2")).to_have_text("Results for “said”", timeout=BROWSER_DEADLINE_MS)
        count = page.locator("#search-results p.count")
        expect(count).to_contain_text("titles")
        total = int(count.inner_text().split()[0])
        assert total >= len(holding)
        items = page.locator("#search-results li h3 a")
        expect(items).to_have_count(20, timeout=BROWSER_DEADLINE_MS)
        more = page.locator("#search-results button.more")
        expect(more).to_have_text(f"Show more (1–20 of {total})")
        more.click()
        expect(items).to_have_count(min(total, 40), timeout=BROWSER_DEADLINE_MS)
        while more.is_visible():
            count = items.count()
            more.click()
            expect(items).not_to_have_count(count, timeout=BROWSER_DEADLINE_MS)
        expect(items).to_have_count(total)
        keys = {landing_key(href) for href in items.evaluate_all("(links) => links.map((link) => link.href)")}
        assert len(keys) == total and set(holding) <= keys
    finally:
        context.close()
        stop(process)


#: A process that checks, as fast as it can until told to stop, that the bundle's entry file
#: is there; it prints how many times it looked and how many it was missing.
WATCHER = """
import os, sys
entry, stop = sys.argv[1], sys.argv[2]
looked = missing = 0
print("watching", flush=True)
while not os.path.exists(stop):
    for _ in range(200):
        looked += 1
        missing += not os.path.exists(entry)
print(looked, missing, flush=True)
"""


@pytest.mark.slow
def test_the_bundle_swap_leaves_no_moment_without_a_bundle(archive, tmp_path):
    dist = tmp_path / "dist"
    shutil.copytree(archive / "dist", dist, symlinks=True)
    # The English title's page only: the swap is the same, and Pagefind loads its Japanese
    # dictionary (a second of CPU a run) for the other.
    landing = [(str(path.relative_to(dist)), hashlib.sha256(path.read_bytes()).hexdigest())
               for path in dist.glob(LANDING_GLOB) if path.parent.name == "real"]
    assert len(landing) == 1
    stop_file = tmp_path / "stop"
    watcher = subprocess.Popen([sys.executable, "-c", WATCHER, str(dist / BUNDLE_NAME / BUNDLE_ENTRY), str(stop_file)],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout.readline() == "watching\n"
        for _ in range(SWAPS):
            (dist / SOURCE_NAME).unlink()
            assert refresh_bundle(dist, landing)
        stop_file.touch()
        looked, missing = map(int, watcher.communicate(timeout=60)[0].split())
    finally:
        watcher.kill()
        watcher.communicate()
    assert looked > 1000 and missing == 0
    assert (dist / BUNDLE_NAME / BUNDLE_ENTRY).is_file()
    assert not (dist / ".pagefind-new").exists() and not (dist / ".pagefind-old").exists()
