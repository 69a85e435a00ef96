"""The command line: parse arguments, call one library function per command, map errors to exit codes."""

from __future__ import annotations

import argparse
import functools
import json
import os
import shlex
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from convert import GENERATOR, defaults
from convert.errors import ConfigError, LockedError, MassWithdrawalRefused, SeedpressError, Stopped
from convert.names import json_safe, shown

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 75
#: An archive run refused to withdraw most of the archive (MassWithdrawalRefused) and changed nothing.
EXIT_MASS_WITHDRAW = 3
EXIT_INTERRUPTED = 130


def _formats(value: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(part.strip().lower() for part in value.split(",") if part.strip()))
    unknown = [f for f in chosen if f not in defaults.FORMATS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown format {', '.join(unknown) or '(none)'}; choose from {','.join(defaults.FORMATS)}")
    return chosen


#: --jobs, for convert and archive.
JOBS_HELP = (f"worker processes (default: ${defaults.JOBS_VARIABLE} if set, else one per core); 0 builds "
             "in this process, without a worker and so without the memory limit: for tests and debugging")


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value!r}")
    return number


def _jobs(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (in this process) or more: {value!r}")
    return number


def _port(value: str) -> int:
    number = _positive(value)
    if number > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {value!r}")
    return number


def _language_tag(value: str) -> str:
    from convert.document.language import is_language_tag, tag_example

    if not is_language_tag(value):
        raise argparse.ArgumentTypeError(f"not a BCP 47 language tag: {value!r} ({tag_example(value)})")
    return value


def _mebibytes(value: str) -> int:
    return _positive(value) * 2**20


def _metadata_text(value: str) -> str:
    from convert.document.provenance import text_problem

    problem = text_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return value


def _web_url(value: str) -> str:
    from convert.document.provenance import url_problem

    problem = url_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return value


def _network(value: str) -> str:
    from convert.serve.metrics import parse_network

    try:
        parse_network(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


#: The master fields -M sets: KEY=VALUE (keywords and tags take a comma-separated list).
METADATA_KEYS = ("author", "publisher", "rights", "license_url", "date", "description", "keywords", "tags")


def _metadata_pair(value: str) -> tuple[str, object]:
    from convert.document.provenance import ALIASES, field_problem

    key, equals, text = value.partition("=")
    key = key.strip().replace("-", "_")
    if not equals or key not in METADATA_KEYS:
        raise argparse.ArgumentTypeError(f"{value!r}: give KEY=VALUE with KEY one of {', '.join(METADATA_KEYS)}")
    name = ALIASES.get(key, key)
    given = tuple(tag.strip() for tag in text.split(",") if tag.strip()) if name == "tags" else text
    problem = field_problem(name, given)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{key}: {problem}")
    return name, given


def _add_build_options(command: argparse.ArgumentParser, inputs: str) -> None:
    """The options `convert` and `archive` share: they fill BuildOptions, nothing else."""
    command.add_argument("--max-bytes", type=_positive, metavar="N",
                         help=f"refuse {inputs} larger than N bytes (default: {defaults.MAX_BYTES})")
    command.add_argument("--styles", type=Path, metavar="DIR",
                         help="folder with print.css, epub.css, reference.docx (default: the bundled styles)")
    command.add_argument("--timeout", type=_positive, metavar="SECONDS",
                         help=f"time one input may take, all editions together (default: {defaults.TIME_LIMIT})")
    command.add_argument("--memory", type=_mebibytes, metavar="MIB",
                         help=f"address space a process building inputs may use "
                              f"(default: {defaults.MEMORY_LIMIT // 2**20})")
    command.add_argument("--lang", type=_language_tag, metavar="TAG",
                         help="the language of every seed, a BCP 47 tag such as fr or zh-Hant "
                              "(default: detected; a master's own lang wins)")
    command.add_argument("--validate", action="store_true", default=None,
                         help="run EPUBCheck on every EPUB before writing it (needs Java)")
    command.add_argument("--strict", action="store_true", default=None,
                         help=f"fail {inputs} the reader has to guess about (no 'Read the original article' "
                              "marker, no blank line after the title, a legacy encoding read as garbled cp1252) "
                              "instead of building them with a notice")
    metadata = command.add_argument_group(
        "metadata of every input", "override seedpress.toml's [metadata]; a master's own fields win over both")
    metadata.add_argument("--author", type=_metadata_text, metavar="NAME", help="who wrote it")
    metadata.add_argument("--publisher", type=_metadata_text, metavar="NAME", help="who publishes it")
    metadata.add_argument("--rights", type=_metadata_text, metavar="TEXT", help='e.g. "CC BY 4.0"')
    metadata.add_argument("--license-url", type=_web_url, metavar="URL", help="the license's http(s) URL")
    metadata.add_argument("-M", "--metadata", type=_metadata_pair, action="append", metavar="KEY=VALUE",
                          help="set a master field for this run, as pandoc's -M does (repeatable)")


#: Command-line option to the BuildOptions field it sets.
_BUILD_FIELDS = {"max_bytes": "max_bytes", "styles": "styles", "timeout": "timeout", "memory": "memory",
                 "validate": "validate", "to": "formats", "paper": "paper", "lang": "lang",
                 "strict": "strict"}


class _Parser(argparse.ArgumentParser):
    """argparse's parser without abbreviated options: `archive --all` (meant for `restore
    --all`) was taken for --allow-mass-withdraw, and withdrew every title."""

    def __init__(self, *arguments, **keywords) -> None:
        keywords.setdefault("allow_abbrev", False)
        super().__init__(*arguments, **keywords)

    def error(self, message: str):
        """argparse's usage error (the usage, then the line, exit 2), and with --json the
        line as the last object on stdout too, as every other stop gives it: a script
        reading the objects got nothing at all."""
        if _json_asked:
            _say_stop(message, EXIT_USAGE)
        super().error(message)


#: True when the command line being read asks for --json (set by parse_arguments).
_json_asked = False


def _common_options() -> argparse.ArgumentParser:
    """The options every command takes, as a parent parser."""
    common = _Parser(add_help=False)
    common.add_argument("--config", type=Path, metavar="PATH",
                        help="the configuration file (default: ./seedpress.toml when there is one)")
    return common


def parser() -> argparse.ArgumentParser:
    common = _common_options()
    program = _Parser(
        prog="seedpress",
        description="Turn plain-text article seeds into a Markdown master and PDF, EPUB, DOCX editions.",
        argument_default=None,
    )
    program.add_argument("--version", action="version", version=GENERATOR)
    commands = program.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    convert = commands.add_parser("convert", parents=[common], help="convert seeds or masters into editions")
    convert.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                         help="seed (.txt) or master (.md) files, or folders of them; - reads a seed "
                              "from standard input")
    convert.add_argument("-o", "--output", type=Path, metavar="FILE",
                         help="write exactly this one file, its edition from the extension "
                              "(.pdf, .epub, .docx, .md), from one input")
    convert.add_argument("--to", type=_formats, metavar="FORMATS",
                         help=f"comma-separated editions (default: {','.join(defaults.FORMATS)})")
    convert.add_argument("--out", type=Path, metavar="DIR",
                         help=f"output folder, DIR/<key>/<key>.<edition> (default: ./{defaults.OUT_DIR})")
    convert.add_argument("--paper", choices=defaults.PAPER_SIZES,
                         help=f"PDF paper size (default: {defaults.PAPER})")
    _add_build_options(convert, "inputs")
    convert.add_argument("--json", action="store_true", help="one JSON object per input on stdout")
    convert.add_argument("--jobs", type=_jobs, metavar="N", help=JOBS_HELP)

    archive = commands.add_parser("archive", parents=[common],
                                  help="build the archive of a seeds folder, incrementally")
    archive.add_argument("seeds", nargs="?", type=Path, default=defaults.SEEDS_DIR, metavar="SEEDS_DIR",
                         help=f"folder of seeds (*.txt) and masters (*.md) (default: ./{defaults.SEEDS_DIR})")
    archive.add_argument("--dist", type=Path, default=defaults.DIST_DIR, metavar="DIR",
                         help=f"archive folder (default: ./{defaults.DIST_DIR})")
    archive.add_argument("--jobs", type=_jobs, metavar="N", help=JOBS_HELP)
    archive.add_argument("--cluster", metavar="tcp://HOST:PORT",
                         help=f"render on the Dask scheduler at this address instead of local worker processes "
                              f"(default: ${defaults.CLUSTER_VARIABLE} if set; needs seedpress[cluster])")
    _add_build_options(archive, "seeds")
    archive.add_argument("--retry", action="store_true",
                         help="retry seeds that failed on a time or memory limit although nothing changed")
    archive.add_argument("--allow-mass-withdraw", action="store_true", default=None,
                         help="withdraw even when more than half the archive, or all of it, left SEEDS_DIR "
                              "(default: such a run withdraws nothing and exits 3)")
    archive.add_argument("--json", action="store_true", help="one JSON object per seed built, failed or withdrawn")

    verify = commands.add_parser("verify", parents=[common], help="re-hash every archived file against the catalog")
    verify.add_argument("--dist", type=Path, default=defaults.DIST_DIR, metavar="DIR",
                        help=f"archive folder (default: ./{defaults.DIST_DIR})")
    verify.add_argument("--json", action="store_true", help="the problems as JSON on stdout")

    bag = commands.add_parser("bag", parents=[common], help="write a BagIt 1.0 deposit of the archive")
    bag.add_argument("out", type=Path, metavar="OUT", help="the bag folder to write")
    bag.add_argument("--dist", type=Path, default=defaults.DIST_DIR, metavar="DIR",
                     help=f"archive folder (default: ./{defaults.DIST_DIR})")
    bag.add_argument("--force", action="store_true", help="replace OUT once the new bag is complete")

    status = commands.add_parser("status", parents=[common],
                                 help="what the archive holds, its last run and verify, what fails now")
    status.add_argument("--dist", type=Path, default=defaults.DIST_DIR, metavar="DIR",
                        help=f"archive folder (default: ./{defaults.DIST_DIR})")
    status.add_argument("--json", action="store_true", help="the status as one JSON object on stdout")

    restore = commands.add_parser("restore", parents=[common],
                                  help="put withdrawn titles back from dist/.withdrawn/")
    chosen = restore.add_mutually_exclusive_group(required=True)
    chosen.add_argument("keys", nargs="*", default=[], metavar="KEY", help="the titles to put back")
    chosen.add_argument("--all", action="store_true", help="every withdrawn title whose files are kept")
    restore.add_argument("--dist", type=Path, default=defaults.DIST_DIR, metavar="DIR",
                         help=f"archive folder (default: ./{defaults.DIST_DIR})")

    serve = commands.add_parser("serve", parents=[common], help="serve the archive folder read-only over HTTP")
    serve.add_argument("--dist", type=Path, default=defaults.DIST_DIR, metavar="DIR",
                       help=f"archive folder (default: ./{defaults.DIST_DIR})")
    serve.add_argument("--host", default=defaults.SERVE_HOST,
                       help=f"address to listen on (default: {defaults.SERVE_HOST})")
    serve.add_argument("--port", type=_port, default=defaults.SERVE_PORT,
                       help=f"TCP port to listen on (default: {defaults.SERVE_PORT})")

    serve.add_argument("--metrics-from", type=_network, action="append", metavar="NETWORK",
                       help="let clients in this network (CIDR, or one address) read /metrics, besides loopback "
                            "ones; may be given more than once")
    serve.add_argument("--no-metrics", action="store_true", default=None, help="do not answer /metrics")

    help_command = commands.add_parser("help", help="show the help of a command, or of seedpress")
    help_command.add_argument("topic", nargs="?", metavar="COMMAND", help="the command to explain")
    for command in commands.choices.values():
        command.set_defaults(command_parser=command)
    return program


def build_options(arguments: argparse.Namespace, **fixed):
    """BuildOptions with only what the user set on the command line; the rest are the library's defaults."""
    from convert.build.environment import STYLE_FILES
    from convert.build.options import BuildOptions

    chosen = {field: getattr(arguments, option) for option, field in _BUILD_FIELDS.items()
              if getattr(arguments, option, None) is not None}
    chosen["provenance"] = provenance(arguments)
    chosen["archive_title"] = arguments.configuration.archive.title
    chosen["archive_lang"] = arguments.configuration.archive.lang
    chosen["base_url"] = arguments.configuration.archive.base_url
    if "styles" in chosen:
        missing = [name for name in STYLE_FILES if not (chosen["styles"] / name).is_file()]
        if missing:
            raise ConfigError(f"{chosen['styles']}: not a styles folder (missing {', '.join(missing)})")
    return BuildOptions(**chosen, **fixed)


def provenance(arguments: argparse.Namespace):
    """Author, publisher, rights and license: seedpress.toml's [metadata], each overridden by
    its command-line option where one was given."""
    from dataclasses import replace

    from convert.document.provenance import FIELDS

    given = dict(getattr(arguments, "metadata", None) or ())
    given |= {name: getattr(arguments, name) for name in FIELDS if getattr(arguments, name, None) is not None}
    return replace(arguments.configuration.metadata.provenance(), **given)


def json_line(data: dict) -> str:
    """One JSON object on one line, whatever its strings hold: characters that JSON lets
    stand raw but that str.splitlines(), JSON Lines readers or a terminal take for a line
    break or a command (U+2028, C1 controls, lone surrogates) are written as escapes."""
    return json_safe(json.dumps(data, ensure_ascii=False))


#: syslog priorities (sd-daemon(3)) of what seedpress says on stderr.
ERROR, WARNING, NOTICE = 3, 4, 5


@functools.cache
def _stderr_is_the_journal() -> bool:
    """True when stderr is journald's stream (systemd names its device and inode in
    JOURNAL_STREAM): a line there that starts with "<3>" is filed at that priority, where
    every line is otherwise "info", so `journalctl -p warning` would show no failure."""
    stream = os.environ.get("JOURNAL_STREAM", "")
    try:
        device, inode = (int(part) for part in stream.split(":"))
        status = os.fstat(sys.stderr.fileno())
    except (ValueError, OSError):
        return False
    return (status.st_dev, status.st_ino) == (device, inode)


def _say(line: str) -> None:
    """One line on stdout. When its reader has gone (`seedpress archive --json | head -1`),
    the command goes on to its end, and what it would print goes nowhere: an archive run
    stopped there left its index, feeds and SHA256SUMS unwritten, blamed dist ("cannot
    write: Broken pipe") and exited 1."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _say_stop(message: str, code: int) -> None:
    """With --json, why the command stopped as the last object on stdout, beside its line on
    stderr: {"error": …, "exit_code": …}; nothing when stdout cannot be written (stderr
    says it)."""
    try:
        _say(json_line({"error": shown(message), "exit_code": code}))
    except OSError:
        pass


def _say_error(message: str, priority: int = ERROR) -> None:
    # A message may name a file whose name is not UTF-8 or holds control characters.
    level = f"<{priority}>" if _stderr_is_the_journal() else ""
    print(f"{level}seedpress: {shown(message)}", file=sys.stderr, flush=True)


def _say_warning(message: str) -> None:
    _say_error(message, WARNING)


def _say_notice(message: str) -> None:
    _say_error(message, NOTICE)


class ProgressBar:
    """A rich progress bar on a terminal for runs of more than one item; silent otherwise.
    It counts what is done, failed and left, and the rate."""

    def __init__(self, label: str, *, enabled: bool):
        self.wanted, self.label = enabled, label
        self.bar = None
        self.task = None
        self.failed = 0

    def start(self, total: int) -> None:
        if not (self.wanted and total > 1 and sys.stderr.isatty()):
            return
        from rich.console import Console

        self.bar = progress_display(Console(stderr=True))
        self.bar.start()
        self.task = self.bar.add_task(self.label, total=total, failed=0)

    def advance(self, *, failed: bool = False) -> None:
        self.failed += failed
        if self.bar is not None:
            self.bar.update(self.task, advance=1, failed=self.failed)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def progress_display(console):
    """The rich Progress of a ProgressBar on `console`: the label, the bar, the counts and the
    time, on one line; on a narrow terminal the bar gives way, never the counts (they
    wrapped onto a second line at each refresh of an 80-column terminal)."""
    from rich.progress import BarColumn, Progress, TimeElapsedColumn

    return Progress("[progress.description]{task.description}", BarColumn(), _counts_column(),
                    TimeElapsedColumn(), console=console, transient=True)


def _counts_column():
    """The bar's column `N done, N failed, N left, R/min` (a function, so that rich is
    imported only when a bar is shown)."""
    from rich.progress import ProgressColumn
    from rich.table import Column
    from rich.text import Text

    class CountsColumn(ProgressColumn):
        def render(self, task) -> Text:
            failed = task.fields.get("failed", 0)
            left = max(0, int((task.total or 0) - task.completed))
            speed = task.finished_speed or task.speed
            rate = f"{speed * 60:.1f}/min" if speed else "…/min"
            return Text(f"{int(task.completed) - failed} done, {failed} failed, {left} left, {rate}")

    return CountsColumn(table_column=Column(no_wrap=True))


def _report(outcomes: Iterable, *, as_json: bool, progress: ProgressBar,
            describe: Callable | None = None) -> int:
    """Print each outcome as it comes (a JSON line, or a short line), errors on stderr; the exit code."""
    failed = 0
    for outcome in outcomes:
        if as_json:
            _say(json_line(outcome.as_json()))
        for notice in outcome.notices:
            _say_error(f"notice: {notice}", NOTICE)
        if not outcome.ok:
            failed += 1
            _say_error(outcome.error)
        elif describe is not None and not as_json:
            _say(shown(describe(outcome)))
        # Withdrawn and gone seeds are no part of what the bar counts: the seeds to build.
        if outcome.status in ("built", "failed"):
            progress.advance(failed=not outcome.ok)
    return EXIT_FAILED if failed else EXIT_OK


def _converted(outcome) -> str:
    folder = Path(next(iter(outcome.files.values())).path).parent
    return shown(f"{outcome.input} -> {folder}/ ({', '.join(sorted(outcome.files))})")


def _wrote(outcome) -> str:
    return f"{outcome.input} -> {next(iter(outcome.files.values())).path}"


def command_convert(arguments: argparse.Namespace) -> int:
    from convert.jobs import STDIN, convert_one, convert_paths, edition_for, expand_inputs, read_stdin

    usage_error = arguments.command_parser.error
    single = arguments.output is not None
    from_stdin = any(str(path) == STDIN for path in arguments.paths)
    if single or from_stdin:
        if len(arguments.paths) != 1:
            usage_error(f"-o FILE takes one input, and {len(arguments.paths)} were given: for several, use --out DIR"
                        if single else f"- (standard input) must be the only input, and {len(arguments.paths)} "
                        "were given")
        if single and arguments.out is not None:
            usage_error("give either -o FILE (one file) or --out DIR (a folder), not both")
        if single and str(arguments.output) == STDIN:
            usage_error("-o -: the editions are not written to standard output; give -o FILE")
        if single and arguments.output.is_dir():
            usage_error(f"-o takes a file; to write into the folder {arguments.output}, use --out {arguments.output}")
        if single and edition_for(arguments.output) is None:
            usage_error(f"-o {arguments.output}: unknown extension; use .pdf, .epub, .docx or .md")
        if single and arguments.to is not None and arguments.to != (edition_for(arguments.output),):
            usage_error(f"--to {','.join(arguments.to)} does not match -o {arguments.output}")
        if from_stdin and not single and (arguments.to is None or arguments.out is None):
            usage_error("- (standard input) needs -o FILE, or --to and --out")
        options = build_options(arguments)
        source = read_stdin(options.max_bytes) if from_stdin else arguments.paths[0]
        outcome = convert_one(source, options, output=arguments.output, out=arguments.out)
        return _report([outcome], as_json=arguments.json, progress=ProgressBar("", enabled=False),
                       describe=_wrote if single else _converted)
    out = arguments.out if arguments.out is not None else defaults.OUT_DIR
    if edition_for(out) is not None and not out.is_dir():
        # `--out bikes.pdf` once made a folder bikes.pdf/ of every edition: name the option meant.
        usage_error(f"--out takes a folder; to write the one file {out}, use -o {out}")
    if os.path.lexists(out) and not out.is_dir():
        # Found before anything is rendered: every input was built, then not written.
        usage_error(f"--out {out}: not a folder (a file is there)")
    _warn_of_nested_seeds(arguments.paths, out)
    progress = ProgressBar("converting", enabled=not arguments.json)
    progress.start(sum(1 for _ in expand_inputs(arguments.paths)))
    try:
        outcomes = convert_paths(arguments.paths, out, build_options(arguments), jobs=arguments.jobs)
        return _report(outcomes, as_json=arguments.json, progress=progress, describe=_converted)
    finally:
        progress.stop()


def _warn_of_nested_seeds(paths: Sequence[Path], out: Path) -> None:
    """A folder given to convert is converted without its subfolders, as archive archives
    one: each seed left in a subfolder is named (never the masters convert wrote in `out`,
    when `out` is inside the folder), where convert passed them over without a word."""
    from convert.archive.guard import nested_seeds

    written = out.resolve()
    for path in paths:
        if not path.is_dir():
            continue
        for nested in nested_seeds(path):
            if written not in nested.resolve().parents:
                _say_warning(f"{nested}: in a subfolder of {path}: not converted (only the seeds directly "
                             "in it are; give the subfolder too)")


def command_archive(arguments: argparse.Namespace) -> int:
    from convert.jobs import JobOptions, run_archive
    from convert.layout import WITHDRAWN_NAME

    progress = ProgressBar("archiving", enabled=not arguments.json)

    def on_outcome(outcome) -> None:
        if outcome.status in ("gone", "withdrawn") and not arguments.json:
            seed = arguments.seeds / outcome.input  # the catalog keeps the seed's name only
            if outcome.status == "gone":
                said = "failed before and is no longer in the seeds folder: its failure went away"
            else:
                # A title leaves the hand-out: a scheduled run's mail says which, and how to undo it.
                said = (f"no longer in the seeds folder: its title {outcome.key} is withdrawn (kept in "
                        f"{arguments.dist}/{WITHDRAWN_NAME}/; `seedpress restore {outcome.key}` puts it back)")
            _say(shown(f"{seed}: {said}"))
        _report([outcome], as_json=arguments.json, progress=progress)

    archive = arguments.configuration.archive
    options = JobOptions(jobs=arguments.jobs, build=build_options(arguments, keep_seed=True),
                         retry=arguments.retry, handout=_handout_options(arguments),
                         allow_mass_withdraw=bool(arguments.allow_mass_withdraw or archive.allow_mass_withdraw),
                         cluster=arguments.cluster or os.environ.get(defaults.CLUSTER_VARIABLE) or None,
                         cluster_deadlines=arguments.configuration.cluster.deadlines())
    try:
        # systemctl stop (and a unit's time limit) sends SIGTERM: the run stops as at Ctrl-C,
        # its workers killed, and is recorded as stopped (exit 143) in the catalog and metrics.
        with signals_as_exceptions((signal.SIGTERM,)):
            totals = run_archive(arguments.seeds, arguments.dist, options, on_outcome=on_outcome,
                                 on_plan=progress.start, on_warning=_say_warning, exit_code=exit_code_of)
    finally:
        progress.stop()
    if arguments.json:
        _say(json_line({"summary": totals.as_json()}))
    else:
        _say(shown(f"{arguments.dist}: {totals.line()}"))
    return exit_code_of(None, totals)


def _start_workers_early(arguments: argparse.Namespace) -> None:
    """`archive` on this machine's workers, with seeds that changed since the last run: start
    the server the workers fork from now, before the configuration is read and the stages
    are imported (0.2 s of this core), so that its warm-up on the other core is done by the
    time the plan is (runners/server.py). run_archive starts it too, for library callers;
    a second start is none."""
    if arguments.jobs == 0 or arguments.cluster or os.environ.get(defaults.CLUSTER_VARIABLE):
        return
    from convert.runners.server import start_workers_early, will_likely_build

    if will_likely_build(arguments.seeds, arguments.dist):
        start_workers_early()


def command_verify(arguments: argparse.Namespace) -> int:
    from convert.archive.verify import verify_archive

    problems = verify_archive(arguments.dist, on_unrecorded=_say_warning, on_wait=_say_notice)
    if arguments.json:
        _say(json_line({"dist": str(arguments.dist), "problems": [problem.as_json() for problem in problems]}))
    for problem in problems:
        _say_error(problem.line)
    if not problems and not arguments.json:
        _say(shown(f"{arguments.dist}: every file matches the catalog and SHA256SUMS"))
    return EXIT_FAILED if problems else EXIT_OK


@contextmanager
def signals_as_exceptions(stopping: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)) -> Iterator[None]:
    """Within the block, the `stopping` signals (SIGTERM from systemctl stop, SIGINT) raise
    Stopped instead of ending the process where it stands; after one, SIGTERM and SIGINT
    alike are ignored, so that neither can cut the clean-up short."""
    ignored = (signal.SIGTERM, signal.SIGINT)

    def stop(signal_number: int, _frame) -> None:
        for number in ignored:
            signal.signal(number, signal.SIG_IGN)
        raise Stopped(signal_number)

    previous = {number: signal.getsignal(number) for number in ignored}
    for number in stopping:
        signal.signal(number, stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def command_bag(arguments: argparse.Namespace) -> int:
    import logging

    from convert.deposit.bag import write_bag

    # bagit logs every error it raises, with a traceback, which Python prints when logging is
    # not configured; seedpress reports the error itself, in one line.
    logging.getLogger("bagit").addHandler(logging.NullHandler())
    # The bag is described as the archive is: seedpress.toml's title (else the title the
    # archive was handed out with) and publisher.
    config = arguments.configuration
    title = config.archive.title or _handout_options(arguments, recorded_in=arguments.dist).title
    described = {name: value for name, value in (("title", title),
                                                  ("publisher", config.metadata.publisher)) if value is not None}
    # A stopped bag removes its temporary folder on the way out (write_bag's clean-up).
    with signals_as_exceptions():
        summary = write_bag(arguments.dist, arguments.out, force=arguments.force, **described)
    _say(shown(summary.line()))
    return EXIT_OK


def command_status(arguments: argparse.Namespace) -> int:
    from convert.archive.status import archive_status

    status = archive_status(arguments.dist)
    if arguments.json:
        _say(json_line(status.as_json()))
    else:
        _say("\n".join(status.lines()))
    return EXIT_OK


def _handout_options(arguments: argparse.Namespace, *, recorded_in: Path | None = None):
    """The hand-out's options: seedpress.toml's [archive] where it sets them; else, for a
    command that writes into an archive it did not build (`restore`), what the archive was
    last handed out with (dist/.handout.json); else the defaults."""
    from convert.publish.entries import HandoutOptions

    base = HandoutOptions()
    if recorded_in is not None:
        from convert.publish.handout import read_options

        base = read_options(recorded_in)
    archive = arguments.configuration.archive
    given = {name: value for name, value in (("title", archive.title), ("base_url", archive.base_url),
                                             ("search", archive.search), ("lang", archive.lang)) if value is not None}
    return HandoutOptions(**{"title": base.title, "base_url": base.base_url, "search": base.search,
                             "lang": base.lang, **given})


def command_restore(arguments: argparse.Namespace) -> int:
    from convert.jobs import restore_titles

    # SIGTERM stops it as Ctrl-C does: the catalog's changes are a transaction, and the
    # Pagefind runs of its hand-out are killed, not left writing in dist after it.
    with signals_as_exceptions((signal.SIGTERM,)):
        restored = restore_titles(arguments.dist, arguments.keys, every=arguments.all,
                                  handout=_handout_options(arguments, recorded_in=arguments.dist),
                                  on_warning=_say_warning)
    if not restored:
        _say(shown(f"{arguments.dist}: no withdrawn titles to restore"))
        return EXIT_OK
    _say(shown(f"{arguments.dist}: restored {len(restored)}: {', '.join(restored)}"))
    _say("note: the next archive run withdraws again each whose seed is not in the seeds folder: "
         "put the seeds back too")
    return EXIT_OK


def command_serve(arguments: argparse.Namespace) -> int:
    from convert.serve.app import serve
    from convert.serve.metrics import MetricsSettings

    configured = arguments.configuration.serve
    metrics = MetricsSettings(enabled=not arguments.no_metrics and configured.metrics,
                              allowed=tuple(arguments.metrics_from or configured.metrics_from))
    serve(arguments.dist, host=arguments.host, port=arguments.port, metrics=metrics)
    return EXIT_OK


COMMANDS = {"convert": command_convert, "archive": command_archive, "verify": command_verify, "bag": command_bag,
            "serve": command_serve, "restore": command_restore, "status": command_status}


def exit_code_of(error: BaseException | None, totals=None) -> int:
    """The exit code of a command stopped by `error` (None: it ran to the end, and `totals`,
    an archive run's, say whether a seed failed)."""
    if error is None:
        return EXIT_FAILED if totals is not None and totals.failed else EXIT_OK
    if isinstance(error, LockedError):
        return EXIT_LOCKED
    if isinstance(error, MassWithdrawalRefused):
        return EXIT_MASS_WITHDRAW
    if isinstance(error, ConfigError):
        return EXIT_USAGE
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, Stopped):
        return 128 + error.signal_number
    return EXIT_FAILED


