"""The three editions. Each module exposes `render_bytes(document, settings)`; the
caller writes the bytes (convert/build.py writes a seed's files together)."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .. import defaults

#: Files in the styles folder that change what an edition looks like.
STYLE_FILES = ("print.css", "epub.css", "reference.docx")


@dataclass(frozen=True)
class Settings:
    """What every edition of one build shares besides the document."""

    styles: Path = defaults.STYLES_DIR
    """The folder holding print.css, epub.css, reference.docx and fonts/."""
    created: datetime = field(default_factory=lambda: datetime.fromtimestamp(0, timezone.utc))
    """The date the editions carry: SOURCE_DATE_EPOCH, else the input file's mtime."""
    paper: str = defaults.PAPER
    """Paper size of the PDF edition (a4 or letter)."""
    attachments: tuple[tuple[str, bytes], ...] = ()
    """Files embedded in the PDF as its sources: (name, bytes) pairs."""


def build_date(input_path: Path) -> datetime:
    """The date a build of `input_path` carries: $SOURCE_DATE_EPOCH if set, else the file's mtime."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), timezone.utc)
    return datetime.fromtimestamp(int(Path(input_path).stat().st_mtime), timezone.utc)


def styles_digest(styles: Path) -> str:
    """SHA-256 over every file in the styles folder that shapes an edition."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(styles).rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(styles)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


#: pandoc runs sandboxed, where its clock reads the epoch: this is the stamp it writes.
PANDOC_SANDBOX_STAMP = b"1970-01-01T00:00:00Z"


def zip_timestamp(settings: Settings) -> bytes:
    """The build date as the W3C timestamp EPUB and DOCX metadata carry."""
    return settings.created.strftime("%Y-%m-%dT%H:%M:%SZ").encode()


def repack_zip(
    data: bytes, edits: dict[str, Callable[[bytes], bytes]], settings: Settings,
    additions: dict[str, bytes] | None = None,
) -> bytes:
    """The zip with some members edited and `additions` appended, `mimetype` (if any)
    first and stored, every entry with the build date and the same attributes."""
    stamp = max(settings.created.timetuple()[:6], (1980, 1, 1, 0, 0, 0))
    additions = additions or {}
    output = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(output, "w") as target:
        names = source.namelist()
        missing = set(edits) - set(names)
        if missing:
            raise ValueError(f"pandoc's output lacks {sorted(missing)}")
        clashing = set(additions) & set(names)
        if clashing:
            raise ValueError(f"pandoc's output already has {sorted(clashing)}")
        for name in sorted([*names, *additions], key=lambda n: n != "mimetype"):
            content = additions[name] if name in additions else source.read(name)
            if name in edits:
                content = edits[name](content)
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, content)
    return output.getvalue()
