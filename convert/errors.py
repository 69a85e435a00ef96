"""The exceptions seedpress raises; only the CLI turns them into messages and exit codes."""

from __future__ import annotations

import re
from pathlib import Path

#: What a terminal would act on instead of showing, or that would break a one-line message:
#: C0 and C1 controls (ESC included), every other character str.splitlines() breaks at,
#: the bidirectional controls that reorder what follows them, and lone surrogates (a file
#: name that is not UTF-8), which no terminal encoding can write.
_NOT_FOR_TERMINALS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def _escaped(found: re.Match) -> str:
    code = ord(found[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """`text` (a message holding a file name or a file's content) with every character a
    terminal could take for a command, or that would break the line, written as a Python
    escape: ESC becomes `\\x1b`, U+202E `\\u202e`. Escaped text comes out unchanged."""
    return _NOT_FOR_TERMINALS.sub(_escaped, text)


class SeedpressError(Exception):
    """Base of every error seedpress reports to a user as one line."""


class SeedError(SeedpressError):
    """A seed or master could not be read: the file and the reason."""

    def __init__(self, path: Path | str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class RenderError(SeedpressError):
    """An edition could not be rendered or did not pass its gate."""

    def __init__(self, edition: str, path: Path | str, reason: str):
        self.edition = edition
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {edition}: {reason}")


class ConfigError(SeedpressError):
    """The command line, the environment or the tools are not usable as given."""


class LockedError(SeedpressError):
    """Another archive run holds the lock on the dist folder."""


class QueryError(SeedpressError):
    """A search query the index cannot run: bad FTS5 syntax, or too long."""


class RunStopped(SeedpressError):
    """An archive run stopped part-way through (its cluster went away); every seed it
    committed before that stays valid, and the next run builds the rest."""
