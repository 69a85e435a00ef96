"""Safe output names: a seed's key comes from its file name and nothing else (DESIGN §4, §7).

A key is made of ASCII letters, digits, `-` and `_`. A file stem that is
already such a name is its own key; any other stem becomes its cleaned form
plus `-` and 16 hex digits of its hash. So that the two forms can never meet,
a safe stem that itself ends like a hashed key (`-` and 16 hex digits) is
hashed too. The key of a name therefore depends on the name alone: not on
the folder it was found in, how that folder was spelled, or the other seeds.

One exception, so that dist survives a copy to a file system that folds case
(macOS, Windows): names whose keys differ only in case (`REPORT.txt`,
`report.txt`) each get a hash of the name as well (`assign_keys`). Keys are
ASCII, so NFC and NFD spellings of a name, hashed apart, stay apart too.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from pathlib import PurePath

from convert.layout import RESERVED_KEYS

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
#: Hex digits of the stem's SHA-256 in a hashed key: 64 bits, so that even 100,000
#: seeds whose names clean to the same text (all-CJK names become "seed") do not meet.
HASH_DIGITS = 16
_HASHED = re.compile(rf"-[0-9a-f]{{{HASH_DIGITS}}}\Z")
#: Long enough for any real name; with the hash, a key stays under 90 characters.
MAX_KEY_LENGTH = 72
#: The longest key seedpress makes: a hashed key, and `convert`'s second hash for two
#: inputs of the same name in different folders (assign_keys).
MAX_SAFE_KEY = MAX_KEY_LENGTH + 2 * (1 + HASH_DIGITS)
_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_DIGITS]


def safe_key(stem: str) -> str:
    """The key of the file stem `stem`: the same stem always gets the same key, and two
    different stems get different keys (barring a 64-bit hash collision)."""
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("-", ascii_stem).strip("-_")[:MAX_KEY_LENGTH].strip("-_")
    if cleaned == stem and cleaned.lower() not in RESERVED_KEYS and not _HASHED.search(stem):
        return cleaned
    return f"{cleaned or 'seed'}-{_short_hash(stem)}"


def is_safe_key(key: object) -> bool:
    """True for a key safe_key() can make: a name of ASCII letters, digits, `-` and `_`
    that starts with a letter or digit, is no longer than MAX_SAFE_KEY and is not
    reserved. A key read back from somewhere (the catalog, a worker) goes through this
    before any path is made of it: `..`, `/`, an absolute path never pass."""
    return (isinstance(key, str) and len(key) <= MAX_SAFE_KEY and _SAFE_KEY.match(key) is not None
            and key.lower() not in RESERVED_KEYS)


def seed_key(name: str) -> str:
    """The key of the seed file called `name` (a file name, without folders)."""
    return safe_key(stem(name))


def stem(name: str) -> str:
    """The file name without its last suffix (a name that is all suffix, `.txt`, stays whole)."""
    return name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name


def assign_keys(paths: Iterable[str]) -> dict[str, str]:
    """Map each input path to a key from its file name, unique even to a file system that
    folds case: paths whose names give the same key (`a/x.txt`, `b/x.txt`, as `convert`'s
    inputs from several folders may), or keys that differ only in case (`X.txt`, `x.txt`),
    get a hash of the path as given as well. Any other path keeps its name's own key."""
    own = {path: seed_key(PurePath(path).name) for path in paths}
    by_key: dict[str, list[str]] = {}
    for path, key in own.items():
        by_key.setdefault(key.casefold(), []).append(path)
    keys = {}
    for group in by_key.values():
        for path in group:
            keys[path] = own[path] if len(group) == 1 else f"{own[path]}-{_short_hash(path)}"
    return keys
