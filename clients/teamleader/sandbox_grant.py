"""Authorising against the sandbox without a browser (tests, the demo).

The simulator approves ``/oauth2/authorize`` at once, so following its redirect by hand
is the whole consent step."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from clients.errors import ReauthorizationNeeded
from clients.oauth import OAuthApp, code_from_redirect
from clients.ratelimit import SlidingWindowLimiter
from clients.teamleader.client import TeamleaderClient, teamleader_oauth_app
from clients.tokens import MemoryTokenStore, TokenPair
from config.settings import Settings, get_settings


def sandbox_token_pair(app: OAuthApp, account_id: str | None = None) -> TokenPair:
    state = secrets.token_urlsafe(8)
    url = app.authorization_url(state)
    if account_id:
        url += f"&account={account_id}"
    response = httpx.get(url, follow_redirects=False, timeout=app.timeout_s)
    if response.status_code != 302:
        raise ReauthorizationNeeded(app.service, f"authorize answered {response.status_code}")
    return app.exchange_code(code_from_redirect(response.headers["location"], state))


def sandbox_settings(teamleader_url: str, **overrides: object) -> Settings:
    """Settings pointed at a sandbox Teamleader on ``teamleader_url`` (tests, the demo)."""
    base = get_settings().use_sandbox()
    return base.model_copy(
        update={"teamleader_auth_url": teamleader_url, "teamleader_api_url": teamleader_url}
        | overrides
    )


def sandbox_client(
    settings: Settings,
    *,
    account_id: str | None = None,
    connection_id: str = "sandbox",
    limiter: SlidingWindowLimiter | None = None,
    event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
) -> tuple[TeamleaderClient, MemoryTokenStore]:
    """A client holding a fresh grant on a sandbox account, and the store it keeps it in."""
    store = MemoryTokenStore(sandbox_token_pair(teamleader_oauth_app(settings), account_id))
    client = TeamleaderClient(
        settings, store, connection_id, limiter=limiter, event_hooks=event_hooks
    )
    return client, store
