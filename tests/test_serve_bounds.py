"""`seedpress serve` bounds everything a client can make it spend (issue 20, D7 to D9): numbers of
any length in a request, a flood of expensive searches, a client that stops reading, a full
descriptor table. The app in-process for the properties, a real server in a subprocess for the rest."""

from __future__ import annotations

import asyncio
import hashlib
import html
import http.client
import json
import os
import random
import re
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import anyio
import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.run import COMMAND_TIMEOUT, ROOT, wait_for
from support.servers import SERVE_HOST, answering, descriptors_open_on, free_port, stop

from convert.archive.catalog import open_catalog, record_built
from convert.build.outcome import Built, EditionFile, Outcome, Status
from convert.dates import iso_timestamp
from convert.defaults import ARCHIVED_EDITIONS, MAX_QUERY_PREFIXES, MAX_QUERY_WORDS
from convert.publish.handout import write_handout
from convert.publish.search_pages import MAX_QUERY_LENGTH
from convert.serve.app import create_app
from convert.serve.numbers import bounded_int
from convert.serve.protocol import StoppingServer, protocol_with_timeouts
from convert.serve.search_query import query_cost_problem

INDEX = b"<!doctype html><title>archive</title>"
#: The bytes of the small file the Range tests ask for.
SMALL_SIZE = 1000
#: Numbers longer than Python's int() takes (4,300 digits): the reproduction's, and far more.
HUGE_DIGITS = (5_000, 100_000)


def make_dist(folder: Path) -> Path:
    """A folder serve accepts: an index.html, one small edition in a seed's folder, and an
    empty catalog (so that its search answers, with no results)."""
    dist = folder / "dist"
    (dist / "seed").mkdir(parents=True)
    open_catalog(dist).close()
    (dist / "index.html").write_bytes(INDEX)
    (dist / "seed" / "seed.pdf").write_bytes(bytes(range(256)) * 3 + bytes(SMALL_SIZE - 768))
    return dist


@pytest.fixture(scope="module")
def small_dist(tmp_path_factory) -> Path:
    return make_dist(tmp_path_factory.mktemp("bounds"))


@dataclass
class Answer:
    """What serve's app sent for one request."""

    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


def ask(dist: Path, path: str, headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None) -> Answer:
    """One GET to serve's app in-process, as uvicorn would call it (real Starlette, no socket;
    no client library, which would refuse a 100,000-character query), on a fresh app and loop."""
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
        "query_string": urlencode(params or {}).encode(), "root_path": "",
        "headers": [(name.encode(), value.encode()) for name, value in {"host": "seedpress", **(headers or {})}.items()],
        "client": ("127.0.0.1", 1234), "server": ("seedpress", 80),
    }
    sent: list[dict] = []
    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict:
        if requests:
            return requests.pop()
        await anyio.sleep_forever()  # the client stays until the answer is complete

    async def send(message: dict) -> None:
        sent.append(message)

    async def run() -> None:
        await create_app(dist)(scope, receive, send)

    anyio.run(run)
    start = sent[0]
    return Answer(start["status"], {name.decode(): value.decode() for name, value in start["headers"]},
                  b"".join(message.get("body", b"") for message in sent[1:]))


# --- a real server with the limits a test needs ------------------------------------

