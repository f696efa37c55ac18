"""The simulator's memory: accounts, each with its settings, customers and documents.

Objects are stored in their ``.info`` shape with money as ``Decimal``. Every change goes
through a method here, which returns the webhook events it caused (``(type, subject)``);
the HTTP layer delivers them. Nothing here does I/O. The app runs on one event loop and
these methods never await, so no lock is needed.
"""

from __future__ import annotations

import calendar
import copy
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox import clock
from sandbox.teamleader.documents import LineInput, amount_due, document_totals
from sandbox.teamleader.objects import (
    compact_lines,
    exchange_rate,
    line_item,
    money,
    ref,
    taxes_json,
    timestamp,
)

Event = tuple[str, dict[str, str]]  # ("invoice.booked", {"type": "invoice", "id": …})


def commercial_discounts(given: Any) -> list[dict[str, Any]]:
    """A document's ``discounts``: percentages between 0 and 100, in the order applied."""
    if given is None:
        return []
    if not isinstance(given, list):
        raise Problem(400, "discounts must be a list", "discounts")
    out = []
    for index, discount in enumerate(given):
        where = f"discounts[{index}]"
        if not isinstance(discount, Mapping) or discount.get("type", "percentage") != "percentage":
            raise Problem(400, f"{where} must be a percentage discount", f"{where}.type")
        try:
            value = Decimal(str(discount.get("value")))
        except ArithmeticError as exc:
            raise Problem(400, f"{where}.value is not a number", f"{where}.value") from exc
        if not Decimal(0) <= value <= Decimal(100):
            raise Problem(400, f"{where}.value must lie between 0 and 100", f"{where}.value")
        out.append(
            {
                "type": "percentage",
                "value": value,
                "description": str(discount.get("description") or ""),
            }
        )
    return out


class Problem(Exception):
    """A request the real API would refuse: rendered as ``{"errors":[{title,status,meta}]}``."""

    def __init__(self, status: int, title: str, field: str | None = None) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.field = field


