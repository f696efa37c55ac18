"""Fault injection on the Visma simulator, and what the client does about each kind."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from clients.errors import AmbiguousWrite
from tests.conftest import Sandbox
from tests.spec_check import SpecChecker
from tests.visma.support import connect, customer_body, posting_body


def set_faults(sandbox: Sandbox, **plan: Any) -> None:
    """Install a fault plan and count calls from here on (not the authorisation before)."""
    httpx.post(f"{sandbox.visma_url}/_sandbox/faults", json=plan).raise_for_status()
    httpx.delete(f"{sandbox.visma_url}/_sandbox/stats").raise_for_status()


def stats(sandbox: Sandbox) -> dict[str, Any]:
    return httpx.get(f"{sandbox.visma_url}/_sandbox/stats").json()


def test_latency_delays_each_answer(sandbox: Sandbox, visma_spec: SpecChecker) -> None:
    client, _ = connect(sandbox, visma_spec)
    set_faults(sandbox, latency_ms=300)
    started = time.monotonic()
    client.fiscal_years()
    assert time.monotonic() - started >= 0.3


def test_a_share_of_5xx_answers_is_retried_for_reads(
    sandbox: Sandbox, visma_spec: SpecChecker
) -> None:
    client, _ = connect(sandbox, visma_spec, http_max_attempts=10)
    # Given half of all calls fail with 503
    set_faults(sandbox, error_rate=0.5, error_status=503)
    # When the client reads twenty times
    for _ in range(20):
        assert client.vat_codes()
    # Then every read succeeded, some of them after retrying a 503 in Visma's error shape
    by_status = stats(sandbox)["by_status"]
    assert by_status["200"] == 20
    assert by_status["503"] >= 5


def test_a_burst_of_429_is_waited_out(sandbox: Sandbox, visma_spec: SpecChecker) -> None:
    client, _ = connect(sandbox, visma_spec)
    set_faults(sandbox, rate_limit_burst=2, retry_after_s=1)
    started = time.monotonic()
    # The client parses "Try again in 1 seconds." and holds the endpoint that long, twice.
    assert client.company_settings().CountryCode == "NL"
    assert time.monotonic() - started >= 2.0
    assert stats(sandbox)["by_status"] == {"429": 2, "200": 1}


def test_a_write_applied_then_timed_out_is_ambiguous_and_found_afterwards(
    sandbox: Sandbox, visma_spec: SpecChecker
) -> None:
    client, _ = connect(sandbox, visma_spec, http_timeout_s=0.5)
    customer = client.create_customer(customer_body())
    # Given the next ledger item POST is applied, then its answer is held for 2 s
    set_faults(
        sandbox, timeout_after_apply=1, hang_s=2, path_contains="customerledgeritemswithvoucher"
    )
    # When the client posts it with a 0.5 s timeout
    with pytest.raises(AmbiguousWrite):
        client.create_ledger_item_with_voucher(posting_body(customer.Id or "", 4242))
    # Then the lookup by invoice number finds what was booked, so it is not posted again
    found = client.find_ledger_item(4242)
    assert found is not None
    assert found.TotalAmountInvoiceCurrency == Decimal("121.00")
    summary = httpx.get(f"{sandbox.visma_url}/_sandbox/summary").json()
    assert summary["ledger_items"] == 1
    time.sleep(1.6)  # let the held answer finish before the next test resets the sandbox
