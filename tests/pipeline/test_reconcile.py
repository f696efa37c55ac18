"""``koppel reconcile``: both books compared per document, through both APIs.

The account is the generated one (seed 7) after a clean ``koppel sync --once``; each test
then makes the differences a bookkeeper meets, the way they happen: by hand in Visma (a
posting keyed twice, a customer keyed again, an amount keyed differently), in Teamleader (a
deletion), by the bank (a payment), or by a lost message."""

from __future__ import annotations

import csv
import json
import random
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from psycopg_pool import ConnectionPool

from config import Settings
from contracts import queues
from contracts.messages import InvoiceChanged
from ops.connect.connecting import Connected, connect_sandbox
from ops.reconcile.run import reconcile as run_reconcile
from ops.reconcile.schedule import DailyReconciler, is_due, last_slot, slot_s
from producers.poller import record_sent
from store import links, reconcile_runs
from store.api_clients import ClientCache
from tests.conftest import TODAY, Sandbox
from tests.pipeline.conftest import generated
from tests.pipeline.support import (
    booked,
    connection_clients,
    consumers_running,
    koppel_cli,
    pay_in_visma,
    summary,
    wait_settled,
)

pytestmark = pytest.mark.usefixtures("checked_runtime")

#: Every generated document is dated after this (the connection syncs from it too).
SINCE = (TODAY - timedelta(days=800)).isoformat()
#: The Dutch company's 21 % VAT code (docs/sandbox.md, "A ledger item to pay").
VAT_21 = "2a412a98-46de-5741-8303-266a387acb13"


