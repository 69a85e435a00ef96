"""What a process that builds pays before its first seed, cut to what it needs: WeasyPrint
loaded without ctypes.util.find_library's processes (editions.pdf.load_weasyprint), and the
language detector without the downloader it never uses (document.language); and what it pays
after its last seed: the command ends without the interpreter's teardown (cli.run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.archives import write_seeds
from support.run import REAL_SEED, ROOT, seedpress_environment

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


def test_a_command_ends_with_its_output_written_its_code_kept_and_its_exit_handlers_run(tmp_path):
    """`seedpress` (cli.run) leaves by os._exit, skipping the teardown of every object: what
    it printed into a file (block-buffered) is all there, its exit code is the command's,
    and the exit handlers ran: multiprocessing's folder and the workers' server's socket
    are gone from TMPDIR."""
    seeds, dist, temporary = tmp_path / "seeds", tmp_path / "dist", tmp_path / "tmp"
    temporary.mkdir()
    write_seeds(seeds, 1)
    (seeds / "bad.txt").write_bytes(b"")
    output = tmp_path / "output.txt"
    with output.open("wb") as stdout:
        done = subprocess.run([sys.executable, "-m", "convert.cli", "archive", seeds, "--dist", dist, "--jobs", "1"],
                              stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT, timeout=300,
                              env=seedpress_environment({"TMPDIR": str(temporary)}))
    lines = output.read_text("utf-8").splitlines()
    assert done.returncode == 1, done.stderr  # a seed failed
    assert lines and lines[-1].startswith(f"{dist}: 1 built, 0 unchanged, 1 failed"), (lines, done.stderr)
    assert sorted(path.name for path in temporary.iterdir()) == []
    assert (dist / "article-0" / "article-0.pdf").is_file()
    assert Path(dist / "SHA256SUMS").is_file()


#: Builds one seed in a fresh interpreter, as a worker does, and says whether
#: importlib.metadata was imported on the way.
WORKER_PROBE = """
import sys, tempfile
from pathlib import Path
from convert import defaults
from convert.build.input import BuildOptions, build_input, warm_up
warm_up(defaults.FORMATS)
outcome = build_input(Path(sys.argv[1]), "k", Path(tempfile.mkdtemp()), BuildOptions(keep_seed=True))
print(outcome.status, "importlib.metadata" in sys.modules)
"""


def test_a_worker_builds_without_importing_importlib_metadata():
    """importlib.metadata (20 ms of every worker server's warm-up, on the way to a run's
    first seed) is read only for versions, which the run's own process checks."""
    result = subprocess.run([sys.executable, "-c", WORKER_PROBE, str(REAL_SEED)], capture_output=True, text=True,
                            cwd=ROOT, env=seedpress_environment(), timeout=300, check=True)
    assert result.stdout.split() == ["built", "False"], result.stderr


def test_a_command_started_with_stdout_closed_ends_with_its_own_code(tmp_path):
    """Started with descriptor 1 closed (`>&-`, as some schedulers do), Python has no
    sys.stdout (None): the exit's flush met None and turned a good run into exit 1."""
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 1)
    done = subprocess.run(["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "convert.cli", "archive",
                           str(seeds), "--dist", str(tmp_path / "dist")],
                          stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=300, env=seedpress_environment())
    assert (done.returncode, done.stderr) == (0, "")
    assert (tmp_path / "dist" / "article-0" / "article-0.pdf").is_file()


def test_an_archive_run_on_workers_with_a_long_tmpdir_builds(tmp_path):
    """multiprocessing puts the workers' server's socket under TMPDIR, and a Unix socket's
    path holds 107 bytes: with a long TMPDIR every run on workers stopped with a traceback
    ("OSError: AF_UNIX path too long"). The socket's folder is then made under /tmp."""
    temporary = tmp_path / ("t" * max(1, 100 - len(str(tmp_path))))
    temporary.mkdir()
    seeds = tmp_path / "seeds"
    write_seeds(seeds, 1)
    done = subprocess.run([sys.executable, "-m", "convert.cli", "archive", str(seeds), "--dist", str(tmp_path / "d"),
                           "--jobs", "2"], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env=seedpress_environment({"TMPDIR": str(temporary)}))
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert (tmp_path / "d" / "article-0" / "article-0.epub").is_file()
    assert list(temporary.iterdir()) == []
