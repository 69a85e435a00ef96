"""The index as a reader meets it (issue 24): where a page stands ("1–100 of 110", page
numbers) in the reader's language, one download line per title, a small thumbnail, four
titles on a phone's first screen, and the archive's icon drawn in the cover's colours."""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import lxml.html
import pytest
from lxml import etree
from support.archives import write_seeds
from support.run import REAL_SEED, seedpress

from convert.config import load_config
from convert.document.labels import LABEL_LANGUAGES, format_number, labels
from convert.document.seed import read_seed
from convert.editions import cover
from convert.errors import ConfigError
from convert.layout import FAVICON_NAME, INDEX_NAME, page_name
from convert.publish.entries import Edition, Entry, HandoutOptions
from convert.publish.handout import FAVICON, write_handout
from convert.publish.index_page import render_index
from convert.publish.paging import PAGE_SIZE, Pages
from convert.web import EDITION_TYPES, ICON_TYPE

#: Every edition an entry may offer for download, in the catalog's order.
ALL_EDITIONS = tuple(EDITION_TYPES)
#: A phone's first screen and a desktop's, in CSS pixels.
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 800}


def entries(count: int, editions: tuple[str, ...] = ALL_EDITIONS) -> list[Entry]:
    """`count` entries, one a day from 2024-01-01 on, each with `editions`."""
    made = []
    for number in range(count):
        key = f"seed-{number:05d}"
        digest = hashlib.sha256(key.encode()).hexdigest()
        files = tuple(Edition(name, f"{key}/{key}.{name}", 1000 + number, digest) for name in editions)
        made.append(Entry(key=key, title=f"Title {number}", identifier=f"urn:sha256:{digest}",
                          summary=f"Summary {number}.", date=datetime(2024, 1, 1, tzinfo=UTC)
                          + timedelta(days=number), editions=files))
    return made


def page(path: Path) -> lxml.html.HtmlElement:
    return html(path.read_bytes())


def html(data: bytes) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(data)


def text(element) -> str:
    """The element's text with its line breaks as spaces (no-break spaces kept: Babel writes them)."""
    return re.sub(r"[ \t\n]+", " ", element.text_content())


# --- where a page stands, in the reader's language -----------------------------------------

@pytest.mark.parametrize("language", sorted(LABEL_LANGUAGES))
def test_the_start_page_says_which_titles_it_holds_of_how_many_in_the_readers_language(language):
    total = 10 * PAGE_SIZE + 10  # eleven pages: counts that Babel groups (1,010 in English)
    pages, options = Pages(entries(total)), HandoutOptions(lang=language)
    words = labels(language)
    start = html(render_index(pages.page(pages.last), options, pages=pages, number=pages.last))
    first, last = 10 * PAGE_SIZE + 1, total
    expected = words.range_of.format(first=format_number(first, language), last=format_number(last, language),
                                     total=format_number(total, language))
    assert expected in text(start.find_class("about")[0])
    assert start.get("lang") == language
    # The page numbers, the search box and the footer are in the same words.
    navigation = start.xpath("//nav[@class='pages']")[0]
    assert navigation.get("aria-label") == words.pages
    assert start.xpath("//nav//span[@aria-current='page']")[0].text_content() == format_number(11, language)
    assert [a.text_content() for a in navigation.xpath(".//a[@rel='next']")] == [words.older]
    assert start.xpath("//label[@for='search-query']")[0].text_content() == words.search_archive
    assert start.xpath("//form[@id='search']//button")[0].text_content() == words.search
    # Each older page says its own titles and its number, and links back to the newest.
    oldest = html(render_index(pages.page(1), options, pages=pages, number=1))
    held = words.range.format(first=format_number(1, language), last=format_number(PAGE_SIZE, language))
    assert held in text(oldest.find_class("about")[0])
    assert oldest.xpath("//a[@href='index.html']")
    assert words.page.format(number=format_number(1, language)) in oldest.findtext(".//title")


def test_english_numbers_are_grouped_and_the_range_reads_as_written():
    assert labels("en").range_of.format(first=format_number(1001, "en"), last=format_number(1010, "en"),
                                        total=format_number(1010, "en")) == "1,001–1,010 of 1,010"
    assert format_number(1010, "de") == "1.010" and format_number(1010, "fr") != "1010"


def test_older_pages_keep_their_bytes_as_titles_are_added(tmp_path):
    """What an older page says (its titles, its number) does not change with the archive's
    size, so a new title rewrites the start page and no older one."""
    write_handout(tmp_path, entries(2 * PAGE_SIZE + 10))
    older = {name: (tmp_path / name).read_bytes() for name in (page_name(INDEX_NAME, 1), page_name(INDEX_NAME, 2))}
    written = write_handout(tmp_path, entries(2 * PAGE_SIZE + 11))
    assert INDEX_NAME in written and not set(older) & set(written)
    assert {name: (tmp_path / name).read_bytes() for name in older} == older
    assert "201–211 of 211" in text(page(tmp_path / INDEX_NAME).find_class("about")[0])


