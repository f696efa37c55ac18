"""What every ``/v2`` call passes before its handler: the bearer token and the rate limit.

Rate limit: 600 calls per minute per endpoint (the normalised path, any method), counted
per OAuth client across every company it acts for — "counted per client and per
endpoint/URL" (ASSUMPTIONS.md) — or, with the mode ``rate_limit_scope: company``, per
client × company. The window is 60 s × ``time_scale``. Beyond it: HTTP 429, ErrorCode
4010, "Try again in N seconds."
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.visma.endpoints import endpoint_of
from sandbox.visma.errors import (
    INTERNAL_SERVER_ERROR,
    NOT_AUTHORIZED,
    TOO_MANY_REQUESTS,
    VismaApiError,
    error_body,
)
from sandbox.visma.jsonio import JsonResponse
from sandbox.visma.modes import COMPANY, ERROR_MESSAGES_MAP
from sandbox.visma.state import Company

CALLS_PER_WINDOW = 600
WINDOW_S = 60.0

Handler = Callable[[Request, Company], Awaitable[Response]]


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


def error_response(error: VismaApiError, shape: str | None = None) -> Response:
    body = error.body_as_map() if shape == ERROR_MESSAGES_MAP else error.body()
    return JsonResponse(body, status_code=error.status, headers=error.headers or None)


def api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: authenticate, count the call, render refusals as Visma errors."""

    async def endpoint(request: Request) -> Response:
        sim = request.app.state.sim
        try:
            company = _admit(request, sim)
            return await handler(request, company)
        except VismaApiError as error:
            return error_response(error, sim.modes.error_shape)

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
        endpoint = endpoint_of(request.method, request.url.path)
        scope = f"{company.id}:" if sim.modes.rate_limit_scope == COMPANY else ""
        key = f"{grant.client_id}:{scope}{endpoint}"
        verdict = sim.rate_window.hit(key)
        if not verdict.allowed:
            raise VismaApiError(TOO_MANY_REQUESTS, quota_message(verdict.reset_in_s), status=429)
    return company
