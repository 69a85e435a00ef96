"""The long-lived pandoc writer process writes exactly what the pandoc command line writes."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from support.run import REAL_SEED

from convert.build.limits import InputTimeout, time_limit
from convert.defaults import STYLES_DIR
from convert.document.seed import read_seed
from convert.editions.ast import document_ast
from convert.pandoc import MASTER_READER, PandocFailed, PandocWriter, pandoc_path, to_json

REFERENCE = STYLES_DIR / "reference.docx"


@pytest.fixture(scope="module")
def writer():
    process = PandocWriter(REFERENCE)
    yield process
    process.close()


@pytest.fixture(scope="module")
def ast() -> dict:
    return document_ast(read_seed(REAL_SEED), custom_styles=True)


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.mark.parametrize("output_format, options", [
    ("epub3", ["--split-level=1", "--toc-depth=1"]),
    ("docx", ["--reference-doc", str(REFERENCE)]),
])
def test_writer_output_equals_the_sandboxed_command_line(writer, ast, output_format, options):
    command_line = subprocess.run(
        [pandoc_path(), "--sandbox", "-f", "json", "-t", output_format, "-o", "-", *options],
        input=to_json(ast).encode(), capture_output=True, check=True, env={"SOURCE_DATE_EPOCH": "0"},
    ).stdout
    assert members(writer.write(output_format, to_json(ast))) == members(command_line)


def test_writer_refuses_images_and_raw_markup(writer, ast):
    for hostile in (
        {"t": "Para", "c": [{"t": "Image", "c": [["", [], []], [], ["/etc/passwd", ""]]}]},
        {"t": "RawBlock", "c": ["html", "<iframe src='file:///etc/passwd'></iframe>"]},
    ):
        document = {**ast, "blocks": ast["blocks"] + [hostile]}
        with pytest.raises(PandocFailed, match="refused"):
            writer.write("epub3", to_json(document))
    # The process is still good for the next document.
    assert writer.write("docx", to_json(ast))[:2] == b"PK"


def test_writer_timeout_kills_and_restarts(ast):
    writer = PandocWriter(REFERENCE)
    try:
        with pytest.raises(PandocFailed, match="longer than"):
            writer.write("epub3", to_json(ast), timeout=0.0001)
        assert writer.process is None
        assert writer.write("epub3", to_json(ast))[:2] == b"PK"
    finally:
        writer.close()


#: A request pandoc works on for seconds: 400 paragraphs of 1,000 emphasised words to read.
LONG_READ = "\n\n".join(" ".join(f"*w{word}*" for word in range(1_000)) for _ in range(400))


def test_a_time_limit_taken_while_pandoc_works_leaves_the_writer_ready():
    # The alarm lands while the answer is awaited; stopping pandoc then must not be cut short
    # by the alarm coming again (the next seed met a closed pipe: "I/O operation on closed file").
    writer = PandocWriter(None)
    try:
        with pytest.raises(InputTimeout):
            with time_limit(1):
                writer.read(MASTER_READER, LONG_READ)
        assert writer.process is None
        assert b'"Str","c":"next"' in writer.read(MASTER_READER, "next")
    finally:
        writer.close()


def test_a_close_cut_short_leaves_the_writer_ready():
    # Ctrl-C while pandoc is given its grace to exit (it is busy with a long request).
    writer = PandocWriter(None)
    pending = writer.submit(f"read:{MASTER_READER}", LONG_READ)
    process = writer.process

    def interrupt(_signum, _frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(KeyboardInterrupt):
            writer.close()
        assert pending.failure is not None
        assert writer.process is None and writer.temporary is None
        assert process.wait(timeout=60) < 0  # killed, not left to finish the request
        assert b'"Str","c":"next"' in writer.read(MASTER_READER, "next")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        writer.close()


_WHICH_PANDOC = ("import sys; from convert.pandoc import pandoc_path; "
                 "print(pandoc_path()); print('pypandoc' in sys.modules)")


def test_pandoc_is_the_one_pypandoc_binary_ships_found_without_importing_pypandoc(tmp_path):
    """pypandoc's import and its probing of every pandoc on the machine cost every run; its
    own binary is found by where the package is. A pandoc earlier on PATH is not chosen."""
    import pypandoc

    shipped = Path(pypandoc.__file__).resolve().parent / "files" / "pandoc"
    # Another pandoc, first on PATH, which pypandoc would ask and might prefer.
    (tmp_path / "pandoc").write_text("#!/bin/sh\necho 'pandoc 99.0'\n")
    (tmp_path / "pandoc").chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    env.pop("SEEDPRESS_PANDOC", None)
    env.pop("PYPANDOC_PANDOC", None)
    result = subprocess.run([sys.executable, "-c", _WHICH_PANDOC], env=env, capture_output=True, text=True,
                            timeout=120, check=True)
    assert result.stdout.splitlines() == [str(shipped), "False"], result.stderr
