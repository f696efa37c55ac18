"""One document's story for ``koppel history``: find it by id or number, then its timeline.

Finding a document, in this order (the first step that finds anything wins):

1. a Teamleader id (or a Visma ledger item id): the history, links and failures rows that
   carry it;
2. a number — ``2026 / 17``, ``2026/17``, ``17`` — from what Koppel stored: the
   ``teamleader_number`` the consumers record when they post (or flag) a document, and a
   Visma invoice number (``202600017``) in the links;
3. the same number asked of Teamleader for each connection: ``invoices.list`` filtered on
   ``invoice_number`` (or ``term`` without a year), and ``creditNotes.list`` of the
   department (it has no number filter) matched here. This finds a document that failed
   before Koppel could record its number, or one Koppel has not seen yet.

The timeline is the document's ``history`` events; an invoice's includes the payment
messages of its Visma ledger item, and every failure event names its ``failures`` row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from clients.errors import ApiError
from config import Settings
from config import clock as calendar
from store import document_history, links
from store import failures as failure_rows
from store.api_clients import ClientCache
from store.connections import Connection
from store.db import Pool
from store.document_history import Event, Found
from store.failures import Failure

#: ``2026 / 17``, ``2026/17``, ``2026 /17`` or ``17``.
NUMBER = re.compile(r"\s*(?:(?P<year>\d{4})\s*/\s*)?(?P<sequence>\d+)\s*")

#: The most digits a document's sequence number can have (PostgreSQL's bigint, far beyond
#: any real numbering); Python will not even read a number of more than 4,300 digits.
MOST_DIGITS = 18
#: The longest text that can name a document: a Teamleader id is a UUID (36 characters),
#: "company:" and a UUID 44; longer is a mistake (a paste gone wrong).
LONGEST = 100

#: Teamleader document types ``--type`` chooses from.
DOCUMENT_TYPES = ("invoice", "credit_note", "customer", "payment")


@dataclass(frozen=True)
class Candidate:
    connection: Connection
    document_type: str
    document_id: str
    number: str | None = None

    @property
    def label(self) -> str:
        kind = self.document_type.replace("_", " ")
        return f"{kind} {self.number}" if self.number else kind


@dataclass(frozen=True)
class Line:
    at: datetime
    event: str
    detail: str


@dataclass(frozen=True)
class Timeline:
    candidate: Candidate
    visma_ledger_item_id: str | None
    visma_number: str | None
    lines: list[Line]
    failures: list[Failure] = field(default_factory=list)


@dataclass
class Lookup:
    """What a search found, and what went wrong asking Teamleader (shown, not fatal)."""

    candidates: list[Candidate]
    errors: list[str] = field(default_factory=list)


def not_a_document(text: str) -> str | None:
    """Why ``text`` cannot name any document, in one sentence; None when it could."""
    text = text.strip()
    advice = "give a Teamleader id, or a number like 2026 / 17"
    if not text:
        return f"name a document: {advice}"
    shown = repr(text) if len(text) <= 40 else f"{text[:24]!r}… ({len(text)} characters)"
    match = NUMBER.fullmatch(text)
    if match is not None and len(match.group("sequence")) > MOST_DIGITS:
        return (
            f"{shown} is not a document number (those have at most {MOST_DIGITS} digits); {advice}"
        )
    if len(text) > LONGEST:
        return f"{shown} is longer than any Teamleader id or document number; {advice}"
    return None


def parse_number(text: str) -> tuple[int | None, int] | None:
    match = NUMBER.fullmatch(text)
    if match is None or len(match.group("sequence")) > MOST_DIGITS:
        return None
    year = match.group("year")
    return (int(year) if year else None, int(match.group("sequence")))


def _same_number(number: str | None, year: int | None, sequence: int) -> bool:
    parsed = parse_number(number or "")
    return parsed is not None and parsed[1] == sequence and year in (None, parsed[0])


def _candidates(
    found: Iterable[Found], chosen: Sequence[Connection], kind: str | None
) -> list[Candidate]:
    by_id = {c.id: c for c in chosen}
    out: dict[tuple[Any, str, str], Candidate] = {}
    for f in found:
        connection = by_id.get(f.connection_id)
        if connection is None or (kind and f.document_type != kind):
            continue
        key = (f.connection_id, f.document_type, f.document_id)
        if key not in out or (f.number and not out[key].number):
            out[key] = Candidate(connection, f.document_type, f.document_id, f.number)
    return sorted(out.values(), key=lambda c: (c.connection.name, c.document_type, c.number or ""))


def find(
    settings: Settings,
    pool: Pool,
    text: str,
    chosen: Sequence[Connection],
    kind: str | None = None,
) -> Lookup:
    text = text.strip()
    ids = [c.id for c in chosen]
    types = [kind] if kind else list(DOCUMENT_TYPES)
    found = _candidates(document_history.with_id(pool, text, ids, types), chosen, kind)
    if found:
        return Lookup(found)
    parsed = parse_number(text)
    if parsed is None:
        return Lookup([])
    year, sequence = parsed
    stored = list(document_history.with_number(pool, year, sequence, ids, types))
    if year is None:
        stored += document_history.with_visma_number(pool, text, ids)
    found = _candidates(stored, chosen, kind)
    if found:
        return Lookup(found)
    return _ask_teamleader(settings, pool, chosen, year, sequence, kind)


def _ask_teamleader(
    settings: Settings,
    pool: Pool,
    chosen: Sequence[Connection],
    year: int | None,
    sequence: int,
    kind: str | None,
) -> Lookup:
    lookup = Lookup([])
    cache = ClientCache(settings, pool)
    try:
        for connection in chosen:
            teamleader = cache.for_connection(connection).teamleader
            department = connection.teamleader_department_id
            try:
                if kind in (None, "invoice"):
                    invoices = teamleader.invoices(
                        department_id=department,
                        invoice_number=f"{year} / {sequence}" if year else None,
                        term=None if year else str(sequence),
                    )
                    lookup.candidates += [
                        Candidate(connection, "invoice", i.id, i.invoice_number)
                        for i in invoices
                        if _same_number(i.invoice_number, year, sequence)
                    ]
                if kind in (None, "credit_note"):
                    # No number filter: the credit notes of the number's year, or without a
                    # year those Koppel syncs (the connection's start until today), not every
                    # credit note the department ever made.
                    after, before = (
                        (date(year, 1, 1), date(year + 1, 1, 1))
                        if year
                        else (connection.sync_from, calendar.today() + timedelta(days=1))
                    )
                    notes = teamleader.credit_notes(
                        department_id=department,
                        credit_note_date_after=after,
                        credit_note_date_before=before,
                    )
                    lookup.candidates += [
                        Candidate(connection, "credit_note", n.id, n.credit_note_number)
                        for n in notes
                        if _same_number(n.credit_note_number, year, sequence)
                    ]
            except ApiError as error:
                lookup.errors.append(
                    f"asking Teamleader for connection {connection.name!r}: {error}"
                )
    finally:
        cache.close()
    return lookup


# -- the timeline -------------------------------------------------------------------------
def _money(facts: dict[str, Any], amount: str = "amount") -> str:
    currency = facts.get("currency") or ""
    return f"{currency} {facts.get(amount)}".strip()


def describe(event: Event, failures: Sequence[Failure]) -> str:
    """One line of what happened, with the ids a person looks up elsewhere."""
    d = dict(event.detail)
    name = event.event
    if name == "queued" and event.document_type == "payment":
        return f"Visma shows {d.get('version')} still open; queued on {d.get('queue')}"
    if name == "queued":
        return f"changed in Teamleader at {d.get('version')}; queued on {d.get('queue')}"
    if event.document_type == "payment" and name in ("posted", "unchanged", "skipped"):
        return str(d.get("detail") or "")
    if name == "payment registered":
        return (
            f"{_money(d)} registered on the Teamleader invoice;"
            f" {d.get('visma_remaining')} still open in Visma"
        )
    if name in ("posted", "attention", "unchanged", "updated", "skipped"):
        parts = [str(d.get("detail") or "")]
        if d.get("visma_ledger_item_id"):
            parts.append(f"Visma ledger item {d['visma_ledger_item_id']}")
        if d.get("visma_number"):
            parts.append(f"number {d['visma_number']}")
        if d.get("total"):
            parts.append(f"total {_money(d, 'total')}")
        if d.get("conversion"):
            parts.append(f"converted {d['conversion']}")  # "USD 6,050.00 at 1.0845 = EUR …"
        return "; ".join(p for p in parts if p)
    if name == "failed":
        row = _failure_at(event.at, failures)
        which = f" (failure #{row.id}, now {row.status})" if row else ""
        attempts = d.get("attempts")
        tries = f" after {attempts} attempts" if attempts and attempts != 1 else ""
        return f"{d.get('error', 'failed')}{tries}: {d.get('detail')}{which}"
    if "failure" in d:  # requeued, purged, requeue failed (``koppel dlq``)
        return f"failure #{d['failure']}: {d.get('reason', '')}"
    if name == "waiting":
        return str(d.get("reason", ""))
    return ", ".join(f"{key} {value}" for key, value in d.items())


def _failure_at(at: datetime, failures: Sequence[Failure]) -> Failure | None:
    """The failure row a ``failed`` event was recorded with: the same transaction gives both
    the same ``now()``; a later re-failure of the same message only moves ``last_seen``."""
    exact = [f for f in failures if at in (f.first_seen, f.last_seen)]
    if exact:
        return exact[0]
    earlier = [f for f in failures if f.first_seen <= at]
    return earlier[-1] if earlier else None


def timeline(pool: Pool, candidate: Candidate) -> Timeline:
    connection = candidate.connection
    events = document_history.timeline(
        pool, connection.id, candidate.document_type, candidate.document_id
    )
    failures = failure_rows.for_document(
        pool, connection.id, candidate.document_type, candidate.document_id
    )
    link = links.get(pool, connection.id, candidate.document_type, candidate.document_id)
    lines = [Line(e.at, e.event, describe(e, failures)) for e in events]
    if link is not None and link.visma_type == links.LEDGER_ITEM:
        # Payments travel as messages about the Visma ledger item, not the invoice.
        payments = document_history.timeline(pool, connection.id, "payment", link.visma_id)
        payment_failures = failure_rows.for_document(pool, connection.id, "payment", link.visma_id)
        # A registered payment is on the invoice's own timeline ("payment registered").
        lines += [
            Line(e.at, f"payment {e.event}", describe(e, payment_failures))
            for e in payments
            if e.event != "posted"
        ]
        failures = failures + payment_failures
    lines.sort(key=lambda line: line.at)
    number = candidate.number or next(
        (str(e.detail["teamleader_number"]) for e in events if e.detail.get("teamleader_number")),
        None,
    )
    return Timeline(
        Candidate(connection, candidate.document_type, candidate.document_id, number),
        link.visma_id if link else None,
        link.visma_number if link else None,
        lines,
        failures,
    )
