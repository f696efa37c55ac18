"""OAuth2 against the Visma simulator: authorize, code exchange, rotation, expiry, 401."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from clients.errors import ReauthorizationNeeded
from clients.visma import visma_oauth_app
from tests.conftest import Sandbox
from tests.spec_check import SpecChecker
from tests.visma.support import authorize, connect, visma_settings


def test_authorize_redirects_at_once_with_a_code_and_the_state(sandbox: Sandbox) -> None:
    app = visma_oauth_app(visma_settings(sandbox))
    response = httpx.get(app.authorization_url("xyz-state"), follow_redirects=False)
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == app.redirect_uri
    assert query["state"] == ["xyz-state"]
    assert len(query["code"][0]) > 20
    assert "scope=ea%3Aapi+offline_access" in app.authorization_url("s")


def test_a_code_is_exchanged_with_client_credentials_as_http_basic(sandbox: Sandbox) -> None:
    app = visma_oauth_app(visma_settings(sandbox))
    redirect = httpx.get(app.authorization_url("s1"), follow_redirects=False)
    code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
    # Given only HTTP Basic credentials (nothing in the form)
    response = httpx.post(
        f"{sandbox.visma_url}/connect/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": app.redirect_uri},
        auth=(app.client_id, app.client_secret),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"] and body["refresh_token"]
    # A code is single-use.
    again = httpx.post(
        f"{sandbox.visma_url}/connect/token",
        data={"grant_type": "authorization_code", "code": code},
        auth=(app.client_id, app.client_secret),
    )
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant"}


def test_wrong_client_credentials_are_refused(sandbox: Sandbox) -> None:
    response = httpx.post(
        f"{sandbox.visma_url}/connect/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=("koppel-sandbox", "wrong"),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_a_refresh_rotates_the_pair_and_a_reused_refresh_token_is_refused(
    sandbox: Sandbox, visma_spec: SpecChecker
) -> None:
    settings = visma_settings(sandbox)
    app = visma_oauth_app(settings)
    first = authorize(settings)
    # When the pair is refreshed
    second = app.refresh(first.refresh_token)
    # Then both tokens are new
    assert second.access_token != first.access_token
    assert second.refresh_token != first.refresh_token
    # And the old refresh token is retired: invalid_grant, which only a person can fix
    with pytest.raises(ReauthorizationNeeded) as refused:
        app.refresh(first.refresh_token)
    assert refused.value.code == "invalid_grant"
    # The form-field client authentication is accepted as well.
    response = httpx.post(
        f"{sandbox.visma_url}/connect/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": second.refresh_token,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
        },
    )
    assert response.status_code == 200


def test_an_expired_access_token_is_refreshed_transparently_and_the_new_pair_saved(
    sandbox: Sandbox, visma_spec: SpecChecker
) -> None:
    client, store = connect(sandbox, visma_spec)
    before = store.load()
    assert client.company_settings().CountryCode == "NL"
    # Given the server expired every access token (the client still thinks it is valid)
    httpx.post(f"{sandbox.visma_url}/_sandbox/tokens/expire").raise_for_status()
    # When the client calls again
    settings = client.company_settings()
    # Then the 401 made it refresh once, retry, and store the new pair
    assert settings.Name
    after = store.load()
    assert after.access_token != before.access_token
    assert after.refresh_token != before.refresh_token
    # And the retired refresh token cannot be spent again.
    with pytest.raises(ReauthorizationNeeded):
        visma_oauth_app(visma_settings(sandbox)).refresh(before.refresh_token)


def test_a_client_whose_refresh_token_was_spent_elsewhere_needs_reauthorisation(
    sandbox: Sandbox, visma_spec: SpecChecker
) -> None:
    client, store = connect(sandbox, visma_spec)
    # Given another party spent the stored refresh token, and the access token expired
    visma_oauth_app(visma_settings(sandbox)).refresh(store.load().refresh_token)
    httpx.post(f"{sandbox.visma_url}/_sandbox/tokens/expire").raise_for_status()
    # Then the client reports that the connection must be authorised again
    with pytest.raises(ReauthorizationNeeded):
        client.fiscal_years()


def test_the_api_answers_401_with_the_error_body_without_a_bearer_token(
    sandbox: Sandbox, visma_spec: SpecChecker
) -> None:
    with httpx.Client(event_hooks=visma_spec.hooks()) as http:
        response = http.get(f"{sandbox.visma_api_url}/customers")
        wrong = http.get(
            f"{sandbox.visma_api_url}/customers", headers={"Authorization": "Bearer nope"}
        )
    assert response.status_code == 401
    assert response.json()["ErrorCode"] == 4005
    assert response.json()["ErrorId"]
    assert wrong.status_code == 401
