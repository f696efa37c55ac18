"""A Teamleader invoice or credit note → a Visma customer ledger item with voucher.

Pure functions (no I/O): docs/architecture.md#postings and the simulator's rule
(``sandbox/visma/posting_rules.py``) are the contract. In short:

* the ledger item carries Teamleader's own totals in the document currency, to the cent;
  a credit note (positive in Teamleader) and a negative invoice become credit invoices;
* the voucher is in the company currency: receivables debit, one revenue row per
  (ledger account, tax rate id) with the mapped VAT code, one VAT row per VAT rate;
* revenue rows of a rate add up to exactly Teamleader's per-rate ``taxable`` (which
  document-level discounts lower below the sum of the lines), the VAT rows are Teamleader's
  per-rate tax, and the voucher balances;
* every text (voucher text, row texts, payment reference) is cleaned of control characters
  and bidi overrides (``translation/clean_text.py``): a customer or category name typed
  with an escape sequence reaches Visma without it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import (
    ROUND_FLOOR,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Any

from clients.teamleader.models import CreditNote, Document, Invoice, LineItem
from clients.visma.models import CustomerLedgerItemWithVoucher, Voucher, VoucherRow
from translation.clean_text import clean
from translation.errors import (
    AccountProblem,
    MissingAccount,
    NothingToPost,
    TaxRateProblem,
    UnmappedTaxRate,
    UnsupportedDocument,
    line_list,
    percent,
)
from translation.numbers import visma_invoice_number
from translation.posting_map import PostingMap, VatMapping, voucher_date_for

CENT = Decimal("0.01")
ZERO = Decimal(0)
ONE = Decimal(1)
#: Visma's CurrencyRate is sent with 6 decimals; every row uses exactly that value.
RATE_QUANTUM = Decimal("0.000001")
#: The ledger item totals' range in Visma's description (``CustomerLedgerItemWithVoucherApi``).
MAX_AMOUNT = Decimal("99999999.99")
TRANSACTION_TEXT_MAX = 60  # VoucherRowApi.TransactionText maxLength
VOUCHER_TEXT_MAX = 1000  # VoucherApi.VoucherText maxLength
PAYMENT_REFERENCE_MAX = 50  # PaymentReferenceNumber maxLength
#: Where Visma reads a voucher row's ``VatAmount`` (VoucherRowApi: "Only for Denmark and
#: Netherlands").
VAT_AMOUNT_COUNTRIES = frozenset({"NL", "DK"})

# Independent of whatever decimal context the caller runs in: enough digits for any amount
# Visma accepts, and errors instead of silent NaN/Infinity.
_CONTEXT = Context(
    prec=34, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero, Overflow]
)


def round2(amount: Decimal) -> Decimal:
    """Half-up to cents, like Teamleader and the simulator (symmetric for negatives)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


# -- public API -----------------------------------------------------------------------------


def posting_for_invoice(
    invoice: Invoice,
    customer_id: str,
    posting_map: PostingMap,
    visma_number: int | None = None,
) -> CustomerLedgerItemWithVoucher:
    """The posting of a booked Teamleader invoice (a negative one becomes a credit invoice).

    ``visma_number``: the number Koppel allocated where the rule cannot represent
    Teamleader's (``translation/numbers.py`` ``rule_number``); else the rule's. Teamleader's
    own number stays in the voucher text either way."""
    label = f"Teamleader invoice {invoice.invoice_number or invoice.id}"
    if invoice.status == "draft" or invoice.invoice_number is None:
        raise UnsupportedDocument(
            f"{label} is a draft (it has no number yet); only booked invoices are posted."
        )
    if invoice.invoice_date is None:
        raise UnsupportedDocument(
            f"{label} has no invoice date, so it has no period in Visma; book it in Teamleader."
        )
    number = visma_number or _number(label, invoice.invoice_number, posting_map.invoice_number_rule)
    text = f"Teamleader factuur {invoice.invoice_number}"
    with _arithmetic(label):
        return _posting(
            invoice,
            label=label,
            sign=ONE,
            invoice_number=number,
            invoice_date=invoice.invoice_date,
            due_date=invoice.due_on,
            voucher_text=_with_name(text, invoice),
            payment_reference=invoice.payment_reference,
            customer_id=customer_id,
            posting_map=posting_map,
        )


