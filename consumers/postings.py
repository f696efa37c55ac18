"""Posting one Teamleader document into Visma exactly once — shared by invoices and credit notes.

Ensure the customer, then under the document's lock: translate (a pure function), and either
write the ledger item once (``store.writes.write_once``, the Visma invoice number as the
deterministic reference to look up after an ambiguous attempt) or, when it was posted
before, compare fingerprints: unchanged is fine; changed means a person must look, because
Visma's posting is never silently replaced (docs/architecture.md#exactly-once).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal

from clients.errors import Conflict, DataError, NotFound
from clients.teamleader.models import Document
from clients.visma.models import CustomerLedgerItem, CustomerLedgerItemWithVoucher
from consumers.base import Job, Outcome
from consumers.customer_sync import ensure_customer, ensure_customer_of_invoicee
from consumers.errors import NotYetPossible, PermanentFailure
from consumers.reference_data import reference_data
from consumers.reversal import reverse
from contracts import keys
from contracts.outcome_names import OutcomeName
from store import deletions, links, numbers
from store.db import Conn
from store.links import Link
from store.writes import document_lock, write_once
from translation.customers import CustomerNotFound
from translation.errors import (
    MissingAccount,
    NothingToPost,
    UnmappedTaxRate,
    UnsupportedDocument,
)
from translation.ledger_items import conversion_of, fingerprint, row_differences
from translation.numbers import free_for_koppel, koppel_numbers
from translation.posting_map import PostingMap

#: (Visma customer id, the connection's posting map, the Visma number Koppel allocated or
#: None for the rule's) → the posting.
Translate = Callable[[str, PostingMap, int | None], CustomerLedgerItemWithVoucher]


def post_document(
    job: Job,
    *,
    document_type: str,
    document: Document,
    number: str,
    day: date | None,
    translate: Translate,
    facts: dict[str, object] | None = None,
) -> Outcome:
    """Post ``document`` (an invoice or credit note already read from Teamleader; ``day``
    its invoice or credit-note date)."""
    connection = job.connection
    pool = job.runtime.pool
    label = f"{document_type.replace('_', ' ')} {number}"
    if elsewhere := other_department(job, document, label):
        return elsewhere
    if day is None:
        raise UnsupportedDocument(
            f"Teamleader {label} has no date, so it has no period in Visma; book it first."
        )
    key = keys.posting(connection.id, document_type, document.id)
    customer_id = _customer_of(job, document)
    with document_lock(pool, key) as conn:

        def allocate(posting_map: PostingMap) -> int | None:
            return _allocated_number(conn, job, document_type, document, number, posting_map)

        try:
            posting = _translate(job, customer_id, day, translate, allocate)
        except NothingToPost as nothing:
            return Outcome(OutcomeName.SKIPPED, nothing.reason)
        posting = _renumbered(job, conn, document_type, document.id, posting)
        print_ = fingerprint(posting)
        linked = links.get(conn, connection.id, document_type, document.id)
        if linked is not None:
            if linked.fingerprint == print_:
                return Outcome(
                    OutcomeName.UNCHANGED, f"already posted as Visma {linked.visma_number}"
                )
            return Outcome(
                OutcomeName.ATTENTION,
                f"Teamleader {document_type.replace('_', ' ')} {number} changed after Koppel "
                f"posted it as Visma invoice {linked.visma_number}; the Visma posting was left "
                "as it is. Correct it in Visma (credit and post again) if the change matters.",
                {
                    "visma_ledger_item_id": linked.visma_id,
                    "visma_number": linked.visma_number,
                    "teamleader_number": number,
                },
            )
        visma = job.clients.visma

        def ours(found: CustomerLedgerItem | None) -> str | None:
            if found is None or found.Id is None:
                return None
            other = links.by_visma(conn, connection.id, links.LEDGER_ITEM, found.Id)
            return _ours(found, posting, number, linked_elsewhere=other is not None)

        def as_sent(found: CustomerLedgerItem | None) -> str | None:
            """Ours, and booked with the rows Koppel sent: only then is it adopted."""
            item_id = ours(found)
            if item_id is not None and found is not None:
                _require_rows_as_sent(job, posting, found, label)
            return item_id

        def lookup(reference: str) -> str | None:
            return as_sent(visma.find_ledger_item(int(reference)))

        def create() -> str:
            try:
                created = visma.create_ledger_item_with_voucher(posting)
            except Conflict:
                # The number exists: ours from an attempt we lost track of, or someone else's.
                found = as_sent(visma.find_ledger_item(posting.InvoiceNumber))
                if found is None:
                    raise
                return found
            _require_rows_as_sent(job, posting, created, label)
            return str(created.Id)

        def record(db: Conn, remote_id: str) -> None:
            links.save(
                db,
                connection.id,
                Link(
                    teamleader_type=document_type,
                    teamleader_id=document.id,
                    visma_type=links.LEDGER_ITEM,
                    visma_id=remote_id,
                    visma_number=str(posting.InvoiceNumber),
                    fingerprint=print_,
                    remaining=posting.RemainingAmountInvoiceCurrency,
                    currency=posting.CurrencyCode,
                ),
            )

        try:
            result = write_once(
                conn,
                key,
                connection_id=connection.id,
                kind=f"{document_type}_posting",
                reference=str(posting.InvoiceNumber),
                lookup=lookup,
                create=create,
                record=record,
                # Visma may list a new item late (sandbox/visma/ASSUMPTIONS.md, "Modes").
                settle_s=job.runtime.settings.visma_listing_delay_s,
            )
        except DataError as refusal:
            raise explained(job, refusal, posting, label) from refusal
    return Outcome(
        OutcomeName.POSTED,
        f"posted as Visma invoice {posting.InvoiceNumber}"
        + ("" if result.created else " (found in Visma after an unfinished attempt)"),
        {
            "visma_ledger_item_id": result.remote_id,
            "visma_number": posting.InvoiceNumber,
            # ``koppel history 2026/17`` finds the document by it.
            "teamleader_number": number,
            "visma_customer_id": customer_id,
            "total": str(posting.TotalAmountInvoiceCurrency),
            "currency": posting.CurrencyCode,
            **({"conversion": conversion} if (conversion := conversion_of(posting)) else {}),
            **(facts or {}),
        },
    )


#: A document that reuses the number of a deleted, posted one gets the Visma number with
#: one more digit, 1 to 8 (202600005 → 2026000051): still under 2^31 (Visma's integer)
#: for years up to 2147, and the Teamleader number stays in the voucher text.
#: (9 is the reversal's: translation/reversal.py).
REUSE_SUFFIXES = range(1, 9)


def _renumbered(
    job: Job,
    conn: Conn,
    document_type: str,
    document_id: str,
    posting: CustomerLedgerItemWithVoucher,
) -> CustomerLedgerItemWithVoucher:
    """The posting under a Visma number no deleted document holds.

    Teamleader frees a deleted invoice's number and books the next one under it, while
    Visma keeps the deleted one's ledger item (docs/architecture.md#deletions). The same
    document always gets the same number: its own link's, else the first suffix free."""
    connection_id = job.connection.id
    base = str(posting.InvoiceNumber)
    holder = links.by_visma_number(conn, connection_id, links.LEDGER_ITEM, base)
    if holder is None or (holder.teamleader_type, holder.teamleader_id) == (
        document_type,
        document_id,
    ):
        return posting
    if base not in deletions.numbers_of_deleted(conn, connection_id):
        # Noticed here first when the new document's message comes before the check.
        if not _still_in_teamleader(job, holder):
            deletions.notice(
                conn, connection_id, holder.teamleader_type, holder.teamleader_id, "consumer"
            )
        else:
            return posting  # a live document holds it: posting refuses it as before
    candidates = [f"{base}{n}" for n in REUSE_SUFFIXES]
    own = links.get(conn, connection_id, document_type, document_id)
    if own is not None and own.visma_number in candidates:
        chosen: str | None = own.visma_number
    else:
        used = deletions.visma_numbers_in_use(conn, connection_id, candidates)
        chosen = next((c for c in candidates if c not in used), None)
    if chosen is None:
        raise PermanentFailure(
            "InvoiceNumberTaken",
            f"Visma invoice number {base} and its reuse numbers {candidates[0]} to"
            f" {candidates[-1]} are all held by documents deleted in Teamleader.",
        )
    return posting.model_copy(update={"InvoiceNumber": int(chosen)})


