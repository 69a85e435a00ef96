"""One input to its files: read and validate, render every edition in memory, then write.

`seedpress convert` and the archive workers share `build_input`: an input
either gets all the files asked for or none, and whatever goes wrong while
building it, expected or not, becomes its one-line failure.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path, PurePath

from convert import defaults
from convert.build.limits import InputTimeout, caused_by_timeout, reached_memory_limit, time_limit
from convert.build.options import BuildOptions
from convert.build.outcome import Built, EditionFile, Limit, Outcome, Status
from convert.dates import build_date, iso_timestamp
from convert.document.master import master_from_bytes, to_markdown
from convert.document.model import NOTICES, Document, first_sentence
from convert.document.seed import parse_seed
from convert.editions import Settings, docx, epub, pdf
from convert.editions.citation import bibtex, citation, csl_json
from convert.editions.cover import cover_png, thumbnail_png
from convert.editions.epub import cover_image
from convert.editions.gates import GATES, check_epub
from convert.editions.landing import landing_page
from convert.errors import RenderError, SeedError, SeedpressError
from convert.files import fsync_directory, read_bounded, replace_all
from convert.layout import BIBTEX_EDITION, COVER_EDITION, CSL_EDITION, THUMBNAIL_EDITION, edition_file
from convert.pandoc import pandoc_path

RENDERERS = {"pdf": pdf.render_bytes, "epub": epub.render_bytes, "docx": docx.render_bytes}
#: The editions pandoc writes, each with `send` and `finish`: render_all sends them all
#: first and lays out the others (the PDF) while pandoc writes.
PANDOC_EDITIONS = {"epub": epub, "docx": docx}

SEED_SUFFIXES, MASTER_SUFFIXES = defaults.SEED_SUFFIXES, defaults.MASTER_SUFFIXES

#: What separates two paragraphs in the texts a build hands the search index.
PARAGRAPH_BREAK = "\n\n"

#: How much of an unexpected error's text goes into its one line.
MAX_REASON = 300


def build_input(path: Path, key: str, out: Path, options: BuildOptions) -> Outcome:
    """Read, render and write one input into out/<key>/; never raises for a bad input."""
    started = time.perf_counter()
    rendered = render_input(path, key, options)
    if isinstance(rendered, Outcome):
        return rendered
    try:
        written = write_all(out / key, rendered.files)
    except Exception as error:  # noqa: BLE001 (a failed write is this input's failure)
        return Outcome.failure(str(path), key, failure_line(error, path, out), seconds=time.perf_counter() - started)
    return rendered.outcome(str(path), key, written, seconds=time.perf_counter() - started)


@dataclass(frozen=True)
class Rendered:
    """Every file of one input, in memory, and the facts the catalog keeps of it."""

    built: Built
    """Title, identifier, hash, summary and date of the build."""
    files: dict[str, bytes]
    """Edition to the bytes of its file."""

    def outcome(self, input: str, key: str, written: dict[str, Path], *, seconds: float) -> Outcome:
        """The built Outcome once the files are written at `written` (edition to path)."""
        return Outcome(
            input=input, key=key, status=Status.BUILT, built=self.built,
            files={edition: EditionFile(str(written[edition]), hashlib.sha256(data).hexdigest(), len(data))
                   for edition, data in self.files.items()},
            seconds=seconds,
        )


def render_input(path: Path, key: str, options: BuildOptions) -> Rendered | Outcome:
    """Read the input at `path` and render every edition in memory, within the time limit:
    the Rendered files, or the failed Outcome saying why not."""
    started = time.perf_counter()
    try:
        with time_limit(options.timeout):
            created = build_date(path)
            # One read: the bytes rendered are the bytes embedded, hashed and kept.
            data = read_bounded(path, options.max_bytes)
            document = document_from_bytes(data, path, options)
            refuse_guesses(document, path, options)  # a master records the seed's guesses too
            return render_document(document, _kept_bytes(data, path, options), key, options, created,
                                   built_from=hashlib.sha256(data).hexdigest())
    except BaseException as error:
        return failed_render(error, path, key, options, seconds=time.perf_counter() - started)


def render_seed_bytes(seed_bytes: bytes, where: str, key: str, options: BuildOptions,
                      created: datetime) -> Rendered | Outcome:
    """Render a seed from its bytes alone, within the time limit (`where` names it in
    errors): what a worker without the seeds folder does."""
    started = time.perf_counter()
    try:
        with time_limit(options.timeout):
            document = document_from_bytes(seed_bytes, where, options)
            refuse_guesses(document, where, options)
            return render_document(document, _kept_bytes(seed_bytes, where, options), key, options, created,
                                   built_from=hashlib.sha256(seed_bytes).hexdigest())
    except BaseException as error:
        return failed_render(error, Path(where), key, options, seconds=time.perf_counter() - started)


def is_master(where: Path | str) -> bool:
    """Whether the input named `where` is a Markdown master (by its extension), not a seed."""
    return defaults.is_master_name(PurePath(where).name)


def document_from_bytes(data: bytes, where: Path | str, options: BuildOptions) -> Document:
    """The Document of an input's bytes: a master's (`.md`) or a seed's; SeedError naming `where`."""
    if is_master(where):
        return master_from_bytes(data, where)
    return parse_seed(data, PurePath(where).name, path=where, max_bytes=options.max_bytes, lang=options.lang)


