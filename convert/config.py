"""seedpress.toml: the archive's title and base URL, and the metadata every seed gets (DESIGN §10).

    [archive]
    title = "Example Press archive"                 # every page and feed, landing pages, EPUB covers
    base_url = "https://archive.example.org/"       # absolute links in the OPDS feed
    allow_mass_withdraw = false                     # true: a run may withdraw most of the archive
    search = "server"                               # the feeds advertise `seedpress serve`'s search
    lang = "fr"                                     # the language of the index page's own words
    [metadata]                                      # defaults for every seed
    author = "Jane Doe"
    publisher = "Example Press"
    rights = "CC BY 4.0"
    license_url = "https://creativecommons.org/licenses/by/4.0/"
    [cluster]                                       # `archive --cluster` only
    grace = 60                                      # no worker for this long: the run stops
    answer_margin = 180                             # past --timeout: a silent task is given up
    [serve]
    metrics = true                                  # false: serve answers no /metrics
    metrics_from = ["10.0.0.0/8"]                   # besides loopback clients

The file is read with `tomllib` and checked with pydantic v2, because its
errors say precisely where the problem is (`archive.base_url`,
`metadata.autor`) and which kind it is, so one line can name the key; its
strict types take a TOML integer for no string; `extra="forbid"` turns a
misspelt key into an error instead of a setting silently ignored. attrs with
cattrs would structure the tables too, but its errors carry no path to the
key, and unknown keys, strictness and every message would be hand-written.
The checks themselves (bounded one-line text, http(s) URLs) live in
convert/provenance.py, shared with a master's frontmatter and the command
line.

The tables are frozen standard-library dataclasses, which pydantic validates
(a TypeAdapter, built on the first file checked); their constraints are
annotations whose metadata gives pydantic its schema (`_Checked`, `_Strict`,
`_Bounded`). So a command run without a file never imports pydantic: 0.1–0.2 s
of every such start, which an unchanged archive run of 1,000 titles (0.5 s in
all, issue 25) cannot spare. Strictness is set on each field, not on the
tables: a strict dataclass takes only an instance of itself, never a table.

Precedence: the command line overrides the file; a master's frontmatter
overrides both for its own seed.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from convert import defaults
from convert.defaults import SERVER_SEARCH, STATIC_SEARCH
from convert.document.provenance import MAX_URL, Provenance, clipped, text_problem, url_problem
from convert.errors import ConfigError
from convert.runners.deadlines import Deadlines

if TYPE_CHECKING:
    from pydantic import TypeAdapter, ValidationError

#: The file looked for in the current folder when no --config is given.
CONFIG_NAME = "seedpress.toml"
#: A configuration file larger than this is refused unread: a few lines are expected.
MAX_CONFIG_BYTES = 1 << 20
#: The longest wait a configuration may set: a day.
MAX_SECONDS = 86_400


def _checked_text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _checked_url(value: str) -> str:
    problem = url_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _checked_base_url(value: str) -> str:
    """An absolute http(s) URL ending in "/", so that links are resolved beneath it. The
    limits hold for the URL as it is used, with the "/" it may get."""
    if isinstance(value, str) and not value.endswith("/") and len(value) >= MAX_URL:
        raise ValueError(f"longer than {MAX_URL - 1} characters: a base URL without its final '/' "
                         f"gets one, and {MAX_URL} characters is the limit with it")
    value = _checked_url(value)
    if "?" in value or "#" in value:
        raise ValueError("must not have a query or fragment: links are resolved beneath it")
    return value if value.endswith("/") else value + "/"


def _checked_language(value: str) -> str:
    from convert.document.language import is_language_tag, tag_example

    if not is_language_tag(value):
        raise ValueError(f"must be a BCP 47 language tag ({tag_example(value)})")
    return value


def _checked_network(value: str) -> str:
    from convert.serve.metrics import parse_network

    parse_network(value)
    return value


# The metadata below is read by pydantic when it builds the validator (its documented
# `__get_pydantic_core_schema__` hook), and by nothing else; `handler(source)` is pydantic's
# own schema for the annotated type. Strict: a TOML number or boolean is not text, nor
# "60" a number.

@dataclass(frozen=True)
class _Strict:
    """The annotated type, strictly."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable[[Any], dict]) -> dict:
        return {**handler(source), "strict": True}


