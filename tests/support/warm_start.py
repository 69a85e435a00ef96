"""A warm start for the tests' seedpress commands: one process per pytest worker imports
seedpress and WeasyPrint once, then forks a child for each command, as a forkserver does.

Each command still runs in a process of its own, with its own pid, exit status, signals,
working directory, environment and stdin/stdout/stderr; it only skips the interpreter's
start and the imports (about 0.45 s of CPU a command, 250 s over the suite). What it
inherits is what every fresh process makes the same way: imported modules and WeasyPrint's
first-render state (its user-agent stylesheets, fontconfig's cache files). No seedpress
cache is filled before the fork, so a command's environment (SEEDPRESS_PANDOC, PATH,
SOURCE_DATE_EPOCH, ...) is read by the command as in a fresh process.

A command whose environment changes how an interpreter or fontconfig starts (PYTHON*,
LANG/LC_*, TZ, HOME, XDG_*, FONTCONFIG_*) starts fresh instead, and so does a command sent
while another is running on this worker, and every command when SEEDPRESS_TEST_FRESH=1.
tests/test_start_up.py and every test that starts seedpress with Popen (signals, servers,
the lock) use fresh interpreters, which keeps `python -m convert.cli` itself under test.

Protocol, over a SOCK_SEQPACKET socket pair: the test sends one JSON request (argv, cwd,
env) with stdin/stdout/stderr as SCM_RIGHTS file descriptors; the server forks, answers
{"pid"}, waits for the child, and answers {"returncode"} (negative: killed by a signal).
"""

from __future__ import annotations

import json
import locale
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Set to 1 to run every test command in a fresh interpreter, as before this module.
FRESH_VARIABLE = "SEEDPRESS_TEST_FRESH"
#: Environment variables read as an interpreter or fontconfig starts: a command that changes
#: one of them from the server's environment starts fresh.
_READ_AT_START = ("PYTHON", "LANG", "LC_", "TZ", "HOME", "XDG_", "FONTCONFIG")
_MESSAGE = 1 << 20


# --- the server ------------------------------------------------------------------------


def _warm() -> None:
    """Import every module a command may need and draw one page, so that each child
    starts where a fresh process is after its first seed, with no seedpress cache filled
    but the language model's (read from the installed wheel, the same for every command)."""
    import importlib
    import pkgutil

    import convert
    from convert.document import language
    from convert.editions import pdf

    for module in pkgutil.walk_packages(convert.__path__, "convert."):
        # Dask starts threads, and a fork must have none; runners.warm warms up seedpress
        # (finds pandoc) as it is imported, which only the workers' server may do.
        if ".cluster" not in module.name and module.name != "convert.runners.warm":
            importlib.import_module(module.name)
    for module in _IMPORTED_ON_USE:
        importlib.import_module(module)
    pdf.load_weasyprint().HTML(string="<p>warm</p>").write_pdf()
    language.detect("A sentence in English, so that the model is loaded.")
    assert threading.active_count() == 1, "the server must be single-threaded to fork"


#: What seedpress imports inside the functions that need it (so that `verify` or `status`
#: never pays for it): the cover's Pillow and fontTools, the gates' pikepdf and python-docx,
#: the progress display's rich, pandoc's locator.
_IMPORTED_ON_USE = (
    "PIL.Image", "PIL.ImageDraw", "PIL.ImageFont", "PIL.PngImagePlugin", "fontTools.ttLib", "pikepdf",
    "docx", "docx.opc.exceptions", "pydyf", "pypandoc", "rich.console", "rich.progress",
    "rich.text",
)


def _serve(channel: socket.socket) -> tuple[dict, list[int]]:
    """Fork a child per request until the tests hang up. Returns, in the child only, its
    request and its three descriptors."""
    while True:
        message, descriptors, _flags, _address = socket.recv_fds(channel, _MESSAGE, 3)
        if not message:
            os._exit(0)  # the pytest worker hung up (or died)
        request = json.loads(message)
        pid = os.fork()
        if pid == 0:
            channel.close()
            return request, descriptors
        for descriptor in descriptors:
            os.close(descriptor)
        channel.send(json.dumps({"pid": pid}).encode())
        _, status = os.waitpid(pid, 0)
        channel.send(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}).encode())


