"""The feeds as real OPDS clients read them (issue 24): Readium's r2-opds-js (Thorium's parser)
and NYPL's opds-feed-parser, driven by tests/opds-clients/read_feeds.js over every feed
opds.xml and opds.json lead to (next pages, facets, navigation). `make test` installs both with
npm from the committed package-lock.json; without them these tests fail, never skip."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.archives import copy_archive

from convert.layout import COVER_EDITION, FEED_NAME, JSON_FEED_NAME, PAGE_FILE, THUMBNAIL_EDITION, edition_file
from convert.publish.entries import FEED_EDITIONS, Edition, Entry
from convert.publish.handout import write_handout
from convert.publish.paging import PAGE_SIZE

pytestmark = pytest.mark.slow

CLIENTS = Path(__file__).parent / "opds-clients"
SCRIPT = CLIENTS / "read_feeds.js"
#: Seconds for Node to read a few hundred feeds on a loaded machine: a deadline, not a wait.
DEADLINE = 300
#: What r2-opds-js logs for a publication without a cover or thumbnail.
NO_IMAGE_WARNING = "OPDSPublication.Image[s] is not set!"


def read_feeds(dist: Path) -> dict:
    """The clients' report on every feed of `dist` (read_feeds.js's JSON)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is missing: the OPDS client test needs node and npm (Debian: nodejs npm)")
    if not (CLIENTS / "node_modules" / ".installed").is_file():
        pytest.fail(f"the OPDS client parsers are not installed: `make {CLIENTS.relative_to(CLIENTS.parents[1])}"
                    "/node_modules/.installed` (or `make test`) installs them with npm ci")
    completed = subprocess.run([node, str(SCRIPT), str(dist)], capture_output=True, text=True, timeout=DEADLINE)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def assert_clients_read_everything(report: dict, titles: int) -> None:
    """Both parsers read every feed, each publication has images, r2-opds-js warns of nothing,
    and the feeds' publications add up to every title, in each format."""
    assert report["problems"] == []
    assert {feed["path"] for feed in report["feeds"]} >= {FEED_NAME, JSON_FEED_NAME}
    for feed in report["feeds"]:
        r2 = feed["r2"]
        assert "error" not in r2, (feed["path"], r2)
        assert r2["warnings"] == [], (feed["path"], r2["warnings"])
        assert r2["with_images"] == r2["publications"], feed
        if feed["format"] == "opds1":
            nypl = feed["nypl"]
            assert "error" not in nypl, (feed["path"], nypl)
            assert nypl["entries"] == r2["publications"] and nypl["with_images"] == nypl["entries"], feed
    # The main feeds' pages (the start document and its numbered pages) hold every title once.
    for start, kind in ((FEED_NAME, "opds1"), (JSON_FEED_NAME, "opds2")):
        suffix = start.rpartition(".")[2]
        paged = [feed for feed in report["feeds"] if feed["path"] == start
                 or (PAGE_FILE.fullmatch(feed["path"]) and feed["path"].endswith(suffix))]
        assert all(feed["format"] == kind for feed in paged)
        assert sum(feed["r2"]["publications"] for feed in paged) == titles, [f["path"] for f in paged]


def test_both_clients_read_every_feed_of_a_real_archive_with_covers_and_no_warnings(one_seed_archive):
    _seeds, dist = one_seed_archive
    report = read_feeds(dist)
    assert_clients_read_everything(report, titles=1)
    print(json.dumps(summary(report)))


def test_the_clients_follow_next_through_every_page(tmp_path, one_seed_archive):
    """Three pages of each feed, from entries whose images are the real archive's."""
    _seeds, dist = copy_archive(*one_seed_archive, tmp_path)
    [real] = [path.parent.name for path in dist.glob(f"*/{edition_file('*', THUMBNAIL_EDITION)}")]
    count = 2 * PAGE_SIZE + 5
    write_handout(dist, entries(count, real, dist))
    report = read_feeds(dist)
    assert_clients_read_everything(report, titles=count)
    assert len([feed for feed in report["feeds"] if feed["format"] == "opds1"]) >= 3


def test_a_publication_without_images_is_what_r2_opds_js_warns_of(tmp_path, one_seed_archive):
    """The check can fail: the feed of an archive without covers, as before issue 24."""
    _seeds, dist = copy_archive(*one_seed_archive, tmp_path)
    feed = json.loads((dist / JSON_FEED_NAME).read_text("utf-8"))
    for publication in feed["publications"]:
        publication.pop("images", None)
    (dist / JSON_FEED_NAME).write_text(json.dumps(feed), "utf-8")
    [opds2] = [f for f in read_feeds(dist)["feeds"] if f["path"] == JSON_FEED_NAME]
    assert opds2["r2"]["with_images"] == 0 and NO_IMAGE_WARNING in opds2["r2"]["warnings"]


def entries(count: int, key: str, dist: Path) -> list[Entry]:
    """`count` entries, one a day, each offering the real title's EPUB, PDF, cover and thumbnail."""
    files = []
    for edition in (*FEED_EDITIONS, COVER_EDITION, THUMBNAIL_EDITION):
        data = (dist / key / edition_file(key, edition)).read_bytes()
        files.append(Edition(edition, f"{key}/{edition_file(key, edition)}", len(data), hashlib.sha256(data).hexdigest()))
    return [Entry(key=f"title-{number:04d}", title=f"Title {number}",
                  identifier=f"urn:sha256:{hashlib.sha256(str(number).encode()).hexdigest()}",
                  summary=f"Summary {number}.", date=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=number),
                  editions=tuple(files)) for number in range(count)]


def summary(report: dict) -> dict:
    """Per parser: feeds read, publications seen, with images, warnings."""
    totals = {}
    for feed in report["feeds"]:
        for parser in ("r2", "nypl"):
            if parser in feed:
                seen = feed[parser]
                total = totals.setdefault(parser, {"feeds": 0, "publications": 0, "with_images": 0, "warnings": 0})
                total["feeds"] += 1
                total["publications"] += seen.get("publications", seen.get("entries", 0))
                total["with_images"] += seen.get("with_images", 0)
                total["warnings"] += len(seen.get("warnings", []))
    return totals
