"""Typed results of the Teamleader client.

Money is ``Decimal``. Every model keeps unknown fields (``extra="allow"``), so a field
Teamleader adds later survives a round trip, and treats ``null`` and an absent key alike:
a missing list is ``[]``, a missing scalar ``None``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, get_origin

from pydantic import BaseModel, ConfigDict, model_validator


class TeamleaderModel(BaseModel):
    model_config = ConfigDict(extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _null_lists_are_empty(cls, data: Any) -> Any:
        """Teamleader writes an empty list as ``[]`` but we accept ``null`` too."""
        if not isinstance(data, dict):
            return data
        names = _LIST_FIELDS.get(cls)
        if names is None:
            # Once per class: this runs for every nested object of every response (62 per
            # invoice), and walking model_fields each time was ~75 % of its validation CPU.
            fields = cls.model_fields.items()
            names = _LIST_FIELDS[cls] = tuple(
                name for name, info in fields if get_origin(info.annotation) is list
            )
        nulls = [name for name in names if name in data and data[name] is None]
        if not nulls:
            return data
        fixed = dict(data)
        for name in nulls:
            fixed[name] = []
        return fixed


#: The list fields of each model class (names), by class.
_LIST_FIELDS: dict[type[TeamleaderModel], tuple[str, ...]] = {}


class TypeAndId(TeamleaderModel):
    type: str | None = None
    id: str


class Money(TeamleaderModel):
    amount: Decimal
    currency: str | None = None


class User(TeamleaderModel):
    id: str
    account: TypeAndId | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None


class Email(TeamleaderModel):
    type: str | None = None
    email: str


class Telephone(TeamleaderModel):
    type: str | None = None
    number: str


class Address(TeamleaderModel):
    line_1: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None
    addressee: str | None = None


class TypedAddress(TeamleaderModel):
    type: str
    address: Address


class Department(TeamleaderModel):
    id: str
    name: str | None = None
    vat_number: str | None = None
    currency: str | None = None
    emails: list[Email] = []
    address: Address | None = None
    iban: str | None = None
    bic: str | None = None
    status: str | None = None


class TaxRate(TeamleaderModel):
    id: str
    description: str | None = None
    rate: Decimal
    department: TypeAndId | None = None


class Ledger(TeamleaderModel):
    department: TypeAndId
    ledger_account_number: str | None = None


class ProductCategory(TeamleaderModel):
    id: str
    name: str | None = None
    ledgers: list[Ledger] = []

    def ledger_for(self, department_id: str) -> str | None:
        """The ledger account number this category books to in one department."""
        for ledger in self.ledgers:
            if ledger.department.id == department_id:
                return ledger.ledger_account_number
        return None


class PaymentMethod(TeamleaderModel):
    id: str
    name: str | None = None
    status: str | None = None


class PaymentTerm(TeamleaderModel):
    type: str
    days: int | None = None


class Customer(TeamleaderModel):
    id: str
    status: str | None = None
    vat_number: str | None = None
    emails: list[Email] = []
    telephones: list[Telephone] = []
    #: ``.info`` only; ``.list`` has :attr:`primary_address` instead.
    addresses: list[TypedAddress] = []
    primary_address: Address | None = None
    language: str | None = None
    payment_term: PaymentTerm | None = None
    added_at: datetime | None = None
    updated_at: datetime | None = None

    def address(self, kind: str = "invoicing") -> Address | None:
        """The ``kind`` address, else the primary one (billing: invoicing first)."""
        by_type = {entry.type: entry.address for entry in self.addresses}
        return by_type.get(kind) or by_type.get("primary") or self.primary_address

    def email(self, kind: str = "invoicing") -> str | None:
        by_type = {entry.type: entry.email for entry in self.emails}
        return by_type.get(kind) or by_type.get("primary")


class Contact(Customer):
    first_name: str | None = None
    last_name: str | None = None

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


class Company(Customer):
    name: str | None = None
    national_identification_number: str | None = None
    preferred_currency: str | None = None


class UnitPrice(TeamleaderModel):
    amount: Decimal
    currency: str | None = None
    tax: str | None = None


class Discount(TeamleaderModel):
    type: str | None = None
    value: Decimal


class LineTotal(TeamleaderModel):
    tax_exclusive: Money
    tax_exclusive_before_discount: Money | None = None
    tax_inclusive: Money
    tax_inclusive_before_discount: Money | None = None


class LineItem(TeamleaderModel):
    quantity: Decimal
    description: str | None = None
    extended_description: str | None = None
    unit_price: UnitPrice
    tax: TypeAndId
    discount: Discount | None = None
    total: LineTotal
    product_category: TypeAndId | None = None


class LineGroup(TeamleaderModel):
    section: dict[str, Any] | None = None
    line_items: list[LineItem] = []


class TaxTotal(TeamleaderModel):
    rate: Decimal
    taxable: Money
    tax: Money


class DocumentTotal(TeamleaderModel):
    tax_exclusive: Money
    tax_inclusive: Money
    payable: Money
    taxes: list[TaxTotal] = []
    #: Invoices only.
    due: Money | None = None


class Invoicee(TeamleaderModel):
    name: str | None = None
    vat_number: str | None = None
    customer: TypeAndId
    email: str | None = None


class ExchangeRate(TeamleaderModel):
    #: Amount in ``to`` = amount in ``from`` ÷ ``rate`` (see the sandbox ASSUMPTIONS.md).
    from_: str | None = None
    to: str | None = None
    rate: Decimal | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_keyword(cls, data: Any) -> Any:
        if isinstance(data, dict) and "from" in data:
            data = {**data, "from_": data["from"]}
            data.pop("from")
        return data


class Payment(TeamleaderModel):
    paid_at: datetime
    payment: Money


class Document(TeamleaderModel):
    id: str
    department: TypeAndId
    invoicee: Invoicee
    total: DocumentTotal
    #: ``.info`` only.
    grouped_lines: list[LineGroup] = []
    currency: str | None = None
    currency_exchange_rate: ExchangeRate | None = None
    paid: bool = False
    paid_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def lines(self) -> list[LineItem]:
        return [line for group in self.grouped_lines for line in group.line_items]


class Invoice(Document):
    invoice_number: str | None = None
    invoice_date: date | None = None
    status: str
    due_on: date | None = None
    payments: list[Payment] = []
    payment_reference: str | None = None
    purchase_order_number: str | None = None


class CreditNote(Document):
    credit_note_number: str | None = None
    credit_note_date: date | None = None
    status: str | None = None
    invoice: TypeAndId | None = None


class Webhook(TeamleaderModel):
    url: str
    types: list[str] = []
