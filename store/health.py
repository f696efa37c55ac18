"""What ``koppel status`` reads about one connection besides its cursors and tokens: since
when it exists, the messages still waiting for an outcome, and the failures a person owns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from store.db import Db, run


@dataclass(frozen=True)
class Backlog:
    """Published messages without an outcome yet, and when the oldest was published."""

    waiting: int
    oldest: datetime | None


def created_at(db: Db, connection_id: uuid.UUID) -> datetime:
    rows = run(db, "SELECT created_at FROM connections WHERE id = %s", [connection_id])
    created: datetime = rows[0]["created_at"]
    return created


def backlog(db: Db, connection_id: uuid.UUID) -> Backlog:
    rows = run(
        db,
        "SELECT count(*) AS n, min(published_at) AS oldest FROM messages"
        " WHERE connection_id = %s AND outcome IS NULL",
        [connection_id],
    )
    return Backlog(int(rows[0]["n"]), rows[0]["oldest"])


def failure_counts(db: Db, connection_id: uuid.UUID | None) -> dict[str, int]:
    """Status (open, attention) → count, for a connection (None: failures of no connection,
    i.e. messages too malformed to name one)."""
    rows = run(
        db,
        "SELECT status, count(*) AS n FROM failures WHERE status IN ('open', 'attention')"
        " AND connection_id IS NOT DISTINCT FROM %s GROUP BY status",
        [connection_id],
    )
    return {str(row["status"]): int(row["n"]) for row in rows}
