"""Make sure a Teamleader contact or company exists, up to date, as a Visma customer.

Used by the contacts consumer for every ``CustomerChanged`` and by the invoice consumers
before they post a document (for its invoicee), so the common case is cheap: when the link
exists and Teamleader's ``updated_at`` is the one the link last saw, it costs one Teamleader
read, one database read and no Visma call, and takes no lock (it only reads).

Anything else happens under ``document_lock("customer:<connection>:<kind>:<id>")``:

1. the body is made from Teamleader (``translation.customers``); if it is the one the link
   last wrote, only the link's ``updated_at`` moves;
2. the Visma customer is found by the link, else by the VAT number (a customer a person
   entered in Visma before Koppel came), else by Koppel's reference in ``Note``;
3. none found: created through ``write_once`` (key ``customer:<connection>:<kind>:<id>``),
   which after a lost answer looks the reference up before creating again;
4. found: updated (PUT, every field it had sent back) only when a field differs;
5. the link is saved with the fingerprint of what was written.

Teamleader's ``updated_at`` has whole seconds, so two changes within one second are one
version here, as they are one dedupe key for the producers: the next change carries both.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import psycopg

from clients.errors import DataError, NotFound
from clients.teamleader.models import Company, Contact
from clients.visma import VismaClient, odata_text
from clients.visma.models import Customer as VismaCustomer
from consumers.base import Job
from consumers.reference_data import reference_data
from store import links
from store.links import Link
from store.writes import document_lock, write_once
from translation.customers import (
    KINDS,
    REFERENCE_FIELD,
    CustomerNotFound,
    customer_body,
    describe,
    differences,
    digest,
    fingerprint,
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

Outcome = Literal["posted", "updated", "unchanged"]


@dataclass(frozen=True)
class CustomerResult:
    visma_id: str
    outcome: Outcome
    #: One sentence for the history: what was done and why.
    detail: str
    #: Visma's ``CustomerNumber``, when known.
    visma_number: str | None = None


def write_key(connection_id: uuid.UUID, kind: str, teamleader_id: str) -> str:
    """The idempotency key and lock name of one customer of one connection."""
    return f"customer:{connection_id}:{kind}:{teamleader_id}"


def ensure_customer(job: Job, kind: str, teamleader_id: str) -> CustomerResult:
    """The Visma customer of Teamleader ``kind`` ``teamleader_id``, created or updated."""
    if kind not in KINDS:
        raise TranslationError(
            f"Teamleader {kind} {teamleader_id} cannot become a Visma customer: only contacts "
            "and companies can."
        )
    pool = job.runtime.pool
    connection_id = job.connection.id
    customer = _read(job, kind, teamleader_id)
    current = _still_current(links.get(pool, connection_id, kind, teamleader_id), customer, kind)
    if current is not None:
        return current
    with document_lock(pool, write_key(connection_id, kind, teamleader_id)) as conn:
        # Another worker may have written it while this one waited for Teamleader.
        link = links.get(conn, connection_id, kind, teamleader_id)
        current = _still_current(link, customer, kind)
        if current is not None:
            return current
        return _apply(job, conn, kind, customer, link)


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
        "unchanged",
        f"{describe(customer, kind)} is unchanged since {customer.updated_at.isoformat()}; "
        f"Visma customer {link.visma_number or link.visma_id} is up to date.",
        link.visma_number,
    )


@dataclass(frozen=True)
class _Found:
    customer: VismaCustomer
    #: How it was found, for the history ("linked", "same VAT number NL…", …).
    how: str


def _apply(
    job: Job,
    conn: psycopg.Connection[Any],
    kind: str,
    customer: Contact | Company,
    link: Link | None,
) -> CustomerResult:
    visma = job.clients.visma
    connection_id = job.connection.id
    link = _customer_link(link)
    who = describe(customer, kind)
    reference = reference_for(kind, customer.id)
    terms_id = terms_of_payment_for(
        customer.payment_term,
        reference_data.terms_of_payment(job.connection, job.clients),
        job.connection.default_terms_of_payment_id,
    )
    fresh = customer_body(
        customer,
        kind=kind,  # type: ignore[arg-type]  (checked in ensure_customer)
        terms_of_payment_id=terms_id,
        reference=reference,
        existing=None,
    )
    mark = fingerprint(fresh, customer.updated_at)
    seen = read_fingerprint(link.fingerprint) if link else None
    if link is not None and seen is not None and seen.digest == digest(fresh):
        # Teamleader changed something a Visma customer does not carry (a tag, a remark).
        _save_link(conn, connection_id, kind, customer.id, link.visma_id, link.visma_number, mark)
        return CustomerResult(
            link.visma_id,
            "unchanged",
            f"{who} changed, but nothing Visma customer "
            f"{link.visma_number or link.visma_id} carries.",
            link.visma_number,
        )

    key = write_key(connection_id, kind, customer.id)
    found = _find_existing(visma, conn, connection_id, kind, customer, link)
    # Koppel's own create made it (an earlier attempt's, whose answer or link was lost).
    ours = False
    if found is None:
        created: list[VismaCustomer] = []

        def create() -> str:
            made = visma.create_customer(fresh)
            created.append(made)
            return str(made.Id)

        def lookup(earlier_reference: str) -> str | None:
            again = _by_reference(visma, earlier_reference, str(fresh["Name"]))
            return str(again.Id) if again is not None else None

        try:
            result = write_once(
                conn,
                key,
                connection_id=connection_id,
                kind="customer",
                reference=reference,
                lookup=lookup,
                create=create,
            )
        except DataError as refusal:
            raise refused(customer, kind, refusal) from refusal
        if result.created:
            number = created[0].CustomerNumber
            _save_link(conn, connection_id, kind, customer.id, result.remote_id, number, mark)
            return CustomerResult(
                result.remote_id,
                "posted",
                f"{who} became Visma customer {number or result.remote_id}.",
                number,
            )
        # Created by an earlier attempt whose answer or link was lost (write_once found it
        # by Koppel's reference): bring it up to date below.
        found = _Found(
            visma.customer(result.remote_id),
            "created by an earlier attempt whose answer was lost",
        )
        ours = True

    existing = found.customer
    visma_id = str(existing.Id)
    body = customer_body(
        customer,
        kind=kind,  # type: ignore[arg-type]
        terms_of_payment_id=terms_id,
        reference=reference,
        existing=existing,
    )
    changed = differences(body, existing)
    number = existing.CustomerNumber
    if changed:
        try:
            number = visma.update_customer(visma_id, body).CustomerNumber or number
        except DataError as refusal:
            raise refused(customer, kind, refusal) from refusal
    _save_link(conn, connection_id, kind, customer.id, visma_id, number, mark)
    shown = number or visma_id
    if ours:
        return CustomerResult(
            visma_id, "posted", f"{who} became Visma customer {shown} ({found.how}).", number
        )
    if not changed:
        return CustomerResult(
            visma_id,
            "unchanged",
            f"{who} already matches Visma customer {shown} ({found.how}).",
            number,
        )
    return CustomerResult(
        visma_id,
        "updated",
        f"Visma customer {shown} ({found.how}) updated from {who[0].lower()}{who[1:]}: "
        f"{', '.join(changed)}.",
        number,
    )


def _find_existing(
    visma: VismaClient,
    conn: psycopg.Connection[Any],
    connection_id: uuid.UUID,
    kind: str,
    customer: Contact | Company,
    link: Link | None,
) -> _Found | None:
    """The Visma customer this Teamleader customer already is: by link, then VAT number.

    Koppel's own reference is looked up by ``write_once`` when an earlier create may have
    landed; a customer nobody tied to this one is created."""
    if link is not None:
        try:
            return _Found(visma.customer(link.visma_id), "linked")
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
                return _Found(candidate, f"same VAT number {vat}")
    return None


def _by_reference(visma: VismaClient, reference: str, name: str) -> VismaCustomer | None:
    """The customer whose ``Note`` is ``reference``.

    Should the API refuse to filter on ``Note``, the customers of the same name are read and
    their notes compared here."""
    try:
        found = list(visma.customers(f"{REFERENCE_FIELD} eq {odata_text(reference)}"))
    except DataError as error:
        if error.code != QUERY_PARAMETER_ERROR:
            raise
        found = [
            c
            for c in visma.customers(f"Name eq {odata_text(name)}")
            if getattr(c, REFERENCE_FIELD, None) == reference
        ]
    return found[0] if found else None


def _save_link(
    conn: psycopg.Connection[Any],
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
