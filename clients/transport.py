"""An httpx transport over the standard library's ``http.client``: the seam under ApiSession.

Why not httpx's own transport: every call through httpcore + h11 costs ~1.4 ms of CPU on this
machine's 2 cores, ``http.client`` ~0.6 ms for the same round trip, and an invoice makes two
calls (bench/cost.py, yappi). Koppel needs none of httpcore's extras (HTTP/2, streaming,
proxies, async): both APIs answer small JSON bodies over HTTP/1.1.

What it keeps from httpcore, because the retry rules in ``clients/http.py`` depend on it:

* **An idle connection is checked before reuse.** A server closes keep-alive connections
  when it likes (uvicorn after 5 s). A write sent on such a connection gets no answer, and a
  write without an answer is an *ambiguous write*: the caller must look the object up before
  it may try again. So a connection idle for longer than ``keepalive_expiry_s``, or whose
  socket is readable while idle (the server's FIN or a stray byte), is closed, not reused.
* **Errors keep httpx's types**, which say whether the request left: ``ConnectError`` and
  ``ConnectTimeout`` (nothing sent; always safe to retry), ``WriteError``/``WriteTimeout``,
  ``ReadError``/``ReadTimeout`` and ``RemoteProtocolError`` (maybe applied).
* **Timeouts per phase** from the request's ``timeout`` extension (connect, write, read).

Thread safe: a consumer's worker threads share one client per connection; each request holds
a connection of its own, and idle ones wait in a list per origin under a lock.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

#: A connection idle longer than this is closed rather than reused (s). httpx's default; the
#: simulators' uvicorn closes idle connections after 5 s, real APIs' balancers after ~60 s.
KEEPALIVE_EXPIRY_S = 5.0
#: Idle connections kept per origin: one per worker thread that calls it at once.
MAX_IDLE_PER_ORIGIN = 16

Origin = tuple[str, str, int]


def _is_readable(sock: socket.socket) -> bool:
    """True when an idle socket has something to read: the peer closed it, or sent bytes no
    request asked for. Either way the connection must not carry another request."""
    if sock.fileno() < 0:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class _Idle:
    __slots__ = ("connection", "since")

    def __init__(self, connection: http.client.HTTPConnection, since: float) -> None:
        self.connection = connection
        self.since = since


@contextmanager
def _mapped(errors: dict[type[BaseException], type[httpx.TransportError]]) -> Iterator[None]:
    """Raise the first matching httpx error for a standard-library one (order matters)."""
    try:
        yield
    except httpx.TransportError:
        raise
    except Exception as exc:
        for source, target in errors.items():
            if isinstance(exc, source):
                raise target(f"{type(exc).__name__}: {exc}") from exc
        raise


_CONNECT_ERRORS: dict[type[BaseException], type[httpx.TransportError]] = {
    TimeoutError: httpx.ConnectTimeout,
    OSError: httpx.ConnectError,  # refused, unreachable, DNS, TLS handshake (ssl.SSLError)
}
_WRITE_ERRORS: dict[type[BaseException], type[httpx.TransportError]] = {
    TimeoutError: httpx.WriteTimeout,
    OSError: httpx.WriteError,
}
_READ_ERRORS: dict[type[BaseException], type[httpx.TransportError]] = {
    TimeoutError: httpx.ReadTimeout,
    # Closed before a status line: the request went out, whether it was applied is unknown.
    http.client.RemoteDisconnected: httpx.RemoteProtocolError,
    http.client.HTTPException: httpx.RemoteProtocolError,  # bad status line, short body
    OSError: httpx.ReadError,
}


class StdlibTransport(httpx.BaseTransport):
    """HTTP/1.1 keep-alive over ``http.client``, for httpx clients."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        keepalive_expiry_s: float = KEEPALIVE_EXPIRY_S,
        max_idle_per_origin: int = MAX_IDLE_PER_ORIGIN,
    ) -> None:
        self._ssl_context = ssl_context
        self._keepalive_expiry_s = keepalive_expiry_s
        self._max_idle = max_idle_per_origin
        self._idle: dict[Origin, list[_Idle]] = {}
        self._lock = threading.Lock()
        #: Connections opened so far; the tests read it to see reuse happen.
        self.connections_opened = 0

    # -- connections ---------------------------------------------------------------------

    def _reusable(self, origin: Origin) -> http.client.HTTPConnection | None:
        now = time.monotonic()
        while True:
            with self._lock:
                waiting = self._idle.get(origin)
                if not waiting:
                    return None
                idle = waiting.pop()  # the most recently used: least likely to be closed
            connection = idle.connection
            sock = connection.sock
            if (
                now - idle.since < self._keepalive_expiry_s
                and sock is not None
                and not _is_readable(sock)
            ):
                return connection
            connection.close()

    def _open(self, origin: Origin, connect_timeout_s: float | None) -> http.client.HTTPConnection:
        scheme, host, port = origin
        connection: http.client.HTTPConnection
        if scheme == "https":
            connection = http.client.HTTPSConnection(
                host, port, timeout=connect_timeout_s, context=self._ssl_context
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=connect_timeout_s)
        with _mapped(_CONNECT_ERRORS):
            connection.connect()
        # Small requests, answered at once: do not let Nagle hold the body back (~40 ms).
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connections_opened += 1
        return connection

    def _keep(self, origin: Origin, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            waiting = self._idle.setdefault(origin, [])
            if len(waiting) < self._max_idle:
                waiting.append(_Idle(connection, time.monotonic()))
                return
        connection.close()

    # -- httpx.BaseTransport -------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"cannot send {scheme!r} requests")
        port = url.port or (443 if scheme == "https" else 80)
        origin: Origin = (scheme, url.host, port)
        timeouts = request.extensions.get("timeout", {})
        body = request.read()

        connection = self._reusable(origin) or self._open(origin, timeouts.get("connect"))
        try:
            sock = connection.sock
            with _mapped(_WRITE_ERRORS):
                sock.settimeout(timeouts.get("write"))
                connection.putrequest(
                    request.method,
                    url.raw_path.decode("ascii"),
                    skip_host=True,  # httpx set Host and Accept-Encoding already
                    skip_accept_encoding=True,
                )
                for name, value in request.headers.raw:
                    connection.putheader(name, value)
                connection.endheaders(body or None)
            with _mapped(_READ_ERRORS):
                sock.settimeout(timeouts.get("read"))
                answer = connection.getresponse()
                content = answer.read()
        except BaseException:
            connection.close()
            raise
        if answer.will_close:
            connection.close()
        else:
            self._keep(origin, connection)
        return httpx.Response(
            answer.status,
            headers=answer.getheaders(),
            stream=httpx.ByteStream(content),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": answer.reason.encode("ascii", "replace"),
            },
        )

    def close(self) -> None:
        with self._lock:
            waiting = [idle for idles in self._idle.values() for idle in idles]
            self._idle.clear()
        for idle in waiting:
            idle.connection.close()
