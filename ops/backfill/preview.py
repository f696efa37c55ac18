"""Reading the backfill's start and preview from Teamleader, Visma and the store, and
printing the preview (no click: the command in ``ops/backfill/command.py`` prints it).

Nothing here writes: it lists the department's booked invoices and credit notes dated from
the start, reads each one's ``.info`` (the lines the translation needs; a progress bar
shows it), translates each as the consumer will, and looks up the invoicees.

Cost, in API calls: Teamleader one list call per 100 documents plus one ``.info`` per
document, and one list call per 100 new customers; Visma a handful for reference data and
one per page of customers. The clients pace themselves under both limits.

Mappings Visma would accept but that book wrong (a VAT code of another rate, revenue on a
balance-sheet account) come from the pre-flight check (``ops/mappings/preflight.py``), which is
what ``koppel mappings check`` reports: they stop the documents whose lines use them.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from clients.errors import NotFound
from clients.teamleader.models import Company, Contact, CreditNote, Invoice
from consumers.reference_data import reference_data
from ops.backfill.plan import (
    BLOCKED,
    CREDITED_INVOICE,
    CUSTOMER,
    IN_VISMA,
    NOTHING,
    TO_POST,
    CustomerPlan,
    Issue,
    Planned,
    Preview,
    assess,
    customer_plans,
    start_date,
)
from ops.backfill.progress import rate_columns
from ops.mappings.preflight import (
    BOOKS_WRONG,
    LOCKED_PERIOD,
    VAT_RATE_MISMATCH,
    Problem,
    check_connection,
)
from producers.poller import BOOKED_INVOICE_STATUSES
from store import links
from store.api_clients import ApiClients
from store.connections import Connection
from store.db import Pool
from translation.customers import (
    KINDS,
    CustomerNotAcceptable,
    Kind,
    customer_body,
    reference_for,
)
from translation.errors import percent
from translation.posting_map import PostingMap

#: Teamleader's ``ids`` filter takes this many ids per list call (one page).
IDS_PER_CALL = 100


def read_start(api: ApiClients, chosen: str | date, today: date) -> date:
    """The first invoice date to export (``--from``); Visma is asked for its fiscal years
    only for ``fiscal-year``. Raises :class:`StartDateError`."""
    fiscal_years = api.visma.fiscal_years() if chosen == "fiscal-year" else []
    return start_date(chosen, today, fiscal_years)


def read_preview(
    pool: Pool, connection: Connection, api: ApiClients, start: date, out: Console
) -> Preview:
    """Everything the preview shows, read from both APIs and the store (no writes)."""
    department = connection.teamleader_department_id
    listed_invoices = list(
        api.teamleader.invoices(
            status=BOOKED_INVOICE_STATUSES, department_id=department, invoice_date_after=start
        )
    )
    notes_listing = api.teamleader.credit_notes(
        department_id=department, credit_note_date_after=start
    )
    listed_notes = [note for note in notes_listing if note.status != "draft"]
    linked = {
        (kind, teamleader_id)
        for kind, listing in (("invoice", listed_invoices), ("credit_note", listed_notes))
        for teamleader_id in links.of_documents(pool, connection.id, kind, (d.id for d in listing))
    }
    # The lines are only in .info; a linked document needs no translation, only its totals.
    invoices: list[Invoice] = []
    notes: list[CreditNote] = []
    unlinked = sum(1 for i in listed_invoices if ("invoice", i.id) not in linked) + sum(
        1 for n in listed_notes if ("credit_note", n.id) not in linked
    )
    with Progress(*rate_columns("reading documents"), console=out, transient=True) as progress:
        task = progress.add_task("read", total=unlinked)
        for invoice in listed_invoices:
            if ("invoice", invoice.id) in linked:
                invoices.append(invoice)
                continue
            invoices.append(api.teamleader.invoice(invoice.id))
            progress.advance(task)
        for note in listed_notes:
            if ("credit_note", note.id) in linked:
                notes.append(note)
                continue
            notes.append(api.teamleader.credit_note(note.id))
            progress.advance(task)

    unlinked_docs: list[Invoice | CreditNote] = [
        *(i for i in invoices if ("invoice", i.id) not in linked),
        *(n for n in notes if ("credit_note", n.id) not in linked),
    ]
    invoicees = {
        (d.invoicee.customer.type or "company", d.invoicee.customer.id): (
            d.invoicee.name or d.invoicee.customer.id,
            d.invoicee.vat_number,
        )
        for d in unlinked_docs
    }
    customers, customer_issues = _customers(pool, connection, api, invoicees)
    wrong = [
        problem
        for problem in check_connection(pool, connection, api, since=start)
        if problem.kind in BOOKS_WRONG
    ]

    preview = Preview(start=start, customers=customers)
    by_invoice: dict[str, Planned] = {}
    for invoice in invoices:
        key = (invoice.invoicee.customer.type or "company", invoice.invoicee.customer.id)
        issues: list[Issue] = [customer_issues[key]] if key in customer_issues else []
        is_linked = ("invoice", invoice.id) in linked
        planned = _assess(connection, api, invoice, is_linked, start, issues, wrong)
        by_invoice[invoice.id] = planned
        preview.documents.append(planned)
    credited = _credited_invoices(pool, connection, api, notes, by_invoice, linked)
    for note in notes:
        issues = []
        if note.invoice is not None and ("credit_note", note.id) not in linked:
            issue = _credited_issue(note, credited.get(note.invoice.id), by_invoice, start)
            if issue is not None:
                issues.append(issue)
        key = (note.invoicee.customer.type or "company", note.invoicee.customer.id)
        if key in customer_issues:
            issues.append(customer_issues[key])
        is_linked = ("credit_note", note.id) in linked
        preview.documents.append(_assess(connection, api, note, is_linked, start, issues, wrong))
    return preview


def _assess(
    connection: Connection,
    api: ApiClients,
    document: Invoice | CreditNote,
    is_linked: bool,
    start: date,
    issues: Sequence[Issue] = (),
    wrong: Sequence[Problem] = (),
) -> Planned:
    day = document.invoice_date if isinstance(document, Invoice) else document.credit_note_date
    posting_map = None if is_linked else reference_data.posting_map(connection, api, day or start)
    if posting_map is not None:
        issues = [*issues, *_booking_issues(document, wrong, posting_map)]
        locked = _locked_issue(day, posting_map, connection.name)
        if locked is not None:
            issues.append(locked)
    return assess(document, posting_map, linked=is_linked, issues=issues)


def _locked_issue(day: date | None, posting_map: PostingMap, connection_name: str) -> Issue | None:
    """A document dated in a period Visma has locked, under the policy ``refuse``: Visma
    would refuse it (4026). Under ``post_on_first_open_day`` it is posted, so no issue."""
    locked_to = posting_map.accounting_locked_to
    if (
        day is None
        or locked_to is None
        or day > locked_to
        or posting_map.locked_period_policy != "refuse"
    ):
        return None
    return Issue(
        LOCKED_PERIOD,
        f"accounting locked to {locked_to.isoformat()}",
        "Visma refuses documents dated in its locked period: ask the bookkeeper to unlock "
        f"it, or run `koppel mappings set --connection {shlex.quote(connection_name)} "
        "--locked-period-policy post_on_first_open_day` to post them on "
        f"{(locked_to + timedelta(days=1)).isoformat()}.",
    )


def _booking_issues(
    document: Invoice | CreditNote, wrong: Sequence[Problem], posting_map: PostingMap
) -> list[Issue]:
    """The pre-flight problems that would book one of ``document``'s lines wrong."""
    found: list[Issue] = []
    for problem in wrong:
        for line in document.lines:
            category = line.product_category.id if line.product_category else None
            # A line whose category has a ledger books its revenue there, not to the tax
            # rate's account; its VAT still follows the tax rate's code.
            by_rate = problem.kind == VAT_RATE_MISMATCH or (
                category is None or category not in posting_map.category_accounts
            )
            if (category is not None and category in problem.category_ids) or (
                by_rate and line.tax.id in problem.tax_rate_ids
            ):
                found.append(Issue(problem.kind, problem.what, problem.detail))
                break
    return found