def _still_in_teamleader(job: Job, link: Link) -> bool:
    teamleader = job.clients.teamleader
    try:
        if link.teamleader_type == "credit_note":
            teamleader.credit_note(link.teamleader_id)
        else:
            teamleader.invoice(link.teamleader_id)
    except NotFound:
        return False
    return True


def deleted_in_teamleader(job: Job, document_type: str, document_id: str) -> Outcome:
    """The outcome of a message whose document Teamleader answers 404 for: recorded as
    deleted once (``store/deletions.py``: a posted one needs attention there), never a
    failure to retry (docs/architecture.md#deletions)."""
    pool = job.runtime.pool
    deletions.notice(pool, job.connection.id, document_type, document_id, "consumer")
    linked = links.get(pool, job.connection.id, document_type, document_id)
    noun = document_type.replace("_", " ")
    if linked is None:
        return Outcome(OutcomeName.SKIPPED, f"{noun} was deleted in Teamleader before posting")
    if deletions.policy(pool, job.connection.id) == deletions.REVERSE:
        number = deletions.teamleader_number(pool, job.connection.id, document_type, document_id)
        return reverse(job, document_type, document_id, linked, number or document_id)
    return Outcome(
        OutcomeName.SKIPPED,
        f"{noun} was deleted in Teamleader after Koppel posted it as Visma invoice"
        f" {linked.visma_number}; listed as needing attention",
        {"visma_ledger_item_id": linked.visma_id, "visma_number": linked.visma_number},
    )


