"""Search (DESIGN §11): an archive built by `seedpress archive`, searched through a real `seedpress serve`."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode, urljoin

import feedparser
import httpx
import lxml.etree
import lxml.html
import pytest
from support.run import seedpress
from support.servers import start_server, stop

from convert.archive.catalog import SCHEMA_VERSION, open_catalog_readonly
from convert.archive.search_index import search_catalog
from convert.layout import CATALOG_NAME
from convert.publish.entries import ARCHIVE_TITLE, Edition, Entry, HandoutOptions
from convert.publish.handout import write_handout
from convert.publish.search_pages import (
    FTS_SYNTAX,
    PAGE_SIZE,
    Found,
    SearchPage,
    SearchRequest,
    highlighted,
    render_page,
)
from convert.serve.search_query import run_search

OPDS_TYPE = "application/atom+xml;profile=opds-catalog;kind=acquisition"
OPENSEARCH = "http://a9.com/-/spec/opensearch/1.1/"
ACQUISITION = "http://opds-spec.org/acquisition/open-access"
ENDPOINTS = ("search", "search.atom", "search.json")
#: Seeds that share the word "lighthouse", more than one page of them.
LIGHTHOUSES = PAGE_SIZE + 3


def seed_text(title: str, summary: list[str], commentary: list[str]) -> str:
    return "\n\n".join([title, *summary, "Read the original article here: https://example.org/a", *commentary]) + "\n"


#: name → (title, summary paragraphs, commentary paragraphs)
SEEDS = {
    "alpha": ("Alpha: rivers of Europe",
              ["The Danube flows through ten countries.", "It is the second longest river in Europe."],
              ["Nobody expected the quetzalcoatl masks at the river festival.",
               "東京都庁の展望台は無料です。"]),
    "beta": ("Beta: the Danube delta",
             ["The Danube delta is a wetland where the Danube meets the Black Sea."],
             ["Reeds, pelicans and the Danube again."]),
    "gamma": ("Gamma: cafés of Vienna",
              ["A café culture older than the republic."],
              ["Coffee, newspapers and patience."]),
}


def write_seed(folder: Path, name: str, title: str, summary: list[str], commentary: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.txt"
    path.write_text(seed_text(title, summary, commentary), "utf-8")
    return path


def archive(seeds: Path, dist: Path, expect: int = 0) -> str:
    # The feeds advertise the server's search only when told that a server answers.
    config = seeds.parent / "seedpress.toml"
    config.write_text('[archive]\nsearch = "server"\n', "utf-8")
    completed = seedpress("archive", seeds, "--dist", dist, "--config", config)
    assert completed.returncode == expect, completed.stderr
    assert "Traceback" not in completed.stderr
    return completed.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """A real archive of the seeds above and LIGHTHOUSES more."""
    root = tmp_path_factory.mktemp("search")
    for name, (title, summary, commentary) in SEEDS.items():
        write_seed(root / "seeds", name, title, summary, commentary)
    for number in range(LIGHTHOUSES):
        write_seed(root / "seeds", f"light-{number:02}", f"Light {number}: a lighthouse",
                   [f"The lighthouse number {number} stands on a cape."], ["Its keeper writes letters."])
    archive(root / "seeds", root / "dist")
    return root / "dist"


@pytest.fixture
def servers(tmp_path):
    """Start `seedpress serve` on a folder; every server started is stopped when the test ends,
    and none may have logged a traceback."""
    started = []

    def start(folder: Path) -> str:
        logs = tmp_path / f"server-{len(started)}.log"
        process, base = start_server(folder, logs)
        started.append((process, logs))
        return base

    yield start
    for process, logs in started:
        stop(process)
        assert "Traceback" not in logs.read_text(), logs.read_text()


@pytest.fixture(scope="module")
def server(dist, tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs") / "server.log"
    process, base = start_server(dist, logs)
    yield base
    stop(process)
    assert "Traceback" not in logs.read_text(), logs.read_text()


def results_page(base: str, query: str, page: int | None = None,
                 syntax: str | None = None) -> tuple[httpx.Response, lxml.html.HtmlElement]:
    params = {"q": query} if page is None else {"q": query, "page": page}
    if syntax is not None:
        params["syntax"] = syntax
    response = httpx.get(f"{base}/search", params=params)
    assert response.status_code == 200, response.text
    return response, lxml.html.document_fromstring(response.content)


def result_titles(page: lxml.html.HtmlElement) -> list[str]:
    return [link.text_content() for link in page.xpath("//ol[@class='entries']/li//h2/a")]


@pytest.mark.slow
def test_a_word_only_a_commentary_holds_finds_its_seed_first(server):
    # bm25: the rare word outweighs one that most seeds share.
    response, page = results_page(server, "lighthouse OR quetzalcoatl", syntax="fts")
    titles = result_titles(page)
    assert titles[0] == "Alpha: rivers of Europe"
    assert len(titles) == PAGE_SIZE and all(title.startswith("Light ") for title in titles[1:])
    [first] = page.xpath("//ol[@class='entries']/li[1]")
    # The title leads to the seed's landing page, which the archive writes with its editions.
    assert first.xpath(".//h2/a/@href") == ["alpha/index.html"]
    assert [mark.text for mark in first.xpath(".//p[@class='summary']/mark")] == ["quetzalcoatl"]
    assert first.xpath(".//span[@class='section']/text()") == ["Commentary:"]
    assert {link.get("type") for link in first.xpath(".//ul[@class='downloads']//a")} >= {
        "application/pdf", "application/epub+zip"}
    # The page keeps the index page's conventions: its own style block allowed by hash, no script.
    policy = response.headers["content-security-policy"]
    assert "script-src" not in policy and "form-action 'self'" in policy
    assert page.xpath("//meta[@http-equiv='Content-Security-Policy']/@content")[0] in policy
    assert not page.xpath("//script") and not page.xpath("//@*[starts-with(name(), 'on')]")
    _, only = results_page(server, "quetzalcoatl")
    assert result_titles(only) == ["Alpha: rivers of Europe"]


@pytest.mark.slow
def test_accents_case_and_a_cjk_word_inside_a_sentence(server):
    assert result_titles(results_page(server, "CAFE")[1]) == ["Gamma: cafés of Vienna"]
    _, page = results_page(server, "展望台")
    assert result_titles(page) == ["Alpha: rivers of Europe"]
    assert page.xpath("//p[@class='summary']/mark/text()") == ["展望台"]
    assert "東京都庁の展望台は無料です。" in page.xpath("string(//p[@class='summary'])")


@pytest.mark.parametrize("snippet, html", [
    ("<b>\x02x\x03</b> & \x02\"y\"\x03", '&lt;b&gt;<mark>x</mark>&lt;/b&gt; &amp; <mark>&quot;y&quot;</mark>'),
    # Marks the text itself cannot hold (the readers replace control characters) never open
    # an element they do not close.
    ("\x03stray \x02open", "stray <mark>open</mark>"),
    # The token breaks the index puts between CJK characters go; a match of two tokens is one <mark>.
    ("東\u200b\x02京\x03\u200b\x02都\x03\u200b庁", "東<mark>京都</mark>庁"),
    # A vowel sign after a match stays with its letter, inside the <mark>.
    ("\x02नमस्त\x03े दुनिया", "<mark>नमस्ते</mark> दुनिया"),
    ("\x02ส\u200bว\u200bั\u200bส\u200bด\x03\u200bี", "<mark>สวัสดี</mark>"),
])
def test_a_snippet_is_escaped_and_only_the_marked_ranges_highlighted(snippet, html):
    assert highlighted(snippet) == html


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("query", ['"unbalanced', "AND OR", "*"])
@pytest.mark.slow
def test_bad_fts_syntax_is_400_in_the_format_asked(server, endpoint, query):
    # Plain text (the default) takes any of these; with syntax=fts, FTS5 rejects them.
    assert httpx.get(f"{server}/{endpoint}", params={"q": query}).status_code == 200
    response = httpx.get(f"{server}/{endpoint}", params={"q": query, "syntax": "fts"})
    assert response.status_code == 400
    assert not response.headers["content-type"].startswith("text/plain")
    assert "This search could not be run: " in response.text


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.slow
def test_a_10_kb_query_is_400(server, endpoint):
    response = httpx.get(f"{server}/{endpoint}", params={"q": "word " * 2048})
    assert response.status_code == 400
    assert "This search could not be run: the query is longer than 1000 characters" in response.text


@pytest.mark.parametrize("page", ["0", "-1", "x", "1.5", "10001"])
@pytest.mark.slow
def test_a_page_that_is_not_a_page_number_is_400(server, page):
    assert httpx.get(f"{server}/search", params={"q": "danube", "page": page}).status_code == 400


@pytest.mark.slow
def test_html_in_a_query_is_escaped(server):
    query = '"<script>alert(1)</script>" OR "<img src=x onerror=alert(2)>" OR quetzalcoatl'
    response, page = results_page(server, query, syntax="fts")
    assert b"<script>" not in response.content and b"<img" not in response.content
    assert not page.xpath("//script | //img")
    assert page.xpath("//input[@name='q']/@value") == [query]
    assert query in page.xpath("string(//title)")
    assert result_titles(page) == ["Alpha: rivers of Europe"]


@pytest.mark.slow
def test_the_text_of_a_seed_is_escaped_in_its_snippet(tmp_path, servers):
    seeds = tmp_path / "seeds"
    write_seed(seeds, "markup", "Markup <b>in</b> a title", ["<script>alert(1)</script> & <i>friends</i>."],
               ["An <img src=x onerror=alert(1)> and a zebra."])
    archive(seeds, tmp_path / "dist")
    base = servers(tmp_path / "dist")
    response, page = results_page(base, "zebra OR script", syntax="fts")
    assert b"<script>" not in response.content and b"<img" not in response.content
    assert b"<b>in</b>" not in response.content
    assert not page.xpath("//script | //img | //b | //i")
    assert result_titles(page) == ["Markup <b>in</b> a title"]
    assert "<script>alert(1)</script> & <i>friends</i>." in page.xpath("string(//p[@class='summary'])")


@pytest.mark.slow
def test_an_empty_query_is_an_empty_page(server):
    for params in ({"q": ""}, {"q": "   "}, {}):
        response = httpx.get(f"{server}/search", params=params)
        assert response.status_code == 200
        page = lxml.html.document_fromstring(response.content)
        assert page.xpath("//form[@action='search']//input[@name='q']")
        assert result_titles(page) == []
        feed = httpx.get(f"{server}/search.json", params=params)
        assert feed.status_code == 200 and feed.json()["metadata"]["numberOfItems"] == 0
        assert "publications" not in feed.json() and feed.json()["navigation"][0]["href"] == "opds.json"


@pytest.mark.slow
def test_opensearch_description_template_gives_an_atom_feed(server):
    description = httpx.get(f"{server}/opensearch.xml")
    assert description.status_code == 200
    assert description.headers["content-type"] == "application/opensearchdescription+xml"
    root = lxml.etree.fromstring(description.content)
    assert root.tag == f"{{{OPENSEARCH}}}OpenSearchDescription"
    assert root.findtext(f"{{{OPENSEARCH}}}ShortName")
    [template] = [url.get("template") for url in root.iterfind(f"{{{OPENSEARCH}}}Url") if url.get("type") == OPDS_TYPE]
    # As a client fills it: the terms percent-encoded, the optional page left out.
    url = urljoin(f"{server}/opensearch.xml",
                  template.replace("{searchTerms}", "quetzalcoatl").replace("{startPage?}", ""))
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == OPDS_TYPE
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.bozo_exception
    [entry] = feed.entries
    assert entry.title == "Alpha: rivers of Europe"
    assert entry.id.startswith("urn:sha256:")
    acquisitions = {link.type: link.href for link in entry.links if link.rel == ACQUISITION}
    assert acquisitions["application/pdf"] == "alpha/alpha.pdf"
    assert acquisitions["application/epub+zip"] == "alpha/alpha.epub"
    assert feed.feed.opensearch_totalresults == "1"
    # Every acquisition link leads to the file, from the feed's own address.
    assert httpx.get(urljoin(url, acquisitions["application/epub+zip"])).status_code == 200


@pytest.mark.slow
def test_search_json_is_an_opds_2_feed_with_acquisition_links(server):
    response = httpx.get(f"{server}/search.json", params={"q": "quetzalcoatl"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/opds+json"
    feed = response.json()
    assert feed["metadata"] == {"title": "Search: quetzalcoatl", "numberOfItems": 1, "itemsPerPage": PAGE_SIZE,
                                "currentPage": 1}
    assert [link for link in feed["links"] if link["rel"] == "self"] == [
        {"rel": "self", "href": "search.json?q=quetzalcoatl&page=1", "type": "application/opds+json"}]
    [publication] = feed["publications"]
    assert publication["metadata"]["title"] == "Alpha: rivers of Europe"
    assert publication["metadata"]["identifier"].startswith("urn:sha256:")
    assert publication["metadata"]["language"] == "en"
    acquisitions = {link["type"]: link["href"] for link in publication["links"] if link["rel"] == ACQUISITION}
    assert acquisitions["application/pdf"] == "alpha/alpha.pdf"
    assert acquisitions["application/epub+zip"] == "alpha/alpha.epub"
    pdf = httpx.get(urljoin(f"{server}/search.json", acquisitions["application/pdf"]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


@pytest.mark.slow
def test_the_opds_2_search_template_is_filled_with_query_as_the_spec_says(server):
    catalog = httpx.get(f"{server}/opds.json").json()
    [template] = [link["href"] for link in catalog["links"] if link["rel"] == "search" and link.get("templated")]
    assert template == "search.json{?query}"
    answer = httpx.get(f"{server}/search.json", params={"q": "quetzalcoatl"}).json()
    assert [link["href"] for link in answer["links"] if link["rel"] == "search"] == [template]
    # As a client expands it (RFC 6570 form-style query): the keywords go in `query`.
    filled = urljoin(f"{server}/opds.json", template.replace("{?query}", "?" + urlencode({"query": "quetzalcoatl"})))
    [publication] = httpx.get(filled).json()["publications"]
    assert publication["metadata"]["title"] == "Alpha: rivers of Europe"


@pytest.mark.slow
def test_pagination_links_lead_through_every_result(server):
    _, first = results_page(server, "lighthouse")
    assert "23 titles found · page 1 of 2" in first.xpath("string(//p[@class='about'])")
    assert first.xpath("//ol[@class='entries']/@start") == ["1"]
    assert not first.xpath("//a[@rel='prev']")
    [next_link] = first.xpath("//a[@rel='next']/@href")
    second = httpx.get(urljoin(f"{server}/search", next_link))
    assert second.status_code == 200
    second_page = lxml.html.document_fromstring(second.content)
    assert not second_page.xpath("//a[@rel='next']")
    assert second_page.xpath("//ol[@class='entries']/@start") == [str(PAGE_SIZE + 1)]
    [previous_link] = second_page.xpath("//a[@rel='prev']/@href")
    assert result_titles(results_page(server, "lighthouse", 1)[1]) == result_titles(first)
    back = httpx.get(urljoin(f"{server}/search", previous_link))
    assert result_titles(lxml.html.document_fromstring(back.content)) == result_titles(first)
    titles = result_titles(first) + result_titles(second_page)
    assert len(result_titles(first)) == PAGE_SIZE
    assert sorted(titles) == sorted(f"Light {number}: a lighthouse" for number in range(LIGHTHOUSES))
    # The feeds page the same way.
    page_one = httpx.get(f"{server}/search.json", params={"q": "lighthouse"}).json()
    [json_next] = [link["href"] for link in page_one["links"] if link["rel"] == "next"]
    page_two = httpx.get(urljoin(f"{server}/search.json", json_next)).json()
    assert page_two["metadata"]["currentPage"] == 2 and len(page_two["publications"]) == LIGHTHOUSES - PAGE_SIZE
    assert [link["rel"] for link in page_two["links"]].count("previous") == 1
    atom = feedparser.parse(httpx.get(f"{server}/search.atom", params={"q": "lighthouse", "page": 2}).content)
    assert len(atom.entries) == LIGHTHOUSES - PAGE_SIZE
    assert {link.rel for link in atom.feed.links} >= {"self", "previous", "first", "search", "start"}
    beyond = httpx.get(f"{server}/search.json", params={"q": "lighthouse", "page": 9})
    assert beyond.status_code == 200 and "publications" not in beyond.json()


@pytest.mark.slow
def test_a_withdrawn_seed_leaves_search_and_a_failed_rebuild_keeps_its_last_build(tmp_path, servers):
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    write_seed(seeds, "keep", "Kept", ["A note on zanzibar."], ["Nothing more."])
    gone = write_seed(seeds, "gone", "Gone soon", ["A note on timbuktu."], ["Nothing more."])
    archive(seeds, dist)
    base = servers(dist)
    assert result_titles(results_page(base, "timbuktu")[1]) == ["Gone soon"]
    # The server reads the catalog on every request: no restart is needed to see a run.
    gone.unlink()
    (seeds / "keep.txt").write_text("", "utf-8")
    stdout = archive(seeds, dist, expect=1)
    assert ": 0 built, 0 unchanged, 1 failed, 1 withdrawn in " in stdout
    assert result_titles(results_page(base, "timbuktu")[1]) == []
    assert httpx.get(f"{base}/search.json", params={"q": "timbuktu"}).json()["metadata"]["numberOfItems"] == 0
    # A seed that fails keeps its last good files in the hand-out, so it stays findable.
    assert result_titles(results_page(base, "zanzibar")[1]) == ["Kept"]
    with sqlite3.connect(dist / CATALOG_NAME) as connection:
        assert connection.execute("SELECT key FROM search_texts").fetchall() == [("keep",)]
        connection.execute("INSERT INTO search_index (search_index) VALUES ('integrity-check')")
    connection.close()


@pytest.mark.parametrize("catalog", ["missing", "without an index"])
@pytest.mark.slow
def test_no_search_without_a_search_index(tmp_path, servers, catalog):
    dist = tmp_path / "dist"
    write_handout(dist, [])
    if catalog == "without an index":
        with sqlite3.connect(dist / CATALOG_NAME) as connection:
            connection.execute("CREATE TABLE seeds (key TEXT)")
        connection.close()
    base = servers(dist)
    for endpoint in (*ENDPOINTS, "opensearch.xml"):
        response = httpx.get(f"{base}/{endpoint}", params={"q": "anything"})
        assert response.status_code == 404, endpoint
        assert response.text == "Not Found"
    assert httpx.get(f"{base}/").status_code == 200


@pytest.mark.slow
def test_a_search_past_its_time_limit_is_stopped(dist):
    with pytest.raises(sqlite3.OperationalError) as stopped:
        run_search(dist, SearchRequest("lighthouse OR light* OR keeper", 1, FTS_SYNTAX), time_limit=0)
    assert stopped.value.sqlite_errorname == "SQLITE_INTERRUPT"
    assert run_search(dist, SearchRequest("lighthouse OR light* OR keeper", 1, FTS_SYNTAX)).total == LIGHTHOUSES


@pytest.mark.slow
def test_search_answers_only_get_and_head(server):
    head = httpx.head(f"{server}/search", params={"q": "danube"})
    assert head.status_code == 200 and head.content == b""
    posted = httpx.post(f"{server}/search", params={"q": "danube"})
    assert posted.status_code == 405
    assert set(posted.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}


@pytest.mark.slow
def test_a_version_2_catalog_is_migrated_and_the_next_run_indexes_its_seeds(tmp_path):
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    write_seed(seeds, "old", "An old build", ["Written before search existed."], ["The word is xylophone."])
    archive(seeds, dist)
    # Turn the catalog back into version 2: no search index.
    with sqlite3.connect(dist / CATALOG_NAME) as connection:
        connection.executescript("DROP TABLE search_index; DROP TABLE search_texts; PRAGMA user_version = 2;")
    connection.close()
    # verify migrates it (an empty index); the next archive run fills the index without rebuilding.
    assert seedpress("verify", "--dist", dist).returncode == 0
    with sqlite3.connect(dist / CATALOG_NAME) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,) and SCHEMA_VERSION >= 3
        assert connection.execute("SELECT count(*) FROM search_texts").fetchone() == (0,)
    connection.close()
    assert ": 0 built, 1 unchanged, 0 failed, 0 withdrawn in " in archive(seeds, dist)
    connection = open_catalog_readonly(dist)
    try:
        results = search_catalog(connection, "xylophone", limit=PAGE_SIZE)
    finally:
        connection.close()
    assert results.total == 1 and results.hits[0].title == "An old build"
    assert "\x02xylophone\x03" in results.hits[0].commentary_snippet
    assert seedpress("verify", "--dist", dist).returncode == 0
    # And an unchanged run after that has nothing left to index.
    # (The catalog file changes: every run records itself. The index's own pages must not.)
    def index_pages() -> list[tuple]:
        with sqlite3.connect(dist / CATALOG_NAME) as connection:
            pages = connection.execute("SELECT * FROM search_index_data ORDER BY id").fetchall()
        connection.close()
        return pages

    before = index_pages()
    assert ": 0 built, 1 unchanged, 0 failed, 0 withdrawn in " in archive(seeds, dist)
    assert index_pages() == before



def test_the_results_page_marks_the_archives_title_and_each_result_with_their_language():
    """The server's results page is English; the archive's title on it is in the index's
    language ([archive] lang), and an Arabic result reads right to left in its article."""
    entry = Entry(key="k", title="عنوان", identifier=f"urn:sha256:{'1' * 64}", summary="ملخص.",
                  date=datetime(2026, 12, 7, tzinfo=UTC), editions=(Edition("pdf", "k/k.pdf", 10, "0" * 64),))
    found = (Found(entry, "ar", "summary", "ملخص", "k/index.html"),)
    for title, lang, marked in (("Archives de test", "fr", ' lang="fr"'), ("Archives de test", "en", ""),
                                (ARCHIVE_TITLE, "fr", "")):  # the default title is English, as the page is
        page = render_page(SearchPage(SearchRequest("ملخص", 1), 1, found),
                           HandoutOptions(title=title, lang=lang)).decode()
        assert '<html lang="en">' in page
        assert f'<h1><a href="index.html"{marked}>{title}</a></h1>' in page
        assert '<article lang="ar" dir="auto">' in page
