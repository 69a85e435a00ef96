"""Search without a server (issue 13): the index page's search box, answered in a real
headless Chromium by the Pagefind bundle the archive job writes, with dist/ served by a
plain static file server (Python's http.server), as nginx or S3 would serve it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from support.run import DATA, REAL_SEED, seedpress
from support.servers import start_server, stop

from convert.publish.index_page import WORKER_POLICY
from convert.publish.sitesearch import BUNDLE_ENTRY, BUNDLE_NAME

pytestmark = pytest.mark.slow

#: Long enough for a loaded machine to start Chromium and load the bundle; a deadline, not a wait.
BROWSER_DEADLINE_MS = 120_000
#: Seconds for http.server to say where it listens, on a loaded machine.
#: A word only the commentary of one seed has.
COMMENTARY_WORD = "quokkapalooza"
HOSTILE_TITLE = '<img src=x id=planted onerror="document.title=1"> Harbour & "quays"'


def write_search_seeds(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REAL_SEED, folder / "real.txt")
    for language in ("ja", "fr"):
        shutil.copy(DATA / "languages" / f"{language}.txt", folder / f"{language}.txt")
    (folder / "commentary.txt").write_text(
        "Ferry timetable changes\n\nThe ferry company changed its winter timetable.\n\n"
        "Read the original article here\n\n"
        f"Commuters call the new schedule a {COMMENTARY_WORD} of missed connections.\n", "utf-8")
    (folder / "hostile.txt").write_text(
        f"{HOSTILE_TITLE}\n\nThe harbour board met on Tuesday.\n\nRead the original article here\n\n"
        "Nothing else.\n", "utf-8")


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("static-search")
    write_search_seeds(root / "seeds")
    result = seedpress("archive", root / "seeds", "--dist", root / "dist")
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture
def page(browser):
    context = browser.new_context()
    opened = context.new_page()
    opened.problems = []
    opened.on("pageerror", lambda error: opened.problems.append(str(error)))
    opened.on("console", lambda message: message.type == "error" and "favicon" not in (message.location or {})
              .get("url", "") and opened.problems.append(message.text))
    yield opened
    context.close()


def type_query(page: Page, query: str) -> None:
    """Type `query` into the index page's search box as a reader does, and press Enter."""
    expect(page.locator("#search[data-ready=true]")).to_be_attached(timeout=BROWSER_DEADLINE_MS)
    box = page.locator("#search-query")
    box.click()
    box.press_sequentially(query)
    box.press("Enter")


def result_titles(page: Page, query: str) -> list[str]:
    heading = page.locator("#search-results h2")
    expect(heading).to_contain_text(query, timeout=BROWSER_DEADLINE_MS)
    return page.locator("#search-results li h3 a").all_inner_texts()


def titles_of(dist: Path) -> dict[str, str]:
    """Each landing page's folder and its title."""
    return {path.parent.name: re.search(r"<title>(.*?)</title>", path.read_text("utf-8"), re.S)[1]
            for path in dist.glob("*/index.html")}


@pytest.mark.slow
@pytest.mark.browser
def test_a_typed_query_lists_the_title_whose_commentary_has_the_word(archive, static_host, page):
    base = static_host(archive / "dist")
    page.goto(f"{base}/index.html")
    type_query(page, COMMENTARY_WORD)
    assert result_titles(page, COMMENTARY_WORD) == ["Ferry timetable changes"]
    link = page.locator("#search-results li h3 a").first
    # The landing page's file, which every static host serves (not all serve a folder URL).
    assert link.get_attribute("href").endswith("/commentary/index.html")
    link.click()
    expect(page.locator("h1")).to_have_text("Ferry timetable changes", timeout=BROWSER_DEADLINE_MS)
    assert page.problems == []


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("query, seed", [("ローカル線", "ja"), ("médiathèque", "fr"), ("Syrian", "real")])
def test_titles_in_every_language_are_found_from_the_english_index_page(archive, static_host, page, query, seed):
    base = static_host(archive / "dist")
    page.goto(f"{base}/index.html")
    type_query(page, query)
    expected = titles_of(archive / "dist")[seed]
    assert result_titles(page, query) == [expected]
    assert page.problems == []


