"""Inputs that used to cost quadratic time (issue 15).

No test here times anything: how the cost grows is what bench/hostile.py shows.
These check what a reader gets from the faster paths: the same first sentence.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convert.model import first_sentence


# --- first_sentence ----------------------------------------------------------------

_OLD_ABBREVIATION = re.compile(
    r"(?:^|\s)(?:(?:[A-Za-z]\.)+|Mr|Mrs|Ms|Dr|St|Jr|Sr|vs|etc|Gen|Gov|Sen|Rep|Prof)\.?$")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s+[\"“‘(]?[A-Z0-9])")


def first_sentence_before_issue_15(paragraph: str, limit: int = 300) -> str:
    """first_sentence as it was, quadratic: the reference its results must equal."""
    sentence = paragraph
    for match in _SENTENCE_END.finditer(paragraph):
        if not _OLD_ABBREVIATION.search(paragraph[: match.start() + 1]):
            sentence = paragraph[: match.end()]
            break
    if len(sentence) > limit:
        sentence = sentence[:limit].rsplit(" ", 1)[0] + " …"
    return sentence


ORDINARY = (
    "The U.S. Army said on Tuesday that it had killed him. The raid took place at night.",
    "Mr. Smith went to Washington. He stayed.",
    "Dr. No and Prof. X met Gen. Y at St. Paul's. Nobody came.",
    "It costs $5 vs. $6 etc. Then it rose.",
    "Is it over? Yes. It is.",
    "“Really!” she said. Then left.",
    "He said (quietly.) Then nothing.",
    "Ends with an ellipsis… And goes on.",
    "No sentence end at all, just words going on and on",
    "A.B.C. D.E.F. Then a real end. And more.",
    "i.e. the rest. Another.",
    "Numbers 1. 2. 3. Done.",
    " ".join(["word"] * 100) + ". Second sentence.",
    "a. B " * 100,
    "Short. " + "x" * 400,
    "\u00a0Non-breaking. Spaces.\u00a0And\u2028separators. Here.",
)


@pytest.mark.parametrize("paragraph", ORDINARY)
def test_first_sentence_is_unchanged(paragraph):
    assert first_sentence(paragraph) == first_sentence_before_issue_15(paragraph)


_SENTENCE_PIECES = st.sampled_from(
    ["a.", "B", "U.S.", "Mr.", "Dr", "etc.", "x", "Word", "1.", "2", "?", "!", "…", "”", ")", "(A", "“B",
     "St.", "vs", "e.g.", ".", "..", "Z.", "q", "\u00a0", "\u2029"])


@settings(max_examples=300, deadline=None)
@given(words=st.lists(_SENTENCE_PIECES, max_size=40),
       spaces=st.lists(st.sampled_from([" ", "  ", "\t", "\u2003"]), min_size=40, max_size=40),
       limit=st.integers(min_value=5, max_value=60))
def test_first_sentence_equals_the_old_one_on_anything(words, spaces, limit):
    paragraph = "".join(word + space for word, space in zip(words, spaces)).strip()
    assert first_sentence(paragraph, limit) == first_sentence_before_issue_15(paragraph, limit)


def test_first_sentence_of_the_pathological_summary():
    """100 KB of "a. B ": every period follows a one-letter abbreviation, so there is no
    sentence end, and the result is the paragraph cut near 300 characters."""
    paragraph = ("a. B " * 20_000).strip()
    sentence = first_sentence(paragraph)
    assert sentence == paragraph[:300].rsplit(" ", 1)[0] + " …"
    assert sentence == first_sentence_before_issue_15(paragraph[:2000])
