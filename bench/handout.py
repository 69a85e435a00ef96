"""The hand-out at 10,000 seeds (issue 13): full write, one new seed, page sizes, and
the Pagefind index of the landing pages.

    .venv/bin/python bench/handout.py [--seeds 10000] [--no-pagefind]

Entries are made the way the catalog gives them (real-looking titles and
summaries, two to six files each), so only handout.py is measured: a full
write of every page, an unchanged rerun, and the rerun after one new seed.
Prints each figure beside the issue's target. For Pagefind, real landing pages are
written (landing.py, from seeds parsed by seed.py; edition bytes are stand-ins) and
the archive job's own sitesearch.refresh_bundle indexes them (fsync included), then
does nothing for the same pages, then indexes the open page again with one seed added
(bench/sitesearch.py compares that with the full re-index it replaced).
Not run by `make test`.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from convert.publish.entries import Edition, Entry
from convert.publish.handout import write_handout  # noqa: E402

WORDS = ("council budget river school library tram ferry bridge harvest storm election museum clinic "
         "port market festival drought archive railway vote coast valley energy housing").split()


def make_entries(count: int, rng: random.Random) -> list[Entry]:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    entries = []
    for number in range(count):
        key = f"article-{number:06d}"
        title = " ".join(rng.choice(WORDS).capitalize() for _ in range(rng.randint(5, 12)))
        summary = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 45))).capitalize() + "."
        editions = tuple(
            Edition(name, f"{key}/{key}.{name}" if name != "html" else f"{key}/index.html",
                    rng.randint(2_000, 900_000), hashlib.sha256(f"{key}{name}".encode()).hexdigest())
            for name in ("md", "pdf", "epub", "docx", "txt", "html"))
        entries.append(Entry(key=key, title=title, identifier=f"urn:sha256:{hashlib.sha256(key.encode()).hexdigest()}",
                             summary=summary, date=start + timedelta(minutes=7 * number), editions=editions,
                             author="Jane Doe", publisher="Example Press", rights="CC BY 4.0",
                             license_url="https://creativecommons.org/licenses/by/4.0/"))
    return entries


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def write_landing_pages(dist: Path, count: int, rng: random.Random) -> None:
    from convert.document.seed import parse_seed
    from convert.editions.landing import landing_page

    created = datetime(2026, 1, 1, tzinfo=UTC)
    for number in range(count):
        key = f"article-{number:06d}"
        title = " ".join(rng.choice(WORDS).capitalize() for _ in range(rng.randint(5, 12)))
        summary = "\n\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 90))).capitalize() + "."
                              for _ in range(3))
        commentary = " ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 140))).capitalize() + "."
        seed = f"{title}\n\n{summary}\n\nRead the original article here\n\n{commentary}\n".encode()
        document = parse_seed(seed, f"{key}.txt", lang="en")
        files = {name: b"x" * 1000 for name in ("md", "pdf", "epub", "docx")} | {"txt": seed}
        (dist / key).mkdir()
        (dist / key / "index.html").write_bytes(landing_page(document, key, files, created))


def bench_pagefind(count: int) -> None:
    from convert.layout import BUNDLE_NAME, BUNDLE_PAGES_NAME
    from convert.publish.sitesearch import refresh_bundle

    def landing_pages(dist: Path) -> list[tuple[str, str]]:
        # Oldest first, as the archive job gives them: the keys sort in the order they were made.
        return [(f"{page.parent.name}/index.html", hashlib.sha256(page.read_bytes()).hexdigest())
                for page in sorted(dist.glob("*/index.html"))]

    rng = random.Random(2)
    with tempfile.TemporaryDirectory() as folder:
        dist = Path(folder)
        made, _ = timed(lambda: write_landing_pages(dist, count, rng))
        full, _ = timed(lambda: refresh_bundle(dist, landing_pages(dist)))
        unchanged, _ = timed(lambda: refresh_bundle(dist, landing_pages(dist)))
        (dist / "article-new").mkdir()
        (dist / "article-new" / "index.html").write_bytes((dist / "article-000000" / "index.html").read_bytes())
        again, _ = timed(lambda: refresh_bundle(dist, landing_pages(dist)))
        bundle = [p for folder in (BUNDLE_NAME, BUNDLE_PAGES_NAME) for p in (dist / folder).rglob("*") if p.is_file()]
        size, files = sum(p.stat().st_size for p in bundle), len(bundle)
    print(f"pagefind over {count} landing pages (written in {made:.1f} s)")
    print(f"index every landing page                {full:8.2f} s")
    print(f"unchanged landing pages (nothing to do) {unchanged:8.2f} s")
    print(f"after one new seed (its page's index)   {again:8.2f} s   < 2 s   (bench/sitesearch.py: per case)")
    print(f"bundle: {files} files, {size / 1e6:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10_000)
    parser.add_argument("--no-pagefind", action="store_true")
    arguments = parser.parse_args()
    count = arguments.seeds
    entries = make_entries(count + 1, random.Random(1))
    with tempfile.TemporaryDirectory() as folder:
        dist = Path(folder)
        full, written = timed(lambda: write_handout(dist, entries[:count]))
        unchanged, rewritten = timed(lambda: write_handout(dist, entries[:count]))
        one_more, changed = timed(lambda: write_handout(dist, entries))
        sizes = {p.name: p.stat().st_size for p in dist.iterdir() if p.name != "SHA256SUMS" and not p.name.startswith(".")}
        largest = max(sizes, key=sizes.get)
        sums = (dist / "SHA256SUMS").stat().st_size
    print(f"hand-out of {count} seeds                     measured      target")
    print(f"full write ({len(written)} files)                {full:8.2f} s    < 30 s")
    print(f"unchanged rerun ({len(rewritten)} files written)      {unchanged:8.2f} s")
    print(f"one new seed ({len(changed)} files written: {', '.join(sorted(changed))})")
    print(f"                                      {one_more:8.2f} s    < 2 s")
    print(f"largest page or feed: {largest:20} {sizes[largest] / 1000:6.0f} kB   < 300 kB")
    print(f"SHA256SUMS (every file of every seed) {sums / 1e6:6.1f} MB")
    if not arguments.no_pagefind:
        bench_pagefind(count)


if __name__ == "__main__":
    main()
