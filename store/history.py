"""The per-document timeline (``koppel history``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool


@dataclass(frozen=True)
class Event:
    document_type: str
    document_id: str
    event: str
    detail: dict[str, Any]
    at: datetime


def record(
    pool: ConnectionPool,
    connection_id: uuid.UUID,
    document_type: str,
    document_id: str,
    event: str,
    detail: Mapping[str, Any] | None = None,
) -> None:
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO history (connection_id, document_type, document_id, event, detail)"
            " VALUES (%s, %s, %s, %s, %s)",
            [connection_id, document_type, document_id, event, Jsonb(dict(detail or {}))],
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
