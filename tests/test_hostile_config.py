"""Hostile configuration, URLs, language tags and titles (issue 20: D10-D13 and the config
reader's weaknesses): every bad file or value is one line and exit 2, every URL accepted
is one every edition can link, every language tag accepted works in Pagefind, and a title's
bidi controls stay inside the title."""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import lxml.html
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.editions import run_epubcheck
from support.run import assert_one_line_error, json_lines, seedpress, seedpress_environment

from convert.config import CONFIG_NAME, load_config
from convert.defaults import ARCHIVE_TITLE
from convert.document.labels import long_date
from convert.document.language import MAX_TAG_LENGTH, is_language_tag
from convert.document.model import MAX_MARKER_TEXT
from convert.document.provenance import MAX_URL, Provenance, is_web_url, url_problem
from convert.document.seed import fold, parse_seed
from convert.editions.landing import landing_page
from convert.errors import ConfigError
from convert.publish.entries import HandoutOptions
from convert.publish.index_page import index_provenance
from convert.publish.sitesearch import BUNDLE_ENTRY, BUNDLE_NAME, refresh_bundle

#: Pagefind 1.5's limit, found by experiment (see convert/sitesearch.py); older code has none.
PAGEFIND_MAX_LANGUAGE = 12

#: How long a command that must refuse at once may take before the test calls it a hang.
PROMPT = 60
#: A message line longer than this echoes a value it should have cut.
SHORT_LINE = 400
CREATED = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _seed(title: str = "A title", marker: str = "Read the original article here") -> bytes:
    return (f"{title}\n\nThe summary of the original article, in a few plain words.\n\n"
            f"{marker}\n\nA comment on it.\n").encode()


def _one_short_line(result: subprocess.CompletedProcess, name: str) -> str:
    line = assert_one_line_error(result.stderr, name)
    assert len(line) < SHORT_LINE, f"{len(line)} characters: {line[:200]}…"
    assert "internal error" not in line, line
    return line


# --- D10: deeply nested TOML, and every other TOML failure --------------------------------

NESTED = {
    "arrays": "x = " + "[" * 100_000 + "]" * 100_000 + "\n",
    "inline tables": "x = " + "{a = " * 100_000 + "1" + "}" * 100_000 + "\n",
    "arrays in a known key": "[metadata]\nauthor = " + "[" * 5_000 + "]" * 5_000 + "\n",
    "an integer of 5,000 digits": "x = 1" + "0" * 5_000 + "\n",
}


@pytest.mark.parametrize("content", NESTED.values(), ids=NESTED.keys())
def test_a_deep_or_huge_toml_value_is_one_line_and_exit_2(tmp_path, content):
    config = tmp_path / CONFIG_NAME
    config.write_text(content, "utf-8")
    result = seedpress("convert", "--config", config, "--out", tmp_path / "out", tmp_path / "none.txt",
                       timeout=PROMPT)
    assert result.returncode == 2, result.stderr
    _one_short_line(result, str(config))
    assert not (tmp_path / "out").exists()