def posting_for_credit_note(
    credit_note: CreditNote,
    customer_id: str,
    posting_map: PostingMap,
    credited_invoice_number: int | None,
    visma_number: int | None = None,
) -> CustomerLedgerItemWithVoucher:
    """The posting of a Teamleader credit note: its positive amounts become negative.

    ``credited_invoice_number``: the Visma number of the credited invoice when it is known
    (it is only mentioned in the voucher text; Visma has no field to tie the two)."""
    label = f"Teamleader credit note {credit_note.credit_note_number or credit_note.id}"
    if credit_note.credit_note_number is None:
        raise UnsupportedDocument(
            f"{label} has no number yet; only booked credit notes are posted."
        )
    if credit_note.credit_note_date is None:
        raise UnsupportedDocument(f"{label} has no credit note date, so it has no period in Visma.")
    number = visma_number or _number(
        label, credit_note.credit_note_number, posting_map.credit_note_number_rule
    )
    text = f"Teamleader creditnota {credit_note.credit_note_number}"
    if credited_invoice_number is not None:
        text += f" op factuur {credited_invoice_number}"
    with _arithmetic(label):
        return _posting(
            credit_note,
            label=label,
            sign=-ONE,
            invoice_number=number,
            invoice_date=credit_note.credit_note_date,
            due_date=None,
            voucher_text=_with_name(text, credit_note),
            payment_reference=None,
            customer_id=customer_id,
            posting_map=posting_map,
        )


