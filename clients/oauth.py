"""The OAuth2 authorization-code flow both services use, and an httpx auth that refreshes.

Teamleader: ``/oauth2/authorize`` and ``/oauth2/access_token`` (client credentials in the
body). Visma: ``/connect/authorize`` and ``/connect/token`` (client credentials as HTTP
Basic). Both return ``{access_token, refresh_token, expires_in}``, and both hand out a new
refresh token on every refresh. Visma also takes PKCE (``pkce=True``, :mod:`clients.pkce`);
:meth:`OAuthApp.start_authorization` makes the state and, where used, the verifier.
"""

from __future__ import annotations

import secrets
from collections.abc import Generator
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx

from clients.errors import ReauthorizationNeeded, TransientError
from clients.http import tls_context
from clients.pkce import METHOD, code_challenge, new_code_verifier
from clients.tokens import TokenPair, TokenStore


@dataclass(frozen=True)
class AuthorizationRequest:
    """One authorisation in progress: the address to open, and what only we know about it."""

    url: str
    #: Checked against the redirect's ``state`` (a forged or stale redirect is refused).
    state: str
    #: The PKCE verifier sent with the code exchange; None where the service takes no PKCE.
    code_verifier: str | None


@dataclass(frozen=True)
class OAuthApp:
    """One registered integration at one service."""

    service: str
    authorize_url: str
    token_url: str
    client_id: str
    client_secret: str
    redirect_uri: str
    #: Visma wants the client credentials as HTTP Basic, Teamleader in the form body.
    basic_auth: bool = False
    #: Extra authorize parameters (Visma: scopes; Teamleader chooses scopes at registration).
    authorize_extras: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 20.0
    #: Send a PKCE challenge (S256) with the authorize request and its verifier with the code
    #: exchange. Only for a service known to take it: each service's factory says why.
    pkce: bool = False

    def start_authorization(self) -> AuthorizationRequest:
        """A fresh state, a fresh PKCE verifier where the service takes one, and the URL."""
        state = secrets.token_urlsafe(24)
        verifier = new_code_verifier() if self.pkce else None
        return AuthorizationRequest(self.authorization_url(state, verifier), state, verifier)

    def authorization_url(self, state: str, code_verifier: str | None = None) -> str:
        params = {
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": self.redirect_uri,
            "state": state,
            **self.authorize_extras,
        }
        if code_verifier is not None:
            params["code_challenge"] = code_challenge(code_verifier)
            params["code_challenge_method"] = METHOD
        return f"{self.authorize_url}?{urlencode(params)}"

    def exchange_code(self, code: str, code_verifier: str | None = None) -> TokenPair:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        return self._token_call(form)

    def refresh(self, refresh_token: str) -> TokenPair:
        return self._token_call({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def _token_call(self, form: dict[str, str]) -> TokenPair:
        auth: httpx.BasicAuth | None = None
        if self.basic_auth:
            auth = httpx.BasicAuth(self.client_id, self.client_secret)
        else:
            form = {**form, "client_id": self.client_id, "client_secret": self.client_secret}
        try:
            # The shared TLS context: a refresh per connection and service an hour adds up.
            response = httpx.post(
                self.token_url, data=form, auth=auth, timeout=self.timeout_s, verify=tls_context()
            )
        except httpx.TransportError as exc:
            raise TransientError(self.service, f"token endpoint unreachable: {exc!r}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(self.service, "token endpoint failed", status=response.status_code)
        if response.status_code != 200:
            # invalid_grant (a reused or revoked refresh token, an expired code) cannot be
            # retried: only a person can authorise the connection again.
            error = _oauth_error(response)
            raise ReauthorizationNeeded(
                self.service,
                f"authorisation refused ({error}); run `koppel connect` again",
                status=response.status_code,
                code=error,
            )
        return TokenPair.from_token_response(response.json())


def _oauth_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body)
    return str(body)


class RefreshingAuth(httpx.Auth):
    """Bearer auth that refreshes the pair before it expires and once after a 401.

    The new pair is saved to the store before the access token is used, under the store's
    refresh lock, so two processes never spend the same single-use refresh token.
    """

    def __init__(self, app: OAuthApp, store: TokenStore, margin_s: float = 120.0) -> None:
        self.app = app
        self.store = store
        self.margin_s = margin_s

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        pair = self.store.load()
        if pair.expires_within(self.margin_s):
            pair = self._refresh(stale=pair)
        request.headers["Authorization"] = f"Bearer {pair.access_token}"
        response = yield request
        if response.status_code == 401:
            pair = self._refresh(stale=pair)
            request.headers["Authorization"] = f"Bearer {pair.access_token}"
            yield request

    def _refresh(self, stale: TokenPair) -> TokenPair:
        with self.store.refresh_lock():
            current = self.store.load()
            # Another thread or process may have refreshed while we waited for the lock.
            if current.access_token != stale.access_token and not current.expires_within(
                self.margin_s
            ):
                return current
            fresh = self.app.refresh(current.refresh_token)
            self.store.save(fresh)
            return fresh


def code_from_redirect(redirect_url: str, expected_state: str) -> str:
    """The authorization code in the URL the service redirected the browser to.

    Refuses a redirect whose ``state`` is not ours (a forged or stale callback) and turns an
    ``error=access_denied`` redirect into a clear message."""
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(redirect_url).query)
    if "error" in query:
        raise ReauthorizationNeeded("oauth", f"authorisation refused: {query['error'][0]}")
    state = (query.get("state") or [""])[0]
    if state != expected_state:
        raise ReauthorizationNeeded("oauth", "the redirect's state does not match this request")
    code = (query.get("code") or [""])[0]
    if not code:
        raise ReauthorizationNeeded("oauth", "the redirect carries no authorization code")
    return code
