"""The reconciliation itself: pure functions over what both APIs returned (no I/O, no click).

Teamleader's booked documents of a period are set beside Visma's customer ledger items of
that period, matched by Visma's ``InvoiceNumber`` (Koppel's link when it has one, else the
connection's number rule: the number the consumer would give it). Koppel's links only say
which pairs to compare; every amount compared is read from the two APIs
(``ops/reconcile/read.py``). The kinds of difference and what a person does about each are
in :data:`ADVICE`; only ``missing`` is something ``--fix`` repairs, by republishing.

Amounts are ``Decimal`` in the document currency; a credit note (positive in Teamleader)
is negative in Visma, as ``translation/ledger_items.py`` posts it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from translation.customers import normalized_vat
from translation.errors import UnsupportedDocument
from translation.numbers import visma_invoice_number

CENT = Decimal("0.01")
ZERO = Decimal(0)

# -- the kinds of difference (metric label values: stable, lower case) -----------------------
MISSING = "missing"
DUPLICATE = "duplicate"
AMOUNTS = "amounts"
CHANGED = "changed"
DELETED = "deleted"
PAYMENT = "payment"
CREDITED_INVOICE = "credited_invoice"
NOT_FROM_TEAMLEADER = "not_from_teamleader"
CUSTOMER_DUPLICATE = "customer_duplicate"
UNNUMBERED = "unnumbered"

KINDS = (
    MISSING,
    DUPLICATE,
    AMOUNTS,
    CHANGED,
    DELETED,
    PAYMENT,
    CREDITED_INVOICE,
    NOT_FROM_TEAMLEADER,
    CUSTOMER_DUPLICATE,
    UNNUMBERED,
)

#: What each kind is called in the table.
TITLES = {
    MISSING: "missing in Visma",
    DUPLICATE: "posted more than once",
    AMOUNTS: "amounts differ",
    CHANGED: "changed after posting",
    DELETED: "deleted in Teamleader",
    PAYMENT: "payment not in Teamleader",
    CREDITED_INVOICE: "credited invoice not posted",
    NOT_FROM_TEAMLEADER: "in Visma only",
    CUSTOMER_DUPLICATE: "duplicate customer",
    UNNUMBERED: "cannot be numbered",
}

#: What a person (or ``--fix``) does about each kind.
ADVICE = {
    MISSING: "run `koppel reconcile --fix`: it republishes the document and the sync posts "
    "it once (if it failed before, `koppel dlq list` says why)",
    DUPLICATE: "reverse the extra posting in Visma (a credit invoice of the same amount); "
    "keep the one Koppel linked",
    AMOUNTS: "Visma's posting differs from Teamleader's document: correct the posting in "
    "Visma, or reverse it and run `koppel reconcile --fix`",
    CHANGED: "the document changed in Teamleader after it was posted: reverse the posting "
    "in Visma and post the new version by hand (Koppel never posts a document twice)",
    DELETED: "the document is gone from Teamleader but posted in Visma: reverse its "
    "posting in Visma (a credit invoice), or restore the document in Teamleader",
    PAYMENT: "Visma has a payment Teamleader lacks: let `koppel poll` run (payments flow "
    "from Visma to Teamleader), or look in `koppel dlq list` for a refused payment",
    CREDITED_INVOICE: "the invoice this credit note credits has no posting in Visma: post "
    "the invoice first (`koppel reconcile --from` its date `--fix`)",
    NOT_FROM_TEAMLEADER: "no Teamleader document has this number: if it was keyed by hand "
    "by mistake, reverse it in Visma",
    CUSTOMER_DUPLICATE: "one Teamleader customer is several customers in Visma: move the "
    "duplicate's items to the customer Koppel linked and make the duplicate inactive",
    UNNUMBERED: "the connection's number rule cannot number this document: fix the rule "
    "(`koppel mappings show`)",
}


# -- what was read --------------------------------------------------------------------------
@dataclass(frozen=True)
class TeamleaderDocument:
    """A booked invoice or credit note as ``invoices.list`` / ``creditNotes.list`` show it."""

    kind: str  # "invoice" or "credit_note"
    id: str
    number: str
    day: date | None
    currency: str
    #: ``total.payable`` (positive for a credit note, as Teamleader shows it).
    payable: Decimal
    #: Σ ``total.taxes[].tax``, and per rate (a fraction such as 0.21).
    vat: Decimal
    #: What Teamleader counts as paid: ``payable − due`` (invoices; credit notes 0).
    paid: Decimal
    updated_at: datetime | None
    customer: tuple[str, str]
    #: A credit note's invoice (Teamleader id).
    credits: str | None = None
    #: ``total.taxes[]``: (rate as a fraction, taxable) per VAT rate.
    taxable: tuple[tuple[Decimal, Decimal], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.kind.replace('_', ' ')} {self.number}"


@dataclass(frozen=True)
class VismaItem:
    """A customer ledger item as ``GET /customerledgeritems`` shows it."""

    id: str
    number: int
    customer_id: str
    day: date | None
    currency: str
    total: Decimal
    vat: Decimal
    remaining: Decimal
    voucher_id: str | None = None


@dataclass(frozen=True)
class Posted:
    """Koppel's link of a document to its ledger item, and when it was made."""

    teamleader_type: str
    teamleader_id: str
    visma_id: str
    visma_number: int | None
    posted_at: datetime | None


