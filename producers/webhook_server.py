"""The HTTP server under the webhook receiver: uvicorn, with a limit on everything a client
can hold, since the receiver faces the internet.

Plain ``uvicorn.run`` waits for a request's headers forever and accepts connections until
the process runs out of file handles: 1,000 half-sent requests held it for as long as the
sender liked, and a valid event could not get in. Here:

* a request's line and headers must arrive within ``header_timeout_s`` of the connection
  being ready for it (when it opens, and after each answer), or it is closed;
* a request's headers are at most ``max_header_bytes`` (h11 answers 400 beyond);
* at most ``max_connections`` are open, fewer when the open-file limit needs it; at the
  limit a new connection closes the oldest one still waiting for its request, so half-sent
  requests cannot lock out a sender that sends its request at once;
* an answer given before the body was read (a wrong token, a refused body) closes the
  connection, instead of uvicorn reading and dropping the rest for as long as it comes.

Body size and time are the receiver's (``producers/webhook_body.py``). uvicorn logs through
Koppel's handler (``log_config=None``; ``config/logging.py``), and without its access log,
whose lines would hold each URL's token.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle
from uvicorn.server import ServerState

from config import Settings

logger = logging.getLogger(__name__)

#: File handles kept free of client connections besides the database pool's: the listening
#: socket, the event loop, logs, the thread pool's and libraries' own.
FD_HEADROOM = 64
#: Connections closed for want of room are reported at most once per this (s): one line,
#: not one per connection of a flood.
SHED_REPORT_S = 60.0
#: How long a stopping server waits for requests in hand (s).
GRACEFUL_SHUTDOWN_S = 5


@dataclass(frozen=True)
class ServerLimits:
    header_timeout_s: float
    keep_alive_s: int
    max_header_bytes: int
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerLimits:
        reserved = settings.database_pool_size + FD_HEADROOM
        return cls(
            header_timeout_s=settings.webhook_header_timeout_s,
            keep_alive_s=settings.webhook_keep_alive_s,
            max_header_bytes=settings.webhook_max_header_bytes,
            max_connections=connection_cap(settings.webhook_max_connections, reserved),
        )


def connection_cap(wanted: int, reserved_fds: int) -> int:
    """``wanted``, lowered so that the connections and ``reserved_fds`` fit the process's
    open-file limit (a process out of file handles accepts nothing, valid events included)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft - reserved_fds >= wanted:
        return wanted
    fitting = max(soft - reserved_fds, 8)
    logger.warning(
        "the webhook receiver takes %d connections at once, not %d: the open-file limit is %d"
        " (raise it with `ulimit -n`)",
        fitting,
        wanted,
        soft,
    )
    return fitting


class _ShedReport:
    """Counts connections closed for want of room; says so once per :data:`SHED_REPORT_S`."""

    def __init__(self) -> None:
        self.count = 0
        self.reported_at = float("-inf")

    def add(self, max_connections: int) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.reported_at >= SHED_REPORT_S:
            logger.warning(
                "the webhook receiver is at its %d connections: a new one closes the oldest"
                " still waiting for its request (%d closed since the last such line)",
                max_connections,
                self.count,
            )
            self.count = 0
            self.reported_at = now


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline, a connection cap and no unread bodies
    (the class attribute ``limits`` is set by :func:`serve`)."""

    limits: ClassVar[ServerLimits]
    shed: ClassVar[_ShedReport]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._deadline: asyncio.TimerHandle | None = None
        #: The request cycle in hand when the deadline was set: a new one means a request
        #: arrived in time.
        self._awaited: RequestResponseCycle | None = None
        #: Loop time since which the connection waits for a request; None while one is in hand.
        self.waiting_since: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_request()
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not self._awaited:
            self._stop_waiting()

    def on_response_complete(self) -> None:
        if self.conn.their_state is h11.SEND_BODY:
            # Answered before the body was read: uvicorn would take the rest in and drop
            # it, for as long as the client cares to send it.
            self.transport.close()
            return
        answered = self.cycle
        super().on_response_complete()
        if self.cycle is answered and not self.transport.is_closing():
            self._await_request()

    def _await_request(self) -> None:
        self._stop_waiting()
        self._awaited = self.cycle
        self.waiting_since = self.loop.time()
        self._deadline = self.loop.call_later(self.limits.header_timeout_s, self._too_slow)

    def _stop_waiting(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self.waiting_since = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.cycle is self._awaited:
            logger.debug("closed a connection whose request did not arrive in time")
            self._close()

    def _make_room(self) -> None:
        waiting = [
            c
            for c in self.connections
            if isinstance(c, GuardedH11Protocol) and c is not self and c.waiting_since is not None
        ]
        # None waiting: every other connection has a request in hand, so this one waits
        # its turn outside (it is closed; the sender may try again).
        oldest = min(waiting, key=lambda c: c.waiting_since or 0.0, default=self)
        oldest._close()
        self.shed.add(self.limits.max_connections)

    def _close(self) -> None:
        self._stop_waiting()
        # Out of the count at once, not when the loop gets to connection_lost: a flood of
        # new connections must not each close another for the same free place.
        self.connections.discard(self)
        self.transport.close()


def serve(app: ASGIApp, host: str, port: int, limits: ServerLimits) -> None:
    """Serve ``app`` until SIGTERM or SIGINT."""

    class Protocol(GuardedH11Protocol):
        pass

    Protocol.limits = limits
    Protocol.shed = _ShedReport()
    uvicorn.run(
        app,
        host=host,
        port=port,
        http=Protocol,
        h11_max_incomplete_event_size=limits.max_header_bytes,
        timeout_keep_alive=limits.keep_alive_s,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        # Koppel's handler (redacted, text or JSON); no access log (its lines hold tokens).
        log_config=None,
        access_log=False,
        server_header=False,
    )
