"""Failures a person must look at: dead-lettered messages and documents needing attention."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from store.db import Db, session


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
    """Open a failure, or refresh the open one of the same message (it failed again)."""
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
                Jsonb(dict(message)),
                error_class,
                reason,
                attempts,
                status,
            ],
        ).fetchone()
    assert row is not None
    return int(row["id"])


def resolve_for_document(
    db: Db, connection_id: uuid.UUID, document_type: str, document_id: str
) -> None:
    """A document that succeeded has nothing open any more (an older version's failure)."""
    with session(db) as conn:
        conn.execute(
            "UPDATE failures SET status = 'resolved', last_seen = now() WHERE connection_id = %s"
            " AND document_type = %s AND document_id = %s AND status = 'open'",
            [connection_id, document_type, document_id],
        )


def listing(
    pool: ConnectionPool,
    *,
    connection_id: uuid.UUID | None = None,
    statuses: tuple[str, ...] = ("open", "attention"),
    reason: str | None = None,
) -> list[Failure]:
    with pool.connection() as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM failures WHERE status = ANY(%s)"
            " AND (%s::uuid IS NULL OR connection_id = %s::uuid)"
            " AND (%s::text IS NULL OR reason ILIKE '%%' || %s || '%%')"
            " ORDER BY last_seen DESC, id DESC",
            [list(statuses), connection_id, connection_id, reason, reason],
        ).fetchall()
    return [Failure(**row) for row in rows]