@dataclass(frozen=True)
class VismaCustomer:
    id: str
    name: str
    vat_number: str | None
    #: Koppel's reference (``teamleader:company:<id>``) when it wrote one.
    reference: str | None


@dataclass(frozen=True)
class Books:
    """Everything one reconciliation compares, for one connection and period."""

    start: date
    end: date
    documents: Sequence[TeamleaderDocument]
    items: Sequence[VismaItem]
    posted: Sequence[Posted]
    customers: Sequence[VismaCustomer] = ()
    #: Visma customer id → the Teamleader customer Koppel linked it to.
    customer_links: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: Teamleader ids of linked documents that are gone (``.info`` answered 404).
    deleted: frozenset[str] = frozenset()
    #: Teamleader invoice ids whose posting exists (credit notes of invoices outside the
    #: period are checked against these).
    invoices_posted: frozenset[str] = frozenset()
    #: Voucher id → VAT rate (a fraction) → revenue booked at it (credit − debit of the rows
    #: with that rate's VAT code), in the company currency.
    revenue_by_voucher: Mapping[str, Mapping[Decimal, Decimal]] = field(default_factory=dict)
    #: Visma's company currency: only documents in it are compared row by row.
    company_currency: str | None = None
    invoice_number_rule: str = "{year}{number:05d}"
    credit_note_number_rule: str = "{year}9{number:04d}"


# -- what was found -------------------------------------------------------------------------
@dataclass(frozen=True)
class Difference:
    kind: str
    #: What it is about: ``invoice 2026 / 17``, ``ledger item 202600017``, ``customer X``.
    subject: str
    detail: str
    teamleader_id: str | None = None
    teamleader_type: str | None = None
    visma_ids: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return TITLES[self.kind]

    @property
    def advice(self) -> str:
        return ADVICE[self.kind]

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "title": self.title,
            "subject": self.subject,
            "detail": self.detail,
            "advice": self.advice,
            "teamleader_type": self.teamleader_type,
            "teamleader_id": self.teamleader_id,
            "visma_ids": list(self.visma_ids),
        }


@dataclass(frozen=True)
class Result:
    start: date
    end: date
    documents: int
    matching: int
    differences: tuple[Difference, ...]

    @property
    def differing_documents(self) -> int:
        return self.documents - self.matching

    def counts(self) -> dict[str, int]:
        """Kind → how many differences of it (every kind, zeros too: the metric's series)."""
        found = Counter(d.kind for d in self.differences)
        return {kind: found.get(kind, 0) for kind in KINDS}

    def summary(self) -> str:
        """``412 documents, 411 match, 1 difference: 1 missing in Visma``. Differences are
        counted apart from documents: a deleted document is no longer one of Teamleader's."""
        found = Counter(d.kind for d in self.differences)
        total = sum(found.values())
        head = (
            f"{self.documents} documents, {self.matching} match, "
            f"{total} difference{'' if total == 1 else 's'}"
        )
        if not found:
            return head
        return head + ": " + ", ".join(f"{n} {TITLES[k]}" for k, n in sorted(found.items()))

    def as_dict(self) -> dict[str, object]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "documents": self.documents,
            "matching": self.matching,
            "differences": [d.as_dict() for d in self.differences],
            "counts": self.counts(),
            "summary": self.summary(),
        }


# -- the comparison -------------------------------------------------------------------------
def expected_number(document: TeamleaderDocument, books: Books) -> int:
    """The Visma number the consumer gives the document (raises UnsupportedDocument)."""
    rule = (
        books.invoice_number_rule if document.kind == "invoice" else books.credit_note_number_rule
    )
    return visma_invoice_number(document.number, rule)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT)


