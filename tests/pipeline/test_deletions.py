"""Documents and customers deleted in Teamleader after Koppel linked them, end to end:
real RabbitMQ, PostgreSQL and both simulators over HTTP (docs/architecture.md#deletions)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from psycopg_pool import ConnectionPool

from config.settings import Settings
from contracts import queues
from contracts.messages import InvoiceChanged
from contracts.streams import DELETIONS
from ops.connect.connecting import Connected
from producers.pokes import PokeListener
from producers.poller import poll_connection
from producers.webhook_receiver import webhook_path
from store import document_history, failures, links
from store.api_clients import ApiClients
from tests.conftest import TEST_TOKEN_KEY, TODAY, Sandbox
from tests.pipeline.support import (
    connection_clients,
    consumers_running,
    koppel_cli,
    outcome,
    send,
    summary,
    teamleader_part,
    wait_settled,
)
from tests.pipeline.test_webhooks import Listening, event, receiver
from tests.teamleader.support import control

__all__ = ["receiver"]  # the webhook receiver fixture, used below

pytestmark = pytest.mark.usefixtures("checked_runtime")


@pytest.fixture
def clients(settings: Settings, pool: ConnectionPool, connected: Connected) -> Iterator[ApiClients]:
    with connection_clients(settings, pool, connected.connection) as made:
        yield made


@pytest.fixture
def broker(settings: Settings) -> Iterator[RabbitmqBroker]:
    from contracts.broker import make_broker

    made = make_broker(settings, check=False)
    yield made
    made.close()


def new_invoice(
    sandbox: Sandbox,
    connected: Connected,
    customer: dict[str, str] | None = None,
    quantity: int = 2,
) -> dict[str, Any]:
    """A booked invoice of the connection's department, today."""
    part = teamleader_part()
    department = connected.department.id
    rate = next(
        t
        for t in part["taxRates"]
        if t["department"]["id"] == department and t["description"] == "21%"
    )
    company = part["companies"][0]
    return control(
        sandbox,
        "invoices",
        {
            "department_id": department,
            "customer": customer or {"type": "company", "id": company["id"]},
            "lines": [
                {
                    "description": "Advies",
                    "quantity": quantity,
                    "unit_price": 100,
                    "tax_rate_id": rate["id"],
                }
            ],
            "book_on": TODAY.isoformat(),
        },
    )


def message_of(connected: Connected, invoice: dict[str, Any]) -> InvoiceChanged:
    return InvoiceChanged(
        connection_id=connected.connection.id,
        teamleader_id=invoice["id"],
        updated_at=datetime.fromisoformat(invoice["updated_at"]),
    )


def post(pool: ConnectionPool, connected: Connected, *invoices: dict[str, Any]) -> None:
    with consumers_running(queues.INVOICES):
        send(pool, *(message_of(connected, i) for i in invoices))
        wait_settled(pool)


def attention(pool: ConnectionPool, connected: Connected) -> list[failures.Failure]:
    return failures.listing(pool, connection_id=connected.connection.id, statuses=("attention",))


def test_a_posted_invoice_deleted_in_teamleader_needs_attention_naming_the_ledger_item_to_reverse(
    settings: Settings,
    pool: ConnectionPool,
    sandbox: Sandbox,
    connected: Connected,
    clients: ApiClients,
    broker: RabbitmqBroker,
) -> None:
    # Given an invoice Koppel posted, then deleted in Teamleader's web app
    invoice = new_invoice(sandbox, connected)
    post(pool, connected, invoice)
    link = links.get(pool, connected.connection.id, "invoice", invoice["id"])
    assert link is not None
    control(sandbox, f"invoices/{invoice['id']}/delete?any_booked=true")

    # When the poller's round runs (its deletion check is due: it never ran), twice
    first = poll_connection(settings, pool, broker, connected.connection, clients)
    again = poll_connection(settings, pool, broker, connected.connection, clients, [DELETIONS])

    # Then the deletion is found once and needs attention with the ledger item to reverse
    assert first.deleted == [("invoice", invoice["id"])] and again.deleted == []
    rows = attention(pool, connected)
    assert [(r.document_type, r.document_id) for r in rows] == [("invoice", invoice["id"])]
    assert link.visma_id in rows[0].reason and str(link.visma_number) in rows[0].reason
    assert invoice["invoice_number"] in rows[0].reason
    events = document_history.timeline(pool, connected.connection.id, "invoice", invoice["id"])
    assert [e.event for e in events] == ["posted", "deleted in Teamleader"]
    # And Visma keeps the ledger item (Koppel removes nothing there)
    assert summary(sandbox)["ledger_items"] == 1


