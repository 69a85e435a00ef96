"""The pandoc process: found, sandboxed, bounded in time and memory; the long-lived `pandoc lua`
writer fed JSON AST (editions/ast.py builds it), and the restricted Markdown reader of masters."""

from __future__ import annotations

import atexit
import functools
import itertools
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from convert import defaults
from convert.errors import ConfigError
from convert.process import PipeReader, PipeWriter, stop_child, unlimit_address_space, widen_pipe

#: The restricted Markdown reader for masters: no raw HTML, TeX or attributes,
#: no YAML blocks in the body (the frontmatter is split off before pandoc sees it),
#: no smart quotes or dashes: a `"` or `--` typed into a master stays what it is.
MASTER_READER = (
    "markdown-raw_html-raw_tex-raw_attribute-yaml_metadata_block"
    "-pandoc_title_block-citations-native_divs-native_spans-smart"
)

#: The deepest JSON `read_markdown_body` parses. A master's body is headings and
#: paragraphs of text (depth 7); the bound keeps json.loads, which recurses, and
#: every walk over the AST far from Python's recursion limit, whatever pandoc read.
MAX_AST_DEPTH = 100

_NOT_JSON_MARK = bytes(byte for byte in range(256) if byte not in b'"[]{}')


_JSON_STEP = [0] * 256


_JSON_STEP[ord("[")] = _JSON_STEP[ord("{")] = 1


_JSON_STEP[ord("]")] = _JSON_STEP[ord("}")] = -1


@functools.cache
def pandoc_path() -> str:
    """The pandoc binary: $SEEDPRESS_PANDOC, else the one pypandoc-binary ships, else the one
    pypandoc chooses ($PYPANDOC_PANDOC, or the newest it finds). ConfigError, one line, when
    there is none."""
    configured = os.environ.get("SEEDPRESS_PANDOC")
    if configured:
        return configured
    if not os.environ.get("PYPANDOC_PANDOC") and (bundled := _bundled_pandoc()) is not None:
        return bundled
    # pypandoc logs a traceback for each candidate it rejects and raises a message of
    # three lines; the user gets one line instead.
    log = logging.getLogger("pypandoc")
    was_disabled, log.disabled = log.disabled, True
    try:
        import pypandoc
        return pypandoc.get_pandoc_path()
    except (ImportError, OSError):
        raise ConfigError("pandoc not found: install pypandoc-binary, or set SEEDPRESS_PANDOC to a pandoc "
                          "binary") from None
    finally:
        log.disabled = was_disabled


def _bundled_pandoc() -> str | None:
    """pypandoc-binary's pandoc (pypandoc/files/pandoc), found without importing pypandoc.
    Asking pypandoc costs every run 15-20 ms of imports (urllib, email) and a `--version`
    of each pandoc it can find, to choose the newest; its own is the one seedpress is
    built and tested with."""
    from importlib.util import find_spec

    try:
        spec = find_spec("pypandoc")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        candidate = os.path.join(os.path.realpath(folder), "files", "pandoc")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


@functools.cache
def pandoc_version() -> tuple[int, ...]:
    """pandoc's version as a tuple of integers; ConfigError, one line, when pandoc cannot run."""
    path = pandoc_path()
    try:
        output = subprocess.run(
            [path, "--version"], capture_output=True, text=True, errors="replace",
            timeout=defaults.PANDOC_TIMEOUT, check=True,
        ).stdout
    except OSError as error:
        raise ConfigError(f"pandoc {path}: cannot run it: {error.strerror or error}") from None
    except subprocess.CalledProcessError as error:
        raise ConfigError(f"pandoc {path}: `--version` failed (exit {error.returncode})") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"pandoc {path}: `--version` took over {defaults.PANDOC_TIMEOUT} s") from None
    match = re.match(r"pandoc\S*\s+([\d.]+)", output)
    if not match:
        raise ConfigError(f"cannot tell pandoc's version from {output[:60]!r}")
    return tuple(int(part) for part in match[1].split("."))


