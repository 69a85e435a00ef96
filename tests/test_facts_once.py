"""Each fact once (issue 19): the archive's configured title reaches every page and file a
reader sees, and the facts that were written twice are now one, so that their places agree.

The title tests run one real archive with a seedpress.toml that names it, then read each
output: the landing page, serve's /search page and /opensearch.xml from a real
`seedpress serve`, the OPDS feeds, and the EPUB's cover.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import httpx
import lxml.html
import pytest
from conftest import REAL_SEED, free_port, seedpress, start_server, stop, wait_for
from lxml import etree

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
