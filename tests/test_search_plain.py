"""Search as readers type it (issue 23): plain text in, results out, in every language. A real
archive of the repository's seed, a seed full of punctuated words and the Japanese, Chinese
and Korean fixtures, searched through a real `seedpress serve` and, for the property, through
the same ASGI app in process."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import anyio
import httpx
import lxml.html
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.run import ROOT, seedpress
from support.servers import start_server, stop

from convert.archive.catalog import SCHEMA_VERSION
from convert.archive.search_index import index_text, plain_query
from convert.layout import CATALOG_NAME
from convert.publish.search_pages import MAX_QUERY_LENGTH
from convert.serve.app import create_app

ENDPOINTS = ("search", "search.atom", "search.json")
REAL_SEED = ROOT / "seeds" / "000_52d55abe645743f0.txt"
LANGUAGES = ROOT / "tests" / "data" / "languages"
PUNCTUATED_TITLE = "Punctuated words in the news"
PUNCTUATED = f"""{PUNCTUATED_TITLE}

Officials in the U.S. said AT&T had tested a covid-19 app since Blair's speech.

Read the original article here: https://example.org/punctuated

The debate went blair - brown for years, and the quokka stayed out of it.
"""

#: Words inside sentences of the fixtures, and the fixture's title they find.
CJK_WORDS = {
    "ローカル線": "ja", "運転": "ja", "全線": "ja",
    "高铁": "zh-Hans", "县城": "zh-Hans", "铁路": "zh-Hans",
    "도서관": "ko", "초등학교": "ko", "마을": "ko",
}


def first_line(path: Path) -> str:
    return path.read_text("utf-8").split("\n", 1)[0].strip()


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("plain")
    seeds = root / "seeds"
    seeds.mkdir()
    shutil.copy(REAL_SEED, seeds / REAL_SEED.name)
    (seeds / "punctuated.txt").write_text(PUNCTUATED, "utf-8")
    for tag in ("ja", "zh-Hans", "ko"):
        shutil.copy(LANGUAGES / f"{tag}.txt", seeds / f"{tag}.txt")
    completed = seedpress("archive", seeds, "--dist", root / "dist")
    assert completed.returncode == 0, completed.stderr
    return root / "dist"


@pytest.fixture(scope="module")
def server(dist, tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs") / "server.log"
    process, base = start_server(dist, logs)
    yield base
    stop(process)
    assert "Traceback" not in logs.read_text(), logs.read_text()


class AppClient:
    """The real app of `seedpress serve`, asked in process over ASGI (httpx.ASGITransport)."""

    def __init__(self, dist: Path):
        self.app = create_app(dist)

    def get(self, path: str, params: dict[str, str]) -> httpx.Response:
        async def ask() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://seedpress") as http:
                return await http.get(path, params=params)
        return anyio.run(ask)


@pytest.fixture(scope="module")
def client(dist):
    return AppClient(dist)


def titles(base: str, query: str, **params: str) -> list[str]:
    response = httpx.get(f"{base}/search", params={"q": query, **params})
    assert response.status_code == 200, response.text
    page = lxml.html.document_fromstring(response.content)
    return [link.text_content() for link in page.xpath("//ol[@class='entries']/li//h2/a")]


@pytest.mark.slow
@pytest.mark.parametrize("query", ["Blair's", "U.S.", "covid-19", "AT&T", "blair - brown", "BLAIR'S",
                                   '"tested a covid-19 app"', "quok*", "cov*", "at&t covid-19 u.s. blair's"])
def test_punctuated_words_find_their_seed(server, query):
    assert PUNCTUATED_TITLE in titles(server, query)


@pytest.mark.slow
@pytest.mark.parametrize("query", ['"covid-19 tested"', "AT&T blairite", "quokk", "Blair's*x"])
def test_words_the_seed_does_not_hold_find_nothing(server, query):
    assert PUNCTUATED_TITLE not in titles(server, query)


@pytest.mark.slow
def test_a_punctuated_word_in_the_real_seed_finds_it(server):
    real = first_line(REAL_SEED)
    # "U.S.-led", "al-Masoud" and "US’s" (a curly apostrophe, typed straight).
    for query in ("U.S.-led", "al-Masoud", "US's", "al-Masoud’s"):
        assert titles(server, query) == [real], query


@pytest.mark.slow
def test_every_word_of_a_seeds_commentary_finds_that_seed(server):
    text = REAL_SEED.read_text("utf-8")
    commentary = text.split("Read the original article here", 1)[1].split("\n", 1)[1]
    words = sorted({word for word in commentary.split() if re.search(r"\w", word)})
    assert len(words) > 200
    real = first_line(REAL_SEED)
    with httpx.Client(base_url=server) as http:
        for word in words:
            response = http.get("/search.json", params={"q": word})
            assert response.status_code == 200, (word, response.text)
            found = [publication["metadata"]["title"] for publication in response.json().get("publications", [])]
            assert real in found, word


@pytest.mark.slow
@pytest.mark.parametrize("word, tag", sorted(CJK_WORDS.items()))
def test_cjk_words_inside_sentences_are_found(server, word, tag):
    text = (LANGUAGES / f"{tag}.txt").read_text("utf-8")
    # The word is inside a sentence, not a token of its own.
    assert re.search(f"\\S{word}|{word}\\S", text), word
    assert first_line(LANGUAGES / f"{tag}.txt") in titles(server, word)


@pytest.mark.slow
def test_a_cjk_word_the_text_does_not_hold_in_order_finds_nothing(server):
    # 도서관 reversed: every character is in the Korean text, never in this order.
    assert titles(server, "관서도") == []
    assert titles(server, "線ルカーロ") == []


@pytest.mark.slow
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("query", ['"unbalanced', "AND OR", "*", "NEAR(", "title:", "a:b", "^x", "(", ")", "-x",
                                   "NOT", "'", '"', '""*', "+", "\x00", "\ufffe", "\U0001f600"])
def test_fts_syntax_characters_are_plain_text(server, endpoint, query):
    response = httpx.get(f"{server}/{endpoint}", params={"q": query})
    assert response.status_code == 200, response.text


@pytest.mark.slow
@pytest.mark.parametrize("endpoint, media", [("search", "text/html"), ("search.atom", "application/atom+xml"),
                                             ("search.json", "application/opds+json")])
def test_fts_syntax_behind_a_switch_and_its_errors_in_the_format_asked(server, endpoint, media):
    good = httpx.get(f"{server}/{endpoint}", params={"q": "quokka OR ローカル線", "syntax": "fts"})
    assert good.status_code == 200 and good.headers["content-type"].startswith(media)
    assert good.text.count(PUNCTUATED_TITLE) >= 1
    bad = httpx.get(f"{server}/{endpoint}", params={"q": '"unbalanced AND', "syntax": "fts"})
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith(media)
    assert "This search could not be run: " in bad.text
    if endpoint == "search":
        page = lxml.html.document_fromstring(bad.content)
        # The search form, the query kept, the advanced syntax still asked for.
        assert page.xpath("//form[@role='search']//input[@name='q']/@value") == ['"unbalanced AND']
        assert page.xpath("//form[@role='search']//input[@name='syntax']/@value") == ["fts"]
        assert page.xpath("//style") and page.xpath("//h1/a/@href") == ["index.html"]
    elif endpoint == "search.json":
        assert bad.json()["metadata"]["description"].startswith("This search could not be run: ")


def test_the_advanced_syntax_is_kept_in_the_page_links(client):
    response = client.get("/search", params={"q": "quokka OR blair", "syntax": "fts"})
    assert response.status_code == 200
    page = lxml.html.document_fromstring(response.content)
    feed = page.xpath("//link[@rel='alternate']/@href")
    assert feed and "syntax=fts" in feed[0]
    plain = lxml.html.document_fromstring(client.get("/search", params={"q": "quokka OR blair"}).content)
    assert "syntax=" not in plain.xpath("//link[@rel='alternate']/@href")[0]


queries = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=MAX_QUERY_LENGTH),
    st.lists(st.sampled_from(['"', "*", "AND", "OR", "NOT", "NEAR(", "(", ")", ":", "^", "-", "+", "'", ",",
                              "title:", "{title summary}:", "blair", "U.S.", "ローカル線", "도서관", " ", "\u200b",
                              "\u0301", "\x02", "\x03", "\x00", "&", ".", "*x", "x*"]),
             max_size=200).map("".join).filter(lambda text: len(text) <= MAX_QUERY_LENGTH),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(query=queries)
@example(query="*" * MAX_QUERY_LENGTH)
@example(query='"' * MAX_QUERY_LENGTH)
@example(query="a* " * (MAX_QUERY_LENGTH // 3))
@example(query="\x00NEAR(a b, 2) title: ^x")
def test_any_text_up_to_the_limit_is_answered_in_every_format(client, query):
    for endpoint in ENDPOINTS:
        response = client.get(f"/{endpoint}", params={"q": query})
        assert response.status_code == 200, (endpoint, query, response.text[:300])


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_only_a_query_over_the_limit_is_refused(client, endpoint):
    assert client.get(f"/{endpoint}", params={"q": "x" * MAX_QUERY_LENGTH}).status_code == 200
    response = client.get(f"/{endpoint}", params={"q": "x" * (MAX_QUERY_LENGTH + 1)})
    assert response.status_code == 400 and "longer than 1000 characters" in response.text


@given(text=st.text(max_size=60))
def test_plain_query_is_always_a_valid_fts5_expression(text):
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize = 'unicode61 remove_diacritics 2')")
        probe.execute("INSERT INTO t VALUES (?)", (index_text(text),))
        expression = plain_query(text)
        if expression:
            # Valid, and the text it came from matches it (every word is in it, in order).
            assert probe.execute("SELECT count(*) FROM t WHERE t MATCH ?", (index_text(expression),)).fetchone() \
                == (1,), expression
    finally:
        probe.close()


def test_a_version_3_catalog_is_split_for_korean_in_place(dist, tmp_path):
    """A catalog written before Korean was split is migrated by the next command that opens it."""
    old = tmp_path / "dist"
    shutil.copytree(dist, old, symlinks=True)
    with sqlite3.connect(old / CATALOG_NAME) as connection:
        # What version 3 stored: Korean as written.
        connection.execute("UPDATE search_texts SET title = replace(title, char(8203), ''), "
                           "summary = replace(summary, char(8203), ''), "
                           "commentary = replace(commentary, char(8203), '') WHERE lang = 'ko'")
        connection.execute("PRAGMA user_version = 3")
    connection.close()
    before = AppClient(old)
    assert before.get("/search.json", params={"q": "도서관"}).json()["metadata"]["numberOfItems"] == 0
    assert seedpress("verify", "--dist", old).returncode == 0
    with sqlite3.connect(old / CATALOG_NAME) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        connection.execute("INSERT INTO search_index (search_index) VALUES ('integrity-check')")
    connection.close()
    assert before.get("/search.json", params={"q": "도서관"}).json()["metadata"]["numberOfItems"] == 1
