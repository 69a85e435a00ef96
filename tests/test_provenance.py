"""Author, publisher, rights and license (DESIGN §10): where they come from (seedpress.toml,
the command line, a master), what they rebuild, and that every edition and feed carries them."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import zipfile
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import docx
import feedparser
import lxml.html
import pikepdf
import pytest
import yaml
from lxml import etree
from support.documents import frontmatter_text, pdftotext_pages
from support.editions import run_epubcheck
from support.run import BUILD_EPOCH, DATA, REAL_SEED, json_lines, seedpress

from convert.document.seed import read_seed
from convert.editions import Settings
from convert.editions.pdf import to_html

AUTHOR = 'Jane "JD" Doe <jd@example.org> & Søren'
PUBLISHER = "Example Press"
RIGHTS = "© 2026 Example Press — CC BY 4.0"
LICENSE = "https://creativecommons.org/licenses/by/4.0/"
TITLE = "Example Press <archive>"
BASE_URL = "https://archive.example.org/press/"
CONFIG = f"""\
[archive]
title = {TITLE!r}
base_url = {BASE_URL!r}
[metadata]
author = '{AUTHOR}'
publisher = "{PUBLISHER}"
rights = "{RIGHTS}"
license_url = "{LICENSE}"
"""
#: The real seed, and an Arabic one: labels in another language, laid out right to left.
SEEDS = (REAL_SEED, DATA / "languages" / "ar.txt")
OPF = "{http://www.idpf.org/2007/opf}"
DC = "{http://purl.org/dc/elements/1.1/}"


def frontmatter(master: Path) -> dict:
    return yaml.safe_load(frontmatter_text(master.read_text("utf-8")))


def convert_master(tmp_path: Path, *arguments, name: str = "out") -> dict:
    """Convert the real seed to its master only, with `arguments`; the master's frontmatter."""
    out = tmp_path / name
    result = seedpress("convert", REAL_SEED, "--to", "md", "--out", out, "--json", *arguments, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [outcome] = json_lines(result.stdout)
    return frontmatter(Path(tmp_path / outcome["files"]["md"]["path"]))


# --- where the values come from -----------------------------------------------------------

@pytest.mark.slow
def test_without_configuration_the_master_says_nothing_of_them(tmp_path):
    meta = convert_master(tmp_path)
    assert not {"author", "publisher", "rights", "license_url"} & set(meta)


def test_the_file_fills_every_master_in_order(tmp_path):
    (tmp_path / "seedpress.toml").write_text(CONFIG, "utf-8")
    master = convert_master(tmp_path)
    assert list(master)[:7] == ["title", "lang", "identifier", "author", "publisher", "rights", "license_url"]
    assert (master["author"], master["publisher"], master["rights"], master["license_url"]) == (
        AUTHOR, PUBLISHER, RIGHTS, LICENSE)


def test_the_command_line_overrides_the_file(tmp_path):
    (tmp_path / "seedpress.toml").write_text(CONFIG, "utf-8")
    meta = convert_master(tmp_path, "--author", "Ann Other", "--license-url", "https://example.org/license")
    assert meta["author"] == "Ann Other" and meta["license_url"] == "https://example.org/license"
    assert meta["publisher"] == PUBLISHER and meta["rights"] == RIGHTS


def test_config_names_another_file_than_the_current_folders(tmp_path):
    (tmp_path / "seedpress.toml").write_text(CONFIG, "utf-8")
    (tmp_path / "other.toml").write_text('[metadata]\npublisher = "Other Press"\n', "utf-8")
    meta = convert_master(tmp_path, "--config", tmp_path / "other.toml")
    assert meta["publisher"] == "Other Press" and "author" not in meta


@pytest.mark.slow
def test_a_masters_own_fields_override_both(tmp_path):
    (tmp_path / "seedpress.toml").write_text(CONFIG, "utf-8")
    first = tmp_path / "first"
    seedpress("convert", REAL_SEED, "--to", "md", "--out", first, cwd=tmp_path)
    [master] = first.glob("*/*.md")
    text = master.read_text("utf-8")
    # The hand-corrected master names its own author and says nothing of its publisher.
    text = re.sub(r"(?m)^author: .*\n", "author: Master Author\n", text)
    text = re.sub(r"(?m)^publisher: .*\n", "", text)
    master.write_text(text, "utf-8")
    result = seedpress("convert", master, "--to", "md", "--out", tmp_path / "second", "--json",
                       "--author", "CLI Author", "--publisher", "CLI Press", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [outcome] = json_lines(result.stdout)
    meta = frontmatter(Path(outcome["files"]["md"]["path"]))
    assert meta["author"] == "Master Author"       # the master's own, over the command line's
    assert meta["publisher"] == "CLI Press"        # the master has none: the command line's
    assert meta["rights"] == RIGHTS                # the master's (the file's when it was written)


@pytest.mark.parametrize("field, yaml_value", [
    ("author", '"two\\tparts"'), ("rights", "''"), ("license_url", "ftp://example.org/license"),
    ("publisher", "[a, b]"), ("author", "1984"),
])
@pytest.mark.slow
def test_a_master_with_a_bad_field_fails_alone(tmp_path, field, yaml_value):
    seedpress("convert", REAL_SEED, "--to", "md", "--out", tmp_path / "first")
    [master] = (tmp_path / "first").glob("*/*.md")
    text = master.read_text("utf-8").replace("\nsource:", f"\n{field}: {yaml_value}\nsource:", 1)
    master.write_text(text, "utf-8")
    result = seedpress("convert", master, "--to", "md", "--out", tmp_path / "second")
    assert result.returncode == 1
    assert f"frontmatter field '{field}' must be null or" in result.stderr
    assert not (tmp_path / "second").exists()


def test_labels_of_a_language_without_labels_are_marked_english():
    document = read_seed(REAL_SEED)
    swedish = replace(document, lang="sv", author="Jane Doe", rights="CC BY 4.0")
    html = to_html(swedish, Settings())
    colophon = html[html.index('<footer class="colophon">'):]
    assert '<span class="label"><span lang="en">Author</span></span>' in colophon
    assert '<span class="label"><span lang="en">Rights</span></span>' in colophon
    english = to_html(replace(document, author="Jane Doe"), Settings())
    assert '<span class="label">Author</span> <span>Jane Doe</span>' in english
    assert '<footer class="colophon">' not in to_html(document, Settings())


# --- an archive built with every field set ---------------------------------------------

@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, Path, Path]:
    """Two seeds archived with seedpress.toml setting every field: (seeds, dist, config)."""
    base = tmp_path_factory.mktemp("provenance")
    seeds = base / "seeds"
    seeds.mkdir()
    for seed in SEEDS:
        shutil.copyfile(seed, seeds / seed.name)
    config = base / "seedpress.toml"
    config.write_text(CONFIG, "utf-8")
    result = seedpress("archive", seeds, "--dist", base / "dist", cwd=base, env={"SOURCE_DATE_EPOCH": str(BUILD_EPOCH)})
    assert result.returncode == 0, result.stderr
    assert ": 2 built, 0 unchanged" in result.stdout
    return seeds, base / "dist", config


def edition(dist: Path, seed: Path, suffix: str) -> Path:
    return dist / seed.stem / f"{seed.stem}.{suffix}"


@pytest.mark.parametrize("seed", SEEDS, ids=lambda path: path.stem)
@pytest.mark.slow
def test_pdf_info_and_xmp_carry_them(archive, seed):
    _seeds, dist, _config = archive
    with pikepdf.open(edition(dist, seed, "pdf")) as pdf:
        assert str(pdf.docinfo["/Author"]) == AUTHOR
        xmp = etree.fromstring(re.search(rb"<x:xmpmeta.*</x:xmpmeta>", pdf.Root.Metadata.read_bytes(), re.S)[0])
    rdf = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"

    def items(name: str, container: str) -> list[str]:
        [element] = xmp.iter(name)
        [holder] = element
        assert holder.tag == f"{rdf}{container}", name
        return [item.text for item in holder]

    assert items(f"{DC}creator", "Seq") == [AUTHOR]
    assert items(f"{DC}publisher", "Bag") == [PUBLISHER]
    assert items(f"{DC}rights", "Alt") == [RIGHTS]
    [statement] = xmp.iter("{http://ns.adobe.com/xap/1.0/rights/}WebStatement")
    assert statement.text == LICENSE


@pytest.mark.slow
def test_pdf_colophon_on_the_last_page(archive):
    _seeds, dist, _config = archive
    pdf = edition(dist, REAL_SEED, "pdf")
    last = " ".join(pdftotext_pages(pdf)[-1].split())
    for label, value in (("AUTHOR", AUTHOR), ("PUBLISHER", PUBLISHER), ("RIGHTS", RIGHTS), ("LICENSE", LICENSE)):
        assert f"{label} {value}" in last, last
    with pikepdf.open(pdf) as document:
        links = [str(annotation.A.URI) for page in document.pages for annotation in page.get("/Annots", [])
                 if "/A" in annotation and "/URI" in annotation.A]
    assert links[-1] == LICENSE


@pytest.mark.jvm
@pytest.mark.slow
def test_epub_package_carries_them_and_passes_epubcheck(archive):
    _seeds, dist, _config = archive
    epubs = [edition(dist, seed, "epub") for seed in SEEDS]
    for epub in epubs:
        with zipfile.ZipFile(epub) as book:
            package = etree.fromstring(book.read("EPUB/content.opf"))
        metadata = package.find(f"{OPF}metadata")
        assert [e.text for e in metadata.iter(f"{DC}creator")] == [AUTHOR]
        assert [e.text for e in metadata.iter(f"{DC}publisher")] == [PUBLISHER]
        assert [e.text for e in metadata.iter(f"{DC}rights")] == [RIGHTS]
        assert [link.get("href") for link in metadata.iter(f"{OPF}link")
                if link.get("rel") == "dcterms:license"] == [LICENSE]
    for _epub, report in run_epubcheck(epubs).items():
        checker = report["checker"]
        assert (checker["nFatal"], checker["nError"], checker["nWarning"]) == (0, 0, 0), report["messages"]


@pytest.mark.slow
def test_docx_core_and_custom_properties_carry_them(archive):
    _seeds, dist, _config = archive
    path = edition(dist, REAL_SEED, "docx")
    assert docx.Document(path).core_properties.author == AUTHOR
    with zipfile.ZipFile(path) as document:
        custom = etree.fromstring(document.read("docProps/custom.xml"))
    properties = {item.get("name"): "".join(item.itertext()) for item in custom}
    assert properties["publisher"] == PUBLISHER and properties["rights"] == RIGHTS
    assert properties["license_url"] == LICENSE


@pytest.mark.slow
def test_opds_feed_carries_them_with_absolute_links(archive):
    _seeds, dist, _config = archive
    data = (dist / "opds.xml").read_bytes()
    feed = feedparser.parse(data)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.feed.title == TITLE
    assert {link.rel: link.href for link in feed.feed.links}["self"] == BASE_URL + "opds.xml"
    assert len(feed.entries) == len(SEEDS)
    for entry in feed.entries:
        assert entry.author == AUTHOR and entry.rights == RIGHTS
        links = {link.rel: link.href for link in entry.links}
        assert links["license"] == LICENSE
        for link in entry.links:
            if link.rel != "license":
                assert link.href.startswith(BASE_URL), link.href
                relative = urlsplit(link.href[len(BASE_URL):]).path
                assert (dist / relative).is_file(), link.href
    # feedparser does not read dcterms:publisher; the feed has it for every entry.
    atom, dcterms = "{http://www.w3.org/2005/Atom}", "{http://purl.org/dc/terms/}"
    publishers = etree.fromstring(data).findall(f".//{atom}entry/{dcterms}publisher")
    assert [p.text for p in publishers] == [PUBLISHER] * len(SEEDS)


@pytest.mark.slow
def test_index_shows_the_title_and_each_entrys_author_and_rights(archive):
    _seeds, dist, _config = archive
    page = lxml.html.document_fromstring((dist / "index.html").read_bytes())
    assert page.find(".//title").text_content() == page.find(".//h1").text_content() == TITLE
    lines = page.find_class("provenance")
    assert len(lines) == len(SEEDS)
    for line in lines:
        assert line.text_content() == f"by {AUTHOR} · {PUBLISHER} · {RIGHTS}"
        [license_link] = line.iter("a")
        assert license_link.get("href") == LICENSE and license_link.get("rel") == "license"
    # Still relative: the index works wherever dist/ is copied.
    downloads = [a.get("href") for a in page.iter("a") if a.get("rel") != "license"]
    assert downloads and not any(urlsplit(href).scheme for href in downloads)


@pytest.mark.slow
def test_the_catalog_keeps_them_for_the_hand_out(archive):
    _seeds, dist, _config = archive
    with sqlite3.connect(dist / ".catalog.sqlite") as connection:
        rows = connection.execute("SELECT provenance FROM seeds").fetchall()
    assert [json.loads(value) for (value,) in rows] == [
        {"author": AUTHOR, "publisher": PUBLISHER, "rights": RIGHTS, "license_url": LICENSE}] * len(SEEDS)


# --- what a change rebuilds ---------------------------------------------------------------

@pytest.mark.slow
def test_rights_and_the_title_rebuild_every_seed(archive, tmp_path):
    """The archive's title is on every landing page and EPUB cover (issue 19), so a new title
    rebuilds every seed, as new rights do; the PDF, which does not show it, stays byte for byte."""
    seeds, dist, config = archive
    shutil.copytree(seeds, tmp_path / "seeds")
    shutil.copytree(dist, tmp_path / "dist")
    settings = tmp_path / "seedpress.toml"

    def run() -> str:
        result = seedpress("archive", tmp_path / "seeds", "--dist", tmp_path / "dist", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return result.stdout

    settings.write_text(config.read_text("utf-8"), "utf-8")
    assert ": 0 built, 2 unchanged" in run()
    settings.write_text(config.read_text("utf-8").replace("CC BY 4.0", "CC BY-SA 4.0"), "utf-8")
    assert ": 2 built, 0 unchanged" in run()
    assert "CC BY-SA 4.0" in (tmp_path / "dist" / "opds.xml").read_text("utf-8")
    pdf_before = edition(tmp_path / "dist", REAL_SEED, "pdf").read_bytes()
    settings.write_text(settings.read_text("utf-8").replace("Example Press <archive>", "Another archive"), "utf-8")
    assert ": 2 built, 0 unchanged" in run()
    assert "<title>Another archive</title>" in (tmp_path / "dist" / "index.html").read_text("utf-8")
    landing = tmp_path / "dist" / REAL_SEED.stem / "index.html"
    assert ">Another archive</a></nav>" in landing.read_text("utf-8")
    assert ": 0 built, 2 unchanged" in run()
    assert edition(tmp_path / "dist", REAL_SEED, "pdf").read_bytes() == pdf_before
    assert seedpress("verify", "--dist", tmp_path / "dist").returncode == 0


@pytest.mark.slow
def test_the_bag_is_described_by_the_archive_title_and_publisher(archive, tmp_path):
    _seeds, dist, config = archive
    result = seedpress("bag", tmp_path / "bag", "--dist", dist, "--config", config)
    assert result.returncode == 0, result.stderr
    info = (tmp_path / "bag" / "bag-info.txt").read_text("utf-8")
    assert f"External-Description: {TITLE}\n" in info
    assert f"Source-Organization: {PUBLISHER}\n" in info
