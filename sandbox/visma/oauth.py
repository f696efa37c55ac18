"""Visma's identity server, simulated: ``/connect/authorize`` and ``/connect/token``.

The authorize step approves at once and redirects with a code (no login page); the sandbox
extension ``company=<id>`` picks the company the grant is for (default: the first company).
Every refresh hands out a new pair and retires the refresh token it used; a retired or
unknown refresh token answers ``400 {"error": "invalid_grant"}``. Access tokens live 3600 s.

PKCE (RFC 7636) as an OpenID Connect identity server does it: an authorize request may carry
``code_challenge`` with ``code_challenge_method=S256`` (``plain``, or no method, is refused,
as IdentityServer does by default); the code it returns is then exchanged only with the
matching ``code_verifier``. A missing or wrong verifier, or a verifier for a code issued
without a challenge, answers ``invalid_grant``, and the code is spent either way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

ACCESS_TOKEN_LIFETIME_S = 3600
CODE_LIFETIME_S = 300
DEFAULT_SCOPE = "ea:api offline_access ea:sales ea:accounting"
#: An S256 challenge: 32 bytes of SHA-256 in base64url without padding.
PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class Grant:
    """Who may call the API on behalf of which company."""

    client_id: str
    company_id: str
    scope: str


@dataclass(frozen=True)
class IssuedCode:
    grant: Grant
    redirect_uri: str
    expires_at: float
    #: The S256 challenge sent with the authorize request, if any.
    code_challenge: str | None = None


def s256(verifier: str) -> str:
    """``BASE64URL(SHA256(verifier))`` without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verifier_matches(issued: IssuedCode, verifier: str | None) -> bool:
    if issued.code_challenge is None:
        # A verifier for a code issued without a challenge is a client confused about its
        # own flow; IdentityServer refuses it rather than ignore it.
        return verifier is None
    if not verifier:
        return False
    return hmac.compare_digest(s256(verifier).encode(), issued.code_challenge.encode())


@dataclass
class TokenIssuer:
    client_id: str
    client_secret: str
    clock: Callable[[], float] = time.time
    _codes: dict[str, IssuedCode] = field(default_factory=dict)
    _access: dict[str, tuple[Grant, float]] = field(default_factory=dict)
    _refresh: dict[str, Grant] = field(default_factory=dict)

    def _now(self) -> float:
        return self.clock()

    def new_code(self, grant: Grant, redirect_uri: str, code_challenge: str | None = None) -> str:
        code = secrets.token_urlsafe(24)
        expires_at = self._now() + CODE_LIFETIME_S
        self._codes[code] = IssuedCode(grant, redirect_uri, expires_at, code_challenge)
        return code

    def grant_for(self, access_token: str) -> Grant | None:
        """The grant behind a live access token, or None (unknown or expired)."""
        entry = self._access.get(access_token)
        if entry is None or entry[1] <= self._now():
            return None
        return entry[0]

    def expire_access_tokens(self, company_id: str | None = None) -> int:
        """Make the current access tokens (of one company, or all) expire now."""
        expired = 0
        for token, (grant, _) in list(self._access.items()):
            if company_id is None or grant.company_id == company_id:
                self._access[token] = (grant, self._now() - 1)
                expired += 1
        return expired

    def _issue(self, grant: Grant) -> dict[str, object]:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self._access[access] = (grant, self._now() + ACCESS_TOKEN_LIFETIME_S)
        self._refresh[refresh] = grant
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_LIFETIME_S,
            "refresh_token": refresh,
            "scope": grant.scope,
        }

    def exchange_code(
        self, code: str, redirect_uri: str | None, code_verifier: str | None = None
    ) -> dict[str, object] | None:
        issued = self._codes.pop(code, None)  # a code is single-use, even on a failed attempt
        if issued is None or issued.expires_at <= self._now():
            return None
        if redirect_uri and redirect_uri != issued.redirect_uri:
            return None
        if not verifier_matches(issued, code_verifier):
            return None
        return self._issue(issued.grant)

    def refresh(self, refresh_token: str) -> dict[str, object] | None:
        grant = self._refresh.pop(refresh_token, None)
        if grant is None:
            return None
        return self._issue(grant)

    def client_ok(self, request: Request, form: dict[str, str]) -> bool:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:]).decode()
            except ValueError:
                return False
            client_id, _, secret = decoded.partition(":")
        return client_id == self.client_id and secret == self.client_secret


def oauth_error(error: str, status: int = 400, description: str = "") -> JSONResponse:
    body = {"error": error}
    if description:
        body["error_description"] = description
    return JSONResponse(body, status_code=status)


async def authorize(request: Request) -> Response:
    """Approve at once and send the browser back with a code."""
    sim = request.app.state.sim
    query = request.query_params
    if query.get("client_id") != sim.tokens.client_id:
        return oauth_error("invalid_client", description="unknown client_id")
    if query.get("response_type") != "code":
        return oauth_error("unsupported_response_type")
    redirect_uri = query.get("redirect_uri")
    if not redirect_uri:
        return oauth_error("invalid_request", description="redirect_uri is required")
    company = sim.companies.get(query.get("company"))
    if company is None:
        return oauth_error("invalid_request", description="unknown company")
    challenge = query.get("code_challenge")
    if challenge is not None and query.get("code_challenge_method") != "S256":
        return oauth_error("invalid_request", description="code_challenge_method must be S256")
    if challenge is not None and not PKCE_CHALLENGE.fullmatch(challenge):
        return oauth_error("invalid_request", description="code_challenge is not S256 output")
    grant = Grant(sim.tokens.client_id, company.id, query.get("scope") or DEFAULT_SCOPE)
    params = {"code": sim.tokens.new_code(grant, redirect_uri, challenge)}
    if "state" in query:
        params["state"] = query["state"]
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(params)}", status_code=302)


async def token(request: Request) -> Response:
    sim = request.app.state.sim
    # application/x-www-form-urlencoded, parsed here (python-multipart is not a dependency).
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    if not sim.tokens.client_ok(request, form):
        return oauth_error("invalid_client", status=401)
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        answer = sim.tokens.exchange_code(
            form.get("code", ""), form.get("redirect_uri"), form.get("code_verifier")
        )
    elif grant_type == "refresh_token":
        answer = sim.tokens.refresh(form.get("refresh_token", ""))
    else:
        return oauth_error("unsupported_grant_type")
    if answer is None:
        return oauth_error("invalid_grant")
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})
