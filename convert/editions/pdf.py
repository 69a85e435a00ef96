"""The PDF edition: HTML written from the document, styles/print.css, WeasyPrint in-process.

The HTML is built here from the document model with every piece of seed text
escaped, so nothing a seed says can become markup; WeasyPrint gets a URL
fetcher that serves files under the styles folder and nothing else.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
from datetime import datetime
from html import escape
from io import BytesIO
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .. import __version__
from ..errors import RenderError
from ..files import write_atomic
from ..model import COMMENTARY_HEADING, NO_COMMENTARY_NOTE, SUMMARY_HEADING, Document
from . import Settings

PDF_VARIANT = "pdf/a-3a"


def _weasyprint():
    # Imported on first use: it takes most of a second, and archive workers
    # import it once at start instead.
    import weasyprint
    import weasyprint.urls
    return weasyprint


def styles_fetcher(styles: Path):
    """A WeasyPrint URL fetcher that serves files under `styles` and refuses every other URL."""
    urls = _weasyprint().urls
    root = Path(styles).resolve()

    class StylesOnlyFetcher(urls.URLFetcher):
        def __init__(self):
            super().__init__(allowed_protocols=("file",), allow_redirects=False)

        def fetch(self, url, headers=None):
            parts = urlsplit(url)
            if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
                raise ValueError(f"refused to fetch {url[:80]!r}: only files under styles/ are served")
            path = Path(unquote(parts.path)).resolve()
            if not path.is_relative_to(root) or not path.is_file():
                raise ValueError(f"refused to fetch {url[:80]!r}: only files under styles/ are served")
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return urls.URLFetcherResponse(
                path.as_uri(), body=path.read_bytes(), headers={"Content-Type": content_type},
            )

    return StylesOnlyFetcher()


def _paragraphs(paragraphs, css_class: str = "") -> str:
    attribute = f' class="{css_class}"' if css_class else ""
    return "".join(f"<p{attribute}>{escape(p)}</p>\n" for p in paragraphs)


def _original_article(document: Document) -> str:
    article = document.original_article
    if article is None:
        return ""
    if article.url:
        return (f'<p class="original-article"><a href="{escape(article.url, quote=True)}">'
                f"{escape(article.text)}</a><br><span class=\"url\">{escape(article.url)}</span></p>\n")
    return (f'<p class="original-article no-link">{escape(article.text)}'
            '<span class="note"> (the seed gives no link)</span></p>\n')


def to_html(document: Document, settings: Settings) -> str:
    """The print HTML of the document; every piece of seed text is escaped."""
    created = settings.created.strftime("%Y-%m-%dT%H:%M:%SZ")
    commentary = (
        _paragraphs(document.commentary) if document.commentary
        else f'<p class="no-commentary">{escape(NO_COMMENTARY_NOTE)}</p>\n'
    )
    lang = escape(document.lang, quote=True)
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<title>{escape(document.title)}</title>
<meta name="description" content="{escape(document.subject, quote=True)}">
<meta name="keywords" content="{escape(', '.join(document.keywords), quote=True)}">
<meta name="generator" content="seedpress {__version__}">
<meta name="dcterms.created" content="{created}">
<meta name="dcterms.modified" content="{created}">
</head>
<body>
<header class="title-block">
<p class="kicker">Archived article · summary and commentary</p>
<h1 class="title">{escape(document.title)}</h1>
<p class="byline">{escape(_long_date(settings.created))} · {escape(document.source.file)}</p>
</header>
<section id="summary" class="summary">
<div class="panel">
<h2 class="section-label">{SUMMARY_HEADING}</h2>
{_paragraphs(document.summary)}</div>
{_original_article(document)}</section>
<section id="commentary" class="commentary">
<h2 class="section-label">{COMMENTARY_HEADING}</h2>
{commentary}</section>
</body>
</html>
"""


def _long_date(moment: datetime) -> str:
    return f"{moment.day} {moment.strftime('%B %Y')}"


class _CollectWarnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def render_bytes(document: Document, settings: Settings) -> bytes:
    """The PDF edition as bytes; RenderError if WeasyPrint warns or fails."""
    weasyprint = _weasyprint()
    fetcher = styles_fetcher(settings.styles)
    styles = Path(settings.styles)
    collector = _CollectWarnings()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(collector)
    try:
        html = weasyprint.HTML(
            string=to_html(document, settings), base_url=styles.resolve().as_uri() + "/",
            url_fetcher=fetcher,
        )
        stylesheet = weasyprint.CSS(
            string=(styles / "print.css").read_text("utf-8"),
            base_url=(styles / "print.css").resolve().as_uri(), url_fetcher=fetcher,
        )
        stylesheets = [stylesheet]
        if settings.paper != "a4":
            stylesheets.append(weasyprint.CSS(string=f"@page {{ size: {settings.paper}; }}"))
        attachments = [
            weasyprint.Attachment(
                file_obj=BytesIO(data), name=name, url_fetcher=fetcher,
                description=_attachment_description(name), relationship="Source",
                created=settings.created, modified=settings.created,
            )
            for name, data in settings.attachments
        ]
        data = html.write_pdf(
            stylesheets=stylesheets, attachments=attachments, pdf_variant=PDF_VARIANT,
            pdf_identifier=hashlib.sha256(document.identifier.encode()).hexdigest()[:32].encode(),
            uncompressed_pdf=False,
        )
    except RenderError:
        raise
    except Exception as error:
        raise RenderError("pdf", document.source.file, f"WeasyPrint failed: {error}") from None
    finally:
        logger.removeHandler(collector)
    if collector.messages:
        raise RenderError("pdf", document.source.file, f"WeasyPrint warned: {collector.messages[0]}")
    return data


def _attachment_description(name: str) -> str:
    if name.endswith(".md"):
        return "The Markdown master this PDF was rendered from"
    return "The original seed, byte for byte"


def render(document: Document, out_path: Path, settings: Settings) -> None:
    """Write the PDF edition of `document` to `out_path`, atomically."""
    write_atomic(out_path, render_bytes(document, settings))
