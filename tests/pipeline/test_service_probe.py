"""While Visma is down, the messages waiting for it spend nothing of Teamleader's budget: the
one message a second that probes asks Visma first (consumers/service_gate.py), and every
invoice is posted once Visma answers again."""

from __future__ import annotations

import time

import httpx
from psycopg_pool import ConnectionPool

from consumers import service_gate
from contracts import queues
from ops.connect.connecting import Connected
from tests.conftest import Sandbox
from tests.pipeline.support import (
    booked,
    changed,
    consumers_running,
    fault,
    outcome,
    send,
    summary,
    wait_for,
)

INVOICES = 6
THREADS = 4
#: How long Visma stays down while the invoices wait (s): several probes' worth.
OUTAGE_S = 6.0


def refused(sandbox: Sandbox) -> int:
    """Calls Visma answered with a 503 so far."""
    stats = httpx.get(f"{sandbox.visma_url}/_sandbox/stats", timeout=5).json()
    return int(stats["by_status"].get("503", 0))


def teamleader_calls(sandbox: Sandbox) -> int:
    stats = httpx.get(f"{sandbox.teamleader_url}/_sandbox/stats", timeout=5).json()
    return int(stats["calls"])


def test_invoices_waiting_for_visma_spend_no_teamleader_calls_and_post_when_it_answers(
    pool: ConnectionPool, connected: Connected, sandbox: Sandbox
) -> None:
    messages = [changed(connected, invoice) for invoice in booked(connected)[:INVOICES]]
    # Given Visma answers every call with a 503
    fault(sandbox, error_rate=1.0, error_status=503)
    try:
        with consumers_running(queues.INVOICES, queues.CONTACTS, threads=THREADS):
            # When invoices arrive and wait through the outage
            send(pool, *messages)
            wait_for(
                lambda: refused(sandbox) > 0, timeout_s=30, what="Visma refusing the first try"
            )
            # (the first tries, before the gate closed, read Teamleader once each at most)
            time.sleep(1.0)
            before = teamleader_calls(sandbox)
            time.sleep(OUTAGE_S)
            during = teamleader_calls(sandbox) - before
            # ... and Visma answers again
            fault(sandbox)
            for message in messages:
                wait_for(
                    lambda message=message: outcome(pool, message) == "posted",
                    timeout_s=60,
                    what="the invoice posted after the outage",
                )
    finally:
        fault(sandbox)
    # Then the probes while Visma was down read nothing from Teamleader
    assert during == 0, f"{during} Teamleader calls while Visma was down"
    # And every invoice was posted once, and the gate is open again
    assert summary(sandbox)["ledger_items"] == INVOICES
    assert summary(sandbox)["duplicate_ledger_items"] == 0
    assert service_gate.GATE.down_service is None