@dataclass(frozen=True)
class _Checked(_Strict):
    """The annotated type, strictly, then `check` (a ValueError is the key's problem)."""

    check: Callable[[Any], Any]

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable[[Any], dict]) -> dict:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(self.check, super().__get_pydantic_core_schema__(
            source, handler))


@dataclass(frozen=True)
class _Bounded(_Strict):
    """A number, strictly, more than `above` and at most `most`."""

    above: float
    most: float

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable[[Any], dict]) -> dict:
        return {**super().__get_pydantic_core_schema__(source, handler), "gt": self.above, "le": self.most}


Flag = Annotated[bool, _Strict()]
Text = Annotated[str, _Checked(_checked_text)]
WebUrl = Annotated[str, _Checked(_checked_url)]
BaseUrl = Annotated[str, _Checked(_checked_base_url)]
LanguageTag = Annotated[str, _Checked(_checked_language)]
Network = Annotated[str, _Checked(_checked_network)]
Seconds = Annotated[float, _Bounded(0, MAX_SECONDS)]

#: Each table's pydantic configuration (a ConfigDict, which is a plain dict): a misspelt
#: key is an error. The annotations above make each field strict.
_TABLE = {"extra": "forbid"}


@dataclass(frozen=True)
class ArchiveTable:
    """[archive]: how the archive presents itself as a whole."""

    title: Text | None = None
    """The archive's name on its index page, feeds, landing pages, EPUB covers and search
    pages; None: defaults.ARCHIVE_TITLE (on a cover, in the document's language)."""
    base_url: BaseUrl | None = None
    """Where dist/ is published; the feed's links are made absolute against it. None: relative links."""
    allow_mass_withdraw: Flag = False
    """Let a run withdraw more than half the archive (or all of it); `--allow-mass-withdraw` for one run."""

    search: Literal[STATIC_SEARCH, SERVER_SEARCH] | None = None
    """"server" when `seedpress serve` answers searches where dist/ is published: the OPDS feeds
    then advertise its search. None or "static": they advertise none (the Pagefind box in
    index.html is the search)."""
    lang: LanguageTag | None = None
    """The language (BCP 47) of the index page's own words: its page numbers, search box and
    links, from labels.toml (each title keeps its own language). None: defaults.ARCHIVE_LANGUAGE."""
    __pydantic_config__ = _TABLE


@dataclass(frozen=True)
class ServeTable:
    """[serve]: what `seedpress serve` answers besides the files."""

    metrics: Flag = True
    """Answer /metrics (to loopback clients, and to metrics_from); false: never."""
    metrics_from: Annotated[list[Network], _Strict()] = field(default_factory=list)
    """Networks (CIDR, or one address) whose clients may read /metrics besides loopback ones;
    `--metrics-from` replaces them."""
    __pydantic_config__ = _TABLE


@dataclass(frozen=True)
class ClusterTable:
    """[cluster]: how long an archive run on a Dask cluster (`--cluster`) waits on its workers."""

    grace: Seconds = defaults.CLUSTER_GRACE
    """With no worker able to render, or no word of a task the scheduler says has ended,
    for this long, the run stops (no worker) or gives that seed up."""
    answer_margin: Seconds = defaults.CLUSTER_ANSWER_MARGIN
    """Seconds past a seed's time limit (`--timeout`) before a task that has not answered
    is given up as hanging."""
    __pydantic_config__ = _TABLE

    def deadlines(self) -> Deadlines:
        return Deadlines(grace=self.grace, answer_margin=self.answer_margin)


@dataclass(frozen=True)
class MetadataTable:
    """[metadata]: author, publisher, rights and license of every seed unless its master says otherwise."""

    author: Text | None = None
    publisher: Text | None = None
    rights: Text | None = None
    license_url: WebUrl | None = None
    __pydantic_config__ = _TABLE

    def provenance(self) -> Provenance:
        return Provenance(author=self.author, publisher=self.publisher, rights=self.rights,
                          license_url=self.license_url)


