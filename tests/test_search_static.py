"""Search wherever dist/ is hosted (issue 23): the feeds advertise only a search that answers,
and index.html opened from disk searches or says plainly that it cannot, in a real headless
Chromium (Playwright, /usr/bin/chromium, as tests/test_static_search.py drives it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import lxml.etree
import pytest
from conftest import DATA, REAL_SEED, seedpress
from playwright.sync_api import expect, sync_playwright

from convert.layout import FEED_NAME, INDEX_NAME, JSON_FEED_NAME
from convert.publish.entries import SERVER_SEARCH, HandoutOptions
from convert.publish.opds1 import render_feed
from convert.publish.opds2 import render_json_feed

ATOM = "http://www.w3.org/2005/Atom"
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


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "Chromium is missing: `make test` installs it (Debian package chromium)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable,
                                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield launched
        launched.close()


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

