"""What besides a seed's bytes shapes its editions: the build and environment digests.

The build digest of a seed (the hash that decides whether it is rebuilt) is
its bytes plus the environment digest: seedpress's code, pandoc, WeasyPrint,
the fonts and the style files the editions read, the metadata every seed
is given, and the archive's title (on each landing page and EPUB cover). The
archive's base URL is not in it: it changes the hand-out, never an edition.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
from importlib import metadata
from pathlib import Path

from convert import GENERATOR, defaults
from convert.document.language import detector_version
from convert.document.provenance import Provenance
from convert.pandoc import pandoc_version

#: The files of a styles folder that the editions read; a `fonts/` folder beside
#: them counts too. Anything else there (the script that builds reference.docx)
#: does not change an edition, so editing it rebuilds nothing.
STYLE_FILES = ("print.css", "epub.css", "reference.docx")

STYLE_FONTS = "fonts"


def build_digest(seed_sha256: str, environment: str) -> str:
    """The hash that decides whether a seed must be rebuilt: its bytes in this environment."""
    return hashlib.sha256(f"{seed_sha256}\0{environment}".encode()).hexdigest()


def environment_digest(styles: Path = defaults.STYLES_DIR, lang: str | None = None,
                       provenance: Provenance = Provenance(), archive_title: str | None = None) -> str:
    """What besides the seed bytes shapes every edition: styles, fonts, code, tool and
    language detector versions, a language forced with --lang, the author, publisher,
    rights and license every edition carries (seedpress.toml's [metadata], --author…),
    and the archive's title (seedpress.toml's [archive] title)."""
    parts = [
        f"lang {lang or 'detected'}",
        f"metadata {provenance.to_json() or 'none'}",
        *([] if archive_title is None else [f"archive title {archive_title}"]),
        GENERATOR,
        "pandoc " + ".".join(map(str, pandoc_version())),
        f"weasyprint {metadata.version('weasyprint')}",
        detector_version(),
        f"styles {styles_digest(styles)}",
        f"fonts {fonts_digest()}",
        f"code {code_digest()}",
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def styles_digest(styles: Path) -> str:
    """SHA-256 over the style files the editions read (STYLE_FILES and fonts/)."""
    styles = Path(styles)
    read = [styles / name for name in STYLE_FILES]
    read += sorted(p for p in (styles / STYLE_FONTS).rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for path in read:
        digest.update(str(path.relative_to(styles)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"missing")
    return digest.hexdigest()


@functools.cache
def code_digest() -> str:
    """SHA-256 over seedpress's own source: a fix to a renderer rebuilds what it renders,
    even before the version number moves."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.suffix in (".py", ".lua")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def fonts_digest() -> str:
    """What fontconfig offers: a font added, removed or updated can change every PDF."""
    try:
        listing = subprocess.run(["fc-list", "--format", "%{file}\t%{fontversion}\n"],
                                 capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        listing = ""
    return hashlib.sha256("".join(sorted(listing.splitlines(keepends=True))).encode()).hexdigest()