def compare(books: Books) -> Result:
    """Every difference between the two books of one period."""
    links = {(p.teamleader_type, p.teamleader_id): p for p in books.posted}
    by_number: dict[int, list[VismaItem]] = defaultdict(list)
    for item in books.items:
        by_number[item.number].append(item)
    claimed: set[str] = set()
    differences: list[Difference] = []
    differing: set[str] = set()
    listed_ids = {d.id for d in books.documents}
    mains: dict[str, tuple[TeamleaderDocument, VismaItem]] = {}
    posted_invoices = set(books.invoices_posted)

    # Numbers first, so a credit note can see whether its invoice (in the period) is posted.
    numbers: dict[str, int] = {}
    for document in books.documents:
        link = links.get((document.kind, document.id))
        try:
            numbers[document.id] = (
                link.visma_number
                if link is not None and link.visma_number is not None
                else expected_number(document, books)
            )
        except UnsupportedDocument as error:
            differences.append(_about(document, UNNUMBERED, error.reason))
            differing.add(document.id)
            continue
        if document.kind == "invoice" and by_number.get(numbers[document.id]):
            posted_invoices.add(document.id)

    for document in books.documents:
        if document.id not in numbers:
            continue
        number = numbers[document.id]
        link = links.get((document.kind, document.id))
        items = list(by_number.get(number, []))
        claimed.update(item.id for item in items)
        if link is not None:
            claimed.add(link.visma_id)
        found = _document_differences(document, number, items, link, posted_invoices, books)
        main = next((i for i in items if link is not None and i.id == link.visma_id), None)
        if main is not None or items:
            mains[document.id] = (document, main or items[0])
        if found:
            differing.add(document.id)
            differences.extend(found)

    # Postings Koppel made whose document is no longer among the booked ones of the period.
    items_by_id = {i.id: i for i in books.items}
    for link in books.posted:
        if link.teamleader_id in listed_ids or link.teamleader_type == "customer":
            continue
        posting = items_by_id.get(link.visma_id)
        if posting is None:
            continue  # posted in another period
        claimed.add(posting.id)
        shown = f"{link.teamleader_type.replace('_', ' ')} {link.teamleader_id}"
        if link.teamleader_id in books.deleted:
            detail = f"deleted in Teamleader; Visma still has ledger item {posting.number}"
            differences.append(
                Difference(
                    DELETED, shown, detail, link.teamleader_id, link.teamleader_type, (posting.id,)
                )
            )
        else:
            detail = (
                f"no longer booked in Teamleader in {books.start}…{books.end} (its date or status "
                f"changed); Visma has ledger item {posting.number} dated {posting.day}"
            )
            differences.append(
                Difference(
                    CHANGED, shown, detail, link.teamleader_id, link.teamleader_type, (posting.id,)
                )
            )

    # Visma numbers a posting keyed by hand itself: a second posting of a document has
    # another number but the same customer, date and amount.
    identity = {(i.customer_id, i.day, i.total): d for d, i in mains.values()}
    for item in books.items:
        if item.id in claimed:
            continue
        twin = identity.get((item.customer_id, item.day, item.total))
        if twin is not None:
            detail = (
                f"ledger item {item.number} ({item.id}) has the customer, date and amount "
                f"({item.currency} {item.total}) of this document's posting"
            )
            differences.append(_about(twin, DUPLICATE, detail, item.id))
            differing.add(twin.id)
            continue
        detail = f"{item.currency} {item.total} dated {item.day}, matching no Teamleader document"
        differences.append(
            Difference(
                NOT_FROM_TEAMLEADER, f"ledger item {item.number}", detail, visma_ids=(item.id,)
            )
        )

    differences.extend(_customer_duplicates(books.customers, books.customer_links))
    return Result(
        start=books.start,
        end=books.end,
        documents=len(books.documents),
        matching=len(books.documents) - len(differing),
        differences=tuple(differences),
    )


def _about(document: TeamleaderDocument, kind: str, detail: str, *visma_ids: str) -> Difference:
    return Difference(kind, document.label, detail, document.id, document.kind, tuple(visma_ids))


