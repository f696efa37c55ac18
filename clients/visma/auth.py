"""The Visma OAuth2 client registration, built from settings."""

from __future__ import annotations

from clients.oauth import OAuthApp
from config import Settings

#: ea:api and offline_access are required (API access, a refresh token); ea:sales covers
#: customers and ledger items, ea:accounting accounts, VAT codes and vouchers.
SCOPES = "ea:api offline_access ea:sales ea:accounting"


def visma_oauth_app(settings: Settings) -> OAuthApp:
    base = settings.visma_auth_url.rstrip("/")
    return OAuthApp(
        service="visma",
        authorize_url=f"{base}/connect/authorize",
        token_url=f"{base}/connect/token",
        client_id=settings.visma_client_id,
        client_secret=settings.visma_client_secret.get_secret_value(),
        redirect_uri=settings.redirect_uri,
        basic_auth=True,  # Visma's identity server takes the client credentials as Basic
        authorize_extras={"scope": SCOPES},
        timeout_s=settings.http_timeout_s,
        # Visma's identity server is an OpenID Connect provider that supports PKCE (S256) for
        # confidential clients too, so an intercepted code is useless without our verifier.
        pkce=True,
    )
