"""Stage 2, the editions. Each module exposes `render_bytes(document, settings)`; the
caller writes the bytes (convert/build/input.py writes a seed's files together)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from convert import defaults
from convert.dates import iso_timestamp


@dataclass(frozen=True)
class Settings:
    """What every edition of one build shares besides the document."""

    styles: Path = defaults.STYLES_DIR
    """The folder holding print.css, epub.css, reference.docx and fonts/."""
    created: datetime = field(default_factory=lambda: datetime.fromtimestamp(0, UTC))
    """The date the editions carry: SOURCE_DATE_EPOCH, else the input file's mtime (dates.build_date)."""
    paper: str = defaults.PAPER
    """Paper size of the PDF edition (a4 or letter)."""
    attachments: tuple[tuple[str, bytes], ...] = ()
    """Files embedded in the PDF as its sources: (name, bytes) pairs."""
    archive_title: str | None = None
    """The archive's title (seedpress.toml's [archive] title), on the EPUB's cover; None: the
    default title, in the document's language."""


def date_shown(document, created: datetime) -> tuple[str, str]:
    """The date an edition shows for `document`, as (ISO 8601 for a datetime attribute, the
    words in the document's language): the publication date a person gave, else the build
    date labelled "archived …", never presented as the publication date."""
    from convert.document.labels import labels, long_date
    from convert.document.provenance import publication_date

    if document.published is not None:
        day = publication_date(document.published)
        return document.published, long_date(datetime(day.year, day.month, day.day, tzinfo=UTC), document.lang)
    return iso_timestamp(created), labels(document.lang).archived.format(date=long_date(created, document.lang))


#: pandoc runs sandboxed, where its clock reads the epoch: this is the stamp it writes.
PANDOC_SANDBOX_STAMP = b"1970-01-01T00:00:00Z"

#: The range a zip entry's DOS date can hold; a build date outside it is clamped.
ZIP_EARLIEST = (1980, 1, 1, 0, 0, 0)
ZIP_LATEST = (2107, 12, 31, 23, 59, 58)


def zip_timestamp(settings: Settings) -> bytes:
    """The build date as the W3C timestamp EPUB and DOCX metadata carry."""
    return iso_timestamp(settings.created).encode()


def repack_zip(
    data: bytes, edits: dict[str, Callable[[bytes], bytes]], settings: Settings,
    additions: dict[str, bytes] | None = None,
) -> bytes:
    """The zip with some members edited and `additions` appended, `mimetype` (if any)
    first and stored, every entry with the build date and the same attributes."""
    stamp = min(max(settings.created.timetuple()[:6], ZIP_EARLIEST), ZIP_LATEST)
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
