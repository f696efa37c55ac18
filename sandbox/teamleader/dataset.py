"""Checking a Teamleader data set part before the simulator loads it.

Each item is the object ``.info`` returns (tax rates, product categories, payment methods:
the ``.list`` item). The models are strict about what the simulator relies on (ids, types,
money, references) and loose about everything else (extra keys are kept).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from sandbox.dataset_error import DatasetError


class _Item(BaseModel):
    model_config = ConfigDict(extra="allow")


class Ref(_Item):
    type: str
    id: str


class Money(_Item):
    amount: Decimal
    currency: str


class TaxRate(_Item):
    id: str
    description: str
    rate: Decimal
    department: Ref


class Department(_Item):
    id: str
    name: str
    currency: str = "EUR"


class Ledger(_Item):
    department: Ref
    ledger_account_number: str


class ProductCategory(_Item):
    id: str
    name: str
    ledgers: list[Ledger] = []


class PaymentMethod(_Item):
    id: str
    name: str
    status: Literal["active", "archived"]


class Address(_Item):
    line_1: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str


class TypedAddress(_Item):
    type: Literal["primary", "invoicing", "delivery", "visiting"]
    address: Address


class Email(_Item):
    type: str
    email: str


class Customer(_Item):
    id: str
    added_at: str
    updated_at: str
    emails: list[Email] = []
    addresses: list[TypedAddress] = []


class Contact(Customer):
    last_name: str


class Company(Customer):
    name: str


class LineTotal(_Item):
    tax_exclusive: Money
    tax_inclusive: Money


class UnitPrice(_Item):
    amount: Decimal
    tax: Literal["excluding"]


class LineItem(_Item):
    quantity: Decimal
    description: str
    unit_price: UnitPrice
    tax: Ref
    product_category: Ref | None = None
    total: LineTotal


class LineGroup(_Item):
    line_items: list[LineItem]


class RateTotal(_Item):
    rate: Decimal
    taxable: Money
    tax: Money


class CreditNoteTotal(_Item):
    tax_exclusive: Money
    tax_inclusive: Money
    payable: Money
    taxes: list[RateTotal]


class InvoiceTotal(CreditNoteTotal):
    due: Money


class Invoicee(_Item):
    name: str
    customer: Ref


class Payment(_Item):
    paid_at: str
    payment: Money


class Document(_Item):
    id: str
    department: Ref
    invoicee: Invoicee
    grouped_lines: list[LineGroup]
    currency: str
    created_at: str
    updated_at: str


class Invoice(Document):
    status: Literal["draft", "outstanding", "matched"]
    invoice_number: str | None
    invoice_date: str | None
    total: InvoiceTotal
    payments: list[Payment] = []
    discounts: list[Any] = []


class CreditNote(Document):
    status: Literal["booked"]
    credit_note_number: str | None
    credit_note_date: str | None
    invoice: Ref | None
    total: CreditNoteTotal


#: An item a data set lists at the top level: each has an id.
_Listed = Department | TaxRate | ProductCategory | PaymentMethod | Customer | Document

MODELS: dict[str, type[_Listed]] = {
    "departments": Department,
    "taxRates": TaxRate,
    "productCategories": ProductCategory,
    "paymentMethods": PaymentMethod,
    "contacts": Contact,
    "companies": Company,
    "invoices": Invoice,
    "creditNotes": CreditNote,
}


def _label(key: str, index: int, item: Any) -> str:
    id_ = item.get("id") if isinstance(item, dict) else None
    return f"teamleader.{key}[{index}]" + (f" (id {str(id_)[:8]}…)" if id_ else "")


def validate_teamleader(part: Any) -> None:
    """Raise :class:`DatasetError` naming the first item and field that do not fit."""
    if not isinstance(part, dict):
        raise DatasetError("teamleader", "(root)", "must be an object")
    unknown = set(part) - set(MODELS) - {"numbering"}
    if unknown:
        raise DatasetError(
            "teamleader",
            sorted(unknown)[0],
            f"unknown key; expected {[*MODELS, 'numbering']}",
        )
    parsed: dict[str, list[Any]] = {}
    for key, model in MODELS.items():
        items = part.get(key) or []
        if not isinstance(items, list):
            raise DatasetError(f"teamleader.{key}", "(list)", "must be an array")
        parsed[key] = []
        seen: set[str] = set()
        for index, item in enumerate(items):
            try:
                obj = model.model_validate(item)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "(item)"
                raise DatasetError(_label(key, index, item), where, first["msg"]) from exc
            if obj.id in seen:
                raise DatasetError(_label(key, index, item), "id", "duplicate id")
            seen.add(obj.id)
            parsed[key].append(obj)
    _check_references(parsed)
    numbering = part.get("numbering") or []
    if not isinstance(numbering, list) or not all(isinstance(n, dict) for n in numbering):
        raise DatasetError("teamleader.numbering", "(list)", "must be an array of objects")


def _check_references(parsed: dict[str, list[Any]]) -> None:
    ids = {key: {item.id for item in items} for key, items in parsed.items()}
    rate_department = {t.id: t.department.id for t in parsed["taxRates"]}

    def fail(key: str, index: int, item: Any, field: str, message: str) -> None:
        raise DatasetError(f"teamleader.{key}[{index}] (id {item.id[:8]}…)", field, message)

    for index, rate in enumerate(parsed["taxRates"]):
        if rate.department.id not in ids["departments"]:
            fail("taxRates", index, rate, "department.id", "no such department")
    for index, category in enumerate(parsed["productCategories"]):
        for n, ledger in enumerate(category.ledgers):
            if ledger.department.id not in ids["departments"]:
                fail(
                    "productCategories",
                    index,
                    category,
                    f"ledgers.{n}.department.id",
                    "no such department",
                )
    for key in ("invoices", "creditNotes"):
        for index, doc in enumerate(parsed[key]):
            if doc.department.id not in ids["departments"]:
                fail(key, index, doc, "department.id", "no such department")
            customer = doc.invoicee.customer
            collection = {"contact": "contacts", "company": "companies"}.get(customer.type)
            if collection is None or customer.id not in ids[collection]:
                fail(key, index, doc, "invoicee.customer", f"no such {customer.type}")
            for g, group in enumerate(doc.grouped_lines):
                for n, line in enumerate(group.line_items):
                    where = f"grouped_lines.{g}.line_items.{n}"
                    if rate_department.get(line.tax.id) != doc.department.id:
                        fail(
                            key,
                            index,
                            doc,
                            f"{where}.tax.id",
                            "no such tax rate in the document's department",
                        )
                    category = line.product_category
                    if category and category.id not in ids["productCategories"]:
                        fail(
                            key,
                            index,
                            doc,
                            f"{where}.product_category.id",
                            "no such product category",
                        )
            if key == "creditNotes" and doc.invoice and doc.invoice.id not in ids["invoices"]:
                fail(key, index, doc, "invoice.id", "no such invoice")
