"""Who made a document and on what terms: author, publisher, rights and license (DESIGN §10).

The four fields come from seedpress.toml's [metadata] table, from the command line
(`--author`…) or from a master's frontmatter, and reach every edition and feed.
Wherever they come from they are held to the same checks, defined here once:
text of bounded length without control characters, and an absolute http(s) URL
for the license.
"""

from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from urllib.parse import urlsplit

from convert.names import shown
from convert.patterns import LazyPattern
from convert.web import NOT_TEXT, WHITESPACE_CONTROLS

#: The longest author, publisher, rights statement or archive title, in characters.
MAX_TEXT = 1_000
#: RFC 9110 §4.1 asks for URIs of at least 8,000 octets to be supported.
MAX_URL = 8_192
#: Characters no metadata value may hold: C0 and C1 controls (line breaks and tabs
#: too: every value is one line), the line and paragraph separators (with the C0 and
#: C1 ones, every character str.splitlines() and so bagit's tag file reader break a line
#: at), surrogates and the two non-characters XML refuses.
_CONTROL = re.compile(f"[{WHITESPACE_CONTROLS}{NOT_TEXT}\u2028\u2029]")

# An http(s) URL, checked as RFC 3986 (and, for letters beyond ASCII, RFC 3987) writes one:
# what HTML, XHTML (EPUBCheck), XML and PDF links take. Every character of it is one of
# these; "%" only starts an escape of two hex digits; "[" and "]" only enclose an IPv6 host.
#: RFC 3986 §2.2-2.3: unreserved and sub-delims.
_UNRESERVED = "A-Za-z0-9\\-._~"
_SUB_DELIMS = "!$&'()*+,;="
#: userinfo = *( unreserved / pct-encoded / sub-delims / ":" )
_USERINFO = re.compile(f"[{_UNRESERVED}{_SUB_DELIMS}:%]*\\Z")
#: reg-name = *( unreserved / pct-encoded / sub-delims ); IRIs add letters beyond ASCII.
_REG_NAME = LazyPattern(f"[{_UNRESERVED}{_SUB_DELIMS}%\\u00a0-\\U0010ffff]+\\Z")
#: path, query and fragment: pchar = unreserved / pct-encoded / sub-delims / ":" / "@", and "/"
#: (and "?" after the path). IRIs add letters beyond ASCII.
_PATH = LazyPattern(f"[{_UNRESERVED}{_SUB_DELIMS}:@/%\\u00a0-\\U0010ffff]*\\Z")
_QUERY = LazyPattern(f"[{_UNRESERVED}{_SUB_DELIMS}:@/?%\\u00a0-\\U0010ffff]*\\Z")
#: A "%" not followed by two hex digits (RFC 3986 §2.1).
_BAD_ESCAPE = re.compile("%(?![0-9A-Fa-f]{2})")
#: The highest TCP port.
MAX_PORT = 65_535
#: Characters beyond ASCII an IRI may not hold (RFC 3987 §2.2 ucschar, §4.1): anything
#: not a letter, mark, number, punctuation or symbol (spaces, separators, format and bidi
#: controls, private use, unassigned, surrogates), and the non-characters.
_NOT_UCSCHAR = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"))

#: The longest description, the most tags and the longest tag a document may carry.
MAX_DESCRIPTION = 5_000
MAX_TAGS = 100
MAX_TAG = 100
#: ISO 8601 as people write a publication date: a day, or a day and a time (with an offset).
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
                       r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?\Z")
DATE_REQUIREMENT = "an ISO 8601 date or date-time such as 2005-02-10 or 2005-02-10T09:30:00Z"
TAGS_REQUIREMENT = f"a list of at most {MAX_TAGS} tags, each one line of at most {MAX_TAG} characters"

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
        kind = "line-breaking" if found[0] in "\u2028\u2029" else "control"
        return f"holds the {kind} character U+{ord(found[0]):04X} (each value is one line of text)"
    return None


def date_problem(value: object) -> str | None:
    """Why `value` cannot be a publication date, or None when it can."""
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        return f"must be {DATE_REQUIREMENT}"
    try:
        (datetime if len(value) > 10 else date).fromisoformat(value)
    except ValueError as error:
        return f"is not a real date: {error}"
    return None


