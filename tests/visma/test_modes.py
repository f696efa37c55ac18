"""The simulator where Visma's documentation leaves a choice open (sandbox/visma/modes.py):
page sizes, filterable properties, the ``ErrorMessages`` error shape, duplicate invoice
numbers with lists that lag, and payments that leave ``ModifiedUtc`` alone. Each over HTTP."""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any

import httpx
import pytest

from clients.errors import DataError
from clients.visma import VismaClient
from tests.conftest import Sandbox, bearer_headers
from tests.spec_check import SpecChecker
from tests.visma.support import THIS_YEAR, connect, posting_body

POSTINGS = "/customerledgeritems/customerledgeritemswithvoucher"


def _modes(sandbox: Sandbox, **modes: Any) -> dict[str, Any]:
    response = httpx.put(f"{sandbox.visma_url}/_sandbox/modes", json=modes, timeout=10)
    response.raise_for_status()
    return response.json()


def _get(sandbox: Sandbox, client: VismaClient, path: str, **params: Any) -> httpx.Response:
    headers = bearer_headers(client.session)
    return httpx.get(f"{sandbox.visma_api_url}{path}", params=params, headers=headers)


def _post(sandbox: Sandbox, client: VismaClient, body: dict[str, Any]) -> httpx.Response:
    headers = bearer_headers(client.session)
    content = json.dumps(body, default=str).encode()  # amounts as numbers' text: Decimal
    headers["Content-Type"] = "application/json"
    return httpx.post(f"{sandbox.visma_api_url}{POSTINGS}", content=content, headers=headers)


def test_a_page_larger_than_the_configured_maximum_is_refused_with_6000(
    sandbox: Sandbox, client: VismaClient
) -> None:
    assert _get(sandbox, client, "/customers", **{"$pagesize": 200}).status_code == 200
    refused = _get(sandbox, client, "/customers", **{"$pagesize": 201})
    assert refused.status_code == 400
    assert refused.json()["ErrorCode"] == 6000
    assert "200" in refused.json()["DeveloperErrorMessage"]
    # A larger maximum is a mode
    _modes(sandbox, max_page_size=1000)
    assert _get(sandbox, client, "/customers", **{"$pagesize": 1000}).status_code == 200


def test_a_filter_on_a_property_the_endpoint_does_not_list_is_refused_with_6000(
    sandbox: Sandbox, client: VismaClient, customer_id: str
) -> None:
    # Given customers filterable by number but not by city
    allowed = _get(sandbox, client, "/customers", **{"$filter": "CustomerNumber eq '1'"})
    refused = _get(sandbox, client, "/customers", **{"$filter": "InvoiceCity eq 'Utrecht'"})
    assert allowed.status_code == 200
    assert (refused.status_code, refused.json()["ErrorCode"]) == (400, 6000)
    assert "InvoiceCity" in refused.json()["DeveloperErrorMessage"]
    # When the mode narrows the ledger items' list so that InvoiceNumber is not filterable
    _modes(sandbox, filterable={"/v2/customerledgeritems": ["ModifiedUtc"]})
    narrowed = _get(sandbox, client, "/customerledgeritems", **{"$filter": "InvoiceNumber eq 1"})
    # Then that filter is refused too, and ModifiedUtc still works
    assert (narrowed.status_code, narrowed.json()["ErrorCode"]) == (400, 6000)
    since = _get(
        sandbox, client, "/customerledgeritems", **{"$filter": "ModifiedUtc ge 2020-01-01"}
    )
    assert since.status_code == 200


def test_field_errors_can_come_as_an_error_messages_map(
    sandbox: Sandbox, client: VismaClient, customer_id: str
) -> None:
    _modes(sandbox, error_shape="ErrorMessages")
    body = posting_body(customer_id, 70001)
    body["Voucher"]["Rows"] = []
    refused = _post(sandbox, client, body)
    assert refused.status_code == 400
    answer = refused.json()
    assert "Errors" not in answer
    assert answer["ErrorMessages"] == {"Voucher.Rows": ["A voucher needs at least one row."]}


def test_unknown_modes_are_refused_by_name(sandbox: Sandbox) -> None:
    response = httpx.put(f"{sandbox.visma_url}/_sandbox/modes", json={"lag": 3})
    assert response.status_code == 400
    assert "lag" in response.json()["error"]


