"""Whole numbers read from a request (Range positions, `page=`), bounded by digit count
before int() sees them: Python refuses to convert more than 4,300 digits (ValueError), and a
number no file or page can reach needs no exact value."""

from __future__ import annotations


def bounded_int(text: str, max_digits: int) -> int | None:
    """The whole number `text` spells in ASCII digits (leading zeros allowed; no sign, no space,
    no other script's digits), or None when it is not one or has more than `max_digits`
    significant digits."""
    if not (text.isascii() and text.isdigit()):
        return None
    significant = text.lstrip("0") or "0"
    if len(significant) > max_digits:
        return None
    return int(significant)
