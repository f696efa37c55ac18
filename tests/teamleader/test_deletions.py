"""Deleted documents and customers in the Teamleader simulator, through its HTTP API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from clients.errors import DataError, NotFound
from clients.teamleader.client import TeamleaderClient
from sandbox.teamleader.generate import generate_teamleader
from tests.conftest import TODAY, Sandbox
from tests.spec_check import SpecChecker
from tests.teamleader.support import control, sandbox_client, sandbox_settings
from tests.teamleader.test_webhooks import Receiver

DATASET = generate_teamleader(13, "small")


@pytest.fixture
def client(sandbox: Sandbox, teamleader_spec: SpecChecker) -> Iterator[TeamleaderClient]:
    sandbox.reset({"teamleader": DATASET})
    client, _ = sandbox_client(
        sandbox_settings(sandbox.teamleader_url), event_hooks=teamleader_spec.hooks()
    )
    yield client
    client.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def rpc(client: TeamleaderClient, endpoint: str, body: dict[str, Any]) -> None:
    client.session.call("POST", f"/{endpoint}", body=body, read=False)


def booked(sandbox: Sandbox, on: str = TODAY.isoformat()) -> dict[str, Any]:
    department = DATASET["departments"][0]
    rate = next(t for t in DATASET["taxRates"] if t["department"]["id"] == department["id"])
    company = DATASET["companies"][0]
    return control(
        sandbox,
        "invoices",
        {
            "department_id": department["id"],
            "customer": {"type": "company", "id": company["id"]},
            "lines": [
                {"description": "Uren", "quantity": 1, "unit_price": 80, "tax_rate_id": rate["id"]}
            ],
            "book_on": on,
        },
    )


def test_the_last_booked_invoice_can_be_deleted_and_then_answers_404_and_leaves_the_list(
    sandbox: Sandbox, client: TeamleaderClient, receiver: Receiver
) -> None:
    client.register_webhook(receiver.url, ["invoice.deleted"])
    invoice = booked(sandbox)

    rpc(client, "invoices.delete", {"id": invoice["id"]})

    with pytest.raises(NotFound):
        client.invoice(invoice["id"])
    assert invoice["id"] not in [i.id for i in client.invoices()]
    bodies = receiver.wait_for(1)
    assert [(b["type"], b["subject"]) for b in bodies] == [
        ("invoice.deleted", {"type": "invoice", "id": invoice["id"]})
    ]


def test_a_booked_invoice_that_is_not_the_last_cannot_be_deleted_through_the_api(
    sandbox: Sandbox, client: TeamleaderClient
) -> None:
    first = booked(sandbox)
    booked(sandbox)

    with pytest.raises(DataError, match="last booked invoice"):
        rpc(client, "invoices.delete", {"id": first["id"]})
    assert client.invoice(first["id"]).id == first["id"]


def test_the_web_apps_delete_takes_any_booked_invoice(
    sandbox: Sandbox, client: TeamleaderClient
) -> None:
    first = booked(sandbox)
    booked(sandbox)

    control(sandbox, f"invoices/{first['id']}/delete?any_booked=true")

    with pytest.raises(NotFound):
        client.invoice(first["id"])


def test_deleting_the_last_invoice_frees_its_number_for_the_next_one(
    sandbox: Sandbox, client: TeamleaderClient
) -> None:
    gone = booked(sandbox)
    rpc(client, "invoices.delete", {"id": gone["id"]})

    again = booked(sandbox)

    assert again["invoice_number"] == gone["invoice_number"]
    assert again["id"] != gone["id"]


def test_a_deleted_credit_note_answers_404_leaves_the_list_and_sends_its_webhook(
    sandbox: Sandbox, client: TeamleaderClient, receiver: Receiver
) -> None:
    client.register_webhook(receiver.url, ["creditNote.deleted"])
    invoice = booked(sandbox)
    credit = control(sandbox, f"invoices/{invoice['id']}/credit")

    control(sandbox, f"credit-notes/{credit['id']}/delete")

    with pytest.raises(NotFound):
        client.credit_note(credit["id"])
    assert credit["id"] not in [c.id for c in client.credit_notes()]
    assert [b["type"] for b in receiver.wait_for(1)] == ["creditNote.deleted"]


def test_removing_payments_makes_the_invoice_unpaid_and_sends_payment_removed(
    sandbox: Sandbox, client: TeamleaderClient, receiver: Receiver
) -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    client.register_webhook(receiver.url, ["invoice.paymentRemoved"])
    invoice = booked(sandbox)
    client.register_payment(invoice["id"], Decimal("96.80"), "EUR", datetime.now(UTC))
    assert client.invoice(invoice["id"]).paid

    rpc(client, "invoices.removePayments", {"id": invoice["id"]})

    assert not client.invoice(invoice["id"]).paid
    assert [b["type"] for b in receiver.wait_for(1)] == ["invoice.paymentRemoved"]


def test_a_deleted_company_answers_404_but_its_invoices_keep_its_id(
    sandbox: Sandbox, client: TeamleaderClient, receiver: Receiver
) -> None:
    client.register_webhook(receiver.url, ["company.deleted"])
    invoice = booked(sandbox)
    company_id = invoice["invoicee"]["customer"]["id"]

    rpc(client, "companies.delete", {"id": company_id})

    with pytest.raises(NotFound):
        client.company(company_id)
    assert client.invoice(invoice["id"]).invoicee.customer.id == company_id  # type: ignore[union-attr]
    assert [b["type"] for b in receiver.wait_for(1)] == ["company.deleted"]


def test_a_deleted_contact_answers_404(sandbox: Sandbox, client: TeamleaderClient) -> None:
    contact = DATASET["contacts"][0]

    rpc(client, "contacts.delete", {"id": contact["id"]})

    with pytest.raises(NotFound):
        client.contact(contact["id"])
    response = httpx.post(f"{sandbox.teamleader_url}/_sandbox/contacts/{contact['id']}", json={})
    assert response.status_code == 404
