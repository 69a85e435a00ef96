"""Defaults shared by the library and the command line, defined once."""

from __future__ import annotations

import os
from pathlib import Path

#: Seeds larger than this are refused (DESIGN §1); `--max-bytes` changes it.
MAX_BYTES = 10 * 1024 * 1024
#: Every edition `convert` writes unless `--to` says otherwise, in this order.
FORMATS = ("md", "pdf", "epub", "docx")
#: Paper sizes the PDF edition knows.
PAPER_SIZES = ("a4", "letter")
PAPER = "a4"
#: Seconds one pandoc call may take before it is stopped.
PANDOC_TIMEOUT = 60
#: Heap limit handed to pandoc's runtime.
PANDOC_HEAP = "512m"
#: Seconds one seed may take in an archive worker, all editions together.
SEED_TIMEOUT = 300
#: Address space one archive worker may use (bytes).
WORKER_MEMORY = 3 * 1024 * 1024 * 1024
#: Seeds an archive worker renders before it is replaced, to keep memory flat.
WORKER_TASKS = 100
#: Seconds a `seedpress serve` client has to send a request's headers, counted from when it
#: connects or gets its previous answer; a connection that takes longer is closed.
SERVE_HEADER_TIMEOUT = 10
#: The folder of stylesheets, fonts and the DOCX reference document: inside the
#: package when installed from a wheel, beside it in a checkout.
_PACKAGED_STYLES = Path(__file__).resolve().parent / "_styles"
STYLES_DIR = (
    _PACKAGED_STYLES if _PACKAGED_STYLES.is_dir()
    else Path(__file__).resolve().parent.parent / "styles"
)
#: The minimum versions seedpress works with.
MIN_PANDOC = (3, 1)
MIN_WEASYPRINT = (70, 0)


def default_jobs() -> int:
    """One archive worker per core this process may run on."""
    return max(1, len(os.sched_getaffinity(0)))
