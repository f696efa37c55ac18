"""The reconciliation's comparison (ops/reconcile/compare.py), on books built by hand: the
kinds the pipeline test (tests/pipeline/test_reconcile.py) cannot make cheaply."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from ops.reconcile.compare import (
    AMOUNTS,
    CHANGED,
    CREDITED_INVOICE,
    NOT_FROM_TEAMLEADER,
    Books,
    Posted,
    TeamleaderDocument,
    VismaItem,
    compare,
)

DAY = date(2026, 5, 4)
POSTED_AT = datetime(2026, 5, 4, 12, tzinfo=UTC)


def invoice(sequence: int, total: str = "121.00", **changes: object) -> TeamleaderDocument:
    fields: dict[str, object] = {
        "kind": "invoice",
        "id": f"inv-{sequence}",
        "number": f"2026 / {sequence}",
        "day": DAY,
        "currency": "EUR",
        "payable": Decimal(total),
        "vat": Decimal(total) - Decimal(total) / Decimal("1.21"),
        "paid": Decimal(0),
        "updated_at": POSTED_AT,
        "customer": ("company", "c1"),
        "taxable": (
            (Decimal("0.21"), (Decimal(total) / Decimal("1.21")).quantize(Decimal("0.01"))),
        ),
    }
    fields.update(changes)
    return TeamleaderDocument(**fields)  # type: ignore[arg-type]


def item(number: int, total: str = "121.00", vat: str = "21.00", voucher: str = "v") -> VismaItem:
    return VismaItem(
        id=f"item-{number}",
        number=202600000 + number,
        customer_id="cust",
        day=DAY,
        currency="EUR",
        total=Decimal(total),
        vat=Decimal(vat),
        remaining=Decimal(total),
        voucher_id=f"{voucher}-{number}",
    )


def books(documents: list[TeamleaderDocument], items: list[VismaItem], **extra: object) -> Books:
    extra.setdefault("posted", [])
    return Books(start=DAY, end=DAY, documents=documents, items=items, **extra)  # type: ignore[arg-type]


def test_matching_books_have_no_difference() -> None:
    result = compare(books([invoice(1)], [item(1)]))
    assert (result.documents, result.matching, result.differences) == (1, 1, ())
    assert result.summary() == "1 documents, 1 match, 0 differences"


def test_revenue_booked_at_another_rate_than_teamleaders_is_an_amount_difference() -> None:
    # The voucher books the 100.00 at 9 % although Teamleader taxed it at 21 %
    revenue = {"v-1": {Decimal("0.09"): Decimal("100.00")}}
    result = compare(
        books([invoice(1)], [item(1)], revenue_by_voucher=revenue, company_currency="EUR")
    )
    (difference,) = result.differences
    assert difference.kind == AMOUNTS
    assert "revenue at 21 % 100.00 in Teamleader, 0.00 in Visma" in difference.detail
    assert "revenue at 9 % 0.00 in Teamleader, 100.00 in Visma" in difference.detail


def test_a_document_changed_in_teamleader_after_its_posting_is_told_from_a_change_in_visma() -> (
    None
):
    later = datetime(2026, 5, 5, tzinfo=UTC)
    link = Posted("invoice", "inv-1", "item-1", 202600001, POSTED_AT)
    changed = compare(books([invoice(1, "242.00", updated_at=later)], [item(1)], posted=[link]))
    in_visma = compare(books([invoice(1, "242.00")], [item(1)], posted=[link]))
    assert [d.kind for d in changed.differences] == [CHANGED]
    assert [d.kind for d in in_visma.differences] == [AMOUNTS]
    assert "credit" not in in_visma.differences[0].advice.split(":")[0]


def test_a_credit_note_whose_invoice_has_no_posting_is_named_and_an_unexplained_item_too() -> None:
    note = invoice(2, kind="credit_note", id="cn-1", number="2026 / 1", credits="inv-9", taxable=())
    stray = item(77)
    credit = VismaItem(
        **{
            **item(0).__dict__,
            "id": "cn-item",
            "number": 202690001,
            "total": Decimal("-121.00"),
            "vat": Decimal("-21.00"),
        }
    )
    result = compare(books([note], [credit, stray]))
    kinds = sorted(d.kind for d in result.differences)
    assert kinds == sorted([CREDITED_INVOICE, NOT_FROM_TEAMLEADER])
    assert any("inv-9" in d.detail for d in result.differences)
