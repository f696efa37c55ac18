"""Live before bulk, on the session's RabbitMQ (contracts/broker.py): a live message queued
after a backlog is delivered first, and a poll round's messages past its live share travel
in the bulk lane."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import dramatiq
from psycopg_pool import ConnectionPool

from config import Settings
from contracts import queues
from contracts.broker import Lane, make_broker, publish
from contracts.messages import InvoiceChanged, parse
from ops.connect.connecting import Connected
from ops.processes.polling import poll_due
from store.api_clients import ClientCache


def _drain(settings: Settings, queue: str) -> list[tuple[int, str]]:
    """Every message now ready in ``queue``, in delivery order: (priority, teamleader id)."""
    broker = make_broker(settings)
    try:
        broker.declare_queue(queue, ensure=True)
        channel = broker.channel
        taken = []
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return taken
            payload = dramatiq.get_encoder().decode(body)
            message = parse(queue, payload["args"][0])
            assert isinstance(message, InvoiceChanged)
            taken.append((properties.priority or 0, message.teamleader_id))
    finally:
        broker.close()


def test_a_live_message_published_after_a_bulk_backlog_is_delivered_first(
    settings: Settings, pool: ConnectionPool
) -> None:
    connection_id = uuid.uuid4()
    at = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
    broker = make_broker(settings)
    try:
        for n in range(20):
            backlog = InvoiceChanged(
                connection_id=connection_id, teamleader_id=f"bulk-{n}", updated_at=at
            )
            publish(broker, backlog, Lane.BULK)
        live = InvoiceChanged(connection_id=connection_id, teamleader_id="live", updated_at=at)
        publish(broker, live)
    finally:
        broker.close()
    delivered = _drain(settings, queues.INVOICES)
    assert delivered[0] == (Lane.LIVE, "live")
    # ... and the backlog after it, in its own order
    assert [tid for _, tid in delivered[1:]] == [f"bulk-{n}" for n in range(20)]


def test_a_poll_rounds_messages_past_its_live_share_go_in_the_bulk_lane(
    settings: Settings, pool: ConnectionPool, connected: Connected
) -> None:
    # Given a connection whose first round finds many booked invoices, and a live share of 3
    chosen = settings.model_copy(update={"live_messages_per_round": 3})
    cache = ClientCache(chosen, pool)
    try:
        [report] = poll_due(chosen, pool, cache, [connected.connection])
    finally:
        cache.close()
    invoices = next(s for s in report.streams if s.stream == "invoices")
    assert invoices.published > 3
    # Then the first 3 were published live and the rest bulk
    delivered = _drain(settings, queues.INVOICES)
    priorities = [priority for priority, _ in delivered]
    assert priorities == [Lane.LIVE] * 3 + [Lane.BULK] * (invoices.published - 3)
    assert len({tid for _, tid in delivered}) == invoices.published
