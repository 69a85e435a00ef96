"""How each input is built (BuildOptions): apart from the build itself, so that a command
that only plans (an archive run with nothing to build) imports no renderer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from convert import defaults
from convert.document.provenance import Provenance


@dataclass(frozen=True)
class BuildOptions:
    """How each input is built; every default is defined in convert/defaults.py."""

    formats: tuple[str, ...] = defaults.FORMATS
    """The editions to write, in order."""
    max_bytes: int = defaults.MAX_BYTES
    """Inputs larger than this fail."""
    styles: Path = defaults.STYLES_DIR
    """The folder of print.css, epub.css and reference.docx."""
    paper: str = defaults.PAPER
    """PDF paper size."""
    validate: bool = False
    """Run EPUBCheck on every EPUB before writing it."""
    timeout: int = defaults.TIME_LIMIT
    """Seconds one input may take, all editions together."""
    memory: int = defaults.MEMORY_LIMIT
    """Address space (bytes) the process building inputs may use."""
    keep_seed: bool = False
    """Write the seed's own bytes beside the editions as <key>.txt (the archive does)."""
    lang: str | None = None
    """The language of every seed (a BCP 47 tag) instead of the detected one; a master's own
    `lang` still wins."""
    archive_title: str | None = None
    """The archive's title (seedpress.toml's [archive] title): on each landing page and EPUB
    cover. None: the default title (on the cover, in the document's language)."""
    archive_lang: str | None = None
    """The language of the index (seedpress.toml's [archive] lang), which an archive title
    set there is taken to be in: each landing page marks its link to the index so. None:
    defaults.ARCHIVE_LANGUAGE."""
    base_url: str | None = None
    """Where the archive is published (seedpress.toml's [archive] base_url): the absolute URL
    each landing page and citation gives. None: they give none."""
    provenance: Provenance = Provenance()
    """Author, publisher, rights and license of every input (seedpress.toml's [metadata] and
    the command line); a master's own fields still win, each on its own."""
    strict: bool = False
    """Fail an input the reader had to guess about (no marker, a title run into the summary)
    instead of building it with a notice."""
