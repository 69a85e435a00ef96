"""The static search's cost per new title (issue 23), beside the old full re-index.

    .venv/bin/python bench/sitesearch.py [--titles 10000 100000] [--browser]

For each archive size, landing pages are written for a synthetic catalog (a few dozen
pages rendered by landing.py from parsed seeds, copied under each title's key with a word
of its own; no edition is rendered), and the hand-out is written from entries made the
way the catalog gives them. Then, with the archive job's own sitesearch.refresh_bundle
(Pagefind and fsync included):

- the first index of every title (one index per full page of 100, one for the open page);
- one new title that starts a new page (its full page is indexed once, then the open page):
  the worst case of one title, met once every 100;
- one new title on the open page: the other 99 in 100;
- the baseline: the code before issue 23, one Pagefind run over every landing page into a
  new bundle, fsynced, as each new title cost.

With --browser, a headless Chromium searches the hand-out over Python's http.server and the
time from Enter to the list is given, for a word of the oldest page (every full page's
index is merged first) and again warm. Prints the machine's load average, since the
figures depend on it. Not run by `make test`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from convert.document.seed import parse_seed  # noqa: E402
from convert.editions.landing import landing_page  # noqa: E402
from convert.files import fsync_tree  # noqa: E402
from convert.layout import BUNDLE_NAME, BUNDLE_PAGES_NAME, LANDING_EDITION, LANDING_GLOB  # noqa: E402
from convert.publish.entries import Edition, Entry  # noqa: E402
from convert.publish.handout import write_handout  # noqa: E402
from convert.publish.sitesearch import pagefind_executable, refresh_bundle  # noqa: E402

WORDS = ("council budget river school library tram ferry bridge harvest storm election museum clinic "
         "port market festival drought archive railway vote coast valley energy housing").split()
#: Distinct landing pages rendered; every title is one of them under its own key and word.
TEMPLATES = 40
TEMPLATE_KEY, TEMPLATE_WORD = "templatekey", "templateword"
START = datetime(2020, 1, 1, tzinfo=UTC)


def unique_word(number: int) -> str:
    return "zq" + "".join("abcdefghij"[int(digit)] for digit in f"{number:06d}") + "x"


def templates(rng: random.Random) -> list[bytes]:
    pages = []
    for _ in range(TEMPLATES):
        title = " ".join(rng.choice(WORDS).capitalize() for _ in range(rng.randint(5, 12)))
        summary = "\n\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 90))).capitalize() + "."
                              for _ in range(3))
        commentary = " ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 140))).capitalize()
        seed = f"{title}\n\n{summary}\n\nRead the original article here\n\n{commentary} {TEMPLATE_WORD}.\n".encode()
        pages.append(landing_page(parse_seed(seed, f"{TEMPLATE_KEY}.txt", lang="en"), TEMPLATE_KEY, {},
                                  datetime(2026, 1, 1, tzinfo=UTC)))
    return pages


def add_title(dist: Path, number: int, pages: list[bytes]) -> Entry:
    key = f"article-{number:06d}"
    page = (pages[number % len(pages)].replace(TEMPLATE_KEY.encode(), key.encode())
            .replace(TEMPLATE_WORD.encode(), unique_word(number).encode()))
    (dist / key).mkdir()
    (dist / key / "index.html").write_bytes(page)
    landing = Edition(LANDING_EDITION, f"{key}/index.html", len(page), hashlib.sha256(page).hexdigest())
    return Entry(key=key, title=f"Article {number}", identifier=f"urn:sha256:{hashlib.sha256(key.encode()).hexdigest()}",
                 summary=f"About {unique_word(number)}.", date=START + timedelta(minutes=7 * number), editions=(landing,))


def landing(entries: list[Entry]) -> list[tuple[str, str]]:
    return [(edition.path, edition.sha256) for entry in entries for edition in entry.editions]


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def full_reindex(dist: Path) -> None:
    """The baseline, as sitesearch did it before issue 23: Pagefind over every landing page
    into a new bundle, fsynced (the swap itself costs nothing to speak of)."""
    output = dist / ".baseline-bundle"
    shutil.rmtree(output, ignore_errors=True)
    subprocess.run([str(pagefind_executable()), "--site", str(dist), "--glob", LANDING_GLOB, "--keep-index-url",
                    "--output-path", str(output), "--silent"], cwd=dist, check=True, stdin=subprocess.DEVNULL)
    fsync_tree(output)
    shutil.rmtree(output)


def search_files(dist: Path) -> dict[str, tuple[int, int]]:
    return {str(path): (path.stat().st_ino, path.stat().st_mtime_ns)
            for folder in (BUNDLE_NAME, BUNDLE_PAGES_NAME) for path in (dist / folder).rglob("*") if path.is_file()}


def changed_files(before: dict, after: dict) -> int:
    return sum(1 for path in before.keys() | after.keys() if before.get(path) != after.get(path))


def browser_search(dist: Path, query: str) -> tuple[float, float, int]:
    """Seconds from Enter to the list in Chromium, cold (first search) and warm; results."""
    from playwright.sync_api import expect, sync_playwright

    server = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0",
                               "--directory", str(dist)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready, _, _ = select.select([server.stdout], [], [], 120)
        assert ready, "http.server did not start"
        base = f"http://127.0.0.1:{re.search(r' port ([0-9]+) ', server.stdout.readline())[1]}"
        with sync_playwright() as playwright:
            # Debian's Chromium, as the tests drive it (no browser download).
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or shutil.which("chromium-browser"),
                                                 args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            try:
                page = browser.new_page()
                page.goto(f"{base}/index.html")
                expect(page.locator("#search[data-ready=true]")).to_be_attached(timeout=300_000)
                times = []
                for attempt in (query, query.upper()):
                    page.fill("#search-query", attempt)
                    started = time.perf_counter()
                    page.press("#search-query", "Enter")
                    expect(page.locator("#search-results h2")).to_contain_text(attempt, timeout=300_000)
                    times.append(time.perf_counter() - started)
                found = page.locator("#search-results li").count()
            finally:
                browser.close()
    finally:
        server.kill()
        server.communicate()
    return times[0], times[1], found


def bench(count: int, with_browser: bool) -> None:
    rng = random.Random(3)
    pages = templates(rng)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as folder:
        dist = Path(folder) / "dist"
        dist.mkdir()
        made, entries = timed(lambda: [add_title(dist, number, pages) for number in range(count)])
        handout, _ = timed(lambda: write_handout(dist, entries))
        first, _ = timed(lambda: refresh_bundle(dist, landing(entries)))
        before = search_files(dist)
        entries.append(add_title(dist, count, pages))
        filling, _ = timed(lambda: refresh_bundle(dist, landing(entries)))
        between = search_files(dist)
        entries.append(add_title(dist, count + 1, pages))
        typical, _ = timed(lambda: refresh_bundle(dist, landing(entries)))
        after = search_files(dist)
        baseline, _ = timed(lambda: full_reindex(dist))
        indexes = sum(1 for _ in (dist / BUNDLE_PAGES_NAME).iterdir())
        size = sum(path.stat().st_size for folder in (BUNDLE_NAME, BUNDLE_PAGES_NAME)
                   for path in (dist / folder).rglob("*") if path.is_file())
        if with_browser:
            write_handout(dist, entries)
            cold, warm, found = browser_search(dist, unique_word(3))
    print(f"\nstatic search at {count:,} titles ({made:.0f} s to write the landing pages, {handout:.0f} s the hand-out)")
    print(f"{'':44}{'per page (now)':>16}{'full re-index (before)':>24}")
    print(f"{'first index of every title':44}{first:14.1f} s{baseline:22.1f} s")
    print(f"{'one new title, the one that starts a page':44}{filling:14.2f} s{baseline:22.1f} s"
          f"   ({changed_files(before, between)} files written)")
    print(f"{'one new title, the 99 others in 100':44}{typical:14.2f} s{baseline:22.1f} s"
          f"   ({changed_files(between, after)} files written)")
    print(f"indexes: {indexes} full pages + the open page, {size / 1e6:.0f} MB")
    if with_browser:
        print(f"Chromium, first search (merges {indexes} page indexes): {cold:.1f} s; next search {warm:.2f} s; "
              f"{found} found")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--titles", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--browser", action="store_true", help="also time a search in headless Chromium")
    arguments = parser.parse_args()
    print(f"load average {' '.join(f'{value:.2f}' for value in os.getloadavg())} on {os.cpu_count()} cores")
    for count in arguments.titles:
        bench(count, arguments.browser)
    print(f"\nload average {' '.join(f'{value:.2f}' for value in os.getloadavg())}")


if __name__ == "__main__":
    main()