def other_department(job: Job, document: Document, label: str) -> Outcome | None:
    """The skip of a document another department booked (a connection is one department)."""
    if document.department.id == job.connection.teamleader_department_id:
        return None
    return Outcome(OutcomeName.SKIPPED, f"{label} belongs to another department")


def dated_before_start(job: Job, document_type: str, day: date | None) -> Outcome | None:
    """The skip of a document dated before the connection's start (``sync_from``).

    The cut-over is a document date: a firm switching on 1 January booked its older
    invoices by hand or with another connector, and a payment that bumps an old invoice's
    ``updated_at`` past the cut-over must not post it again (issue 13, point 6)."""
    start = job.connection.sync_from
    if day is None or day >= start:
        return None
    return Outcome(
        OutcomeName.SKIPPED,
        f"dated before the connection's start ({start.isoformat()}): this "
        f"{document_type.replace('_', ' ')} of {day.isoformat()} was booked elsewhere, so "
        "Koppel does not post it",
        {"before_start": True, "document_date": day.isoformat()},
    )


def _customer_of(job: Job, document: Document) -> str:
    """The Visma customer id of the document's invoicee.

    A linked customer is used as it is — the contacts queue keeps it up to date — which
    saves a Teamleader call per document; an unknown one is made first (outside the
    posting's lock: it has its own, and a thread holds one pooled session for a lock)."""
    invoicee = document.invoicee.customer
    kind = invoicee.type or "company"
    linked = links.get(job.runtime.pool, job.connection.id, kind, invoicee.id)
    if linked is not None and linked.visma_type == links.CUSTOMER:
        return linked.visma_id
    try:
        return ensure_customer(job, kind, invoicee.id).visma_id
    except CustomerNotFound:
        # Deleted in Teamleader (or merged away) after the document was booked.
        return ensure_customer_of_invoicee(job, kind, document.invoicee).visma_id


def _allocated_number(
    conn: Conn,
    job: Job,
    document_type: str,
    document: Document,
    number: str,
    posting_map: PostingMap,
) -> int | None:
    """None when the connection's rule represents Teamleader's ``number``; else the Visma
    number Koppel's sequence gives the document (once: ``store/numbers.py``). An invoice
    number the credit-note rule could also give is not the rule's (issue 13, point 2)."""
    invoice_rule = posting_map.invoice_number_rule
    credit_rule = posting_map.credit_note_number_rule
    if not koppel_numbers(document_type, number, invoice_rule, credit_rule):
        return None
    return numbers.allocate(
        conn,
        job.connection.id,
        document_type,
        document.id,
        number,
        acceptable=lambda n: free_for_koppel(n, invoice_rule, credit_rule),
    )


def _translate(
    job: Job,
    customer_id: str,
    day: date,
    translate: Translate,
    allocate: Callable[[PostingMap], int | None],
) -> CustomerLedgerItemWithVoucher:
    """Translate; on a missing mapping or account, once more with fresh reference data."""
    for attempt in (1, 2):
        posting_map = reference_data.posting_map(job.connection, job.clients, day)
        try:
            return translate(customer_id, posting_map, allocate(posting_map))
        except (UnmappedTaxRate, MissingAccount):
            if attempt == 2 or not reference_data.invalidate(job.connection.id):
                raise
    raise AssertionError("unreachable")