def fingerprint(posting: CustomerLedgerItemWithVoucher) -> str:
    """sha256 of a canonical JSON of the posting: equal postings, equal fingerprints.

    Canonical: sorted keys, no whitespace, absent and null alike (dropped), amounts by value
    (``121.0`` and ``121.00`` are one amount), dates as ISO text. Any other change — an
    amount, an account, a text, the customer — changes it."""
    data = _canonical(posting.model_dump(exclude_none=True))
    # A row's VatAmount follows from its amount and the VAT rows (and is sent only to some
    # companies): leaving it out keeps the fingerprints of postings made before it was sent.
    for row in data.get("Voucher", {}).get("Rows", []):
        row.pop("VatAmount", None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def row_differences(sent: Sequence[VoucherRow], booked: Sequence[VoucherRow]) -> list[str]:
    """What Visma booked differently from what was sent, per row: its VAT code and (where
    sent) its VatAmount. One sentence per difference, naming the row and its account."""
    if len(sent) != len(booked):
        return [f"Visma booked {len(booked)} rows where Koppel sent {len(sent)}"]
    problems = []
    for index, (mine, theirs) in enumerate(zip(sent, booked, strict=True)):
        where = f"row {index + 1} (account {mine.AccountNumber})"
        if (mine.VatCodeId or "").lower() != (theirs.VatCodeId or "").lower():
            problems.append(
                f"{where} was sent with VAT code {mine.VatCodeId or 'none'} but Visma booked "
                f"it with {theirs.VatCodeId or 'none'}"
            )
        if mine.VatAmount is not None and (
            theirs.VatAmount is None or Decimal(theirs.VatAmount) != mine.VatAmount
        ):
            problems.append(
                f"{where} was sent with VatAmount {mine.VatAmount} but Visma booked "
                f"{theirs.VatAmount if theirs.VatAmount is not None else 'none'}"
            )
    return problems


# -- the translation --------------------------------------------------------------------------


@dataclass
class _Group:
    """The lines of one revenue row: one ledger account and one tax rate id."""

    account: int
    mapping: VatMapping
    net: Decimal  # Σ line tax_exclusive, document currency, Teamleader's sign
    #: Where the account came from → the lines' descriptions: a product category id, or
    #: "" for the VAT mapping's revenue account (for row texts and error messages).
    sources: dict[str, list[str]]
    #: What the row's text names: the lines' category names ("Omzet" for none).
    labels: set[str]


def _posting(
    document: Document,
    *,
    label: str,
    sign: Decimal,
    invoice_number: int,
    invoice_date: date,
    due_date: date | None,
    voucher_text: str,
    payment_reference: str | None,
    customer_id: str,
    posting_map: PostingMap,
) -> CustomerLedgerItemWithVoucher:
    currency = _currency(document, label)
    rate = _company_rate(document, label, currency, posting_map)
    total = document.total
    payable = _cents(total.payable.amount, label, "total.payable")
    taxes = _taxes_by_rate(document, label)
    tax_total = sum((tax for _, tax in taxes.values()), ZERO)
    taxable_total = sum((taxable for taxable, _ in taxes.values()), ZERO)
    # Teamleader's own invariant (no withholding tax): if it does not hold, the totals are
    # not ones we can post faithfully (and the voucher could not balance).
    if payable != taxable_total + tax_total:
        raise UnsupportedDocument(
            f"{label}: its payable total {payable} is not the sum of the taxable amounts "
            f"({taxable_total}) and the VAT ({tax_total}) per rate (withholding tax?). "
            "Koppel cannot post it; book it in Visma by hand."
        )
    posted_total = _unsigned_zero(sign * payable)
    if abs(posted_total) > MAX_AMOUNT:
        raise UnsupportedDocument(
            f"{label}: its total {payable} {currency} exceeds what Visma accepts "
            f"({MAX_AMOUNT}); book it in Visma by hand."
        )

    lines = document.lines
    if (
        not posted_total
        and not any(t or v for t, v in taxes.values())
        and not any(line.total.tax_exclusive.amount for line in lines)
    ):
        # Decided before the mappings: an all-zero document is skipped even when one of its
        # tax rates is unmapped, since no mapping would give it anything to book.
        raise NothingToPost(_nothing(label))
    _require_mappings(lines, label, posting_map)
    groups = _groups(lines, posting_map)
    revenue = _revenue_per_group(groups, taxes, label, posting_map)  # document currency
    vat_rows = _vat_rows(groups, taxes, label, posting_map)  # (rate, account, mapping, tax)

    # Everything below is in the posted sign: positive = an ordinary invoice's side
    # (receivables debit, revenue and VAT credit).
    receivables = round2(posted_total * rate)
    revenue_rows = [(g, sign * amount, round2(sign * amount * rate)) for g, amount in revenue]
    vat_amounts = [(r, account, m, round2(sign * tax * rate)) for r, account, m, tax in vat_rows]
    balanced = _balance(receivables, revenue_rows, [a for *_, a in vat_amounts], label, rate)

    row_vat = (
        _row_vat(balanced, vat_amounts, label)
        if posting_map.company_country in VAT_AMOUNT_COUNTRIES
        else {}
    )
    rows: list[VoucherRow] = []
    if receivables:
        rows.append(_row(posting_map.receivables_account, -receivables, voucher_text))
    for index, (group, amount) in enumerate(balanced):
        if amount:
            rows.append(
                _row(
                    group.account,
                    amount,
                    _revenue_text(group),
                    vat_code_id=group.mapping.vat_code_id,
                    vat_amount=row_vat.get(index),
                )
            )
    for vat_rate, account, mapping, amount in vat_amounts:
        if amount:
            rows.append(_row(account, amount, _vat_text(vat_rate, mapping)))
    if not rows:
        if not posted_total:
            # Lines that cancel out within their row (+10 and −10 on one account and rate).
            raise NothingToPost(_nothing(label))
        # A foreign amount worth less than half a cent: skipping it would lose a receivable.
        raise UnsupportedDocument(
            f"{label}: its total {payable} {currency} is 0.00 {posting_map.company_currency} "
            f"at the rate {rate}, and Visma cannot book a voucher without amounts. Book it "
            "in Visma by hand."
        )
    _require_accounts(rows, groups, vat_amounts, label, posting_map)

    foreign = currency != posting_map.company_currency
    if foreign:
        # Shown where the bookkeeper looks, so the first foreign invoice can be checked.
        exchange = document.currency_exchange_rate
        shown_rate = exchange.rate if exchange and exchange.rate else rate
        conversion = conversion_text(
            currency, abs(payable), shown_rate, posting_map.company_currency, abs(receivables)
        )
        head, sep, name = voucher_text.partition(" · ")
        voucher_text = f"{head} · {conversion}{sep}{name}"
    return CustomerLedgerItemWithVoucher(
        CustomerId=customer_id,
        InvoiceNumber=invoice_number,
        IsCreditInvoice=posted_total < 0,
        CurrencyCode=currency,
        CurrencyRate=rate if foreign else None,
        TotalAmountInvoiceCurrency=posted_total,
        RemainingAmountInvoiceCurrency=posted_total,
        VATAmountInvoiceCurrency=_unsigned_zero(sign * tax_total),
        InvoiceDate=invoice_date,
        DueDate=due_date,
        PaymentReferenceNumber=_payment_reference(payment_reference),
        Voucher=Voucher(
            VoucherDate=voucher_date_for(invoice_date, posting_map),
            VoucherText=_clip(voucher_text, VOUCHER_TEXT_MAX),
            Rows=rows,
        ),
    )


@contextmanager
def _arithmetic(label: str) -> Iterator[None]:
    """Our decimal context; an amount beyond it is a refusal naming the document, not a crash."""
    try:
        with localcontext(_CONTEXT):
            yield
    except ArithmeticError as exc:  # decimal's InvalidOperation, Overflow, DivisionByZero
        raise UnsupportedDocument(
            f"{label}: its amounts cannot be computed with ({type(exc).__name__}); they are "
            "far beyond what Visma accepts. Book it in Visma by hand."
        ) from exc


def _unsigned_zero(amount: Decimal) -> Decimal:
    """A credit note's zero is ``-0.00`` after the sign flip; Visma should see ``0.00``
    (and the fingerprint should not depend on it)."""
    return amount if amount else abs(amount)


def _nothing(label: str) -> str:
    return (
        f"{label}: its total and every amount to book are zero; there is nothing to post "
        "in Visma (recorded as skipped)."
    )


def _number(label: str, teamleader_number: str, rule: str) -> int:
    try:
        return visma_invoice_number(teamleader_number, rule)
    except UnsupportedDocument as exc:
        raise UnsupportedDocument(f"{label}: {exc.reason}") from exc


# -- currency -----------------------------------------------------------------------------
_CONVERSION = re.compile(r"[A-Z]{3} [0-9,]+\.[0-9]{2} at [0-9.]+ = [A-Z]{3} [0-9,]+\.[0-9]{2}")


def conversion_text(
    currency: str, amount: Decimal, rate: Decimal, company: str, company_amount: Decimal
) -> str:
    """``"USD 6,050.00 at 1.0845 = EUR 5,578.61"``: the conversion a posting used, with
    Teamleader's rate as the document shows it."""
    return f"{currency} {amount:,.2f} at {rate.normalize():f} = {company} {company_amount:,.2f}"


def conversion_of(posting: CustomerLedgerItemWithVoucher) -> str | None:
    """The conversion text in a posting's voucher text (None in the company's currency)."""
    if posting.CurrencyRate is None:
        return None
    found = _CONVERSION.search(posting.Voucher.VoucherText or "")
    return found.group(0) if found else None


def _currency(document: Document, label: str) -> str:
    exchange = document.currency_exchange_rate
    currency = (
        document.currency
        or document.total.payable.currency
        or (exchange.from_ if exchange else None)
    )
    if not currency:
        # Guessing the company currency could post dollars as euros: refuse instead.
        raise UnsupportedDocument(
            f"{label} names no currency; Koppel cannot tell what its amounts are in."
        )
    currency = currency.strip().upper()
    if len(currency) != 3:
        raise UnsupportedDocument(
            f"{label}: its currency {currency!r} is not a three-letter ISO code."
        )
    return currency


def _company_rate(
    document: Document, label: str, currency: str, posting_map: PostingMap
) -> Decimal:
    """Company currency per one unit of the document currency, as Visma's CurrencyRate.

    Teamleader's ``currency_exchange_rate`` reads amount-in-``to`` = amount-in-``from`` ÷
    ``rate`` (sandbox ASSUMPTIONS.md), so Visma's rate is 1 / rate for a rate labelled from
    the document's currency to the company's, and rate for one labelled the other way;
    ``exchange_rate_reading = flipped`` turns the rule around. Quantized once to the
    6 decimals Visma is sent, and that very value converts every row, so the rows agree
    with the check Visma makes (round2(total × CurrencyRate))."""
    company = posting_map.company_currency
    if currency == company:
        return ONE
    exchange = document.currency_exchange_rate
    what = f"{label} is in {currency} but the Visma company books in {company}"
    if exchange is None or exchange.rate is None or exchange.rate <= 0:
        raise UnsupportedDocument(
            f"{what}, and the document has no exchange rate. Set the exchange rate on the "
            "document in Teamleader, then requeue it."
        )
    source = (exchange.from_ or currency).upper()
    target = (exchange.to or company).upper()
    if {source, target} != {currency, company}:
        raise UnsupportedDocument(
            f"{what}; its exchange rate converts {source} to {target}, not between {currency} "
            f"and {company}. The Teamleader department's currency must be the Visma company's."
        )
    # The labels say which side is which: "amount in `to` = amount in `from` ÷ rate" reads
    # a rate labelled from the company's currency to the document's the same way, so
    # company per document unit is 1 / rate labelled one way and rate labelled the other;
    # the connection's ``exchange_rate_reading = flipped`` reads ÷ as × (docs/api-facts.md).
    labelled_from_document = source == currency
    divides = posting_map.exchange_rate_reading != "flipped"
    per_unit = ONE / exchange.rate if labelled_from_document == divides else exchange.rate
    rate = per_unit.quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)
    if rate <= 0:
        raise UnsupportedDocument(
            f"{what}; its exchange rate {exchange.rate} makes one {currency} worth less "
            f"than {RATE_QUANTUM} {company}, below what Visma's CurrencyRate can express."
        )
    return rate


