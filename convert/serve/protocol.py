"""uvicorn's HTTP protocol with a deadline on the request head and on each piece of an answer,
so a client that sends its headers slowly (slowloris) or stops reading what it asked for cannot
hold a connection."""

from __future__ import annotations

import asyncio
import socket

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from convert.defaults import SERVE_HEADER_TIMEOUT, SERVE_SEND_TIMEOUT


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol that closes a connection whose request headers are not complete
    `header_timeout` seconds after it opened or after its previous answer.

    uvicorn's own keep-alive timeout stops at the first byte of a new request, and nothing else
    times the headers, so a client that sent half a request line held its connection for ever
    (issue 15, finding 7a). The timer does not restart when more bytes come, so trickling the
    headers a byte at a time buys nothing. A body still trickling in after its answer was sent
    is timed the same way: a read-only server has no use for it.

    An answer is timed too: when the client stops taking it, the transport's buffer fills and
    asyncio pauses writing; if it has not resumed `send_timeout` seconds later, the connection is
    aborted (issue 20, D9). uvicorn then tells the app the client left, and the file it was
    sending is closed. A client that reads slowly but reads resumes writing, and keeps its time.
    """

    header_timeout: float = SERVE_HEADER_TIMEOUT
    send_timeout: float = SERVE_SEND_TIMEOUT

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.header_timer: asyncio.TimerHandle | None = None
        self.send_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        if isinstance(self.server_state, StoppingState) and self.server_state.stopping:
            # Accepted as the server began to stop: close it as uvicorn closed the others.
            self.shutdown()
            return
        self.watch_client()

    def handle_events(self) -> None:
        # uvicorn calls this for every chunk received and once an answer is sent and the request is whole.
        super().handle_events()
        self.watch_client()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.watch_client()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_header_timer()
        self.stop_send_timer()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        # The transport's buffer is full: the client has not taken what we sent so far.
        super().pause_writing()
        if self.send_timer is None:
            self.send_timer = self.loop.call_later(self.send_timeout, self.send_timer_expired)

    def resume_writing(self) -> None:
        super().resume_writing()
        self.stop_send_timer()

    def stop_send_timer(self) -> None:
        if self.send_timer is not None:
            self.send_timer.cancel()
            self.send_timer = None

    def send_timer_expired(self) -> None:
        self.send_timer = None
        # abort, not close: close would wait for the buffer to drain, which is what never happens.
        self.transport.abort()

    def watch_client(self) -> None:
        """Run the timer while we wait on the client: for a request's headers, or for the rest of
        a body after we answered; stop it while the client waits on us."""
        waiting_for_headers = self.conn.their_state is h11.IDLE
        waiting_for_leftover_body = self.conn.their_state is h11.SEND_BODY and self.conn.our_state is h11.DONE
        if self.transport.is_closing() or not (waiting_for_headers or waiting_for_leftover_body):
            self.stop_header_timer()
        elif self.header_timer is None:
            self.header_timer = self.loop.call_later(self.header_timeout, self.header_timer_expired)

    def stop_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def header_timer_expired(self) -> None:
        self.header_timer = None
        self.transport.close()


class StoppingState(ServerState):
    """uvicorn's state shared by a server's connections, which also says whether it is stopping."""

    def __init__(self) -> None:
        super().__init__()
        self.stopping = False


class StoppingServer(uvicorn.Server):
    """uvicorn's server, which also closes a connection accepted as it began to stop.

    To stop, uvicorn closes its listening socket, asks every connection in its set to close (an
    idle one closes at once), and waits until the set is empty. A connection that accept() took
    in the same turn of the loop as the stop has its transport made two turns later, so it
    joined the set after the others were asked, and held the stop until its header timeout:
    for ever with a long one, 10 s with the default. It is now closed as soon as it is made
    (HeaderTimeoutProtocol.connection_made), unanswered, as uvicorn closes any other
    connection that has no answer under way.
    """

    def __init__(self, config: uvicorn.Config):
        super().__init__(config)
        self.server_state = StoppingState()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.server_state.stopping = True
        await super().shutdown(sockets)


def protocol_with_timeouts(header_timeout: float, send_timeout: float) -> type[HeaderTimeoutProtocol]:
    """The protocol class uvicorn should build connections from, timing headers at `header_timeout`
    seconds and each stalled piece of an answer at `send_timeout`."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,),
                {"header_timeout": header_timeout, "send_timeout": send_timeout})
