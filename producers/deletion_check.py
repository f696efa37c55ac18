"""The check for deletions: what Koppel linked that Teamleader no longer has.

Teamleader's lists leave a deleted document or customer out, and its ``.info`` answers
404, so the poller's cursors never see a deletion. This check asks for the linked ids, 100
a call, and confirms each one missing with its ``.info`` (a 404, not a hiccup) before it is
recorded (``store/deletions.py``): a posted document then needs attention with the Visma
ledger item to reverse; a customer's Visma record is kept and its history notes it.
It runs every ``deletion_check_interval_s`` with a round, and at once after a deletion
webhook (docs/architecture.md#deletions).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from clients.errors import NotFound
from clients.teamleader.client import TeamleaderClient
from store import deletions
from store.api_clients import ApiClients
from store.connections import Connection
from store.db import Pool

logger = logging.getLogger(__name__)

#: Ids one list call asks about (Teamleader's largest page).
CHUNK = 100

#: What a check looks for, in this order: documents first (what Visma books).
TYPES = (*deletions.DOCUMENT_TYPES, *deletions.CUSTOMER_TYPES)


@dataclass
class DeletionReport:
    #: (Teamleader type, id) found deleted for the first time.
    found: list[tuple[str, str]] = field(default_factory=list)
    checked: int = 0


def _listing(teamleader: TeamleaderClient, kind: str) -> Callable[[list[str]], Iterable[str]]:
    def ids_of(ids: list[str]) -> Iterable[str]:
        if kind == "invoice":
            return (i.id for i in teamleader.invoices(ids=ids))
        if kind == "credit_note":
            return (c.id for c in teamleader.credit_notes(ids=ids))
        if kind == "contact":
            return (c.id for c in teamleader.contacts(ids=ids))
        return (c.id for c in teamleader.companies(ids=ids))

    return ids_of


def _gone(teamleader: TeamleaderClient, kind: str, id_: str) -> bool:
    """True when ``.info`` answers 404: the list's silence confirmed."""
    info = {
        "invoice": teamleader.invoice,
        "credit_note": teamleader.credit_note,
        "contact": teamleader.contact,
        "company": teamleader.company,
    }[kind]
    try:
        info(id_)
    except NotFound:
        return True
    return False


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


def check_connection(
    pool: Pool, connection: Connection, clients: ApiClients, noticed_by: str
) -> DeletionReport:
    """Check every linked document and customer of ``connection`` once."""
    report = DeletionReport()
    teamleader = clients.teamleader
    for kind in TYPES:
        ids = deletions.linked(pool, connection.id, kind)
        listing = _listing(teamleader, kind)
        for chunk in _chunks(ids):
            present = set(listing(chunk))
            report.checked += len(chunk)
            for id_ in chunk:
                if id_ in present or not _gone(teamleader, kind, id_):
                    continue
                if deletions.notice(pool, connection.id, kind, id_, noticed_by):
                    logger.warning("%s: Teamleader %s %s was deleted", connection.name, kind, id_)
                    report.found.append((kind, id_))
    return report