def reconcile(koppel_env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    result = koppel_cli(koppel_env, "reconcile", "--from", SINCE, "--json", *args)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    (only,) = json.loads(result.stdout)  # one result per connection
    return result.returncode, only


def clean_sync(koppel_env: dict[str, str]) -> None:
    result = koppel_cli(koppel_env, "sync", "--once")
    assert result.returncode == 0, result.stdout + result.stderr


def new_booked_invoice(sandbox: Sandbox, connected: Connected, like: dict[str, Any]) -> dict:
    """A new invoice booked today in Teamleader for ``like``'s customer, at 21 %."""
    tax_rate = like["grouped_lines"][0]["line_items"][0]["tax"]["id"]
    response = httpx.post(
        f"{sandbox.teamleader_url}/_sandbox/invoices",
        json={
            "department_id": connected.department.id,
            "customer": like["invoicee"]["customer"],
            "lines": [
                {
                    "description": "Reconcile",
                    "quantity": 2,
                    "unit_price": 50,
                    "tax_rate_id": tax_rate,
                }
            ],
            "book_on": TODAY.isoformat(),
        },
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def key_by_hand(api: Any, customer_id: str, number: int, total: Decimal, day: date = TODAY) -> str:
    """A posting keyed into Visma by hand (through the API, as another tool would): revenue
    on 8000 at 21 %; its id."""
    vat = (total - total / Decimal("1.21")).quantize(Decimal("0.01"))
    item = api.visma.create_ledger_item_with_voucher(
        {
            "CustomerId": customer_id,
            "InvoiceNumber": number,
            "IsCreditInvoice": False,
            "CurrencyCode": "EUR",
            "InvoiceDate": day.isoformat(),
            "TotalAmountInvoiceCurrency": str(total),
            "VATAmountInvoiceCurrency": str(vat),
            "RemainingAmountInvoiceCurrency": str(total),
            "Voucher": {
                "VoucherDate": day.isoformat(),
                "VoucherText": "keyed by hand",
                "Rows": [
                    {"AccountNumber": 1300, "DebitAmount": str(total)},
                    {"AccountNumber": 8000, "CreditAmount": str(total - vat), "VatCodeId": VAT_21},
                    {"AccountNumber": 1510, "CreditAmount": str(vat)},
                ],
            },
        }
    )
    return str(item.Id).lower()


def test_reconcile_finds_nothing_after_a_clean_sync_of_the_demo_data(
    connected: Connected, koppel_env: dict[str, str]
) -> None:
    # Given every booked document synced
    clean_sync(koppel_env)
    # When the books are reconciled
    status, result = reconcile(koppel_env)
    # Then every document matches, and the command says so with exit 0
    assert result["differences"] == [], result["differences"]
    assert result["documents"] > 0 and result["matching"] == result["documents"]
    assert status == 0
    assert result["summary"].endswith(" match, 0 differences")


def test_reconcile_finds_every_kind_of_difference_with_its_advice(
    tmp_path: Path,
    connected: Connected,
    pool: ConnectionPool,
    sandbox: Sandbox,
    settings: Settings,
    koppel_env: dict[str, str],
) -> None:
    clean_sync(koppel_env)
    connection = connected.connection
    invoices = [i for i in booked(connected) if i["status"] == "outstanding" and not i["payments"]]
    deleted, paid, doubled = invoices[0], invoices[1], invoices[2]
    link_of = {i["id"]: links.get(pool, connection.id, "invoice", i["id"]) for i in invoices[:3]}
    with connection_clients(settings, pool, connection) as api:
        # A document whose message was purged: published and recorded, never consumed
        lost = new_booked_invoice(sandbox, connected, deleted)
        record_sent(
            pool,
            connection.id,
            [
                InvoiceChanged(
                    connection_id=connection.id,
                    teamleader_id=lost["id"],
                    updated_at=lost["updated_at"],
                )
            ],
            None,
        )
        # A posting keyed into Visma a second time by hand (Visma gives it the next number)
        doubled_link = link_of[doubled["id"]]
        assert doubled_link is not None
        item = api.visma.ledger_item(doubled_link.visma_id)
        assert item.InvoiceDate is not None
        extra = key_by_hand(
            api, item.CustomerId, 99990001, item.TotalAmountInvoiceCurrency, item.InvoiceDate
        )
        # A document keyed into Visma by hand with another amount than Teamleader's
        keyed = new_booked_invoice(sandbox, connected, deleted)
        year, sequence = keyed["invoice_number"].split(" / ")
        keyed_number = int(f"{year}{int(sequence):05d}")
        key_by_hand(api, item.CustomerId, keyed_number, Decimal("131.00"))
        # A posted invoice deleted in Teamleader
        httpx.post(
            f"{sandbox.teamleader_url}/_sandbox/invoices/{deleted['id']}/delete?any_booked=true",
            timeout=10,
        ).raise_for_status()
        # A payment the bank registered in Visma, not (yet) in Teamleader
        paid_link = link_of[paid["id"]]
        assert paid_link is not None
        pay_in_visma(sandbox, paid_link.visma_id, Decimal("10.00"))
        # A customer keyed into Visma again by hand
        customer = api.visma.customer(item.CustomerId)
        copy = api.visma.create_customer(
            {
                "Name": customer.Name,
                "InvoicePostalCode": customer.InvoicePostalCode,
                "InvoiceCity": customer.InvoiceCity,
                "IsPrivatePerson": customer.IsPrivatePerson,
                "IsActive": True,
                "TermsOfPaymentId": customer.TermsOfPaymentId,
            }
        )

    status, result = reconcile(koppel_env)
    found = {(d["kind"], d["teamleader_id"]) for d in result["differences"]}
    by_kind = {d["kind"]: d for d in result["differences"]}
    assert status == 1
    assert ("missing", lost["id"]) in found
    assert ("duplicate", doubled["id"]) in found and by_kind["duplicate"]["visma_ids"] == [extra]
    assert ("amounts", keyed["id"]) in found
    assert "total 121.00 in Teamleader, 131.00 in Visma" in by_kind["amounts"]["detail"]
    assert ("deleted", deleted["id"]) in found
    assert ("payment", paid["id"]) in found
    assert by_kind["customer_duplicate"]["visma_ids"] == [str(copy.Id).lower()]
    # Nothing else differs, and each kind carries its advice
    assert len(result["differences"]) == 6, result["differences"]
    assert "--fix" in by_kind["missing"]["advice"]
    assert "reverse" in by_kind["deleted"]["advice"]
    assert "reverse the extra posting" in by_kind["duplicate"]["advice"]
    assert "inactive" in by_kind["customer_duplicate"]["advice"]
    assert result["counts"]["missing"] == 1
    # Four of Teamleader's documents differ (the deleted one is no longer among them, and a
    # customer is no document)
    assert result["documents"] - result["matching"] == 4
    assert f" {result['matching']} match, 6 differences: " in result["summary"]
    # And --csv writes the same six rows for a spreadsheet
    sheet = tmp_path / "differences.csv"
    koppel_cli(koppel_env, "reconcile", "--from", SINCE, "--csv", str(sheet))
    rows = list(csv.DictReader(sheet.open(encoding="utf-8")))
    assert sorted(r["kind"] for r in rows) == sorted(d["kind"] for d in result["differences"])
    assert all(r["advice"] and r["connection"] == "test" for r in rows)


def test_fix_posts_the_missing_document_once_and_a_second_fix_does_nothing(
    connected: Connected,
    pool: ConnectionPool,
    sandbox: Sandbox,
    koppel_env: dict[str, str],
) -> None:
    clean_sync(koppel_env)
    connection = connected.connection
    like = booked(connected)[0]
    lost = new_booked_invoice(sandbox, connected, like)
    record_sent(
        pool,
        connection.id,
        [
            InvoiceChanged(
                connection_id=connection.id, teamleader_id=lost["id"], updated_at=lost["updated_at"]
            )
        ],
        None,
    )
    before = summary(sandbox)["ledger_items"]
    with consumers_running(queues.INVOICES, queues.CREDIT_NOTES, queues.CONTACTS):
        first = koppel_cli(koppel_env, "reconcile", "--from", SINCE, "--fix")
        assert first.returncode == 1, first.stdout + first.stderr
        assert "republished 1 missing documents" in first.stdout
        wait_settled(pool)
        second = koppel_cli(koppel_env, "reconcile", "--from", SINCE, "--fix")
        wait_settled(pool)
    assert "nothing missing to republish" in second.stdout, second.stdout
    assert second.returncode == 0, second.stdout + second.stderr
    visma = summary(sandbox)
    assert visma["ledger_items"] == before + 1
    assert visma["duplicate_ledger_items"] == 0
    assert links.get(pool, connection.id, "invoice", lost["id"]) is not None


def test_connections_are_spread_over_the_day_and_each_is_due_once_after_its_moment() -> None:
    # Given a thousand connections
    ids = [uuid.UUID(int=random.Random(n).getrandbits(128)) for n in range(1000)]
    # Then their moments fill every hour of the day, none more than twice its share
    per_hour = Counter(slot_s(i) // 3600 for i in ids)
    assert len(per_hour) == 24 and max(per_hour.values()) < 2 * 1000 / 24
    # And one is due once its moment passed after its last run, not again that day
    connection_id = ids[0]
    moment = last_slot(connection_id, datetime(2026, 6, 15, 23, 59, 59, tzinfo=UTC))
    assert is_due(connection_id, moment, None)
    assert is_due(connection_id, moment, moment - timedelta(seconds=1))
    assert not is_due(connection_id, moment + timedelta(hours=23), moment)
    assert is_due(connection_id, moment + timedelta(days=1), moment)


def test_the_poller_reconciles_each_connection_once_a_day_in_a_quiet_round_and_status_shows_it(
    connected: Connected,
    pool: ConnectionPool,
    settings: Settings,
    koppel_env: dict[str, str],
) -> None:
    clean_sync(koppel_env)
    connection = connected.connection
    cache = ClientCache(settings, pool)
    # A poller started just before the connection's moment of the day
    moment = last_slot(connection.id, datetime.now(UTC))
    clock = [moment - timedelta(seconds=1)]
    daily = DailyReconciler(pool, cache, now=lambda: clock[0])
    try:
        # Before the moment, nothing is due (connections never reconciled wait for theirs)
        assert daily.consider([connection], busy=set()) == []
        clock[0] = moment + timedelta(seconds=1)
        # A round that published something is no quiet round: the reconciliation waits
        assert daily.consider([connection], busy={connection.id}) == []
        # A quiet one starts it, once
        assert daily.consider([connection], busy=set()) == [connection.name]
        daily.wait()
        assert daily.consider([connection], busy=set()) == []
    finally:
        daily.close()
        cache.close()
    run = reconcile_runs.latest(pool, [connection.id], trigger="schedule")[connection.id]
    assert (run.differences, run.documents > 0) == (0, True)
    # The metric says 0 of every kind, and status shows when and what
    labels = {"connection": connection.name, "kind": "missing"}
    assert REGISTRY.get_sample_value("koppel_reconcile_differences", labels) == 0
    status = koppel_cli(koppel_env, "status")
    at = run.finished_at.astimezone(UTC).strftime("%H:%M")
    assert f"test: last reconciled {at}, 0 differences" in status.stdout, status.stdout


def test_reconciling_5000_documents_stays_under_the_rate_limit_in_the_time_its_calls_need(
    pool: ConnectionPool, settings: Settings, sandbox: Sandbox
) -> None:
    # Given a Teamleader department with 5,000 booked invoices (copies of a generated one,
    # each numbered on its own) and the real rate limits (the session's simulators)
    data = generated()
    teamleader = data["teamleader"]
    dutch = next(d["id"] for d in teamleader["departments"] if d["address"]["country"] == "NL")
    like = next(
        i
        for i in teamleader["invoices"]
        if i["status"] == "outstanding" and i["department"]["id"] == dutch
    )
    teamleader["invoices"] = [
        {
            **like,
            "id": str(uuid.UUID(int=n + 1)),
            "invoice_number": f"2025 / {n + 1}",
            "invoice_date": "2025-06-01",
        }
        for n in range(5000)
    ]
    teamleader["creditNotes"] = []
    # (the fixture reset Visma; Teamleader's reset of 5,000 invoices may take a while)
    httpx.post(
        f"{sandbox.teamleader_url}/_sandbox/reset", json=teamleader, timeout=300
    ).raise_for_status()
    connection = connect_sandbox(
        settings, pool, name="many", sync_from=TODAY - timedelta(days=800)
    ).connection
    httpx.delete(f"{sandbox.teamleader_url}/_sandbox/stats", timeout=5).raise_for_status()
    cache = ClientCache(settings, pool)
    try:
        # When the year is reconciled
        started = time.monotonic()
        done = run_reconcile(
            pool, connection, cache.for_connection(connection), date(2025, 1, 1), TODAY
        )
        elapsed_s = time.monotonic() - started
    finally:
        cache.close()
    stats = httpx.get(f"{sandbox.teamleader_url}/_sandbox/stats", timeout=5).json()
    # Then every document was compared (each missing: Visma has none), in one list call per
    # 100 documents, none refused with 429, in no more time than those calls at 200 a
    # minute, plus 10 %
    assert done.result.documents == 5000
    assert stats["calls"] == 5000 // 100 + 2  # the short last pages of both lists
    assert stats["by_status"].get("429", 0) == 0
    assert elapsed_s <= stats["calls"] * 60 / 200 * 1.10
