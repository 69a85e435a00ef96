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

The file is read with `tomllib` and checked with pydantic v2 models. pydantic,
because its errors say precisely where the problem is (`archive.base_url`,
`metadata.autor`) and which kind it is, so one line can name the key; its
strict mode takes a TOML integer for no string; `extra="forbid"` turns a
misspelt key into an error instead of a setting silently ignored; and
`frozen=True` makes the loaded configuration a value nobody changes later.
attrs with cattrs would structure the tables too, but its errors carry no
path to the key, and unknown keys, strictness and every message would be
hand-written. The checks themselves (bounded one-line text, http(s) URLs)
live in convert/provenance.py, shared with a master's frontmatter and the
command line.

Precedence: the command line overrides the file; a master's frontmatter
overrides both for its own seed.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from convert import defaults
from convert.defaults import SERVER_SEARCH, STATIC_SEARCH
from convert.document.language import is_language_tag
from convert.document.provenance import MAX_URL, Provenance, clipped, text_problem, url_problem
from convert.errors import ConfigError
from convert.runners.deadlines import Deadlines

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


Text = Annotated[str, AfterValidator(_checked_text)]
WebUrl = Annotated[str, AfterValidator(_checked_url)]
BaseUrl = Annotated[str, AfterValidator(_checked_base_url)]


def _checked_language(value: str) -> str:
    if not is_language_tag(value):
        raise ValueError("must be a BCP 47 language tag, such as en, fr or zh-Hant")
    return value


LanguageTag = Annotated[str, AfterValidator(_checked_language)]


class _Table(BaseModel):
    # strict: a TOML number or boolean is not text; forbid: a misspelt key is an error.
    # defer_build: a table's validator is made when a file is first checked, not when this
    # module is imported (30 ms of every command's start, most of which read no file).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


class ArchiveTable(_Table):
    """[archive]: how the archive presents itself as a whole."""

    title: Text | None = None
    """The archive's name on its index page, feeds, landing pages, EPUB covers and search
    pages; None: defaults.ARCHIVE_TITLE (on a cover, in the document's language)."""
    base_url: BaseUrl | None = None
    """Where dist/ is published; the feed's links are made absolute against it. None: relative links."""
    allow_mass_withdraw: bool = False
    """Let a run withdraw more than half the archive (or all of it); `--allow-mass-withdraw` for one run."""

    search: Literal[STATIC_SEARCH, SERVER_SEARCH] | None = None
    """"server" when `seedpress serve` answers searches where dist/ is published: the OPDS feeds
    then advertise its search. None or "static": they advertise none (the Pagefind box in
    index.html is the search)."""
    lang: LanguageTag | None = None
    """The language (BCP 47) of the index page's own words: its page numbers, search box and
    links, from labels.toml (each title keeps its own language). None: defaults.ARCHIVE_LANGUAGE."""


def _checked_network(value: str) -> str:
    from convert.serve.metrics import parse_network

    parse_network(value)
    return value


class ServeTable(_Table):
    """[serve]: what `seedpress serve` answers besides the files."""

    metrics: bool = True
    """Answer /metrics (to loopback clients, and to metrics_from); false: never."""
    metrics_from: list[Annotated[str, AfterValidator(_checked_network)]] = []
    """Networks (CIDR, or one address) whose clients may read /metrics besides loopback ones;
    `--metrics-from` replaces them."""


Seconds = Annotated[float, Field(gt=0, le=MAX_SECONDS)]


class ClusterTable(_Table):
    """[cluster]: how long an archive run on a Dask cluster (`--cluster`) waits on its workers."""

    grace: Seconds = defaults.CLUSTER_GRACE
    """With no worker able to render, or no word of a task the scheduler says has ended,
    for this long, the run stops (no worker) or gives that seed up."""
    answer_margin: Seconds = defaults.CLUSTER_ANSWER_MARGIN
    """Seconds past a seed's time limit (`--timeout`) before a task that has not answered
    is given up as hanging."""

    def deadlines(self) -> Deadlines:
        return Deadlines(grace=self.grace, answer_margin=self.answer_margin)


class MetadataTable(_Table):
    """[metadata]: author, publisher, rights and license of every seed unless its master says otherwise."""

    author: Text | None = None
    publisher: Text | None = None
    rights: Text | None = None
    license_url: WebUrl | None = None

    def provenance(self) -> Provenance:
        return Provenance(author=self.author, publisher=self.publisher, rights=self.rights,
                          license_url=self.license_url)


class Config(_Table):
    """The whole of seedpress.toml; every table and key is optional."""

    archive: ArchiveTable = Field(default_factory=ArchiveTable.model_construct)
    metadata: MetadataTable = Field(default_factory=MetadataTable.model_construct)
    serve: ServeTable = Field(default_factory=ServeTable.model_construct)
    cluster: ClusterTable = Field(default_factory=ClusterTable.model_construct)


def load_config(path: Path | None = None) -> Config:
    """The configuration in `path`; for None, ./seedpress.toml when there is one, else the
    defaults. ConfigError, one line naming the file and the key, for a file that cannot be
    read or is not a valid configuration."""
    if path is None:
        path = Path(CONFIG_NAME)
        if not path.exists():
            # The defaults, which need no checking: nothing is validated, so nothing is built.
            return Config.model_construct()
    data = _read(Path(path))
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
        return Config.model_validate(table)
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
    "extra_forbidden": "unknown key",
    "string_type": "must be text, in quotes",
    "bool_type": "must be true or false",
    "list_type": "must be a list, in brackets",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
}


def describe(error: ValidationError) -> str:
    """The first problem pydantic found, as `key.path: what is wrong`, and how many more."""
    problems = error.errors(include_url=False)
    first = problems[0]
    # A key is shown cut short: a file may hold a key of a megabyte.
    where = ".".join(clipped(str(part), 80) for part in first["loc"]) or "(the whole file)"
    message = _MESSAGES.get(first["type"])
    if message is None:
        # Our own checks raise ValueError; pydantic prefixes their text with "Value error, ".
        message = _one_line(str(first.get("ctx", {}).get("error", first["msg"])))
    more = len(problems) - 1
    return f"{where}: {message}" + (f" (and {more} more {'problem' if more == 1 else 'problems'})" if more else "")