@pytest.mark.slow
@pytest.mark.browser
def test_each_result_is_marked_with_its_titles_own_language(archive, static_host, page):
    """On the English index, a Japanese and a French title found are read in their own language
    (a screen reader's voice, a font's glyph shapes); an English one needs no mark."""
    base = static_host(archive / "dist")
    found = {}
    for query, seed in (("ローカル線", "ja"), ("médiathèque", "fr"), ("Syrian", "real")):
        page.goto(f"{base}/index.html?q={query}")
        expect(page.locator("#search-results h2")).to_contain_text(query, timeout=BROWSER_DEADLINE_MS)
        item = page.locator("#search-results li")
        expect(item).to_have_count(1)
        found[seed] = (item.get_attribute("lang"), item.get_attribute("dir"))
    assert found == {"ja": ("ja", "auto"), "fr": ("fr", "auto"), "real": (None, "auto")}
    assert page.problems == []


@pytest.mark.slow
@pytest.mark.browser
def test_a_query_in_the_address_is_searched_and_nothing_found_is_said(archive, static_host, page):
    base = static_host(archive / "dist")
    page.goto(f"{base}/index.html?q=zzzyzzy")
    assert result_titles(page, "zzzyzzy") == []
    expect(page.locator("#search-results h2")).to_have_text("Results for “zzzyzzy”")
    expect(page.locator("#search-results p.count")).to_have_text("0 titles")


@pytest.mark.slow
@pytest.mark.browser
def test_an_index_in_another_language_answers_a_search_in_its_words(archive, static_host, page, tmp_path):
    """A French archive's index (`[archive] lang = "fr"`) says its results in French: the
    heading with its quotation marks, the count as French writes it, the button."""
    copied = tmp_path / "archive"
    shutil.copytree(archive, copied)
    config = tmp_path / "seedpress.toml"
    config.write_text('[archive]\nlang = "fr"\n', "utf-8")
    result = seedpress("archive", copied / "seeds", "--dist", copied / "dist", "--config", config)
    assert result.returncode == 0, result.stderr
    base = static_host(copied / "dist")
    page.goto(f"{base}/index.html")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    type_query(page, COMMENTARY_WORD)
    expect(page.locator("#search-results h2")).to_have_text(f"Résultats pour «\u00a0{COMMENTARY_WORD}\u00a0»",
                                                            timeout=BROWSER_DEADLINE_MS)
    expect(page.locator("#search-results p.count")).to_have_text("1 titre")
    assert page.locator("#search-results li h3 a").all_inner_texts() == ["Ferry timetable changes"]
    page.goto(f"{base}/index.html?q=zzzyzzy")
    expect(page.locator("#search-results h2")).to_have_text("Résultats pour «\u00a0zzzyzzy\u00a0»",
                                                            timeout=BROWSER_DEADLINE_MS)
    expect(page.locator("#search-results p.count")).to_have_text("0 titre")  # French: zero is singular
    assert page.problems == []


@pytest.mark.slow
@pytest.mark.browser
def test_a_hostile_title_is_shown_as_text_in_the_results(archive, static_host, page):
    base = static_host(archive / "dist")
    page.goto(f"{base}/index.html")
    type_query(page, "harbour")
    assert result_titles(page, "harbour") == [HOSTILE_TITLE]
    assert page.locator("#planted").count() == 0 and page.title() != "1"


