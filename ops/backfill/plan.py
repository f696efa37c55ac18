"""The one-time export's plan (``koppel backfill``): pure functions, no I/O.

* :func:`start_date` turns ``--from`` (``this-month``, ``this-quarter``, ``fiscal-year`` or a
  date) into the first invoice date to export, given today and Visma's fiscal years;
* :func:`assess` translates one Teamleader document exactly as the consumer will
  (``translation.ledger_items``) and says whether it is in Visma already, would be posted,
  has nothing to post, or what stops it — so the preview and the consumers agree;
* :func:`customer_plans` says which invoicees Visma has (linked, or findable the way the
  consumer finds them: VAT number or Koppel's reference) and which would be created;
* :class:`Preview` adds it all up: documents per type, totals per VAT rate, problems.

``ops/backfill/preview.py`` reads the documents and renders the tables;
``ops/backfill/run.py`` publishes and follows the run.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from clients.teamleader.models import CreditNote, Invoice
from clients.visma.models import Customer as VismaCustomer
from clients.visma.models import FiscalYear
from config.errors import NeedsPerson
from contracts.messages import CreditNoteChanged, InvoiceChanged, SyncMessage
from store.numbers import SEQUENCE_START
from translation.customers import REFERENCE_FIELD, normalized_vat, reference_for
from translation.errors import (
    MissingAccount,
    NothingToPost,
    TranslationError,
    UnmappedTaxRate,
)
from translation.ledger_items import conversion_of, posting_for_credit_note, posting_for_invoice
from translation.numbers import koppel_numbers
from translation.posting_map import PostingMap

#: The named starts ``--from`` accepts (besides a date, YYYY-MM-DD).
KEYWORDS = ("this-month", "this-quarter", "fiscal-year")

#: A stand-in Visma customer id: the preview translates before any customer exists (the id
#: only fills ``CustomerId``; it changes no amount, account or check).
PREVIEW_CUSTOMER_ID = "00000000-0000-0000-0000-000000000000"

DocumentType = Literal["invoice", "credit_note"]
#: What the backfill does with a document.
IN_VISMA = "in Visma"  # linked: posted before (by the sync or an earlier backfill)
TO_POST = "to post"
NOTHING = "nothing to post"  # every amount zero: the consumer records it as skipped
BLOCKED = "problem"

#: Problem kinds, in the order the preview lists them.
UNMAPPED = "unmapped tax rate"
MISSING_ACCOUNT = "missing account"
CUSTOMER = "customer"
CREDITED_INVOICE = "credited invoice"
CANNOT_POST = "cannot post"
PROBLEM_ORDER = (UNMAPPED, MISSING_ACCOUNT, CUSTOMER, CREDITED_INVOICE, CANNOT_POST)


class StartDateError(ValueError, NeedsPerson):
    """``--from`` cannot be turned into a date; the message says why."""


# -- from when ------------------------------------------------------------------------------
def parse_from(text: str) -> str | date:
    """A keyword of :data:`KEYWORDS`, or the date ``YYYY-MM-DD``."""
    cleaned = text.strip().lower()
    if cleaned in KEYWORDS:
        return cleaned
    try:
        return date.fromisoformat(cleaned)
    except ValueError:
        raise StartDateError(
            f"--from {text!r} is neither {', '.join(KEYWORDS)} nor a date YYYY-MM-DD"
        ) from None


def start_date(chosen: str | date, today: date, fiscal_years: Sequence[FiscalYear] = ()) -> date:
    """The first invoice date the backfill exports.

    ``this-month``: the 1st of today's month; ``this-quarter``: the first day of today's
    calendar quarter; ``fiscal-year``: the start of the Visma fiscal year holding today."""
    if isinstance(chosen, date):
        if chosen > today:
            raise StartDateError(f"--from {chosen.isoformat()} is in the future")
        return chosen
    if chosen == "this-month":
        return today.replace(day=1)
    if chosen == "this-quarter":
        return today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
    if chosen == "fiscal-year":
        holding = [year for year in fiscal_years if year.covers(today)]
        if not holding:
            known = ", ".join(
                f"{y.StartDate.isoformat()}–{y.EndDate.isoformat()}"
                for y in sorted(fiscal_years, key=lambda y: y.StartDate)
            )
            raise StartDateError(
                f"Visma has no fiscal year holding today ({today.isoformat()}; it has "
                f"{known or 'none'}); create it in Visma or give --from as a date."
            )
        return min(year.StartDate for year in holding)
    raise StartDateError(f"unknown --from {chosen!r}")


# -- one document -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Issue:
    """One thing that stops a document; documents with the same (kind, what) are one row."""

    kind: str
    what: str
    detail: str


@dataclass(frozen=True)
class Planned:
    """One Teamleader document of the backfill and what will happen to it."""

    document_type: DocumentType
    id: str
    #: Teamleader's number (``2026 / 17``), or the id of an unnumbered one.
    number: str
    day: date
    updated_at: datetime
    currency: str
    #: Teamleader's totals in the document currency, as Teamleader shows them (positive
    #: for a credit note too).
    total_excl: Decimal
    total_incl: Decimal
    #: (rate as a fraction, taxable, tax) per VAT rate.
    taxes: tuple[tuple[Decimal, Decimal, Decimal], ...]
    #: The invoicee: (``contact`` or ``company``, Teamleader id).
    customer: tuple[str, str]
    state: str
    issues: tuple[Issue, ...] = ()
    #: "USD 6,050.00 at 1.0845 = EUR 5,578.61" for a foreign-currency document to post.
    conversion: str | None = None
    #: Its Teamleader number is not the rule's: Koppel's sequence numbers it in Visma.
    koppel_number: bool = False

    @property
    def label(self) -> str:
        return f"{self.document_type.replace('_', ' ')} {self.number}"

    @property
    def sign(self) -> Decimal:
        """What the amounts count for in Visma: a credit note lowers revenue and VAT."""
        return Decimal(-1) if self.document_type == "credit_note" else Decimal(1)

    def message(self, connection_id: uuid.UUID) -> SyncMessage:
        """The message the poller would publish for this version (the same dedupe key)."""
        kind = InvoiceChanged if self.document_type == "invoice" else CreditNoteChanged
        return kind(connection_id=connection_id, teamleader_id=self.id, updated_at=self.updated_at)


def _without_lines(source: str) -> str:
    """An account source without the document's line names (the same for every document)."""
    return re.sub(r", lines? '.*$", "", source)