def publication_date(value: str) -> date:
    """The day of a publication date that date_problem accepted."""
    return date.fromisoformat(value[:10])


def tags_problem(value: object) -> str | None:
    """Why `value` cannot be a document's tags, or None when it can."""
    if not isinstance(value, (list, tuple)) or len(value) > MAX_TAGS:
        return f"must be {TAGS_REQUIREMENT}"
    for tag in value:
        problem = text_problem(tag, MAX_TAG)
        if problem is not None:
            return f"must be {TAGS_REQUIREMENT}: a tag {problem}"
    return None


def url_problem(value: object) -> str | None:
    """Why `value` cannot be a license or base URL, or None when it can."""
    if not isinstance(value, str):
        return "must be text"
    if len(value) > MAX_URL:
        return f"longer than {MAX_URL} characters"
    problem = web_url_problem(value)
    if problem is not None:
        return (f"must be an absolute http(s) URL, such as https://example.org/, with any space or "
                f'"<>\\^`{{|}} in it percent-encoded: {problem}')
    return None


def is_web_url(value: object) -> bool:
    """True for an absolute http:// or https:// URL with a host, of at most MAX_URL
    characters, that RFC 3986 (or, beyond ASCII, RFC 3987) reads as it is written: every
    character allowed where it stands, every "%" a two-digit escape, a port a number up
    to 65535."""
    return isinstance(value, str) and len(value) <= MAX_URL and web_url_problem(value) is None


def web_url_problem(url: str) -> str | None:
    """What makes `url` no http(s) URL, in a few words that do not repeat it; None when it is one."""
    if not url.startswith(("http://", "https://")):
        return "it does not start with http:// or https://"
    for char in url:
        if ord(char) < 0x80:
            if char in '"<>\\^`{|} ' or not char.isprintable():
                return f"it holds {_char_name(char)}"
        elif unicodedata.category(char) in _NOT_UCSCHAR or (ord(char) & 0xFFFE) == 0xFFFE \
                or 0xFDD0 <= ord(char) <= 0xFDEF:
            return f"it holds {_char_name(char)}"
    if _BAD_ESCAPE.search(url):
        return 'a "%" in it is not followed by two hex digits'
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed "[" in the host
        return "its host is not a name or an IPv6 address in brackets"
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if at and not _USERINFO.match(userinfo):
        return "the part before the host's @ holds a character a user name may not"
    if hostport.startswith("["):
        host, bracket, port = hostport[1:].partition("]")
        if "%" in host:  # RFC 6874's zone identifier: browsers refuse it
            return "its host is an IPv6 address with a zone, which browsers refuse"
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "its host is not a name or an IPv6 address in brackets"
        if not bracket or (port and not port.startswith(":")):
            return "its host is not a name or an IPv6 address in brackets"
        port = port[1:] if port else None
    else:
        host, colon, port = hostport.partition(":")
        port = port if colon else None
        if not host:
            return "it has no host"
        if not _REG_NAME.match(host):
            return "its host holds a character a host name may not"
        problem = _host_name_problem(host)
        if problem is not None:
            return problem
    if port is not None and not (port.isascii() and port.isdigit() and len(port) <= 5
                                 and int(port) <= MAX_PORT):
        return f"its port is not a number from 0 to {MAX_PORT}"
    if not _PATH.match(parts.path):
        return "its path holds a character a path may not"
    if not _QUERY.match(parts.query):
        return "its query holds a character a query may not"
    if not _QUERY.match(parts.fragment):
        return "its fragment holds a character a fragment may not (a second #?)"
    return None


def _host_name_problem(host: str) -> str | None:
    """What browsers (the WHATWG URL standard, which EPUBCheck follows) refuse in a host
    that RFC 3986 allows: a name ending in a number that is no IPv4 address, or a name
    beyond ASCII that IDNA cannot write in ASCII, an empty label (a..b)."""
    if "" in host.removesuffix(".").split("."):
        return "its host has an empty label (two dots in a row, or a leading dot)"
    last = host.rstrip(".").rpartition(".")[2]
    if last.isascii() and (last.isdigit() or last.lower().startswith("0x")):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return "its host ends in a number but is no IPv4 address"
    if "%" in host:
        return 'its host holds a "%" escape'
    if not host.isascii():
        try:
            host.encode("idna")
        except UnicodeError:
            return "its host is a name IDNA cannot write in ASCII"
    return None


