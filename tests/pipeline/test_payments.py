"""Payments back: Visma's remaining amount falls → payments registered in Teamleader."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest
from psycopg_pool import ConnectionPool

from clients.teamleader.models import Invoice
from config import Settings
from contracts import queues
from contracts.messages import PaymentObserved
from ops.connecting import Connected
from store import links
from store.api_clients import ClientCache
from tests.conftest import Sandbox
from tests.pipeline.support import consumers_running, outcome, send, wait_settled
from tests.pipeline.test_invoices import booked, changed

#: The consumers in this process talk through spec-checked clients.
pytestmark = pytest.mark.usefixtures("checked_runtime")


def pay_in_visma(sandbox: Sandbox, item_id: str, amount: Decimal) -> dict[str, object]:
    response = httpx.post(
        f"{sandbox.visma_url}/_sandbox/customerledgeritems/{item_id}/payments",
        json={"Amount": str(amount), "PaymentDate": date.today().isoformat()},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def observed(connected: Connected, item: dict[str, object]) -> PaymentObserved:
    return PaymentObserved(
        connection_id=connected.connection.id,
        visma_ledger_item_id=str(item["Id"]),
        remaining_amount=Decimal(str(item["RemainingAmountInvoiceCurrency"])),
        currency=str(item["CurrencyCode"]),
        modified_utc=item["ModifiedUtc"],  # type: ignore[arg-type]
    )


def test_a_partial_then_a_full_payment_in_visma_show_in_teamleader_as_two_payments_and_paid(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox, settings: Settings
) -> None:
    # Given an unpaid invoice Koppel posted
    invoice = next(
        i for i in booked(connected) if i["status"] == "outstanding" and not i["payments"]
    )
    total = Decimal(str(invoice["total"]["payable"]["amount"]))
    with consumers_running(queues.INVOICES, queues.PAYMENTS):
        send(pool, changed(connected, invoice))
        wait_settled(pool)
        link = links.get(pool, connected.connection.id, "invoice", invoice["id"])
        assert link is not None
        # When the bank pays part of it in Visma, then the rest
        partial = (total / 3).quantize(Decimal("0.01"))
        first = observed(connected, pay_in_visma(sandbox, link.visma_id, partial))
        send(pool, first)
        wait_settled(pool)
        second = observed(connected, pay_in_visma(sandbox, link.visma_id, total - partial))
        send(pool, second)
        send(pool, second)  # seen twice: registered once
        wait_settled(pool)
    # Then Teamleader shows both payments and the invoice paid
    cache = ClientCache(settings, pool)
    try:
        teamleader = cache.for_connection(connected.connection).teamleader
        fresh: Invoice = teamleader.invoice(invoice["id"])
    finally:
        cache.close()
    assert [p.payment.amount for p in fresh.payments] == [partial, total - partial]
    assert fresh.paid
    assert (outcome(pool, first), outcome(pool, second)) == ("posted", "posted")


def connected_settings():
    from config import get_settings

    return get_settings()