def _kept_bytes(data: bytes, where: Path | str, options: BuildOptions) -> bytes | None:
    """The input's bytes to embed and keep beside the editions: a seed's always; a master's
    only in the archive, where its bytes are the original kept (`convert` embeds no master twice)."""
    return data if options.keep_seed or not is_master(where) else None


def refuse_guesses(document: Document, where: Path | str, options: BuildOptions) -> None:
    """Under --strict, SeedError naming the input and the first guess the reader made about it."""
    if options.strict and document.notices:
        raise SeedError(where, f"{NOTICES[document.notices[0]]} (refused by --strict)")


def render_document(document: Document, seed_bytes: bytes | None, key: str, options: BuildOptions,
                    created: datetime, *, built_from: str | None = None) -> Rendered:
    """Every edition of a read document, as bytes, and the facts of the build; the document
    takes author, publisher, rights and license from `options` where it has none of its own."""
    document = replace(document, **document.provenance.over(options.provenance).as_dict())
    settings = Settings(styles=options.styles, created=created, paper=options.paper,
                        archive_title=options.archive_title)
    files = render_all(document, key, options.formats, settings, seed_bytes, validate=options.validate)
    if options.keep_seed and seed_bytes is not None:
        files[defaults.SEED_COPY] = seed_bytes
        files.update(cover_files(document, files))
        archive_title = options.archive_title or defaults.ARCHIVE_TITLE
        cited = citation(document, key, created, archive_title, options.base_url)
        files.update({BIBTEX_EDITION: bibtex(cited), CSL_EDITION: csl_json(cited)})
        # An archived seed gets its landing page, which lists (and hashes) the files above.
        files[defaults.LANDING_EDITION] = landing_page(
            document, key, files, created, archive_title, options.base_url,
            # A title set in seedpress.toml is in the index's language; the default is English.
            archive_lang=defaults.ARCHIVE_LANGUAGE if options.archive_title is None
            else options.archive_lang or defaults.ARCHIVE_LANGUAGE)
    return Rendered(
        # The hash of the bytes built from (a master's own, when it was one): what decides a rebuild.
        built=Built(title=document.title, identifier=document.identifier,
                    source_sha256=built_from or document.source.sha256,
                    summary=first_sentence(document.summary[0]), created=iso_timestamp(created),
                    provenance=document.provenance, lang=document.lang,
                    summary_text=PARAGRAPH_BREAK.join(document.summary),
                    commentary_text=PARAGRAPH_BREAK.join(document.commentary),
                    notices=document.notices),
        files=files,
    )


def cover_files(document: Document, files: dict[str, bytes]) -> dict[str, bytes]:
    """A title's cover and thumbnail: the EPUB's own cover when the EPUB was rendered (drawn
    once, the same bytes), else the cover drawn for it."""
    cover = cover_image(files["epub"]) if "epub" in files else cover_png(document)
    return {COVER_EDITION: cover, THUMBNAIL_EDITION: thumbnail_png(cover)}


def failed_render(error: BaseException, path: Path, key: str, options: BuildOptions, *, seconds: float) -> Outcome:
    """The failed Outcome for whatever stopped an input's rendering; re-raises what is not
    the input's fault (Ctrl-C, a worker being shut down)."""
    # A library may turn the alarm into an error of its own (raised while handling it).
    if isinstance(error, InputTimeout) or (isinstance(error, Exception) and caused_by_timeout(error)):
        return time_failure(path, key, options, seconds=seconds)
    if not isinstance(error, Exception):
        raise error
    # An error no check of seedpress's raised (a C library's, perhaps wrapped by the renderer
    # that met it) is taken for running out when the address space came near its limit.
    unexpected = not isinstance(error, SeedpressError) or (
        isinstance(error, RenderError) and error.__cause__ is not None
        and not isinstance(error.__cause__, SeedpressError))
    if isinstance(error, MemoryError) or (unexpected and reached_memory_limit()):
        return memory_failure(path, key, options, seconds=seconds)
    return Outcome.failure(str(path), key, failure_line(error, path, path.parent), seconds=seconds)


