"""What became of one input: one record and one set of status and limit words for the
library, the catalog and every `--json` line (README: "Scripting with --json")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from convert.defaults import WORKER_DEATHS
from convert.document.provenance import Provenance
from convert.names import shown


class Status(str, Enum):
    """What happened to an input; the catalog's `status` column holds the same words."""

    BUILT = "built"
    """Its files were written in this run (or, in the catalog, its last build succeeded)."""
    FAILED = "failed"
    """It could not be read, rendered or written; `error` says why."""
    WITHDRAWN = "withdrawn"
    """It left the seeds folder, and its files were moved aside."""
    GONE = "gone"
    """It had never built, and left the seeds folder: its failure went away (never in the catalog)."""

    def __str__(self) -> str:
        return self.value


class Limit(str, Enum):
    """Which resource limit a failure hit: a failure on one is not retried until the seed,
    the environment or the limits change (`archive --retry` forces it)."""

    TIME = "time"
    """The input took longer than its time limit (`--timeout`)."""
    MEMORY = "memory"
    """The input needed more than its memory limit (`--memory`)."""
    CRASH = "crash"
    """The process building it died defaults.WORKER_DEATHS times (killed, or out of memory
    in C code that could not say so)."""

    def __str__(self) -> str:
        return self.value


def times(count: int) -> str:
    """"once", "twice", "3 times"."""
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


@dataclass(frozen=True)
class EditionFile:
    """One file written for an input."""

    path: str
    """Where it is: the path written, as the output folder was given."""
    sha256: str
    """Hex SHA-256 of its bytes."""
    size: int
    """Its size in bytes."""


@dataclass(frozen=True)
class Built:
    """The facts of a good build that the catalog and the hand-out keep."""

    title: str
    """The document's literal title."""
    identifier: str
    """Its stable identifier, `urn:sha256:<seed hash>`."""
    source_sha256: str
    """Hex SHA-256 of the bytes it was built from."""
    summary: str
    """The first sentence of the summary of the original article, for the hand-out."""
    created: str
    """The build date the editions carry (ISO 8601, UTC)."""
    provenance: Provenance = Provenance()
    """Author, publisher, rights and license the editions carry, for the hand-out."""
    lang: str = "und"
    """The document's main language, a BCP 47 tag."""
    summary_text: str = ""
    """The whole summary of the original article, paragraphs separated by blank lines: for
    the search index (never in `--json`)."""
    commentary_text: str = ""
    """The whole commentary, paragraphs separated by blank lines: for the search index."""
    notices: tuple[str, ...] = ()
    """What the reader guessed about the input (model.NOTICES' codes), for stderr and `--json`."""


@dataclass(frozen=True)
class Outcome:
    """What became of one input of `convert` or one seed of `archive`."""

    input: str
    """The input's path, as given or as found in a folder."""
    key: str | None
    """The safe name of its output folder and files; None when it was never read."""
    status: Status
    """built, failed, withdrawn or gone."""
    error: str | None = None
    """The one-line reason for a failure, naming the input; None otherwise."""
    built: Built | None = None
    """The facts of a good build; None unless status is built."""
    files: Mapping[str, EditionFile] = field(default_factory=dict)
    """Edition ("pdf", "epub", …) to the file written."""
    seconds: float = 0.0
    """Wall-clock time spent on it."""
    limit: Limit | None = None
    """For a failure on a resource limit: which one (time, memory, or a crash)."""

    def __post_init__(self) -> None:
        if self.limit is not None:
            # A closed vocabulary: "memory" becomes Limit.MEMORY, a word outside it is refused.
            object.__setattr__(self, "limit", Limit(self.limit))

    @property
    def notices(self) -> tuple[str, ...]:
        """One line for each guess the reader made about the input, naming it."""
        from convert.document.model import NOTICES

        return tuple(f"{self.input}: {NOTICES[code]}" for code in (self.built.notices if self.built else ()))

    @property
    def ok(self) -> bool:
        return self.status is not Status.FAILED

    @classmethod
    def failure(cls, input: str, key: str | None, error: str, *, seconds: float = 0.0,
                limit: Limit | None = None) -> Outcome:
        """A failed input and its one-line reason."""
        return cls(input=input, key=key, status=Status.FAILED, error=error, seconds=seconds, limit=limit)

    @classmethod
    def crashed(cls, input: str, key: str | None, *, seconds: float = 0.0) -> Outcome:
        """An input whose worker died defaults.WORKER_DEATHS times while building it."""
        return cls.failure(input, key, f"{input}: the worker building it died {times(WORKER_DEATHS)} "
                           "(killed, or out of memory)", seconds=seconds, limit=Limit.CRASH)

    def as_json(self) -> dict:
        """The one JSON object `--json` prints for this input (the same keys for every command);
        a path or an error holding a name that is not UTF-8 or has control characters
        shows it escaped (names.shown)."""
        built = self.built
        return {
            "input": shown(self.input),
            "key": self.key,
            "status": self.status.value,
            "error": None if self.error is None else shown(self.error),
            "title": built.title if built else None,
            "identifier": built.identifier if built else None,
            "files": {edition: {"path": shown(f.path), "sha256": f.sha256, "size": f.size}
                      for edition, f in self.files.items()},
            "seconds": round(self.seconds, 3),
            "notices": [{"notice": code, "message": message}
                        for code, message in zip(self.built.notices if self.built else (), self.notices)],
        }