# -- amounts ------------------------------------------------------------------------------


def _cents(amount: Decimal, label: str, where: str) -> Decimal:
    """Teamleader's amount as cents; more decimals would mean it is not a booked total."""
    if not amount.is_finite() or amount != round2(amount):
        raise UnsupportedDocument(
            f"{label}: {where} is {amount}, not an amount in cents; Koppel posts "
            "Teamleader's totals as they are and cannot round them."
        )
    return round2(amount)


def _taxes_by_rate(document: Document, label: str) -> dict[Decimal, tuple[Decimal, Decimal]]:
    """Rate → (taxable, tax), Teamleader's per-rate totals (merged if a rate repeats)."""
    taxes: dict[Decimal, tuple[Decimal, Decimal]] = {}
    for index, entry in enumerate(document.total.taxes):
        taxable = _cents(entry.taxable.amount, label, f"total.taxes[{index}].taxable")
        tax = _cents(entry.tax.amount, label, f"total.taxes[{index}].tax")
        # Decimal equality (and hash) is numeric, so 0.21 and 0.210 are one key.
        before_taxable, before_tax = taxes.get(entry.rate, (ZERO, ZERO))
        taxes[entry.rate] = (before_taxable + taxable, before_tax + tax)
    return taxes


def _require_mappings(lines: Sequence[LineItem], label: str, posting_map: PostingMap) -> None:
    """Every line's tax rate is mapped, at the rate Teamleader has for it (when known)."""
    problems: dict[str, tuple[list[str], str | None]] = {}
    for line in lines:
        tax_id = line.tax.id
        mapping = posting_map.vat.get(tax_id)
        known = posting_map.tax_rates.get(tax_id)
        problem: str | None = None
        if mapping is None:
            problem = "has no VAT mapping"
        elif known is not None and known.rate != mapping.rate:
            # A wrong rate would put the line's revenue under another rate's VAT total.
            problem = (
                f"is mapped as {percent(mapping.rate)} but is {percent(known.rate)} in Teamleader"
            )
        if problem is not None:
            problems.setdefault(tax_id, ([], problem))[0].append(_line_name(line))
    if problems:
        raise UnmappedTaxRate(
            label,
            [
                _tax_rate_problem(tax_id, posting_map, tuple(names), problem)
                for tax_id, (names, problem) in sorted(problems.items())
            ],
        )


