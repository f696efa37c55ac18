"""The request loop both API clients share: pacing, retries, backoff and error sorting.

What is retried here, and what is not:

* 429 — always (the API did not apply the call); wait as long as the API said.
* 5xx and timeouts — reads only. A write whose answer was lost may have been applied, so
  it surfaces as :class:`AmbiguousWrite` and the caller looks the object up first.
* A connection that could not be opened — always: nothing was sent.
* Other 4xx — never; the service's ``raise_for`` says whether to fix data or re-authorise.
"""

from __future__ import annotations

import functools
import json
import random
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from clients.errors import AmbiguousWrite, ApiError, RateLimited, TransientError
from clients.ratelimit import Limiter
from clients.transport import StdlibTransport
from config.settings import Settings


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_base_ms: int = 250
    backoff_max_ms: int = 30_000

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            settings.http_max_attempts, settings.http_backoff_base_ms, settings.http_backoff_max_ms
        )

    def backoff_s(self, attempt: int) -> float:
        """Exponential backoff with full jitter; ``attempt`` counts from 1."""
        ceiling_ms = min(self.backoff_max_ms, self.backoff_base_ms * 2 ** (attempt - 1))
        return random.uniform(0, ceiling_ms) / 1000


def decode_json(response: httpx.Response) -> Any:
    """The body as JSON with every non-integer number as ``Decimal`` (money never floats)."""
    if not response.content:
        return None
    return json.loads(response.content, parse_float=Decimal)


def encode_json(body: Any) -> bytes:
    """JSON with ``Decimal`` written as a number.

    A Decimal goes through ``float``: Python prints the shortest repr that round-trips, so
    any amount of up to 15 significant digits is written with exactly its own digits."""

    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        raise TypeError(f"cannot encode {type(value).__name__}")

    return json.dumps(body, default=default, separators=(",", ":")).encode()


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every client of the process (the one httpx would make each).

    httpx builds a context per client by default, loading the CA bundle each time: about
    30 ms of CPU and 0.8 MiB per client, and a poller holds two clients per connection
    (measured in bench/many_connections.py). A context is safe to share between threads."""
    return httpx.create_ssl_context()


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing. Both APIs authenticate with bearer tokens and set no
    cookie Koppel needs, yet httpx runs every response through ``http.cookiejar`` (a
    urllib request and response built around it): ~4 % of a consumer's CPU per invoice
    (bench/cost.py, yappi)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


ErrorRaiser = Callable[[httpx.Response], ApiError]
LimitKey = Callable[[httpx.Request], str]


class ApiSession:
    """An httpx client plus the loop above. One per connection and service."""

    def __init__(
        self,
        *,
        service: str,
        base_url: str,
        error_for: ErrorRaiser,
        limiter: Limiter,
        limit_key: LimitKey,
        auth: httpx.Auth | None = None,
        retry: RetryPolicy | None = None,
        timeout_s: float = 20.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
        on_response: Callable[[httpx.Request, httpx.Response], None] | None = None,
    ) -> None:
        self.service = service
        self.error_for = error_for
        self.limiter = limiter
        self.limit_key = limit_key
        self.retry = retry or RetryPolicy()
        self.on_response = on_response
        #: Calls sent, including retries; the benchmarks read it.
        self.calls_sent = 0
        self.http = httpx.Client(
            base_url=base_url,
            auth=auth,
            timeout=timeout_s,
            headers={"Accept": "application/json", **(headers or {})},
            # http.client underneath: ~0.8 ms less CPU per call than httpcore (transport.py).
            transport=transport or StdlibTransport(ssl_context=tls_context()),
            event_hooks=dict(event_hooks or {}),
        )
        # Set directly: the public setter copies whatever it gets into an ordinary jar.
        self.http._cookies = _NoCookies()
        #: Path → its URL against the base URL: httpx parses and joins both for every request
        #: (two ``urlparse`` a call, ~0.13 ms of ~2 ms); most paths repeat (``/invoices.info``).
        self._urls: dict[str, httpx.URL] = {}

    def _url(self, path: str) -> httpx.URL:
        url = self._urls.get(path)
        if url is None:
            if len(self._urls) >= 256:  # paths with ids (a Visma voucher) must not pile up
                self._urls.clear()
            url = self._urls[path] = self.http._merge_url(path)
        return url

    def close(self) -> None:
        self.http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        read: bool,
    ) -> httpx.Response:
        """Send one logical call; ``read`` says whether repeating it is harmless."""
        content = encode_json(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else None
        last: TransientError | None = None
        for attempt in range(1, self.retry.max_attempts + 1):
            request = self.http.build_request(
                method, self._url(path), content=content, params=params, headers=headers
            )
            key = self.limit_key(request)
            self.limiter.acquire(key)
            try:
                self.calls_sent += 1
                try:
                    response = self.http.send(request)
                finally:
                    self.limiter.release(key)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last = TransientError(self.service, f"cannot connect: {exc!r}")
            except httpx.TransportError as exc:
                if not read:
                    raise AmbiguousWrite(
                        self.service, f"{method} {path}: no answer ({type(exc).__name__})"
                    ) from exc
                last = TransientError(self.service, f"{method} {path}: {type(exc).__name__}")
            else:
                if self.on_response is not None:
                    self.on_response(request, response)
                if response.is_success:
                    return response
                error = self.error_for(response)
                if isinstance(error, RateLimited):
                    self.limiter.hold_until(key, error.retry_after_s or 1.0)
                    last = error
                    continue  # the hold above is the wait; no extra backoff
                if not isinstance(error, TransientError):
                    raise error
                if not read:
                    raise AmbiguousWrite(
                        self.service,
                        f"{method} {path}: {error.reason}",
                        status=error.status,
                        body=error.body,
                    ) from error
                last = error
            if attempt < self.retry.max_attempts:
                time.sleep(
                    last.retry_after_s if last.retry_after_s else self.retry.backoff_s(attempt)
                )
        assert last is not None
        raise last
