"""Koppel is right whichever way Visma behaves where no public source says how
(issue 12 §6; sandbox/visma/modes.py): duplicate invoice numbers and lagging lists, and
payments that leave a ledger item's ``ModifiedUtc`` alone."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from psycopg_pool import ConnectionPool

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
