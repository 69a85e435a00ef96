"""A landing page per title, `dist/<key>/index.html`: the text to read, the files to
download with their size and sha256, and how to cite it (DESIGN §11).

It is written with the editions, from the same document, so it is part of the seed's
files in the catalog. Like the index page it is one static HTML5 page with no script:
its one <style> block is allowed by hash in its Content-Security-Policy.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import datetime
from html import escape

from convert.document.labels import foreign_label_language, labels
from convert.document.language import is_right_to_left, same_language
from convert.document.model import Document, text_direction
from convert.editions import date_shown
from convert.web import EDITION_TYPES, human_size, page_head, pagefind_language

#: The landing page's name in the seed's folder.
LANDING_NAME = "index.html"
# Readable at 320 px, in dark mode too; the summary sits in a panel as in the PDF.
STYLE = """
:root { --text: #1d2228; --page: #ffffff; --muted: #5b6470; --line: #d8dde3; --accent: #0b5cad; --panel: #eef3f8; }
@media (prefers-color-scheme: dark) {
  :root { --text: #e6e9ed; --page: #16191d; --muted: #a5adb8; --line: #3a4048; --accent: #7db7ff; --panel: #1f2731; }
}
* { box-sizing: border-box; }
html { background: var(--page); color: var(--text); }
body {
  margin: 0 auto; max-width: 42rem; padding: 1rem; overflow-wrap: anywhere;
  font: 1.0625rem/1.6 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
}
a { color: var(--accent); }
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

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    f"style-src 'sha256-{base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()}'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'"
)


def landing_page(document: Document, key: str, files: Mapping[str, bytes], created: datetime) -> bytes:
    """The landing page of one title, linking its `files` (edition to bytes) by their names in its folder."""
    words, foreign = labels(document.lang), foreign_label_language(document.lang)
    direction = "rtl" if is_right_to_left(document.lang) else "ltr"
    # Pagefind reads the language of <html>; a tag too long for it is given whole on <body>.
    indexed = pagefind_language(document.lang)
    body_lang = "" if indexed == document.lang else f' lang="{_attribute(document.lang)}"'
    shown = date_shown(document, created)  # the publication date, else "archived <build date>"
    article = document.original_article
    original = ""
    if article is not None and article.url:
        original = (f'<p class="original"><a href="{_attribute(article.url)}" rel="noreferrer"'
                    f'{_english(document)}>{_text(article.text)}</a></p>\n')
    page = f"""<!DOCTYPE html>
<html lang="{_attribute(indexed)}" dir="{direction}">
<head>
{page_head(CONTENT_SECURITY_POLICY)}<title>{_text(document.title)}</title>
<style>{STYLE}</style>
</head>
<body{body_lang}>
<nav><a href="../index.html"{_english(document)}>seedpress archive</a></nav>
<main>
<article data-pagefind-body>
<h1{_direction(document.title, direction)}>{_text(document.title)}</h1>
<p class="meta" data-pagefind-ignore><time datetime="{_attribute(shown[0])}">{_label(shown[1], foreign)}</time>{_provenance(document)}</p>
<section class="summary" aria-labelledby="summary">
<h2 id="summary" data-pagefind-ignore>{_label(words.summary_heading, foreign)}</h2>
{_paragraphs(document, "summary", direction)}{original}</section>
<section class="commentary" aria-labelledby="commentary">
<h2 id="commentary" data-pagefind-ignore>{_label(words.commentary_heading, foreign)}</h2>
{_paragraphs(document, "commentary", direction) or f"<p>{_label(words.no_commentary, foreign)}</p>"}
</section>
<section aria-labelledby="downloads" data-pagefind-ignore>
<h2 id="downloads">{_label(words.downloads, foreign)}</h2>
<ul class="downloads">
{_downloads(key, files)}
</ul>
</section>
<section class="cite" aria-labelledby="cite" data-pagefind-ignore>
<h2 id="cite"{_english(document)}>Cite</h2>
<p>{_isolated(document.title)}. {_label(shown[1], foreign)}. <code>{_text(document.identifier)}</code></p>
</section>
</article>
</main>
</body>
</html>
"""
    return page.encode("utf-8")


def _paragraphs(document: Document, section: str, direction: str) -> str:
    html = []
    for text, lang in zip(getattr(document, section), document.paragraph_langs(section)):
        marked = f' lang="{_attribute(lang)}"' if lang else ""
        html.append(f"<p{marked}{_direction(text, direction)}>{_text(text)}</p>\n")
    return "".join(html)


def _downloads(key: str, files: Mapping[str, bytes]) -> str:
    items = []
    for edition, (media_type, label) in EDITION_TYPES.items():
        if edition not in files:
            continue
        data = files[edition]
        name = f"{key}.{edition}"
        items.append(
            f'<li><a href="{_attribute(name)}" type="{_attribute(media_type)}" download>{label}</a> '
            f'<span class="size">{_text(human_size(len(data)))}</span><br>'
            f'<span class="digest">sha256 {hashlib.sha256(data).hexdigest()}</span></li>')
    return "\n".join(items)


def _provenance(document: Document) -> str:
    """ · author · rights, for what the document says of them (nothing before it does)."""
    parts = [getattr(document, name, None) for name in ("author", "rights")]
    return "".join(f" · {_isolated(part)}" for part in parts if part)


def _direction(text: str, direction: str) -> str:
    found = text_direction(text)
    return f' dir="{found}"' if found and found != direction else ""


def _english(document: Document) -> str:
    return "" if same_language(document.lang, "en") else ' lang="en"'


def _label(text: str, foreign: str | None) -> str:
    return f'<span lang="{foreign}">{_text(text)}</span>' if foreign else _text(text)


def _text(text: str) -> str:
    return escape(text, quote=False)


def _isolated(text: str) -> str:
    """`text` set among other words in a <bdi>, so that its direction and any bidi control in
    it (an unclosed U+202E) stay inside it and cannot reorder the dates and digests beside it."""
    return f"<bdi>{_text(text)}</bdi>"


def _attribute(text: str) -> str:
    return escape(text, quote=True)