_NESTING = st.recursive(
    st.one_of(st.integers(), st.text(max_size=5), st.booleans()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("abc"), inner, max_size=3)),
    max_leaves=20,
)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml_value, value)) + "]"
    return "{" + ", ".join(f"{key} = {_toml_value(item)}" for key, item in value.items()) + "}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(depth=st.integers(1, 3_000), kind=st.sampled_from("[{"), inner=_NESTING,
       key=st.sampled_from(["x", "archive", "metadata.author", "archive.title"]), junk=st.binary(max_size=40))
def test_any_nesting_or_bytes_loads_or_is_one_config_error(tmp_path, depth, kind, inner, key, junk):
    """Property: whatever the nesting and whatever bytes follow, load_config gives a Config
    or one ConfigError of one short line naming the file, never another exception."""
    opened, closed = ("[", "]") if kind == "[" else ("{a = ", "}")
    value = opened * depth + _toml_value(inner) + closed * depth
    config = tmp_path / CONFIG_NAME
    for content in (f"{key} = {value}\n".encode(), f"{key} = {value}\n".encode() + junk):
        config.write_bytes(content)
        try:
            load_config(config)
        except ConfigError as error:
            message = str(error)
            assert message.startswith(f"{config}: ") and "\n" not in message and len(message) < SHORT_LINE


# --- D11: limits hold after normalisation; messages never echo a huge value ---------------

def _base_url(length: int, slash: bool) -> str:
    start = "https://archive.example/"
    return start + "a" * (length - len(start) - int(slash)) + ("/" if slash else "")


@pytest.mark.parametrize("length, slash", [(MAX_URL, False), (MAX_URL + 1, True), (MAX_URL + 1, False)])
def test_a_base_url_over_the_limit_once_normalised_is_one_short_line(tmp_path, length, slash):
    config = tmp_path / CONFIG_NAME
    config.write_text(f'[archive]\nbase_url = "{_base_url(length, slash)}"\n', "utf-8")
    (tmp_path / "seeds").mkdir()
    result = seedpress("archive", "--config", config, "--dist", tmp_path / "dist", tmp_path / "seeds",
                       timeout=PROMPT)
    assert result.returncode == 2, result.stderr[:500]
    assert "archive.base_url" in _one_short_line(result, str(config))
    assert not (tmp_path / "dist").exists()


@pytest.mark.parametrize("length, slash", [(MAX_URL - 1, False), (MAX_URL, True), (30, False)])
def test_a_base_url_at_the_limit_once_normalised_is_used(tmp_path, length, slash):
    config = tmp_path / CONFIG_NAME
    config.write_text(f'[archive]\nbase_url = "{_base_url(length, slash)}"\n', "utf-8")
    base_url = load_config(config).archive.base_url
    assert base_url.endswith("/") and len(base_url) == length + (not slash) <= MAX_URL
    assert HandoutOptions(base_url=base_url).base_url == base_url


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(length=st.integers(MAX_URL - 40, MAX_URL + 40), slash=st.booleans())
def test_any_base_url_config_accepts_is_one_the_handout_accepts(tmp_path, length, slash):
    """Property: a base URL load_config accepts is one HandoutOptions accepts, at every length."""
    config = tmp_path / CONFIG_NAME
    config.write_text(f'[archive]\nbase_url = "{_base_url(length, slash)}"\n', "utf-8")
    try:
        base_url = load_config(config).archive.base_url
    except ConfigError as error:
        assert len(str(error)) < SHORT_LINE
        return
    assert len(base_url) <= MAX_URL
    HandoutOptions(base_url=base_url)


@pytest.mark.parametrize("content, where", [
    (f'[metadata]\nlicense_url = "https://a.example/{"x" * 100_000}"\n', "metadata.license_url"),
    (f'[metadata]\n"{"k" * 100_000}" = "x"\n', "metadata.kkkk"),
    ('[metadata]\n"\\u001b[31mred" = "x"\n', "metadata.\\x1b[31mred"),
])
def test_messages_never_echo_a_huge_or_raw_value(tmp_path, content, where):
    config = tmp_path / CONFIG_NAME
    config.write_text(content, "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    message = str(caught.value)
    assert where in message and len(message) < SHORT_LINE and "\x1b" not in message, message[:500]


# --- D12: URLs that pass the checks but are not URLs ---------------------------------------

NOT_URLS = {
    "port over 65535": "https://a.example:65536/",
    "port far over": "https://a.example:99999999999/",
    "port not a number": "https://a.example:8x/",
    "empty port": "https://a.example:/",
    "bad escape": "https://a.example/%zz",
    "short escape": "https://a.example/a%4",
    "lone percent": "https://a.example/100%",
    "zone in an IPv6 host": "https://[fe80::1%25eth0]/",
    "empty host label": "https://a..example/",
    "number host, no IPv4": "https://1.2.3.999/",
    "bracket in the path": "https://a.example/[x]",
    "second hash": "https://a.example/#a#b",
    "right-to-left override": "https://a.example/\u202e",
    "no-break space": "https://a.example/a\u00a0b",
    **{f"holds {char}": f"https://a.example/a{char}b" for char in '"<>{}|\\^`'},
}


@pytest.mark.parametrize("url", NOT_URLS.values(), ids=NOT_URLS.keys())
def test_a_url_that_is_not_a_url_is_refused(url):
    assert not is_web_url(url)
    problem = url_problem(url)
    assert problem is not None and problem.startswith("must be an absolute http(s) URL")


URLS = [
    "https://creativecommons.org/licenses/by/4.0/",
    "http://x",
    "https://a.example:65535/",
    "https://a.example:0080/p",
    "https://user:pw@a.example/",
    "https://[::1]:8080/x?y#z",
    "https://1.2.3.4/%41%7e",
    "https://a.example/p;x=1/(a)!$&'*+,=~@:/?q=/?#f/?",
    "https://bücher.example/ö?q=ä#é",
    "https://例え.テスト/パス",
    "https://a.example./",
]


@pytest.mark.parametrize("url", URLS)
def test_a_url_every_edition_can_link_is_accepted(url):
    assert is_web_url(url) and url_problem(url) is None


@pytest.mark.parametrize("port", ["65536", "99999", "8x", "-1", "１２"])
def test_a_license_url_with_a_bad_port_in_seedpress_toml_is_one_line_exit_2(tmp_path, port):
    config = tmp_path / CONFIG_NAME
    config.write_text(f'[metadata]\nlicense_url = "https://a.example:{port}/l"\n', "utf-8")
    result = seedpress("convert", "--config", config, "--out", tmp_path / "out", tmp_path / "none.txt",
                       timeout=PROMPT)
    assert result.returncode == 2, result.stderr
    assert "metadata.license_url" in _one_short_line(result, str(config))


@pytest.mark.parametrize("url", [url for name, url in NOT_URLS.items() if name.startswith(("holds", "bad", "port"))])
def test_a_marker_url_that_is_not_a_url_stays_literal_text(url):
    """The marker is still the marker; its URL is no link, and none of it is lost."""
    marker = f"Read the original article here: {url}"
    document = parse_seed(_seed(marker=marker), "s.txt", lang="en")
    assert document.original_article is not None
    assert document.original_article.url is None
    assert document.original_article.text == marker
    assert document.summary and document.commentary == ("A comment on it.",)


def test_a_refused_marker_url_too_long_for_a_marker_stays_a_paragraph():
    marker = "Read the original article here: https://a.example/<" + "x" * MAX_MARKER_TEXT
    document = parse_seed(_seed(marker=marker), "s.txt", lang="en")
    assert document.original_article is None
    assert marker in document.summary


@pytest.mark.slow
def test_a_refused_marker_url_round_trips_through_the_master(tmp_path):
    marker = 'Read the original article here: https://a.example/"quoted"<b>'
    seed = tmp_path / "s.txt"
    seed.write_bytes(_seed(marker=marker))
    result = seedpress("convert", seed, "--to", "md", "--out", tmp_path / "out", timeout=PROMPT)
    assert result.returncode == 0, result.stderr
    master = next((tmp_path / "out").glob("*/*.md"))
    again = seedpress("convert", master, "--to", "md", "--out", tmp_path / "again", timeout=PROMPT)
    assert again.returncode == 0, again.stderr
    for written in (master, next((tmp_path / "again").glob("*/*.md"))):
        meta = yaml.safe_load(written.read_text("utf-8").split("---\n")[1])
        assert meta["original_article"] == {"text": marker, "url": None}


#: RFC 3986 appendix A, written out for this test (with RFC 3987's letters beyond ASCII
#: where an IRI allows them), for http(s) URLs with a host.
_HEX = "[0-9A-Fa-f]"
_PCT = f"%{_HEX}{_HEX}"
_UCS = "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef\U00010000-\U0001fffd\U00020000-\U0002fffd\U00030000-\U0003fffd"
_UNRESERVED = f"[A-Za-z0-9._~-]|[{_UCS}]"
_SUB_DELIMS = "[!$&'()*+,;=]"
_PCHAR = f"(?:{_UNRESERVED}|{_PCT}|{_SUB_DELIMS}|[:@])"
_DEC_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IPV4 = f"{_DEC_OCTET}\\.{_DEC_OCTET}\\.{_DEC_OCTET}\\.{_DEC_OCTET}"
_H16 = f"{_HEX}{{1,4}}"
_LS32 = f"(?:{_H16}:{_H16}|{_IPV4})"
_IPV6 = "(?:" + "|".join([
    f"(?:{_H16}:){{6}}{_LS32}", f"::(?:{_H16}:){{5}}{_LS32}", f"(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}",
    f"(?:(?:{_H16}:){{0,1}}{_H16})?::(?:{_H16}:){{3}}{_LS32}", f"(?:(?:{_H16}:){{0,2}}{_H16})?::(?:{_H16}:){{2}}{_LS32}",
    f"(?:(?:{_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}", f"(?:(?:{_H16}:){{0,4}}{_H16})?::{_LS32}",
    f"(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}", f"(?:(?:{_H16}:){{0,6}}{_H16})?::",
]) + ")"
_REG_NAME = f"(?:{_UNRESERVED}|{_PCT}|{_SUB_DELIMS})*"
_AUTHORITY = (f"(?:(?:{_UNRESERVED}|{_PCT}|{_SUB_DELIMS}|:)*@)?"
              f"(?:\\[{_IPV6}\\]|{_IPV4}|{_REG_NAME})(?::[0-9]*)?")
RFC3986_HTTP_URL = re.compile(
    f"https?://{_AUTHORITY}(?:/{_PCHAR}*)*(?:\\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?")


def _browser_host_problem(url: str) -> str | None:
    """What the WHATWG URL standard (EPUBCheck's parser) refuses beyond RFC 3986: a port
    over 65535, an empty host or empty label, a "%" in the host."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.port is not None and parts.port > 65_535:
        return "port"
    host = parts.hostname or ""
    if not host or "%" in host or (not host.startswith("[") and ":" not in host
                                   and "" in host.removesuffix(".").split(".")):
        return "host"
    return None


_URL_PIECES = st.sampled_from([
    "a", "Z", "0", "9", "-", ".", "_", "~", "%41", "%7e", "%", "%4", "%zz", "!", "$", "&", "'", "(", ")",
    "*", "+", ",", ";", "=", ":", "@", "/", "?", "#", "[", "]", "{", "}", "<", ">", '"', "|", "\\", "^",
    "`", " ", "é", "中", "\u202e", "\u00a0", "\u00ad", "\ufdd0", "\U0001f642", "..",
])


@st.composite
def _urls(draw) -> str:
    user = draw(st.sampled_from(["", "u@", "u:p@", "u@@", "%zz@"]))
    host = draw(st.one_of(
        st.sampled_from(["a.example", "b\u00fccher.example", "1.2.3.4", "1.2.3.999", "[::1]", "[fe80::1%25x]",
                         "[::1", "a..b", "", "xn--bcher-kva.example", "a.example.", "a_b.c"]),
        st.lists(_URL_PIECES, min_size=1, max_size=4).map("".join)))
    port = draw(st.sampled_from(["", "", ":80", ":65535", ":65536", ":", ":8x", ":0"]))
    rest = draw(st.lists(_URL_PIECES, max_size=12).map("".join))
    # Spaces are folded as a paragraph's are (the property is about URLs, not paragraphs).
    return fold(f"{draw(st.sampled_from(['http', 'https']))}://{user}{host}{port}/{rest}")


@settings(max_examples=600, deadline=None)
@given(url=_urls())
def test_any_url_the_checks_accept_is_an_rfc3986_url_a_browser_parses(url):
    """Property: an accepted URL matches RFC 3986's grammar (as this test writes it), passes
    the WHATWG checks EPUBCheck applies, and is kept as the marker's link, whole; a refused
    one stays in the marker's text, whole."""
    marker = f"Read the original article here: {url}"
    document = parse_seed(_seed(marker=marker), "s.txt", lang="en")
    article = document.original_article
    if is_web_url(url):
        assert RFC3986_HTTP_URL.fullmatch(url), url
        assert _browser_host_problem(url) is None, url
        # A marker's final full stop is punctuation, not part of its URL.
        assert article is not None and article.url in (url, url.removesuffix("."))
    if article is None:  # not a marker at all (a space in it): an ordinary paragraph
        assert marker in document.summary
    elif article.url is None:
        assert article.text == marker
    else:
        assert is_web_url(article.url) and article.url in (url, url.removesuffix("."))


@pytest.mark.slow
@pytest.mark.jvm
def test_epubcheck_passes_every_epub_with_an_accepted_url_and_a_refused_one(tmp_path):
    """Each URL this module accepts, as a marker and as the license, and each it refuses,
    as a marker: the EPUB passes EPUBCheck (the refused ones were EPUBCheck errors)."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    marked = {f"ok{index:02}": url for index, url in enumerate(URLS)}
    marked |= {f"no{index:02}": url for index, url in enumerate(NOT_URLS.values()) if " " not in url}
    for name, url in marked.items():
        (seeds / f"{name}.txt").write_bytes(_seed(f"Title {name}", f"Read the original article here: {url}"))
    license_url = "https://u@b\u00fccher.example:443/l/(x)?a=b&c=d#f"
    result = seedpress("convert", seeds, "--to", "epub", "--out", tmp_path / "out", "--license-url", license_url,
                       "--json", timeout=900)
    assert result.returncode == 0, result.stderr
    assert len(json_lines(result.stdout)) == len(marked)
    epubs = sorted((tmp_path / "out").glob("*/*.epub"))
    reports = run_epubcheck(epubs)
    for epub, report in reports.items():
        errors = [m for m in report["messages"] if m["severity"] in ("ERROR", "FATAL")]
        assert not errors, (epub.name, marked[epub.stem], errors)


# --- D13: every accepted language tag works in Pagefind -------------------------------------

def _landing(dist: Path, key: str, tag: str, title: str = "Hello world") -> tuple[str, str]:
    document = parse_seed(_seed(title), f"{key}.txt", lang=tag)
    page = landing_page(document, key, {}, CREATED)
    (dist / key).mkdir(parents=True)
    (dist / key / "index.html").write_bytes(page)
    return f"{key}/index.html", hashlib.sha256(page).hexdigest()


def _tag(length: int, seed: int = 0) -> str:
    """A well-formed tag of `length` characters: en, then subtags of up to 8 letters/digits."""
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    parts, index = ["en"], seed
    while len("-".join(parts)) < length:
        room = length - len("-".join(parts)) - 1
        size = min(8, room) if room != 9 else 7
        parts.append("".join(letters[(index + i * 7) % len(letters)] for i in range(size)))
        index += 11
    tag = "-".join(parts)
    assert len(tag) == length and is_language_tag(tag), tag
    return tag


@pytest.mark.parametrize("length", [33, 34, MAX_TAG_LENGTH])
def test_pagefind_indexes_a_page_in_a_language_tag_of_33_to_35_characters(tmp_path, length):
    dist = tmp_path / "dist"
    pages = [_landing(dist, f"k{index}", _tag(length, index)) for index in range(3)]
    assert refresh_bundle(dist, pages)
    assert (dist / BUNDLE_NAME / BUNDLE_ENTRY).is_file()
    body = lxml.html.fromstring((dist / "k0" / "index.html").read_bytes()).find("body")
    assert body.get("lang") == _tag(length, 0), "the page keeps its whole tag"


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(length=MAX_TAG_LENGTH, seed=5, title="\u05e9\u05dc\u05d5\u05dd")
@example(length=PAGEFIND_MAX_LANGUAGE, seed=7, title="Hello")
@example(length=PAGEFIND_MAX_LANGUAGE + 1, seed=9, title="Hello")
@example(length=2, seed=0, title="\ufeff")
@given(length=st.integers(2, MAX_TAG_LENGTH), seed=st.integers(0, 10_000),
       title=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30))
def test_any_accepted_language_tag_works_in_pagefind(tmp_path_factory, length, seed, title):
    """Property: with the real Pagefind, a landing page in any tag is_language_tag accepts
    is indexed (variant: every length from 2 to 35, any title)."""
    tag = _tag(length, seed) if length != 3 else "und"
    dist = tmp_path_factory.mktemp("dist")
    # A title is its seed's first line: one that starts with U+FEFF would be read as the
    # file's byte order mark (DESIGN §1), and the seed would have no title.
    title = re.sub(r"^[\s\ufeff]+", "", title).strip() or "Hello"
    refresh_bundle(dist, [_landing(dist, "k", tag, title)])
    assert (dist / BUNDLE_NAME / BUNDLE_ENTRY).is_file()


@pytest.mark.slow
def test_archive_with_a_35_character_lang_makes_the_static_search(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "one.txt").write_bytes(_seed("A long language tag"))
    result = seedpress("archive", seeds, "--dist", tmp_path / "dist", "--lang", _tag(MAX_TAG_LENGTH),
                       env={"SEEDPRESS_JOBS": None})
    assert result.returncode == 0, result.stderr
    assert "pagefind" not in result.stderr, result.stderr
    assert (tmp_path / "dist" / BUNDLE_NAME / BUNDLE_ENTRY).is_file()


# --- The config reader: FIFO, BOM, missing pandoc, a signal that kills Pagefind ------------

@pytest.mark.parametrize("how", ["default name", "--config"])
def test_a_fifo_as_the_configuration_is_refused_at_once(tmp_path, how):
    fifo = tmp_path / CONFIG_NAME
    os.mkfifo(fifo)
    arguments = ["--config", fifo] if how == "--config" else []
    result = seedpress("convert", *arguments, "--out", tmp_path / "out", tmp_path / "none.txt",
                       cwd=tmp_path, timeout=PROMPT)
    assert result.returncode == 2, result.stderr
    assert "not a regular file" in _one_short_line(result, CONFIG_NAME)


def test_a_folder_as_the_configuration_is_refused(tmp_path):
    folder = tmp_path / CONFIG_NAME
    folder.mkdir()
    with pytest.raises(ConfigError, match="not a regular file|Is a directory"):
        load_config(folder)


@pytest.mark.parametrize("content", [
    '[archive]\ntitle = "With a BOM"\n',
    '\n# a comment first\n[archive]\ntitle = "With a BOM"\n',
])
def test_a_utf8_bom_is_accepted(tmp_path, content):
    config = tmp_path / CONFIG_NAME
    config.write_bytes(b"\xef\xbb\xbf" + content.encode("utf-8"))
    assert load_config(config).archive.title == "With a BOM"


@pytest.mark.parametrize("bom, encoding", [(b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")])
def test_a_utf16_configuration_says_utf8_is_needed(tmp_path, bom, encoding):
    config = tmp_path / CONFIG_NAME
    config.write_bytes(bom + '[archive]\ntitle = "x"\n'.encode(encoding))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(config)


@pytest.mark.parametrize("env, says", [
    ({"PYPANDOC_PANDOC": "/nonexistent/pandoc"}, "pandoc not found"),
    ({"SEEDPRESS_PANDOC": "/nonexistent/pandoc"}, "pandoc /nonexistent/pandoc"),
    ({"SEEDPRESS_PANDOC": "/bin/false"}, "pandoc /bin/false"),
])
def test_a_missing_pandoc_is_one_line_and_exit_2(tmp_path, env, says):
    seed = tmp_path / "s.txt"
    seed.write_bytes(_seed())
    result = seedpress("convert", seed, "--to", "epub", "--out", tmp_path / "out", env=env, timeout=PROMPT)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert says in _one_short_line(result, "pandoc")


_KILLED_PAGEFIND = textwrap.dedent("""
    import sys
    from pathlib import Path
    from convert.errors import SeedpressError
    from convert.publish.sitesearch import refresh_bundle
    dist = Path(sys.argv[1])
    try:
        refresh_bundle(dist, [("k/index.html", "0" * 64)])
    except SeedpressError as error:
        print(error)
""")


@pytest.mark.parametrize("limit", [64 << 10, 16 << 10])
def test_pagefind_killed_by_a_signal_is_named(tmp_path, limit):
    """`ulimit -f`: Python ignores SIGXFSZ, the Pagefind it starts does not and is killed."""
    dist = tmp_path / "dist"
    _landing(dist, "k", "en")

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run([sys.executable, "-c", _KILLED_PAGEFIND, str(dist)], capture_output=True, text=True,
                            timeout=PROMPT, env=seedpress_environment(), preexec_fn=limit_file_size,
                            check=False)
    assert result.stdout.strip() == ("pagefind was killed by SIGXFSZ (file size limit exceeded); "
                                     "the previous search bundle stays"), result.stdout + result.stderr
    assert not (dist / BUNDLE_NAME).exists() and not (dist / ".pagefind-new").exists()


# --- A title's bidi controls stay inside the title -------------------------------------------

def _cite(page: bytes) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(page).xpath("//section[@class='cite']/p")[0]


@pytest.mark.parametrize("title", ["abc\u202edef", "abc\u202bdef", "abc\u2067def", "\u05d0\u05d1\u05d2 123"])
def test_the_cite_line_isolates_the_title(title):
    document = parse_seed(_seed(title), "s.txt", lang="en")
    cite = _cite(landing_page(document, "s", {}, CREATED))
    # Title, then publisher (the archive's title), each in its <bdi>; the date after them.
    isolated, publisher = cite.findall("bdi")
    assert isolated.text == title and publisher.text == ARCHIVE_TITLE
    assert cite.text in (None, "") and isolated.tail == ". ", "nothing of the title outside its <bdi>"
    assert long_date(CREATED, "en") in publisher.tail and cite.find("code").text == document.identifier


def test_the_landing_and_index_provenance_isolate_author_and_rights():
    """Variant: author and rights set beside the date on the landing page, and author,
    publisher and rights joined on the index page, each in its own <bdi>."""
    document = replace(parse_seed(_seed(), "s.txt", lang="en"), author="Eve\u202e", rights="CC\u202e BY")
    meta = lxml.html.fromstring(landing_page(document, "s", {}, CREATED)).xpath("//p[@class='meta']")[0]
    assert [element.text for element in meta.iter("bdi")] == ["Eve\u202e", "CC\u202e BY"]
    entry = SimpleNamespace(author="Eve\u202e", publisher="P\u202e", rights="R\u202e",
                            license_url="https://a.example/")
    line = lxml.html.fromstring(index_provenance(entry))
    assert [element.text for element in line.iter("bdi")] == ["Eve\u202e", "P\u202e", "R\u202e"]


@pytest.mark.slow
@pytest.mark.browser
def test_chromium_shows_the_cite_line_in_order_despite_an_open_override(tmp_path):
    """In Chromium, the date comes after the title and the urn:sha256 after the date, and
    the identifier reads left to right, though the title opens a U+202E it never closes."""
    from playwright.sync_api import sync_playwright

    document = parse_seed(_seed("abc\u202edef"), "s.txt", lang="en")
    page_file = tmp_path / "index.html"
    page_file.write_bytes(landing_page(document, "s", {}, CREATED))
    date = long_date(CREATED, "en")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()
            page.goto(page_file.as_uri())
            boxes = page.evaluate("""(date) => {
                const line = document.querySelector("section.cite p");
                const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
                let node, found = null;
                while ((node = walker.nextNode())) {
                    const at = node.data.indexOf(date);
                    if (at >= 0) { found = [node, at]; break; }
                }
                const box = (node, start, end) => {
                    const range = document.createRange();
                    range.setStart(node, start); range.setEnd(node, end);
                    const r = range.getBoundingClientRect();
                    return [Math.round(r.top), r.left, r.right];
                };
                const code = line.querySelector("code").firstChild;
                return {
                    dateFirst: box(found[0], found[1], found[1] + 1),
                    dateLast: box(found[0], found[1] + date.length - 1, found[1] + date.length),
                    codeFirst: box(code, 0, 1),
                    codeLast: box(code, code.data.length - 1, code.data.length),
                };
            }""", date)
        finally:
            browser.close()
    # In reading order: on a later line, or further right on the same one.
    def before(first, second):
        return first[0] < second[0] or (first[0] == second[0] and first[2] <= second[1])

    assert before(boxes["dateFirst"], boxes["dateLast"]), boxes
    assert before(boxes["dateLast"], boxes["codeFirst"]), boxes
    assert before(boxes["codeFirst"], boxes["codeLast"]), boxes


@pytest.mark.parametrize("field, value", [("license_url", "https://a.example:99999/"),
                                          ("license_url", "https://a.example/<x>"), ("rights", "CC\nBY")])
def test_a_catalogued_value_todays_checks_refuse_is_left_out_when_read_back(field, value):
    """An archive built before a check was tightened: its catalog row still holds the value,
    and the hand-out (check_entry refuses such an entry) must not fail on it every run."""
    read = Provenance.from_json(json.dumps({field: value, "author": "Jane Doe"}))
    assert read == Provenance(author="Jane Doe")
