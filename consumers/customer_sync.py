"""Make sure a Teamleader contact or company exists, up to date, as a Visma customer.

Used by the contacts consumer for every ``CustomerChanged`` and by the invoice consumers
before they post a document (for its invoicee), so the common case is cheap: when the link
exists and Teamleader's ``updated_at`` is the one the link last saw, it costs one Teamleader
read, one database read and no Visma call, and takes no lock (it only reads).

Anything else happens under the customer's lock (``contracts.keys.customer``). What to do is
decided by ``translation.customer_plan`` without I/O; this module reads and writes:

1. the body is made from Teamleader (``translation.customers``); if it is the one the link
   last wrote, only the link's ``updated_at`` moves;
2. the Visma customer is found by the link, else by the VAT number (a customer a person
   entered in Visma before Koppel came), else by Koppel's reference in ``Note``;
3. none found: created through ``write_once`` (the same key), which after a lost answer
   looks the reference up before creating again;
4. found: updated (PUT, every field it had sent back) only when a field differs;
5. the link is saved with the fingerprint of what was written.

Teamleader's ``updated_at`` has whole seconds, so two changes within one second are one
version here, as they are one dedupe key for the producers: the next change carries both.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clients.errors import DataError, NotFound
from clients.teamleader.models import Company, Contact, Invoicee
from clients.visma import VismaClient, odata_text
from clients.visma.models import Customer as VismaCustomer
from consumers.base import Job
from consumers.reference_data import reference_data
from contracts import keys
from contracts.outcome_names import OutcomeName
from store import deletions, links
from store.db import Conn
from store.links import Link
from store.writes import document_lock, write_once
from translation.customer_plan import (
    Action,
    CustomerPlan,
    Existing,
    plan_customer,
    plan_relink,
)
from translation.customers import (
    KINDS,
    REFERENCE_FIELD,
    CustomerNotFound,
    Kind,
    customer_body,
    describe,
    fingerprint,
    from_invoicee,
    normalized_vat,
    read_fingerprint,
    reference_for,
    refused,
    terms_of_payment_for,
)
from translation.errors import TranslationError

logger = logging.getLogger(__name__)

#: Visma's "the query cannot be answered" (an unsupported ``$filter``).
QUERY_PARAMETER_ERROR = "6000"


@dataclass(frozen=True)
class CustomerResult:
    visma_id: str
    outcome: OutcomeName
    #: One sentence for the history: what was done and why.
    detail: str
    #: Visma's ``CustomerNumber``, when known.
    visma_number: str | None = None


def ensure_customer(job: Job, kind: str, teamleader_id: str) -> CustomerResult:
    """The Visma customer of Teamleader ``kind`` ``teamleader_id``, created or updated."""
    known = next((k for k in KINDS if k == kind), None)
    if known is None:
        raise TranslationError(
            f"Teamleader {kind} {teamleader_id} cannot become a Visma customer: only contacts "
            "and companies can."
        )
    pool = job.runtime.pool
    connection_id = job.connection.id
    customer = _read(job, known, teamleader_id)
    current = _still_current(links.get(pool, connection_id, known, teamleader_id), customer, known)
    if current is not None:
        return current
    with document_lock(pool, keys.customer(connection_id, known, teamleader_id)) as conn:
        # Another worker may have written it while this one waited for Teamleader.
        link = links.get(conn, connection_id, known, teamleader_id)
        current = _still_current(link, customer, known)
        if current is not None:
            return current
        return _apply(job, conn, known, customer, link)


def ensure_customer_of_invoicee(job: Job, kind: str, invoicee: Invoicee) -> CustomerResult:
    """The Visma customer of a document whose Teamleader customer was deleted before Koppel
    linked it: made once from the invoicee block (``translation.customers.from_invoicee``),
    and the deletion noted in the customer's history (docs/architecture.md#deletions)."""
    known: Kind = "contact" if kind == "contact" else "company"
    pool = job.runtime.pool
    connection_id = job.connection.id
    customer = from_invoicee(known, invoicee)
    with document_lock(pool, keys.customer(connection_id, known, customer.id)) as conn:
        link = _customer_link(links.get(conn, connection_id, known, customer.id))
        if link is not None:
            result = CustomerResult(
                link.visma_id, OutcomeName.UNCHANGED, "linked already", link.visma_number
            )
        else:
            result = _apply(job, conn, known, customer, None)
    deletions.notice(pool, connection_id, known, customer.id, "consumer")
    return result


