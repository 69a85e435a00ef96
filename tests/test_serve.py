"""`seedpress serve`: the real server in a subprocess on a free loopback port, real requests (DESIGN §6)."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import httpx
import lxml.html
import pytest
from support.run import REAL_SEED, seedpress, wait_for
from support.servers import free_port, start_server, stop

from convert.dates import build_date
from convert.document.seed import read_seed
from convert.publish.entries import Edition, Entry
from convert.publish.handout import write_handout
from convert.publish.index_page import CONTENT_SECURITY_POLICY

SEED = REAL_SEED
KEY = SEED.stem
#: A temporary file as the hand-out writes them (name.PID.tmp), left by a crash: hidden.
HALF_WRITTEN = "/.index.html.4242.tmp"
OPDS_TYPE = "application/atom+xml;profile=opds-catalog;kind=acquisition"
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "epub": "application/epub+zip",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "md": "text/markdown; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
}


@pytest.fixture(scope="session")
def dist(tmp_path_factory) -> Path:
    """A real dist: the seed rendered by the CLI, its hand-out, and the hidden files an archive keeps."""
    dist = tmp_path_factory.mktemp("serve") / "dist"
    completed = seedpress("convert", SEED, "--out", dist, "--json")
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["key"] == KEY
    shutil.copyfile(SEED, dist / KEY / f"{KEY}.txt")
    editions = []
    for path in sorted((dist / KEY).iterdir()):
        data = path.read_bytes()
        editions.append(Edition(path.suffix[1:], f"{KEY}/{path.name}", len(data), hashlib.sha256(data).hexdigest()))
    document = read_seed(SEED)
    write_handout(dist, [Entry(KEY, document.title, document.identifier, document.subject,
                               build_date(SEED), tuple(editions))])
    # What an archive keeps beside the hand-out and must never be served.
    with sqlite3.connect(dist / ".catalog.sqlite") as catalog:
        catalog.execute("CREATE TABLE seeds (key TEXT)")
    catalog.close()
    (dist / ".lock").write_bytes(b"")
    (dist / ".withdrawn").mkdir()
    (dist / ".withdrawn" / "x").write_bytes(b"withdrawn")
    (dist / HALF_WRITTEN.lstrip("/")).write_bytes(b"half-written")
    (dist / "escape.pdf").symlink_to("/etc/passwd")
    (dist / "escape-dir").symlink_to("/etc", target_is_directory=True)
    (dist / "hidden-link.pdf").symlink_to(".catalog.sqlite")
    (dist / "alias.epub").symlink_to(f"{KEY}/{KEY}.epub")
    (dist / "alias-dir").symlink_to(KEY, target_is_directory=True)
    # Opening a FIFO for reading waits for a writer: the server must never do that.
    os.mkfifo(dist / "pipe.pdf")
    return dist


@pytest.fixture(scope="session")
def server(dist, tmp_path_factory):
    process, base = start_server(dist, tmp_path_factory.mktemp("logs") / "server.log")
    yield base
    stop(process)


def raw_request(base: str, path: str, method: str = "GET") -> tuple[int, dict, bytes]:
    """Send `path` exactly as written: http.client neither normalises nor re-encodes it."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.mark.slow
