"""Covers and thumbnails beside every title's editions, and where they are shown (issue 24)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import docx
import httpx
import jsonschema
import lxml.html
import pytest
from lxml import etree
from PIL import Image
from support.documents import pdftotext_pages
from support.run import DATA, REAL_SEED, json_lines, seedpress
from support.servers import start_server, stop
from test_pages import OPDS2_FEED_SCHEMA, entries, official_validator

from convert import defaults
from convert.build.input import BuildOptions, render_seed_bytes
from convert.editions.cover import COVER_SIZE, THUMBNAIL_SIZE, png_bytes, thumbnail_png
from convert.layout import CATALOG_NAME, COVER_EDITION, SUMS_NAME, THUMBNAIL_EDITION, edition_file
from convert.publish import search_pages as search
from convert.publish.entries import Edition, HandoutOptions
from convert.publish.handout import write_handout
from convert.publish.index_page import CONTENT_SECURITY_POLICY as INDEX_POLICY
from convert.runners.cluster import _Answer, _Sent
from convert.runners.cluster_worker import answer_data
from convert.runners.pool import SeedTask
from convert.serve.files import media_type

ATOM = "{http://www.w3.org/2005/Atom}"
IMAGE_REL = "http://opds-spec.org/image"
THUMBNAIL_REL = "http://opds-spec.org/image/thumbnail"
#: Seeds of three scripts: Latin, Arabic (right to left) and the real seed.
SEEDS = (DATA / "languages" / "de.txt", DATA / "languages" / "ar.txt", REAL_SEED)


def archive_seeds(root: Path) -> Path:
    """`seedpress archive` of SEEDS, each with a fixed mtime (its build date); the dist."""
    seeds = root / "seeds"
    seeds.mkdir()
    for day, seed in enumerate(SEEDS, start=1):
        shutil.copyfile(seed, seeds / seed.name)
        moment = datetime(2025, 3, day, 12, tzinfo=UTC).timestamp()
        os.utime(seeds / seed.name, (moment, moment))
    dist = root / "dist"
    completed = seedpress("archive", seeds, "--dist", dist, "--jobs", "2", "--json", env={"SOURCE_DATE_EPOCH": None})
    assert completed.returncode == 0, completed.stderr
    assert [line["status"] for line in json_lines(completed.stdout) if "status" in line] == ["built"] * len(SEEDS)
    return dist


@pytest.fixture(scope="session")
def dist(tmp_path_factory) -> Path:
    return archive_seeds(tmp_path_factory.mktemp("covers"))


def keys(dist: Path) -> list[str]:
    return sorted(path.parent.name for path in dist.glob(f"*/*{edition_file('', COVER_EDITION)}"))


def png_size(path: Path) -> tuple[int, int]:
    """The width and height of the PNG at `path` (fails for another format)."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


@pytest.mark.slow
def test_every_title_has_the_epubs_cover_and_a_thumbnail(dist):
    assert len(keys(dist)) == len(SEEDS)
    for folder in (path for path in dist.iterdir() if path.is_dir() and (path / "index.html").is_file()):
        key = folder.name
        cover, thumbnail = folder / f"{key}.cover.png", folder / f"{key}.thumb.png"
        with zipfile.ZipFile(folder / f"{key}.epub") as epub:
            assert cover.read_bytes() == epub.read("EPUB/media/cover.png")
        assert png_size(cover) == COVER_SIZE
        assert png_size(thumbnail) == THUMBNAIL_SIZE
        # Small enough for an index that loads many at once.
        assert thumbnail.stat().st_size < 16_000


