"""What the faster test lanes rely on, held to what they replace: masters read by the
long-lived pandoc process read as the sandboxed pandoc command line reads them."""

from __future__ import annotations

import json

import pytest
from support.run import DATA
from support.strategies import TRICKY

from convert import pandoc
from convert.document.master import parse_master
from convert.pandoc import MASTER_READER, PandocFailed, PandocWriter, read_markdown_body, run_pandoc

#: Master bodies: every golden master's, and one paragraph per piece that means something
#: to Markdown, HTML, YAML or the bidi algorithm.
BODIES = {
    **{path.stem: path.read_text("utf-8").split("\n---\n", 1)[1] for path in sorted(DATA.glob("*.md"))},
    "tricky pieces": "# Summary {#summary}\n\n" + "\n\n".join(TRICKY) + "\n",
    "tricky in one line": "# Commentary {#commentary}\n\n" + " ".join(TRICKY) + "\n",
    "empty": "",
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_the_warm_reader_reads_a_master_as_the_sandboxed_command_line(name):
    command_line = json.loads(run_pandoc(["-f", MASTER_READER, "-t", "json"], BODIES[name]))
    assert read_markdown_body(BODIES[name]) == command_line


def test_masters_are_read_by_one_pandoc_process():
    master = (DATA / "markup.md").read_text("utf-8")
    first = parse_master(master, "a.md")
    reader = pandoc._writers[None]
    pid = reader.process.pid
    assert parse_master(master, "b.md") == first
    assert reader.process.pid == pid and reader.process.poll() is None


def test_the_reading_process_writes_no_docx():
    reader = PandocWriter()
    try:
        with pytest.raises(PandocFailed, match="unknown format docx"):
            reader.write("docx", json.dumps(read_markdown_body("text")))
        # Still good for the next body.
        assert json.loads(reader.read(MASTER_READER, "text")) == json.loads(
            run_pandoc(["-f", MASTER_READER, "-t", "json"], "text"))
    finally:
        reader.close()
