"""deploy/ installs as written (issue 22): the systemd units pass `systemd-analyze verify` in
a root made by their own sysusers.d and tmpfiles.d entries; the crontab is one line to add;
a real nginx serves a built archive through deploy/nginx/seedpress.conf and passes searches
and /metrics to a real `seedpress serve`. And serve answers /key/ and a favicon itself."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.archives import write_seeds
from support.run import ROOT, seedpress, wait_for
from support.servers import free_port

from convert.publish.opds1 import OPDS_ACQUISITION_TYPE

DEPLOY = ROOT / "deploy"
UNITS = ("seedpress-archive.service", "seedpress-archive.timer", "seedpress-serve.service")
#: Where the units say the code is: an executable must be there for verify to pass.
SEEDPRESS = "/opt/seedpress/.venv/bin/seedpress"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None)


def unit_setting(unit: str, name: str) -> list[str]:
    """Every value `name=` has in a unit file of deploy/."""
    return [line.split("=", 1)[1] for line in (DEPLOY / unit).read_text("utf-8").splitlines()
            if line.startswith(f"{name}=")]


# --- systemd ---------------------------------------------------------------------------------

@pytest.fixture
def installed_root(tmp_path) -> Path:
    """A root with the units installed as the README says: the user and folders made by
    deploy/'s sysusers.d and tmpfiles.d entries, the code where the units look for it, and
    the system's own units (sysinit.target…) the ours depend on."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for tool, entry, *options in (("systemd-sysusers", "sysusers.d"), ("systemd-tmpfiles", "tmpfiles.d", "--create")):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed")
        made = subprocess.run([tool, f"--root={root}", *options, str(DEPLOY / entry / "seedpress.conf")],
                              capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(DEPLOY / unit, units / unit)
    code = root / SEEDPRESS.lstrip("/")
    code.parent.mkdir(parents=True)
    code.write_text("#!/bin/sh\n", "utf-8")
    code.chmod(0o755)
    return root


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_the_units_verify_in_a_root_made_by_their_own_sysusers_and_tmpfiles(installed_root):
    passwd = (installed_root / "etc/passwd").read_text("utf-8")
    assert re.search(r"^seedpress:x:[0-9]+:[0-9]+:.*:/srv/seedpress:/usr/sbin/nologin$", passwd, re.MULTILINE)
    for unit in UNITS[0], UNITS[2]:
        for folder in unit_setting(unit, "ReadWritePaths") + unit_setting(unit, "WorkingDirectory"):
            assert (installed_root / folder.lstrip("/")).is_dir(), f"{unit}: {folder} is made by no tmpfiles entry"
    verified = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", f"--root={installed_root}", "--man=no", "--generators=no",
         *(f"/etc/systemd/system/{unit}" for unit in UNITS)], capture_output=True, text=True, timeout=120)
    # Unknown or misspelt settings are only warnings to systemd: here they fail.
    assert verified.returncode == 0 and verified.stderr == "", verified.stderr


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_verify_fails_when_the_code_is_not_where_the_units_say(installed_root):
    (installed_root / SEEDPRESS.lstrip("/")).unlink()
    verified = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", f"--root={installed_root}", "--man=no", "--generators=no",
         "/etc/systemd/system/seedpress-serve.service"], capture_output=True, text=True, timeout=120)
    assert verified.returncode != 0 and SEEDPRESS in verified.stderr


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_the_timer_runs_on_a_calendar_so_that_persistent_catches_up():
    assert unit_setting("seedpress-archive.timer", "Persistent") == ["true"]
    (calendar,) = unit_setting("seedpress-archive.timer", "OnCalendar")
    parsed = subprocess.run([SYSTEMD_ANALYZE, "calendar", "--iterations=2", calendar],
                            capture_output=True, text=True, timeout=60)
    assert parsed.returncode == 0, parsed.stderr
    elapses = re.findall(r"(?:Next elapse|Iter\. #2):.* ([0-9]{2}):([0-9]{2}):00", parsed.stdout)
    assert len(elapses) == 2
    minutes = [int(hour) * 60 + int(minute) for hour, minute in elapses]
    assert (minutes[1] - minutes[0]) % (24 * 60) == 15
    assert not unit_setting("seedpress-archive.timer", "OnUnitActiveSec")