def start_bounded(dist: Path, logs: Path, *, max_files: int | None = None, **limits) -> tuple[subprocess.Popen, str]:
    """The library's serve() on a free loopback port with `limits` (serve()'s keyword arguments),
    once it answers; with `max_files`, under that descriptor limit (ulimit -n). Stop it with stop()."""
    port = free_port()
    call = ("import json, sys; from convert.serve.app import serve; "
            "serve(sys.argv[1], host=sys.argv[2], port=int(sys.argv[3]), **json.loads(sys.argv[4]))")

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max_files, max_files))

    with open(logs, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", call, str(dist), SERVE_HOST, str(port), json.dumps(limits)],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=limit_files if max_files else None)
    return process, answering(process, f"http://{SERVE_HOST}:{port}", logs)


def address(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").split(":")
    return host, int(port)


# --- D7: numbers of any length -------------------------------------------------------

@pytest.mark.parametrize("digits", HUGE_DIGITS)
def test_a_range_start_past_any_file_is_416(small_dist, digits):
    """D7: `bytes=999…-` with 5,000 digits answered 500 (int() refuses more than 4,300)."""
    answer = ask(small_dist, "/seed/seed.pdf", {"range": f"bytes={'9' * digits}-"})
    assert answer.status_code == 416, answer.text
    assert answer.headers["content-range"] == f"bytes */{SMALL_SIZE}"


@pytest.mark.parametrize("digits", HUGE_DIGITS)
@pytest.mark.parametrize("header", ["bytes=0-{n}", "bytes=-{n}"])
def test_a_range_end_or_suffix_past_any_file_is_the_whole_file(small_dist, digits, header):
    """D7: an end or a suffix length of any size means "to the end" / "all of it" (RFC 9110 §14.1.2)."""
    answer = ask(small_dist, "/seed/seed.pdf", {"range": header.format(n="7" * digits)})
    assert answer.status_code == 206, answer.text
    assert answer.headers["content-range"] == f"bytes 0-{SMALL_SIZE - 1}/{SMALL_SIZE}"
    assert answer.content == (small_dist / "seed" / "seed.pdf").read_bytes()


@pytest.mark.parametrize("digits", HUGE_DIGITS)
def test_leading_zeros_do_not_count_against_a_range(small_dist, digits):
    """Variant: 5,000 zeros before a 3 are still the byte 3; the bound is on significant digits."""
    answer = ask(small_dist, "/seed/seed.pdf", {"range": f"bytes={'0' * digits}3-{'0' * digits}5"})
    assert answer.status_code == 206, answer.text
    assert answer.content == bytes([3, 4, 5])


@pytest.mark.parametrize("page", [*("9" * digits for digits in HUGE_DIGITS), "1" + "0" * 5_000, "0", "-1", "x", "٣"])
def test_a_page_of_any_length_is_the_same_400_as_any_bad_page(small_dist, page):
    """D7: `page=` with 5,000 digits answered 500; now the answer every bad page gets."""
    answer = ask(small_dist, "/search", params={"q": "word", "page": page})
    assert answer.status_code == 400, answer.text[:300]
    assert answer.text == ask(small_dist, "/search", params={"q": "word", "page": "0"}).text


#: Number-like strings a client could put anywhere serve reads a number.
NUMBERS = st.one_of(
    st.text(alphabet="0123456789", max_size=60),
    st.integers(min_value=4_000, max_value=30_000).map(lambda length: "9" * length),
    st.integers(min_value=4_000, max_value=30_000).map(lambda length: "0" * length + "1"),
    st.from_regex(r"\A[ \t]*[+-]?[0-9]{0,12}[ \t]*\Z"),
    st.text(alphabet=st.sampled_from("0123456789٣٤۵१௫๒¹²½⁰ \t+-_.,e"), max_size=30),
    st.integers().map(str),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=NUMBERS, last=NUMBERS, page=NUMBERS, form=st.sampled_from(["{a}-{b}", "{a}-", "-{b}", "{a}-{b},{b}-"]))
def test_no_number_in_a_header_or_parameter_gives_a_server_error(small_dist, first, last, page, form):
    """Property (D7): any integer string in Range (start, end, suffix), in If-Modified-Since's day
    or year, in Host's port or in page= is never a 5xx."""
    span = ask(small_dist, "/seed/seed.pdf", {"range": "bytes=" + form.format(a=first, b=last)})
    assert span.status_code in (200, 206, 416), (span.status_code, span.text[:200])
    dated = ask(small_dist, "/seed/seed.pdf", {"if-modified-since": f"Mon, {first} Jan {last} 00:00:00 GMT"})
    assert dated.status_code in (200, 304), (dated.status_code, dated.text[:200])
    found = ask(small_dist, "/search", {"host": f"seedpress:{first}"}, params={"q": "word", "page": page})
    assert found.status_code < 500, (found.status_code, found.text[:200])


@pytest.mark.parametrize("date", ["Mon, 01 Jan 99999999999999999999 00:00:00 GMT",
                                  f"Mon, {'9' * 5_000} Jan 2026 00:00:00 GMT"])
def test_a_date_with_a_huge_number_is_no_date(small_dist, date):
    """D7 variant: a 20-digit year in If-Modified-Since raised OverflowError (500); now it is no date."""
    assert ask(small_dist, "/seed/seed.pdf", {"if-modified-since": date}).status_code == 200


@given(st.text(max_size=40), st.integers(min_value=1, max_value=40))
def test_bounded_int_is_int_of_ascii_digits_within_the_bound(text, max_digits):
    number = bounded_int(text, max_digits)
    if text.isascii() and text.isdigit() and len(text.lstrip("0")) <= max_digits:
        assert number == int(text)
    else:
        assert number is None


def test_huge_numbers_over_a_real_connection(small_dist, tmp_path):
    """D7 through uvicorn and h11: a 5,000-digit Range start and page, and a Content-Length of
    5,000 digits, which h11 parses before serve sees the request."""
    process, base = start_bounded(small_dist, tmp_path / "server.log")
    try:
        huge = "9" * 5_000
        with httpx.Client(base_url=base, timeout=30) as client:
            assert client.get("/seed/seed.pdf", headers={"range": f"bytes={huge}-"}).status_code == 416
            assert client.get("/seed/seed.pdf", headers={"range": f"bytes=-{huge}"}).status_code == 206
            assert client.get("/search", params={"q": "word", "page": huge}).status_code == 400
        with socket.create_connection(address(base), timeout=30) as raw:
            raw.sendall(f"GET /index.html HTTP/1.1\r\nHost: seedpress\r\nContent-Length: {huge}\r\n\r\n".encode())
            status = raw.recv(4096).split(b"\r\n", 1)[0]
        assert re.fullmatch(rb"HTTP/1.1 [1-4][0-9][0-9] .*", status), status
    finally:
        stop(process)
    assert "Traceback" not in (tmp_path / "server.log").read_text()


# --- D8: searches bounded in cost and in number ---------------------------------------

#: Titles in the flood tests' catalog, as the issue asks (the red team's had 10,000).
FLOOD_TITLES = 2_000
#: Clients searching side by side while the index is fetched: the issue's 40, and three times as
#: many, which is what it takes on a 2-core machine for searches to queue for anyio's 40 threads.
FLOOD_CLIENTS = (40, 120)
#: GETs of /index.html measured during a flood, and the p95 they must stay under.
INDEX_REQUESTS = 25
#: Readers sending them side by side, INDEX_REQUESTS // INDEX_READERS each: the flood lasts
#: only as long as the reading does, so five readers make it a fifth as long (and each reader
#: adds to the load the others are measured under).
INDEX_READERS = 5
INDEX_P95_LIMIT = 2.0
#: On a machine so busy that the index is slow under any flood, the unbounded queries' flood may
#: take up to this many times the control's p95 (a flood of requests refused unread): a search
#: that held the threads would take many times more.
CONTROL_FACTOR = 2.0
#: Rounds of flood and control measured, until one keeps the bound: the suite's other
#: processes may load the machine through one flood and not the control after it (a CI run:
#: 2.69 s against a control of 0.86 s; alone 1.02 against 0.86). A server that makes the
#: index wait for searches breaks the bound in every round.
FLOOD_ROUNDS = 3
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def build_search_catalog(dist: Path, count: int) -> None:
    """A catalog of `count` seeds recorded through record_built (as bench/search.py does), with
    real-sized texts of made-up words, and its hand-out; no edition is rendered."""
    rng = random.Random(20)
    vocabulary = ["".join(rng.choices(LETTERS, k=rng.randint(3, 10))) for _ in range(20_000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]

    def text(words: int) -> str:
        return " ".join(rng.choices(vocabulary, weights, k=words))

    dist.mkdir(parents=True)
    connection = open_catalog(dist)
    connection.execute("PRAGMA synchronous = OFF")  # the disk is not what is tested
    created = iso_timestamp(datetime(2026, 1, 1, tzinfo=UTC))
    for number in range(count):
        key = f"seed_{number:05d}"
        summary, commentary = text(150), text(600)
        sha256 = hashlib.sha256(f"{key} {summary}".encode()).hexdigest()
        built = Built(title=text(6), identifier=f"urn:sha256:{sha256}", source_sha256=sha256,
                      summary=summary[:80], created=created, lang="en", summary_text=summary,
                      commentary_text=commentary)
        paths = {edition: f"{key}/{key}.{edition}" for edition in ARCHIVED_EDITIONS}
        files = {edition: EditionFile(path, sha256, 1000) for edition, path in paths.items()}
        record_built(connection, Outcome(input=f"seeds/{key}.txt", key=key, status=Status.BUILT, built=built,
                                         files=files), sha256, paths)
    connection.close()
    write_handout(dist, [])


@pytest.fixture(scope="module")
def search_dist(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("flood") / "dist"
    build_search_catalog(dist, FLOOD_TITLES)
    return dist


def unbounded_worst_query() -> str:
    """The red team's shape: as many one-letter prefixes OR'd as fit in MAX_QUERY_LENGTH (each
    expands to every word it begins)."""
    terms = [f"{letter}*" for letter in LETTERS]
    query = ""
    while len(query) < MAX_QUERY_LENGTH - 40:
        query = " OR ".join(filter(None, [query, *terms]))
    return query[:MAX_QUERY_LENGTH].rsplit(" OR ", 1)[0]


def bounded_worst_queries() -> list[str]:
    """The costliest shapes query_cost_problem lets through: MAX_QUERY_PREFIXES one-letter prefixes
    in a NEAR group, AND'd, and each anchored (`^x*`)."""
    shapes = []
    for offset in range(0, 20, MAX_QUERY_PREFIXES):
        letters = LETTERS[offset:offset + MAX_QUERY_PREFIXES]
        shapes += [f"NEAR({' '.join(f'{letter}*' for letter in letters)}, 50)",
                   " ".join(f"{letter}*" for letter in letters),
                   " OR ".join(f"^{letter}*" for letter in letters)]
    return shapes


def flood(base: str, queries: list[str], stopping: threading.Event, statuses: Counter, lock: threading.Lock,
          connections: list[http.client.HTTPConnection]) -> None:
    """Search `queries` in turn, one at a time on one keep-alive connection, until `stopping`;
    count the answers' statuses. The connection is put in `connections`, for hang_up()."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=COMMAND_TIMEOUT)
    with lock:
        connections.append(connection)
    try:
        for number in range(10**9):
            if stopping.is_set():
                return
            try:
                connection.request("GET", "/search?" + urlencode({"q": queries[number % len(queries)],
                                                                 "syntax": "fts"}))
                answer = connection.getresponse()
                answer.read()
            except (OSError, http.client.HTTPException):
                if stopping.is_set():
                    return  # hung up on by hang_up(), its search abandoned
                raise
            if answer.status == 503:
                assert (answer.getheader("retry-after") or "").isdigit(), answer.getheaders()
            with lock:
                statuses[answer.status] += 1
    finally:
        connection.close()


def hang_up(connections: list[http.client.HTTPConnection], lock: threading.Lock) -> None:
    """Cut every flood connection, as clients that give up would: the searches they still wait
    for are abandoned (the server runs none:
    test_a_search_whose_client_hung_up_while_it_queued_is_not_run)."""
    with lock:
        for connection in connections:
            if connection.sock is not None:
                try:
                    connection.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # closed already


def index_latency_under_flood(base: str, queries: list[str], clients: int) -> tuple[list[float], Counter]:
    """Seconds each of INDEX_REQUESTS GETs of /index.html took while `clients` clients searched
    `queries`, and the statuses the searches got."""
    stopping, lock, statuses, connections = threading.Event(), threading.Lock(), Counter(), []
    with ThreadPoolExecutor(clients) as pool:
        searching = [pool.submit(flood, base, queries[number % len(queries):] + queries[:number % len(queries)],
                                 stopping, statuses, lock, connections)
                     for number in range(clients)]
        try:
            # Measure once the flood is on: the server has answered searches.
            wait_for(lambda: sum(statuses.values()) >= len(queries) or any(c.done() for c in searching),
                     "the first answers to the flood", interval=0.1)
            with ThreadPoolExecutor(INDEX_READERS) as readers:
                timings = [timing for batch in readers.map(lambda _: read_index(base, INDEX_REQUESTS // INDEX_READERS),
                                                           range(INDEX_READERS)) for timing in batch]
        finally:
            stopping.set()
            hang_up(connections, lock)
        for client in searching:
            client.result()
    return timings, statuses


def read_index(base: str, count: int) -> list[float]:
    """Seconds each of `count` GETs of /index.html took, one after another on one connection."""
    timings = []
    with httpx.Client(base_url=base, timeout=COMMAND_TIMEOUT) as reader:
        for _ in range(count):
            started = time.perf_counter()
            assert reader.get("/index.html").status_code == 200
            timings.append(time.perf_counter() - started)
    return timings


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(what: str, timings: list[float], statuses: Counter) -> float:
    p95 = percentile(timings, 0.95)
    print(f"{what}: GET /index.html p50 {statistics.median(timings):.3f} s, p95 {p95:.3f} s, "
          f"max {max(timings):.3f} s over {len(timings)}; searches answered {dict(statuses)}")
    return p95


@pytest.mark.slow
@pytest.mark.parametrize("clients", FLOOD_CLIENTS)
def test_index_stays_fast_while_unbounded_searches_flood(search_dist, tmp_path, clients):
    """D8: clients sending the red team's query (one-letter prefixes OR'd to 1,000 characters)
    held every worker thread, and GET /index.html waited for them."""
    process, base = start_bounded(search_dist, tmp_path / "server.log")
    rounds = []
    try:
        for _ in range(FLOOD_ROUNDS):
            timings, statuses = index_latency_under_flood(base, [unbounded_worst_query()], clients)
            # The control: as many clients sending a query refused for its length, before it is
            # read. Its requests load this machine (and this test process, which sends them) as
            # the flood's do, without a search: a machine busy with other work slows both alike.
            control, refused = index_latency_under_flood(base, ["a" * (MAX_QUERY_LENGTH + 1)], clients)
            assert set(statuses) <= {200, 400, 503}, statuses
            assert set(refused) == {400}, refused
            p95 = report(f"unbounded query flood, {clients} clients", timings, statuses)
            control_p95 = report(f"control: queries refused unread, {clients} clients", control, refused)
            rounds.append((round(p95, 3), round(control_p95, 3)))
            if p95 < max(INDEX_P95_LIMIT, CONTROL_FACTOR * control_p95):
                break
    finally:
        stop(process)
    assert any(p95 < max(INDEX_P95_LIMIT, CONTROL_FACTOR * control_p95) for p95, control_p95 in rounds), rounds


@pytest.mark.slow
@pytest.mark.parametrize("clients", FLOOD_CLIENTS)
def test_index_stays_fast_while_the_costliest_allowed_searches_flood(search_dist, tmp_path, clients):
    """D8 variant: queries that pass the cost cap but each burn a few tenths of a second of CPU
    run in serve's own search slots, so the file reads never wait for them."""
    process, base = start_bounded(search_dist, tmp_path / "server.log")
    try:
        timings, statuses = index_latency_under_flood(base, bounded_worst_queries(), clients)
    finally:
        stop(process)
    assert report(f"costliest allowed query flood, {clients} clients", timings, statuses) < INDEX_P95_LIMIT
    assert statuses[200] > 0, statuses  # the searches really ran
    assert set(statuses) <= {200, 503}, statuses


@pytest.mark.slow
def test_a_search_that_finds_no_slot_is_503_with_retry_after(search_dist, tmp_path):
    """D8: with every search slot busy, a search waits `search_wait` seconds and is then told
    when to come back, instead of queueing without end."""
    process, base = start_bounded(search_dist, tmp_path / "server.log", search_slots=1, search_wait=0.05)
    statuses: Counter = Counter()
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda query: httpx.get(f"{base}/search", params={"q": query, "syntax": "fts"},
                                                            timeout=COMMAND_TIMEOUT),
                                    bounded_worst_queries()[:8]))
        busy = [answer for answer in answers if answer.status_code == 503]
        statuses.update(answer.status_code for answer in answers)
        # The slot frees again: a cheap search afterwards is answered.
        assert httpx.get(f"{base}/search", params={"q": "word"}, timeout=COMMAND_TIMEOUT).status_code == 200
    finally:
        stop(process)
    assert busy and statuses[200] >= 1, statuses
    assert set(statuses) == {200, 503}, statuses
    for answer in busy:
        assert answer.headers["retry-after"].isdigit()
        assert "search slots are busy" in answer.text


#: Searches sent and hung up on at once, queued behind one slot.
ABANDONED = 20


def search_statuses(base: str) -> dict[str, float]:
    """Status to how many /search requests serve has finished with it, from its /metrics."""
    text = httpx.get(f"{base}/metrics", timeout=COMMAND_TIMEOUT).text
    return {status: float(count) for status, count in re.findall(
        r'^seedpress_http_requests_total\{[^}]*route="search",status="([0-9]+)"\} ([0-9.e+]+)$', text, re.MULTILINE)}


@pytest.mark.slow
def test_a_search_whose_client_hung_up_while_it_queued_is_not_run(search_dist, tmp_path):
    process, base = start_bounded(search_dist, tmp_path / "server.log", search_slots=1,
                                  search_wait=COMMAND_TIMEOUT)
    host, port = base.removeprefix("http://").split(":")
    queries = bounded_worst_queries()
    try:
        clients = []
        for number in range(ABANDONED):
            query = urlencode({"q": queries[number % len(queries)], "syntax": "fts"})
            clients.append(client := socket.create_connection((host, int(port)), timeout=COMMAND_TIMEOUT))
            client.sendall(f"GET /search?{query} HTTP/1.1\r\nHost: seedpress\r\n\r\n".encode())
        for client in clients:  # all hang up while the first search runs and the others queue
            client.close()
        statuses = wait_for(lambda: (found := search_statuses(base)) and sum(found.values()) >= ABANDONED and found,
                            f"the server to be done with {ABANDONED} searches", interval=0.2)
        # The slot frees again: a search whose client waits is answered.
        assert httpx.get(f"{base}/search", params={"q": "word"}, timeout=COMMAND_TIMEOUT).status_code == 200
    finally:
        stop(process)
    # Not run, and logged as 499 (client gone): every one but the first, which takes the free
    # slot before its hang-up is seen (and is answered 200 to no one), and on a loaded machine
    # perhaps a few more. Run regardless, they would all be 200.
    assert statuses.get("499", 0) >= ABANDONED // 2, statuses
    assert set(statuses) <= {"200", "499"}, statuses
    assert "Traceback" not in (tmp_path / "server.log").read_text()


@pytest.mark.parametrize("query", [
    " ".join(f"{letter}*" for letter in LETTERS[:MAX_QUERY_PREFIXES + 1]),
    "NEAR(" + " ".join(f"{letter}*" for letter in LETTERS[:MAX_QUERY_PREFIXES + 1]) + ")",
    " ".join("^" + letter * 2 + "*" for letter in LETTERS[:MAX_QUERY_PREFIXES + 1]),
    " OR ".join(["word"] * (MAX_QUERY_WORDS // 2 + 1)),
    unbounded_worst_query(),
])
def test_a_query_costlier_than_the_cap_is_400_before_it_runs(small_dist, query):
    """D8: in the FTS5 syntax (`syntax=fts`), prefix chains, NEAR groups and long OR lists are
    refused on their shape, whatever the catalog; as plain text (the default), the same words
    are answered, their prefixes capped (issue 23)."""
    assert query_cost_problem(query) is not None
    answer = ask(small_dist, "/search", params={"q": query, "syntax": "fts"})
    assert answer.status_code == 400, answer.text[:300]
    assert html.escape(query_cost_problem(query)) in answer.text
    assert ask(small_dist, "/search", params={"q": query}).status_code == 200


@pytest.mark.parametrize("query", [
    " ".join(f"{letter}*" for letter in LETTERS[:MAX_QUERY_PREFIXES]),
    " ".join(["word"] * MAX_QUERY_WORDS),
    '"a phrase of words" OR other',
])
def test_a_query_within_the_cap_is_allowed(query):
    assert query_cost_problem(query) is None


# --- D9: slow readers and a full descriptor table -----------------------------------

#: The send timeout the slow-reader tests give the server (the CLI's is SERVE_SEND_TIMEOUT).
SEND_TIMEOUT = 2.0
#: How much longer than the timeout a test waits for the server to let go.
CLOSE_GRACE = 30
BIG_SIZE = 64 * 1024 * 1024


def descriptor_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture(scope="module")
def big_dist(tmp_path_factory) -> Path:
    """A dist with a 64 MB edition (sparse: no disk used, read as zeros)."""
    dist = make_dist(tmp_path_factory.mktemp("big"))
    with open(dist / "seed" / "big.pdf", "wb") as big:
        big.truncate(BIG_SIZE)
    return dist.resolve()


def stalled_reader(base: str, path: str, read_first: int) -> socket.socket:
    """A client with a small receive buffer that asks for `path`, reads `read_first` bytes, then stops."""
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.settimeout(30)
    client.connect(address(base))
    client.sendall(f"GET {path} HTTP/1.1\r\nHost: seedpress\r\n\r\n".encode())
    received = client.recv(4096)
    assert received.startswith(b"HTTP/1.1 200"), received[:200]
    while len(received) < read_first:
        received += client.recv(65536)
    return client


def drain(client: socket.socket) -> int:
    """Read until the server's end is gone; how many bytes came."""
    total = 0
    while True:
        try:
            data = client.recv(1 << 20)
        except ConnectionResetError:
            return total
        if not data:
            return total
        total += len(data)


@pytest.mark.slow
@pytest.mark.parametrize("read_first", [0, 1024 * 1024])
def test_a_client_that_stops_reading_a_download_is_cut_off(big_dist, tmp_path, read_first):
    """D9: a client that stopped reading a 64 MB download kept its socket and the file open for ever."""
    big = big_dist / "seed" / "big.pdf"
    process, base = start_bounded(big_dist, tmp_path / "server.log", send_timeout=SEND_TIMEOUT)
    try:
        with stalled_reader(base, "/seed/big.pdf", read_first) as client:
            wait_for(lambda: descriptors_open_on(process.pid, big) == 1, "the server to open the file")
            stalled = time.monotonic()
            wait_for(lambda: descriptors_open_on(process.pid, big) == 0, "the server to close the file",
                     timeout=SEND_TIMEOUT + CLOSE_GRACE)
            print(f"file closed {time.monotonic() - stalled:.1f} s after the client stalled "
                  f"(send timeout {SEND_TIMEOUT} s)")
            # The connection went with it: what the buffers held, then its end, never the whole file.
            client.settimeout(SEND_TIMEOUT + CLOSE_GRACE)
            assert drain(client) < BIG_SIZE
        assert httpx.get(f"{base}/index.html", timeout=30).status_code == 200
    finally:
        stop(process)
    assert "Traceback" not in (tmp_path / "server.log").read_text()


@pytest.mark.slow
def test_a_slow_reader_that_keeps_reading_gets_the_whole_file(big_dist, tmp_path):
    """Variant: the timeout is on a stall, not on the download: a client taking 32 KiB a tick,
    for far longer than the send timeout in all, gets every byte."""
    size = 4 * 1024 * 1024
    (big_dist / "seed" / "slow.pdf").write_bytes(os.urandom(size))
    process, base = start_bounded(big_dist, tmp_path / "server.log", send_timeout=SEND_TIMEOUT)
    try:
        started, body = time.monotonic(), bytearray()
        with httpx.Client(base_url=base, timeout=30) as client, client.stream("GET", "/seed/slow.pdf") as answer:
            for chunk in answer.iter_bytes(32 * 1024):
                body += chunk
                time.sleep(0.02)  # a slow reader's pace, not a wait for the server
        print(f"{size} bytes read in {time.monotonic() - started:.1f} s (send timeout {SEND_TIMEOUT} s)")
    finally:
        stop(process)
    assert bytes(body) == (big_dist / "seed" / "slow.pdf").read_bytes()


#: The descriptor limit the EMFILE test gives the server: room for Python, uvicorn and a few connections.
MAX_FILES = 64


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/index.html", "/seed/seed.pdf"])
def test_an_existing_file_at_the_descriptor_limit_is_503_not_404(small_dist, tmp_path, path):
    """D9: at the descriptor limit open_beneath took EMFILE for "no such entry" and answered 404,
    and asyncio's accept loop logged a traceback each time it paused."""
    logs = tmp_path / "server.log"
    process, base = start_bounded(small_dist, logs, max_files=MAX_FILES, header_timeout=COMMAND_TIMEOUT)
    idle: list[socket.socket] = []
    try:
        with socket.create_connection(address(base), timeout=30) as client:
            request = f"GET {path} HTTP/1.1\r\nHost: seedpress\r\n\r\n".encode()
            assert read_answer(client, request).startswith(b"HTTP/1.1 200")
            # Idle connections until the server has no descriptor left (the rest wait in the backlog).
            for _ in range(MAX_FILES + 16):
                idle.append(socket.create_connection(address(base), timeout=30))
            wait_for(lambda: descriptor_count(process.pid) >= MAX_FILES, "the server to run out of descriptors")
            wait_for(lambda: "out of system resource" in logs.read_text(), "the server to try to accept in vain")
            answer = read_answer(client, request)
            assert answer.startswith(b"HTTP/1.1 503"), answer[:300]
            assert re.search(rb"\r\nretry-after: [0-9]+\r\n", answer, re.IGNORECASE), answer[:300]
            for connection in idle:
                connection.close()
            idle.clear()
            # Descriptors free again: the same file is served.
            wait_for(lambda: descriptor_count(process.pid) < MAX_FILES - 8, "the server to close idle connections")
            assert read_answer(client, request).startswith(b"HTTP/1.1 200")
    finally:
        for connection in idle:
            connection.close()
        stop(process)
    log = logs.read_text()
    assert "Traceback" not in log, log[-3000:]
    # asyncio reports the shortage once for each connection in the backlog; serve says it once.
    assert log.count("out of system resource") == 1, log[-3000:]


def test_a_connection_accepted_as_the_server_stops_is_closed_with_the_others(small_dist):
    """test_stopping_at_the_descriptor_limit_logs_no_traceback hung in about 1 run of 18: accept()
    took a batch of connections in the same turn of the loop as the stop began, their transports
    were made two turns later, after uvicorn had asked every connection it knew of to close, and
    they held the stop until their header timeout (COMMAND_TIMEOUT there). Here a connection is
    made the way asyncio makes an accepted one, once the stop has asked the others, on a real
    loop and socket pair."""
    deadline = time.monotonic() + COMMAND_TIMEOUT / 30

    async def until(condition, serving: asyncio.Task, what: str) -> None:
        # A timer of 10 ms comes before uvicorn's next tick (100 ms) on the same loop, however busy.
        while not condition():
            if serving.done():
                serving.result()  # the server's own error, if it has one
                raise AssertionError(f"the server stopped before {what}")
            assert time.monotonic() < deadline, f"the server did not get to {what}"
            await asyncio.sleep(0.01)

    async def scenario() -> bytes:
        config = uvicorn.Config(create_app(small_dist), lifespan="off", ws="none", log_config=None,
                                http=protocol_with_timeouts(COMMAND_TIMEOUT, SEND_TIMEOUT))
        server = StoppingServer(config)
        with socket.socket() as listener:
            listener.bind((SERVE_HOST, 0))
            serving = asyncio.create_task(server.serve(sockets=[listener]))
            await until(lambda: server.started, serving, "start")
            server.should_exit = True
            await until(lambda: server.server_state.stopping, serving, "stop")
            ours, theirs = socket.socketpair()
            with theirs:
                await asyncio.get_running_loop().connect_accepted_socket(
                    lambda: config.http_protocol_class(config=config, server_state=server.server_state,
                                                       app_state={}), ours)
                # Without the fix the stop waits COMMAND_TIMEOUT for this connection's header timer.
                await asyncio.wait_for(serving, timeout=max(0.0, deadline - time.monotonic()))
                theirs.settimeout(max(0.1, deadline - time.monotonic()))
                return theirs.recv(1)

    assert asyncio.run(scenario()) == b""  # the server closed it, and stopped


def read_answer(client: socket.socket, request: bytes) -> bytes:
    """Send `request` on a keep-alive connection and read its whole answer (head and Content-Length body)."""
    client.sendall(request)
    answer = b""
    while b"\r\n\r\n" not in answer:
        data = client.recv(65536)
        assert data, f"the server closed the connection: {answer[:300]!r}"
        answer += data
    head, body = answer.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"\r\ncontent-length: ([0-9]{1,12})\r\n", head + b"\r\n", re.IGNORECASE)[1])
    while len(body) < length:
        body += client.recv(65536)
    return head + b"\r\n\r\n" + body


@pytest.mark.slow
def test_stopping_at_the_descriptor_limit_logs_no_traceback(big_dist, tmp_path):
    """Variant: stopped while out of descriptors, and with a download in flight, so that stopping
    takes a while: asyncio ran every accept retry it had scheduled (one per connection in the
    backlog, 2,048) on the closed socket, and logged a traceback for each."""
    logs = tmp_path / "server.log"
    process, base = start_bounded(big_dist, logs, max_files=MAX_FILES, header_timeout=COMMAND_TIMEOUT,
                                  send_timeout=SEND_TIMEOUT)
    idle: list[socket.socket] = []
    try:
        with stalled_reader(base, "/seed/big.pdf", 0):
            for _ in range(MAX_FILES + 16):
                idle.append(socket.create_connection(address(base), timeout=30))
            wait_for(lambda: "out of system resource" in logs.read_text(), "the server to try to accept in vain")
            # uvicorn waits for the download to end (the send timeout ends it) before it stops.
            assert stop(process) == 0
    finally:
        for connection in idle:
            connection.close()
        if process.poll() is None:
            stop(process)
    log = logs.read_text()
    assert "Traceback" not in log, log[-3000:]
    assert log.count("out of system resource") == 1, log[-3000:]
