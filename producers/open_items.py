"""A payment Visma registers need not move the ledger item's ``ModifiedUtc`` (no public
source says it does; sandbox/visma/ASSUMPTIONS.md, "Modes"), so the change poll alone could
miss it. Every ``visma_open_items_every_s`` (an hour) the payments stream also reads the open
items: the list of items with an amount open (pages of ``visma_page_size``), plus, by id,
each item Koppel posted and still thinks open that this list no longer holds (paid in full),
at most ``visma_open_items_max`` of them per pass. Cost per connection and day: 24 × (the
pages of open items + the items paid in full that hour) calls (bench/RESULTS.md).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator

from clients.errors import NotFound
from clients.visma.models import CustomerLedgerItem
from config import Settings
from store import links, open_item_passes
from store.api_clients import ApiClients
from store.connections import Connection
from store.db import Pool

logger = logging.getLogger(__name__)

#: Connection id → the monotonic time before which this process asks nothing (a poller polls
#: its connections every round; the pass is hourly, and another poller may have made it).
_not_before: dict[uuid.UUID, float] = {}


def open_items_to_check(
    settings: Settings, clients: ApiClients, pool: Pool, connection: Connection
) -> Iterator[CustomerLedgerItem]:
    """The open items Koppel posted, as Visma has them now, when a pass is due (else none)."""
    now = time.monotonic()
    if _not_before.get(connection.id, 0.0) > now:
        return  # this process made or saw the last pass: no statement needed to know
    _not_before[connection.id] = now + settings.visma_open_items_every_s
    if not open_item_passes.claim(pool, connection.id, settings.visma_open_items_every_s):
        return
    posted = links.open_by_visma_id(pool, connection.id, links.LEDGER_ITEM)
    if not posted:
        return
    listed = {
        item.Id.lower(): item
        for item in clients.visma.open_ledger_items()
        if item.Id is not None and item.Id.lower() in posted
    }
    yield from listed.values()
    # Oldest link first: a pass that hits the bound leaves the newest for the next one.
    vanished = [item_id for item_id in posted if item_id not in listed]
    for item_id in vanished[: settings.visma_open_items_max]:
        try:
            yield clients.visma.ledger_item(item_id)
        except NotFound:
            logger.warning("Visma ledger item %s that Koppel posted is gone", item_id)
