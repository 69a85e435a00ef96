"""The forkserver's preload: what every archive worker needs, loaded once a run.

The pool's workers fork from a server process that imported this module
(multiprocessing's forkserver, runners/pool.py). Importing it loads seedpress's
build, WeasyPrint, Pillow, pikepdf and python-docx, finds pandoc, loads the language
model and renders one whole title but its pandoc editions (its PDF and gate, cover
and landing page), so that every worker forked after starts where a spawned worker
was after its first seed: half a second of CPU, paid once a run instead of once a
worker (a run replaces its workers every WORKER_TASKS seeds).

It must leave the server single-threaded (a fork copies one thread) and must never
raise: a forkserver whose preload fails serves no worker, so any failure here only
leaves the workers to warm up themselves.
"""

from __future__ import annotations

import os

from convert.process import quiet_stderr, set_up_for_rendering
from convert.runners.server import FEW_SEEDS_VARIABLE

#: The server's pid: its workers die with it (pool._worker_init), and it exits with the run.
SERVER_PID = os.getpid()

#: A seed drawn on a cover to warm up: Latin letters, as most titles are.
WARM_SEED = b"A warm title\n\nA summary.\n\nRead the original article here\n\nA comment.\n"


def _warm() -> None:
    """Each step on its own: a run that needs no pandoc (`--to pdf`) may have none."""
    from datetime import UTC, datetime
    from importlib import import_module

    from convert import defaults
    from convert.build.input import BuildOptions, render_document, warm_up
    from convert.document import language
    from convert.document.seed import parse_seed
    from convert.editions import docx, gates, pdf  # noqa: F401
    from convert.runners import pool  # noqa: F401 (what a worker unpickles its tasks into)

    warm_date = datetime(2000, 1, 1, tzinfo=UTC)
    steps = (
        ("weasyprint", lambda: pdf.load_weasyprint().HTML(string="<p>warm</p>").write_pdf()),
        ("language model", lambda: language.detect("A sentence in English, so that the model is loaded.")),
        ("pandoc", lambda: warm_up(defaults.FORMATS)),
        # A whole title but its pandoc editions, with the default styles: what a worker's
        # first seed paid besides (200 ms: the stylesheet, the fonts' dictionaries, cffi's
        # types, the PDF gate's pikepdf, the cover, the landing page). No pandoc is started
        # here: its pipes would be shared by every worker forked after. Not for a run whose
        # workers build one seed each (server.few_seeds_to_build): theirs is the first.
        ("warm title", lambda: render_document(parse_seed(WARM_SEED, "warm.txt"), WARM_SEED, "warm",
                                               BuildOptions(formats=("pdf", "md"), keep_seed=True), warm_date)),
        ("docx", lambda: import_module("docx")),  # the DOCX gate's
    )
    for name, step in steps:
        if name == "warm title" and _few_seeds():
            continue
        try:
            step()
            DONE.append(name)
        except Exception:  # noqa: BLE001, S110 (see the module's docstring)
            pass


#: The steps of the warm-up done, in order: for the tests.
DONE: list[str] = []
#: The file whose presence says the run builds one seed a worker (server.few_seeds_to_build).
_FEW_SEEDS_FILE = os.environ.pop(FEW_SEEDS_VARIABLE, None)


def _few_seeds() -> bool:
    """Whether the run said it builds one seed a worker; the word is taken (the file removed)."""
    if not _FEW_SEEDS_FILE:
        return False
    try:
        os.unlink(_FEW_SEEDS_FILE)
    except OSError:
        return False
    return True


def _let_go_of_output() -> None:
    """stdout to /dev/null, and stderr unless SEEDPRESS_DEBUG (process.quiet_stderr): the
    workers report through pipes, and whoever reads the run's output (cron's mail, a
    pipe) must not wait for a server that outlives the run by the rest of its warm-up."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    quiet_stderr()


try:
    set_up_for_rendering()  # before the warm-up's threads, whose stacks and arenas the forks inherit
    _let_go_of_output()
    _warm()
except Exception:  # noqa: BLE001, S110 (see the docstring: the workers warm up themselves)
    pass
