"""Every Visma endpoint Koppel uses, through the client, each exchange checked by the spec."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from clients.errors import DataError, NotFound
from clients.visma.models import Customer, CustomerInvoice, CustomerInvoiceRow
from sandbox.visma.company import article_id, fiscal_year_id
from tests.conftest import Sandbox, bearer_headers
from tests.spec_check import SpecChecker
from tests.visma.support import (
    THIS_YEAR,
    VALID_NL_VAT,
    connect,
    customer_body,
    posting_body,
)


def test_reference_data_is_the_default_dutch_company(
    sandbox: Sandbox, visma_spec: SpecChecker
) -> None:
    client, _ = connect(sandbox, visma_spec)
    settings = client.company_settings()
    assert (settings.CountryCode, settings.CurrencyCode) == ("NL", "EUR")
    years = client.fiscal_years()
    assert [y.StartDate for y in years] == [date(THIS_YEAR - 1, 1, 1), date(THIS_YEAR, 1, 1)]
    assert years[1].Id == fiscal_year_id(THIS_YEAR)
    this_year = {a.Number: a for a in client.accounts(fiscal_year_id(THIS_YEAR))}
    for number in ("1100", "1300", "1510", "1520", "8000", "8100", "8990"):
        assert number in this_year
    assert len(client.accounts()) == 2 * len(this_year)
    codes = {c.Code: c for c in client.vat_codes()}
    assert codes["1a"].VatRate == Decimal(21)
    assert codes["1a"].RelatedAccounts is not None
    assert codes["1a"].RelatedAccounts.AccountNumber1 == 1510
    assert codes["1b"].VatRate == Decimal(9)
    assert {"1e", "2a", "3a", "3b"} <= set(codes)
    terms = {t.NumberOfDays for t in client.terms_of_payment()}
    assert {14, 30} <= terms
    assert visma_spec.checked >= 6


def test_a_customer_is_created_read_listed_and_replaced(
    sandbox: Sandbox, visma_spec: SpecChecker
) -> None:
    client, _ = connect(sandbox, visma_spec)
    created = client.create_customer(Customer(**customer_body(VatNumber=VALID_NL_VAT)))
    assert created.Id and created.CustomerNumber == "1"  # from NextCustomerNumber
    assert created.ChangedUtc is not None
    assert client.customer(created.Id).Name == created.Name
    assert [c.Id for c in client.customers()] == [created.Id]
    # When the customer is replaced
    time.sleep(0.01)
    replaced = client.update_customer(
        created.Id, created.model_copy(update={"Name": "De Korenschoof", "InvoiceCity": "Zeist"})
    )
    # Then the change is kept, the number stays and ChangedUtc moves on
    assert (replaced.Name, replaced.InvoiceCity) == ("De Korenschoof", "Zeist")
    assert replaced.CustomerNumber == "1"
    assert replaced.ChangedUtc is not None and replaced.ChangedUtc > created.ChangedUtc
    with pytest.raises(NotFound):
        client.customer("3fa85f64-5717-4562-b3fc-2c963f66afa6")


def test_a_ledger_item_its_voucher_and_the_lists_are_read_back(
    sandbox: Sandbox, visma_spec: SpecChecker
) -> None:
    client, _ = connect(sandbox, visma_spec)
    customer = client.create_customer(customer_body())
    created = client.create_ledger_item_with_voucher(posting_body(customer.Id, 2026001))
    assert client.ledger_item(created.Id or "").InvoiceNumber == 2026001
    assert [i.Id for i in client.ledger_items()] == [created.Id]
    voucher = client.voucher(fiscal_year_id(THIS_YEAR), created.VoucherId)
    assert voucher.Id == created.VoucherId
    assert [v.Id for v in client.vouchers()] == [created.VoucherId]
    with pytest.raises(NotFound):
        client.ledger_item("3fa85f64-5717-4562-b3fc-2c963f66afa6")


def test_lists_follow_meta_across_pages(sandbox: Sandbox, visma_spec: SpecChecker) -> None:
    client, _ = connect(sandbox, visma_spec, page_size=2)
    names = [f"Klant {n:02d}" for n in range(5)]
    for name in names:
        client.create_customer(customer_body(Name=name))
    visma_spec.checked = 0
    # When five customers are listed two per page
    listed = [c.Name for c in client.customers()]
    # Then three pages were fetched and every customer came once
    assert sorted(listed) == names
    assert visma_spec.checked == 3
    # And Meta describes the paging
    with httpx.Client(event_hooks=visma_spec.hooks()) as http:
        auth = bearer_headers(client.session)
        page = http.get(
            f"{sandbox.visma_api_url}/customers",
            params={"$page": 3, "$pagesize": 2},
            headers=auth,
        ).json()
    assert page["Meta"]["CurrentPage"] == 3
    assert page["Meta"]["TotalNumberOfPages"] == 3
    assert page["Meta"]["TotalNumberOfResults"] == 5
    assert len(page["Data"]) == 1


def test_each_filter_form_narrows_the_list(sandbox: Sandbox, visma_spec: SpecChecker) -> None:
    client, _ = connect(sandbox, visma_spec)
    first = client.create_customer(customer_body(Name="Eerste", CustomerNumber="K-001"))
    second = client.create_customer(
        customer_body(Name="Tweede", CustomerNumber="K-002", VatNumber=VALID_NL_VAT)
    )
    client.create_ledger_item_with_voucher(posting_body(first.Id or "", 7001))
    time.sleep(0.01)
    middle = datetime.now(UTC)
    time.sleep(0.01)
    later = client.create_ledger_item_with_voucher(posting_body(second.Id or "", 7002))
    third = client.create_customer(customer_body(Name="Derde"))

    assert [c.Id for c in client.find_customers(vat_number=VALID_NL_VAT)] == [second.Id]
    assert [c.Id for c in client.find_customers(customer_number="K-001")] == [first.Id]
    assert [c.Id for c in client.customers(f"ChangedUtc gt {middle.isoformat()}")] == [third.Id]
    assert [i.Id for i in client.ledger_items(modified_since=middle)] == [later.Id]
    assert client.find_ledger_item(7001) is not None
    assert client.find_ledger_item(7001).CustomerId == first.Id  # type: ignore[union-attr]
    assert client.find_ledger_item(9999) is None
    both = f"CustomerId eq '{first.Id}' or InvoiceNumber eq 7002"
    assert len(list(client.ledger_items(both))) == 2
    assert (
        list(client.ledger_items(f"(CustomerId eq '{first.Id}') and InvoiceNumber eq 7002")) == []
    )


def test_a_bad_filter_is_refused_with_error_code_6000(
    sandbox: Sandbox, visma_spec: SpecChecker
) -> None:
    client, _ = connect(sandbox, visma_spec)
    for bad in ("Name eq", "NoSuchField eq 1", "Name equals 'x'", "(Name eq 'x'"):
        with pytest.raises(DataError) as refused:
            list(client.customers(bad))
        assert refused.value.code == "6000", bad
        assert refused.value.status == 400


def test_a_customer_invoice_is_booked_with_computed_totals_and_found_by_modified_since(
    sandbox: Sandbox, visma_spec: SpecChecker
) -> None:
    client, _ = connect(sandbox, visma_spec)
    customer = client.create_customer(customer_body())
    before = datetime.now(UTC) - timedelta(seconds=1)
    invoice = client.create_customer_invoice(
        CustomerInvoice(
            CustomerId=customer.Id or "",
            InvoiceDate=date(THIS_YEAR, 4, 1),
            Rows=[
                CustomerInvoiceRow(
                    ArticleId=article_id("D21"), UnitPrice=Decimal("10.50"), Quantity=Decimal(3)
                ),
                CustomerInvoiceRow(
                    ArticleId=article_id("D9"), UnitPrice=Decimal("20"), Quantity=Decimal(1)
                ),
                CustomerInvoiceRow(Text="Project Zonnepanelen"),
            ],
        )
    )
    # 31.50 + 6.62 VAT (21 %) and 20.00 + 1.80 VAT (9 %)
    assert invoice.TotalAmountInvoiceCurrency == Decimal("59.92")
    assert invoice.TotalVatAmountInvoiceCurrency == Decimal("8.42")
    assert invoice.InvoiceNumber == 1
    assert invoice.PaymentStatus == 1
    assert [i.Id for i in client.customer_invoices(modified_since=before)] == [invoice.Id]
    assert (
        list(client.customer_invoices(modified_since=datetime.now(UTC) + timedelta(hours=1))) == []
    )
    # The invoice opened a ledger item and booked a balanced voucher.
    item = client.find_ledger_item(1)
    assert item is not None and item.TotalAmountInvoiceCurrency == Decimal("59.92")
    voucher = client.voucher(fiscal_year_id(THIS_YEAR), invoice.VoucherId or "")
    debit = sum((r.DebitAmount or Decimal(0) for r in voucher.Rows), Decimal(0))
    credit = sum((r.CreditAmount or Decimal(0) for r in voucher.Rows), Decimal(0))
    assert debit == credit == Decimal("59.92")
