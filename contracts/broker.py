"""The one way Koppel talks to RabbitMQ: a Dramatiq broker with publisher confirms.

Producers publish by queue name (the actor of each queue is named after it), so they never
import consumer code — the same "enqueue by name" arq chose. Confirms are on: a publish
returns only once RabbitMQ has the (persistent) message, which is what lets a cursor move
(docs/architecture.md#cursors).

Lanes share each queue as RabbitMQ priorities: a live change (a poll round's first
messages, a webhook's) goes before bulk work (a backfill, a round's backlog), which RabbitMQ
delivers only when no live message is ready (:class:`Lane`). The lane is the message's
Dramatiq option ``broker_priority``, never part of its body, so it cannot change its
exactly-once key (docs/architecture.md#many-connections).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import Any
from urllib.parse import urlsplit

import dramatiq
import pika
import pika.exceptions
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import Middleware, Retries, TimeLimit, default_middleware

from config import Settings
from config.unreachable import (
    broker_login_refused,
    broker_unreachable,
    broker_url_invalid,
    broker_vhost_denied,
    broker_vhost_missing,
)
from contracts import queues
from contracts.messages import SyncMessage


class Lane(IntEnum):
    """A message's RabbitMQ priority: higher is delivered first."""

    #: A backfill, a poll round's backlog.
    BULK = 0
    #: A bulk message coming back at its reserved rate-budget turn (consumers/middleware/
    #: waits.py): due now, so before fresh bulk work, which would make its slot late.
    TURN = 1
    #: A change seen by a poll round or a webhook.
    LIVE = 2


#: Every queue is declared with ``x-max-priority`` this high (each level costs RabbitMQ a
#: sub-queue per queue; three lanes need no more).
MAX_PRIORITY = max(Lane)


def check_reachable(url: str, timeout_s: float = 5.0) -> None:
    """Raise :class:`ServiceUnreachable` naming RabbitMQ if it does not answer;
    :class:`ServiceRefused` when it answers but refuses the login or the virtual host, and
    :class:`ServiceUrlInvalid` when ``url`` is no AMQP URL."""
    blocking_connection(url, timeout_s).close()


def blocking_connection(url: str, timeout_s: float = 5.0) -> pika.BlockingConnection:
    """A pika connection to ``url``, or the error of :func:`check_reachable` saying why not."""
    if urlsplit(url).scheme not in ("amqp", "amqps"):
        raise broker_url_invalid()
    try:
        parameters = pika.URLParameters(url)
    except (ValueError, IndexError):
        raise broker_url_invalid() from None  # its message may quote the password
    parameters.socket_timeout = timeout_s
    parameters.blocked_connection_timeout = timeout_s
    parameters.connection_attempts = 1
    user = getattr(parameters.credentials, "username", "")
    try:
        return pika.BlockingConnection(parameters)
    except (
        pika.exceptions.ProbableAuthenticationError,
        pika.exceptions.AuthenticationError,
    ) as error:
        raise broker_login_refused(url, user) from error
    except pika.exceptions.ProbableAccessDeniedError as error:
        # RabbitMQ says "vhost X not found" for a missing one, "access to vhost X refused
        # for user Y" for one the user may not use; both close with 530 NOT_ALLOWED.
        if "not found" in str(error):
            raise broker_vhost_missing(url, parameters.virtual_host, user) from error
        raise broker_vhost_denied(url, parameters.virtual_host, user) from error
    except (pika.exceptions.AMQPError, OSError) as error:
        raise broker_unreachable(url, repr(error)) from error


def make_broker(
    settings: Settings,
    middleware: Iterable[Middleware] = (),
    *,
    retries: type[Retries] = Retries,
    check: bool = True,
) -> RabbitmqBroker:
    """A confirming broker with Dramatiq's default middleware plus ``middleware``, whose
    ``after_process_message`` hooks run after Retries decided. ``retries`` takes Retries'
    place: the consumers' broker passes ``consumers.middleware.waits.Waits``, a Retries whose
    waits use up no retry (this layer imports no consumer code)."""
    if check:
        check_reachable(settings.broker_url)
    stack: list[Middleware] = []
    for kind in default_middleware:
        if kind is Retries:
            # Dramatiq calls "after" hooks in reverse order: middleware listed before Retries
            # sees its verdict (``message.failed``) — where failure recording must be.
            stack.extend(middleware)
            stack.append(
                retries(
                    max_retries=settings.max_retries,
                    min_backoff=settings.retry_min_backoff_ms,
                    max_backoff=settings.retry_max_backoff_ms,
                )
            )
        elif kind is TimeLimit:
            stack.append(TimeLimit(time_limit=settings.actor_time_limit_ms))
        else:
            stack.append(kind())
    return RabbitmqBroker(
        url=settings.broker_url,
        confirm_delivery=True,
        middleware=stack,
        max_priority=int(MAX_PRIORITY),
    )


def dramatiq_message(message: SyncMessage, lane: Lane = Lane.LIVE) -> dramatiq.Message[Any]:
    """The Dramatiq envelope of a message: for its queue's actor, the contract as JSON, in
    ``lane``."""
    return dramatiq.Message(
        queue_name=message.queue,
        actor_name=message.queue,
        args=(message.to_json(),),
        kwargs={},
        options={"broker_priority": int(lane)},
    )


def publish(broker: dramatiq.Broker, message: SyncMessage, lane: Lane = Lane.LIVE) -> None:
    """Publish one message in ``lane`` and wait for RabbitMQ's confirm."""
    broker.enqueue(dramatiq_message(message, lane))


def purge_all(settings: Settings) -> None:
    """Empty every Koppel queue with its delay and dead-letter queues (the demo and tests
    start from nothing; never a production step)."""
    broker = make_broker(settings)
    try:
        for queue in queues.ALL:
            broker.declare_queue(queue, ensure=True)
            for name in (queue, queues.delay_queue(queue), queues.dead_letter_queue(queue)):
                broker.channel.queue_purge(name)
    finally:
        broker.close()
