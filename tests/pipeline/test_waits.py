"""A wait is no failure (consumers/middleware/waits.py): through Dramatiq's real middleware
stack on the session's RabbitMQ virtual host, waits use up no retry, and a wait that outlasts
its limit is dead-lettered saying what it waited for and how long."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import Middleware
from psycopg_pool import ConnectionPool

from config import Settings, get_settings
from consumers.base import retry_when
from consumers.errors import PermanentFailure, Wait, WaitingFor
from consumers.middleware.failures import RecordFailures
from consumers.middleware.waits import Waits
from contracts import keys, queues
from contracts.broker import make_broker
from ops.connect.connecting import Connected
from store import failures
from store.writes import document_lock
from tests.conftest import Sandbox
from tests.pipeline.support import (
    booked,
    changed,
    consumers_running,
    dead_letters,
    outcome,
    send,
    summary,
    wait_for,
)


@dataclass(frozen=True)
class Attempt:
    """One run of a message as the middleware after the retry decision saw it."""

    error: str | None
    failed: bool
    retries: int


class Attempts(Middleware):
    """Records every attempt; listed before Retries, so it sees the retry decision."""

    def __init__(self) -> None:
        self.seen: list[Attempt] = []

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        error = type(exception).__name__ if exception is not None else None
        retries = int(message.options.get("retries", 0))
        self.seen.append(Attempt(error, message.failed, retries))


@contextmanager
def worker_on(broker: RabbitmqBroker, queue: str) -> Iterator[None]:
    # Due delayed messages are moved on between polls: a short poll keeps 50 waits quick.
    worker = dramatiq.Worker(broker, queues={queue}, worker_threads=1, worker_timeout=10)
    worker.start()
    try:
        yield
    finally:
        worker.stop()
        broker.close()


def test_fifty_waits_then_a_transient_error_still_retry_and_the_message_then_succeeds(
    settings: Settings, pool: ConnectionPool
) -> None:
    # Given the consumers' middleware stack, and an actor that must wait 50 times (longer
    # than KOPPEL_MAX_RETRIES), then fails once as Visma does in an outage, then succeeds
    assert settings.max_retries < 50
    attempts = Attempts()
    broker = make_broker(settings, [RecordFailures(), attempts], retries=Waits)
    queue = f"test_waits_{uuid.uuid4().hex[:8]}"
    runs: list[int] = []

    def flaky() -> None:
        runs.append(len(runs) + 1)
        if len(runs) <= 50:
            raise Wait(f"wait {len(runs)}", waiting_for=WaitingFor.BUSY_DOCUMENT, delay=0)
        if len(runs) == 51:
            raise TimeoutError("Visma did not answer within 20 s")

    # Declared with the options every consumer's actor has (consumers.base.sync_actor)
    actor = dramatiq.actor(
        actor_name=queue,
        queue_name=queue,
        broker=broker,
        throws=(PermanentFailure,),
        retry_when=retry_when,
    )(flaky)
    # When its message is handled
    with worker_on(broker, queue):
        actor.send()
        wait_for(
            lambda: any(a.error is None or a.failed for a in attempts.seen),
            timeout_s=30,
            what="the message succeeding or failing",
        )
    # Then the real error was retried, and the message succeeded on the next try
    assert len(runs) == 52
    assert [a.failed for a in attempts.seen] == [False] * 52
    assert attempts.seen[-1].error is None
    # And only the real error used up a retry
    assert attempts.seen[49].retries == 0
    assert (attempts.seen[50].error, attempts.seen[50].retries) == ("TimeoutError", 1)
    assert failures.listing(pool) == []


def test_a_document_busy_for_longer_than_its_limit_is_dead_lettered_saying_so(
    connected: Connected,
    pool: ConnectionPool,
    sandbox: Sandbox,
    checked_runtime: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a document may wait 1 s for another worker, and another worker holds it longer
    monkeypatch.setenv("KOPPEL_WAIT_FOR_BUSY_DOCUMENT_MAX_S", "1")
    get_settings.cache_clear()
    invoice = booked(connected)[0]
    message = changed(connected, invoice)
    held = keys.posting(connected.connection.id, "invoice", invoice["id"])
    # When its message goes through the invoices queue
    with document_lock(pool, held), consumers_running(queues.INVOICES):
        send(pool, message)
        wait_for(lambda: outcome(pool, message) is not None, what="the invoice's outcome")
    # Then it is dead-lettered, and the reason says what it waited for, how long, and the limit
    assert outcome(pool, message) == "failed"
    [failure] = failures.listing(pool, connection_id=connected.connection.id)
    assert failure.error_class == "WaitedTooLong"
    assert failure.reason.startswith("Waited ")
    assert "for another worker to finish with the document" in failure.reason
    assert "KOPPEL_WAIT_FOR_BUSY_DOCUMENT_MAX_S allows (1.0 s)" in failure.reason
    assert held in failure.reason
    # (its waits used up no retry, and nothing was posted)
    assert failure.attempts == 1
    assert dead_letters(queues.INVOICES) == 1
    assert summary(sandbox)["ledger_items"] == 0