def _tax_rate_problem(
    tax_id: str, posting_map: PostingMap, lines: tuple[str, ...], problem: str | None
) -> TaxRateProblem:
    known = posting_map.tax_rates.get(tax_id)
    mapping = posting_map.vat.get(tax_id)
    description = (known.description if known else None) or (
        mapping.description if mapping else None
    )
    # Only Teamleader's own rate is shown as the rate: a mapping's may be the wrong one.
    return TaxRateProblem(tax_id, description, known.rate if known else None, lines, problem)


def _line_names(groups: Iterable[_Group], tax_id: str) -> tuple[str, ...]:
    """The names of the lines of one tax rate id (for messages)."""
    return tuple(
        name
        for g in groups
        if g.mapping.tax_rate_id == tax_id
        for names in g.sources.values()
        for name in names
    )


def _line_name(line: LineItem) -> str:
    return clean(line.description or "").strip() or "(no description)"


def _groups(lines: Iterable[LineItem], posting_map: PostingMap) -> list[_Group]:
    """Lines per (ledger account, tax rate id), in a deterministic order."""
    groups: dict[tuple[int, str], _Group] = {}
    for line in lines:
        mapping = posting_map.vat[line.tax.id]
        category = line.product_category.id if line.product_category else None
        account = posting_map.category_accounts.get(category) if category else None
        source = category if account is not None and category else ""
        if account is None:
            # No category, or one without a ledger for this department: the VAT mapping's.
            account = mapping.revenue_account
        group = groups.setdefault(
            (account, mapping.tax_rate_id), _Group(account, mapping, ZERO, {}, set())
        )
        group.net += line.total.tax_exclusive.amount
        group.sources.setdefault(source, []).append(_line_name(line))
        # A category without a ledger still tells the bookkeeper what the revenue was.
        group.labels.add(
            (posting_map.category_names.get(category) or f"categorie {category}")
            if category
            else "Omzet"
        )
    return [groups[key] for key in sorted(groups)]


