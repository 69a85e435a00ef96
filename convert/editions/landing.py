"""A landing page per title, `dist/<key>/index.html`: the files to download, the text to
read, how to cite it, and what a shared link or a reference manager reads of it (DESIGN §11,
issue 24 §3).

It is written with the editions, from the same document, so it is part of the seed's
files in the catalog. Like the index page it is one static HTML5 page that runs no script:
its one <style> block is allowed by hash in its Content-Security-Policy, and its one
<script> is JSON-LD, a data block no browser executes (so `default-src 'none'` needs no
script-src). Its <head> carries a description, Open Graph (for a link's card), Highwire
Press citation_* tags (Google Scholar, Zotero) and a schema.org Article in JSON-LD.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urljoin

from convert.defaults import ARCHIVE_LANGUAGE, ARCHIVE_TITLE, CITATION_EDITIONS, SEED_COPY
from convert.document.labels import file_size, foreign_label_language, labels
from convert.document.model import Document, first_sentence
from convert.document.seed import marker_language
from convert.editions import date_shown
from convert.editions.citation import Citation, citation
from convert.editions.markup import (
    direction_attribute,
    document_direction,
    label,
    lang_attribute,
    own_language,
    paragraphs,
)
from convert.layout import COVER_EDITION, FAVICON_NAME, INDEX_NAME, edition_file, edition_path
from convert.web import (
    CITATION_TYPES,
    EDITION_TYPES,
    PALETTE,
    href,
    html_text,
    page_head,
    pagefind_language,
    style_policy,
)

# Readable at 320 px, in dark mode too (web.PALETTE); the summary sits in a panel as in the PDF.
STYLE = PALETTE + """body {
  margin: 0 auto; max-width: 42rem; padding: 1rem; overflow-wrap: anywhere;
  font: 1.0625rem/1.6 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
}
nav, .meta, .size, .checksums, footer { color: var(--muted); font-size: 0.9rem; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0.75rem 0 0.5rem; }
h2 { font-size: 0.85rem; letter-spacing: 0.08em; text-transform: uppercase; margin: 0 0 0.5rem; }
section { margin: 1.5rem 0; }
.summary { background: var(--panel); border-left: 4px solid var(--accent); padding: 1rem; }
[dir="rtl"] .summary { border-left: none; border-right: 4px solid var(--accent); }
.commentary { border-top: 1px solid var(--line); padding-top: 1rem; }
.downloads { list-style: none; padding: 0; margin: 0; }
.downloads li { border-bottom: 1px solid var(--line); padding: 0.6rem 0; }
.downloads a { display: inline-block; min-height: 2.75rem; line-height: 2.75rem; font-weight: 600; }
.checksums pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.75rem;
  white-space: pre-wrap; word-break: break-all; }
.checksums summary { cursor: pointer; min-height: 2.75rem; line-height: 2.75rem; }
.cite { font-size: 0.95rem; }
"""

CONTENT_SECURITY_POLICY = style_policy(STYLE, "img-src 'self'", "base-uri 'none'", "form-action 'none'")


def landing_page(document: Document, key: str, files: Mapping[str, bytes], created: datetime,
                 archive_title: str = ARCHIVE_TITLE, base_url: str | None = None,
                 archive_lang: str = ARCHIVE_LANGUAGE) -> bytes:
    """The landing page of one title, linking its `files` (edition to bytes) by their names in
    its folder, and the index of the archive by its title; with `base_url` (where dist is
    published) its citation and its Open Graph tags give absolute URLs."""
    words, foreign = labels(document.lang), foreign_label_language(document.lang)
    direction = document_direction(document)
    # Pagefind reads the language of <html>; a tag too long for it is given whole on <body>.
    indexed = pagefind_language(document.lang)
    body_lang = "" if indexed == document.lang else f' lang="{html_text(document.lang)}"'
    when = date_shown(document, created)  # the publication date, else "archived <build date>"
    cited = citation(document, key, created, archive_title, base_url)
    article = document.original_article
    original = ""
    if article is not None and article.url:
        original = (f'<p class="original" data-pagefind-ignore><a href="{html_text(article.url)}" rel="noreferrer"'
                    f'{lang_attribute(marker_language(document))}>{html_text(article.text)}</a></p>\n')
    page = f"""<!DOCTYPE html>
