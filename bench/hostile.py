"""Cost of pathological seeds at 25, 50 and 100 KB (issue 15, findings 1 and 6).

    .venv/bin/python bench/hostile.py [--sizes 25,50,100] [--kinds summary,title,url,paragraph]
                                      [--steps first_sentence,master,pdf,epub,docx] [--timeout 120]

For each kind of hostile seed ("a. B " repeated as the summary; one unbroken
title; one unbroken URL in the marker; one unbroken paragraph) and each size,
prints the seconds first_sentence, the Markdown master and each edition's
render_bytes take, the growth per doubling of the input (about 2 is linear,
about 4 quadratic), and the figure issue 15 measured before the fix. A step
that runs past --timeout is stopped and shown as "> N" (and not tried at
larger sizes). Not run by `make test`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from convert.document.master import to_markdown  # noqa: E402
from convert.document.model import first_sentence  # noqa: E402
from convert.document.seed import parse_seed  # noqa: E402
from convert.editions import Settings, docx, epub, pdf  # noqa: E402

#: What issue 15 measured before the fix: (kind, step) -> text.
ISSUE_BASELINES = {
    ("summary", "first_sentence"): "80 KB: 16.8 s",
    ("title", "pdf"): "20 KB: 9.1 s, 100 KB: > 60 s",
    ("url", "pdf"): "100 KB: 48.8 s",
}
STEPS = ("first_sentence", "master", "pdf", "epub", "docx")
KINDS = ("summary", "title", "url", "paragraph")
MARKER = "Read the original article here"


def unbroken(size: int) -> str:
    """`size` characters with no space and no line-break opportunity: letters only."""
    return ("abcdefghijklmnopqrstuvwxyz" * (size // 26 + 1))[:size]


def seed(kind: str, size: int) -> bytes:
    """A seed whose `kind` part is about `size` characters long."""
    summary, title, marker, commentary = "The summary.", "Hostile seed", MARKER, "The commentary."
    if kind == "summary":
        summary = ("a. B " * (size // 5)).strip()
    elif kind == "title":
        title = unbroken(size)
    elif kind == "url":
        marker = f"{MARKER}: https://example.org/{unbroken(size - len('https://example.org/'))}"
    elif kind == "paragraph":
        summary = unbroken(size)
    return f"{title}\n\n{summary}\n\n{marker}\n\n{commentary}\n".encode()


class Overtime(BaseException):
    """Raised by the alarm: a BaseException, so render_bytes does not turn it into a RenderError."""


def _alarm(_signal, _frame):
    raise Overtime


def timed(action, timeout: float) -> float | None:
    """Seconds `action` took, or None if it ran past `timeout`."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    started = time.perf_counter()
    try:
        action()
    except Overtime:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return time.perf_counter() - started


def step_action(step: str, document, settings: Settings):
    if step == "first_sentence":
        return lambda: first_sentence(document.summary[0])
    if step == "master":
        return lambda: to_markdown(document)
    renderer = {"pdf": pdf, "epub": epub, "docx": docx}[step].render_bytes
    return lambda: renderer(document, settings)


def seconds_text(seconds: float | None, timeout: float) -> str:
    if seconds is None:
        return f"> {timeout:.0f}"
    return f"{seconds:.3f}" if seconds >= 0.01 else f"{seconds:.6f}"


def growth_text(smaller: float | None, larger: float | None) -> str:
    # Below a millisecond the ratio is the clock's noise, not the growth.
    if smaller is None or larger is None or smaller < 0.001:
        return "-"
    return f"{larger / smaller:.1f}x"


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--sizes", default="25,50,100", help="KB (1000 characters), comma-separated")
    options.add_argument("--kinds", default=",".join(KINDS))
    options.add_argument("--steps", default=",".join(STEPS))
    options.add_argument("--timeout", type=float, default=120.0, help="seconds before a step is stopped")
    arguments = options.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",")]
    settings = Settings()
    # Warm up: WeasyPrint's import and fonts, pandoc's process, the cover's fonts.
    warm = parse_seed(seed("title", 10), "warm.txt")
    for step in STEPS:
        step_action(step, warm, settings)()
    header = f"{'kind':<10} {'step':<15}" + "".join(f"{f'{size} KB':>10}" for size in sizes)
    header += "".join(f"{f'x{b}/{a}':>10}" for a, b in zip(sizes, sizes[1:])) + "   issue 15 before the fix"
    print(header)
    for kind in arguments.kinds.split(","):
        documents = {size: parse_seed(seed(kind, size * 1000), f"{kind}.txt") for size in sizes}
        for step in arguments.steps.split(","):
            figures: dict[int, float | None] = {}
            for size in sizes:
                # Past the timeout at one size, it is past it at a larger one too.
                overtime = any(figures[smaller] is None for smaller in figures)
                figures[size] = None if overtime else timed(
                    step_action(step, documents[size], settings), arguments.timeout)
            row = f"{kind:<10} {step:<15}" + "".join(
                f"{seconds_text(figures[size], arguments.timeout):>10}" for size in sizes)
            row += "".join(f"{growth_text(figures[a], figures[b]):>10}" for a, b in zip(sizes, sizes[1:]))
            print(row + "   " + ISSUE_BASELINES.get((kind, step), ""), flush=True)


if __name__ == "__main__":
    main()
