"""Koppel is right whichever way Visma behaves where no public source says how
(issue 12 §6; sandbox/visma/modes.py): duplicate invoice numbers and lagging lists, and
payments that leave a ledger item's ``ModifiedUtc`` alone."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from psycopg_pool import ConnectionPool

from config import get_settings
from contracts import queues
from contracts.broker import make_broker
from contracts.messages import PaymentObserved
from contracts.streams import VISMA_LEDGER_ITEMS
from ops.connect.connecting import Connected
from producers.poller import poll_connection
from store import links
from tests.conftest import Sandbox
from tests.pipeline.support import (
    booked,
    changed,
    connection_clients,
    consumers_running,
    fault,
    outcome,
    pay_in_visma,
    send,
    summary,
    wait_settled,
)

#: The consumers in this process talk through spec-checked clients.
pytestmark = pytest.mark.usefixtures("checked_runtime")

#: Duplicates refused, lists at once (the default) · duplicates accepted, lists 10 s late.
STRICT: dict[str, Any] = {}
LENIENT: dict[str, Any] = {"duplicate_invoice_numbers": True, "list_delay_s": 10.0}


def modes(sandbox: Sandbox, **values: Any) -> None:
    httpx.put(f"{sandbox.visma_url}/_sandbox/modes", json=values, timeout=5).raise_for_status()


@pytest.mark.parametrize("visma", [STRICT, LENIENT], ids=["duplicates-refused", "lenient"])
def test_a_posting_whose_answer_was_lost_is_posted_once_in_either_mode(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox, visma: dict[str, Any]
) -> None:
    # Given Visma in the mode, applying the next posting but losing its answer
    modes(sandbox, **visma)
    fault(sandbox, timeout_after_apply=1, hang_s=8, path_contains="customerledgeritems")
    message = changed(connected, booked(connected)[2])
    # When the invoice goes through the invoices queue
    with consumers_running(queues.INVOICES):
        send(pool, message)
        wait_settled(pool, timeout_s=120)
    # Then Visma has it once: the retry kept looking until the item was listed
    visma_now = summary(sandbox)
    assert (visma_now["ledger_items"], visma_now["duplicate_ledger_items"]) == (1, 0)
    assert outcome(pool, message) == "posted"


def test_a_payment_that_leaves_modified_utc_alone_is_still_seen_by_the_open_items_pass(
    connected: Connected,
    pool: ConnectionPool,
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given Visma not moving ModifiedUtc on a payment, and an open-items pass due every second
    modes(sandbox, payments_touch_modified=False)
    monkeypatch.setenv("KOPPEL_VISMA_OPEN_ITEMS_EVERY_S", "1")
    get_settings.cache_clear()
    settings = get_settings()
    unpaid = [i for i in booked(connected) if i["status"] == "outstanding" and not i["payments"]]
    invoice, later = unpaid[0], unpaid[1]
    with consumers_running(queues.INVOICES):
        send(pool, changed(connected, invoice))
        wait_settled(pool)
        # And a later posting, past the change poll's overlap: the watermark moves beyond it
        time.sleep(settings.poll_overlap_s + 1.5)
        send(pool, changed(connected, later))
        wait_settled(pool)
    link = links.get(pool, connected.connection.id, "invoice", invoice["id"])
    assert link is not None and link.remaining
    broker = make_broker(settings)
    try:
        with connection_clients(settings, pool, connected.connection) as clients:
            poll_connection(
                settings, pool, broker, connected.connection, clients, [VISMA_LEDGER_ITEMS]
            )
            # When the bank pays part of the first one
            time.sleep(1.1)  # the next open-items pass is due
            pay_in_visma(sandbox, link.visma_id, Decimal("10.00"))
            report = poll_connection(
                settings, pool, broker, connected.connection, clients, [VISMA_LEDGER_ITEMS]
            )
    finally:
        broker.close()
    # Then the round published the payment all the same
    assert report.streams[0].error is None
    assert report.streams[0].published == 1
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT version FROM messages WHERE document_type = %s AND document_id = %s",
            [PaymentObserved.document_type, link.visma_id.lower()],
        ).fetchone()
    assert row is not None and Decimal(row["version"]) == link.remaining - Decimal("10.00")


def test_lookups_work_when_visma_refuses_to_filter_on_the_identifying_fields(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox
) -> None:
    # Given Visma filtering ledger items and customers only on their timestamps, and losing
    # the answer to the next posting
    modes(
        sandbox,
        filterable={"/v2/customerledgeritems": ["ModifiedUtc"], "/v2/customers": ["ChangedUtc"]},
    )
    fault(sandbox, timeout_after_apply=1, hang_s=8, path_contains="customerledgeritems")
    message = changed(connected, booked(connected)[2])
    # When the invoice goes through the invoices queue
    with consumers_running(queues.INVOICES):
        send(pool, message)
        wait_settled(pool, timeout_s=120)
    # Then the retry found the posting by reading the items and comparing them, and the
    # invoice is posted once
    visma_now = summary(sandbox)
    assert (visma_now["ledger_items"], visma_now["duplicate_ledger_items"]) == (1, 0)
    assert outcome(pool, message) == "posted"
