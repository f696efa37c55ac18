"""Row VAT amounts sent to Dutch and Danish companies, and the comparison of the rows Visma
booked with the rows sent (a VAT code Visma replaced is never adopted)."""

from __future__ import annotations

from decimal import Decimal

from clients.visma.models import VoucherRow
from sandbox.visma.company import vat_code_id
from tests.translation.support import CUSTOMER_ID, invoice, line, posting_map
from translation.ledger_items import fingerprint, posting_for_invoice, row_differences


def test_each_revenue_row_carries_its_share_of_its_rates_vat_for_a_dutch_company() -> None:
    document = invoice(
        [
            line("Advies", "1", "100.01", category="cat-consultancy"),
            line("Licentie", "1", "200.02", category="cat-licenties"),
            line("Boek", "1", "20", "tr-9"),
        ]
    )
    posting = posting_for_invoice(document, CUSTOMER_ID, posting_map(company_country="NL"))
    rows = posting.Voucher.Rows
    high = [r for r in rows if r.VatCodeId == vat_code_id("1a")]
    low = [r for r in rows if r.VatCodeId == vat_code_id("1b")]
    vat_high = sum(
        (r.CreditAmount or Decimal(0) for r in rows if r.AccountNumber == 1510), Decimal(0)
    )
    assert sum((r.VatAmount or Decimal(0) for r in high), Decimal(0)) == vat_high
    assert [r.VatAmount for r in low] == [Decimal("1.80")]


def test_no_row_vat_amount_is_sent_to_a_company_outside_the_netherlands_and_denmark() -> None:
    document = invoice([line("Advies", "1", "100")])
    dutch = posting_for_invoice(document, CUSTOMER_ID, posting_map(company_country="NL"))
    belgian = posting_for_invoice(document, CUSTOMER_ID, posting_map(company_country="BE"))
    assert all(r.VatAmount is None for r in belgian.Voucher.Rows)
    # and the row VAT amount leaves the fingerprint as it was before it was sent
    assert fingerprint(dutch) == fingerprint(belgian)


def test_a_vat_code_visma_replaced_is_named_with_its_row_and_account() -> None:
    sent = [
        VoucherRow(AccountNumber=1300, DebitAmount=Decimal("109")),
        VoucherRow(
            AccountNumber=8000,
            CreditAmount=Decimal("100"),
            VatCodeId=vat_code_id("1b"),
            VatAmount=Decimal("9"),
        ),
    ]
    booked = [
        sent[0],
        VoucherRow(
            AccountNumber=8000,
            CreditAmount=Decimal("100"),
            VatCodeId=vat_code_id("1a"),
            VatAmount=Decimal("9"),
        ),
    ]
    [problem] = row_differences(sent, booked)
    assert problem.startswith("row 2 (account 8000) was sent with VAT code")
    assert vat_code_id("1a") in problem
    assert row_differences(sent, sent) == []