def _customers(
    pool: Pool,
    connection: Connection,
    api: ApiClients,
    invoicees: dict[tuple[str, str], tuple[str, str | None]],
) -> tuple[list[CustomerPlan], dict[tuple[str, str], Issue]]:
    """Which invoicees Visma has or would get, and the ones Visma would refuse."""
    customer_links = {
        kind: links.of_documents(pool, connection.id, kind, (i for k, i in invoicees if k == kind))
        for kind in {kind for kind, _ in invoicees}
    }
    linked = [
        key
        for key in invoicees
        if (link := customer_links[key[0]].get(key[1])) is not None
        and link.visma_type == links.CUSTOMER
    ]
    if len(linked) == len(invoicees):
        return customer_plans(invoicees, linked, [], []), {}
    taken = links.remaining_by_visma_id(pool, connection.id, links.CUSTOMER)
    plans = customer_plans(invoicees, linked, api.visma.customers(), taken)
    # Visma's refusals the translation can tell in advance (no name, postal code or city);
    # the list shape has only the primary address, so a refusal is confirmed with .info.
    issues: dict[tuple[str, str], Issue] = {}
    unlinked = [p for p in plans if p.state != "linked"]
    for kind in KINDS:
        ids = [p.id for p in unlinked if p.kind == kind]
        for start in range(0, len(ids), IDS_PER_CALL):
            chunk = ids[start : start + IDS_PER_CALL]
            listing: Iterable[Contact | Company] = (
                api.teamleader.contacts(ids=chunk)
                if kind == "contact"
                else api.teamleader.companies(ids=chunk)
            )
            for customer in listing:
                if _refusal(customer, kind) is None:
                    continue
                try:
                    full: Contact | Company = (
                        api.teamleader.contact(customer.id)
                        if kind == "contact"
                        else api.teamleader.company(customer.id)
                    )
                except NotFound:
                    continue
                reason = _refusal(full, kind)
                if reason is not None:
                    name = invoicees[(kind, customer.id)][0]
                    issues[(kind, customer.id)] = Issue(CUSTOMER, f"{name} ({kind})", reason)
    return plans, issues


