"""OAuth2 against the Teamleader simulator, over real HTTP: codes, refresh rotation, 401s."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from clients.errors import ReauthorizationNeeded
from clients.oauth import OAuthApp, code_from_redirect
from clients.teamleader.client import TeamleaderClient, teamleader_oauth_app
from clients.tokens import MemoryTokenStore
from tests.conftest import Sandbox
from tests.spec_check import SpecChecker
from tests.teamleader.support import sandbox_client, sandbox_settings, sandbox_token_pair


@pytest.fixture
def app(sandbox: Sandbox) -> OAuthApp:
    return teamleader_oauth_app(sandbox_settings(sandbox.teamleader_url))


def authorize(app: OAuthApp, state: str = "st-123") -> httpx.Response:
    return httpx.get(app.authorization_url(state), follow_redirects=False)


def test_authorize_redirects_at_once_with_a_code_and_our_state(app: OAuthApp) -> None:
    response = authorize(app, "xyz")

    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == app.redirect_uri
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]
    assert len(query["code"][0]) > 10


def test_a_code_is_exchanged_for_a_bearer_pair_that_lasts_an_hour(app: OAuthApp) -> None:
    code = code_from_redirect(authorize(app).headers["location"], "st-123")

    response = httpx.post(
        app.token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "redirect_uri": app.redirect_uri,
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"] and body["refresh_token"]


def test_the_token_endpoint_also_takes_a_json_body(app: OAuthApp) -> None:
    code = code_from_redirect(authorize(app).headers["location"], "st-123")

    response = httpx.post(
        app.token_url,
        json={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
        },
    )

    assert response.status_code == 200
    assert response.json()["refresh_token"]


def test_a_code_used_twice_is_refused_the_second_time(app: OAuthApp) -> None:
    code = code_from_redirect(authorize(app).headers["location"], "st-123")
    app.exchange_code(code)

    with pytest.raises(ReauthorizationNeeded) as refused:
        app.exchange_code(code)

    assert refused.value.code == "invalid_grant"


def test_a_wrong_client_secret_is_refused(app: OAuthApp) -> None:
    code = code_from_redirect(authorize(app).headers["location"], "st-123")
    response = httpx.post(
        app.token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": app.client_id,
            "client_secret": "wrong",
        },
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_a_refresh_rotates_both_the_access_and_the_refresh_token(
    app: OAuthApp,
) -> None:
    first = sandbox_token_pair(app)

    second = app.refresh(first.refresh_token)

    assert second.access_token != first.access_token
    assert second.refresh_token != first.refresh_token
    # The new refresh token works in turn.
    assert app.refresh(second.refresh_token).access_token


def test_a_reused_refresh_token_is_refused_with_invalid_grant(app: OAuthApp) -> None:
    pair = sandbox_token_pair(app)
    app.refresh(pair.refresh_token)

    response = httpx.post(
        app.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": pair.refresh_token,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
        },
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_the_client_raises_reauthorization_needed_when_its_refresh_token_was_spent(
    sandbox: Sandbox, app: OAuthApp, teamleader_spec: SpecChecker
) -> None:
    # Given a stored pair whose refresh token someone else already used
    pair = sandbox_token_pair(app)
    app.refresh(pair.refresh_token)
    settings = sandbox_settings(sandbox.teamleader_url)
    client = TeamleaderClient(
        settings, MemoryTokenStore(pair), "c1", event_hooks=teamleader_spec.hooks()
    )
    # When the access token expires and the client must refresh
    httpx.post(f"{sandbox.teamleader_url}/_sandbox/tokens/expire").raise_for_status()

    # Then only a person can fix it
    with pytest.raises(ReauthorizationNeeded):
        client.me()


def test_an_expired_access_token_is_refreshed_transparently_and_the_new_pair_saved(
    sandbox: Sandbox, teamleader_spec: SpecChecker
) -> None:
    # Given a working client
    client, store = sandbox_client(
        sandbox_settings(sandbox.teamleader_url), event_hooks=teamleader_spec.hooks()
    )
    before = store.load()
    assert client.me().id
    # When the server expires every access token
    expired = httpx.post(f"{sandbox.teamleader_url}/_sandbox/tokens/expire").json()
    assert expired["expired"] >= 1

    # Then the next call still works, on a new pair that is now in the store
    assert client.me().account is not None
    after = store.load()
    assert after.access_token != before.access_token
    assert after.refresh_token != before.refresh_token


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}],
    ids=["missing", "unknown", "not-bearer"],
)
def test_an_api_call_without_a_valid_bearer_token_gets_401_with_an_error_body(
    sandbox: Sandbox, teamleader_spec: SpecChecker, headers: dict[str, str]
) -> None:
    with httpx.Client(event_hooks=teamleader_spec.hooks()) as http:
        response = http.post(f"{sandbox.teamleader_url}/users.me", headers=headers)

    assert response.status_code == 401
    assert response.json()["errors"][0]["title"]


def test_authorize_can_pick_another_sandbox_account(
    sandbox: Sandbox, app: OAuthApp, teamleader_spec: SpecChecker
) -> None:
    other = httpx.post(f"{sandbox.teamleader_url}/_sandbox/accounts", json={}).json()
    settings = sandbox_settings(sandbox.teamleader_url)

    client, _ = sandbox_client(
        settings, account_id=other["account_id"], event_hooks=teamleader_spec.hooks()
    )
    default_client, _ = sandbox_client(settings, event_hooks=teamleader_spec.hooks())

    assert client.me().account.id == other["account_id"]  # type: ignore[union-attr]
    assert default_client.me().account.id != other["account_id"]  # type: ignore[union-attr]
