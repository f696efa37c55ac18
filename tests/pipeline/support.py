"""Helpers for pipeline tests (no tests here): publish like the poller, run consumers
in-process on the real broker, wait until every published message has an outcome, and read
or steer the simulators through their ``/_sandbox/`` controls."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dramatiq
import httpx
from psycopg_pool import ConnectionPool

from config import Settings
from consumers.all import load
from consumers.app import get_broker
from contracts.broker import publish
from contracts.messages import InvoiceChanged, SyncMessage
from ops.connect.connecting import Connected
from store import mappings, message_log
from store.api_clients import ApiClients, ClientCache, ServiceHooks
from store.connections import Connection
from tests.conftest import ROOT, TODAY, Sandbox
from tests.pipeline.conftest import generated


def send(pool: ConnectionPool, *sync_messages: SyncMessage) -> None:
    """Publish (confirmed) and record as published, exactly as the poller does."""
    for message in sync_messages:
        publish(get_broker(), message)
        message_log.record_published(pool, message.connection_id, [published_row(message)])


def published_row(message: SyncMessage) -> tuple[str, str, str, str, str]:
    """The row ``message_log.record_published`` takes for ``message``."""
    return (
        message.dedupe_key,
        message.queue,
        message.document_type,
        message.document_id,
        message.version,
    )


@contextmanager
def consumers_running(*queue_names: str, threads: int = 4) -> Iterator[dramatiq.Worker]:
    """A Dramatiq worker in this process consuming the given queues (all when none)."""
    names = load(list(queue_names) or None)
    worker = dramatiq.Worker(
        get_broker(), queues=set(names), worker_threads=threads, worker_timeout=100
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def wait_for(
    predicate: Callable[[], object],
    timeout_s: float = 30.0,
    what: str = "the condition",
    interval_s: float = 0.05,
) -> None:
    """Until ``predicate()`` is true, checked every ``interval_s`` seconds; raise
    ``TimeoutError`` naming ``what`` after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s} s")
        time.sleep(interval_s)


def wait_settled(pool: ConnectionPool, timeout_s: float = 60.0) -> None:
    """Until every recorded message has an outcome (or raise after ``timeout_s``)."""
    wait_for(
        lambda: message_log.waiting(pool) == 0,
        timeout_s,
        what="an outcome for every recorded message",
    )


def outcome(pool: ConnectionPool, message: SyncMessage) -> str | None:
    return message_log.outcome_of(pool, message.dedupe_key)


def dead_letters(queue: str) -> int:
    """Messages in the queue's dead-letter queue (``<queue>.XQ``)."""
    return get_broker().get_queue_message_counts(queue)[2]


@contextmanager
def connection_clients(
    settings: Settings,
    pool: ConnectionPool,
    connection: Connection,
    hooks: ServiceHooks | None = None,
) -> Iterator[ApiClients]:
    """The connection's clients as every process gets them (``ClientCache``), closed after;
    ``hooks`` per service (``teamleader``, ``visma``), e.g. the spec checkers'."""
    cache = ClientCache(settings, pool, event_hooks=hooks)
    try:
        yield cache.for_connection(connection)
    finally:
        cache.close()


# -- the simulators' controls ----------------------------------------------------------------
def summary(sandbox: Sandbox) -> dict[str, Any]:
    """The Visma company's counts: customers, ledger_items, duplicate_ledger_items, …"""
    response = httpx.get(f"{sandbox.visma_url}/_sandbox/summary", timeout=10)
    response.raise_for_status()
    return response.json()


def fault(sandbox: Sandbox, **plan: object) -> None:
    """A fault plan for the Visma simulator's next requests (see ``sandbox/visma``)."""
    httpx.post(f"{sandbox.visma_url}/_sandbox/faults", json=plan, timeout=5).raise_for_status()


def pay_in_visma(sandbox: Sandbox, item_id: str, amount: Decimal) -> dict[str, Any]:
    """The bank matches a payment of ``amount`` to the ledger item today; the item after."""
    response = httpx.post(
        f"{sandbox.visma_url}/_sandbox/customerledgeritems/{item_id}/payments",
        json={"Amount": str(amount), "PaymentDate": TODAY.isoformat()},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


# -- the generated account (seed 7, which ``connected`` loads) -------------------------------
def teamleader_part() -> dict[str, Any]:
    return generated()["teamleader"]


def booked(connected: Connected, currency: str = "EUR") -> list[dict[str, Any]]:
    """Booked invoices of the connection's department, as generated."""
    return [
        i
        for i in teamleader_part()["invoices"]
        if i["status"] in ("outstanding", "matched")
        and i["department"]["id"] == connected.department.id
        and i["currency"] == currency
    ]


def changed(connected: Connected, invoice: dict[str, Any]) -> InvoiceChanged:
    """The message the poller would publish for this invoice as generated."""
    return InvoiceChanged(
        connection_id=connected.connection.id,
        teamleader_id=invoice["id"],
        updated_at=datetime.fromisoformat(invoice["updated_at"]),
    )


def set_revenue_account(
    pool: ConnectionPool, connected: Connected, description: str, account: int
) -> mappings.VatRow:
    """Map the tax rate ``description`` (e.g. "21%") to revenue ``account``; the new row."""
    row = next(
        r for r in mappings.vat_rows(pool, connected.connection.id) if r.description == description
    )
    changed_row = mappings.VatRow(**{**row.__dict__, "revenue_account": account})
    mappings.set_vat(pool, connected.connection.id, changed_row)
    return changed_row


def start_koppel(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """``koppel ARGS`` as a long-running process of its own (its own process group, so a
    test stops it and its children with ``os.killpg``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "ops.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def start_logged(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``koppel ARGS`` as a process of its own (own process group, like
    :func:`start_koppel`), its output in ``log``."""
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "ops.cli", *args],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def koppel_cli(
    env: dict[str, str], *args: str, timeout_s: float = 300.0, columns: int = 250
) -> subprocess.CompletedProcess[str]:
    """Run ``koppel ARGS`` as its own process on the test session's database and vhost,
    with a terminal wide enough that table rows stay on one line."""
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env, "COLUMNS": str(columns)},
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
