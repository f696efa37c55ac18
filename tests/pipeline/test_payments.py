"""Payments back: Visma's remaining amount falls → payments registered in Teamleader."""

from __future__ import annotations

from decimal import Decimal

import pytest
from psycopg_pool import ConnectionPool

from clients.teamleader.models import Invoice
from config import Settings
from contracts import queues
from contracts.messages import PaymentObserved
from ops.connect.connecting import Connected
from store import failures, links
from tests.conftest import Sandbox
from tests.pipeline.support import (
    booked,
    changed,
    connection_clients,
    consumers_running,
    outcome,
    pay_in_visma,
    send,
    wait_settled,
)
from tests.spec_check import SpecChecker

#: The consumers in this process talk through spec-checked clients.
pytestmark = pytest.mark.usefixtures("checked_runtime")


def observed(connected: Connected, item: dict[str, object]) -> PaymentObserved:
    return PaymentObserved(
        connection_id=connected.connection.id,
        visma_ledger_item_id=str(item["Id"]),
        remaining_amount=Decimal(str(item["RemainingAmountInvoiceCurrency"])),
        currency=str(item["CurrencyCode"]),
        modified_utc=item["ModifiedUtc"],  # type: ignore[arg-type]
    )


def test_a_partial_then_a_full_payment_in_visma_show_in_teamleader_as_two_payments_and_paid(
    connected: Connected,
    pool: ConnectionPool,
    sandbox: Sandbox,
    settings: Settings,
    teamleader_spec: SpecChecker,
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
    hooks = {"teamleader": teamleader_spec.hooks()}
    with connection_clients(settings, pool, connected.connection, hooks) as clients:
        fresh: Invoice = clients.teamleader.invoice(invoice["id"])
    assert [p.payment.amount for p in fresh.payments] == [partial, total - partial]
    assert fresh.paid
    assert (outcome(pool, first), outcome(pool, second)) == ("posted", "posted")


def test_a_payment_undone_in_visma_needs_attention_and_registers_nothing(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox, settings: Settings
) -> None:
    # Given an unpaid invoice Koppel posted, and Koppel once saw less open than now (a
    # payment Visma later undid; the simulator cannot unmatch, so the store says it)
    invoice = next(
        i for i in booked(connected) if i["status"] == "outstanding" and not i["payments"]
    )
    with consumers_running(queues.INVOICES, queues.PAYMENTS):
        send(pool, changed(connected, invoice))
        wait_settled(pool)
        link = links.get(pool, connected.connection.id, "invoice", invoice["id"])
        assert link is not None and link.remaining is not None
        links.set_remaining(
            pool, connected.connection.id, links.LEDGER_ITEM, link.visma_id, Decimal("1.00")
        )
        # When the poller reports what Visma shows now
        with connection_clients(settings, pool, connected.connection) as clients:
            item = clients.visma.ledger_item(link.visma_id)
        message = observed(connected, item.model_dump(mode="json"))
        send(pool, message)
        wait_settled(pool)
    # Then a person is asked to look, and Teamleader got no payment
    assert outcome(pool, message) == "attention"
    [failure] = failures.listing(
        pool, connection_id=connected.connection.id, statuses=("attention",)
    )
    assert "undone" in failure.reason
    with connection_clients(settings, pool, connected.connection) as clients:
        assert clients.teamleader.invoice(invoice["id"]).payments == []
