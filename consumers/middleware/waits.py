"""Dramatiq's Retries, except that a :class:`~consumers.errors.Wait` is no failure.

Dramatiq's Retries counts every exception an actor raises, ``Retry`` included, in
``message.options["retries"]`` before ``retry_when`` sees it, so a credit note that had
waited 20 times for its invoice was dead-lettered on its first real error. Here a wait
never reaches that count: it is enqueued again with its delay and ``retries`` untouched,
and every other outcome is Dramatiq's.

A message may wait as long as its reason lasts, up to that reason's limit (the settings
``wait_for_<reason>_max_s``), counted from the first of its waits in a row: the message
carries what it waits for and since when (``waiting_for``, ``waiting_since_ms`` in its
options, so the count survives the hops between workers). Another reason, or a real error,
starts a new row. A message still waiting past the limit fails, dead-lettered (by
``RecordFailures``) as a :class:`~consumers.errors.WaitedTooLong` that names what it waited
for and how long.

No single delay is longer than ``retry_max_backoff_ms``: Dramatiq holds a delayed message
unacked in the worker, and RabbitMQ's consumer_timeout would close the channel of a worker
holding one too long (``config.settings.LONGEST_DELAY_MS``). A long wait is so a series of
hops, each of which tries the message again: an invoice may be posted meanwhile, and an API
still limiting answers 429 with a fresh Retry-After.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import dramatiq
from dramatiq.middleware import Retries

from config import Settings, get_settings
from consumers.errors import Wait, WaitedTooLong, WaitingFor
from contracts.broker import Lane

logger = logging.getLogger(__name__)

#: A wait that has gone on is tried less often: after a twentieth of the time waited so far
#: (a credit note waiting an hour for its invoice looks every 3 minutes, not every second),
#: so a week of waiting costs hundreds of tries, not hundreds of thousands.
RECHECK_FRACTION = 0.05

#: What each reason waits for, as a dead letter's reason says it.
WAITED_FOR = {
    WaitingFor.INVOICE: "the credited invoice to be posted",
    WaitingFor.BUSY_DOCUMENT: "another worker to finish with the document",
    WaitingFor.RATE_LIMIT: "the API's rate limit to lift",
    WaitingFor.LISTING: "an unclear posting to show up in Visma's lists",
    WaitingFor.SERVICE: "Visma, Teamleader or PostgreSQL to answer again",
    WaitingFor.BUDGET: "its turn in its connection's rate budget",
}

#: The options a waiting message carries (dropped again by any other outcome).
WAITING_FOR = "waiting_for"
WAITING_SINCE = "waiting_since_ms"
#: Dramatiq's option for the message's RabbitMQ priority, its lane (contracts/broker.py).
PRIORITY = "broker_priority"
#: The rate-budget turns a deferred message holds (consumers/middleware/turns.py).
TURNS = "budget_turns"


def limit_s(settings: Settings, waiting_for: WaitingFor) -> float:
    """How long a message may wait for ``waiting_for`` (s)."""
    limits = {
        WaitingFor.INVOICE: settings.wait_for_invoice_max_s,
        WaitingFor.BUSY_DOCUMENT: settings.wait_for_busy_document_max_s,
        WaitingFor.RATE_LIMIT: settings.wait_for_rate_limit_max_s,
        WaitingFor.LISTING: settings.wait_for_listing_max_s,
        WaitingFor.SERVICE: settings.wait_for_service_max_s,
        WaitingFor.BUDGET: settings.wait_for_budget_max_s,
    }
    return limits[waiting_for]


def delay_ms(asked_ms: int, waited_ms: int, longest_ms: int) -> int:
    """The delay before the next try: what the wait asked for, longer once it has gone on
    (:data:`RECHECK_FRACTION` of the time waited), never over ``longest_ms`` (one hop)."""
    return max(0, min(max(asked_ms, int(waited_ms * RECHECK_FRACTION)), longest_ms))


def duration(seconds: float) -> str:
    """``0.8 s``, ``42 s``, ``7 min``, ``3.5 h``, ``7.0 days``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


class Waits(Retries):
    """Retries whose waits use up no retry and end at their reason's limit (see the module).

    ``contracts.broker.make_broker`` puts it where Dramatiq's Retries would be
    (``retries=Waits``), so the middleware listed before it still sees its verdict."""

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None:
            return
        if not isinstance(exception, Wait):
            # A real error ends the row of waits; Dramatiq counts it and backs off.
            message.options.pop(WAITING_FOR, None)
            message.options.pop(WAITING_SINCE, None)
            message.options.pop(TURNS, None)
            super().after_process_message(broker, message, result=result, exception=exception)
            return
        self._wait(broker, message, exception)

    def _wait(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy, wait: Wait) -> None:
        settings = get_settings()
        now_ms = int(time.time() * 1000)
        options = message.options
        if options.get(WAITING_FOR) != wait.waiting_for.value:
            options[WAITING_FOR] = wait.waiting_for.value
            options[WAITING_SINCE] = now_ms
        waited_ms = max(0, now_ms - int(options[WAITING_SINCE]))
        limit = limit_s(settings, wait.waiting_for)
        if waited_ms > limit * 1000:
            wait.gave_up = WaitedTooLong(
                f"Waited {duration(waited_ms / 1000)} for {WAITED_FOR[wait.waiting_for]}, "
                f"longer than KOPPEL_WAIT_FOR_{wait.waiting_for.value.upper()}_MAX_S allows "
                f"({duration(limit)}); the last try said: {wait.reason}. Requeue it once "
                "that is resolved."
            )
            logger.warning(
                "message %s waited %s for %s: giving up",
                message.message_id,
                duration(waited_ms / 1000),
                wait.waiting_for.value,
            )
            message.fail()
            return
        if wait.waiting_for is WaitingFor.BUDGET:
            # A reserved turn is due at a known moment: back then, not a recheck later, and
            # ahead of fresh bulk work, or its slot would go by unused.
            delay = max(0, min(wait.delay or 0, settings.retry_max_backoff_ms))
            lane = max(int(options.get(PRIORITY) or 0), Lane.TURN)
            options[PRIORITY] = lane
        else:
            delay = delay_ms(wait.delay or 0, waited_ms, settings.retry_max_backoff_ms)
        options.pop(TURNS, None)
        options.update(wait.options)
        logger.debug(
            "message %s waits %d ms for %s: %s",
            message.message_id,
            delay,
            wait.waiting_for.value,
            wait.reason,
        )
        # Retries passes the proxy itself; its copy is the same message, typed as one.
        broker.enqueue(message.copy(), delay=delay)
