"""A landing page per title, `dist/<key>/index.html`: the text to read, the files to
download with their size and sha256, and how to cite it (DESIGN §11).

It is written with the editions, from the same document, so it is part of the seed's
files in the catalog. Like the index page it is one static HTML5 page with no script:
its one <style> block is allowed by hash in its Content-Security-Policy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime

from convert.defaults import ARCHIVE_TITLE, SEED_COPY
from convert.document.labels import foreign_label_language, labels
from convert.document.model import Document
from convert.editions import date_shown
from convert.editions.markup import direction_attribute, document_direction, english, label, paragraphs
from convert.layout import COVER_EDITION, INDEX_NAME, edition_file
from convert.web import EDITION_TYPES, PALETTE, html_text, human_size, page_head, pagefind_language, style_policy

# Readable at 320 px, in dark mode too (web.PALETTE); the summary sits in a panel as in the PDF.
STYLE = PALETTE + """body {
  margin: 0 auto; max-width: 42rem; padding: 1rem; overflow-wrap: anywhere;
  font: 1.0625rem/1.6 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
}
nav, .meta, .size, .digest, footer { color: var(--muted); font-size: 0.9rem; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0.75rem 0 0.5rem; }
h2 { font-size: 0.85rem; letter-spacing: 0.08em; text-transform: uppercase; margin: 0 0 0.5rem; }
section { margin: 1.5rem 0; }
.summary { background: var(--panel); border-left: 4px solid var(--accent); padding: 1rem; }
[dir="rtl"] .summary { border-left: none; border-right: 4px solid var(--accent); }
.commentary { border-top: 1px solid var(--line); padding-top: 1rem; }
.downloads { list-style: none; padding: 0; margin: 0; }
.downloads li { border-bottom: 1px solid var(--line); padding: 0.6rem 0; }
.downloads a { display: inline-block; min-height: 2.75rem; line-height: 2.75rem; font-weight: 600; }
.digest { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.75rem; word-break: break-all; }
.cite { font-size: 0.95rem; }
"""

CONTENT_SECURITY_POLICY = style_policy(STYLE, "img-src 'self'", "base-uri 'none'", "form-action 'none'")


def landing_page(document: Document, key: str, files: Mapping[str, bytes], created: datetime,
                 archive_title: str = ARCHIVE_TITLE) -> bytes:
    """The landing page of one title, linking its `files` (edition to bytes) by their names in
    its folder, and the index of the archive by its title."""
    words, foreign = labels(document.lang), foreign_label_language(document.lang)
    direction = document_direction(document)
    # Pagefind reads the language of <html>; a tag too long for it is given whole on <body>.
    indexed = pagefind_language(document.lang)
    body_lang = "" if indexed == document.lang else f' lang="{html_text(document.lang)}"'
    when = date_shown(document, created)  # the publication date, else "archived <build date>"
    article = document.original_article
    original = ""
    if article is not None and article.url:
        original = (f'<p class="original"><a href="{html_text(article.url)}" rel="noreferrer"'
                    f'{_english(document)}>{html_text(article.text)}</a></p>\n')
    page = f"""<!DOCTYPE html>
<html lang="{html_text(indexed)}" dir="{direction}">
<head>
{page_head(CONTENT_SECURITY_POLICY)}<title>{html_text(document.title)}</title>
<style>{STYLE}</style>
</head>
<body{body_lang}>
<nav><a href="../{INDEX_NAME}"{_english(document)}>{html_text(archive_title)}</a></nav>
<main>
<article data-pagefind-body>
<h1{direction_attribute(document.title, direction)}>{html_text(document.title)}</h1>
<p class="meta" data-pagefind-ignore><time datetime="{html_text(when[0])}">{label(when[1], foreign)}</time>{_provenance(document)}</p>
{_cover(key, files)}<section class="summary" aria-labelledby="summary">
<h2 id="summary" data-pagefind-ignore>{label(words.summary_heading, foreign)}</h2>
{paragraphs(document, "summary", _paragraph)}{original}</section>
<section class="commentary" aria-labelledby="commentary">
<h2 id="commentary" data-pagefind-ignore>{label(words.commentary_heading, foreign)}</h2>
{paragraphs(document, "commentary", _paragraph) or f"<p>{label(words.no_commentary, foreign)}</p>"}
</section>
<section aria-labelledby="downloads" data-pagefind-ignore>
<h2 id="downloads">{label(words.downloads, foreign)}</h2>
<ul class="downloads">
{_downloads(key, files, label(words.source_text, foreign))}
</ul>
</section>
<section class="cite" aria-labelledby="cite" data-pagefind-ignore>
<h2 id="cite"{_english(document)}>Cite</h2>
<p>{_isolated(document.title)}. {label(when[1], foreign)}. <code>{html_text(document.identifier)}</code></p>
</section>
</article>
</main>
</body>
</html>
"""
    return page.encode("utf-8")


def _paragraph(text: str, lang: str) -> str:
    return html_text(text)


def _downloads(key: str, files: Mapping[str, bytes], source_label: str) -> str:
    """The download list; the source text labelled `source_label` (HTML, in the reader's
    language), the formats by their names."""
    items = []
    for edition, (media_type, kind) in EDITION_TYPES.items():
        if edition not in files:
            continue
        data = files[edition]
        name = edition_file(key, edition)
        caption = source_label if edition == SEED_COPY else kind
        items.append(
            f'<li><a href="{html_text(name)}" type="{html_text(media_type)}" download>{caption}</a> '
            f'<span class="size">{html_text(human_size(len(data)))}</span><br>'
            f'<span class="digest">sha256 {hashlib.sha256(data).hexdigest()}</span></li>')
    return "\n".join(items)


#: The size (px) the landing page shows the cover at; the file is larger, for dense screens.
LANDING_COVER_SIZE = (160, 240)


def _cover(key: str, files: Mapping[str, bytes]) -> str:
    """The title's cover, decorative under its title (alt="": the title is the heading
    above); nothing when the files have none."""
    if COVER_EDITION not in files:
        return ""
    width, height = LANDING_COVER_SIZE
    return (f'<p class="cover" data-pagefind-ignore><img src="{html_text(edition_file(key, COVER_EDITION))}" '
            f'width="{width}" height="{height}" alt=""></p>\n')


def _provenance(document: Document) -> str:
    """ · author · rights, for what the document says of them (nothing before it does)."""
    parts = [getattr(document, name, None) for name in ("author", "rights")]
    return "".join(f" · {_isolated(part)}" for part in parts if part)


def _english(document: Document) -> str:
    return ' lang="en"' if english(document) else ""


def _isolated(text: str) -> str:
    """`text` set among other words in a <bdi>, so that its direction and any bidi control in
    it (an unclosed U+202E) stay inside it and cannot reorder the dates and digests beside it."""
    return f"<bdi>{html_text(text)}</bdi>"