def test_index_at_root(server, dist):
    for path in ("/", "/index.html"):
        response = httpx.get(server + path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.content == (dist / "index.html").read_bytes()
        assert "content-disposition" not in response.headers
        assert response.headers["x-content-type-options"] == "nosniff"
        # The header allows exactly the page's own <style> block: the policy the page itself carries.
        policy = response.headers["content-security-policy"]
        assert policy == f"{CONTENT_SECURITY_POLICY}; frame-ancestors 'none'"
        page = lxml.html.document_fromstring(response.content)
        assert page.find(".//meta[@http-equiv='Content-Security-Policy']").get("content") == CONTENT_SECURITY_POLICY
        assert "script-src 'self';" in policy and "unsafe" not in policy


@pytest.mark.slow
def test_catalog_and_checksums_types(server, dist):
    feed = httpx.get(server + "/opds.xml")
    assert feed.status_code == 200
    assert feed.headers["content-type"] == OPDS_TYPE
    assert "content-disposition" not in feed.headers
    assert feed.content == (dist / "opds.xml").read_bytes()
    sums = httpx.get(server + "/SHA256SUMS")
    assert sums.headers["content-type"] == "text/plain; charset=utf-8"
    assert sums.content == (dist / "SHA256SUMS").read_bytes()


@pytest.mark.slow
def test_epub_exact_bytes_type_and_disposition(server, dist):
    response = httpx.get(f"{server}/{KEY}/{KEY}.epub")
    assert response.status_code == 200
    assert response.content == (dist / KEY / f"{KEY}.epub").read_bytes()
    assert response.headers["content-type"] == "application/epub+zip"
    assert response.headers["content-disposition"] == f'attachment; filename="{KEY}.epub"'
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"].startswith('"') and response.headers["last-modified"].endswith("GMT")
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("edition", sorted(MEDIA_TYPES))
@pytest.mark.slow
def test_every_edition_has_its_media_type(server, dist, edition):
    response = httpx.get(f"{server}/{KEY}/{KEY}.{edition}")
    assert response.status_code == 200
    assert response.headers["content-type"] == MEDIA_TYPES[edition]
    assert response.headers["content-disposition"] == f'attachment; filename="{KEY}.{edition}"'
    assert response.content == (dist / KEY / f"{KEY}.{edition}").read_bytes()


@pytest.mark.slow
def test_head_sends_headers_only(server, dist):
    url = f"{server}/{KEY}/{KEY}.pdf"
    head, get = httpx.head(url), httpx.get(url)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == (dist / KEY / f"{KEY}.pdf").stat().st_size
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["content-type"] == "application/pdf"


@pytest.mark.slow
def test_range_requests(server, dist):
    url = f"{server}/{KEY}/{KEY}.epub"
    data = (dist / KEY / f"{KEY}.epub").read_bytes()
    middle = httpx.get(url, headers={"Range": "bytes=100-199"})
    assert middle.status_code == 206
    assert middle.content == data[100:200]
    assert middle.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = httpx.get(url, headers={"Range": "bytes=-16"})
    assert tail.status_code == 206 and tail.content == data[-16:]
    beyond = httpx.get(url, headers={"Range": f"bytes={len(data) + 10}-"})
    assert beyond.status_code == 416


@pytest.mark.slow
def test_range_edge_cases(server, dist):
    url = f"{server}/{KEY}/{KEY}.epub"
    data = (dist / KEY / f"{KEY}.epub").read_bytes()
    past_the_end = httpx.get(url, headers={"Range": f"bytes=10-{len(data) + 100}"})
    assert past_the_end.status_code == 206 and past_the_end.content == data[10:]
    assert past_the_end.headers["content-range"] == f"bytes 10-{len(data) - 1}/{len(data)}"
    longer_suffix = httpx.get(url, headers={"Range": f"bytes=-{len(data) + 5}"})
    assert longer_suffix.status_code == 206 and longer_suffix.content == data
    empty_suffix = httpx.get(url, headers={"Range": "bytes=-0"})
    assert empty_suffix.status_code == 416
    assert empty_suffix.headers["content-range"] == f"bytes */{len(data)}"
    # Several ranges, a backwards or garbled range, another unit: RFC 9110 lets us send the whole file.
    for header in ("bytes=0-1,5-6", "bytes=5-1", "bytes=abc", "items=0-1"):
        whole = httpx.get(url, headers={"Range": header})
        assert whole.status_code == 200 and whole.content == data, header
    head = httpx.head(url, headers={"Range": "bytes=100-199"})
    assert head.status_code == 206 and head.content == b"" and head.headers["content-length"] == "100"


@pytest.mark.slow
def test_if_range(server, dist):
    url = f"{server}/{KEY}/{KEY}.epub"
    data = (dist / KEY / f"{KEY}.epub").read_bytes()
    etag = httpx.head(url).headers["etag"]
    current = httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert current.status_code == 206 and current.content == data[:10]
    changed = httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": '"another-version"'})
    assert changed.status_code == 200 and changed.content == data


@pytest.mark.slow
def test_conditional_requests(server):
    url = f"{server}/{KEY}/{KEY}.epub"
    first = httpx.get(url)
    again = httpx.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    since = httpx.get(url, headers={"If-Modified-Since": first.headers["last-modified"]})
    assert since.status_code == 304
    stale = httpx.get(url, headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.content == first.content


@pytest.mark.slow
def test_no_symlink_is_followed_not_even_inside_dist(server, dist):
    """The archive writes no links, and following one by name leaves a gap to swap it in (issue 15)."""
    for path in ("/alias.epub", f"/alias-dir/{KEY}.epub"):
        status, _headers, body = raw_request(server, path)
        assert status == 404, path
        assert body == b"Not Found"


#: Every path an attacker might try to reach something outside dist or hidden in it.
FORBIDDEN = [
    "/.catalog.sqlite",
    "/.lock",
    "/.withdrawn/x",
    "/.withdrawn/",
    HALF_WRITTEN,
    "/../etc/passwd",
    "/../../../../etc/passwd",
    f"/{KEY}/../../etc/passwd",
    "/%2e%2e/etc/passwd",
    "/%2E%2E/%2E%2E/etc/passwd",
    "/%2e%2e%2fetc%2fpasswd",
    "/..%2f..%2fetc/passwd",
    "/%252e%252e/etc/passwd",
    "/%252e%252e%252fetc%252fpasswd",
    "//etc/passwd",
    "/%2fetc%2fpasswd",
    f"/{KEY}/..%5c..%5cetc",
    "/..\\..\\etc\\passwd",
    "/%2e%2e%5c%2e%2e%5cetc%5cpasswd",
    "/index.html%00.pdf",
    "/%00",
    "/escape.pdf",
    "/escape-dir/passwd",
    "/hidden-link.pdf",
    "/pipe.pdf",
    f"/{KEY}/",
    f"/{KEY}",
    "/nothing-here.pdf",
]


@pytest.mark.parametrize("path", FORBIDDEN)
@pytest.mark.slow
def test_traversal_and_hidden_files_are_not_found(server, path):
    status, _headers, body = raw_request(server, path)
    assert status == 404, (path, status)
    assert b"root:" not in body and b"SQLite" not in body and b"withdrawn" not in body


@pytest.mark.slow
def test_absolute_form_request_target_is_not_found(server):
    host_and_port = server.removeprefix("http://")
    status, _headers, body = raw_request(server, f"http://{host_and_port}/../etc/passwd")
    assert status == 404 and b"root:" not in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.slow
def test_only_get_and_head(server, method):
    status, headers, _body = raw_request(server, f"/{KEY}/{KEY}.epub", method=method)
    assert status == 405
    assert set(headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
    assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.slow
def test_200_concurrent_requests(server, dist):
    paths = ["/", "/opds.xml", f"/{KEY}/{KEY}.epub", f"/{KEY}/{KEY}.pdf"]
    expected = {path: (dist / (path.lstrip("/") or "index.html")).read_bytes() for path in paths}

    async def fetch_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=server, limits=limits, timeout=10) as client:
            return await asyncio.gather(*(client.get(paths[n % len(paths)]) for n in range(200)))

    started = time.monotonic()
    responses = asyncio.run(asyncio.wait_for(fetch_all(), timeout=10))
    assert time.monotonic() - started < 10
    assert len(responses) == 200
    for response in responses:
        assert response.status_code == 200
        assert response.content == expected[response.url.path]


@pytest.mark.slow
def test_sigint_stops_cleanly(dist, tmp_path):
    logs = tmp_path / "server.log"
    process, base = start_server(dist, logs)
    try:
        assert httpx.get(base + "/opds.xml").status_code == 200
    finally:
        code = stop(process)
    assert code == 0, logs.read_text()
    assert "Finished server process" in logs.read_text()
    with pytest.raises(httpx.TransportError):
        httpx.get(base + "/", timeout=1)


@pytest.mark.parametrize("setup, message", [
    (lambda folder: None, "no such folder"),
    (lambda folder: folder.mkdir(), "no index.html"),
], ids=["missing", "no-index"])
def test_refuses_a_folder_that_is_not_an_archive(tmp_path, setup, message):
    folder = tmp_path / "dist"
    setup(folder)
    completed = seedpress("serve", "--dist", folder, "--port", free_port())
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seedpress: ") and message in lines[0]
    assert "Traceback" not in completed.stderr


@pytest.mark.slow
def test_a_titles_folder_named_without_its_slash_is_sent_to_its_page(archive_of_one, tmp_path):
    """/key answers as every static host does: 301 to /key/, the title's landing page. A folder
    with no page of its own stays not found, and the redirect never leaves the server."""
    _seeds, dist = archive_of_one
    (key,) = [folder.name for folder in dist.iterdir() if (folder / "index.html").is_file()]
    (dist / "no-page").mkdir()
    process, base = start_server(dist, tmp_path / "server.log")
    try:
        status, headers, _body = raw_request(base, f"/{key}")
        assert (status, headers["location"]) == (301, f"/{key}/")
        assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-cache"
        followed = httpx.get(f"{base}/{key}?from=a-link", follow_redirects=True)
        assert followed.status_code == 200 and str(followed.url) == f"{base}/{key}/"
        assert followed.content == (dist / key / "index.html").read_bytes()
        for path in ("/no-page", "/no-page/", f"//{key}", f"/{key}/.", "/.withdrawn"):
            assert raw_request(base, path)[0] == 404, path
    finally:
        stop(process)


@pytest.mark.slow
def test_a_revalidated_answer_carries_the_policy_of_the_whole_answer(one_seed_archive, tmp_path):
    """A browser takes a 304's headers into the answer it keeps (RFC 9111 §4.3.4): a page
    reloaded must not come back under the sandboxing policy of a download, with no style,
    no images and no search form."""
    _seeds, dist = one_seed_archive
    (key,) = [folder.name for folder in dist.iterdir() if (folder / "index.html").is_file()]
    paths = ["/", "/index.html", f"/{key}/", f"/{key}/index.html", f"/{key}/{key}.epub",
             f"/{key}/{key}.pdf", "/opds.xml", "/opds.json", "/favicon.svg", "/pagefind/pagefind.js"]
    process, base = start_server(dist, tmp_path / "server.log")
    try:
        policies = set()
        for path in paths:
            assert httpx.head(base + path).headers["content-security-policy"] == httpx.get(base + path).headers[
                "content-security-policy"], path
            whole = httpx.get(base + path)
            assert whole.status_code == 200, path
            for condition in ({"If-None-Match": whole.headers["etag"]},
                              {"If-Modified-Since": whole.headers["last-modified"]}):
                again = httpx.get(base + path, headers=condition)
                assert again.status_code == 304, (path, condition)
                assert (again.headers["content-security-policy"]
                        == whole.headers["content-security-policy"]), (path, condition)
            policies.add(whole.headers["content-security-policy"])
        # The index's, a landing page's, the script's and the downloads': each kept as it was.
        assert len(policies) == 4
    finally:
        stop(process)


@pytest.mark.browser
def test_a_page_reloaded_in_a_browser_keeps_its_style_and_images(one_seed_archive, tmp_path, browser):
    """What the 304's policy is for, in Chromium: reloading the index and a landing page
    revalidates them, and they stay as they were (before: Times New Roman, no thumbnails)."""
    _seeds, dist = one_seed_archive
    (key,) = [folder.name for folder in dist.iterdir() if (folder / "index.html").is_file()]
    looks = "[getComputedStyle(document.body).fontFamily, [...document.images].map((image) => image.naturalWidth)]"
    process, base = start_server(dist, tmp_path / "server.log")
    context = browser.new_context()
    try:
        page = context.new_page()
        # The index's thumbnails load lazily, after the load event: each look waits for them.
        # Polled from here: the page's policy allows no eval, which Playwright's own polling
        # in the page (wait_for_function) needs once its first look finds them still loading.
        loaded = "[...document.images].every((image) => image.complete && image.naturalWidth > 0)"
        for path in ("/", f"/{key}/"):
            page.goto(base + path)
            wait_for(lambda: page.evaluate(loaded), f"the images of {path} to load")
            first = page.evaluate(looks)
            page.reload()
            wait_for(lambda: page.evaluate(loaded), f"the images of {path} to load again")
            again = page.evaluate(looks)
            assert "sans-serif" in first[0] and first[1] and all(first[1]), (path, first)
            assert again == first, (path, first, again)
            # The reload did revalidate the page: the server answered it 304.
            assert f'"GET {path} HTTP/1.1" 304' in (tmp_path / "server.log").read_text(), path
    finally:
        context.close()
        stop(process)


@pytest.mark.slow
def test_answered_metrics_scrapes_are_left_out_of_the_access_log(one_seed_archive, tmp_path):
    """Prometheus scrapes /metrics every 15 s or so: 5,760 access-log lines a day that say
    nothing. A scrape answered is not logged; a refused one is, as is every other request."""
    _seeds, dist = one_seed_archive
    log = tmp_path / "server.log"
    process, base = start_server(dist, log)
    try:
        for _ in range(3):
            assert httpx.get(f"{base}/metrics").status_code == 200
        assert httpx.get(f"{base}/metrics", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 404
        assert httpx.get(f"{base}/index.html").status_code == 200
        # The last request's line is logged once it is answered: wait for it, not for a time.
        wait_for(lambda: '"GET /index.html HTTP/1.1" 200' in log.read_text(), "the index's line in the log")
        lines = log.read_text().splitlines()
        assert [line for line in lines if "/metrics" in line] == [
            line for line in lines if '"GET /metrics HTTP/1.1" 404' in line]
        assert sum('"GET /metrics HTTP/1.1" 404' in line for line in lines) == 1
    finally:
        stop(process)


def test_an_address_in_use_is_one_line_that_says_what_to_do(dist):
    """uvicorn logged "INFO: Started server process", then "ERROR: [Errno 98] error while
    attempting to bind…", and seedpress "see the message above"."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = seedpress("serve", "--dist", dist, "--host", "127.0.0.1", "--port", str(port))
    assert result.returncode == 2
    assert result.stderr == (f"seedpress: cannot serve {dist} on 127.0.0.1:{port}: address already in use "
                             "(another server listens there: stop it, or give another --port)\n")
