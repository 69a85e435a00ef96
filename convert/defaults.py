"""Defaults shared by the library and the command line, defined once."""

from __future__ import annotations

import os
from pathlib import Path

from convert.layout import BIBTEX_EDITION, COVER_EDITION, CSL_EDITION, LANDING_EDITION, THUMBNAIL_EDITION

#: Seeds larger than this are refused (DESIGN §1); `--max-bytes` changes it.
MAX_BYTES = 10 * 1024 * 1024
#: Every edition `convert` writes unless `--to` says otherwise, in this order.
FORMATS = ("md", "pdf", "epub", "docx")
#: What a seed's and a master's file names end with (a seeds folder's inputs).
SEED_SUFFIXES = (".txt",)
MASTER_SUFFIXES = (".md", ".markdown")
#: The archive keeps each seed's own bytes beside its editions, under this suffix.
SEED_COPY = "txt"
#: Every seed in an archive has exactly these files.
ARCHIVED_EDITIONS = FORMATS + (SEED_COPY,)
#: The images the archive draws for each title: the cover, and the thumbnail of lists.
IMAGE_EDITIONS = (COVER_EDITION, THUMBNAIL_EDITION)
#: The citation files the archive writes for each title: BibTeX and CSL-JSON.
CITATION_EDITIONS = (BIBTEX_EDITION, CSL_EDITION)
#: What an archive build writes beside the formats: the seed, the images, the citations,
#: the landing page.
ARCHIVE_EXTRAS = (SEED_COPY, *IMAGE_EDITIONS, *CITATION_EDITIONS, LANDING_EDITION)
CATALOGUED_EDITIONS = ARCHIVED_EDITIONS + IMAGE_EDITIONS + CITATION_EDITIONS + (LANDING_EDITION,)
#: Paper sizes the PDF edition knows.
PAPER_SIZES = ("a4", "letter")
PAPER = "a4"
#: Seconds one pandoc call may take before it is stopped.
PANDOC_TIMEOUT = 60
#: Heap limit handed to pandoc's runtime.
PANDOC_HEAP = "512m"
#: The long-lived pandoc writer's allocation area (GHC's -A; 4 MB by default, widened to the
#: 64 MB of pandoc's -H while the heap is small). A DOCX allocates some 26 MB: with 64 MB
#: kept, pandoc collects once every few documents rather than several times in each,
#: some 7 % of its time per seed (paired runs) for a few MB more of its memory.
PANDOC_ALLOCATION_AREA = "64m"
#: The writer's heap limit: GHC counts the allocation area in -M, so PANDOC_HEAP plus it
#: leaves the writer's documents the room they had.
PANDOC_WRITER_HEAP = "576m"
#: Seconds a long-lived child (the pandoc writer) gets to exit by itself, once its
#: input ends, before it is killed.
CHILD_EXIT_GRACE = 2
#: Seconds EPUBCheck may take over one EPUB (`--validate`).
EPUBCHECK_TIMEOUT = 120
#: Seconds one input may take, all editions together (`--timeout`, convert and archive).
TIME_LIMIT = 300
#: Address space (bytes) a process building inputs may use (`--memory`, convert and archive).
MEMORY_LIMIT = 3 * 1024 * 1024 * 1024
#: Seconds past a seed's time limit after which the worker or renderer holding it is
#: killed: its own alarm fires at the limit unless C code keeps Python from running.
HARD_TIMEOUT_MARGIN = 30
#: Seconds a worker may take to start (import WeasyPrint, find pandoc) before it is
#: taken for stuck, and a renderer before it is given up.
WORKER_START_TIMEOUT = 120
#: Seeds an archive worker renders before it is replaced, to keep memory flat.
WORKER_TASKS = 100
#: A seed whose worker (a pool worker, a cluster renderer) dies this many times while
#: building it fails (a "crash"); each death before costs it one retry.
WORKER_DEATHS = 2
#: The environment variable that names a Dask scheduler for `archive` when --cluster does not.
CLUSTER_VARIABLE = "SEEDPRESS_CLUSTER"
#: The environment variable that gives `convert` and `archive` their --jobs when the command
#: line does not (a machine shared with other work, a CI runner, a systemd unit).
JOBS_VARIABLE = "SEEDPRESS_JOBS"
#: Seconds to reach a Dask scheduler, and to wait for its first worker.
CLUSTER_CONNECT_TIMEOUT = 30
#: Seconds a cluster run waits with no worker able to render before it stops, and for
#: word of a task the scheduler says has ended (seedpress.toml's [cluster] grace).
CLUSTER_GRACE = 60
#: Seconds past a seed's time limit that the driver waits for a worker's answer before it
#: gives the seed up: the worker's own bound (a renderer's start, the hard kill) and the
#: answer's way back (seedpress.toml's [cluster] answer_margin).
CLUSTER_ANSWER_MARGIN = 180
#: Where `convert` writes, `archive` reads seeds and writes the archive, and
#: `verify`, `serve` look, unless told otherwise.
OUT_DIR = Path("out")
SEEDS_DIR = Path("seeds")
DIST_DIR = Path("dist")
#: An archive run that would withdraw more than this share of the titles the archive holds
#: (or every one of them) withdraws nothing, unless told --allow-mass-withdraw.
MASS_WITHDRAW_SHARE = 0.5
#: Seconds a process waits for another one writing the catalog (verify records its run
#: while an archive run may be committing a seed) before it gives up.
CATALOG_BUSY_TIMEOUT = 30
#: The archive's title: index.html's, opds.xml's and a bag's (bag-info.txt
#: External-Description), unless seedpress.toml's [archive] gives one.
ARCHIVE_TITLE = "seedpress archive"
#: The language of the index page's own words when seedpress.toml's [archive] lang is not set.
ARCHIVE_LANGUAGE = "en"
#: Where `serve` listens: loopback only unless told otherwise.
SERVE_HOST = "127.0.0.1"
SERVE_PORT = 8000
#: Seconds a `seedpress serve` client has to send a request's headers, counted from when it
#: connects or gets its previous answer; a connection that takes longer is closed.
SERVE_HEADER_TIMEOUT = 10
#: The longest search query answered, in characters; a longer one is refused (400), and
#: the index page's search box takes no more.
MAX_QUERY_LENGTH = 1000
#: Seconds one search may run in `seedpress serve` before it is stopped (503).
SEARCH_TIME_LIMIT = 5
#: Seconds a `seedpress serve` answer may wait for its client to take the next piece of a body
#: (a client that stops reading); the connection and the file are then closed.
SERVE_SEND_TIMEOUT = 60
#: Worker threads `seedpress serve` reads files with; searches never take one of them.
SERVE_READ_THREADS = 40
#: Seconds a search waits for one of serve's search slots (`search_slots`, one per core unless
#: told otherwise) before it is answered 503.
SEARCH_QUEUE_TIMEOUT = 10
#: Seconds a 503 of `seedpress serve` asks its client to wait before trying again (Retry-After).
SERVE_RETRY_AFTER = 5
#: The most prefix searches (`*`) and the most words one search query may hold: each prefix
#: reads every indexed word it begins, so their cost grows with the catalog, not the query's length.
MAX_QUERY_PREFIXES = 4
MAX_QUERY_WORDS = 32
#: Words of a plain-text search that may be a beginning (`word*`): a prefix reads every indexed
#: word it begins, so that a query of many short ones would run for seconds; the `*` of any
#: further word is left out (it matches as a whole word).
PLAIN_QUERY_PREFIXES = 4
#: Seconds one Pagefind run may take: the landing pages of one hand-out page (at most 100).
PAGEFIND_TIME_LIMIT = 600
#: Pagefind runs at once while the static search indexes full hand-out pages (sitesearch.py).
PAGEFIND_RUNS_AT_ONCE = 4
#: Seconds a stopped run (SIGTERM, Ctrl-C) waits for the Pagefind runs it killed to be
#: cleaned up after (their half-made indexes removed) before it goes on to its end.
PAGEFIND_STOP_WAIT = 15.0
#: The folder of stylesheets, fonts and the DOCX reference document: inside the
#: package when installed from a wheel, beside it in a checkout.
_PACKAGED_STYLES = Path(__file__).resolve().parent / "_styles"
STYLES_DIR = (
    _PACKAGED_STYLES if _PACKAGED_STYLES.is_dir()
    else Path(__file__).resolve().parent.parent / "styles"
)
#: The folder, under $XDG_CACHE_HOME (else ~/.cache), of what seedpress keeps between
#: runs to save work: the fonts digest, keyed by the font folders' state.
CACHE_FOLDER = "seedpress"
#: The minimum versions seedpress works with.
MIN_PANDOC = (3, 1)
MIN_WEASYPRINT = (70, 0)


def is_input_name(name: str) -> bool:
    """Whether a file named `name` is a seed or a master: its suffix in any case, so that
    `NOTE.TXT` (as Windows tools write names) is a seed as `note.txt` is."""
    return name.lower().endswith(SEED_SUFFIXES + MASTER_SUFFIXES)


def is_master_name(name: str) -> bool:
    """Whether a file named `name` is a Markdown master rather than a seed (is_input_name's rule)."""
    return name.lower().endswith(MASTER_SUFFIXES)


def default_jobs() -> int:
    """One archive worker per core this process may run on."""
    return max(1, len(os.sched_getaffinity(0)))

#: Large enough for a reading system's library view, small enough to encode in a few
#: hundredths of a second: PNG encoding is most of what drawing the cover costs.
COVER_SIZE = (1000, 1500)
#: The thumbnail lists show (the index, an e-reader's catalog): the cover scaled down,
#: sharp at 80 px wide on a screen of twice the density.
THUMBNAIL_SIZE = (160, 240)

#: Who answers searches of the archive (seedpress.toml's `[archive] search`): only the Pagefind
#: bundle in the browser ("static"), or also `seedpress serve` at the archive's address ("server").
STATIC_SEARCH, SERVER_SEARCH = "static", "server"
