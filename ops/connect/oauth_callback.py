"""Receiving an OAuth2 redirect on this machine: a one-shot HTTP server on the redirect URI.

``koppel connect live`` prints the authorize URL; the person approves in a browser, and the
service sends the browser to ``KOPPEL_REDIRECT_URI`` (``http://127.0.0.1:8765/callback`` by
default) with ``?code=..&state=..``. This server listens there until the redirect carrying
this run's ``state`` arrives, answers a short page, and hands the whole redirect URL to the
caller (which checks it again, ``clients.oauth.code_from_redirect``). A redirect with another
state (a stale tab, a forged link, anything else on this machine that can reach the port) is
answered 400 and does not end the wait: otherwise whoever is first on the port decides how
the flow ends. It listens from construction on, so the URL is only printed once the port is
known to be ours.
"""

from __future__ import annotations

import hmac
import html
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from config.errors import NeedsPerson

#: How long one browser request may take to arrive in full (seconds); a client that connects
#: and sends nothing must not hold the one-shot server forever.
REQUEST_TIMEOUT_S = 10.0

_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>Koppel</title></head>"
    "<body style='font-family: sans-serif; margin: 3em'><h1>{title}</h1><p>{text}</p>"
    "</body></html>"
)


class CallbackError(NeedsPerson):
    """The redirect could not be received; the message says why and what to do instead."""


class CallbackServer:
    """Listens on the host and port of ``redirect_uri`` until :meth:`close`, for the redirect
    that carries ``state``."""

    def __init__(self, redirect_uri: str, state: str) -> None:
        parts = urlsplit(redirect_uri)
        if parts.scheme != "http" or not parts.hostname:
            raise CallbackError(
                f"KOPPEL_REDIRECT_URI {redirect_uri!r} is not an http://host:port/path address "
                "on this machine, so Koppel cannot receive the redirect itself; use --paste"
            )
        self.redirect_uri = redirect_uri
        self.path = parts.path or "/"
        self._origin = f"http://{parts.netloc}"
        self._state = state.encode()
        self._received: str | None = None
        #: How many redirects were refused for another state.
        self.refused = 0
        self._on_refused: Callable[[], None] | None = None
        port = parts.port or 80
        try:
            self._server = HTTPServer((parts.hostname, port), self._handler_class())
        except OSError as error:
            raise CallbackError(
                f"cannot listen on {parts.hostname}:{port} for the OAuth redirect "
                f"({error.strerror or error}); stop what uses that port, set "
                "KOPPEL_REDIRECT_URI to another one registered with the service, or use --paste"
            ) from error

    def wait(self, timeout_s: float, on_refused: Callable[[], None] | None = None) -> str:
        """The full redirect URL of the first ``GET <path>?code=..`` (or ``?error=..``) with
        our state; ``on_refused`` is told of each one with another state (still waiting)."""
        # Requests are handled in this thread, inside handle_request below.
        self._on_refused = on_refused
        deadline = time.monotonic() + timeout_s
        while self._received is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CallbackError(
                    f"no authorisation arrived at {self.redirect_uri} within {timeout_s:g} s; "
                    "open the address above in a browser on this machine, or run the command "
                    "again with --paste"
                )
            # Wake at least once a second to check the deadline.
            self._server.timeout = min(remaining, 1.0)
            self._server.handle_request()
        return self._received

    def close(self) -> None:
        self._server.server_close()

    def __enter__(self) -> CallbackServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            timeout = REQUEST_TIMEOUT_S

            def do_GET(self) -> None:
                target = urlsplit(self.path)
                query = parse_qs(target.query)
                if target.path != receiver.path or not ("code" in query or "error" in query):
                    # A favicon, a stray request: not the redirect, keep waiting for it.
                    self._answer(404, "Not found", "This is not the Koppel OAuth callback.")
                    return
                state = (query.get("state") or [""])[0].encode()
                # Bytes, so any state a request carries compares without an exception.
                if not hmac.compare_digest(state, receiver._state):
                    receiver.refused += 1
                    self._answer(
                        400,
                        "Not this authorisation",
                        "This redirect's state does not match the authorisation Koppel is "
                        "waiting for, so it was refused. Koppel keeps waiting: open the address "
                        "printed in the terminal.",
                    )
                    if receiver._on_refused is not None:
                        receiver._on_refused()
                    return
                if receiver._received is None:
                    receiver._received = receiver._origin + self.path
                if "error" in query:
                    self._answer(
                        200,
                        "Authorisation refused",
                        f"The service answered {query['error'][0]!r}. Koppel stops; you can "
                        "close this tab.",
                    )
                else:
                    self._answer(
                        200,
                        "Koppel received the authorisation",
                        "You can close this tab and return to the terminal.",
                    )

            def _answer(self, status: int, title: str, text: str) -> None:
                body = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                # The terminal shows Koppel's own messages, not an access log.
                return

        return Handler
