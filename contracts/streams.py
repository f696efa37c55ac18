"""The poller's streams: what it reads from each connection, each with its own cursor.

A Teamleader stream is named after the queue its messages go to; companies go to the
contacts queue too, and Visma's ledger items feed the payments queue. The names are stored
(``cursors.stream``), as the queue names are (``messages.queue``): renaming either is a
migration.
"""

from __future__ import annotations

from contracts import queues

CONTACTS = queues.CONTACTS
COMPANIES = "companies"
INVOICES = queues.INVOICES
CREDIT_NOTES = queues.CREDIT_NOTES
VISMA_LEDGER_ITEMS = "visma_ledger_items"

#: Every stream, in the order a round polls them (customers before the documents naming them).
ALL: tuple[str, ...] = (CONTACTS, COMPANIES, INVOICES, CREDIT_NOTES, VISMA_LEDGER_ITEMS)

#: Not a stream with a cursor: a webhook's "something was deleted" asks the poller to check
#: the connection's linked documents and customers at once (``producers/deletion_check.py``).
DELETIONS = "deletions"
#: What a poke may name.
POKEABLE: tuple[str, ...] = (*ALL, DELETIONS)
