"""A title's citation (issue 24 §3): who wrote it, what it is called, who published it,
when, its identifier and where it is; the landing page cites it from this record, and
the archive hands it to reference managers as BibTeX (<key>.bib) and CSL-JSON
(<key>.csl.json), written with the editions.

Both files are reproducible: they hold nothing but the document, its key, the build date
and the archive's title and base URL, in a fixed order.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urljoin

from convert.document.model import Document
from convert.document.provenance import publication_date
from convert.layout import LANDING_EDITION, edition_path
from convert.web import href


@dataclass(frozen=True)
class Citation:
    """What a citation of one title says."""

    key: str
    """The title's key in the archive: the BibTeX entry's key and the CSL item's id."""
    title: str
    """The title, as the document gives it."""
    author: str | None
    """The author, as one name (a person or a group); None when nobody gave one."""
    publisher: str
    """The document's publisher, else the archive's title: who makes it available."""
    issued: date
    """The publication date a person gave, else the day the archive built it."""
    identifier: str
    """The document's identifier (urn:sha256:… of its source)."""
    lang: str
    """Its BCP 47 language tag."""
    url: str | None
    """The absolute URL of its landing page, when the archive's base URL is set."""
    license_url: str | None
    """The URL of its license, when one is set."""


def citation(document: Document, key: str, created: datetime, archive_title: str,
             base_url: str | None = None) -> Citation:
    """The citation of `document`, archived as `key` at `created` in the archive called
    `archive_title` and published at `base_url` (None: no URL is known)."""
    issued = publication_date(document.published) if document.published is not None else created.date()
    url = None if base_url is None else urljoin(base_url, href(edition_path(key, LANDING_EDITION)))
    return Citation(key=key, title=document.title, author=document.author,
                    publisher=document.publisher or archive_title, issued=issued,
                    identifier=document.identifier, lang=document.lang, url=url,
                    license_url=document.license_url)


# --- BibTeX -----------------------------------------------------------------------------

#: TeX's special characters, each as text-mode LaTeX that prints it. Braces become macros,
#: not \{ and \}: BibTeX counts every brace, escaped or not, so a title with one "{" would
#: leave the field unbalanced.
_TEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "{": r"\textbraceleft{}",
    "}": r"\textbraceright{}",
    "%": r"\%",
    "#": r"\#",
    "&": r"\&",
    "$": r"\$",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_TEX_SPECIAL = re.compile("[" + re.escape("".join(_TEX_SPECIALS)) + "]")
#: Characters TeX fonts join into one glyph when two meet ("--" is an en dash, "``" a
#: quotation mark, "!`" an inverted exclamation mark): an empty group between keeps both.
_LIGATURE_PAIR = re.compile(r"(?<=[-`'<>,!?])(?=[-`'<>,])")


def tex_text(text: str) -> str:
    """`text` as the body of a braced BibTeX field that prints exactly `text`: every TeX
    special character escaped, ligatures broken, braces left balanced."""
    # Specials first: the empty groups that break ligatures are TeX, not text to escape.
    text = _TEX_SPECIAL.sub(lambda found: _TEX_SPECIALS[found[0]], text)
    return _LIGATURE_PAIR.sub("{}", text)


def bibtex(cited: Citation) -> bytes:
    """The citation as one BibTeX (biblatex) @online entry, UTF-8. The author is braced
    whole, so that a name is never split at an "and" nor turned round at a comma."""
    fields = [
        ("author", None if cited.author is None else "{" + tex_text(cited.author) + "}"),
        ("title", "{" + tex_text(cited.title) + "}"),
        ("publisher", tex_text(cited.publisher)),
        ("organization", tex_text(cited.publisher)),
        ("date", cited.issued.isoformat()),
        ("year", str(cited.issued.year)),
        ("month", str(cited.issued.month)),
        # biblatex reads url verbatim; a checked URL holds no brace, space or backslash.
        ("url", cited.url),
        ("langid", tex_text(cited.lang)),
        ("note", tex_text(cited.identifier)),
    ]
    lines = [f"@online{{{cited.key},"]
    lines += [f"  {name} = {{{value}}}," for name, value in fields if value is not None]
    return ("\n".join(lines) + "\n}\n").encode("utf-8")


# --- CSL-JSON ---------------------------------------------------------------------------

def csl_item(cited: Citation) -> dict:
    """The citation as one CSL-JSON item (Citation Style Language 1.0.2 schema), a web
    page as the BibTeX entry is @online."""
    item: dict = {"id": cited.key, "type": "webpage", "title": cited.title}
    if cited.author is not None:
        item["author"] = [{"literal": cited.author}]
    item["publisher"] = cited.publisher
    item["issued"] = {"date-parts": [[cited.issued.year, cited.issued.month, cited.issued.day]]}
    if cited.url is not None:
        item["URL"] = cited.url
    item["language"] = cited.lang
    item["note"] = cited.identifier
    return item


def csl_json(cited: Citation) -> bytes:
    """The citation as a CSL-JSON file: a list of one item, UTF-8, keys in a fixed order."""
    return (json.dumps([csl_item(cited)], ensure_ascii=False, indent=2) + "\n").encode("utf-8")
