"""`seedpress serve` against clients and local writers that try to abuse it (issue 15): a real server
in a subprocess, a real folder swapped under it, clients that leave halfway."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from conftest import start_server, stop

#: GETs the race test sends; the server that checked a path and then opened it by name leaked the
#: secret in about one in a hundred of them here.
RACE_REQUESTS = 20_000
#: Clients sending them side by side, each on one keep-alive connection: while one waits for the
#: server, another is parsing, so the run takes about half the time one client would.
RACE_CLIENTS = 4
#: Seconds the race test may take before it counts as failed.
RACE_DEADLINE = 120


@pytest.fixture
def small_dist(tmp_path) -> Path:
    """The least `seedpress serve` accepts: a folder with an index.html."""
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_bytes(b"<!doctype html><title>archive</title>")
    return dist


class Swapper(threading.Thread):
    """Swap `target` between a regular file and a symlink to `secret` as fast as renames go.

    Each state is put in place with one rename, so the name always exists: any 404 the server
    gives means it saw the symlink and refused it, any 200 means it saw a regular file.
    """

    def __init__(self, target: Path, public: bytes, secret: Path):
        super().__init__(daemon=True)
        self.target, self.secret = target, secret
        self.public_copy = target.with_name(".public")
        self.public_copy.write_bytes(public)
        self.stopping = threading.Event()
        self.swaps = 0
        self.failure: BaseException | None = None

    def run(self) -> None:
        staged = self.target.with_name(".staged")
        try:
            while not self.stopping.is_set():
                os.symlink(self.secret, staged)
                os.replace(staged, self.target)
                os.link(self.public_copy, staged)
                os.replace(staged, self.target)
                self.swaps += 1
        except BaseException as failure:
            self.failure = failure

    def stop(self) -> None:
        """Stop swapping; fail if the swapper could not swap."""
        self.stopping.set()
        self.join(timeout=10)
        assert not self.is_alive(), "the swapper did not stop"
        assert self.failure is None, self.failure


@dataclass
class RaceTally:
    """What the clients got back, across all of them."""

    statuses: Counter = field(default_factory=Counter)
    leaks: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def send_gets(base: str, path: str, count: int, marker: bytes, public: bytes, deadline: float,
              tally: RaceTally) -> None:
    """GET `path` `count` times on one keep-alive connection, counting statuses and answers holding `marker`."""
    with httpx.Client(base_url=base, timeout=10) as client:
        for sent in range(count):
            if time.monotonic() > deadline:
                raise AssertionError(f"a client sent only {sent} of its {count} GETs in {RACE_DEADLINE} s")
            response = client.get(path)
            leaked = marker in response.content
            assert leaked or response.content in (public, b"Not Found"), response.content[:200]
            with tally.lock:
                tally.statuses[response.status_code] += 1
                tally.leaks += leaked


@pytest.mark.slow
def test_file_swapped_for_a_symlink_never_serves_what_it_points_to(small_dist, tmp_path):
    """Finding 3: check-then-open let a file swapped for a symlink between the two serve /etc/passwd."""
    marker = f"SECRET-{uuid.uuid4()}".encode()
    secret = tmp_path / "secret.txt"
    secret.write_bytes(marker + b"\n")
    (small_dist / "race").mkdir()
    # As long as the secret, so a server that stats one and sends the other sends a whole answer.
    public = b"public edition ".ljust(len(marker), b".") + b"\n"
    (small_dist / "race" / "book.pdf").write_bytes(public)
    process, base = start_server(small_dist, tmp_path / "server.log")
    swapper = Swapper(small_dist / "race" / "book.pdf", public, secret)
    tally = RaceTally()
    try:
        swapper.start()
        started = time.monotonic()
        with ThreadPoolExecutor(RACE_CLIENTS) as pool:
            clients = [
                pool.submit(send_gets, base, "/race/book.pdf", RACE_REQUESTS // RACE_CLIENTS, marker, public,
                            started + RACE_DEADLINE, tally)
                for _ in range(RACE_CLIENTS)
            ]
            for client in clients:
                client.result()
        elapsed = time.monotonic() - started
    finally:
        swapper.stop()
        stop(process)
    print(f"{sum(tally.statuses.values())} GETs in {elapsed:.1f} s, {swapper.swaps} swaps, "
          f"statuses {dict(tally.statuses)}, {tally.leaks} returned the secret")
    assert tally.leaks == 0
    assert sum(tally.statuses.values()) == RACE_REQUESTS
    assert set(tally.statuses) <= {200, 404}, tally.statuses
    # Both states were seen, so the requests really raced the swaps.
    assert tally.statuses[200] > 100 and tally.statuses[404] > 100, tally.statuses


def wait_for(condition, what: str, timeout: float = 20) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s for {what}")
        time.sleep(0.05)


def descriptors_open_on(pid: int, path: Path) -> int:
    """How many descriptors process `pid` holds on `path` (Linux /proc)."""
    count = 0
    for entry in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(entry) == str(path)
        except FileNotFoundError:
            pass  # closed while we looked
    return count


def test_descriptor_is_closed_when_the_client_leaves_mid_body(small_dist, tmp_path):
    big = (small_dist / "big.pdf").resolve()
    with open(big, "wb") as file:
        file.truncate(256 * 1024 * 1024)  # sparse: far more than the socket buffers hold, no disk used
    process, base = start_server(small_dist, tmp_path / "server.log")
    try:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as client:
            client.sendall(b"GET /big.pdf HTTP/1.1\r\nHost: seedpress\r\n\r\n")
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
            # The server now waits for us to read on, with the file open.
            wait_for(lambda: descriptors_open_on(process.pid, big) == 1, "the server to hold the file open")
        wait_for(lambda: descriptors_open_on(process.pid, big) == 0, "the server to close the file")
    finally:
        stop(process)