def _refusal(customer: Contact | Company, kind: Kind) -> str | None:
    try:
        customer_body(
            customer,
            kind=kind,
            terms_of_payment_id="preview",
            reference=reference_for(kind, customer.id),
            existing=None,
        )
    except CustomerNotAcceptable as refusal:
        return refusal.reason
    return None


def _credited_invoices(
    pool: Pool,
    connection: Connection,
    api: ApiClients,
    notes: Sequence[CreditNote],
    by_invoice: dict[str, Planned],
    linked: set[tuple[str, str]],
) -> dict[str, Invoice]:
    """The credited invoices that are neither in this backfill nor posted (list shape)."""
    credited = {
        n.invoice.id
        for n in notes
        if n.invoice is not None
        and ("credit_note", n.id) not in linked
        and n.invoice.id not in by_invoice
    }
    posted = links.of_documents(pool, connection.id, "invoice", credited)
    wanted = sorted(credited - posted.keys())
    found: dict[str, Invoice] = {}
    for start in range(0, len(wanted), IDS_PER_CALL):
        for invoice in api.teamleader.invoices(ids=wanted[start : start + IDS_PER_CALL]):
            found[invoice.id] = invoice
    return found


def _credited_issue(
    note: CreditNote, outside: Invoice | None, by_invoice: dict[str, Planned], start: date
) -> Issue | None:
    """Why ``note`` cannot be posted because of its invoice (None: it can)."""
    assert note.invoice is not None
    number = note.credit_note_number or note.id
    planned = by_invoice.get(note.invoice.id)
    if planned is not None:
        if planned.state == BLOCKED:
            return Issue(
                CREDITED_INVOICE,
                f"credit note {number}",
                f"it credits invoice {planned.number}, which cannot be posted (see its "
                "problem); fix that first.",
            )
        return None
    if outside is None:
        # Linked (posted already), or Teamleader does not list it: the consumer decides.
        return None
    credited = outside.invoice_number or outside.id
    if outside.department.id != note.department.id:
        return Issue(
            CREDITED_INVOICE,
            f"credit note {number}",
            f"it credits invoice {credited} of another department; Koppel does not post it. "
            "Post the credit note in Visma by hand.",
        )
    if outside.invoice_date is not None and outside.invoice_date < start:
        return Issue(
            CREDITED_INVOICE,
            f"credit note {number}",
            f"it credits invoice {credited} of {outside.invoice_date.isoformat()}, before "
            f"the backfill's start; backfill from {outside.invoice_date.isoformat()} or "
            "earlier, or post the credit note in Visma by hand.",
        )
    if outside.status not in BOOKED_INVOICE_STATUSES:
        return Issue(
            CREDITED_INVOICE,
            f"credit note {number}",
            f"it credits invoice {credited}, which is {outside.status}, not booked.",
        )
    return None


# -- printing ---------------------------------------------------------------------------------
#: Rows of the foreign-currency and Koppel-numbered tables at most.
FOREIGN_SHOWN = 10


