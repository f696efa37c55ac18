"""Helpers the Teamleader tests share (no tests here): settings and a connected client."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from clients.oauth import OAuthApp
from clients.ratelimit import SlidingWindowLimiter
from clients.sandbox_grant import authorize_without_browser
from clients.teamleader.client import TeamleaderClient, teamleader_oauth_app
from clients.tokens import MemoryTokenStore, TokenPair
from config.settings import Settings, get_settings
from tests.conftest import Sandbox


def sandbox_token_pair(app: OAuthApp, account_id: str | None = None) -> TokenPair:
    params = {"account": account_id} if account_id else {}
    return authorize_without_browser(app, **params)


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


def control(sandbox: Sandbox, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call a Teamleader sandbox control (``/_sandbox/<path>``) and return its JSON."""
    response = httpx.post(f"{sandbox.teamleader_url}/_sandbox/{path}", json=body or {})
    response.raise_for_status()
    return response.json()
