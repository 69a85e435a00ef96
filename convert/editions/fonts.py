"""fontconfig in this process: the font file a pattern matches and the characters it has.

The cover asks which installed font draws each character of a title. fontconfig
answers from its cache files, which list every font's characters: no `fc-match`
process per pattern (a fork and exec each, eleven a run) and no font file read
with fontTools to learn its cmap (a CJK font's is 65,000 entries, a tenth of a
second). The library is the one WeasyPrint's Pango loads, so the cover and the
PDF see the same fonts and the same configuration (FONTCONFIG_FILE and the rest).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from dataclasses import dataclass

#: fontconfig's FcResult for a property that is there.
_MATCH = 0
#: FcMatchKind for substituting a pattern before matching (FcMatchPattern).
_MATCH_PATTERN = 0


@dataclass(frozen=True)
class Font:
    """A font file fontconfig matched: where it is, and what it can draw."""

    path: str
    index: int
    """The face's index in the file (a .ttc holds several)."""
    families: tuple[str, ...]
    format: str
    """FreeType's name for its format: "TrueType" and "CFF" (OpenType) are outline fonts
    Pillow draws anywhere; "PCF" and "Type 1" are left alone."""
    outline: bool
    """False for a bitmap font (Noto Color Emoji's CBDT), which draws at fixed sizes only."""
    _charset: int
    """fontconfig's FcCharSet of the face; valid while the process lives (the matched
    pattern that owns it is never freed)."""

    def has(self, char: str) -> bool:
        """True when the face maps the character `char`."""
        return bool(_fontconfig().FcCharSetHasChar(self._charset, ord(char)))


@functools.cache
def _fontconfig():
    """libfontconfig with the signatures seedpress calls; None if it cannot be loaded."""
    try:
        library = ctypes.CDLL("libfontconfig.so.1")
    except OSError:
        # Not the Linux soname: ask find_library, which runs ldconfig (and maybe gcc) to
        # answer, only now (editions/pdf.py keeps it from WeasyPrint's import for the same cost).
        name = ctypes.util.find_library("fontconfig")
        try:
            library = ctypes.CDLL(name) if name else None
        except OSError:
            library = None
    if library is None:
        return None
    pointer, text, integer = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    signatures = {
        "FcGetVersion": (integer, []),
        "FcInitLoadConfig": (pointer, []),
        "FcConfigGetConfigFiles": (pointer, [pointer]),
        "FcConfigGetFontDirs": (pointer, [pointer]),
        "FcStrListNext": (text, [pointer]),
        "FcStrListDone": (None, [pointer]),
        "FcConfigDestroy": (None, [pointer]),
        "FcNameParse": (pointer, [text]),
        "FcConfigSubstitute": (integer, [pointer, pointer, integer]),
        "FcDefaultSubstitute": (None, [pointer]),
        "FcFontMatch": (pointer, [pointer, pointer, ctypes.POINTER(integer)]),
        "FcPatternDestroy": (None, [pointer]),
        "FcPatternGetString": (integer, [pointer, text, integer, ctypes.POINTER(text)]),
        "FcPatternGetInteger": (integer, [pointer, text, integer, ctypes.POINTER(integer)]),
        "FcPatternGetBool": (integer, [pointer, text, integer, ctypes.POINTER(integer)]),
        "FcPatternGetCharSet": (integer, [pointer, text, integer, ctypes.POINTER(pointer)]),
        "FcCharSetHasChar": (integer, [pointer, ctypes.c_uint32]),
    }
    for name, (result, arguments) in signatures.items():
        function = getattr(library, name)
        function.restype, function.argtypes = result, arguments
    return library


def fontconfig_version() -> int | None:
    """fontconfig's version as one number (21401 for 2.14.1); None without fontconfig."""
    library = _fontconfig()
    return None if library is None else library.FcGetVersion()


def fontconfig_configuration() -> tuple[list[str], list[str]] | None:
    """The configuration files fontconfig loads and the font folders they name, as fc-list
    would load them (FONTCONFIG_FILE and the rest apply), without scanning a font."""
    library = _fontconfig()
    configuration = library.FcInitLoadConfig() if library is not None else None
    if not configuration:
        return None

    def strings(listing) -> list[str]:
        found = []
        if listing:
            while (item := library.FcStrListNext(listing)) is not None:
                found.append(os.fsdecode(item))
            library.FcStrListDone(listing)
        return found

    try:
        return (strings(library.FcConfigGetConfigFiles(configuration)),
                strings(library.FcConfigGetFontDirs(configuration)))
    finally:
        library.FcConfigDestroy(configuration)


@functools.cache
def match(pattern: str) -> Font | None:
    """The font fontconfig matches `pattern` with (fc-match's answer: "DejaVu Sans:bold",
    "sans-serif:charset=4e2d"), or None when there is none or no fontconfig. Like
    fc-match, it answers with a substitute when the family asked for is missing:
    Font.families says which family it is."""
    library = _fontconfig()
    if library is None:
        return None
    parsed = library.FcNameParse(pattern.encode())
    if not parsed:
        return None
    try:
        library.FcConfigSubstitute(None, parsed, _MATCH_PATTERN)
        library.FcDefaultSubstitute(parsed)
        result = ctypes.c_int()
        matched = library.FcFontMatch(None, parsed, ctypes.byref(result))
    finally:
        library.FcPatternDestroy(parsed)
    if not matched:
        return None
    path, index, outline, charset = ctypes.c_char_p(), ctypes.c_int(), ctypes.c_int(1), ctypes.c_void_p()
    if (library.FcPatternGetString(matched, b"file", 0, ctypes.byref(path)) != _MATCH or not path.value
            or library.FcPatternGetCharSet(matched, b"charset", 0, ctypes.byref(charset)) != _MATCH):
        library.FcPatternDestroy(matched)
        return None
    library.FcPatternGetInteger(matched, b"index", 0, ctypes.byref(index))
    library.FcPatternGetBool(matched, b"outline", 0, ctypes.byref(outline))
    kind = ctypes.c_char_p()
    library.FcPatternGetString(matched, b"fontformat", 0, ctypes.byref(kind))
    families, family = [], ctypes.c_char_p()
    while library.FcPatternGetString(matched, b"family", len(families), ctypes.byref(family)) == _MATCH:
        families.append(family.value.decode("utf-8", "replace"))
    # `matched` is kept: the charset belongs to it, and match() is cached for the process.
    return Font(os.fsdecode(path.value), index.value, tuple(families), (kind.value or b"").decode("ascii", "replace"),
                bool(outline.value), charset.value)
