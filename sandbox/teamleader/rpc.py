"""The RPC endpoints (``POST /<resource>.<action>``): each takes the account and the JSON
body and returns what goes under ``data`` (or None for a 204), plus webhook events."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.teamleader import filters as f
from sandbox.teamleader.objects import (
    COMPANY_LIST_KEYS,
    CONTACT_LIST_KEYS,
    as_sent,
    credit_note_list_item,
    customer_list_item,
    invoice_list_item,
    parse_timestamp,
)
from sandbox.teamleader.state import Account, Event, Problem
from sandbox.teamleader.webhooks import EVENT_TYPES

Body = dict[str, Any]
Result = tuple[Any, list[Event]]
Handler = Callable[[Account, Body], Result]

DEPARTMENT_LIST_KEYS = ("id", "name", "vat_number", "currency", "emails", "status")


def _id(body: Mapping[str, Any]) -> str:
    value = body.get("id")
    if not isinstance(value, str) or not value:
        raise Problem(400, "id is required", "id")
    return value


def users_me(account: Account, body: Body) -> Result:
    return {
        "id": account.user_id,
        "account": {"type": "account", "id": account.id},
        "first_name": "Sandra",
        "last_name": "Boxtel",
        "email": "sandra@koppel.example",
        "email_verification_status": "confirmed",
        "telephones": [],
        "language": "nl",
        "function": "Zaakvoerder",
        "time_zone": "Europe/Brussels",
        "preferences": {
            "invoiceable": True,
            "historic_time_tracking_limit": None,
            "whitelabeling": False,
        },
    }, []


def departments_list(account: Account, body: Body) -> Result:
    """Not paged: the real endpoint ignores ``page`` (docs/api-facts.md, Teamleader §2)."""
    filters = f.filter_of(body)
    items = f.by_ids(account.departments.values(), filters)
    if "status" in filters:
        wanted = set(f.string_list(filters, "status", ("active", "archived")))
        items = (d for d in items if d.get("status", "active") in wanted)
    ordered = f.sorted_items(
        items,
        body,
        {
            "name": lambda d: d["name"],
            "created_at": lambda d: d.get("created_at") or "",
            "default_department": lambda d: d["id"] != _first(account.departments),
        },
        [("default_department", "asc"), ("name", "asc")],
    )
    return [{key: d.get(key) for key in DEPARTMENT_LIST_KEYS} for d in ordered], []


def _first(items: Mapping[str, Any]) -> str | None:
    return next(iter(items), None)


def departments_info(account: Account, body: Body) -> Result:
    return account.find("departments", _id(body)), []


def tax_rates_list(account: Account, body: Body) -> Result:
    filters = f.filter_of(body)
    items = list(account.tax_rates.values())
    if "department_id" in filters:
        department = f.string(filters, "department_id")
        items = [t for t in items if t["department"]["id"] == department]
    ordered = f.sorted_items(
        items,
        body,
        {
            "department_id": lambda t: t["department"]["id"],
            "rate": lambda t: t["rate"],
            "description": lambda t: t["description"],
        },
        [("department_id", "asc"), ("rate", "asc"), ("description", "asc")],
    )
    return list(f.page_of(ordered, body)), []


def product_categories_list(account: Account, body: Body) -> Result:
    filters = f.filter_of(body)
    items = list(account.product_categories.values())
    if "department_id" in filters:
        department = f.string(filters, "department_id")
        items = [
            c
            for c in items
            if any(ledger["department"]["id"] == department for ledger in c.get("ledgers") or [])
        ]
    return sorted(items, key=lambda c: (c["name"], c["id"])), []


def payment_methods_list(account: Account, body: Body) -> Result:
    filters = f.filter_of(body)
    items = f.by_ids(account.payment_methods.values(), filters)
    if "status" in filters:
        wanted = set(f.string_list(filters, "status", ("active", "archived")))
        items = (m for m in items if m["status"] in wanted)
    ordered = sorted(items, key=lambda m: (m["name"], m["id"]))
    return list(f.page_of(ordered, body)), []


def _customer_list(account: Account, body: Body, kind: str) -> Result:
    filters = f.filter_of(body)
    items: Iterable[dict[str, Any]] = (
        account.contacts.values() if kind == "contact" else account.companies.values()
    )
    items = f.updated_since(f.by_ids(items, filters), filters)
    if kind == "contact":
        items = f.by_term(
            items,
            filters,
            lambda c: [c.get("first_name"), c.get("last_name"), *(e["email"] for e in c["emails"])],
        )
        if "company_id" in filters:
            company = f.string(filters, "company_id")
            items = (
                c
                for c in items
                if any(link["company"]["id"] == company for link in c.get("companies") or [])
            )
    else:
        items = f.by_term(
            items,
            filters,
            lambda c: [
                c.get("name"),
                c.get("vat_number"),
                *(e["email"] for e in c["emails"]),
                *(t["number"] for t in c["telephones"]),
            ],
        )
        if "vat_number" in filters:
            vat = f.string(filters, "vat_number").replace(" ", "").upper()
            items = (
                c for c in items if (c.get("vat_number") or "").replace(" ", "").upper() == vat
            )
    if "status" in filters:
        status = f.string(filters, "status")
        items = (c for c in items if c.get("status") == status)
    if "tags" in filters:
        tags = set(f.string_list(filters, "tags"))
        items = (c for c in items if tags <= set(c.get("tags") or []))
    name = (
        (lambda c: c["name"])
        if kind == "company"
        else (lambda c: f"{c.get('last_name') or ''} {c.get('first_name') or ''}")
    )
    ordered = f.sorted_items(
        items,
        body,
        {
            "name": name,
            "added_at": lambda c: parse_timestamp(c["added_at"]),
            "updated_at": lambda c: parse_timestamp(c["updated_at"]),
        },
        [("added_at", "asc")],
    )
    custom = "custom_fields" in str(body.get("includes") or "")
    keys = CONTACT_LIST_KEYS if kind == "contact" else COMPANY_LIST_KEYS
    return [customer_list_item(c, keys, custom) for c in f.page_of(ordered, body)], []


def contacts_list(account: Account, body: Body) -> Result:
    return _customer_list(account, body, "contact")


def companies_list(account: Account, body: Body) -> Result:
    return _customer_list(account, body, "company")


def contacts_info(account: Account, body: Body) -> Result:
    return account.find("contacts", _id(body)), []


def companies_info(account: Account, body: Body) -> Result:
    return account.find("companies", _id(body)), []


def _number_key(number: str | None) -> tuple[str, int, int] | None:
    """Fiscal-year name (a year sorts as its digits: names are free text), then sequence."""
    if not number:
        return None
    name, _, sequence = number.rpartition("/")
    digits = sequence.strip()
    return name.strip(), len(digits), int(digits) if digits.isdigit() else 0


def invoices_list(account: Account, body: Body) -> Result:
    filters = f.filter_of(body)
    items = f.updated_since(f.by_ids(account.invoices.values(), filters), filters)
    if "status" in filters:
        wanted = set(f.string_list(filters, "status", ("draft", "outstanding", "matched")))
        items = (i for i in items if i["status"] in wanted)
    if "department_id" in filters:
        department = f.string(filters, "department_id")
        items = (i for i in items if i["department"]["id"] == department)
    if "invoice_date_after" in filters:  # inclusive
        after = f.a_date(filters, "invoice_date_after")
        items = (i for i in items if i["invoice_date"] and i["invoice_date"] >= after)
    if "invoice_date_before" in filters:  # inclusive too (BP, PR #621)
        before = f.a_date(filters, "invoice_date_before")
        items = (i for i in items if i["invoice_date"] and i["invoice_date"] <= before)
    if "customer" in filters:
        kind, id_ = f.customer_ref(filters)
        items = (i for i in items if i["invoicee"]["customer"] == {"type": kind, "id": id_})
    for key in ("invoice_number", "purchase_order_number", "payment_reference"):
        if key in filters:
            value = f.string(filters, key)
            # A list, not a generator: a lazy one would read ``key`` and ``value`` after the
            # loop moved on (it compared payment_reference with the invoice number).
            items = [i for i in items if i.get(key) == value]
    items = f.by_term(
        items,
        filters,
        lambda i: [
            i.get("invoice_number"),
            i.get("purchase_order_number"),
            i.get("payment_reference"),
            i["invoicee"]["name"],
        ],
    )
    ordered = f.sorted_items(
        items,
        body,
        {
            "invoice_number": lambda i: _number_key(i["invoice_number"]),
            "invoice_date": lambda i: i["invoice_date"],
        },
        [("invoice_number", "asc")],
    )
    return [invoice_list_item(i) for i in f.page_of(ordered, body)], []


def invoices_info(account: Account, body: Body) -> Result:
    info = account.find("invoices", _id(body))
    return as_sent(dict(info), info), []


def invoices_register_payment(account: Account, body: Body) -> Result:
    id_ = _id(body)
    payment = body.get("payment")
    if not isinstance(payment, dict):
        raise Problem(400, "payment {amount, currency} is required", "payment")
    try:
        amount = Decimal(str(payment.get("amount")))
    except InvalidOperation as exc:
        raise Problem(400, "payment.amount must be a number", "payment.amount") from exc
    if not amount.is_finite() or isinstance(payment.get("amount"), bool):
        raise Problem(400, "payment.amount must be a number", "payment.amount")
    currency = payment.get("currency")
    if not isinstance(currency, str):
        raise Problem(400, "payment.currency is required", "payment.currency")
    paid_at_text = body.get("paid_at")
    try:
        paid_at = parse_timestamp(str(paid_at_text))
    except ValueError as exc:
        raise Problem(400, "paid_at must be an ISO 8601 datetime", "paid_at") from exc
    if paid_at_text is None:
        raise Problem(400, "paid_at is required", "paid_at")
    method = body.get("payment_method_id")
    if method is not None and method not in account.payment_methods:
        raise Problem(400, f"payment method {method} not found", "payment_method_id")
    _, events = account.register_payment(id_, amount, currency, paid_at)
    return None, events


def credit_notes_list(account: Account, body: Body) -> Result:
    filters = f.filter_of(body)
    items = f.updated_since(f.by_ids(account.credit_notes.values(), filters), filters)
    if "department_id" in filters:
        department = f.string(filters, "department_id")
        items = (c for c in items if c["department"]["id"] == department)
    if "invoice_id" in filters:
        invoice = f.string(filters, "invoice_id")
        items = (c for c in items if (c.get("invoice") or {}).get("id") == invoice)
    if "customer" in filters:
        kind, id_ = f.customer_ref(filters)
        items = (c for c in items if c["invoicee"]["customer"] == {"type": kind, "id": id_})
    if "credit_note_date_after" in filters:  # inclusive
        after = f.a_date(filters, "credit_note_date_after")
        items = (c for c in items if c["credit_note_date"] and c["credit_note_date"] >= after)
    if "credit_note_date_before" in filters:  # exclusive, as documented
        before = f.a_date(filters, "credit_note_date_before")
        items = (c for c in items if c["credit_note_date"] and c["credit_note_date"] < before)
    # No sort option is documented: by number, drafts last (there are none).
    ordered = sorted(
        items, key=lambda c: (_number_key(c["credit_note_number"]) or ("\uffff", 0, 0), c["id"])
    )
    return [credit_note_list_item(c) for c in f.page_of(ordered, body)], []


def credit_notes_info(account: Account, body: Body) -> Result:
    """``data`` is an array, as the description says (see ASSUMPTIONS.md)."""
    info = account.find("credit_notes", _id(body))
    return [as_sent(dict(info), info)], []


def _webhook(body: Body) -> tuple[str, list[str]]:
    url, types = body.get("url"), body.get("types")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise Problem(400, "url must be an http(s) URL", "url")
    if not isinstance(types, list) or not types:
        raise Problem(400, "types must be a non-empty array", "types")
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise Problem(400, f"unknown webhook type {unknown[0]!r}", "types")
    return url, sorted(set(types))


def webhooks_register(account: Account, body: Body) -> Result:
    url, types = _webhook(body)
    if not any(w["url"] == url and w["types"] == types for w in account.webhooks):
        account.webhooks.append({"url": url, "types": types})
    return None, []


def webhooks_list(account: Account, body: Body) -> Result:
    return sorted(account.webhooks, key=lambda w: (w["url"], w["types"])), []


def webhooks_unregister(account: Account, body: Body) -> Result:
    url, types = _webhook(body)
    account.webhooks[:] = [
        w for w in account.webhooks if not (w["url"] == url and w["types"] == types)
    ]
    return None, []


ENDPOINTS: dict[str, Handler] = {
    "users.me": users_me,
    "departments.list": departments_list,
    "departments.info": departments_info,
    "taxRates.list": tax_rates_list,
    "productCategories.list": product_categories_list,
    "paymentMethods.list": payment_methods_list,
    "contacts.list": contacts_list,
    "contacts.info": contacts_info,
    "companies.list": companies_list,
    "companies.info": companies_info,
    "invoices.list": invoices_list,
    "invoices.info": invoices_info,
    "invoices.registerPayment": invoices_register_payment,
    "creditNotes.list": credit_notes_list,
    "creditNotes.info": credit_notes_info,
    "webhooks.register": webhooks_register,
    "webhooks.list": webhooks_list,
    "webhooks.unregister": webhooks_unregister,
}
