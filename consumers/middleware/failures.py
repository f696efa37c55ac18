"""Record every dead-lettered message in PostgreSQL, with a reason a bookkeeper can act on.

Dramatiq moves a failed message to ``<queue>.XQ`` (which expires after 7 days); the
``failures`` row is what ``koppel dlq`` lists and requeues, and what history shows. Its
"after" hook runs after Retries' (``contracts.broker.make_broker`` places it so), so
``message.failed`` is already decided: a permanent error (``throws``) or retries exhausted.
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
            parsed = sync_message(message)
            failure = Failure(error_class, reason, message.asdict(), attempts)
            if parsed is not None:
                outcomes.record(
                    pool,
                    parsed,
                    "failed",
                    reason,
                    {"error": error_class, "attempts": attempts},
                    failure,
                )
            else:
                # Not even its connection is known: only the failure can be recorded.
                failures.record(
                    pool,
                    connection_id=None,
                    queue=queue,
                    document_type=None,
                    document_id=None,
                    dedupe_key=f"message:{message.message_id}",
                    message=failure.message,
                    error_class=error_class,
                    reason=reason,
                    attempts=attempts,
                )
        except Exception:
            # The message still goes to the XQ; losing only the row is the lesser harm,
            # and the log line says which message to look at.
            logger.exception("could not record the failure of message %s", message.message_id)
        logger.warning(
            "dead-lettered %s on %s: %s: %s", message.message_id, queue, error_class, reason
        )
