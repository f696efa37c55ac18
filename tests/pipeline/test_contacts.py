"""The contacts consumer end to end: RabbitMQ, PostgreSQL and both simulators, for real.

Every exchange the consumer has with the simulators goes through the spec checkers (the
runtime's clients carry their hooks), and so does every read-back in these tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dramatiq
import httpx
import pytest
from psycopg_pool import ConnectionPool

from clients.visma import VismaClient
from clients.visma.models import Customer as VismaCustomer
from consumers.app import get_broker
from consumers.base import Job
from consumers.customer_sync import ensure_customer
from consumers.runtime import Runtime
from contracts import keys, queues
from contracts.messages import CustomerChanged
from ops.connect.connecting import Connected
from sandbox.visma.company import terms_of_payment_id
from store import document_history, failures, links
from tests.conftest import Sandbox
from tests.pipeline.conftest import SpecCheckedClients, generated
from tests.pipeline.support import (
    consumers_running,
    dead_letters,
    fault,
    outcome,
    send,
    wait_for,
    wait_settled,
)
from tests.spec_check import SpecChecker
from tests.visma import support as visma_support
from translation.customers import reference_for

VALID_NL_VAT = "NL123456782B01"  # passes the old mod-11 rule
INVALID_NL_VAT = "NL123456789B02"  # the check digits do not match


@pytest.fixture
def visma(connected: Connected, sandbox: Sandbox, visma_spec: SpecChecker) -> Iterator[VismaClient]:
    """A client of the simulated Visma company, for reading back what the consumer did."""
    client, _ = visma_support.connect(sandbox, visma_spec, connection_id="test-reader")
    yield client
    client.close()


# -- helpers ---------------------------------------------------------------------------------
def teamleader_control(sandbox: Sandbox, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{sandbox.teamleader_url}/_sandbox/{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def change_later(sandbox: Sandbox, path: str, body: dict[str, Any], previous: str) -> dict:
    """Change a Teamleader object in a later second than ``previous`` (its ``updated_at``).

    Teamleader's timestamps have whole seconds: two changes within one second are one
    version (one dedupe key), so a test that needs a second version waits for the clock."""
    wait_for(
        lambda: datetime.now(UTC).replace(microsecond=0) > datetime.fromisoformat(previous),
        timeout_s=5,
        what="the next whole second",
    )
    return teamleader_control(sandbox, path, body)


def changed(connected: Connected, kind: str, info: dict[str, Any]) -> CustomerChanged:
    """The message the poller would publish for this ``.info`` object."""
    return CustomerChanged(
        connection_id=connected.connection.id,
        kind=kind,  # type: ignore[arg-type]
        teamleader_id=info["id"],
        updated_at=datetime.fromisoformat(info["updated_at"]),
    )


def address(**fields: Any) -> dict[str, Any]:
    return {"line_1": "Dorpsstraat 12", "postal_code": "3512 AB", "city": "Utrecht", **fields}


def new_company(sandbox: Sandbox, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "Bakkerij Jansen",
        "addresses": [{"type": "primary", "address": address(country="NL")}],
        "emails": [{"type": "primary", "email": "info@jansen.example"}],
        **fields,
    }
    return teamleader_control(sandbox, "companies", body)


def by_reference(visma: VismaClient, kind: str, teamleader_id: str) -> list[VismaCustomer]:
    return list(visma.customers(f"Note eq '{reference_for(kind, teamleader_id)}'"))


def generated_company(predicate: Any) -> dict[str, Any]:
    """The first company of the generated data set (the one ``connected`` loaded) that fits."""
    return next(c for c in generated()["teamleader"]["companies"] if predicate(c))


def visma_writes(rt: Runtime, method: str) -> int:
    """How many ``method`` requests the consumers sent to ``/v2/customers`` (retries too)."""
    assert isinstance(rt.clients, SpecCheckedClients)
    return sum(1 for m, path in rt.clients.visma_requests if m == method and "/customers" in path)


def failures_of(pool: ConnectionPool, queue: str) -> list[failures.Failure]:
    """Every failure recorded for ``queue``, whatever its status, oldest first."""
    every = failures.listing(pool, statuses=("open", "attention", "requeued", "resolved"))
    return sorted((f for f in every if f.queue == queue), key=lambda f: f.id)


# -- tests -----------------------------------------------------------------------------------
def test_a_changed_company_becomes_one_visma_customer_with_its_fields(
    connected: Connected,
    pool: ConnectionPool,
    checked_runtime: Runtime,
    visma: VismaClient,
) -> None:
    # Given a generated company with a VAT number and a separate invoicing address
    company = generated_company(
        lambda c: (
            c["vat_number"]
            and len(c["addresses"]) == 2
            and all(a["address"]["postal_code"] for a in c["addresses"])
        )
    )
    invoicing = next(a["address"] for a in company["addresses"] if a["type"] == "invoicing")
    message = changed(connected, "company", company)
    # When its change goes through the contacts queue
    send(pool, message)
    with consumers_running(queues.CONTACTS):
        wait_settled(pool)
    # Then Visma has exactly one customer for it, carrying Teamleader's data
    assert outcome(pool, message) == "posted"
    [customer] = by_reference(visma, "company", company["id"])
    assert customer.Name == company["name"][:50]
    assert customer.IsPrivatePerson is False
    assert customer.IsActive is True
    assert customer.VatNumber == company["vat_number"]
    assert customer.InvoicePostalCode == invoicing["postal_code"]
    assert customer.InvoiceCity == invoicing["city"]
    assert customer.InvoiceAddress1 == invoicing["line_1"]
    assert customer.InvoiceCountryCode == invoicing["country"]
    assert customer.EmailAddress == next(
        e["email"] for e in company["emails"] if e["type"] == "invoicing"
    )
    assert customer.Telephone == company["telephones"][0]["number"]
    assert customer.CurrencyCode == "EUR"
    # And the link and the history remember which customer it became
    link = links.get(pool, connected.connection.id, "company", company["id"])
    assert link is not None and link.visma_type == "customer"
    assert link.visma_id == str(customer.Id).lower()
    assert link.visma_number == customer.CustomerNumber
    events = document_history.timeline(
        pool, connected.connection.id, "customer", f"company:{company['id']}"
    )
    assert [e.detail.get("visma_customer_id") for e in events if e.event == "posted"] == [
        customer.Id
    ]


def test_a_contact_becomes_a_private_person_with_matching_terms_of_payment(
    connected: Connected,
    pool: ConnectionPool,
    checked_runtime: Runtime,
    sandbox: Sandbox,
    visma: VismaClient,
) -> None:
    contact = teamleader_control(
        sandbox,
        "contacts",
        {
            "first_name": "Anna",
            "last_name": "de Vries",
            "addresses": [{"type": "primary", "address": address(city="Haarlem")}],
            "telephones": [{"type": "mobile", "number": "06 12345678"}],
            "payment_term": {"type": "after_invoice_date", "days": 14},
        },
    )
    message = changed(connected, "contact", contact)
    send(pool, message)
    with consumers_running(queues.CONTACTS):
        wait_settled(pool)
    assert outcome(pool, message) == "posted"
    [customer] = by_reference(visma, "contact", contact["id"])
    assert customer.IsPrivatePerson is True
    assert customer.Name == "Anna de Vries"
    assert customer.InvoiceCity == "Haarlem"
    assert customer.TermsOfPaymentId == terms_of_payment_id("14")
    assert getattr(customer, "MobilePhone", None) == "06 12345678"


def test_the_same_message_twice_and_a_second_version_give_one_updated_customer(
    connected: Connected,
    pool: ConnectionPool,
    checked_runtime: Runtime,
    sandbox: Sandbox,
    visma: VismaClient,
) -> None:
    # Given a company whose change was delivered twice (a re-poll, a redelivery)
    company = new_company(sandbox, vat_number=VALID_NL_VAT)
    first = changed(connected, "company", company)
    with consumers_running(queues.CONTACTS):
        send(pool, first, first)
        wait_settled(pool)
        [created] = by_reference(visma, "company", company["id"])
        # When the company moves to another city, and that version is delivered too
        moved = change_later(
            sandbox,
            f"companies/{company['id']}",
            {"addresses": [{"type": "primary", "address": address(city="Zeist")}]},
            company["updated_at"],
        )
        second = changed(connected, "company", moved)
        assert second.dedupe_key != first.dedupe_key
        send(pool, second)
        wait_settled(pool)
    # Then there is still one customer, updated in place, keeping its number
    assert (outcome(pool, first), outcome(pool, second)) == ("posted", "updated")
    [customer] = by_reference(visma, "company", company["id"])
    assert customer.Id == created.Id
    assert customer.CustomerNumber == created.CustomerNumber
    assert customer.InvoiceCity == "Zeist"
    assert len(list(visma.customers())) == 1
    assert visma_writes(checked_runtime, "POST") == 1


def test_a_change_visma_does_not_carry_writes_nothing_to_visma(
    connected: Connected,
    pool: ConnectionPool,
    checked_runtime: Runtime,
    sandbox: Sandbox,
    visma: VismaClient,
) -> None:
    # Given a company that is in Visma already
    company = new_company(sandbox)
    with consumers_running(queues.CONTACTS):
        send(pool, changed(connected, "company", company))
        wait_settled(pool)
        [before] = by_reference(visma, "company", company["id"])
        # When only its tags change in Teamleader
        tagged = change_later(
            sandbox, f"companies/{company['id']}", {"tags": ["vip"]}, company["updated_at"]
        )
        message = changed(connected, "company", tagged)
        send(pool, message)
        wait_settled(pool)
    # Then the message is handled as unchanged and Visma's customer was not written again
    assert outcome(pool, message) == "unchanged"
    [after] = by_reference(visma, "company", company["id"])
    assert after.ChangedUtc == before.ChangedUtc
    assert visma_writes(checked_runtime, "PUT") == 0


def test_an_unchanged_customer_costs_one_teamleader_call_and_no_visma_call(
    connected: Connected,
    pool: ConnectionPool,
    checked_runtime: Runtime,
    sandbox: Sandbox,
) -> None:
    # Given a company that was synced (as the invoices consumer would ask for it)
    company = new_company(sandbox)
    job = Job(
        checked_runtime, connected.connection, checked_runtime.clients_for(connected.connection)
    )
    assert ensure_customer(job, "company", company["id"]).outcome == "posted"
    teamleader_before = job.clients.teamleader.session.calls_sent
    visma_before = job.clients.visma.session.calls_sent
    # When it is asked for again with nothing changed
    again = ensure_customer(job, "company", company["id"])
    # Then it is unchanged, for one Teamleader read and no Visma call
    assert again.outcome == "unchanged"
    assert job.clients.teamleader.session.calls_sent - teamleader_before == 1
    assert job.clients.visma.session.calls_sent - visma_before == 0


def test_a_customer_already_in_visma_with_the_same_vat_number_is_linked_not_duplicated(
    connected: Connected,
    pool: ConnectionPool,
    checked_runtime: Runtime,
    sandbox: Sandbox,
    visma: VismaClient,
) -> None:
    # Given a customer a person entered in Visma before Koppel came, with their own number
    entered = visma.create_customer(
        visma_support.customer_body(
            Name="Jansen", VatNumber=VALID_NL_VAT, CustomerNumber="K-77", Note="Vaste klant"
        )
    )
    # And the same company (same VAT number, other spacing) in Teamleader
    company = new_company(sandbox, vat_number="nl 1234.56.782 b01")
    message = changed(connected, "company", company)
    send(pool, message)
    with consumers_running(queues.CONTACTS):
        wait_settled(pool)
    # Then that customer is linked and brought up to date, not created a second time
    assert outcome(pool, message) == "updated"
    [customer] = list(visma.customers())
    assert customer.Id == entered.Id
    assert customer.CustomerNumber == "K-77"
    assert customer.Name == "Bakkerij Jansen"
    assert getattr(customer, "Note", None) == "Vaste klant"
    link = links.get(pool, connected.connection.id, "company", company["id"])
    assert link is not None and link.visma_id == str(entered.Id).lower()


def test_a_company_without_postal_code_is_dead_lettered_and_the_next_one_still_succeeds(
    connected: Connected,
    pool: ConnectionPool,
    checked_runtime: Runtime,
    sandbox: Sandbox,
    visma: VismaClient,
) -> None:
    # Given a company without postal code, followed by a complete one
    broken = new_company(
        sandbox,
        name="Bakkerij Zonder Postcode",
        addresses=[{"type": "primary", "address": address(postal_code=None)}],
    )
    fine = new_company(sandbox, name="Slagerij Compleet")
    bad_message, good_message = (
        changed(connected, "company", broken),
        changed(connected, "company", fine),
    )
    send(pool, bad_message, good_message)
    with consumers_running(queues.CONTACTS):
        wait_settled(pool)
        wait_for(lambda: dead_letters(queues.CONTACTS) == 1)
    # Then the first failed at once, with a reason naming the customer and the field
    assert outcome(pool, bad_message) == "failed"
    [failure] = failures_of(pool, queues.CONTACTS)
    assert failure.document_id == f"company:{broken['id']}"
    assert failure.error_class == "CustomerNotAcceptable"
    assert failure.reason == (
        f"Customer 'Bakkerij Zonder Postcode' (Teamleader company {broken['id']}) has no "
        "postal code on its invoicing or primary address; Visma requires one. Add it in "
        "Teamleader."
    )
    # And the next message went through
    assert outcome(pool, good_message) == "posted"
    assert [c.Name for c in visma.customers()] == ["Slagerij Compleet"]


def test_an_invalid_vat_number_is_dead_lettered_naming_the_customer_and_the_number(
    connected: Connected,
    pool: ConnectionPool,
    checked_runtime: Runtime,
    sandbox: Sandbox,
    visma: VismaClient,
) -> None:
    company = new_company(sandbox, vat_number=INVALID_NL_VAT)
    message = changed(connected, "company", company)
    send(pool, message)
    with consumers_running(queues.CONTACTS):
        wait_settled(pool)
    assert outcome(pool, message) == "failed"
    [failure] = failures_of(pool, queues.CONTACTS)
    assert failure.reason.startswith(
        f"Customer 'Bakkerij Jansen' (Teamleader company {company['id']}) has VAT number "
        f"'{INVALID_NL_VAT}', which Visma refuses as invalid"
    )
    assert failure.reason.endswith("Correct it in Teamleader.")
    assert list(visma.customers()) == []
    # Visma refused the POST on purpose: the checker saw a 400 that the description allows.


def test_a_malformed_message_is_dead_lettered_with_a_reason_and_the_worker_goes_on(
    connected: Connected,
    pool: ConnectionPool,
    checked_runtime: Runtime,
    sandbox: Sandbox,
    visma: VismaClient,
) -> None:
    company = new_company(sandbox)
    message = changed(connected, "company", company)
    with consumers_running(queues.CONTACTS):
        # Given a message that does not fit the contract, then a good one
        get_broker().enqueue(
            dramatiq.Message(
                queue_name=queues.CONTACTS,
                actor_name=queues.CONTACTS,
                args=({"schema_version": 1},),
                kwargs={},
                options={},
            )
        )
        wait_for(lambda: failures_of(pool, queues.CONTACTS))
        send(pool, message)
        wait_settled(pool)
        wait_for(lambda: dead_letters(queues.CONTACTS) == 1)
    # Then the malformed one is recorded with a reason a person can read
    [failure] = failures_of(pool, queues.CONTACTS)
    assert failure.error_class == "MalformedMessage"
    assert "connection_id: Field required" in failure.reason
    assert "kind: Field required" in failure.reason
    assert "Traceback" not in failure.reason
    # And the worker handled the next message
    assert outcome(pool, message) == "posted"
    assert len(by_reference(visma, "company", company["id"])) == 1


def test_a_customer_teamleader_no_longer_has_is_skipped_with_a_reason(
    connected: Connected, pool: ConnectionPool, checked_runtime: Runtime
) -> None:
    gone = "0e9f8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c"
    message = changed(connected, "contact", {"id": gone, "updated_at": "2026-03-01T10:00:00+00:00"})
    send(pool, message)
    with consumers_running(queues.CONTACTS):
        wait_settled(pool)
    assert outcome(pool, message) == "skipped"
    [event] = document_history.timeline(
        pool, connected.connection.id, "customer", message.document_id
    )
    assert event.detail["detail"].startswith(f"Teamleader has no contact {gone}")
    assert failures_of(pool, queues.CONTACTS) == []


def test_a_create_whose_answer_was_lost_is_found_by_its_reference_not_made_twice(
    connected: Connected,
    pool: ConnectionPool,
    checked_runtime: Runtime,
    sandbox: Sandbox,
    visma: VismaClient,
) -> None:
    # Given a company without VAT number (so only Koppel's reference can find it again)
    company = new_company(sandbox)
    message = changed(connected, "company", company)
    # And Visma applies the next customer write but its answer never arrives (client timeout
    # 5 s in the pipeline settings)
    fault(sandbox, timeout_after_apply=1, hang_s=7, path_contains="/v2/customers")
    send(pool, message)
    with consumers_running(queues.CONTACTS):
        wait_settled(pool, timeout_s=90)
    # Then the retry adopted the customer the lost call made, and made no second one
    assert outcome(pool, message) == "posted"
    [customer] = list(visma.customers())
    assert getattr(customer, "Note", None) == reference_for("company", company["id"])
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT state, remote_id, attempts FROM external_writes WHERE key = %s",
            [keys.customer(connected.connection.id, "company", company["id"])],
        ).fetchone()
    assert row is not None
    assert (row["state"], row["remote_id"]) == ("done", customer.Id)
    assert visma_writes(checked_runtime, "POST") == 1
    events = document_history.timeline(
        pool, connected.connection.id, "customer", message.document_id
    )
    [posted] = [e for e in events if e.event == "posted"]
    assert "whose answer was lost" in posted.detail["detail"]
