"""`seedpress serve`, a real server on a free loopback port: started once it answers, stopped with Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from support.run import COMMAND_TIMEOUT, ROOT

SERVE_HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((SERVE_HOST, 0))
        return probe.getsockname()[1]


def serve_command(dist: Path, port: int, header_timeout: float | None) -> list[str]:
    """`seedpress serve` as a user runs it; with `header_timeout`, the library's serve() called directly,
    since the CLI keeps the default and a test cannot wait that long."""
    if header_timeout is None:
        return [sys.executable, "-m", "convert.cli", "serve", "--dist", str(dist),
                "--host", SERVE_HOST, "--port", str(port)]
    call = ("import sys; from convert.serve.app import serve; serve(sys.argv[1], host=sys.argv[2], "
            "port=int(sys.argv[3]), header_timeout=float(sys.argv[4]))")
    return [sys.executable, "-c", call, str(dist), SERVE_HOST, str(port), str(header_timeout)]


def start_server(dist: Path, logs: Path, header_timeout: float | None = None) -> tuple[subprocess.Popen, str]:
    """`seedpress serve` on a free loopback port, once it answers; stop it with stop()."""
    port = free_port()
    log = open(logs, "wb")
    process = subprocess.Popen(serve_command(dist, port, header_timeout), cwd=ROOT, stdout=log,
                               stderr=subprocess.STDOUT)
    log.close()
    return process, answering(process, f"http://{SERVE_HOST}:{port}", logs)


def answering(process: subprocess.Popen, base: str, logs: Path) -> str:
    """`base` once the server `process` answers there (polled, with a deadline); the server is
    killed, and the test fails with its log, if it exits or does not answer in time."""
    deadline = time.monotonic() + COMMAND_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}: {logs.read_text()}")
        try:
            if httpx.get(base + "/", timeout=1).status_code == 200:
                return base
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    process.wait()
    raise AssertionError(f"server did not answer within {COMMAND_TIMEOUT} s: {logs.read_text()}")


#: Seconds a server may take to stop after Ctrl-C: generous (a machine busy with other tests is
#: slow at it), since it only bounds a hang.
STOP_DEADLINE = 60


def stop(process: subprocess.Popen) -> int:
    """Ctrl-C the server and wait for it; kill it if it does not stop within STOP_DEADLINE."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=STOP_DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def descriptors_open_on(pid: int, path: Path) -> int:
    """How many descriptors process `pid` holds on `path` (Linux /proc)."""
    count = 0
    for entry in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(entry) == str(path)
        except FileNotFoundError:
            pass  # closed while we looked
    return count
