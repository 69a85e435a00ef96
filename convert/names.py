"""Names and text seedpress did not choose, as it shows and stores them (README, "Odd file names").

A file name on Linux is bytes: anything but `/` and NUL. Python hands a name that is
not UTF-8 over as a str holding lone surrogates (os.fsdecode's surrogateescape), which
no UTF-8 writer takes (SQLite, WeasyPrint, YAML, a JSON line on a UTF-8 terminal); and
a name may hold control characters that move a terminal's cursor, break a line, or
turn the text around it. Wherever seedpress shows such a name, or a message holding
one, it shows `shown(text)`; the catalog also keeps the name's exact bytes
(`name_bytes`), so nothing is lost.
"""

from __future__ import annotations

import os
import re

#: What shown() writes as an escape: C0 and C1 controls and DEL, lone surrogates, the
#: line and paragraph separators, the bidirectional controls that reorder the text
#: after them, and the two non-characters XML refuses.
_ESCAPED = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufffe\uffff]")
#: The longest shown() form of a name of 255 bytes (NAME_MAX): four characters a byte.
MAX_SHOWN_NAME = 4 * 255


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # a byte that is not UTF-8, as surrogateescape keeps it
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def shown(text: str) -> str:
    """`text` with every character a terminal, a UTF-8 writer or XML cannot take as it is
    written as a backslash escape: `\\xe9` for the byte 0xE9 of a name that is not UTF-8,
    `\\x1b` for ESC, `\\u202e` for RIGHT-TO-LEFT OVERRIDE. Everything else, other
    languages' letters included, stays as it is. shown(shown(t)) == shown(t)."""
    return _ESCAPED.sub(_escape, text)


def json_safe(json_text: str) -> str:
    """A JSON text with every character shown() escapes written as a JSON `\\uXXXX` escape
    instead: the same JSON value, but one line on a terminal and valid UTF-8 (a lone
    surrogate becomes the escape JSON has for it)."""
    return _ESCAPED.sub(lambda match: f"\\u{ord(match.group()):04x}", json_text)


def name_bytes(name: str) -> bytes:
    """The bytes of the file name `name` as the file system holds them (os.fsencode's
    inverse of the str Python gave for them)."""
    try:
        return os.fsencode(name)
    except UnicodeEncodeError:  # a surrogate no file name can give: keep it all the same
        return name.encode("utf-8", "surrogatepass")
