"""The long-lived pandoc writer process writes exactly what the pandoc command line writes."""

from __future__ import annotations

import io
import subprocess
import zipfile

import pytest
from support.run import REAL_SEED

from convert.defaults import STYLES_DIR
from convert.document.seed import read_seed
from convert.editions.ast import document_ast
from convert.pandoc import PandocFailed, PandocWriter, pandoc_path, to_json

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