def _ours(
    found: CustomerLedgerItem,
    posting: CustomerLedgerItemWithVoucher,
    number: str,
    linked_elsewhere: bool,
) -> str:
    """The found ledger item's id if it is this document's posting; refuse a stranger's.

    Ours means: the same customer, total and date as what Koppel sends, and not the posting
    of another Teamleader document (an item keyed in by hand in Visma can share a number,
    customer and amount, but then it is linked to nothing — or to something else)."""
    same_total = Decimal(found.TotalAmountInvoiceCurrency) == posting.TotalAmountInvoiceCurrency
    same_customer = found.CustomerId.lower() == posting.CustomerId.lower()
    same_date = found.InvoiceDate is None or found.InvoiceDate == posting.InvoiceDate
    if same_customer and same_total and same_date and not linked_elsewhere:
        return str(found.Id)
    raise PermanentFailure(
        "InvoiceNumberTaken",
        f"Visma already has invoice number {posting.InvoiceNumber} for another document, "
        f"customer, date or amount, so Teamleader document {number} cannot be posted under "
        "it. Change the invoice number rule (`koppel mappings set --invoice-number-rule`) "
        "or the Visma item.",
    )


#: Visma's refusals of a voucher date in a locked period (4026) or locked year (4038).
LOCKED_PERIOD_CODES = frozenset({"4026", "4038"})
_ROW_FIELD = re.compile(r"^Voucher\.Rows\[(\d+)\]\.(\w+)$")


def _require_rows_as_sent(
    job: Job, posting: CustomerLedgerItemWithVoucher, item: CustomerLedgerItem, label: str
) -> None:
    """Read the voucher Visma booked and compare its rows with what was sent (VAT code and
    VatAmount per row): Visma may replace a row's VAT code by its account's default
    (``useDefaultVatCodes``), which would book a wrong VAT return without any error.

    A difference is a data error naming the row and account; the item is not adopted (no
    link), so every later attempt finds it and refuses again until a person has looked."""
    day = posting.Voucher.VoucherDate or posting.InvoiceDate
    year_id = reference_data.fiscal_year_id(job.connection, job.clients, day) if day else None
    if year_id is None:
        return  # no fiscal year: Visma would have refused the posting (3001)
    booked = job.clients.visma.voucher(year_id, item.VoucherId)
    problems = row_differences(posting.Voucher.Rows, booked.Rows)
    if problems:
        raise PermanentFailure(
            "VoucherRowsChanged",
            f"Visma booked {label} as invoice {posting.InvoiceNumber} (ledger item {item.Id}) "
            f"with other rows than Koppel sent: {'; '.join(problems)}. Koppel did not record "
            "it as posted. Check the account's default VAT code in Visma, correct or credit "
            "that voucher, then requeue.",
        )


def explained(
    job: Job, refusal: DataError, posting: CustomerLedgerItemWithVoucher, label: str
) -> Exception:
    """Visma's refusal of a posting in words a bookkeeper can act on, where Koppel knows
    more than Visma's message: the lock date of a locked period, the account of a row."""
    if refusal.code in LOCKED_PERIOD_CODES:
        locked_to = job.clients.visma.company_settings().AccountingLockedTo
        day = posting.InvoiceDate or posting.Voucher.VoucherDate
        if job.connection.locked_period_policy == "post_on_first_open_day":
            # The lock moved since the reference data was read: read it again and retry.
            reference_data.invalidate(job.connection.id)
            return NotYetPossible(
                f"{label}: Visma's accounting is now locked to "
                f"{locked_to.isoformat() if locked_to else '?'}; posting it on the first "
                "open day once the lock date is read again."
            )
        what = "year" if refusal.code == "4038" else "period"
        return PermanentFailure(
            "LockedPeriod",
            f"{label} is dated {day.isoformat() if day else 'today'}, in a locked {what}: "
            "Visma's accounting is locked to "
            f"{locked_to.isoformat() if locked_to else 'a date Visma did not say'}. Ask the "
            "bookkeeper to unlock that period in Visma, or post it on the first open day "
            "(`koppel mappings set --locked-period-policy post_on_first_open_day`), then "
            "requeue.",
        )
    for field in refusal.fields:
        match = _ROW_FIELD.match(field)
        if match is None or int(match.group(1)) >= len(posting.Voucher.Rows):
            continue
        account = posting.Voucher.Rows[int(match.group(1))].AccountNumber
        if match.group(2).startswith("CostCenterItemId"):
            return PermanentFailure(
                "CostCenterRequired",
                f"Visma refuses {label}: account {account} requires a cost centre on every "
                "row, and Koppel books none (a voucher row's first cost centre cannot be set "
                f"through the API). Turn off the mandatory cost centre of account {account} "
                "in Visma or map the lines to another account, then requeue. "
                f"({refusal.reason})",
            )
        return PermanentFailure(
            type(refusal).__name__,
            f"Visma refuses {label}, row {int(match.group(1)) + 1} (account {account}): "
            f"{refusal.reason}",
        )
    return refusal