def test_by_default_a_second_ledger_item_with_the_same_invoice_number_is_refused(
    sandbox: Sandbox, client: VismaClient, customer_id: str
) -> None:
    assert _post(sandbox, client, posting_body(customer_id, 70002)).status_code == 201
    second = _post(sandbox, client, posting_body(customer_id, 70002))
    assert (second.status_code, second.json()["ErrorCode"]) == (400, 4000)


def test_in_the_lenient_mode_duplicates_are_accepted_and_lists_show_new_items_late(
    sandbox: Sandbox, client: VismaClient, customer_id: str
) -> None:
    # Given duplicates accepted and lists one second behind
    _modes(sandbox, duplicate_invoice_numbers=True, list_delay_s=1.0)
    # When the same invoice number is posted twice
    first = _post(sandbox, client, posting_body(customer_id, 70003))
    second = _post(sandbox, client, posting_body(customer_id, 70003))
    # Then both are created; the list does not show them at once, a read by id does
    assert (first.status_code, second.status_code) == (201, 201)
    by_number = {"$filter": "InvoiceNumber eq 70003"}
    assert _get(sandbox, client, "/customerledgeritems", **by_number).json()["Data"] == []
    item_id = first.json()["Id"]
    assert _get(sandbox, client, f"/customerledgeritems/{item_id}").status_code == 200
    time.sleep(1.2)
    listed = _get(sandbox, client, "/customerledgeritems", **by_number).json()["Data"]
    assert len(listed) == 2


@pytest.mark.parametrize("touches", [True, False])
def test_a_payment_moves_modified_utc_only_in_the_mode_that_says_so(
    sandbox: Sandbox, client: VismaClient, customer_id: str, touches: bool
) -> None:
    _modes(sandbox, payments_touch_modified=touches)
    item = _post(sandbox, client, posting_body(customer_id, 70004)).json()
    time.sleep(0.01)
    paid = httpx.post(
        f"{sandbox.visma_url}/_sandbox/customerledgeritems/{item['Id']}/payments",
        json={"Amount": "21.00", "PaymentDate": date(THIS_YEAR, 3, 5).isoformat()},
    )
    assert paid.status_code == 200
    after = _get(sandbox, client, f"/customerledgeritems/{item['Id']}").json()
    assert after["RemainingAmountInvoiceCurrency"] == 100.0
    assert (after["ModifiedUtc"] != item["ModifiedUtc"]) is touches


def test_a_reset_puts_the_default_modes_back(sandbox: Sandbox) -> None:
    _modes(sandbox, rate_limit_scope="company", max_page_size=50)
    sandbox.reset()
    modes = httpx.get(f"{sandbox.visma_url}/_sandbox/modes").json()
    assert (modes["rate_limit_scope"], modes["max_page_size"]) == ("application", 200)


def test_the_client_names_the_field_of_a_refusal_in_either_error_shape(
    sandbox: Sandbox, customer_id: str
) -> None:
    # Not spec-checked: the ErrorMessages shape is not in the description.
    client, _ = connect(sandbox, SpecChecker("visma", prefix="/v2"))
    _modes(sandbox, error_shape="ErrorMessages")
    body = posting_body(customer_id, 70005)
    body["Voucher"]["Rows"] = []
    with pytest.raises(DataError) as refused:
        client.create_ledger_item_with_voucher(body)
    assert refused.value.fields == ["Voucher.Rows"]
    assert "A voucher needs at least one row." in refused.value.reason
    assert "Voucher.Rows" in refused.value.reason


def test_lookups_still_find_their_item_when_visma_refuses_the_filter(
    sandbox: Sandbox, client: VismaClient, customer_id: str
) -> None:
    # Given a posted item, and Visma refusing to filter ledger items and customers on
    # anything but their timestamps
    client.create_ledger_item_with_voucher(posting_body(customer_id, 70006))
    client.create_ledger_item_with_voucher(posting_body(customer_id, 70007))
    _modes(
        sandbox,
        filterable={"/v2/customerledgeritems": ["ModifiedUtc"], "/v2/customers": ["ChangedUtc"]},
    )
    # When Koppel looks them up by invoice number and customer number
    item = client.find_ledger_item(70007)
    customers = client.find_customers(customer_number=client.customer(customer_id).CustomerNumber)
    # Then it found exactly those, by comparing the fields itself
    assert item is not None and item.InvoiceNumber == 70007
    assert [c.Id for c in customers] == [customer_id]
    assert client.find_ledger_item(70999) is None
