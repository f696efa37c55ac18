"""The per-document timeline (``koppel history``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from store.db import Db, Pool, session


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
    pool: Pool,
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


def database_now(pool: Pool) -> datetime:
    """PostgreSQL's clock, the one every other history event is stamped with.

    A producer records "queued" only after RabbitMQ confirmed the message, by which time a
    consumer may already have recorded "posted"; stamping "queued" with the moment taken
    before publishing keeps the timeline in the order things happened."""
    with pool.connection() as conn:
        row = conn.execute("SELECT clock_timestamp() AS now").fetchone()
    assert row is not None
    now: datetime = row["now"]
    return now


def timeline(
    pool: Pool, connection_id: uuid.UUID, document_type: str, document_id: str
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


def with_id(
    pool: Pool,
    document_id: str,
    connection_ids: Sequence[uuid.UUID],
    document_types: Sequence[str],
) -> list[Found]:
    """Documents of these connections and types with this Teamleader id (or Visma ledger item
    id, for payments) in the history, the links or the failures.

    Exact matches (of the id as given and in lower case, as both APIs write their ids), so
    each table answers from its (connection, type, id) index instead of a scan."""
    ids = list(dict.fromkeys((document_id, document_id.lower())))
    # A customer's document id is "contact:<id>" or "company:<id>".
    any_form = [*ids, *(f"{kind}:{i}" for kind in ("contact", "company") for i in ids)]
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT connection_id, document_type, document_id FROM history"
            " WHERE connection_id = ANY(%(connections)s) AND document_type = ANY(%(types)s)"
            " AND document_id = ANY(%(forms)s)"
            " UNION SELECT connection_id, teamleader_type, teamleader_id FROM links"
            " WHERE connection_id = ANY(%(connections)s) AND teamleader_type = ANY(%(types)s)"
            " AND teamleader_id = ANY(%(ids)s) AND visma_type = 'ledger_item'"
            " UNION SELECT connection_id, document_type, document_id FROM failures"
            " WHERE connection_id = ANY(%(connections)s) AND document_type = ANY(%(types)s)"
            " AND document_id = ANY(%(forms)s)",
            {
                "connections": list(connection_ids),
                "types": list(document_types),
                "ids": ids,
                "forms": any_form,
            },
        ).fetchall()
    return [Found(**row) for row in rows]


#: The document types that carry a Teamleader number.
NUMBERED = ("invoice", "credit_note")


def with_number(
    pool: Pool,
    year: int | None,
    sequence: int,
    connection_ids: Sequence[uuid.UUID],
    document_types: Sequence[str] = NUMBERED,
) -> list[Found]:
    """Documents of these connections whose stored events name Teamleader number
    ``year / sequence`` (any year when None): the consumers record ``teamleader_number`` when
    they post a document. Only the connections' invoice and credit note events are read."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT DISTINCT connection_id, document_type, document_id,"
            " detail ->> 'teamleader_number' AS number FROM history"
            " WHERE connection_id = ANY(%s) AND document_type = ANY(%s)"
            " AND detail ->> 'teamleader_number' ~ %s",
            [
                list(connection_ids),
                [kind for kind in document_types if kind in NUMBERED],
                rf"^{year if year is not None else '[0-9]+'} ?/ ?0*{sequence}$",
            ],
        ).fetchall()
    return [Found(**row) for row in rows]


def with_visma_number(
    pool: Pool, visma_number: str, connection_ids: Sequence[uuid.UUID]
) -> list[Found]:
    """Documents of these connections Koppel posted under this Visma invoice number (e.g.
    202600017)."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT connection_id, teamleader_type AS document_type,"
            " teamleader_id AS document_id FROM links"
            " WHERE connection_id = ANY(%s) AND visma_number = %s",
            [list(connection_ids), visma_number],
        ).fetchall()
    return [Found(**row) for row in rows]