def test_every_page_number_links_to_its_page_and_one_page_has_no_navigation(tmp_path):
    write_handout(tmp_path, entries(5 * PAGE_SIZE + 1))
    for path in tmp_path.glob("index*.html"):
        for href in page(path).xpath("//nav[@class='pages']//a/@href"):
            assert (tmp_path / href).is_file(), (path.name, href)
    one = tmp_path / "one"
    write_handout(one, entries(3))
    assert not page(one / INDEX_NAME).xpath("//nav[@class='pages']")
    assert "3 titles" in text(page(one / INDEX_NAME).find_class("about")[0])


# --- one download line per title ------------------------------------------------------------

@pytest.mark.parametrize("language", ["en", "ja", "ar"])
def test_each_title_has_one_download_line_epub_and_pdf_first_the_rest_behind_more_formats(tmp_path, language):
    write_handout(tmp_path, entries(2), HandoutOptions(lang=language))
    words = labels(language)
    for item in page(tmp_path / INDEX_NAME).xpath("//ol[@class='entries']/li"):
        [line] = item.xpath(".//ul[@class='downloads']")
        shown = [a.get("href").rsplit(".", 1)[1] for a in line.xpath("./li/a")]
        assert shown == ["epub", "pdf"]
        [more] = line.xpath("./li/details[@class='more']")
        assert more.get("open") is None
        assert more.findtext("summary") == words.more_formats
        hidden = [a.get("href").rsplit(".", 1)[1] for a in more.xpath(".//a")]
        assert hidden == ["docx", "md", "txt"]
        assert words.source_text in more.xpath(".//a")[-1].text_content()


@pytest.mark.parametrize(("page_language", "direction"), [("ar", "rtl"), ("he", "rtl"), ("en", None)])
def test_a_title_keeps_its_own_direction_on_a_page_in_another(tmp_path, page_language, direction):
    english = [replace(entry, lang="en") for entry in entries(1)]
    index = html(render_index(english, HandoutOptions(lang=page_language)))
    assert index.get("dir") == direction
    for element in index.xpath("//ol[@class='entries']//*[@lang='en']"):
        assert element.get("dir") == ("ltr" if direction == "rtl" else None)
    arabic = html(render_index([replace(entry, lang="ar") for entry in entries(1)], HandoutOptions(lang="en")))
    assert {element.get("dir") for element in arabic.xpath("//ol[@class='entries']//*[@lang='ar']")} == {"rtl"}


def test_a_title_with_only_the_reading_editions_has_no_disclosure(tmp_path):
    write_handout(tmp_path, entries(1, ("pdf", "epub")))
    [line] = page(tmp_path / INDEX_NAME).xpath("//ul[@class='downloads']")
    assert [a.get("type") for a in line.xpath(".//a")] == ["application/epub+zip", "application/pdf"]
    assert not line.xpath(".//details")


# --- the archive's language: seedpress.toml -------------------------------------------------

