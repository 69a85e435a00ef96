"""The renderer process of a cluster worker, and the handle a Dask worker keeps on it.

A Dask worker runs tasks in threads: SIGALRM, which bounds a seed's time, reaches
only a main thread, and no thread can be stopped inside WeasyPrint's C code. So
each Dask worker thread hands its seeds to a child process of its own,
`python -P -m convert.runners.cluster_renderer`, that renders them in its main thread
exactly as a local pool worker does: WeasyPrint imported once, the seed's time
limit by SIGALRM, its memory limit by RLIMIT_AS. The two speak length-prefixed
pickles over the child's stdin and stdout (both ends are this package; nothing
from a seed is unpickled that the child did not build itself).

The handle enforces what the child cannot: a hard deadline (the time limit plus
defaults.HARD_TIMEOUT_MARGIN) after which the child is killed, and the child's death,
which the handle reports as `Crashed` instead of a result and survives by
starting a new child for the next seed.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from convert import defaults
from convert.process import (
    PipeReader,
    debugging,
    die_with_parent,
    leave_interrupt_to_parent,
    limit_address_space,
    quiet_stderr,
    set_up_for_rendering,
    stop_child,
)

#: Seconds a renderer waits for a seed before it exits, giving its memory back (the
#: worker starts a new one for the next seed); the worker's handle replaces one idle
#: for a minute less, so that no seed is sent to a child about to leave.
IDLE_SECONDS = 900

_HEADER = struct.Struct(">Q")


@dataclass(frozen=True)
class RenderRequest:
    """One seed as the driver sends it: its bytes and everything a build reads besides."""

    seed_bytes: bytes
    """The seed file's bytes, read by the driver."""
    where: str
    """The seed's path on the driver: a label for messages, never opened."""
    key: str
    """Its safe key."""
    options: object
    """The BuildOptions of the run (the worker points `styles` at its own copy)."""
    created: datetime
    """The build date the editions carry, decided by the driver."""


@dataclass(frozen=True)
class Crashed:
    """The renderer process died while it held the seed (killed, out of memory, a crash)."""

    reason: str


def _write_frame(stream: BinaryIO, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


class RendererProcess:
    """A handle on one renderer child; one thread uses it at a time."""

    def __init__(self, memory: int) -> None:
        self.memory = memory
        """The address-space limit its child renders under, set once after warming up."""
        self.process: subprocess.Popen | None = None
        self.reader: PipeReader | None = None
        self.ready = False
        self.served = 0
        """Seeds it rendered; the worker replaces it after defaults.WORKER_TASKS."""
        self.last_used = time.monotonic()

    def start(self) -> RendererProcess:
        """Start the child (it warms up while the caller goes on); returns self.

        Call it from a thread that lives as long as the Dask worker (its event loop or a
        task thread): the child is killed when the thread that started it ends."""
        self.close()
        self.process = subprocess.Popen(
            # -P: the working folder of a Dask worker is no place to import modules from.
            [sys.executable, "-P", "-m", "convert.runners.cluster_renderer", str(self.memory), str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
        )
        self.reader = PipeReader(self.process.stdout, "the renderer process exited")
        self.ready, self.served, self.last_used = False, 0, time.monotonic()
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def render(self, request: RenderRequest, timeout: float):
        """The child's answer for `request` (a Rendered or failed Outcome), `Crashed` if it
        died holding it, or None if it was killed at the hard deadline, `timeout` seconds
        after it was handed the seed."""
        if request.options.memory != self.memory:
            self.memory = request.options.memory
            self.start()
        elif not self.alive or time.monotonic() - self.last_used > IDLE_SECONDS - 60:
            self.start()
        self.last_used = time.monotonic()
        try:
            if not self.ready:
                self._read_message(time.monotonic() + defaults.WORKER_START_TIMEOUT)
                self.ready = True
            _write_frame(self.process.stdin, request)
        except (OSError, EOFError, TimeoutError, pickle.UnpicklingError) as error:
            # It never got the seed: the renderer's failure, not the seed's.
            self.close()
            raise RuntimeError(f"the renderer process could not start: {error or type(error).__name__}") from None
        try:
            answer = self._read_message(time.monotonic() + timeout)
        except TimeoutError:
            self.close()
            return None
        except (OSError, EOFError, pickle.UnpicklingError):
            return Crashed(self._death())
        self.served += 1
        return answer

    def _death(self) -> str:
        """How the child died, once it has; the handle is closed after."""
        try:
            status = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            status = None
        self.close()
        if status is not None and status < 0:
            name = signal.Signals(-status).name
            if -status == signal.SIGKILL:
                return f"the renderer process was killed ({name}: out of memory, or killed)"
            return f"the renderer process died of {name}"
        return f"the renderer process exited (status {status})"

    def _read_message(self, deadline: float) -> object:
        size = _HEADER.unpack(self.reader.read_exact(_HEADER.size, deadline))[0]
        return pickle.loads(self.reader.read_exact(size, deadline))

    def close(self) -> None:
        """Kill the child, if any, and release its pipes."""
        if self.process is not None:
            stop_child(self.process)
            self.process = None


# --- the child -----------------------------------------------------------------

def _protocol_streams() -> tuple[BinaryIO, BinaryIO]:
    """The child's requests and answers on private descriptors; fds 0 and 1 go to
    /dev/null and stderr, so that nothing a library prints can break a frame."""
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    answers = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2 if debugging() else devnull, 1)
    os.close(devnull)
    quiet_stderr()
    return requests, answers


def _read_all(stream: BinaryIO, size: int) -> bytes | None:
    """Exactly `size` bytes from an unbuffered stream; None at its end."""
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def main(memory: int, parent: int) -> None:
    """Render seeds read from stdin until it closes (or none comes for IDLE_SECONDS),
    answering each on stdout, under an address-space limit of `memory` bytes."""
    set_up_for_rendering()  # before the imports and the warm-up's threads
    from convert.build.input import render_seed_bytes, warm_up
    from convert.runners.pool import trace_start

    # Be killed when the Dask worker goes; Ctrl-C is for the Dask worker to handle.
    die_with_parent(parent)
    requests, answers = _protocol_streams()
    leave_interrupt_to_parent()
    # Warm up before the limit applies, as a local pool worker does.
    warm_up(defaults.FORMATS)
    limit_address_space(memory)
    _write_frame(answers, "ready")
    while True:
        if not select.select([requests], [], [], IDLE_SECONDS)[0]:
            return  # no seed for a long while: give the memory back
        header = _read_all(requests, _HEADER.size)
        if header is None:
            return  # the worker closed the pipe: it is done with us
        request: RenderRequest = pickle.loads(_read_all(requests, _HEADER.unpack(header)[0]) or b"")
        trace_start(request.key)
        result = render_seed_bytes(request.seed_bytes, request.where, request.key, request.options, request.created)
        _write_frame(answers, result)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
