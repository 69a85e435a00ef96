"""Benchmark of `seedpress serve`'s search over a catalog of 10,000 seeds (issue 13).

    .venv/bin/python bench/search.py [--seeds 10000] [--queries 300] [--keep DIR]

Builds an archive folder whose catalog holds N seeds, each recorded through the
catalog's own record_built (its seeds row, files rows and search index row in one
transaction) from real-looking text: the paragraphs of the seeds in seeds/ and
tests/data/, shuffled, plus words drawn from a Zipf distribution over their
vocabulary. No edition is rendered: the files are catalogued, not written, and
index.html comes from write_handout. Then it starts a real `seedpress serve` on
127.0.0.1, sends --queries searches of several kinds over one keep-alive
connection, and prints p50, p95 and the slowest answer of each kind against the
target (p95 < 50 ms). Not run by `make test`.

    .venv/bin/python bench/search.py --parity 300 [--keep DIR]

The parity bench instead: a real `seedpress archive` of the repository's seed, the
19 language fixtures and N generated articles (editions, landing pages and the
Pagefind bundle), then 40 queries of the kinds above asked of both `/search.json`
and Pagefind in a headless Chromium; for each, the titles one finds that hold the
query's words (as tests/test_search_static.py judges it) and the other does not.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support.run import COMMAND_TIMEOUT  # noqa: E402
from support.servers import start_server, stop  # noqa: E402  (tests/support: the tests' own server helpers)

from convert.archive.catalog import open_catalog, record_built  # noqa: E402
from convert.build.outcome import Built, EditionFile, Outcome, Status  # noqa: E402
from convert.dates import iso_timestamp  # noqa: E402
from convert.layout import CATALOG_NAME
from convert.publish.handout import write_handout  # noqa: E402

TARGET_P95_MS = 50
#: How long one search may take at most.
REQUEST_TIMEOUT = 30
EDITIONS = ("md", "pdf", "epub", "docx", "txt")


#: A word with punctuation inside, as readers type them (U.S., al-Masoud, covid-19, AT&T).
PUNCTUATED = re.compile(r"\b[A-Za-z0-9]+(?:[-'.’&][A-Za-z0-9]+)+\.?")


def punctuated_words() -> list[str]:
    """Every word with punctuation inside that the seeds of the repository hold."""
    paragraphs, _ = corpus()
    return sorted({word for paragraph in paragraphs for word in PUNCTUATED.findall(paragraph)})


def corpus() -> tuple[list[str], list[str]]:
    """Paragraphs and a vocabulary from every seed the repository has."""
    paragraphs = []
    for path in sorted([*(ROOT / "seeds").glob("*.txt"), *(ROOT / "tests" / "data").glob("*.txt")]):
        text = path.read_text("utf-8", errors="replace")
        paragraphs += [" ".join(p.split()) for p in text.split("\n\n") if len(p.split()) > 5]
    words = sorted({word.lower() for p in paragraphs for word in re.findall(r"\b[A-Za-z]{3,20}\b", p)})
    return paragraphs, words


def zipf_text(rng: random.Random, words: list[str], weights: list[float], count: int) -> str:
    return " ".join(rng.choices(words, weights, k=count)).capitalize() + "."


SYLLABLES = ("ka", "ro", "mi", "te", "lu", "sa", "vo", "ne", "di", "po", "ga", "zu", "be", "fi", "ho", "ja")


def own_name(number: int) -> str:
    """A made-up name only seed `number` mentions, as a real article names its own people and places."""
    name = "qu"
    while True:
        number, digit = divmod(number, len(SYLLABLES))
        name += SYLLABLES[digit]
        if not number:
            return name + "x"


def make_seed(rng: random.Random, number: int, paragraphs: list[str], words: list[str],
              weights: list[float]) -> tuple[str, str, str]:
    """(title, summary, commentary) of one real-looking seed."""
    title = f"{zipf_text(rng, words, weights, rng.randint(4, 9))[:-1].title()} ({number})"
    summary = [rng.choice(paragraphs), zipf_text(rng, words, weights, rng.randint(60, 140))]
    commentary = [rng.choice(paragraphs) if rng.random() < 0.5 else zipf_text(rng, words, weights, rng.randint(40, 120))
                  for _ in range(rng.randint(4, 10))]
    commentary.append(f"As {own_name(number).title()} said, {zipf_text(rng, words, weights, 20).lower()}")
    return title, "\n\n".join(summary), "\n\n".join(commentary)


def build_catalog(dist: Path, count: int, rng: random.Random) -> tuple[float, list[str]]:
    """Record `count` seeds in a new catalog in dist; seconds taken and the vocabulary used."""
    paragraphs, words = corpus()
    weights = [1 / (rank + 1) for rank in range(len(words))]
    rng.shuffle(words)
    dist.mkdir(parents=True, exist_ok=True)
    connection = open_catalog(dist)
    # The bench measures searching, not the disk: commits need not wait for it.
    connection.execute("PRAGMA synchronous = OFF")
    created = iso_timestamp(datetime(2026, 1, 1, tzinfo=UTC))
    started = time.perf_counter()
    for number in range(count):
        key = f"seed_{number:05d}"
        title, summary, commentary = make_seed(rng, number, paragraphs, words, weights)
        sha256 = hashlib.sha256(f"{title}{summary}{commentary}".encode()).hexdigest()
        built = Built(title=title, identifier=f"urn:sha256:{sha256}", source_sha256=sha256,
                      summary=summary.split(". ")[0] + ".", created=created, lang="en",
                      summary_text=summary, commentary_text=commentary)
        files = {edition: EditionFile(f"{key}/{key}.{edition}", sha256, 1000 + number) for edition in EDITIONS}
        outcome = Outcome(input=f"seeds/{key}.txt", key=key, status=Status.BUILT, built=built, files=files)
        record_built(connection, outcome, sha256, {edition: f"{key}/{key}.{edition}" for edition in EDITIONS})
    seconds = time.perf_counter() - started
    connection.close()
    write_handout(dist, [])
    return seconds, words


def queries(words: list[str], seeds: int, count: int, rng: random.Random) -> list[tuple[str, dict]]:
    """(kind, parameters) of `count` searches, the kinds in turn: plain text (the default), and
    FTS5 syntax (syntax=fts) for OR."""
    punctuated = punctuated_words()
    by_frequency = words  # shuffled once; the Zipf weights follow this order
    common, middling, rare = by_frequency[:20], by_frequency[50:500], by_frequency[-2000:]
    kinds = [
        ("a seed's own name", lambda: {"q": own_name(rng.randrange(seeds))}),
        ("Zipf-tail word", lambda: {"q": rng.choice(rare)}),
        ("middling word", lambda: {"q": rng.choice(middling)}),
        ("common word", lambda: {"q": rng.choice(common)}),
        ("two words (AND)", lambda: {"q": f"{rng.choice(middling)} {rng.choice(middling)}"}),
        ("phrase", lambda: {"q": f'"{rng.choice(common)} {rng.choice(common)}"'}),
        ("prefix*", lambda: {"q": rng.choice(middling)[:3] + "*"}),
        ("3 words OR (fts)", lambda: {"q": " OR ".join(rng.sample(middling, 3)), "syntax": "fts"}),
        ("punctuated word", lambda: {"q": rng.choice(punctuated)}),
        ("common word, page 5", lambda: {"q": rng.choice(common), "page": "5"}),
        ("no match", lambda: {"q": "zzqxjv"}),
    ]
    return [(kinds[n % len(kinds)][0], kinds[n % len(kinds)][1]()) for n in range(count)]


def worst_query(words: list[str], limit: int = 1000, joint: str = " OR ") -> str:
    """As many two-letter prefixes as fit in `limit` characters, joined by `joint` (OR in FTS5
    syntax; a space, AND, in plain text): each expands to every word it begins, and their
    doclists are merged."""
    terms: list[str] = []
    for prefix in dict.fromkeys(word[:2] for word in words):
        if len(joint.join([*terms, f"{prefix}*"])) > limit:
            break
        terms.append(f"{prefix}*")
    return joint.join(terms)


#: The worst cases timed after the mix: (what, parameters).
def worst_cases(words: list[str]) -> list[tuple[str, dict]]:
    punctuated = " ".join(punctuated_words())[:1000].rsplit(" ", 1)[0]
    return [
        ("1,000 characters of two-letter prefixes OR'd (fts)", {"q": worst_query(words), "syntax": "fts"}),
        ("1,000 characters of two-letter prefixes, plain (AND)", {"q": worst_query(words, joint=" ")}),
        ("1,000 characters of one-letter prefixes, plain", {"q": " ".join(f"{word[0]}*" for word in words)[:999]}),
        ("1,000 characters of punctuated words, plain", {"q": punctuated}),
        ("1,000 characters of the commonest words, plain", {"q": " ".join(words[:400])[:1000].rsplit(" ", 1)[0]}),
        ("1,000 characters of quotes and stars, plain", {"q": '"*' * 500}),
    ]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def parity(count: int, keep: Path | None) -> None:
    """The parity bench (see the module's docstring)."""
    import shutil

    from playwright.sync_api import sync_playwright
    sys.path.insert(0, str(ROOT / "tests"))
    from test_search_static import PAGEFIND_SEARCH, holds_the_words, landing_key, searched_text

    rng = random.Random(23)
    paragraphs, words = corpus()
    # Some test data is UTF-16 read as UTF-8: its NULs would make a seed a binary file; a
    # paragraph that names the marker line would end a summary early.
    paragraphs = [paragraph for paragraph in paragraphs if paragraph.isprintable() and "\ufffd" not in paragraph
                  and "original article" not in paragraph.lower()]
    weights = [1 / (rank + 1) for rank in range(len(words))]
    rng.shuffle(words)
    with tempfile.TemporaryDirectory(prefix="seedpress-bench-parity-") as temporary:
        root = keep or Path(temporary)
        seeds, dist = root / "seeds", root / "dist"
        seeds.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "seeds" / "000_52d55abe645743f0.txt", seeds / "real.txt")
        for fixture in sorted((ROOT / "tests" / "data" / "languages").glob("*.txt")):
            shutil.copy(fixture, seeds / f"lang-{fixture.stem}.txt")
        for number in range(count):
            title, summary, commentary = make_seed(rng, number, paragraphs, words, weights)
            (seeds / f"article-{number:04d}.txt").write_text(
                f"{title}\n\n{summary}\n\nRead the original article here: https://example.org/{number}\n\n"
                f"{commentary}\n", "utf-8")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "convert.cli", "archive", str(seeds), "--dist", str(dist)],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        print(f"archive of {count + 20} seeds written in {time.perf_counter() - started:.0f} s", flush=True)
        keys = {path.parent.name for path in dist.glob("*/index.html")}
        texts = {key: searched_text(next((dist / key).glob("*.txt")).read_text("utf-8")) for key in keys}
        common, middling, rare = words[:20], words[50:500], words[-2000:]
        plan = ([own_name(number) for number in rng.sample(range(count), min(5, count))] + rng.sample(rare, 5) + rng.sample(middling, 5)
                + rng.sample(common, 5) + [f"{rng.choice(middling)} {rng.choice(middling)}" for _ in range(5)]
                + [rng.choice(middling)[:4] + "*" for _ in range(5)] + rng.sample(punctuated_words(), 5)
                + ["ローカル線", "高铁", "도서관", "médiathèque", "Wasserstoff"])
        process, base = start_server(dist, root / "serve.log")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
                page = browser.new_page()
                page.goto(f"{base}/index.html")
                page.wait_for_selector("#search[data-ready=true]", state="attached", timeout=COMMAND_TIMEOUT * 1000)
                pagefind = {query: {landing_key(url) for url in urls}
                            for query, urls in page.evaluate(PAGEFIND_SEARCH, plan).items()}
                browser.close()
            server: dict[str, set[str]] = {}
            with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT) as client:
                for query in plan:
                    server[query], number = set(), 1
                    while True:
                        feed = client.get("/search.json", params={"q": query, "page": number}).json()
                        server[query] |= {landing_key(link["href"]) for publication in feed.get("publications", [])
                                          for link in publication["links"] if link["rel"] == "alternate"}
                        if not any(link["rel"] == "next" for link in feed["links"]):
                            break
                        number += 1
        finally:
            stop(process)
    print(f"\n| {'query':<28} | {'Pagefind':>8} | {'server':>6} | {'hold the words':>14} | "
          f"{'missed by server':>16} | {'missed by Pagefind':>18} |")
    print(f"|{'-' * 30}|{'-' * 10}|{'-' * 8}|{'-' * 16}|{'-' * 18}|{'-' * 20}|")
    disagreements = 0
    for query in plan:
        holding = {key for key in keys if holds_the_words(texts[key], query)}
        missed_by_server = (pagefind[query] & holding) - server[query]
        missed_by_pagefind = (server[query] & holding) - pagefind[query]
        disagreements += bool(missed_by_server or missed_by_pagefind)
        print(f"| {query[:28]:<28} | {len(pagefind[query]):>8} | {len(server[query]):>6} | {len(holding):>14} | "
              f"{len(missed_by_server):>16} | {len(missed_by_pagefind):>18} |")
    print(f"\n{len(plan) - disagreements} of {len(plan)} queries agree on every title holding their words "
          f"({len(keys)} titles)")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--seeds", type=int, default=10_000)
    options.add_argument("--queries", type=int, default=300)
    options.add_argument("--keep", type=Path, help="build the archive here and keep it (default: a temp folder)")
    options.add_argument("--parity", type=int, metavar="N",
                         help="instead: the parity of the server's search and Pagefind over N generated articles")
    arguments = options.parse_args()
    if arguments.parity is not None:
        parity(arguments.parity, arguments.keep)
        return
    rng = random.Random(13)
    with tempfile.TemporaryDirectory(prefix="seedpress-bench-search-") as temporary:
        dist = arguments.keep or Path(temporary) / "dist"
        build_seconds, words = build_catalog(dist, arguments.seeds, rng)
        size = (dist / CATALOG_NAME).stat().st_size
        print(f"catalog: {arguments.seeds} seeds recorded with their search rows in {build_seconds:.1f} s "
              f"({build_seconds / arguments.seeds * 1000:.2f} ms a seed), {size / 1e6:.0f} MB", flush=True)
        plan = queries(words, arguments.seeds, arguments.queries, rng)
        process, base = start_server(dist, Path(temporary) / "serve.log")
        timings: dict[str, list[float]] = {}
        totals: dict[str, list[int]] = {}
        try:
            with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT) as client:
                for _kind, parameters in plan[:20]:  # warm-up: the first answers open files, fill caches
                    client.get("/search", params=parameters)
                for kind, parameters in plan:
                    started = time.perf_counter()
                    response = client.get("/search", params=parameters)
                    elapsed = (time.perf_counter() - started) * 1000
                    if response.status_code != 200:
                        raise SystemExit(f"{parameters}: {response.status_code} {response.text[:200]}")
                    timings.setdefault(kind, []).append(elapsed)
                    found = re.search(rb"(\d+) titles? found", response.content)
                    totals.setdefault(kind, []).append(int(found[1]) if found else 0)
                worst = []
                for what, parameters in worst_cases(words):
                    started = time.perf_counter()
                    response = client.get("/search", params=parameters)
                    worst.append((what, response.status_code, (time.perf_counter() - started) * 1000))
        finally:
            stop(process)
    everything = [t for kind_timings in timings.values() for t in kind_timings]
    print(f"\n/search latency over {len(everything)} queries, one client, keep-alive, "
          f"{arguments.seeds} seeds (target: p95 < {TARGET_P95_MS} ms)\n")
    print(f"| {'query':<22} | {'n':>4} | {'matches (median)':>16} | {'p50 ms':>7} | {'p95 ms':>7} | {'max ms':>7} |")
    print(f"|{'-' * 24}|{'-' * 6}|{'-' * 18}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
    for kind, values in timings.items():
        print(f"| {kind:<22} | {len(values):>4} | {statistics.median(totals[kind]):>16.0f} | "
              f"{percentile(values, 0.5):>7.1f} | {percentile(values, 0.95):>7.1f} | {max(values):>7.1f} |")
    p95 = percentile(everything, 0.95)
    print(f"| {'all':<22} | {len(everything):>4} | {'':>16} | {percentile(everything, 0.5):>7.1f} | "
          f"{p95:>7.1f} | {max(everything):>7.1f} |")
    print(f"\np95 {p95:.1f} ms: {'meets' if p95 < TARGET_P95_MS else 'MISSES'} the target of {TARGET_P95_MS} ms")
    for what, status, milliseconds in worst:
        print(f"worst case, {what}: {status} in {milliseconds:.0f} ms")


if __name__ == "__main__":
    main()
