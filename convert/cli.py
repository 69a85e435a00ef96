"""The command line: parse arguments, call one library function per command, map errors to exit codes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from . import __version__, defaults
from .errors import ConfigError, LockedError, SeedpressError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 75


def _formats(value: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(part.strip().lower() for part in value.split(",") if part.strip()))
    unknown = [f for f in chosen if f not in defaults.FORMATS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown format {', '.join(unknown) or '(none)'}; choose from {','.join(defaults.FORMATS)}")
    return chosen


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value!r}")
    return number


def _port(value: str) -> int:
    number = _positive(value)
    if number > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {value!r}")
    return number


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="seedpress",
        description="Turn plain-text article seeds into a Markdown master and PDF, EPUB, DOCX editions.",
    )
    main.add_argument("--version", action="version", version=f"seedpress {__version__}")
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    convert = commands.add_parser("convert", help="convert seeds or masters into editions")
    convert.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                         help="seed (.txt) or master (.md) files, or folders of them")
    convert.add_argument("--to", type=_formats, default=defaults.FORMATS, metavar="FORMATS",
                         help=f"comma-separated editions (default: {','.join(defaults.FORMATS)})")
    convert.add_argument("--out", type=Path, default=Path("out"), metavar="DIR",
                         help="output folder (default: ./out)")
    convert.add_argument("--paper", choices=defaults.PAPER_SIZES, default=defaults.PAPER,
                         help="PDF paper size (default: a4)")
    convert.add_argument("--max-bytes", type=_positive, default=defaults.MAX_BYTES, metavar="N",
                         help=f"refuse inputs larger than N bytes (default: {defaults.MAX_BYTES})")
    convert.add_argument("--styles", type=Path, default=defaults.STYLES_DIR, metavar="DIR",
                         help="folder with print.css, epub.css, reference.docx (default: the bundled styles)")
    convert.add_argument("--validate", action="store_true",
                         help="run EPUBCheck on every EPUB before writing it (needs Java)")
    convert.add_argument("--json", action="store_true", help="one JSON object per input on stdout")

    archive = commands.add_parser("archive", help="build the archive of a seeds folder, incrementally")
    archive.add_argument("seeds", nargs="?", type=Path, default=Path("seeds"), metavar="SEEDS_DIR",
                         help="folder of *.txt seeds (default: ./seeds)")
    archive.add_argument("--dist", type=Path, default=Path("dist"), metavar="DIR",
                         help="archive folder (default: ./dist)")
    archive.add_argument("--jobs", type=_positive, default=None, metavar="N",
                         help="worker processes (default: one per core)")
    archive.add_argument("--max-bytes", type=_positive, default=defaults.MAX_BYTES, metavar="N",
                         help=f"refuse seeds larger than N bytes (default: {defaults.MAX_BYTES})")
    archive.add_argument("--styles", type=Path, default=defaults.STYLES_DIR, metavar="DIR",
                         help="folder with print.css, epub.css, reference.docx (default: the bundled styles)")
    archive.add_argument("--timeout", type=_positive, default=defaults.SEED_TIMEOUT, metavar="SECONDS",
                         help=f"time one seed may take (default: {defaults.SEED_TIMEOUT})")
    archive.add_argument("--memory", type=_positive, default=defaults.WORKER_MEMORY // 2**20, metavar="MIB",
                         help=f"address space one worker may use (default: {defaults.WORKER_MEMORY // 2**20})")
    archive.add_argument("--validate", action="store_true",
                         help="run EPUBCheck on every EPUB before publishing it (needs Java)")
    archive.add_argument("--json", action="store_true", help="one JSON object per seed on stdout")

    verify = commands.add_parser("verify", help="re-hash every archived file against the catalog")
    verify.add_argument("--dist", type=Path, default=Path("dist"), metavar="DIR")
    verify.add_argument("--json", action="store_true", help="the problems as JSON on stdout")

    serve = commands.add_parser("serve", help="serve the archive folder read-only over HTTP")
    serve.add_argument("--dist", type=Path, default=Path("dist"), metavar="DIR")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000)
    return main


def _say_error(message: str) -> None:
    print(f"seedpress: {message}", file=sys.stderr, flush=True)


def _report(outcomes: Iterable, *, as_json: bool, total: int, label: str) -> int:
    """Print each outcome as it comes (JSON lines or a short line), errors on stderr; exit code."""
    failed = 0
    with _progress(total, label, enabled=not as_json) as advance:
        for outcome in outcomes:
            if as_json:
                print(json.dumps(outcome.as_json(), ensure_ascii=False), flush=True)
            if not outcome.ok:
                failed += 1
                _say_error(outcome.error)
            elif not as_json:
                editions = ", ".join(sorted(outcome.files))
                folder = Path(next(iter(outcome.files.values()))).parent if outcome.files else ""
                print(f"{outcome.input} -> {folder}/ ({editions})", flush=True)
            advance()
    return EXIT_FAILED if failed else EXIT_OK


class _progress:
    """A rich progress bar on a terminal for runs of more than one item; silent otherwise."""

    def __init__(self, total: int, label: str, *, enabled: bool):
        self.wanted, self.total, self.label = enabled, total, label
        self.active = False

    def __enter__(self) -> Callable[[], None]:
        self.active = self.wanted and self.total > 1 and sys.stderr.isatty()
        if not self.active:
            return lambda: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.bar = Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=Console(stderr=True), transient=True,
        )
        self.bar.start()
        task = self.bar.add_task(self.label, total=self.total)
        return lambda: self.bar.advance(task)

    def __exit__(self, *exc) -> None:
        if self.active:
            self.bar.stop()
            self.active = False


def _styles(folder: Path) -> Path:
    missing = [name for name in ("print.css", "epub.css", "reference.docx") if not (folder / name).is_file()]
    if missing:
        raise ConfigError(f"{folder}: not a styles folder (missing {', '.join(missing)})")
    return folder


def run_convert(arguments: argparse.Namespace) -> int:
    from .build import convert_paths, expand_inputs

    total = sum(1 for _ in expand_inputs(arguments.paths))
    outcomes = convert_paths(
        arguments.paths, arguments.out, formats=arguments.to,
        max_bytes=arguments.max_bytes, paper=arguments.paper, styles=_styles(arguments.styles),
        validate=arguments.validate,
    )
    return _report(outcomes, as_json=arguments.json, total=total, label="converting")


def run_archive(arguments: argparse.Namespace) -> int:
    from .archive import JobOptions, archive

    bar = _progress(0, "archiving", enabled=not arguments.json)
    advance = lambda: None  # noqa: E731  (replaced once the plan says how many seeds to build)

    def on_plan(count: int) -> None:
        nonlocal advance
        bar.total = count
        advance = bar.__enter__()

    def on_result(result) -> None:
        if arguments.json:
            print(json.dumps(result.as_json(), ensure_ascii=False), flush=True)
        if not result.ok:
            _say_error(result.error)
        advance()

    try:
        options = JobOptions(
            jobs=arguments.jobs, max_bytes=arguments.max_bytes, styles=_styles(arguments.styles),
            validate=arguments.validate, seed_timeout=arguments.timeout,
            worker_memory=arguments.memory * 2**20,
        )
        summary = archive(arguments.seeds, arguments.dist, options, on_result=on_result, on_plan=on_plan)
    finally:
        bar.__exit__(None, None, None)
    if arguments.json:
        print(json.dumps({"summary": {
            "built": summary.built, "unchanged": summary.unchanged, "failed": summary.failed,
            "withdrawn": summary.withdrawn, "seconds": round(summary.seconds, 3)}}), flush=True)
    else:
        print(f"{arguments.dist}: {summary.line()}", flush=True)
    return EXIT_FAILED if summary.failed else EXIT_OK


def run_verify(arguments: argparse.Namespace) -> int:
    from .archive import verify_archive

    problems = verify_archive(arguments.dist)
    if arguments.json:
        print(json.dumps({"dist": str(arguments.dist), "problems": problems}, ensure_ascii=False))
    for problem in problems:
        _say_error(problem)
    if not problems and not arguments.json:
        print(f"{arguments.dist}: every file matches the catalog and SHA256SUMS")
    return EXIT_FAILED if problems else EXIT_OK


def run_serve(arguments: argparse.Namespace) -> int:
    from .serve import serve

    serve(arguments.dist, host=arguments.host, port=arguments.port)
    return EXIT_OK


COMMANDS = {"convert": run_convert, "archive": run_archive, "verify": run_verify, "serve": run_serve}


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    try:
        return COMMANDS[arguments.command](arguments)
    except LockedError as error:
        _say_error(str(error))
        return EXIT_LOCKED
    except ConfigError as error:
        _say_error(str(error))
        return EXIT_USAGE
    except SeedpressError as error:
        _say_error(str(error))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _say_error("interrupted")
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`| head`): nothing more to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as error:  # a bug: still one line, the traceback only on request
        if os.environ.get("SEEDPRESS_DEBUG"):
            raise
        _say_error(f"internal error: {type(error).__name__}: {error} (set SEEDPRESS_DEBUG=1 for a traceback)")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