def _read(job: Job, kind: str, teamleader_id: str) -> Contact | Company:
    client = job.clients.teamleader
    try:
        return client.company(teamleader_id) if kind == "company" else client.contact(teamleader_id)
    except NotFound as error:
        raise CustomerNotFound(
            f"Teamleader has no {kind} {teamleader_id} (it was deleted, or the id is wrong), "
            "so Koppel cannot make it a Visma customer."
        ) from error


def _customer_link(link: Link | None) -> Link | None:
    return link if link is not None and link.visma_type == links.CUSTOMER else None


def _still_current(
    link: Link | None, customer: Contact | Company, kind: str
) -> CustomerResult | None:
    """The unchanged result when the link saw this Teamleader version (or a later one)."""
    link = _customer_link(link)
    seen = read_fingerprint(link.fingerprint) if link else None
    if link is None or seen is None or seen.updated_at is None or customer.updated_at is None:
        return None
    if seen.updated_at < customer.updated_at:
        return None
    return CustomerResult(
        link.visma_id,
        OutcomeName.UNCHANGED,
        f"{describe(customer, kind)} is unchanged since {customer.updated_at.isoformat()}; "
        f"Visma customer {link.visma_number or link.visma_id} is up to date.",
        link.visma_number,
    )


def _apply(
    job: Job,
    conn: Conn,
    kind: Kind,
    customer: Contact | Company,
    link: Link | None,
) -> CustomerResult:
    """Ask ``translation.customer_plan`` what Visma needs, do it, and save the link with the
    fingerprint of this Teamleader version."""
    visma = job.clients.visma
    connection_id = job.connection.id
    link = _customer_link(link)
    reference = reference_for(kind, customer.id)
    terms_id = terms_of_payment_for(
        customer.payment_term,
        reference_data.terms_of_payment(job.connection, job.clients),
        job.connection.default_terms_of_payment_id,
    )
    fresh = customer_body(
        customer, kind=kind, terms_of_payment_id=terms_id, reference=reference, existing=None
    )

    def plan_with(existing: Existing | None) -> CustomerPlan:
        return plan_customer(
            customer,
            kind=kind,
            terms_of_payment_id=terms_id,
            reference=reference,
            fresh=fresh,
            existing=existing,
        )

    dropped: str | None = None  # what a person must look at after an update
    plan = plan_relink(fresh, link.fingerprint) if link is not None else None
    if plan is None:
        plan = plan_with(_find_existing(visma, conn, connection_id, kind, customer, link))
    if plan.action is Action.RELINK:
        assert link is not None  # a relink needs the link's fingerprint
        visma_id, number = link.visma_id, link.visma_number
    elif plan.action is Action.CREATE:
        made = _create(visma, conn, connection_id, kind, customer, plan.body, reference)
        if isinstance(made, Existing):
            plan = plan_with(made)
            visma_id, number, dropped = _update(visma, kind, customer, plan)
        else:
            visma_id, number = str(made.Id), made.CustomerNumber
    else:
        visma_id, number, dropped = _update(visma, kind, customer, plan)
    mark = fingerprint(fresh, customer.updated_at)
    _save_link(conn, connection_id, kind, customer.id, visma_id, number, mark)
    detail = plan.detail(describe(customer, kind), number or visma_id)
    if dropped is not None:
        return CustomerResult(visma_id, OutcomeName.ATTENTION, dropped, number)
    return CustomerResult(visma_id, plan.outcome, detail, number)


class _Create:
    """``write_once``'s create: the ``POST``, keeping the customer Visma answers with (its
    ``CustomerNumber`` is known only from that answer)."""

    def __init__(self, visma: VismaClient, body: Mapping[str, Any]) -> None:
        self.visma = visma
        self.body = body
        self.made: VismaCustomer | None = None

    def __call__(self) -> str:
        self.made = self.visma.create_customer(self.body)
        return str(self.made.Id)


def _create(
    visma: VismaClient,
    conn: Conn,
    connection_id: uuid.UUID,
    kind: Kind,
    customer: Contact | Company,
    body: Mapping[str, Any],
    reference: str,
) -> VismaCustomer | Existing:
    """Create the Visma customer once (``write_once``): the one Visma made now, or the one an
    earlier attempt made whose answer or link was lost (found by Koppel's reference), to be
    brought up to date."""
    create = _Create(visma, body)

    def lookup(earlier_reference: str) -> str | None:
        again = _by_reference(visma, earlier_reference, str(body["Name"]))
        return str(again.Id) if again is not None else None

    try:
        result = write_once(
            conn,
            keys.customer(connection_id, kind, customer.id),
            connection_id=connection_id,
            kind="customer",
            reference=reference,
            lookup=lookup,
            create=create,
        )
    except DataError as refusal:
        raise refused(customer, kind, refusal) from refusal
    if result.created and create.made is not None:
        return create.made
    return Existing(
        visma.customer(result.remote_id),
        "created by an earlier attempt whose answer was lost",
        ours=True,
    )


