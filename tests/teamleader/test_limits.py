"""Rate limits and injected faults against the Teamleader simulator, over real HTTP.

The rate-limit tests use their own sandbox process with ``--time-scale 0.05`` (a minute
becomes 3 s) so that waiting out a window is short."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from clients.errors import AmbiguousWrite
from clients.teamleader.client import TeamleaderClient
from sandbox.teamleader.generate import generate_teamleader
from tests.conftest import TODAY, Sandbox, bearer_headers, sandbox_running
from tests.spec_check import SpecChecker
from tests.teamleader.support import sandbox_client, sandbox_settings

TIME_SCALE = 0.05
WINDOW_S = 60 * TIME_SCALE
DATASET = generate_teamleader(5, "small")


@pytest.fixture(scope="module")
def fast_sandbox() -> Iterator[Sandbox]:
    with sandbox_running("--time-scale", str(TIME_SCALE)) as sandbox:
        yield sandbox


def stats(sandbox: Sandbox) -> dict[str, Any]:
    return httpx.get(f"{sandbox.teamleader_url}/_sandbox/stats").json()


def set_faults(sandbox: Sandbox, **plan: Any) -> None:
    httpx.post(f"{sandbox.teamleader_url}/_sandbox/faults", json=plan).raise_for_status()


def test_the_201st_call_in_a_window_gets_429_with_the_rate_limit_headers(
    fast_sandbox: Sandbox, teamleader_spec: SpecChecker
) -> None:
    # Given a fresh window
    fast_sandbox.reset()
    client, _ = sandbox_client(sandbox_settings(fast_sandbox.teamleader_url))
    url = f"{fast_sandbox.teamleader_url}/users.me"

    # When 201 calls are sent at once
    with httpx.Client(
        headers=bearer_headers(client.session), event_hooks=teamleader_spec.hooks()
    ) as http:
        answers = [http.post(url) for _ in range(201)]

    # Then 200 pass, each saying how many are left, and the 201st is refused
    assert [r.status_code for r in answers[:200]] == [200] * 200
    assert [int(r.headers["X-RateLimit-Remaining"]) for r in answers[:3]] == [199, 198, 197]
    refused = answers[200]
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Limit"] == "200"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    reset_at = datetime.fromisoformat(refused.headers["X-RateLimit-Reset"])
    assert datetime.now(UTC) < reset_at <= datetime.now(UTC) + timedelta(seconds=WINDOW_S)
    assert refused.json()["errors"][0]["status"] == 429


def test_the_client_alone_stays_under_the_limit(
    fast_sandbox: Sandbox, teamleader_spec: SpecChecker
) -> None:
    # Given a client whose own budget is the scaled window
    fast_sandbox.reset()
    settings = sandbox_settings(fast_sandbox.teamleader_url, teamleader_window_s=WINDOW_S)
    client, _ = sandbox_client(settings, event_hooks=teamleader_spec.hooks())
    httpx.delete(f"{fast_sandbox.teamleader_url}/_sandbox/stats")

    # When it makes 260 calls, more than one window allows
    started = time.monotonic()
    for _ in range(260):
        client.me()
    elapsed_s = time.monotonic() - started

    # Then it waited for the window instead of being refused
    assert stats(fast_sandbox)["by_status"] == {"200": 260}
    assert elapsed_s >= WINDOW_S * 0.5


def test_every_api_answer_carries_the_rate_limit_headers(
    sandbox: Sandbox, teamleader_spec: SpecChecker
) -> None:
    sandbox.reset({"teamleader": DATASET})
    client, _ = sandbox_client(sandbox_settings(sandbox.teamleader_url))
    base = sandbox.teamleader_url
    invoice_id = DATASET["invoices"][0]["id"]
    with httpx.Client(
        headers=bearer_headers(client.session), event_hooks=teamleader_spec.hooks()
    ) as http:
        answers = [
            http.post(f"{base}/invoices.info", json={"id": invoice_id}),  # 200
            http.post(
                f"{base}/webhooks.register",
                json={"url": "https://example.test/h", "types": ["invoice.booked"]},
            ),  # 204
            http.post(f"{base}/invoices.info", json={}),  # 400
            http.post(f"{base}/contacts.info", json={"id": "nope"}),  # 404
        ]

    assert [r.status_code for r in answers] == [200, 204, 400, 404]
    for response in answers:
        assert response.headers["X-RateLimit-Limit"] == "200"
        assert int(response.headers["X-RateLimit-Remaining"]) < 200
        datetime.fromisoformat(response.headers["X-RateLimit-Reset"])
    assert answers[2].json()["errors"][0]["meta"]["field"] == "id"
    assert answers[3].json()["errors"][0]["status"] == 404


# -- injected faults --------------------------------------------------------------------------


@pytest.fixture
def client(sandbox: Sandbox, teamleader_spec: SpecChecker) -> Iterator[TeamleaderClient]:
    sandbox.reset({"teamleader": DATASET})
    settings = sandbox_settings(sandbox.teamleader_url, http_backoff_base_ms=10, http_timeout_s=1.0)
    client, _ = sandbox_client(settings, event_hooks=teamleader_spec.hooks())
    yield client
    client.close()


def test_injected_latency_slows_every_call(sandbox: Sandbox, client: TeamleaderClient) -> None:
    set_faults(sandbox, latency_ms=300)

    started = time.monotonic()
    client.departments()

    assert time.monotonic() - started >= 0.3


def test_a_share_of_5xx_answers_is_retried_for_reads(
    sandbox: Sandbox, client: TeamleaderClient
) -> None:
    set_faults(sandbox, error_rate=0.4, error_status=503)

    names = [client.department(d["id"]).name for d in DATASET["departments"] * 5]

    assert names == [d["name"] for d in DATASET["departments"] * 5]
    assert stats(sandbox)["by_status"].get("503", 0) > 0


def test_a_burst_of_429s_is_waited_out(sandbox: Sandbox, client: TeamleaderClient) -> None:
    set_faults(sandbox, rate_limit_burst=2, retry_after_s=1)

    started = time.monotonic()
    me = client.me()

    assert me.id
    assert time.monotonic() - started >= 1.5  # two holds of about a second each
    assert stats(sandbox)["by_status"]["429"] == 2


def test_a_payment_applied_then_timed_out_raises_ambiguous_write_and_is_applied(
    sandbox: Sandbox, client: TeamleaderClient
) -> None:
    # Given an outstanding invoice and a server that will lose the next write's answer
    invoice = next(i for i in DATASET["invoices"] if i["status"] == "outstanding")
    due = Decimal(str(invoice["total"]["due"]["amount"]))
    set_faults(sandbox, timeout_after_apply=1, hang_s=3)

    # When Koppel registers a payment
    with pytest.raises(AmbiguousWrite):
        client.register_payment(
            invoice["id"], Decimal("1.00"), invoice["currency"], datetime.now(UTC)
        )

    # Then the payment was applied all the same: look before writing again
    httpx.delete(f"{sandbox.teamleader_url}/_sandbox/faults")
    after = client.invoice(invoice["id"])
    assert after.total.due is not None and after.total.due.amount == due - Decimal("1.00")
    assert after.payments[-1].payment.amount == Decimal("1.00")


def test_generated_data_has_invoices_dated_this_month(
    sandbox: Sandbox, client: TeamleaderClient
) -> None:
    # A quick check that the generated data has this month's documents for the demo.
    first_of_month = TODAY.replace(day=1)
    this_month = list(client.invoices(invoice_date_after=first_of_month))
    assert this_month
    assert all(i.invoice_date is not None and i.invoice_date >= first_of_month for i in this_month)
