"""The chaos suite's invariants, read from the simulators (through their APIs, as any
client would) and from Koppel's database for the links between the two:

* every booked Teamleader document (invoice, credit note) dated on or after the
  connection's start has exactly one posting in Visma: one missing is *lost*, a second
  ledger item with the same number and kind is a *duplicate*;
* no customer was created twice in Visma (customers beyond one per linked Teamleader
  contact or company, and beyond the ones Visma had before, are duplicates);
* what Teamleader shows paid on each invoice equals what Visma shows paid;
* nothing was dead-lettered (every fault of the suite is transient) and nothing waits.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from config import Settings
from store import message_log
from store.api_clients import ClientCache
from store.connections import Connection
from store.db import Pool

#: Teamleader invoice statuses of a booked invoice.
BOOKED = ("outstanding", "matched")


@dataclass(frozen=True)
class Baseline:
    """What Visma and the failures table held before Koppel started."""

    customers: int
    failures: int


@dataclass(frozen=True)
class Verdict:
    documents: int
    duplicates: int
    duplicate_customers: int
    lost: int
    paid_mismatches: int
    dead_lettered: int
    waiting: int

    @property
    def holds(self) -> bool:
        return not self.broken()

    def broken(self) -> str:
        """The invariants that do not hold, with their counts ("" when all hold)."""
        counts = {
            "duplicates": self.duplicates,
            "duplicate customers": self.duplicate_customers,
            "lost": self.lost,
            "paid ≠": self.paid_mismatches,
            "dead-lettered": self.dead_lettered,
            "waiting": self.waiting,
        }
        return ", ".join(f"{name} {n}" for name, n in counts.items() if n)


def failures_count(pool: Pool, connection: Connection) -> int:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM failures WHERE connection_id = %s", [connection.id]
        ).fetchone()
    return int(row["n"]) if row else 0


def baseline(settings: Settings, pool: Pool, connection: Connection) -> Baseline:
    cache = ClientCache(settings, pool)
    try:
        customers = len(list(cache.for_connection(connection).visma.customers()))
    finally:
        cache.close()
    return Baseline(customers, failures_count(pool, connection))


def verdict(
    settings: Settings, pool: Pool, connection: Connection, since: date, before: Baseline
) -> Verdict:
    # Read in this order so that work going on meanwhile shows as nothing broken: customers
    # before the links (a new customer's link is then counted too), the ledger items after
    # them (every linked item is then in the list).
    cache = ClientCache(settings, pool)
    try:
        clients = cache.for_connection(connection)
        department = connection.teamleader_department_id
        invoices = [
            i
            for i in clients.teamleader.invoices(department_id=department, status=list(BOOKED))
            if i.invoice_date is None or i.invoice_date >= since
        ]
        notes = [
            n
            for n in clients.teamleader.credit_notes(
                department_id=department, credit_note_date_after=since
            )
        ]
        customers = len(list(clients.visma.customers()))
        with pool.connection() as conn:
            rows = conn.execute(
                "SELECT teamleader_type, teamleader_id, visma_id FROM links"
                " WHERE connection_id = %s",
                [connection.id],
            ).fetchall()
        items = list(clients.visma.ledger_items())
    finally:
        cache.close()
    linked = {(r["teamleader_type"], r["teamleader_id"]): r["visma_id"] for r in rows}
    customer_links = sum(1 for r in rows if r["teamleader_type"] in ("contact", "company"))
    by_id = {item.Id: item for item in items}
    kinds = Counter((item.InvoiceNumber, item.IsCreditInvoice) for item in items)
    duplicates = sum(n - 1 for n in kinds.values())
    documents = [("invoice", i.id) for i in invoices] + [("credit_note", n.id) for n in notes]
    lost = sum(1 for key in documents if linked.get(key) not in by_id)
    mismatches = 0
    for invoice in invoices:
        item = by_id.get(linked.get(("invoice", invoice.id)))
        if item is None or invoice.total.due is None:
            continue
        visma_paid = item.TotalAmountInvoiceCurrency - item.RemainingAmountInvoiceCurrency
        teamleader_paid = invoice.total.payable.amount - invoice.total.due.amount
        if visma_paid > 0 and Decimal(visma_paid) != Decimal(teamleader_paid):
            mismatches += 1
    return Verdict(
        documents=len(documents),
        duplicates=duplicates,
        duplicate_customers=max(0, customers - before.customers - customer_links),
        lost=lost,
        paid_mismatches=mismatches,
        dead_lettered=failures_count(pool, connection) - before.failures,
        waiting=message_log.waiting(pool, [connection.id]),
    )
