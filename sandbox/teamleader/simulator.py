"""The Teamleader Focus simulator's state and API: accounts, OAuth2 and the RPC endpoints
under each account's rate limit. ``app.py`` serves it over HTTP with the sandbox controls
(``controls.py``), which change it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.options import SandboxOptions
from sandbox.ratelimit import SlidingWindow, Verdict
from sandbox.teamleader import oauth
from sandbox.teamleader.http import error_body, json_response, problem_response, read_object
from sandbox.teamleader.rpc import ENDPOINTS
from sandbox.teamleader.state import Account, Problem
from sandbox.teamleader.webhooks import WebhookDispatcher

#: 200 calls per sliding minute per account (docs/api-facts.md, Teamleader §9).
CALLS_PER_WINDOW = 200
WINDOW_S = 60.0
#: The API version a client is pinned to when it does not ask for one (docs/api-facts.md,
#: Teamleader §1).
API_VERSION = "2023-09-26"
#: The default account keeps one id across resets, so issued tokens stay valid.
DEFAULT_ACCOUNT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "teamleader/account/default"))


class Simulator:
    def __init__(self, dataset: dict[str, Any], options: SandboxOptions) -> None:
        self.options = options
        self.default_account_id = DEFAULT_ACCOUNT_ID
        self.accounts: dict[str, Account] = {}
        #: One sliding window per account, so a reset can start an account's count afresh.
        self.limits: dict[str, SlidingWindow] = {}
        self.issuer = oauth.TokenIssuer(options.client_id, options.client_secret)
        self.webhooks = WebhookDispatcher()
        self.reset(dataset)

    def reset(self, part: dict[str, Any]) -> None:
        """The default account's data replaced; its webhook log and rate count start over."""
        self.add_account(Account.from_dataset(part, self.default_account_id))
        self.webhooks.deliveries.clear()

    def add_account(self, account: Account) -> None:
        self.accounts[account.id] = account
        window_s = WINDOW_S * self.options.time_scale
        self.limits[account.id] = SlidingWindow(CALLS_PER_WINDOW, window_s)

    # -- the API ---------------------------------------------------------------------------
    async def rpc(self, request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        handler = ENDPOINTS.get(endpoint)
        if handler is None:
            return json_response(error_body(404, f"Unknown endpoint {endpoint}", None), 404)
        account_id = self.issuer.account_of(request.headers.get("authorization"))
        if account_id is None or account_id not in self.accounts:
            return json_response(error_body(401, "Access token is missing or invalid"), 401)
        account = self.accounts[account_id]
        # The API reports the version it answered in; a request may ask for a newer one.
        headers = {"X-Api-Version": request.headers.get("x-api-version") or API_VERSION}
        if self.options.rate_limits:
            verdict = self.limits[account_id].hit(account_id)
            headers |= rate_limit_headers(verdict)
            if not verdict.allowed:
                return json_response(error_body(429, "Too Many Requests"), 429, headers)
        try:
            data, events = handler(account, await read_object(request))
        except Problem as problem:
            return problem_response(problem, headers)
        self.webhooks.fire(account, events)
        if data is None:
            return Response(status_code=204, headers=headers)
        return json_response({"data": data}, 200, headers)

    async def authorize(self, request: Request) -> Response:
        return await oauth.authorize(request, self.issuer, list(self.accounts))

    async def access_token(self, request: Request) -> Response:
        return await oauth.access_token(request, self.issuer)


def rate_limit_headers(verdict: Verdict) -> dict[str, str]:
    """``X-RateLimit-Reset`` is an ISO 8601 timestamp: when the oldest counted call expires."""
    reset_at = datetime.now(UTC) + timedelta(seconds=verdict.reset_in_s)
    # Round up to the millisecond shown, so a client that waits until then is let through.
    reset_at += timedelta(microseconds=(1000 - reset_at.microsecond % 1000) % 1000)
    return {
        "X-RateLimit-Limit": str(verdict.limit),
        "X-RateLimit-Remaining": str(max(0, verdict.remaining)),
        "X-RateLimit-Reset": reset_at.isoformat(timespec="milliseconds"),
    }
