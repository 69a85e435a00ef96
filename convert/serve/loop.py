"""The event loop `seedpress serve` runs on: asyncio's selector loop, made to say in one line a
minute, not in a traceback per connection, that accept() ran out of descriptors."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket

#: What accept() fails with when the process or the system runs out of something; asyncio then
#: stops accepting for a second and tries again.
ACCEPT_SHORTAGES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: Seconds between two log lines about such a shortage while it lasts.
SHORTAGE_LOG_INTERVAL = 60

logger = logging.getLogger("uvicorn.error")


class ServeLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop, with its accept loop stopped at the first shortage.

    Python 3.11's `_accept_connection` goes on calling accept() after EMFILE, once for each
    connection the backlog may hold (2,048 under uvicorn): each failure is logged with a
    traceback and schedules one more retry, and at shutdown every retry still pending logs
    another. Here accept() fails once for the whole batch, then reports nothing to accept, so
    asyncio schedules its one retry a second later; and a retry that comes after the listening
    socket was closed does nothing.
    """

    def _accept_connection(self, protocol_factory, sock, *arguments, **options):
        if isinstance(sock, _ShortOnce):
            sock = sock.listener
        super()._accept_connection(protocol_factory, _ShortOnce(sock), *arguments, **options)

    def _start_serving(self, protocol_factory, sock, *arguments, **options):
        if sock.fileno() == -1:
            return  # the server closed while a retry was pending
        super()._start_serving(protocol_factory, sock, *arguments, **options)


class _ShortOnce:
    """A listening socket whose accept(), once it has run short, says there is nothing to accept
    for the rest of this batch."""

    def __init__(self, listener: socket.socket):
        self.listener = listener
        self.short = False

    def accept(self):
        if self.short:
            raise BlockingIOError(errno.EAGAIN, "accept() ran short in this batch")
        try:
            return self.listener.accept()
        except OSError as error:
            self.short = error.errno in ACCEPT_SHORTAGES
            raise

    def __getattr__(self, name):
        return getattr(self.listener, name)


class QuietAboutShortages:
    """A loop exception handler: one line for a shortage accept() met, at most every
    SHORTAGE_LOG_INTERVAL seconds; anything else to asyncio's own handler."""

    def __init__(self):
        self.said_at: float | None = None

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        exception = context.get("exception")
        if not (isinstance(exception, OSError) and exception.errno in ACCEPT_SHORTAGES):
            loop.default_exception_handler(context)
            return
        if self.said_at is None or loop.time() - self.said_at >= SHORTAGE_LOG_INTERVAL:
            self.said_at = loop.time()
            logger.warning("%s (%s); new connections wait until the server has some again",
                           context.get("message", "accept() ran short"), exception.strerror)


def run(main) -> None:
    """Run the coroutine `main` on a ServeLoop whose exception handler is QuietAboutShortages."""

    async def quietly() -> None:
        asyncio.get_running_loop().set_exception_handler(QuietAboutShortages())
        await main

    with asyncio.Runner(loop_factory=ServeLoop) as runner:
        runner.run(quietly())