def _revenue_per_group(
    groups: Sequence[_Group],
    taxes: dict[Decimal, tuple[Decimal, Decimal]],
    label: str,
    posting_map: PostingMap,
) -> list[tuple[_Group, Decimal]]:
    """Each group's net, scaled so the groups of a rate add up to that rate's ``taxable``.

    Document-level discounts lower Teamleader's per-rate taxable below the sum of the lines
    (rounded once per discount); the scaled rows are allocated in cents by largest remainder,
    so they sum exactly to Teamleader's figure."""
    by_rate: dict[Decimal, list[_Group]] = {}
    for group in groups:
        by_rate.setdefault(group.mapping.rate, []).append(group)
    _require_rates_match(by_rate, taxes, label, posting_map)
    amounts: dict[int, Decimal] = {}  # by id() of the group: groups are not hashable
    for vat_rate, members in by_rate.items():
        # A rate Teamleader does not list has a taxable of zero (it lists every line rate).
        target = taxes.get(vat_rate, (ZERO, ZERO))[0]
        allocated = _allocate([g.net for g in members], target, label, vat_rate)
        for group, amount in zip(members, allocated, strict=True):
            amounts[id(group)] = amount
    return [(g, amounts[id(g)]) for g in groups]


def _require_rates_match(
    by_rate: dict[Decimal, list[_Group]],
    taxes: dict[Decimal, tuple[Decimal, Decimal]],
    label: str,
    posting_map: PostingMap,
) -> None:
    """The lines' mapped rates and Teamleader's per-rate totals must explain each other.

    A non-zero per-rate total without lines mapped at that rate, or lines with a non-zero
    net at a rate Teamleader does not list, means a mapping's rate is off (the lines' VAT
    would be booked under the wrong rate, or their revenue dropped)."""
    orphans = [
        (vat_rate, taxable, tax)
        for vat_rate, (taxable, tax) in taxes.items()
        if (taxable or tax) and vat_rate not in by_rate
    ]
    unlisted = [
        vat_rate
        for vat_rate, members in by_rate.items()
        if vat_rate not in taxes and sum((g.net for g in members), ZERO)
    ]
    if not orphans and not unlisted:
        return
    if not by_rate:
        raise UnsupportedDocument(
            f"{label} has totals but no lines (was it read with .list instead of .info?); "
            "Koppel needs the lines to choose the ledger accounts."
        )
    listed = ", ".join(
        f"{percent(r)} (taxable {taxable}, VAT {tax})"
        for r, (taxable, tax) in sorted(taxes.items(), key=lambda item: -item[0])
    )
    problems = []
    for vat_rate, members in sorted(by_rate.items(), key=lambda item: -item[0]):
        for tax_id in sorted({g.mapping.tax_rate_id for g in members}):
            names = _line_names(members, tax_id)
            problems.append(
                _tax_rate_problem(
                    tax_id,
                    posting_map,
                    names,
                    f"is mapped as {percent(vat_rate)}",
                )
            )
    raise UnmappedTaxRate(
        label,
        problems,
        note=f"Teamleader's VAT per rate ({listed or 'none'}) does not follow from the rates "
        "these tax rates are mapped at; check the rates of their mappings",
    )


