"""The Markdown master (DESIGN §2): frontmatter, literal paragraphs under pandoc, read back."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import html as lxml_html
from support.documents import frontmatter_text, pandoc_default_json, sections_of
from support.run import DATA, REAL_SEED
from support.strategies import TRICKY, canonical, seeds, typed_paragraphs

from convert import __version__
from convert.document.master import parse_master, read_master, to_markdown
from convert.document.model import Document, Source
from convert.document.provenance import text_problem
from convert.document.seed import parse_seed, read_seed
from convert.errors import SeedError
from convert.pandoc import pandoc_path


@pytest.fixture(scope="module")
def real() -> tuple[Document, str]:
    document = read_seed(REAL_SEED)
    return document, to_markdown(document)


# --- the real seed's master ---------------------------------------------------------

def test_real_master_frontmatter_is_safe_yaml_with_every_field(real):
    document, master = real
    meta = yaml.safe_load(frontmatter_text(master))
    data = REAL_SEED.read_bytes()
    assert list(meta) == [
        "title", "lang", "identifier", "source", "original_article", "sections", "generator",
    ]
    assert meta["title"] == "US Raid Kills Syrian Rebel Leader, Highlighting Complexities of Proxy Conflicts"
    assert meta["lang"] == "en"
    assert meta["identifier"] == f"urn:sha256:{meta['source']['sha256']}"
    assert meta["source"] == {
        "file": REAL_SEED.name, "sha256": document.source.sha256, "encoding": "utf-8", "bytes": len(data),
    }
    assert meta["original_article"] == {"text": "Read the original article here", "url": None}
    assert meta["sections"]["summary"] == {"paragraphs": 1, "words": 114}
    assert meta["sections"]["commentary"] == {
        "paragraphs": 10, "words": sum(len(p.split()) for p in document.commentary),
    }
    assert meta["generator"] == f"seedpress {__version__}"


def test_real_master_under_pandocs_default_reader_is_the_seeds_paragraphs(real):
    document, master = real
    sections = sections_of(pandoc_default_json(master)["blocks"])
    assert sections == {"summary": list(document.summary), "commentary": list(document.commentary)}
    assert sections["commentary"][0].startswith("US raid allegedly killed")


def test_real_master_under_section_divs_has_two_sections(real):
    """What `--section-divs` is for: HTML sections with the ids the editions link to."""
    document, master = real
    html = subprocess.run(
        [pandoc_path(), "-f", "markdown", "--section-divs", "--wrap=none", "-t", "html5"],
        input=master.encode(), capture_output=True, check=True, timeout=60,
    ).stdout.decode()
    tree = lxml_html.fromstring(f"<div>{html}</div>")
    sections = tree.xpath("./section")
    assert [s.get("id") for s in sections] == ["summary", "commentary"]
    assert [p.text_content() for p in sections[0].xpath("./p")] == list(document.summary)
    assert [p.text_content() for p in sections[1].xpath("./p")] == list(document.commentary)


# --- goldens -----------------------------------------------------------------------

GOLDEN_SEEDS = sorted(DATA.glob("*.txt"))


def test_there_are_golden_pairs_for_each_kind_of_seed():
    names = {path.stem for path in GOLDEN_SEEDS}
    assert {REAL_SEED.stem, "markup", "no_marker", "marker_url", "cp1252", "utf16le_bom"} <= names
    missing = [p.name for p in GOLDEN_SEEDS if not p.with_suffix(".md").is_file()]
    assert not missing, f"no expected master for {missing}: run `make goldens` and review the diff"


@pytest.mark.parametrize("seed", GOLDEN_SEEDS, ids=lambda path: path.stem)
def test_master_matches_golden(seed):
    expected = seed.with_suffix(".md").read_bytes()
    assert to_markdown(read_seed(seed)).encode("utf-8") == expected, (
        f"{seed.name}: the master changed; if that is intended run `make goldens` and review the diff"
    )


@pytest.mark.parametrize("seed", GOLDEN_SEEDS, ids=lambda path: path.stem)
def test_golden_master_reads_back_to_the_seeds_document(seed):
    assert read_master(seed.with_suffix(".md")) == read_seed(seed)


# --- properties --------------------------------------------------------------------

SOURCE = Source(file="typed.txt", sha256="0" * 64, encoding="utf-8", bytes=1)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seeds())
# Found by hypothesis: a summary paragraph told apart as Italian, so marked `::: {lang=it}`.
@example((b"* <script> [a](javascript:x) ![i](file:///etc/passwd)\n\n"
          b"![i](file:///etc/passwd) ![i](file:///etc/passwd) A \xc3\x88\n\n",
          {"title": "* <script> [a](javascript:x) ![i](file:///etc/passwd)",
           "summary": ("![i](file:///etc/passwd) ![i](file:///etc/passwd) A È",), "url": None, "marker": False,
           "commentary": ()}))
@pytest.mark.slow
def test_any_seed_comes_back_literally_through_pandocs_default_reader(seed):
    """seed bytes → Document → master → `pandoc -f markdown` → the same paragraphs, as plain Str/Space."""
    data, expected = seed
    document = parse_seed(data, "typed.txt")
    master = to_markdown(document)
    ast = pandoc_default_json(master)
    assert sections_of(ast["blocks"]) == {
        "summary": list(expected["summary"]), "commentary": list(expected["commentary"]),
    }
    assert parse_master(master, "typed.md") == document


TITLES = st.one_of(
    typed_paragraphs().map(canonical),
    st.sampled_from(TRICKY),
    st.sampled_from(["null", "~", "true", "no", "123", "0x1F", "1e3", "- x", ": x", "? x", "! x",
                     "&a", "*a", "| x", "> x", "%x", "@x", "`x", "#x", "'x", '"x', "---", "...",
                     "--- x", "a: b", "a #b", "[a]", "{a}", "x\u2028y", "\ufeffx", "é\u0301"]),
).filter(lambda title: title.strip(" \t\n\r\f\v") != "")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TITLES)
def test_any_title_round_trips_through_the_frontmatter(title):
    document = Document(
        title=title, summary=("Body.",), commentary=(), original_article=None, source=SOURCE,
    )
    master = to_markdown(document)
    assert yaml.safe_load(frontmatter_text(master))["title"] == title
    assert parse_master(master, "title.md").title == title


#: What an author, publisher or rights statement may be: any one line of text.
PROVENANCE_TEXTS = TITLES.filter(lambda text: text_problem(text) is None)
LICENSE_URLS = st.sampled_from([
    "https://creativecommons.org/licenses/by/4.0/", "http://example.org/l?a=1&b=*x*#frag",
    "https://例え.jp/ライセンス", "https://example.org/'quoted'&x=*y*",
])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PROVENANCE_TEXTS, PROVENANCE_TEXTS, PROVENANCE_TEXTS, LICENSE_URLS)
def test_author_publisher_rights_and_license_round_trip_through_the_frontmatter(author, publisher, rights, url):
    document = Document(
        title="Title", summary=("Body.",), commentary=(), original_article=None, source=SOURCE,
        author=author, publisher=publisher, rights=rights, license_url=url,
    )
    master = to_markdown(document)
    meta = yaml.safe_load(frontmatter_text(master))
    assert list(meta)[:7] == ["title", "lang", "identifier", "author", "publisher", "rights", "license_url"]
    assert parse_master(master, "provenance.md") == document


def test_a_master_without_them_reads_back_without_them(real):
    document, master = real
    assert parse_master(master, "real.md").provenance == document.provenance
    assert not document.provenance


# --- reading a master back ------------------------------------------------------------

@pytest.fixture
def markup_master() -> str:
    return (DATA / "markup.md").read_text("utf-8")


def with_body_paragraph(master: str, paragraph: str) -> str:
    """The master with `paragraph` added at the end of the summary, as a user might add it."""
    heading = "\n\n# Commentary {#commentary}\n"
    assert master.count(heading) == 1
    return master.replace(heading, f"\n\n{paragraph}{heading}")


@pytest.mark.parametrize("raw", [
    "<b>bold</b> and <script>alert(1)</script>",
    '<div class="x">a div</div>',
    "<!-- a comment -->",
    "&lt;tag&gt;",
])
def test_raw_html_in_a_master_stays_literal_text(markup_master, raw):
    document = parse_master(with_body_paragraph(markup_master, raw), "edited.md")
    html_free = document.summary[-1]
    assert "<" in html_free or "&" in html_free
    assert html_free == raw.replace("&lt;", "<").replace("&gt;", ">")


@pytest.mark.parametrize("block, reason", [
    ("---\ntitle: injected\nlang: xx\n---", "unsupported Markdown block"),
    ("---\ntitle: injected\n...", "unsupported Markdown block"),
    ("::: {.warning}\ninside a div\n:::", "unsupported Markdown block"),
    ("# Injected {#injected}", "unexpected heading"),
    ("- a list item", "unsupported Markdown block"),
    ("```\ncode\n```", "unsupported Markdown block"),
])
def test_blocks_a_master_does_not_hold_are_refused_clearly(markup_master, block, reason):
    with pytest.raises(SeedError) as raised:
        parse_master(with_body_paragraph(markup_master, block), "edited.md")
    assert reason in raised.value.reason
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("text, reason", [
    ("no frontmatter\n", "no YAML frontmatter"),
    ("---\n[not, a, mapping]\n---\n\n# S {#summary}\n\nx\n", "mapping"),
    ("---\ntitle: [unclosed\n---\n\n# S {#summary}\n\nx\n", "not valid YAML"),
    ("---\ntitle: !!python/object:os.system x\n---\n\n# S {#summary}\n\nx\n", "the tag !!python/object"),
])
def test_broken_frontmatter_is_refused_clearly(text, reason):
    with pytest.raises(SeedError) as raised:
        parse_master(text, "broken.md")
    assert reason in raised.value.reason


def test_a_corrected_master_is_what_gets_built(markup_master):
    """A user fixes a typo in the master; the Document carries the fix and stays literal."""
    original = read_seed(DATA / "markup.txt")
    edited = markup_master.replace("\\# Not a heading", "\\# Not a heading, corrected")
    document = parse_master(edited, "markup.md")
    assert document == replace(original, summary=tuple(
        p + ", corrected" if p == "# Not a heading" else p for p in original.summary
    ))


def test_master_with_crlf_and_bom_reads_the_same(tmp_path):
    master = (DATA / "marker_url.md").read_bytes()
    path = tmp_path / "crlf.md"
    path.write_bytes(b"\xef\xbb\xbf" + master.replace(b"\n", b"\r\n"))
    assert read_master(path) == read_master(DATA / "marker_url.md")


def test_master_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "latin.md"
    path.write_bytes((DATA / "cp1252.md").read_text("utf-8").encode("cp1252"))
    with pytest.raises(SeedError, match="UTF-8"):
        read_master(path)


def test_master_size_limit(tmp_path):
    path = tmp_path / "m.md"
    path.write_bytes((DATA / "no_marker.md").read_bytes())
    with pytest.raises(SeedError, match="larger than the size limit"):
        read_master(path, max_bytes=path.stat().st_size - 1)
