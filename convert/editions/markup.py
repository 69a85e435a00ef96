"""The HTML the PDF edition and the landing page write alike: a section's paragraphs,
each marked with its language and direction, a label marked with its language, and
the direction of a document and of a piece of its text."""

from __future__ import annotations

from collections.abc import Callable

from convert.document.language import is_right_to_left, same_language
from convert.document.model import Document, text_direction
from convert.web import markup_text


def document_direction(document: Document) -> str:
    """rtl for a document in a right-to-left language, else ltr."""
    return "rtl" if is_right_to_left(document.lang) else "ltr"


def direction_attribute(text: str, direction: str) -> str:
    """` dir="rtl"` (or `ltr`) for text whose first strong character runs the other way
    than `direction`, the document's; nothing otherwise."""
    found = text_direction(text)
    return f' dir="{found}"' if found and found != direction else ""


def lang_attribute(lang: str | None) -> str:
    """` lang="…"` for words in `lang`; nothing for None (words in the document's language)."""
    return f' lang="{markup_text(lang)}"' if lang else ""


def own_language(lang: str, document: Document) -> str | None:
    """`lang` where words in it stand in `document` in another language; None when it is the
    document's own."""
    return None if same_language(lang, document.lang) else lang


def label(text: str, foreign: str | None) -> str:
    """A label escaped, in a span marked with its language when that is not the document's."""
    return f'<span lang="{foreign}">{markup_text(text)}</span>' if foreign else markup_text(text)


def paragraphs(document: Document, section: str, text: Callable[[str, str], str]) -> str:
    """The section's paragraphs, each marked with its own language where it has one, and
    with its direction where that differs from the document's; `text(paragraph, lang)`
    writes a paragraph's text as HTML in its language."""
    direction = document_direction(document)
    html = []
    for paragraph, lang in zip(getattr(document, section), document.paragraph_langs(section)):
        marked = lang_attribute(lang)
        html.append(f"<p{marked}{direction_attribute(paragraph, direction)}>{text(paragraph, lang or document.lang)}</p>\n")
    return "".join(html)
