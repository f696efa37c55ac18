"""A message's lane is how RabbitMQ delivers it, never what it says (contracts/broker.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from contracts.broker import MAX_PRIORITY, Lane, dramatiq_message
from contracts.messages import InvoiceChanged, parse


def test_a_message_in_either_lane_has_the_same_body_and_so_the_same_exactly_once_key() -> None:
    message = InvoiceChanged(
        connection_id=uuid.UUID(int=7),
        teamleader_id="inv-1",
        updated_at=datetime(2026, 6, 15, 9, 30, tzinfo=UTC),
    )
    live, bulk = dramatiq_message(message, Lane.LIVE), dramatiq_message(message, Lane.BULK)
    assert live.args == bulk.args
    assert parse(live.queue_name, live.args[0]).dedupe_key == message.dedupe_key
    assert parse(bulk.queue_name, bulk.args[0]).dedupe_key == message.dedupe_key
    # Only the delivery option differs, and live is the higher priority
    assert live.options["broker_priority"] > bulk.options["broker_priority"]
    assert live.options["broker_priority"] <= MAX_PRIORITY
    # Published without saying, a message is live (a webhook's, a requeued dead letter's)
    assert dramatiq_message(message).options == live.options
