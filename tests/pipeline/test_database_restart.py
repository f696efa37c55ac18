"""PostgreSQL crashing and starting again under a running poller and consumer: both go on
within seconds of the server accepting connections (issue 15 found 97 s). The server is
the test's own (``tests/own_postgres.py``), so stopping it touches no one else's tests."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import psycopg_pool
import pytest

from config import get_settings
from consumers.errors import as_permanent
from contracts import queues
from contracts.broker import purge_all
from ops.connect.connecting import Connected, connect_sandbox
from ops.processes.polling import database_retry_s
from producers.poller import STREAMS
from store import cursors, document_history, links, message_log
from store.db import Pool, open_pool
from store.migrate import migrate
from tests.conftest import TODAY, Sandbox
from tests.own_postgres import OwnPostgres, own_postgres
from tests.pipeline.conftest import generated, pipeline_env
from tests.pipeline.support import booked, start_logged, wait_for

#: The goal: a successful round and a new document posted within this long (s) of the
#: restarted server accepting connections.
RESUME_WITHIN_S = 5.0
#: How long PostgreSQL stays down (s).
OUTAGE_S = 2.0
#: How long Teamleader holds the invoice list a round is reading when PostgreSQL stops (ms).
HELD_MS = 1000


@pytest.fixture
def cluster() -> Iterator[OwnPostgres]:
    with own_postgres() as running:
        with psycopg.connect(running.url) as conn:
            migrate(conn)
        yield running


@pytest.fixture
def own_env(
    cluster: OwnPostgres, broker_url: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Settings on the test's own PostgreSQL, the session's vhost and the simulators."""
    # INFO: Dramatiq's "Retrying message" lines are in the worker's log.
    env = pipeline_env(cluster.url, sandbox, broker_url, KOPPEL_LOG_LEVEL="INFO")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    purge_all(get_settings())
    yield env
    get_settings.cache_clear()


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def book_invoice(connected: Connected, sandbox: Sandbox) -> str:
    """Book a one-line invoice in Teamleader for a customer of the generated account; its id."""
    template = booked(connected)[0]
    line = template["grouped_lines"][0]["line_items"][0]
    response = httpx.post(
        f"{sandbox.teamleader_url}/_sandbox/invoices",
        json={
            "department_id": connected.department.id,
            "customer": template["invoicee"]["customer"],
            "lines": [
                {
                    "description": "Booked while PostgreSQL was down",
                    "quantity": 1,
                    "unit_price": 80,
                    "tax_rate_id": line["tax"]["id"],
                }
            ],
            "book_on": TODAY.isoformat(),
        },
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def teamleader_stats(teamleader: httpx.Client) -> dict[str, Any]:
    response = teamleader.get("/_sandbox/stats")
    response.raise_for_status()
    return dict(response.json())


def reading_invoices(teamleader: httpx.Client) -> bool:
    """Whether a round asked Teamleader for its invoices since the stats were reset."""
    return bool(teamleader_stats(teamleader)["by_endpoint"].get("invoices.list"))


def all_answered(teamleader: httpx.Client) -> bool:
    """Whether Teamleader answered every call it was asked since the stats were reset."""
    stats = teamleader_stats(teamleader)
    return sum(stats["by_status"].values()) == stats["calls"]


def queued(pool: Pool, connection_id: uuid.UUID, invoice_id: str) -> bool:
    """Whether the poller published the invoice (its history says "queued")."""
    events = document_history.timeline(pool, connection_id, "invoice", invoice_id)
    return any(event.event == "queued" for event in events)


def polled_since(pool: Pool, connection_id: uuid.UUID, since: datetime | None) -> bool:
    """Whether every stream of the connection had a successful round after ``since``."""
    rounds = cursors.all_for(pool, connection_id)
    return len(rounds) == len(STREAMS) and all(
        c.last_success_at is not None and (since is None or c.last_success_at > since)
        for c in rounds
    )


def test_polling_and_consuming_go_on_within_seconds_of_postgresql_restarting(
    cluster: OwnPostgres, own_env: dict[str, str], sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = get_settings()
    teamleader = httpx.Client(base_url=sandbox.teamleader_url, timeout=10)
    # Given a connection on the test's own PostgreSQL, its account holding customers only
    dataset = generated()
    dataset["teamleader"] = {**dataset["teamleader"], "invoices": [], "creditNotes": []}
    sandbox.reset(dataset)
    observer = open_pool(settings, name="koppel-test")
    connected = connect_sandbox(
        settings, observer, name="restart", sync_from=TODAY - timedelta(days=800)
    )
    connection_id = connected.connection.id
    # ... polled every second, and a consumer past the first sync
    poller = start_logged(own_env, tmp_path / "poll.log", "poll", "--interval-s", "1")
    worker = start_logged(
        own_env,
        tmp_path / "work.log",
        *("work", "--threads", "2", "--queues", queues.CONTACTS, "--queues", queues.INVOICES),
    )
    try:
        wait_for(
            lambda: (
                polled_since(observer, connection_id, None) and message_log.waiting(observer) == 0
            ),
            timeout_s=60,
            what="the first sync",
        )
        # Read afresh after the restart: the observer's pool stays out of what is measured.
        observer.close()

        # When PostgreSQL crashes in the middle of a round (held up reading invoices),
        teamleader.delete("/_sandbox/stats").raise_for_status()
        slow = {"latency_ms": HELD_MS, "path_contains": "invoices.list"}
        teamleader.post("/_sandbox/faults", json=slow).raise_for_status()
        wait_for(
            lambda: reading_invoices(teamleader), timeout_s=10, what="a round reading invoices"
        )
        stopped = time.monotonic()
        cluster.stop("immediate")
        # ... an invoice is booked in Teamleader after that round read the invoices,
        wait_for(lambda: all_answered(teamleader), timeout_s=10, what="the held read answered")
        teamleader.delete("/_sandbox/faults").raise_for_status()
        invoice_id = book_invoice(connected, sandbox)
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
        # ... and PostgreSQL starts again
        accepting = cluster.start()
        observer = open_pool(settings, name="koppel-test")
        restarted = document_history.database_now(observer)

        # Then a round after the restart publishes the invoice, and the consumer posts it
        wait_for(
            lambda: (
                polled_since(observer, connection_id, restarted)
                and queued(observer, connection_id, invoice_id)
            ),
            timeout_s=40,
            what="a round after the restart publishing the invoice",
            interval_s=0.02,
        )
        polled_s = time.monotonic() - accepting
        wait_for(
            lambda: links.get(observer, connection_id, "invoice", invoice_id) is not None,
            timeout_s=40,
            what="the invoice booked during the outage posted in Visma",
            interval_s=0.02,
        )
        posted_s = time.monotonic() - accepting
    finally:
        stop(poller)
        stop(worker)
        observer.close()
        teamleader.close()
    print(
        f"PostgreSQL restarted: the invoice published {polled_s:.2f} s and posted"
        f" {posted_s:.2f} s after the server accepted connections"
    )
    assert polled_s <= RESUME_WITHIN_S, f"published after {polled_s:.1f} s"
    assert posted_s <= RESUME_WITHIN_S, f"posted after {posted_s:.1f} s"
    # ... and no message was failed (and retried) by a connection the restart broke
    work_log = (tmp_path / "work.log").read_text(errors="replace")
    assert "Failed to process message" not in work_log, work_log[-3000:]
    assert "Retrying message" not in work_log, work_log[-3000:]


def test_a_database_error_while_handling_a_message_is_retried_not_dead_lettered() -> None:
    broken = psycopg.OperationalError("server closed the connection unexpectedly")
    assert as_permanent(broken) is None
    assert as_permanent(psycopg_pool.PoolTimeout("couldn't get a connection")) is None


def test_the_poller_tries_again_at_once_then_backs_off_to_five_seconds() -> None:
    waits = [database_retry_s(failed) for failed in range(1, 9)]
    assert waits == [0.0, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
