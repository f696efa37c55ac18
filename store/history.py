"""The per-document timeline (``koppel history``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from store.db import Db, session


@dataclass(frozen=True)
class Event:
    document_type: str
    document_id: str
    event: str
    detail: dict[str, Any]
    at: datetime


def record(
    db: Db,
    connection_id: uuid.UUID,
    document_type: str,
    document_id: str,
    event: str,
    detail: Mapping[str, Any] | None = None,
) -> None:
    with session(db) as conn:
        conn.execute(
            "INSERT INTO history (connection_id, document_type, document_id, event, detail)"
            " VALUES (%s, %s, %s, %s, %s)",
            [connection_id, document_type, document_id, event, Jsonb(dict(detail or {}))],
        )


def record_many(
    pool: ConnectionPool,
    connection_id: uuid.UUID,
    events: Sequence[tuple[str, str, str, Mapping[str, Any]]],
) -> None:
    """(document_type, document_id, event, detail) rows in one batch."""
    if not events:
        return
    with pool.connection() as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO history (connection_id, document_type, document_id, event, detail)"
            " VALUES (%s, %s, %s, %s, %s)",
            [
                (connection_id, kind, doc, name, Jsonb(dict(info)))
                for kind, doc, name, info in events
            ],
        )


def timeline(
    pool: ConnectionPool, connection_id: uuid.UUID, document_type: str, document_id: str
) -> list[Event]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT document_type, document_id, event, detail, at FROM history"
            " WHERE connection_id = %s AND document_type = %s AND document_id = %s"
            " ORDER BY at, id",
            [connection_id, document_type, document_id],
        ).fetchall()
    return [Event(**row) for row in rows]
