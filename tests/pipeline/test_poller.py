"""The poller against the simulators, real RabbitMQ and PostgreSQL.

Every exchange of the poller's API clients is checked against the official descriptions
(``teamleader_spec`` / ``visma_spec``). Messages are counted where they end up: in the
RabbitMQ queues (read back with ``basic_get``) and in the ``messages`` table.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pika
import psycopg
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from psycopg_pool import ConnectionPool

from clients.visma.models import CustomerLedgerItem
from config import Settings, get_settings
from contracts import queues
from contracts.broker import make_broker
from contracts.messages import (
    CreditNoteChanged,
    CustomerChanged,
    InvoiceChanged,
    PaymentObserved,
    SyncMessage,
    parse,
)
from ops.connect.connecting import Connected
from producers.poller import (
    CONTACTS,
    CREDIT_NOTES,
    INVOICES,
    STREAMS,
    VISMA_LEDGER_ITEMS,
    PollReport,
    poll_connection,
)
from store import cursors, links
from store.api_clients import ApiClients
from store.links import Link
from tests.conftest import ROOT, Sandbox, free_port
from tests.pipeline.conftest import generated
from tests.pipeline.support import connection_clients, koppel_cli, pay_in_visma, wait_for
from tests.spec_check import SpecChecker
from tests.visma.support import customer_body, posting_body

DATASET = generated()
TEAMLEADER = DATASET["teamleader"]
NL = next(d["id"] for d in TEAMLEADER["departments"] if d["address"]["country"] == "NL")


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


def booked_nl_invoices() -> list[dict[str, Any]]:
    return [
        i
        for i in TEAMLEADER["invoices"]
        if i["department"]["id"] == NL and i["status"] in ("outstanding", "matched")
    ]


def nl_credit_notes() -> list[dict[str, Any]]:
    return [c for c in TEAMLEADER["creditNotes"] if c["department"]["id"] == NL]


@pytest.fixture
def clients(
    settings: Settings,
    pool: ConnectionPool,
    connected: Connected,
    teamleader_spec: SpecChecker,
    visma_spec: SpecChecker,
) -> Iterator[ApiClients]:
    """The connection's clients as the poller gets them, every exchange spec-checked."""
    hooks = {"teamleader": teamleader_spec.hooks(), "visma": visma_spec.hooks()}
    with connection_clients(settings, pool, connected.connection, hooks) as clients:
        yield clients


@pytest.fixture
def broker(settings: Settings) -> Iterator[RabbitmqBroker]:
    broker = make_broker(settings)
    yield broker
    broker.close()