@pytest.mark.slow
@pytest.mark.browser
def test_the_search_works_under_seedpress_serve_and_its_headers(archive, tmp_path, page):
    server, base = start_server(archive / "dist", tmp_path / "serve.log")
    try:
        script = httpx.get(f"{base}/search.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert script.headers["content-security-policy"].startswith(WORKER_POLICY)
        entry = httpx.get(f"{base}/{BUNDLE_NAME}/{BUNDLE_ENTRY}")
        assert entry.status_code == 200 and "ja" in entry.json()["languages"]
        page.goto(f"{base}/index.html")
        type_query(page, COMMENTARY_WORD)
        assert result_titles(page, COMMENTARY_WORD) == ["Ferry timetable changes"]
        page.locator("#search-results li h3 a").first.click()
        expect(page.locator("h1")).to_have_text("Ferry timetable changes", timeout=BROWSER_DEADLINE_MS)
        assert page.problems == []
    finally:
        stop(server)


@pytest.mark.slow
@pytest.mark.browser
def test_a_withdrawn_seed_leaves_the_static_search(archive, tmp_path, static_host, page):
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    shutil.copytree(archive / "seeds", seeds)
    shutil.copytree(archive / "dist", dist)
    (seeds / "commentary.txt").unlink()
    result = seedpress("archive", seeds, "--dist", dist)
    assert result.returncode == 0, result.stderr
    indexed = json.loads((dist / BUNDLE_NAME / BUNDLE_ENTRY).read_text())["languages"].values()
    assert sum(language["page_count"] for language in indexed) == len(titles_of(archive / "dist")) - 1
    base = static_host(dist)
    page.goto(f"{base}/index.html")
    type_query(page, COMMENTARY_WORD)
    assert result_titles(page, COMMENTARY_WORD) == []


def test_a_missing_or_half_written_bundle_is_made_again_by_an_unchanged_run(archive, tmp_path):
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    shutil.copytree(archive / "seeds", seeds)
    shutil.copytree(archive / "dist", dist)
    shutil.rmtree(dist / BUNDLE_NAME)
    (dist / ".pagefind-new").mkdir()  # what a run killed while indexing leaves
    (dist / ".pagefind-new" / "pagefind.js").write_text("half")
    result = seedpress("archive", seeds, "--dist", dist)
    assert result.returncode == 0, result.stderr
    assert "0 built" in result.stdout
    assert (dist / BUNDLE_NAME / BUNDLE_ENTRY).is_file() and not (dist / ".pagefind-new").exists()


def test_relative_folders_as_make_dist_gives_them(archive, tmp_path):
    shutil.copytree(archive / "seeds", tmp_path / "seeds")
    result = seedpress("archive", "seeds", "--dist", "dist", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    entry = json.loads((tmp_path / "dist" / BUNDLE_NAME / BUNDLE_ENTRY).read_text())
    assert sum(language["page_count"] for language in entry["languages"].values()) == 5


def test_an_archive_with_no_titles_has_no_bundle(archive, tmp_path):
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    shutil.copytree(archive / "dist", dist)
    seeds.mkdir()
    result = seedpress("archive", seeds, "--dist", dist, "--allow-mass-withdraw")  # every title leaves, meant
    assert result.returncode == 0, result.stderr
    assert not (dist / BUNDLE_NAME).exists()
    assert (dist / "search.js").is_file()


def test_the_bundle_indexes_only_the_landing_pages(archive):
    entry = json.loads((archive / "dist" / BUNDLE_NAME / BUNDLE_ENTRY).read_text())
    assert sum(language["page_count"] for language in entry["languages"].values()) == len(titles_of(archive / "dist"))
    # The hostile seed is too short to tell its language: und.
    assert set(entry["languages"]) == {"en", "fr", "ja", "und"}


def test_a_failing_indexer_is_a_warning_and_the_last_good_bundle_stays(archive, tmp_path):
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    shutil.copytree(archive / "seeds", seeds)
    shutil.copytree(archive / "dist", dist)
    before = (dist / BUNDLE_NAME / BUNDLE_ENTRY).read_bytes()
    # Something that is not a folder where the new bundle goes: the real indexer fails on it.
    (dist / ".pagefind-new").write_text("not ours to delete")
    (seeds / "commentary.txt").write_text("Another title\n\nText.\n", "utf-8")
    result = seedpress("archive", seeds, "--dist", dist)
    assert result.returncode == 0, result.stderr
    assert "1 built" in result.stdout
    assert (dist / BUNDLE_NAME / BUNDLE_ENTRY).read_bytes() == before
    warning = [line for line in result.stderr.splitlines() if "pagefind" in line]
    assert len(warning) == 1 and "pagefind failed" in warning[0] and "previous search bundle stays" in warning[0]
    # The next run, with nothing to build, makes the bundle the failed one should have been.
    (dist / ".pagefind-new").unlink()
    again = seedpress("archive", seeds, "--dist", dist)
    assert again.returncode == 0 and again.stderr == "" and "0 built" in again.stdout, again.stderr
    assert (dist / BUNDLE_NAME / BUNDLE_ENTRY).read_bytes() != before
    assert "Another title" in search_bundle_titles(dist)


def search_bundle_titles(dist: Path) -> str:
    """The bundle's fragments (gzip'd JSON of each page's title and text), as one text."""
    import gzip

    return "\n".join(gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
                     for path in (dist / BUNDLE_NAME / "fragment").iterdir())


def test_a_bundle_made_from_other_landing_pages_is_made_again(archive, tmp_path):
    """What a run killed between its catalog commit and Pagefind leaves: a whole bundle of
    the landing pages before it. The next run, with nothing to build, indexes them again."""
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    shutil.copytree(archive / "seeds", seeds)
    shutil.copytree(archive / "dist", dist)
    (dist / ".pagefind-source").write_text("0" * 64 + "\n")
    result = seedpress("archive", seeds, "--dist", dist)
    assert result.returncode == 0 and "0 built" in result.stdout, result.stderr
    assert (dist / ".pagefind-source").read_text() == (archive / "dist" / ".pagefind-source").read_text()
    before = {path.name: path.stat().st_ino for path in (dist / BUNDLE_NAME).iterdir()}
    assert seedpress("archive", seeds, "--dist", dist).returncode == 0
    assert {path.name: path.stat().st_ino for path in (dist / BUNDLE_NAME).iterdir()} == before


def test_a_seed_named_pagefind_keeps_its_files(archive, tmp_path):
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    shutil.copytree(archive / "seeds", seeds)
    shutil.copytree(archive / "dist", dist)
    shutil.copy(seeds / "commentary.txt", seeds / "pagefind.txt")
    assert seedpress("archive", seeds, "--dist", dist).returncode == 0
    assert seedpress("archive", seeds, "--dist", dist).returncode == 0
    verified = seedpress("verify", "--dist", dist)
    assert verified.returncode == 0, verified.stderr
    assert (dist / BUNDLE_NAME / BUNDLE_ENTRY).is_file()


def test_each_entry_of_the_index_and_the_feeds_is_marked_with_its_language(archive):
    """The index page is in English; a Japanese or French title and summary say so, for
    screen readers and fonts, and both feeds carry each publication's language."""
    import feedparser
    import lxml.html

    dist = archive / "dist"
    page = lxml.html.document_fromstring((dist / "index.html").read_bytes())
    marked = {item.get("id"): (item.find(".//h2").get("lang"), item.find(".//p[@class='summary']").get("lang"))
              for item in page.xpath("//ol[@class='entries']/li")}
    # As its landing page says, but for a language the detector could not tell ("und").
    landing = {key: lxml.html.document_fromstring((dist / key / "index.html").read_bytes()).get("lang")
               for key in marked}
    assert marked == {key: (None, None) if lang == "und" else (lang, lang) for key, lang in landing.items()}
    assert landing["ja"] == "ja" and landing["fr"] == "fr" and landing["real"] == "en"
    expected = sorted(lang for lang in landing.values() if lang != "und")
    feed = feedparser.parse((dist / "opds.xml").read_bytes())
    assert sorted(entry.dcterms_language for entry in feed.entries if "dcterms_language" in entry) == expected
    publications = json.loads((dist / "opds.json").read_bytes())["publications"]
    assert sorted(p["metadata"]["language"] for p in publications if "language" in p["metadata"]) == expected
