"""Regular expressions compiled when first used, not when their module is imported.

Python compiles a pattern in Python code, and a character class spanning most of Unicode
(`[\\u00a0-\\U0010ffff]`, the unspaced scripts) takes milliseconds: a command that never
checks a URL or splits Chinese text should not pay for it at start-up (an unchanged
archive run of a thousand titles spent 35 ms so, of its 0.8 s).
"""

from __future__ import annotations

import re
from functools import cached_property


class LazyPattern:
    """re.compile(pattern, flags) on first use; then every method of the compiled pattern."""

    def __init__(self, pattern: str, flags: int = 0):
        self.pattern, self.flags = pattern, flags

    @cached_property
    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.pattern, self.flags)

    def __getattr__(self, name: str):
        # Only names the instance lacks come here: match, search, sub, finditer…
        return getattr(self.compiled, name)
