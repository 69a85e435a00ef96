"""What a reader of the editions sees: pandoc's default reading of a master, and the text
pdftotext extracts from a PDF, with the checks that compare them to a document."""

from __future__ import annotations

import json
import re
import subprocess
import unicodedata
from pathlib import Path

from convert.document.labels import labels
from convert.pandoc import pandoc_path

#: The section headings of an English document (and of one in a language labels.toml lacks).
SUMMARY_HEADING = labels("en").summary_heading
COMMENTARY_HEADING = labels("en").commentary_heading


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

