"""The OAuth2 authorization-code flow as Teamleader documents it (docs/api-facts.md, Teamleader §1).

* ``GET /oauth2/authorize`` approves at once and redirects with ``code`` and ``state``
  (sandbox extension: ``account=<id>`` picks the account; default the first).
* ``POST /oauth2/access_token`` (form or JSON): ``authorization_code`` (a code works once,
  for 10 minutes) and ``refresh_token`` (a refresh token works once) grants.
* Access tokens last 3600 s; ``expire_all`` (a sandbox control) ends them early.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sandbox.teamleader.http import json_response

CODE_LIFETIME_S = 600.0
ACCESS_TOKEN_LIFETIME_S = 3600


@dataclass
class Grant:
    account_id: str
    expires_at: float  # time.monotonic() seconds
    redirect_uri: str = ""


@dataclass
class TokenIssuer:
    client_id: str
    client_secret: str
    codes: dict[str, Grant] = field(default_factory=dict)
    access_tokens: dict[str, Grant] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # token → account id

    def account_of(self, authorization: str | None) -> str | None:
        """The account a ``Bearer`` header belongs to, or None if missing/unknown/expired."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        grant = self.access_tokens.get(authorization[7:].strip())
        if grant is None or grant.expires_at <= time.monotonic():
            return None
        return grant.account_id

    def expire_all(self) -> int:
        for grant in self.access_tokens.values():
            grant.expires_at = 0.0
        return len(self.access_tokens)

    def issue_code(self, account_id: str, redirect_uri: str) -> str:
        code = secrets.token_urlsafe(24)
        self.codes[code] = Grant(account_id, time.monotonic() + CODE_LIFETIME_S, redirect_uri)
        return code

    def _pair(self, account_id: str) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.access_tokens[access] = Grant(account_id, time.monotonic() + ACCESS_TOKEN_LIFETIME_S)
        self.refresh_tokens[refresh] = account_id
        return {
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_LIFETIME_S,
            "access_token": access,
            "refresh_token": refresh,
        }

    def token(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if params.get("client_id") != self.client_id or (
            params.get("client_secret") != self.client_secret
        ):
            return 401, {"error": "invalid_client", "error_description": "unknown client"}
        grant_type = params.get("grant_type")
        if grant_type == "authorization_code":
            grant = self.codes.pop(str(params.get("code")), None)  # single use
            if grant is None or grant.expires_at <= time.monotonic():
                return 400, invalid_grant("the authorization code is invalid or expired")
            if params.get("redirect_uri") and params["redirect_uri"] != grant.redirect_uri:
                return 400, invalid_grant("redirect_uri does not match the authorize request")
            return 200, self._pair(grant.account_id)
        if grant_type == "refresh_token":
            account_id = self.refresh_tokens.pop(str(params.get("refresh_token")), None)
            if account_id is None:
                return 400, invalid_grant("the refresh token is invalid or was already used")
            return 200, self._pair(account_id)
        return 400, {"error": "unsupported_grant_type", "error_description": str(grant_type)}


def invalid_grant(description: str) -> dict[str, str]:
    return {"error": "invalid_grant", "error_description": description}


async def authorize(request: Request, issuer: TokenIssuer, accounts: list[str]) -> Response:
    query = request.query_params
    redirect_uri = query.get("redirect_uri")
    if query.get("client_id") != issuer.client_id or not redirect_uri:
        return json_response({"error": "invalid_client"}, 400)
    if query.get("response_type") != "code":
        return json_response({"error": "unsupported_response_type"}, 400)
    account_id = query.get("account") or accounts[0]
    if account_id not in accounts:
        return json_response({"error": "invalid_request", "error_description": "no account"}, 400)
    params = {"code": issuer.issue_code(account_id, redirect_uri)}
    if query.get("state") is not None:
        params["state"] = query["state"]
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(params)}", status_code=302)


async def access_token(request: Request, issuer: TokenIssuer) -> Response:
    raw = (await request.body()).decode(errors="replace")
    params: dict[str, Any]
    if "json" in request.headers.get("content-type", ""):
        import json

        try:
            params = json.loads(raw or "{}")
        except json.JSONDecodeError:
            return json_response({"error": "invalid_request"}, 400)
    else:
        params = dict(parse_qsl(raw))
    status, body = issuer.token(params if isinstance(params, dict) else {})
    return json_response(body, status, {"Cache-Control": "no-store"})
