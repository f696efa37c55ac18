"""Record every dead-lettered message in PostgreSQL, with a reason a bookkeeper can act on.

Dramatiq moves a failed message to ``<queue>.XQ`` (which expires after 7 days); the
``failures`` row is what ``koppel dlq`` lists and requeues, and what history shows. Its
"after" hook runs after Retries' (``contracts.broker.make_broker`` places it so), so
``message.failed`` is already decided: a permanent error (``throws``) or retries exhausted.

A failure is never left unrecorded for what it holds: the store cleans reasons and messages,
and a record PostgreSQL still refuses (a value out of range, a row too large) is stored
again shortened (the reason cut, the message kept to what a requeue needs). Unrecorded, the
reason would be lost and the message counted as waiting for ever (``sync --once`` hung).
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from consumers.errors import describe
from consumers.middleware.payload import sync_message, sync_queue
from consumers.runtime import runtime
from store import failures, outcomes
from store.db import Pool
from store.outcomes import Failure

logger = logging.getLogger(__name__)


class RecordFailures(Middleware):
    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None or not message.failed:
            return
        self._record(message, exception)

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        # AgeLimit skipped it: that is a failure too, and must not vanish silently.
        self._record(message, TimeoutError("the message was older than its age limit"))

    def _record(self, message: dramatiq.MessageProxy, exception: BaseException) -> None:
        queue = sync_queue(message)
        error_class, reason = describe(exception)
        attempts = int(message.options.get("retries", 0)) or 1
        try:
            pool = runtime().pool
            envelope = message.asdict()
            try:
                _store(pool, message, Failure(error_class, reason, envelope, attempts))
            except failures.UNSTORABLE:
                logger.warning(
                    "the failure of message %s could not be stored whole; storing it shortened",
                    message.message_id,
                    exc_info=True,
                )
                short = failures.short_reason(reason)
                essential = failures.essential_message(envelope)
                _store(pool, message, Failure(error_class, short, essential, attempts))
        except Exception:
            # The message still goes to the XQ; losing only the row is the lesser harm,
            # and the log line says which message to look at.
            logger.exception("could not record the failure of message %s", message.message_id)
        logger.warning(
            "dead-lettered %s on %s: %s: %s", message.message_id, queue, error_class, reason
        )


def _store(pool: Pool, message: dramatiq.MessageProxy, failure: Failure) -> None:
    """The failure's row, and with a readable message its outcome and history event."""
    parsed = sync_message(message)
    if parsed is not None:
        outcomes.record(
            pool,
            parsed,
            "failed",
            failure.reason,
            {"error": failure.error_class, "attempts": failure.attempts},
            failure,
        )
        return
    # Not even its connection is known: only the failure can be recorded.
    failures.record(
        pool,
        connection_id=None,
        queue=sync_queue(message),
        document_type=None,
        document_id=None,
        dedupe_key=f"message:{message.message_id}",
        message=failure.message,
        error_class=failure.error_class,
        reason=failure.reason,
        attempts=failure.attempts,
    )
