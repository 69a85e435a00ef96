"""Each fact once (issue 19): the archive's configured title reaches every page and file a
reader sees, and the facts that were written twice are now one, so that their places agree.

The title tests run one real archive with a seedpress.toml that names it, then read each
output: the landing page, serve's /search page and /opensearch.xml from a real
`seedpress serve`, the OPDS feeds, and the EPUB's cover.
"""

from __future__ import annotations

import html
import json
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import lxml.html
import pytest
import tinycss2
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from support.run import DATA, REAL_SEED, seedpress, wait_for
from support.servers import free_port, start_server, stop

from convert.build.environment import environment_digest
from convert.build.input import Rendered, render_input
from convert.build.options import BuildOptions
from convert.defaults import LANDING_EDITION

#: A title with everything that must be escaped, and longer than OpenSearch's ShortName.
TITLE = 'The "Quayside" & <Harbour> archive'
OPENSEARCH = "http://a9.com/-/spec/opensearch/1.1/"
ATOM = "http://www.w3.org/2005/Atom"


@pytest.fixture(scope="module")
def titled(tmp_path_factory) -> tuple[Path, Path]:
    """A real archive of the real seed, run with a seedpress.toml that names it TITLE: (seeds, dist)."""
    root = tmp_path_factory.mktemp("titled")
    (root / "seeds").mkdir()
    (root / "seeds" / REAL_SEED.name).write_bytes(REAL_SEED.read_bytes())
    (root / "seedpress.toml").write_text(f"[archive]\ntitle = '{TITLE}'\n", "utf-8")
    result = seedpress("archive", root / "seeds", "--dist", root / "dist", cwd=root)
    assert result.returncode == 0, result.stderr
    return root / "seeds", root / "dist"


@pytest.fixture(scope="module")
def served(titled, tmp_path_factory):
    """`seedpress serve` of the titled archive, started where there is no seedpress.toml."""
    _seeds, dist = titled
    logs = tmp_path_factory.mktemp("logs") / "server.log"
    process, base = start_server(dist, logs)
    yield base
    stop(process)
    assert "Traceback" not in logs.read_text(), logs.read_text()


def landing_page(dist: Path) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring((dist / REAL_SEED.stem / "index.html").read_bytes())


# --- the configured title, in every place a reader sees ----------------------------------------

def test_the_landing_page_links_the_index_by_the_configured_title(titled):
    _seeds, dist = titled
    links = landing_page(dist).xpath("//nav/a")
    assert [(link.get("href"), link.text_content()) for link in links] == [("../index.html", TITLE)]


@pytest.mark.parametrize("archive_title, archive_lang, seed, marked", [
    # The default title is English; a title set in seedpress.toml is in the index's language.
    (None, None, "fr", "en"),
    (None, "fr", "fr", "en"),
    ("Archives de test", "fr", "fr", None),
    ("Archives de test", "fr", "ja", "fr"),
    ("Example Press archive", None, "fr", "en"),
    ("Example Press archive", None, "real", None),
])
def test_the_landing_pages_link_to_the_index_is_marked_with_the_titles_language(archive_title, archive_lang,
                                                                                seed, marked, tmp_path):
    """A French archive's "Archives de test" on a French title's page is French, not English,
    and a screen reader says it so; on a Japanese title's page it is marked French."""
    path = REAL_SEED if seed == "real" else DATA / "languages" / f"{seed}.txt"
    options = BuildOptions(keep_seed=True, formats=("md",), archive_title=archive_title, archive_lang=archive_lang)
    rendered = render_input(path, "k", options)
    assert isinstance(rendered, Rendered), rendered
    page = rendered.files[LANDING_EDITION]
    (link,) = lxml.html.document_fromstring(page).xpath("//nav/a")
    assert link.get("lang") == marked
    # Which language a title set there is in is a fact of every build: it rebuilds the titles.
    digests = {environment_digest(archive_title=archive_title, archive_lang=lang) for lang in (None, "fr", "de")}
    assert len(digests) == (1 if archive_title is None else 3)
    # English, said or not, is the default: setting it rebuilds nothing.
    assert environment_digest(archive_title=archive_title, archive_lang="en") == environment_digest(
        archive_title=archive_title)


