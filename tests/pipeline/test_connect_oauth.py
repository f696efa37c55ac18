"""The OAuth hardening of ``koppel connect live``: a redirect with another state does not end
the wait, and Visma's grant is bound to its requester with PKCE (S256); Teamleader's is not,
since its documentation knows no PKCE."""

from __future__ import annotations

import queue
import threading
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from psycopg_pool import ConnectionPool

from clients.errors import ReauthorizationNeeded
from clients.pkce import code_challenge, new_code_verifier
from clients.visma import visma_oauth_app
from ops.connect.oauth_callback import CallbackServer
from store import connections
from tests.conftest import Sandbox, free_port
from tests.pipeline.conftest import generated
from tests.pipeline.test_cli_setup import approve, koppel_running, live_env
from tests.visma.support import visma_settings


def test_a_callback_with_another_state_is_refused_and_the_right_one_then_ends_the_wait() -> None:
    # Given the local callback server waiting for the redirect of state "right-state"
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    received: queue.Queue[str] = queue.Queue()
    told: list[str] = []
    with CallbackServer(redirect_uri, "right-state") as server:
        waiting = threading.Thread(
            target=lambda: received.put(server.wait(20, on_refused=lambda: told.append("x")))
        )
        waiting.start()
        # When redirects with another, a non-ASCII and no state arrive (a code and an error)
        strays = [
            httpx.get(redirect_uri, params={"code": "stolen", "state": "forged"}, timeout=5),
            httpx.get(redirect_uri, params={"error": "access_denied", "state": "é"}, timeout=5),
            httpx.get(redirect_uri, params={"code": "no-state"}, timeout=5),
        ]
        still_waiting = waiting.is_alive()
        # And then the redirect with the right state
        right = httpx.get(redirect_uri, params={"code": "the-code", "state": "right-state"})
        waiting.join(10)
    # Then each stray got a 400 page saying why, and the wait went on until the right one
    assert [page.status_code for page in strays] == [400, 400, 400]
    assert all("state does not match" in page.text for page in strays)
    assert still_waiting
    assert told == ["x", "x", "x"] and server.refused == 3
    assert right.status_code == 200 and "close this tab" in right.text
    assert received.get_nowait() == f"{redirect_uri}?code=the-code&state=right-state"


def code_for(sandbox: Sandbox, verifier: str | None, method: str = "S256") -> str:
    """A code from Visma's authorize step, issued with the S256 challenge of ``verifier``."""
    app = visma_oauth_app(visma_settings(sandbox))
    url = app.authorization_url("s", verifier)
    if method != "S256":
        url = url.replace("code_challenge_method=S256", f"code_challenge_method={method}")
    response = httpx.get(url, follow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)["code"][0]


def test_vismas_simulator_refuses_a_pkce_code_without_the_right_verifier(sandbox: Sandbox) -> None:
    app = visma_oauth_app(visma_settings(sandbox))
    verifier = new_code_verifier()
    refusals: list[ReauthorizationNeeded] = []
    # When a code issued with a challenge is exchanged without the verifier, with another
    # verifier, or (a code issued without a challenge) with a verifier nobody asked for
    for code, sent in (
        (code_for(sandbox, verifier), None),
        (code_for(sandbox, verifier), new_code_verifier()),
        (code_for(sandbox, None), verifier),
    ):
        with pytest.raises(ReauthorizationNeeded) as refused:
            app.exchange_code(code, sent)
        refusals.append(refused.value)
    # Then each is invalid_grant
    assert [r.code for r in refusals] == ["invalid_grant"] * 3
    assert [r.status for r in refusals] == [400] * 3
    # And a failed attempt spends the code: the right verifier comes too late for it
    spent = code_for(sandbox, verifier)
    with pytest.raises(ReauthorizationNeeded):
        app.exchange_code(spent, "a-guess")
    with pytest.raises(ReauthorizationNeeded):
        app.exchange_code(spent, verifier)
    # While a fresh code with the right verifier gives a pair
    assert app.exchange_code(code_for(sandbox, verifier), verifier).access_token


def test_vismas_simulator_refuses_a_challenge_that_is_not_s256(sandbox: Sandbox) -> None:
    app = visma_oauth_app(visma_settings(sandbox))
    verifier = new_code_verifier()
    plain = app.authorization_url("s", verifier).replace(
        f"code_challenge={code_challenge(verifier)}&code_challenge_method=S256",
        f"code_challenge={verifier}&code_challenge_method=plain",
    )
    response = httpx.get(plain, follow_redirects=False, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_connect_live_sends_pkce_to_visma_only_and_outlasts_a_forged_callback(
    pool: ConnectionPool, koppel_env: dict[str, str], sandbox: Sandbox
) -> None:
    # Given the simulators standing in for the real services
    sandbox.reset(generated())
    env = live_env(koppel_env, sandbox)
    redirect_uri = env["KOPPEL_REDIRECT_URI"]
    with koppel_running(env, "connect", "live", "--name", "pkce", "--timeout-s", "60") as koppel:
        teamleader_url = koppel.next_authorize_url()
        # When something else on this machine reaches the callback first, with another state
        forged = httpx.get(redirect_uri, params={"code": "forged", "state": "forged"}, timeout=10)
        # And then the browser follows both printed addresses
        pages = [httpx.get(approve(teamleader_url), timeout=10)]
        visma_url = koppel.next_authorize_url()
        pages.append(httpx.get(approve(visma_url), timeout=10))
        code, stdout, stderr = koppel.finish()
    # Then the forged callback was refused while Koppel kept waiting, and both grants completed
    assert forged.status_code == 400
    assert "Teamleader: a redirect with another state arrived and was refused" in stderr
    assert code == 0, stderr
    assert [page.status_code for page in pages] == [200, 200]
    assert "Visma eAccounting: authorised." in stdout
    assert connections.find(pool, "pkce").sandbox is False
    # And Visma was sent an S256 challenge (its simulator checked the verifier), Teamleader none
    visma_params = httpx.URL(visma_url).params
    assert visma_params["code_challenge_method"] == "S256"
    assert len(visma_params["code_challenge"]) == 43
    assert "code_challenge" not in httpx.URL(teamleader_url).params
    assert "code_challenge_method" not in httpx.URL(teamleader_url).params
