"""Reconciliation results (migration 0014) and the links a reconciliation compares.

A run is written once, when it is done; ``koppel status`` and the poller's daily schedule
read the latest per connection."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg.types.json import Jsonb

from store.db import Db, run


@dataclass(frozen=True)
class Run:
    connection_id: uuid.UUID
    trigger: str
    period_from: date
    period_to: date
    documents: int
    matching: int
    differences: int
    counts: dict[str, int]
    finished_at: datetime


@dataclass(frozen=True)
class LinkRow:
    teamleader_type: str
    teamleader_id: str
    visma_type: str
    visma_id: str
    visma_number: str | None
    created_at: datetime


def save(
    db: Db,
    connection_id: uuid.UUID,
    *,
    trigger: str,
    period_from: date,
    period_to: date,
    documents: int,
    matching: int,
    counts: dict[str, int],
    details: list[dict[str, Any]],
    teamleader_calls: int = 0,
    visma_calls: int = 0,
) -> None:
    run(
        db,
        "INSERT INTO reconcile_runs (connection_id, trigger, period_from, period_to, documents,"
        " matching, differences, counts, details, teamleader_calls, visma_calls)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            connection_id,
            trigger,
            period_from,
            period_to,
            documents,
            matching,
            sum(counts.values()),
            Jsonb(counts),
            Jsonb(details),
            teamleader_calls,
            visma_calls,
        ],
    )


def latest(
    db: Db, connection_ids: list[uuid.UUID], *, trigger: str | None = None
) -> dict[uuid.UUID, Run]:
    """Each connection's latest run, of ``trigger`` when given (connections never
    reconciled are absent)."""
    rows = run(
        db,
        "SELECT DISTINCT ON (connection_id) connection_id, trigger, period_from, period_to,"
        " documents, matching, differences, counts, finished_at FROM reconcile_runs"
        " WHERE connection_id = ANY(%s) AND (%s::text IS NULL OR trigger = %s)"
        " ORDER BY connection_id, finished_at DESC, id DESC",
        [connection_ids, trigger, trigger],
    )
    return {row["connection_id"]: Run(**row) for row in rows}


def document_links(db: Db, connection_id: uuid.UUID) -> list[LinkRow]:
    """Every link of the connection, with when it was made (a posting's moment)."""
    rows = run(
        db,
        "SELECT teamleader_type, teamleader_id, visma_type, visma_id, visma_number, created_at"
        " FROM links WHERE connection_id = %s",
        [connection_id],
    )
    return [LinkRow(**row) for row in rows]
