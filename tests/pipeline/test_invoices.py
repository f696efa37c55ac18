"""The invoices and credit-notes consumers end to end: real RabbitMQ, PostgreSQL and both
simulators over HTTP, every effect counted in the Visma simulator."""

from __future__ import annotations

import os
import signal
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from psycopg_pool import ConnectionPool

from contracts import queues
from contracts.messages import CreditNoteChanged
from ops.connect.connecting import Connected
from store import connections, document_history, failures, links
from tests.conftest import Sandbox
from tests.pipeline.conftest import start_worker
from tests.pipeline.support import (
    booked,
    changed,
    consumers_running,
    dead_letters,
    fault,
    outcome,
    send,
    set_revenue_account,
    summary,
    teamleader_part,
    wait_for,
    wait_settled,
)

#: The consumers in this process talk through spec-checked clients.
pytestmark = pytest.mark.usefixtures("checked_runtime")


def test_a_booked_invoice_becomes_one_ledger_item_with_teamleaders_total_and_its_customer(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox
) -> None:
    # Given a booked invoice in Teamleader
    invoice = booked(connected)[0]
    message = changed(connected, invoice)
    # When its message goes through the invoices queue
    with consumers_running(queues.INVOICES):
        send(pool, message)
        wait_settled(pool)
    # Then Visma has one ledger item with Teamleader's total, and the customer it needs
    assert outcome(pool, message) == "posted"
    visma = summary(sandbox)
    assert (visma["ledger_items"], visma["customers"]) == (1, 1)
    link = links.get(pool, connected.connection.id, "invoice", invoice["id"])
    assert link is not None
    assert link.remaining == Decimal(str(invoice["total"]["payable"]["amount"]))
    year, number = invoice["invoice_number"].split(" / ")
    assert link.visma_number == f"{year}{int(number):05d}"
    timeline = document_history.timeline(pool, connected.connection.id, "invoice", invoice["id"])
    assert [e.event for e in timeline] == ["posted"]


def test_the_same_message_twice_and_a_newer_unchanged_version_give_one_posting(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox
) -> None:
    invoice = booked(connected)[1]
    first = changed(connected, invoice)
    later = datetime.fromisoformat("2030-01-01T00:00:00+00:00")
    newer = first.model_copy(update={"updated_at": later})
    with consumers_running(queues.INVOICES):
        send(pool, first)
        send(pool, first)
        wait_settled(pool)
        send(pool, newer)
        wait_settled(pool)
    assert summary(sandbox)["ledger_items"] == 1
    assert outcome(pool, newer) == "unchanged"


def test_a_write_applied_then_timed_out_gives_one_posting(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox
) -> None:
    # Given Visma applies the next posting but its answer never arrives in time
    fault(sandbox, timeout_after_apply=1, hang_s=8, path_contains="customerledgeritems")
    message = changed(connected, booked(connected)[2])
    with consumers_running(queues.INVOICES):
        send(pool, message)
        wait_settled(pool, timeout_s=90)
    # Then the retry found the posting in Visma instead of posting it again
    visma = summary(sandbox)
    assert (visma["ledger_items"], visma["duplicate_ledger_items"]) == (1, 0)
    assert outcome(pool, message) == "posted"


def test_a_worker_killed_mid_posting_and_restarted_gives_one_posting(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox, koppel_env: dict[str, str]
) -> None:
    # Given Visma applies the posting and then holds its answer for a long while
    # (held 8 s: long enough to kill the worker while it waits, short enough for teardown)
    fault(sandbox, timeout_after_apply=1, hang_s=8, path_contains="customerledgeritems")
    message = changed(connected, booked(connected)[3])
    worker = start_worker({**koppel_env, "KOPPEL_HTTP_TIMEOUT_S": "60"}, queues.INVOICES)
    try:
        send(pool, message)
        wait_for(
            lambda: summary(sandbox)["ledger_items"] > 0,
            timeout_s=60,
            what="the posting reaching Visma",
            interval_s=0.1,
        )
        # When the worker dies between Visma's write and its own commit
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        assert outcome(pool, message) is None
        # And a new worker takes the redelivered message
        worker = start_worker(koppel_env, queues.INVOICES)
        wait_settled(pool, timeout_s=90)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    # Then there is still exactly one posting, adopted by the second worker
    visma = summary(sandbox)
    assert (visma["ledger_items"], visma["duplicate_ledger_items"]) == (1, 0)
    assert outcome(pool, message) == "posted"


