"""The document as pandoc's JSON AST: every piece of seed text a Str or MetaString, never
Markdown for pandoc to interpret; sections, the marker and other-language paragraphs marked."""

from __future__ import annotations

from collections.abc import Sequence

from convert.document.labels import foreign_label_language, labels
from convert.document.language import is_right_to_left
from convert.document.model import Document, text_direction
from convert.document.provenance import publication_date
from convert.document.seed import marker_language

#: The pandoc-types version our JSON AST is written for (pandoc 3.x).
API_VERSION = [1, 23, 1]


def inlines(text: str) -> list[dict]:
    """Literal text as one Str: nothing in it can become markup.

    pandoc's readers give a Str a word and a Space between words; its writers take a
    Str with spaces as the same text (the DOCX writer keeps every space, xml:space
    "preserve"; a seed's text has no runs of spaces). One Str a paragraph rather than
    a token a word: a quarter of the JSON for pandoc to read, and a third less of its
    time for an EPUB and DOCX (issue 25), for the same text in both."""
    return [{"t": "Str", "c": text}] if text else []


def meta_string(text: str) -> dict:
    return {"t": "MetaString", "c": text}


def _attr(identifier: str = "", classes: Sequence[str] = (), **attributes: str) -> list:
    return [identifier, list(classes), [[key.replace("_", "-"), value] for key, value in attributes.items()]]


def _para(text: str) -> dict:
    return {"t": "Para", "c": inlines(text)}


def _marked_para(text: str, lang: str | None, document_direction: str) -> dict:
    """A paragraph; one in a language of its own, or running the other way than the
    document (by its first strong character), sits in a Div with `lang` and `dir`,
    which the EPUB writer keeps as attributes and the DOCX writer turns into the run
    language and a right-to-left paragraph."""
    direction = text_direction(text)
    attributes = {"lang": lang} if lang else {}
    if direction and direction != document_direction:
        attributes["dir"] = direction
    return {"t": "Div", "c": [_attr(**attributes), [_para(text)]]} if attributes else _para(text)


def _header(text: str, identifier: str, lang: str | None) -> dict:
    content = inlines(text)
    if lang:
        content = [{"t": "Span", "c": [_attr(lang=lang), content]}]
    return {"t": "Header", "c": [1, _attr(identifier, [identifier]), content]}


def marker_block(document: Document, *, printed: bool = False) -> dict | None:
    """The link to the original article as a paragraph, or None when the seed has no marker.
    `printed` (the DOCX, which is printed as often as read on screen): the URL follows the
    link on a line of its own, as in the PDF, so that a page on paper still says where."""
    article = document.original_article
    if article is None:
        return None
    words = inlines(article.text)
    marked = marker_language(document)
    if marked:
        # The marker's words in a language of labels.toml other than the document's.
        words = [{"t": "Span", "c": [_attr(lang=marked), words]}]
    if article.url:
        link = {"t": "Link", "c": [_attr(classes=["original-article"]), words, [article.url, ""]]}
        shown = [{"t": "LineBreak"}, {"t": "Str", "c": article.url}] if printed else []
        return {"t": "Para", "c": [link, *shown]}
    return {"t": "Para", "c": [{"t": "Emph", "c": words}]}


def document_ast(
    document: Document, *, custom_styles: bool = False, date: str | None = None,
) -> dict:
    """The whole document as pandoc JSON: two level-1 sections, metadata as MetaString.

    With `custom_styles`, summary and commentary paragraphs are wrapped in divs
    that the DOCX writer turns into the `Summary` and `Commentary` styles. The
    publication date a person gave is the `date`; without one, `date` (words such as
    "archived 4 December 2026") stands in its place, or nothing.
    """

    words, foreign = labels(document.lang), foreign_label_language(document.lang)
    direction = "rtl" if is_right_to_left(document.lang) else "ltr"

    def group(name: str, style: str) -> dict:
        attributes = {"custom_style": style} if custom_styles else {}
        paragraphs = [_marked_para(text, lang, direction)
                      for text, lang in zip(getattr(document, name), document.paragraph_langs(name))]
        return {"t": "Div", "c": [_attr(classes=[name], **attributes), paragraphs]}

    summary = [_header(words.summary_heading, "summary", foreign), group("summary", "Summary")]
    marker = marker_block(document, printed=custom_styles)
    if marker is not None:
        summary.append({"t": "Div", "c": [_attr(classes=["original-article"], **(
            {"custom_style": "Original Article"} if custom_styles else {})), [marker]]})
    commentary = [_header(words.commentary_heading, "commentary", foreign)]
    if document.commentary:
        commentary.append(group("commentary", "Commentary"))
    else:
        note = _attr(classes=["no-commentary"], **({"lang": foreign} if foreign else {}))
        commentary.append({"t": "Div", "c": [note, [
            {"t": "Para", "c": [{"t": "Emph", "c": inlines(words.no_commentary)}]}]]})
    meta = {
        "title": meta_string(document.title),
        "lang": meta_string(document.lang),
        "identifier": meta_string(document.identifier),
        "description": meta_string(document.description or document.subject),
        # The DOCX writer reads keywords as inlines; Str tokens are as literal as MetaString.
        "keywords": {"t": "MetaList", "c": [{"t": "MetaInlines", "c": inlines(k)} for k in document.keywords]},
    }
    # DOCX: the subject core property, a sentence. EPUB: dc:subject is one per tag a person
    # gave, and none without: a reading system (Calibre) shows each as a tag, and the
    # summary's first sentence stood there as one (dc:description carries it).
    if custom_styles:
        meta["subject"] = meta_string(document.subject)
    elif document.tags:
        meta["subject"] = {"t": "MetaList", "c": [meta_string(tag) for tag in document.tags]}
    # author becomes the EPUB's dc:creator and the DOCX's core creator; publisher and rights
    # the EPUB's dc:publisher and dc:rights; all but author are DOCX custom properties.
    meta.update((name, meta_string(value)) for name, value in document.provenance.credits().items())
    if direction == "rtl":
        meta["dir"] = meta_string(direction)
    if document.published is not None:
        # The publication date a person gave (dc:date); the day is what pandoc's writers take.
        meta["date"] = meta_string(publication_date(document.published).isoformat())
    elif date is not None:
        meta["date"] = meta_string(date)
    return {"pandoc-api-version": API_VERSION, "meta": meta, "blocks": summary + commentary}