def decimals(value: Any) -> Any:
    """Every float in a JSON-shaped value as ``Decimal`` (via its shortest repr)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decimals(v) for v in value]
    return value


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> datetime:
    return datetime.now(UTC)


DATASET_KEYS = {
    "departments": "departments",
    "taxRates": "tax_rates",
    "productCategories": "product_categories",
    "paymentMethods": "payment_methods",
    "contacts": "contacts",
    "companies": "companies",
    "invoices": "invoices",
    "creditNotes": "credit_notes",
}


@dataclass
class Account:
    id: str
    departments: dict[str, dict[str, Any]] = field(default_factory=dict)
    tax_rates: dict[str, dict[str, Any]] = field(default_factory=dict)
    product_categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    companies: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    credit_notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ``{"url", "types"}`` registrations, identified by both (there is no webhook id).
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    user_id: str = field(default_factory=new_id)
    #: The last number given per (collection, department id, year).
    _last_numbers: dict[tuple[str, str, int], int] = field(default_factory=dict)
    #: A fiscal year's numbering per (collection, department id, year): ``{"name", "start"}``
    #: (issue 13; ``numbering`` in a data set, ``/_sandbox/numbering``). Unset: the year
    #: itself as the name, numbers from 1.
    numbering: dict[tuple[str, str, int], dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_dataset(cls, part: Mapping[str, Any], account_id: str | None = None) -> Account:
        account = cls(id=account_id or new_id())
        part = decimals(copy.deepcopy(dict(part)))
        for key, attribute in DATASET_KEYS.items():
            setattr(account, attribute, {item["id"]: item for item in part.get(key) or []})
        # A data set may leave out what Teamleader would answer as null or []: fill it in.
        account.contacts = {i: contact_defaults(i) | c for i, c in account.contacts.items()}
        account.companies = {i: company_defaults(i) | c for i, c in account.companies.items()}
        for entry in part.get("numbering") or []:
            account.set_numbering(entry)
        return account

    def set_numbering(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """One fiscal year's numbering of a department: ``{department_id, kind: "invoices" |
        "creditNotes", year, name?, start?}``. Teamleader prefixes a number with the fiscal
        year's *name*, which users edit ("FY2026", "2025-2026", "Boekjaar 26"), counts from
        a start number chosen freely, and credit notes may follow a fiscal year of their own
        (ASSUMPTIONS.md)."""
        department = self.find("departments", entry.get("department_id"), "department_id")
        kind = entry.get("kind") or "invoices"
        if kind not in ("invoices", "creditNotes"):
            raise Problem(400, 'kind must be "invoices" or "creditNotes"', "kind")
        year = entry.get("year")
        if isinstance(year, bool) or not isinstance(year, int) or not 1000 <= year <= 9999:
            raise Problem(400, "year must be a whole year such as 2026", "year")
        name = entry.get("name", str(year))
        if not isinstance(name, str) or not name.strip() or "/" in name or len(name) > 40:
            raise Problem(400, "name must be 1 to 40 characters without a slash", "name")
        start = entry.get("start", 1)
        if isinstance(start, bool) or not isinstance(start, int) or not 1 <= start <= 10**9:
            raise Problem(400, "start must be a whole number from 1 to 1000000000", "start")
        collection = "invoices" if kind == "invoices" else "credit_notes"
        key = (collection, department["id"], year)
        self.numbering[key] = {"name": name.strip(), "start": start}
        self._last_numbers.pop(key, None)  # counted again under the new name and start
        return {
            "department_id": department["id"],
            "kind": kind,
            "year": year,
            **self.numbering[key],
        }

    # -- look-ups ---------------------------------------------------------------------------
    def find(self, collection: str, id_: Any, field_name: str = "id") -> dict[str, Any]:
        items: dict[str, dict[str, Any]] = getattr(self, collection)
        if not isinstance(id_, str) or id_ not in items:
            noun = collection.rstrip("s").replace("_", " ")
            raise Problem(404, f"{noun} {id_} not found", field_name)
        return items[id_]

    def customer(self, customer: Mapping[str, Any] | None) -> dict[str, Any]:
        if not isinstance(customer, Mapping) or customer.get("type") not in ("contact", "company"):
            raise Problem(400, "customer must be {type: contact|company, id}", "customer")
        collection = "contacts" if customer["type"] == "contact" else "companies"
        try:
            return self.find(collection, customer.get("id"), "customer.id")
        except Problem as exc:
            raise Problem(400, exc.title, "customer.id") from exc

    def rate_of(self, tax_rate_id: Any, department_id: str) -> Decimal:
        tax_rate = self.tax_rates.get(tax_rate_id) if isinstance(tax_rate_id, str) else None
        if tax_rate is None or tax_rate["department"]["id"] != department_id:
            raise Problem(400, f"tax rate {tax_rate_id} not found in department", "tax_rate_id")
        return Decimal(str(tax_rate["rate"]))

    # -- customers --------------------------------------------------------------------------
    def create_customer(self, kind: str, body: Mapping[str, Any]) -> tuple[dict, list[Event]]:
        stamp = timestamp(now())
        id_ = str(body.get("id") or new_id())
        base = contact_defaults(id_) if kind == "contact" else company_defaults(id_)
        info = {**base, **decimals(dict(body)), "id": id_, "added_at": stamp, "updated_at": stamp}
        if kind == "contact" and not info.get("last_name"):
            raise Problem(400, "last_name is required", "last_name")
        if kind == "company" and not info.get("name"):
            raise Problem(400, "Company name must not be empty", "name")
        self._customers(kind)[id_] = info
        return info, [(f"{kind}.added", ref(kind, id_))]

    def update_customer(
        self, kind: str, id_: str, body: Mapping[str, Any]
    ) -> tuple[dict, list[Event]]:
        info = self.find("contacts" if kind == "contact" else "companies", id_)
        changes = {k: v for k, v in decimals(dict(body)).items() if k not in ("id", "added_at")}
        info.update(changes)
        info["updated_at"] = bumped(info["updated_at"])
        return info, [(f"{kind}.updated", ref(kind, id_))]

    def _customers(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.contacts if kind == "contact" else self.companies

    # -- invoices ---------------------------------------------------------------------------
    def draft_invoice(self, body: Mapping[str, Any]) -> tuple[dict, list[Event]]:
        department = self.find("departments", body.get("department_id"), "department_id")
        customer_ref = body.get("customer")
        customer = self.customer(customer_ref)
        currency = str(body.get("currency") or department.get("currency") or "EUR")
        rate = body.get("currency_exchange_rate")
        stamp = timestamp(now())
        id_ = str(body.get("id") or new_id())
        term = (
            body.get("payment_term")
            or customer.get("payment_term")
            or {
                "type": "after_invoice_date",
                "days": 30,
            }
        )
        info: dict[str, Any] = {
            "id": id_,
            "department": ref("department", department["id"]),
            "invoice_number": None,
            "invoice_date": body.get("invoice_date"),
            "status": "draft",
            "due_on": None,
            "paid": False,
            "paid_at": None,
            "sent": False,
            "purchase_order_number": body.get("purchase_order_number"),
            # A Mapping: self.customer() refused anything else above.
            "invoicee": invoicee_of(customer_ref, customer),  # type: ignore[arg-type]
            "discounts": commercial_discounts(body.get("discounts")),
            "grouped_lines": [],
            "total": {},
            "payment_term": decimals(term),
            "payments": [],
            "payment_reference": None,
            "note": body.get("note"),
            "currency": currency,
            "currency_exchange_rate": exchange_rate(
                currency,
                str(department.get("currency") or "EUR"),
                Decimal(str(rate)) if rate is not None else None,
            ),
            "expected_payment_method": None,
            "file": None,
            "deal": None,
            "project": None,
            "on_hold_since": None,
            "custom_fields": [],
            "created_at": stamp,
            "updated_at": stamp,
            "document_template": ref("documentTemplate", uuid5("template", department["id"])),
            "delivery_date": None,
            "peppol_status": None,
        }
        self._set_lines(info, body.get("lines"), credit_note=False)
        self.invoices[id_] = info
        return info, [("invoice.drafted", ref("invoice", id_))]

    def book_invoice(self, id_: str, on: Any) -> tuple[dict, list[Event]]:
        info = self.find("invoices", id_)
        if info["status"] != "draft":
            raise Problem(400, "only a draft invoice can be booked", "id")
        booked_on = parse_date(on, "on")
        info["invoice_date"] = booked_on.isoformat()
        info["invoice_number"] = self._next_number("invoices", info, booked_on.year)
        info["status"] = "outstanding"
        info["due_on"] = due_date(booked_on, info["payment_term"]).isoformat()
        department = self.departments[info["department"]["id"]]
        if (department.get("address") or {}).get("country") == "BE":
            info["payment_reference"] = structured_reference(info["invoice_number"])
        info["updated_at"] = bumped(info["updated_at"])
        return info, [("invoice.booked", ref("invoice", id_))]

    def update_invoice(self, id_: str, body: Mapping[str, Any]) -> tuple[dict, list[Event]]:
        info = self.find("invoices", id_)
        if "customer" in body:
            info["invoicee"] = invoicee_of(body["customer"], self.customer(body["customer"]))
        for key in ("purchase_order_number", "note"):
            if key in body:
                info[key] = body[key]
        if "payment_term" in body:
            info["payment_term"] = decimals(body["payment_term"])
        if "invoice_date" in body:
            info["invoice_date"] = parse_date(body["invoice_date"], "invoice_date").isoformat()
        if info["invoice_date"] and info["status"] != "draft":
            booked_on = date.fromisoformat(info["invoice_date"])
            info["due_on"] = due_date(booked_on, info["payment_term"]).isoformat()
        lines = body.get("lines")
        if "discounts" in body:
            info["discounts"] = commercial_discounts(body["discounts"])
            lines = lines or compact_lines(info["grouped_lines"])  # totals change with them
        self._set_lines(info, lines, credit_note=False)
        info["updated_at"] = bumped(info["updated_at"])
        return info, [("invoice.updated", ref("invoice", id_))]

    def plant(self, collection: str, id_: str, fields: Mapping[str, Any]) -> tuple[dict, list]:
        """Raw fields laid over what ``.list`` and ``.info`` send for a document, as they are
        (``{}`` takes them away); ``updated_at`` bumped, as any change bumps it."""
        from sandbox.teamleader.objects import PLANTED

        info = self.find(collection, id_)
        if fields:
            info[PLANTED] = dict(fields)
        else:
            info.pop(PLANTED, None)
        info["updated_at"] = bumped(info["updated_at"])
        kind = "invoice" if collection == "invoices" else "creditNote"
        return info, [(f"{kind}.updated", ref(kind, id_))]

    def register_payment(
        self, id_: str, amount: Decimal, currency: str, paid_at: datetime
    ) -> tuple[dict, list[Event]]:
        info = self.find("invoices", id_)
        if info["status"] == "draft":
            raise Problem(400, "a draft invoice cannot be paid", "id")
        if currency != info["currency"]:
            raise Problem(400, f"payment currency must be {info['currency']}", "payment.currency")
        if amount <= 0:
            raise Problem(400, "payment amount must be positive", "payment.amount")
        info["payments"].append({"paid_at": timestamp(paid_at), "payment": money(amount, currency)})
        self._refresh_due(info)
        info["updated_at"] = bumped(info["updated_at"])
        return info, [("invoice.paymentRegistered", ref("invoice", id_))]

    def credit_invoice(
        self,
        id_: str,
        lines: Any = None,
        on: Any = None,
        credit_note_id: str | None = None,
        discounts: Any = None,
    ) -> tuple[dict, list[Event]]:
        """A booked credit note for all (``lines`` None) or some lines of an invoice.

        A full credit carries the invoice's commercial discounts; a partial one only the
        ``discounts`` given."""
        invoice = self.find("invoices", id_)
        if invoice["status"] == "draft":
            raise Problem(400, "a draft invoice cannot be credited", "id")
        credited_on = parse_date(on, "on") if on else clock.today()
        stamp = timestamp(now())
        cn_id = credit_note_id or new_id()
        info: dict[str, Any] = {
            "id": cn_id,
            "department": invoice["department"],
            "credit_note_number": None,
            "credit_note_date": credited_on.isoformat(),
            "status": "booked",
            "invoice": ref("invoice", id_),
            "paid": False,
            "paid_at": None,
            "invoicee": {
                key: invoice["invoicee"].get(key)
                for key in ("name", "vat_number", "customer", "email")
            }
            | {"national_identification_number": None},
            "discounts": invoice["discounts"] if lines is None else commercial_discounts(discounts),
            "total": {},
            "grouped_lines": [],
            "currency": invoice["currency"],
            "currency_exchange_rate": invoice["currency_exchange_rate"],
            "created_at": stamp,
            "updated_at": stamp,
            "document_template": invoice["document_template"],
            "peppol_status": None,
        }
        chosen = compact_lines(invoice["grouped_lines"]) if lines is None else lines
        self._set_lines(info, chosen, credit_note=True)
        info["credit_note_number"] = self._next_number("credit_notes", info, credited_on.year)
        self.credit_notes[cn_id] = info
        return info, [("creditNote.booked", ref("creditNote", cn_id))]

    # -- helpers ----------------------------------------------------------------------------
    def _set_lines(self, info: dict[str, Any], lines: Any, *, credit_note: bool) -> None:
        if lines is None and info["grouped_lines"]:
            return
        if not isinstance(lines, list) or not lines:
            raise Problem(400, "lines must be a non-empty list", "lines")
        department_id = info["department"]["id"]
        currency = info["currency"]
        items, inputs = [], []
        for index, line in enumerate(lines):
            item, computation = self._line(line, index, department_id, currency, credit_note)
            items.append(item)
            inputs.append(computation)
        info["grouped_lines"] = [{"section": {"title": ""}, "line_items": items}]
        percentages = [Decimal(str(d["value"])) for d in info.get("discounts") or []]
        totals = document_totals(inputs, percentages)
        total: dict[str, Any] = {
            "tax_exclusive": money(totals.tax_exclusive, currency),
            "tax_inclusive": money(totals.tax_inclusive, currency),
            "payable": money(totals.payable, currency),
            "taxes": taxes_json(totals, currency),
        }
        if not credit_note:
            total = {
                "tax_exclusive": total["tax_exclusive"],
                "tax_exclusive_before_discount": money(
                    totals.tax_exclusive_before_discount, currency
                ),
                "tax_inclusive": total["tax_inclusive"],
                "tax_inclusive_before_discount": money(
                    totals.tax_inclusive_before_discount, currency
                ),
                "taxes": total["taxes"],
                "withheld_taxes": [],
                "payable": total["payable"],
                "due": money(totals.payable, currency),
            }
        info["total"] = total
        if not credit_note:
            self._refresh_due(info)

    def _line(
        self, line: Any, index: int, department_id: str, currency: str, credit_note: bool
    ) -> tuple[dict[str, Any], LineInput]:
        where = f"lines[{index}]"
        if not isinstance(line, Mapping):
            raise Problem(400, f"{where} must be an object", where)
        for key in ("description", "quantity", "unit_price", "tax_rate_id"):
            if line.get(key) is None:
                raise Problem(400, f"{where}.{key} is required", f"{where}.{key}")
        rate = self.rate_of(line["tax_rate_id"], department_id)
        category = line.get("product_category_id")
        if category and category not in self.product_categories:
            raise Problem(
                400, f"product category {category} not found", f"{where}.product_category_id"
            )
        try:
            return line_item(line, rate, currency, credit_note=credit_note)
        except (ArithmeticError, ValueError) as exc:
            raise Problem(400, f"{where}: not a number ({exc})", where) from exc

    def _refresh_due(self, info: dict[str, Any]) -> None:
        payable: Decimal = info["total"]["payable"]["amount"]
        due = amount_due(payable, (p["payment"]["amount"] for p in info["payments"]))
        info["total"]["due"] = money(due, info["currency"])
        fully_paid = bool(info["payments"]) and due <= 0
        info["paid"] = fully_paid
        info["paid_at"] = info["payments"][-1]["paid_at"] if fully_paid else None
        if info["status"] != "draft":
            info["status"] = "matched" if fully_paid else "outstanding"

    def _next_number(self, collection: str, info: Mapping[str, Any], year: int) -> str:
        """``"<fiscal year name> / n"``, counting per department and (calendar) fiscal year
        from the year's start number (``numbering``; by default "YYYY" from 1)."""
        key = (collection, info["department"]["id"], year)
        numbering = self.numbering.get(key) or {}
        name = str(numbering.get("name") or year)
        if key not in self._last_numbers:
            start = int(numbering.get("start") or 1)
            self._last_numbers[key] = max(self._highest_number(collection, key[1], name), start - 1)
        self._last_numbers[key] += 1
        return f"{name} / {self._last_numbers[key]}"

    def _highest_number(self, collection: str, department_id: str, name: str) -> int:
        field_name = "invoice_number" if collection == "invoices" else "credit_note_number"
        highest = 0
        for other in getattr(self, collection).values():
            number = other.get(field_name)
            if other["department"]["id"] != department_id or not number:
                continue
            other_name, _, sequence = number.rpartition("/")
            if other_name.strip() == name and sequence.strip().isdigit():
                highest = max(highest, int(sequence))
        return highest


