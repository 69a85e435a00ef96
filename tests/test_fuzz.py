"""Fuzzing `seedpress convert` with random bytes and Markdown-ish text (issue 6).

Whatever comes in: no traceback, exit 0 or 1, one `seedpress: ` line per
failure; and when it succeeds, every paragraph of the seed is in every
edition. The CLI runs in-process (its real `main`) so each example costs a
render, not an interpreter start.
"""

from __future__ import annotations

import subprocess
import unicodedata
import zipfile
from collections import Counter

import docx
import pypdf
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from convert.cli import main
from convert.document.seed import parse_seed
from convert.errors import SeedError

pytestmark = pytest.mark.slow

MARKUP = ["*", "_", "#", "1.", "- ", "> ", "|", "<script>", "[a](javascript:x)", "@key", "---", "...",
          '"', "'", "\\", "`", "$x$", "&amp;", "<!--", "]]>", "{#id}", "^[n]", "~~", "\t", "  ",
          "\\1", "\\0", "\\g<0>"]
ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00")
WORD = st.one_of(st.sampled_from(MARKUP), st.text(ALPHABET, min_size=1, max_size=8),
                 st.sampled_from(["élan", "naïve", "“quoted”", "Ελλάδα", "中文", "😀", "Read the original article here"]))
PARAGRAPH = st.lists(WORD, min_size=1, max_size=12).map(" ".join)
SEED_TEXT = st.lists(PARAGRAPH, min_size=1, max_size=6).map("\n\n".join)
SEED_BYTES = st.one_of(
    SEED_TEXT.map(lambda text: text.encode("utf-8")),
    SEED_TEXT.map(lambda text: text.encode("utf-16")),
    st.binary(max_size=300),
)


def squeeze(text: str) -> str:
    """Text as compared across editions: compatibility-normalized, without format characters or spaces."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(c for c in text if not c.isspace() and unicodedata.category(c) not in ("Cf", "Cc", "Co", "Cn"))


def edition_texts(folder, key) -> dict[str, str]:
    texts = {"md": (folder / f"{key}.md").read_text("utf-8")}
    with zipfile.ZipFile(folder / f"{key}.epub") as book:
        texts["epub"] = "".join(
            "".join(etree.fromstring(book.read(name)).itertext())
            for name in book.namelist() if name.endswith(".xhtml"))
    texts["docx"] = "\n".join(p.text for p in docx.Document(str(folder / f"{key}.docx")).paragraphs)
    texts["pdf"] = subprocess.run(["pdftotext", "-raw", str(folder / f"{key}.pdf"), "-"],
                                  capture_output=True, text=True, check=True).stdout
    # A second reading of the PDF's text layer: poppler puts a Hebrew point before its letter
    # when the letter stands alone in a right-to-left line (יִ comes out as ִי), pypdf does not.
    texts["pdf-pypdf"] = "\n".join(page.extract_text() for page in pypdf.PdfReader(folder / f"{key}.pdf").pages)
    return texts


def right_to_left(text: str) -> bool:
    """Whether `text` holds a right-to-left character (Hebrew, Arabic, Meroitic...)."""
    return any(unicodedata.bidirectional(c) in ("R", "AL", "AN") for c in text)


def in_pdf(wanted: str, texts: dict[str, str]) -> bool:
    """Whether a squeezed paragraph is in the PDF's text layer, by either reader. A line
    with right-to-left text is laid out, and read back, in visual order ('0𐦀' in a
    right-to-left paragraph reads '𐦀0'), so there its characters are asked for, each as
    often as it comes, not their order."""
    readings = (texts["pdf"], texts["pdf-pypdf"])
    if right_to_left(wanted):
        return any(not Counter(wanted) - Counter(reading) for reading in readings)
    return any(wanted in reading for reading in readings)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=SEED_BYTES)
@example(data=b"*\n\n\xef\xac\x9d")  # found by hypothesis: a lone Hebrew letter with its point (U+FB1D)
@example(data="*\n\n0\U00010980".encode())  # found by hypothesis: a digit before a Meroitic letter
def test_convert_survives_anything(tmp_path_factory, capsys, data):
    folder = tmp_path_factory.mktemp("fuzz")
    seed = folder / "fuzz.txt"
    seed.write_bytes(data)
    out = folder / "out"
    # --jobs 0: built in this process, with WeasyPrint and the pandoc writer warm, instead of
    # a worker started per example (the pool is tested in test_faults and test_archive).
    code = main(["convert", str(seed), "--out", str(out), "--jobs", "0"])
    captured = capsys.readouterr()
    assert code in (0, 1)
    assert "Traceback" not in captured.err
    try:
        document = parse_seed(data, seed.name)
    except SeedError as error:
        assert code == 1
        assert captured.err == f"seedpress: {seed}: {error.reason}\n"
        assert not out.exists() or not any(out.iterdir())
        return
    assert code == 0, captured.err
    texts = {edition: squeeze(text) for edition, text in edition_texts(out / "fuzz", "fuzz").items()}
    for paragraph in (document.title, *document.summary, *document.commentary):
        wanted = squeeze(paragraph)
        for edition in ("epub", "docx"):
            assert wanted in texts[edition], (edition, paragraph)
        assert in_pdf(wanted, texts), ("pdf", paragraph)
