"""Who made a document and on what terms: author, publisher, rights and license (DESIGN §10).

The four fields come from seedpress.toml's [metadata] table, from the command line
(`--author`…) or from a master's frontmatter, and reach every edition and feed.
Wherever they come from they are held to the same checks, defined here once:
text of bounded length without control characters, and an absolute http(s) URL
for the license.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields, replace
from urllib.parse import urlsplit

from convert.web import NOT_TEXT, WHITESPACE_CONTROLS

#: The longest author, publisher, rights statement or archive title, in characters.
MAX_TEXT = 1_000
#: RFC 9110 §4.1 asks for URIs of at least 8,000 octets to be supported.
MAX_URL = 8_192
#: Characters no metadata value may hold: C0 and C1 controls (line breaks and tabs
#: too: every value is one line), surrogates and the two non-characters XML refuses.
_CONTROL = re.compile(f"[{WHITESPACE_CONTROLS}{NOT_TEXT}]")
#: An http(s) URL as HTML, XML and PDF links take it: RFC 3986 leaves spaces and the
#: characters "<>\^`{|} out of URLs (they are written percent-encoded); non-ASCII
#: letters (an IRI) are fine.
_WEB_URL = re.compile(r"https?://[^\s" + NOT_TEXT + r'"<>\\^`{|}]+\Z')

TEXT_REQUIREMENT = f"one line of text, at most {MAX_TEXT} characters, without control characters"
URL_REQUIREMENT = f"an absolute http(s) URL of at most {MAX_URL} characters"


def text_problem(value: object, limit: int = MAX_TEXT) -> str | None:
    """Why `value` cannot be a metadata text, or None when it can."""
    if not isinstance(value, str):
        return "must be text"
    if not value.strip():
        return "must not be blank"
    if len(value) > limit:
        return f"longer than {limit} characters"
    found = _CONTROL.search(value)
    if found:
        return f"holds the control character U+{ord(found[0]):04X} (each value is one line of text)"
    return None


def url_problem(value: object) -> str | None:
    """Why `value` cannot be a license or base URL, or None when it can."""
    if not isinstance(value, str):
        return "must be text"
    if len(value) > MAX_URL:
        return f"longer than {MAX_URL} characters"
    if not is_web_url(value):
        return ('must be an absolute http(s) URL, such as https://example.org/ (with any space or '
                '"<>\\^`{|} in it percent-encoded)')
    return None


def is_web_url(value: object) -> bool:
    """True for an absolute http:// or https:// URL with a host and none of the characters
    URLs leave out (whitespace, controls, "<>\\^`{|})."""
    if not (isinstance(value, str) and len(value) <= MAX_URL and _WEB_URL.match(value)):
        return False
    try:
        return bool(urlsplit(value).hostname)
    except ValueError:  # a malformed port or IPv6 literal
        return False


@dataclass(frozen=True)
class Provenance:
    """Who made a document and on what terms; None where nothing was said."""

    author: str | None = None
    """Who wrote the document (PDF /Author and dc:creator, EPUB and DOCX creator, OPDS author)."""
    publisher: str | None = None
    """Who publishes it (dc:publisher everywhere)."""
    rights: str | None = None
    """The rights statement, e.g. "CC BY 4.0" or "© 2026 Example Press" (dc:rights, Atom rights)."""
    license_url: str | None = None
    """Where the license is written out: an absolute http(s) URL (xmpRights:WebStatement,
    the EPUB's dcterms:license link, the feed's license link)."""

    def over(self, defaults: Provenance) -> Provenance:
        """These fields, each taken from `defaults` where this one has none."""
        return replace(defaults, **self.as_dict())

    def as_dict(self) -> dict[str, str]:
        """The fields that are set, by name, in the order above."""
        return {name: value for name, value in asdict(self).items() if value is not None}

    def to_json(self) -> str | None:
        """The set fields as a JSON object (the catalog's `provenance` column); None when none is."""
        given = self.as_dict()
        return json.dumps(given, ensure_ascii=False, sort_keys=True) if given else None

    @classmethod
    def from_json(cls, text: str | None) -> Provenance:
        """The Provenance `to_json` wrote; an empty one for None or a value not written by it."""
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        return cls(**{name: data[name] for name in FIELDS if isinstance(data.get(name), str)})

    def __bool__(self) -> bool:
        return bool(self.as_dict())


#: The field names, in order: also the [metadata] keys of seedpress.toml and the
#: frontmatter keys of a master.
FIELDS = tuple(field.name for field in fields(Provenance))
