"""Teamleader-shaped objects: references, money, document lines, and the ``.list`` projections.

The simulator keeps every customer and document in its ``.info`` shape (money as
``Decimal``); a ``.list`` item is a projection of it, because the real lists are thinner
(``contacts.list`` has ``primary_address`` instead of ``addresses``, no ``vat_number``, no
company links; ``invoices.list`` has no lines).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sandbox.teamleader.documents import DocumentTotals, LineInput, LineTotals, line_totals

WEB = "https://focus.teamleader.eu"


def ref(kind: str, id_: str) -> dict[str, str]:
    return {"type": kind, "id": id_}


def money(amount: Decimal, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def timestamp(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS+00:00``, the way Teamleader writes ``*_at`` fields."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 datetime; a missing offset is taken as UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- document lines -------------------------------------------------------------------------


def line_item(
    line: Mapping[str, Any], rate: Decimal, currency: str, *, credit_note: bool
) -> tuple[dict[str, Any], LineInput]:
    """One ``grouped_lines[].line_items[]`` entry from a compact line.

    Compact line: ``{description, quantity, unit_price, tax_rate_id,
    discount_percentage?, product_category_id?, extended_description?}``."""
    quantity = Decimal(str(line["quantity"]))
    unit_price = Decimal(str(line["unit_price"]))
    discount = line.get("discount_percentage")
    discount_pct = Decimal(str(discount)) if discount not in (None, 0, "0") else Decimal(0)
    computation = LineInput(quantity, unit_price, rate, discount_pct)
    totals: LineTotals = line_totals(computation)
    # Since API version 2023-09-26 invoice lines carry no unit price currency; the
    # credit-note description still documents a full Money there.
    price: dict[str, Any] = {"amount": unit_price, "tax": "excluding"}
    if credit_note:
        price = {"amount": unit_price, "currency": currency, "tax": "excluding"}
    category = line.get("product_category_id")
    item: dict[str, Any] = {
        "product": None,
        "quantity": quantity,
        "description": str(line["description"]),
        "extended_description": line.get("extended_description"),
        "unit": None,
        "unit_price": price,
        "tax": ref("taxRate", str(line["tax_rate_id"])),
        "discount": {"type": "percentage", "value": discount_pct} if discount_pct else None,
        "total": {
            "tax_exclusive": money(totals.tax_exclusive, currency),
            "tax_exclusive_before_discount": money(totals.tax_exclusive_before_discount, currency),
            "tax_inclusive": money(totals.tax_inclusive, currency),
            "tax_inclusive_before_discount": money(totals.tax_inclusive_before_discount, currency),
        },
        "product_category": ref("productCategory", str(category)) if category else None,
    }
    if credit_note:
        item["extended_description"] = item["extended_description"] or ""
    else:
        item["withheld_tax"] = None
    return item, computation


def compact_lines(grouped_lines: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The compact form of stored lines (for recomputation and for crediting)."""
    out = []
    for group in grouped_lines:
        for item in group["line_items"]:
            discount = item.get("discount") or {}
            category = item.get("product_category") or {}
            out.append(
                {
                    "description": item["description"],
                    "extended_description": item.get("extended_description"),
                    "quantity": item["quantity"],
                    "unit_price": item["unit_price"]["amount"],
                    "tax_rate_id": item["tax"]["id"],
                    "discount_percentage": discount.get("value"),
                    "product_category_id": category.get("id"),
                }
            )
    return out


def taxes_json(totals: DocumentTotals, currency: str) -> list[dict[str, Any]]:
    return [
        {"rate": t.rate, "taxable": money(t.taxable, currency), "tax": money(t.tax, currency)}
        for t in totals.taxes
    ]


def exchange_rate(currency: str, department_currency: str, rate: Decimal | None) -> dict:
    return {"from": currency, "to": department_currency, "rate": rate or Decimal(1)}


# -- .list projections ----------------------------------------------------------------------

CONTACT_LIST_KEYS = [
    "id",
    "first_name",
    "last_name",
    "status",
    "salutation",
    "emails",
    "telephones",
    "website",
    "gender",
    "birthdate",
    "iban",
    "bic",
    "national_identification_number",
    "language",
    "payment_term",
    "invoicing_preferences",
    "tags",
    "added_at",
    "updated_at",
    "web_url",
    "marketing_mails_consent",
]

COMPANY_LIST_KEYS = [
    "id",
    "name",
    "status",
    "business_type",
    "vat_number",
    "national_identification_number",
    "emails",
    "telephones",
    "website",
    "iban",
    "bic",
    "language",
    "preferred_currency",
    "payment_term",
    "invoicing_preferences",
    "responsible_user",
    "added_at",
    "updated_at",
    "web_url",
    "tags",
    "marketing_mails_consent",
]

INVOICE_LIST_KEYS = [
    "id",
    "department",
    "invoice_number",
    "invoice_date",
    "status",
    "due_on",
    "paid",
    "paid_at",
    "sent",
    "purchase_order_number",
    "payment_reference",
    "currency_exchange_rate",
    "created_at",
    "updated_at",
    "file",
    "deal",
    "project",
    "delivery_date",
]

CREDIT_NOTE_LIST_KEYS = [
    "id",
    "department",
    "credit_note_number",
    "credit_note_date",
    "status",
    "invoice",
    "paid",
    "paid_at",
    "created_at",
    "updated_at",
]


def primary_address(addresses: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    for entry in addresses:
        if entry.get("type") == "primary":
            address = dict(entry["address"])
            address.pop("addressee", None)
            return address
    return None


def customer_list_item(info: Mapping[str, Any], keys: Sequence[str], custom: bool) -> dict:
    item = {key: info.get(key) for key in keys}
    item["primary_address"] = primary_address(info.get("addresses") or [])
    if custom:
        item["custom_fields"] = info.get("custom_fields") or []
    return item


#: Where a stored document keeps the raw fields planted by ``/_sandbox/{kind}/{id}/plant``.
PLANTED = "_planted"


def as_sent(item: dict[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
    """``item`` (a projection of ``info``) with the fields planted on ``info`` laid over it
    as they are: a real account returns odd records (an impossible date, a number where
    text belongs), and the planted ones stand for them (ASSUMPTIONS.md)."""
    item.pop(PLANTED, None)
    planted = info.get(PLANTED)
    return {**item, **planted} if planted else item


def invoice_list_item(info: Mapping[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {key: info.get(key) for key in INVOICE_LIST_KEYS}
    invoicee = info["invoicee"]
    item["invoicee"] = {
        "name": invoicee["name"],
        "vat_number": invoicee.get("vat_number"),
        "customer": invoicee["customer"],
        "for_attention_of": invoicee.get("for_attention_of"),
    }
    total = info["total"]
    item["total"] = {key: total[key] for key in ("tax_exclusive", "tax_inclusive", "payable")}
    item["total"]["taxes"] = total["taxes"]
    item["total"]["due"] = total["due"]
    item["web_url"] = f"{WEB}/invoice_detail.php?id={info['id']}"
    return as_sent(item, info)


def credit_note_list_item(info: Mapping[str, Any]) -> dict[str, Any]:
    item = {key: info.get(key) for key in CREDIT_NOTE_LIST_KEYS}
    invoicee = info["invoicee"]
    item["invoicee"] = {
        "name": invoicee["name"],
        "vat_number": invoicee.get("vat_number"),
        "customer": invoicee["customer"],
    }
    item["total"] = dict(info["total"])
    return as_sent(item, info)