def _run_child(request: dict, descriptors: list[int]) -> None:
    """Become the command: its stdio, directory, environment and argv, then seedpress's
    main, leaving as `seedpress` does (cli.run: the exit handlers, the flushes, no teardown)."""
    for target, descriptor in enumerate(descriptors):
        os.dup2(descriptor, target)
        os.close(descriptor)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the server ignores Ctrl-C
    from convert import cli

    # As under `python -m convert.cli`: a spawned pool worker re-imports the main module
    # by its name, convert.cli, and not this file.
    sys.modules["__main__"] = cli
    sys.argv = [cli.__file__, *request["arguments"]]
    cli.exit_now(cli.main(request["arguments"]))


def main() -> None:
    from convert.process import die_with_parent

    die_with_parent(int(sys.argv[2]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C on pytest: it hangs up on us
    channel = socket.socket(fileno=int(sys.argv[1]))
    _warm()
    request, descriptors = _serve(channel)
    _run_child(request, descriptors)


# --- the tests' side ---------------------------------------------------------------------


class WarmStart:
    """The server of one pytest worker, and `run` as subprocess.run(capture_output=True,
    text=True) runs a command."""

    def __init__(self, root: Path, environment: Mapping[str, str]):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.environment = dict(environment)
        self.process = subprocess.Popen(
            [sys.executable, __file__, str(theirs.fileno()), str(os.getpid())],
            pass_fds=[theirs.fileno()], cwd=root, env=self.environment, stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self.channel = ours
        self.busy = threading.Lock()

    def can_run(self, env: Mapping[str, str]) -> bool:
        changed = {name for name in env.keys() | self.environment.keys()
                   if env.get(name) != self.environment.get(name)}
        return not any(name.startswith(_READ_AT_START) for name in changed)

    def run(self, command: Sequence[str], arguments: Sequence[str], *, env: Mapping[str, str], cwd: Path,
            timeout: float) -> subprocess.CompletedProcess | None:
        """The finished command, or None when it must start fresh (see the module's docstring)."""
        if not self.can_run(env) or not self.busy.acquire(blocking=False):
            return None
        try:
            with open(os.devnull, "rb") as stdin, tempfile.TemporaryFile() as stdout, \
                    tempfile.TemporaryFile() as stderr:
                request = {"arguments": list(arguments), "cwd": str(cwd), "env": dict(env)}
                self.channel.settimeout(None)
                socket.send_fds(self.channel, [json.dumps(request).encode()],
                                [stdin.fileno(), stdout.fileno(), stderr.fileno()])
                pid = self._answer()["pid"]
                self.channel.settimeout(timeout)
                try:
                    returncode = self._answer()["returncode"]
                except TimeoutError:
                    os.kill(pid, signal.SIGKILL)
                    self.channel.settimeout(None)
                    self._answer()
                    raise subprocess.TimeoutExpired(list(command), timeout, _text(stdout), _text(stderr)) from None
                return subprocess.CompletedProcess(list(command), returncode, _text(stdout), _text(stderr))
        finally:
            self.busy.release()

    def _answer(self) -> dict:
        message = self.channel.recv(_MESSAGE)
        if not message:
            raise AssertionError(f"the warm-start server exited with {self.process.wait()}")
        return json.loads(message)

    def stop(self) -> None:
        self.channel.close()  # the server reads end-of-file and exits
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _text(stream) -> str:
    """A captured stream read as subprocess.run(text=True) reads a pipe: the locale's
    encoding, universal newlines."""
    stream.seek(0)
    text = stream.read().decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


if __name__ == "__main__":
    main()
