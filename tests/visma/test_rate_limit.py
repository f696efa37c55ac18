"""Visma's 600 calls per minute per endpoint, on a sandbox whose minute lasts 6 s.

The suite's shared sandbox keeps real minutes; these tests start their own with
``--time-scale 0.1`` (0.02 would make the window 1.2 s, shorter than 601 spec-checked calls
take on a busy machine) and stop it at the end.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import Sandbox, sandbox_running
from tests.spec_check import SpecChecker
from tests.visma.support import authorize, connect, visma_settings

TIME_SCALE = 0.1
WINDOW_S = 60 * TIME_SCALE


@pytest.fixture(scope="module")
def fast_sandbox() -> Iterator[Sandbox]:
    with sandbox_running("--time-scale", str(TIME_SCALE)) as sandbox:
        yield sandbox


@pytest.fixture
def fresh_sandbox(fast_sandbox: Sandbox) -> Sandbox:
    fast_sandbox.reset()  # also empties the rate-limit windows
    return fast_sandbox


def test_the_601st_call_to_one_endpoint_in_a_window_is_refused_with_4010(
    fresh_sandbox: Sandbox, visma_spec: SpecChecker
) -> None:
    token = authorize(visma_settings(fresh_sandbox)).access_token
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{fresh_sandbox.visma_api_url}/fiscalyears"
    with httpx.Client(headers=headers, event_hooks=visma_spec.hooks()) as http:
        # Given 600 calls to one endpoint, sent in parallel well within the window
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: http.get(url).status_code, range(600)))
        assert statuses == [200] * 600
        # When one more arrives
        refused = http.get(url)
        # Then it is refused the way Visma documents it
        assert refused.status_code == 429
        body = refused.json()
        assert body["ErrorCode"] == 4010
        assert body["DeveloperErrorMessage"].startswith(
            "API calls quota exceeded! maximum admitted 600 per Minute. Try again in "
        )
        seconds = int(re.search(r"Try again in (\d+) seconds\.", body["DeveloperErrorMessage"])[1])  # type: ignore[index]
        assert 1 <= seconds <= WINDOW_S
        # And another endpoint still answers
        assert http.get(f"{fresh_sandbox.visma_api_url}/vatcodes").status_code == 200


def test_the_client_alone_stays_under_the_limit(
    fresh_sandbox: Sandbox, visma_spec: SpecChecker
) -> None:
    # Given a client whose window is the sandbox's plus a margin for network latency
    client, _ = connect(
        fresh_sandbox, visma_spec, visma_window_s=WINDOW_S + 0.2, visma_calls_per_window=600
    )
    started = time.monotonic()
    # When it makes more calls to one endpoint than one window admits
    for _ in range(650):
        client.company_settings()
    elapsed = time.monotonic() - started
    # Then it waited for the window instead of receiving a single 429
    stats = httpx.get(f"{fresh_sandbox.visma_url}/_sandbox/stats").json()
    assert "429" not in stats["by_status"]
    assert stats["by_endpoint"]["/v2/companysettings"] == 650
    assert elapsed >= WINDOW_S


def _token_for_new_company(sandbox: Sandbox) -> str:
    added = httpx.post(f"{sandbox.visma_url}/_sandbox/companies", json={}, timeout=30)
    added.raise_for_status()
    settings = visma_settings(sandbox)
    return authorize(settings, company=added.json()["company_id"]).access_token


def _calls_to_one_endpoint(sandbox: Sandbox, spec: SpecChecker, tokens: list[str]) -> list[int]:
    """300 calls to /fiscalyears with each token, then one more with the last: statuses."""
    url = f"{sandbox.visma_api_url}/fiscalyears"
    statuses: list[int] = []
    for token in tokens:
        headers = {"Authorization": f"Bearer {token}"}
        with (
            httpx.Client(headers=headers, event_hooks=spec.hooks()) as http,
            ThreadPoolExecutor(8) as pool,
        ):
            statuses += list(pool.map(lambda _: http.get(url).status_code, range(300)))
    headers = {"Authorization": f"Bearer {tokens[-1]}"}
    with httpx.Client(headers=headers, event_hooks=spec.hooks()) as http:
        statuses.append(http.get(url).status_code)
    return statuses


def test_the_limit_counts_one_application_across_all_its_companies(
    fresh_sandbox: Sandbox, visma_spec: SpecChecker
) -> None:
    # Given one OAuth application connected to two companies
    first = authorize(visma_settings(fresh_sandbox)).access_token
    second = _token_for_new_company(fresh_sandbox)
    # When each company makes 300 calls to one endpoint within a window, and then one more
    statuses = _calls_to_one_endpoint(fresh_sandbox, visma_spec, [first, second])
    # Then the 601st call of the application is refused, whichever company it is for
    assert statuses[:600] == [200] * 600
    assert statuses[600] == 429


def test_per_company_counting_is_a_mode_that_gives_each_company_its_own_limit(
    fresh_sandbox: Sandbox, visma_spec: SpecChecker
) -> None:
    # Given the mode that counts per client and company
    httpx.put(
        f"{fresh_sandbox.visma_url}/_sandbox/modes", json={"rate_limit_scope": "company"}
    ).raise_for_status()
    first = authorize(visma_settings(fresh_sandbox)).access_token
    second = _token_for_new_company(fresh_sandbox)
    # When each company makes 300 calls to one endpoint, and then one more
    statuses = _calls_to_one_endpoint(fresh_sandbox, visma_spec, [first, second])
    # Then none is refused: each company has 600 of its own
    assert statuses == [200] * 601