def run_pandoc(
    arguments: Sequence[str], input_text: str, *, timeout: float = defaults.PANDOC_TIMEOUT,
) -> bytes:
    """Run sandboxed pandoc with `arguments` on `input_text`; return stdout or raise PandocFailed."""
    command = [
        pandoc_path(), "+RTS", f"-M{defaults.PANDOC_HEAP}", "-RTS", "--sandbox", *arguments,
    ]
    try:
        completed = subprocess.run(
            command, input=input_text.encode("utf-8"), capture_output=True,
            timeout=timeout,
            preexec_fn=unlimit_address_space,
        )
    except subprocess.TimeoutExpired:
        raise PandocFailed(f"pandoc took longer than {timeout:g} s") from None
    except OSError as error:
        raise PandocFailed(f"cannot run pandoc: {error}") from None
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = message[0] if message else f"exit status {completed.returncode}"
        if "Heap exhausted" in completed.stderr.decode("utf-8", "replace"):
            reason = f"pandoc ran out of its {defaults.PANDOC_HEAP} heap"
        raise PandocFailed(reason)
    return completed.stdout


class PandocFailed(Exception):
    """pandoc exited with an error, ran too long or could not start."""


WRITER_SCRIPT = Path(__file__).with_name("pandoc_writer.lua")
#: The exit status of a pandoc whose heap ran out (GHC's runtime, +RTS -M).
GHC_HEAP_EXHAUSTED = 251


