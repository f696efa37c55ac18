"""What Koppel does about Visma as it really is (issue 12): default VAT codes, locked
periods, VIES and mandatory cost centres — end to end, real RabbitMQ, PostgreSQL and both
simulators over HTTP (sandbox/visma/ASSUMPTIONS.md, "Visma as it is")."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from psycopg_pool import ConnectionPool

from clients.visma import VismaClient
from config import Settings
from consumers.runtime import Runtime
from contracts import queues
from contracts.messages import PaymentObserved
from ops.cli import main
from ops.connect.connecting import Connected
from sandbox.visma.company import default_company, fiscal_year_id
from store import connections, failures, links, mappings
from tests.conftest import TODAY, Sandbox
from tests.pipeline.support import (
    booked,
    changed,
    connection_clients,
    consumers_running,
    dead_letters,
    koppel_cli,
    outcome,
    send,
    summary,
    teamleader_part,
    wait_for,
    wait_settled,
)
from tests.pipeline.test_contacts import (
    by_reference,
    change_later,
    failures_of,
    new_company,
    visma_writes,
)
from tests.pipeline.test_contacts import changed as customer_changed
from tests.spec_check import SpecChecker
from tests.visma import support as visma_support

#: The consumers in this process talk through spec-checked clients.
pytestmark = pytest.mark.usefixtures("checked_runtime")

VALID_NL_VAT = "NL123456782B01"
CATEGORY_ACCOUNTS = ("8100", "8200", "8300", "8400")


@pytest.fixture
def visma(connected: Connected, sandbox: Sandbox, visma_spec: SpecChecker) -> Iterator[VismaClient]:
    """A client of the simulated Visma company, for reading back what Koppel did."""
    client, _ = visma_support.connect(sandbox, visma_spec, connection_id="test-reader")
    yield client
    client.close()


def visma_accounts(sandbox: Sandbox, **changes: Any) -> None:
    """The default company again (tokens stay), every revenue account of a product category
    with ``changes`` (e.g. a default VAT code)."""
    accounts = default_company(TODAY)["accounts"]
    for account in accounts:
        if account["Number"] in CATEGORY_ACCOUNTS or account["Number"].startswith("80"):
            account.update(changes)
    httpx.post(
        f"{sandbox.visma_url}/_sandbox/reset", json={"accounts": accounts}, timeout=10
    ).raise_for_status()


def control(sandbox: Sandbox, path: str, body: dict[str, Any]) -> None:
    httpx.post(f"{sandbox.visma_url}/_sandbox/{path}", json=body, timeout=5).raise_for_status()


def tax_rate_id(connected: Connected, description: str) -> str:
    return next(
        r["id"]
        for r in teamleader_part()["taxRates"]
        if r["description"] == description and r["department"]["id"] == connected.department.id
    )


def with_rate(connected: Connected, tax_id: str) -> dict[str, Any]:
    return next(
        i
        for i in booked(connected)
        if any(
            line["tax"]["id"] == tax_id
            for group in i["grouped_lines"]
            for line in group["line_items"]
        )
    )


def test_a_9_percent_line_on_an_account_defaulting_to_21_percent_is_posted_with_the_9_percent_code(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox, visma: VismaClient
) -> None:
    # Given every revenue account in Visma defaults to the 21 % code 1a
    high_code = default_company(TODAY)["vatcodes"][0]["Id"]
    visma_accounts(sandbox, VatCodeId=high_code)
    low = tax_rate_id(connected, "9%")
    low_code = next(
        r.vat_code_id
        for r in mappings.vat_rows(pool, connected.connection.id)
        if r.tax_rate_id == low
    )
    assert low_code != high_code
    invoice = with_rate(connected, low)
    message = changed(connected, invoice)
    # When the invoice (with a 9 % line) is posted
    with consumers_running(queues.INVOICES):
        send(pool, message)
        wait_settled(pool)
    # Then its 9 % revenue row keeps the 9 % code, with its VAT amount
    assert outcome(pool, message) == "posted"
    link = links.get(pool, connected.connection.id, "invoice", invoice["id"])
    assert link is not None
    item = visma.ledger_item(link.visma_id)
    year = int(invoice["invoice_date"][:4])
    rows = visma.voucher(fiscal_year_id(year), item.VoucherId).Rows
    low_rows = [r for r in rows if r.VatCodeId == low_code]
    assert low_rows, [(r.AccountNumber, r.VatCodeId) for r in rows]
    assert all(r.VatAmount is not None and r.VatAmount > 0 for r in low_rows)


def test_an_invoice_dated_in_a_locked_period_is_dead_lettered_naming_the_lock_and_its_date(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox
) -> None:
    # Given the bookkeeper locked last year after filing its VAT returns
    locked_to = f"{TODAY.year - 1}-12-31"
    control(sandbox, "accountinglock", {"AccountingLockedTo": locked_to})
    invoice = next(i for i in booked(connected) if i["invoice_date"] <= locked_to)
    message = changed(connected, invoice)
    with consumers_running(queues.INVOICES):
        send(pool, message)
        wait_settled(pool)
    # Then nothing was posted, and the reason names the lock date, the date and the way out
    assert summary(sandbox)["ledger_items"] == 0
    assert outcome(pool, message) == "failed"
    [failure] = failures.listing(pool, connection_id=connected.connection.id)
    assert failure.error_class == "LockedPeriod"
    assert locked_to in failure.reason
    assert invoice["invoice_date"] in failure.reason
    assert "unlock" in failure.reason
    assert dead_letters(queues.INVOICES) == 1


def test_a_row_on_an_account_with_a_mandatory_cost_centre_is_dead_lettered_naming_the_account(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox
) -> None:
    visma_accounts(sandbox, IsFirstCostCenterMandatory=True)
    invoice = booked(connected)[0]
    message = changed(connected, invoice)
    with consumers_running(queues.INVOICES):
        send(pool, message)
        wait_settled(pool)
    assert outcome(pool, message) == "failed"
    [failure] = failures.listing(pool, connection_id=connected.connection.id)
    assert failure.error_class == "CostCenterRequired"
    named = re.search(r"account (\d+) requires a cost centre", failure.reason)
    assert named is not None, failure.reason
    assert named.group(1) in CATEGORY_ACCOUNTS or named.group(1).startswith("80")
    assert summary(sandbox)["ledger_items"] == 0


def test_a_vat_number_vies_does_not_know_is_dead_lettered_naming_the_customer_and_number(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox, visma: VismaClient
) -> None:
    control(sandbox, "vies", {"unregistered": [VALID_NL_VAT]})
    company = new_company(sandbox, vat_number=VALID_NL_VAT)
    message = customer_changed(connected, "company", company)
    with consumers_running(queues.CONTACTS):
        send(pool, message)
        wait_settled(pool)
    assert outcome(pool, message) == "failed"
    [failure] = failures_of(pool, queues.CONTACTS)
    assert "Bakkerij Jansen" in failure.reason and VALID_NL_VAT in failure.reason
    assert "not registered in VIES" in failure.reason
    assert list(visma.customers()) == []


@pytest.mark.parametrize("down_code", [5001, 4100])
def test_with_vies_down_a_customer_is_retried_not_dead_lettered_and_made_once_it_is_back(
    connected: Connected,
    pool: ConnectionPool,
    sandbox: Sandbox,
    visma: VismaClient,
    checked_runtime: Runtime,
    down_code: int,
) -> None:
    control(sandbox, "vies", {"down": True, "down_code": down_code})
    company = new_company(sandbox, vat_number=VALID_NL_VAT)
    message = customer_changed(connected, "company", company)
    with consumers_running(queues.CONTACTS):
        send(pool, message)
        wait_for(
            lambda: visma_writes(checked_runtime, "POST") >= 2,
            timeout_s=30,
            what="a retry of the customer's POST",
        )
        control(sandbox, "vies", {"down": False})
        wait_settled(pool)
    assert outcome(pool, message) == "posted"
    assert dead_letters(queues.CONTACTS) == 0
    [customer] = by_reference(visma, "company", company["id"])
    assert customer.VatNumber == VALID_NL_VAT


def test_a_customer_deregistered_after_its_sync_is_updated_without_the_number_and_flagged(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox, visma: VismaClient
) -> None:
    # Given a customer synced with a VAT number VIES knew then
    company = new_company(sandbox, vat_number=VALID_NL_VAT)
    first = customer_changed(connected, "company", company)
    with consumers_running(queues.CONTACTS):
        send(pool, first)
        wait_settled(pool)
        # When VIES no longer knows the number and the customer moves
        control(sandbox, "vies", {"unregistered": [VALID_NL_VAT]})
        moved = change_later(
            sandbox,
            f"companies/{company['id']}",
            {
                "addresses": [
                    {
                        "type": "primary",
                        "address": {
                            "line_1": "Dorpsstraat 12",
                            "postal_code": "3701 AB",
                            "city": "Zeist",
                            "country": "NL",
                        },
                    }
                ]
            },
            company["updated_at"],
        )
        second = customer_changed(connected, "company", moved)
        send(pool, second)
        wait_settled(pool)
    # Then the move reached Visma, the number was left out, and a person is asked to look
    assert outcome(pool, second) == "attention"
    [customer] = by_reference(visma, "company", company["id"])
    assert (customer.InvoiceCity, customer.VatNumber) == ("Zeist", None)
    assert dead_letters(queues.CONTACTS) == 0


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.usefixtures("wide_terminal")
def test_under_post_on_first_open_day_a_locked_period_invoice_is_posted_the_day_after_the_lock(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox, visma: VismaClient
) -> None:
    # Given last year is locked, and the connection posts such documents on the first open day
    locked_to = date(TODAY.year - 1, 12, 31)
    control(sandbox, "accountinglock", {"AccountingLockedTo": locked_to.isoformat()})
    result = run_cli("mappings", "set", "--locked-period-policy", "post_on_first_open_day")
    assert result.exit_code == 0, result.output
    assert "locked period policy: post_on_first_open_day" in result.output
    invoice = next(i for i in booked(connected) if i["invoice_date"] <= locked_to.isoformat())
    message = changed(connected, invoice)
    with consumers_running(queues.INVOICES):
        send(pool, message)
        wait_settled(pool)
    # Then it is posted: its voucher on the first open day, the ledger item keeps its date
    assert outcome(pool, message) == "posted"
    link = links.get(pool, connected.connection.id, "invoice", invoice["id"])
    assert link is not None
    item = visma.ledger_item(link.visma_id)
    assert item.InvoiceDate == date.fromisoformat(invoice["invoice_date"])
    voucher = visma.voucher(fiscal_year_id(TODAY.year), item.VoucherId)
    assert voucher.VoucherDate == locked_to + timedelta(days=1)


@pytest.mark.usefixtures("wide_terminal")
def test_mappings_check_lists_mapped_accounts_needing_a_cost_centre_and_the_locked_period(
    connected: Connected, sandbox: Sandbox
) -> None:
    visma_accounts(sandbox, IsFirstCostCenterMandatory=True)
    control(sandbox, "accountinglock", {"AccountingLockedTo": f"{TODAY.year - 1}-06-30"})
    result = run_cli("mappings", "check")
    assert result.exit_code == 1, result.output
    cost_centre_rows = [
        line for line in result.output.splitlines() if "account needs a cost centre" in line
    ]
    assert cost_centre_rows, result.output
    assert any("account 80" in line or "account 8" in line for line in cost_centre_rows)
    locked = [line for line in result.output.splitlines() if "locked period" in line]
    assert locked and f"accounting locked to {TODAY.year - 1}-06-30" in locked[0]


@pytest.mark.usefixtures("wide_terminal")
def test_the_backfill_dry_run_lists_documents_dated_in_the_locked_period_and_writes_nothing(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox, koppel_env: dict[str, str]
) -> None:
    connections.update(pool, connected.connection.id, sync_from=TODAY)
    locked_to = f"{TODAY.year - 1}-06-30"
    control(sandbox, "accountinglock", {"AccountingLockedTo": locked_to})
    result = koppel_cli(koppel_env, "backfill", "--from", f"{TODAY.year - 1}-01-01", "--dry-run")
    output = result.stdout + result.stderr
    assert f"accounting locked to {locked_to}" in output, output
    assert "locked-period-policy" in output
    assert summary(sandbox)["ledger_items"] == 0


def test_an_invoice_paid_more_than_its_total_in_visma_registers_only_the_due_and_needs_attention(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox, settings: Settings
) -> None:
    invoice = next(
        i for i in booked(connected) if i["status"] == "outstanding" and not i["payments"]
    )
    total = Decimal(str(invoice["total"]["payable"]["amount"]))
    with consumers_running(queues.INVOICES, queues.PAYMENTS):
        send(pool, changed(connected, invoice))
        wait_settled(pool)
        link = links.get(pool, connected.connection.id, "invoice", invoice["id"])
        assert link is not None
        # When the bank line matched in Visma pays 25.00 more than the invoice's total
        response = httpx.post(
            f"{sandbox.visma_url}/_sandbox/customerledgeritems/{link.visma_id}/payments",
            json={"Amount": str(total + 25), "AllowOverpayment": True},
            timeout=10,
        )
        response.raise_for_status()
        item = response.json()
        message = PaymentObserved(
            connection_id=connected.connection.id,
            visma_ledger_item_id=str(item["Id"]),
            remaining_amount=Decimal(str(item["RemainingAmountInvoiceCurrency"])),
            currency=str(item["CurrencyCode"]),
            modified_utc=item["ModifiedUtc"],
        )
        send(pool, message)
        wait_settled(pool)
    # Then Teamleader got exactly the amount due, and the invoice needs attention
    with connection_clients(settings, pool, connected.connection) as clients:
        fresh = clients.teamleader.invoice(invoice["id"])
    assert [p.payment.amount for p in fresh.payments] == [total]
    assert outcome(pool, message) == "attention"
