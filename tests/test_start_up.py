"""What a process that builds pays before its first seed, cut to what it needs: WeasyPrint
loaded without ctypes.util.find_library's processes (editions.pdf.load_weasyprint), and the
language detector without the downloader it never uses (document.language)."""

from __future__ import annotations

import json
import subprocess
import sys

from support.run import ROOT, seedpress_environment

#: Loads WeasyPrint one way in a fresh interpreter (the usual import; load_weasyprint; or
#: load_weasyprint where Pango's soname cannot be opened) and reports which native libraries
#: it has and how many processes the load started.
PROBE = """
import ctypes.util, json, subprocess, sys
started = []
original = subprocess.Popen.__init__
def counting(self, *arguments, **options):
    started.append(arguments[0] if arguments else options.get("args"))
    original(self, *arguments, **options)
subprocess.Popen.__init__ = counting
asked = ctypes.util.find_library
if sys.argv[1] == "no-soname":
    # A machine where dlopen cannot find Pango by its soname, only find_library can.
    import cffi
    dlopen = cffi.FFI.dlopen
    def refusing(self, name, *arguments, **options):
        if name == "libpango-1.0.so.0" and ctypes.util.find_library is not asked:
            raise OSError(f"cannot open {name}")
        return dlopen(self, name, *arguments, **options)
    cffi.FFI.dlopen = refusing
if sys.argv[1] in ("seedpress", "no-soname"):
    from convert.editions.pdf import load_weasyprint
    load_weasyprint()
else:
    import weasyprint
from weasyprint.text import ffi
print(json.dumps({
    "processes": len(started),
    "libraries": sorted(name for name in ("gobject", "pango", "harfbuzz", "harfbuzz_subset",
                                          "harfbuzz_vector", "fontconfig", "pangoft2")
                        if getattr(ffi, name) is not None),
    "find_library_restored": ctypes.util.find_library is asked,
}))
"""


def probe(how: str) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE, how], capture_output=True, text=True, cwd=ROOT,
                            env=seedpress_environment(), timeout=300, check=True)
    return json.loads(result.stdout)


def test_load_weasyprint_finds_the_same_libraries_without_starting_a_process():
    usual, ours = probe("usual"), probe("seedpress")
    assert usual["processes"] > 0, "the usual import no longer starts processes: this shortcut can go"
    assert ours["processes"] == 0, ours
    assert ours["libraries"] == usual["libraries"]
    assert {"pango", "harfbuzz", "harfbuzz_subset", "fontconfig"} <= set(ours["libraries"])
    assert ours["find_library_restored"]


def test_load_weasyprint_falls_back_to_the_usual_import_when_a_soname_is_not_found():
    usual, fallback = probe("usual"), probe("no-soname")
    assert fallback["processes"] > 0  # the usual import ran, find_library's questions and all
    assert fallback["libraries"] == usual["libraries"]
    assert fallback["find_library_restored"]


#: Detects the language of two texts in a fresh interpreter and reports which of the
#: downloader's modules got imported, and what asking for a download does.
LANGUAGE_PROBE = """
import json, sys
from convert.document.language import detect
found = [detect("The minister said the talks would resume next week in London.").tag,
         detect("Le ministre a dit que les discussions reprendraient la semaine prochaine.").tag]
import robust_downloader
try:
    robust_downloader.download("https://example.org/lid.176.bin")
    refused = ""
except RuntimeError as error:
    refused = str(error)
print(json.dumps({"found": found, "refused": refused,
                  "loaded": sorted(m for m in ("requests", "urllib3", "tqdm") if m in sys.modules)}))
"""


def test_the_language_detector_loads_without_its_downloader_and_never_downloads():
    result = subprocess.run([sys.executable, "-c", LANGUAGE_PROBE], capture_output=True, text=True, cwd=ROOT,
                            env=seedpress_environment(), timeout=300, check=True)
    report = json.loads(result.stdout)
    assert report["found"] == ["en", "fr"]
    assert report["loaded"] == []
    assert "does not download language models" in report["refused"]