@pytest.mark.slow
def test_covers_are_catalogued_summed_and_verified(dist, tmp_path):
    connection = sqlite3.connect(dist / CATALOG_NAME)
    catalogued = {(key, edition) for key, edition in connection.execute("SELECT key, edition FROM files")}
    connection.close()
    sums = (dist / SUMS_NAME).read_text("ascii")
    for key in keys(dist):
        assert {(key, COVER_EDITION), (key, THUMBNAIL_EDITION)} <= catalogued
        for edition in (COVER_EDITION, THUMBNAIL_EDITION):
            digest = hashlib.sha256((dist / key / edition_file(key, edition)).read_bytes()).hexdigest()
            assert f"{digest}  {key}/{edition_file(key, edition)}\n" in sums
    checked = subprocess.run(["sha256sum", "--quiet", "-c", SUMS_NAME], cwd=dist, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # verify names a thumbnail that was changed, and one that is gone.
    copy = tmp_path / "dist"
    shutil.copytree(dist, copy)
    key = keys(copy)[0]
    assert seedpress("verify", "--dist", copy).returncode == 0
    (copy / key / edition_file(key, THUMBNAIL_EDITION)).write_bytes(b"not a thumbnail")
    changed = seedpress("verify", "--dist", copy)
    assert changed.returncode != 0 and f"{key}.thumb.png: changed" in changed.stdout + changed.stderr
    (copy / key / edition_file(key, COVER_EDITION)).unlink()
    missing = seedpress("verify", "--dist", copy)
    assert f"{key}.cover.png: missing" in missing.stdout + missing.stderr


@pytest.mark.slow
def test_a_rebuild_draws_the_same_bytes(dist, tmp_path):
    again = archive_seeds(tmp_path)
    for key in keys(dist):
        for edition in (COVER_EDITION, THUMBNAIL_EDITION):
            name = f"{key}/{edition_file(key, edition)}"
            assert (again / name).read_bytes() == (dist / name).read_bytes(), name


def test_the_thumbnail_of_a_cover_is_the_same_bytes_each_time():
    image = Image.new("RGB", COVER_SIZE, "#f6f8fb")
    image.paste(Image.new("RGB", (600, 300), "#8a3b12"), (200, 400))
    output = io.BytesIO()
    image.save(output, "PNG")
    first, second = thumbnail_png(output.getvalue()), thumbnail_png(output.getvalue())
    assert first == second
    assert b"tIME" not in first and b"tEXt" not in first
    with Image.open(io.BytesIO(first)) as thumbnail:
        assert thumbnail.size == THUMBNAIL_SIZE


@pytest.mark.parametrize("size", [(1, 1), (3, 2), COVER_SIZE])
def test_the_covers_png_holds_exactly_the_pixels_drawn(size):
    """png_bytes writes the PNG itself (unfiltered rows, zlib): every chunk's CRC holds, the
    zlib stream's own check too, and Pillow reads it back as the very pixels it was given,
    in RGB (EPUBCheck takes it: the EPUB tests). Noise, where no row repeats."""
    image = Image.frombytes("RGB", size, os.urandom(3 * size[0] * size[1]))
    data = png_bytes(image)
    assert data == png_bytes(image)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        assert struct.unpack(">I", data[at + 8 + length:at + 12 + length])[0] == zlib.crc32(kind + body)
        chunks.append((kind, body))
        at += 12 + length
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    rows = zlib.decompress(chunks[1][1])  # its Adler-32 checked
    assert rows[::3 * size[0] + 1] == bytes(size[1])  # each row's filter: none
    with Image.open(io.BytesIO(data)) as read:
        read.load()
        assert (read.format, read.mode, read.size) == ("PNG", "RGB", size)
        assert read.tobytes() == image.tobytes()


def resolve(dist: Path, base: Path, link: str) -> Path:
    path = (base / unquote(link)).resolve()
    assert path.is_relative_to(dist.resolve()) and path.is_file(), link
    return path


@pytest.mark.slow
def test_the_opds_1_feed_links_each_cover_and_thumbnail(dist):
    feed = etree.parse(str(dist / "opds.xml"))
    items = feed.findall(f"{ATOM}entry")
    assert len(items) == len(SEEDS)
    for item in items:
        links = {link.get("rel"): link for link in item.findall(f"{ATOM}link")}
        for rel, size in ((IMAGE_REL, COVER_SIZE), (THUMBNAIL_REL, THUMBNAIL_SIZE)):
            assert links[rel].get("type") == "image/png"
            assert png_size(resolve(dist, dist, links[rel].get("href"))) == size


@pytest.mark.slow
def test_the_opds_2_feed_gives_each_publication_images_of_their_real_size(dist):
    feed = json.loads((dist / "opds.json").read_bytes())
    assert len(feed["publications"]) == len(SEEDS)
    for publication in feed["publications"]:
        images = publication["images"]
        assert len(images) == 2
        for image in images:
            assert image["type"] == "image/png"
            assert png_size(resolve(dist, dist, image["href"])) == (image["width"], image["height"])
        assert images[0]["width"] > images[1]["width"], "the cover comes first, then the thumbnail"


@pytest.mark.parametrize("schema", ["ours", "official"])
def test_feeds_with_images_stay_valid_opds_2(tmp_path, schema):
    validator = (jsonschema.Draft202012Validator(OPDS2_FEED_SCHEMA) if schema == "ours"
                 else official_validator())
    with_images = [
        dataclasses.replace(entry, editions=entry.editions + tuple(
            Edition(edition, f"{entry.key}/{edition_file(entry.key, edition)}", 5000, "0" * 64)
            for edition in defaults.IMAGE_EDITIONS))
        for entry in entries(3)
    ]
    for name, options in (("relative", HandoutOptions()), ("absolute", HandoutOptions(base_url="https://e.org/a/"))):
        write_handout(tmp_path / name, with_images, options)
        document = json.loads((tmp_path / name / "opds.json").read_bytes())
        assert all("images" in publication for publication in document["publications"])
        errors = [error.message for error in validator.iter_errors(document)]
        assert not errors, (name, errors)


def test_an_entry_without_images_gets_no_image_links(tmp_path):
    """An archive built before covers (its entries have none) still gives valid feeds."""
    write_handout(tmp_path, entries(2))
    assert "images" not in (tmp_path / "opds.json").read_text("utf-8")
    assert IMAGE_REL not in (tmp_path / "opds.xml").read_text("utf-8")
    assert "<img" not in (tmp_path / "index.html").read_text("utf-8")


@pytest.mark.slow
def test_the_index_shows_a_small_decorative_thumbnail(dist):
    page = lxml.html.parse(str(dist / "index.html")).getroot()
    thumbnails = page.xpath("//ol[@class='entries']//article//img")
    assert len(thumbnails) == len(SEEDS)
    for image in thumbnails:
        assert image.get("alt") == ""
        assert 48 <= int(image.get("width")) <= 64
        width, height = THUMBNAIL_SIZE
        assert int(image.get("height")) * width == int(image.get("width")) * height
        assert resolve(dist, dist, image.get("src")).name.endswith(".thumb.png")
    assert "img-src 'self'" in INDEX_POLICY


@pytest.mark.slow
def test_the_landing_page_shows_the_cover(dist):
    for key in keys(dist):
        page = lxml.html.parse(str(dist / key / "index.html")).getroot()
        (image,) = page.xpath("//article//img")
        assert image.get("alt") == ""
        assert resolve(dist, dist / key, image.get("src")) == (dist / key / edition_file(key, COVER_EDITION)).resolve()
        assert int(image.get("width")) > 0 and int(image.get("height")) > 0
        policy = page.xpath('//meta[@http-equiv="Content-Security-Policy"]/@content')[0]
        assert "img-src 'self'" in policy


def test_serve_gives_covers_their_media_type():
    assert media_type("seed.cover.png") == "image/png"
    assert media_type("seed.thumb.png") == "image/png"


@pytest.fixture
def server(dist, tmp_path):
    process, base = start_server(dist, tmp_path / "server.log")
    yield base
    stop(process)


@pytest.mark.slow
def test_serve_sends_a_cover_as_an_image_to_show(dist, server):
    key = keys(dist)[0]
    for edition in (COVER_EDITION, THUMBNAIL_EDITION):
        answer = httpx.get(f"{server}/{key}/{edition_file(key, edition)}")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/png"
        # Shown in the page, not downloaded as an attachment.
        assert "content-disposition" not in answer.headers
        assert answer.content == (dist / key / edition_file(key, edition)).read_bytes()


def test_the_cluster_driver_accepts_a_worker_answer_with_covers():
    """The files a worker builds for an archive are exactly those the driver expects."""
    seed = (DATA / "languages" / "de.txt").read_bytes()
    created = datetime(2025, 3, 1, tzinfo=UTC)
    options = BuildOptions(keep_seed=True)
    rendered = render_seed_bytes(seed, "seeds/de.txt", "de", options, created)
    assert set(rendered.files) == set(defaults.CATALOGUED_EDITIONS)
    task = SeedTask(path="seeds/de.txt", key="de", dist="dist", options=options)
    sent = _Sent(task, None, hashlib.sha256(seed).hexdigest(), rendered.built.created)
    answer = _Answer.check(answer_data(rendered, "de", 1.0), sent)
    assert answer.rendered.files == rendered.files


# --- acquisitions: the EPUB and PDF are open-access, the rest plain links -----------------

OPEN_ACCESS = "http://opds-spec.org/acquisition/open-access"
#: What a reader can take as a book, and what is only another form of the title.
BOOK_TYPES = {"application/epub+zip", "application/pdf"}
OTHER_TYPES = {"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
               "text/markdown; charset=utf-8", "text/plain; charset=utf-8"}


def atom_links(item: etree._Element) -> dict[str, set[str]]:
    """Each link relation of an Atom entry and the media types it links."""
    found: dict[str, set[str]] = {}
    for link in item.findall(f"{ATOM}link"):
        found.setdefault(link.get("rel"), set()).add(link.get("type"))
    return found


def json_links(publication: dict) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for link in publication["links"]:
        found.setdefault(link["rel"], set()).add(link.get("type"))
    return found


def assert_open_access_books(links: dict[str, set[str]]) -> None:
    """Only the EPUB and PDF are acquisitions, open-access ones; the DOCX, Markdown and
    source text are there as alternates with their types."""
    acquisitions = {rel for rel in links if rel.startswith("http://opds-spec.org/acquisition")}
    assert acquisitions == {OPEN_ACCESS}, links
    assert links[OPEN_ACCESS] == BOOK_TYPES
    assert OTHER_TYPES <= links["alternate"]


@pytest.mark.slow
def test_the_feeds_offer_the_epub_and_pdf_as_open_access_and_the_rest_as_links(dist):
    for item in etree.parse(str(dist / "opds.xml")).findall(f"{ATOM}entry"):
        assert_open_access_books(atom_links(item))
    for publication in json.loads((dist / "opds.json").read_bytes())["publications"]:
        assert_open_access_books(json_links(publication))


def test_the_search_feeds_offer_the_same_acquisitions():
    editions = ("pdf", "epub", "docx", "md", "txt")
    found = tuple(
        search.Found(dataclasses.replace(entry, editions=tuple(
            Edition(name, f"{entry.key}/{entry.key}.{name}", 10, "0" * 64) for name in editions)),
            "en", "summary", "a match", f"{entry.key}/index.html")
        for entry in entries(2))
    result = search.SearchPage(search.SearchRequest("title", 1), 2, found)
    feed = etree.fromstring(search.render_feed(result))
    items = feed.findall(f"{ATOM}entry")
    assert len(items) == 2
    for item in items:
        assert_open_access_books(atom_links(item))
    publications = json.loads(search.render_json(result))["publications"]
    assert len(publications) == 2
    for publication in publications:
        assert_open_access_books(json_links(publication))


# --- the reader's words: no "seed" in anything a reader sees -------------------------------

#: The tool's word for its input, anywhere but in the product's name "seedpress" (which
#: the labels keep untranslated).
TOOL_WORD = re.compile(r"seed(?!press)", re.IGNORECASE)
LANGUAGE_FIXTURES = sorted((DATA / "languages").glob("*.txt"))


@pytest.fixture(scope="session")
def languages_dist(tmp_path_factory) -> Path:
    """Every language fixture archived by the real CLI: editions and landing pages."""
    root = tmp_path_factory.mktemp("languages")
    seeds = root / "seeds"
    seeds.mkdir()
    for seed in LANGUAGE_FIXTURES:
        shutil.copyfile(seed, seeds / seed.name)
    completed = seedpress("archive", seeds, "--dist", root / "dist", "--jobs", "2")
    assert completed.returncode == 0, completed.stderr
    return root / "dist"


def markup_text(data: bytes, parser) -> str:
    """The text of an HTML or XHTML document a reader sees: its character data (no style or
    script) and its alt and title attributes; not href or download, which name the files."""
    root = etree.fromstring(data, parser)
    etree.strip_elements(root, "{*}style", "{*}script", "style", "script", with_tail=False)
    words = list(root.itertext())
    words += [value for element in root.iter() if isinstance(element.tag, str)
              for name, value in element.attrib.items() if name in ("alt", "title", "aria-label", "content")]
    return "\n".join(words)


def reader_texts(dist: Path, key: str) -> dict[str, str]:
    """What a reader of the title `key` sees in each edition and on its landing page."""
    folder = dist / key
    texts = {"pdf": "\n".join(pdftotext_pages(folder / f"{key}.pdf"))}
    with zipfile.ZipFile(folder / f"{key}.epub") as epub:
        texts.update({f"epub {name}": markup_text(epub.read(name), etree.XMLParser())
                      for name in epub.namelist() if name.endswith(".xhtml")})
    document = docx.Document(str(folder / f"{key}.docx"))
    texts["docx"] = "\n".join(paragraph.text for paragraph in document.paragraphs)
    texts["landing page"] = markup_text((folder / "index.html").read_bytes(), etree.HTMLParser())
    return texts


@pytest.mark.slow
@pytest.mark.parametrize("fixture", LANGUAGE_FIXTURES, ids=lambda path: path.stem)
def test_no_reader_facing_text_says_seed(languages_dist, fixture):
    texts = reader_texts(languages_dist, fixture.stem)
    # The marker is there, and with no link it says nothing more.
    marker = "Read the original article here"
    (line,) = [line for line in texts["pdf"].splitlines() if marker in line]
    assert line.strip() == marker
    said = {where: TOOL_WORD.findall(text) for where, text in texts.items() if TOOL_WORD.search(text)}
    assert not said, said


@pytest.mark.slow
def test_the_index_and_the_landing_pages_label_the_source_text(languages_dist):
    index = markup_text((languages_dist / "index.html").read_bytes(), etree.HTMLParser())
    assert not TOOL_WORD.search(index), TOOL_WORD.findall(index)
    assert "Source text" in index
    french = markup_text((languages_dist / "fr" / "index.html").read_bytes(), etree.HTMLParser())
    assert "Texte source" in french


def test_a_space_after_an_emoji_on_the_cover_is_as_wide_as_the_texts():
    """The space went on in the colour emoji font's run, which draws it three times as
    wide as the title's own: a gap after every emoji on a cover."""
    from convert.editions.cover import _line_width, _runs

    fonts = [font for _run, font in _runs("🎉 Climate")]
    assert len(fonts) == 2 and not fonts[0].outline and fonts[1].outline
    size = 70
    whole = _line_width("🎉 Climate", size, "ltr")
    assert whole == pytest.approx(_line_width("🎉", size, "ltr") + _line_width(" Climate", size, "ltr"), abs=1)
    # The emoji's own sequences stay whole: a skin tone, a flag, a joined family.
    for sequence in ("👍🏽", "🇺🇳", "👨\u200d👩\u200d👧"):
        assert len(_runs(sequence)) == 1, sequence
