"""The shared shape of every consumer: one Dramatiq actor per queue around a handler.

The actor validates the message against its contract, skips a version already handled,
acknowledges a paused or removed connection's message without effect (recorded as
skipped), loads the connection and its API clients, calls the queue's handler, and records
the outcome (``messages``), the document's history and any attention it needs. Errors are
sorted once, here: permanent ones dead-letter at once (``throws``), a busy document or a
429 is a :class:`~consumers.errors.Wait` (after a short or the announced delay, using up no
retry: ``consumers/middleware/waits.py``), everything else backs off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dramatiq
import psycopg

from clients.errors import RateLimited, TransientError
from clients.visma.errors import SERVICE as VISMA
from config import get_settings
from consumers import service_gate
from consumers.errors import NotYetPossible, PermanentFailure, Wait, WaitingFor, as_permanent
from consumers.middleware import metrics
from consumers.middleware.turns import turns_option
from consumers.runtime import Runtime, runtime
from contracts.broker import dramatiq_message
from contracts.messages import MalformedMessage, SyncMessage, parse
from contracts.outcome_names import OutcomeName
from store import connections, document_history, message_log, outcomes
from store.api_clients import ApiClients
from store.connections import Connection
from store.outcomes import Failure
from store.rate_budget import TurnLater
from store.writes import Busy, NotListedYet

logger = logging.getLogger(__name__)

#: A busy document is being handled by another thread or process right now (ms).
BUSY_RETRY_DELAY_MS = 1_000
#: The first delay (ms) of a wait for an API or PostgreSQL to answer again; later ones grow
#: with the time waited (consumers/middleware/waits.py).
SERVICE_RETRY_DELAY_MS = 1_000


def retry_when(retries: int, error: BaseException) -> bool:
    """Dramatiq's ``retry_when``: failures retry up to KOPPEL_MAX_RETRIES. A Wait never
    gets here: the Waits middleware handles it, uncounted, before Retries would."""
    return retries < get_settings().max_retries


@dataclass(frozen=True)
class Outcome:
    """How a message ended: posted, updated, unchanged, skipped or attention."""

    name: OutcomeName
    detail: str = ""
    #: What the history should remember (Visma ids, numbers, amounts).
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Job:
    """Everything a handler needs for one message."""

    runtime: Runtime
    connection: Connection
    clients: ApiClients


M = TypeVar("M", bound=SyncMessage)
Handler = Callable[[Job, M], Outcome]


@dataclass(frozen=True)
class Consumer:
    """One queue's consumer, as its module declares it: the queue and its handler.

    Only data, so importing a consumer needs no broker: ``consumers.app.get_broker``
    declares the actors when it makes the broker (Dramatiq's ``@actor`` would bind to the
    global broker at import, and make a default one if none is set)."""

    queue: str
    handler: Handler[Any]


def sync_actor(
    broker: dramatiq.Broker, consumer: Consumer, **options: Any
) -> dramatiq.Actor[Any, Any]:
    """Declare the consumer's actor on ``broker``, named like its queue (producers publish
    by name)."""
    queue, handler = consumer.queue, consumer.handler

    def run(payload: object) -> None:
        handle_payload(queue, handler, payload)

    run.__name__ = run.__qualname__ = queue
    # The decorator form: dramatiq types no call that passes the function and options at once.
    return dramatiq.actor(
        actor_name=queue,
        queue_name=queue,
        broker=broker,
        throws=(PermanentFailure,),
        retry_when=retry_when,
        **options,
    )(run)


def handle_payload(queue: str, handler: Handler[Any], payload: object) -> None:
    try:
        message = parse(queue, payload)
    except MalformedMessage as malformed:
        raise PermanentFailure("MalformedMessage", malformed.reason) from malformed
    rt = runtime()
    try:
        # One round trip for both (bench/cost.py): every message needs them.
        handled, connection = message_log.outcome_and_connection(
            rt.pool, message.dedupe_key, message.connection_id
        )
    except psycopg.OperationalError as away:
        raise Wait(
            f"PostgreSQL: {away}", waiting_for=WaitingFor.SERVICE, delay=SERVICE_RETRY_DELAY_MS
        ) from away
    if handled not in (None, OutcomeName.FAILED):
        logger.debug("skipping %s: this version was handled already", message.dedupe_key)
        return
    if connection is not None and not connection.syncing and _skip_stopped(rt, message):
        return
    try:
        if connection is None:
            raise connections.UnknownConnection(f"no connection with id {message.connection_id}")
        if not service_gate.GATE.admit():
            raise Wait(
                "an API answered with a server error or not at all a moment ago; one message"
                " a second tries it until it answers again",
                waiting_for=WaitingFor.SERVICE,
                delay=SERVICE_RETRY_DELAY_MS,
            )
        job = Job(rt, connection, rt.clients_for(connection))
        if service_gate.GATE.down_service == VISMA:
            # This message probes a Visma that was down: one cheap Visma read first, so a
            # Visma outage spends none of Teamleader's budget (consumers/service_gate.py).
            job.clients.visma.company_settings()
        outcome = handler(job, message)
        service_gate.GATE.succeeded()
    except Busy as busy:
        raise Wait(
            str(busy), waiting_for=WaitingFor.BUSY_DOCUMENT, delay=BUSY_RETRY_DELAY_MS
        ) from busy
    except NotListedYet as unlisted:
        delay = int(unlisted.retry_in_s * 1000)
        raise Wait(str(unlisted), waiting_for=WaitingFor.LISTING, delay=delay) from unlisted
    except RateLimited as limited:
        delay = int(limited.retry_after_s * 1000)
        raise Wait(str(limited), waiting_for=WaitingFor.RATE_LIMIT, delay=delay) from limited
    except Wait:
        raise
    except TransientError as down:
        service_gate.GATE.failed(down.service)
        # Not Dramatiq's backoff, which grows to minutes during a long outage and so keeps
        # the message away for minutes after it ended: a wait, tried again every
        # SERVICE_RETRY_DELAY_MS, then every twentieth of the time waited.
        delay = int((down.retry_after_s or 0) * 1000) or SERVICE_RETRY_DELAY_MS
        raise Wait(str(down), waiting_for=WaitingFor.SERVICE, delay=delay) from down
    except psycopg.OperationalError as away:
        # Our PostgreSQL restarting: its pool checks connections and reconnects (store/db.py).
        raise Wait(
            f"PostgreSQL: {away}", waiting_for=WaitingFor.SERVICE, delay=SERVICE_RETRY_DELAY_MS
        ) from away
    except TurnLater as later:
        # Not a thread asleep on one connection's budget: back at the reserved turn.
        raise Wait(
            str(later),
            waiting_for=WaitingFor.BUDGET,
            delay=int(later.delay_s * 1000),
            options=turns_option(later.turns),
        ) from later
    except NotYetPossible as waiting:
        document_history.record(
            rt.pool,
            message.connection_id,
            message.document_type,
            message.document_id,
            "waiting",
            {"reason": waiting.reason},
        )
        raise
    except Exception as error:
        permanent = as_permanent(error)
        if permanent is not None:
            raise permanent from error
        raise
    _finish(rt, message, outcome)


def _skip_stopped(rt: Runtime, message: SyncMessage) -> bool:
    """Acknowledge a message of a paused or removed connection without effect: record it
    skipped ("connection paused", which ``koppel connections resume`` reads again, or
    "connection removed"). False when the connection is active after all (resumed since it
    was read): then the message is applied as usual."""
    with rt.pool.connection() as conn, conn.transaction():
        # Locked until the outcome is committed, so a resume running now sees it.
        state = connections.state_of(conn, message.connection_id, lock=True)
        if state is None or state == "active":
            return False
        detail = connections.SKIPPED_DETAIL[state]
        outcomes.finish(conn, message, OutcomeName.SKIPPED, detail, {})
    logger.info("skipped %s: %s", message.dedupe_key, detail)
    metrics.count(message.document_type, OutcomeName.SKIPPED)
    return True


def _finish(rt: Runtime, message: SyncMessage, outcome: Outcome) -> None:
    failure = None
    if outcome.name == OutcomeName.ATTENTION:
        envelope = dramatiq_message(message).asdict()
        failure = Failure("NeedsAttention", outcome.detail, envelope, status="attention")
    outcomes.record(rt.pool, message, outcome.name, outcome.detail, outcome.facts, failure)
    metrics.count(message.document_type, outcome.name)