def _allocate(
    nets: Sequence[Decimal], target: Decimal, label: str, vat_rate: Decimal
) -> list[Decimal]:
    """``nets`` scaled to sum exactly to ``target``, in cents, by largest remainder.

    Deterministic: ties go to the earlier row (the rows are sorted by account and id)."""
    total = sum(nets, ZERO)
    if total == target:
        ideal = list(nets)
    elif total == 0:
        raise UnsupportedDocument(
            f"{label}: its lines at {percent(vat_rate)} add up to zero, but Teamleader's "
            f"taxable amount at that rate is {target}; the document's totals do not follow "
            "from its lines, so Koppel cannot divide them over ledger accounts."
        )
    else:
        ideal = [net * target / total for net in nets]
    # Floor, then hand out the missing cents to the largest remainders (never more than
    # one cent per row, as the floors lose less than a cent each).
    base = [amount.quantize(CENT, rounding=ROUND_FLOOR) for amount in ideal]
    missing = int((target - sum(base, ZERO)) / CENT)
    order = sorted(range(len(base)), key=lambda i: (-(ideal[i] - base[i]), i))
    step = CENT if missing > 0 else -CENT
    for j in range(abs(missing)):
        base[order[j % len(order)]] += step
    return base


def _vat_rows(
    groups: Sequence[_Group],
    taxes: dict[Decimal, tuple[Decimal, Decimal]],
    label: str,
    posting_map: PostingMap,
) -> list[tuple[Decimal, int, VatMapping, Decimal]]:
    """(rate, VAT account, mapping, tax) per rate with VAT, highest rate first.

    Several tax rate ids may share a rate ("0%", "0% verlegd"): the lowest id that has a
    VAT account decides, so the choice does not depend on line order."""
    result = []
    problems = []
    for vat_rate, (_, tax) in sorted(taxes.items(), key=lambda item: -item[0]):
        if not tax:
            continue
        candidates = sorted(
            {g.mapping.tax_rate_id: g.mapping for g in groups if g.mapping.rate == vat_rate}.items()
        )
        chosen = next(
            ((m.vat_account, m) for _, m in candidates if m.vat_account is not None), None
        )
        if chosen is None:
            for tax_id, _ in candidates:
                names = _line_names(groups, tax_id)
                problems.append(
                    _tax_rate_problem(
                        tax_id,
                        posting_map,
                        names,
                        f"has no VAT account in its mapping, but Teamleader charges {tax} "
                        f"VAT at {percent(vat_rate)}; map it to a VAT code that books VAT",
                    )
                )
            continue
        account, mapping = chosen
        result.append((vat_rate, account, mapping, tax))
    if problems:
        raise UnmappedTaxRate(label, problems)
    return result


def _balance(
    receivables: Decimal,
    revenue: Sequence[tuple[_Group, Decimal, Decimal]],
    vat: Sequence[Decimal],
    label: str,
    rate: Decimal,
) -> list[tuple[_Group, Decimal]]:
    """``revenue``: (group, amount in the document currency, converted amount), posted sign.

    Rows rounded one by one after conversion may miss the total by a few cents: the largest
    revenue row takes the difference (VAT and receivables stay exactly what Visma checks
    them against). Returns (group, converted amount) with the difference applied."""
    converted = [(group, amount) for group, _, amount in revenue]
    difference = receivables - sum((a for _, a in converted), ZERO) - sum(vat, ZERO)
    if not difference:
        return converted
    if rate == 1 or not revenue:
        # In the document's own currency Teamleader's totals add up (checked before).
        raise UnsupportedDocument(
            f"{label}: its rows miss the total by {difference}; Koppel cannot balance it."
        )
    largest = max(range(len(revenue)), key=lambda i: (abs(revenue[i][2]), abs(revenue[i][1]), -i))
    group, original, amount = revenue[largest]
    adjusted = amount + difference
    # The row must stay on the side its document-currency amount puts it (a row that the
    # conversion rounded to zero may come back); erasing it or moving it to the other side
    # is no longer a rounding difference, and must not happen unseen.
    if adjusted == 0 or original == 0 or (adjusted > 0) != (original > 0):
        raise UnsupportedDocument(
            f"{label}: converted at {rate}, its rows miss the total by {difference}, more "
            f"than its largest revenue row ({amount}) can absorb. Book it in Visma by hand."
        )
    converted[largest] = (group, adjusted)
    return converted


# -- rows and texts -------------------------------------------------------------------------


