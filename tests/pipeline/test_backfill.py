"""``koppel backfill``: the start date, the preview (nothing written), and a run stopped
halfway and started again that posts every document exactly once — real RabbitMQ,
PostgreSQL and both simulators over HTTP, as separate ``koppel`` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from clients.visma.models import FiscalYear
from config import Settings
from contracts import queues
from ops.backfill.plan import StartDateError, parse_from, start_date
from ops.connect.connecting import Connected
from sandbox.visma.company import terms_of_payment_id
from store import connections, links, message_log
from tests.conftest import ROOT, TODAY, Sandbox
from tests.pipeline.conftest import start_worker
from tests.pipeline.support import (
    connection_clients,
    fault,
    koppel_cli,
    set_revenue_account,
    summary,
    teamleader_part,
    wait_for,
)

#: Every document of the generated account (seed 7) is dated from last year on.
FROM = date(TODAY.year - 1, 1, 1)


# -- the start date (pure) ---------------------------------------------------------------------
def year(start: str, end: str) -> FiscalYear:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    return FiscalYear(Id=start, StartDate=first, EndDate=last)


def test_this_month_this_quarter_and_the_fiscal_year_holding_today_give_their_first_day() -> None:
    today = date(2026, 11, 25)
    # A fiscal year from July to June, as some companies keep it
    years = [year("2025-07-01", "2026-06-30"), year("2026-07-01", "2027-06-30")]
    assert start_date(parse_from("this-month"), today) == date(2026, 11, 1)
    assert start_date(parse_from("this-quarter"), today) == date(2026, 10, 1)
    assert start_date(parse_from("this-quarter"), date(2026, 3, 31)) == date(2026, 1, 1)
    assert start_date(parse_from("fiscal-year"), today, years) == date(2026, 7, 1)
    assert start_date(parse_from("fiscal-year"), date(2026, 6, 30), years) == date(2025, 7, 1)
    assert start_date(parse_from("2025-03-15"), today) == date(2025, 3, 15)


def test_a_start_visma_has_no_fiscal_year_for_a_future_date_or_another_word_is_refused() -> None:
    today = date(2026, 11, 25)
    only_2025 = r"no fiscal year holding today.*2025-01-01–2025-12-31"
    with pytest.raises(StartDateError, match=only_2025):
        start_date("fiscal-year", today, [year("2025-01-01", "2025-12-31")])
    with pytest.raises(StartDateError, match="in the future"):
        start_date(parse_from("2026-12-01"), today)
    with pytest.raises(StartDateError, match="neither this-month, this-quarter, fiscal-year"):
        parse_from("last-week")


# -- the command ---------------------------------------------------------------------------------
def koppel(
    env: dict[str, str], *args: str, timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    return koppel_cli(env, *args, timeout_s=timeout_s)


def backfill_args(*extra: str) -> list[str]:
    return ["backfill", "--from", FROM.isoformat(), *extra]


def documents(connected: Connected) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The department's booked invoices and credit notes dated from FROM, as generated."""
    department = connected.department.id
    data = teamleader_part()
    invoices = [
        i
        for i in data["invoices"]
        if i["department"]["id"] == department
        and i["status"] in ("outstanding", "matched")
        and date.fromisoformat(i["invoice_date"]) >= FROM
    ]
    notes = [
        n
        for n in data["creditNotes"]
        if n["department"]["id"] == department and date.fromisoformat(n["credit_note_date"]) >= FROM
    ]
    return invoices, notes


@pytest.fixture
def recent(connected: Connected, pool: ConnectionPool) -> Connected:
    """The connection syncs from today only: everything older is the backfill's."""
    connections.update(pool, connected.connection.id, sync_from=TODAY)
    return connected


def row(output: str, *parts: str) -> list[str]:
    """The cells of the one table row holding every part."""
    lines = [line for line in output.splitlines() if all(part in line for part in parts)]
    assert len(lines) == 1, (parts, output)
    return [cell.strip() for cell in lines[0].split("│") if cell.strip()]


