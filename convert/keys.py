"""Safe output names: a seed's key comes from its file name and nothing else (DESIGN §4, §7)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from pathlib import PurePath

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"]
    + [f"com{n}" for n in range(10)] + [f"lpt{n}" for n in range(10)]
    # Names of the hand-out in dist/: a seed folder must never take one.
    + ["sha256sums", "index", "opds"]
)
MAX_KEY_LENGTH = 80


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def safe_key(stem: str) -> str:
    """A key made of ASCII letters, digits, `-` and `_` for the file stem `stem`.

    A stem that is already safe is its own key. Any other stem is transliterated,
    cleaned and given a hash of the original, so two different stems never
    share a key and the same stem always gets the same one.
    """
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("-", ascii_stem).strip("-_")[:MAX_KEY_LENGTH].strip("-_")
    if cleaned == stem and cleaned.lower() not in _RESERVED:
        return cleaned
    return f"{cleaned or 'seed'}-{_short_hash(stem)}"


def assign_keys(names: Iterable[str]) -> dict[str, str]:
    """Map each file path to a unique key from its file name's stem.

    Paths whose stems give the same key get a hash of the whole path as well.
    """
    by_key: dict[str, list[str]] = {}
    for name in names:
        by_key.setdefault(safe_key(_stem(PurePath(name).name)), []).append(name)
    keys = {}
    for key, group in by_key.items():
        for name in group:
            keys[name] = key if len(group) == 1 else f"{key}-{_short_hash(name)}"
    return keys


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
