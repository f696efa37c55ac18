"""The Teamleader simulator as a real account is (issue 13): odd records planted in a list,
and old invoices whose change timestamp moves past a cut-over. Over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sandbox.teamleader.generate import generate_teamleader
from tests.conftest import Sandbox, bearer_headers
from tests.teamleader.support import control, sandbox_client, sandbox_settings

DATASET = generate_teamleader(7, "small")


@pytest.fixture
def data(sandbox: Sandbox) -> dict[str, Any]:
    sandbox.reset({"teamleader": DATASET})
    return DATASET


@pytest.fixture
def api(sandbox: Sandbox, data: dict[str, Any]) -> Iterator[httpx.Client]:
    teamleader, _ = sandbox_client(sandbox_settings(sandbox.teamleader_url))
    headers = bearer_headers(teamleader.session)
    teamleader.close()
    with httpx.Client(base_url=sandbox.teamleader_url, headers=headers, timeout=30) as client:
        yield client


def nl_department(data: dict[str, Any]) -> dict[str, Any]:
    return next(d for d in data["departments"] if d["address"]["country"] == "NL")


def new_invoice(sandbox: Sandbox, data: dict[str, Any], book_on: str) -> dict[str, Any]:
    department = nl_department(data)
    rate = next(
        t["id"]
        for t in data["taxRates"]
        if t["department"]["id"] == department["id"] and t["description"] == "21%"
    )
    body = {
        "department_id": department["id"],
        "customer": {"type": "company", "id": data["companies"][0]["id"]},
        "lines": [{"description": "Advies", "quantity": 1, "unit_price": 100, "tax_rate_id": rate}],
        "book_on": book_on,
    }
    return control(sandbox, "invoices", body)


def listed(api: httpx.Client, invoice_id: str, **filters: Any) -> list[dict[str, Any]]:
    body = {"filter": {"ids": [invoice_id], **filters}, "page": {"size": 100, "number": 1}}
    response = api.post("/invoices.list", json=body)
    response.raise_for_status()
    return response.json()["data"]


def test_a_planted_impossible_date_is_sent_as_it_is_by_list_and_info_until_taken_away(
    sandbox: Sandbox, data: dict[str, Any], api: httpx.Client
) -> None:
    invoice = new_invoice(sandbox, data, "2026-02-27")

    planted = control(sandbox, f"invoices/{invoice['id']}/plant", {"invoice_date": "2026-02-30"})

    assert planted["updated_at"] >= invoice["updated_at"]
    assert [i["invoice_date"] for i in listed(api, invoice["id"])] == ["2026-02-30"]
    info = api.post("/invoices.info", json={"id": invoice["id"]}).json()["data"]
    assert info["invoice_date"] == "2026-02-30"
    assert "_planted" not in info
    control(sandbox, f"invoices/{invoice['id']}/plant", {})
    assert [i["invoice_date"] for i in listed(api, invoice["id"])] == ["2026-02-27"]


def test_planted_wrong_types_nul_bytes_and_long_strings_come_back_unchanged(
    sandbox: Sandbox, data: dict[str, Any], api: httpx.Client
) -> None:
    invoice = new_invoice(sandbox, data, "2026-03-02")
    odd = {
        "total": "lots",
        "invoice_number": "2026 / \x00 1",
        "purchase_order_number": "x" * 100_000,
    }

    control(sandbox, f"invoices/{invoice['id']}/plant", odd)

    (item,) = listed(api, invoice["id"])
    assert {key: item[key] for key in odd} == odd


def test_a_payment_moves_an_old_invoices_updated_at_past_a_cut_over_but_not_its_date(
    sandbox: Sandbox, data: dict[str, Any], api: httpx.Client
) -> None:
    # An invoice of December 2025, paid later: what a poller from 1 January reads.
    invoice = new_invoice(sandbox, data, "2025-12-04")
    cut_over = datetime.now(UTC).replace(microsecond=0).isoformat()
    payable = invoice["total"]["payable"]
    api.post(
        "/invoices.registerPayment",
        json={"id": invoice["id"], "payment": payable, "paid_at": "2026-01-11T10:00:00+00:00"},
    ).raise_for_status()

    (item,) = listed(api, invoice["id"], updated_since=cut_over)

    assert item["invoice_date"] == "2025-12-04"
    assert item["status"] == "matched"


# -- numbering as accounts have it -----------------------------------------------------------
def test_a_fiscal_year_name_and_start_number_set_by_control_number_the_next_invoices(
    sandbox: Sandbox, data: dict[str, Any], api: httpx.Client
) -> None:
    department = nl_department(data)["id"]
    control(
        sandbox,
        "numbering",
        {"department_id": department, "year": 2026, "name": "FY2026", "start": 17000056},
    )
    control(
        sandbox,
        "numbering",
        {"department_id": department, "kind": "creditNotes", "year": 2026, "name": "CN 2026"},
    )

    first = new_invoice(sandbox, data, "2026-03-02")
    second = new_invoice(sandbox, data, "2026-03-03")
    credit = control(sandbox, f"invoices/{first['id']}/credit", {"on": "2026-03-04"})

    assert [first["invoice_number"], second["invoice_number"]] == [
        "FY2026 / 17000056",
        "FY2026 / 17000057",
    ]
    assert credit["credit_note_number"] == "CN 2026 / 1"
    (item,) = listed(api, second["id"])
    assert item["invoice_number"] == "FY2026 / 17000057"


def test_a_data_set_carries_numbering_and_a_bad_one_is_refused_naming_the_field(
    sandbox: Sandbox, data: dict[str, Any]
) -> None:
    department = nl_department(data)["id"]
    numbering = [{"department_id": department, "year": 2026, "name": "2025-2026", "start": 500}]
    control(sandbox, "reset", {**DATASET, "numbering": numbering})

    invoice = new_invoice(sandbox, data, "2026-05-02")

    assert invoice["invoice_number"] == "2025-2026 / 500"
    refused = httpx.post(
        f"{sandbox.teamleader_url}/_sandbox/numbering",
        json={"department_id": department, "year": 2026, "name": "a/b"},
    )
    assert refused.status_code == 400 and "name" in refused.text


def test_the_generator_can_name_the_belgian_fiscal_years_and_leaves_the_rest_unchanged() -> None:
    named = generate_teamleader(7, "small", fiscal_year_names=True)
    plain = DATASET
    be = next(d["id"] for d in named["departments"] if d["address"]["country"] == "BE")

    be_numbers = [
        i["invoice_number"]
        for i in named["invoices"]
        if i["department"]["id"] == be and i["invoice_number"]
    ]
    credit_numbers = [
        c["credit_note_number"] for c in named["creditNotes"] if c["department"]["id"] == be
    ]
    assert be_numbers and all(n.startswith("Boekjaar ") for n in be_numbers)
    assert credit_numbers and all(n.startswith("CN ") for n in credit_numbers)
    assert {n["year"] for n in named["numbering"]} and "numbering" not in plain
    assert [i["id"] for i in named["invoices"]] == [i["id"] for i in plain["invoices"]]
