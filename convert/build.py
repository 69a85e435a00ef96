"""One input to its files: read and validate, render every edition in memory, then write.

`seedpress convert` and the archive workers share this; a seed either gets all
the files asked for or none.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import defaults
from .editions import Settings, build_date, docx, epub, pdf
from .errors import RenderError, SeedError, SeedpressError
from .files import fsync_directory, replace_all
from .gates import GATES, check_epub
from .keys import assign_keys
from .master import read_master, to_markdown
from .model import Document
from .seed import parse_seed, read_bounded

RENDERERS = {"pdf": pdf.render_bytes, "epub": epub.render_bytes, "docx": docx.render_bytes}
SEED_SUFFIXES = (".txt",)
MASTER_SUFFIXES = (".md", ".markdown")


@dataclass(frozen=True)
class Outcome:
    """What became of one input."""

    input: str
    """The input path as the user gave it (or as found in a folder)."""
    key: str | None
    """The safe key its files are named by; None when the input was never read."""
    files: dict[str, str] = field(default_factory=dict)
    """Edition name to the path written."""
    error: str | None = None
    """The one-line reason it failed, or None."""
    seconds: float = 0.0
    """Wall-clock time spent on it."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_json(self) -> dict:
        return {
            "input": self.input, "key": self.key, "status": "ok" if self.ok else "failed",
            "files": self.files, "error": self.error, "seconds": round(self.seconds, 3),
        }


def render_all(
    document: Document, key: str, formats: Sequence[str], settings: Settings,
    seed_bytes: bytes | None = None, *, validate: bool = False,
) -> dict[str, bytes]:
    """Every requested edition as bytes, keyed by file name, each past its gate.

    Raises RenderError on the first edition that fails to render or to pass.
    """
    master = to_markdown(document).encode("utf-8")
    attachments = [(f"{key}.md", master)]
    if seed_bytes is not None:
        attachments.append((f"{key}.txt", seed_bytes))
    settings = Settings(
        styles=settings.styles, created=settings.created, paper=settings.paper,
        attachments=tuple(attachments),
    )
    rendered = {}
    for edition in formats:
        if edition == "md":
            rendered[f"{key}.md"] = master
            continue
        data = RENDERERS[edition](document, settings)
        if edition == "epub":
            check_epub(data, document, validate=validate)
        else:
            GATES[edition](data, document)
        rendered[f"{key}.{edition}"] = data
    return rendered


def write_all(folder: Path, files: dict[str, bytes]) -> dict[str, Path]:
    """Write the files into `folder` together: the old files stay whole until every new
    one is on disk. A folder this call created is removed again if writing fails."""
    created_folder = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if created_folder:
            fsync_directory(folder.parent)
        replace_all(folder, files)
    except BaseException:
        if created_folder:
            _remove_if_empty(folder)
        raise
    return {name.rsplit(".", 1)[1]: folder / name for name in files}


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def failure_line(error: SeedpressError | OSError, path: Path, out: Path) -> str:
    """The one line that reports why input `path` failed, naming it by its path
    (renderers know only its file name) and, for a write, the file that failed."""
    if isinstance(error, RenderError):
        return str(RenderError(error.edition, path, error.reason))
    if isinstance(error, OSError):
        return str(SeedError(path, f"cannot write {error.filename or out}: {error.strerror or error}"))
    return str(error)


def expand_inputs(paths: Iterable[Path]) -> Iterator[tuple[Path, str | None]]:
    """Each input file, with an error for a path that is missing or a folder with no seeds."""
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir()
                if p.suffix.lower() in SEED_SUFFIXES + MASTER_SUFFIXES and p.is_file()
            )
            if not found:
                yield path, "no seeds (*.txt) or masters (*.md) in this folder"
            yield from ((p, None) for p in found)
        elif not path.exists():
            yield path, "no such file"
        elif not path.is_file():
            yield path, "not a regular file"
        else:
            yield path, None


def convert_paths(
    paths: Sequence[Path], out: Path, *, formats: Sequence[str] = defaults.FORMATS,
    max_bytes: int = defaults.MAX_BYTES, paper: str = defaults.PAPER,
    styles: Path = defaults.STYLES_DIR, validate: bool = False,
) -> Iterator[Outcome]:
    """Convert every input into OUT/<key>/<key>.<edition>, yielding one Outcome per input."""
    # The same file named twice (s.txt ./s.txt) is one input, not a key collision.
    inputs = list({(p.resolve() if error is None else p): (p, error)
                   for p, error in expand_inputs(paths)}.values())
    keys = assign_keys(str(p) for p, error in inputs if error is None)
    for path, error in inputs:
        if error is not None:
            yield Outcome(input=str(path), key=None, error=f"{path}: {error}")
            continue
        key = keys[str(path)]
        started = time.perf_counter()
        try:
            if path.suffix.lower() in MASTER_SUFFIXES:
                document, seed_bytes = read_master(path, max_bytes=max_bytes), None
            else:
                # One read: the bytes rendered are the bytes embedded and hashed.
                seed_bytes = read_bounded(path, max_bytes)
                document = parse_seed(seed_bytes, path.name, path=path, max_bytes=max_bytes)
            settings = Settings(styles=styles, created=build_date(path), paper=paper)
            files = render_all(document, key, formats, settings, seed_bytes, validate=validate)
            written = write_all(out / key, files)
        except (SeedpressError, OSError) as failure:
            yield Outcome(str(path), key, error=failure_line(failure, path, out),
                          seconds=time.perf_counter() - started)
        else:
            yield Outcome(str(path), key, files={k: str(v) for k, v in written.items()},
                          seconds=time.perf_counter() - started)
