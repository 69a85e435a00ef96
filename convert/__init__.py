"""seedpress: plain-text article seeds into a Markdown master and PDF, EPUB, DOCX editions."""

__version__ = "0.1.0"
