"""What every child process seedpress starts shares: its set-up (die with the parent, leave
Ctrl-C to the parent, a quiet stderr, the address-space limit), the reader of its pipe with
a deadline (and the writer that feeds its stdin meanwhile), and a stop that never leaves a
zombie."""

from __future__ import annotations

import ctypes
import fcntl
import functools
import os
import resource
import select
import signal
import subprocess
import time
from collections import deque
from typing import BinaryIO

#: Set (to anything) to keep what workers and renderers print on stderr, for debugging.
DEBUG_VARIABLE = "SEEDPRESS_DEBUG"


def debugging() -> bool:
    """True when SEEDPRESS_DEBUG asks for the children's stderr."""
    return bool(os.environ.get(DEBUG_VARIABLE))


def die_with_parent(parent: int) -> None:
    """In a child: be killed when the process `parent` goes (killed with -9 mid-seed: nothing
    else would stop a render no one waits for), and exit at once if it went already. A
    kernel signal, not a watching thread: a thread would cost the address space (its
    stack, a malloc arena) that the memory limit counts."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)  # it went before the signal was armed


def leave_interrupt_to_parent() -> None:
    """In a child: ignore SIGINT. Ctrl-C goes to the whole process group; the parent decides
    what happens to the work."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def quiet_stderr() -> None:
    """In a child: send stderr to /dev/null unless SEEDPRESS_DEBUG is set. Every failure comes
    back as an outcome and is reported once, by the parent; what C libraries print while
    dying (GLib on a failed allocation) is noise."""
    if debugging():
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


#: mallopt's parameter for the most malloc arenas a process may have (glibc's malloc.h).
M_ARENA_MAX = -8


def one_malloc_arena() -> None:
    """Keep every thread of this process on glibc's main malloc arena; called first thing in
    a process that will render under an address-space limit.

    Pango matches fonts in threads of its own, one per font pattern (44 of them for the
    warm title alone), and glibc gives a new thread an arena of its own, up to 8 per
    core: 64 MiB of address space each, held by the process (and its forks) after the
    thread ends. Which threads get one depends on the timing, so a warm worker took 290
    or 355 MiB of a 400 MiB limit, and an ordinary seed after a new arena could run out.
    With one arena, the warm worker takes 160 MiB, the same every time, and its RSS and
    speed are unchanged (measured: Pango's threads only wait on fontconfig). It must
    come before the first thread: glibc fixes the number of arenas once it has 8."""
    _mallopt((M_ARENA_MAX, 1))