class PandocWriter:
    """A long-lived `pandoc lua` process that writes EPUB 3 and DOCX from JSON AST, and
    reads a master's body into JSON AST.

    Starting pandoc costs more than writing one short document, so each
    process that renders editions keeps one of these; its output is the same
    as `pandoc -f json -t FORMAT`'s, byte for byte, and what it reads the same
    as `pandoc --sandbox -f READER -t json`'s (tests hold it to both). Without a
    reference document it reads but writes no DOCX.

    A request is sent (`submit`) and its answer read later (`Pending.result`), so the
    caller works on while pandoc writes; requests are answered in the order sent, and
    several may wait at once. What the pipe cannot take yet is written while an answer is
    awaited (convert/process.py's PipeWriter), so no request, however large, waits on an
    answer no one reads.
    """

    def __init__(self, reference_doc: Path | None = None):
        self.reference_doc = None if reference_doc is None else Path(reference_doc)
        self.process: subprocess.Popen | None = None
        self.reader: PipeReader | None = None
        self.feeder: PipeWriter | None = None
        self.temporary: str | None = None
        self.queue: deque[Pending] = deque()
        """The requests sent whose answers are still to be read, in the order sent."""

    def _start(self) -> subprocess.Popen:
        if self.process is None or self.process.poll() is not None:
            reference = [] if self.reference_doc is None else [str(self.reference_doc.resolve())]
            self.close()
            # `pandoc lua` keeps an interpreter history file in TMPDIR (pandoc-hist<pid>-0)
            # and removes it only when it exits by itself: a killed pandoc left one in
            # /tmp per process, thousands over a scheduled archive's life. Its own
            # directory goes with it, however it stopped.
            self.temporary = tempfile.mkdtemp(prefix="seedpress-pandoc-")
            self.process = subprocess.Popen(
                [pandoc_path(), "+RTS", f"-M{defaults.PANDOC_WRITER_HEAP}", f"-A{defaults.PANDOC_ALLOCATION_AREA}", "-RTS",
                 "lua", str(WRITER_SCRIPT), *reference],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                # The epoch, as under --sandbox: editions replace it with the build date.
                env={**os.environ, "SOURCE_DATE_EPOCH": "0", "TMPDIR": self.temporary},
                preexec_fn=unlimit_address_space,
            )
            widen_pipe(self.process.stdin)
            widen_pipe(self.process.stdout)
            self.feeder = PipeWriter(self.process.stdin)
            self.reader = PipeReader(self.process.stdout, "pandoc exited", self.feeder)
        return self.process

    def write(self, output_format: str, ast_json: str, *, timeout: float = defaults.PANDOC_TIMEOUT) -> bytes:
        """The document in `output_format` (epub3 or docx); PandocFailed on error or timeout."""
        return self.submit(output_format, ast_json, timeout=timeout).result()

    def read(self, reader: str, text: str, *, timeout: float = defaults.PANDOC_TIMEOUT) -> bytes:
        """`text` read with `reader` (a pandoc input format), as pandoc's JSON; PandocFailed
        on error or timeout."""
        return self.submit(f"read:{reader}", text, timeout=timeout).result()

    def submit(self, request: str, text: str, *, timeout: float = defaults.PANDOC_TIMEOUT) -> Pending:
        """Send `request` (an output format, or read:<reader>) for `text` and return at once:
        the answer is read by the Pending's `result()`, which waits at most `timeout` seconds
        for it. PandocFailed if pandoc cannot be written to."""
        process = self._start()
        payload = text.encode("utf-8")
        pending = Pending(self, timeout)
        try:
            self.feeder.write(f"{request} {len(payload)}\n".encode() + payload)
        except OSError as error:
            reason = self._failure(process, error)
            self._fail(reason)
            raise PandocFailed(reason) from None
        except BaseException:
            # Interrupted mid-request (the seed's alarm, Ctrl-C): the pipe is out of step.
            self._fail("interrupted")
            raise
        self.queue.append(pending)
        return pending

    def _answer(self, pending: Pending) -> None:
        """Read answers in turn until `pending` has its own (or its failure)."""
        while pending in self.queue:
            head = self.queue[0]
            deadline = time.monotonic() + head.timeout
            process = self.process
            try:
                status, _, length = self.reader.read_line(deadline).partition(b" ")
                body = self.reader.read_exact(int(length), deadline)
            except TimeoutError:
                self._fail(f"pandoc took longer than {head.timeout:g} s")
            except (OSError, EOFError, ValueError) as error:
                self._fail(self._failure(process, error))
            except BaseException:
                # Interrupted mid-answer (the seed's alarm, Ctrl-C): the pipe is out of step.
                self._fail("interrupted")
                raise
            else:
                self.queue.popleft()
                if not head.discarded:
                    head.answer = (status, body)

    @staticmethod
    def _failure(process: subprocess.Popen, error: BaseException) -> str:
        """Why the process failed: its heap ran out, or the pipe's error."""
        # GHC's runtime exits with 251 when the heap (+RTS -M) is exhausted.
        if process.poll() == GHC_HEAP_EXHAUSTED:
            return f"pandoc ran out of its {defaults.PANDOC_HEAP} heap"
        return f"the pandoc writer process failed: {error or 'it exited'}"

    def _fail(self, reason: str) -> None:
        """Kill the process (its pipe is out of step, or it failed: nothing it would still do
        is wanted); every request still waiting for its answer fails with `reason`."""
        for waiting in self.queue:
            waiting.failure = reason
        self.queue.clear()
        self.close(grace=0)

    def close(self, *, grace: float = defaults.CHILD_EXIT_GRACE) -> None:
        """Stop the pandoc process (given `grace` seconds to exit by itself), release its pipes
        and remove its temporary directory; requests still waiting for an answer fail."""
        for waiting in self.queue:
            waiting.failure = "the pandoc writer process was closed"
        self.queue.clear()
        # Let go of both first: a close cut short (Ctrl-C while pandoc exits) leaves no
        # half-closed process for the next request to write to.
        process, self.process = self.process, None
        temporary, self.temporary = self.temporary, None
        try:
            if process is not None:
                stop_child(process, grace=grace)
        finally:
            if process is not None and not process.stdout.closed:
                stop_child(process)  # the wait for it to exit was cut short: killed now
            if temporary is not None:
                shutil.rmtree(temporary, ignore_errors=True)


class Pending:
    """A request sent to a PandocWriter, whose answer is read later."""

    def __init__(self, writer: PandocWriter, timeout: float):
        self.writer = writer
        self.timeout = timeout
        """The longest `result()` waits for this answer, from when it starts reading it."""
        self.answer: tuple[bytes, bytes] | None = None
        self.failure: str | None = None
        self.discarded = False

    def result(self) -> bytes:
        """The answer's bytes; PandocFailed when pandoc refused the request, ran too long, or
        failed (then its process is stopped, and every request waiting behind this one
        fails too). An interruption while waiting (the seed's alarm, Ctrl-C) stops it as well."""
        self.writer._answer(self)
        if self.failure is not None:
            raise PandocFailed(self.failure)
        status, body = self.answer
        if status != b"ok":
            raise PandocFailed(body.decode("utf-8", "replace").strip().splitlines()[0])
        return body

    def abandon(self, *, stop: bool = False) -> None:
        """The caller will not read this answer: it is dropped when it arrives, or, with
        `stop` (the caller was interrupted), the process is stopped if it is still to come."""
        self.answer = None
        if self in self.writer.queue:
            if stop:
                self.writer._fail("interrupted")
            else:
                self.discarded = True