def translation_issues(error: TranslationError, label: str) -> list[Issue]:
    """The rows a refused translation adds (one per tax rate or account, not per document)."""
    if isinstance(error, UnmappedTaxRate):
        return [
            Issue(
                UNMAPPED,
                replace(problem, lines=()).describe(),
                "map it with `koppel mappings set --tax-rate ... --vat-code ... --account ...`",
            )
            for problem in error.problems
        ]
    if isinstance(error, MissingAccount):
        return [
            Issue(
                MISSING_ACCOUNT,
                f"account {problem.account}",
                "from "
                + "; ".join(sorted({_without_lines(s) for s in problem.sources}))
                + ". Create it in Visma's chart of accounts, or map to an existing account.",
            )
            for problem in error.problems
        ]
    # A refusal particular to the document: its own row, with its own reason.
    return [Issue(CANNOT_POST, label, error.reason)]


def assess(
    document: Invoice | CreditNote,
    posting_map: PostingMap | None,
    *,
    linked: bool,
    issues: Sequence[Issue] = (),
) -> Planned:
    """What the backfill does with ``document`` (``posting_map``: of its date's fiscal year;
    ``issues``: found elsewhere, e.g. about its customer or its credited invoice)."""
    if isinstance(document, Invoice):
        document_type: DocumentType = "invoice"
        number = document.invoice_number or document.id
        day = document.invoice_date
    else:
        document_type = "credit_note"
        number = document.credit_note_number or document.id
        day = document.credit_note_date
    total = document.total
    found = list(issues)
    state = IN_VISMA if linked else TO_POST
    conversion: str | None = None
    koppel_number = False
    if not linked and posting_map is not None:
        try:
            koppel_number = _koppel_numbered(document_type, number, posting_map)
            # Any number of Koppel's sequence shows the same posting (it is allocated in
            # the run, not in a preview, which writes nothing).
            visma_number = SEQUENCE_START if koppel_number else None
            if isinstance(document, Invoice):
                posting = posting_for_invoice(
                    document, PREVIEW_CUSTOMER_ID, posting_map, visma_number
                )
            else:
                posting = posting_for_credit_note(
                    document, PREVIEW_CUSTOMER_ID, posting_map, None, visma_number
                )
            conversion = conversion_of(posting)
        except NothingToPost:
            state = NOTHING
        except TranslationError as error:
            found += translation_issues(error, f"{document_type.replace('_', ' ')} {number}")
    if found and state != IN_VISMA:
        state = BLOCKED
    return Planned(
        document_type=document_type,
        id=document.id,
        number=number,
        day=day or date.min,
        updated_at=document.updated_at or datetime.min,
        currency=(document.currency or total.payable.currency or "?").upper(),
        total_excl=total.tax_exclusive.amount,
        total_incl=total.payable.amount,
        taxes=tuple((t.rate, t.taxable.amount, t.tax.amount) for t in total.taxes),
        customer=(document.invoicee.customer.type or "company", document.invoicee.customer.id),
        state=state,
        issues=tuple(found) if state != IN_VISMA else (),
        conversion=conversion,
        koppel_number=koppel_number,
    )


def _koppel_numbered(document_type: str, number: str, posting_map: PostingMap) -> bool:
    """Whether the run gives the document a number of Koppel's sequence (as the consumer
    decides, ``consumers/postings.py``)."""
    return koppel_numbers(
        document_type,
        number,
        posting_map.invoice_number_rule,
        posting_map.credit_note_number_rule,
    )


