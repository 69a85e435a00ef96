"""The limits one input is built under: a time limit by SIGALRM, and the address-space
limit that tells a memory failure from any other."""

from __future__ import annotations

import resource
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class InputTimeout(BaseException):
    """Raised by the alarm when an input takes longer than its limit; a BaseException so
    that no `except Exception` in a library between here and the alarm swallows it."""


#: Seconds after which an alarm that was swallowed is raised again: Python drops an
#: exception raised in a finalizer (`__del__`, a weakref callback) with a note on stderr,
#: and the alarm can land in one (WeasyPrint's FontConfiguration.__del__ runs at any
#: garbage collection).
REPEAT_SECONDS = 0.25


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Raise InputTimeout in this thread after `seconds`, and again every REPEAT_SECONDS
    until it is taken. Only the main thread can take signals: elsewhere (a library
    caller's thread) there is no limit.

    Taken means handled: while an `except` or `finally` block handles the InputTimeout (or
    an error raised while handling it), the alarm lets it clean up. An alarm raised into
    that cleanup (stopping pandoc, which may take its grace) cut it short and left a
    half-closed writer to fail the next seed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    live = [True]

    def on_alarm(_signum, _frame):
        if live[0] and not handling_a_timeout():
            raise InputTimeout

    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _quiet_about_timeouts(previous_hook)
    signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT_SECONDS)
    try:
        yield
    finally:
        # First, before any call (where a pending handler could run and raise out of this
        # block, leaving the timer armed): an alarm from here on, the work ended as the
        # limit came, is let go, and the outcome already decided stands.
        live[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        sys.unraisablehook = previous_hook


def handling_a_timeout() -> bool:
    """Whether the code running now is handling an InputTimeout: the exception an `except`
    or `finally` block in this thread handles is one, or was raised while one was handled.
    A signal handler sees what the code it interrupted handles."""
    return caused_by_timeout(sys.exc_info()[1])


def caused_by_timeout(error: BaseException | None) -> bool:
    """Whether `error` is an InputTimeout, or was raised while one was handled (its
    context or cause, at any depth)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, InputTimeout):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _quiet_about_timeouts(hook: Callable[[Any], object]) -> Callable[[Any], object]:
    """An unraisable hook that says nothing of a swallowed InputTimeout (the alarm comes
    again) and hands anything else to `hook`."""
    def quiet(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, InputTimeout):
            hook(unraisable)
    return quiet


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