_writers: dict[Path | None, PandocWriter] = {}


def _writer(reference_doc: Path | None) -> PandocWriter:
    """This process's pandoc writer for `reference_doc` (None: the one that only reads)."""
    key = None if reference_doc is None else Path(reference_doc).resolve()
    if key not in _writers:
        if not _writers:
            atexit.register(close_writers)
        _writers[key] = PandocWriter(key)
    return _writers[key]


def close_writers() -> None:
    """Close every pandoc writer of this process: pandoc stopped, its folder removed. At
    exit; in an archive worker, which leaves by os._exit without atexit's handlers, at
    multiprocessing's exit instead (runners/pool.py)."""
    for writer in list(_writers.values()):
        writer.close()


def write_document(output_format: str, ast: dict, reference_doc: Path) -> bytes:
    """Write the AST as `output_format` with this process's pandoc writer."""
    return submit_document(output_format, ast, reference_doc).result()


def submit_document(output_format: str, ast: dict, reference_doc: Path) -> Pending:
    """Send the AST to this process's pandoc writer to be written as `output_format`; the
    Pending's `result()` is the document."""
    return _writer(reference_doc).submit(output_format, to_json(ast))


def read_markdown_body(body: str, *, timeout: float = defaults.PANDOC_TIMEOUT) -> dict:
    """Parse a master's body with the restricted reader into pandoc JSON; PandocFailed
    if it nests deeper than MAX_AST_DEPTH. Read by this process's long-lived pandoc
    (as `pandoc --sandbox -f MASTER_READER -t json` would), not a pandoc per master."""
    output = _writer(None).read(MASTER_READER, body, timeout=timeout)
    if json_depth(output) > MAX_AST_DEPTH:
        raise PandocFailed(f"pandoc reads it as nested more than {MAX_AST_DEPTH} levels deep "
                           "(block quotes, lists or emphasis inside one another)")
    return json.loads(output)


def json_depth(data: bytes) -> int:
    """How deeply arrays and objects nest in the JSON `data`, counted without recursion."""
    # Escaped backslashes first, then escaped quotes: each quote left opens or closes
    # a string. Of the rest only quotes and brackets matter, and two adjacent quotes
    # enclose no bracket: dropping them (most strings) leaves every other quote's
    # parity as it was, so every other piece between quotes is outside the strings.
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = unescaped.translate(None, _NOT_JSON_MARK).replace(b'""', b"")
    brackets = b"".join(marks.split(b'"')[::2])
    return max(itertools.accumulate(map(_JSON_STEP.__getitem__, brackets)), default=0)


def stringify(inline_list: Sequence[dict]) -> str:
    """The text of inlines, as pandoc.utils.stringify gives it."""
    parts: list[str] = []
    for node in inline_list:
        kind, content = node["t"], node.get("c")
        if kind == "Str":
            parts.append(content)
        elif kind in ("Space", "SoftBreak", "LineBreak"):
            parts.append(" ")
        elif kind in ("Emph", "Strong", "Strikeout", "Superscript", "Subscript", "SmallCaps", "Underline"):
            parts.append(stringify(content))
        elif kind in ("Link", "Image", "Span"):
            parts.append(stringify(content[1]))
        elif kind == "Quoted":
            quote = "“”" if content[0]["t"] == "DoubleQuote" else "‘’"
            parts.append(quote[0] + stringify(content[1]) + quote[1])
        elif kind == "Cite":
            parts.append(stringify(content[1]))
        elif kind in ("Code", "Math"):
            parts.append(content[1])
        elif kind == "Note":
            continue
        elif kind == "RawInline":
            continue
    return "".join(parts)


def to_json(ast: dict) -> str:
    """The AST as the compact JSON pandoc reads."""
    return json.dumps(ast, ensure_ascii=False, separators=(",", ":"))
