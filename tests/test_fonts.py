"""fontconfig in process (editions/fonts.py): the same answers as the fc-match and fontTools it replaces."""

from __future__ import annotations

import subprocess

import pytest
from fontTools.ttLib import TTFont

from convert.editions import cover, fonts

#: Patterns the cover asks about: families by name, a missing family, a character fallback.
PATTERNS = (
    "DejaVu Sans:bold", "Noto Sans Arabic:bold", "Noto Sans CJK JP:bold", "Noto Color Emoji",
    "No Such Family Anywhere:bold", "sans-serif:bold:charset=4e2d", "sans-serif:bold:charset=1f600",
)


def fc_match(pattern: str) -> tuple[str, int, tuple[str, ...]]:
    answer = subprocess.run(["fc-match", "-f", "%{file}\n%{index}\n%{family}", pattern],
                            capture_output=True, text=True, check=True).stdout.split("\n")
    return answer[0], int(answer[1] or 0), tuple(answer[2].split(","))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_match_answers_as_fc_match_does(pattern):
    font = fonts.match(pattern)
    assert font is not None
    assert (font.path, font.index, font.families) == fc_match(pattern)


@pytest.mark.parametrize("pattern", ["DejaVu Sans:bold", "Noto Sans CJK SC:bold", "Noto Sans Arabic:bold"])
def test_a_fonts_characters_are_its_cmap(pattern):
    """What fontconfig says a face has is what its best cmap maps, character for character,
    over the planes the cover draws from."""
    font = fonts.match(pattern)
    with TTFont(font.path, fontNumber=font.index, lazy=True) as opened:
        mapped = set(opened["cmap"].getBestCmap())
    for code in range(0x20, 0x30000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        assert font.has(chr(code)) == (code in mapped), f"U+{code:04X} in {font.path}"


def test_a_bitmap_emoji_font_is_told_apart():
    assert fonts.match("Noto Color Emoji").outline is False
    assert fonts.match("DejaVu Sans:bold").outline is True


def test_the_cover_refuses_a_substitute_for_a_missing_family():
    """fontconfig answers every pattern; a family the cover names but the machine lacks
    is none of the cover's, so its characters go to the fallback."""
    assert fonts.match("No Such Family Anywhere:bold") is not None
    assert cover._font_file("No Such Family Anywhere:bold") is None
    assert cover._font_file("DejaVu Sans:bold").format in cover.DRAWN_FORMATS


def test_fontconfig_reports_its_configuration():
    version = fonts.fontconfig_version()
    config_files, font_dirs = fonts.fontconfig_configuration()
    assert version >= 21000
    assert any(path.endswith("fonts.conf") for path in config_files)
    assert "/usr/share/fonts" in font_dirs
