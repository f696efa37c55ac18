"""Authorising against a simulator without a browser (the demo, the tests).

The sandbox approves an authorisation at once, so following its redirect by hand is the
whole consent step: the same authorization-code flow, over the same HTTP, that a person
completes in a browser against the real services.
"""

from __future__ import annotations

import httpx

from clients.errors import ReauthorizationNeeded
from clients.http import tls_context
from clients.oauth import OAuthApp, code_from_redirect
from clients.tokens import TokenPair


def authorize_without_browser(app: OAuthApp, **sandbox_params: str) -> TokenPair:
    """Follow the instant approval and exchange the code for a token pair.

    ``sandbox_params`` are the simulators' extensions that pick a sandbox account
    (Teamleader ``account=``) or company (Visma ``company=``)."""
    request = app.start_authorization()  # with PKCE where the service takes it, as live
    url = request.url
    if sandbox_params:
        url += "&" + "&".join(f"{k}={v}" for k, v in sandbox_params.items())
    response = httpx.get(url, follow_redirects=False, timeout=app.timeout_s, verify=tls_context())
    if response.status_code not in (302, 303):
        raise ReauthorizationNeeded(
            app.service,
            f"{app.authorize_url} did not redirect (HTTP {response.status_code}): "
            f"{response.text[:200]}",
            status=response.status_code,
        )
    code = code_from_redirect(response.headers["location"], request.state)
    return app.exchange_code(code, request.code_verifier)
