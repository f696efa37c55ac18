"""How a message ended, recorded in one transaction: its outcome, the document's history
and, when a person must act, the failure — or the resolution of an older version's failure.

Consumers record success and attention here; the failure middleware records dead letters.
Both store the message in Dramatiq's own shape (``Message.asdict()``), which is what a
requeue publishes again. Details and facts may carry remote text (a customer's name): they
are cleaned of control characters and bidi overrides (``translation/clean_text.py``) before
PostgreSQL sees them, as ``failures.record`` cleans reasons and messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from contracts.messages import SyncMessage
from store import document_history, failures, message_log
from store.db import Conn, Pool
from translation.clean_text import clean, clean_json


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
    pool: Pool,
    message: SyncMessage,
    outcome: str,
    detail: str,
    facts: Mapping[str, Any],
    failure: Failure | None = None,
) -> int | None:
    """Record ``outcome``; with a ``failure``, the id of the failures row it opened (or
    refreshed)."""
    if failure is None:
        _record_success(pool, message, outcome, detail, facts)
        return None
    with pool.connection() as conn, conn.transaction():
        finish(conn, message, outcome, detail, facts)
        return failures.record(
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


def finish(
    conn: Conn, message: SyncMessage, outcome: str, detail: str, facts: Mapping[str, Any]
) -> None:
    """The message's outcome and the document's history event, in the caller's transaction."""
    detail = clean(detail, lines=True)
    message_log.finish(
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
    document_history.record(
        conn,
        message.connection_id,
        message.document_type,
        message.document_id,
        outcome,
        clean_json({"detail": detail, **facts}),
    )


def _record_success(
    pool: Pool,
    message: SyncMessage,
    outcome: str,
    detail: str,
    facts: Mapping[str, Any],
) -> None:
    """The outcome, the history event and the resolution of an older version's failure as
    one statement: one round trip instead of five (BEGIN, three statements, COMMIT), on the
    path every message takes (bench/cost.py: 3 of 15 statements per invoice)."""
    detail = clean(detail, lines=True)
    with pool.connection() as conn:
        conn.execute(
            "WITH finished AS ("
            " INSERT INTO messages (dedupe_key, connection_id, queue, document_type, document_id,"
            " version, outcome, detail, finished_at)"
            " VALUES (%(key)s, %(connection)s, %(queue)s, %(type)s, %(id)s, %(version)s,"
            " %(outcome)s, %(detail)s, now())"
            " ON CONFLICT (dedupe_key) DO UPDATE SET outcome = EXCLUDED.outcome,"
            " detail = EXCLUDED.detail, finished_at = now() RETURNING 1"
            "), logged AS ("
            " INSERT INTO history (connection_id, document_type, document_id, event, detail)"
            " VALUES (%(connection)s, %(type)s, %(id)s, %(outcome)s, %(facts)s) RETURNING 1"
            ") UPDATE failures SET status = 'resolved', last_seen = now()"
            " WHERE connection_id = %(connection)s AND document_type = %(type)s"
            " AND document_id = %(id)s AND status = 'open'",
            {
                "key": message.dedupe_key,
                "connection": message.connection_id,
                "queue": message.queue,
                "type": message.document_type,
                "id": message.document_id,
                "version": message.version,
                "outcome": outcome,
                "detail": detail[:1000] or None,
                "facts": Jsonb(clean_json({"detail": detail, **facts})),
            },
        )