def counts_row(output: str, label: str) -> list[int]:
    """found, in Visma, to post, nothing to post, problem: the first table's row of a type."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│") if cell.strip()]
        if cells and cells[0] == label and all(c.isdigit() for c in cells[1:]):
            return [int(c) for c in cells[1:]]
    raise AssertionError(f"no counts row for {label}:\n{output}")


def amount(values: Sequence[Decimal]) -> str:
    return f"{sum(values, Decimal(0)):,.2f}"


def test_the_dry_run_previews_counts_totals_and_customers_and_writes_nothing(
    recent: Connected, pool: ConnectionPool, sandbox: Sandbox, koppel_env: dict[str, str]
) -> None:
    invoices, notes = documents(recent)
    assert len(invoices) + len(notes) >= 30
    # When the backfill is previewed
    result = koppel(koppel_env, *backfill_args("--dry-run"))
    output = result.stdout + result.stderr
    # Then it exits 0 (no problems) with every document to post, per type
    assert result.returncode == 0, output
    assert counts_row(output, "invoices") == [len(invoices), 0, len(invoices), 0, 0]
    assert counts_row(output, "credit notes") == [len(notes), 0, len(notes), 0, 0]
    # And Teamleader's totals per type and currency, and per VAT rate (credit notes negative)
    eur = [i for i in invoices if i["currency"] == "EUR"]
    cells = row(output, "invoices", "EUR")
    assert cells[2:] == [
        str(len(eur)),
        amount([Decimal(str(i["total"]["tax_exclusive"]["amount"])) for i in eur]),
        amount([Decimal(str(i["total"]["payable"]["amount"])) for i in eur]),
    ]
    vat_21 = [
        (Decimal(str(t["taxable"]["amount"])), Decimal(str(t["tax"]["amount"])), sign)
        for document, sign in [*((i, 1) for i in eur), *((n, -1) for n in notes)]
        for t in document["total"]["taxes"]
        if Decimal(str(t["rate"])) == Decimal("0.21") and document.get("currency", "EUR") == "EUR"
    ]
    assert row(output, "21 %", "EUR")[2:] == [
        amount([sign * taxable for taxable, _, sign in vat_21]),
        amount([sign * tax for _, tax, sign in vat_21]),
    ]
    # And every invoicee as a customer to create (Visma has none yet)
    invoicees = {d["invoicee"]["customer"]["id"] for d in [*invoices, *notes]}
    assert f"Customers to create in Visma: {len(invoicees)}" in output
    assert "Dry run: nothing was written." in output
    # And nothing was written anywhere
    visma = summary(sandbox)
    assert (visma["ledger_items"], visma["customers"]) == (0, 0)
    assert message_log.waiting(pool) == 0
    assert connections.get(pool, recent.connection.id).sync_from == TODAY


def test_fiscal_year_and_this_month_start_on_the_first_day_of_visma_year_and_month(
    recent: Connected, koppel_env: dict[str, str]
) -> None:
    # The default company's fiscal years are calendar years. (Exit 1 would be a credit note
    # of an invoice from before the start, which the generated data has on some days.)
    today = TODAY
    fiscal = koppel(koppel_env, "backfill", "--from", "fiscal-year", "--dry-run")
    month = koppel(koppel_env, "backfill", "--from", "this-month", "--dry-run")
    assert fiscal.returncode in (0, 1), fiscal.stdout + fiscal.stderr
    assert f"Backfill of test from {today.year}-01-01" in fiscal.stdout
    assert month.returncode in (0, 1), month.stdout + month.stderr
    assert f"Backfill of test from {today.replace(day=1).isoformat()}" in month.stdout
    # And a word it does not know is a usage error naming the choices
    wrong = koppel(koppel_env, "backfill", "--from", "last-week", "--dry-run")
    assert wrong.returncode == 2
    assert "neither this-month, this-quarter, fiscal-year nor a date" in wrong.stderr


def test_a_missing_account_is_named_with_its_documents_and_the_backfill_refuses_to_start(
    recent: Connected, pool: ConnectionPool, sandbox: Sandbox, koppel_env: dict[str, str]
) -> None:
    # Given the 21 % rate books to revenue account 8150, which Visma does not have
    set_revenue_account(pool, recent, "21%", 8150)
    # When the dry run previews, then the backfill is asked to run
    dry = koppel(koppel_env, *backfill_args("--dry-run"))
    run = koppel(koppel_env, *backfill_args("--yes"))
    # Then the dry run exits 1 and names the account, where it comes from and its documents
    assert dry.returncode == 1, dry.stdout + dry.stderr
    problem = row(dry.stdout, "missing account", "account 8150")
    assert "tax rate '21%'" in problem[3], problem
    blocked = int(problem[2].split(":")[0])
    assert blocked > 0
    assert f"{blocked} with problems" in dry.stdout
    # And the run refuses with exit 1, having written nothing
    assert run.returncode == 1, run.stdout + run.stderr
    assert "nothing was written" in run.stderr
    assert "--anyway" in run.stderr
    visma = summary(sandbox)
    assert (visma["ledger_items"], visma["customers"]) == (0, 0)
    assert message_log.waiting(pool) == 0


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_backfill_stopped_halfway_and_started_again_posts_every_document_exactly_once(
    stop: signal.Signals,
    recent: Connected,
    pool: ConnectionPool,
    sandbox: Sandbox,
    koppel_env: dict[str, str],
) -> None:
    invoices, notes = documents(recent)
    total = len(invoices) + len(notes)
    # Given Visma takes 5 postings and then refuses every other one with a 503 (so the run
    # is stopped at a known point, whatever the machine's speed)
    fault(
        sandbox,
        pass_first=5,
        error_rate=1.0,
        error_status=503,
        path_contains="customerledgeritemswithvoucher",
    )
    # When a backfill runs as its own process and is stopped (Ctrl-C or SIGTERM) once those
    # 5 are posted
    first = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", *backfill_args("--yes", "--threads", "2")],
        cwd=ROOT,
        env={**os.environ, **koppel_env, "COLUMNS": "250"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # (done means recorded too: a stop between Visma's answer and the outcome would
        # leave that write for the second run to adopt, which it counts apart)
        def five_done() -> bool:
            outcomes = message_log.outcome_counts(pool, recent.connection.id)
            posted = sum(n for (_, outcome), n in outcomes.items() if outcome == "posted")
            return posted == 5 and summary(sandbox)["ledger_items"] == 5

        wait_for(five_done, timeout_s=180, what="the first 5 postings done", interval_s=0.1)
        first.send_signal(stop)
        first_output, _ = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    # Then it stopped cleanly with part of the work done and the rest still queued
    assert first.returncode == 130, first_output
    assert "documents not done yet" in first_output
    assert "run the same command again to go on" in first_output
    posted_first = summary(sandbox)["ledger_items"]
    assert posted_first == 5 < total, first_output
    # When the same backfill runs again (Visma quick again), to the end
    fault(sandbox)
    second = koppel(koppel_env, *backfill_args("--yes"), timeout_s=600)
    # Then it went on where the first stopped: it published nothing the first had queued
    output = second.stdout + second.stderr
    assert second.returncode == 0, output
    assert f"Backfill done: {total - posted_first} documents posted." in output
    assert "were queued by an earlier run" in output
    # And Visma has every document exactly once
    visma = summary(sandbox)
    assert (visma["ledger_items"], visma["duplicate_ledger_items"]) == (total, 0)
    counts = links.counts(pool, recent.connection.id)
    assert (counts.get("invoice"), counts.get("credit_note")) == (len(invoices), len(notes))
    # And every message has its outcome, posted once per document
    assert message_log.waiting(pool) == 0
    outcomes = message_log.outcome_counts(pool, recent.connection.id)
    assert outcomes.get(("invoice", "posted"), 0) == len(invoices)
    assert outcomes.get(("credit_note", "posted"), 0) == len(notes)
    # And the connection now syncs from the backfill's start
    assert connections.get(pool, recent.connection.id).sync_from == FROM
    # When it runs a third time, everything is in Visma already and nothing is published
    third = koppel(koppel_env, *backfill_args("--yes"))
    assert third.returncode == 0, third.stdout + third.stderr
    assert "Nothing to post" in third.stdout
    assert counts_row(third.stdout, "invoices")[:2] == [len(invoices)] * 2
    assert summary(sandbox)["ledger_items"] == total


def test_with_anyway_a_koppel_work_process_posts_all_but_a_credit_note_of_an_earlier_invoice(
    recent: Connected, pool: ConnectionPool, sandbox: Sandbox, koppel_env: dict[str, str]
) -> None:
    # Given a start the day after a credited invoice's date, and before its credit note
    department = recent.department.id
    data = teamleader_part()
    dated = {
        i["id"]: date.fromisoformat(i["invoice_date"])
        for i in data["invoices"]
        if i["invoice_date"]
    }
    candidates = sorted(
        (
            n
            for n in data["creditNotes"]
            if n["department"]["id"] == department
            and dated[n["invoice"]["id"]] < date.fromisoformat(n["credit_note_date"])
        ),
        key=lambda n: dated[n["invoice"]["id"]],
    )
    assert candidates, "the data set has no credit note dated after its invoice"
    early = candidates[-1]
    credited_on = dated[early["invoice"]["id"]]
    start = credited_on + timedelta(days=1)
    invoices = [
        i
        for i in data["invoices"]
        if i["department"]["id"] == department
        and i["status"] in ("outstanding", "matched")
        and date.fromisoformat(i["invoice_date"]) >= start
    ]
    notes = [
        n
        for n in data["creditNotes"]
        if n["department"]["id"] == department
        and date.fromisoformat(n["credit_note_date"]) >= start
    ]
    # (the latest credited invoice before the start: every other note's invoice is later)
    assert [n for n in notes if dated[n["invoice"]["id"]] < start] == [early]
    args = ["backfill", "--from", start.isoformat()]
    # When the dry run previews
    dry = koppel(koppel_env, *args, "--dry-run")
    # Then the credit note is a problem naming its invoice's date and what to do
    assert dry.returncode == 1, dry.stdout + dry.stderr
    problem = row(dry.stdout, "credited invoice", f"credit note {early['credit_note_number']}")
    assert f"{credited_on.isoformat()}, before the backfill's start" in problem[3], problem
    assert counts_row(dry.stdout, "credit notes")[4] == 1
    # When the backfill runs with --anyway while a `koppel work` process does the work
    worker = start_worker(koppel_env, queues.INVOICES, queues.CREDIT_NOTES)
    try:
        run = koppel(koppel_env, *args, "--yes", "--anyway", "--no-workers")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    # Then everything else is posted once, and that credit note was not even queued
    assert run.returncode == 0, run.stdout + run.stderr
    visma = summary(sandbox)
    assert (visma["ledger_items"], visma["duplicate_ledger_items"]) == (
        len(invoices) + len(notes) - 1,
        0,
    )
    assert links.get(pool, recent.connection.id, "credit_note", early["id"]) is None
    with pool.connection() as conn:
        queued = conn.execute(
            "SELECT count(*) AS n FROM messages WHERE document_id = %s", [early["id"]]
        ).fetchone()
    assert queued is not None and queued["n"] == 0


def test_an_invoicee_visma_has_under_its_vat_number_is_counted_as_found_not_to_create(
    recent: Connected, pool: ConnectionPool, settings: Settings, koppel_env: dict[str, str]
) -> None:
    invoices, notes = documents(recent)
    invoicees = {d["invoicee"]["customer"]["id"] for d in [*invoices, *notes]}
    # Given Visma has a customer (entered by hand) with the VAT number of one invoicee
    company = next(
        i["invoicee"]
        for i in invoices
        if i["invoicee"]["customer"]["type"] == "company" and i["invoicee"].get("vat_number")
    )
    with connection_clients(settings, pool, recent.connection) as clients:
        clients.visma.create_customer(
            {
                "Name": company["name"],
                "InvoicePostalCode": "1011 AB",
                "InvoiceCity": "Amsterdam",
                "IsPrivatePerson": False,
                "IsActive": True,
                "TermsOfPaymentId": terms_of_payment_id("30"),
                "VatNumber": company["vat_number"].replace(" ", "").upper(),
            }
        )
    # When the backfill is previewed
    result = koppel(koppel_env, *backfill_args("--dry-run"))
    # Then that invoicee is found in Visma, and only the others would be created
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Customers to create in Visma: {len(invoicees) - 1}" in result.stdout
    assert f"{len(invoicees) - 1} customers to create, 1 found in Visma." in result.stdout
    assert company["customer"]["id"] not in result.stdout