def money(amount: object) -> str:
    return f"{amount:,.2f}"


def preview_tables(preview: Preview, connection_name: str) -> list[Table]:
    """Documents per type, totals per type and currency, per VAT rate, customers, problems."""
    labels = {"invoice": "invoices", "credit_note": "credit notes"}
    tables: list[Table] = []

    counts = Table(title=f"Backfill of {connection_name} from {preview.start.isoformat()}")
    counts.add_column("documents")
    for column in ("found", IN_VISMA, TO_POST, NOTHING, BLOCKED):
        counts.add_column(column, justify="right")
    for kind, row in preview.counts().items():
        counts.add_row(
            labels[kind],
            *(str(row.get(c, 0)) for c in ("found", IN_VISMA, TO_POST, NOTHING, BLOCKED)),
        )
    tables.append(counts)

    totals = Table(title="To post: totals per type (Teamleader's amounts)")
    totals.add_column("documents")
    totals.add_column("currency")
    totals.add_column("count", justify="right")
    totals.add_column("excl. VAT", justify="right")
    totals.add_column("incl. VAT", justify="right")
    for (kind, currency), (n, excl, incl) in sorted(preview.totals().items()):
        totals.add_row(labels[kind], currency, str(n), money(excl), money(incl))
    tables.append(totals)

    vat = Table(title="To post: per VAT rate (credit notes count negative)")
    vat.add_column("VAT rate", justify="right")
    vat.add_column("currency")
    vat.add_column("taxable", justify="right")
    vat.add_column("VAT", justify="right")
    for (rate, currency), (taxable, tax) in sorted(
        preview.vat_totals().items(), key=lambda item: (-item[0][0], item[0][1])
    ):
        vat.add_row(percent(rate), currency, money(taxable), money(tax))
    tables.append(vat)

    foreign = [d for d in preview.to_post if d.conversion]
    if foreign:
        # The first foreign documents, so a bookkeeper can check the rate's direction.
        rates = Table(title=f"To post in a foreign currency: {len(foreign)} (the conversion used)")
        rates.add_column("document")
        rates.add_column("conversion", overflow="fold")
        for document in foreign[:FOREIGN_SHOWN]:
            rates.add_row(document.label, document.conversion)
        if len(foreign) > FOREIGN_SHOWN:
            rates.add_row(f"and {len(foreign) - FOREIGN_SHOWN} more", "")
        tables.append(rates)

    numbered = [d for d in preview.to_post if d.koppel_number]
    if numbered:
        table = Table(
            title=f"Numbered by Koppel: {len(numbered)} (the number rule cannot represent "
            "Teamleader's number; it stays in the voucher text)"
        )
        table.add_column("document")
        for document in numbered[:FOREIGN_SHOWN]:
            table.add_row(document.label)
        if len(numbered) > FOREIGN_SHOWN:
            table.add_row(f"and {len(numbered) - FOREIGN_SHOWN} more")
        tables.append(table)

    to_create = [c for c in preview.customers if c.state == "to create"]
    customers = Table(title=f"Customers to create in Visma: {len(to_create)}")
    customers.add_column("Teamleader customer")
    customers.add_column("kind")
    customers.add_column("id", overflow="fold")
    for customer in to_create:
        customers.add_row(customer.name, customer.kind, customer.id)
    tables.append(customers)

    problems = preview.problems()
    if problems:
        table = Table(title=f"Problems: {len(problems)} (nothing was written)")
        table.add_column("kind")
        table.add_column("what", overflow="fold")
        table.add_column("documents", overflow="fold")
        table.add_column("what to do", overflow="fold")
        for issue, documents in problems:
            shown = ", ".join(documents[:5]) + (
                f" and {len(documents) - 5} more" if len(documents) > 5 else ""
            )
            table.add_row(issue.kind, issue.what, f"{len(documents)}: {shown}", issue.detail)
        tables.append(table)
    return tables


def summary_line(preview: Preview) -> str:
    found_in_visma = [c for c in preview.customers if c.state == "in Visma"]
    return (
        f"{len(preview.to_post)} documents to post, {len(preview.with_state(IN_VISMA))} "
        f"already in Visma, {len(preview.with_state(NOTHING))} with nothing to post, "
        f"{len(preview.blocked)} with problems; "
        f"{sum(1 for c in preview.customers if c.state == 'to create')} customers to create, "
        f"{len(found_in_visma)} found in Visma."
    )
