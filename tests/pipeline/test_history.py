"""``koppel history``: the real poller publishes, consumers in this process post to the
Visma simulator and register payments in Teamleader, and the command (a subprocess) tells
one document's story, found by Teamleader id or number."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from decimal import Decimal

import pytest
from psycopg_pool import ConnectionPool

from config import Settings
from consumers.app import get_broker
from contracts import queues
from ops.connect.connecting import Connected
from producers.poller import COMPANIES, INVOICES, VISMA_LEDGER_ITEMS, poll_connection
from store import document_history, failures, links
from tests.conftest import Sandbox
from tests.pipeline.support import (
    booked,
    connection_clients,
    consumers_running,
    koppel_cli,
    pay_in_visma,
    set_revenue_account,
    teamleader_part,
    wait_settled,
)

#: The consumers in this process talk through spec-checked clients.
pytestmark = pytest.mark.usefixtures("checked_runtime")


def koppel_history(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return koppel_cli(env, "history", *args, timeout_s=120, columns=300)


def poll_and_consume(
    settings: Settings, pool: ConnectionPool, connected: Connected, stream: str, queue: str
) -> None:
    """One poll of ``stream`` (the real poller, recording history), consumed until settled."""
    broker = get_broker()

    with (
        consumers_running(queue),
        connection_clients(settings, pool, connected.connection) as clients,
    ):
        report = poll_connection(
            settings, pool, broker, connected.connection, clients, streams=(stream,)
        )
        assert not report.failed, report
        wait_settled(pool, timeout_s=120)


def test_a_synced_and_paid_invoice_shows_queued_posted_with_its_visma_ids_and_the_payment(
    connected: Connected,
    pool: ConnectionPool,
    sandbox: Sandbox,
    settings: Settings,
    koppel_env: dict[str, str],
) -> None:
    # Given the booked invoices polled and posted
    poll_and_consume(settings, pool, connected, INVOICES, queues.INVOICES)
    invoice = next(i for i in booked(connected) if i["status"] == "outstanding")
    link = links.get(pool, connected.connection.id, "invoice", invoice["id"])
    assert link is not None and link.remaining is not None
    # And the bank paying 10.00 of it in Visma, which the next poll passes to Teamleader
    pay_in_visma(sandbox, link.visma_id, Decimal("10.00"))
    poll_and_consume(settings, pool, connected, VISMA_LEDGER_ITEMS, queues.PAYMENTS)
    # When its history is asked by Teamleader id
    result = koppel_history(koppel_env, invoice["id"])
    # Then it shows it queued, posted with the Visma ledger item and number, and the payment
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    events = [line.split("│")[2].strip() for line in out.splitlines() if line.count("│") == 4]
    assert events == ["queued", "posted", "payment queued", "payment registered"], out
    assert f"invoice {invoice['invoice_number']}" in out
    assert f"Visma ledger item {link.visma_id}" in out
    assert f"number {link.visma_number}" in out
    remaining = link.remaining - Decimal("10.00")
    assert f"EUR 10.00 registered on the Teamleader invoice; {remaining} still open in Visma" in out
    # And the same story is found by its number, written with or without spaces
    year, sequence = invoice["invoice_number"].split(" / ")
    for written in (invoice["invoice_number"], f"{year}/{sequence}"):
        by_number = koppel_history(koppel_env, written)
        assert by_number.returncode == 0, by_number.stdout + by_number.stderr
        assert by_number.stdout == out
    # And by the Visma invoice number Koppel posted it under
    assert koppel_history(koppel_env, str(link.visma_number)).stdout == out


def test_a_failed_invoice_found_by_number_through_teamleader_shows_its_reason_and_failure(
    connected: Connected, pool: ConnectionPool, settings: Settings, koppel_env: dict[str, str]
) -> None:
    # Given the 21 % rate mapped to revenue account 8150, which Visma does not have
    set_revenue_account(pool, connected, "21%", 8150)
    poll_and_consume(settings, pool, connected, INVOICES, queues.INVOICES)
    failed = failures.listing(pool, connection_id=connected.connection.id, statuses=("open",))
    assert failed
    failure = failed[0]
    invoice = next(i for i in teamleader_part()["invoices"] if i["id"] == failure.document_id)
    # When its history is asked by number (Koppel never stored it: the post failed first)
    result = koppel_history(koppel_env, invoice["invoice_number"].replace(" ", ""), "--wide")
    # Then Teamleader's answer finds it, and it shows queued, then failed with the reason
    # naming the account and the failure row a person requeues (whole: --wide)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"invoice {invoice['invoice_number']}" in out
    assert "queued" in out and "failed" in out
    assert "8150" in out
    assert f"(failure #{failure.id}, now open)" in out


def test_a_number_two_documents_share_lists_both_and_exits_1(
    connected: Connected, koppel_env: dict[str, str]
) -> None:
    # Given two of the department's booked invoices or credit notes with the same sequence
    # number (in different years, or an invoice and a credit note)
    department = connected.department.id
    numbers = [
        i["invoice_number"]
        for i in teamleader_part()["invoices"]
        if i["department"]["id"] == department and i["invoice_number"]
    ] + [
        n["credit_note_number"]
        for n in teamleader_part()["creditNotes"]
        if n["department"]["id"] == department and n["credit_note_number"]
    ]
    shared = Counter(number.split(" / ")[1] for number in numbers)
    sequence = next(s for s, count in shared.items() if count > 1)
    # When history is asked for that sequence alone
    result = koppel_history(koppel_env, sequence)
    # Then every candidate is listed and nothing is chosen
    assert result.returncode == 1, result.stdout + result.stderr
    listed = [line for line in result.stdout.splitlines() if line.startswith("  test  ")]
    assert len(listed) == shared[sequence], result.stdout
    assert all(f"/ {sequence} " in line for line in listed), result.stdout


def test_an_unknown_document_exits_1_with_one_clear_line(
    connected: Connected, koppel_env: dict[str, str]
) -> None:
    for unknown in ("0b0e5c1e-0000-4000-8000-000000000000", "1999 / 4"):
        result = koppel_history(koppel_env, unknown)
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stderr.strip().splitlines() == [
            f"koppel history: no document {unknown!r} is known to Koppel or to Teamleader"
            " (give a Teamleader id, or a number like 2026 / 17)"
        ]


def test_a_company_is_found_by_its_teamleader_id_and_shows_the_visma_customer(
    connected: Connected, pool: ConnectionPool, settings: Settings, koppel_env: dict[str, str]
) -> None:
    # Given the companies polled and synced to Visma customers
    poll_and_consume(settings, pool, connected, COMPANIES, queues.CONTACTS)
    company = links_of_type(pool, connected, "company")[0]
    # When its history is asked by its Teamleader id (Koppel keys it "company:<id>")
    result = koppel_history(koppel_env, company.teamleader_id)
    # Then it shows it queued and what became of it in Visma
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"customer (Teamleader id company:{company.teamleader_id})" in result.stdout
    events = [
        line.split("│")[2].strip() for line in result.stdout.splitlines() if line.count("│") == 4
    ]
    assert events[0] == "queued" and events[1] in ("posted", "updated", "unchanged"), result.stdout


def links_of_type(pool: ConnectionPool, connected: Connected, kind: str) -> list[links.Link]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT teamleader_id FROM links WHERE connection_id = %s AND teamleader_type = %s"
            " ORDER BY teamleader_id",
            [connected.connection.id, kind],
        ).fetchall()
    found = [links.get(pool, connected.connection.id, kind, row["teamleader_id"]) for row in rows]
    return [link for link in found if link is not None]


# -- mistakes and narrow terminals (issue 11) -------------------------------------------------
def test_a_number_of_5000_digits_is_refused_in_one_sentence_with_exit_2(
    connected: Connected, koppel_env: dict[str, str]
) -> None:
    for mistake in ("7" * 5000, f"2026 / {'7' * 5000}", "x" * 500, "   "):
        result = koppel_history(koppel_env, mistake)
        assert result.returncode == 2, result.stdout + result.stderr[-2000:]
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("koppel history: "), result.stderr[-2000:]
        assert "Traceback" not in result.stderr
        assert len(lines[0]) < 200  # the mistake is not echoed whole
        assert "give a Teamleader id, or a number like 2026 / 17" in lines[0]


#: A detail and a reason longer than any line of an 80-column terminal.
LONG_REASON = (
    "Visma has no ledger account 8150 for the revenue of tax rate 21% (mapping of connection"
    " 'test'); create the account in Visma, or map 21% to an account Visma has, then"
    " `koppel dlq requeue ID`; until then every invoice with a 21% line fails."
)


def test_history_fits_80_columns_and_json_holds_every_detail(
    connected: Connected, pool: ConnectionPool, koppel_env: dict[str, str]
) -> None:
    # Given an invoice with a long number that failed with a long reason, then was posted
    connection_id = connected.connection.id
    invoice_id = booked(connected)[0]["id"]
    number = "2026 / 1234567890123456"
    failure_id = failures.record(
        pool,
        connection_id=connection_id,
        queue=queues.INVOICES,
        document_type="invoice",
        document_id=invoice_id,
        dedupe_key=f"invoices:{invoice_id}:long",
        message={},
        error_class="DataError",
        reason=LONG_REASON,
        attempts=3,
    )
    ledger_item = "6f1c2d3e-4b5a-4c6d-8e7f-901234567890"
    document_history.record_many(
        pool,
        connection_id,
        [
            ("invoice", invoice_id, "queued", {"queue": "invoices", "version": "v1"}),
            ("invoice", invoice_id, "failed", {"detail": LONG_REASON, "error": "DataError"}),
            (
                "invoice",
                invoice_id,
                "posted",
                {
                    "detail": "posted as a customer invoice ledger item with its voucher",
                    "visma_ledger_item_id": ledger_item,
                    "visma_number": "2026001234567890123456",
                    "teamleader_number": number,
                    "total": "1234567.89",
                    "currency": "EUR",
                },
            ),
        ],
    )
    # When its history is read by the real CLI at 80 columns
    narrow = koppel_cli(koppel_env, "history", invoice_id, columns=80)
    # Then every line fits, and each detail is cut to one line
    assert narrow.returncode == 0, narrow.stdout + narrow.stderr
    assert [line for line in narrow.stdout.splitlines() if len(line) > 80] == [], narrow.stdout
    assert f"invoice {number}" in narrow.stdout and invoice_id in narrow.stdout
    assert "fails." not in narrow.stdout and "…" in narrow.stdout
    # And --json parses and holds every value whole
    as_json = koppel_cli(koppel_env, "history", invoice_id, "--json", columns=80)
    assert as_json.returncode == 0, as_json.stderr
    story = json.loads(as_json.stdout)
    assert story["document"]["number"] == number
    assert story["document"]["teamleader_id"] == invoice_id
    assert [event["event"] for event in story["events"]] == ["queued", "failed", "posted"]
    assert LONG_REASON in story["events"][1]["detail"]
    assert f"Visma ledger item {ledger_item}" in story["events"][2]["detail"]
    [failure] = story["failures"]
    assert (failure["id"], failure["reason"]) == (failure_id, LONG_REASON)
    # And --wide holds the whole reason
    wide = koppel_cli(koppel_env, "history", invoice_id, "--wide", columns=500)
    assert LONG_REASON in wide.stdout
