"""The ledger of published messages and their outcomes.

The poller records a message (by its dedupe key) when RabbitMQ confirms it; the consumer
records the outcome. A key with an outcome is a version already handled: a duplicate
delivery or an overlapping poll skips it. Keys without an outcome are work in progress, so
"settled" means none are left (the demo and ``koppel sync --once`` wait for that).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from contracts.outcome_names import OutcomeName
from store import connections
from store.db import Db, Pool, session
from translation.clean_text import clean

#: A filter on messages published or finished since a moment (NULL: no filter).
_SINCE = "(%s::timestamptz IS NULL OR coalesce(finished_at, published_at) >= %s::timestamptz)"

#: Outcomes a consumer records. Only ``failed`` may be retried later (after a requeue).
OUTCOMES = frozenset(OutcomeName)


def already_recorded(pool: Pool, keys: Iterable[str], republish_after_s: float) -> set[str]:
    """Keys a producer need not publish again: recorded before, except those that have
    waited for an outcome longer than ``republish_after_s`` (a safety net, should a queue
    ever lose one)."""
    keys = list(keys)
    if not keys:
        return set()
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT dedupe_key FROM messages WHERE dedupe_key = ANY(%s)"
            " AND (outcome IS NOT NULL OR published_at > now() - make_interval(secs => %s))",
            [keys, republish_after_s],
        ).fetchall()
    return {row["dedupe_key"] for row in rows}


def record_published(
    pool: Pool,
    connection_id: uuid.UUID,
    rows: Iterable[tuple[str, str, str, str, str]],
) -> None:
    """(dedupe_key, queue, document_type, document_id, version) per confirmed message.

    An outcome already recorded stays: a consumer can finish a message before its producer
    gets to record it, and overwriting that outcome would leave it "waiting" for ever.
    (Requeueing a dead letter resets the outcome itself.)"""
    rows = list(rows)
    if not rows:
        return
    with pool.connection() as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO messages (dedupe_key, connection_id, queue, document_type,"
            " document_id, version) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (dedupe_key) DO UPDATE SET published_at = now()"
            " WHERE messages.outcome IS NULL",
            [(key, connection_id, queue, kind, doc, ver) for key, queue, kind, doc, ver in rows],
        )


def outcome_of(pool: Pool, dedupe_key: str) -> str | None:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT outcome FROM messages WHERE dedupe_key = %s", [dedupe_key]
        ).fetchone()
    return row["outcome"] if row else None


#: Every field of a Connection, read with the message's outcome below.
_CONNECTION_COLUMNS = ", ".join(
    f"connections.{column.name}" for column in dataclasses.fields(connections.Connection)
)


def outcome_and_connection(
    pool: Pool, dedupe_key: str, connection_id: uuid.UUID
) -> tuple[str | None, connections.Connection | None]:
    """The message's outcome so far and its connection (None when there is no such
    connection), in one round trip: a consumer needs both for every message (bench/cost.py)."""
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT (SELECT outcome FROM messages WHERE dedupe_key = %s) AS message_outcome,"
            f" {_CONNECTION_COLUMNS} FROM (SELECT 1) AS one(x)"
            " LEFT JOIN connections ON connections.id = %s::uuid",
            [dedupe_key, str(connection_id)],
        ).fetchone()
    assert row is not None  # one row always: the LEFT JOIN keeps it
    outcome = row.pop("message_outcome")
    return outcome, connections.Connection(**row) if row["id"] is not None else None


def outcomes_of(pool: Pool, keys: Sequence[str]) -> dict[str, str | None]:
    """Dedupe key → its outcome (None while it waits), for the keys that are recorded."""
    if not keys:
        return {}
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT dedupe_key, outcome FROM messages WHERE dedupe_key = ANY(%s)", [list(keys)]
        ).fetchall()
    return {row["dedupe_key"]: row["outcome"] for row in rows}


def finish(
    db: Db,
    connection_id: uuid.UUID,
    dedupe_key: str,
    *,
    queue: str,
    document_type: str,
    document_id: str,
    version: str,
    outcome: str,
    detail: str | None = None,
) -> None:
    """Record how a message ended (also for one that was never recorded as published,
    e.g. sent by a test or requeued from a dead-letter queue). ``detail`` is cleaned of
    control characters (a NUL would make PostgreSQL refuse the row)."""
    assert outcome in OUTCOMES, outcome
    with session(db) as conn:
        conn.execute(
            "INSERT INTO messages (dedupe_key, connection_id, queue, document_type, document_id,"
            " version, outcome, detail, finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now())"
            " ON CONFLICT (dedupe_key) DO UPDATE SET outcome = EXCLUDED.outcome,"
            " detail = EXCLUDED.detail, finished_at = now()",
            [
                dedupe_key,
                connection_id,
                queue,
                document_type,
                document_id,
                version,
                outcome,
                None if detail is None else clean(detail, lines=True),
            ],
        )


def queued(
    pool: Pool,
    connection_id: uuid.UUID,
    document_type: str,
    document_id: str,
    within_s: float = 3600.0,
) -> bool:
    """Whether a message about this document was published in the last ``within_s`` seconds
    and has no outcome yet (an older one may have been lost: callers stop counting on it)."""
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE connection_id = %s AND outcome IS NULL"
            " AND document_type = %s AND document_id = %s"
            " AND published_at > now() - make_interval(secs => %s)) AS queued",
            [connection_id, document_type, document_id, within_s],
        ).fetchone()
    return bool(row and row["queued"])


def waiting(
    pool: Pool,
    connection_ids: Sequence[uuid.UUID] | None = None,
    since: datetime | None = None,
) -> int:
    """Messages published (since ``since``) but not finished yet, of these connections
    (all when None)."""
    ids = list(connection_ids) if connection_ids is not None else None
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM messages WHERE outcome IS NULL"
            " AND (%s::uuid[] IS NULL OR connection_id = ANY(%s::uuid[]))"
            " AND (%s::timestamptz IS NULL OR published_at >= %s::timestamptz)",
            [ids, ids, since, since],
        ).fetchone()
    return int(row["n"]) if row else 0


def outcome_counts(
    pool: Pool, connection_id: uuid.UUID, since: datetime | None = None
) -> dict[tuple[str, str], int]:
    """(document_type, outcome or 'waiting') → number of messages (touched since ``since``)."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT document_type, coalesce(outcome, 'waiting') AS outcome, count(*) AS n"
            " FROM messages WHERE connection_id = %s"
            f" AND {_SINCE} GROUP BY 1, 2",
            [connection_id, since, since],
        ).fetchall()
    return {(row["document_type"], row["outcome"]): int(row["n"]) for row in rows}


def document_outcomes(
    pool: Pool, connection_id: uuid.UUID, since: datetime | None = None
) -> dict[str, dict[str, int]]:
    """Per document type: ``seen`` (distinct documents) and the number of messages per
    outcome (a document seen in two versions counts once in seen, twice in outcomes);
    only messages published or finished since ``since`` when given."""
    with pool.connection() as conn:
        seen = conn.execute(
            "SELECT document_type, count(DISTINCT document_id) AS n FROM messages"
            f" WHERE connection_id = %s AND {_SINCE} GROUP BY 1",
            [connection_id, since, since],
        ).fetchall()
    result = {str(row["document_type"]): {"seen": int(row["n"])} for row in seen}
    for (kind, outcome), n in outcome_counts(pool, connection_id, since).items():
        result.setdefault(kind, {})[outcome] = n
    return result
