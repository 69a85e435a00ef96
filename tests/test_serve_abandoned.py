"""A search whose client hung up while it waited for a slot is not run (serve/search.py,
SearchSlots.run): a flood of searches its clients gave up on costs the server no search time."""

from __future__ import annotations

import re
import socket
from urllib.parse import urlencode

import httpx
import pytest
from support.run import COMMAND_TIMEOUT, wait_for
from support.servers import stop
from test_serve_bounds import bounded_worst_queries, search_dist, start_bounded  # noqa: F401 (a fixture)

#: Searches sent and hung up on at once, queued behind one slot.
ABANDONED = 20


def search_statuses(base: str) -> dict[str, float]:
    """Status to how many /search requests serve has finished with it, from its /metrics."""
    text = httpx.get(f"{base}/metrics", timeout=COMMAND_TIMEOUT).text
    return {status: float(count) for status, count in re.findall(
        r'^seedpress_http_requests_total\{[^}]*route="search",status="([0-9]+)"\} ([0-9.e+]+)$', text, re.MULTILINE)}


@pytest.mark.slow
def test_a_search_whose_client_hung_up_while_it_queued_is_not_run(search_dist, tmp_path):  # noqa: F811
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
