"""The ledger of published messages and their outcomes.

The poller records a message (by its dedupe key) when RabbitMQ confirms it; the consumer
records the outcome. A key with an outcome is a version already handled: a duplicate
delivery or an overlapping poll skips it. Keys without an outcome are work in progress, so
"settled" means none are left (the demo and ``koppel sync --once`` wait for that).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from psycopg_pool import ConnectionPool

#: Outcomes a consumer records. Only ``failed`` may be retried later (after a requeue).
OUTCOMES = ("posted", "updated", "unchanged", "skipped", "attention", "failed")


def handled(pool: ConnectionPool, keys: Iterable[str]) -> set[str]:
    """Which of these keys already have an outcome other than failed."""
    keys = list(keys)
    if not keys:
        return set()
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT dedupe_key FROM messages WHERE dedupe_key = ANY(%s)"
            " AND outcome IS NOT NULL AND outcome <> 'failed'",
            [keys],
        ).fetchall()
    return {row["dedupe_key"] for row in rows}


def record_published(
    pool: ConnectionPool,
    connection_id: uuid.UUID,
    rows: Iterable[tuple[str, str, str, str, str]],
) -> None:
    """(dedupe_key, queue, document_type, document_id, version) per confirmed message.

    A key that failed before is opened again: it was published anew."""
    rows = list(rows)
    if not rows:
        return
    with pool.connection() as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO messages (dedupe_key, connection_id, queue, document_type,"
            " document_id, version) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (dedupe_key) DO UPDATE SET published_at = now(),"
            " outcome = CASE WHEN messages.outcome = 'failed' THEN NULL ELSE messages.outcome END",
            [(key, connection_id, queue, kind, doc, ver) for key, queue, kind, doc, ver in rows],
        )


def outcome_of(pool: ConnectionPool, dedupe_key: str) -> str | None:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT outcome FROM messages WHERE dedupe_key = %s", [dedupe_key]
        ).fetchone()
    return row["outcome"] if row else None


def finish(
    pool: ConnectionPool,
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
    e.g. sent by a test or requeued from a dead-letter queue)."""
    assert outcome in OUTCOMES, outcome
    with pool.connection() as conn:
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
                detail,
            ],
        )


def waiting(pool: ConnectionPool, connection_id: uuid.UUID | None = None) -> int:
    """Messages published but not finished yet."""
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM messages WHERE outcome IS NULL"
            " AND (%s::uuid IS NULL OR connection_id = %s::uuid)",
            [connection_id, connection_id],
        ).fetchone()
    return int(row["n"]) if row else 0


def outcome_counts(
    pool: ConnectionPool, connection_id: uuid.UUID
) -> dict[tuple[str, str], int]:
    """(document_type, outcome or 'waiting') → number of messages."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT document_type, coalesce(outcome, 'waiting') AS outcome, count(*) AS n"
            " FROM messages WHERE connection_id = %s GROUP BY 1, 2",
            [connection_id],
        ).fetchall()
    return {(row["document_type"], row["outcome"]): int(row["n"]) for row in rows}


def document_outcomes(pool: ConnectionPool, connection_id: uuid.UUID) -> dict[str, dict[str, int]]:
    """Per document type: ``seen`` (distinct documents) and the number of messages per
    outcome (a document seen in two versions counts once in seen, twice in outcomes)."""
    with pool.connection() as conn:
        seen = conn.execute(
            "SELECT document_type, count(DISTINCT document_id) AS n FROM messages"
            " WHERE connection_id = %s GROUP BY 1",
            [connection_id],
        ).fetchall()
    result = {str(row["document_type"]): {"seen": int(row["n"])} for row in seen}
    for (kind, outcome), n in outcome_counts(pool, connection_id).items():
        result.setdefault(kind, {})[outcome] = n
    return result
