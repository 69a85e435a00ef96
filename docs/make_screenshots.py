"""The README's pictures: on a phone, the index, a search typed into it, and a landing page;
on a desktop, the index and the same landing page.

    .venv/bin/python docs/make_screenshots.py      (or `make readme-images`)

Archives the project's seeds plus three test seeds in other languages into a
temporary folder, serves it with Python's http.server (a plain static host, so the
search is Pagefind's, in the browser), and takes each picture at 390 x 844 CSS
pixels (a phone) or 1280 x 800 (a desktop) in Debian's headless Chromium through
Playwright (the test extra).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
QUERY = "Syrian"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        seeds, dist = Path(folder) / "seeds", Path(folder) / "dist"
        shutil.copytree(ROOT / "seeds", seeds)
        for language in ("ja", "fr", "ar"):
            shutil.copy(ROOT / "tests" / "data" / "languages" / f"{language}.txt", seeds / f"{language}.txt")
        subprocess.run([sys.executable, "-m", "convert.cli", "archive", str(seeds), "--dist", str(dist)],
                       check=True, cwd=ROOT, env={"SOURCE_DATE_EPOCH": "1795000000", "PATH": "/usr/bin:/bin"})
        server = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0",
                                   "--directory", str(dist)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  text=True)
        try:
            base = "http://127.0.0.1:" + re.search(r" port ([0-9]+) ", server.stdout.readline())[1]
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=shutil.which("chromium"),
                                                     args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport=PHONE)
                page.goto(f"{base}/index.html")
                page.screenshot(path=ROOT / "docs" / "phone-index.png")
                expect(page.locator("#search[data-ready=true]")).to_be_attached()
                page.locator("#search-query").press_sequentially(QUERY)
                page.locator("#search-query").press("Enter")
                expect(page.locator("#search-results h2")).to_contain_text(QUERY, timeout=60_000)
                page.screenshot(path=ROOT / "docs" / "phone-search.png")
                page.locator("#search-results li h3 a").first.click()
                page.wait_for_load_state()
                page.screenshot(path=ROOT / "docs" / "phone-landing.png")
                landing = page.url
                desktop = browser.new_page(viewport=DESKTOP)
                desktop.goto(f"{base}/index.html")
                desktop.screenshot(path=ROOT / "docs" / "desktop-index.png")
                desktop.goto(landing)
                desktop.screenshot(path=ROOT / "docs" / "desktop-landing.png")
                browser.close()
        finally:
            server.kill()
            server.communicate()


if __name__ == "__main__":
    main()
