"""Visma's refusals, each with its ErrorCode, status and the field it names."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from clients.errors import Conflict, DataError, NotFound
from clients.visma import VismaClient
from sandbox.visma import schemas
from sandbox.visma.company import fiscal_year_id
from tests.conftest import Sandbox
from tests.spec_check import SpecChecker, described
from tests.visma.support import (
    THIS_YEAR,
    VALID_BE_VAT,
    VALID_NL_VAT,
    VALID_NL_VAT_MOD97,
    connect,
    customer_body,
    posting_body,
    take_request_violations,
)


def refused(call: Any, kind: type[Exception] = DataError) -> Any:
    with pytest.raises(kind) as caught:
        call()
    return caught.value


def test_a_customer_without_a_name_is_refused_with_2000_naming_the_field(
    client: VismaClient, visma_spec: SpecChecker
) -> None:
    body = customer_body()
    del body["Name"]
    error = refused(lambda: client.create_customer(body))
    assert (error.status, error.code, error.fields) == (400, "2000", ["Name"])
    assert "required" in error.reason
    take_request_violations(visma_spec, "'Name' is a required property")


def test_a_customer_name_over_50_characters_is_refused_with_2000(
    client: VismaClient, visma_spec: SpecChecker
) -> None:
    error = refused(lambda: client.create_customer(customer_body(Name="N" * 51)))
    assert (error.code, error.fields) == ("2000", ["Name"])
    assert "maximum length of 50" in error.reason
    take_request_violations(visma_spec, "is too long")


def test_an_unbalanced_voucher_is_refused_with_2000(client: VismaClient, customer_id: str) -> None:
    body = posting_body(customer_id, 1001)
    body["Voucher"]["Rows"][1]["CreditAmount"] = Decimal("99.99")
    error = refused(lambda: client.create_ledger_item_with_voucher(body))
    assert error.code == "2000"
    assert "does not balance" in error.reason


def test_an_amount_with_three_decimals_is_refused_with_2000_naming_the_row(
    client: VismaClient, customer_id: str
) -> None:
    body = posting_body(customer_id, 1002)
    body["Voucher"]["Rows"][0]["DebitAmount"] = Decimal("121.001")
    error = refused(lambda: client.create_ledger_item_with_voucher(body))
    assert error.code == "2000"
    assert error.fields == ["Voucher.Rows[0].DebitAmount"]


def test_receivables_that_do_not_match_the_total_are_refused(
    client: VismaClient, customer_id: str
) -> None:
    body = posting_body(customer_id, 1003)
    body["TotalAmountInvoiceCurrency"] = body["RemainingAmountInvoiceCurrency"] = Decimal("120")
    error = refused(lambda: client.create_ledger_item_with_voucher(body))
    assert error.code == "2000"
    assert "receivables account 1300" in error.reason


def test_vat_rows_that_do_not_match_the_vat_amount_are_refused(
    client: VismaClient, customer_id: str
) -> None:
    body = posting_body(customer_id, 1004)
    body["VATAmountInvoiceCurrency"] = Decimal("20.00")
    error = refused(lambda: client.create_ledger_item_with_voucher(body))
    assert error.code == "2000"
    assert "VAT accounts" in error.reason


def test_a_credit_flag_that_disagrees_with_the_sign_is_refused(
    client: VismaClient, customer_id: str
) -> None:
    body = posting_body(customer_id, 1005)
    body["IsCreditInvoice"] = True
    error = refused(lambda: client.create_ledger_item_with_voucher(body))
    assert (error.code, error.fields) == ("2000", ["IsCreditInvoice"])


def test_an_unknown_customer_is_refused_with_3000(client: VismaClient) -> None:
    body = posting_body("3fa85f64-5717-4562-b3fc-2c963f66afa6", 1006)
    error = refused(lambda: client.create_ledger_item_with_voucher(body), NotFound)
    assert (error.status, error.code, error.fields) == (400, "3000", ["CustomerId"])


def test_an_unknown_vat_code_is_refused_with_3000_naming_it(
    client: VismaClient, customer_id: str
) -> None:
    body = posting_body(customer_id, 1007)
    body["Voucher"]["Rows"][1]["VatCodeId"] = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    error = refused(lambda: client.create_ledger_item_with_voucher(body), NotFound)
    assert error.code == "3000"
    assert "3fa85f64-5717-4562-b3fc-2c963f66afa6" in error.reason
    assert error.fields == ["Voucher.Rows[1].VatCodeId"]


def test_unknown_terms_of_payment_are_refused_with_3000(client: VismaClient) -> None:
    body = customer_body(TermsOfPaymentId="3fa85f64-5717-4562-b3fc-2c963f66afa6")
    error = refused(lambda: client.create_customer(body), NotFound)
    assert (error.code, error.fields) == ("3000", ["TermsOfPaymentId"])


def test_a_date_outside_the_fiscal_years_is_refused_with_3001(
    client: VismaClient, customer_id: str
) -> None:
    body = posting_body(customer_id, 1008, invoice_date=date(THIS_YEAR - 5, 6, 1))
    error = refused(lambda: client.create_ledger_item_with_voucher(body))
    assert not isinstance(error, NotFound)
    assert error.code == "3001"
    assert f"{THIS_YEAR - 5}-06-01" in error.reason


def test_an_unknown_account_is_refused_with_3002_naming_account_and_year(
    client: VismaClient, customer_id: str
) -> None:
    body = posting_body(customer_id, 1009)
    body["Voucher"]["Rows"][1]["AccountNumber"] = 8765
    error = refused(lambda: client.create_ledger_item_with_voucher(body))
    assert error.code == "3002"
    assert "Account 8765" in error.reason
    assert f"{THIS_YEAR}-01-01" in error.reason
    assert error.fields == ["Voucher.Rows[1].AccountNumber"]


def test_a_duplicate_invoice_number_is_a_conflict_4000(
    client: VismaClient, customer_id: str
) -> None:
    client.create_ledger_item_with_voucher(posting_body(customer_id, 1010))
    error = refused(
        lambda: client.create_ledger_item_with_voucher(posting_body(customer_id, 1010)), Conflict
    )
    assert (error.code, error.fields) == ("4000", ["InvoiceNumber"])
    assert len(list(client.ledger_items())) == 1


def test_a_duplicate_customer_number_is_a_conflict_4000(client: VismaClient) -> None:
    client.create_customer(customer_body(CustomerNumber="D-1"))
    error = refused(
        lambda: client.create_customer(customer_body(Name="Ander", CustomerNumber="D-1")), Conflict
    )
    assert (error.code, error.fields) == ("4000", ["CustomerNumber"])


@pytest.mark.parametrize(
    "vat_number",
    ["NL123456789B01", "NL12345678B01", "NL123456782X01", "BE0403170702", "BE2403170701", "DE12"],
)
def test_an_invalid_vat_number_is_refused_with_4025(client: VismaClient, vat_number: str) -> None:
    error = refused(lambda: client.create_customer(customer_body(VatNumber=vat_number)))
    assert (error.code, error.fields) == ("4025", ["VatNumber"])
    assert vat_number in error.reason


@pytest.mark.parametrize(
    "vat_number", [VALID_NL_VAT, VALID_NL_VAT_MOD97, VALID_BE_VAT, "DE123456789", "FRXX123456789"]
)
def test_a_valid_vat_number_is_accepted(client: VismaClient, vat_number: str) -> None:
    assert client.create_customer(customer_body(VatNumber=vat_number)).VatNumber == vat_number


@pytest.mark.parametrize(
    ("model", "schema"),
    [
        (schemas.CustomerIn, "CustomerApi"),
        (schemas.VoucherIn, "VoucherApi"),
        (schemas.VoucherRowIn, "VoucherRowApi"),
        (schemas.LedgerItemWithVoucherIn, "CustomerLedgerItemWithVoucherApi"),
        (schemas.CustomerInvoiceIn, "CustomerInvoiceApi"),
        (schemas.InvoiceRowIn, "CustomerInvoiceRowApi"),
        (schemas.CompanySettingsItem, "CompanySettingsApi"),
    ],
)
def test_the_simulators_field_rules_match_the_description(model: Any, schema: str) -> None:
    """The maximum lengths and required fields the simulator enforces are the description's."""
    component = described("visma")["schemas"][schema]
    properties = component["properties"]
    for name, field in model.model_fields.items():
        assert name in properties, f"{schema} has no property {name}"
        limits = [m.max_length for m in field.metadata if hasattr(m, "max_length")]
        assert limits == (
            [properties[name]["maxLength"]] if "maxLength" in properties[name] else []
        ), name
    required = set(component.get("required", []))
    enforced = {n for n, f in model.model_fields.items() if f.is_required()}
    assert enforced <= required | {"TermsOfPaymentId"}, enforced - required


def test_a_posting_into_a_locked_fiscal_year_is_refused_with_4013(
    sandbox: Sandbox, visma_spec: SpecChecker
) -> None:
    # Given a company whose previous fiscal year is locked for accounting
    years = [
        {
            "Id": fiscal_year_id(year),
            "StartDate": f"{year}-01-01",
            "EndDate": f"{year}-12-31",
            "IsLockedForAccounting": year < THIS_YEAR,
        }
        for year in (THIS_YEAR - 1, THIS_YEAR)
    ]
    sandbox.reset({"visma": {"fiscalyears": years}})
    client, _ = connect(sandbox, visma_spec)
    customer_id = client.create_customer(customer_body()).Id or ""
    # When an invoice dated in that year is posted
    body = posting_body(customer_id, 1011, invoice_date=date(THIS_YEAR - 1, 12, 1))
    error = refused(lambda: client.create_ledger_item_with_voucher(body))
    # Then it is refused; the open year still takes postings
    assert error.code == "4013"
    assert client.create_ledger_item_with_voucher(posting_body(customer_id, 1012)).Id
