"""The exchange rate's direction (issue 13, point 4): the labels say which side is which,
the connection may flip the reading, and the posting says which conversion it used."""

from __future__ import annotations

from decimal import Decimal

from clients.teamleader.models import Invoice
from clients.visma.models import CustomerLedgerItemWithVoucher
from tests.translation.support import (
    CUSTOMER_ID,
    check,
    company,
    document,
    line,
    posting_map,
)
from translation.ledger_items import conversion_of, posting_for_invoice
from translation.posting_map import PostingMap

D = Decimal


def usd_invoice(price: str, source: str, target: str, rate: str) -> Invoice:
    body = document([line("Advies", "1", price, "tr-0")], currency="USD", exchange_rate=rate)
    body["currency_exchange_rate"] = {"from": source, "to": target, "rate": rate}
    return Invoice.model_validate(body)


def post(invoice: Invoice, mapping: PostingMap | None = None) -> CustomerLedgerItemWithVoucher:
    posting = posting_for_invoice(invoice, CUSTOMER_ID, mapping or posting_map())
    check(company(), posting)  # the simulator's rule accepts it
    return posting


def test_a_rate_labelled_from_the_companys_currency_is_read_by_the_same_rule() -> None:
    # USD→EUR 2 reads "2 dollars a euro"; EUR→USD 0.5 reads "0.5 euro a dollar": the same.
    usual = post(usd_invoice("100", "USD", "EUR", "2"))
    reversed_labels = post(usd_invoice("100", "EUR", "USD", "0.5"))

    assert usual.CurrencyRate == reversed_labels.CurrencyRate == D("0.5")
    receivables = [r.DebitAmount for r in reversed_labels.Voucher.Rows if r.AccountNumber == 1300]
    assert receivables == [D("50.00")]


def test_the_connections_flipped_reading_turns_the_rule_around_for_both_labellings() -> None:
    flipped = posting_map(exchange_rate_reading="flipped")

    assert post(usd_invoice("100", "USD", "EUR", "0.5"), flipped).CurrencyRate == D("0.5")
    assert post(usd_invoice("100", "EUR", "USD", "2"), flipped).CurrencyRate == D("0.5")


def test_the_voucher_text_shows_the_conversion_a_bookkeeper_can_check() -> None:
    posting = post(usd_invoice("6050", "USD", "EUR", "1.0845"))  # at 0 % VAT

    expected = "USD 6,050.00 at 1.0845 = EUR 5,578.61"
    assert expected in posting.Voucher.VoucherText
    assert conversion_of(posting) == expected


def test_a_document_in_the_companys_currency_shows_no_conversion() -> None:
    body = document([line("Advies", "1", "100", "tr-0")])

    posting = post(Invoice.model_validate(body))

    assert conversion_of(posting) is None and " at " not in posting.Voucher.VoucherText


def test_a_number_koppel_allocated_is_posted_and_teamleaders_stays_in_the_voucher_text() -> None:
    body = document([line("Advies", "1", "100", "tr-0")])
    body["invoice_number"] = "FY2026 / 3"

    posting = post_numbered(Invoice.model_validate(body), 1_000_000_001)

    assert posting.InvoiceNumber == 1_000_000_001
    assert posting.Voucher.VoucherText.startswith("Teamleader factuur FY2026 / 3")


def post_numbered(invoice: Invoice, number: int) -> CustomerLedgerItemWithVoucher:
    posting = posting_for_invoice(invoice, CUSTOMER_ID, posting_map(), number)
    check(company(), posting)
    return posting
