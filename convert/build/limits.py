"""The limits one input is built under: a time limit by SIGALRM, and the address-space
limit that tells a memory failure from any other."""

from __future__ import annotations

import resource
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class InputTimeout(BaseException):
    """Raised by the alarm when an input takes longer than its limit; a BaseException so
    that no `except Exception` in a library between here and the alarm swallows it."""


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Raise InputTimeout in this thread after `seconds`. Only the main thread can take
    signals: elsewhere (a library caller's thread) there is no limit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(_signum, _frame):
        raise InputTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def reached_memory_limit() -> bool:
    """True when this process's address space has come within 5% of its limit. C libraries
    that fail to allocate do not all raise MemoryError (cairo, Pango: a SystemError, a
    RuntimeError), so an unexpected error at that point is taken for running out."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return False
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmPeak:"))
    except (OSError, StopIteration, ValueError):
        return False
    return peak >= soft * 0.95