def _mallopt(*settings: tuple[int, int]) -> None:
    """glibc's mallopt for each (parameter, value) in turn; nothing where there is no
    glibc (no arenas or thresholds of this kind to set)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    for parameter, value in settings:
        mallopt(parameter, value)


#: mallopt's parameters for the size from which an allocation is mapped on its own, and
#: for the free memory at the top of the heap beyond which it is given back (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: glibc's own ceiling for its sliding mmap threshold on 64 bits, and twice it to trim at,
#: the ratio glibc keeps between the two while it slides them.
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD


def freed_memory_kept() -> None:
    """Keep the memory a seed frees for the next seed, rather than giving it back to the
    kernel and taking it again page by page: glibc's thresholds fixed at the values its
    sliding thresholds reach at most.

    Subsetting a font from a face HarfBuzz preprocessed (editions/pdf.py) takes and frees
    some 6 MB a seed, which glibc, with the thresholds a fork inherits, gave back each
    time: 2,050 page faults a seed in a warm worker, against 520 with these, for 3 to
    5 ms less of the kernel's time a seed (paired runs). The memory kept is what the
    seeds use again; the peak of a worker is the same."""
    _mallopt((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def set_up_for_rendering() -> None:
    """What a process that renders seed after seed under an address-space limit (the
    workers' server, a cluster renderer) sets first thing, before any thread starts:
    one malloc arena, freed memory kept, and each thread's stack bounded."""
    one_malloc_arena()
    freed_memory_kept()
    bound_thread_stacks()


def limit_address_space(limit: int) -> None:
    """Lower this process's address-space limit to `limit` bytes (never above the hard limit),
    and bound the stack a new thread reserves under it (bound_thread_stacks)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    bound_thread_stacks()


#: The most address space a thread started after limit_address_space reserves for its stack
#: (glibc adds a guard page): glibc's usual default (the common `ulimit -s` of 8 MiB).
THREAD_STACK_SIZE = 8 * 2**20


@functools.cache
def bound_thread_stacks(size: int = THREAD_STACK_SIZE) -> None:
    """Make the threads this process starts from now on reserve at most `size` bytes of stack.
    Once a process (and its forks): every render under a limit asks again, and nothing
    else sets the default back.

    glibc reserves a new thread's whole stack up front, as large as the shell's `ulimit -s`
    (2 MiB when unlimited), and the address-space limit counts it. Pango starts a thread for
    each font pattern it sorts, and GLib aborts the process when the thread cannot be made:
    where `ulimit -s` was 64 MiB, a worker within 64 MiB of its limit died in
    `creating thread '[pango] FcFontSetSort'`, and at 1 GiB no seed built under
    `--memory 400`. Smaller stacks are left as they are (musl's are 128 kB); without
    pthread_setattr_default_np (glibc 2.18 and later, musl) nothing changes."""
    try:
        libc = ctypes.CDLL(None)
        get_default, set_default = libc.pthread_getattr_default_np, libc.pthread_setattr_default_np
    except (OSError, AttributeError):
        return  # no such call here (macOS, an old glibc)
    attributes = ctypes.create_string_buffer(256)  # a pthread_attr_t: 56 bytes on x86-64, 64 on arm64
    if get_default(attributes) != 0:
        return
    try:
        current = ctypes.c_size_t()
        if libc.pthread_attr_getstacksize(attributes, ctypes.byref(current)) == 0 and current.value > size:
            libc.pthread_attr_setstacksize(attributes, ctypes.c_size_t(size))
            set_default(attributes)
    finally:
        libc.pthread_attr_destroy(attributes)


def unlimit_address_space() -> None:
    """In a child about to exec: lift the worker's address-space limit to its hard limit."""
    # GHC's runtime reserves a terabyte of address space up front, so the
    # worker's RLIMIT_AS must not reach pandoc (nor Java); +RTS -M bounds pandoc's heap.
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


#: The size asked for a child's pipes (Linux caps it at /proc/sys/fs/pipe-max-size, 1 MiB by
#: default): a request and its answers then fit in them, and neither side waits for the other.
PIPE_SIZE = 1 << 20


def widen_pipe(stream: BinaryIO) -> None:
    """Ask the kernel for PIPE_SIZE bytes of buffer on the pipe `stream` ends; where it says
    no (another system, a user over their pipe quota), the pipe stays as it was."""
    try:
        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except (AttributeError, OSError):
        pass


class PipeWriter:
    """Writes to a child's stdin without ever blocking: what the pipe cannot take yet waits
    here, and goes on whenever a PipeReader fed by it waits for the child's answers. A large
    request thus never deadlocks with a child that is itself blocked writing an answer no one
    reads yet, and the caller may send several requests before reading any answer."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        os.set_blocking(stream.fileno(), False)
        self.queue: deque[memoryview] = deque()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def pending(self) -> bool:
        """Whether some bytes written are still to go into the pipe."""
        return bool(self.queue)

    def write(self, data: bytes) -> None:
        """Queue `data` and put as much of what is queued into the pipe as it takes now;
        OSError (BrokenPipeError) when the child has gone."""
        self.queue.append(memoryview(data))
        self.flush_some()

    def flush_some(self) -> None:
        """Put into the pipe as much of what is queued as it takes without waiting."""
        while self.queue:
            try:
                written = os.write(self.stream.fileno(), self.queue[0])
            except BlockingIOError:
                return
            if written == len(self.queue[0]):
                self.queue.popleft()
            else:
                self.queue[0] = self.queue[0][written:]


class PipeReader:
    """Reads a child's stdout with a deadline: what arrives is buffered, and a read that the
    deadline passes raises TimeoutError, one that meets the pipe's end EOFError. Given a
    `feeder` (the PipeWriter of the child's stdin), it goes on writing what the feeder holds
    while it waits."""

    def __init__(self, stream: BinaryIO, ended: str, feeder: PipeWriter | None = None):
        self.stream = stream
        self.ended = ended
        """What EOFError says when the pipe ends ("pandoc exited")."""
        self.feeder = feeder
        self.buffer = b""

    def _fill(self, deadline: float) -> None:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer in time")
            writing = [self.feeder] if self.feeder is not None and self.feeder.pending else []
            readable, writable, _ = select.select([self.stream], writing, [], remaining)
            if writable:
                self.feeder.flush_some()
            if readable:
                break
            if not writable:
                raise TimeoutError("no answer in time")
        chunk = os.read(self.stream.fileno(), 1 << 20)
        if not chunk:
            raise EOFError(self.ended)
        self.buffer += chunk

    def read_line(self, deadline: float) -> bytes:
        """The next line, without its newline."""
        while b"\n" not in self.buffer:
            self._fill(deadline)
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def read_exact(self, size: int, deadline: float) -> bytes:
        """The next `size` bytes."""
        while len(self.buffer) < size:
            self._fill(deadline)
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data


def kill(pid: int | None) -> None:
    """SIGKILL the process `pid`, if there is one and it is still there."""
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop_child(process: subprocess.Popen, *, grace: float = 0) -> None:
    """Stop a child that speaks over its stdin and stdout, reap it and close its pipes.

    With a `grace`, the child first gets the end of its input and that many seconds
    to exit by itself (and clean up after itself); then, or at once, it is killed.
    """
    if grace and process.poll() is None:
        try:
            process.stdin.close()
            process.wait(timeout=grace)
        except (OSError, subprocess.TimeoutExpired):
            pass
    if process.poll() is None:
        process.kill()
    process.wait()
    process.stdin.close()
    process.stdout.close()