def test_the_landing_page_escapes_the_title(titled):
    _seeds, dist = titled
    html = (dist / REAL_SEED.stem / "index.html").read_text("utf-8")
    assert "&lt;Harbour&gt;" in html and "<Harbour>" not in html


def test_the_search_page_of_a_real_serve_names_the_archive_by_its_title(served):
    response = httpx.get(f"{served}/search", params={"q": "Syrian"})
    assert response.status_code == 200, response.text
    page = lxml.html.document_fromstring(response.content)
    assert page.findtext(".//title").endswith(f" – {TITLE}")
    assert [link.text_content() for link in page.xpath("//header/h1/a")] == [TITLE]
    assert [link.get("title") for link in page.xpath("//link[@rel='search']")] == [TITLE]
    assert page.xpath("//ol[@class='entries']/li"), "the real seed should match 'Syrian'"


def test_the_empty_search_page_names_it_too(served):
    page = lxml.html.document_fromstring(httpx.get(f"{served}/search").content)
    assert page.findtext(".//title") == f"Search – {TITLE}"


def test_the_opensearch_description_is_named_by_the_title(served):
    response = httpx.get(f"{served}/opensearch.xml")
    assert response.status_code == 200
    root = etree.fromstring(response.content)
    short, long = root.findtext(f"{{{OPENSEARCH}}}ShortName"), root.findtext(f"{{{OPENSEARCH}}}LongName")
    # OpenSearch 1.1: ShortName at most 16 characters, LongName at most 48.
    assert short == "The…" and len(short) <= 16
    assert long == TITLE and len(long) <= 48
    assert TITLE in root.findtext(f"{{{OPENSEARCH}}}Description")


