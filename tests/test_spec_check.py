"""The spec checker itself: it must catch what does not fit, or every other check is void."""

from __future__ import annotations

import json

import httpx

from tests.spec_check import SpecChecker


def exchange(url: str, body: object, status: int, answer: object | None) -> tuple:
    request = httpx.Request("POST", url, content=json.dumps(body).encode())
    content = json.dumps(answer).encode() if answer is not None else b""
    return request, httpx.Response(status, content=content, request=request)


def test_a_teamleader_answer_missing_a_required_money_field_is_reported() -> None:
    checker = SpecChecker("teamleader")
    # Money requires amount and currency; this tax rate list is fine, the invoice is not.
    request, response = exchange(
        "http://x/invoices.info",
        {"id": "1"},
        200,
        {"data": {"id": "1", "total": {"tax_exclusive": {"amount": 1}}}},
    )
    checker.check(request, response)
    assert any("currency" in v.message for v in checker.violations)


def test_teamleader_null_scalars_are_accepted_in_answers_but_not_in_requests() -> None:
    checker = SpecChecker("teamleader")
    # Given a company whose website is empty (null, as Teamleader's conventions say)
    request, response = exchange(
        "http://x/companies.info", {"id": "c1"}, 200, {"data": {"id": "c1", "website": None}}
    )
    checker.check(request, response)
    assert checker.violations == []
    # When a request sends null where the description does not allow it
    request, response = exchange("http://x/companies.info", {"id": None}, 200, None)
    checker.check(request, response)
    # Then it is reported
    assert any("request" in v.where for v in checker.violations)


def test_teamleader_errors_must_carry_a_title() -> None:
    checker = SpecChecker("teamleader")
    request, response = exchange("http://x/invoices.info", {"id": "1"}, 404, {"message": "no"})
    checker.check(request, response)
    assert any("errors" in v.message for v in checker.violations)


def test_a_visma_answer_with_an_undocumented_property_is_reported() -> None:
    checker = SpecChecker("visma", prefix="/v2")
    request = httpx.Request("GET", "http://x/v2/fiscalyears")
    year = {"Id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "StartDate": "2026-01-01", "Oops": 1}
    body = {"Data": [year], "Meta": {}}
    checker.check(request, httpx.Response(200, json=body, request=request))
    assert any("Oops" in v.message for v in checker.violations)


def test_an_operation_the_simulators_do_not_serve_is_not_described() -> None:
    # The derived descriptions keep only what the simulators serve (bin/derive-schemas).
    checker = SpecChecker("visma", prefix="/v2")
    request, response = exchange("http://x/v2/suppliers", {"Name": "x"}, 201, {"Id": "x"})
    checker.check(request, response)
    assert [v.message for v in checker.violations] == ["no such operation in the description"]


def test_the_literal_ledger_item_path_wins_over_the_templated_one() -> None:
    checker = SpecChecker("visma", prefix="/v2")
    request, response = exchange(
        "http://x/v2/customerledgeritems/customerledgeritemswithvoucher",
        {"CustomerId": "x"},
        400,
        {"ErrorCode": 2000, "DeveloperErrorMessage": "m", "ErrorId": "e", "Errors": []},
    )
    checker.check(request, response)
    # The request lacks required fields of CustomerLedgerItemWithVoucherApi: that operation
    # was chosen, not GET /customerledgeritems/{id} (which takes no body).
    assert any("required" in v.message for v in checker.violations)
    assert not any("no such operation" in v.message for v in checker.violations)


def test_an_undescribed_success_status_is_reported() -> None:
    checker = SpecChecker("teamleader")
    request, response = exchange(
        "http://x/invoices.registerPayment",
        {"id": "1", "payment": {"amount": 1, "currency": "EUR"}, "paid_at": "2026-01-01"},
        200,
        {"data": {}},
    )
    checker.check(request, response)
    assert any("not described" in v.message for v in checker.violations)
