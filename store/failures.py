"""Failures a person must look at: dead-lettered messages and documents needing attention.

Reasons and messages carry remote text (a customer's name in a reason): :func:`record`
cleans them (``translation/clean_text.py``), since one NUL byte makes PostgreSQL refuse the
row, and a failure that cannot be recorded is a reason lost and a message left "waiting".
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from store.db import Db, Pool, session
from translation.clean_text import clean, clean_json


@dataclass(frozen=True)
class Failure:
    id: int
    connection_id: uuid.UUID | None
    queue: str
    document_type: str | None
    document_id: str | None
    dedupe_key: str | None
    message: dict[str, Any]
    error_class: str
    reason: str
    attempts: int
    status: str
    first_seen: datetime
    last_seen: datetime

    @property
    def named_connection(self) -> str | None:
        """The connection id its message names (its first argument's ``connection_id``),
        whether or not that connection is in the database."""
        args = self.message.get("args")
        body = args[0] if isinstance(args, list) and args else None
        named = body.get("connection_id") if isinstance(body, dict) else None
        return str(named) if named else None

    @property
    def orphan(self) -> bool:
        """Its connection is not in this database (removed, or the database recreated while
        the message waited in RabbitMQ): nothing can process it, it can only be purged."""
        return self.error_class == ORPHANED


#: The error class of a dead letter adopted from a ``.XQ`` whose connection is gone.
ORPHANED = "ConnectionGone"

#: What PostgreSQL (or the JSON encoder before it) raises for a record it cannot store as
#: it is, cleaned or not: a value out of range, a row too large for an index, NaN in JSON.
UNSTORABLE: tuple[type[Exception], ...] = (
    psycopg.DataError,
    psycopg.errors.ProgramLimitExceeded,
    ValueError,
    TypeError,
)
#: The most characters of a reason kept when the whole record could not be stored.
SHORT_REASON_MAX = 1000
#: What a requeue needs of a message (``ops/dlq/queue.py`` ``fresh_message``) and what
#: ``koppel dlq`` finds it by: all a shortened record keeps.
ESSENTIAL_KEYS = ("message_id", "queue_name", "actor_name", "args", "kwargs")


def short_reason(reason: str) -> str:
    """The reason cut to :data:`SHORT_REASON_MAX` characters, marked when cut."""
    text = clean(reason, lines=True)
    return text if len(text) <= SHORT_REASON_MAX else text[: SHORT_REASON_MAX - 1] + "…"


def essential_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """``message`` (Dramatiq's ``asdict()``) kept to :data:`ESSENTIAL_KEYS`, each only if
    it is plain JSON (cleaned): enough to requeue it and to find its row."""
    kept: dict[str, Any] = {}
    for key in ESSENTIAL_KEYS:
        value = clean_json(message.get(key))
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            continue
        kept[key] = value
    return kept


_COLUMNS = (
    "id, connection_id, queue, document_type, document_id, dedupe_key, message, error_class,"
    " reason, attempts, status, first_seen, last_seen"
)


def record(
    db: Db,
    *,
    connection_id: uuid.UUID | None,
    queue: str,
    document_type: str | None,
    document_id: str | None,
    dedupe_key: str | None,
    message: Mapping[str, Any],
    error_class: str,
    reason: str,
    attempts: int,
    status: str = "open",
) -> int:
    """Open a failure, or refresh the open one of the same message (it failed again).

    The reason, the error class and the message are cleaned of control characters and bidi
    overrides first."""
    with session(db) as conn:
        row = conn.execute(
            "INSERT INTO failures (connection_id, queue, document_type, document_id, dedupe_key,"
            " message, error_class, reason, attempts, status)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (queue, dedupe_key) WHERE status IN ('open', 'attention')"
            " DO UPDATE SET error_class = EXCLUDED.error_class, reason = EXCLUDED.reason,"
            " attempts = failures.attempts + EXCLUDED.attempts, message = EXCLUDED.message,"
            " status = EXCLUDED.status, last_seen = now() RETURNING id",
            [
                connection_id,
                queue,
                document_type,
                document_id,
                dedupe_key,
                Jsonb(clean_json(dict(message))),
                clean(error_class),
                clean(reason, lines=True),
                attempts,
                status,
            ],
        ).fetchone()
    assert row is not None
    return int(row["id"])


def listing(
    pool: Pool,
    *,
    connection_id: uuid.UUID | None = None,
    statuses: tuple[str, ...] = ("open", "attention"),
    reason: str | None = None,
) -> list[Failure]:
    with pool.connection() as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM failures WHERE status = ANY(%s)"
            " AND (%s::uuid IS NULL OR connection_id = %s::uuid)"
            " AND (%s::text IS NULL OR reason ILIKE %s ESCAPE '\\')"
            " ORDER BY last_seen DESC, id DESC",
            [list(statuses), connection_id, connection_id, reason, _containing(reason)],
        ).fetchall()
    return [Failure(**row) for row in rows]


def _containing(text: str | None) -> str | None:
    """An ILIKE pattern matching ``text`` literally anywhere: its wildcards (``%``, ``_``) and
    the escape character (a backslash) escaped, so ``--reason %`` finds
    reasons holding a percent sign, not every row."""
    if text is None:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# -- koppel dlq ------------------------------------------------------------------------------
#: Every status a row can have (migration 0004 added ``purged``).
STATUSES = ("open", "attention", "requeued", "resolved", "purged")


def get(pool: Pool, failure_id: int) -> Failure | None:
    with pool.connection() as conn:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM failures WHERE id = %s", [failure_id]
        ).fetchone()
    return Failure(**row) if row else None


def for_document(
    pool: Pool, connection_id: uuid.UUID, document_type: str, document_id: str
) -> list[Failure]:
    """Every row of one document, oldest first (a requeued one and the one it came back as)."""
    with pool.connection() as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM failures WHERE connection_id = %s AND document_type = %s"
            " AND document_id = %s ORDER BY first_seen, id",
            [connection_id, document_type, document_id],
        ).fetchall()
    return [Failure(**row) for row in rows]


@dataclass(frozen=True)
class RowOfMessage:
    """The row a dead-lettered message (by Dramatiq message id) was recorded in."""

    id: int
    status: str
    last_seen: datetime


def by_message_ids(pool: Pool, message_ids: list[str]) -> dict[str, RowOfMessage]:
    """Message id → its newest row, for the messages that have one."""
    if not message_ids:
        return {}
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT DISTINCT ON (message ->> 'message_id') message ->> 'message_id' AS message_id,"
            " id, status, last_seen FROM failures WHERE message ->> 'message_id' = ANY(%s)"
            " ORDER BY message ->> 'message_id', id DESC",
            [message_ids],
        ).fetchall()
    return {
        row["message_id"]: RowOfMessage(row["id"], row["status"], row["last_seen"]) for row in rows
    }


def mark_requeued(pool: Pool, failure: Failure) -> bool:
    """Before its message is published again: the row leaves the list, the message counts
    as waiting again (outcome NULL) and the document's history says so — in one transaction.
    False when the row was no longer open (another requeue or purge took it)."""
    with pool.connection() as conn, conn.transaction():
        if not _take_open(conn, failure, "requeued"):
            return False
        if failure.dedupe_key is not None:
            # published_at = now(): the poller's safety net republishes a message left
            # waiting too long — counted from this requeue, not from the first publish.
            conn.execute(
                "UPDATE messages SET outcome = NULL, detail = NULL, finished_at = NULL,"
                " published_at = now() WHERE dedupe_key = %s AND outcome = 'failed'",
                [failure.dedupe_key],
            )
        _history(conn, failure, "requeued")
    return True


def undo_requeued(pool: Pool, failure: Failure) -> None:
    """The publish did not happen (RabbitMQ refused or was gone): the row is open again."""
    with pool.connection() as conn, conn.transaction():
        conn.execute(
            "UPDATE failures SET status = 'open' WHERE id = %s AND status = 'requeued'",
            [failure.id],
        )
        if failure.dedupe_key is not None:
            conn.execute(
                "UPDATE messages SET outcome = 'failed', detail = %s, finished_at = now()"
                " WHERE dedupe_key = %s AND outcome IS NULL",
                [failure.reason[:1000], failure.dedupe_key],
            )
        _history(conn, failure, "requeue failed")


def mark_purged(pool: Pool, failure: Failure) -> bool:
    """Given up on for good: kept, marked purged, with a history event. False when the row
    was no longer open."""
    with pool.connection() as conn, conn.transaction():
        if not _take_open(conn, failure, "purged"):
            return False
        _history(conn, failure, "purged")
    return True


def _take_open(conn: Any, failure: Failure, status: str) -> bool:
    """Move the row from open to ``status``; False when it was no longer open."""
    taken = conn.execute(
        "UPDATE failures SET status = %s, last_seen = now()"
        " WHERE id = %s AND status = 'open' RETURNING id",
        [status, failure.id],
    ).fetchone()
    return taken is not None


def _history(conn: Any, failure: Failure, event: str) -> None:
    if failure.connection_id is None or failure.document_type is None:
        return  # a malformed message: no document to tell the story of
    conn.execute(
        "INSERT INTO history (connection_id, document_type, document_id, event, detail)"
        " VALUES (%s, %s, %s, %s, %s)",
        [
            failure.connection_id,
            failure.document_type,
            failure.document_id,
            event,
            Jsonb({"failure": failure.id, "reason": failure.reason}),
        ],
    )