def test_a_credit_note_that_arrives_before_its_invoice_is_posted_after_it(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox
) -> None:
    note = next(
        n
        for n in teamleader_part()["creditNotes"]
        if n["department"]["id"] == connected.department.id and n.get("invoice")
    )
    invoice = next(i for i in teamleader_part()["invoices"] if i["id"] == note["invoice"]["id"])
    note_message = CreditNoteChanged(
        connection_id=connected.connection.id,
        teamleader_id=note["id"],
        updated_at=datetime.fromisoformat(note["updated_at"]),
    )
    connection_id = connected.connection.id
    with consumers_running(queues.INVOICES, queues.CREDIT_NOTES):
        # Given the credit note was tried first, and is waiting for its invoice
        send(pool, note_message)
        wait_for(
            lambda: any(
                event.event == "waiting"
                for event in document_history.timeline(
                    pool, connection_id, "credit_note", note["id"]
                )
            ),
            what="the credit note waiting for its invoice",
        )
        # When the invoice comes
        send(pool, changed(connected, invoice))
        wait_settled(pool, timeout_s=90)
    assert outcome(pool, note_message) == "posted"
    note_link = links.get(pool, connected.connection.id, "credit_note", note["id"])
    invoice_link = links.get(pool, connected.connection.id, "invoice", invoice["id"])
    assert note_link is not None and invoice_link is not None
    events = document_history.timeline(pool, connected.connection.id, "credit_note", note["id"])
    assert events[0].event == "waiting"
    assert events[-1].detail["credited_visma_number"] == int(invoice_link.visma_number or 0)
    assert summary(sandbox)["ledger_items"] == 2


def test_an_unknown_ledger_account_dead_letters_the_invoice_naming_the_account(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox
) -> None:
    # Given the 21 % rate is mapped to revenue account 8150, which Visma does not have
    high = set_revenue_account(pool, connected, "21%", 8150)
    invoice = next(
        i
        for i in booked(connected)
        if any(
            line.get("product_category") is None and line["tax"]["id"] == high.tax_rate_id
            for group in i["grouped_lines"]
            for line in group["line_items"]
        )
    )
    message = changed(connected, invoice)
    with consumers_running(queues.INVOICES):
        send(pool, message)
        wait_settled(pool)
    # Then nothing was posted, and the failure names the account
    assert summary(sandbox)["ledger_items"] == 0
    assert outcome(pool, message) == "failed"
    [failure] = failures.listing(pool, connection_id=connected.connection.id)
    assert "8150" in failure.reason
    assert failure.error_class == "MissingAccount"
    assert dead_letters(queues.INVOICES) == 1


def test_a_credit_note_of_an_invoice_from_before_the_sync_start_needs_attention_at_once(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox
) -> None:
    # Given a credit note whose invoice is older than the day the connection syncs from
    note = next(
        n
        for n in teamleader_part()["creditNotes"]
        if n["department"]["id"] == connected.department.id and n.get("invoice")
    )
    invoice = next(i for i in teamleader_part()["invoices"] if i["id"] == note["invoice"]["id"])
    later = date.fromisoformat(invoice["invoice_date"]) + timedelta(days=1)
    connections.update(pool, connected.connection.id, sync_from=later)
    message = CreditNoteChanged(
        connection_id=connected.connection.id,
        teamleader_id=note["id"],
        updated_at=datetime.fromisoformat(note["updated_at"]),
    )
    # When it is handled
    with consumers_running(queues.CREDIT_NOTES):
        send(pool, message)
        wait_settled(pool)
    # Then it needs attention on the first attempt (the invoice was booked elsewhere)
    assert outcome(pool, message) == "attention"
    [failure] = failures.listing(pool, connection_id=connected.connection.id)
    assert "before the connection's start" in failure.reason
    assert invoice["invoice_number"] in failure.reason
    assert failure.attempts == 1
    assert summary(sandbox)["ledger_items"] == 0