def test_serve_takes_the_title_the_archive_was_handed_out_with_not_its_own_config(titled, tmp_path, spawn):
    """serve started with another seedpress.toml still names the archive as its index.html does."""
    _seeds, dist = titled
    other = tmp_path / "other.toml"
    other.write_text("[archive]\ntitle = 'Some other title'\n", "utf-8")
    port = free_port()
    with open(tmp_path / "serve.log", "wb") as log:
        process = spawn("serve", "--dist", dist, "--port", str(port), "--config", other,
                        stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def answered():
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            return httpx.get(f"{base}/opensearch.xml", timeout=1)
        except httpx.TransportError:
            return None

    response = wait_for(answered, "seedpress serve to answer", timeout=120, interval=0.1)
    assert etree.fromstring(response.content).findtext(f"{{{OPENSEARCH}}}LongName") == TITLE
    index = lxml.html.document_fromstring((dist / "index.html").read_bytes())
    assert index.findtext(".//h1") == TITLE
    # The record serve reads is hidden: never served.
    assert httpx.get(f"{base}/.handout.json").status_code == 404


def test_both_opds_feeds_carry_the_title(titled):
    _seeds, dist = titled
    assert etree.parse(str(dist / "opds.xml")).getroot().findtext(f"{{{ATOM}}}title") == TITLE
    assert json.loads((dist / "opds.json").read_bytes())["metadata"]["title"] == TITLE


def _cover(epub: Path) -> bytes:
    with zipfile.ZipFile(epub) as book:
        return book.read("EPUB/media/cover.png")


def test_the_epub_cover_is_drawn_with_the_title(titled):
    """The cover in the archived EPUB is the one drawn with the configured title at its foot,
    not the one with the default title (same fonts, same bytes: PNG as Pillow writes it)."""
    from convert.document.seed import read_seed
    from convert.editions.cover import cover_png

    seeds, dist = titled
    document = read_seed(seeds / REAL_SEED.name)
    archived = _cover(dist / REAL_SEED.stem / f"{REAL_SEED.stem}.epub")
    assert archived == cover_png(document, TITLE)
    assert archived != cover_png(document)


@pytest.mark.slow
def test_convert_draws_the_configured_title_on_the_cover_too(tmp_path):
    from convert.document.seed import read_seed
    from convert.editions.cover import cover_png

    (tmp_path / "seedpress.toml").write_text("[archive]\ntitle = 'Convert press'\n", "utf-8")
    result = seedpress("convert", REAL_SEED, "--to", "epub", "--out", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    epub = tmp_path / "out" / REAL_SEED.stem / f"{REAL_SEED.stem}.epub"
    assert _cover(epub) == cover_png(read_seed(REAL_SEED), "Convert press")


@pytest.mark.slow
def test_the_default_title_is_used_without_a_configuration(tmp_path):
    """No seedpress.toml: the landing page says the default title, the cover its translation."""
    from convert.defaults import ARCHIVE_TITLE

    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / REAL_SEED.name).write_bytes(REAL_SEED.read_bytes())
    result = seedpress("archive", tmp_path / "seeds", "--dist", tmp_path / "dist", "--jobs", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [a.text_content() for a in landing_page(tmp_path / "dist").xpath("//nav/a")] == [ARCHIVE_TITLE]
    assert json.loads((tmp_path / "dist" / ".handout.json").read_bytes())["title"] == ARCHIVE_TITLE


# --- one palette, one search form, one style policy ---------------------------------------------

def _rules(css: str) -> list[tuple[str, str]]:
    """(selector, declarations) of each rule of a style block, whitespace normalised; the
    rules inside @media as "@media …" plus theirs."""
    found = []
    for rule in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True):
        prelude = " ".join(tinycss2.serialize(rule.prelude).split())
        if rule.type == "at-rule":
            prelude = f"@{rule.at_keyword} {prelude}"
        content = " ".join(tinycss2.serialize(rule.content or []).split())
        found.append((prelude, content))
    return found


def _style(html: bytes) -> str:
    return lxml.html.document_fromstring(html).findtext(".//style")


def _palette(css: str) -> list[tuple[str, str]]:
    return [rule for rule in _rules(css) if rule[0] in (":root", "@media (prefers-color-scheme: dark)")]


def _search_form(css: str) -> list[tuple[str, str]]:
    return [rule for rule in _rules(css) if "search" in rule[0] and "search-results" not in rule[0]]


def test_every_page_has_the_one_palette(titled, served):
    _seeds, dist = titled
    index = _style((dist / "index.html").read_bytes())
    landing = _style((dist / REAL_SEED.stem / "index.html").read_bytes())
    search = _style(httpx.get(f"{served}/search", params={"q": "Syrian"}).content)
    assert _palette(index) and _palette(index) == _palette(landing) == _palette(search)


def test_the_search_form_has_one_rule_set_on_the_index_and_the_results_page(titled, served):
    """The results page used to add its own `form.search` rules over the index page's `.search`
    ones: the label grey instead of bold, the field's border too faint. One set now."""
    _seeds, dist = titled
    index = _search_form(_style((dist / "index.html").read_bytes()))
    search = _search_form(_style(httpx.get(f"{served}/search", params={"q": "Syrian"}).content))
    assert index and search == index
    assert len({selector for selector, _ in search}) == len(search), "a selector written twice"


def _policy_hash(policy: str) -> str:
    sources = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    return sources["style-src"].strip("'")


@pytest.mark.parametrize("path", ["/", f"/{REAL_SEED.stem}/index.html", "/search?q=Syrian"])
def test_each_page_is_served_with_the_hash_of_its_own_style_block(served, path):
    import base64
    import hashlib

    response = httpx.get(served + path)
    assert response.status_code == 200
    style = _style(response.content)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert _policy_hash(response.headers["content-security-policy"]) == f"sha256-{digest}"


def test_style_policy_allows_the_block_by_its_hash_and_nothing_by_default():
    from convert.web import style_policy

    policy = style_policy("a { color: red; }", "img-src 'self'")
    assert policy.startswith("default-src 'none'; style-src 'sha256-")
    assert policy.endswith("; img-src 'self'")
    assert style_policy("a { color: blue; }") != style_policy("a { color: red; }")


# --- one set of characters text may not hold, one escaper ---------------------------------------

@given(st.text())
@settings(max_examples=300, deadline=None)
def test_html_text_escapes_and_replaces_what_xml_cannot_carry(text):
    from convert.web import html_text, markup_text, xml_safe

    escaped = html_text(text)
    assert not set(escaped) & set("<>\"'")
    assert html.unescape(escaped) == xml_safe(text)
    # What XML 1.0 refuses is gone: lxml takes the text as it is.
    etree.fromstring(f"<p a='{escaped}'>{escaped}</p>")
    assert html.unescape(markup_text(text)) == text


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_the_seed_reader_replaces_no_less_than_the_pages_do_but_the_whitespace_it_folds(text):
    """The seed reader's set is web.NOT_TEXT; the pages replace that and the vertical tab, the
    form feed (which the reader folds into spaces) and the non-characters HTML flags."""
    from convert.document.seed import replace_unrepresentable
    from convert.web import xml_safe

    folded = text.replace("\x0b", " ").replace("\x0c", " ")
    read, _count = replace_unrepresentable(folded)
    assert xml_safe(read) == xml_safe(folded)
    assert xml_safe(read) == "".join("\ufffd" if "\ufdd0" <= c <= "\ufdef" else c for c in read)


# --- one catalog row → Entry mapping --------------------------------------------------------------

def test_a_search_result_is_the_entry_the_index_publishes(titled):
    """serve's search and the archive's hand-out map a catalog row to an Entry with one function:
    the same seed gives the same Entry, but for the landing page (the result's link) and the
    author and language that the result page shows apart."""
    from convert.archive.catalog import open_catalog_readonly
    from convert.jobs import published_entries
    from convert.publish.search_pages import SearchRequest
    from convert.serve.search_query import run_search

    _seeds, dist = titled
    connection = open_catalog_readonly(dist)
    try:
        published = {entry.key: entry for entry in published_entries(connection)}
    finally:
        connection.close()
    found = run_search(dist, SearchRequest("Syrian", 1)).found
    assert [item.entry.key for item in found] == [REAL_SEED.stem]
    entry, expected = found[0].entry, published[REAL_SEED.stem]
    assert entry.editions == tuple(e for e in expected.editions if e.name != "html")
    assert (entry.title, entry.identifier, entry.summary, entry.date) == \
        (expected.title, expected.identifier, expected.summary, expected.date)


def test_catalog_entry_reads_provenance_and_an_empty_date():
    from convert.publish.entries import EMPTY_ARCHIVE_DATE, catalog_entry

    entry = catalog_entry("k", "T", "urn:sha256:" + "0" * 64, None, None, [("pdf", "k/k.pdf", "0" * 64, 3)],
                          provenance='{"author": "Jane Doe"}', lang="fr")
    assert (entry.author, entry.lang, entry.summary, entry.date) == ("Jane Doe", "fr", "", EMPTY_ARCHIVE_DATE)
    assert [edition.path for edition in entry.editions] == ["k/k.pdf"]


# --- Outcome.limit, a closed vocabulary --------------------------------------------------------

def test_a_limit_is_one_of_three_words():
    from convert.build.outcome import Limit, Outcome

    assert [str(limit) for limit in Limit] == ["time", "memory", "crash"]
    assert Outcome.failure("a.txt", "a", "a.txt: too slow", limit="time").limit is Limit.TIME
    with pytest.raises(ValueError):
        Outcome.failure("a.txt", "a", "a.txt: odd", limit="disk")


def test_a_seed_whose_worker_dies_the_set_number_of_times_fails_with_crash():
    from convert.build.outcome import Limit, Outcome
    from convert.defaults import WORKER_DEATHS

    assert WORKER_DEATHS == 2
    outcome = Outcome.crashed("seeds/a.txt", "a", seconds=1.5)
    assert (outcome.ok, outcome.limit, outcome.seconds) == (False, Limit.CRASH, 1.5)
    assert outcome.error == "seeds/a.txt: the worker building it died twice (killed, or out of memory)"


# --- verify --json: the catalog's problem shape -------------------------------------------------

def test_verify_json_prints_problems_as_the_catalog_keeps_them(titled, tmp_path):
    import shutil

    _seeds, dist = titled
    copy = tmp_path / "dist"
    shutil.copytree(dist, copy)
    damaged = f"{REAL_SEED.stem}/{REAL_SEED.stem}.docx"
    (copy / damaged).write_bytes(b"not the docx")
    result = seedpress("verify", "--dist", copy, "--json")
    assert result.returncode == 1
    printed = json.loads(result.stdout)
    assert printed["dist"] == str(copy)
    assert printed["problems"] == [{"path": damaged, "problem": f"{copy / damaged}: changed (its sha256 differs "
                                                                 "from the catalog)"}]
    with sqlite3.connect(copy / ".catalog.sqlite") as connection:
        (recorded,) = connection.execute("SELECT problems FROM fixity_checks ORDER BY id DESC LIMIT 1").fetchone()
    assert json.loads(recorded) == printed["problems"]
    assert result.stderr == f"seedpress: {copy / damaged}: changed (its sha256 differs from the catalog)\n"


def test_verify_json_of_a_whole_archive_has_no_problems(titled):
    _seeds, dist = titled
    result = seedpress("verify", "--dist", dist, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"dist": str(dist), "problems": []}


# --- one process set-up, one pipe reader with a deadline ------------------------------------------

@pytest.fixture
def child():
    """A real child process speaking on its stdout; killed and reaped however the test ends."""
    started = []

    def start(script: str) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        started.append(process)
        return process

    yield start
    from convert.process import stop_child

    for process in started:
        stop_child(process)


def test_the_pipe_reader_reads_lines_and_frames_then_the_end(child):
    from convert.process import PipeReader

    process = child("import sys; sys.stdout.buffer.write(b'ok 5\\nhello'); sys.stdout.flush()")
    reader = PipeReader(process.stdout, "the child exited")
    deadline = time.monotonic() + 60
    assert reader.read_line(deadline) == b"ok 5"
    assert reader.read_exact(5, deadline) == b"hello"
    with pytest.raises(EOFError, match="the child exited"):
        reader.read_exact(1, deadline)


def test_the_pipe_reader_gives_up_at_its_deadline(child):
    from convert.process import PipeReader

    # The child says nothing until its stdin closes: only the deadline ends the read.
    process = child("import sys; sys.stdin.read()")
    reader = PipeReader(process.stdout, "the child exited")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        reader.read_line(started + 0.5)
    assert time.monotonic() - started >= 0.5
    process.stdin.close()
    with pytest.raises(EOFError):
        reader.read_line(time.monotonic() + 60)


@pytest.mark.slow
def test_restore_and_bag_run_elsewhere_keep_the_title_base_url_and_search_of_the_archive(tmp_path):
    """`restore` and `bag` started where there is no seedpress.toml (a cron job's home, say)
    name the archive as it was handed out (dist/.handout.json), and restore keeps its base URL
    and its search link: not the defaults (found by review after the merges)."""
    root, elsewhere = tmp_path / "press", tmp_path / "elsewhere"
    seeds = root / "seeds"
    seeds.mkdir(parents=True)
    elsewhere.mkdir()
    for name in ("a", "b", "c"):
        (seeds / f"{name}.txt").write_text(f"Title {name}\n\n{REAL_SEED.read_text('utf-8').split(chr(10), 2)[2]}",
                                           "utf-8")
    (root / "seedpress.toml").write_text(
        f"[archive]\ntitle = '{TITLE}'\nbase_url = 'https://press.example/'\nsearch = 'server'\n", "utf-8")
    dist = root / "dist"
    assert seedpress("archive", seeds, "--dist", dist, cwd=root).returncode == 0
    before = {name: (dist / name).read_bytes() for name in ("index.html", "opds.xml", "opds.json")}
    (seeds / "c.txt").unlink()
    assert seedpress("archive", seeds, "--dist", dist, cwd=root).returncode == 0
    restored = seedpress("restore", "--all", "--dist", dist, cwd=elsewhere)
    assert restored.returncode == 0, restored.stderr
    for name in ("opds.xml", "opds.json"):
        assert (dist / name).read_bytes() == before[name], name
    assert html.escape(TITLE) in (dist / "index.html").read_text("utf-8")
    bag = seedpress("bag", tmp_path / "bag", "--dist", dist, cwd=elsewhere)
    assert bag.returncode == 0, bag.stderr
    assert f"External-Description: {TITLE}\n" in (tmp_path / "bag" / "bag-info.txt").read_text("utf-8")
