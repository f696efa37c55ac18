"""Teamleader webhooks: ``koppel webhooks serve`` turns an event into a poke, and a running
``koppel poll`` polls that connection at once instead of at its interval.

Everything is a real process over real HTTP: the receiver, the poller, the simulator that
delivers the webhook, PostgreSQL's NOTIFY between them, RabbitMQ to the consumers."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from contracts import queues
from ops.connect.connecting import Connected
from producers.pokes import CHANNEL
from producers.poller import STREAMS
from producers.webhook_receiver import webhook_path
from store import connections, cursors, document_history, links
from tests.conftest import TEST_TOKEN_KEY, TODAY, Sandbox, free_port
from tests.pipeline.support import (
    booked,
    consumers_running,
    koppel_cli,
    start_koppel,
    wait_for,
    wait_settled,
)

#: The poll interval in these tests (s): far longer than any test waits, so only a webhook
#: can explain a change that arrives within seconds.
LONG_INTERVAL_S = 3600


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


@pytest.fixture
def receiver(koppel_env: dict[str, str]) -> Iterator[str]:
    """``koppel webhooks serve`` on a free port; its base URL."""
    port = free_port()
    process = start_koppel(koppel_env, "webhooks", "serve", "--port", str(port))
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(healthy, timeout_s=30, what="the webhook receiver listening")
        yield url
    finally:
        stop(process)


class Listening:
    """LISTEN on the poke channel from the moment it is made."""

    def __init__(self, database_url: str) -> None:
        self.conn = psycopg.connect(database_url, autocommit=True)
        self.conn.execute(f"LISTEN {CHANNEL}")

    def received(self, within_s: float) -> list[str]:
        return [n.payload for n in self.conn.notifies(timeout=within_s, stop_after=1)]

    def close(self) -> None:
        self.conn.close()


def event(kind: str = "invoice.booked") -> dict[str, object]:
    return {
        "type": kind,
        "subject": {"type": "invoice", "id": str(uuid.uuid4())},
        "account": {"type": "account", "id": str(uuid.uuid4())},
    }


def test_an_event_with_the_connections_token_pokes_it_and_a_wrong_token_or_body_pokes_nothing(
    connected: Connected, koppel_env: dict[str, str], receiver: str
) -> None:
    connection_id = connected.connection.id
    path = webhook_path(TEST_TOKEN_KEY, connection_id)
    wrong = f"/teamleader/{connection_id}/{'0' * 32}"
    listening = Listening(koppel_env["KOPPEL_DATABASE_URL"])
    try:
        # A wrong token is answered like an unknown connection, and pokes nothing
        refused = httpx.post(receiver + wrong, json=event(), timeout=5)
        assert refused.status_code == 404
        # A body that is not a Teamleader event says what is wrong, and pokes nothing
        malformed = httpx.post(receiver + path, json={"type": "invoice.booked"}, timeout=5)
        assert malformed.status_code == 400
        assert "subject: Field required" in malformed.json()["error"]
        # An event type Koppel does not sync is accepted and ignored
        ignored = httpx.post(receiver + path, json=event("product.added"), timeout=5)
        assert ignored.status_code == 202
        assert ignored.json()["poked"] is False
        assert listening.received(within_s=1.0) == []
        # The right token and a synced event poke the connection
        accepted = httpx.post(receiver + path, json=event(), timeout=5)
        assert accepted.status_code == 202
        assert listening.received(within_s=5.0) == [f"{connection_id} invoices"]
    finally:
        listening.close()


def test_an_invoice_booked_in_teamleader_reaches_visma_within_seconds_by_webhook(
    connected: Connected,
    pool: ConnectionPool,
    koppel_env: dict[str, str],
    sandbox: Sandbox,
    receiver: str,
) -> None:
    connection_id = connected.connection.id
    # Given a connection polled only every hour, its webhook registered with Teamleader
    connections.update(pool, connection_id, poll_interval_s=LONG_INTERVAL_S)
    registered = koppel_cli(koppel_env, "webhooks", "register", "--base-url", receiver)
    assert registered.returncode == 0, registered.stdout + registered.stderr
    listed = koppel_cli(koppel_env, "webhooks", "list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "invoice.booked" in listed.stdout
    assert webhook_path(TEST_TOKEN_KEY, connection_id) not in listed.stdout  # token masked
    # ... a running poller past its first round, and consumers whose backlog is done
    started = document_history.database_now(pool)  # the clock last_success_at is stamped by
    poller = start_koppel(koppel_env, "poll")
    try:
        with consumers_running(queues.CONTACTS, queues.INVOICES, queues.CREDIT_NOTES):
            wait_for(
                lambda: (
                    all(
                        c.last_success_at is not None and c.last_success_at > started
                        for c in cursors.all_for(pool, connection_id)
                    )
                    and len(cursors.all_for(pool, connection_id)) == len(STREAMS)
                ),
                timeout_s=60,
                what="the poller's first round",
            )
            wait_settled(pool, timeout_s=120)

            httpx.delete(f"{sandbox.teamleader_url}/_sandbox/stats", timeout=5).raise_for_status()
            # When an invoice is booked in Teamleader
            template = booked(connected)[0]
            line = template["grouped_lines"][0]["line_items"][0]
            booking = time.monotonic()
            response = httpx.post(
                f"{sandbox.teamleader_url}/_sandbox/invoices",
                json={
                    "department_id": connected.department.id,
                    "customer": template["invoicee"]["customer"],
                    "lines": [
                        {
                            "description": "Webhook test",
                            "quantity": 1,
                            "unit_price": 125,
                            "tax_rate_id": line["tax"]["id"],
                        }
                    ],
                    "book_on": TODAY.isoformat(),
                },
                timeout=10,
            )
            response.raise_for_status()
            invoice_id = response.json()["id"]

            # Then it is posted in Visma within seconds, not at the next hourly poll
            wait_for(
                lambda: links.get(pool, connection_id, "invoice", invoice_id) is not None,
                timeout_s=30,
                what="the booked invoice posted in Visma",
            )
            seconds = time.monotonic() - booking
            calls = httpx.get(f"{sandbox.teamleader_url}/_sandbox/stats", timeout=5).json()
    finally:
        stop(poller)
    assert seconds < 15, f"took {seconds:.1f} s"
    # ... and only the invoices stream was read for it: one list call, not a whole round
    listed = {e: n for e, n in calls["by_endpoint"].items() if e.endswith(".list")}
    assert set(listed) == {"invoices.list"}, listed
    deliveries = httpx.get(
        f"{sandbox.teamleader_url}/_sandbox/webhooks/deliveries", timeout=5
    ).json()["data"]
    ours = [d for d in deliveries if d["url"].startswith(receiver)]
    assert ours and all(d["status"] == 202 for d in ours), ours