def _char_name(char: str) -> str:
    return f"U+{ord(char):04X}" + (f" ({char})" if char.isprintable() and char != " " else "")


def clipped(value: str, limit: int = 80) -> str:
    """`value` as a message may show it: cut to `limit` characters and an ellipsis (a value
    may be megabytes long), escaped as names.shown escapes every text a message shows."""
    return shown(value[:limit] + ("…" if len(value) > limit else ""))


@dataclass(frozen=True)
class Provenance:
    """Who made a document and on what terms, and the facts a person gave about it (when
    it was published, what it is about); None where nothing was said."""

    author: str | None = None
    """Who wrote the document (PDF /Author and dc:creator, EPUB and DOCX creator, OPDS author)."""
    publisher: str | None = None
    """Who publishes it (dc:publisher everywhere)."""
    rights: str | None = None
    """The rights statement, e.g. "CC BY 4.0" or "© 2026 Example Press" (dc:rights, Atom rights)."""
    license_url: str | None = None
    """Where the license is written out: an absolute http(s) URL (xmpRights:WebStatement,
    the EPUB's dcterms:license link, the feed's license link)."""
    published: str | None = None
    """The publication date as written, ISO 8601 (a master's `date`); without it, editions say
    "archived" with the build date and never present that as the publication date."""
    description: str | None = None
    """What the document is about, in a sentence or a paragraph (dc:description)."""
    tags: tuple[str, ...] | None = None
    """Keywords a person gave (a master's `keywords` or `tags`; dc:subject, the feeds' categories)."""

    def over(self, defaults: Provenance) -> Provenance:
        """These fields, each taken from `defaults` where this one has none."""
        return replace(defaults, **self.as_dict())

    def credits(self) -> dict[str, str]:
        """Author, publisher, rights and license_url, where set."""
        return {name: value for name, value in self.as_dict().items() if name in CREDITS}

    def master_fields(self) -> dict:
        """The set fields as a master's frontmatter names them (published is `date`)."""
        return {MASTER_KEYS.get(name, name): list(value) if name == "tags" else value
                for name, value in self.as_dict().items()}

    def as_dict(self) -> dict[str, str]:
        """The fields that are set, by name, in the order above."""
        # Not dataclasses.asdict, which deep-copies every value (the fields are text and a tuple).
        return {field.name: value for field in fields(self) if (value := getattr(self, field.name)) is not None}

    def to_json(self) -> str | None:
        """The set fields as a JSON object (the catalog's `provenance` column); None when none is."""
        given = self.as_dict()
        return json.dumps(given, ensure_ascii=False, sort_keys=True) if given else None

    @classmethod
    def from_json(cls, text: str | None) -> Provenance:
        """The Provenance `to_json` wrote; an empty one for None or a value not written by it.
        Read back from the catalog, it is checked as any metadata is: a field that would
        not pass (a control character, a lone surrogate, a URL that is none) is left out."""
        try:
            data = json.loads(text) if text else {}
        except (TypeError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        return cls(**{name: tuple(data[name]) if name == "tags" else data[name] for name in FIELDS
                      if data.get(name) is not None and field_problem(name, data[name]) is None})

    def __bool__(self) -> bool:
        return bool(self.as_dict())


#: The field names, in order: also the frontmatter keys of a master (but see MASTER_KEYS).
FIELDS = tuple(field.name for field in fields(Provenance))
#: The fields that say who made the document and on what terms: seedpress.toml's [metadata] keys.
CREDITS = ("author", "publisher", "rights", "license_url")
#: A field a master (and -M) names otherwise: pandoc's and Dublin Core's `date`.
MASTER_KEYS = {"published": "date"}
#: Other names a master or -M may give a field by.
ALIASES = {"date": "published", "keywords": "tags"}


def field_problem(name: str, value: object) -> str | None:
    """Why `value` cannot be the Provenance field `name`, or None when it can."""
    if name == "license_url":
        return url_problem(value)
    if name == "published":
        return date_problem(value)
    if name == "tags":
        return tags_problem(value)
    return text_problem(value, MAX_DESCRIPTION if name == "description" else MAX_TEXT)