def command_help(arguments: argparse.Namespace) -> int:
    program = parser()
    commands = next(action for action in program._actions if isinstance(action, argparse._SubParsersAction))
    if arguments.topic is None:
        program.print_help()
    elif arguments.topic in commands.choices:
        commands.choices[arguments.topic].print_help()
    else:
        arguments.command_parser.error(f"no command {arguments.topic!r}; choose from {', '.join(COMMANDS)}")
    return EXIT_OK


def _dist_hint(arguments: argparse.Namespace, unknown: list[str]) -> str:
    """For `seedpress serve dist` (as `archive SEEDS_DIR` takes its folder): how the archive
    folder is given to a command that takes no positional argument; else nothing."""
    command = arguments.command_parser
    takes_positional = any(not action.option_strings for action in command._actions)
    if len(unknown) != 1 or unknown[0].startswith("-") or takes_positional or "dist" not in arguments:
        return ""
    return f" (the archive folder is given with --dist: {command.prog} --dist {shlex.quote(unknown[0])})"


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """The parsed command line; an argument a command does not take is a usage error that
    prints that command's usage, not seedpress's (argparse's own says the top level's)."""
    global _json_asked
    argv = sys.argv[1:] if argv is None else list(argv)
    # After `--` a word is an input's name, not an option.
    _json_asked = "--json" in (argv[:argv.index("--")] if "--" in argv else argv)
    program = parser()
    if argv and argv[0].startswith("-") and argv[0] not in ("-", "--", "-h", "--help", "--version"):
        # Options come after the command: `seedpress --bogus` was told a COMMAND is required.
        program.error(f"unrecognized arguments: {argv[0]} (options come after the command: "
                      "seedpress COMMAND [OPTIONS]; seedpress --help lists the commands)")
    arguments, unknown = program.parse_known_args(argv)
    if unknown:
        arguments.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}{_dist_hint(arguments, unknown)}")
    if getattr(arguments, "jobs", False) is None and os.environ.get(defaults.JOBS_VARIABLE):
        try:
            arguments.jobs = _jobs(os.environ[defaults.JOBS_VARIABLE])
        except argparse.ArgumentTypeError as error:
            arguments.command_parser.error(f"${defaults.JOBS_VARIABLE}: {error}")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    global _json_asked
    try:
        return _run(argv)
    finally:
        _json_asked = False  # the next command line (main called again in one process) says its own