def test_the_crontab_is_one_line_to_add_that_runs_what_the_unit_runs():
    lines = [line for line in (DEPLOY / "crontab").read_text("utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    assert fields[:5] == ["*/15", "*", "*", "*", "*"]
    (command,) = unit_setting("seedpress-archive.service", "ExecStart")
    (folder,) = unit_setting("seedpress-archive.service", "WorkingDirectory")
    assert f"cd {folder} && {command} " in fields[5]
    # The README adds it to the crontab, never replaces the crontab with it.
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "(crontab -l 2>/dev/null; cat deploy/crontab) | crontab -" in readme
    assert "crontab deploy/crontab`" not in readme.replace("never `crontab deploy/crontab`", "")


# --- a built archive, served by seedpress serve and by nginx ------------------------------------

@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("deploy")
    write_seeds(base / "seeds", 2)
    result = seedpress("archive", base / "seeds", "--dist", base / "dist", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    return base / "dist"


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def served(built, tmp_path_factory):
    """`seedpress serve` of the archive on a free loopback port, stopped after the module's tests."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "convert.cli", "serve", "--dist", str(built),
                                    "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT, stdout=output,
                                   stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    base = f"http://127.0.0.1:{port}"
    try:
        def answers() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return httpx.get(base + "/", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(answers, "seedpress serve to answer")
        yield port
    finally:
        stop_process(process)


def render_site(dist: Path, listen: int, upstream: int) -> str:
    """deploy/nginx/seedpress.conf with this test's archive, port and server in place of the
    paths and ports it names (each must be there exactly once)."""
    site = (DEPLOY / "nginx" / "seedpress.conf").read_text("utf-8")
    for old, new in (("    listen 80;\n", f"    listen 127.0.0.1:{listen};\n"), ("    listen [::]:80;\n", ""),
                     ("root /srv/seedpress/dist;", f"root {dist};"),
                     ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream};")):
        assert site.count(old) == 1, old
        site = site.replace(old, new)
    return site


@pytest.fixture(scope="module")
def nginx(built, served, tmp_path_factory):
    """A real nginx on a free loopback port, serving the archive through the site file and
    passing searches to `served`; stopped after the module's tests, whatever happens."""
    if NGINX is None:
        pytest.fail("nginx is not installed: `make test` installs it (TEST_APT_PACKAGES)")
    prefix = tmp_path_factory.mktemp("nginx")
    port = free_port()
    # Through a link, as when dist was moved to a bigger disk and linked back: the links
    # nginx refuses are those inside the archive, not above it.
    linked = prefix / "linked-dist"
    linked.symlink_to(built, target_is_directory=True)
    (prefix / "seedpress.conf").write_text(render_site(linked, port, served), "utf-8")
    (prefix / "nginx.conf").write_text(f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/seedpress.conf;
}}
""", "utf-8")
    command = [NGINX, "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    # Not even a warning at each reload (a charset type nginx already has, say).
    assert "[warn]" not in checked.stderr, checked.stderr
    process = subprocess.Popen([*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        def answers() -> bool:
            assert process.poll() is None, (prefix / "error.log").read_text()
            try:
                return httpx.get(base + "/", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(answers, "nginx to answer")
        yield base
    finally:
        stop_process(process)


KEY = "article-0"


@pytest.mark.slow
def test_nginx_serves_a_title_folder_and_its_landing_page(nginx, built):
    landing = (built / KEY / "index.html").read_bytes()
    for path in (f"/{KEY}/", f"/{KEY}/index.html"):
        answer = httpx.get(nginx + path)
        assert answer.status_code == 200 and answer.content == landing, path
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "public, max-age=300"
    moved = httpx.get(f"{nginx}/{KEY}")
    assert moved.status_code == 301 and moved.headers["location"].endswith(f"/{KEY}/")


@pytest.mark.slow
def test_nginx_serves_editions_with_their_types_caching_and_ranges(nginx, built):
    pdf = (built / KEY / f"{KEY}.pdf").read_bytes()
    answer = httpx.get(f"{nginx}/{KEY}/{KEY}.pdf")
    assert answer.status_code == 200 and answer.content == pdf
    assert answer.headers["content-type"] == "application/pdf"
    # Never "immutable": a rebuilt title's editions are new bytes at the same address.
    assert answer.headers["cache-control"] == "public, max-age=3600"
    assert answer.headers["content-disposition"] == f'attachment; filename="{KEY}.pdf"'
    assert answer.headers["content-security-policy"] == "default-src 'none'; sandbox"
    part = httpx.get(f"{nginx}/{KEY}/{KEY}.pdf", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == pdf[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(pdf)}"
    types = {f"/{KEY}/{KEY}.epub": "application/epub+zip", f"/{KEY}/{KEY}.md": "text/markdown; charset=utf-8",
             f"/{KEY}/{KEY}.txt": "text/plain; charset=utf-8",
             f"/{KEY}/{KEY}.docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             "/opds.xml": OPDS_ACQUISITION_TYPE, "/opds.json": "application/opds+json",
             "/SHA256SUMS": "text/plain; charset=utf-8", "/favicon.svg": "image/svg+xml"}
    # Every feed the archive links (each facet's pages too) and the citations, as serve sends them.
    facet_feeds = sorted(path.name for path in built.glob("opds-*.*"))
    assert any(name.startswith("opds-language-") for name in facet_feeds), facet_feeds
    types |= {f"/{name}": OPDS_ACQUISITION_TYPE if name.endswith(".xml") else "application/opds+json"
              for name in facet_feeds}
    types |= {f"/{KEY}/{KEY}.bib": "application/x-bibtex; charset=utf-8",
              f"/{KEY}/{KEY}.csl.json": "application/vnd.citationstyles.csl+json"}
    for path, media_type in types.items():
        answer = httpx.get(nginx + path)
        assert (answer.status_code, answer.headers["content-type"]) == (200, media_type), path
    assert httpx.get(f"{nginx}/opds.xml").headers["cache-control"] == "public, max-age=300"
    for hidden in ("/.catalog.sqlite", "/.lock", "/.metrics/seedpress.prom", "/.withdrawn/"):
        assert httpx.get(nginx + hidden).status_code == 404, hidden
    # A link inside the archive is refused, though the archive itself is reached through one.
    planted = built / KEY / "planted.pdf"
    planted.symlink_to("/etc/hostname")
    try:
        assert httpx.get(f"{nginx}/{KEY}/planted.pdf").status_code in (403, 404)
    finally:
        planted.unlink()


@pytest.mark.slow
def test_nginx_passes_searches_and_metrics_to_seedpress_serve(nginx, served):
    page = httpx.get(f"{nginx}/search", params={"q": "Article 1"})
    assert page.status_code == 200 and "Article 1" in page.text
    direct = httpx.get(f"http://127.0.0.1:{served}/search", params={"q": "Article 1"})
    assert page.text == direct.text
    # serve's own policy (its results page's style hash), not one nginx added.
    assert page.headers["content-security-policy"] == direct.headers["content-security-policy"]
    assert page.headers.get_list("x-content-type-options") == ["nosniff"]
    assert httpx.get(f"{nginx}/search.json", params={"q": "Article"}).json()["metadata"]["numberOfItems"] == 2
    assert httpx.get(f"{nginx}/search.atom", params={"q": "Article"}).status_code == 200
    assert httpx.get(f"{nginx}/opensearch.xml").status_code == 200
    assert httpx.get(f"{nginx}/search", params={"q": '"unbalanced'}).status_code in (200, 400)
    metrics = httpx.get(f"{nginx}/metrics")
    assert metrics.status_code == 200
    names = {family.name for family in text_string_to_metric_families(metrics.text)}
    assert {"seedpress_http_requests", "seedpress_search_duration_seconds"} <= names


# --- seedpress serve: /key/ and a favicon --------------------------------------------------------

@pytest.mark.slow
def test_serve_answers_a_title_folder_with_its_landing_page_and_serves_a_favicon(served, built):
    base = f"http://127.0.0.1:{served}"
    landing = httpx.get(f"{base}/{KEY}/")
    direct = httpx.get(f"{base}/{KEY}/index.html")
    assert landing.status_code == 200 and landing.content == (built / KEY / "index.html").read_bytes()
    # The landing page's own policy, which allows its style block, as for /key/index.html.
    assert landing.headers["content-security-policy"] == direct.headers["content-security-policy"]
    icon = httpx.get(f"{base}/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.content.startswith(b"<svg") and icon.content == (built / "favicon.svg").read_bytes()
    for missing in (f"/{KEY}//", "/no-such-title/", "/.withdrawn/", "/pagefind/"):
        assert httpx.get(base + missing).status_code == 404, missing