@dataclass(frozen=True)
class Config:
    """The whole of seedpress.toml; every table and key is optional."""

    archive: ArchiveTable = field(default_factory=ArchiveTable)
    metadata: MetadataTable = field(default_factory=MetadataTable)
    serve: ServeTable = field(default_factory=ServeTable)
    cluster: ClusterTable = field(default_factory=ClusterTable)
    __pydantic_config__ = _TABLE


@functools.cache
def _validator() -> TypeAdapter[Config]:
    """pydantic's validator of a whole file, built once, on the first file checked."""
    from pydantic import TypeAdapter

    return TypeAdapter(Config)


def load_config(path: Path | None = None) -> Config:
    """The configuration in `path`; for None, ./seedpress.toml when there is one, else the
    defaults. ConfigError, one line naming the file and the key, for a file that cannot be
    read or is not a valid configuration."""
    if path is None:
        path = Path(CONFIG_NAME)
        if not path.exists():
            return Config()
    data = _read(Path(path))
    import tomllib

    from pydantic import ValidationError

    try:
        table = tomllib.loads(data)
    except RecursionError:
        # tomllib reads nested arrays and inline tables recursively.
        raise ConfigError(f"{path}: not valid TOML: arrays or inline tables nested too deeply") from None
    except ValueError as error:
        # tomllib says where: "Invalid value (at line 3, column 10)"; int() refuses an
        # integer of more than 4,300 digits with a plain ValueError.
        raise ConfigError(f"{path}: not valid TOML: {_one_line(str(error))}") from None
    try:
        return _validator().validate_python(table)
    except ValidationError as error:
        raise ConfigError(f"{path}: {describe(error)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: arrays or inline tables nested too deeply") from None


def _read(path: Path) -> str:
    """The file's text. Only a regular file is read, opened without blocking (a FIFO in
    its place must not hang every command) and checked after opening, so what is read
    is what was checked. One UTF-8 byte order mark at the start is skipped."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the configuration: {error.strerror or error}") from None
    try:
        with os.fdopen(descriptor, "rb") as file:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise ConfigError(f"{path}: not a regular file: the configuration must be a file")
            data = file.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the configuration: {error.strerror or error}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes: not a seedpress configuration")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 (byte {error.start}), as TOML must be") from None
    # Editors on Windows save UTF-8 with a byte order mark; TOML has no use for it.
    return text.removeprefix("\ufeff")


def _one_line(text: str, limit: int = 300) -> str:
    """`text` on one line, cut to `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


#: pydantic's error types, as this file's reader would put them.
_MESSAGES = {
    "unexpected_keyword_argument": "unknown key",
    "string_type": "must be text, in quotes",
    "bool_type": "must be true or false",
    "list_type": "must be a list, in brackets",
    "dataclass_type": "must be a table",
}


def _unknown_key_hint(where: tuple) -> str:
    """What the file may hold where the unknown key `where` is: the key it most likely means,
    the table a key of a table belongs under, or the keys there are."""
    import difflib

    tables = {table.name: table.default_factory for table in fields(Config)}
    key = str(where[-1])
    if len(where) == 1:
        homes = [name for name, table in tables.items() if key in {own.name for own in fields(table)}]
        if homes:
            return f" outside a table; it belongs under [{homes[0]}]"
        known = list(tables)
    elif len(where) == 2 and where[0] in tables:
        known = [own.name for own in fields(tables[where[0]])]
    else:
        return ""
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]}?)" if close else f" (the keys here: {', '.join(known)})"


def describe(error: ValidationError) -> str:
    """The first problem pydantic found, as `key.path: what is wrong`, and how many more."""
    problems = error.errors(include_url=False)
    first = problems[0]
    # A key is shown cut short: a file may hold a key of a megabyte.
    where = ".".join(clipped(str(part), 80) for part in first["loc"]) or "(the whole file)"
    message = _MESSAGES.get(first["type"])
    if first["type"] == "unexpected_keyword_argument":
        message += _unknown_key_hint(first["loc"])
    elif message is None:
        # Our own checks raise ValueError; pydantic prefixes their text with "Value error, ".
        message = _one_line(str(first.get("ctx", {}).get("error", first["msg"])))
    more = len(problems) - 1
    return f"{where}: {message}" + (f" (and {more} more {'problem' if more == 1 else 'problems'})" if more else "")
