"""Teamleader invoices and credit notes → Visma ledger items with voucher, case by case."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from clients.teamleader.models import Invoice
from clients.visma.models import CustomerLedgerItemWithVoucher
from sandbox.visma.company import CHART_OF_ACCOUNTS, vat_code_id
from tests.translation.support import (
    CUSTOMER_ID,
    Rate,
    check,
    company,
    credit_note,
    document,
    invoice,
    line,
    net,
    posting_map,
)
from translation.errors import (
    MissingAccount,
    NothingToPost,
    TranslationError,
    UnmappedTaxRate,
    UnsupportedDocument,
)
from translation.ledger_items import fingerprint, posting_for_credit_note, posting_for_invoice
from translation.posting_map import PostingMap, VatMapping

D = Decimal


def rows(posting: CustomerLedgerItemWithVoucher) -> list[tuple[int, Decimal, Decimal]]:
    return [
        (r.AccountNumber, r.DebitAmount or D(0), r.CreditAmount or D(0))
        for r in posting.Voucher.Rows
    ]


def post(document_: Invoice, mapping: PostingMap | None = None) -> CustomerLedgerItemWithVoucher:
    posting = posting_for_invoice(document_, CUSTOMER_ID, mapping or posting_map())
    check(company(), posting)  # every posting here also passes the simulator's rule
    return posting


# -- the ordinary cases -----------------------------------------------------------------------


def test_an_invoice_debits_receivables_and_credits_revenue_per_category_and_vat_per_rate() -> None:
    posting = post(
        invoice(
            [
                line("Advies", "2", "125", category="cat-consultancy"),
                line("Licentie", "1", "899", category="cat-licenties"),
                line("Boek", "1", "20", "tr-9"),
            ],
            payment_reference="  +++090/9337/55493+++  ",
        )
    )
    assert posting.InvoiceNumber == 202600017
    assert posting.IsCreditInvoice is False
    assert posting.CurrencyCode == "EUR" and posting.CurrencyRate is None
    assert posting.TotalAmountInvoiceCurrency == D("1412.09")  # 1169.00 + 241.29 + 1.80
    assert posting.RemainingAmountInvoiceCurrency == D("1412.09")
    assert posting.VATAmountInvoiceCurrency == D("243.09")
    assert posting.InvoiceDate == posting.Voucher.VoucherDate == date(2026, 3, 1)
    assert posting.DueDate == date(2026, 3, 31)
    assert posting.PaymentReferenceNumber == "+++090/9337/55493+++"
    assert posting.Voucher.VoucherText == "Teamleader factuur 2026 / 17 · Acme B.V."
    assert rows(posting) == [
        (1300, D("1412.09"), D(0)),
        (8010, D(0), D("20.00")),
        (8100, D(0), D("250.00")),
        (8200, D(0), D("899.00")),
        (1510, D(0), D("241.29")),
        (1520, D(0), D("1.80")),
    ]
    codes = [r.VatCodeId for r in posting.Voucher.Rows]
    assert codes == [None, vat_code_id("1b"), vat_code_id("1a"), vat_code_id("1a"), None, None]
    texts = [r.TransactionText for r in posting.Voucher.Rows]
    assert texts[1:] == [
        "Omzet · 9%",
        "Consultancy · 21%",
        "Licenties · 21%",
        "BTW 21%",
        "BTW 9%",
    ]


def test_a_line_without_a_category_ledger_books_to_its_vat_mappings_revenue_account() -> None:
    posting = post(
        invoice(
            [
                line("Kabel", "3", "4.3275", category="cat-hardware"),  # no ledger for it
                line("Diversen", "1", "10"),  # no category at all
                line("Advies", "1", "100", category="cat-consultancy"),
            ]
        )
    )
    # Both fall back to 8000 (the 21 % mapping's revenue account) and share one row.
    assert rows(posting)[1:3] == [(8000, D(0), D("22.98")), (8100, D(0), D("100.00"))]
    assert posting.Voucher.Rows[1].TransactionText == "Hardware / Omzet · 21%"


def test_several_zero_rate_tax_ids_get_their_own_rows_and_vat_codes_and_no_vat_row() -> None:
    posting = post(
        invoice(
            [
                line("Binnenland", "1", "100", "tr-0"),
                line("Verlegd", "1", "200", "tr-0-verlegd"),
                line("ICL", "1", "300", "tr-0-icl"),
            ]
        )
    )
    assert posting.VATAmountInvoiceCurrency == D("0.00")
    assert rows(posting) == [
        (1300, D("600.00"), D(0)),
        (8020, D(0), D("100.00")),
        (8030, D(0), D("200.00")),
        (8040, D(0), D("300.00")),
    ]
    assert [r.VatCodeId for r in posting.Voucher.Rows[1:]] == [
        vat_code_id("1e"),
        vat_code_id("2a"),
        vat_code_id("3b"),
    ]


@pytest.mark.parametrize(
    ("price", "tax_rate_id", "per_line_vat", "per_rate_vat"),
    [("0.07", "tr-21", D("0.03"), D("0.04")), ("0.05", "tr-9", D("0.00"), D("0.01"))],
)
def test_vat_is_teamleaders_per_rate_amount_where_per_line_rounding_differs(
    price: str, tax_rate_id: str, per_line_vat: Decimal, per_rate_vat: Decimal
) -> None:
    doc = invoice([line(f"Regel {n}", "1", price, tax_rate_id) for n in range(3)])
    line_vat = sum(
        (ln.total.tax_inclusive.amount - ln.total.tax_exclusive.amount for ln in doc.lines), D(0)
    )
    assert line_vat == per_line_vat  # the lines, rounded one by one, say otherwise …
    posting = post(doc)
    assert posting.VATAmountInvoiceCurrency == per_rate_vat  # … Teamleader's total wins
    assert net(posting.Voucher.Rows, {1510, 1520}) == per_rate_vat
    assert posting.TotalAmountInvoiceCurrency == D(price) * 3 + per_rate_vat


def test_three_lines_of_five_cents_at_21_percent_round_the_same_per_line_and_per_rate() -> None:
    # The brief's example: 0.0105 → 0.01 per line, 0.0315 → 0.03 per rate; no difference.
    posting = post(invoice([line(f"Regel {n}", "1", "0.05") for n in range(3)]))
    assert posting.VATAmountInvoiceCurrency == D("0.03")
    assert posting.TotalAmountInvoiceCurrency == D("0.18")


def test_a_document_discount_scales_the_revenue_rows_to_exactly_teamleaders_taxable() -> None:
    doc = invoice(
        [
            line("Advies", "1", "100.01", category="cat-consultancy"),
            line("Licentie", "1", "100.01", category="cat-licenties"),
            line("Training", "1", "100.01", category="cat-opleidingen"),
        ],
        discounts=["7.5", "33.33"],
    )
    taxable = doc.total.taxes[0].taxable.amount
    assert taxable < sum((ln.total.tax_exclusive.amount for ln in doc.lines), D(0))
    posting = post(doc)
    revenue = [credit for account, _, credit in rows(posting) if account in (8100, 8200, 8300)]
    assert sum(revenue, D(0)) == taxable
    # 300.03 × 0.925 → 277.53; × 0.6667 → 185.03; a third is 61.676…: the largest
    # remainders take the cents, ties to the first row (lowest account).
    assert revenue == [D("61.68"), D("61.68"), D("61.67")]


def test_negative_lines_post_on_the_other_side_of_their_row() -> None:
    posting = post(
        invoice(
            [
                line("Advies", "10", "125", category="cat-consultancy"),
                line("Tegoed", "1", "-200", category="cat-licenties"),
            ]
        )
    )
    assert rows(posting) == [
        (1300, D("1270.50"), D(0)),
        (8100, D(0), D("1250.00")),
        (8200, D("200.00"), D(0)),
        (1510, D(0), D("220.50")),
    ]


def test_a_line_with_a_full_discount_leaves_no_row_but_the_document_posts() -> None:
    posting = post(
        invoice(
            [
                line("Gratis training", "1", "395", "tr-9", discount="100"),
                line("Advies", "1", "100", category="cat-consultancy"),
            ]
        )
    )
    assert rows(posting) == [
        (1300, D("121.00"), D(0)),
        (8100, D(0), D("100.00")),
        (1510, D(0), D("21.00")),
    ]


def test_vat_of_a_rate_shared_by_several_ids_goes_to_the_lowest_id_with_a_vat_account() -> None:
    base = posting_map()
    extra = {
        "a-21": VatMapping("a-21", D("0.21"), "21% oud", vat_code_id("1a"), None, 8900),
        "m-21": VatMapping("m-21", D("0.21"), "21% midden", vat_code_id("1a"), 1520, 8000),
        "z-21": VatMapping("z-21", D("0.21"), "21% nieuw", vat_code_id("1a"), 1510, 8000),
    }
    mapping = posting_map(vat={**base.vat, **extra}, tax_rates={})
    doc = Invoice.model_validate(
        document(
            [
                line("Nieuw", "1", "50", "z-21"),
                line("Oud", "1", "100", "a-21"),
                line("Midden", "1", "10", "m-21"),
            ],
            rates={k: Rate(k, k, D("0.21"), "1a", None, 8000) for k in extra},
        )
    )
    posting = posting_for_invoice(doc, CUSTOMER_ID, mapping)
    # "a-21" sorts first but books no VAT; "m-21" is the lowest id that does. One VAT row
    # for the rate, whatever the order of the lines.
    assert rows(posting) == [
        (1300, D("193.60"), D(0)),
        (8000, D(0), D("10.00")),
        (8000, D(0), D("50.00")),
        (8900, D(0), D("100.00")),
        (1520, D(0), D("33.60")),
    ]
    check(company(), posting)


def test_texts_stay_within_vismas_lengths() -> None:
    mapping = posting_map(category_names={"cat-consultancy": "Consultancy " * 10})
    posting = posting_for_invoice(
        invoice(
            [line("Advies", "1", "100", category="cat-consultancy")],
            invoicee="Een bijzonder lange klantnaam B.V. " * 40,
            payment_reference="R" * 80,
        ),
        CUSTOMER_ID,
        mapping,
    )
    assert all(len(r.TransactionText or "") <= 60 for r in posting.Voucher.Rows)
    assert posting.Voucher.Rows[1].TransactionText.endswith("…")  # type: ignore[union-attr]
    assert len(posting.Voucher.VoucherText) <= 1000
    assert posting.PaymentReferenceNumber == "R" * 50
    check(company(), posting)


def test_missing_optional_fields_are_left_out() -> None:
    body = document([line("Advies", "1", "100")], invoicee=None, payment_reference="   ")
    body |= {"due_on": None, "currency_exchange_rate": None}
    for ln in body["grouped_lines"][0]["line_items"]:
        ln |= {"description": None, "discount": None, "product_category": None}
    posting = post(Invoice.model_validate(body))
    assert posting.DueDate is None
    assert posting.PaymentReferenceNumber is None
    assert posting.Voucher.VoucherText == "Teamleader factuur 2026 / 17"


# -- signs: credit notes and negative invoices ----------------------------------------------


def test_a_credit_note_posts_negative_totals_with_every_side_swapped() -> None:
    lines = [
        line("Advies", "2", "125", category="cat-consultancy"),
        line("Boek", "1", "20", "tr-9"),
    ]
    as_invoice = post(invoice(lines))
    posting = posting_for_credit_note(
        credit_note(lines, number="2026 / 3"), CUSTOMER_ID, posting_map(), 202600017
    )
    check(company(), posting)
    assert posting.InvoiceNumber == 202690003
    assert posting.IsCreditInvoice is True
    assert posting.TotalAmountInvoiceCurrency == -as_invoice.TotalAmountInvoiceCurrency
    assert posting.RemainingAmountInvoiceCurrency == posting.TotalAmountInvoiceCurrency
    assert posting.VATAmountInvoiceCurrency == -as_invoice.VATAmountInvoiceCurrency  # type: ignore[operator]
    assert rows(posting) == [(a, c, d) for a, d, c in rows(as_invoice)]
    assert posting.Voucher.VoucherText == (
        "Teamleader creditnota 2026 / 3 op factuur 202600017 · Acme B.V."
    )
    assert posting.DueDate is None and posting.PaymentReferenceNumber is None


def test_a_credit_note_without_vat_says_zero_vat_not_minus_zero() -> None:
    posting = posting_for_credit_note(
        credit_note([line("ICL", "1", "100", "tr-0-icl")], number="2026 / 6"),
        CUSTOMER_ID,
        posting_map(),
        None,
    )
    assert posting.VATAmountInvoiceCurrency == 0
    assert posting.model_dump(mode="json")["VATAmountInvoiceCurrency"] == "0.00"


def test_a_credit_note_whose_invoice_is_not_known_in_visma_still_posts() -> None:
    posting = posting_for_credit_note(
        credit_note([line("Advies", "1", "100")], number="2026 / 4"),
        CUSTOMER_ID,
        posting_map(),
        None,
    )
    assert posting.Voucher.VoucherText == "Teamleader creditnota 2026 / 4 · Acme B.V."


def test_a_negative_invoice_is_posted_as_a_credit_invoice() -> None:
    posting = post(invoice([line("Retour", "1", "-100", category="cat-consultancy")]))
    assert posting.IsCreditInvoice is True
    assert posting.TotalAmountInvoiceCurrency == D("-121.00")
    assert posting.InvoiceNumber == 202600017  # still numbered as an invoice
    assert rows(posting) == [
        (1300, D(0), D("121.00")),
        (8100, D("100.00"), D(0)),
        (1510, D("21.00"), D(0)),
    ]


def test_a_credit_note_with_a_negative_total_is_posted_as_an_invoice() -> None:
    posting = posting_for_credit_note(
        credit_note([line("Correctie", "1", "-100")], number="2026 / 5"),
        CUSTOMER_ID,
        posting_map(),
        None,
    )
    check(company(), posting)
    assert posting.IsCreditInvoice is False
    assert posting.TotalAmountInvoiceCurrency == D("121.00")


def test_a_zero_total_with_non_zero_lines_is_posted() -> None:
    posting = post(
        invoice(
            [
                line("Advies", "1", "100", category="cat-consultancy"),
                line("Korting", "1", "-121", "tr-0"),
            ]
        )
    )
    assert posting.TotalAmountInvoiceCurrency == D("0.00")
    assert posting.IsCreditInvoice is False
    assert rows(posting) == [
        (8020, D("121.00"), D(0)),
        (8100, D(0), D("100.00")),
        (1510, D(0), D("21.00")),
    ]


# -- foreign currency -----------------------------------------------------------------------


def test_a_foreign_invoice_sends_one_over_teamleaders_rate_and_converts_every_row_with_it() -> None:
    # Teamleader's USD→EUR 1.0832 reads "1.0832 dollars per euro".
    posting = post(
        invoice(
            [
                line("Advies", "2", "125", category="cat-consultancy"),
                line("Boek", "1", "20", "tr-9"),
            ],
            currency="USD",
            exchange_rate="1.0832",
        )
    )
    assert posting.CurrencyCode == "USD"
    assert posting.CurrencyRate == D("0.923191")
    assert posting.TotalAmountInvoiceCurrency == D("324.30")  # dollars, as in Teamleader
    assert rows(posting) == [
        (1300, D("299.39"), D(0)),  # 324.30 × 0.923191 = 299.3908…
        (8010, D(0), D("18.46")),  # 20.00 × … = 18.4638…
        (8100, D(0), D("230.80")),  # 250.00 × … = 230.7977…
        (1510, D(0), D("48.47")),  # 52.50 × … = 48.4675…
        (1520, D(0), D("1.66")),  # 1.80 × … = 1.6617…
    ]


def test_conversion_differences_go_to_the_largest_revenue_row() -> None:
    # At 0.666667: receivables 100.02 × r = 66.68, but the rows convert to 33.35 + 33.34 + 0.01
    # (= 66.70 with VAT 0.00) — found by search; the largest row absorbs the cents.
    doc = invoice(
        [
            line("Advies", "1", "50.01", "tr-0", category="cat-consultancy"),
            line("Licentie", "1", "50.01", "tr-0", category="cat-licenties"),
        ],
        currency="GBP",
        exchange_rate="1.5",
    )
    posting = post(doc)
    assert posting.CurrencyRate == D("0.666667")
    receivables, first, second = rows(posting)
    assert receivables == (1300, D("66.68"), D(0))
    assert first[2] + second[2] == D("66.68")
    assert sorted([first[2], second[2]]) == [D("33.34"), D("33.34")]


def test_a_foreign_document_without_exchange_rate_is_refused() -> None:
    body = document([line("Advies", "1", "100")], currency="USD")
    body["currency_exchange_rate"] = None
    with pytest.raises(UnsupportedDocument) as raised:
        posting_for_invoice(Invoice.model_validate(body), CUSTOMER_ID, posting_map())
    assert "2026 / 17" in raised.value.reason
    assert "no exchange rate" in raised.value.reason


def test_a_foreign_document_with_a_zero_exchange_rate_is_refused() -> None:
    doc = invoice([line("Advies", "1", "100")], currency="USD", exchange_rate="0")
    with pytest.raises(UnsupportedDocument):
        posting_for_invoice(doc, CUSTOMER_ID, posting_map())


def test_an_exchange_rate_to_another_currency_than_the_companys_is_refused() -> None:
    body = document([line("Advies", "1", "100")], currency="USD", exchange_rate="1.1")
    body["currency_exchange_rate"]["to"] = "GBP"
    with pytest.raises(UnsupportedDocument) as raised:
        posting_for_invoice(Invoice.model_validate(body), CUSTOMER_ID, posting_map())
    assert "GBP" in raised.value.reason and "EUR" in raised.value.reason


def test_the_currency_falls_back_to_the_payable_total_and_must_exist() -> None:
    body = document([line("Advies", "1", "100")], currency="USD", exchange_rate="2")
    body["currency"] = None
    posting = posting_for_invoice(Invoice.model_validate(body), CUSTOMER_ID, posting_map())
    assert posting.CurrencyCode == "USD" and posting.CurrencyRate == D("0.5")
    body = document([line("Advies", "1", "100")])
    body["currency"] = None
    body["currency_exchange_rate"] = None
    body["total"]["payable"]["currency"] = None
    with pytest.raises(UnsupportedDocument) as raised:
        posting_for_invoice(Invoice.model_validate(body), CUSTOMER_ID, posting_map())
    assert "no currency" in raised.value.reason


def test_a_foreign_credit_note_converts_like_its_invoice_with_sides_swapped() -> None:
    lines = [
        line("Advies", "3", "33.33", category="cat-consultancy"),
        line("Boek", "1", "9.99", "tr-9"),
    ]
    as_invoice = post(invoice(lines, currency="GBP", exchange_rate="0.8571"))
    posting = posting_for_credit_note(
        credit_note(lines, currency="GBP", exchange_rate="0.8571", number="2026 / 1"),
        CUSTOMER_ID,
        posting_map(),
        as_invoice.InvoiceNumber,
    )
    check(company(), posting)
    assert posting.CurrencyRate == as_invoice.CurrencyRate == D("1.166725")
    assert rows(posting) == [(a, c, d) for a, d, c in rows(as_invoice)]


def test_a_refused_conversion_names_the_document_and_the_rate() -> None:
    # Two rows of 0.01 £ at 0.666667 both round to 0.01 €, the total to 0.01 €: the
    # difference would erase a row, which is not a rounding correction any more.
    doc = invoice(
        [line("A", "1", "0.01", "tr-0"), line("B", "1", "0.01", "tr-9")],
        currency="GBP",
        exchange_rate="1.5",
    )
    with pytest.raises(UnsupportedDocument) as raised:
        posting_for_invoice(doc, CUSTOMER_ID, posting_map())
    assert "2026 / 17" in raised.value.reason and "0.666667" in raised.value.reason


# -- refusals ------------------------------------------------------------------------------


def test_an_unmapped_tax_rate_names_its_id_description_rate_and_the_fix() -> None:
    from clients.teamleader.models import TaxRate

    base = posting_map()
    mapping = posting_map(
        vat={k: v for k, v in base.vat.items() if k != "tr-9"},
        tax_rates={"tr-9": TaxRate(id="tr-9", description="BTW laag", rate=D("0.09"))},
    )
    doc = invoice([line("Boek", "1", "20", "tr-9"), line("Advies", "1", "100")])
    with pytest.raises(UnmappedTaxRate) as raised:
        posting_for_invoice(doc, CUSTOMER_ID, mapping)
    reason = raised.value.reason
    assert raised.value.tax_rate_ids == ("tr-9",)
    for part in ("2026 / 17", "tr-9", "'BTW laag'", "9 %", "'Boek'", "koppel mappings set"):
        assert part in reason
    assert isinstance(raised.value, TranslationError)


def test_an_unmapped_tax_rate_without_known_details_is_still_named_by_id() -> None:
    mapping = posting_map(vat={}, tax_rates={})
    with pytest.raises(UnmappedTaxRate) as raised:
        posting_for_invoice(invoice([line("Advies", "1", "100")]), CUSTOMER_ID, mapping)
    assert "tax rate (no description) (id tr-21) on line 'Advies' has no VAT mapping" in (
        raised.value.reason
    )


def test_a_tax_rate_mapped_at_another_rate_than_teamleaders_is_refused() -> None:
    base = posting_map()
    wrong = VatMapping("tr-9", D("0.21"), "9%", vat_code_id("1a"), 1510, 8000)
    mapping = posting_map(vat={**base.vat, "tr-9": wrong})
    with pytest.raises(UnmappedTaxRate) as raised:
        posting_for_invoice(invoice([line("Boek", "1", "20", "tr-9")]), CUSTOMER_ID, mapping)
    assert "mapped as 21 % but is 9 % in Teamleader" in raised.value.reason


def test_a_mapping_rate_that_no_per_rate_total_explains_is_refused_without_known_rates() -> None:
    base = posting_map()
    wrong = VatMapping("tr-9", D("0.21"), "9%", vat_code_id("1a"), 1510, 8000)
    mapping = posting_map(vat={**base.vat, "tr-9": wrong}, tax_rates={})
    with pytest.raises(UnmappedTaxRate) as raised:
        posting_for_invoice(invoice([line("Boek", "1", "20", "tr-9")]), CUSTOMER_ID, mapping)
    reason = raised.value.reason
    assert "tax rate '9%' (id tr-9) on line 'Boek' is mapped as 21 %" in reason
    assert "Teamleader's VAT per rate (9 % (taxable 20.00, VAT 1.80))" in reason


def test_vat_on_a_rate_whose_mapping_has_no_vat_account_is_refused() -> None:
    base = posting_map()
    no_account = VatMapping("tr-21", D("0.21"), "21%", vat_code_id("1e"), None, 8000)
    mapping = posting_map(vat={**base.vat, "tr-21": no_account})
    with pytest.raises(UnmappedTaxRate) as raised:
        posting_for_invoice(invoice([line("Advies", "1", "100")]), CUSTOMER_ID, mapping)
    assert "no VAT account" in raised.value.reason and "21.00" in raised.value.reason


def test_a_missing_category_account_names_the_account_category_and_line() -> None:
    mapping = posting_map(visma_accounts=frozenset(n for n, _, _ in CHART_OF_ACCOUNTS) - {8100})
    doc = invoice([line("Advies op locatie", "1", "100", category="cat-consultancy")])
    with pytest.raises(MissingAccount) as raised:
        posting_for_invoice(doc, CUSTOMER_ID, mapping)
    assert raised.value.accounts == (8100,)
    for part in ("2026 / 17", "8100", "'Consultancy'", "cat-consultancy", "'Advies op locatie'"):
        assert part in raised.value.reason


def test_every_missing_account_is_named_at_once_with_where_it_comes_from() -> None:
    accounts = frozenset(n for n, _, _ in CHART_OF_ACCOUNTS) - {8100, 8010, 1520, 1300}
    doc = invoice(
        [line("Advies", "1", "100", category="cat-consultancy"), line("Boek", "1", "20", "tr-9")]
    )
    with pytest.raises(MissingAccount) as raised:
        posting_for_invoice(doc, CUSTOMER_ID, posting_map(visma_accounts=accounts))
    assert raised.value.accounts == (1300, 1520, 8010, 8100)
    reason = raised.value.reason
    assert "receivables" in reason
    assert "the VAT account of the VAT mapping of tax rate '9%'" in reason
    assert "the revenue account of the VAT mapping of tax rate '9%'" in reason
    assert "'Boek'" in reason and "'Consultancy'" in reason


def test_a_document_with_nothing_to_book_is_nothing_to_post() -> None:
    for doc in (
        invoice([]),
        invoice([line("Gratis", "1", "100", discount="100")]),
        invoice(
            [line("Gratis", "1", "0", "unmapped")],
            rates={"unmapped": Rate("unmapped", "?", D("0.21"), "1a", None, 8000)},
        ),
        invoice([line("Advies", "1", "100"), line("Advies terug", "1", "-100")]),
        invoice([line("Advies", "1", "100")], discounts=["100"]),
    ):
        with pytest.raises(NothingToPost) as raised:
            posting_for_invoice(doc, CUSTOMER_ID, posting_map())
        assert "2026 / 17" in raised.value.reason


def test_a_draft_is_not_posted() -> None:
    body = document([line("Advies", "1", "100")])
    body |= {"status": "draft", "invoice_number": None, "invoice_date": None}
    with pytest.raises(UnsupportedDocument) as raised:
        posting_for_invoice(Invoice.model_validate(body), CUSTOMER_ID, posting_map())
    assert "draft" in raised.value.reason


def test_totals_without_lines_are_refused() -> None:
    body = document([line("Advies", "1", "100")])
    body["grouped_lines"] = []
    with pytest.raises(UnsupportedDocument) as raised:
        posting_for_invoice(Invoice.model_validate(body), CUSTOMER_ID, posting_map())
    assert "no lines" in raised.value.reason


def test_totals_that_do_not_add_up_are_refused() -> None:
    body = document([line("Advies", "1", "100")])
    body["total"]["payable"]["amount"] = D("100.00")  # as if 21.00 were withheld
    with pytest.raises(UnsupportedDocument) as raised:
        posting_for_invoice(Invoice.model_validate(body), CUSTOMER_ID, posting_map())
    assert "withholding" in raised.value.reason


def test_an_invoice_number_the_rule_cannot_express_is_refused_naming_the_document() -> None:
    with pytest.raises(UnsupportedDocument) as raised:
        posting_for_invoice(
            invoice([line("Advies", "1", "100")], number="2026 / 100000"),
            CUSTOMER_ID,
            posting_map(),
        )
    assert raised.value.reason.startswith("Teamleader invoice 2026 / 100000:")


# -- the fingerprint -------------------------------------------------------------------------


def test_the_fingerprint_is_stable_and_changes_with_any_amount() -> None:
    lines = [line("Advies", "2", "125", category="cat-consultancy")]
    first = posting_for_invoice(invoice(lines), CUSTOMER_ID, posting_map())
    again = posting_for_invoice(invoice(lines), CUSTOMER_ID, posting_map())
    changed = posting_for_invoice(
        invoice([line("Advies", "2", "125.01", category="cat-consultancy")]),
        CUSTOMER_ID,
        posting_map(),
    )
    assert fingerprint(first) == fingerprint(again)
    assert len(fingerprint(first)) == 64
    assert fingerprint(changed) != fingerprint(first)


def test_the_fingerprint_treats_equal_amounts_written_differently_alike() -> None:
    posting = posting_for_invoice(invoice([line("Advies", "1", "100")]), CUSTOMER_ID, posting_map())
    rewritten = posting.model_copy(
        update={
            "TotalAmountInvoiceCurrency": D("121.0"),
            "RemainingAmountInvoiceCurrency": D("121"),
            "Voucher": posting.Voucher.model_copy(
                update={
                    "Rows": [
                        r.model_copy(update={"DebitAmount": D("121.000")}) if r.DebitAmount else r
                        for r in posting.Voucher.Rows
                    ]
                }
            ),
        }
    )
    assert str(rewritten.TotalAmountInvoiceCurrency) != str(posting.TotalAmountInvoiceCurrency)
    assert fingerprint(rewritten) == fingerprint(posting)
    other_customer = posting.model_copy(update={"CustomerId": "another"})
    assert fingerprint(other_customer) != fingerprint(posting)


def test_an_amount_too_large_to_compute_is_refused_naming_the_document() -> None:
    body = document([line("Advies", "1", "100")])
    body["total"]["payable"]["amount"] = D("1e40")  # cents of it need 43 digits
    with pytest.raises(UnsupportedDocument) as raised:
        posting_for_invoice(Invoice.model_validate(body), CUSTOMER_ID, posting_map())
    assert raised.value.reason.startswith("Teamleader invoice 2026 / 17:")


def test_translation_errors_survive_a_pickle_round_trip_with_their_reason() -> None:
    import pickle

    mapping = posting_map(vat={}, tax_rates={})
    with pytest.raises(UnmappedTaxRate) as unmapped:
        posting_for_invoice(invoice([line("Advies", "1", "100")]), CUSTOMER_ID, mapping)
    accounts = frozenset(n for n, _, _ in CHART_OF_ACCOUNTS) - {8000}
    with pytest.raises(MissingAccount) as missing:
        posting_for_invoice(
            invoice([line("Advies", "1", "100")]), CUSTOMER_ID, posting_map(visma_accounts=accounts)
        )
    for error in (unmapped.value, missing.value, NothingToPost("x"), UnsupportedDocument("y")):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and copy.reason == error.reason


def test_a_total_beyond_vismas_range_is_refused() -> None:
    doc = invoice([line("Vliegtuig", "1", "90000000")])  # 108,900,000.00 with VAT
    with pytest.raises(UnsupportedDocument) as raised:
        posting_for_invoice(doc, CUSTOMER_ID, posting_map())
    assert "99999999.99" in raised.value.reason