<html lang="{html_text(indexed)}" dir="{direction}">
<head>
{page_head(CONTENT_SECURITY_POLICY, icon=f"../{FAVICON_NAME}")}<title>{html_text(document.title)}</title>
{_head_tags(document, cited, files, base_url)}<style>{STYLE}</style>
</head>
<body{body_lang}>
<nav><a href="../{INDEX_NAME}"{lang_attribute(own_language(archive_lang, document))}>{html_text(archive_title)}</a></nav>
<main>
<article data-pagefind-body data-pagefind-meta="lang:{html_text(document.lang)}">
<h1{direction_attribute(document.title, direction)}>{html_text(document.title)}</h1>
<p class="meta" data-pagefind-ignore><time datetime="{html_text(when[0])}">{label(when[1], foreign)}</time>{_provenance(document)}</p>
{_cover(key, files)}<section aria-labelledby="downloads" data-pagefind-ignore>
<h2 id="downloads">{label(words.downloads, foreign)}</h2>
<ul class="downloads">
{_downloads(key, files, label(words.source_text, foreign), document.lang)}
</ul>
{_checksums(key, files, label(words.checksums, foreign))}</section>
<section class="summary" aria-labelledby="summary">
<h2 id="summary" data-pagefind-ignore>{label(words.summary_heading, foreign)}</h2>
{paragraphs(document, "summary", _paragraph)}{original}</section>
<section class="commentary" aria-labelledby="commentary">
<h2 id="commentary" data-pagefind-ignore>{label(words.commentary_heading, foreign)}</h2>
{paragraphs(document, "commentary", _paragraph) or f"<p>{label(words.no_commentary, foreign)}</p>"}
</section>
<section class="cite" aria-labelledby="cite" data-pagefind-ignore>
<h2 id="cite">{label(words.cite, foreign)}</h2>
{_cite_line(cited, label(when[1], foreign))}{_citation_files(key, files)}</section>
</article>
</main>
</body>
</html>
"""
    return page.encode("utf-8")


#: How long the description of a page may grow: whole sentences of the summary are added
#: while it is shorter than DESCRIPTION_SHORT (what a search result or a card shows), and
#: it is cut at a word near DESCRIPTION_LIMIT characters.
DESCRIPTION_SHORT = 160
DESCRIPTION_LIMIT = 300


def description(document: Document) -> str:
    """What the page is about, in a sentence or two: the master's description, else the
    first sentences of the summary."""
    if document.description:
        return first_sentence(document.description, DESCRIPTION_LIMIT)
    shown, rest = "", document.summary[0]
    while rest and len(shown) < DESCRIPTION_SHORT:
        sentence = first_sentence(rest, DESCRIPTION_LIMIT - len(shown))
        shown = f"{shown} {sentence.strip()}".strip()
        if not rest.startswith(sentence):  # cut short: nothing more fits
            break
        rest = rest[len(sentence):].strip()
    return shown


def _file_link(key: str, edition: str, base_url: str | None) -> str:
    """A link to a file of the title's folder, from its landing page: relative, or
    absolute when the archive's base URL is known (what Open Graph and Highwire ask for)."""
    if base_url is None:
        return href(edition_file(key, edition))
    return urljoin(base_url, href(edition_path(key, edition)))


def _head_tags(document: Document, cited: Citation, files: Mapping[str, bytes], base_url: str | None) -> str:
    """The page's description, Open Graph, Highwire Press citation_* tags and JSON-LD."""
    def link(edition: str) -> str:
        return _file_link(cited.key, edition, base_url)

    tags = [("name", "description", description(document)),
            ("property", "og:title", document.title), ("property", "og:type", "article")]
    if COVER_EDITION in files:
        tags.append(("property", "og:image", link(COVER_EDITION)))
    if cited.url is not None:
        tags.append(("property", "og:url", cited.url))
    tags.append(("property", "og:site_name", cited.publisher))
    tags.append(("name", "citation_title", cited.title))
    if cited.author is not None:
        tags.append(("name", "citation_author", cited.author))
    tags.append(("name", "citation_publication_date", cited.issued.strftime("%Y/%m/%d")))
    tags.append(("name", "citation_publisher", cited.publisher))
    if "pdf" in files:
        tags.append(("name", "citation_pdf_url", link("pdf")))
    tags.append(("name", "citation_language", cited.lang))
    if cited.url is not None:
        tags.append(("name", "citation_public_url", cited.url))
    lines = [f'<meta {kind}="{name}" content="{html_text(value)}">' for kind, name, value in tags]
    if cited.url is not None:
        lines.append(f'<link rel="canonical" href="{html_text(cited.url)}">')
    lines.append(f'<script type="application/ld+json">{json_ld(_article(document, cited, files, link))}</script>')
    return "\n".join(lines) + "\n"