# -- customers --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CustomerPlan:
    kind: str
    id: str
    name: str
    #: ``linked``, ``in Visma`` (found by VAT number or reference: linked when first used)
    #: or ``to create``.
    state: str
    how: str = ""


def customer_plans(
    invoicees: Mapping[tuple[str, str], tuple[str, str | None]],
    linked: Iterable[tuple[str, str]],
    visma_customers: Iterable[VismaCustomer],
    linked_visma_ids: Iterable[str],
) -> list[CustomerPlan]:
    """Per invoicee ((kind, id) → (name, VAT number)) whether Visma has it, as the consumer
    looks: a link, else an unlinked Visma customer with the same VAT number, else one
    carrying Koppel's reference (an earlier attempt's create)."""
    linked_set = set(linked)
    taken = {visma_id.lower() for visma_id in linked_visma_ids}
    by_vat: dict[str, VismaCustomer] = {}
    by_reference: dict[str, VismaCustomer] = {}
    for customer in visma_customers:
        vat = normalized_vat(customer.VatNumber)
        if vat and (customer.Id or "").lower() not in taken:
            by_vat.setdefault(vat, customer)
        reference = getattr(customer, REFERENCE_FIELD, None)
        if reference:
            by_reference.setdefault(str(reference), customer)
    plans: list[CustomerPlan] = []
    for (kind, id_), (name, vat_number) in sorted(invoicees.items(), key=lambda i: i[1][0]):
        if (kind, id_) in linked_set:
            plans.append(CustomerPlan(kind, id_, name, "linked"))
            continue
        vat = normalized_vat(vat_number)
        found = by_vat.get(vat) if vat else None
        if found is not None:
            plans.append(CustomerPlan(kind, id_, name, "in Visma", f"same VAT number {vat}"))
            continue
        found = by_reference.get(reference_for(kind, id_))
        if found is not None:
            plans.append(CustomerPlan(kind, id_, name, "in Visma", "Koppel's reference"))
            continue
        plans.append(CustomerPlan(kind, id_, name, "to create"))
    return plans


# -- the whole preview ------------------------------------------------------------------------
@dataclass
class Preview:
    start: date
    documents: list[Planned] = field(default_factory=list)
    customers: list[CustomerPlan] = field(default_factory=list)

    def with_state(self, state: str) -> list[Planned]:
        return [d for d in self.documents if d.state == state]

    @property
    def to_post(self) -> list[Planned]:
        """What the run publishes, invoices before credit notes (a credit note waits for
        its invoice's posting)."""
        chosen = self.with_state(TO_POST)
        return sorted(chosen, key=lambda d: (d.document_type != "invoice", d.day, d.number))

    def counts(self) -> dict[DocumentType, dict[str, int]]:
        """Per document type: found, and the number per state."""
        result: dict[DocumentType, dict[str, int]] = {"invoice": {}, "credit_note": {}}
        for document in self.documents:
            row = result[document.document_type]
            row["found"] = row.get("found", 0) + 1
            row[document.state] = row.get(document.state, 0) + 1
        return result

    def totals(self) -> dict[tuple[DocumentType, str], tuple[int, Decimal, Decimal]]:
        """(type, currency) → (documents, excl. VAT, incl. VAT) of the documents to post."""
        result: dict[tuple[DocumentType, str], tuple[int, Decimal, Decimal]] = {}
        for d in self.to_post:
            key = (d.document_type, d.currency)
            n, excl, incl = result.get(key, (0, Decimal(0), Decimal(0)))
            result[key] = (n + 1, excl + d.total_excl, incl + d.total_incl)
        return result

    def vat_totals(self) -> dict[tuple[Decimal, str], tuple[Decimal, Decimal]]:
        """(rate, currency) → (taxable, VAT) of the documents to post, credit notes negative."""
        result: dict[tuple[Decimal, str], tuple[Decimal, Decimal]] = {}
        for d in self.to_post:
            for rate, taxable, tax in d.taxes:
                key = (rate.normalize(), d.currency)
                before_taxable, before_tax = result.get(key, (Decimal(0), Decimal(0)))
                result[key] = (before_taxable + d.sign * taxable, before_tax + d.sign * tax)
        return result

    def problems(self) -> list[tuple[Issue, list[str]]]:
        """Each problem once, with the documents it stops, in :data:`PROBLEM_ORDER`."""
        grouped: dict[tuple[str, str], tuple[Issue, list[str]]] = {}
        for document in self.with_state(BLOCKED):
            for issue in document.issues:
                key = (issue.kind, issue.what)
                if key not in grouped:
                    grouped[key] = (issue, [])
                if document.label not in grouped[key][1]:
                    grouped[key][1].append(document.label)
        order = {kind: index for index, kind in enumerate(PROBLEM_ORDER)}
        return sorted(grouped.values(), key=lambda g: (order.get(g[0].kind, 99), g[0].what))

    @property
    def blocked(self) -> list[Planned]:
        return self.with_state(BLOCKED)