def bumped(previous: str) -> str:
    """Now, but never earlier than (and always after) the previous ``updated_at``.

    Timestamps have whole seconds, so two changes within a second would otherwise share one
    ``updated_at``; ``updated_since`` compares ``>=`` and would still see both."""
    from sandbox.teamleader.objects import parse_timestamp

    current = now().replace(microsecond=0)
    before = parse_timestamp(previous)
    return timestamp(max(current, before))


def parse_date(value: Any, field_name: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise Problem(400, f"{field_name} must be a date YYYY-MM-DD", field_name) from exc


def due_date(invoice_date: date, term: Mapping[str, Any] | None) -> date:
    term = term or {"type": "after_invoice_date", "days": 30}
    days = int(term.get("days") or 0)
    if term.get("type") == "cash":
        return invoice_date
    if term.get("type") == "end_of_month":
        last = calendar.monthrange(invoice_date.year, invoice_date.month)[1]
        return invoice_date.replace(day=last) + timedelta(days=days)
    return invoice_date + timedelta(days=days)


def structured_reference(invoice_number: str) -> str:
    """A Belgian structured communication ``+++ddd/dddd/ddddd+++`` (mod-97 check digits)."""
    name, _, sequence = invoice_number.rpartition("/")
    # A fiscal-year name is free text: its digits (or none) make the reference's start.
    year = "".join(c for c in name if c.isdigit())[-4:] or "0"
    base = int(f"{year}{int(sequence.strip()):06d}") % 10**10
    check = base % 97 or 97
    digits = f"{base:010d}{check:02d}"
    return f"+++{digits[:3]}/{digits[3:7]}/{digits[7:]}+++"


def uuid5(kind: str, seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"teamleader/{kind}/{seed}"))


