"""Turning a Teamleader error response into the caller's kind of error (clients/errors.py).

The body is ``{"errors": [{"title", "code"?, "status"?, "meta"?: {"field"}}]}``; only
``title`` is guaranteed (GUIDELINES.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypedDict

import httpx

from clients.errors import (
    ApiError,
    DataError,
    NotFound,
    RateLimited,
    ReauthorizationNeeded,
    TransientError,
)
from clients.http import decode_json

SERVICE = "teamleader"
#: When a 429 gives no usable hint, wait this long (seconds).
DEFAULT_RETRY_AFTER_S = 1.0


def seconds_until_reset(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Seconds until ``X-RateLimit-Reset`` (an ISO 8601 timestamp), or ``Retry-After``."""
    retry_after = response.headers.get("Retry-After")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass
    reset = response.headers.get("X-RateLimit-Reset")
    if not reset:
        return None
    try:
        moment = datetime.fromisoformat(reset.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def _problems(response: httpx.Response) -> tuple[str, list[str], object]:
    try:
        body = decode_json(response)
    except ValueError:
        return response.text[:200] or response.reason_phrase, [], response.text
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return str(body)[:200] or response.reason_phrase, [], body
    titles = [str(e.get("title", "")) for e in errors if isinstance(e, dict)]
    fields = [
        str(e["meta"]["field"])
        for e in errors
        if isinstance(e, dict) and isinstance(e.get("meta"), dict) and "field" in e["meta"]
    ]
    return "; ".join(t for t in titles if t) or response.reason_phrase, fields, body


class _Details(TypedDict):
    """What every error made from a response carries."""

    status: int
    fields: list[str]
    body: object


def error_for(response: httpx.Response) -> ApiError:
    status = response.status_code
    reason, fields, body = _problems(response)
    common: _Details = {"status": status, "fields": fields, "body": body}
    if status == 401:
        return ReauthorizationNeeded(SERVICE, f"access refused: {reason}", **common)
    if status == 404:
        return NotFound(SERVICE, reason, **common)
    if status == 429:
        wait_s = seconds_until_reset(response)
        return RateLimited(
            SERVICE,
            "rate limited",
            retry_after_s=max(0.05, wait_s) if wait_s is not None else DEFAULT_RETRY_AFTER_S,
            **common,
        )
    if status >= 500:
        return TransientError(SERVICE, reason, **common)
    return DataError(SERVICE, reason, **common)