def test_status_history_and_dlq_attention_show_the_deleted_invoice(
    settings: Settings,
    pool: ConnectionPool,
    sandbox: Sandbox,
    connected: Connected,
    clients: ApiClients,
    broker: RabbitmqBroker,
    koppel_env: dict[str, str],
) -> None:
    invoice = new_invoice(sandbox, connected)
    post(pool, connected, invoice)
    link = links.get(pool, connected.connection.id, "invoice", invoice["id"])
    assert link is not None
    control(sandbox, f"invoices/{invoice['id']}/delete")  # the last booked: the API's rule
    poll_connection(settings, pool, broker, connected.connection, clients, [DELETIONS])

    listed = koppel_cli(koppel_env, "dlq", "list", "--status", "attention")
    status = koppel_cli(koppel_env, "status")
    history = koppel_cli(koppel_env, "history", invoice["invoice_number"])

    assert listed.returncode == 0, listed.stderr
    assert "attention" in listed.stdout and "deleted in Teamleader" in listed.stdout, listed.stdout
    assert "1 need attention" in status.stdout, status.stdout
    assert history.returncode == 0, history.stderr
    assert "deleted in Teamleader" in history.stdout and link.visma_id in history.stdout


def test_an_invoice_reusing_a_deleted_ones_number_posts_under_a_visma_number_that_is_free(
    pool: ConnectionPool, sandbox: Sandbox, connected: Connected, koppel_env: dict[str, str]
) -> None:
    # Given a posted invoice deleted through the API (the last booked), so Teamleader books
    # the next invoice under the same number; Koppel hears of the deletion only through it
    gone = new_invoice(sandbox, connected)
    post(pool, connected, gone)
    control(sandbox, f"invoices/{gone['id']}/delete")
    reused = new_invoice(sandbox, connected, quantity=3)  # another amount: no duplicate
    assert reused["invoice_number"] == gone["invoice_number"]

    # When the new invoice is posted
    post(pool, connected, reused)

    # Then it is posted under the deleted one's Visma number with a suffix, no duplicate,
    # and the deleted one needs attention
    assert outcome(pool, message_of(connected, reused)) == "posted"
    old = links.get(pool, connected.connection.id, "invoice", gone["id"])
    new = links.get(pool, connected.connection.id, "invoice", reused["id"])
    assert old is not None and new is not None
    assert new.visma_number == f"{old.visma_number}1"
    visma = summary(sandbox)
    assert (visma["ledger_items"], visma.get("duplicate_ledger_items", 0)) == (2, 0)
    assert [r.document_id for r in attention(pool, connected)] == [gone["id"]]
    # And both stories are readable under the one Teamleader number
    history = koppel_cli(koppel_env, "history", gone["invoice_number"])
    assert gone["id"] in history.stdout and reused["id"] in history.stdout, history.stdout


def test_a_document_whose_customer_was_deleted_before_koppel_linked_it_still_posts(
    settings: Settings,
    pool: ConnectionPool,
    sandbox: Sandbox,
    connected: Connected,
    clients: ApiClients,
) -> None:
    # Given a new company, an invoice booked for it, then the company deleted
    company = control(
        sandbox,
        "companies",
        {"name": "Weg BV", "emails": [{"type": "invoicing", "email": "boekhouding@weg.example"}]},
    )
    invoice = new_invoice(sandbox, connected, {"type": "company", "id": company["id"]})
    clients.teamleader.session.call(
        "POST", "/companies.delete", body={"id": company["id"]}, read=False
    )

    # When the invoice is posted
    post(pool, connected, invoice)

    # Then it is posted, for a Visma customer made from the invoicee block
    assert outcome(pool, message_of(connected, invoice)) == "posted", [
        f.reason for f in failures.listing(pool)
    ]
    customer = links.get(pool, connected.connection.id, "company", company["id"])
    assert customer is not None
    made = clients.visma.customer(customer.visma_id)
    assert made.Name == "Weg BV"
    events = document_history.timeline(pool, connected.connection.id, "company", company["id"])
    assert [e.event for e in events] == ["deleted in Teamleader"]