def customer_name(kind: str, info: Mapping[str, Any]) -> str:
    if kind == "company":
        return str(info.get("name") or "")
    return " ".join(p for p in (info.get("first_name"), info.get("last_name")) if p)


def invoicee_of(customer_ref: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
    """The invoicee block a document gets from its customer (invoicing e-mail first)."""
    emails = info.get("emails") or []
    email = next((e["email"] for e in emails if e.get("type") == "invoicing"), None)
    email = email or next((e["email"] for e in emails), None)
    return {
        "name": customer_name(customer_ref["type"], info),
        "vat_number": info.get("vat_number"),
        "customer": ref(customer_ref["type"], customer_ref["id"]),
        "for_attention_of": None,
        "email": email,
        "national_identification_number": info.get("national_identification_number"),
    }


def contact_defaults(id_: str) -> dict[str, Any]:
    return {
        "id": id_,
        "first_name": None,
        "last_name": None,
        "status": "active",
        "salutation": None,
        "vat_number": None,
        "emails": [],
        "telephones": [],
        "website": None,
        "addresses": [],
        "gender": "unknown",
        "birthdate": None,
        "iban": None,
        "bic": None,
        "national_identification_number": None,
        "companies": [],
        "language": "nl",
        "payment_term": None,
        "invoicing_preferences": {"electronic_invoicing_address": None},
        "remarks": "",
        "tags": [],
        "custom_fields": [],
        "marketing_mails_consent": False,
        "web_url": f"https://focus.teamleader.eu/contact_detail.php?id={id_}",
    }


def company_defaults(id_: str) -> dict[str, Any]:
    return {
        "id": id_,
        "name": None,
        "status": "active",
        "business_type": None,
        "vat_number": None,
        "national_identification_number": None,
        "emails": [],
        "telephones": [],
        "website": None,
        "addresses": [],
        "iban": None,
        "bic": None,
        "language": "nl",
        "preferred_currency": None,
        "payment_term": None,
        "invoicing_preferences": {"electronic_invoicing_address": None},
        "responsible_user": None,
        "remarks": "",
        "tags": [],
        "custom_fields": [],
        "marketing_mails_consent": False,
        "web_url": f"https://focus.teamleader.eu/company_detail.php?id={id_}",
    }
