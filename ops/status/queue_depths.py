"""How many messages wait in each Koppel queue, its delay queue and its dead-letter queue.

Read with passive ``queue_declare`` over AMQP (the management API is not always enabled):
that gives the *ready* count and the number of consumers. A message a consumer holds
(unacked) is not counted — which includes Dramatiq's delayed messages, since a worker takes
a ``.DQ`` message at once and keeps it unacked until its ETA. A queue that was never declared
(no worker or publish has used it yet) is reported as such, not as an error.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import pika
import pika.exceptions

from config.unreachable import broker_unreachable
from contracts import queues


@dataclass(frozen=True)
class Depth:
    """One RabbitMQ queue: ready messages and consumers, or None when not declared."""

    name: str
    ready: int | None
    consumers: int | None

    @property
    def declared(self) -> bool:
        return self.ready is not None


@dataclass(frozen=True)
class QueueDepths:
    """A Koppel queue with its ``.DQ`` (delayed, retries) and ``.XQ`` (dead letters)."""

    queue: Depth
    delayed: Depth
    dead: Depth


def _depth(connection: pika.BlockingConnection, name: str) -> Depth:
    # A passive declare of a missing queue closes the channel (404): one channel per queue.
    channel = connection.channel()
    try:
        frame = channel.queue_declare(queue=name, passive=True)
    except pika.exceptions.ChannelClosedByBroker as error:
        if error.reply_code == 404:
            return Depth(name, None, None)
        raise
    with contextlib.suppress(pika.exceptions.AMQPError):
        channel.close()
    return Depth(name, frame.method.message_count, frame.method.consumer_count)


def read(broker_url: str, timeout_s: float = 5.0) -> list[QueueDepths]:
    """Every queue of :data:`contracts.queues.ALL`; RabbitMQ down → ServiceUnreachable."""
    parameters = pika.URLParameters(broker_url)
    parameters.socket_timeout = timeout_s
    parameters.blocked_connection_timeout = timeout_s
    parameters.connection_attempts = 1
    try:
        connection = pika.BlockingConnection(parameters)
    except pika.exceptions.AMQPError as error:
        raise broker_unreachable(broker_url, repr(error)) from error
    try:
        return [
            QueueDepths(
                _depth(connection, name),
                _depth(connection, queues.delay_queue(name)),
                _depth(connection, queues.dead_letter_queue(name)),
            )
            for name in queues.ALL
        ]
    except pika.exceptions.AMQPError as error:
        raise broker_unreachable(broker_url, repr(error)) from error
    finally:
        with contextlib.suppress(pika.exceptions.AMQPError):
            connection.close()