def test_the_archive_language_comes_from_seedpress_toml_and_a_bad_one_is_one_clear_error(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('[archive]\nlang = "fr"\n', "utf-8")
    assert load_config(good).archive.lang == "fr"
    bad = tmp_path / "bad.toml"
    bad.write_text('[archive]\nlang = "not a language"\n', "utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(bad)
    assert "archive.lang" in str(raised.value) and "\n" not in str(raised.value)
    with pytest.raises(ValueError, match="lang"):
        HandoutOptions(lang="<script>")


@pytest.mark.slow
def test_an_archive_run_writes_the_index_in_the_configured_language(tmp_path):
    write_seeds(tmp_path / "seeds", 2)
    config = tmp_path / "seedpress.toml"
    config.write_text('[archive]\nlang = "de"\n', "utf-8")
    result = seedpress("archive", tmp_path / "seeds", "--dist", tmp_path / "dist", "--config", config)
    assert result.returncode == 0, result.stderr
    index = page(tmp_path / "dist" / INDEX_NAME)
    assert index.get("lang") == "de"
    assert index.xpath("//details[@class='more']/summary")[0].text_content() == labels("de").more_formats
    assert labels("de").titles.format(count=2) in text(index.find_class("about")[0])


# --- the icon ---------------------------------------------------------------------------------

def test_the_icon_is_drawn_in_the_covers_own_colours():
    svg = etree.fromstring(FAVICON)
    fills = {element.get("fill").lower() for element in svg.iter() if element.get("fill")}
    palette = {cover.BACKGROUND, cover.INK, cover.BLUE, cover.RUST, cover.GREY}
    assert fills == {colour.lower() for colour in palette}
    assert FAVICON == cover.favicon_svg()  # constant bytes: reproducible like the rest


def test_every_colour_of_the_icon_is_on_a_drawn_cover():
    from PIL import Image

    drawn = Image.open(io.BytesIO(cover.cover_png(read_seed(REAL_SEED)))).convert("RGB")
    colours = {"#{:02x}{:02x}{:02x}".format(*colour) for _count, colour in drawn.getcolors(maxcolors=1 << 20)}
    fills = set(re.findall(r'fill="(#[0-9a-f]{6})"', FAVICON.decode()))
    assert fills <= colours


def test_the_icon_is_written_and_linked_from_the_index(tmp_path):
    write_handout(tmp_path, entries(PAGE_SIZE + 1))
    assert (tmp_path / FAVICON_NAME).read_bytes() == FAVICON
    for path in tmp_path.glob("index*.html"):
        [icon] = page(path).xpath("//head/link[@rel='icon']")
        assert icon.get("type") == ICON_TYPE
        assert (tmp_path / icon.get("href")).read_bytes() == FAVICON


# --- in a real browser, on a phone and a desktop ----------------------------------------------

@pytest.fixture(scope="module")
def six_titles(tmp_path_factory) -> Path:
    """An archive of six titles made from the real seed, by the real CLI."""
    base = tmp_path_factory.mktemp("six-titles")
    write_seeds(base / "seeds", 6)
    result = seedpress("archive", base / "seeds", "--dist", base / "dist")
    assert result.returncode == 0, result.stderr
    return base / "dist"


#: Per entry: its box, its thumbnail's box and whether it loaded, and the box of each item of its download line.
MEASURE = """() => [...document.querySelectorAll('ol.entries > li')].map(item => {
  const box = element => { const r = element.getBoundingClientRect();
                           return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
  const thumb = item.querySelector('img.thumb');
  return {entry: box(item), thumb: box(thumb), loaded: thumb.complete && thumb.naturalWidth > 0,
          downloads: [...item.querySelectorAll('ul.downloads > li')].map(box)};
})"""


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_index_in_chromium_shows_small_thumbnails_one_download_line_and_four_titles(browser, six_titles,
                                                                                        viewport):
    # bypass_csp: the page allows no eval, which Playwright's polling of a predicate needs.
    opened = browser.new_page(viewport=viewport, bypass_csp=True)
    try:
        opened.goto((six_titles / INDEX_NAME).as_uri())
        # The thumbnails load lazily: those of the first screen, at once.
        opened.wait_for_function(f"[...document.images].filter(image => image.getBoundingClientRect().top"
                                 f" < {viewport['height']}).every(image => image.complete)")
        measured = opened.evaluate(MEASURE)
        assert len(measured) == 6
        for entry in measured:
            thumb = entry["thumb"]
            assert 0 < thumb["right"] - thumb["left"] <= 64
            assert entry["loaded"] or thumb["top"] >= viewport["height"]
            line = entry["downloads"]
            assert len(line) == 3  # EPUB, PDF, more formats
            assert len({round(item["top"]) for item in line}) == 1, line  # one line
            assert line[-1]["right"] <= viewport["width"]
        on_screen = [entry for entry in measured if entry["entry"]["bottom"] <= viewport["height"]]
        assert len(on_screen) >= (4 if viewport is PHONE else 3), [entry["entry"] for entry in measured]
        # "More formats" opens onto the other downloads.
        first = opened.locator("ol.entries > li").first
        first.locator("details.more > summary").click()
        assert first.locator("details.more a[type^='application/vnd.openxmlformats']").is_visible()
    finally:
        opened.close()


#: The top of the summary, and of its first character after `words`, in the index's one entry.
WHERE_THE_ADDRESS_STARTS = """words => {
  const summary = document.querySelector('ol.entries > li .summary');
  const text = summary.firstChild, at = text.data.indexOf(words) + words.length + 1;
  const range = document.createRange(); range.setStart(text, at); range.setEnd(text, at + 1);
  return {summary: summary.getBoundingClientRect().top, address: range.getClientRects()[0].top};
}"""


@pytest.mark.browser
def test_a_web_address_in_a_summary_is_broken_on_the_phones_one_line_not_left_to_a_hidden_second(
        browser, tmp_path):
    """The index shows one line of each summary on a phone. A summary with a long web address
    after its first words showed those words and "…": the address, which has no space to break
    at, went whole to the hidden second line."""
    words = "Officials said"
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    address = "https://www.example.com/news/world/2026/12/07/" + "a-long-slug-of-many-words-" * 6
    (seeds / "address.txt").write_text(f"A title\n\n{words} {address} is where it began. More.\n\n"
                                       "Read the original article here\n\nA commentary.\n", "utf-8")
    assert seedpress("archive", seeds, "--dist", tmp_path / "dist").returncode == 0
    opened = browser.new_page(viewport=PHONE)
    try:
        opened.goto((tmp_path / "dist" / INDEX_NAME).as_uri())
        where = opened.evaluate(WHERE_THE_ADDRESS_STARTS, words)
        assert abs(where["address"] - where["summary"]) < 2, where  # on the first line, which shows
    finally:
        opened.close()
