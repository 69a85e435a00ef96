"""Hostile masters (issue 15; DESIGN §2, §7): a master is untrusted input, as a seed is.

Each finding's reproduction goes through the real CLI: the refused ones in one
run, each asserting its own line; the ones that must build in another. Then
hypothesis throws random YAML and Markdown at `parse_master` (in process, real
pandoc) and a few at the CLI, and the edition gates get broken XML to refuse.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pikepdf
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from support.run import DATA, ROOT, assert_one_line_error, json_lines, seedpress
from support.strategies import canonical, typed_paragraphs

from convert.document.language import MAX_TAG_LENGTH, is_language_tag
from convert.document.master import escape_paragraph, parse_master, to_markdown
from convert.document.model import Document
from convert.document.seed import read_seed
from convert.editions import Settings, docx, epub
from convert.editions.gates import check_docx, check_epub, check_pdf
from convert.errors import RenderError, SeedError
from convert.pandoc import MAX_AST_DEPTH, json_depth

pytestmark = pytest.mark.filterwarnings("error")

SHA = hashlib.sha256(b"a seed").hexdigest()
SUMMARY = "# Summary of the original article {#summary}\n\nThe summary.\n"
BODY = SUMMARY + "\n# Commentary {#commentary}\n\nThe commentary.\n"
#: Characters XML 1.0 cannot carry (as convert.document.seed replaces them).
UNREPRESENTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def source(**fields: str) -> str:
    """The `source` mapping in flow style, `fields` (YAML text) written over valid ones."""
    values = {"file": "seed.txt", "sha256": SHA, "encoding": "utf-8", "bytes": "6", **fields}
    return "{" + ", ".join(f"{name}: {value}" for name, value in values.items()) + "}"


def master(*, body: str = BODY, **fields: str) -> str:
    """A minimal master: `fields` (YAML text) over a valid title, lang and source."""
    values = {"title": "Title", "lang": "en", "source": source(), **fields}
    return "---\n" + "".join(f"{name}: {value}\n" for name, value in values.items()) + f"---\n\n{body}"


def master_without(field: str) -> str:
    """A minimal master without `field`, as one written by hand or with a line deleted."""
    return "".join(line for line in master().splitlines(keepends=True) if not line.startswith(f"{field}:"))


def with_summary(paragraph: str) -> str:
    return BODY.replace("The summary.", paragraph)


#: Nine levels of nine aliases each, under source.file: 9**9 'lol's once expanded.
LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{level}: &{level} [{','.join([f'*{below}'] * 9)}]\n" for below, level in zip("abcdefgh", "bcdefghi")
)
BILLION_LAUGHS = f"---\ntitle: Title\nlang: en\n{LAUGHS}source: {source(file='*i')}\n---\n\n{BODY}"

#: Each finding's reproduction, and what its one error line says.
REFUSED = {
    "billion-laughs": (BILLION_LAUGHS, "holds YAML a master may not: an anchor (&a, line 3)"),
    "number-5000-digits": (master(source=source(bytes="9" * 5000)), "'source.bytes' must be a whole number"),
    "bytes-infinite": (master(source=source(bytes=".inf")), "'source.bytes' must be a whole number"),
    "bytes-bool": (master(source=source(bytes="true")), "'source.bytes' must be a whole number"),
    "bytes-negative": (master(source=source(bytes="-1")), "'source.bytes' must be a whole number"),
    "yaml-20000-deep": (master(deep="[" * 20_000 + "]" * 20_000), "nest"),
    "quotes-5000-deep": (master(body=with_summary(">" * 5000 + " x")), "more than 16 block quotes or lists"),
    "emphasis-3000-deep": (master(body=with_summary("*_" * 1500 + "x" + "_*" * 1500)),
                           f"nested more than {MAX_AST_DEPTH} levels deep"),
    "brackets-32-deep": (master(body=with_summary("[" * 32 + "x" + "]" * 32)), "nests [brackets] more than 8"),
    "lang-100000": (master(lang="en-" + "-".join(["abcdefgh"] * 11_111)), "'lang' must be a BCP 47 language tag"),
    "sha256-path": (master(source=source(sha256="../x"), identifier="urn:sha256:../x"),
                    "'source.sha256' must be 64 lowercase hex digits"),
    "identifier-other": (master(identifier="urn:sha256:../x"), "'identifier' must be urn:sha256: followed by"),
    "file-with-folder": (master(source=source(file="../../etc/passwd")), "'source.file' must be a file name"),
    "encoding-unknown": (master(source=source(encoding="utf-7")), "'source.encoding' must be one of"),
    "url-javascript": (master(original_article="{text: Read the original article, url: 'javascript:x'}"),
                       "'original_article.url' must be null or an http(s) URL"),
    "tag-python": (master(title="!!python/object/apply:os.system ['true']"),
                   "the tag !!python/object/apply:os.system"),
    "tag-binary": (master(title="!!binary aGk="), "the tag !!binary"),
    "title-number": (master(title="1984"), "'title' must be text"),
    # Said to be wrong in form, though there was nothing there: "'lang' must be a BCP 47 language tag".
    **{f"no-{field}": (master_without(field), f"frontmatter has no '{field}' (a master keeps title, lang, source")
       for field in ("title", "lang", "source")},
    "title-empty": (master(title=""), "frontmatter has no 'title' (a master keeps"),
}


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    """One `seedpress convert` of every refused master, and one good master beside them."""
    base = tmp_path_factory.mktemp("refused")
    (base / "in").mkdir()
    for name, (text, _reason) in REFUSED.items():
        (base / "in" / f"{name}.md").write_text(text, "utf-8")
    (base / "in" / "good.md").write_text(master(), "utf-8")
    result = seedpress("convert", base / "in", "--to", "md,epub,docx", "--out", base / "out", "--json",
                       timeout=600)
    outcomes = {Path(outcome["input"]).stem: outcome for outcome in json_lines(result.stdout)}
    return result, outcomes, base / "out"


@pytest.mark.slow
def test_refused_masters_fail_alone_with_exit_1(refused):
    result, outcomes, out = refused
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == len(REFUSED), result.stderr
    assert outcomes["good"]["status"] == "built"
    assert sorted(path.name for path in (out / "good").iterdir()) == ["good.docx", "good.epub", "good.md"]


@pytest.mark.parametrize("name", REFUSED)
@pytest.mark.slow
def test_each_hostile_master_gives_one_line_and_no_files(refused, name):
    result, outcomes, out = refused
    line = assert_one_line_error(result.stderr, f"/{name}.md:")
    assert REFUSED[name][1] in line
    assert line == f"seedpress: {outcomes[name]['error']}"
    assert len(line) < 300, "an error line must not echo the hostile value"
    assert not (out / name).exists()


@pytest.mark.slow
def test_billion_laughs_is_refused_fast_and_small(tmp_path):
    """Once 3 GB in 34 s: now refused from the YAML's events, before anything is built."""
    path = tmp_path / "laughs.md"
    path.write_text(BILLION_LAUGHS, "utf-8")
    assert len(BILLION_LAUGHS.encode()) < 1000
    probe = (
        "import resource, subprocess, sys, time\n"
        # A regression must not take the machine with it: 2 GiB of address space at most.
        "limit = lambda: resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
        "start = time.monotonic()\n"
        "code = subprocess.run(sys.argv[1:], preexec_fn=limit, timeout=120).returncode\n"
        "print(time.monotonic() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, sys.executable, "-m", "convert.cli", "convert", str(path),
         "--to", "md,epub", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=180, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    seconds, peak_kib = result.stdout.split()
    assert result.returncode == 1, result.stderr
    assert "an anchor (&a, line 3)" in assert_one_line_error(result.stderr, str(path))
    assert float(seconds) < 30
    assert int(peak_kib) < 300 * 1024
    assert not (tmp_path / "out").exists()


# --- masters that look hostile but are text: they build ---------------------------------

ACCEPTED = {
    "date-invalid": master(title="2024-13-45"),
    "date-valid": master(title="2024-01-01"),
    "control-title": master(title='"A\\x01B"'),
    "control-body": master(body=with_summary("Ring \x07 the bell"),
                           original_article='{text: "Read\\x1b the original", url: null}'),
    "star-run": master(body=with_summary("*" * 3000 + "x" + "*" * 3000)),
}


@pytest.fixture(scope="module")
def accepted(tmp_path_factory, build_env):
    base = tmp_path_factory.mktemp("accepted")
    (base / "in").mkdir()
    for name, text in ACCEPTED.items():
        (base / "in" / f"{name}.md").write_text(text, "utf-8")
    result = seedpress("convert", base / "in", "--to", "md,epub,docx", "--out", base / "out", "--json",
                       env=build_env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return base / "out"


def written_master(out: Path, name: str) -> tuple[dict, Document]:
    path = out / name / f"{name}.md"
    text = path.read_text("utf-8")
    return yaml.safe_load(text.split("---\n")[1]), parse_master(text, path)


def xml_members(path: Path) -> dict[str, etree._Element]:
    """Every XML member of a zipped edition, parsed strictly: each must be well-formed."""
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)
    with zipfile.ZipFile(path) as archive:
        return {name: etree.fromstring(archive.read(name), parser) for name in archive.namelist()
                if name.endswith((".xml", ".opf", ".xhtml", ".ncx", ".rels"))}


@pytest.mark.parametrize("name, title", [("date-invalid", "2024-13-45"), ("date-valid", "2024-01-01")])
@pytest.mark.slow
def test_a_date_looking_title_is_text(accepted, name, title):
    meta, document = written_master(accepted, name)
    assert meta["title"] == title and document.title == title
    # seedpress's own writer quotes it, so YAML reads it back as text, not a date.
    assert f"title: '{title}'\n" in (accepted / name / f"{name}.md").read_text("utf-8")
    opf = xml_members(accepted / name / f"{name}.epub")["EPUB/content.opf"]
    assert opf.findtext(".//{http://purl.org/dc/elements/1.1/}title") == title


@pytest.mark.slow
def test_a_control_character_in_the_title_becomes_fffd_in_every_edition(accepted):
    meta, document = written_master(accepted, "control-title")
    assert document.title == "A\ufffdB" and meta["source"]["replaced"] == 1
    epub_xml = xml_members(accepted / "control-title" / "control-title.epub")
    assert epub_xml["EPUB/content.opf"].findtext(".//{http://purl.org/dc/elements/1.1/}title") == "A\ufffdB"
    docx_xml = xml_members(accepted / "control-title" / "control-title.docx")
    assert docx_xml["docProps/core.xml"].findtext(".//{http://purl.org/dc/elements/1.1/}title") == "A\ufffdB"


@pytest.mark.slow
def test_control_characters_in_body_and_marker_are_replaced_and_counted(accepted):
    meta, document = written_master(accepted, "control-body")
    assert document.summary == ("Ring \ufffd the bell",)
    assert document.original_article.text == "Read\ufffd the original"
    # Counted with what the seed had (none here); reading the written master adds nothing.
    assert meta["source"]["replaced"] == document.source.replaced == 2
    text = "".join(etree.tostring(root, encoding="unicode") for root in
                   xml_members(accepted / "control-body" / "control-body.epub").values())
    assert "\x07" not in text and "\x1b" not in text and "Ring \ufffd the bell" in text


@pytest.mark.slow
def test_a_run_of_3000_stars_is_literal_text(accepted):
    _meta, document = written_master(accepted, "star-run")
    assert document.summary == ("*" * 3000 + "x" + "*" * 3000,)


def test_character_references_to_control_characters_become_fffd_and_count():
    """pandoc turns &#1; into U+0001 itself: the paragraph is replaced after pandoc too."""
    document = parse_master(master(body=with_summary("A &#1; B &#xFFFE; C &#x41;")), "references.md")
    assert document.summary == ("A \ufffd B \ufffd C A",)
    assert document.source.replaced == 2


def test_a_paragraph_of_only_a_line_break_is_no_paragraph():
    document = parse_master(master(body=BODY.replace("The commentary.", "\\\n")), "break.md")
    assert document.commentary == ()
    assert parse_master(to_markdown(document), "rewritten.md") == document


# --- any master: a Document or one SeedError ------------------------------------------------

SCALARS = st.one_of(
    st.sampled_from([
        "Title", "en", "und", "zh-Hant-TW", "x-private", "a" * 36, SHA, "../x", f"urn:sha256:{SHA}",
        "urn:sha256:../x", "seed.txt", "../seed.txt", "utf-8", "cp1252", "utf-7", "0", "6", "-1",
        str(2**63), "2024-13-45", "2024-01-01", "2001-12-14t21:59:43.10-05:00", "1_000", "0b_", "0x_",
        "._", ".inf", "-.inf", ".nan", "1e400", "9" * 5000, "0b" + "1" * 5000, "1:20:30", "190:20:30.15",
        "~", "null", "yes", "No", "on", "=", "''", '""', '"A\\x01B"', '"\\uD800"', '"\\uFFFE"', '"\\0"',
        '"\\v\\f\\t"', "'it''s'", "|\n  block", "!!binary aGk=", "!!timestamp 2024-01-01",
        "!!python/object:os.system x", "!!python/name:os.system", "!!set {a, b}", "!!omap [a: 1]",
        "!!str 2024-01-01", "!!int x", "!!float x", "!!bool maybe", "!!null x", "!foo x", "! x",
        "&a x", "*a", "*undefined", "[" * 9 + "]" * 9, "[" * 20_000 + "]" * 20_000, "{a: " * 50 + "x" + "}" * 50,
        "http://example.org/a", "javascript:alert(1)", "'https://a b'", "Read the original article",
    ]),
    st.text(max_size=20).map(lambda text: json.dumps(text, ensure_ascii=False)),
)
VALUES = st.recursive(SCALARS, lambda values: st.one_of(
    st.lists(values, max_size=3).map(lambda items: "[" + ", ".join(items) + "]"),
    st.lists(st.tuples(st.sampled_from(["a", "b", "<<", "? x", "1"]), values), max_size=3).map(
        lambda pairs: "{" + ", ".join(f"{key}: {value}" for key, value in pairs) + "}"),
), max_leaves=6)


#: The fields of a valid master's frontmatter, as YAML text.
VALID_FIELDS = {
    "title": "Title", "lang": "en", "identifier": f"urn:sha256:{SHA}",
    "source.file": "seed.txt", "source.sha256": SHA, "source.encoding": "utf-8", "source.bytes": "6",
    "source.replaced": "0", "original_article.text": "Read the original article here",
    "original_article.url": "'https://example.org/a?b=1'", "generator": "seedpress 0.1.0",
}


@st.composite
def frontmatters(draw) -> str:
    """YAML text: a valid master's fields, a few of them replaced by random YAML or dropped."""
    fields = dict(VALID_FIELDS)
    for name in draw(st.sets(st.sampled_from([*VALID_FIELDS, "source", "original_article", "extra"]), max_size=3)):
        fields[name] = draw(st.one_of(VALUES, st.none()))
    if draw(st.booleans()):
        fields["title"] = draw(st.text(min_size=1, max_size=30).map(lambda text: json.dumps(text, ensure_ascii=False)))
    lines = {name: value for name, value in fields.items() if "." not in name}
    for mapping in ("source", "original_article"):
        if mapping not in fields:
            pairs = [f"{name.split('.')[1]}: {value}" for name, value in fields.items()
                     if name.startswith(mapping + ".") and value is not None]
            lines[mapping] = "{" + ", ".join(pairs) + "}"
    return "".join(f"{name}: {value}\n" for name, value in lines.items() if value is not None)


HOSTILE_BODY = (
    ">" * 5000 + " x", "> " * 17 + "x", "- " * 17 + "x", "1. " * 17 + "x", "*_" * 1500 + "x" + "_*" * 1500,
    "*" * 3000 + "x" + "*" * 3000, "*a **b " * 60 + "x" + " c** d*" * 60, "[" * 8 + "x" + "]" * 8,
    "[" * 3000 + "x" + "]" * 3000, "^[" * 8 + "x" + "]" * 8, "`code`", "<b>x</b>", "\x01\x07\x1b", "\ufffe",
    "\ud800", "---\ntitle: x\n---", "# Injected {#x}", "# Commentary {#commentary}", "::: x\ninside\n:::",
    "    indented code", "| a | b |\n|---|---|\n| 1 | 2 |", "[x]: http://a", "***", "\\", "x  \ny",
    "&amp; &#1; &#xFFFE;", "Read the original article here",
)
#: A master's paragraphs as seedpress writes them, as a user might type them, or hostile.
PARAGRAPHS = st.lists(st.one_of(
    typed_paragraphs().map(canonical).filter(bool).map(escape_paragraph), typed_paragraphs(),
    st.sampled_from(HOSTILE_BODY),
), min_size=1, max_size=3)


@st.composite
def bodies(draw) -> str:
    """A master's body: the two headings with random paragraphs, now and then anything at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=200))
    summary = "\n\n".join(draw(PARAGRAPHS))
    commentary = "\n\n".join(draw(PARAGRAPHS))
    return (f"# Summary of the original article {{#summary}}\n\n{summary}\n\n"
            f"# Commentary {{#commentary}}\n\n{commentary}\n")


def assert_clean_document(document: Document) -> None:
    """What reaches the editions from an accepted master: text XML can carry, checked facts."""
    texts = [document.title, *document.summary, *document.commentary]
    if document.original_article is not None:
        texts.append(document.original_article.text)
    assert not any(UNREPRESENTABLE.search(text) for text in texts)
    assert is_language_tag(document.lang)
    assert re.fullmatch(r"urn:sha256:[0-9a-f]{64}", document.identifier)
    assert "/" not in document.source.file and type(document.source.bytes) is int


@pytest.mark.parametrize("body", [
    # Found by Hypothesis: display math keeps its line break in the text the error quotes.
    BODY.replace("The commentary.", "** $$ * * * * *\n$$"),
    BODY + "\n# A $$x\ny$$ heading\n\nMore.\n",
], ids=["paragraph", "heading"])
def test_what_an_error_quotes_of_a_master_is_on_one_line(body):
    with pytest.raises(SeedError) as raised:
        parse_master(master(body=body), "quoted.md")
    assert "\n" not in str(raised.value) and "'" in str(raised.value), str(raised.value)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frontmatters(), bodies())
@pytest.mark.slow
def test_any_master_is_a_document_or_one_seed_error(frontmatter, body):
    text = f"---\n{frontmatter}---\n\n{body}"
    try:
        document = parse_master(text, "random.md")
    except SeedError as error:
        assert "\n" not in str(error) and len(str(error)) < 300, str(error)
        return
    assert_clean_document(document)
    # What seedpress writes from it reads back as the same document.
    assert parse_master(to_markdown(document), "rewritten.md") == document


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frontmatters(), bodies())
@pytest.mark.slow
def test_the_cli_exits_0_or_1_with_at_most_one_line(frontmatter, body):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "random.md"
        path.write_text(f"---\n{frontmatter}---\n\n{body}", "utf-8", errors="surrogatepass")
        out = Path(folder) / "out"
        # --jobs 0: no worker per example (the pool is tested elsewhere); a crash would fail it too.
        result = seedpress("convert", path, "--to", "md,epub", "--out", out, "--jobs", "0")
        assert result.returncode in (0, 1), result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
        if result.returncode == 1:
            assert_one_line_error(result.stderr, str(path))
            assert result.stderr.count("\n") == 1 and not out.exists()
        else:
            assert result.stderr == ""
            assert sorted(p.name for p in (out / "random").iterdir()) == ["random.epub", "random.md"]


# --- the body's nesting, bounded without recursion ----------------------------------------

JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(alphabet='[]{}"\\ x\u00e9', max_size=8)),
    lambda values: st.one_of(st.lists(values, max_size=3), st.dictionaries(st.text(max_size=3), values, max_size=3)),
    max_leaves=20,
)


def reference_depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(reference_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(reference_depth, value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.booleans())
@pytest.mark.slow
def test_json_depth_counts_nesting_outside_strings(value, ascii_only):
    data = json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":")).encode("utf-8")
    assert json_depth(data) == reference_depth(value)


# --- gates: every XML document of an edition is well-formed, or it is not written -----------------

@pytest.fixture(scope="module")
def document() -> Document:
    return read_seed(DATA / "marker_url.txt")


def rezip(data: bytes, member: str, edit) -> bytes:
    """The zip with `member` edited; every other entry, and the order, as they were."""
    output = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(output, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            target.writestr(info, edit(content) if info.filename == member else content)
    return output.getvalue()


def control_in_title(xml: bytes) -> bytes:
    edited = re.sub(rb"<dc:title[^>]*>", lambda match: match[0] + b"\x01", xml, count=1)
    assert edited != xml
    return edited


@pytest.mark.parametrize("member, edit", [
    ("EPUB/content.opf", control_in_title),
    ("EPUB/content.opf", lambda xml: xml.replace(b"</metadata>", b"</metdata>")),
    ("EPUB/nav.xhtml", lambda xml: xml + b"<trailing/>"),
    ("EPUB/toc.ncx", lambda xml: xml.replace(b"<navMap>", b"<navMap>&undefined;")),
    ("EPUB/text/ch001.xhtml", lambda xml: xml.replace(b"</body>", b"")),
    ("META-INF/container.xml", lambda xml: xml[:-20]),
])
def test_the_epub_gate_refuses_a_member_that_is_not_well_formed(document, member, edit):
    data = epub.render_bytes(document, Settings())
    check_epub(data, document)
    with pytest.raises(RenderError) as raised:
        check_epub(rezip(data, member, edit), document)
    assert raised.value.edition == "epub"
    assert f"gate: {member} is not well-formed XML" in raised.value.reason
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("member, edit", [
    ("docProps/core.xml", control_in_title),
    ("word/document.xml", lambda xml: xml.replace(b"<w:body>", b"<w:body>\x01", 1)),
])
def test_the_docx_gate_refuses_a_part_that_is_not_well_formed(document, member, edit):
    """python-docx raised XMLSyntaxError here (an internal error); the gate names the part."""
    data = docx.render_bytes(document, Settings())
    check_docx(data, document)
    with pytest.raises(RenderError) as raised:
        check_docx(rezip(data, member, edit), document)
    assert raised.value.edition == "docx"
    assert f"gate: {member} is not well-formed XML" in raised.value.reason


@pytest.mark.parametrize("style, missing", [
    (b'w:val="Summary"', "Summary"),
    (b'w:val="Commentary"', "Commentary"),
])
def test_the_docx_gate_refuses_a_file_without_a_sections_style(document, style, missing):
    """The summary and the commentary each in their own style is what the DOCX is for
    (DESIGN §3): a file whose paragraphs lost one (here: the default style instead) is refused."""
    data = docx.render_bytes(document, Settings())
    without = rezip(data, "word/document.xml", lambda xml: xml.replace(style, b'w:val="BodyText"'))
    with pytest.raises(RenderError) as raised:
        check_docx(without, document)
    assert raised.value.reason == f"gate: no paragraph in style {missing}"


def startxref_moved(data: bytes) -> bytes:
    """The PDF with its startxref pointing 7 bytes past the table: a damage qpdf (and pypdf)
    can repair by scanning the file, which a gate must not do."""
    found = re.search(rb"startxref\s+([0-9]+)", data)
    assert found
    return data[:found.start(1)] + str(int(found[1]) + 7).encode() + data[found.end(1):]


def outline_edited(edit):
    """The PDF saved again by qpdf after `edit(pdf)`."""
    def edited(data: bytes) -> bytes:
        with pikepdf.open(io.BytesIO(data)) as document:
            edit(document)
            output = io.BytesIO()
            document.save(output)
        return output.getvalue()
    return edited


def retitle_the_last_bookmark(document) -> None:
    with document.open_outline() as outline:
        outline.root[-1].title = "Notes"


@pytest.mark.parametrize("edit, reason", [
    (lambda data: data[: len(data) // 2], "gate: qpdf cannot read it: can't find startxref"),
    (lambda data: b"", "gate: qpdf cannot read it: can't find startxref"),
    (startxref_moved, "gate: qpdf cannot read it: xref not found"),
    (outline_edited(lambda document: document.Root.__delitem__("/Outlines")),
     "gate: no bookmark for Summary of the original article, Commentary"),
    (outline_edited(retitle_the_last_bookmark), "gate: no bookmark for Commentary"),
    (outline_edited(lambda document: setattr(document.Root, "Outlines", pikepdf.Array([1]))),
     "gate: no bookmark for Summary of the original article, Commentary"),
    (outline_edited(lambda document: setattr(document.Root.Outlines.First, "Next", pikepdf.Name.Next)),
     "gate: no bookmark for Commentary"),
], ids=["truncated", "empty", "startxref-moved", "no-outline", "no-commentary-bookmark", "outline-an-array",
        "next-a-name"])
def test_the_pdf_gate_refuses_a_broken_file_and_one_without_its_bookmarks(rendered, edit, reason):
    """qpdf reads the PDF as it is, with no repair, and finds a top-level bookmark per section."""
    edition = rendered["marker_url"]
    document, data = edition.document, edition.file("pdf").read_bytes()
    check_pdf(data, document)
    with pytest.raises(RenderError) as raised:
        check_pdf(edit(data), document)
    assert raised.value.edition == "pdf"
    assert raised.value.reason == reason
    assert "\n" not in str(raised.value)


# --- the bounds are not tighter than they need to be ------------------------------------------

def test_the_longest_language_tag_is_accepted_and_one_more_refused():
    longest = "-".join(["en", "abcdefgh", "abcdefgh", "abcdefgh", "abcde"])  # a language subtag is 2 or 3 letters
    assert len(longest) == MAX_TAG_LENGTH
    assert parse_master(master(lang=longest), "longest.md").lang == longest
    with pytest.raises(SeedError, match="'lang' must be"):
        parse_master(master(lang=longest + "-a"), "longer.md")


def test_nesting_at_the_bounds_reaches_pandoc_and_its_own_reason():
    with pytest.raises(SeedError, match=r"unsupported Markdown block \(BlockQuote\)"):
        parse_master(master(body=with_summary(">" * 16 + " x")), "quotes.md")
    literal = "[" * 8 + "x" + "]" * 8
    assert parse_master(master(body=with_summary(literal)), "brackets.md").summary == (literal,)