def _update(
    visma: VismaClient, kind: Kind, customer: Contact | Company, plan: CustomerPlan
) -> tuple[str, str | None, str | None]:
    """Send the plan's body to its Visma customer when a field differs; the customer's id
    and number, and what needs a person's attention (None when nothing does).

    A VAT number Visma accepted before and now refuses (4025: VIES no longer knows it, the
    customer was deregistered) does not stop the customer's other changes: they are sent
    without the VAT number, and the outcome asks for attention. Keeping a number VIES
    refuses is not possible (a PUT replaces the customer, and Visma checks every PUT), and
    holding back an address change would put wrong data on every later invoice; a bookkeeper
    must decide whether the customer still gets reverse-charge or ICP treatment."""
    assert plan.existing is not None  # an update or keep plan names its Visma customer
    existing = plan.existing.customer
    visma_id, number = str(existing.Id), existing.CustomerNumber
    if plan.action is not Action.UPDATE:
        return visma_id, number, None
    try:
        number = visma.update_customer(visma_id, plan.body).CustomerNumber or number
        return visma_id, number, None
    except DataError as refusal:
        sent = normalized_vat(str(plan.body.get("VatNumber") or ""))
        if not (refusal.code == "4025" and sent and sent == normalized_vat(existing.VatNumber)):
            raise refused(customer, kind, refusal) from refusal
    without_vat = {k: v for k, v in plan.body.items() if k != "VatNumber"}
    try:
        number = visma.update_customer(visma_id, without_vat).CustomerNumber or number
    except DataError as refusal:
        raise refused(customer, kind, refusal) from refusal
    return (
        visma_id,
        number,
        f"{describe(customer, kind)}: Visma no longer accepts VAT number {sent} (VIES does "
        f"not know it: deregistered?), which it accepted before. Visma customer "
        f"{number or visma_id} was updated with the other changes and without a VAT number. "
        "Check the number with the customer and correct it in Teamleader; until then, "
        "invoices to this customer are not reverse-charge or intra-EU.",
    )


def _find_existing(
    visma: VismaClient,
    conn: Conn,
    connection_id: uuid.UUID,
    kind: str,
    customer: Contact | Company,
    link: Link | None,
) -> Existing | None:
    """The Visma customer this Teamleader customer already is: by link, then VAT number.

    Koppel's own reference is looked up by ``write_once`` when an earlier create may have
    landed; a customer nobody tied to this one is created."""
    if link is not None:
        try:
            return Existing(visma.customer(link.visma_id), "linked")
        except NotFound:
            logger.warning(
                "Visma customer %s linked to %s %s is gone; looking for another",
                link.visma_id,
                kind,
                customer.id,
            )
    vat = normalized_vat(customer.vat_number)
    if vat is not None:
        for candidate in visma.find_customers(vat_number=vat):
            other = links.by_visma(conn, connection_id, links.CUSTOMER, str(candidate.Id))
            # One Visma customer stands for one Teamleader customer (links_visma is unique).
            if other is None or (other.teamleader_type, other.teamleader_id) == (kind, customer.id):
                return Existing(candidate, f"same VAT number {vat}")
    return None


def _by_reference(visma: VismaClient, reference: str, name: str) -> VismaCustomer | None:
    """The customer whose ``Note`` is ``reference``.

    Should the API refuse to filter on ``Note``, the customers of the same name are read, and
    should it refuse that too, every customer; the notes are compared here in every case."""
    filters = [f"{REFERENCE_FIELD} eq {odata_text(reference)}", f"Name eq {odata_text(name)}"]
    for filter in [*filters, None]:  # None: every customer, when no filter is accepted
        try:
            found = [
                c for c in visma.customers(filter) if getattr(c, REFERENCE_FIELD, None) == reference
            ]
        except DataError as error:
            if error.code != QUERY_PARAMETER_ERROR:
                raise
            continue
        return found[0] if found else None
    return None


def _save_link(
    conn: Conn,
    connection_id: uuid.UUID,
    kind: str,
    teamleader_id: str,
    visma_id: str,
    visma_number: str | None,
    mark: str,
) -> None:
    links.save(
        conn,
        connection_id,
        Link(
            teamleader_type=kind,
            teamleader_id=teamleader_id,
            visma_type=links.CUSTOMER,
            visma_id=visma_id,
            visma_number=visma_number,
            fingerprint=mark,
            remaining=None,
            currency=None,
        ),
    )