def time_failure(path: Path | str, key: str, options: BuildOptions, *, seconds: float) -> Outcome:
    """The failed Outcome of an input that took longer than its time limit (its alarm, or the
    kill of a worker that held it past its hard deadline)."""
    return Outcome.failure(str(path), key, f"{path}: took longer than the {options.timeout} s limit",
                           seconds=seconds, limit=Limit.TIME)


def memory_failure(path: Path | str, key: str, options: BuildOptions, *, seconds: float = 0.0) -> Outcome:
    """The failed Outcome of an input that ran out of the memory limit."""
    return Outcome.failure(str(path), key, f"{path}: ran out of the {options.memory // 2**20} MiB memory limit",
                           seconds=seconds, limit=Limit.MEMORY)


def render_all(
    document: Document, key: str, formats: Sequence[str], settings: Settings,
    seed_bytes: bytes | None = None, *, validate: bool = False,
) -> dict[str, bytes]:
    """Every requested edition as bytes, keyed by edition, each past its gate.

    The pandoc editions (EPUB, DOCX) are sent to the pandoc writer first, and their
    answers collected in turn, so pandoc writes them while WeasyPrint lays out the PDF.
    Raises RenderError on the first edition (in the order of `formats`) that fails to
    render or to pass.
    """
    master = to_markdown(document).encode("utf-8")
    attachments = [(f"{key}.md", master)]
    if seed_bytes is not None:
        attachments.append((f"{key}.{defaults.SEED_COPY}", seed_bytes))
    settings = replace(settings, attachments=tuple(attachments))
    rendered = {}
    sent = {}
    try:
        for edition in formats:
            if edition in PANDOC_EDITIONS:
                sent[edition] = PANDOC_EDITIONS[edition].send(document, settings)
        for edition in formats:
            if edition == "md":
                rendered[edition] = master
                continue
            if edition in sent:
                data = PANDOC_EDITIONS[edition].finish(sent.pop(edition), document, settings)
            else:
                data = RENDERERS[edition](document, settings)
            if edition == "epub":
                check_epub(data, document, validate=validate)
            else:
                GATES[edition](data, document)
            rendered[edition] = data
    except BaseException as error:
        # Answers never to be read: dropped as they come, or, when the input was interrupted
        # (its time limit, Ctrl-C), with pandoc stopped, as a request cut short stops it.
        for pending in sent.values():
            pending.abandon(stop=not isinstance(error, Exception))
        raise
    return rendered


def write_all(folder: Path, files: dict[str, bytes]) -> dict[str, Path]:
    """Write the editions into `folder` as <folder name>.<edition>, together: the old files
    stay whole until every new one is on disk. A folder this call created is removed
    again if writing fails. Returns edition to path written."""
    key = folder.name
    created_folder = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if created_folder:
            fsync_directory(folder.parent)
        replace_all(folder, {edition_file(key, edition): data for edition, data in files.items()})
    except BaseException:
        if created_folder:
            _remove_if_empty(folder)
        raise
    return {edition: folder / edition_file(key, edition) for edition in files}


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def failure_line(error: Exception, path: Path, out: Path) -> str:
    """The one line that reports why input `path` failed, naming it by its path
    (renderers know only its file name) and, for a write, the file that failed."""
    if isinstance(error, RenderError):
        return str(RenderError(error.edition, path, error.reason))
    if isinstance(error, OSError):
        return str(SeedError(path, f"cannot write {error.filename or out}: {error.strerror or error}"))
    if isinstance(error, SeedpressError):
        return one_line(str(error))
    # A bug or a library's surprise: still the input's failure, said in one line.
    return one_line(str(SeedError(path, f"unexpected {type(error).__name__}: {error}")))


def one_line(text: str) -> str:
    """`text` as one line of at most MAX_REASON characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_REASON else flat[: MAX_REASON - 1] + "…"


def warm_up(formats: Sequence[str]) -> None:
    """Import WeasyPrint and find pandoc before the first input, so that no input's time
    limit pays for them (archive workers do the same as they start)."""
    if "pdf" in formats:
        pdf.load_weasyprint()
    if {"epub", "docx"} & set(formats):
        pandoc_path()
