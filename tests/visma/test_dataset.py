"""The Visma part of a data set: every problem names its item and field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sandbox.dataset_file import DatasetError, validate_dataset
from sandbox.visma.company import fiscal_year_id, terms_of_payment_id
from sandbox.visma.dataset import validate_visma
from tests.conftest import Sandbox
from tests.spec_check import SpecChecker
from tests.visma.support import THIS_YEAR, connect, customer_body


def problem(part: dict[str, Any]) -> DatasetError:
    with pytest.raises(DatasetError) as caught:
        validate_visma(part)
    return caught.value


def test_an_empty_part_is_the_default_company() -> None:
    validate_visma({})
    assert validate_dataset({"visma": {}})["visma"] == {}


def test_an_account_in_an_unknown_fiscal_year_is_named_by_number_and_field() -> None:
    accounts = [
        {"Number": "1300", "Name": "Debiteuren", "FiscalYearId": fiscal_year_id(THIS_YEAR)},
        {"Number": "8100", "Name": "Omzet", "FiscalYearId": fiscal_year_id(1999)},
    ]
    error = problem({"accounts": accounts})
    assert (error.item, error.field) == ("visma.accounts[1] (8100)", "FiscalYearId")


def test_a_wrong_type_is_named_by_item_and_field() -> None:
    years = [{"Id": fiscal_year_id(THIS_YEAR), "StartDate": "2026-01-01", "EndDate": "soon"}]
    error = problem({"fiscalyears": years})
    assert error.field == "EndDate"
    assert error.item.startswith("visma.fiscalyears[0]")
    error = problem({"customers": [customer_body(IsActive="yes")]})
    assert (error.item, error.field) == (
        "visma.customers[0] (Bakkerij De Korenschoof B.V.)",
        "IsActive",
    )


def test_a_customer_with_unknown_terms_or_a_bad_vat_number_is_named() -> None:
    error = problem({"customers": [customer_body(TermsOfPaymentId=terms_of_payment_id("x"))]})
    assert error.field == "TermsOfPaymentId"
    error = problem({"customers": [customer_body(VatNumber="NL123456789B01")]})
    assert error.field == "VatNumber"


def test_an_unknown_key_is_refused() -> None:
    error = problem({"invoices": []})
    assert (error.item, error.field) == ("visma", "invoices")


def test_a_reset_with_a_data_set_loads_its_customers_and_refuses_a_bad_one(
    sandbox: Sandbox, visma_spec: SpecChecker
) -> None:
    customers = [customer_body(Name="Uit de dataset", CustomerNumber="100")]
    loaded = httpx.post(f"{sandbox.visma_url}/_sandbox/reset", json={"customers": customers})
    assert loaded.status_code == 200
    client, _ = connect(sandbox, visma_spec)
    assert [(c.Name, c.CustomerNumber) for c in client.customers()] == [("Uit de dataset", "100")]
    bad = httpx.post(
        f"{sandbox.visma_url}/_sandbox/reset", json={"customers": [{"Name": "Zonder meer"}]}
    )
    assert bad.status_code == 400
    assert bad.json()["item"] == "visma.customers[0] (Zonder meer)"
    assert bad.json()["field"] == "InvoicePostalCode"
