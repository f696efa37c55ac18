"""What every ``/v2`` call passes before its handler: the bearer token and the rate limit.

Rate limit: 600 calls per minute per endpoint (the normalised path, any method), counted
per grant — one OAuth client acting for one company (ASSUMPTIONS.md). The window is
60 s × ``time_scale``. Beyond it: HTTP 429, ErrorCode 4010, "Try again in N seconds."
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.visma.errors import (
    INTERNAL_SERVER_ERROR,
    NOT_AUTHORIZED,
    TOO_MANY_REQUESTS,
    VismaApiError,
    error_body,
)
from sandbox.visma.jsonio import JsonResponse
from sandbox.visma.state import Company

CALLS_PER_WINDOW = 600
WINDOW_S = 60.0

_ID_SEGMENT = re.compile(
    r"^(\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)

Handler = Callable[[Request, Company], Awaitable[Response]]


def endpoint_of(method: str, path: str) -> str:
    """``/v2/customers/3fa8…`` → ``/v2/customers/{id}`` (ids and numbers become ``{id}``)."""
    segments = path.rstrip("/").split("/")
    return "/".join("{id}" if _ID_SEGMENT.match(s) else s.lower() for s in segments)


def quota_message(wait_s: float) -> str:
    seconds = max(1, math.ceil(wait_s))
    return (
        f"API calls quota exceeded! maximum admitted {CALLS_PER_WINDOW} per Minute. "
        f"Try again in {seconds} seconds."
    )


def rate_limit_body(retry_after_s: float) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The 429 answer (also used by fault injection's bursts)."""
    return 429, error_body(TOO_MANY_REQUESTS, quota_message(retry_after_s)), {}


def fault_error_body(status: int) -> dict[str, Any]:
    return error_body(INTERNAL_SERVER_ERROR, f"An error occurred (HTTP {status}).")


def error_response(error: VismaApiError) -> Response:
    return JsonResponse(error.body(), status_code=error.status, headers=error.headers or None)


def api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: authenticate, count the call, render refusals as Visma errors."""

    async def endpoint(request: Request) -> Response:
        sim = request.app.state.sim
        try:
            company = _admit(request, sim)
            return await handler(request, company)
        except VismaApiError as error:
            return error_response(error)

    return endpoint


def _admit(request: Request, sim: Any) -> Company:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    grant = sim.tokens.grant_for(token) if token else None
    company = sim.companies.get(grant.company_id) if grant else None
    if grant is None or company is None:
        raise VismaApiError(
            NOT_AUTHORIZED,
            "Authorization has been denied for this request.",
            status=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if sim.options.rate_limits:
        key = f"{grant.client_id}:{company.id}:{endpoint_of(request.method, request.url.path)}"
        verdict = sim.rate_window.hit(key)
        if not verdict.allowed:
            raise VismaApiError(TOO_MANY_REQUESTS, quota_message(verdict.reset_in_s), status=429)
    return company
