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
    *,
    at: datetime | None = None,
) -> None:
    """(document_type, document_id, event, detail) rows in one batch, stamped ``at`` (a
    moment from :func:`database_now`) or else now."""
    if not events:
        return
    with pool.connection() as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO history (connection_id, document_type, document_id, event, detail, at)"
            " VALUES (%s, %s, %s, %s, %s, coalesce(%s, now()))",
            [
                (connection_id, kind, doc, name, Jsonb(dict(info)), at)
                for kind, doc, name, info in events
            ],
        )


def database_now(pool: ConnectionPool) -> datetime:
    """PostgreSQL's clock, the one every other history event is stamped with.

    A producer records "queued" only after RabbitMQ confirmed the message, by which time a
    consumer may already have recorded "posted"; stamping "queued" with the moment taken
    before publishing keeps the timeline in the order things happened."""
    with pool.connection() as conn:
        row = conn.execute("SELECT clock_timestamp() AS now").fetchone()
    assert row is not None
    return row["now"]


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


# -- finding a document (``koppel history ID-OR-NUMBER``) ------------------------------------
@dataclass(frozen=True)
class Found:
    """A document Koppel has stored something about."""

    connection_id: uuid.UUID
    document_type: str
    document_id: str
    #: Its Teamleader number ("2026 / 17") when a stored event names it.
    number: str | None = None


def with_id(pool: ConnectionPool, document_id: str) -> list[Found]:
    """Documents with this Teamleader id (or Visma ledger item id, for payments) in the
    history, the links or the failures."""
    with pool.connection() as conn:
        rows = conn.execute(
            # A customer's document id is "contact:<id>" or "company:<id>".
            "SELECT connection_id, document_type, document_id FROM history"
            " WHERE lower(document_id) IN (lower(%(id)s), 'contact:' || lower(%(id)s),"
            " 'company:' || lower(%(id)s))"
            " UNION SELECT connection_id, teamleader_type, teamleader_id FROM links"
            " WHERE lower(teamleader_id) = lower(%(id)s) AND visma_type = 'ledger_item'"
            " UNION SELECT connection_id, document_type, document_id FROM failures"
            " WHERE lower(document_id) IN (lower(%(id)s), 'contact:' || lower(%(id)s),"
            " 'company:' || lower(%(id)s)) AND connection_id IS NOT NULL"
            " AND document_type IS NOT NULL",
            {"id": document_id},
        ).fetchall()
    return [Found(**row) for row in rows]


def with_number(pool: ConnectionPool, year: int | None, sequence: int) -> list[Found]:
    """Documents whose stored events name Teamleader number ``year / sequence`` (any year
    when None): the consumers record ``teamleader_number`` when they post a document."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT DISTINCT connection_id, document_type, document_id,"
            " detail ->> 'teamleader_number' AS number FROM history"
            " WHERE detail ->> 'teamleader_number' ~ %s",
            [rf"^{year if year is not None else '[0-9]+'} ?/ ?0*{sequence}$"],
        ).fetchall()
    return [Found(**row) for row in rows]


def with_visma_number(pool: ConnectionPool, visma_number: str) -> list[Found]:
    """Documents Koppel posted under this Visma invoice number (e.g. 202600017)."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT connection_id, teamleader_type AS document_type,"
            " teamleader_id AS document_id FROM links WHERE visma_number = %s",
            [visma_number],
        ).fetchall()
    return [Found(**row) for row in rows]

