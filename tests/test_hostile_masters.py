"""Hostile masters (issue 15; DESIGN §2, §7): a master is untrusted input, as a seed is.

Each finding's reproduction goes through the real CLI: the refused ones in one
run, each asserting its own line; the ones that must build in another. The
edition gates get broken XML to refuse.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from conftest import DATA, ROOT, assert_one_line_error, json_lines, seedpress
from convert.editions import Settings, docx, epub
from convert.errors import RenderError, SeedError
from convert.frontmatter import MAX_LANGUAGE_TAG
from convert.gates import check_docx, check_epub
from convert.master import parse_master
from convert.model import Document
from convert.pandoc import MAX_AST_DEPTH, json_depth
from convert.seed import read_seed

pytestmark = pytest.mark.filterwarnings("error")

SHA = hashlib.sha256(b"a seed").hexdigest()
SUMMARY = "# Summary of the original article {#summary}\n\nThe summary.\n"
BODY = SUMMARY + "\n# Commentary {#commentary}\n\nThe commentary.\n"
#: Characters XML 1.0 cannot carry (as convert.seed replaces them).
UNREPRESENTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def source(**fields: str) -> str:
    """The `source` mapping in flow style, `fields` (YAML text) written over valid ones."""
    values = {"file": "seed.txt", "sha256": SHA, "encoding": "utf-8", "bytes": "6", **fields}
    return "{" + ", ".join(f"{name}: {value}" for name, value in values.items()) + "}"


def master(*, body: str = BODY, **fields: str) -> str:
    """A minimal master: `fields` (YAML text) over a valid title, lang and source."""
    values = {"title": "Title", "lang": "en", "source": source(), **fields}
    return "---\n" + "".join(f"{name}: {value}\n" for name, value in values.items()) + f"---\n\n{body}"


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


def test_refused_masters_fail_alone_with_exit_1(refused):
    result, outcomes, out = refused
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == len(REFUSED), result.stderr
    assert outcomes["good"]["status"] == "ok"
    assert sorted(path.name for path in (out / "good").iterdir()) == ["good.docx", "good.epub", "good.md"]


@pytest.mark.parametrize("name", REFUSED)
def test_each_hostile_master_gives_one_line_and_no_files(refused, name):
    result, outcomes, out = refused
    line = assert_one_line_error(result.stderr, f"/{name}.md:")
    assert REFUSED[name][1] in line
    assert line == f"seedpress: {outcomes[name]['error']}"
    assert len(line) < 300, "an error line must not echo the hostile value"
    assert not (out / name).exists()


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
def test_a_date_looking_title_is_text(accepted, name, title):
    meta, document = written_master(accepted, name)
    assert meta["title"] == title and document.title == title
    # seedpress's own writer quotes it, so YAML reads it back as text, not a date.
    assert f"title: '{title}'\n" in (accepted / name / f"{name}.md").read_text("utf-8")
    opf = xml_members(accepted / name / f"{name}.epub")["EPUB/content.opf"]
    assert opf.findtext(".//{http://purl.org/dc/elements/1.1/}title") == title


def test_a_control_character_in_the_title_becomes_fffd_in_every_edition(accepted):
    meta, document = written_master(accepted, "control-title")
    assert document.title == "A\ufffdB" and meta["source"]["replaced"] == 1
    epub_xml = xml_members(accepted / "control-title" / "control-title.epub")
    assert epub_xml["EPUB/content.opf"].findtext(".//{http://purl.org/dc/elements/1.1/}title") == "A\ufffdB"
    docx_xml = xml_members(accepted / "control-title" / "control-title.docx")
    assert docx_xml["docProps/core.xml"].findtext(".//{http://purl.org/dc/elements/1.1/}title") == "A\ufffdB"


def test_control_characters_in_body_and_marker_are_replaced_and_counted(accepted):
    meta, document = written_master(accepted, "control-body")
    assert document.summary == ("Ring \ufffd the bell",)
    assert document.original_article.text == "Read\ufffd the original"
    # Counted with what the seed had (none here); reading the written master adds nothing.
    assert meta["source"]["replaced"] == document.source.replaced == 2
    text = "".join(etree.tostring(root, encoding="unicode") for root in
                   xml_members(accepted / "control-body" / "control-body.epub").values())
    assert "\x07" not in text and "\x1b" not in text and "Ring \ufffd the bell" in text


def test_a_run_of_3000_stars_is_literal_text(accepted):
    _meta, document = written_master(accepted, "star-run")
    assert document.summary == ("*" * 3000 + "x" + "*" * 3000,)


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


# --- the bounds are not tighter than they need to be ------------------------------------------

def test_the_longest_language_tag_is_accepted_and_one_more_refused():
    longest = "-".join(["abcdefgh"] * 4)
    assert len(longest) == MAX_LANGUAGE_TAG
    assert parse_master(master(lang=longest), "longest.md").lang == longest
    with pytest.raises(SeedError, match="'lang' must be"):
        parse_master(master(lang=longest + "-a"), "longer.md")


def test_nesting_at_the_bounds_reaches_pandoc_and_its_own_reason():
    with pytest.raises(SeedError, match=r"unsupported Markdown block \(BlockQuote\)"):
        parse_master(master(body=with_summary(">" * 16 + " x")), "quotes.md")
    literal = "[" * 8 + "x" + "]" * 8
    assert parse_master(master(body=with_summary(literal)), "brackets.md").summary == (literal,)