def _article(document: Document, cited: Citation, files: Mapping[str, bytes], link) -> dict:
    """The schema.org Article the page is about, with each edition as a MediaObject."""
    article: dict = {"@context": "https://schema.org", "@type": "Article", "headline": cited.title,
                     "name": cited.title, "description": description(document)}
    if cited.author is not None:
        article["author"] = {"@type": "Person", "name": cited.author}
    article["publisher"] = {"@type": "Organization", "name": cited.publisher}
    article["datePublished"] = cited.issued.isoformat()
    article["inLanguage"] = cited.lang
    article["identifier"] = cited.identifier
    if cited.url is not None:
        article["url"] = cited.url
    if cited.license_url is not None:
        article["license"] = cited.license_url
    if COVER_EDITION in files:
        article["image"] = link(COVER_EDITION)
    article["encoding"] = [
        {"@type": "MediaObject", "name": kind, "encodingFormat": media_type.split(";")[0],
         "contentUrl": link(edition), "contentSize": str(len(files[edition])),
         "sha256": hashlib.sha256(files[edition]).hexdigest()}
        for edition, (media_type, kind) in EDITION_TYPES.items() if edition in files]
    return article


def json_ld(data: dict) -> str:
    """`data` as JSON to sit in a <script> element: "<", ">" and "&" written as \\u escapes,
    so that no text in it ("</script>", "<!--") can end the element or change how it is read."""
    text = json.dumps(data, ensure_ascii=False, indent=1)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _cite_line(cited: Citation, date_words: str) -> str:
    """Author. Title. Publisher, date. Identifier. URL: what a reader copies into a reference."""
    parts = [] if cited.author is None else [f"{_isolated(cited.author)}."]
    parts.append(f"{_isolated(cited.title)}.")
    parts.append(f"{_isolated(cited.publisher)}, {date_words}.")
    parts.append(f"<code>{html_text(cited.identifier)}</code>.")
    if cited.url is not None:
        parts.append(f'<a href="{html_text(cited.url)}" dir="ltr">{html_text(cited.url)}</a>')
    return f'<p class="cite-line">{" ".join(parts)}</p>\n'


def _citation_files(key: str, files: Mapping[str, bytes]) -> str:
    """BibTeX · CSL-JSON: the citation files, for reference managers (none outside an archive)."""
    links = [f'<a href="{html_text(edition_file(key, edition))}" type="{html_text(CITATION_TYPES[edition][0])}" '
             f'download>{CITATION_TYPES[edition][1]}</a>'
             for edition in CITATION_EDITIONS if edition in files]
    return f'<p class="cite-files">{" · ".join(links)}</p>\n' if links else ""


def _paragraph(text: str, lang: str) -> str:
    return html_text(text)


def _downloads(key: str, files: Mapping[str, bytes], source_label: str, lang: str) -> str:
    """The download list; the source text labelled `source_label` (HTML, in the reader's
    language), the formats by their names, each size as a reader of `lang` writes it."""
    items = []
    for edition, (media_type, kind) in EDITION_TYPES.items():
        if edition not in files:
            continue
        data = files[edition]
        name = edition_file(key, edition)
        caption = source_label if edition == SEED_COPY else kind
        items.append(
            f'<li><a href="{html_text(name)}" type="{html_text(media_type)}" download>{caption}</a> '
            f'<span class="size">{html_text(file_size(len(data), lang))}</span></li>')
    return "\n".join(items)


def _checksums(key: str, files: Mapping[str, bytes], summary: str) -> str:
    """The SHA-256 of each file offered, behind one disclosure, as `sha256sum -c` reads them."""
    lines = [f"{hashlib.sha256(files[edition]).hexdigest()}  {html_text(edition_file(key, edition))}"
             for edition in (*EDITION_TYPES, *CITATION_EDITIONS) if edition in files]
    return (f'<details class="checksums"><summary>{summary}</summary>\n'
            f'<pre dir="ltr">{chr(10).join(lines)}</pre>\n</details>\n')


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


def _isolated(text: str) -> str:
    """`text` set among other words in a <bdi>, so that its direction and any bidi control in
    it (an unclosed U+202E) stay inside it and cannot reorder the dates and digests beside it."""
    return f"<bdi>{html_text(text)}</bdi>"