def _document_differences(
    document: TeamleaderDocument,
    number: int,
    items: list[VismaItem],
    link: Posted | None,
    posted_invoices: set[str],
    books: Books,
) -> list[Difference]:
    found: list[Difference] = []
    if document.credits is not None and document.credits not in posted_invoices:
        found.append(
            _about(
                document,
                CREDITED_INVOICE,
                f"credits Teamleader invoice {document.credits}, which has no posting in Visma",
            )
        )
    if not items and document.payable == ZERO and document.vat == ZERO:
        return found  # nothing to post: the consumer records it as skipped
    if not items:
        detail = f"no ledger item {number} in Visma" + (
            " (Koppel linked one that is gone)" if link is not None else ""
        )
        return [*found, _about(document, MISSING, detail)]
    linked = next((i for i in items if link is not None and i.id == link.visma_id), None)
    main = linked or items[0]
    if len(items) > 1:
        extra = [i for i in items if i is not main]
        detail = f"{len(items)} ledger items numbered {number}; extra: " + ", ".join(
            f"{i.currency} {i.total} ({i.id})" for i in extra
        )
        found.append(_about(document, DUPLICATE, detail, *(i.id for i in extra)))
    sign = Decimal(-1) if document.kind == "credit_note" else Decimal(1)
    wanted: dict[str, object] = {
        "total": _cents(sign * document.payable),
        "VAT": _cents(sign * document.vat),
        "currency": document.currency.upper(),
        "date": document.day,
    }
    has: dict[str, object] = {
        "total": _cents(main.total),
        "VAT": _cents(main.vat),
        "currency": main.currency.upper(),
        "date": main.day,
    }
    revenue = books.revenue_by_voucher.get((main.voucher_id or "").lower())
    if revenue is not None and document.currency.upper() == (books.company_currency or "").upper():
        # The voucher's revenue per VAT rate against Teamleader's taxable per rate (rates
        # above 0: a 0 % line may book without a VAT code).
        theirs: dict[Decimal, Decimal] = defaultdict(Decimal)
        for rate, taxable in document.taxable:
            theirs[rate.normalize()] += taxable
        ours = {rate.normalize(): amount for rate, amount in revenue.items()}
        for rate in sorted(set(theirs) | set(ours)):
            if rate <= ZERO:
                continue
            name = f"revenue at {(rate * 100).normalize():f} %"
            wanted[name] = _cents(sign * theirs.get(rate, ZERO))
            has[name] = _cents(ours.get(rate, ZERO))
    unequal = [name for name in wanted if wanted[name] != has[name]]
    if unequal:
        detail = "; ".join(f"{n} {wanted[n]} in Teamleader, {has[n]} in Visma" for n in unequal)
        changed_later = (
            link is not None
            and link.posted_at is not None
            and document.updated_at is not None
            and document.updated_at > link.posted_at
        )
        found.append(_about(document, CHANGED if changed_later else AMOUNTS, detail, main.id))
    if document.kind == "invoice" and main.total > ZERO:
        paid_in_visma = _cents(main.total - main.remaining)
        if paid_in_visma > _cents(document.paid):
            detail = (
                f"paid {paid_in_visma} in Visma, {_cents(document.paid)} in Teamleader "
                f"(remaining {main.remaining})"
            )
            found.append(_about(document, PAYMENT, detail, main.id))
    return found


def _customer_duplicates(
    customers: Iterable[VismaCustomer], customer_links: Mapping[str, tuple[str, str]]
) -> list[Difference]:
    """Visma customers that stand for one linked Teamleader customer: the same Koppel
    reference, VAT number or name as the customer Koppel linked."""
    customers = list(customers)
    linked_ids = {visma_id.lower() for visma_id in customer_links}
    found: list[Difference] = []
    for linked in customers:
        if linked.id.lower() not in linked_ids:
            continue
        vat = normalized_vat(linked.vat_number)
        name = " ".join(linked.name.lower().split())
        others = [
            other
            for other in customers
            if other.id.lower() != linked.id.lower()
            and other.id.lower() not in linked_ids
            and (
                (linked.reference and other.reference == linked.reference)
                or (vat and normalized_vat(other.vat_number) == vat)
                or " ".join(other.name.lower().split()) == name
            )
        ]
        if others:
            kind, teamleader_id = customer_links[
                next(k for k in customer_links if k.lower() == linked.id.lower())
            ]
            detail = f"{linked.name!r} is also Visma customer " + ", ".join(
                f"{o.name!r} ({o.id})" for o in others
            )
            found.append(
                Difference(
                    CUSTOMER_DUPLICATE,
                    f"customer {linked.name}",
                    detail,
                    teamleader_id,
                    kind,
                    tuple(o.id for o in others),
                )
            )
    return found
