"""Every Teamleader endpoint Koppel uses, through the client, over real HTTP.

Each exchange is checked against the official description by the ``teamleader_spec``
hooks. Data comes from the generator (seed 7, small) plus sandbox controls."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from clients.errors import DataError, NotFound
from clients.teamleader.client import TeamleaderClient
from sandbox.teamleader.generate import generate_teamleader
from tests.conftest import TODAY, Sandbox, bearer_headers
from tests.spec_check import SpecChecker
from tests.teamleader.support import control, sandbox_client, sandbox_settings

DATASET = generate_teamleader(7, "small")


@pytest.fixture
def data(sandbox: Sandbox) -> dict[str, Any]:
    sandbox.reset({"teamleader": DATASET})
    return DATASET


@pytest.fixture
def client(
    sandbox: Sandbox, data: dict[str, Any], teamleader_spec: SpecChecker
) -> Iterator[TeamleaderClient]:
    client, _ = sandbox_client(
        sandbox_settings(sandbox.teamleader_url), event_hooks=teamleader_spec.hooks()
    )
    yield client
    client.close()


def calls(sandbox: Sandbox, endpoint: str) -> int:
    stats = httpx.get(f"{sandbox.teamleader_url}/_sandbox/stats").json()
    return stats["by_endpoint"].get(endpoint, 0)


def nl_department(data: dict[str, Any]) -> dict[str, Any]:
    return next(d for d in data["departments"] if d["address"]["country"] == "NL")


def rate_id(data: dict[str, Any], department_id: str, description: str) -> str:
    return next(
        t["id"]
        for t in data["taxRates"]
        if t["department"]["id"] == department_id and t["description"] == description
    )


def new_invoice(sandbox: Sandbox, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    department = nl_department(data)
    company = data["companies"][0]
    body = {
        "department_id": department["id"],
        "customer": {"type": "company", "id": company["id"]},
        "lines": [
            {
                "description": "Advies",
                "quantity": 3,
                "unit_price": 100,
                "tax_rate_id": rate_id(data, department["id"], "21%"),
            },
            {
                "description": "Cursusboek",
                "quantity": 1,
                "unit_price": 20,
                "tax_rate_id": rate_id(data, department["id"], "9%"),
            },
        ],
        **extra,
    }
    return control(sandbox, "invoices", body)


# -- settings -------------------------------------------------------------------------------


def test_users_me_names_the_account_and_the_api_version_is_sent(
    sandbox: Sandbox, data: dict[str, Any], teamleader_spec: SpecChecker
) -> None:
    versions: list[tuple[str | None, str | None]] = []

    def remember(response: httpx.Response) -> None:
        versions.append(
            (response.request.headers.get("X-Api-Version"), response.headers.get("X-Api-Version"))
        )

    hooks = teamleader_spec.hooks()
    client, _ = sandbox_client(
        sandbox_settings(sandbox.teamleader_url),
        event_hooks={"response": [*hooks["response"], remember]},
    )

    me = client.me()

    assert me.id and me.account is not None and me.account.type == "account"
    assert versions == [("2023-09-26", "2023-09-26")]


def test_customers_made_through_the_controls_come_back_with_teamleader_defaults(
    sandbox: Sandbox, client: TeamleaderClient
) -> None:
    contact = control(sandbox, "contacts", {"first_name": "Ans", "last_name": "de Vries"})
    company = control(
        sandbox, "companies", {"name": "Bakkerij Zwartewaterkwast", "vat_number": "NL000099998B57"}
    )

    fetched = client.contact(contact["id"])
    assert fetched.name == "Ans de Vries" and fetched.emails == [] and fetched.addresses == []
    assert fetched.added_at is not None and fetched.updated_at == fetched.added_at
    assert client.company(company["id"]).vat_number == "NL000099998B57"
    assert [c.id for c in client.companies(term="zwartewaterKWAST")] == [company["id"]]


def test_departments_are_listed_unpaged_and_described_in_full(
    client: TeamleaderClient, data: dict[str, Any]
) -> None:
    departments = client.departments()

    assert {d.id for d in departments} == {d["id"] for d in data["departments"]}
    nl = client.department(nl_department(data)["id"])
    assert nl.vat_number and nl.vat_number.startswith("NL")
    assert nl.address is not None and nl.address.country == "NL"


def test_tax_rates_are_per_department_and_filtered_by_department(
    client: TeamleaderClient, data: dict[str, Any]
) -> None:
    department_id = nl_department(data)["id"]

    rates = client.tax_rates(department_id)

    assert {r.description for r in rates} == {"21%", "9%", "0%", "0% verlegd", "0% ICL"}
    assert {r.rate for r in rates} == {Decimal("0.21"), Decimal("0.09"), Decimal(0)}
    assert len(client.tax_rates()) == len(data["taxRates"])


def test_product_categories_carry_a_ledger_account_per_department(
    client: TeamleaderClient, data: dict[str, Any]
) -> None:
    department_id = nl_department(data)["id"]

    categories = {c.name: c for c in client.product_categories(department_id)}

    assert categories["Consultancy"].ledger_for(department_id) == "8100"
    assert categories["Hardware"].ledger_for(department_id) == "8400"


def test_payment_methods_are_listed(client: TeamleaderClient) -> None:
    methods = client.payment_methods()
    assert {m.status for m in methods} == {"active", "archived"}


# -- customers ------------------------------------------------------------------------------


def test_contacts_list_has_the_thin_shape_and_info_the_full_one(
    client: TeamleaderClient, data: dict[str, Any]
) -> None:
    listed = list(client.contacts())
    assert len(listed) == len(data["contacts"])
    item = listed[0]
    assert item.addresses == [] and item.primary_address is not None
    assert "vat_number" not in (item.model_extra or {}) and item.vat_number is None

    full = client.contact(item.id)
    assert full.addresses and full.addresses[0].type == "primary"
    assert full.name == f"{full.first_name} {full.last_name}"


def test_companies_list_and_info_carry_vat_numbers_and_addresses(
    client: TeamleaderClient, data: dict[str, Any]
) -> None:
    companies = list(client.companies())
    assert len(companies) == len(data["companies"])
    with_vat = next(c for c in data["companies"] if c["vat_number"])

    company = client.company(with_vat["id"])

    assert company.vat_number == with_vat["vat_number"]
    assert company.address() is not None
    assert company.email() is not None


def test_250_contacts_come_in_three_pages_of_at_most_100(
    sandbox: Sandbox, teamleader_spec: SpecChecker
) -> None:
    # Given an account with 250 contacts
    stamp = "2024-01-01T10:00:00+00:00"
    contacts = [
        {
            "id": f"00000000-0000-4000-8000-{n:012d}",
            "last_name": f"Klant {n}",
            "added_at": stamp,
            "updated_at": stamp,
        }
        for n in range(250)
    ]
    sandbox.reset({"teamleader": {"contacts": contacts}})
    client, _ = sandbox_client(
        sandbox_settings(sandbox.teamleader_url), event_hooks=teamleader_spec.hooks()
    )

    # When the client reads them all
    ids = [c.id for c in client.contacts()]

    # Then it got every one exactly once, in three calls (100, 100, 50)
    assert sorted(ids) == sorted(c["id"] for c in contacts)
    assert calls(sandbox, "contacts.list") == 3


def test_a_page_larger_than_100_is_refused_with_the_field_named(
    sandbox: Sandbox, client: TeamleaderClient, teamleader_spec: SpecChecker
) -> None:
    auth = bearer_headers(client.session)
    with httpx.Client(event_hooks=teamleader_spec.hooks()) as http:
        response = http.post(
            f"{sandbox.teamleader_url}/contacts.list",
            json={"page": {"size": 101, "number": 1}},
            headers=auth,
        )

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["meta"]["field"] == "page.size"


def test_updated_since_returns_only_customers_changed_at_or_after_it(
    sandbox: Sandbox, client: TeamleaderClient, data: dict[str, Any]
) -> None:
    # Given one contact changed now (the generated ones are older than today)
    target = data["contacts"][2]
    changed = control(sandbox, f"contacts/{target['id']}", {"remarks": "gebeld"})
    since = datetime.fromisoformat(changed["updated_at"])

    # When listing with updated_since equal to its updated_at (>=)
    found = list(client.contacts(updated_since=since))

    # Then only that contact comes back, and a second later nothing does
    assert [c.id for c in found] == [target["id"]]
    assert list(client.contacts(updated_since=since + timedelta(seconds=1))) == []


def test_ids_filter_narrows_contacts_and_companies(
    client: TeamleaderClient, data: dict[str, Any]
) -> None:
    wanted = [data["companies"][1]["id"], data["companies"][4]["id"]]
    assert sorted(c.id for c in client.companies(ids=wanted)) == sorted(wanted)
    assert [c.id for c in client.contacts(ids=[data["contacts"][0]["id"]])] == [
        data["contacts"][0]["id"]
    ]


def test_contacts_sort_by_name_in_both_directions(
    sandbox: Sandbox, client: TeamleaderClient, teamleader_spec: SpecChecker
) -> None:
    auth = bearer_headers(client.session)

    def names(order: str) -> list[str]:
        with httpx.Client(event_hooks=teamleader_spec.hooks()) as http:
            response = http.post(
                f"{sandbox.teamleader_url}/contacts.list",
                json={"sort": [{"field": "name", "order": order}], "page": {"size": 100}},
                headers=auth,
            )
        return [f"{c['last_name']} {c['first_name']}" for c in response.json()["data"]]

    ascending = names("asc")
    assert ascending == sorted(ascending)
    assert names("desc") == list(reversed(ascending))


# -- invoices -------------------------------------------------------------------------------


def test_invoices_list_has_totals_but_no_lines_and_info_has_both(
    client: TeamleaderClient, data: dict[str, Any]
) -> None:
    invoices = list(client.invoices())
    assert len(invoices) == len(data["invoices"])
    booked = next(i for i in invoices if i.status != "draft")
    assert booked.lines == [] and booked.total.due is not None

    full = client.invoice(booked.id)

    assert full.lines
    assert full.total.tax_exclusive.amount == sum(t.taxable.amount for t in full.total.taxes)
    assert full.total.payable.amount == full.total.tax_exclusive.amount + sum(
        t.tax.amount for t in full.total.taxes
    )


def test_invoices_come_sorted_by_number_within_a_department(
    client: TeamleaderClient, data: dict[str, Any]
) -> None:
    department_id = nl_department(data)["id"]
    numbers = [
        i.invoice_number
        for i in client.invoices(department_id=department_id, status=["outstanding", "matched"])
    ]
    keys = [tuple(int(p) for p in n.split(" / ")) for n in numbers if n]
    assert keys == sorted(keys) and len(keys) == len(numbers)


def test_status_filter_narrows_invoices(client: TeamleaderClient, data: dict[str, Any]) -> None:
    drafts = list(client.invoices(status=["draft"]))

    assert drafts and all(i.status == "draft" and i.invoice_number is None for i in drafts)
    assert len(drafts) == sum(1 for i in data["invoices"] if i["status"] == "draft")


def test_department_filter_narrows_invoices(client: TeamleaderClient, data: dict[str, Any]) -> None:
    department_id = nl_department(data)["id"]

    found = list(client.invoices(department_id=department_id))

    assert found and all(i.department.id == department_id for i in found)
    assert len(found) < len(data["invoices"])


def test_invoice_date_bounds_are_both_inclusive(
    client: TeamleaderClient, data: dict[str, Any]
) -> None:
    day = date.fromisoformat(next(i["invoice_date"] for i in data["invoices"] if i["invoice_date"]))
    expected = {i["id"] for i in data["invoices"] if i["invoice_date"] == day.isoformat()}

    found = {i.id for i in client.invoices(invoice_date_after=day, invoice_date_before=day)}

    assert found == expected


def test_credit_note_date_after_is_inclusive_and_before_is_exclusive(
    client: TeamleaderClient, data: dict[str, Any]
) -> None:
    day = date.fromisoformat(data["creditNotes"][0]["credit_note_date"])
    on_day = {c["id"] for c in data["creditNotes"] if c["credit_note_date"] == day.isoformat()}

    same_day = {
        c.id for c in client.credit_notes(credit_note_date_after=day, credit_note_date_before=day)
    }
    day_window = {
        c.id
        for c in client.credit_notes(
            credit_note_date_after=day, credit_note_date_before=day + timedelta(days=1)
        )
    }

    assert same_day == set()
    assert day_window == on_day


def test_invoice_ids_and_updated_since_filters_narrow(
    sandbox: Sandbox, client: TeamleaderClient, data: dict[str, Any]
) -> None:
    created = new_invoice(sandbox, data, book_on=TODAY.isoformat())
    since = datetime.fromisoformat(created["updated_at"])

    assert [i.id for i in client.invoices(updated_since=since)] == [created["id"]]
    assert [i.id for i in client.invoices(ids=[created["id"]])] == [created["id"]]


def test_a_booked_invoice_is_numbered_per_department_and_year(
    sandbox: Sandbox, client: TeamleaderClient, data: dict[str, Any]
) -> None:
    year = TODAY.year
    department_id = nl_department(data)["id"]
    highest = max(
        (
            int(i["invoice_number"].split(" / ")[1])
            for i in data["invoices"]
            if i["department"]["id"] == department_id
            and i["invoice_number"]
            and i["invoice_number"].startswith(f"{year} /")
        ),
        default=0,
    )

    created = new_invoice(sandbox, data, book_on=f"{year}-01-02")

    invoice = client.invoice(created["id"])
    assert invoice.invoice_number == f"{year} / {highest + 1}"
    assert invoice.status == "outstanding"
    assert invoice.total.payable.amount == Decimal("384.80")  # 300 + 63 + 20 + 1.80


def test_registering_a_partial_then_the_rest_makes_the_invoice_matched_and_paid(
    sandbox: Sandbox, client: TeamleaderClient, data: dict[str, Any]
) -> None:
    # Given a booked invoice of 384.80
    created = new_invoice(sandbox, data, book_on=TODAY.isoformat())
    paid_at = datetime(2026, 3, 3, 16, 44, 33, tzinfo=UTC)
    method = next(m["id"] for m in data["paymentMethods"] if m["status"] == "active")

    # When 100.00 is paid
    client.register_payment(created["id"], Decimal("100.00"), "EUR", paid_at, method)
    partly = client.invoice(created["id"])

    # Then it is still outstanding with 284.80 due
    assert partly.status == "outstanding" and not partly.paid
    assert partly.total.due is not None and partly.total.due.amount == Decimal("284.80")

    # When the rest is paid
    client.register_payment(created["id"], Decimal("284.80"), "EUR", paid_at + timedelta(days=1))
    paid = client.invoice(created["id"])

    # Then it is matched, paid, and paid_at is the last payment's
    assert paid.status == "matched" and paid.paid
    assert paid.total.due is not None and paid.total.due.amount == 0
    assert paid.paid_at == paid_at + timedelta(days=1)
    assert [p.payment.amount for p in paid.payments] == [Decimal("100.00"), Decimal("284.80")]
    assert paid.updated_at is not None and partly.updated_at is not None
    assert paid.updated_at >= partly.updated_at


@pytest.mark.parametrize(
    ("amount", "currency", "field"),
    [(Decimal("-5"), "EUR", "payment.amount"), (Decimal("5"), "USD", "payment.currency")],
    ids=["negative", "other-currency"],
)
def test_a_payment_that_cannot_apply_is_a_data_error_naming_the_field(
    sandbox: Sandbox,
    client: TeamleaderClient,
    data: dict[str, Any],
    amount: Decimal,
    currency: str,
    field: str,
) -> None:
    created = new_invoice(sandbox, data, book_on=TODAY.isoformat())

    with pytest.raises(DataError) as refused:
        client.register_payment(created["id"], amount, currency, datetime.now(UTC))

    assert refused.value.status == 400
    assert refused.value.fields == [field]
    assert client.invoice(created["id"]).payments == []


def test_an_unknown_id_is_not_found(client: TeamleaderClient) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    for fetch in (
        client.invoice,
        client.contact,
        client.company,
        client.credit_note,
        client.department,
    ):
        with pytest.raises(NotFound) as missing:
            fetch(unknown)
        assert missing.value.status == 404


def test_a_malformed_filter_is_a_400_naming_the_field(
    sandbox: Sandbox, client: TeamleaderClient, teamleader_spec: SpecChecker
) -> None:
    auth = bearer_headers(client.session)
    with httpx.Client(event_hooks=teamleader_spec.hooks()) as http:
        response = http.post(
            f"{sandbox.teamleader_url}/invoices.list",
            content=b'{"filter": {"invoice_date_after": "yesterday"}}',
            headers={**auth, "Content-Type": "application/json"},
        )
    assert response.status_code == 400
    assert response.json()["errors"][0]["meta"]["field"] == "filter.invoice_date_after"
    # A body that is not JSON at all cannot go through the spec checker (it parses requests).
    broken = httpx.post(
        f"{sandbox.teamleader_url}/invoices.info",
        content=b"{not json",
        headers={**auth, "Content-Type": "application/json"},
    )
    assert broken.status_code == 400
    assert broken.json()["errors"][0]["title"]


# -- credit notes ---------------------------------------------------------------------------


def test_credit_notes_link_their_invoice_and_info_accepts_the_array_shape(
    client: TeamleaderClient, data: dict[str, Any]
) -> None:
    notes = list(client.credit_notes())
    assert len(notes) == len(data["creditNotes"])
    note = notes[0]
    assert note.invoice is not None and note.lines == []

    full = client.credit_note(note.id)

    assert full.id == note.id and full.lines
    assert full.total.payable.amount > 0  # credit notes carry positive amounts
    assert [c.id for c in client.credit_notes(invoice_id=note.invoice.id)] == [
        c["id"] for c in data["creditNotes"] if c["invoice"]["id"] == note.invoice.id
    ]


def test_crediting_part_of_an_invoice_gives_a_booked_credit_note_for_those_lines(
    sandbox: Sandbox, client: TeamleaderClient, data: dict[str, Any]
) -> None:
    created = new_invoice(sandbox, data, book_on=TODAY.isoformat())
    one_line = [
        {**line, "quantity": 1}
        for line in [
            {
                "description": "Advies",
                "unit_price": 100,
                "tax_rate_id": rate_id(data, nl_department(data)["id"], "21%"),
            }
        ]
    ]

    note = control(sandbox, f"invoices/{created['id']}/credit", {"lines": one_line})

    fetched = client.credit_note(note["id"])
    assert fetched.invoice is not None and fetched.invoice.id == created["id"]
    assert fetched.total.payable.amount == Decimal("121.00")
    assert re.fullmatch(rf"{TODAY.year} / \d+", fetched.credit_note_number or "")
    assert fetched.lines[0].unit_price.currency == "EUR"  # credit-note lines keep a currency


# -- webhooks registration ------------------------------------------------------------------


def test_webhooks_are_registered_listed_and_unregistered_by_url_and_types(
    client: TeamleaderClient,
) -> None:
    client.register_webhook("https://example.test/b", ["invoice.booked"])
    client.register_webhook("https://example.test/a", ["invoice.updated", "contact.updated"])
    client.register_webhook("https://example.test/a", ["invoice.updated", "contact.updated"])

    listed = client.webhooks()
    assert [w.url for w in listed] == ["https://example.test/a", "https://example.test/b"]

    client.unregister_webhook("https://example.test/a", ["contact.updated", "invoice.updated"])
    assert [w.url for w in client.webhooks()] == ["https://example.test/b"]


def test_registering_an_unknown_webhook_type_is_refused(sandbox: Sandbox, data: dict) -> None:
    # The request is deliberately outside the description ("invoice.paid" does not exist),
    # so this client is not hooked to the spec checker.
    client, _ = sandbox_client(sandbox_settings(sandbox.teamleader_url))

    with pytest.raises(DataError) as refused:
        client.register_webhook("https://example.test/x", ["invoice.paid"])

    assert refused.value.fields == ["types"]
    assert "invoice.paid" in refused.value.reason


def test_a_commercial_discount_lowers_every_rates_taxable_and_a_full_credit_carries_it(
    sandbox: Sandbox, client: TeamleaderClient, data: dict[str, Any]
) -> None:
    # Given an invoice of 300.00 at 21 % and 20.00 at 9 % with a 10 % commercial discount
    draft = new_invoice(
        sandbox,
        data,
        discounts=[{"type": "percentage", "value": 10, "description": "Trouwe klant"}],
        book_on="2026-03-02",
    )
    # When it is read through the API
    invoice = client.invoice(draft["id"])
    # Then each rate's taxable is 90 % of its lines, VAT follows it, and the lines are untouched
    taxes = {t.rate: (t.taxable.amount, t.tax.amount) for t in invoice.total.taxes}
    assert taxes == {
        Decimal("0.21"): (Decimal("270.00"), Decimal("56.70")),
        Decimal("0.09"): (Decimal("18.00"), Decimal("1.62")),
    }
    assert invoice.total.tax_exclusive.amount == Decimal("288.00")
    assert invoice.total.payable.amount == Decimal("346.32")
    assert sum(line.total.tax_exclusive.amount for line in invoice.lines) == Decimal("320.00")
    # And a full credit note carries the discount, so it credits exactly the payable
    note = control(sandbox, f"invoices/{draft['id']}/credit", {"on": "2026-03-03"})
    assert client.credit_note(note["id"]).total.payable.amount == Decimal("346.32")
