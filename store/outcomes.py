"""How a message ended, recorded in one transaction: its outcome, the document's history
and, when a person must act, the failure — or the resolution of an older version's failure.

Consumers record success and attention here; the failure middleware records dead letters.
Both store the message in Dramatiq's own shape (``Message.asdict()``), which is what a
requeue publishes again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg_pool import ConnectionPool

from contracts.messages import SyncMessage
from store import failures, history, messages


@dataclass(frozen=True)
class Failure:
    """What a person must know: a dead letter (``open``) or a document to look at
    (``attention``)."""

    error_class: str
    reason: str
    #: The message as Dramatiq's ``Message.asdict()`` gives it.
    message: Mapping[str, Any]
    attempts: int = 1
    status: str = "open"


def record(
    pool: ConnectionPool,
    message: SyncMessage,
    outcome: str,
    detail: str,
    facts: Mapping[str, Any],
    failure: Failure | None = None,
) -> None:
    with pool.connection() as conn, conn.transaction():
        messages.finish(
            conn,
            message.connection_id,
            message.dedupe_key,
            queue=message.queue,
            document_type=message.document_type,
            document_id=message.document_id,
            version=message.version,
            outcome=outcome,
            detail=detail[:1000] or None,
        )
        history.record(
            conn,
            message.connection_id,
            message.document_type,
            message.document_id,
            outcome,
            {"detail": detail, **facts},
        )
        if failure is None:
            failures.resolve_for_document(
                conn, message.connection_id, message.document_type, message.document_id
            )
            return
        failures.record(
            conn,
            connection_id=message.connection_id,
            queue=message.queue,
            document_type=message.document_type,
            document_id=message.document_id,
            dedupe_key=message.dedupe_key,
            message=failure.message,
            error_class=failure.error_class,
            reason=failure.reason,
            attempts=failure.attempts,
            status=failure.status,
        )
