"""The simulator as strict as Visma: default VAT codes, locked periods, VIES, mandatory cost
centres — each against its HTTP API (sandbox/visma/ASSUMPTIONS.md, "Visma as it is")."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from clients.http import encode_json
from sandbox.visma.company import fiscal_year_id, vat_code_id
from tests.conftest import Sandbox
from tests.spec_check import SpecChecker
from tests.visma.support import (
    THIS_YEAR,
    VALID_NL_VAT,
    authorize,
    customer_body,
    posting_body,
    visma_settings,
)

POSTING = "/customerledgeritems/customerledgeritemswithvoucher"
VAT_LOW = vat_code_id("1b")
VAT_HIGH = vat_code_id("1a")


@pytest.fixture
def api(sandbox: Sandbox, visma_spec: SpecChecker) -> httpx.Client:
    """Plain HTTP with a bearer token (the query options are ours to choose here)."""
    sandbox.reset({})
    token = authorize(visma_settings(sandbox)).access_token
    return httpx.Client(
        base_url=sandbox.visma_api_url,
        headers={"Authorization": f"Bearer {token}"},
        event_hooks=visma_spec.hooks(),
        timeout=10,
    )


@pytest.fixture
def customer(api: httpx.Client) -> str:
    response = api.post("/customers", json=customer_body())
    assert response.status_code == 201, response.text
    return str(response.json()["Id"])


def low_rate_on_high_account(customer: str, number: int) -> dict[str, Any]:
    """A 9 % posting whose revenue row is on 8000, the account whose default code is 1a."""
    body = posting_body(customer, number, net="100.00", vat="9.00")
    body["Voucher"]["Rows"][1]["VatCodeId"] = VAT_LOW
    body["Voucher"]["Rows"][1]["VatAmount"] = Decimal("9.00")
    body["Voucher"]["Rows"][2]["AccountNumber"] = 1520
    return body


def post(api: httpx.Client, params: dict[str, str] | None, body: dict[str, Any]) -> httpx.Response:
    return api.post(
        POSTING,
        params=params,
        content=encode_json(body),
        headers={"Content-Type": "application/json"},
    )


def booked_rows(api: httpx.Client, item: dict[str, Any]) -> list[dict[str, Any]]:
    voucher = api.get(f"/vouchers/{fiscal_year_id(THIS_YEAR)}/{item['VoucherId']}")
    assert voucher.status_code == 200, voucher.text
    return list(voucher.json()["Rows"])


def test_without_use_default_vat_codes_false_a_row_takes_its_accounts_default_code(
    api: httpx.Client, customer: str
) -> None:
    answer = post(api, None, low_rate_on_high_account(customer, 2026201))
    assert answer.status_code == 201, answer.text
    assert booked_rows(api, answer.json())[1]["VatCodeId"] == VAT_HIGH
    # An account without a default code (1520) gets none, whatever was sent
    assert booked_rows(api, answer.json())[2]["VatCodeId"] is None


def test_use_default_vat_codes_false_keeps_the_code_and_vat_amount_sent(
    api: httpx.Client, customer: str
) -> None:
    answer = post(api, {"useDefaultVatCodes": "false"}, low_rate_on_high_account(customer, 2026202))
    assert answer.status_code == 201, answer.text
    row = booked_rows(api, answer.json())[1]
    assert (row["VatCodeId"], Decimal(str(row["VatAmount"]))) == (VAT_LOW, Decimal("9.00"))


def test_automatic_vat_calculation_computes_the_rows_vat_amount(
    api: httpx.Client, customer: str
) -> None:
    body = low_rate_on_high_account(customer, 2026203)
    del body["Voucher"]["Rows"][1]["VatAmount"]
    answer = post(api, {"useDefaultVatCodes": "false", "useAutomaticVatCalculation": "true"}, body)
    assert answer.status_code == 201, answer.text
    assert Decimal(str(booked_rows(api, answer.json())[1]["VatAmount"])) == Decimal("9.00")


def test_a_query_option_that_is_not_a_boolean_is_refused_with_6000(
    api: httpx.Client, customer: str
) -> None:
    answer = post(api, {"useDefaultVatCodes": "nee"}, low_rate_on_high_account(customer, 2026204))
    assert (answer.status_code, answer.json()["ErrorCode"]) == (400, 6000)


def lock(sandbox: Sandbox, locked_to: str | None, interval: int = 1) -> None:
    httpx.post(
        f"{sandbox.visma_url}/_sandbox/accountinglock",
        json={"AccountingLockedTo": locked_to, "AccountingLockInterval": interval},
        timeout=5,
    ).raise_for_status()


def test_a_posting_dated_on_or_before_the_lock_date_is_refused_with_4026(
    api: httpx.Client, customer: str, sandbox: Sandbox
) -> None:
    lock(sandbox, f"{THIS_YEAR}-03-31")
    on_lock_day = posting_body(customer, 2026211, invoice_date=date(THIS_YEAR, 3, 31))
    answer = post(api, {"useDefaultVatCodes": "false"}, on_lock_day)
    assert (answer.status_code, answer.json()["ErrorCode"]) == (400, 4026)
    assert f"{THIS_YEAR}-03-31" in answer.json()["DeveloperErrorMessage"]
    # The day after the lock is open
    after = posting_body(customer, 2026212, invoice_date=date(THIS_YEAR, 4, 1))
    assert post(api, {"useDefaultVatCodes": "false"}, after).status_code == 201
    # And the company settings say where the lock is
    settings = api.get("/companysettings").json()
    assert settings["AccountingLockedTo"].startswith(f"{THIS_YEAR}-03-31")


def test_a_yearly_lock_refuses_with_4038_and_no_lock_leaves_the_setting_out(
    api: httpx.Client, customer: str, sandbox: Sandbox
) -> None:
    assert "AccountingLockedTo" not in api.get("/companysettings").json()
    lock(sandbox, f"{THIS_YEAR - 1}-12-31", interval=3)
    body = posting_body(customer, 2026213, invoice_date=date(THIS_YEAR - 1, 12, 1))
    answer = post(api, {"useDefaultVatCodes": "false"}, body)
    assert answer.json()["ErrorCode"] == 4038


def vies(sandbox: Sandbox, **plan: object) -> None:
    httpx.post(f"{sandbox.visma_url}/_sandbox/vies", json=plan, timeout=5).raise_for_status()


def test_a_valid_vat_number_vies_does_not_know_is_refused_with_4025(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    vies(sandbox, unregistered=[VALID_NL_VAT])
    answer = api.post("/customers", json=customer_body(VatNumber=VALID_NL_VAT))
    assert (answer.status_code, answer.json()["ErrorCode"]) == (400, 4025)
    assert answer.json()["Errors"][0]["Field"] == "VatNumber"
    assert "not registered" in answer.json()["DeveloperErrorMessage"]


def test_with_vies_down_a_customer_with_a_vat_number_gets_5001_and_one_without_is_made(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    vies(sandbox, down=True)
    answer = api.post("/customers", json=customer_body(VatNumber=VALID_NL_VAT))
    assert answer.json()["ErrorCode"] == 5001
    assert answer.status_code == 503
    assert api.post("/customers", json=customer_body()).status_code == 201


def test_a_row_on_an_account_with_a_mandatory_cost_centre_is_refused_naming_the_row(
    sandbox: Sandbox, visma_spec: SpecChecker
) -> None:
    from sandbox.visma.company import default_company
    from tests.conftest import TODAY

    part = default_company(TODAY)
    for account in part["accounts"]:
        if account["Number"] == "8000":
            account["IsFirstCostCenterMandatory"] = True
    sandbox.reset({"visma": {"accounts": part["accounts"]}})
    token = authorize(visma_settings(sandbox)).access_token
    api = httpx.Client(
        base_url=sandbox.visma_api_url,
        headers={"Authorization": f"Bearer {token}"},
        event_hooks=visma_spec.hooks(),
        timeout=10,
    )
    accounts = api.get("/accounts", params={"$filter": "Number eq '8000'"}).json()["Data"]
    assert all(a["IsFirstCostCenterMandatory"] for a in accounts)
    customer = api.post("/customers", json=customer_body()).json()["Id"]
    answer = post(api, {"useDefaultVatCodes": "false"}, posting_body(customer, 2026221))
    assert (answer.status_code, answer.json()["ErrorCode"]) == (400, 2000)
    assert answer.json()["Errors"][0]["Field"] == "Voucher.Rows[1].CostCenterItemId1"
    assert "8000" in answer.json()["DeveloperErrorMessage"]


def test_an_invoice_paid_more_than_remains_goes_below_zero_only_when_over_payment_is_allowed(
    api: httpx.Client, customer: str, sandbox: Sandbox
) -> None:
    item = post(api, {"useDefaultVatCodes": "false"}, posting_body(customer, 2026231)).json()
    url = f"{sandbox.visma_url}/_sandbox/customerledgeritems/{item['Id']}/payments"
    refused = httpx.post(url, json={"Amount": "130.00"}, timeout=5)
    assert refused.status_code == 409
    paid = httpx.post(url, json={"Amount": "130.00", "AllowOverpayment": True}, timeout=5)
    assert paid.status_code == 200, paid.text
    assert Decimal(str(paid.json()["RemainingAmountInvoiceCurrency"])) == Decimal("-9.00")
    listed = api.get(f"/customerledgeritems/{item['Id']}").json()
    assert Decimal(str(listed["RemainingAmountInvoiceCurrency"])) == Decimal("-9.00")


def test_with_vies_down_answering_4100_a_customer_with_a_vat_number_gets_400(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    vies(sandbox, down=True, down_code=4100)
    answer = api.post("/customers", json=customer_body(VatNumber=VALID_NL_VAT))
    assert (answer.status_code, answer.json()["ErrorCode"]) == (400, 4100)