def _run(argv: Sequence[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        # `seedpress` alone: what it can do, as `git` and `pandoc --help` say.
        parser().print_help()
        return EXIT_OK
    arguments = parse_arguments(argv)
    if arguments.command == "help":
        return command_help(arguments)
    if arguments.command == "archive":
        _start_workers_early(arguments)
    try:
        from convert.config import load_config

        # Read and checked before any command starts, so a bad file touches nothing (but an
        # archive run's record of its refusal); every
        # command finds it as `arguments.configuration`.
        try:
            arguments.configuration = load_config(getattr(arguments, "config", None))
        except ConfigError as error:
            if arguments.command == "archive":
                from convert.jobs import record_refused_run

                # A scheduled run stopped by its configuration shows in `status` and the metrics.
                record_refused_run(arguments.seeds, arguments.dist, str(error), exit_code_of(error))
            raise
        return COMMANDS[arguments.command](arguments)
    except SeedpressError as error:
        return _fail(arguments, str(error), exit_code_of(error))
    except KeyboardInterrupt as error:
        return _fail(arguments, "interrupted", exit_code_of(error))
    except Stopped as stopped:
        return _fail(arguments, str(stopped), exit_code_of(stopped))
    except BrokenPipeError:
        # The reader of our output went away (`| head`): nothing more to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as error:  # a bug: still one line, the traceback only on request
        from convert.process import DEBUG_VARIABLE, debugging

        if debugging():
            raise
        return _fail(arguments, f"internal error: {type(error).__name__}: {error} (set {DEBUG_VARIABLE}=1 for a "
                                "traceback)", EXIT_FAILED)


def _fail(arguments: argparse.Namespace, message: str, code: int) -> int:
    """Say why the command stopped, on stderr; with --json, as the last object on stdout too
    ({"error": …, "exit_code": …}), so that a reader of the objects learns why no summary
    came (a refused mass withdrawal, another run holding the lock). Return the exit code."""
    # Another run holding the lock is no failure (the unit counts exit 75 as success).
    _say_error(message, WARNING if code == EXIT_LOCKED else ERROR)
    if getattr(arguments, "json", False):
        _say_stop(message, code)
    return code


def run() -> None:
    """The `seedpress` command (and `python -m convert.cli`): main(), then exit_now."""
    exit_now(main())


def exit_now(code: int) -> None:
    """End the process with `code` the way the interpreter would, less its last step: the
    threads that are not daemons are waited for (and what threading runs at its shutdown,
    as concurrent.futures' executors), the exit handlers run (multiprocessing's, the pandoc
    writers' close) and stdout and stderr are flushed, but the heap is not taken apart
    object by object. After a run that loaded WeasyPrint, Babel and the catalog's entries,
    that teardown took 0.1 s of every command for nothing a user sees."""
    import atexit
    import threading

    # The interpreter's own first step at exit (Py_FinalizeEx): a private name, so the
    # threads are joined by hand where it is missing.
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None and threading.current_thread() is threading.main_thread():
        shutdown()
    else:
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:  # None: started with that descriptor closed (`>&-`)
                stream.flush()
        except (OSError, ValueError):
            pass  # the reader went away (`| head`), or the stream was closed: nothing to add
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


if __name__ == "__main__":
    run()