def test_a_linked_customer_deleted_in_teamleader_keeps_its_visma_record_and_history_notes_it(
    settings: Settings,
    pool: ConnectionPool,
    sandbox: Sandbox,
    connected: Connected,
    clients: ApiClients,
    broker: RabbitmqBroker,
) -> None:
    invoice = new_invoice(sandbox, connected)
    post(pool, connected, invoice)
    company_id = invoice["invoicee"]["customer"]["id"]
    customers = summary(sandbox)["customers"]
    clients.teamleader.session.call(
        "POST", "/companies.delete", body={"id": company_id}, read=False
    )

    report = poll_connection(settings, pool, broker, connected.connection, clients, [DELETIONS])

    assert report.deleted == [("company", company_id)]
    assert summary(sandbox)["customers"] == customers
    assert links.get(pool, connected.connection.id, "company", company_id) is not None
    events = document_history.timeline(pool, connected.connection.id, "company", company_id)
    assert events[-1].event == "deleted in Teamleader"
    assert "is kept" in events[-1].detail["detail"]
    assert attention(pool, connected) == []


@pytest.mark.parametrize("kind", ["invoice.deleted", "company.deleted"])
def test_a_deletion_webhook_pokes_the_deletion_check_of_its_connection(
    connected: Connected, koppel_env: dict[str, str], receiver: str, kind: str
) -> None:
    path = webhook_path(TEST_TOKEN_KEY, connected.connection.id)
    listening = Listening(koppel_env["KOPPEL_DATABASE_URL"])
    try:
        accepted = httpx.post(receiver + path, json=event(kind), timeout=5)
        assert accepted.status_code == 202
        assert listening.received(within_s=5.0) == [f"{connected.connection.id} {DELETIONS}"]
    finally:
        listening.close()


def test_the_poller_keeps_a_deletion_poke_as_its_own_check_not_a_whole_round() -> None:
    connection_id = uuid.uuid4()
    listener = PokeListener("unused", lambda: None)

    listener._add(f"{connection_id} {DELETIONS}")

    assert listener.take() == {connection_id: {DELETIONS}}


def test_with_reverse_the_reversing_credit_is_posted_once_and_nothing_needs_attention(
    settings: Settings,
    pool: ConnectionPool,
    sandbox: Sandbox,
    connected: Connected,
    clients: ApiClients,
    broker: RabbitmqBroker,
    koppel_env: dict[str, str],
) -> None:
    # Given a connection set to reverse, and a posted invoice deleted in Teamleader
    chosen = koppel_cli(koppel_env, "connections", "on-delete", "test", "reverse")
    assert chosen.returncode == 0, chosen.stderr
    invoice = new_invoice(sandbox, connected)
    post(pool, connected, invoice)
    link = links.get(pool, connected.connection.id, "invoice", invoice["id"])
    assert link is not None and link.visma_number is not None
    control(sandbox, f"invoices/{invoice['id']}/delete?any_booked=true")

    # When the check finds it and the invoices consumer handles what it published, and the
    # check and the message come again
    with consumers_running(queues.INVOICES):
        found = poll_connection(settings, pool, broker, connected.connection, clients, [DELETIONS])
        wait_settled(pool)
        poll_connection(settings, pool, broker, connected.connection, clients, [DELETIONS])
        send(pool, message_of(connected, invoice))
        wait_settled(pool)

    # Then Visma has one reversing credit: the opposite total, under the number plus a 9
    assert found.deleted == [("invoice", invoice["id"])]
    visma = summary(sandbox)
    assert visma["ledger_items"] == 2
    credit = clients.visma.find_ledger_item(int(f"{link.visma_number}9"))
    assert credit is not None and credit.IsCreditInvoice
    original = clients.visma.ledger_item(link.visma_id)
    assert credit.TotalAmountInvoiceCurrency == -original.TotalAmountInvoiceCurrency
    assert attention(pool, connected) == []
    events = document_history.timeline(pool, connected.connection.id, "invoice", invoice["id"])
    assert [e.event for e in events].count("reversed in Visma") == 1
