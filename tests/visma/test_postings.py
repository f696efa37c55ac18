"""Sales postings accepted as booked, payments registered by the sandbox, the summary."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest

from clients.tokens import MemoryTokenStore
from clients.visma import VismaClient
from sandbox.visma.company import fiscal_year_id
from tests.conftest import Sandbox
from tests.spec_check import SpecChecker
from tests.visma.support import (
    THIS_YEAR,
    VAT_HIGH,
    authorize,
    posting_body,
    visma_settings,
)


def rows_of(client: VismaClient, voucher_id: str) -> list[tuple[int, Decimal, Decimal]]:
    voucher = client.voucher(fiscal_year_id(THIS_YEAR), voucher_id)
    return [
        (r.AccountNumber, r.DebitAmount or Decimal(0), r.CreditAmount or Decimal(0))
        for r in voucher.Rows
    ]


def pay(sandbox: Sandbox, item_id: str, amount: str) -> httpx.Response:
    return httpx.post(
        f"{sandbox.visma_url}/_sandbox/customerledgeritems/{item_id}/payments",
        json={"Amount": amount, "PaymentDate": f"{THIS_YEAR}-04-15"},
    )


def test_an_invoice_posting_is_accepted_with_its_voucher_rows_as_stored(
    client: VismaClient, customer_id: str
) -> None:
    item = client.create_ledger_item_with_voucher(posting_body(customer_id, 2026101))
    assert item.Id and item.VoucherId
    assert (item.TotalAmountInvoiceCurrency, item.VATAmountInvoiceCurrency) == (
        Decimal("121.00"),
        Decimal("21.00"),
    )
    assert item.RemainingAmountInvoiceCurrency == Decimal("121.00")
    assert item.IsCreditInvoice is False
    assert item.DueDate == date(THIS_YEAR, 3, 31)  # the customer's 30 days
    assert rows_of(client, item.VoucherId) == [
        (1300, Decimal("121.00"), Decimal(0)),
        (8000, Decimal(0), Decimal("100.00")),
        (1510, Decimal(0), Decimal("21.00")),
    ]
    voucher = client.voucher(fiscal_year_id(THIS_YEAR), item.VoucherId)
    assert voucher.VoucherType == 14  # CustomerInvoiceDebit
    assert voucher.Rows[1].VatCodeId == VAT_HIGH
    assert voucher.Rows[0].AccountDescription == "Debiteuren"
    assert voucher.NumberAndNumberSeries


def test_a_credit_posting_is_accepted_with_negative_totals_and_swapped_rows(
    client: VismaClient, customer_id: str
) -> None:
    item = client.create_ledger_item_with_voucher(
        posting_body(customer_id, 2026102, net="40.00", vat="8.40", credit=True)
    )
    assert item.IsCreditInvoice is True
    assert item.TotalAmountInvoiceCurrency == Decimal("-48.40")
    assert item.RemainingAmountInvoiceCurrency == Decimal("-48.40")
    assert rows_of(client, item.VoucherId) == [
        (1300, Decimal(0), Decimal("48.40")),
        (8000, Decimal("40.00"), Decimal(0)),
        (1510, Decimal("8.40"), Decimal(0)),
    ]
    assert client.voucher(fiscal_year_id(THIS_YEAR), item.VoucherId).VoucherType == 15


def test_a_foreign_currency_posting_books_euro_at_the_given_rate(
    client: VismaClient, customer_id: str
) -> None:
    # 100.00 USD + 21.00 USD VAT at 0.9137 EUR/USD: 91.37 + 19.19 = 110.56 (110.5577 → 110.56)
    body = posting_body(customer_id, 2026103, currency="USD", rate="0.9137")
    item = client.create_ledger_item_with_voucher(body)
    assert (item.CurrencyCode, item.CurrencyRate) == ("USD", Decimal("0.9137"))
    assert item.TotalAmountInvoiceCurrency == Decimal("121.00")
    assert rows_of(client, item.VoucherId)[0] == (1300, Decimal("110.56"), Decimal(0))
    # Without a rate a foreign currency is refused.
    del body["CurrencyRate"]
    body["InvoiceNumber"] = 2026104
    with pytest.raises(Exception) as refused:
        client.create_ledger_item_with_voucher(body)
    assert getattr(refused.value, "fields", None) == ["CurrencyRate"]


def test_partial_then_full_payment_lowers_the_remainder_and_bumps_modified_utc(
    sandbox: Sandbox, client: VismaClient, customer_id: str
) -> None:
    item = client.create_ledger_item_with_voucher(posting_body(customer_id, 2026105))
    assert item.Id and item.ModifiedUtc
    watermark = datetime.now(UTC)
    # When a partial payment arrives
    partial = pay(sandbox, item.Id, "21.00")
    assert partial.status_code == 200
    # Then the remainder falls and a ModifiedUtc ge filter finds the item again
    found = list(client.ledger_items(modified_since=watermark))
    assert [i.Id for i in found] == [item.Id]
    assert found[0].RemainingAmountInvoiceCurrency == Decimal("100.00")
    assert found[0].ModifiedUtc and found[0].ModifiedUtc >= watermark
    # An overpayment is refused; the rest settles the item
    assert pay(sandbox, item.Id, "100.01").status_code == 409
    assert pay(sandbox, item.Id, "100.00").status_code == 200
    assert client.ledger_item(item.Id).RemainingAmountInvoiceCurrency == Decimal(0)
    assert pay(sandbox, item.Id, "0.01").status_code == 409


def test_a_credit_invoice_is_paid_from_negative_toward_zero(
    sandbox: Sandbox, client: VismaClient, customer_id: str
) -> None:
    item = client.create_ledger_item_with_voucher(posting_body(customer_id, 2026106, credit=True))
    assert pay(sandbox, item.Id or "", "21.00").json()["RemainingAmountInvoiceCurrency"] == -100
    assert pay(sandbox, item.Id or "", "100.00").json()["RemainingAmountInvoiceCurrency"] == 0


def test_the_summary_counts_duplicate_ledger_items(
    sandbox: Sandbox, client: VismaClient, customer_id: str
) -> None:
    client.create_ledger_item_with_voucher(posting_body(customer_id, 3001))
    client.create_ledger_item_with_voucher(
        posting_body(customer_id, 3002, net="50.00", vat="10.50")
    )
    summary = httpx.get(f"{sandbox.visma_url}/_sandbox/summary").json()
    assert summary["duplicate_ledger_items"] == 0
    # Given the same invoice booked again under another number (a lost-response retry)
    client.create_ledger_item_with_voucher(posting_body(customer_id, 3003))
    summary = httpx.get(f"{sandbox.visma_url}/_sandbox/summary").json()
    assert summary["duplicate_ledger_items"] == 2
    assert (summary["customers"], summary["ledger_items"], summary["vouchers"]) == (1, 3, 3)
    assert summary["invoice_numbers"] == [3001, 3002, 3003]


def test_a_second_company_is_separate_and_reachable_through_its_own_grant(
    sandbox: Sandbox, visma_spec: SpecChecker, client: VismaClient, customer_id: str
) -> None:
    created = httpx.post(
        f"{sandbox.visma_url}/_sandbox/companies",
        json={"companysettings": {"Name": "Tweede Bedrijf B.V."}},
    )
    assert created.status_code == 201
    company_id = created.json()["company_id"]
    # When a client is authorised for that company
    settings = visma_settings(sandbox)
    other = VismaClient.from_settings(
        settings,
        MemoryTokenStore(authorize(settings, company=company_id)),
        connection_id="connection-2",
        event_hooks=visma_spec.hooks(),
    )
    # Then it sees that company only
    assert other.company_settings().Name == "Tweede Bedrijf B.V."
    assert list(other.customers()) == []
    assert len(list(client.customers())) == 1
    summary = httpx.get(f"{sandbox.visma_url}/_sandbox/summary", params={"company": company_id})
    assert summary.json()["customers"] == 0