def drain(settings: Settings, queue: str) -> list[SyncMessage]:
    """Take every message off a queue (nothing consumes them in these tests)."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.broker_url))
    try:
        channel = connection.channel()
        found = []
        while True:
            method, _properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return found
            found.append(parse(queue, json.loads(body)["args"][0]))
    finally:
        connection.close()


def drain_all(settings: Settings) -> dict[str, list[SyncMessage]]:
    return {queue: drain(settings, queue) for queue in queues.ALL}


def recorded(pool: ConnectionPool, document_type: str) -> list[dict[str, Any]]:
    with pool.connection() as conn:
        return conn.execute(
            "SELECT document_id, version, outcome FROM messages WHERE document_type = %s",
            [document_type],
        ).fetchall()


def by_stream(report: PollReport) -> dict[str, Any]:
    return {stream.stream: stream for stream in report.streams}


def poll(
    settings: Settings,
    pool: ConnectionPool,
    broker: RabbitmqBroker,
    connected: Connected,
    clients: ApiClients,
) -> PollReport:
    return poll_connection(settings, pool, broker, connected.connection, clients)


def test_one_round_publishes_one_message_per_booked_nl_invoice_credit_note_and_customer(
    settings: Settings,
    pool: ConnectionPool,
    broker: RabbitmqBroker,
    connected: Connected,
    clients: ApiClients,
) -> None:
    # Given the generated account, which also holds drafts and a Belgian department
    assert any(
        i["status"] == "draft" and i["department"]["id"] == NL for i in TEAMLEADER["invoices"]
    )
    assert any(i["department"]["id"] != NL for i in TEAMLEADER["invoices"])
    assert any(c["department"]["id"] != NL for c in TEAMLEADER["creditNotes"])

    # When the poller runs one round
    report = poll(settings, pool, broker, connected, clients)

    # Then RabbitMQ holds exactly one message per booked NL invoice, NL credit note and customer
    assert not report.failed, report
    found = drain_all(settings)
    invoices = found[queues.INVOICES]
    assert all(isinstance(m, InvoiceChanged) for m in invoices)
    assert sorted(m.teamleader_id for m in invoices) == sorted(  # type: ignore[attr-defined]
        i["id"] for i in booked_nl_invoices()
    )
    notes = found[queues.CREDIT_NOTES]
    assert all(isinstance(m, CreditNoteChanged) for m in notes)
    assert sorted(m.teamleader_id for m in notes) == sorted(  # type: ignore[attr-defined]
        c["id"] for c in nl_credit_notes()
    )
    customers = found[queues.CONTACTS]
    assert all(isinstance(m, CustomerChanged) for m in customers)
    assert sorted((m.kind, m.teamleader_id) for m in customers) == sorted(  # type: ignore[attr-defined]
        [("contact", c["id"]) for c in TEAMLEADER["contacts"]]
        + [("company", c["id"]) for c in TEAMLEADER["companies"]]
    )
    assert found[queues.PAYMENTS] == []
    # And each message carries the document's version, the connection, and is in `messages`
    updated = {i["id"]: stamp(i["updated_at"]) for i in booked_nl_invoices()}
    assert all(m.updated_at == updated[m.teamleader_id] for m in invoices)  # type: ignore[attr-defined]
    assert {m.connection_id for m in invoices + notes + customers} == {connected.connection.id}
    assert sorted(r["document_id"] for r in recorded(pool, "invoice")) == sorted(updated)
    assert len(recorded(pool, "credit_note")) == len(nl_credit_notes())
    assert len(recorded(pool, "customer")) == len(customers)
    assert all(r["outcome"] is None for r in recorded(pool, "invoice"))
    # And every published message has a "queued" entry in its document's history
    with pool.connection() as conn:
        queued = conn.execute("SELECT count(*) AS n FROM history WHERE event = 'queued'").fetchone()
    assert queued is not None
    assert queued["n"] == len(invoices) + len(notes) + len(customers) == report.published


def test_a_connection_another_poller_holds_is_skipped_and_polled_once_the_lock_is_free(
    settings: Settings,
    pool: ConnectionPool,
    broker: RabbitmqBroker,
    connected: Connected,
    clients: ApiClients,
) -> None:
    # Given another poller's session holding the connection's round lock
    key = f"poll:{connected.connection.id}"
    with psycopg.connect(settings.database_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [key])

        # When this poller runs a round
        skipped = poll(settings, pool, broker, connected, clients)

        # Then it skips the connection: nothing published, recorded or moved
        assert skipped.polled_elsewhere
        assert skipped.streams == [] and not skipped.failed
        assert all(messages == [] for messages in drain_all(settings).values())
        assert recorded(pool, "invoice") == []
        assert cursors.all_for(pool, connected.connection.id) == []
        other.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])

    # And once the lock is free the round runs, and releases the lock when it ends
    first = poll(settings, pool, broker, connected, clients)
    assert not first.polled_elsewhere and first.published > 0
    second = poll(settings, pool, broker, connected, clients)
    assert not second.polled_elsewhere and not second.failed


def test_each_cursor_ends_on_the_largest_remote_timestamp_seen(
    settings: Settings,
    pool: ConnectionPool,
    broker: RabbitmqBroker,
    connected: Connected,
    clients: ApiClients,
) -> None:
    # When the poller runs one round
    report = poll(settings, pool, broker, connected, clients)

    # Then each Teamleader cursor is the largest updated_at of what its query returned
    connection_id = connected.connection.id
    expected = {
        CONTACTS: max(stamp(c["updated_at"]) for c in TEAMLEADER["contacts"]),
        INVOICES: max(stamp(i["updated_at"]) for i in booked_nl_invoices()),
        CREDIT_NOTES: max(stamp(c["updated_at"]) for c in nl_credit_notes()),
    }
    for stream, watermark in expected.items():
        cursor = cursors.get(pool, connection_id, stream)
        assert cursor.watermark == watermark, stream
        assert cursor.last_success_at is not None
        assert by_stream(report)[stream].watermark == watermark
    # And a stream that saw nothing has succeeded but holds no watermark yet
    ledger = cursors.get(pool, connection_id, VISMA_LEDGER_ITEMS)
    assert ledger.watermark is None
    assert ledger.last_success_at is not None


def test_a_second_round_publishes_nothing(
    settings: Settings,
    pool: ConnectionPool,
    broker: RabbitmqBroker,
    connected: Connected,
    clients: ApiClients,
) -> None:
    # Given one round, whose messages were taken off the queues
    poll(settings, pool, broker, connected, clients)
    drain_all(settings)

    # When a second round reads the overlap again
    second = poll(settings, pool, broker, connected, clients)

    # Then it publishes nothing: what the overlap re-read is skipped as already recorded
    assert not second.failed, second
    assert second.published == 0
    assert by_stream(second)[INVOICES].skipped >= 1
    assert all(messages == [] for messages in drain_all(settings).values())


def test_a_message_waiting_over_an_hour_without_an_outcome_is_published_again(
    settings: Settings,
    pool: ConnectionPool,
    broker: RabbitmqBroker,
    connected: Connected,
    clients: ApiClients,
) -> None:
    # Given one round whose messages never reached a consumer (the queues lost them) …
    poll(settings, pool, broker, connected, clients)
    drain_all(settings)
    # … and of the newest invoices (the ones the overlap reads again), one waiting for two
    # hours, one handled two hours ago, and one waiting for a minute
    newest = sorted(booked_nl_invoices(), key=lambda i: stamp(i["updated_at"]))[-3:]
    assert len({i["updated_at"] for i in newest}) == 1, "all three inside the overlap"
    lost, handled, fresh = (i["id"] for i in newest)
    with pool.connection() as conn:
        conn.execute(
            "UPDATE messages SET published_at = now() - interval '2 hours',"
            " outcome = CASE WHEN document_id = %s THEN 'posted' END"
            " WHERE document_type = 'invoice' AND document_id = ANY(%s)",
            [handled, [lost, handled]],
        )
        conn.execute(
            "UPDATE messages SET published_at = now() - interval '1 minute'"
            " WHERE document_type = 'invoice' AND document_id = %s",
            [fresh],
        )

    # When the poller runs again
    report = poll(settings, pool, broker, connected, clients)

    # Then only the long-waiting one is published again
    assert [m.teamleader_id for m in drain(settings, queues.INVOICES)] == [lost]  # type: ignore[attr-defined]
    assert by_stream(report)[INVOICES].published == 1


def test_an_invoice_changed_in_teamleader_is_published_again_with_its_new_version(
    settings: Settings,
    pool: ConnectionPool,
    broker: RabbitmqBroker,
    connected: Connected,
    clients: ApiClients,
    sandbox: Sandbox,
) -> None:
    # Given one round, taken off the queues
    poll(settings, pool, broker, connected, clients)
    drain_all(settings)
    invoice = booked_nl_invoices()[0]

    # When the invoice is edited in Teamleader and the poller runs again
    response = httpx.post(
        f"{sandbox.teamleader_url}/_sandbox/invoices/{invoice['id']}/update",
        json={"purchase_order_number": "PO-2026-042"},
        timeout=10,
    )
    response.raise_for_status()
    new_updated_at = stamp(response.json()["updated_at"])
    report = poll(settings, pool, broker, connected, clients)

    # Then exactly that invoice is published again, with its new version
    assert new_updated_at > stamp(invoice["updated_at"])
    found = drain_all(settings)
    assert found[queues.INVOICES] == [
        InvoiceChanged(
            connection_id=connected.connection.id,
            teamleader_id=invoice["id"],
            updated_at=new_updated_at,
        )
    ]
    assert found[queues.CONTACTS] == found[queues.CREDIT_NOTES] == []
    assert by_stream(report)[INVOICES].published == 1
    versions = [
        r["version"] for r in recorded(pool, "invoice") if r["document_id"] == invoice["id"]
    ]
    assert sorted(versions) == sorted([invoice["updated_at"], new_updated_at.isoformat()])
    assert cursors.get(pool, connected.connection.id, INVOICES).watermark == new_updated_at


def test_when_rabbitmq_cannot_be_reached_the_cursors_stay_and_the_error_is_recorded(
    settings: Settings,
    pool: ConnectionPool,
    broker: RabbitmqBroker,
    connected: Connected,
    clients: ApiClients,
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given one good round, and then an invoice edited in Teamleader
    poll(settings, pool, broker, connected, clients)
    drain_all(settings)
    connection_id = connected.connection.id
    before = {stream: cursors.get(pool, connection_id, stream).watermark for stream in STREAMS}
    invoice = booked_nl_invoices()[1]
    httpx.post(
        f"{sandbox.teamleader_url}/_sandbox/invoices/{invoice['id']}/update",
        json={"purchase_order_number": "PO-LOST?"},
        timeout=10,
    ).raise_for_status()

    # When the poller publishes to a RabbitMQ address where nothing listens
    monkeypatch.setenv("KOPPEL_BROKER_URL", f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F")
    get_settings.cache_clear()
    unreachable = get_settings()
    dead_broker = make_broker(unreachable, check=False)
    try:
        failed = poll_connection(unreachable, pool, dead_broker, connected.connection, clients)
    finally:
        dead_broker.close()

    # Then the invoices stream failed, says why, and its cursor did not move
    invoices = by_stream(failed)[INVOICES]
    assert failed.failed
    assert invoices.published == 0
    assert invoices.error is not None and "RabbitMQ cannot be reached" in invoices.error
    cursor = cursors.get(pool, connection_id, INVOICES)
    assert cursor.watermark == before[INVOICES]
    assert cursor.last_error == invoices.error
    # And the streams with nothing new to publish still ran and succeeded
    assert by_stream(failed)[CONTACTS].error is None
    assert not any(
        r["version"] != invoice["updated_at"]
        for r in recorded(pool, "invoice")
        if r["document_id"] == invoice["id"]
    )

    # When RabbitMQ is back for the next round
    recovered = poll(settings, pool, broker, connected, clients)

    # Then the change is published after all, the cursor moves on and the error is cleared
    assert not recovered.failed, recovered
    changed = drain_all(settings)[queues.INVOICES]
    assert [m.teamleader_id for m in changed] == [invoice["id"]]  # type: ignore[attr-defined]
    cursor = cursors.get(pool, connection_id, INVOICES)
    assert cursor.watermark is not None and before[INVOICES] is not None
    assert cursor.watermark > before[INVOICES]
    assert cursor.last_error is None


def ledger_item(clients: ApiClients, customer_id: str, number: int) -> CustomerLedgerItem:
    """A sales posting of 100.00 + 21.00 VAT, through the Visma API."""
    return clients.visma.create_ledger_item_with_voucher(posting_body(customer_id, number))


def test_a_payment_is_observed_only_on_ledger_items_koppel_posted_and_only_when_it_changed(
    settings: Settings,
    pool: ConnectionPool,
    broker: RabbitmqBroker,
    connected: Connected,
    clients: ApiClients,
    sandbox: Sandbox,
) -> None:
    # Given two ledger items in Visma, only the first one posted by Koppel (it has a link)
    connection_id = connected.connection.id
    customer = clients.visma.create_customer(customer_body())
    assert customer.Id is not None
    ours, theirs = ledger_item(clients, customer.Id, 1001), ledger_item(clients, customer.Id, 1002)
    assert ours.Id is not None and theirs.Id is not None
    links.save(
        pool,
        connection_id,
        Link(
            teamleader_type="invoice",
            teamleader_id=str(uuid.uuid4()),
            visma_type="ledger_item",
            visma_id=ours.Id,
            visma_number="1001",
            fingerprint=None,
            remaining=ours.RemainingAmountInvoiceCurrency,
            currency="EUR",
        ),
    )

    # When the poller runs while nothing is paid
    first = poll(settings, pool, broker, connected, clients)

    # Then it saw both items, published nothing and moved its cursor to the newer one
    assert not first.failed, first
    assert by_stream(first)[VISMA_LEDGER_ITEMS].seen == 2
    assert drain(settings, queues.PAYMENTS) == []
    newest = max(i.ModifiedUtc for i in (ours, theirs) if i.ModifiedUtc)
    assert cursors.get(pool, connection_id, VISMA_LEDGER_ITEMS).watermark == newest

    # When the bank pays part of both and the poller runs again
    pay_in_visma(sandbox, ours.Id, Decimal("50.00"))
    pay_in_visma(sandbox, theirs.Id, Decimal("50.00"))
    second = poll(settings, pool, broker, connected, clients)

    # Then one PaymentObserved is published: for Koppel's item, with what is left of it
    assert not second.failed, second
    [observed] = drain(settings, queues.PAYMENTS)
    assert isinstance(observed, PaymentObserved)
    assert observed.visma_ledger_item_id.lower() == ours.Id.lower()
    assert observed.remaining_amount == Decimal("71.00")
    assert observed.currency == "EUR"
    assert [r["version"] for r in recorded(pool, "payment")] == ["71"]

    # When the poller runs once more with nothing new
    third = poll(settings, pool, broker, connected, clients)

    # Then the same remaining amount is not published twice
    assert third.published == 0
    assert drain(settings, queues.PAYMENTS) == []


def test_a_contact_changed_while_its_list_is_paged_does_not_hide_the_next_one(
    settings: Settings,
    pool: ConnectionPool,
    broker: RabbitmqBroker,
    connected: Connected,
    sandbox: Sandbox,
    teamleader_spec: SpecChecker,
    visma_spec: SpecChecker,
) -> None:
    # Given 130 more contacts, changed a minute apart long ago (more than a page of 100)
    data = copy.deepcopy(DATASET)
    contacts = data["teamleader"]["contacts"]
    template = contacts[0]
    added = []
    for n in range(130):
        moment = f"2025-02-01T{9 + n // 60:02d}:{n % 60:02d}:00+00:00"
        contact = copy.deepcopy(template)
        contact.update(id=str(uuid.UUID(int=n + 1)), companies=[], added_at=moment)
        contact.update(updated_at=moment)
        added.append(contact)
    contacts.extend(added)
    sandbox.reset(data)
    # Sorted by updated_at, the 12 generated contacts (2025-01-01) come first, then these: the
    # first added is on page 1, and the 89th is the first of page 2.
    moved, hidden = added[0]["id"], added[88]["id"]

    # And that contact is edited in Teamleader right after the first round read page 1
    edits: list[str] = []

    def edit_after_first_page(response: httpx.Response) -> None:
        request = response.request
        first_page = b'"number":1}' in request.content
        if request.url.path.endswith("/contacts.list") and first_page and not edits:
            httpx.post(
                f"{sandbox.teamleader_url}/_sandbox/contacts/{moved}",
                json={"remarks": "moved"},
                timeout=10,
            ).raise_for_status()
            edits.append(moved)

    teamleader_hooks = teamleader_spec.hooks()
    teamleader_hooks["response"] = [*teamleader_hooks["response"], edit_after_first_page]
    hooks = {"teamleader": teamleader_hooks, "visma": visma_spec.hooks()}
    with connection_clients(settings, pool, connected.connection, hooks) as clients:
        # When the poller runs two rounds
        first = poll(settings, pool, broker, connected, clients)
        first_ids = {m.teamleader_id for m in drain(settings, queues.CONTACTS)}  # type: ignore[attr-defined]
        second = poll(settings, pool, broker, connected, clients)
        second_ids = [m.teamleader_id for m in drain(settings, queues.CONTACTS)]  # type: ignore[attr-defined]

    # Then the edit moved the contact behind page 2, which hid another from the first round
    total = len(contacts)
    # (the query returned one less contact, and the moved one twice)
    assert by_stream(first)[CONTACTS].seen == total
    assert by_stream(first)[CONTACTS].published == total - 1
    assert hidden not in first_ids
    assert moved in first_ids
    # But the cursor was held back, so the second round publishes the hidden one
    assert by_stream(second)[CONTACTS].published == 1
    assert second_ids == [hidden]


def test_koppel_poll_once_prints_a_table_per_connection_and_exits_0(
    koppel_env: dict[str, str], connected: Connected, pool: ConnectionPool
) -> None:
    # When `koppel poll --once` runs as its own process
    done = koppel_cli(koppel_env, "poll", "--once", timeout_s=120)

    # Then it succeeds, shows each stream of the connection, and the messages are recorded
    assert done.returncode == 0, done.stderr
    assert connected.connection.name in done.stdout
    for stream in STREAMS:
        assert stream in done.stdout
    assert sorted(r["document_id"] for r in recorded(pool, "invoice")) == sorted(
        i["id"] for i in booked_nl_invoices()
    )


def test_koppel_poll_once_exits_1_when_a_stream_failed(
    koppel_env: dict[str, str], connected: Connected, pool: ConnectionPool
) -> None:
    # When `koppel poll --once` runs with RabbitMQ at an address where nothing listens
    closed = f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"
    done = koppel_cli({**koppel_env, "KOPPEL_BROKER_URL": closed}, "poll", "--once", timeout_s=120)

    # Then it exits 1, names RabbitMQ in its table, and recorded nothing as published
    assert done.returncode == 1, done.stdout + done.stderr
    assert "RabbitMQ cannot be reached" in done.stdout
    assert recorded(pool, "invoice") == []


def test_koppel_poll_keeps_polling_until_sigterm_and_then_stops_cleanly(
    koppel_env: dict[str, str], connected: Connected, pool: ConnectionPool
) -> None:
    # Given `koppel poll` running with a one-second interval
    process = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", "poll", "--interval-s", "1"],
        cwd=ROOT,
        env={**os.environ, **koppel_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        # When it has polled every stream at least twice (a round ends with every
        # stream's last success; the oldest of those tells the rounds apart)
        rounds_seen: set[datetime] = set()

        def polled_twice() -> bool:
            assert process.poll() is None, process.communicate()
            state = cursors.all_for(pool, connected.connection.id)
            if len(state) == len(STREAMS) and all(c.last_success_at for c in state):
                rounds_seen.add(min(c.last_success_at for c in state if c.last_success_at))
            return len(rounds_seen) >= 2

        wait_for(polled_twice, timeout_s=60, what="two rounds of the poller", interval_s=0.2)
        # And it is sent SIGTERM
        os.killpg(process.pid, signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    # Then it stops by itself with status 0, having published the account once
    assert process.returncode == 0, err
    assert b"stopped" in out
    assert len(recorded(pool, "invoice")) == len(booked_nl_invoices())
