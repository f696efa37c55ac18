"""The queue side of ``koppel dlq``: read, remove and republish Dramatiq's dead letters.

Dramatiq's RabbitMQ broker dead-letters a failed message into ``<queue>.XQ`` unchanged (the
body is the envelope JSON, ``Message.encode()``; retries in ``options["retries"]``) and has
no API to read or move them; kombu does that here. A queue is read by taking every message
unacknowledged (``basic_get``), acknowledging only the ones to remove, and handing the rest
back by closing the channel, so a crash half-way returns them all: reading never loses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import dramatiq
import kombu
from amqp.exceptions import NotFound
from kombu.exceptions import OperationalError

from config import Settings
from config.unreachable import broker_unreachable
from contracts import queues
from contracts.broker import make_broker

#: How long to wait for RabbitMQ before saying it cannot be reached (seconds).
CONNECT_TIMEOUT_S = 5.0
#: How long to wait for messages handed back to an XQ to be there again (seconds).
RETURN_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class DeadLetter:
    """One message in a ``<queue>.XQ``: its Dramatiq envelope (``Message.asdict()`` shape)."""

    queue: str
    envelope: dict[str, Any]

    @property
    def message_id(self) -> str:
        return str(self.envelope.get("message_id", ""))


def _decode(queue: str, body: bytes | str) -> DeadLetter:
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict):
        # Not Dramatiq's: kept whole so it can still be shown, never matched to a row.
        envelope = {"message_id": "", "undecodable": str(body)[:2000]}
    return DeadLetter(queue, envelope)


def _visit(
    settings: Settings, queue: str, decide: Callable[[DeadLetter], bool]
) -> list[DeadLetter]:
    """Every dead letter of ``queue``; those ``decide`` returns True for are removed (acked),
    the others go back to the XQ. A queue never declared has none."""
    name = queues.dead_letter_queue(queue)
    seen: list[DeadLetter] = []
    with kombu.Connection(settings.broker_url, connect_timeout=CONNECT_TIMEOUT_S) as connection:
        try:
            channel = connection.channel()
        except (OSError, OperationalError) as error:
            raise broker_unreachable(settings.broker_url, repr(error)) from error
        try:
            channel.queue_declare(queue=name, passive=True)
        except NotFound:
            return seen
        xq = kombu.Queue(name, channel=channel, no_declare=True)
        held = 0
        try:
            while (raw := xq.get(no_ack=False)) is not None:
                letter = _decode(queue, raw.body)
                seen.append(letter)
                if decide(letter):
                    raw.ack()
                else:
                    held += 1
        finally:
            # Closing the channel hands every unacknowledged message back to the XQ at once
            # (also when reading failed half-way): reading never loses one.
            channel.close()
        _wait_returned(connection, name, held)
    return seen


def _wait_returned(connection: kombu.Connection, name: str, held: int) -> None:
    """Until the XQ holds the ``held`` messages handed back again: RabbitMQ requeues them
    after the channel closed, and a next reader (``remove`` right after ``peek``) must not
    find the queue short. Gives up quietly after :data:`RETURN_TIMEOUT_S` (they are not
    lost, only late)."""
    if not held:
        return
    channel = connection.channel()
    try:
        deadline = time.monotonic() + RETURN_TIMEOUT_S
        while channel.queue_declare(queue=name, passive=True).message_count < held:
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
    finally:
        channel.close()


def peek(settings: Settings, queue_names: Iterable[str] = queues.ALL) -> list[DeadLetter]:
    """What the XQs hold now, changing nothing."""
    return [letter for queue in queue_names for letter in _visit(settings, queue, _keep)]


def remove(settings: Settings, queue: str, message_ids: Iterable[str]) -> set[str]:
    """Take the messages with these Dramatiq ids out of ``<queue>.XQ``; the ids removed."""
    wanted = {message_id for message_id in message_ids if message_id}
    if not wanted:
        return set()
    removed = {
        letter.message_id
        for letter in _visit(settings, queue, lambda letter: letter.message_id in wanted)
        if letter.message_id in wanted
    }
    return removed


def _keep(letter: DeadLetter) -> bool:
    return False


def fresh_message(queue: str, envelope: dict[str, Any]) -> dramatiq.Message[Any]:
    """The same body for the same actor as a new message: a new id, retries at 0 (options
    empty) and a new timestamp, so neither the retry count nor the age limit carries over."""
    return dramatiq.Message(
        queue_name=queue,
        actor_name=str(envelope.get("actor_name") or queue),
        args=tuple(envelope.get("args") or ()),
        kwargs=dict(envelope.get("kwargs") or {}),
        options={},
    )


class Publisher:
    """Publishes with RabbitMQ's confirm (Koppel's confirming broker); one per command."""

    def __init__(self, settings: Settings) -> None:
        self._broker = make_broker(settings)

    def publish(self, message: dramatiq.Message[Any]) -> None:
        self._broker.enqueue(message)

    def close(self) -> None:
        self._broker.close()
