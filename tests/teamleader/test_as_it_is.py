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