def _row_vat(
    balanced: Sequence[tuple[_Group, Decimal]],
    vat_amounts: Sequence[tuple[Decimal, int, VatMapping, Decimal]],
    label: str,
) -> dict[int, Decimal]:
    """Revenue row index → its ``VatAmount`` (company currency, unsigned): each rate's VAT
    row divided over that rate's revenue rows by their amounts, to the cent, so the rows'
    VAT adds up to exactly what the VAT row books. A 0 % row carries 0."""
    vat_by_rate = {vat_rate: amount for vat_rate, _, _, amount in vat_amounts}
    result: dict[int, Decimal] = {}
    for vat_rate in {group.mapping.rate for group, _ in balanced}:
        members = [
            i for i, (g, amount) in enumerate(balanced) if g.mapping.rate == vat_rate and amount
        ]
        target = vat_by_rate.get(vat_rate, ZERO)
        nets = [balanced[i][1] for i in members]
        if not members or (target and not sum(nets, ZERO)):
            continue
        shares = _allocate(nets, target, label, vat_rate) if target else [ZERO] * len(nets)
        result.update({i: abs(share) for i, share in zip(members, shares, strict=True)})
    return result


def _row(
    account: int,
    amount: Decimal,
    text: str,
    *,
    vat_code_id: str | None = None,
    vat_amount: Decimal | None = None,
) -> VoucherRow:
    """``amount`` > 0 is a credit, < 0 a debit: exactly one side set, never a zero row."""
    credit, debit = (amount, None) if amount > 0 else (None, -amount)
    return VoucherRow(
        AccountNumber=account,
        TransactionText=_clip(text, TRANSACTION_TEXT_MAX),
        VatCodeId=vat_code_id,
        VatAmount=vat_amount,
        CreditAmount=credit,
        DebitAmount=debit,
    )


def _tax_name(mapping: VatMapping) -> str:
    return (mapping.description or "").strip() or f"BTW {percent(mapping.rate)}"


def _revenue_text(group: _Group) -> str:
    # Sorted, so the text (and so the fingerprint) does not depend on the order of lines.
    return " / ".join(sorted(group.labels)) + f" · {_tax_name(group.mapping)}"


def _vat_text(vat_rate: Decimal, mapping: VatMapping) -> str:
    description = (mapping.description or "").strip()
    return f"BTW {description or percent(vat_rate)}"


def _with_name(text: str, document: Document) -> str:
    name = " ".join((document.invoicee.name or "").split())
    return f"{text} · {name}" if name else text


def _clip(text: str, limit: int) -> str:
    """At most ``limit`` characters (Visma's maxLength), marked when cut; cleaned."""
    text = " ".join(clean(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _payment_reference(reference: str | None) -> str | None:
    text = clean(reference or "").strip()
    return text[:PAYMENT_REFERENCE_MAX] or None


def _require_accounts(
    rows: Sequence[VoucherRow],
    groups: Sequence[_Group],
    vat: Sequence[tuple[Decimal, int, VatMapping, Decimal]],
    label: str,
    posting_map: PostingMap,
) -> None:
    """Every account the rows book to exists in Visma; else name all missing ones at once."""
    missing = {r.AccountNumber for r in rows} - posting_map.visma_accounts
    if not missing:
        return
    sources: dict[int, list[str]] = {account: [] for account in missing}
    if posting_map.receivables_account in missing:
        sources[posting_map.receivables_account].append("the connection's receivables account")
    for group in groups:
        if group.account not in missing:
            continue
        for source, names in group.sources.items():
            if source:
                name = posting_map.category_names.get(source)
                what = (
                    f"product category '{name}' (id {source})"
                    if name
                    else (f"product category id {source}")
                )
            else:
                what = (
                    f"the revenue account of the VAT mapping of tax rate "
                    f"'{_tax_name(group.mapping)}' (id {group.mapping.tax_rate_id})"
                )
            sources[group.account].append(f"{what}, {line_list(names)}")
    for vat_rate, account, mapping, _ in vat:
        if account in missing:
            sources[account].append(
                f"the VAT account of the VAT mapping of tax rate '{_tax_name(mapping)}' "
                f"(id {mapping.tax_rate_id}, {percent(vat_rate)})"
            )
    raise MissingAccount(
        label, [AccountProblem(account, tuple(found)) for account, found in sources.items()]
    )
