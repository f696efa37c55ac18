"""Koppel against a Teamleader account as it really is (issue 13): one bad record among
good ones, and old invoices whose change moves past the connection's start. The real
poller publishes, consumers in this process post to the Visma simulator."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from click.testing import CliRunner
from psycopg_pool import ConnectionPool

from config import Settings
from consumers.app import get_broker
from contracts import queues
from ops.cli import main
from ops.connect.connecting import Connected
from producers.poller import CREDIT_NOTES, INVOICES, PollReport, StreamReport, poll_connection
from store import connections, document_history, failures, links
from tests.conftest import Sandbox
from tests.pipeline.support import (
    connection_clients,
    consumers_running,
    summary,
    teamleader_part,
    wait_settled,
)
from tests.teamleader.support import control

#: The consumers in this process talk through spec-checked clients.
pytestmark = pytest.mark.usefixtures("checked_runtime")

START = date(2026, 1, 1)
#: The error class of a list item that did not fit (store/malformed.py).
MALFORMED = "MalformedDocument"


@pytest.fixture
def account(connected: Connected, pool: ConnectionPool, sandbox: Sandbox) -> Iterator[Connected]:
    """The connection, syncing from 1 January 2026, on an account with no documents yet."""
    part = {**teamleader_part(), "invoices": [], "creditNotes": []}
    control(sandbox, "reset", part)
    connections.update(pool, connected.connection.id, sync_from=START)
    yield Connected(
        **{**connected.__dict__, "connection": connections.get(pool, connected.connection.id)}
    )


def book(sandbox: Sandbox, connected: Connected, on: str, price: int = 100) -> dict[str, Any]:
    department = connected.department.id
    rate = next(
        t["id"]
        for t in teamleader_part()["taxRates"]
        if t["department"]["id"] == department and t["description"] == "21%"
    )
    company = teamleader_part()["companies"][0]
    body = {
        "department_id": department,
        "customer": {"type": "company", "id": company["id"]},
        "lines": [
            {"description": "Advies", "quantity": 1, "unit_price": price, "tax_rate_id": rate}
        ],
        "book_on": on,
    }
    return control(sandbox, "invoices", body)


def poll_and_consume(
    settings: Settings, pool: ConnectionPool, connected: Connected, *streams: str
) -> PollReport:
    connection = connections.get(pool, connected.connection.id)
    with (
        consumers_running(queues.INVOICES, queues.CREDIT_NOTES, queues.CONTACTS),
        connection_clients(settings, pool, connection) as clients,
    ):
        report = poll_connection(settings, pool, get_broker(), connection, clients, streams=streams)
        wait_settled(pool, timeout_s=180)
    return report


def stream(report: PollReport, name: str) -> StreamReport:
    return next(s for s in report.streams if s.stream == name)


def malformed_failures(pool: ConnectionPool, connected: Connected) -> list[failures.Failure]:
    return [
        f
        for f in failures.listing(pool, connection_id=connected.connection.id)
        if f.error_class == MALFORMED
    ]


# -- point 3: one bad record must not stop a stream ------------------------------------------
@pytest.mark.usefixtures("wide_terminal")
def test_an_invoice_with_an_impossible_date_is_a_failure_and_the_rest_of_the_page_is_posted(
    account: Connected, pool: ConnectionPool, sandbox: Sandbox, settings: Settings
) -> None:
    # Given three booked invoices, the middle one read back dated 30 February
    first = book(sandbox, account, "2026-02-26")
    bad = book(sandbox, account, "2026-02-27")
    last = book(sandbox, account, "2026-02-28")
    control(sandbox, f"invoices/{bad['id']}/plant", {"invoice_date": "2026-02-30"})
    # When the invoices are polled and consumed
    report = poll_and_consume(settings, pool, account, INVOICES)
    # Then the stream did not fail, the good ones are posted and the cursor moved
    invoices = stream(report, INVOICES)
    assert invoices.error is None and invoices.malformed == 1
    assert invoices.watermark is not None
    for good in (first, last):
        assert links.get(pool, account.connection.id, "invoice", good["id"]) is not None
    assert links.get(pool, account.connection.id, "invoice", bad["id"]) is None
    # And the bad one is a failure naming the document and the field, with its raw JSON
    (failure,) = malformed_failures(pool, account)
    assert failure.document_id == bad["id"] and failure.status == "attention"
    assert bad["id"] in failure.reason and "invoice_date" in failure.reason
    assert failure.message["raw"]["invoice_date"] == "2026-02-30"
    listed = CliRunner().invoke(main, ["dlq", "list", "--wide"], catch_exceptions=False)
    assert "invoice_date" in listed.output and bad["id"][:8] in listed.output, listed.output
    shown = CliRunner().invoke(main, ["dlq", "show", str(failure.id)], catch_exceptions=False)
    assert '"2026-02-30"' in shown.output, shown.output
    # When Teamleader's next version of it fits
    control(sandbox, f"invoices/{bad['id']}/plant", {})
    poll_and_consume(settings, pool, account, INVOICES)
    # Then it is posted and the failure closed
    assert links.get(pool, account.connection.id, "invoice", bad["id"]) is not None
    assert malformed_failures(pool, account) == []
    assert failures.get(pool, failure.id).status == "resolved"  # type: ignore[union-attr]


#: Ways a real record can be wrong (Teamleader's list items as a fuzzer plants them).
MALFORMATIONS: list[dict[str, Any]] = [
    {"invoice_date": "2026-02-30"},
    {"invoice_date": 20260301},
    {"total": "lots"},
    {"department": None},
    {"invoicee": None},
    {"invoice_date": "2026-03\x00-01"},
    {"invoice_date": "9" * 10_000_000},
    {"status": ["outstanding"]},
]


def test_fuzz_one_item_in_twenty_malformed_posts_every_good_one_once_and_records_every_bad(
    account: Connected, pool: ConnectionPool, sandbox: Sandbox, settings: Settings
) -> None:
    rng = random.Random(13)
    documents = [book(sandbox, account, f"2026-03-{1 + i % 28:02d}", 100 + i) for i in range(40)]
    bad = {d["id"] for d in rng.sample(documents, len(documents) // 20)}
    for document in documents:
        if document["id"] in bad:
            planted = rng.choice(MALFORMATIONS)
            control(sandbox, f"invoices/{document['id']}/plant", planted)

    report = poll_and_consume(settings, pool, account, INVOICES)

    assert stream(report, INVOICES).error is None
    for document in documents:
        link = links.get(pool, account.connection.id, "invoice", document["id"])
        assert (link is None) == (document["id"] in bad), document["id"]
    counts = summary(sandbox)
    assert counts["ledger_items"] == len(documents) - len(bad)
    assert counts["duplicate_ledger_items"] == 0
    recorded = {f.document_id: f for f in malformed_failures(pool, account)}
    assert set(recorded) == bad
    assert all(f.reason and "does not fit" in f.reason for f in recorded.values())


# -- point 6: the cut-over date is a document date -------------------------------------------
def test_an_invoice_dated_before_the_start_and_paid_after_it_is_skipped_with_a_history_entry(
    account: Connected, pool: ConnectionPool, sandbox: Sandbox, settings: Settings
) -> None:
    # Given invoice 2025-12-04, paid in 2026 (its updated_at after the start), and a new one
    old = book(sandbox, account, "2025-12-04")
    control_payment = {
        "id": old["id"],
        "payment": old["total"]["payable"],
        "paid_at": "2026-01-11T10:00:00+00:00",
    }
    with connection_clients(settings, pool, account.connection) as clients:
        clients.teamleader._call("invoices.registerPayment", control_payment, read=False)
    new = book(sandbox, account, "2026-01-05")
    # When the invoices are polled and consumed
    report = poll_and_consume(settings, pool, account, INVOICES)
    # Then only the new one is posted; the old one is counted and skipped with a reason
    assert links.get(pool, account.connection.id, "invoice", new["id"]) is not None
    assert links.get(pool, account.connection.id, "invoice", old["id"]) is None
    assert stream(report, INVOICES).before_start == 1
    events = document_history.timeline(pool, account.connection.id, "invoice", old["id"])
    texts = [str(e.detail) for e in events if e.event == "skipped"]
    assert any("dated before the connection's start" in t for t in texts), events


def test_a_credit_note_of_an_invoice_from_before_the_start_needs_attention_with_its_amount(
    account: Connected, pool: ConnectionPool, sandbox: Sandbox, settings: Settings
) -> None:
    # Given an invoice of 2025 credited in 2026
    old = book(sandbox, account, "2025-12-04", price=200)
    credit = control(sandbox, f"invoices/{old['id']}/credit", {"on": "2026-01-20"})
    # When the credit notes are polled and consumed
    poll_and_consume(settings, pool, account, CREDIT_NOTES)
    # Then it is not posted but listed as needing attention, with its amount
    assert links.get(pool, account.connection.id, "credit_note", credit["id"]) is None
    (failure,) = [
        f
        for f in failures.listing(pool, connection_id=account.connection.id)
        if f.document_id == credit["id"]
    ]
    assert failure.status == "attention"
    assert "EUR 242.00" in failure.reason, failure.reason
    assert "before the connection's start" in failure.reason
    # When the connection lets such credits post, and the credit note changes
    connections.update(pool, account.connection.id, credits_of_earlier_invoices="post")
    time.sleep(1.1)  # Teamleader's timestamps have whole seconds: a new second, a new version
    control(sandbox, f"creditNotes/{credit['id']}/plant", {"note": "again"})
    poll_and_consume(settings, pool, account, CREDIT_NOTES)
    # Then it is posted
    events = document_history.timeline(pool, account.connection.id, "credit_note", credit["id"])
    assert links.get(pool, account.connection.id, "credit_note", credit["id"]) is not None, events


# -- point 4: the conversion a bookkeeper can check ------------------------------------------
@pytest.mark.usefixtures("wide_terminal")
def test_history_shows_the_conversion_a_dollar_invoice_was_posted_with(
    account: Connected, pool: ConnectionPool, sandbox: Sandbox, settings: Settings
) -> None:
    # Given a dollar invoice whose rate is labelled from the company's currency (EUR→USD)
    dollars = book(sandbox, account, "2026-03-10", price=5000)
    control(
        sandbox,
        f"invoices/{dollars['id']}/plant",
        {
            "currency": "USD",
            "currency_exchange_rate": {"from": "EUR", "to": "USD", "rate": 1.0845},
            "total": {
                **dollars["total"],
                **{
                    key: {**dollars["total"][key], "currency": "USD"}
                    for key in ("tax_exclusive", "tax_inclusive", "payable", "due")
                },
            },
        },
    )
    # When it is polled and posted, and its history asked
    poll_and_consume(settings, pool, account, INVOICES)
    result = CliRunner().invoke(main, ["history", dollars["id"]], catch_exceptions=False)
    # Then the history names the conversion: EUR = USD × 1.0845, read from the labels
    assert result.exit_code == 0, result.output
    assert "converted USD 6,050.00 at 1.0845 = EUR 6,561.23" in result.output


@pytest.mark.usefixtures("wide_terminal")
def test_backfill_dry_run_shows_the_conversion_and_the_documents_koppel_numbers(
    account: Connected, sandbox: Sandbox
) -> None:
    # Given a dollar invoice (USD→EUR 1.0845) in a fiscal year named "FY2026"
    control(
        sandbox,
        "numbering",
        {"department_id": account.department.id, "year": 2026, "name": "FY2026"},
    )
    dollars = book(sandbox, account, "2026-03-10", price=6050)
    control(
        sandbox,
        f"invoices/{dollars['id']}/plant",
        {
            "currency": "USD",
            "currency_exchange_rate": {"from": "USD", "to": "EUR", "rate": 1.0845},
            "total": {
                **dollars["total"],
                **{
                    key: {**dollars["total"][key], "currency": "USD"}
                    for key in ("tax_exclusive", "tax_inclusive", "payable", "due")
                },
            },
        },
    )
    # When the backfill is previewed
    result = CliRunner().invoke(
        main, ["backfill", "--from", "2026-01-01", "--dry-run"], catch_exceptions=False
    )
    # Then it shows the conversion a bookkeeper checks and that Koppel numbers the invoice
    assert "USD 7,320.50 at 1.0845 = EUR 6,750.12" in result.output, result.output
    assert "Numbered by Koppel: 1" in result.output
    assert "invoice FY2026 / 1" in result.output
