"""Fault injection and call statistics, as one ASGI middleware both simulators wrap.

Controls (outside the real APIs' paths):

* ``POST /_sandbox/faults`` with a JSON :class:`FaultPlan` replaces the plan;
  ``GET`` shows it; ``DELETE`` clears it.
* ``GET /_sandbox/stats`` counts calls per endpoint and status; ``DELETE`` resets them.

A plan can add latency with jitter, answer a share of calls with a 5xx, answer the next N
calls with 429 (a burst), let the first N calls through before any of that, or let the next
N writes *apply, then time out*: the simulator
changes its state, then holds the response for ``hang_s`` so the client gives up — the lost
response that makes a write ambiguous.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The OAuth2 endpoints of both services, outside the APIs proper.
OAUTH_PREFIXES = ("/oauth2/", "/connect/")


@dataclass
class FaultPlan:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    #: Share of calls (0..1) answered with ``error_status`` instead of being handled.
    error_rate: float = 0.0
    error_status: int = 503
    #: The next N calls are refused with 429.
    rate_limit_burst: int = 0
    #: Seconds a burst 429 tells the client to wait.
    retry_after_s: int = 2
    #: The next N writes are applied, then their response is held for ``hang_s`` seconds.
    timeout_after_apply: int = 0
    hang_s: float = 30.0
    #: Only calls whose path contains this text are affected (empty: all calls).
    path_contains: str = ""
    #: The first N calls the plan would affect pass untouched; it applies from the next one
    #: (with ``error_rate: 1``, a run does exactly N writes and then waits: a known point
    #: to stop it at, instead of a moment).
    pass_first: int = 0

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> FaultPlan:
        known = set(cls.__dataclass_fields__)
        unknown = set(body) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        return cls(**body)


@dataclass
class CallStats:
    by_endpoint: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {
            "calls": sum(self.by_endpoint.values()),
            "by_endpoint": dict(self.by_endpoint),
            "by_status": {str(k): v for k, v in self.by_status.items()},
        }


class FaultInjector:
    """ASGI middleware: applies the current :class:`FaultPlan` and counts calls.

    ``error_body`` renders an error the way the wrapped API would (status, message)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        error_body: Any,
        rate_limit_body: Any,
        endpoint_of: Any,
        seed: int = 0,
    ) -> None:
        self.app = app
        self.plan = FaultPlan()
        self.stats = CallStats()
        self._error_body = error_body
        self._rate_limit_body = rate_limit_body
        self._endpoint_of = endpoint_of
        self._random = random.Random(seed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/_sandbox/faults"):
            await self._control_faults(scope, receive, send)
            return
        if path.startswith("/_sandbox/stats"):
            if scope["method"] == "DELETE":
                self.stats = CallStats()
            await _send_json(send, 200, self.stats.as_json())
            return
        if path.startswith("/_sandbox/"):
            await self.app(scope, receive, send)
            return
        if path.startswith(OAUTH_PREFIXES) and not (
            self.plan.path_contains and self.plan.path_contains in path
        ):
            # Token endpoints are neither API calls nor rate limited; a plan reaches them
            # only when it names them.
            await self.app(scope, receive, send)
            return

        endpoint = self._endpoint_of(scope["method"], path)
        self.stats.by_endpoint[endpoint] += 1
        plan = self.plan
        affected = not plan.path_contains or plan.path_contains in path
        if affected and plan.pass_first > 0:
            plan.pass_first -= 1
            affected = False
        status_seen: list[int] = []

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_seen.append(message["status"])
                self.stats.by_status[message["status"]] += 1
            await send(message)

        if affected and (plan.latency_ms or plan.jitter_ms):
            delay_ms = plan.latency_ms + self._random.uniform(-plan.jitter_ms, plan.jitter_ms)
            await asyncio.sleep(max(0.0, delay_ms) / 1000)
        if affected and plan.rate_limit_burst > 0:
            plan.rate_limit_burst -= 1
            status, body, headers = self._rate_limit_body(plan.retry_after_s)
            await _send_json(counting_send, status, body, headers)
            return
        if affected and plan.error_rate and self._random.random() < plan.error_rate:
            await _send_json(counting_send, plan.error_status, self._error_body(plan.error_status))
            return
        is_write = scope["method"] in ("POST", "PUT", "DELETE", "PATCH") and _is_write(path)
        if affected and is_write and plan.timeout_after_apply > 0:
            plan.timeout_after_apply -= 1
            await self.app(scope, receive, _discard)
            # The change is applied; the answer never comes in time.
            await asyncio.sleep(plan.hang_s)
            await _send_json(counting_send, 504, self._error_body(504))
            return
        await self.app(scope, receive, counting_send)

    async def _control_faults(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "POST":
            body = await _read_json(receive)
            try:
                self.plan = FaultPlan.from_json(body or {})
            except (TypeError, ValueError) as exc:
                await _send_json(send, 400, {"error": str(exc)})
                return
        elif method == "DELETE":
            self.plan = FaultPlan()
        await _send_json(send, 200, asdict(self.plan))


def _is_write(path: str) -> bool:
    """Teamleader's reads are POSTs too: ``*.list``, ``*.info`` and ``users.me`` change nothing."""
    action = path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
    return action not in ("list", "info", "me")


async def _discard(message: Message) -> None:
    return None


async def _read_json(receive: Receive) -> Any:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    raw = b"".join(chunks)
    return json.loads(raw) if raw else None


async def _send_json(
    send: Send, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})
